// Interpreter: runs cmdlet scripts against the policy control plane.
//
// It evaluates the AST from parser.h: binds arguments to a cmdlet's declared parameters
// (exact or unambiguous prefix names, positional arguments, switches, type conversion with
// PowerShell's own error texts), feeds pipelines, keeps $variables, and formats output as
// PowerShell would (Format-List for the policy objects, tables where Teams shows tables).
//
// Atomicity: run_script() executes a whole script and commits it as one change, or, at the
// first error, rolls everything back, prints a PowerShell-style error naming the line, the
// cmdlet and the parameter, and changes nothing. run_interactive() commits each statement
// on its own, as a console session does. Both hold the PolicyService mutex while they run.
// The cmdlets themselves are declared in cmdlets.h.
// Threads and ownership: an Interpreter and its Context belong to one thread (a CLI, or one REST
// request at a time under the policy service's mutex); results are values the caller owns.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/outcome/result.hpp>

#include "admin/parser.h"
#include "admin/value.h"
#include "policy/service.h"

namespace verbatim::admin {

struct PsError {
  std::string message;
  std::string category = "InvalidArgument";  // PowerShell ErrorCategory
  std::string error_id;                      // FullyQualifiedErrorId, before the ",Cmdlet"
  std::string cmdlet;                        // empty for parser errors
  std::string target;                        // the identity or value concerned
  Pos pos;
};

template <typename T>
using PsResult = boost::outcome_v2::result<T, PsError, boost::outcome_v2::policy::terminate>;

enum class ParamType { kString, kBool, kInt, kSwitch, kStringArray, kObjects, kAny };

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  int position = -1;  // -1: named only
  bool mandatory = false;
};

class Context;

// A statement as the audit log keeps it: secret parameter values (-SipPassword) masked, in the
// forms a reader of the text can spot. audit_text() below masks by binding, as the cmdlet sees
// its parameters (so -SipPass, a prefix, is masked too); this is its second line of defence.
std::string redact_secrets(std::string_view text);
// The text of `st` (from `source`, the script it was parsed from) with the value of every
// argument that binds to a secret parameter replaced by ********, then redact_secrets().
std::string audit_text(const struct Statement& st, std::string_view source);

// The bound parameters of one cmdlet call.
class Invocation {
 public:
  std::string cmdlet;
  Pos pos;
  const Value* input = nullptr;  // the pipeline object this call was made for, if any
  std::vector<Value> pipeline;   // all pipeline input (formatters and selectors only)

  bool has(std::string_view name) const { return values_.count(key(name)) > 0; }
  // The value as given; is_null() when the admin passed $null.
  const Value* get(std::string_view name) const;
  std::optional<std::string> str(std::string_view name) const;  // absent or $null: nullopt
  std::string req(std::string_view name) const { return str(name).value_or(""); }
  bool flag(std::string_view name, bool fallback = false) const;
  int64_t integer(std::string_view name, int64_t fallback = 0) const;
  std::vector<std::string> strings(std::string_view name) const;
  Value::Array objects(std::string_view name) const;
  void set(std::string_view name, Value v) { values_[key(name)] = std::move(v); }

  PsError error(std::string message, std::string category, std::string error_id,
                std::string target = "") const;

 private:
  static std::string key(std::string_view name);
  std::map<std::string, Value> values_;
};

using Handler = std::function<PsResult<std::vector<Value>>(Context&, Invocation&)>;

struct CmdletSpec {
  std::string name;
  std::vector<ParamSpec> params;
  Handler handler;
  bool mutates = false;
  // How pipeline input binds: "" none, "*" the whole input (formatters), or a parameter
  // that takes each object's Identity.
  std::string pipeline_param;
  std::vector<std::string> aliases;
  std::string synopsis;
};

// Execution context shared by the cmdlets of one interpreter.
class Context {
 public:
  Context(policy::PolicyService& svc, std::string actor);
  policy::PolicyService& svc;
  policy::PolicyState& state;
  std::string actor;
  std::string runspace_id;
  std::string base_dir = ".";  // relative paths (Import-VbDirectory) resolve here
  // Set (the REST API): files are read only from inside base_dir — no absolute path, no "..".
  bool confine_paths = false;
  std::map<std::string, Value> variables;
  // Warnings for the current statement (printed as "WARNING: ..." after its output).
  std::vector<std::string> warnings;
  // Applications made for a policy that did not exist yet (Teams' documented
  // New-...Policy -ComplianceRecordingApplications @(New-...Application -Parent <new>)):
  // checked after the statement, warned about if still unsaved.
  std::vector<std::pair<std::string, std::string>> unsaved_apps;  // (policy, instance id)
};

class Interpreter {
 public:
  Interpreter(policy::PolicyService& svc, std::string actor);

  struct Outcome {
    std::string output;            // formatted as PowerShell prints it
    std::vector<Value> objects;    // the raw output objects, for the REST API
    std::string error_text;        // rendered error(s), empty when all went well
    std::optional<PsError> error;  // the (first) error
    bool ok() const { return !error.has_value(); }
  };

  // All or nothing (see the file comment). Retries transparently when another process
  // committed in between.
  Outcome run_script(std::string_view text);
  // Runs the script as run_script() would, then rolls it all back: nothing is committed or
  // audited. `changes` lists each directory user whose recording the script would change
  // (recorded or not, or under another policy), by UPN.
  struct RecordingChange {
    std::string user;
    bool recorded_before = false, recorded_after = false;
    std::string policy_before, policy_after;
  };
  struct Preview {
    Outcome outcome;
    std::vector<RecordingChange> changes;
    size_t users = 0;  // users compared (after the script)
  };
  Preview preview_script(std::string_view text);
  // Statement by statement, each committed on success; errors do not stop later lines.
  Outcome run_interactive(std::string_view text);
  // Runs one cmdlet with already-evaluated named parameters (the REST API), atomically.
  Outcome invoke(std::string_view cmdlet, const std::map<std::string, Value>& params);

  void set_base_dir(std::string dir) { ctx_.base_dir = std::move(dir); }
  // Files (Import-VbDirectory) only from inside `dir`: what a remote caller may read.
  void confine_to(std::string dir) {
    ctx_.base_dir = std::move(dir);
    ctx_.confine_paths = true;
  }
  static std::string render_error(const PsError& e, std::string_view source);
  static const std::vector<CmdletSpec>& cmdlets();

 private:
  // preview: never commit; the state after the script goes to `after` before the rollback.
  Outcome run(std::string_view text, bool atomic,
              const std::function<void(const policy::PolicyState&)>* after = nullptr);
  PsResult<std::vector<Value>> exec_statement(const Statement& st);
  PsResult<std::vector<Value>> eval_pipeline(const Pipeline& p);
  PsResult<Value> eval(const Expr& e);
  PsResult<std::vector<Value>> invoke_command(const Command& cmd, std::vector<Value> input,
                                              bool has_input);
  PsResult<std::vector<Value>> call(const CmdletSpec& spec, Invocation& inv);
  PsResult<Invocation> bind(const CmdletSpec& spec, const Command& cmd);

  Context ctx_;
  std::string_view source_;  // of the script being run (statements' positions point into it)
};

const CmdletSpec* find_cmdlet(std::string_view name);
// Converts a value for a parameter, with PowerShell's error text on failure.
PsResult<Value> convert_param(const ParamSpec& p, const Value& v, const Invocation& inv);

}  // namespace verbatim::admin

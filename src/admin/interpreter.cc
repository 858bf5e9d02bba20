#include "admin/interpreter.h"

#include "policy/explain.h"

#include <algorithm>

#include "admin/cmdlets.h"
#include "common/strings.h"

namespace verbatim::admin {

namespace {

const std::vector<ParamSpec>& common_params() {
  static const std::vector<ParamSpec> kCommon = {
      {"WhatIf", ParamType::kSwitch}, {"Confirm", ParamType::kSwitch},
      {"Force", ParamType::kSwitch},  {"Verbose", ParamType::kSwitch},
      {"Debug", ParamType::kSwitch},  {"ErrorAction", ParamType::kString},
      {"Tenant", ParamType::kString},
  };
  return kCommon;
}

const char* type_label(ParamType t) {
  switch (t) {
    case ParamType::kString:
      return "System.String";
    case ParamType::kBool:
      return "System.Boolean";
    case ParamType::kInt:
      return "System.Int32";
    case ParamType::kSwitch:
      return "System.Management.Automation.SwitchParameter";
    case ParamType::kStringArray:
      return "System.String[]";
    case ParamType::kObjects:
      return "System.Object[]";
    case ParamType::kAny:
      return "System.Object";
  }
  return "System.Object";
}

Value collapse(std::vector<Value> v) {
  if (v.empty()) return {};
  if (v.size() == 1) return std::move(v[0]);
  return Value(std::move(v));
}

void flatten_into(const Value& v, std::vector<Value>& out) {
  if (v.is_array()) {
    for (const auto& e : v.as_array()) out.push_back(e);
  } else if (!v.is_null()) {
    out.push_back(v);
  }
}

std::string render_output(const std::vector<Value>& objs) { return format_default(objs); }

}  // namespace

// --- conversion ------------------------------------------------------------------------------

PsResult<Value> convert_param(const ParamSpec& p, const Value& v, const Invocation& inv) {
  auto cannot = [&](const std::string& why) {
    return inv.error("Cannot process argument transformation on parameter '" + p.name + "'. " + why,
                     "InvalidData", "ParameterArgumentTransformationError", display(v));
  };
  switch (p.type) {
    case ParamType::kAny:
    case ParamType::kObjects:
      return v;
    case ParamType::kSwitch:
    case ParamType::kBool:
      if (v.is_bool()) return v;
      if (v.is_int() && (v.as_int() == 0 || v.as_int() == 1)) return Value(v.as_int() == 1);
      return cannot("Cannot convert value \"" + v.type_name() +
                    "\" to type \"System.Boolean\". Boolean parameters accept only Boolean "
                    "values and numbers, such as $True, $False, 1 or 0.");
    case ParamType::kInt:
      if (v.is_int()) return v;
      if (v.is_string()) {
        const std::string& s = v.as_string();
        if (!s.empty() && s.size() < 10 &&
            std::all_of(s.begin() + (s[0] == '-' ? 1 : 0), s.end(),
                        [](char c) { return c >= '0' && c <= '9'; }) &&
            s != "-") {
          return Value(static_cast<int64_t>(std::stoll(s)));
        }
      }
      return cannot("Cannot convert value \"" + display(v) +
                    "\" to type \"System.Int32\". Error: \"Input string was not in a correct "
                    "format.\"");
    case ParamType::kString:
      if (v.is_array()) {
        return cannot(
            "Cannot convert 'System.Object[]' to the type 'System.String' required "
            "by parameter '" +
            p.name + "'. Specified method is not supported.");
      }
      if (v.is_null() || v.is_string()) return v;
      return Value(display(v));
    case ParamType::kStringArray: {
      Value::Array out;
      std::vector<Value> items;
      flatten_into(v, items);
      for (const auto& e : items) out.emplace_back(display(e));
      if (v.is_null()) return v;
      return Value(std::move(out));
    }
  }
  return v;
}

// --- interpreter -----------------------------------------------------------------------------

Interpreter::Interpreter(policy::PolicyService& svc, std::string actor)
    : ctx_(svc, std::move(actor)) {}

const std::vector<CmdletSpec>& Interpreter::cmdlets() {
  static const std::vector<CmdletSpec> kAll = [] {
    std::vector<CmdletSpec> all;
    for (auto* group : {&builtin_cmdlets, &directory_cmdlets, &operations_cmdlets, &policy_cmdlets,
                        &assignment_cmdlets, &routing_cmdlets}) {
      auto part = (*group)();
      std::move(part.begin(), part.end(), std::back_inserter(all));
    }
    return all;
  }();
  return kAll;
}

const CmdletSpec* find_cmdlet(std::string_view name) {
  for (const auto& c : Interpreter::cmdlets()) {
    if (iequals(c.name, name)) return &c;
    for (const auto& a : c.aliases) {
      if (iequals(a, name)) return &c;
    }
  }
  return nullptr;
}

std::string Interpreter::render_error(const PsError& e, std::string_view source) {
  std::string out;
  out += (e.cmdlet.empty() ? "" : e.cmdlet + " : ") + e.message + "\n";
  out += "At line:" + std::to_string(e.pos.line) + " char:" + std::to_string(e.pos.column) + "\n";
  const std::string_view line = source_line(source, e.pos.line);
  if (!line.empty()) {
    out += "+ " + std::string(line) + "\n";
    const size_t col = std::min(e.pos.column - 1, line.size());
    const size_t len = std::max<size_t>(1, std::min(e.pos.length, line.size() - col));
    out += "+ " + std::string(col, ' ') + std::string(len, '~') + "\n";
  }
  const std::string who = e.cmdlet.empty() ? "" : " [" + e.cmdlet + "]";
  out += "    + CategoryInfo          : " + e.category + ": (" + e.target + ":String)" + who + "\n";
  out += "    + FullyQualifiedErrorId : " + e.error_id + (e.cmdlet.empty() ? "" : "," + e.cmdlet) +
         "\n";
  return out;
}

Interpreter::Outcome Interpreter::run_script(std::string_view text) { return run(text, true); }
Interpreter::Outcome Interpreter::run_interactive(std::string_view text) {
  return run(text, false);
}

Interpreter::Preview Interpreter::preview_script(std::string_view text) {
  Preview p;
  std::map<std::string, std::pair<bool, std::string>> before;
  auto recorded = [](const policy::PolicyState& state) {
    std::map<std::string, std::pair<bool, std::string>> out;
    for (const auto& [id, user] : state.users()) {
      const auto e = policy::explain(state, user);
      out[user.user_principal_name] = {e.recorded, e.effective ? e.effective->identity : ""};
    }
    return out;
  };
  const std::function<void(const policy::PolicyState&)> after =
      [&](const policy::PolicyState& state) {
        const auto now = recorded(state);
        p.users = now.size();
        for (const auto& [upn, was] : before) {
          auto it = now.find(upn);
          const std::pair<bool, std::string> is =
              it == now.end() ? std::pair<bool, std::string>{false, ""} : it->second;
          if (is != was) p.changes.push_back({upn, was.first, is.first, was.second, is.second});
        }
        for (const auto& [upn, is] : now) {
          if (!before.count(upn) && is.first) {
            p.changes.push_back({upn, false, true, "", is.second});
          }
        }
      };
  {
    std::lock_guard lock(ctx_.svc.mutex());
    (void)ctx_.svc.refresh();
    before = recorded(ctx_.state);
  }
  p.outcome = run(text, true, &after);
  return p;
}

Interpreter::Outcome Interpreter::run(
    std::string_view text, bool atomic,
    const std::function<void(const policy::PolicyState&)>* after) {
  std::lock_guard lock(ctx_.svc.mutex());
  Outcome out;
  Script script = parse_script(text);
  source_ = script.source;
  struct Forget {  // source_ points into `script`: never past this call
    std::string_view& v;
    ~Forget() { v = {}; }
  } forget{source_};
  if (!script.errors.empty()) {
    const ParseError& pe = script.errors.front();
    PsError e{pe.message, "ParserError", "ParseException", "", "", pe.pos};
    out.error_text = render_error(e, script.source);
    out.error = e;
    return out;
  }
  if (auto st = ctx_.svc.refresh(); !st) {
    out.error = PsError{"Cannot read the configuration store: " + st.error().message,
                        "ReadError",
                        "StoreUnavailable",
                        "",
                        "",
                        Pos{}};
    out.error_text = out.error->message + "\n";
    return out;
  }
  const auto saved_vars = ctx_.variables;
  for (int attempt = 0;; ++attempt) {
    out = Outcome{};
    bool failed = false;
    for (const Statement& st : script.statements) {
      const size_t mark = ctx_.state.journal().size();
      auto r = exec_statement(st);
      if (!r) {
        ctx_.state.rollback_to(atomic ? 0 : mark);
        out.error_text += render_error(r.error(), script.source);
        if (!out.error) out.error = r.error();
        failed = true;
        if (atomic) break;
        continue;
      }
      out.output += render_output(r.value());
      for (const auto& w : ctx_.warnings) out.output += "WARNING: " + w + "\n";
      ctx_.warnings.clear();
      for (auto& v : r.value()) out.objects.push_back(std::move(v));
      if (!atomic) {
        if (auto c = ctx_.svc.commit(ctx_.actor); !c) {
          out.error = PsError{c.error().message, "WriteError", "CommitFailed", "", "", st.pos};
          out.error_text += "The change was not saved: " + c.error().message + "\n";
          failed = true;
          (void)ctx_.svc.refresh();
        }
      }
    }
    if (!atomic || failed) {
      if (atomic) ctx_.variables = saved_vars;
      return out;
    }
    if (after) {  // a preview: look, then undo everything
      (*after)(ctx_.state);
      ctx_.state.rollback_to(0);
      ctx_.variables = saved_vars;
      return out;
    }
    auto c = ctx_.svc.commit(ctx_.actor);
    if (c) return out;
    if (c.error().code == ErrorCode::kConflict && attempt < 3) {
      // Someone else committed between our refresh and our commit: start again on top.
      ctx_.variables = saved_vars;
      (void)ctx_.svc.refresh();
      continue;
    }
    out.error = PsError{c.error().message, "WriteError", "CommitFailed", "", "", Pos{}};
    out.error_text = "Nothing was changed: " + c.error().message + "\n";
    ctx_.variables = saved_vars;
    return out;
  }
}

Interpreter::Outcome Interpreter::invoke(std::string_view cmdlet,
                                         const std::map<std::string, Value>& params) {
  std::lock_guard lock(ctx_.svc.mutex());
  Outcome out;
  const CmdletSpec* spec = find_cmdlet(cmdlet);
  if (!spec) {
    out.error =
        PsError{"The term '" + std::string(cmdlet) + "' is not recognized as the name of a cmdlet.",
                "ObjectNotFound",
                "CommandNotFoundException",
                "",
                std::string(cmdlet),
                Pos{}};
    out.error_text = out.error->message + "\n";
    return out;
  }
  (void)ctx_.svc.refresh();
  Invocation inv;
  inv.cmdlet = spec->name;
  for (const auto& [name, raw] : params) {
    const ParamSpec* p = nullptr;
    for (const auto& s : spec->params) {
      if (iequals(s.name, name)) p = &s;
    }
    for (const auto& s : common_params()) {
      if (!p && iequals(s.name, name)) p = &s;
    }
    if (!p) {
      out.error =
          inv.error("A parameter cannot be found that matches parameter name '" + name + "'.",
                    "InvalidArgument", "NamedParameterNotFound", name);
      out.error_text = render_error(*out.error, "");
      return out;
    }
    auto v = convert_param(*p, raw, inv);
    if (!v) {
      out.error = v.error();
      out.error_text = render_error(v.error(), "");
      return out;
    }
    inv.set(p->name, std::move(v).value());
  }
  ctx_.state.set_command(spec->name + " (REST)");
  auto r = call(*spec, inv);
  if (!r) {
    ctx_.state.rollback_to(0);
    out.error = r.error();
    out.error_text = render_error(r.error(), "");
    return out;
  }
  if (auto c = ctx_.svc.commit(ctx_.actor); !c) {
    out.error = PsError{c.error().message, "WriteError", "CommitFailed", spec->name, "", Pos{}};
    out.error_text = "Nothing was changed: " + c.error().message + "\n";
    return out;
  }
  out.output = render_output(r.value());
  out.objects = std::move(r).value();
  return out;
}

// The statement as the audit log keeps it: the value of every secret parameter (-SipPassword)
// masked, quoted or not, so no password reaches the audit log or anything reading it.
std::string redact_secrets(std::string_view text) {
  static constexpr std::string_view kSecret = "-sippassword";
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t at = to_lower(text.substr(i)).find(kSecret);
    if (at == std::string::npos) break;
    size_t j = i + at + kSecret.size();
    out.append(text.substr(i, j - i));
    if (j < text.size() && text[j] == ':') out += text[j++];
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) out += text[j++];
    if (j < text.size() && (text[j] == '"' || text[j] == '\'')) {
      const char q = text[j];
      size_t end = j + 1;
      while (end < text.size() &&
             (text[end] != q || (end + 1 < text.size() && text[end + 1] == q))) {
        end += text[end] == q ? 2 : 1;  // a doubled quote is part of the value
      }
      j = std::min(text.size(), end + 1);
    } else {
      while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j])) &&
             text[j] != ')' && text[j] != ';' && text[j] != '|') {
        ++j;
      }
    }
    out += "********";
    i = j;
  }
  out.append(text.substr(std::min(i, text.size())));
  return out;
}

namespace {
// Parameters whose values never reach the audit log.
bool secret_parameter(std::string_view name) { return iequals(name, "SipPassword"); }

// The parameter an argument binds to, as bind() decides it: the exact name, else the one
// parameter the name is a prefix of (none when unknown or ambiguous).
const ParamSpec* bound_parameter(const CmdletSpec& spec, std::string_view written) {
  const ParamSpec* exact = nullptr;
  std::vector<const ParamSpec*> prefixed;
  for (const auto& p : spec.params) {
    if (iequals(p.name, written))
      exact = &p;
    else if (istarts_with(p.name, written))
      prefixed.push_back(&p);
  }
  if (exact) return exact;
  return prefixed.size() == 1 ? prefixed.front() : nullptr;
}
}  // namespace

std::string audit_text(const Statement& st, std::string_view source) {
  if (st.end <= st.pos.offset || st.end > source.size()) return redact_secrets(st.text);
  std::vector<std::pair<size_t, size_t>> spans;  // [from, to) in the source
  for (const Command& cmd : st.pipeline.commands) {
    const CmdletSpec* spec = find_cmdlet(cmd.name);
    if (!spec) continue;
    for (size_t i = 0; i < cmd.args.size(); ++i) {
      const Arg& a = cmd.args[i];
      if (!a.is_param) continue;
      const ParamSpec* p = bound_parameter(*spec, a.param);
      if (!p || !secret_parameter(p->name)) continue;
      const Expr* value = a.has_inline_value ? a.value.get()
                          : i + 1 < cmd.args.size() && !cmd.args[i + 1].is_param
                              ? cmd.args[i + 1].value.get()
                              : nullptr;
      if (value) spans.emplace_back(value->pos.offset, value->pos.offset + value->pos.length);
    }
  }
  std::sort(spans.begin(), spans.end());
  std::string raw;
  size_t at = st.pos.offset;
  for (const auto& [from, to] : spans) {
    if (from < at || to > st.end) continue;
    raw.append(source.substr(at, from - at)).append("********");
    at = to;
  }
  raw.append(source.substr(at, st.end - at));
  return redact_secrets(join_statement_text(raw));
}

PsResult<std::vector<Value>> Interpreter::exec_statement(const Statement& st) {
  ctx_.state.set_command(audit_text(st, source_));
  ctx_.unsaved_apps.clear();
  auto r = eval_pipeline(st.pipeline);
  if (!r) return r.error();
  for (const auto& [policy_name, id] : ctx_.unsaved_apps) {
    const policy::Policy* p = ctx_.state.find_policy(policy_name);
    bool saved = false;
    for (const auto& a : p ? p->applications : std::vector<policy::RecordingApplication>{}) {
      saved |= iequals(a.id, id);
    }
    if (!saved) {
      std::string w = "The policy \"Tag:";
      w += policy_name;
      w += "\" does not exist, so the application ";
      w += id;
      ctx_.warnings.push_back(w +
                              " was not saved. Create the policy first, or "
                              "pass the application to -ComplianceRecordingApplications of "
                              "New-CsTeamsComplianceRecordingPolicy.");
    }
  }
  if (!st.assign.empty()) {
    ctx_.variables[to_lower(st.assign)] = collapse(std::move(r).value());
    return std::vector<Value>{};
  }
  return r;
}

PsResult<std::vector<Value>> Interpreter::eval_pipeline(const Pipeline& p) {
  std::vector<Value> objs;
  bool has_input = false;
  if (p.head) {
    auto v = eval(*p.head);
    if (!v) return v.error();
    flatten_into(v.value(), objs);
    has_input = true;
  }
  for (const Command& cmd : p.commands) {
    auto r = invoke_command(cmd, std::move(objs), has_input);
    if (!r) return r.error();
    objs = std::move(r).value();
    has_input = true;
  }
  return objs;
}

PsResult<Value> Interpreter::eval(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kNumber:
      return Value(e.number);
    case Expr::Kind::kString: {
      if (!e.expandable || e.text.find('$') == std::string::npos) return Value(e.text);
      // "$name" and "${name}" substitution.
      std::string out;
      for (size_t i = 0; i < e.text.size(); ++i) {
        if (e.text[i] != '$' || i + 1 >= e.text.size()) {
          out += e.text[i];
          continue;
        }
        size_t start = i + 1;
        size_t end = start;
        if (e.text[start] == '(') {
          // "$(pipeline)": evaluate the subexpression, join its results with spaces.
          int depth = 0;
          for (end = start; end < e.text.size(); ++end) {
            if (e.text[end] == '(') ++depth;
            if (e.text[end] == ')' && --depth == 0) break;
          }
          if (end >= e.text.size()) {
            out += e.text.substr(i);
            break;
          }
          const Script sub = parse_script(e.text.substr(start + 1, end - start - 1));
          if (!sub.errors.empty()) {
            return PsError{sub.errors[0].message, "ParserError", "ParseException", "", "", e.pos};
          }
          std::vector<std::string> parts;
          for (const auto& st : sub.statements) {
            auto r = eval_pipeline(st.pipeline);
            if (!r) return r.error();
            for (const auto& v : r.value()) parts.push_back(display(v));
          }
          out += join(parts, " ");
          i = end;
          continue;
        }
        const bool braced = e.text[start] == '{';
        if (braced) {
          end = e.text.find('}', start);
          if (end == std::string::npos) {
            out += e.text.substr(i);
            break;
          }
          ++start;
        } else {
          while (end < e.text.size() &&
                 (std::isalnum(static_cast<unsigned char>(e.text[end])) || e.text[end] == '_')) {
            ++end;
          }
        }
        if (end == start) {
          out += '$';
          continue;
        }
        Expr var;
        var.kind = Expr::Kind::kVariable;
        var.text = e.text.substr(start, end - start);
        var.pos = e.pos;
        auto v = eval(var);
        if (!v) return v.error();
        out += display(v.value());
        i = braced ? end : end - 1;
      }
      return Value(out);
    }
    case Expr::Kind::kVariable: {
      const std::string name = to_lower(e.text);
      if (name == "true") return Value(true);
      if (name == "false") return Value(false);
      if (name == "null") return Value();
      auto it = ctx_.variables.find(name);
      if (it == ctx_.variables.end()) {
        return PsError{
            "The variable '$" + e.text + "' cannot be retrieved because it has not been set.",
            "InvalidOperation",
            "VariableIsUndefined",
            "",
            e.text,
            e.pos};
      }
      return it->second;
    }
    case Expr::Kind::kList: {
      Value::Array items;
      for (const auto& item : e.items) {
        auto v = eval(*item);
        if (!v) return v.error();
        items.push_back(std::move(v).value());
      }
      return Value(std::move(items));
    }
    case Expr::Kind::kParen: {
      auto r = eval_pipeline(*e.pipeline);
      if (!r) return r.error();
      return collapse(std::move(r).value());
    }
    case Expr::Kind::kArraySub: {
      Value::Array items;
      for (const auto& st : e.statements) {
        auto r = eval_pipeline(st.pipeline);
        if (!r) return r.error();
        for (auto& v : r.value()) flatten_into(v, items);
      }
      return Value(std::move(items));
    }
    case Expr::Kind::kMember: {
      auto base = eval(*e.base);
      if (!base) return base.error();
      auto member = [&](const Value& v) -> Value {
        if (!v.is_record()) return {};
        const Value* p = v.as_record()->get(e.text);
        return p ? *p : Value();
      };
      if (base.value().is_array()) {  // member enumeration
        Value::Array out;
        for (const auto& item : base.value().as_array()) flatten_into(member(item), out);
        return Value(std::move(out));
      }
      return member(base.value());
    }
  }
  return Value();
}

PsResult<Invocation> Interpreter::bind(const CmdletSpec& spec, const Command& cmd) {
  Invocation inv;
  inv.cmdlet = spec.name;
  inv.pos = cmd.pos;
  std::vector<const ParamSpec*> positional;
  for (const auto& p : spec.params) {
    if (p.position >= 0) positional.push_back(&p);
  }
  std::sort(positional.begin(), positional.end(),
            [](const ParamSpec* a, const ParamSpec* b) { return a->position < b->position; });
  for (size_t i = 0; i < cmd.args.size(); ++i) {
    const Arg& arg = cmd.args[i];
    Invocation at = inv;
    at.pos = arg.pos;
    const ParamSpec* p = nullptr;
    if (arg.is_param) {
      // An exact name wins; otherwise a prefix must match exactly one parameter.
      std::vector<const ParamSpec*> matches;
      for (const auto* list : {&spec.params, &common_params()}) {
        for (const auto& s : *list) {
          if (iequals(s.name, arg.param)) {
            p = &s;
          } else if (istarts_with(s.name, arg.param)) {
            matches.push_back(&s);
          }
        }
      }
      if (p) matches.assign(1, p);
      if (matches.empty()) {
        return at.error(
            "A parameter cannot be found that matches parameter name '" + arg.param + "'.",
            "InvalidArgument", "NamedParameterNotFound", arg.param);
      }
      if (matches.size() > 1) {
        std::string names;
        for (const auto* m : matches) names += " -" + m->name;
        return at.error("Parameter cannot be processed because the parameter name '" + arg.param +
                            "' is ambiguous. Possible matches include:" + names + ".",
                        "InvalidArgument", "AmbiguousParameter", arg.param);
      }
      p = matches.front();
      if (inv.has(p->name)) {
        return at.error("Cannot bind parameter because parameter '" + p->name +
                            "' is specified more than once. To provide multiple values to "
                            "parameters that can accept multiple values, use the array syntax. "
                            "For example, \"-parameter value1,value2,value3\".",
                        "InvalidArgument", "ParameterAlreadyBound", p->name);
      }
      Value raw;
      if (arg.has_inline_value) {
        auto v = eval(*arg.value);
        if (!v) return v.error();
        raw = std::move(v).value();
      } else if (p->type == ParamType::kSwitch) {
        raw = Value(true);
      } else if (i + 1 < cmd.args.size() && !cmd.args[i + 1].is_param) {
        auto v = eval(*cmd.args[++i].value);
        if (!v) return v.error();
        raw = std::move(v).value();
      } else {
        return at.error("Missing an argument for parameter '" + p->name +
                            "'. Specify a parameter of type '" + type_label(p->type) +
                            "' and try again.",
                        "InvalidArgument", "MissingArgument", p->name);
      }
      at.pos = arg.pos;
      auto converted = convert_param(*p, raw, at);
      if (!converted) return converted.error();
      inv.set(p->name, std::move(converted).value());
    } else {
      auto v = eval(*arg.value);
      if (!v) return v.error();
      for (const ParamSpec* cand : positional) {
        if (!inv.has(cand->name)) {
          p = cand;
          break;
        }
      }
      if (!p) {
        return at.error("A positional parameter cannot be found that accepts argument '" +
                            display(v.value()) + "'.",
                        "InvalidArgument", "PositionalParameterNotFound", display(v.value()));
      }
      auto converted = convert_param(*p, v.value(), at);
      if (!converted) return converted.error();
      inv.set(p->name, std::move(converted).value());
    }
  }
  return inv;
}

PsResult<std::vector<Value>> Interpreter::call(const CmdletSpec& spec, Invocation& inv) {
  std::vector<std::string> missing;
  for (const auto& p : spec.params) {
    if (p.mandatory && !inv.has(p.name)) missing.push_back(p.name);
    if (!p.mandatory || !inv.has(p.name)) continue;
    const Value* v = inv.get(p.name);
    if (v->is_null() || (v->is_string() && v->as_string().empty()) ||
        (v->is_array() && v->as_array().empty())) {
      const char* what = v->is_null()    ? "null"
                         : v->is_array() ? "an empty collection"
                                         : "an empty string";
      return inv.error(
          "Cannot bind argument to parameter '" + p.name + "' because it is " + what + ".",
          "InvalidData", "ParameterArgumentValidationErrorNullNotAllowed", p.name);
    }
  }
  if (!missing.empty()) {
    return inv.error(
        "Cannot process command because of one or more missing mandatory "
        "parameters: " +
            join(missing, " ") + ".",
        "InvalidArgument", "MissingMandatoryParameter", join(missing, " "));
  }
  const bool what_if = spec.mutates && inv.flag("WhatIf");
  const std::string error_action = to_lower(inv.str("ErrorAction").value_or("stop"));
  const size_t mark = ctx_.state.journal().size();
  auto r = spec.handler(ctx_, inv);
  if (!r) {
    if (error_action == "silentlycontinue" || error_action == "ignore") {
      ctx_.state.rollback_to(mark);
      return std::vector<Value>{};
    }
    return r;
  }
  if (what_if) {
    ctx_.state.rollback_to(mark);
    std::string target =
        inv.str("Identity")
            .value_or(inv.str("UserPrincipalName")
                          .value_or(inv.str("Id").value_or(inv.str("DisplayName").value_or(""))));
    return std::vector<Value>{Value("What if: Performing the operation \"" + spec.name +
                                    "\" on target \"" + target + "\".")};
  }
  return r;
}

PsResult<std::vector<Value>> Interpreter::invoke_command(const Command& cmd,
                                                         std::vector<Value> input, bool has_input) {
  const CmdletSpec* spec = find_cmdlet(cmd.name);
  if (!spec) {
    return PsError{"The term '" + cmd.name +
                       "' is not recognized as the name of a cmdlet, function, script file, or "
                       "operable program. Check the spelling of the name, or if a path was "
                       "included, verify that the path is correct and try again.",
                   "ObjectNotFound",
                   "CommandNotFoundException",
                   "",
                   cmd.name,
                   cmd.pos};
  }
  auto bound = bind(*spec, cmd);
  if (!bound) return bound.error();
  Invocation inv = std::move(bound).value();
  if (!has_input || spec->pipeline_param.empty()) {
    if (has_input && !input.empty() && spec->pipeline_param.empty()) {
      return inv.error(
          "The input object cannot be bound to any parameters for the command "
          "either because the command does not take pipeline input or the input "
          "and its properties do not match any of the parameters that take "
          "pipeline input.",
          "InvalidArgument", "InputObjectNotBound");
    }
    return call(*spec, inv);
  }
  if (spec->pipeline_param == "*") {
    inv.pipeline = std::move(input);
    return call(*spec, inv);
  }
  std::vector<Value> out;
  for (const Value& obj : input) {
    Invocation each = inv;
    each.input = &obj;
    if (!each.has(spec->pipeline_param)) {
      Value id;
      if (obj.is_record()) {
        for (const char* k : {"Identity", "ObjectId", "Id"}) {
          if (const Value* v = obj.as_record()->get(k)) {
            id = *v;
            break;
          }
        }
      } else {
        id = obj;
      }
      each.set(spec->pipeline_param, id);
    }
    auto r = call(*spec, each);
    if (!r) return r.error();
    for (auto& v : r.value()) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace verbatim::admin

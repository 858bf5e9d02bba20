// Value and Record: the objects that flow through cmdlet pipelines.
//
// A Value is what a PowerShell expression evaluates to in the subset we interpret: $null,
// a boolean, an integer, a string, an array, or a Record (a cmdlet's output object: a type
// name and ordered properties, looked up case-insensitively as PowerShell does).
// display() renders a value the way PowerShell's formatter shows it in a list or table
// cell; to_json() is how the REST API returns it.
// Threads and ownership: values (copyable, self-contained); any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace verbatim::admin {

struct Record;
using RecordPtr = std::shared_ptr<Record>;

struct Value {
  using Array = std::vector<Value>;
  std::variant<std::monostate, bool, int64_t, std::string, Array, RecordPtr> v;

  Value() = default;
  Value(bool b) : v(b) {}                       // NOLINT(google-explicit-constructor)
  Value(int64_t i) : v(i) {}                    // NOLINT
  Value(int i) : v(static_cast<int64_t>(i)) {}  // NOLINT
  Value(std::string s) : v(std::move(s)) {}     // NOLINT
  Value(const char* s) : v(std::string(s)) {}   // NOLINT
  Value(Array a) : v(std::move(a)) {}           // NOLINT
  Value(RecordPtr r) : v(std::move(r)) {}       // NOLINT

  bool is_null() const { return std::holds_alternative<std::monostate>(v); }
  bool is_bool() const { return std::holds_alternative<bool>(v); }
  bool is_int() const { return std::holds_alternative<int64_t>(v); }
  bool is_string() const { return std::holds_alternative<std::string>(v); }
  bool is_array() const { return std::holds_alternative<Array>(v); }
  bool is_record() const { return std::holds_alternative<RecordPtr>(v); }
  bool as_bool() const { return std::get<bool>(v); }
  int64_t as_int() const { return std::get<int64_t>(v); }
  const std::string& as_string() const { return std::get<std::string>(v); }
  const Array& as_array() const { return std::get<Array>(v); }
  const RecordPtr& as_record() const { return std::get<RecordPtr>(v); }
  // PowerShell's type name for messages: System.String, System.Boolean, ...
  std::string type_name() const;
};

// How a record type is shown when no Format-* cmdlet is given.
enum class View { kList, kTable };

struct Record {
  std::string type;  // e.g. "TeamsComplianceRecordingPolicy"
  View view = View::kList;
  std::vector<std::pair<std::string, Value>> props;

  Record& add(std::string name, Value value) {
    props.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  // Case-insensitive; null when absent.
  const Value* get(std::string_view name) const;
  const std::string* get_name(std::string_view name) const;  // canonical spelling
};

RecordPtr make_record(std::string type, View view = View::kList);

// A cell or list value: True/False, {a, b, c, d...} for arrays (PowerShell's enumeration
// limit of 4), a nested record by its Identity (or Id) when it has one.
std::string display(const Value& v);
nlohmann::json to_json(const Value& v);
// JSON from the REST API into a Value (objects become records of type "Object").
Value from_json(const nlohmann::json& j);

// Format-List and Format-Table of a sequence of values, as PowerShell prints them.
// `props` selects and orders properties; empty or "*" means all.
std::string format_list(const std::vector<Value>& items, const std::vector<std::string>& props);
std::string format_table(const std::vector<Value>& items, const std::vector<std::string>& props);
// What PowerShell prints for pipeline output with no Format-* at the end.
std::string format_default(const std::vector<Value>& items);

}  // namespace verbatim::admin

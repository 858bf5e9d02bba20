// What a cmdlet sees: its bound parameters (Invocation: typed accessors, errors that name the
// cmdlet and its position) and the session it runs in (Context).
#include "admin/interpreter.h"

namespace verbatim::admin {

// --- Invocation ----------------------------------------------------------------------------

std::string Invocation::key(std::string_view name) { return to_lower(name); }

const Value* Invocation::get(std::string_view name) const {
  auto it = values_.find(key(name));
  return it == values_.end() ? nullptr : &it->second;
}

std::optional<std::string> Invocation::str(std::string_view name) const {
  const Value* v = get(name);
  if (!v || v->is_null()) return std::nullopt;
  return v->is_string() ? v->as_string() : display(*v);
}

bool Invocation::flag(std::string_view name, bool fallback) const {
  const Value* v = get(name);
  return v && v->is_bool() ? v->as_bool() : fallback;
}

int64_t Invocation::integer(std::string_view name, int64_t fallback) const {
  const Value* v = get(name);
  return v && v->is_int() ? v->as_int() : fallback;
}

std::vector<std::string> Invocation::strings(std::string_view name) const {
  std::vector<std::string> out;
  const Value* v = get(name);
  if (!v) return out;
  if (v->is_array()) {
    for (const auto& e : v->as_array()) out.push_back(display(e));
  } else if (!v->is_null()) {
    out.push_back(display(*v));
  }
  return out;
}

Value::Array Invocation::objects(std::string_view name) const {
  Value::Array out;
  const Value* v = get(name);
  if (v && v->is_array()) {
    out = v->as_array();
  } else if (v && !v->is_null()) {
    out.push_back(*v);
  }
  return out;
}

PsError Invocation::error(std::string message, std::string category, std::string error_id,
                          std::string target) const {
  return PsError{
      std::move(message), std::move(category), std::move(error_id), cmdlet, std::move(target), pos};
}

// --- Context ---------------------------------------------------------------------------------

Context::Context(policy::PolicyService& s, std::string who)
    : svc(s), state(s.state()), actor(std::move(who)), runspace_id(s.ids().new_guid()) {}

}  // namespace verbatim::admin

#include "archive/retention.h"

#include "common/strings.h"

namespace verbatim::archive {

namespace {

bool mentions(const nlohmann::json& metadata, const std::string& field, const std::string& value) {
  auto has = [&](const char* key) {
    auto it = metadata.find(key);
    if (it == metadata.end()) return false;
    if (it->is_string()) return iequals(it->get<std::string>(), value);
    if (it->is_array()) {
      for (const auto& v : *it) {
        if (v.is_string() && iequals(v.get<std::string>(), value)) return true;
      }
    }
    return false;
  };
  if (field == "application") return has("application_id") || has("applications");
  if (field == "group") return has("groups");
  if (field == "policy") return has("policy");
  return false;
}

}  // namespace

RetentionChoice RetentionRules::choose(const nlohmann::json& metadata) const {
  const RetentionRule* best = nullptr;
  for (const RetentionRule& r : rules) {
    if (metadata.is_object() && mentions(metadata, r.field, r.value) &&
        (!best || r.period.longer_than(best->period))) {
      best = &r;
    }
  }
  if (!best) return {default_period, "default"};
  return {best->period, best->field + "=" + best->value};
}

}  // namespace verbatim::archive

#include "common/config.h"

#include <cstdlib>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace verbatim {
namespace {

Status check_keys(const toml::table& table, const std::string& section,
                  const std::set<std::string>& allowed) {
  for (const auto& [key, node] : table) {
    if (!allowed.count(std::string(key.str()))) {
      return make_error(ErrorCode::kInvalidArgument, "unknown setting '" +
                                                         (section.empty() ? "" : section + ".") +
                                                         std::string(key.str()) + "'");
    }
  }
  return ok_status();
}

template <typename T>
Status read(const toml::table& table, const std::string& section, const char* key, T& out) {
  const toml::node* node = table.get(key);
  if (!node) return ok_status();
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = node->value<std::string>(); v && node->is_string()) {
      out = *v;
      return ok_status();
    }
    return make_error(ErrorCode::kInvalidArgument, section + "." + key + " must be a string");
  } else {
    if (auto v = node->value<int64_t>(); v && node->is_integer()) {
      out = static_cast<T>(*v);
      return ok_status();
    }
    return make_error(ErrorCode::kInvalidArgument, section + "." + key + " must be an integer");
  }
}

const toml::table* section(const toml::table& root, const char* name) {
  const toml::node* n = root.get(name);
  return n ? n->as_table() : nullptr;
}

}  // namespace

Result<Config> load_config(const std::optional<std::string>& path) {
  Config c;
  if (path) {
    toml::table root;
    try {
      root = toml::parse_file(*path);
    } catch (const toml::parse_error& e) {
      std::ostringstream msg;
      msg << *path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
          << e.description();
      return make_error(ErrorCode::kInvalidArgument, msg.str());
    }
    VB_TRY(check_keys(root, "", {"general", "log", "admin_api", "policy"}));
    if (const auto* t = section(root, "general")) {
      VB_TRY(check_keys(*t, "general", {"data_dir"}));
      VB_TRY(read(*t, "general", "data_dir", c.data_dir));
    }
    if (const auto* t = section(root, "log")) {
      VB_TRY(check_keys(*t, "log", {"format", "level"}));
      VB_TRY(read(*t, "log", "format", c.log_format));
      VB_TRY(read(*t, "log", "level", c.log_level));
    }
    if (const auto* t = section(root, "admin_api")) {
      VB_TRY(check_keys(*t, "admin_api", {"listen"}));
      VB_TRY(read(*t, "admin_api", "listen", c.http_listen));
    }
    if (const auto* t = section(root, "policy")) {
      VB_TRY(check_keys(*t, "policy", {"reload_interval_ms"}));
      VB_TRY(read(*t, "policy", "reload_interval_ms", c.reload_interval_ms));
    }
  }
  if (const char* env = std::getenv("VERBATIM_DATA_DIR"); env && *env) c.data_dir = env;
  if (c.log_format != "text" && c.log_format != "json") {
    return make_error(ErrorCode::kInvalidArgument, "log.format must be \"text\" or \"json\"");
  }
  if (c.reload_interval_ms < 10) {
    return make_error(ErrorCode::kInvalidArgument, "policy.reload_interval_ms must be >= 10");
  }
  return c;
}

std::string config_to_toml(const Config& c) {
  toml::table root{
      {"general", toml::table{{"data_dir", c.data_dir}}},
      {"log", toml::table{{"format", c.log_format}, {"level", c.log_level}}},
      {"admin_api", toml::table{{"listen", c.http_listen}}},
      {"policy", toml::table{{"reload_interval_ms", c.reload_interval_ms}}},
  };
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

}  // namespace verbatim

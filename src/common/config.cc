#include "common/config.h"

#include "common/cidr.h"
#include "common/strings.h"

#include <algorithm>
#include <cctype>
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
  if constexpr (std::is_same_v<T, bool>) {
    if (auto v = node->value<bool>(); v && node->is_boolean()) {
      out = *v;
      return ok_status();
    }
    return make_error(ErrorCode::kInvalidArgument, section + "." + key + " must be true or false");
  } else if constexpr (std::is_same_v<T, std::string>) {
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

Status read_strings(const toml::table& table, const std::string& section, const char* key,
                    std::vector<std::string>& out) {
  const toml::node* node = table.get(key);
  if (!node) return ok_status();
  const auto* arr = node->as_array();
  const std::string where = section + "." + key;
  if (!arr) return make_error(ErrorCode::kInvalidArgument, where + " must be an array of strings");
  out.clear();
  for (const auto& item : *arr) {
    auto v = item.value<std::string>();
    if (!v || !item.is_string()) {
      return make_error(ErrorCode::kInvalidArgument, where + " must be an array of strings");
    }
    out.push_back(*v);
  }
  return ok_status();
}

Status read_recorder(const toml::table& t, Config& c) {
  VB_TRY(check_keys(
      t, "recorder",
      {"sip_listen",       "media_address", "rtp_port_min",        "rtp_port_max",
       "max_sessions",     "min_free_mb",   "retry_after_s",       "media_timeout_s",
       "drain_timeout_s",  "latch",         "accept_non_siprec",   "allowed_sources",
       "playback",         "transcription", "transcription_model", "transcription_phones",
       "gateway_key_file", "tls_listen",    "tls_client_auth",     "business_headers",
       "playback_workers", "sentiment",     "sentiment_lexicon"}));
  VB_TRY(read(t, "recorder", "sip_listen", c.recorder_sip_listen));
  VB_TRY(read(t, "recorder", "media_address", c.recorder_media_address));
  VB_TRY(read(t, "recorder", "rtp_port_min", c.recorder_rtp_port_min));
  VB_TRY(read(t, "recorder", "rtp_port_max", c.recorder_rtp_port_max));
  VB_TRY(read(t, "recorder", "max_sessions", c.recorder_max_sessions));
  VB_TRY(read(t, "recorder", "min_free_mb", c.recorder_min_free_mb));
  VB_TRY(read(t, "recorder", "retry_after_s", c.recorder_retry_after_s));
  VB_TRY(read(t, "recorder", "media_timeout_s", c.recorder_media_timeout_s));
  VB_TRY(read(t, "recorder", "drain_timeout_s", c.recorder_drain_timeout_s));
  VB_TRY(read(t, "recorder", "latch", c.recorder_latch));
  VB_TRY(read(t, "recorder", "accept_non_siprec", c.recorder_accept_non_siprec));
  VB_TRY(read(t, "recorder", "playback", c.recorder_playback));
  VB_TRY(read(t, "recorder", "playback_workers", c.recorder_playback_workers));
  VB_TRY(read(t, "recorder", "transcription", c.recorder_transcription));
  VB_TRY(read(t, "recorder", "transcription_model", c.recorder_transcription_model));
  VB_TRY(read(t, "recorder", "transcription_phones", c.recorder_transcription_phones));
  VB_TRY(read(t, "recorder", "sentiment", c.recorder_sentiment));
  VB_TRY(read(t, "recorder", "sentiment_lexicon", c.recorder_sentiment_lexicon));
  if (c.recorder_sentiment != "vader" && c.recorder_sentiment != "none") {
    return make_error(ErrorCode::kInvalidArgument,
                      "recorder.sentiment must be \"vader\" or \"none\"");
  }
  if (c.recorder_transcription != "pocketsphinx" && c.recorder_transcription != "none") {
    return make_error(ErrorCode::kInvalidArgument,
                      "recorder.transcription must be \"pocketsphinx\" or \"none\"");
  }
  VB_TRY(read_strings(t, "recorder", "allowed_sources", c.recorder_allowed_sources));
  VB_TRY(read_strings(t, "recorder", "business_headers", c.recorder_business_headers));
  VB_TRY(read(t, "recorder", "gateway_key_file", c.recorder_gateway_key_file));
  VB_TRY(read(t, "recorder", "tls_listen", c.recorder_tls_listen));
  VB_TRY(read(t, "recorder", "tls_client_auth", c.recorder_tls_client_auth));
  if (c.recorder_tls_client_auth != "none" && c.recorder_tls_client_auth != "optional" &&
      c.recorder_tls_client_auth != "require") {
    return make_error(ErrorCode::kInvalidArgument,
                      "recorder.tls_client_auth must be \"none\", \"optional\" or \"require\"");
  }
  for (const auto& cidr : c.recorder_allowed_sources) {
    if (auto st = check_cidr(cidr); !st) {
      return make_error(ErrorCode::kInvalidArgument,
                        "recorder.allowed_sources: " + st.error().message);
    }
  }
  auto bad = [](const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument, "recorder." + what);
  };
  if (c.recorder_rtp_port_min < 1024 || c.recorder_rtp_port_max > 65535 ||
      c.recorder_rtp_port_max - c.recorder_rtp_port_min < 3) {
    return bad("rtp_port_min/rtp_port_max must give a range of at least 4 ports within 1024-65535");
  }
  if (c.recorder_max_sessions < 1) return bad("max_sessions must be >= 1");
  if (c.recorder_playback_workers < 0 || c.recorder_playback_workers > 256) {
    return bad("playback_workers must be 0 (one per spare core) to 256");
  }
  if (c.recorder_min_free_mb < 0) return bad("min_free_mb must be >= 0");
  if (c.recorder_retry_after_s < 1) return bad("retry_after_s must be >= 1");
  if (c.recorder_media_timeout_s < 1) return bad("media_timeout_s must be >= 1");
  if (c.recorder_drain_timeout_s < 0) return bad("drain_timeout_s must be >= 0");
  if (c.recorder_latch != "sdp-address" && c.recorder_latch != "first-packet") {
    return bad("latch must be \"sdp-address\" or \"first-packet\"");
  }
  return ok_status();
}

// [[gateway.dial_in]]: a number (digits, a leading + allowed) and the language of its prompts.
Status read_dial_in(const toml::table& t, Config& c) {
  const toml::node* numbers = t.get("dial_in");
  if (!numbers) return ok_status();
  const toml::array* arr = numbers->as_array();
  if (!arr) {
    return make_error(ErrorCode::kInvalidArgument,
                      "gateway.dial_in must be an array of tables ([[gateway.dial_in]])");
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string where = "gateway.dial_in[" + std::to_string(i + 1) + "]";
    const toml::table* d = arr->get(i)->as_table();
    if (!d) return make_error(ErrorCode::kInvalidArgument, where + " must be a table");
    VB_TRY(check_keys(*d, where, {"number", "language", "secondary_languages"}));
    Config::DialIn in;
    VB_TRY(read(*d, where, "number", in.number));
    VB_TRY(read(*d, where, "language", in.language));
    VB_TRY(read_strings(*d, where, "secondary_languages", in.secondary_languages));
    const std::string_view digits =
        std::string_view(in.number).substr(in.number.starts_with('+') ? 1 : 0);
    if (digits.empty() || digits.size() > 15 ||
        !std::all_of(digits.begin(), digits.end(),
                     [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return make_error(ErrorCode::kInvalidArgument,
                        where +
                            ".number must be a phone number (digits, a leading + allowed), got \"" +
                            in.number + "\"");
    }
    auto tag = [](const std::string& l) {
      return !l.empty() && l.size() <= 35 && std::all_of(l.begin(), l.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-';
      });
    };
    if (!tag(in.language)) {
      return make_error(ErrorCode::kInvalidArgument, where + ".language must be a language tag");
    }
    if (in.secondary_languages.size() > 4) {
      return make_error(ErrorCode::kInvalidArgument,
                        where + ".secondary_languages: at most 4 (the menu has keys 1 to 5)");
    }
    for (size_t j = 0; j < in.secondary_languages.size(); ++j) {
      const std::string& l = in.secondary_languages[j];
      const auto& all = in.secondary_languages;
      if (!tag(l) || iequals(l, in.language) ||
          std::find_if(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(j),
                       [&](const std::string& o) { return iequals(o, l); }) !=
              all.begin() + static_cast<std::ptrdiff_t>(j)) {
        std::string why = where;
        why.append(".secondary_languages: \"")
            .append(l)
            .append("\" is not a language tag, or is named twice (the number's language counts)");
        return make_error(ErrorCode::kInvalidArgument, why);
      }
    }
    c.gateway_dial_in.push_back(in);
  }
  return ok_status();
}

Status read_gateway(const toml::table& t, Config& c) {
  VB_TRY(check_keys(t, "gateway",
                    {"sip_listen",
                     "media_address",
                     "rtp_port_min",
                     "rtp_port_max",
                     "recording_setup_timeout_ms",
                     "max_pause_seconds",
                     "trunk",
                     "emergency_numbers",
                     "business_headers",
                     "digest_algorithms",
                     "banner_text",
                     "health_check_interval_ms",
                     "require_srtp",
                     "prompts_dir",
                     "voicemail_uri",
                     "recorder_srtp",
                     "trunk_transport",
                     "trunk_sources",
                     "trunk_username",
                     "trunk_password_file",
                     "trunk_tls_name",
                     "sip_domains",
                     "recorder_key_file",
                     "tls_listen",
                     "wss_listen",
                     "ws_listen",
                     "ws_allowed_origins",
                     "tls_client_auth",
                     "allow_sdes_over_plain_sip",
                     "call_records_days",
                     "dns_servers",
                     "missed_recording_after_s",
                     "missed_recording_webhook",
                     "dial_in",
                     "meeting_chimes",
                     "conference_factory"}));
  VB_TRY(read(t, "gateway", "sip_listen", c.gateway_sip_listen));
  VB_TRY(read(t, "gateway", "media_address", c.gateway_media_address));
  VB_TRY(read(t, "gateway", "rtp_port_min", c.gateway_rtp_port_min));
  VB_TRY(read(t, "gateway", "rtp_port_max", c.gateway_rtp_port_max));
  VB_TRY(read(t, "gateway", "recording_setup_timeout_ms", c.gateway_recording_setup_timeout_ms));
  VB_TRY(read(t, "gateway", "max_pause_seconds", c.gateway_max_pause_seconds));
  VB_TRY(read(t, "gateway", "trunk", c.gateway_trunk));
  VB_TRY(read(t, "gateway", "health_check_interval_ms", c.gateway_health_check_interval_ms));
  VB_TRY(read(t, "gateway", "require_srtp", c.gateway_require_srtp));
  VB_TRY(read(t, "gateway", "recorder_srtp", c.gateway_recorder_srtp));
  VB_TRY(read(t, "gateway", "banner_text", c.gateway_banner_text));
  VB_TRY(read(t, "gateway", "prompts_dir", c.gateway_prompts_dir));
  VB_TRY(read(t, "gateway", "voicemail_uri", c.gateway_voicemail_uri));
  VB_TRY(read(t, "gateway", "trunk_transport", c.gateway_trunk_transport));
  VB_TRY(read_strings(t, "gateway", "trunk_sources", c.gateway_trunk_sources));
  VB_TRY(read(t, "gateway", "trunk_username", c.gateway_trunk_username));
  VB_TRY(read(t, "gateway", "trunk_password_file", c.gateway_trunk_password_file));
  VB_TRY(read(t, "gateway", "trunk_tls_name", c.gateway_trunk_tls_name));
  VB_TRY(read_strings(t, "gateway", "sip_domains", c.gateway_sip_domains));
  VB_TRY(read(t, "gateway", "recorder_key_file", c.gateway_recorder_key_file));
  VB_TRY(read(t, "gateway", "tls_listen", c.gateway_tls_listen));
  VB_TRY(read(t, "gateway", "wss_listen", c.gateway_wss_listen));
  VB_TRY(read(t, "gateway", "ws_listen", c.gateway_ws_listen));
  VB_TRY(read_strings(t, "gateway", "ws_allowed_origins", c.gateway_ws_allowed_origins));
  VB_TRY(read(t, "gateway", "tls_client_auth", c.gateway_tls_client_auth));
  VB_TRY(read(t, "gateway", "allow_sdes_over_plain_sip", c.gateway_allow_sdes_over_plain_sip));
  VB_TRY(read(t, "gateway", "meeting_chimes", c.gateway_meeting_chimes));
  VB_TRY(read(t, "gateway", "conference_factory", c.gateway_conference_factory));
  {
    const std::string& f = c.gateway_conference_factory;
    const bool word = std::all_of(f.begin(), f.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_';
    });
    if (!word || f.size() > 64 || f.rfind("meet-", 0) == 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "gateway.conference_factory: a SIP user part of letters, digits, '-', "
                        "'.' and '_' (not meet-...), or \"\" for none: \"" +
                            f + "\"");
    }
  }
  VB_TRY(read(t, "gateway", "call_records_days", c.gateway_call_records_days));
  VB_TRY(read(t, "gateway", "dns_servers", c.gateway_dns_servers));
  VB_TRY(read(t, "gateway", "missed_recording_after_s", c.gateway_missed_recording_after_s));
  VB_TRY(read(t, "gateway", "missed_recording_webhook", c.gateway_missed_recording_webhook));
  if (c.gateway_missed_recording_after_s < 0 || c.gateway_missed_recording_after_s > 86400) {
    return make_error(ErrorCode::kInvalidArgument,
                      "gateway.missed_recording_after_s must be 0 (off) to 86400");
  }
  if (c.gateway_call_records_days < 1) {
    return make_error(ErrorCode::kInvalidArgument, "gateway.call_records_days must be >= 1");
  }
  if (c.gateway_tls_client_auth != "none" && c.gateway_tls_client_auth != "optional" &&
      c.gateway_tls_client_auth != "require") {
    return make_error(ErrorCode::kInvalidArgument,
                      "gateway.tls_client_auth must be \"none\", \"optional\" or \"require\"");
  }
  for (const auto& cidr : c.gateway_trunk_sources) {
    if (auto st = check_cidr(cidr); !st) {
      return make_error(ErrorCode::kInvalidArgument,
                        "gateway.trunk_sources: " + st.error().message);
    }
  }
  VB_TRY(read_strings(t, "gateway", "business_headers", c.gateway_business_headers));
  VB_TRY(read_dial_in(t, c));
  if (t.get("emergency_numbers")) {
    c.gateway_emergency_numbers.clear();
    VB_TRY(read_strings(t, "gateway", "emergency_numbers", c.gateway_emergency_numbers));
  }
  if (t.get("digest_algorithms")) {
    c.gateway_digest_algorithms.clear();
    VB_TRY(read_strings(t, "gateway", "digest_algorithms", c.gateway_digest_algorithms));
  }
  auto bad = [](const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument, "gateway." + what);
  };
  if (c.gateway_rtp_port_min < 1024 || c.gateway_rtp_port_max > 65535 ||
      c.gateway_rtp_port_max - c.gateway_rtp_port_min < 7) {
    return bad("rtp_port_min/rtp_port_max must give a range of at least 8 ports within 1024-65535");
  }
  if (c.gateway_recording_setup_timeout_ms < 100 || c.gateway_recording_setup_timeout_ms > 60000) {
    return bad("recording_setup_timeout_ms must be 100 to 60000");
  }
  if (c.gateway_max_pause_seconds < 10 || c.gateway_max_pause_seconds > 3600) {
    return bad("max_pause_seconds must be 10 to 3600");
  }
  if (c.gateway_digest_algorithms.empty()) return bad("digest_algorithms must name at least one");
  if (c.gateway_health_check_interval_ms != 0 &&
      (c.gateway_health_check_interval_ms < 100 || c.gateway_health_check_interval_ms > 600000)) {
    return bad("health_check_interval_ms must be 0 (off) or 100 to 600000");
  }
  if (c.gateway_trunk_transport != "udp" && c.gateway_trunk_transport != "tcp" &&
      c.gateway_trunk_transport != "tls") {
    return bad("trunk_transport must be \"udp\", \"tcp\" or \"tls\"");
  }
  if (!c.gateway_trunk_username.empty() && c.gateway_trunk_password_file.empty()) {
    return bad("trunk_username needs trunk_password_file");
  }
  if (!c.gateway_trunk_tls_name.empty() && c.gateway_trunk_transport != "tls") {
    return bad("trunk_tls_name needs trunk_transport = \"tls\"");
  }
  for (const auto& a : c.gateway_digest_algorithms) {
    if (a != "SHA-256" && a != "MD5") {
      return bad("digest_algorithms: \"" + a + "\" is not SHA-256 or MD5");
    }
  }
  return ok_status();
}

const toml::table* section(const toml::table& root, const char* name) {
  const toml::node* n = root.get(name);
  return n ? n->as_table() : nullptr;
}

Status read_period(const toml::table& t, const std::string& where, const char* key, Period& out) {
  std::string text;
  VB_TRY(read(t, where, key, text));
  if (text.empty()) {
    if (t.get(key)) return make_error(ErrorCode::kInvalidArgument, where + "." + key + " is empty");
    return ok_status();
  }
  auto p = Period::parse(text);
  if (!p)
    return make_error(ErrorCode::kInvalidArgument, where + "." + key + ": " + p.error().message);
  out = p.value();
  return ok_status();
}

Status read_archive(const toml::table& t, Config& c) {
  VB_TRY(check_keys(t, "archive",
                    {"flush_interval_ms", "min_free_mb", "sign_interval_s", "default_retention",
                     "retention", "verify_interval_s", "verify_rate_mb_s", "s3", "hsm"}));
  if (const toml::table* hsm = t["hsm"].as_table()) {
    VB_TRY(check_keys(*hsm, "archive.hsm",
                      {"module", "token", "pin_file", "master_key_label", "signing_key_label"}));
    VB_TRY(read(*hsm, "archive.hsm", "module", c.archive_hsm_module));
    VB_TRY(read(*hsm, "archive.hsm", "token", c.archive_hsm_token));
    VB_TRY(read(*hsm, "archive.hsm", "pin_file", c.archive_hsm_pin_file));
    VB_TRY(read(*hsm, "archive.hsm", "master_key_label", c.archive_hsm_master_key_label));
    VB_TRY(read(*hsm, "archive.hsm", "signing_key_label", c.archive_hsm_signing_key_label));
    if (!c.archive_hsm_module.empty() && c.archive_hsm_token.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "archive.hsm.token must be set when archive.hsm.module is");
    }
    if (c.archive_hsm_master_key_label.empty() || c.archive_hsm_signing_key_label.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "archive.hsm: key labels cannot be empty");
    }
  }
  if (const toml::table* s3 = t["s3"].as_table()) {
    VB_TRY(check_keys(*s3, "archive.s3",
                      {"endpoint", "bucket", "region", "prefix", "credentials_file", "ca_file",
                       "spool_dir", "part_size_mb", "timeout_s"}));
    VB_TRY(read(*s3, "archive.s3", "endpoint", c.archive_s3_endpoint));
    VB_TRY(read(*s3, "archive.s3", "bucket", c.archive_s3_bucket));
    VB_TRY(read(*s3, "archive.s3", "region", c.archive_s3_region));
    VB_TRY(read(*s3, "archive.s3", "prefix", c.archive_s3_prefix));
    VB_TRY(read(*s3, "archive.s3", "credentials_file", c.archive_s3_credentials_file));
    VB_TRY(read(*s3, "archive.s3", "ca_file", c.archive_s3_ca_file));
    VB_TRY(read(*s3, "archive.s3", "spool_dir", c.archive_s3_spool_dir));
    VB_TRY(read(*s3, "archive.s3", "part_size_mb", c.archive_s3_part_size_mb));
    VB_TRY(read(*s3, "archive.s3", "timeout_s", c.archive_s3_timeout_s));
    if (!c.archive_s3_endpoint.empty() && c.archive_s3_bucket.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "archive.s3.bucket must be set when archive.s3.endpoint is");
    }
    if (c.archive_s3_part_size_mb < 5 || c.archive_s3_part_size_mb > 5120) {
      return make_error(ErrorCode::kInvalidArgument,
                        "archive.s3.part_size_mb must be between 5 and 5120");
    }
    if (c.archive_s3_timeout_s < 1) {
      return make_error(ErrorCode::kInvalidArgument, "archive.s3.timeout_s must be >= 1");
    }
  }
  VB_TRY(read(t, "archive", "verify_interval_s", c.archive_verify_interval_s));
  VB_TRY(read(t, "archive", "verify_rate_mb_s", c.archive_verify_rate_mb_s));
  if (c.archive_verify_interval_s < 0 || c.archive_verify_rate_mb_s < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "archive.verify_interval_s must be >= 0 and archive.verify_rate_mb_s >= 1");
  }
  VB_TRY(read(t, "archive", "flush_interval_ms", c.archive_flush_interval_ms));
  VB_TRY(read(t, "archive", "min_free_mb", c.archive_min_free_mb));
  VB_TRY(read(t, "archive", "sign_interval_s", c.archive_sign_interval_s));
  VB_TRY(read_period(t, "archive", "default_retention", c.archive_default_retention));
  if (c.archive_flush_interval_ms < 10 || c.archive_flush_interval_ms > 60000) {
    return make_error(ErrorCode::kInvalidArgument,
                      "archive.flush_interval_ms must be between 10 and 60000");
  }
  if (c.archive_min_free_mb < 0) {
    return make_error(ErrorCode::kInvalidArgument, "archive.min_free_mb must be >= 0");
  }
  if (c.archive_sign_interval_s < 1) {
    return make_error(ErrorCode::kInvalidArgument, "archive.sign_interval_s must be >= 1");
  }
  const toml::node* rules = t.get("retention");
  if (!rules) return ok_status();
  const toml::array* arr = rules->as_array();
  if (!arr) {
    return make_error(ErrorCode::kInvalidArgument,
                      "archive.retention must be an array of tables ([[archive.retention]])");
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string where = "archive.retention[" + std::to_string(i + 1) + "]";
    const toml::table* r = arr->get(i)->as_table();
    if (!r) return make_error(ErrorCode::kInvalidArgument, where + " must be a table");
    VB_TRY(check_keys(*r, where, {"application", "group", "policy", "period"}));
    Config::RetentionRule rule;
    for (const char* field : {"application", "group", "policy"}) {
      if (!r->get(field)) continue;
      if (!rule.field.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          where + " names more than one of application, group, policy");
      }
      rule.field = field;
      VB_TRY(read(*r, where, field, rule.value));
    }
    if (rule.field.empty() || rule.value.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        where + " must name an application, a group or a policy");
    }
    if (!r->get("period")) return make_error(ErrorCode::kInvalidArgument, where + " has no period");
    VB_TRY(read_period(*r, where, "period", rule.period));
    c.archive_retention.push_back(rule);
  }
  return ok_status();
}

Status read_portal(const toml::table& t, Config& c) {
  VB_TRY(check_keys(t, "portal",
                    {"web_root", "idle_minutes", "absolute_hours", "reauth_minutes", "cosign_roles",
                     "playback_reason_roles", "original_roles"}));
  VB_TRY(read(t, "portal", "web_root", c.portal_web_root));
  VB_TRY(read(t, "portal", "idle_minutes", c.portal_idle_minutes));
  VB_TRY(read(t, "portal", "absolute_hours", c.portal_absolute_hours));
  VB_TRY(read(t, "portal", "reauth_minutes", c.portal_reauth_minutes));
  VB_TRY(read_strings(t, "portal", "cosign_roles", c.portal_cosign_roles));
  VB_TRY(read_strings(t, "portal", "playback_reason_roles", c.portal_reason_roles));
  VB_TRY(read_strings(t, "portal", "original_roles", c.portal_original_roles));
  if (c.portal_idle_minutes < 1 || c.portal_absolute_hours < 1 || c.portal_reauth_minutes < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "portal.idle_minutes, absolute_hours and reauth_minutes must be >= 1");
  }
  return ok_status();
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
    VB_TRY(check_keys(root, "",
                      {"general", "log", "admin_api", "portal", "tls", "policy", "archive",
                       "recorder", "gateway"}));
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
      VB_TRY(check_keys(*t, "admin_api", {"listen", "tls"}));
      VB_TRY(read(*t, "admin_api", "listen", c.http_listen));
      VB_TRY(read(*t, "admin_api", "tls", c.http_tls));
    }
    if (const auto* t = section(root, "portal")) {
      VB_TRY(read_portal(*t, c));
    }
    if (const auto* t = section(root, "tls")) {
      VB_TRY(check_keys(*t, "tls", {"certificate", "private_key", "ca_file"}));
      VB_TRY(read(*t, "tls", "certificate", c.tls_certificate));
      VB_TRY(read(*t, "tls", "private_key", c.tls_private_key));
      VB_TRY(read(*t, "tls", "ca_file", c.tls_ca_file));
    }
    if (const auto* t = section(root, "policy")) {
      VB_TRY(check_keys(*t, "policy", {"reload_interval_ms"}));
      VB_TRY(read(*t, "policy", "reload_interval_ms", c.reload_interval_ms));
    }
    if (const auto* t = section(root, "archive")) {
      VB_TRY(read_archive(*t, c));
    }
    if (const auto* t = section(root, "recorder")) {
      VB_TRY(read_recorder(*t, c));
    }
    if (const auto* t = section(root, "gateway")) {
      VB_TRY(read_gateway(*t, c));
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

namespace {
toml::array strings(const std::vector<std::string>& v) {
  toml::array a;
  for (const auto& x : v) a.push_back(x);
  return a;
}
}  // namespace

std::string config_to_toml(const Config& c) {
  toml::table root{
      {"general", toml::table{{"data_dir", c.data_dir}}},
      {"log", toml::table{{"format", c.log_format}, {"level", c.log_level}}},
      {"admin_api", toml::table{{"listen", c.http_listen}, {"tls", c.http_tls}}},
      {"portal", toml::table{{"web_root", c.portal_web_root},
                             {"idle_minutes", c.portal_idle_minutes},
                             {"absolute_hours", c.portal_absolute_hours},
                             {"reauth_minutes", c.portal_reauth_minutes},
                             {"cosign_roles", strings(c.portal_cosign_roles)},
                             {"playback_reason_roles", strings(c.portal_reason_roles)},
                             {"original_roles", strings(c.portal_original_roles)}}},
      {"tls", toml::table{{"certificate", c.tls_certificate},
                          {"private_key", c.tls_private_key},
                          {"ca_file", c.tls_ca_file}}},
      {"policy", toml::table{{"reload_interval_ms", c.reload_interval_ms}}},
  };
  toml::array rules;
  for (const auto& r : c.archive_retention) {
    rules.push_back(toml::table{{r.field, r.value}, {"period", r.period.str()}});
  }
  root.insert(
      "archive",
      toml::table{{"flush_interval_ms", c.archive_flush_interval_ms},
                  {"min_free_mb", c.archive_min_free_mb},
                  {"sign_interval_s", c.archive_sign_interval_s},
                  {"verify_interval_s", c.archive_verify_interval_s},
                  {"verify_rate_mb_s", c.archive_verify_rate_mb_s},
                  {"default_retention", c.archive_default_retention.str()},
                  {"retention", rules},
                  {"s3", toml::table{{"endpoint", c.archive_s3_endpoint},
                                     {"bucket", c.archive_s3_bucket},
                                     {"region", c.archive_s3_region},
                                     {"prefix", c.archive_s3_prefix},
                                     {"credentials_file", c.archive_s3_credentials_file},
                                     {"ca_file", c.archive_s3_ca_file},
                                     {"spool_dir", c.archive_s3_spool_dir},
                                     {"part_size_mb", c.archive_s3_part_size_mb},
                                     {"timeout_s", c.archive_s3_timeout_s}}},
                  {"hsm", toml::table{{"module", c.archive_hsm_module},
                                      {"token", c.archive_hsm_token},
                                      {"pin_file", c.archive_hsm_pin_file},
                                      {"master_key_label", c.archive_hsm_master_key_label},
                                      {"signing_key_label", c.archive_hsm_signing_key_label}}}});
  toml::array sources;
  for (const auto& src : c.recorder_allowed_sources) sources.push_back(src);
  toml::array business;
  for (const auto& h : c.recorder_business_headers) business.push_back(h);
  root.insert("recorder", toml::table{{"sip_listen", c.recorder_sip_listen},
                                      {"media_address", c.recorder_media_address},
                                      {"rtp_port_min", c.recorder_rtp_port_min},
                                      {"rtp_port_max", c.recorder_rtp_port_max},
                                      {"max_sessions", c.recorder_max_sessions},
                                      {"min_free_mb", c.recorder_min_free_mb},
                                      {"retry_after_s", c.recorder_retry_after_s},
                                      {"media_timeout_s", c.recorder_media_timeout_s},
                                      {"drain_timeout_s", c.recorder_drain_timeout_s},
                                      {"latch", c.recorder_latch},
                                      {"accept_non_siprec", c.recorder_accept_non_siprec},
                                      {"playback", c.recorder_playback},
                                      {"playback_workers", c.recorder_playback_workers},
                                      {"transcription", c.recorder_transcription},
                                      {"transcription_model", c.recorder_transcription_model},
                                      {"transcription_phones", c.recorder_transcription_phones},
                                      {"sentiment", c.recorder_sentiment},
                                      {"sentiment_lexicon", c.recorder_sentiment_lexicon},
                                      {"allowed_sources", sources},
                                      {"business_headers", business},
                                      {"gateway_key_file", c.recorder_gateway_key_file},
                                      {"tls_listen", c.recorder_tls_listen},
                                      {"tls_client_auth", c.recorder_tls_client_auth}});
  toml::array emergency, algorithms;
  for (const auto& n : c.gateway_emergency_numbers) emergency.push_back(n);
  toml::array dial_in;
  for (const auto& d : c.gateway_dial_in) {
    toml::table t{{"number", d.number}, {"language", d.language}};
    if (!d.secondary_languages.empty()) {
      toml::array more;
      for (const auto& l : d.secondary_languages) more.push_back(l);
      t.insert("secondary_languages", std::move(more));
    }
    dial_in.push_back(std::move(t));
  }
  for (const auto& a : c.gateway_digest_algorithms) algorithms.push_back(a);
  root.insert("gateway",
              toml::table{{"sip_listen", c.gateway_sip_listen},
                          {"media_address", c.gateway_media_address},
                          {"rtp_port_min", c.gateway_rtp_port_min},
                          {"rtp_port_max", c.gateway_rtp_port_max},
                          {"recording_setup_timeout_ms", c.gateway_recording_setup_timeout_ms},
                          {"max_pause_seconds", c.gateway_max_pause_seconds},
                          {"trunk", c.gateway_trunk},
                          {"require_srtp", c.gateway_require_srtp},
                          {"health_check_interval_ms", c.gateway_health_check_interval_ms},
                          {"emergency_numbers", emergency},
                          {"dial_in", dial_in},
                          {"business_headers", strings(c.gateway_business_headers)},
                          {"digest_algorithms", algorithms},
                          {"banner_text", c.gateway_banner_text},
                          {"trunk_transport", c.gateway_trunk_transport},
                          {"trunk_sources", strings(c.gateway_trunk_sources)},
                          {"trunk_username", c.gateway_trunk_username},
                          {"trunk_password_file", c.gateway_trunk_password_file},
                          {"trunk_tls_name", c.gateway_trunk_tls_name},
                          {"sip_domains", strings(c.gateway_sip_domains)},
                          {"recorder_key_file", c.gateway_recorder_key_file},
                          {"tls_listen", c.gateway_tls_listen},
                          {"wss_listen", c.gateway_wss_listen},
                          {"ws_listen", c.gateway_ws_listen},
                          {"ws_allowed_origins", strings(c.gateway_ws_allowed_origins)},
                          {"tls_client_auth", c.gateway_tls_client_auth},
                          {"allow_sdes_over_plain_sip", c.gateway_allow_sdes_over_plain_sip},
                          {"meeting_chimes", c.gateway_meeting_chimes},
                          {"conference_factory", c.gateway_conference_factory},
                          {"call_records_days", c.gateway_call_records_days},
                          {"dns_servers", c.gateway_dns_servers},
                          {"missed_recording_after_s", c.gateway_missed_recording_after_s},
                          {"missed_recording_webhook", c.gateway_missed_recording_webhook}});
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

}  // namespace verbatim

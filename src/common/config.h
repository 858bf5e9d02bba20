// Config: the one TOML configuration file every role reads (`--config FILE`), merged with
// flags and environment. Every setting has a documented default (docs/configuration.md);
// `verbatim config show` prints the effective values. Loaded once at start-up.
// Threads and ownership: the Config is a value read once at start and then only read; any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/defaults.h"
#include "common/period.h"

#include "common/result.h"

namespace verbatim {

struct Config {
  // [general]
  std::string data_dir = "./var";  // overridden by VERBATIM_DATA_DIR, then by --data-dir
  // [log]
  std::string log_format = "text";  // text | json
  std::string log_level = "info";   // trace | debug | info | warn | error
  // [admin_api]
  std::string http_listen = "127.0.0.1:8480";  // port 0 picks a free port
  bool http_tls = false;                       // HTTPS with the [tls] certificate
  // [portal]: the web application at / of the admin API's server (adminapi/sessions.h).
  std::string portal_web_root;    // the built front end; empty: the one this build made
  int portal_idle_minutes = 15;   // a session unused this long ends
  int portal_absolute_hours = 8;  // and every session ends this long after sign-in
  int portal_reauth_minutes = 5;  // sensitive actions need the password again after this
  std::vector<std::string> portal_cosign_roles;  // roles whose sign-in a second account co-signs
  std::vector<std::string> portal_reason_roles;  // roles that give a reason before listening
  // Roles that play a redacted recording's original; the others its redacted versions only.
  std::vector<std::string> portal_original_roles{"compliance-officer"};
  // [tls] (docs/configuration.md): what SIP over TLS and HTTPS present and verify against.
  std::string tls_certificate;  // PEM chain; `verbatim tls init` makes one
  std::string tls_private_key;  // PEM, owner-only
  std::string tls_ca_file;      // CAs peers must chain to (clients with certificates, servers)
  // [policy]
  int reload_interval_ms = 500;  // how often a server picks up changes made by other processes
  // [archive]
  int archive_flush_interval_ms =
      defaults::kArchiveFlushIntervalMs;  // a crash loses at most this much of a recording
  int64_t archive_min_free_mb = 256;      // new objects are refused below this much free space
  int archive_sign_interval_s = 60;       // a signed tree head at most this long after a change
  int archive_verify_interval_s = 3600;   // background verification: pause between passes
  int archive_verify_rate_mb_s = 64;      // background verification: object bytes read per second
  Period archive_default_retention{7, 0, 0};
  // [archive.s3]: objects in an S3 bucket with Object Lock instead of local files
  // (docs/storage.md).
  std::string archive_s3_endpoint;  // empty: local files
  std::string archive_s3_bucket;
  std::string archive_s3_region = "us-east-1";
  std::string archive_s3_prefix;
  std::string archive_s3_credentials_file;  // empty: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
  std::string archive_s3_ca_file;
  std::string archive_s3_spool_dir;  // empty: <data_dir>/archive/spool
  int archive_s3_part_size_mb = 16;
  int archive_s3_timeout_s = 30;
  // [archive.hsm]: the master and signing keys in a PKCS#11 token instead of files
  // (docs/operations.md, "Keys in an HSM").
  std::string archive_hsm_module;  // empty: key files
  std::string archive_hsm_token;
  std::string archive_hsm_pin_file;  // owner-only; empty: VERBATIM_HSM_PIN
  std::string archive_hsm_master_key_label = "verbatim-master";
  std::string archive_hsm_signing_key_label = "verbatim-signing";
  // [[archive.retention]]: { application | group | policy = "...", period = "5y" }
  struct RetentionRule {
    std::string field;
    std::string value;
    Period period;
  };
  std::vector<RetentionRule> archive_retention;
  // [recorder] (docs/recorder.md)
  std::string recorder_sip_listen =
      defaults::kRecorderSipListen;    // UDP and TCP; port 0 picks a free one
  std::string recorder_media_address;  // advertised in SDP answers; default: the SIP address
  int recorder_rtp_port_min =
      defaults::kRecorderRtpPortMin;  // RTP on even ports, RTCP on the odd one above
  int recorder_rtp_port_max = defaults::kRecorderRtpPortMax;
  int recorder_max_sessions =
      defaults::kRecorderMaxSessions;  // new sessions beyond it: 503 with Retry-After
  int64_t recorder_min_free_mb =
      defaults::kRecorderMinFreeMb;  // new sessions below it: 503 (calls in progress go on)
  int recorder_retry_after_s = defaults::kRecorderRetryAfterS;
  int recorder_media_timeout_s =
      defaults::kRecorderMediaTimeoutS;  // no RTP on any active stream this long: the call ended
  int recorder_drain_timeout_s =
      defaults::kRecorderDrainTimeoutS;        // on shutdown: wait this long for calls to end
  std::string recorder_latch = "sdp-address";  // sdp-address | first-packet
  bool recorder_accept_non_siprec = false;     // record plain INVITEs too (refused: 403)
  bool recorder_playback = true;  // Ogg/Opus per participant after each call (job queue)
  // Threads making playback files; 0: one per core the machine has beyond the first (at least 1).
  int recorder_playback_workers = 0;
  // Transcripts per participant after each call (job queue): "pocketsphinx" or "none".
  std::string recorder_transcription = "pocketsphinx";
  std::string recorder_transcription_model = "/usr/share/pocketsphinx/model/en-us";
  bool recorder_transcription_phones = true;  // phones for phonetic search
  // Sentiment of each transcribed utterance and participant: "vader" or "none"; the lexicon's
  // directory (empty: the one this build installed, share/lexicons/vader).
  std::string recorder_sentiment = "vader";
  std::string recorder_sentiment_lexicon;
  std::vector<std::string> recorder_allowed_sources;  // CIDRs of recording clients; empty: any
  // SIP headers of a recording INVITE kept as the recording's business data (searchable).
  std::vector<std::string> recorder_business_headers = {"User-to-User"};
  // The key our gateway signs its X-Verbatim headers with; default <data_dir>/gateway-recorder.key
  // (created if absent). A recorder on another host needs a copy of the gateway's.
  std::string recorder_gateway_key_file;
  std::string recorder_tls_listen;                   // SIP over TLS; empty: none
  std::string recorder_tls_client_auth = "require";  // none | optional | require (mutual TLS)
  // [gateway] (docs/gateway.md)
  std::string gateway_sip_listen =
      defaults::kGatewaySipListen;    // UDP and TCP; port 0 picks a free one
  std::string gateway_media_address;  // relay address; default: the SIP address
  int gateway_rtp_port_min = defaults::kGatewayRtpPortMin;
  int gateway_rtp_port_max = defaults::kGatewayRtpPortMax;
  int gateway_recording_setup_timeout_ms =
      defaults::kRecordingSetupTimeoutMs;  // RequiredBeforeCallEstablishment deadline
  int gateway_max_pause_seconds = defaults::kMaxPauseSeconds;  // a pause resumes by itself then
  std::string gateway_trunk;                       // "ip:port" of the PSTN trunk; empty: none
  std::string gateway_trunk_transport = "udp";     // udp | tcp | tls: how calls reach the trunk
  std::vector<std::string> gateway_trunk_sources;  // CIDRs it calls from; default: its address
  std::string gateway_trunk_username;              // set: calls from the trunk must pass digest
  std::string gateway_trunk_password_file;         // its password (a file, owner-only)
  std::string gateway_trunk_tls_name;            // set: the trunk's client certificate must name it
  std::vector<std::string> gateway_sip_domains;  // the tenant's realms; default: the users'
                                                 // SIP address domains
  std::string gateway_recorder_key_file;  // signs X-Verbatim headers; default as the recorder's
  std::string gateway_tls_listen;         // SIP over TLS (sips:); empty: none
  std::string gateway_wss_listen;         // SIP over secure WebSocket for browsers; empty: none
  std::string gateway_ws_listen;          // plain WebSocket, behind a proxy that terminates TLS
  // Web origins a browser may open the WebSocket from; empty: this server's own web origin.
  std::vector<std::string> gateway_ws_allowed_origins;
  std::string gateway_tls_client_auth = "optional";  // none | optional | require
  // SDES-SRTP keys travel in SDP: only over TLS, unless this is set (a lab without certificates).
  bool gateway_allow_sdes_over_plain_sip = defaults::kAllowSdesOverPlainSip;
  bool gateway_meeting_chimes = true;  // a short chime to the others when a member joins or leaves
  std::string gateway_conference_factory = "conference";  // RFC 4579 ad-hoc conferences; "": none
  int gateway_call_records_days =
      defaults::kCallRecordsDays;   // call records older than this are deleted
  std::string gateway_dns_servers;  // "ip:port,ip:port" for recorder host names; empty: system's
  int gateway_health_check_interval_ms =
      defaults::kHealthCheckIntervalMs;                  // OPTIONS to recorder endpoints; 0: off
  bool gateway_require_srtp = defaults::kRequireSrtp;    // plain RTP offers get 488 (T35)
  bool gateway_recorder_srtp = defaults::kRecorderSrtp;  // the copies to recorders as SRTP (SDES)
  std::string gateway_voicemail_uri;  // refused calls to a recorded user go here; empty: refused
  std::string gateway_prompts_dir;    // the admin's spoken notices; default <data_dir>/prompts
  std::vector<std::string> gateway_emergency_numbers = {"911", "112", "999", "000", "110", "119"};
  // [[gateway.dial_in]]: { number = "+14255550150", language = "de" }: meetings' dial-in numbers
  // (docs/meetings.md); a caller hears the PIN prompt in the number's language (default en).
  // secondary_languages (at most 4, as Teams' SecondaryLanguages): a caller first hears a
  // language menu ("For English, press 2") and chooses; no choice: the number's language.
  struct DialIn {
    std::string number;
    std::string language = "en";
    std::vector<std::string> secondary_languages;
  };
  std::vector<DialIn> gateway_dial_in;
  // Headers of a caller's INVITE copied onto the recording INVITEs (the recorder keeps them as
  // searchable business data: recorder.business_headers).
  std::vector<std::string> gateway_business_headers = {"User-to-User"};
  std::vector<std::string> gateway_digest_algorithms = {"SHA-256", "MD5"};  // challenge order
  std::string gateway_banner_text = defaults::kBannerText;
  // Missed recordings: a connected call a policy records with no complete recording in the
  // archive this long after its end raises an alert (0: no reconciliation); the alert is also
  // POSTed to the webhook, if any (http:// or https://).
  int gateway_missed_recording_after_s = 120;
  std::string gateway_missed_recording_webhook;
};

// Reads FILE when given (unknown keys and wrong types are errors), then applies
// VERBATIM_DATA_DIR. Flags are applied by the caller afterwards.
Result<Config> load_config(const std::optional<std::string>& path);

// The effective configuration as TOML, with every key.
std::string config_to_toml(const Config& config);

}  // namespace verbatim

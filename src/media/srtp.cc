#include "media/srtp.h"

#include <cstdlib>
#include <mutex>

#include <sodium.h>
#include <srtp2/srtp.h>

namespace verbatim::media {

namespace {

constexpr size_t kKeySaltSize = 30;  // AES-128 key (16) + salt (14)

void init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    (void)srtp_init();
    if (sodium_init() < 0) std::abort();  // no random source: never run without one
  });
}

}  // namespace

struct SrtpReceiver::Session {
  srtp_t ctx = nullptr;
  ~Session() {
    if (ctx) srtp_dealloc(ctx);
  }
};

bool srtp_suite_supported(std::string_view suite) {
  return suite == "AES_CM_128_HMAC_SHA1_80" || suite == "AES_CM_128_HMAC_SHA1_32";
}

Result<SdesKey> parse_sdes_key(std::string_view suite, std::string_view key_params) {
  init_once();
  if (!srtp_suite_supported(suite)) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "SRTP suite " + std::string(suite) + " is not supported (AES_CM_128_HMAC_SHA1_80/32 are)");
  }
  std::string_view rest = key_params;
  if (rest.substr(0, 7) == "inline:") rest.remove_prefix(7);
  const size_t bar = rest.find('|');
  const std::string_view b64 = rest.substr(0, bar);
  // After the key: an optional lifetime ("2^20") and an optional MKI ("1:4", value:length).
  if (bar != std::string_view::npos && rest.find(':', bar) != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "SDES keys with an MKI are not supported");
  }
  SdesKey k;
  k.suite = std::string(suite);
  k.key_salt.resize(kKeySaltSize + 8);
  size_t len = 0;
  if (sodium_base642bin(k.key_salt.data(), k.key_salt.size(), b64.data(), b64.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 &&
      sodium_base642bin(k.key_salt.data(), k.key_salt.size(), b64.data(), b64.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "SDES key is not base64");
  }
  if (len != kKeySaltSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "SDES key and salt are " + std::to_string(len) + " bytes, not 30");
  }
  k.key_salt.resize(len);
  return k;
}

std::string new_sdes_inline(std::string_view suite) {
  init_once();
  (void)suite;  // both supported suites take 30 bytes
  uint8_t key[kKeySaltSize];
  randombytes_buf(key, sizeof key);
  char b64[64];
  sodium_bin2base64(b64, sizeof b64, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
  sodium_memzero(key, sizeof key);
  return std::string("inline:") + b64;
}

namespace {

// A libsrtp session for one direction with `key` (any SSRC).
Result<srtp_t> make_session(const SdesKey& key, bool inbound) {
  init_once();
  if (!srtp_suite_supported(key.suite) || key.key_salt.size() != kKeySaltSize) {
    return make_error(ErrorCode::kInvalidArgument, "unsupported SRTP key");
  }
  srtp_policy_t policy{};
  if (key.suite == "AES_CM_128_HMAC_SHA1_32") {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
  } else {
    srtp_crypto_policy_set_rtp_default(&policy.rtp);
  }
  srtp_crypto_policy_set_rtcp_default(&policy.rtcp);  // SRTCP is always HMAC-SHA1-80
  policy.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
  std::vector<uint8_t> material = key.key_salt;
  policy.key = material.data();
  policy.window_size = 1024;
  policy.allow_repeat_tx = 0;
  policy.next = nullptr;
  srtp_t ctx = nullptr;
  const srtp_err_status_t st = srtp_create(&ctx, &policy);
  sodium_memzero(material.data(), material.size());
  if (st != srtp_err_status_ok) {
    return make_error(ErrorCode::kInternal, "srtp_create failed (" + std::to_string(st) + ")");
  }
  return ctx;
}

}  // namespace

Result<std::unique_ptr<SrtpReceiver>> SrtpReceiver::create(const SdesKey& key) {
  auto ctx = make_session(key, /*inbound=*/true);
  if (!ctx) return ctx.error();
  std::unique_ptr<SrtpReceiver> r(new SrtpReceiver());
  r->session_ = std::make_unique<Session>();
  r->session_->ctx = ctx.value();
  return r;
}

struct SrtpSender::Session {
  srtp_t ctx = nullptr;
  ~Session() {
    if (ctx) srtp_dealloc(ctx);
  }
};

Result<std::unique_ptr<SrtpSender>> SrtpSender::create(const SdesKey& key) {
  auto ctx = make_session(key, /*inbound=*/false);
  if (!ctx) return ctx.error();
  std::unique_ptr<SrtpSender> s(new SrtpSender());
  s->session_ = std::make_unique<Session>();
  s->session_->ctx = ctx.value();
  return s;
}

SrtpSender::~SrtpSender() = default;

Status SrtpSender::protect(std::vector<uint8_t>& data, bool rtcp) {
  int len = static_cast<int>(data.size());
  data.resize(data.size() + kMaxTrailer);
  const srtp_err_status_t st = rtcp ? srtp_protect_rtcp(session_->ctx, data.data(), &len)
                                    : srtp_protect(session_->ctx, data.data(), &len);
  if (st != srtp_err_status_ok) {
    return make_error(ErrorCode::kInvalidArgument,
                      "SRTP protect failed (" + std::to_string(st) + ")");
  }
  data.resize(static_cast<size_t>(len));
  return ok_status();
}

SrtpReceiver::~SrtpReceiver() = default;

SrtpReceiver::Outcome SrtpReceiver::unprotect(uint8_t* data, size_t& size, bool rtcp) {
  if (size < 12 || size > 65535) return Outcome::kMalformed;
  int len = static_cast<int>(size);
  const srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(session_->ctx, data, &len)
                                    : srtp_unprotect(session_->ctx, data, &len);
  switch (st) {
    case srtp_err_status_ok:
      size = static_cast<size_t>(len);
      return Outcome::kOk;
    case srtp_err_status_auth_fail:
      return Outcome::kAuthFailed;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return Outcome::kReplay;
    default:
      return Outcome::kMalformed;
  }
}

}  // namespace verbatim::media

// The receive side of SRTP (RFC 3711) keyed by SDES (RFC 4568), as a recorder needs it: the
// recording client's key from the offer's a=crypto line, authentication and decryption of
// every SRTP and SRTCP packet (a wrong tag, a replay: dropped and counted), and a key of our own
// for the answer (RFC 4568 requires one, though a receive-only endpoint never sends with it).
// The cryptography is libsrtp2's; this module only maps SDP to it.
// Threads and ownership: each SrtpReceiver/SrtpSender owns its libsrtp context and is used by the
// one stream that owns it, on that stream's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace verbatim::media {

struct SdesKey {
  std::string suite;              // AES_CM_128_HMAC_SHA1_80 | AES_CM_128_HMAC_SHA1_32
  std::vector<uint8_t> key_salt;  // master key || master salt (30 bytes)
  bool operator==(const SdesKey&) const = default;
};

bool srtp_suite_supported(std::string_view suite);

// "[inline:]<base64 key||salt>[|2^31][|MKI:len]" of `suite` (sdp.h gives it without "inline:").
// Errors say what is wrong (unknown suite, bad base64, wrong length, MKI: not supported).
Result<SdesKey> parse_sdes_key(std::string_view suite, std::string_view key_params);

// "inline:<base64>" with a fresh random key and salt for `suite`.
std::string new_sdes_inline(std::string_view suite);

class SrtpReceiver {
 public:
  static Result<std::unique_ptr<SrtpReceiver>> create(const SdesKey& key);
  ~SrtpReceiver();
  SrtpReceiver(const SrtpReceiver&) = delete;
  SrtpReceiver& operator=(const SrtpReceiver&) = delete;

  enum class Outcome { kOk, kAuthFailed, kReplay, kMalformed };
  // Authenticates and decrypts `data` in place; `size` becomes the plain packet's size.
  Outcome unprotect(uint8_t* data, size_t& size, bool rtcp);

 private:
  SrtpReceiver() = default;
  struct Session;
  std::unique_ptr<Session> session_;
};

// The sending side (the gateway forks media to recorders with it; tests use it as a client).
class SrtpSender {
 public:
  static Result<std::unique_ptr<SrtpSender>> create(const SdesKey& key);
  ~SrtpSender();
  SrtpSender(const SrtpSender&) = delete;
  SrtpSender& operator=(const SrtpSender&) = delete;
  // Protects the packet in `data` (its first `size` bytes) in place; `data` needs room for the
  // tag (and the SRTCP index): kMaxTrailer more bytes. `size` becomes the protected size.
  Status protect(std::vector<uint8_t>& data, bool rtcp);
  static constexpr size_t kMaxTrailer = 16 + 4;

 private:
  SrtpSender() = default;
  struct Session;
  std::unique_ptr<Session> session_;
};

}  // namespace verbatim::media

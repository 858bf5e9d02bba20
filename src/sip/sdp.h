// SDP (RFC 8866, formerly RFC 4566): parse and serialise session descriptions, and the
// offer/answer rules (RFC 3264) a recording server needs: answer every stream receive-only
// with its label, choose codecs, recognise hold, and read SDES crypto lines (RFC 4568).
//
// Hand-written: SDP is line-based and small; the packaged C libraries (sofia-sip's sdp
// parser) would drag a whole stack in for a few hundred lines. Values are copied (SDP bodies
// are small and outlive the message they came in).
// Threads and ownership: SessionDescription is a value that owns its strings; pure functions; any
// thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace verbatim::sip {

struct SdpAttribute {
  std::string name;
  std::optional<std::string> value;  // nullopt for property attributes ("a=recvonly")
};

struct SdpConnection {
  std::string net_type = "IN";
  std::string addr_type = "IP4";  // IP4 | IP6
  std::string address;            // may carry "/ttl[/count]" for multicast
};

struct RtpMap {
  int payload_type = 0;
  std::string encoding;  // as written ("PCMU", "opus", "telephone-event")
  int clock_rate = 0;
  int channels = 1;
};

// RFC 3551's static payload types (0 PCMU, 8 PCMA, 9 G722, ...), which need no a=rtpmap line.
std::optional<RtpMap> static_rtpmap(int payload_type);

struct SdesCrypto {  // a=crypto:<tag> <suite> inline:<key||salt>[|lifetime][|MKI:len] [params]
  int tag = 0;
  std::string suite;
  std::string key_params;  // everything after "inline:" up to the first space
  std::string session_params;
};

enum class Direction { kSendRecv, kSendOnly, kRecvOnly, kInactive };
std::string_view direction_name(Direction d);

struct SdpMedia {
  std::string media;  // audio, video, application, ...
  uint16_t port = 0;
  uint16_t port_count = 1;  // "m=audio 49170/2 ..."
  std::string proto;        // RTP/AVP, RTP/SAVP, RTP/AVPF, UDP/TLS/RTP/SAVPF, ...
  std::vector<std::string> formats;
  std::optional<std::string> title;  // i=
  std::optional<SdpConnection> connection;
  std::vector<std::string> bandwidths;  // b= lines, as written
  std::optional<std::string> key;       // k=
  std::vector<SdpAttribute> attributes;

  std::optional<std::string> attribute(std::string_view name) const;  // first value
  bool has_attribute(std::string_view name) const;
  // The media-level direction attribute, else `session_default`.
  Direction direction(Direction session_default = Direction::kSendRecv) const;
  std::optional<std::string> label() const { return attribute("label"); }
  std::vector<RtpMap> rtpmaps() const;
  // rtpmap of a payload type, with the RFC 3551 static ones (0 PCMU, 8 PCMA, 9 G722, ...)
  // when there is no a=rtpmap line for it.
  std::optional<RtpMap> rtpmap(int payload_type) const;
  std::optional<std::string> fmtp(int payload_type) const;
  std::vector<SdesCrypto> cryptos() const;
  void set_direction(Direction d);
};

struct SessionDescription {
  int version = 0;
  struct Origin {
    std::string username = "-";
    std::string session_id;
    std::string session_version;
    std::string net_type = "IN";
    std::string addr_type = "IP4";
    std::string address;
  } origin;
  std::string session_name = "-";
  std::optional<std::string> info, uri;
  std::vector<std::string> emails, phones;
  std::optional<SdpConnection> connection;
  std::vector<std::string> bandwidths;
  std::vector<std::string> times = {"0 0"};  // t= (with its r= lines appended after '\n')
  std::optional<std::string> zone, key;
  std::vector<SdpAttribute> attributes;
  std::vector<SdpMedia> media;

  Direction direction() const;  // session-level attribute, default sendrecv
  // The connection address a stream sends to: media-level c= or the session's.
  const SdpConnection* connection_for(const SdpMedia& m) const;
  // RFC 3264 §8.4 hold: the stream is sendonly/inactive, or its address is 0.0.0.0.
  bool is_hold(const SdpMedia& m) const;
};

// Parses an SDP body (CRLF or LF line ends). Errors name the line and what is wrong.
Result<SessionDescription> parse_sdp(std::string_view text);
std::string serialize_sdp(const SessionDescription& sdp);

// What a receive-only endpoint (a recording server) supports and where it listens.
struct AnswerOptions {
  std::string address;  // our media address (IP4 or IP6)
  std::string origin_user = "verbatim";
  uint64_t session_id = 0;      // o= session id and version
  std::vector<uint16_t> ports;  // one per offered stream (unused for rejected ones)
  // Encoding names we accept, in preference order (case-insensitive): e.g. PCMU, PCMA, G722,
  // opus. telephone-event is kept whenever offered.
  std::vector<std::string> codecs = {"PCMU", "PCMA", "G722", "opus"};
};

// RFC 3264 answer for a recording server: every offered stream answered in order, receive-
// only (inactive when the offer only receives or is inactive), with its a=label, the offered
// payload types we support (keeping the offer's order) plus telephone-event; a stream with no
// supported codec, or port 0 in the offer, is rejected with port 0.
Result<SessionDescription> answer_recvonly(const SessionDescription& offer,
                                           const AnswerOptions& options);

// An m-line format as an RTP payload type (0-127); nullopt for anything else (untrusted input).
std::optional<int> parse_payload_type(std::string_view format);

}  // namespace verbatim::sip

// The call model: a call, its parties, their recordings and the SIPREC legs of each, a call to a
// queue and a transfer in progress. Private to src/gateway/. The Gateway owns every Call
// (calls_); a Call owns its parties, recordings, legs and the timers that belong to it. Only
// the gateway's io_context thread touches them.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/gateway.h"
#include "gateway/sip_helpers.h"
#include "media/conference_mix.h"
#include "media/srtp.h"
#include "media/video.h"
#include "policy/model.h"
#include "sip/timers.h"
#include "siprec/meeting_offer.h"

namespace verbatim::gateway {

namespace asio = boost::asio;
using asio::ip::udp;
using nlohmann::json;
using std::chrono::steady_clock;
// The helpers are for the gateway's own files, which include this header.
using namespace detail;  // NOLINT(google-build-using-namespace)

// --- the call model --------------------------------------------------------------------------

struct Gateway::Party {
  Side side = Side::kA;
  std::string aor;  // what the metadata names: the user's SIP address, a tel: URI, the From URI
  std::string display;
  std::string number;
  std::shared_ptr<const policy::DirectoryUser> user;
  policy::Decision decision;
  bool recorded = false;
  json to_json() const {
    json j{{"aor", aor}, {"side", side == Side::kA ? "caller" : "callee"}};
    if (!display.empty()) j["display"] = display;
    if (!number.empty()) j["number"] = number;
    if (user) j["user"] = user->user_principal_name;
    if (decision.policy) {
      j["policy"] = decision.policy->name;
      j["policySource"] = policy::source_name(decision.source);
    }
    j["recorded"] = recorded;
    return j;
  }
};

struct Gateway::Target {
  Party party;
  std::string identity;  // "user@domain" of a user
  bool via_trunk = false, emergency = false;
  std::shared_ptr<const QueueRoute> queue;  // a call queue's resource account
};

// A call to a call queue: the agents it is offered to, until one answers and is recorded.
struct Gateway::QueueCall {
  explicit QueueCall(sip::TimerService& timers) : alert(timers) {}
  std::shared_ptr<const QueueRoute> route;
  Party queue;             // the resource account the caller dialled
  std::set<size_t> tried;  // agents offered in the current round
  struct Ringing {
    size_t agent = 0;
    size_t offer = 0;  // index into offers
  };
  std::map<uint64_t, Ringing> ringing;  // our INVITEs to agents' registrations
  sip::Timer alert;                     // the agent alert time, or the pause between rounds
  steady_clock::time_point give_up;     // TimeoutThreshold
  bool caller_answered = false;         // conference mode: the queue answered at once
  int64_t caller_answered_ms = -1;
  std::optional<size_t> joining;  // answered, its required recorders being set up: the offer
  std::vector<json> offers;       // each agent offered the call, and what became of it
};

// A blind transfer in progress (a party's REFER): the transferor's side of the call is given to
// the target once the target's required recorders are in and the target answered.
struct Gateway::Transfer {
  explicit Transfer(sip::TimerService& timers) : deadline(timers), started(timers.now()) {}
  Side moving = Side::kB;   // the transferor's side, which the target takes
  uint64_t transferor = 0;  // the transferor's session (0 once it hung up)
  std::string by;           // the transferor's address (Referred-By)
  Target target;
  uint64_t session = 0;  // our INVITE to the target
  bool calling = false;
  // Attended transfer (Refer-To with Replaces, RFC 3891): the target is already in a call
  // with the transferor (the consultation); it is re-INVITEd into this call and that one ends.
  uint64_t consultation = 0;  // the consultation call's id
  uint64_t replaced = 0;      // the target's session in it (ours once it answers the re-INVITE)
  sip::Timer deadline;
  steady_clock::time_point started;
};

struct Gateway::Leg {
  enum class State { kInviting, kUp, kFailed, kEnded };
  uint64_t session = 0;
  size_t group = 0;
  Recording* recording = nullptr;
  std::string application_id, instance, endpoint, uri;
  State state = State::kInviting;
  int status = 0;
  std::string why;
  steady_clock::time_point started;  // when its INVITE went
  int64_t answered_ms = -1;
  // Per SIPREC m-line: the relay stream it copies and which side's packets.
  std::vector<std::pair<size_t, Side>> lines;
  std::vector<std::shared_ptr<MediaTap>> taps;
  std::vector<std::pair<size_t, uint64_t>> tap_ids;  // (relay, tap)
  std::vector<std::string> keys;  // per SIPREC m-line: our SRTP key ("inline:..."), if offered
  // The metadata the recorder has: the communication session, and the participant the observed
  // party talks to (who it is, its id, the streams it sends and receives).
  std::string md_session, peer_id, peer_aor;
  std::vector<std::string> peer_send, peer_recv;
  std::string callee_session_id;  // the callee's Session-ID it has been given (RFC 7989)
  // The SDP of our offer, and its o= version: a pause re-INVITEs it with every stream inactive,
  // a resume with them sendonly again (RFC 7866 §8.1: the SRC pauses and resumes the streams).
  std::string offer_sdp;
  unsigned sdp_version = 1;
  bool paused = false;  // its taps copy nothing and it has been told (or is being told)
  const char* state_name() const {
    switch (state) {
      case State::kInviting:
        return "inviting";
      case State::kUp:
        return "recording";
      case State::kFailed:
        return "failed";
      case State::kEnded:
        return "ended";
    }
    return "";
  }
};

struct Gateway::Recording {
  Party* party = nullptr;
  std::shared_ptr<const policy::CompiledPolicy> policy;
  struct Group {  // one application with its ConcurrentInvitationCount instances and its pair
    std::string application;
    bool required_before = true, required_during = true;
    std::vector<Leg*> legs;
    // What replacements come from: the application (and its pair), in the party's region order.
    std::vector<std::pair<policy::RecorderTarget, std::vector<policy::EndpointTarget>>> sources;
    bool any_up() const {
      return std::any_of(legs.begin(), legs.end(),
                         [](const Leg* l) { return l->state == Leg::State::kUp; });
    }
    // Why each instance is gone ("sip:srs@...: refused: 503 ... (recording storage
    // unavailable: ...)"), for the Warning and the log.
    std::string why_gone() const {
      std::string out;
      for (const Leg* l : legs) {
        if (l->why.empty()) continue;
        out += std::string(out.empty() ? "" : "; ") + l->uri + ": " + l->why;
      }
      return out.empty() ? "no recorder endpoint" : out;
    }
    bool ever_up() const {
      return std::any_of(legs.begin(), legs.end(),
                         [](const Leg* l) { return l->answered_ms >= 0; });
    }
    bool all_gone() const {
      return std::all_of(legs.begin(), legs.end(), [](const Leg* l) {
        return l->state == Leg::State::kFailed || l->state == Leg::State::kEnded;
      });
    }
  };
  std::vector<Group> groups;
  std::vector<std::unique_ptr<Leg>> legs;
  bool left = false;       // its party left the call (went to voicemail, transferred away)
  bool joined = true;      // false while its party is the target of a transfer not yet complete
  bool on_behalf = false;  // RecordReroutedCalls: goes on after its party transferred the call
  // Started by an officer or supervisor (call control), not by the party's policy: never holds
  // or ends the call, and may be stopped the same way.
  std::string on_demand_by;
  bool active() const { return !left && joined; }
};

// SRTP of one relayed stream (SDES): the caller's offer set it; our keys for each side.
struct StreamCrypto {
  bool secure = false;  // SDES towards the parties that are not browsers
  int tag = 1;
  std::string suite, proto;
  std::string our_a, our_b;  // "inline:..." we put in the SDP each party gets
  // WebRTC, by side: the ICE-lite credentials we give it (every side has them, so a browser
  // offered the call can check at once), whether it is a browser (DTLS-SRTP, from its SDP) and
  // our a=setup towards it.
  std::array<std::string, 2> ice_ufrag, ice_pwd;
  std::array<bool, 2> webrtc{};
  std::array<std::string, 2> setup = {"actpass", "actpass"};
  // Transcoding (media/transcoder.h): G.711 added to the callee's offer when the caller offered
  // Opus and no G.711, the caller's Opus payload type, and the added one the callee chose (then
  // both directions are transcoded).
  std::vector<int> added;
  int caller_opus = -1;
  std::optional<int> transcoded;
};

struct Gateway::Call {
  Call(sip::TimerService& timers, const Clock& wall)
      : deadline(timers),
        started_at(wall.now()),
        started(timers.now()),
        unanswered(timers),
        pause_limit(timers) {}
  enum class State { kSetup, kCalling, kConnected, kEnding };
  uint64_t id = 0;
  std::string call_id;     // the caller's Call-ID
  std::string session_id;  // the caller's RFC 7989 Session-ID, if it sent one (siprec metadata)
  // The answering callee's Session-ID ("its uuid;remote=..."), if its 2xx carried one: it goes
  // to the recorders too, so a recording of the callee's later legs relates to this one.
  std::string callee_session_id;
  // The caller's business headers (GatewayOptions::business_headers), for the recorders.
  std::vector<std::pair<std::string, std::string>> business_headers;
  uint64_t a = 0, b = 0;
  Party caller, callee;
  std::string request_uri;
  bool emergency = false, via_trunk = false;
  int max_forwards = 70;        // for the INVITEs placed for this call: the caller's less one
  std::string callee_identity;  // "user@domain" of a callee user
  sip::SessionDescription a_offer, b_answer;
  std::vector<std::shared_ptr<MediaStream>> relays;  // per m-line of the offer (null: refused)
  std::vector<StreamCrypto> crypto;                  // per m-line: SRTP towards each party
  std::vector<std::unique_ptr<Recording>> recordings;
  State state = State::kSetup;
  sip::Timer deadline;
  std::chrono::system_clock::time_point started_at;
  steady_clock::time_point started;
  int64_t recorders_ready_ms = -1, callee_called_ms = -1, connected_ms = -1;
  bool a_record_aware = false, b_record_aware = false;
  std::array<bool, 2> notified{};  // by side: the recording-started notice was decided
  bool removing = false;           // RequiredDuringCall lost: the warning plays, then the call ends
  struct Notice {
    Side to = Side::kA;
    Prompt prompt = Prompt::kRecordingStarted;
    std::string language, file, encoding, outcome;
    int64_t at_ms = -1, duration_ms = 0;
    uint64_t packets = 0;
  };
  std::vector<Notice> notices;
  std::unique_ptr<Transfer> transfer;            // one at a time
  std::vector<json> transfers;                   // what became of each
  std::vector<json> forwards;                    // the callee's phone forwarded the call (3xx)
  std::vector<std::unique_ptr<Party>> departed;  // parties that left (their recordings name them)
  std::string outcome;
  int final_status = 0;
  // The o= session id each party's dialog saw first (0: this call's id); a dialog an attended
  // transfer moved here keeps its first call's (RFC 3264 §8).
  std::array<uint64_t, 2> origin{};
  uint64_t origin_of(Side side) const {
    return origin[static_cast<size_t>(side)] ? origin[static_cast<size_t>(side)] : id;
  }
  std::vector<uint64_t> forks;  // our INVITEs to the callee's registrations, until one answers
  size_t rang = 0;
  int best_status = 0;
  std::string best_reason;
  bool to_voicemail = false;  // the callee's required recording failed: voicemail instead
  std::string voicemail_why;
  std::string voicemail_reason = "unavailable";  // RFC 5806: unavailable, unconditional, no-answer
  // The callee's forwarding (Set-CsUserCallingSettings), as the call found it.
  std::optional<policy::CallingSettings> forwarding;
  sip::Timer unanswered;  // the callee's phones ring this long, then the call moves on
  // Simultaneous ring (calling settings): the target rung with the callee, and our INVITEs to it.
  std::optional<Target> simultaneous;
  std::set<uint64_t> simultaneous_forks;
  bool joining = false;  // the simultaneous target answered; its required recorders are awaited
  std::unique_ptr<QueueCall> queue;  // a call to a call queue
  // Call control (control.cc): the recording paused (a card payment), by whom and why, until
  // resumed or until GatewayOptions::max_pause has passed; and what was asked, in order.
  struct Pause {
    std::string by, reason, since;
  };
  std::optional<Pause> pause;
  sip::Timer pause_limit;
  std::vector<json> controls;
  bool recorded() const {
    return std::any_of(recordings.begin(), recordings.end(),
                       [](const auto& r) { return !r->left; });
  }
};

// --- meetings (meeting_room.cc) --------------------------------------------------------------

// The kinds of a member's lines, as the recorders' copies name them.
enum LineKind : int { kAudioLine = 0, kVideoLine = 1, kSlidesLine = 2 };

// SDES-SRTP (RFC 4568) on a member's line: what it sends is authenticated and decrypted before
// anything looks at it (a forgery is never mixed, forwarded, copied or latched); what it is sent
// is encrypted with our key of the answer. Its recorders get the decrypted packets (encrypted
// again with their own keys where their sessions took SRTP).
struct LineSrtp {
  // A browser's line (UDP/TLS/RTP/SAVPF): ICE-lite on the line's port, and the DTLS handshake
  // that gives rx and tx once done (until then nothing is taken from it or sent to it). The
  // browser offers, so the gateway is the DTLS server: the browser retransmits, and a lost
  // flight of ours is sent again when its flight comes again.
  struct WebRtc {
    media::IceLite ice;
    std::unique_ptr<media::DtlsSrtp> dtls;
    std::string setup;              // ours: passive (or active when the browser insists on passive)
    std::string fingerprint, ours;  // its a=fingerprint, and ours
    std::optional<std::string> mid;
    bool failed = false;
  };
  std::unique_ptr<WebRtc> webrtc;
  std::string proto;  // as offered (RTP/SAVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF), for our answer
  int tag = 1;        // the offer's a=crypto tag we took
  std::string suite;
  std::string theirs;  // its key (inline parameters): a re-offer may change it
  std::string ours;    // our key ("inline:...")
  std::unique_ptr<media::SrtpReceiver> rx;
  std::unique_ptr<media::SrtpSender> tx;
  std::vector<uint8_t> out;  // what we send, protected
  uint64_t failed = 0;       // dropped: did not authenticate
  std::string crypto() const { return std::to_string(tag) + " " + suite + " " + ours; }
};

// What arrived on a line with SRTP, authenticated and decrypted: `data` then points into a buffer
// of the thread (until the next call). False: dropped (counted in `failed`; a browser's line
// before DTLS is done has no keys, so everything is).
bool srtp_in(LineSrtp& s, std::span<const uint8_t>& data, bool rtcp);
// A browser's line: STUN (answered when it checks) and DTLS (from a checked address only) that
// came on its port; true when `data` was one of them (nothing more to do with it).
bool webrtc_in(MediaTap& port, LineSrtp& s, const boost::asio::ip::udp::endpoint& from,
               std::span<const uint8_t> data);
// Our transport attributes of a line in the answer: SDES (a=crypto) or WebRTC (ICE-lite
// credentials and candidate, fingerprint, setup, rtcp-mux, mid).
void transport_attributes(sip::SdpMedia& line, const LineSrtp* s, const std::string& address);
// Sends `data` from `port` to `to` (RTCP from its RTCP port), encrypted where `s` is not null.
void srtp_out(MediaTap& port, LineSrtp* s, std::span<const uint8_t> data,
              const boost::asio::ip::udp::endpoint& to, bool rtcp);

// A member's video line: its camera, or (`slides`) its screen share (RFC 4796). What it sends
// is forwarded to the others without transcoding; what it is sent is one other member's video
// (the speaker's; the presenter's screen), switched at keyframes (media/video.h).
struct Gateway::RoomVideo {
  RoomVideo(uint32_t ssrc, uint16_t seq, uint32_t ts) : view(ssrc, seq, ts) {}
  bool slides = false;
  size_t line = 0;       // its m-line's place in the member's offer
  std::string encoding;  // VP8 or H264
  uint8_t payload_type = 0;
  std::string rtpmap;               // as offered ("H264/90000")
  std::optional<std::string> fmtp;  // as offered, for our answer (H.264's profile and mode)
  bool fir = false;                 // it takes FIR (ccm fir) and not PLI (nack pli)
  bool rtcp_mux = false;            // RFC 5761: its RTCP on the RTP port
  std::shared_ptr<MediaTap> port;
  std::shared_ptr<LineSrtp> srtp;  // null: RTP in the clear
  std::optional<udp::endpoint> sdp, latched, rtcp_latched;
  bool sending = true, receiving = true;
  std::optional<uint32_t> ssrc;  // what it sends under
  steady_clock::time_point last_packet{};
  std::optional<steady_clock::time_point> last_request;
  uint8_t fir_seq = 0;
  uint64_t packets_in = 0, keyframes_in = 0, forwarded = 0, packets_out = 0, foreign = 0;
  uint64_t requests_sent = 0, requests_received = 0;
  media::StreamSwitch view;  // what it is sent
};

// A participant of a meeting: the SIP session it joined by, the codec it talks, and the port
// pair the gateway takes its audio in on and sends it the others' mix from.
struct Gateway::RoomMember {
  uint64_t session = 0;
  uint64_t id = 0;  // in the mix
  Party party;
  std::string encoding;
  uint8_t payload_type = 0;
  std::optional<uint8_t> telephone_event;  // the payload type of RFC 4733 events, if offered
  std::string rtpmap;                      // as the offer wrote it ("opus/48000/2")
  uint32_t ticks = 160;                    // RTP clock ticks per 20 ms
  std::shared_ptr<MediaTap> port;
  std::shared_ptr<LineSrtp> srtp;  // its audio's; null: RTP in the clear
  // Strict source, as the relay: media only from the SDP's or the signalling's address, the
  // first packet latching the port; sent to the latched address, before that to the SDP's.
  std::optional<udp::endpoint> sdp;
  std::optional<asio::ip::address> signalling;
  std::optional<udp::endpoint> latched;
  bool sending = true;  // it sends to us (not on hold)
  bool muted = false;   // by the organiser: no one hears it (its recorders still get it)
  std::string muted_by, muted_at;
  // Its subscription to the roster (RFC 4575), until when, and the last version it got.
  std::optional<steady_clock::time_point> roster_until;
  uint64_t roster_version = 0;
  bool receiving = true;  // we send to it
  uint16_t seq = 0;
  uint32_t timestamp = 0, ssrc = 0;
  uint64_t foreign = 0, packets_in = 0, packets_out = 0;
  std::string joined_at;
  uint64_t origin = 0;
  // A prompt playing to it instead of the mix, and the next frame.
  std::shared_ptr<const EncodedPrompt> prompt;
  size_t prompt_frame = 0;
  std::optional<uint32_t> last_event;  // the RTP timestamp of the last DTMF event taken
  // Recording (meeting_recording.cc). Waiting: not in the mix yet (not answered, or a dial-in
  // caller whose PIN is taken), until its RequiredBeforeMeetingJoin recorders are in.
  bool admitted = true;
  bool answered = false;      // its INVITE has had our 200 (a dial-in caller's, at once)
  bool record_aware = false;  // its phone shows the indicator itself (Supported: record-aware)
  std::string call_id;        // its INVITE's, for the journal
  std::string answer_sdp;     // our answer, kept while it waits
  steady_clock::time_point admit_deadline;
  // The applications of its own policy (by id) that it may not join without, and those it may
  // not stay without.
  std::vector<std::string> required_before, required_during;
  std::optional<steady_clock::time_point> remove_at;  // warned: removed when the warning ends
  std::string remove_reason;                          // the BYE's (or the 480's) Reason
  bool indicated = false;  // our 200 carried the recording indicator (Call-Info)
  bool told = false;       // the meeting's recording was made known to it
  std::string notice;      // how: "played", "indicator", "not played"
  // Dial-in: in the lobby (room "") until its PIN names a meeting.
  std::string language;  // of the number it dialled (else the user's own), for its prompts
  // While the dial-in language menu is offered: the languages of keys 1, 2, ... (empty: chosen).
  std::vector<std::string> menu;
  std::string digits;  // keyed so far
  int attempts = 0;
  steady_clock::time_point pin_deadline;
  // Its offer's m-lines (our answer has one for each, in place), which of them is its audio,
  // and its video lines (meeting_video.cc).
  std::vector<sip::SdpMedia> lines;
  size_t audio_line = 0;
  std::optional<RoomVideo> video, slides;
  double speech = 0;  // how loud it has been of late (the mix's level, smoothed): the speaker
  RoomVideo* line(int kind) {
    auto& v = kind == kSlidesLine ? slides : video;
    return kind != kAudioLine && v ? &*v : nullptr;
  }
  const RoomVideo* line(int kind) const { return const_cast<RoomMember*>(this)->line(kind); }
};

// One SIPREC session of a meeting's recording: to one recorder endpoint. Each of its m-lines
// carries what one member sends, copied from a tap of its own; a member who left keeps its
// m-line with port 0 (siprec/meeting_offer.h).
struct Gateway::MeetingLeg {
  enum class State { kInviting, kUp, kFailed, kEnded };
  uint64_t session = 0;
  std::string instance, endpoint, uri, why;
  State state = State::kInviting;
  steady_clock::time_point started;
  int64_t answered_ms = -1;
  bool srtp = false;  // its copies go as SRTP (SDES over TLS signalling)
  siprec::MeetingSessionSpec spec;
  std::string md_session;  // the communication session's metadata id
  std::vector<siprec::MeetingLine> lines;
  struct Copy {
    uint64_t member = 0;  // the member's session
    int kind = kAudioLine;
    std::shared_ptr<MediaTap> tap;
    std::optional<udp::endpoint> to;  // the recorder's port for it, once answered
    std::unique_ptr<media::SrtpSender> srtp;
  };
  std::vector<Copy> copies;     // per m-line
  std::vector<size_t> changed;  // m-lines the recorder has not been offered in their state yet
  bool renegotiating = false;   // an offer of ours is out
  steady_clock::time_point retry_at{};  // after a 491 (glare)
  bool live() const { return state == State::kInviting || state == State::kUp; }
};

// A meeting's recording by one recording application: one session to each of its
// ConcurrentInvitationCount instances and to its pair, shared by every recorded member whose
// policy names the application, from the first such member's joining to the last one's leaving.
struct Gateway::MeetingRecording {
  std::string application;  // its display name (else the instance), for logs and warnings
  std::string application_id;
  std::shared_ptr<const policy::CompiledPolicy> policy;  // of the member who brought it
  std::vector<std::pair<policy::RecorderTarget, std::vector<policy::EndpointTarget>>> sources;
  std::vector<std::unique_ptr<MeetingLeg>> legs;
  std::set<uint64_t> members;  // the recorded members whose policy names it
  bool any_up() const {
    return std::any_of(legs.begin(), legs.end(),
                       [](const auto& l) { return l->state == MeetingLeg::State::kUp; });
  }
  bool all_gone() const {
    return std::none_of(legs.begin(), legs.end(), [](const auto& l) { return l->live(); });
  }
  std::string why_gone() const {
    std::string out;
    for (const auto& l : legs) {
      if (!l->why.empty()) out += std::string(out.empty() ? "" : "; ") + l->uri + ": " + l->why;
    }
    return out.empty() ? "no recorder endpoint" : out;
  }
};

struct Gateway::Room {
  explicit Room(sip::TimerService& timers) : clock(timers) {}
  Meeting meeting;                                     // as scheduled (common/meetings.h)
  std::map<std::string, MeetingRecording> recordings;  // by application id
  bool recorded = false;  // a recorder is in: members were told, later ones are told at joining
  uint64_t chat_messages = 0;
  bool roster_changed = false;  // the subscribers get the roster at the next tick
  media::ConferenceMix mix;
  std::map<uint64_t, RoomMember> members;  // by session
  sip::Timer clock;                        // the 20 ms mixing tick
  steady_clock::time_point due;
  std::vector<media::ConferenceMix::Output> out;  // scratch
  std::vector<uint8_t> packet;                    // scratch
  std::vector<uint8_t> copy;                      // scratch: a copy to protect for a recorder
  // A join or leave chime being played into the mix (PCMU frames), as if by a member of its own.
  std::deque<std::shared_ptr<const std::vector<uint8_t>>> chime;
  bool chiming = false;
  uint16_t chime_seq = 0;
  // Video: the member whose camera the others see (the speaker), the one whose screen they see
  // (one presenter at a time), and who would be the speaker if they go on talking.
  uint64_t featured = 0, presenter = 0, candidate = 0;
  std::string presenter_since;  // ISO 8601
  int candidate_ticks = 0;
  std::vector<uint8_t> video_out;  // scratch
};

// --- one-to-one chat (direct_chat.cc) ----------------------------------------------------------

// A SIPREC session that keeps a conversation's messages for one recording application (one
// instance of it).
struct Gateway::ChatLeg {
  enum class State { kInviting, kUp, kFailed, kEnded };
  uint64_t session = 0;
  std::string instance, uri, why;
  State state = State::kInviting;
  bool live() const { return state == State::kInviting || state == State::kUp; }
};

// A conversation between two users as one recording application keeps it: its sessions to the
// application's ConcurrentInvitationCount instances (and its pair), from the first message
// until the conversation has been quiet for kChatIdle.
struct Gateway::ChatRecording {
  std::string key;           // application id, then the two users' addresses in order
  std::string conversation;  // "chat-<hex>": what the catalog keeps as the call's id
  std::string application, application_id;
  std::shared_ptr<const policy::CompiledPolicy> policy;  // of the party whose policy records it
  Party recorded, other;  // the metadata's observed participant and its peer
  bool recorded_sent_first = true;
  std::vector<std::unique_ptr<ChatLeg>> legs;
  // Endpoints of an instance not yet tried, for a leg that fails before it answers.
  std::vector<std::pair<policy::RecorderTarget, std::vector<policy::EndpointTarget>>> spare;
  std::vector<uint64_t> waiting;  // deliveries not yet kept by this application
  steady_clock::time_point last_used{};
  bool any_up() const {
    return std::any_of(legs.begin(), legs.end(),
                       [](const auto& l) { return l->state == ChatLeg::State::kUp; });
  }
  bool any_live() const {
    return std::any_of(legs.begin(), legs.end(), [](const auto& l) { return l->live(); });
  }
  std::string why_gone() const {
    std::string out;
    for (const auto& l : legs) {
      if (!l->why.empty()) out += std::string(out.empty() ? "" : "; ") + l->uri + ": " + l->why;
    }
    return out.empty() ? "no recorder endpoint" : out;
  }
};

// The focus dialling someone into a meeting (RFC 4579 §5.3, meeting_dial_out.cc).
struct Gateway::DialOut {
  explicit DialOut(sip::TimerService& timers) : deadline(timers) {}
  uint64_t id = 0;
  std::string meeting;
  uint64_t referrer = 0;  // the member whose REFER asked: told while it is in a meeting
  Party target;
  std::string identity;  // "user@domain"
  std::shared_ptr<MediaTap> port;
  std::string offer;
  std::set<uint64_t> forks;  // our INVITEs not answered yet, one per registration
  bool answered = false;
  int best_status = 0;
  std::string best_reason;
  sip::Timer deadline;
};

// One MESSAGE from a user to a user, from its arrival until the sender has its answer: kept by
// each application that records either party, then relayed to the receiver's registrations.
struct Gateway::ChatDelivery {
  explicit ChatDelivery(sip::TimerService& timers) : deadline(timers) {}
  uint64_t id = 0, txn = 0;
  std::unique_ptr<sip::Message> request;  // as the sender sent it
  Party from, to;
  std::string identity;  // the receiver's "user@domain"
  std::string text;      // message/cpim: who, to whom, when, what
  struct Keeping {
    bool required = false;  // RequiredBeforeCallEstablishment of a policy that names it
    bool kept = false, failed = false;
    std::set<uint64_t> sent_to;  // the legs it went to
    int out = 0;                 // of which not answered yet
    std::string why;
  };
  std::map<std::string, Keeping> keeping;  // by ChatRecording key
  sip::Timer deadline;
  int max_forwards = 70;  // for the relayed MESSAGEs: the sender's less one
  bool relaying = false, answered = false;
  int relays_out = 0, best = 0;  // relays not answered yet; the best final status so far
  std::string best_reason;
};

}  // namespace verbatim::gateway

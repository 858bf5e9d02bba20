// The gateway: the policy enforcement point. A SIP registrar and back-to-back user agent that
// phones and trunks connect through; at every call it asks the policy engine about each party
// and puts the recorders in, as Teams does for its recorder bots (../shared/teams-model.md).
//
// A call (docs/gateway.md has the whole behaviour):
//   1. the caller is authenticated (digest, registrar.h) unless the INVITE comes from the
//      configured trunk; the callee is a user (by SIP address or E.164 number) reached at their
//      registrations, or the trunk for other numbers; emergency numbers go to the trunk at once,
//      never recorded, never delayed, never blocked;
//   2. media is anchored: every stream gets a port pair facing each side (relay.h), the SDP each
//      side sees names the gateway; an m-line the gateway cannot relay is refused with port 0;
//   3. each party that is a user with an effective policy that records gets its own recording
//      session per application: ConcurrentInvitationCount SIPREC INVITEs (RFC 7866) to distinct
//      endpoints of the application (those in the party's DataLocation first), and the paired
//      application's; all in parallel. Each offers two streams per relayed stream (label 2k+1:
//      what the recorded party sends, 2k+2: what it receives) with RFC 7865 metadata naming the
//      observed participant, the other party, direction, call and policy;
//   4. RequiredBeforeCallEstablishment: the callee is not called until one instance of every
//      such application (or of its pair) has answered; all refused, or none within
//      recording_setup_timeout (5 s): the caller gets 480 with a Reason header and a Warning
//      ("There was a problem setting up the recording required by your organisation"); when it
//      is the callee's recording that failed and a voicemail URI is set, the call goes there.
//      Applications without it never hold the call;
//   5. RequiredDuringCall: when every instance of such an application (and of its pair) is
//      gone, the call is ended for both parties with a Reason; other recorder failures are
//      logged and counted, never touching the call;
//   6. the recording indicator: `a=record:on` (RFC 7866 §6.1) in the SDP both parties get and
//      a Call-Info header naming the recording, with the banner text; parties that cannot show
//      it (no `Supported: record-aware`, RFC 7866 §6.2; everyone behind the trunk) hear the
//      spoken notice (prompts.h) once the call is connected and recorded, in their own language
//      (a user's PreferredLanguage) or the recorded user's (PSTN parties), unless every recorded
//      party's policy sets DisableComplianceRecordingAudioNotificationForCalls;
//   7. with WarnUserOnRemoval (step 5), both parties hear the spoken warning first and the BYE
//      follows when it has played.
// Each call's decisions and outcome are kept as a call record (call_log.h: <data_dir>/calls.db and
// gateway-calls.jsonl, written off the SIP thread; `verbatim calls show CALL-ID`).
//
// Its edges are seams (GatewaySeams): the signalling (sip/signalling.h), the policy view
// (policy_view.h), the timers and clocks (sip/timers.h, common/clock.h) and the media anchor
// (media_anchor.h). Production passes the policy service and gets the real ones; the unit tests
// (gateway_calls_test.cc) pass fakes and run calls in virtual time. docs/development.md follows a
// call through the files of src/gateway/.
// Ownership: the Gateway owns its calls (and through them their parties, recordings, media
// streams and timers) and whatever edges it made itself; edges passed in must outlive it.
// Not thread-safe: one io_context thread (and the call log's writer thread).
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "common/call_control.h"
#include "common/clock.h"
#include "common/defaults.h"
#include "common/meetings.h"
#include "gateway/call_log.h"
#include "gateway/dialog_journal.h"
#include "gateway/endpoint_resolver.h"
#include "gateway/media_anchor.h"
#include "gateway/policy_view.h"
#include "gateway/prompts.h"
#include "gateway/queue_router.h"
#include "gateway/registrar.h"
#include "policy/service.h"
#include "sip/endpoint.h"
#include "sip/sdp.h"
#include "sip/signalling.h"
#include "sip/timers.h"

namespace verbatim::siprec {
struct GatewayContext;
}  // namespace verbatim::siprec

namespace verbatim::gateway {

struct GatewayOptions {
  std::string sip_listen = defaults::kGatewaySipListen;
  std::string media_address;  // default: the SIP listening address
  uint16_t rtp_port_min = defaults::kGatewayRtpPortMin;
  uint16_t rtp_port_max = defaults::kGatewayRtpPortMax;
  std::chrono::milliseconds recording_setup_timeout{defaults::kRecordingSetupTimeoutMs};
  std::string trunk;  // "ip:port" of the PSTN trunk peer; empty: none
  // How calls from the trunk are told from calls from users (never by address alone when the
  // trunk is reached over TCP or TLS, where it sends from any port): the transport it uses
  // (UDP, TCP, TLS), the addresses it sends from (CIDRs; default: the trunk's own address and,
  // over UDP, its port), and optionally a digest login it must answer and/or, over TLS, the
  // name its client certificate must carry (mutual TLS).
  std::string trunk_transport = "UDP";
  std::vector<std::string> trunk_sources;
  std::string trunk_username, trunk_password;  // set: calls from the trunk must pass digest
  std::string trunk_tls_name;                  // set: the trunk's certificate names it
  // The tenant's SIP domains: the realms users authenticate in. Empty: the domains of the
  // directory users' SIP addresses.
  std::vector<std::string> sip_domains;
  // DNS for recorder endpoints named by host name (RFC 3263: NAPTR, SRV, A/AAAA); servers
  // empty: the system's.
  sip::ResolverOptions dns;
  // Calls to a user whose required recording cannot be set up go here (a sip: URI with a numeric
  // host) instead of being refused; empty: refused.
  std::string voicemail_uri;
  bool require_srtp =
      defaults::kRequireSrtp;  // plain RTP offers refused with 488 (SRTP with SDES keys only)
  bool recorder_srtp =
      defaults::kRecorderSrtp;  // the copies to recorders as SRTP (SDES) where TLS carries the keys
  // SDES keys in SDP over UDP/TCP (a lab without certificates); default: only over TLS.
  bool allow_sdes_over_plain_sip = defaults::kAllowSdesOverPlainSip;
  // Meetings: a short rising chime to the others when a member joins, a falling one when a
  // member leaves (mixed in: the talk goes on under it).
  bool meeting_chimes = true;
  // Ad-hoc conferences (RFC 4579): a user's call to sip:<this>@<domain> creates a meeting on the
  // spot, with the caller as its organiser and the gateway as its focus. Empty: none.
  std::string conference_factory = "conference";
  // SIP over TLS (sip/tls.h): the context (also used towards TLS recorders) and where to listen.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string tls_listen;
  // SIP over WebSocket (RFC 7118) for browsers: wss (needs `tls`) and plain ws (for a proxy that
  // terminates TLS in front), and the web origins a browser may connect from ("*": any).
  std::string wss_listen;
  std::string ws_listen;
  std::vector<std::string> ws_allowed_origins;
  std::shared_ptr<boost::asio::ssl::context> wss_tls;  // without client authentication
  // Recorder endpoints get OPTIONS every interval (0: never); `health_failures` unanswered in a
  // row make one down.
  std::chrono::milliseconds health_interval{defaults::kHealthCheckIntervalMs};
  int health_failures = 2;
  std::vector<std::string> emergency_numbers{"911", "112", "999", "000", "110", "119"};
  // Headers of the caller's INVITE copied onto every recording INVITE of the call (business data
  // the recorder keeps: User-to-User, X-Trade-Id, ...). At most 16 fields of 256 bytes each.
  std::vector<std::string> business_headers{"User-to-User"};
  std::string banner_text = defaults::kBannerText;  // default banner
  // Where the spoken notices are looked for, in order (the admin's directory first, then the
  // built-in prompts).
  std::vector<std::string> prompt_dirs{VERBATIM_BUILT_PROMPTS};
  RegistrarOptions registrar;
  std::array<uint8_t, 32> nonce_secret{};
  // Signs the X-Verbatim headers of SIPREC INVITEs (siprec/gateway_context.h); unset: none sent.
  std::optional<std::array<uint8_t, 32>> recorder_key;
  // Decisions and outcomes, one record per call (call_log.h): the database and the JSONL file;
  // empty: none kept.
  std::string calls_db;
  std::string calls_file;
  int call_records_days = defaults::kCallRecordsDays;
  std::string dialogs_file;  // the dialogs held, for a restart after a crash (dialog_journal.h)
  std::string registrations_file;  // the registrar's bindings, for a restart
  std::string status_file;         // metrics, rewritten once per second (optional)
  // Requests about calls in progress from the portal (common/call_control.h); empty: none taken.
  std::string control_db;
  // Scheduled meetings (common/meetings.h: <data_dir>/meetings.db): an INVITE to
  // sip:meet-<id>@<a tenant domain> joins that meeting's audio conference (meeting_room.cc);
  // empty: no meetings here.
  std::string meetings_db;
  // Meetings' dial-in numbers and the language of each one's prompts: a call to one is answered
  // with the PIN prompt, and the PIN keyed in (RFC 4733 or SIP INFO) joins that meeting. With
  // secondary languages (Teams' SecondaryLanguages, at most 4) the caller first hears a language
  // menu ("For English, press 2"), and its choice is the language of every prompt it hears.
  struct DialInNumber {
    std::string number;    // "+14255550150"
    std::string language;  // the number's own (Teams' PrimaryLanguage)
    std::vector<std::string> secondary_languages;
  };
  std::vector<DialInNumber> dial_in;
  // A recording paused for longer than this resumes by itself (a forgotten pause must not leave
  // a regulated call unrecorded).
  std::chrono::seconds max_pause{defaults::kMaxPauseSeconds};
  // More totals for the status file from beside the gateway (the missed-recording reconciler's);
  // called once per second on the gateway's thread.
  std::function<nlohmann::json()> extra_totals;
  sip::TimerConfig sip_timers;
};

struct GatewayMetrics {
  uint64_t calls = 0;
  uint64_t calls_connected = 0;
  uint64_t calls_refused_recording = 0;  // RequiredBeforeCallEstablishment not met
  uint64_t calls_ended_recording = 0;    // RequiredDuringCall: every instance gone
  uint64_t emergency_calls = 0;
  uint64_t calls_to_voicemail = 0;  // the callee's required recording failed
  uint64_t notices_played = 0;      // spoken notices (recording started)
  uint64_t removal_warnings = 0;    // spoken warnings before a call was ended for recording
  uint64_t dialogs_left_ended = 0;  // BYEs at start for dialogs a crashed run left up
  uint64_t recording_invites = 0;
  uint64_t recording_answered = 0;
  uint64_t recording_failed = 0;
  uint64_t recording_replacements = 0;  // a lost recorder replaced during the call
  uint64_t metadata_updates = 0;        // the observed party's peer changed (transfer, ...)
  uint64_t recorders_down = 0;          // endpoints found down by the health checks
  uint64_t registers = 0;
  uint64_t auth_challenges = 0;
  uint64_t loops_refused = 0;  // 482 (our own request came back) and 483 (Max-Forwards 0)
  uint64_t trunk_refused = 0;  // calls from the trunk that would have gone back out to it
  uint64_t meeting_joins = 0;
  uint64_t meeting_refused = 0;  // no such meeting, cancelled, or nothing it can mix offered
  uint64_t meeting_refused_recording = 0;  // RequiredBeforeMeetingJoin not met
  uint64_t meeting_removed_recording = 0;  // RequiredDuringMeeting: removed, the others stayed
  uint64_t meeting_metadata_updates = 0;   // joins and leaves told to a meeting's recorders
  uint64_t meeting_chat_messages = 0;      // relayed and kept
  uint64_t meeting_chat_refused = 0;       // not a member, not text, too long, recorder not ready
  uint64_t meeting_controls = 0;           // members muted, unmuted or removed by the organiser
  uint64_t meeting_video_switches = 0;     // a receiver's video moved to another sender
  uint64_t meeting_keyframe_requests = 0;  // PLI or FIR sent to a video sender
  uint64_t meeting_presenter_changes = 0;  // the screen share's presenter changed
  uint64_t meeting_adhoc = 0;              // conferences made through the conference factory
  uint64_t meeting_dial_outs = 0;          // users the focus called at a member's REFER
  uint64_t meeting_dial_outs_failed = 0;   // of which none answered, or could not join
  uint64_t meeting_escalations = 0;        // calls' REFERs to a meeting passed on to the other
  uint64_t chat_messages = 0;    // one-to-one MESSAGEs relayed (kept first where recorded)
  uint64_t chat_refused = 0;     // not a user, not text, too long, not registered, recording
  uint64_t chat_unrecorded = 0;  // relayed though a non-required application could not keep them
  uint64_t chat_recordings = 0;  // conversations' SIPREC sessions opened
};

// The gateway's edges. Production passes only the policy service (the Gateway constructor that
// takes it); the unit tests pass fakes. Null: the gateway makes the real one.
struct GatewaySeams {
  PolicyView* policy = nullptr;           // required
  sip::Signalling* signalling = nullptr;  // null: its own SIP endpoint, bound by start()
  sip::TimerService* timers = nullptr;    // null: timers on the io_context
  const Clock* wall = nullptr;            // null: the system clock
  MediaAnchor* media = nullptr;           // null: relays on the configured port range
};

struct LineSrtp;

class Gateway {
 public:
  Gateway(boost::asio::io_context& io, policy::PolicyService& policy, GatewayOptions options);
  Gateway(boost::asio::io_context& io, GatewaySeams seams, GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds the SIP address (UDP and TCP, and TLS when configured). Returns "ip:port". With a
  // signalling seam nothing is bound: the seam gets handlers() and start() returns sip_listen.
  Result<std::string> start();
  // What the signalling reports to: the gateway's handling of each SIP event.
  sip::Signalling::Handlers handlers();
  // "ip:port" of the TLS listener; empty without one.
  std::string tls_local() const { return sip_ ? sip_->tls_local() : ""; }
  std::string wss_local() const { return sip_ ? sip_->wss_local() : ""; }
  std::string ws_local() const { return sip_ ? sip_->ws_local() : ""; }
  // Ends every call (BYE to both parties and the recorders) and stops.
  void stop();

  size_t calls() const { return calls_.size(); }
  // Carries out a call control request (control.cc): pause or resume the recordings of a call,
  // record a party on demand, stop a recording made on demand. Returns what was done; an error
  // (kNotFound: no such call here; kFailedPrecondition: not possible now) says why not.
  Result<std::string> control(const ControlRequest& r);
  const GatewayMetrics& metrics() const { return metrics_; }
  nlohmann::json status() const;
  nlohmann::json web_socket_stats() const;

 private:
  struct Party;
  struct Leg;
  struct Recording;
  struct Call;
  struct Transfer;
  struct QueueCall;
  // What each SIP session is for in its call (usages.cc), after reSIProcate's dialog usages:
  // each kind handles its own events, so no UA callback picks a branch by role. Stateless (the
  // state is the call's): one instance of each kind serves every session of that kind.
  struct Usage;
  struct CallerUsage;          // the caller's INVITE, then the caller (side A)
  struct CalleeSideUsage;      // what the kinds below that are (or become) side B share
  struct CalleeForkUsage;      // our INVITE to one registration of the callee, then the callee
  struct SimultaneousUsage;    // our INVITE to a simultaneous-ring target (calling settings)
  struct QueueAgentUsage;      // our INVITE to a call queue's agent
  struct RecorderLegUsage;     // a SIPREC session to one recorder
  struct TransferTargetUsage;  // our INVITE to a transfer's target
  struct Usages;
  static const Usages& usages();
  // A meeting in progress on this gateway and its members (meeting_room.cc).
  struct Room;
  struct RoomMember;
  struct RoomVideo;
  struct MeetingLeg;
  struct MeetingRecording;
  // One-to-one chat between users (direct_chat.cc).
  struct ChatLeg;
  struct ChatRecording;
  struct ChatDelivery;
  struct DialOut;
  struct SessionRef {
    uint64_t call = 0;
    const Usage* usage = nullptr;
    Leg* leg = nullptr;  // recorder legs
  };

  struct Target;
  Target resolve(const sip::Uri& uri);
  void on_invite(uint64_t session, const sip::Message& invite);
  bool on_request(uint64_t txn, const sip::Message& request, const sip::Peer& from);
  void on_progress(uint64_t session, const sip::Message& response);
  void on_answered(uint64_t session, const sip::Message& response);
  void on_failed(uint64_t session, int status, const sip::Message* response);
  void on_ended(uint64_t session, std::string_view why);
  Result<std::string> on_reoffer(uint64_t session, const sip::Message& request);

  void refuse(uint64_t session, int status, const std::string& reason, const std::string& why);
  Status open_media(Call& c, const sip::SessionDescription& offer);
  void decide(Call& c, Party& p);
  void await_recorders(Call& c);
  // `policy`: another than the party's own (recording on demand, by `on_demand_by`).
  void invite_recorders(Call& c, Party& p,
                        std::shared_ptr<const policy::CompiledPolicy> policy = nullptr,
                        const std::string& on_demand_by = "");
  void start_leg(Call& c, Recording& r, size_t group, const policy::RecorderTarget& target,
                 const policy::EndpointTarget& endpoint);
  Result<uint64_t> invite_recorder(const std::string& uri, const sip::Peer& peer,
                                   std::string content_type, std::string body,
                                   const siprec::GatewayContext& context,
                                   const std::vector<std::pair<std::string, std::string>>& extra);
  void check_setup(Call& c);
  std::vector<policy::EndpointTarget> usable(std::vector<policy::EndpointTarget> targets);
  void replace(Call& c, Recording& r, size_t group);
  void check_health();
  void endpoint_down(const std::string& uri);
  void place_callee(Call& c);
  enum class Readiness { kReady, kWaiting, kFailed };
  Readiness readiness(const Call& c, const Party* only, std::string& why) const;
  void queue_start(Call& c);
  void queue_attempt(uint64_t call_id);
  void queue_pause(Call& c, std::chrono::milliseconds pause);
  bool queue_ring(Call& c, size_t agent);
  void queue_no_answer(uint64_t call_id);
  void queue_failed(Call& c, uint64_t session, int status, const sip::Message* response);
  void queue_answered(Call& c, uint64_t session, const sip::Message& response);
  void admit(Call& c);
  void check_agent(Call& c);
  void refresh_metadata(Call& c);
  void connect_agent(Call& c);
  void agent_not_recorded(Call& c, const std::string& why);
  void queue_timeout(Call& c);
  bool agent_busy(const QueueAgent& a, uint64_t except) const;
  // The indicator's Call-Info; `also`: a policy that will record the party who gets it.
  sip::HeaderList indicator_headers(const Call& c,
                                    const policy::CompiledPolicy* also = nullptr) const;
  void recording_failed(Call& c, const std::string& why, bool timed_out);
  void to_voicemail(Call& c, const std::string& why);
  void end_recording(Call& c, Recording& r, const std::string& why);
  void apply_answer(Call& c, Side side, const sip::SessionDescription& answer, bool relatch);
  void set_signalling(Call& c, Side side, uint64_t session);
  void hang_up(uint64_t session, const sip::HeaderList& headers = {});
  void journal_up(uint64_t session, const Call& c, const char* role);
  std::string from_of(const Party& p, bool to_trunk) const;
  std::optional<Target> redirect_target(const sip::Message& response);
  void forward(Call& c, Target t, int status, const std::string& reason);
  std::optional<Target> forwarding_target(const std::string& target);
  void forward_immediately(Call& c);
  void record_rerouted(Call& c, Party& gone);
  // Replacing a party, one operation for every way it happens (forwarded away, replaced by a
  // simultaneous-ring target or a transfer's target, an agent who could not be recorded, a
  // transfer target that never joined): `party` leaves the call for c.departed, and its
  // recordings follow it there. With `on_behalf` those whose policy has RecordReroutedCalls go
  // on for it; the others end (why). The slot `party` was is then the caller's to fill.
  Party& departs(Call& c, Party& party, bool on_behalf, const std::string& why);
  void ring_simultaneously(Call& c, const sip::OutgoingCall& template_call);
  void simultaneous_answered(Call& c, uint64_t session, const sip::Message& response);
  void joined_not_recorded(Call& c, const std::string& why);
  void connect(Call& c);
  bool on_unanswered(Call& c, const std::string& why);
  bool on_refer(uint64_t session, const sip::Message& refer);
  // An INFO from one party of a connected call (DTMF by SIP INFO): sent on to the other party,
  // and answered with its status. False (answered 200 by the UA) when there is no other party.
  bool on_info(uint64_t session, uint64_t txn, const sip::Message& info);
  void start_transfer(uint64_t call_id);
  Result<std::pair<Call*, Side>> consultation(const Call& c, const std::string& replaces,
                                              Side moving);
  void check_transfer(Call& c);
  void place_target(Call& c);
  void complete_transfer(Call& c, const sip::Message& response);
  void transfer_failed(Call& c, int status, const std::string& why);
  Call* take_session(uint64_t session, SessionRef& ref);
  void reject_caller(Call& c, int status, const std::string& reason, const sip::HeaderList& headers,
                     const std::string& outcome);
  void leg_gone(Call& c, Leg& leg, const std::string& why);
  void end_call(Call& c, const std::string& outcome, const sip::HeaderList& bye_headers = {});
  void notify_recording(Call& c);
  void warn_and_end(Call& c, const std::string& application);
  int64_t announce(Call& c, Side to, Prompt prompt, const std::string& language,
                   std::string& outcome);
  std::string language_for(const Call& c, Side side) const;
  std::string banner_for(const Call& c) const;
  void finish(uint64_t call_id);
  // `recorded`: the indicator even before any recording of the call exists (a queue agent's
  // own policy records them once they answer). `origin`: the o= session id (0: the one the
  // dialog facing `facing` has).
  // `browser`: whether the party facing `facing` is a WebRTC peer (a WebSocket binding being
  // offered the call, a transfer's target); unset: as that side has been so far.
  std::string sdp_for(const Call& c, const sip::SessionDescription& from_other, Side facing,
                      bool recorded = false, uint64_t origin = 0,
                      std::optional<bool> browser = std::nullopt);
  void transcode_if_chosen(Call& c, size_t stream, const sip::SdpMedia& answer);
  // WarnUserOnRemoval, for a party that shows the indicator: an INFO in its dialog (kWarningType:
  // {"warning": text, "endsInMs": when the call ends}), besides the spoken warning.
  void warn_visibly(uint64_t session, std::string_view text, int64_t ends_in_ms);
  // The certificate the gateway presents in DTLS (made once, on first use).
  Result<std::shared_ptr<const media::DtlsIdentity>> dtls_identity() const;
  // DTLS-SRTP towards a WebRTC side whose SDP (offer or answer) has this m-line.
  Status start_dtls(Call& c, size_t stream, Side side, const sip::SessionDescription& sdp,
                    const sip::SdpMedia& m);
  bool tenant_domain(const std::string& domain);
  // Milliseconds from `t` until now (the timers' clock).
  int64_t ms_since(std::chrono::steady_clock::time_point t) const;
  // Runs `fn` after what is running now returns (on the same thread).
  void later(std::function<void()> fn);
  bool keys_allowed(const Call& c, const std::string& transport) const;
  // A user's registrations this call's offer may go to (TLS ones only when it carries keys).
  std::vector<Binding> reachable(const Call& c, const std::string& identity);
  // `oc` sent to each binding (its Request-URI and next hop); the sessions of those that went.
  // `error`: why the last that could not go did not.
  // `browser_body`: makes the SDP a WebSocket binding (a browser) gets instead of oc.body (made
  // once, and only when there is such a binding).
  std::vector<uint64_t> invite_each(const sip::OutgoingCall& oc, const std::vector<Binding>& at,
                                    std::string* error = nullptr,
                                    const std::function<std::string()>& browser_body = nullptr);
  // Whether a request came from the configured trunk (source, transport, and the trunk's login
  // or certificate where configured); the reply to send instead when it claims to and fails.
  bool from_trunk(const sip::Message& request, const sip::Peer& from,
                  std::optional<Registrar::Reply>& refusal);
  sip::Peer trunk_peer() const;
  nlohmann::json record_of(const Call& c) const;
  void tick();
  void save_registrations();
  void write_status() const;
  void poll_control();
  Call* call_by_call_id(const std::string& call_id);  // the call whose caller's Call-ID it is
  void set_paused(Call& c, bool paused, const std::string& why);
  void tell_paused(Call& c, Leg& l);
  nlohmann::json active_calls() const;
  // Meetings (meeting_room.cc). Whether a Request-URI names a meeting (sip:meet-<id>@...).
  static bool meeting_uri(const sip::Uri& uri, std::string& id);
  // `id`: the meeting the Request-URI names.
  void join_meeting(uint64_t session, const sip::Message& invite, const Party& who,
                    const std::string& id);
  void leave_meeting(uint64_t session, std::string_view why);
  Result<std::string> meeting_reoffer(uint64_t session, const sip::Message& request);
  void meeting_tick(const std::string& id);
  std::string meeting_sdp(const std::string& subject, const RoomMember& m);
  Result<RoomMember> new_member(uint64_t session, const sip::Message& invite, const Party& who);
  Result<RoomMember> new_member(uint64_t session, std::string_view sdp, const std::string& call_id,
                                const Party& who, std::shared_ptr<MediaTap> port);
  // The focus dialling out (meeting_dial_out.cc): a member's REFER naming a user.
  bool meeting_refer(uint64_t session, const sip::Message& refer);
  void dial_out_progress(uint64_t session, const sip::Message& response);
  void dial_out_answered(uint64_t session, const sip::Message& response);
  void dial_out_failed(uint64_t session, int status, const sip::Message* response);
  void dial_out_done(uint64_t id, int status, const std::string& reason);
  void end_dial_outs();
  void journal_member(uint64_t session, const std::string& call_id);
  void member_rtp(uint64_t session, const boost::asio::ip::udp::endpoint& from,
                  std::span<const uint8_t> data);
  void admit(RoomMember&& m, const Meeting* meeting);
  void answer_member(uint64_t session, const std::string& call_id, const std::string& sdp,
                     const sip::HeaderList& headers);
  // A member's stream as the gateway answered it (codec, telephone-event, ptime; no direction).
  sip::SdpMedia member_media(const RoomMember& m) const;
  // SRTP for a member's line (null: in the clear), or the refusal (488). `current`: the line's
  // SRTP so far (a re-offer), kept or given its new key.
  Result<std::shared_ptr<LineSrtp>> member_srtp(const sip::SdpMedia& line,
                                                const std::shared_ptr<LineSrtp>& current) const;
  // Dial-in: the language of the dial-in number dialled, if it is one.
  const GatewayOptions::DialInNumber* dial_in_number(const std::string& dialled) const;
  void dial_in(uint64_t session, const sip::Message& invite, const Party& who,
               const GatewayOptions::DialInNumber& number);
  // The language menu for a caller of `number` (kLanguageChoice1... in each language).
  void play_language_menu(uint64_t session);
  // The prompt's length in ms, or -1 when it cannot play (logged).
  int64_t play_to_member(uint64_t session, Prompt prompt);
  void key_pressed(uint64_t session, char key);
  void end_meetings();
  nlohmann::json meetings_status() const;
  // The roster (meeting_roster.cc, RFC 4575): a member's SUBSCRIBE in its meeting dialog.
  bool on_member_subscribe(uint64_t session, uint64_t txn, const sip::Message& request);
  void send_roster(const Room& room, RoomMember& m, const std::string& state);
  void roster_tick(Room& room);
  // The others hear a short chime: a member joined (rising) or left (falling).
  void chime(Room& room, bool join);
  // Meeting recording and enforcement (meeting_recording.cc).
  void record_member(Room& room, RoomMember& m);
  void start_meeting_leg(Room& room, MeetingRecording& rec, const policy::RecorderTarget& target,
                         const policy::EndpointTarget& endpoint);
  // One more m-line on a recorder's session for what `m` sends on its line of `kind` (audio,
  // video or slides; meeting_video.cc); `drop` closes them all (kind < 0) or that kind's.
  Status add_meeting_line(MeetingLeg& leg, const RoomMember& m, int kind);
  void drop_meeting_line(MeetingLeg& leg, uint64_t member, int kind = -1);
  void renegotiate(const std::string& meeting, const std::string& application, MeetingLeg& leg);
  // A meeting recorder's SIP session: its room, recording and leg (all null when gone).
  struct MeetingLegRef {
    Room* room = nullptr;
    MeetingRecording* rec = nullptr;
    MeetingLeg* leg = nullptr;
  };
  MeetingLegRef meeting_leg(uint64_t session);
  void meeting_leg_answered(uint64_t session, const sip::Message& response);
  // `hang`: false when the recorder's side is over already (its BYE, a failure).
  void meeting_leg_gone(uint64_t session, const std::string& why, bool hang = true);
  void end_meeting_recording(const std::string& meeting, MeetingRecording& rec,
                             const std::string& why);
  void check_admissions(const std::string& meeting);
  void admit_waiting(Room& room, RoomMember& m);
  void refuse_waiting(const std::string& meeting, uint64_t session, const std::string& why);
  void enforce_during(const std::string& meeting, const std::string& application);
  void meeting_recording_tick(const std::string& meeting, Room& room);
  void tell_recorded(Room& room, RoomMember& m);
  void copy_to_recorders(Room& room, uint64_t member, int kind, std::span<const uint8_t> packet);
  // Ad-hoc conferences (adhoc_conference.cc, RFC 4579): the factory, and a call's REFER to a
  // meeting passed on to the other party (whose NOTIFYs go back to the transferor).
  void adhoc_conference(uint64_t session, const sip::Message& invite, const Party& who);
  bool refer_to_meeting(Call& c, uint64_t transferor, Side moving, const std::string& meeting,
                        const std::string& refer_to);
  void on_refer_progress(uint64_t session, int status);
  std::map<uint64_t, uint64_t> escalations_;  // the REFERred party's session -> the transferor's
  // Video and screen share (meeting_video.cc).
  // The member of `session` and its room (both null when it is in none).
  std::pair<Room*, RoomMember*> room_member(uint64_t session);
  Status add_member_video(uint64_t session, RoomMember& m, const sip::SessionDescription& offer,
                          size_t line);
  sip::SdpMedia video_media(const RoomVideo& v) const;
  void member_video(uint64_t session, bool slides, const boost::asio::ip::udp::endpoint& from,
                    std::span<const uint8_t> data);
  void member_video_rtcp(uint64_t session, bool slides, const boost::asio::ip::udp::endpoint& from,
                         std::span<const uint8_t> data);
  void request_keyframe(Room& room, uint64_t member, bool slides);
  void keyframes_for_recorder(Room& room, const MeetingLeg& leg, const std::vector<size_t>& lines);
  void video_tick(Room& room);
  void stop_member_video(Room& room, RoomMember& m, bool slides);
  // Every live recorder session gets the lines of `m`'s `kind` it has not had yet.
  void record_new_line(Room& room, const RoomMember& m, int kind);
  // Each recorder of the meeting gets a partial metadata update for the member's participant.
  void update_participant(
      Room& room, uint64_t member,
      const std::function<std::string(const std::string& session, const std::string& id)>& md);
  // Chat in meetings (meeting_chat.cc): a MESSAGE to a meeting's URI, or in a member's dialog.
  bool on_message_request(uint64_t txn, const sip::Message& request, const sip::Peer& from);
  bool on_member_message(uint64_t session, uint64_t txn, const sip::Message& request);
  void meeting_chat(uint64_t txn, const sip::Message& request, const std::string& meeting,
                    uint64_t sender);
  // One-to-one chat (direct_chat.cc): a MESSAGE from a user to a user, kept under both parties'
  // policies before it is relayed to the receiver's registrations.
  // `identity`: the sender, authenticated ("user@domain").
  void direct_message(uint64_t txn, const sip::Message& request, const std::string& identity);
  ChatRecording& chat_recording(const Party& recorded, const Party& other, bool recorded_sends,
                                const policy::Invitation& invitation);
  void start_chat_leg(ChatRecording& rec, const policy::RecorderTarget& target,
                      const policy::EndpointTarget& endpoint);
  void keep_chat(ChatDelivery& d, ChatRecording& rec, ChatLeg& leg);
  void chat_leg_answered(uint64_t session);
  void chat_leg_gone(uint64_t session, const std::string& why, bool hang);
  void check_delivery(uint64_t id);
  void relay_chat(ChatDelivery& d);
  void answer_chat(ChatDelivery& d, int status, std::string_view reason,
                   const sip::HeaderList& headers = {});
  void chat_tick();
  void end_chats();
  // The organiser's controls (meeting_control.cc): mute, unmute or remove a member ("meet-<id>"
  // stands for the call, the member's address for the party).
  Result<std::string> meeting_control(const ControlRequest& r);

  boost::asio::io_context& io_;
  GatewayOptions options_;
  // The edges: those made here (owned, destroyed after the calls that use them), and the ones
  // in use.
  std::unique_ptr<PolicyView> own_policy_;
  std::unique_ptr<sip::TimerService> own_timers_;
  SystemClock system_clock_;
  std::unique_ptr<MediaAnchor> own_media_;
  std::unique_ptr<sip::SipEndpoint> sip_;
  PolicyView* policy_;
  sip::TimerService* timers_;
  const Clock* wall_;
  MediaAnchor* media_;
  sip::Signalling* ua_;
  std::string local_;  // "ip:port" of the SIP listener (what our Vias carry)
  std::unique_ptr<Registrar> registrar_;
  std::unique_ptr<sip::DigestServer> trunk_auth_;  // trunk_username set
  std::unique_ptr<DialogJournal> journal_;
  std::unique_ptr<CallLogWriter> call_log_;
  std::unique_ptr<EndpointResolver> resolver_;
  PromptLibrary prompts_;
  std::map<uint64_t, std::unique_ptr<Call>> calls_;
  std::map<uint64_t, SessionRef> sessions_;  // UA session -> its call and role
  sip::Timer tick_timer_;
  std::unique_ptr<CallControl> control_;
  sip::Timer control_timer_;
  struct EndpointHealth {
    uint64_t probe = 0;
    bool in_flight = false;
    int missed = 0;
    int status = 0;
    bool down = false;
  };
  std::map<std::string, EndpointHealth> health_;  // by endpoint URI
  QueueRouter queue_router_;
  std::set<std::string> plain_recorders_;  // endpoints that refused SRTP (warned once)
  std::unique_ptr<MeetingStore> meeting_store_;
  std::map<std::string, std::unique_ptr<Room>> rooms_;  // by meeting id
  std::map<uint64_t, std::string> room_sessions_;       // a member's session -> its meeting
  // A meeting recorder's SIPREC session -> its meeting and application id.
  std::map<uint64_t, std::pair<std::string, std::string>> meeting_legs_;
  uint64_t next_member_ = 1;
  std::map<std::string, std::unique_ptr<ChatRecording>> chats_;   // by ChatRecording::key
  std::map<uint64_t, std::string> chat_legs_;                     // a chat leg's session -> key
  std::map<uint64_t, std::unique_ptr<ChatDelivery>> deliveries_;  // by id
  uint64_t next_delivery_ = 1;
  std::map<uint64_t, std::unique_ptr<DialOut>> dial_outs_;  // by id
  std::map<uint64_t, uint64_t> dial_out_forks_;             // an INVITE's session -> its dial-out
  uint64_t next_dial_out_ = 1;
  sip::Timer health_timer_;
  GatewayMetrics metrics_;
  uint64_t next_call_ = 1;
  uint64_t sdp_version_ = 0;  // the o= version of every SDP the gateway sends
  mutable std::shared_ptr<const media::DtlsIdentity> dtls_identity_;
  std::chrono::steady_clock::time_point last_status_{};
  std::chrono::steady_clock::time_point last_registrations_{};
  bool stopping_ = false;
};

}  // namespace verbatim::gateway

// The spoken notices: the recording-started notice to parties that cannot show the indicator, in
// their language, played into the call's first audio stream.
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "media/audio.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

// --- spoken notices --------------------------------------------------------------------------

// A party's own language when it is a user who set one, else the recorded user's (the PSTN
// caller of a recorded user hears that user's language), else English.
std::string Gateway::language_for(const Call& c, Side side) const {
  const Party& p = side == Side::kA ? c.caller : c.callee;
  if (p.user && !p.user->preferred_language.empty()) return p.user->preferred_language;
  for (const Party* q : {&c.caller, &c.callee}) {
    if (q->recorded && q->user && !q->user->preferred_language.empty()) {
      return q->user->preferred_language;
    }
  }
  return "en";
}

// Plays `prompt` to one side on the call's first audio stream, in the codec that stream
// carries. The prompt's length in ms, or -1 (and `outcome` says why) when it cannot play.
int64_t Gateway::announce(Call& c, Side to, Prompt prompt, const std::string& language,
                          std::string& outcome) {
  for (size_t i = 0; i < c.relays.size() && i < c.b_answer.media.size(); ++i) {
    if (!c.relays[i] || c.a_offer.media[i].media != "audio") continue;
    const auto& bm = c.b_answer.media[i];
    std::optional<sip::RtpMap> chosen;
    for (const auto& f : bm.formats) {
      auto pt = sip::parse_payload_type(f);
      auto rm = pt ? bm.rtpmap(*pt) : std::nullopt;
      if (rm && media::can_decode(rm->encoding) &&
          rm->clock_rate == media::rtp_clock_rate(rm->encoding)) {
        chosen = rm;
        break;
      }
    }
    if (!chosen) continue;
    // The payload type each side expects: the answer's towards the callee, the offer's (for the
    // same codec) towards the caller.
    int pt = chosen->payload_type;
    if (to == Side::kA) {
      const auto& am = c.a_offer.media[i];
      for (const auto& f : am.formats) {
        auto apt = sip::parse_payload_type(f);
        auto rm = apt ? am.rtpmap(*apt) : std::nullopt;
        if (rm && iequals(rm->encoding, chosen->encoding)) {
          pt = *apt;
          break;
        }
      }
    }
    auto p = prompts_.get(prompt, language, chosen->encoding);
    if (!p) {
      outcome = "not played: " + p.error().message;
      return -1;
    }
    const auto& ep = *p.value();
    Call::Notice n{to,
                   prompt,
                   ep.language,
                   ep.file,
                   ep.encoding,
                   "played",
                   ms_since(c.started),
                   ep.duration_ms(),
                   0};
    c.notices.push_back(n);
    c.relays[i]->play(to, Announcement{static_cast<uint8_t>(pt), ep.ticks_per_frame, ep.frames},
                      [this, id = c.id, k = c.notices.size() - 1](uint64_t sent) {
                        auto it = calls_.find(id);
                        if (it != calls_.end()) it->second->notices[k].packets = sent;
                      });
    outcome = "played";
    return ep.duration_ms();
  }
  outcome = "not played: no audio stream in a codec the gateway can speak";
  return -1;
}

// Once the call is connected and a recorder is recording: the spoken notice to each party that
// cannot show the indicator.
void Gateway::notify_recording(Call& c) {
  if (c.state != Call::State::kConnected || c.removing) return;
  bool up = false, disabled = true;
  for (const auto& r : c.recordings) {
    if (!r->active()) continue;
    for (const auto& g : r->groups) up |= g.any_up();
    disabled &= r->policy->disable_audio_notification_for_calls;
  }
  if (!up) return;
  for (Side side : {Side::kA, Side::kB}) {
    if (c.notified[static_cast<size_t>(side)]) continue;
    c.notified[static_cast<size_t>(side)] = true;
    const bool aware = side == Side::kA ? c.a_record_aware : c.b_record_aware;
    Call::Notice n;
    n.to = side;
    if (aware) {
      n.outcome = "not played: the phone shows the indicator (Supported: record-aware)";
    } else if (disabled) {
      n.outcome = "not played: DisableComplianceRecordingAudioNotificationForCalls";
    } else {
      const std::string language = language_for(c, side);
      std::string outcome;
      if (announce(c, side, Prompt::kRecordingStarted, language, outcome) >= 0) {
        ++metrics_.notices_played;
        continue;
      }
      n.language = language;
      n.outcome = outcome;
      spdlog::warn("call {}: recording notice to the {}: {}", c.call_id,
                   side == Side::kA ? "caller" : "callee", outcome);
    }
    c.notices.push_back(std::move(n));
  }
}

}  // namespace verbatim::gateway

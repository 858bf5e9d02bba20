// Redacted versions of a recording (recorder/redact_jobs.h makes them): asking for one, listing
// them, and which version a caller may play. Version 0 is the original; 1, 2, ... are the
// redactions in the order they were made, each building on the one before. Roles in
// RouterOptions::original_roles play every version; other roles that read recordings play the
// redacted versions only, read only their objects and get the transcript with the redacted
// words hidden.
#include "adminapi/router_redact.h"

#include <algorithm>

#include <fmt/format.h>

#include "adminapi/http_util.h"
#include "archive/archive.h"
#include "common/clock.h"
#include "common/strings.h"
#include "search/interaction.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

Versions::Versions(const json& metadata, bool may_play_original) {
  if (metadata.contains("redactions") && metadata["redactions"].is_array()) {
    redactions = metadata["redactions"];
  }
  if (metadata.contains("playback") && metadata["playback"].is_object() &&
      metadata["playback"].contains("files") && metadata["playback"]["files"].is_array()) {
    playback = metadata["playback"]["files"];
  }
  originals = redactions.empty() || may_play_original;
}

const json& Versions::files(int version) const {
  return version == 0 ? playback : redactions[static_cast<size_t>(version - 1)]["files"];
}

bool Versions::may_read(const std::string& object) const {
  if (originals) return true;
  for (const auto& v : redactions) {
    for (const auto& f : v.value("files", json::array())) {
      if (f.value("object", "") == object) return true;
    }
  }
  return false;
}

Result<int> Versions::wanted(const std::map<std::string, std::string>& params) const {
  auto it = params.find("version");
  if (it == params.end()) return latest();
  int v = -1;
  try {
    size_t used = 0;
    v = std::stoi(it->second, &used);
    if (used != it->second.size()) v = -1;
  } catch (const std::exception&) {
    v = -1;
  }
  if (v < 0 || v > latest()) {
    return make_error(ErrorCode::kNotFound, "no version " + it->second + " (0 is the original, 1-" +
                                                std::to_string(latest()) + " the redactions)");
  }
  if (v == 0 && !originals) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "your role plays the redacted versions of this recording only (version " +
                          std::to_string(latest()) + " is the latest)");
  }
  return v;
}

json Versions::view(const std::string& media_base) const {
  json out = json::array();
  auto entries = [&](const json& files, int version) {
    json list = json::array();
    for (const auto& f : files) {
      json e = search::media_entry(f, media_base);
      e["url"] = e.value("url", "") + "?version=" + std::to_string(version);
      if (f.contains("redactedFrom")) e["redacted"] = true;
      list.push_back(std::move(e));
    }
    return list;
  };
  out.push_back({{"version", 0},
                 {"label", "original"},
                 {"playable", originals},
                 {"files", originals ? entries(playback, 0) : json::array()}});
  for (size_t i = 0; i < redactions.size(); ++i) {
    const json& r = redactions[i];
    json v = {{"version", i + 1},
              {"label", "redacted"},
              {"playable", true},
              {"files", entries(r.value("files", json::array()), static_cast<int>(i + 1))}};
    for (const char* k : {"spans", "fill", "reason", "requestedBy", "requestedAt", "request"}) {
      if (r.contains(k)) v[k] = r[k];
    }
    out.push_back(std::move(v));
  }
  return out;
}

void Versions::hide_words(json& transcript) const {
  if (redactions.empty() || !transcript.contains("utterances")) return;
  // Each span, with the speakers (playback files' names) it concerns; empty: everyone.
  struct Span {
    double start, end;
    std::vector<std::string> speakers;
    bool everyone;
  };
  std::vector<Span> spans;
  for (const auto& r : redactions) {
    for (const auto& s : r.value("spans", json::array())) {
      Span sp{s.value("start", 0.0), s.value("end", 0.0), {}, !s.contains("participant")};
      for (const auto& f : r.value("files", json::array())) {
        if (jobs::redaction_concerns(s, f)) sp.speakers.push_back(f.value("name", ""));
      }
      spans.push_back(std::move(sp));
    }
  }
  auto hidden = [&](const std::string& speaker, double a, double b) {
    return std::any_of(spans.begin(), spans.end(), [&](const Span& s) {
      return a < s.end && b > s.start &&
             (s.everyone ||
              std::find(s.speakers.begin(), s.speakers.end(), speaker) != s.speakers.end());
    });
  };
  for (auto& u : transcript["utterances"]) {
    const std::string speaker = u.value("speaker", "");
    if (!hidden(speaker, u.value("start", 0.0), u.value("end", 0.0))) continue;
    u["redacted"] = true;
    if (!u.contains("words") || !u["words"].is_array() || u["words"].empty()) {
      u["text"] = "[redacted]";
      continue;
    }
    std::string text;
    for (auto& w : u["words"]) {
      if (hidden(speaker, w.value("start", 0.0), w.value("end", 0.0))) {
        w["word"] = "[redacted]";
        w["redacted"] = true;
        w.erase("confidence");
      }
      text += (text.empty() ? "" : " ") + w.value("word", "");
    }
    u["text"] = text;
  }
}

Result<jobs::JobQueue*> Router::job_queue() {
  std::lock_guard lock(jobs_mu_);
  if (options_.jobs_db.empty()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "this server does not take redactions (it has no job queue)");
  }
  if (!jobs_) {
    static const SystemClock clock;
    auto q = jobs::JobQueue::open(options_.jobs_db, clock);
    if (!q) return q.error();
    jobs_ = std::move(q).value();
  }
  return jobs_.get();
}

std::optional<Response> Router::redaction_routes(const Request& req, const Principal& who,
                                                 archive::Archive& a,
                                                 const archive::RecordingInfo& r, const json& body,
                                                 Status& failed) {
  const std::string& rec = r.id;
  const Versions versions(r.metadata, listed(options_.original_roles, who.account.role));
  if (req.method() == http::verb::get) {
    json requests = json::array();
    if (!options_.jobs_db.empty()) {
      auto q = job_queue();
      if (!q) {
        failed = q.error();
        return std::nullopt;
      }
      auto listed_requests = q.value()->redactions(rec);
      if (!listed_requests) {
        failed = listed_requests.error();
        return std::nullopt;
      }
      for (const auto& x : listed_requests.value()) {
        json e = {{"request", x.id},
                  {"spans", json::parse(x.spans, nullptr, false)},
                  {"fill", x.fill},
                  {"reason", x.reason},
                  {"requestedBy", x.requested_by},
                  {"requestedAt", x.requested_at},
                  {"state", x.job.state},
                  {"attempts", x.job.attempts}};
        if (!x.job.error.empty()) e["error"] = x.job.error;
        const json result = json::parse(x.job.result.empty() ? "{}" : x.job.result, nullptr, false);
        if (result.is_object() && result.contains("version")) e["version"] = result["version"];
        requests.push_back(std::move(e));
      }
    }
    if (auto st = a.log_access("metadata", rec, who.actor()); !st) {
      failed = st.error();
      return std::nullopt;
    }
    return reply(req, http::status::ok,
                 {{"recording", rec},
                  {"requests", requests},
                  {"versions", versions.view("/api/v1/recordings/" + rec + "/media/")}});
  }
  if (req.method() != http::verb::post) return std::nullopt;
  // POST: a new redacted version, made by the recorder's redaction worker.
  auto q = job_queue();
  if (!q) {
    return problem(req, http::status::service_unavailable, q.error().message, "NoRedaction");
  }
  if (versions.playback.empty()) {
    return problem(req, http::status::conflict,
                   "recording " + rec +
                       " has no playback files yet to redact (they are made "
                       "after the call)",
                   "NoPlaybackYet");
  }
  json spans = body.contains("spans") ? body["spans"] : json();
  if (auto st = jobs::check_redaction_spans(spans); !st) {
    return problem(req, http::status::bad_request, st.error().message, "InvalidSpans");
  }
  const double duration = r.metadata["playback"].value("durationSeconds", 0.0);
  for (auto& s : spans) {
    if (duration > 0 && s["start"].get<double>() >= duration) {
      return problem(req, http::status::bad_request,
                     "spans: " + s.dump() + " starts after the recording's end (" +
                         fmt::format("{:.3f} s", duration) + ")",
                     "InvalidSpans");
    }
    if (!s.contains("participant")) continue;
    // Named as the playback file names it, so every version's file is found by it.
    const json* f = search::find_media(versions.playback, s["participant"].get<std::string>());
    if (!f) {
      return problem(req, http::status::bad_request,
                     "spans: no participant \"" + s["participant"].get<std::string>() +
                         "\" in this recording (GET /api/v1/recordings/" + rec +
                         "/media lists them)",
                     "InvalidSpans");
    }
    s["participant"] = f->contains("participants") && !(*f)["participants"].empty()
                           ? (*f)["participants"][0]
                           : (*f)["name"];
  }
  const std::string fill = body.value("fill", "silence");
  if (fill != "silence" && fill != "tone") {
    return problem(req, http::status::bad_request, "fill: \"silence\" or \"tone\"", "InvalidFill");
  }
  const std::string why(trim(body.value("reason", "")));
  if (why.empty() || why.size() > 500) {
    return problem(req, http::status::bad_request,
                   "give the reason for the redaction: 1-500 characters", "InvalidReason");
  }
  jobs::Redaction ask;
  ask.recording = rec;
  ask.spans = spans.dump();
  ask.fill = fill;
  ask.reason = why;
  ask.requested_by = who.actor();
  auto id = q.value()->add_redaction(ask);
  if (!id) {
    failed = id.error();
    return std::nullopt;
  }
  if (auto st = a.log_access(
          "redaction", rec, who.actor(),
          {{"request", id.value()}, {"spans", spans}, {"fill", fill}, {"reason", why}});
      !st) {
    failed = st.error();
    return std::nullopt;
  }
  return reply(req, http::status::accepted,
               {{"recording", rec},
                {"request", id.value()},
                {"state", "pending"},
                {"spans", spans},
                {"fill", fill},
                {"status", "/api/v1/recordings/" + rec + "/redactions"}});
}

}  // namespace verbatim::adminapi

// Annotations over REST: notes anchored at a time of a recording (cases/cases.h), for the
// officers who may read it. Each is kept as written (no change, no removal) and goes into the
// archive's ledger with its text (access.annotation).
#include <cmath>

#include "adminapi/http_util.h"
#include "adminapi/router.h"
#include "archive/archive.h"
#include "cases/cases.h"
#include "common/clock.h"
#include "common/strings.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

namespace {
constexpr size_t kMaxAnnotation = 1000;
}  // namespace

Result<json> Router::annotations_of(const std::string& recording) {
  json out = json::array();
  if (options_.cases_db.empty()) return out;
  auto store = cases::CaseStore::open(options_.cases_db);
  if (!store) return store.error();
  auto list = store.value()->annotations(recording);
  if (!list) return list.error();
  for (const auto& a : list.value()) out.push_back(a.to_json());
  return out;
}

std::optional<Response> Router::annotation_routes(const Request& req, const Principal& who,
                                                  archive::Archive& a,
                                                  const archive::RecordingInfo& r, const json& body,
                                                  Status& failed) {
  if (req.method() == http::verb::get) {
    auto list = annotations_of(r.id);
    if (!list) {
      failed = list.error();
      return std::nullopt;
    }
    if (auto st = a.log_access("metadata", r.id, who.actor()); !st) {
      failed = st.error();
      return std::nullopt;
    }
    return reply(req, http::status::ok,
                 {{"recording", r.id}, {"annotations", std::move(list).value()}});
  }
  if (req.method() != http::verb::post) return std::nullopt;
  if (options_.cases_db.empty()) {
    return problem(req, http::status::service_unavailable, "this server keeps no annotations",
                   "NoAnnotations");
  }
  const std::string text(trim(body.value("text", "")));
  if (text.empty() || text.size() > kMaxAnnotation) {
    return problem(req, http::status::bad_request,
                   "text: 1-" + std::to_string(kMaxAnnotation) + " characters", "InvalidText");
  }
  const json at = body.contains("atSeconds") ? body["atSeconds"] : json();
  const double duration = r.metadata.contains("playback") && r.metadata["playback"].is_object()
                              ? r.metadata["playback"].value("durationSeconds", 0.0)
                              : 0.0;
  if (!at.is_number() || !std::isfinite(at.get<double>()) || at.get<double>() < 0 ||
      (duration > 0 && at.get<double>() > duration + 1)) {
    return problem(req, http::status::bad_request,
                   "atSeconds: a time in the recording, in seconds from its start", "InvalidTime");
  }
  cases::Annotation note;
  note.recording = r.id;
  note.at_seconds = std::round(at.get<double>() * 1000) / 1000;
  note.text = text;
  note.author = who.actor();
  note.created = now_iso();
  auto store = cases::CaseStore::open(options_.cases_db);
  if (!store) {
    failed = store.error();
    return std::nullopt;
  }
  auto id = store.value()->add_annotation(note);
  if (!id) {
    failed = id.error();
    return std::nullopt;
  }
  note.id = id.value();
  if (auto st = a.log_access(
          "annotation", r.id, who.actor(),
          {{"annotation", note.id}, {"atSeconds", note.at_seconds}, {"text", note.text}});
      !st) {
    failed = st.error();
    return std::nullopt;
  }
  return reply(req, http::status::created, note.to_json());
}

}  // namespace verbatim::adminapi

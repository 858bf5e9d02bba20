// `verbatim search`: recordings by metadata and by what was said (search/search.h), newest first
// (phonetic: best match first), a page at a time.
// Runs beside the recorder (the archive opened shared); every search is an access.search entry
// in the ledger with the query and the recordings it listed.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include "app/cli.h"
#include "common/data_paths.h"
#include "common/exit_codes.h"
#include "common/strings.h"
#include "reconcile/missed_search.h"
#include "search/search.h"

namespace verbatim::cli {
namespace {

struct SearchArgs {
  std::map<std::string, std::string> params;  // search/search.h's parameter names
  std::vector<std::string> data;              // KEY=VALUE
  std::string related;                        // a recording: its related interactions
  bool json = false;
};

// `search --related REC`: the interactions related to one recording, oldest first (a timeline
// of the interaction's parts), each with why.
int run_related(Env& env, const SearchArgs& a) {
  const std::string who = default_actor();
  auto opened = open_archive(env, who, "", ArchiveAccess::kShared);
  if (!opened) return fail(kExitUsage, opened.error().message);
  archive::Archive& archive = *opened.value();
  auto r = search::related(archive.catalog(), a.related, search::Query{});
  if (!r) {
    return fail(r.error().code == ErrorCode::kNotFound ? kExitFinding : kExitUsage,
                r.error().message);
  }
  auto hits = r.value().page.hits;
  std::reverse(hits.begin(), hits.end());
  std::vector<std::string> ids;
  ids.reserve(hits.size());
  for (const auto& h : hits) ids.push_back(h.id);
  if (auto st = archive.log_search({{"relatedTo", a.related}}, ids, who); !st) {
    return fail(kExitUsage, "the search could not be logged, so its results are withheld: " +
                                st.error().message);
  }
  if (a.json) {
    nlohmann::json out = {{"recording", a.related}, {"related", nlohmann::json::array()}};
    for (const auto& h : hits) {
      auto j = search::hit_json(h);
      j["why"] = r.value().reasons.at(h.id);
      out["related"].push_back(std::move(j));
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& h : hits) {
    std::cout << search::hit_line(h) << "\n    related: " << join(r.value().reasons.at(h.id), "; ")
              << "\n";
  }
  std::cout << hits.size() << " related recording(s)\n";
  return kExitOk;
}

int run_search(Env& env, const SearchArgs& a) {
  auto params = a.params;
  for (auto it = params.begin(); it != params.end();) {
    it = it->second.empty() ? params.erase(it) : std::next(it);
  }
  if (!a.related.empty()) {
    if (!params.empty() || !a.data.empty()) {
      return fail(kExitUsage,
                  "--related lists one recording's related interactions; it takes "
                  "no other filters");
    }
    return run_related(env, a);
  }
  for (const auto& kv : a.data) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail(kExitUsage, "--data " + kv + ": give KEY=VALUE");
    }
    params["data." + kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto query = search::query_from_params(params);
  if (!query) return fail(kExitUsage, query.error().message);
  query.value().dictionary = env.config.recorder_transcription_model + "/cmudict-en-us.dict";
  if (search::is_missed_status(query.value().status)) return run_missed(env, query.value(), a.json);
  const std::string who = default_actor();
  auto opened = open_archive(env, who, "", ArchiveAccess::kShared);
  if (!opened) return fail(kExitUsage, opened.error().message);
  archive::Archive& archive = *opened.value();
  auto page = search::run(archive.catalog(), query.value());
  if (!page) {
    return fail(page.error().code == ErrorCode::kInvalidArgument ? kExitUsage : kExitFinding,
                page.error().message);
  }
  std::vector<std::string> ids;
  for (const auto& h : page.value().hits) ids.push_back(h.id);
  if (auto st = archive.log_search(query.value().to_json(), ids, who); !st) {
    return fail(kExitUsage, "the search could not be logged, so its results are withheld: " +
                                st.error().message);
  }
  if (a.json) {
    nlohmann::json out = {{"recordings", nlohmann::json::array()}};
    for (const auto& h : page.value().hits) out["recordings"].push_back(search::hit_json(h));
    out["next"] = page.value().next_cursor.empty() ? nlohmann::json()
                                                   : nlohmann::json(page.value().next_cursor);
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& h : page.value().hits) std::cout << search::hit_line(h) << "\n";
  std::cout << page.value().hits.size() << " recording(s)";
  if (!page.value().next_cursor.empty()) {
    std::cout << "; more with --cursor " << page.value().next_cursor;
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

int run_missed(Env& env, const search::Query& query, bool as_json) {
  auto store = reconcile::MissedStore::open_existing(DataPaths(env.config.data_dir).missed_db());
  if (!store) return fail(kExitUsage, store.error().message);
  auto page = reconcile::search_missed(store.value().get(), query);
  if (!page) return fail(kExitUsage, page.error().message);
  // Logged like any search when there is an archive here (the recordings the alerts name).
  if (std::filesystem::exists(DataPaths(env.config.data_dir).archive_db())) {
    const std::string who = default_actor();
    auto opened = open_archive(env, who, "", ArchiveAccess::kShared);
    if (!opened) return fail(kExitUsage, opened.error().message);
    std::vector<std::string> ids;
    for (const auto& a : page.value().alerts) {
      ids.insert(ids.end(), a.recordings.begin(), a.recordings.end());
    }
    if (auto st = opened.value()->log_search(query.to_json(), ids, who); !st) {
      return fail(kExitUsage, "the search could not be logged, so its results are withheld: " +
                                  st.error().message);
    }
  }
  if (as_json) {
    std::cout << reconcile::missed_page_json(page.value()).dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& a : page.value().alerts) std::cout << a.line() << "\n";
  std::cout << page.value().alerts.size() << " missed recording(s)";
  if (!page.value().next_cursor.empty()) {
    std::cout << "; more with --cursor " << page.value().next_cursor;
  }
  std::cout << "\n";
  return kExitOk;
}

void add_search_commands(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<SearchArgs>();
  auto* s = app.add_subcommand(
      "search",
      "find recordings by metadata or by what was said, newest first (logged in the ledger as "
      "access)");
  auto opt = [&](const char* flag, const char* param, const char* help) {
    s->add_option(flag, a->params[param], help);
  };
  opt("--participant", "participant", "a name, SIP address or number, or 3+ characters of one");
  opt("--origin", "origin", "who called: a number or its first digits");
  opt("--dialed", "dialed", "the number called, or its first digits");
  opt("--from", "from", "started at or after (2026-12-01 or 2026-12-01T09:30:00Z)");
  opt("--to", "to", "started before");
  opt("--direction", "direction", "inbound or outbound (seen from the recorded user)");
  opt("--min-duration", "minDuration", "at least this many seconds");
  opt("--max-duration", "maxDuration", "at most this many seconds");
  opt("--application", "application", "the recording application (its ObjectId)");
  opt("--policy", "policy", "the recorded user's policy");
  opt("--status", "status",
      "recording, complete, partial, interrupted or disposed; or missed, \"not recorded\", "
      "\"incomplete media\": the calls the reconciler found without a complete recording");
  opt("--region", "region", "the recording's region (DataLocation)");
  opt("--group", "group", "a group of the recorded user");
  opt("--call-id", "callId", "the call's SIP Call-ID (for our gateway's calls: the caller's)");
  opt("--text", "text",
      "words said in the recording (all of them), or a \"quoted phrase\" said in one breath");
  opt("--phonetic", "phonetic",
      "a word by its sound (a name, a ticker, slang the transcripts may have missed); best "
      "match first");
  opt("--threshold", "threshold", "--phonetic: the lowest score listed, 0 to 1 (default 0.45)");
  opt("--limit", "limit", "at most this many (default 50, up to 1000)");
  opt("--cursor", "cursor", "the next page, as the previous one printed it");
  s->add_option("--data", a->data,
                "business data KEY=VALUE (a SIP header, SIPREC extension data, a tag); repeat "
                "for several");
  s->add_option("--related", a->related,
                "a recording's related interactions, oldest first, with why: the same call, "
                "the same business data, the same parties within a day");
  s->add_flag("--json", a->json, "print JSON");
  commands.on(s, [a](Env& env) { return run_search(env, *a); });
}

}  // namespace verbatim::cli

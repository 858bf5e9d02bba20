// `verbatim search`: recordings by metadata and by what was said (search/search.h), newest first
// (phonetic: best match first), a page at a time.
// Runs beside the recorder (the archive opened shared); every search is an access.search entry
// in the ledger with the query and the recordings it listed.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "app/cli.h"
#include "common/data_paths.h"
#include "common/exit_codes.h"
#include "common/strings.h"
#include "reconcile/missed_search.h"
#include "saved/saved_searches.h"
#include "search/search.h"

namespace verbatim::cli {
namespace {

struct SearchArgs {
  std::map<std::string, std::string> params;  // search/search.h's parameter names
  std::vector<std::string> data;              // KEY=VALUE
  std::vector<std::string> keywords;          // a keyword list
  std::string related;                        // a recording: its related interactions
  std::string save, every = "5m", webhook;    // --save NAME: a saved search
  bool json = false;
};

// "90", "90s", "15m", "2h", "1d": seconds.
std::optional<int64_t> interval_seconds(const std::string& text) {
  if (text.empty() || text.size() > 8) return std::nullopt;
  int64_t unit = 1;
  std::string digits = text;
  switch (text.back()) {
    case 's':
      digits.pop_back();
      break;
    case 'm':
      unit = 60;
      digits.pop_back();
      break;
    case 'h':
      unit = 3600;
      digits.pop_back();
      break;
    case 'd':
      unit = 86400;
      digits.pop_back();
      break;
    default:
      break;
  }
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoll(digits) * unit;
}

Result<std::unique_ptr<saved::SavedSearches>> open_saved(const Env& env, bool create) {
  const std::string path = DataPaths(env.config.data_dir).searches_db();
  auto store =
      create ? saved::SavedSearches::open(path) : saved::SavedSearches::open_existing(path);
  if (store && !store.value()) {
    return make_error(ErrorCode::kNotFound, "no saved searches in " + env.config.data_dir +
                                                " (verbatim search ... --save NAME makes one)");
  }
  return store;
}

// `search ... --save NAME`: the filters become a saved search that alerts on what arrives from
// now on.
int run_save(Env& env, const SearchArgs& a, const std::map<std::string, std::string>& params) {
  const auto every = interval_seconds(a.every);
  if (!every) return fail(kExitUsage, "--every " + a.every + ": give 90s, 15m, 2h or 1d");
  saved::SavedSearch s;
  s.name = a.save;
  s.params = params;
  s.every_s = *every;
  s.webhook = a.webhook;
  s.owner = default_actor();
  const auto now = env.clock.now();
  s.created_at = format_iso8601_ms(now);
  s.next_run_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  if (std::filesystem::exists(DataPaths(env.config.data_dir).archive_db())) {
    auto opened = open_archive(env, s.owner, "", ArchiveAccess::kShared);
    if (!opened) return fail(kExitUsage, opened.error().message);
    auto marks = saved::archive_marks(opened.value()->catalog());
    if (!marks) return fail(kExitUsage, marks.error().message);
    s.serial_mark = marks.value().first;
    s.utterance_mark = marks.value().second;
  }
  auto store = open_saved(env, true);
  if (!store) return fail(kExitUsage, store.error().message);
  if (auto st = store.value()->save(s); !st) return fail(kExitUsage, st.error().message);
  std::cout << "saved search '" << s.name << "': runs every " << s.every_s
            << " s over what arrives from now on"
            << (s.webhook.empty() ? "" : "; hits are POSTed to " + s.webhook)
            << " (the admin-api role runs it; verbatim saved-searches hits " << s.name << ")\n";
  return kExitOk;
}

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
  if (!a.keywords.empty()) params["keywords"] = join(a.keywords, ",");
  if (!a.save.empty()) return run_save(env, a, params);
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
  opt("--direction", "direction",
      "inbound or outbound (seen from the recorded user), or internal (between two users)");
  opt("--min-duration", "minDuration", "at least this many seconds");
  opt("--max-duration", "maxDuration", "at most this many seconds");
  opt("--application", "application", "the recording application (its ObjectId)");
  opt("--policy", "policy", "the recorded user's policy");
  opt("--status", "status",
      "recording, complete, partial, interrupted or disposed; or missed, \"not recorded\", "
      "\"incomplete media\": the calls the reconciler found without a complete recording");
  opt("--region", "region", "the recording's region (DataLocation)");
  opt("--group", "group", "a group of the recorded user");
  opt("--sentiment", "sentiment",
      "positive, negative or neutral: the call's overall sentiment (transcribed calls)");
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
  s->add_option("--keyword", a->keywords,
                "a keyword list: any of these words or phrases said (repeat for each; "
                "surveillance lists with --save)");
  s->add_option("--save", a->save,
                "save the filters as a search that runs on a schedule over new recordings and "
                "transcripts and alerts on each new hit (it does not search now)");
  s->add_option("--every", a->every, "--save: how often it runs (90s, 15m, 2h; default 5m)");
  s->add_option("--webhook", a->webhook, "--save: POST each new hit here (http:// or https://)");
  s->add_option("--related", a->related,
                "a recording's related interactions, oldest first, with why: the same call, "
                "the same business data, the same parties within a day");
  s->add_flag("--json", a->json, "print JSON");
  commands.on(s, [a](Env& env) { return run_search(env, *a); });

  struct SavedArgs {
    std::string name;
    size_t limit = 50;
    bool json = false;
  };
  auto sa = std::make_shared<SavedArgs>();
  auto* g = app.add_subcommand("saved-searches",
                               "searches that run on a schedule and alert on new hits "
                               "(verbatim search ... --save NAME makes one)");
  g->require_subcommand(1);
  auto* list =
      g->add_subcommand("list", "the saved searches: filters, interval, webhook, last run");
  list->add_flag("--json", sa->json, "print JSON");
  commands.on(list, [sa](Env& env) {
    auto store = open_saved(env, false);
    if (!store && store.error().code == ErrorCode::kNotFound) {
      std::cout << (sa->json ? "[]\n" : "no saved searches\n");
      return kExitOk;
    }
    if (!store) return fail(kExitUsage, store.error().message);
    auto all = store.value()->list();
    if (!all) return fail(kExitUsage, all.error().message);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : all.value()) out.push_back(s.to_json());
    if (sa->json) {
      std::cout << out.dump(2) << "\n";
      return kExitOk;
    }
    for (const auto& s : all.value()) {
      std::cout << s.name << "  every " << s.every_s << " s  " << nlohmann::json(s.params).dump()
                << "  by " << s.owner << "  last run "
                << (s.last_run_at.empty() ? "never" : s.last_run_at)
                << (s.webhook.empty() ? "" : "  webhook " + s.webhook) << "\n";
    }
    return kExitOk;
  });
  auto* rm = g->add_subcommand("remove", "delete a saved search and its hits");
  rm->add_option("name", sa->name, "its name")->required();
  commands.on(rm, [sa](Env& env) {
    auto store = open_saved(env, false);
    if (!store) return fail(kExitUsage, store.error().message);
    if (auto st = store.value()->remove(sa->name); !st) {
      return fail(st.error().code == ErrorCode::kNotFound ? kExitFinding : kExitUsage,
                  st.error().message);
    }
    std::cout << "removed saved search '" << sa->name << "'\n";
    return kExitOk;
  });
  auto* hits = g->add_subcommand("hits", "what the saved searches found, newest first");
  hits->add_option("name", sa->name, "one saved search (default: all)");
  hits->add_option("--limit", sa->limit, "at most this many (default 50)");
  hits->add_flag("--json", sa->json, "print JSON");
  commands.on(hits, [sa](Env& env) {
    auto store = open_saved(env, false);
    if (!store && store.error().code == ErrorCode::kNotFound) {
      std::cout << (sa->json ? "[]\n" : "no saved searches\n");
      return kExitOk;
    }
    if (!store) return fail(kExitUsage, store.error().message);
    auto found = store.value()->hits(sa->name, std::clamp<size_t>(sa->limit, 1, 1000));
    if (!found) return fail(kExitUsage, found.error().message);
    if (sa->json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& h : found.value()) out.push_back(h.to_json());
      std::cout << out.dump(2) << "\n";
      return kExitOk;
    }
    for (const auto& h : found.value()) {
      std::cout << h.found_at << "  " << h.search << "  " << h.recording_id << "  (started "
                << h.hit.value("started", "") << ", webhook " << h.webhook << ")\n";
      if (h.hit.contains("matches")) {
        for (const auto& m : h.hit["matches"]) {
          std::cout << "    " << m.value("speaker", "") << ": " << m.value("text", "") << "\n";
        }
      }
    }
    std::cout << found.value().size() << " hit(s)\n";
    return kExitOk;
  });
}

}  // namespace verbatim::cli

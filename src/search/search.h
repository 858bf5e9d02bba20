// Search over the archive's catalog index (archive/catalog_index.h): the filters a compliance
// officer asks with (participant, numbers, time, direction, duration, application, policy,
// status, region, group, business data) and what was said (words in the transcripts, and names
// by their sound: phonetic), newest first (phonetic: best match first), one page at a time with
// a stable cursor. The CLI (`verbatim search`) and the REST API (GET /api/v1/recordings) build
// the same Query from the same parameter names (query_from_params) and run it here; both log
// each search in the ledger (access.search: who, the query, the recordings listed).
// Threads and ownership: pure functions over the caller's database handle (the Archive's
// catalog, opened by the writer or beside it).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/sqlite.h"

namespace verbatim::search {

struct Query {
  std::string participant;                // a name, SIP address or number, or 3+ characters of one
  std::string origin;                     // who called: a number or its first digits
  std::string dialed;                     // whom they called: a number or its first digits
  std::optional<int64_t> from_ms, to_ms;  // started in [from, to), Unix milliseconds
  std::string direction;                  // inbound | outbound | internal (between two users)
  std::optional<int64_t> min_duration_ms, max_duration_ms;
  std::string application, policy, status, region, group;
  std::string sentiment;  // positive | negative | neutral: the call's overall (transcribed calls)
  std::string call_id;    // the call's SIP Call-ID (our gateway's calls: the caller's)
  // What was said (the transcripts): every word somewhere in the recording, or a "quoted
  // phrase" in one utterance.
  std::string text;
  // A keyword list (surveillance): any of these words or phrases said in one utterance.
  std::vector<std::string> keywords;
  // What it sounded like: words (names, tickers, slang) matched by their phones, at or above
  // `threshold` (0..1; transcribe/phonetic.h).
  std::string phonetic;
  std::optional<double> threshold;
  // The pronunciation dictionary for phonetic queries (the recogniser's own).
  std::string dictionary = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";
  std::vector<std::pair<std::string, std::string>> data;  // business data, key (any case) = value
  size_t limit = 50;                                      // 1 .. 1000
  std::string cursor;                                     // the previous page's next_cursor
  // The searcher's scope (an account's groups and regions): empty lists see everything.
  std::vector<std::string> scope_groups, scope_regions;
  // Only these recordings (related(), below); empty: no such restriction.
  std::vector<std::string> only;
  // How run() picks the condition that leads the search (search.cc). The defaults suit archives
  // of any size; tests lower them to take each way on a few recordings.
  struct Plan {
    // A number's list (a participant number, an origin or dialed prefix) of fewer matches than
    // this leads; past it, the newest recordings are walked until a page is full (a number that
    // common fills a page within a few thousand).
    int64_t list_cap = 20000;
    // Words and parties, both asked for, are counted up to this many in the window and the
    // fewer lead; words matching under few_words lead without counting the parties (a word's
    // list is cheap to count, a name's trigrams are not).
    int64_t count_cap = 5000;
    int64_t few_words = 200;
  } plan;

  // What the ledger keeps: every filter given (the scope too), not the cursor.
  nlohmann::json to_json() const;
};

// The parameter names of both interfaces: participant, origin, dialed, from, to (ISO 8601 or a
// date), direction, minDuration, maxDuration (seconds), application, policy, status, region,
// group, sentiment, callId, data.KEY (=VALUE), text, keywords (comma-separated), phonetic,
// threshold, limit, cursor. Unknown names and bad values are errors that say which parameter and
// why.
Result<Query> query_from_params(const std::map<std::string, std::string>& params);

struct Party {
  std::string role;  // origin | dialed | participant
  std::string name, aor, number;
};

// Where a recording's transcript matched a text or phonetic query.
struct Match {
  std::string kind;     // text | phonetic
  std::string speaker;  // the transcript's track ("Ava Trader <sip:ava@example.com>")
  int64_t at_ms = 0;    // the utterance's start on the recording's timeline
  std::string text;     // the utterance, the words matched in [brackets] (text queries)
  double score = 0;     // phonetic: 0..1
};

struct Hit {
  std::string id;
  int64_t serial = 0;
  int64_t key = 0;  // its place in the order (archive/catalog_index.h: the search key)
  int64_t started_ms = 0;
  std::optional<int64_t> duration_ms;
  std::string direction, origin_number, dialed_number;
  std::string application, policy, status, region, call_id;
  std::vector<Party> parties;
  std::vector<std::string> groups;  // the directory groups named in its catalog metadata
  std::vector<Match> matches;       // the first three (text) or best three (phonetic)
  std::optional<double> score;      // phonetic queries: the best utterance's score (the ranking)
  std::optional<double> sentiment;  // the call's overall sentiment, once transcribed
  bool internal = false;            // between two users of the directory
};

struct Page {
  std::vector<Hit> hits;
  std::string next_cursor;  // empty: this is the last page
  // What led the search: list (recordings, a call, business data), words, parties (trigrams),
  // party number, party parts, number prefix, or rows (newest first). For tests and the benchmark.
  std::string led_by;
};

Result<Page> run(SqliteDb& catalog, const Query& query);

// The statuses of calls that have no complete recording — "missed" (either), "not recorded",
// "incomplete media" — which the missed-recording reconciler lists (reconcile/missed_search.h),
// not run().
bool is_missed_status(std::string_view status);

// Interactions related to a recording, each with why: "same call" (the same SIP Call-ID: the
// call's other recordings, other applications, a recorder's failover), "same session" (a UUID of
// the call's RFC 7989 Session-ID in common: its legs through forwards, B2BUAs and other recording
// clients; siprec/call_facts.h), "KEY=VALUE" (the same
// business data: a trade id, a ticket, an extTrackingID) and "same parties" (the same parties
// — every number or address of the recording's, or two of them when it has more — within
// `window` of its start). Page: the related recordings as run() lists them, newest first,
// scoped like any search; kNotFound when the recording is not in the index.
struct Related {
  Page page;
  std::map<std::string, std::vector<std::string>> reasons;  // recording -> why
};
Result<Related> related(SqliteDb& catalog, const std::string& recording_id, Query scope,
                        std::chrono::milliseconds window = std::chrono::hours(24));

// The archive's recordings of one call (by its SIP Call-ID), as the missed-recording reconciler
// compares them with the gateway's record of the call.
struct CallRecording {
  std::string id, application, direction, status, reason;
  int64_t started_ms = 0;
  std::optional<int64_t> duration_ms;  // unknown while recording, and after a crash
};
Result<std::vector<CallRecording>> recordings_of_call(SqliteDb& catalog,
                                                      const std::string& call_id);

nlohmann::json hit_json(const Hit& hit);
// One line per hit, for the CLI.
std::string hit_line(const Hit& hit);

}  // namespace verbatim::search

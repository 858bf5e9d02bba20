#include "search/search.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

#include <sqlite3.h>

#include <cmath>

#include "archive/catalog_index.h"
#include "common/clock.h"
#include "common/strings.h"
#include "transcribe/engine.h"
#include "transcribe/phonetic.h"

namespace verbatim::search {

using nlohmann::json;

namespace {

constexpr size_t kMaxLimit = 1000;
constexpr size_t kMaxText = 256;

Status bad(const std::string& param, const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, param + ": " + why);
}

Result<int64_t> whole_number(const std::string& param, const std::string& v) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < 0) {
    return bad(param, "'" + v + "' is not a whole number of 0 or more").error();
  }
  return n;
}

Result<int64_t> time_ms(const std::string& param, const std::string& v) {
  const auto t = parse_iso8601(v);
  if (!t) {
    return bad(param, "'" + v + "' is not a time (2026-12-01, 2026-12-01T09:30:00Z)").error();
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
}

// The cursor: where the last page ended, in the sort order as text: "started.id", or
// "score:started.id" when ranked by a phonetic score.
std::string make_cursor(const Hit& h) {
  std::string c = std::to_string(h.started_ms) + "." + h.id;
  if (h.score) c = std::to_string(std::llround(*h.score * 1000)) + ":" + c;
  return c;
}

bool read_cursor(std::string c, std::optional<int64_t>& score, int64_t& started, std::string& id) {
  if (const auto colon = c.find(':'); colon != std::string::npos) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(c.data(), c.data() + colon, v);
    if (ec != std::errc() || p != c.data() + colon) return false;
    score = v;
    c.erase(0, colon + 1);
  }
  const auto dot = c.find('.');
  if (dot == std::string::npos) return false;
  auto [p, ec] = std::from_chars(c.data(), c.data() + dot, started);
  id = c.substr(dot + 1);
  return ec == std::errc() && p == c.data() + dot && id.size() == 32 &&
         std::all_of(id.begin(), id.end(),
                     [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; });
}

// A string literal for an FTS5 MATCH: the phrase as typed, quotes doubled.
std::string fts_phrase(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The first key after every key starting with `prefix` (digits: '9' + 1 is ':').
std::string after_prefix(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

// SQL with its bound values, built filter by filter.
struct Sql {
  std::string where;
  std::vector<json> values;  // strings or integers, bound in order as ?1, ?2, ...
  // `cond` has one '?' per value, in order; they become ?N after those already bound.
  void add(const std::string& cond, const std::vector<json>& vals) {
    std::string c;
    size_t next = 0;
    for (char ch : cond) {
      c += ch;
      if (ch != '?') continue;
      values.push_back(vals.at(next++));
      c += std::to_string(values.size());
    }
    where += (where.empty() ? " WHERE " : " AND ") + c;
  }
};

void bind_all(SqliteStmt& s, const std::vector<json>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    const int at = static_cast<int>(i + 1);
    if (values[i].is_number_integer()) {
      s.bind(at, values[i].get<int64_t>());
    } else {
      s.bind(at, values[i].get<std::string>());
    }
  }
}

Status add_participant(Sql& sql, const std::string& who) {
  const std::string text = to_lower(who);
  const std::string digits = archive::number_digits(who);
  std::vector<std::string> phrases;
  for (const std::string& p : {text, digits}) {
    if (!p.empty() && std::find(phrases.begin(), phrases.end(), p) == phrases.end()) {
      phrases.push_back(p);
    }
  }
  if (phrases.empty()) return bad("participant", "give a name, address or number");
  if (std::all_of(phrases.begin(), phrases.end(), [](const auto& p) { return p.size() >= 3; })) {
    std::string match;
    for (const auto& p : phrases) match += (match.empty() ? "" : " OR ") + fts_phrase(p);
    sql.add("s.rowid IN (SELECT rowid FROM search_party_text WHERE search_party_text MATCH ?)",
            {match});
    return ok_status();
  }
  // One or two characters: too short for the trigram index, so the parties are scanned.
  const std::string like = "%" + text + "%";
  sql.add(
      "s.recording_id IN (SELECT recording_id FROM search_parties WHERE name LIKE ? OR aor "
      "LIKE ? OR number LIKE ?)",
      {like, like, like});
  return ok_status();
}

Status add_number(Sql& sql, const char* param, const char* column, const std::string& typed) {
  const std::string digits = archive::number_digits(typed);
  if (digits.empty()) return bad(param, "'" + typed + "' is not a telephone number");
  sql.add(std::string("s.") + column + " >= ? AND s." + column + " < ?",
          {digits, after_prefix(digits)});
  return ok_status();
}

// The words of a text query (letters, digits, apostrophes; lower case), and whether it was one
// "quoted phrase".
std::vector<std::string> text_words(const std::string& text, bool& phrase) {
  const auto first = text.find_first_not_of(' ');
  const auto last = text.find_last_not_of(' ');
  phrase = first != std::string::npos && last > first && text[first] == '"' && text[last] == '"';
  return transcribe::spoken_words(text);
}

// The FTS5 query for a text search: each word (or the phrase) as a quoted string.
Result<std::vector<std::string>> text_matches(const std::string& text) {
  bool phrase = false;
  const auto words = text_words(text, phrase);
  if (words.empty()) return bad("text", "give a word to look for").error();
  if (!phrase) {
    std::vector<std::string> out;
    out.reserve(words.size());
    for (const auto& w : words) out.push_back(fts_phrase(w));
    return out;
  }
  return std::vector<std::string>{fts_phrase(join(words, " "))};
}

// vb_phonetic(phones): the score (thousandths) of the query's phones in an utterance's, for the
// life of one search, on the searcher's connection.
class PhoneticFunction {
 public:
  PhoneticFunction(SqliteDb& db, std::string query) : db_(db), query_(std::move(query)) {
    sqlite3_create_function_v2(db_.handle(), "vb_phonetic", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                               this, &call, nullptr, nullptr, nullptr);
  }
  ~PhoneticFunction() {
    sqlite3_create_function_v2(db_.handle(), "vb_phonetic", 1, SQLITE_UTF8, nullptr, nullptr,
                               nullptr, nullptr, nullptr);
  }
  PhoneticFunction(const PhoneticFunction&) = delete;
  PhoneticFunction& operator=(const PhoneticFunction&) = delete;

 private:
  static void call(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
    const auto* self = static_cast<PhoneticFunction*>(sqlite3_user_data(ctx));
    const auto* text = sqlite3_value_text(argv[0]);
    const int n = sqlite3_value_bytes(argv[0]);
    const std::string_view phones(reinterpret_cast<const char*>(text), text ? n : 0);
    const auto m = transcribe::phonetic_match(self->query_, phones);
    sqlite3_result_int64(ctx, std::llround(m.score * 1000));
  }
  SqliteDb& db_;
  std::string query_;
};

}  // namespace

json Query::to_json() const {
  json j = json::object();
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("participant", participant);
  put("origin", origin);
  put("dialed", dialed);
  if (from_ms) j["from"] = format_iso8601_ms(TimePoint(std::chrono::milliseconds(*from_ms)));
  if (to_ms) j["to"] = format_iso8601_ms(TimePoint(std::chrono::milliseconds(*to_ms)));
  put("direction", direction);
  if (min_duration_ms) j["minDuration"] = *min_duration_ms / 1000;
  if (max_duration_ms) j["maxDuration"] = *max_duration_ms / 1000;
  put("application", application);
  put("policy", policy);
  put("status", status);
  put("region", region);
  put("group", group);
  put("callId", call_id);
  put("text", text);
  if (!keywords.empty()) j["keywords"] = keywords;
  put("phonetic", phonetic);
  if (threshold) j["threshold"] = *threshold;
  for (const auto& [k, v] : data) j["data." + k] = v;
  if (!scope_groups.empty() || !scope_regions.empty()) {
    j["scope"] = {{"groups", scope_groups}, {"regions", scope_regions}};
  }
  return j;
}

Result<Query> query_from_params(const std::map<std::string, std::string>& params) {
  Query q;
  static const std::set<std::string> kStatuses = {"recording",    "complete",        "partial",
                                                  "interrupted",  "disposed",        "missed",
                                                  "not recorded", "incomplete media"};
  for (const auto& [name, value] : params) {
    if (value.size() > kMaxText) return bad(name, "longer than 256 characters").error();
    if (name.starts_with("data.")) {
      const std::string key = name.substr(5);
      if (key.empty()) return bad(name, "name the business data key: data.KEY=VALUE").error();
      q.data.emplace_back(key, value);
    } else if (name == "participant") {
      q.participant = value;
    } else if (name == "origin") {
      q.origin = value;
    } else if (name == "dialed") {
      q.dialed = value;
    } else if (name == "from" || name == "to") {
      auto t = time_ms(name, value);
      if (!t) return t.error();
      (name == "from" ? q.from_ms : q.to_ms) = t.value();
    } else if (name == "direction") {
      if (value != "inbound" && value != "outbound") {
        return bad(name, "'" + value + "' is not inbound or outbound").error();
      }
      q.direction = value;
    } else if (name == "minDuration" || name == "maxDuration") {
      auto n = whole_number(name + " (seconds)", value);
      if (!n) return n.error();
      (name == "minDuration" ? q.min_duration_ms : q.max_duration_ms) = n.value() * 1000;
    } else if (name == "application") {
      q.application = value;
    } else if (name == "policy") {
      q.policy = value;
    } else if (name == "status") {
      std::string status = value;
      std::replace(status.begin(), status.end(), '-', ' ');  // not-recorded as not recorded
      if (!kStatuses.count(status)) {
        return bad(name, "'" + value +
                             "' is not one of recording, complete, partial, interrupted, "
                             "disposed, missed, not recorded, incomplete media")
            .error();
      }
      q.status = status;
    } else if (name == "region") {
      q.region = value;
    } else if (name == "group") {
      q.group = value;
    } else if (name == "callId") {
      q.call_id = value;
    } else if (name == "text") {
      VB_TRY(text_matches(value));
      q.text = value;
    } else if (name == "keywords") {
      for (const auto& k : split(value, ',')) {
        const std::string phrase(trim(k));
        if (phrase.empty()) continue;
        if (transcribe::spoken_words(phrase).empty()) {
          return bad(name, "'" + phrase + "' has no word to look for").error();
        }
        q.keywords.push_back(phrase);
      }
      if (q.keywords.empty() || q.keywords.size() > 200) {
        return bad(name, "give 1 to 200 words or phrases, separated by commas").error();
      }
    } else if (name == "phonetic") {
      if (value.find_first_not_of(' ') == std::string::npos) {
        return bad(name, "give a word to listen for").error();
      }
      q.phonetic = value;
    } else if (name == "threshold") {
      double t = -1;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
      if (value.empty() || ec != std::errc() || p != value.data() + value.size() || t < 0 ||
          t > 1) {
        return bad(name, "'" + value + "' is not a score from 0 to 1 (0.45, 0.6)").error();
      }
      q.threshold = t;
    } else if (name == "limit") {
      auto n = whole_number(name, value);
      if (!n) return n.error();
      if (n.value() < 1 || n.value() > static_cast<int64_t>(kMaxLimit)) {
        return bad(name, "from 1 to 1000").error();
      }
      q.limit = static_cast<size_t>(n.value());
    } else if (name == "cursor") {
      q.cursor = value;
    } else {
      return bad(name,
                 "not a search parameter (participant, origin, dialed, from, to, direction, "
                 "minDuration, maxDuration, application, policy, status, region, group, "
                 "callId, data.KEY, text, keywords, phonetic, threshold, limit, cursor)")
          .error();
    }
  }
  if (q.from_ms && q.to_ms && *q.from_ms >= *q.to_ms) {
    return bad("from", "must be before to").error();
  }
  if (q.threshold && q.phonetic.empty()) {
    return bad("threshold", "is for phonetic queries (phonetic=WORDS)").error();
  }
  return q;
}

bool is_missed_status(std::string_view status) {
  return status == "missed" || status == "not recorded" || status == "incomplete media";
}

Result<Page> run(SqliteDb& catalog, const Query& q) {
  if (is_missed_status(q.status)) {
    return bad("status",
               "'" + q.status + "' lists the missed-recording alerts, not the archive's recordings")
        .error();
  }
  Sql sql;
  if (!q.participant.empty()) {
    VB_TRY(add_participant(sql, q.participant));
  }
  if (!q.origin.empty()) {
    VB_TRY(add_number(sql, "origin", "origin_number", q.origin));
  }
  if (!q.dialed.empty()) {
    VB_TRY(add_number(sql, "dialed", "dialed_number", q.dialed));
  }
  if (q.from_ms) sql.add("s.started_ms >= ?", {*q.from_ms});
  if (q.to_ms) sql.add("s.started_ms < ?", {*q.to_ms});
  if (!q.direction.empty()) sql.add("s.direction = ?", {q.direction});
  if (q.min_duration_ms) sql.add("s.duration_ms >= ?", {*q.min_duration_ms});
  if (q.max_duration_ms) sql.add("s.duration_ms <= ?", {*q.max_duration_ms});
  if (!q.application.empty()) sql.add("s.application_id = ?", {q.application});
  if (!q.policy.empty()) sql.add("s.policy = ?", {q.policy});
  if (!q.status.empty()) sql.add("r.status = ?", {q.status});
  if (!q.region.empty()) sql.add("s.region = ? COLLATE NOCASE", {q.region});
  if (!q.call_id.empty()) sql.add("s.call_id = ?", {q.call_id});
  if (!q.only.empty()) {
    std::string cond = "s.recording_id IN (";
    std::vector<json> vals;
    for (const auto& id : q.only) {
      cond += vals.empty() ? "?" : ", ?";
      vals.emplace_back(id);
    }
    sql.add(cond + ")", vals);
  }
  std::vector<std::string> text_match;
  if (!q.text.empty()) {
    auto m = text_matches(q.text);
    if (!m) return m.error();
    text_match = std::move(m).value();
    for (const auto& phrase : text_match) {
      sql.add(
          "s.recording_id IN (SELECT u.recording_id FROM search_utterances u WHERE u.id IN "
          "(SELECT rowid FROM search_utterance_text WHERE search_utterance_text MATCH ?))",
          {phrase});
    }
  }
  if (!q.keywords.empty()) {
    std::string any;
    for (const auto& k : q.keywords) {
      any += (any.empty() ? "" : " OR ") + fts_phrase(join(transcribe::spoken_words(k), " "));
    }
    sql.add(
        "s.recording_id IN (SELECT u.recording_id FROM search_utterances u WHERE u.id IN "
        "(SELECT rowid FROM search_utterance_text WHERE search_utterance_text MATCH ?))",
        {any});
    text_match.push_back(any);
  }
  // Phonetic: the recordings whose best utterance scores at or above the threshold, ranked by
  // that score (a sound-alike match is a guess; the likeliest come first).
  std::optional<PhoneticFunction> phonetic;
  const int64_t threshold =
      std::llround(q.threshold.value_or(transcribe::kDefaultPhoneticThreshold) * 1000);
  std::string ranked;
  if (!q.phonetic.empty()) {
    auto phones = transcribe::query_phones(q.phonetic, q.dictionary);
    if (!phones) return bad("phonetic", phones.error().message).error();
    phonetic.emplace(catalog, phones.value().codes);
    sql.values.emplace_back(threshold);
    ranked =
        " JOIN (SELECT recording_id, score FROM (SELECT recording_id, MAX(vb_phonetic(phones)) "
        "AS score FROM search_utterances GROUP BY recording_id) WHERE score >= ?" +
        std::to_string(sql.values.size()) + ") ph ON ph.recording_id = s.recording_id";
  }
  if (!q.group.empty()) {
    sql.add("s.recording_id IN (SELECT recording_id FROM search_groups WHERE grp = ?)",
            {to_lower(q.group)});
  }
  for (const auto& [k, v] : q.data) {
    sql.add("s.recording_id IN (SELECT recording_id FROM search_data WHERE key = ? AND value = ?)",
            {to_lower(k), v});
  }
  if (!q.scope_groups.empty() || !q.scope_regions.empty()) {
    std::string cond = "(0";
    std::vector<json> vals;
    for (const auto& g : q.scope_groups) {
      cond += " OR s.recording_id IN (SELECT recording_id FROM search_groups WHERE grp = ?)";
      vals.emplace_back(to_lower(g));
    }
    for (const auto& r : q.scope_regions) {
      cond += " OR s.region = ? COLLATE NOCASE";
      vals.emplace_back(r);
    }
    sql.add(cond + ")", vals);
  }
  if (!q.cursor.empty()) {
    int64_t started = 0;
    std::optional<int64_t> score;
    std::string id;
    if (!read_cursor(q.cursor, score, started, id) || score.has_value() != !ranked.empty()) {
      return bad("cursor", "not a cursor this search gave").error();
    }
    if (score) {
      sql.add("(ph.score, s.started_ms, s.recording_id) < (?, ?, ?)", {*score, started, id});
    } else {
      sql.add("(s.started_ms, s.recording_id) < (?, ?)", {started, id});
    }
  }
  const size_t limit = std::clamp<size_t>(q.limit, 1, kMaxLimit);
  const std::string text =
      "SELECT s.recording_id, COALESCE(r.serial, 0), s.started_ms, s.duration_ms, "
      "COALESCE(s.direction, ''), COALESCE(s.origin_number, ''), COALESCE(s.dialed_number, ''), "
      "COALESCE(s.application_id, ''), COALESCE(s.policy, ''), r.status, "
      "COALESCE(s.region, ''), COALESCE(s.call_id, '')" +
      std::string(ranked.empty() ? "" : ", ph.score") +
      " FROM search_index s JOIN recordings r ON r.id = s.recording_id" + ranked + sql.where +
      " ORDER BY " + (ranked.empty() ? "" : "ph.score DESC, ") +
      "s.started_ms DESC, s.recording_id DESC LIMIT " + std::to_string(limit + 1);
  SqliteStmt s(catalog, text.c_str());
  if (!s.ok()) return catalog.error("searching the catalog");
  bind_all(s, sql.values);
  Page page;
  int rc;
  while ((rc = s.step()) == kSqliteRow) {
    Hit h;
    h.id = s.text(0);
    h.serial = s.int64(1);
    h.started_ms = s.int64(2);
    if (!s.is_null(3)) h.duration_ms = s.int64(3);
    h.direction = s.text(4);
    h.origin_number = s.text(5);
    h.dialed_number = s.text(6);
    h.application = s.text(7);
    h.policy = s.text(8);
    h.status = s.text(9);
    h.region = s.text(10);
    h.call_id = s.text(11);
    if (!ranked.empty()) h.score = static_cast<double>(s.int64(12)) / 1000;
    page.hits.push_back(std::move(h));
  }
  if (rc != kSqliteDone) return catalog.error("searching the catalog");
  if (page.hits.size() > limit) {
    page.hits.resize(limit);
    page.next_cursor = make_cursor(page.hits.back());
  }
  SqliteStmt p(catalog,
               "SELECT role, name, aor, number FROM search_parties WHERE recording_id = ?1 "
               "ORDER BY rowid");
  for (auto& h : page.hits) {
    p.reset();
    p.bind(1, h.id);
    while (p.step() == kSqliteRow)
      h.parties.push_back({p.text(0), p.text(1), p.text(2), p.text(3)});
  }
  if (!text_match.empty()) {
    std::string any;
    for (const auto& m : text_match) any += (any.empty() ? "" : " OR ") + m;
    SqliteStmt t(catalog,
                 "SELECT u.speaker, u.start_ms, highlight(search_utterance_text, 0, '[', ']') "
                 "FROM search_utterance_text JOIN search_utterances u ON u.id = "
                 "search_utterance_text.rowid WHERE search_utterance_text MATCH ?1 AND "
                 "u.recording_id = ?2 ORDER BY u.start_ms LIMIT 3");
    for (auto& h : page.hits) {
      t.reset();
      t.bind(1, any);
      t.bind(2, h.id);
      while (t.step() == kSqliteRow)
        h.matches.push_back({"text", t.text(0), t.int64(1), t.text(2), 0});
    }
  }
  if (phonetic) {
    SqliteStmt t(catalog,
                 "SELECT u.speaker, u.start_ms, t.text, vb_phonetic(u.phones) AS score FROM "
                 "search_utterances u JOIN search_utterance_text t ON t.rowid = u.id WHERE "
                 "u.recording_id = ?1 AND score >= ?2 ORDER BY score DESC, u.start_ms LIMIT 3");
    for (auto& h : page.hits) {
      t.reset();
      t.bind(1, h.id);
      t.bind(2, threshold);
      while (t.step() == kSqliteRow) {
        h.matches.push_back(
            {"phonetic", t.text(0), t.int64(1), t.text(2), static_cast<double>(t.int64(3)) / 1000});
      }
    }
  }
  return page;
}

Result<Related> related(SqliteDb& catalog, const std::string& id, Query scope,
                        std::chrono::milliseconds window) {
  Related out;
  int64_t started = 0;
  {
    SqliteStmt s(catalog, "SELECT started_ms FROM search_index WHERE recording_id = ?1");
    s.bind(1, id);
    if (s.step() != kSqliteRow) {
      return make_error(ErrorCode::kNotFound, "recording " + id + " is not in the search index");
    }
    started = s.int64(0);
  }
  auto collect = [&](const char* sql, const std::vector<json>& values, bool with_reason) {
    SqliteStmt s(catalog, sql);
    bind_all(s, values);
    while (s.step() == kSqliteRow) {
      auto& why = out.reasons[s.text(0)];
      const std::string reason = with_reason ? s.text(1) : "same call";
      if (std::find(why.begin(), why.end(), reason) == why.end()) why.push_back(reason);
    }
  };
  collect(
      "SELECT o.recording_id FROM search_index me JOIN search_index o ON o.call_id = me.call_id "
      "WHERE me.recording_id = ?1 AND me.call_id IS NOT NULL AND o.recording_id != ?1 LIMIT 1000",
      {id}, false);
  collect(
      "SELECT DISTINCT o.recording_id, me.key || '=' || me.value FROM search_data me JOIN "
      "search_data o ON o.key = me.key AND o.value = me.value WHERE me.recording_id = ?1 AND "
      "o.recording_id != ?1 LIMIT 1000",
      {id}, true);
  // The same parties: as many of the recording's distinct parties as it has, up to two.
  collect(
      "WITH mine AS (SELECT DISTINCT CASE WHEN number != '' THEN 'n:' || number ELSE 'a:' || aor "
      "END AS who FROM search_parties WHERE recording_id = ?1 AND (number != '' OR aor != '')), "
      "need AS (SELECT MIN(COUNT(*), 2) AS n FROM mine) "
      "SELECT p.recording_id, 'same parties' FROM search_parties p JOIN search_index s ON "
      "s.recording_id = p.recording_id WHERE p.recording_id != ?1 AND s.started_ms BETWEEN ?2 "
      "AND ?3 AND (CASE WHEN p.number != '' THEN 'n:' || p.number ELSE 'a:' || p.aor END) IN "
      "(SELECT who FROM mine) GROUP BY p.recording_id HAVING COUNT(DISTINCT CASE WHEN p.number "
      "!= '' THEN 'n:' || p.number ELSE 'a:' || p.aor END) >= (SELECT n FROM need) AND "
      "(SELECT n FROM need) > 0 LIMIT 1000",
      {id, started - window.count(), started + window.count()}, true);
  if (out.reasons.empty()) return out;
  scope.only.clear();
  for (const auto& [rid, _] : out.reasons) scope.only.push_back(rid);
  scope.limit = kMaxLimit;
  auto page = run(catalog, scope);
  if (!page) return page.error();
  out.page = std::move(page).value();
  return out;
}

json hit_json(const Hit& h) {
  json parties = json::array();
  for (const auto& p : h.parties) {
    json o = {{"role", p.role}, {"aor", p.aor}};
    if (!p.name.empty()) o["name"] = p.name;
    if (!p.number.empty()) o["number"] = p.number;
    parties.push_back(std::move(o));
  }
  json j = {{"id", h.id},
            {"started", format_iso8601_ms(TimePoint(std::chrono::milliseconds(h.started_ms)))},
            {"status", h.status},
            {"parties", parties}};
  if (h.duration_ms) j["durationSeconds"] = static_cast<double>(*h.duration_ms) / 1000.0;
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("direction", h.direction);
  put("origin", h.origin_number);
  put("dialed", h.dialed_number);
  put("application", h.application);
  put("policy", h.policy);
  put("region", h.region);
  put("callId", h.call_id);
  if (h.score) j["score"] = *h.score;
  if (!h.matches.empty()) {
    json matches = json::array();
    for (const auto& m : h.matches) {
      json o = {{"kind", m.kind},
                {"speaker", m.speaker},
                {"atSeconds", static_cast<double>(m.at_ms) / 1000.0},
                {"text", m.text}};
      if (m.kind == "phonetic") o["score"] = m.score;
      matches.push_back(std::move(o));
    }
    j["matches"] = matches;
  }
  return j;
}

std::string hit_line(const Hit& h) {
  std::ostringstream out;
  out << format_iso8601(TimePoint(std::chrono::milliseconds(h.started_ms))) << "  ";
  if (h.duration_ms) {
    const int64_t s = (*h.duration_ms + 500) / 1000;
    out << s / 60 << ":" << (s % 60 < 10 ? "0" : "") << s % 60;
  } else {
    out << "--:--";
  }
  out << "  " << (h.direction.empty() ? "-" : h.direction) << "  ";
  auto who = [&](const char* role, const std::string& number) {
    for (const auto& p : h.parties) {
      if (p.role != role) continue;
      return p.name.empty() ? p.aor : p.name + " <" + p.aor + ">";
    }
    return number.empty() ? std::string("?") : number;
  };
  out << who("origin", h.origin_number) << " -> " << who("dialed", h.dialed_number) << "  "
      << h.status << "  " << h.id;
  for (const auto& m : h.matches) {
    const int64_t at = m.at_ms / 1000;
    out << "\n    " << at / 60 << ":" << (at % 60 < 10 ? "0" : "") << at % 60 << "  " << m.speaker
        << ": " << m.text;
    if (m.kind == "phonetic") {
      out << "  (sounds like it: " << std::llround(m.score * 100) << " %)";
    }
  }
  return out.str();
}

Result<std::vector<CallRecording>> recordings_of_call(SqliteDb& catalog,
                                                      const std::string& call_id) {
  SqliteStmt s(catalog,
               "SELECT i.recording_id, i.application_id, i.direction, r.status, r.reason, "
               "i.started_ms, i.duration_ms FROM search_index i JOIN recordings r "
               "ON r.id = i.recording_id WHERE i.call_id = ?1 ORDER BY i.started_ms");
  s.bind(1, call_id);
  std::vector<CallRecording> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) {
    CallRecording r{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.int64(5), {}};
    if (!s.is_null(6)) r.duration_ms = s.int64(6);
    out.push_back(std::move(r));
  }
  if (rc != kSqliteDone) return catalog.error("reading the recordings of call " + call_id);
  return out;
}

}  // namespace verbatim::search

#include "search/search.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include <sqlite3.h>

#include <cmath>

#include "archive/catalog_index.h"
#include "common/clock.h"
#include "common/strings.h"
#include "transcribe/engine.h"
#include "transcribe/phonetic.h"
#include "transcribe/sentiment.h"

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

// The cursor: where the last page ended, as its last hit's search key (catalog_index.h), or
// "score:key" when ranked by a phonetic score.
std::string make_cursor(const Hit& h) {
  std::string c = std::to_string(h.key);
  if (h.score) c = std::to_string(std::llround(*h.score * 1000)) + ":" + c;
  return c;
}

bool read_cursor(const std::string& c, std::optional<int64_t>& score, int64_t& key) {
  auto number = [](std::string_view t, int64_t& v) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    return !t.empty() && ec == std::errc() && p == t.data() + t.size() && v >= 0;
  };
  const std::string_view text(c);
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    int64_t v = 0;
    if (!number(text.substr(0, colon), v)) return false;
    score = v;
    return number(text.substr(colon + 1), key);
  }
  return number(text, key);
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
    } else if (values[i].is_number()) {
      s.bind_real(at, values[i].get<double>());
    } else {
      s.bind(at, values[i].get<std::string>());
    }
  }
}

// The participant condition. A number (digits, with any of "+ -.()/" and spaces) of
// kMinNumberDigits digits or more is looked up in the parties' digits (search_numbers). Other
// text in the parts of the parties' text (search_party_parts), from its start or its first word
// that part_keys indexes, and the whole text is checked on each row unless the lookup decides.
// Text without such a word goes through the trigrams when it has 3 characters, else by a scan
// of the parties (added to `sql`).
struct KeyRange {
  bool number = false;   // search_numbers (else search_party_parts)
  std::string from, to;  // the range of its keys
  bool exact = false;    // it alone decides (the whole text is the keys' start)
  bool partial = false;  // it leaves out the text's start (its first word)
  std::string select(int64_t lo, int64_t hi) const {
    return std::string("SELECT key FROM ") +
           (number ? "search_numbers WHERE digits" : "search_party_parts WHERE part") +
           " >= ? AND " + (number ? "digits" : "part") + " < ? AND key >= " + std::to_string(lo) +
           " AND key < " + std::to_string(hi);
  }
};

struct PartyQuery {
  std::vector<std::string> texts;  // the parties' text holds one of these (empty: a scan)
  std::optional<KeyRange> lookup;  // must match; may lead
  bool trigrams = true;            // the trigram index may lead (not for numbers)
};

// The keys that start with `text`'s first kNumberKeyDigits or kPartKeyBytes.
KeyRange key_range(bool number, std::string_view text) {
  const size_t cut = number ? archive::kNumberKeyDigits : archive::kPartKeyBytes;
  const std::string k(text.substr(0, cut));
  return KeyRange{number, k, after_prefix(k), text.size() <= cut};
}

Result<PartyQuery> participant_match(Sql& sql, const std::string& who,
                                     const archive::PartyKeysFilled& filled) {
  const std::string text = to_lower(who);
  const std::string digits = archive::number_digits(who);
  if (digits.size() >= archive::kMinNumberDigits && !filled.numbers) {
    return PartyQuery{.texts = {digits}};  // the digits, through the trigrams
  }
  if (digits.size() >= archive::kMinNumberDigits) {
    return PartyQuery{.texts = {digits}, .lookup = key_range(true, digits), .trigrams = false};
  }
  PartyQuery out;
  for (const std::string& p : {text, digits}) {
    if (!p.empty() && std::find(out.texts.begin(), out.texts.end(), p) == out.texts.end()) {
      out.texts.push_back(p);
    }
  }
  if (out.texts.empty()) return bad("participant", "give a name, address or number").error();
  if (out.texts.size() == 1 && filled.parts) {  // (a few digits make a second text: either)
    if (const auto at = archive::part_lookup_start(text)) {
      out.lookup = key_range(false, std::string_view(text).substr(*at));
      out.lookup->partial = *at > 0;
      out.lookup->exact = out.lookup->exact && !out.lookup->partial;
    }
  }
  if (out.lookup || std::all_of(out.texts.begin(), out.texts.end(),
                                [](const auto& p) { return p.size() >= 3; })) {
    return out;
  }
  // One or two characters: too short for the trigram index, so the parties are scanned.
  const std::string like = "%" + text + "%";
  sql.add(
      "EXISTS (SELECT 1 FROM search_parties p WHERE p.recording_id = s.recording_id AND "
      "(p.name LIKE ? OR p.aor LIKE ? OR p.number LIKE ?))",
      {like, like, like});
  return PartyQuery{};
}

// The first digits of a number as the range [digits, after) of the column's text.
Result<std::pair<std::string, std::string>> number_prefix(const char* param,
                                                          const std::string& typed) {
  const std::string digits = archive::number_digits(typed);
  if (digits.empty()) return bad(param, "'" + typed + "' is not a telephone number").error();
  return std::make_pair(digits, after_prefix(digits));
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

// A function in SQL for the life of one search, on the searcher's connection: vb_phonetic and
// vb_said (below).
class ScopedFunction {
 public:
  using Body = std::function<void(sqlite3_context*, sqlite3_value**)>;
  ScopedFunction(SqliteDb& db, const char* name, int args, Body body)
      : db_(db), name_(name), args_(args), body_(std::move(body)) {
    sqlite3_create_function_v2(db_.handle(), name_, args_, SQLITE_UTF8 | SQLITE_DETERMINISTIC, this,
                               &call, nullptr, nullptr, nullptr);
  }
  ~ScopedFunction() {
    sqlite3_create_function_v2(db_.handle(), name_, args_, SQLITE_UTF8, nullptr, nullptr, nullptr,
                               nullptr, nullptr);
  }
  ScopedFunction(const ScopedFunction&) = delete;
  ScopedFunction& operator=(const ScopedFunction&) = delete;

 private:
  static void call(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
    static_cast<ScopedFunction*>(sqlite3_user_data(ctx))->body_(ctx, argv);
  }
  SqliteDb& db_;
  const char* name_;
  int args_;
  Body body_;
};

std::string_view text_arg(sqlite3_value* v) {
  const auto* text = sqlite3_value_text(v);
  return text ? std::string_view(reinterpret_cast<const char*>(text),
                                 static_cast<size_t>(sqlite3_value_bytes(v)))
              : std::string_view();
}

// A token of text as the full-text index splits it (FTS5's unicode61 tokenizer on what the
// recogniser writes): a run of letters and digits (and of any non-ASCII bytes), lower case.
struct Token {
  std::string word;
  size_t begin = 0, end = 0;  // in the text
};

std::vector<Token> tokens(std::string_view text) {
  std::vector<Token> out;
  auto inside = [](unsigned char c) { return std::isalnum(c) != 0 || c >= 0x80; };
  for (size_t i = 0; i < text.size();) {
    if (!inside(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    Token t;
    t.begin = i;
    while (i < text.size() && inside(static_cast<unsigned char>(text[i]))) {
      t.word += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
      ++i;
    }
    t.end = i;
    out.push_back(std::move(t));
  }
  return out;
}

// What was asked of the transcripts, as the full-text index reads it: every clause must be
// said; a clause is said when any of its phrases is (a phrase: words in a row). A text query is
// a clause per word, or one clause of its quoted phrase; a keyword list is one clause.
struct Said {
  using Phrase = std::vector<std::string>;
  std::vector<std::vector<Phrase>> clauses;

  // Where `phrase` starts in `toks` at or after `from`, or npos.
  static size_t find(const std::vector<Token>& toks, const Phrase& phrase, size_t from) {
    for (size_t i = from; i + phrase.size() <= toks.size(); ++i) {
      size_t k = 0;
      while (k < phrase.size() && toks[i + k].word == phrase[k]) ++k;
      if (k == phrase.size()) return i;
    }
    return std::string::npos;
  }
  bool clause_in(const std::vector<Token>& toks, size_t c) const {
    return std::any_of(clauses[c].begin(), clauses[c].end(),
                       [&](const Phrase& p) { return find(toks, p, 0) != std::string::npos; });
  }
  // Clause `c` said in the text, or (c < 0) every clause.
  bool in(std::string_view text, int64_t c) const {
    const auto toks = tokens(text);
    if (c >= 0) return static_cast<size_t>(c) < clauses.size() && clause_in(toks, c);
    for (size_t i = 0; i < clauses.size(); ++i) {
      if (!clause_in(toks, i)) return false;
    }
    return true;
  }
  // Whether a clause has a phrase of more than one word (which must be said in one utterance).
  bool needs_one_utterance(size_t c) const {
    return std::any_of(clauses[c].begin(), clauses[c].end(),
                       [](const Phrase& p) { return p.size() > 1; });
  }
  // The text with every phrase it says in [brackets] (a run of matched words in one pair), or
  // "" when it says none.
  std::string highlight(std::string_view text) const {
    const auto toks = tokens(text);
    std::vector<bool> marked(toks.size(), false);
    for (const auto& clause : clauses) {
      for (const auto& p : clause) {
        for (size_t at = find(toks, p, 0); at != std::string::npos; at = find(toks, p, at + 1)) {
          std::fill(marked.begin() + static_cast<std::ptrdiff_t>(at),
                    marked.begin() + static_cast<std::ptrdiff_t>(at + p.size()), true);
        }
      }
    }
    if (std::find(marked.begin(), marked.end(), true) == marked.end()) return "";
    std::string out;
    size_t copied = 0;
    for (size_t i = 0; i < toks.size(); ++i) {
      if (!marked[i] || (i > 0 && marked[i - 1])) continue;
      size_t j = i;
      while (j + 1 < toks.size() && marked[j + 1]) ++j;
      out.append(text.substr(copied, toks[i].begin - copied));
      out += '[';
      out.append(text.substr(toks[i].begin, toks[j].end - toks[i].begin));
      out += ']';
      copied = toks[j].end;
    }
    out.append(text.substr(copied));
    return out;
  }
};

Said::Phrase phrase_of(std::string_view words) {
  Said::Phrase p;
  for (auto& t : tokens(words)) p.push_back(std::move(t.word));
  return p;
}

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
  put("sentiment", sentiment);
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
  for (const auto& [given, value] : params) {
    // Names in any case: the REST API hands them over in lower case (minduration, callid).
    std::string name = given;
    for (const char* camel : {"minDuration", "maxDuration", "callId"}) {
      if (iequals(given, camel)) name = camel;
    }
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
      if (value != "inbound" && value != "outbound" && value != "internal") {
        return bad(name, "'" + value + "' is not inbound, outbound or internal").error();
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
    } else if (name == "sentiment") {
      if (value != "positive" && value != "negative" && value != "neutral") {
        return bad(name, "'" + value + "' is not positive, negative or neutral").error();
      }
      q.sentiment = value;
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
                 "sentiment, callId, data.KEY, text, keywords, phonetic, threshold, limit, cursor)")
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

// How many rows a SELECT gives, counting no further than `cap`.
Result<int64_t> count_upto(SqliteDb& db, const std::string& select, const std::vector<json>& values,
                           int64_t cap) {
  const std::string text =
      "SELECT count(*) FROM (" + select + " LIMIT " + std::to_string(cap) + ")";
  SqliteStmt s(db, text.c_str());
  if (!s.ok()) return db.error("estimating a search");
  bind_all(s, values);
  if (s.step() != kSqliteRow) return db.error("estimating a search");
  return s.int64(0);
}

Result<Page> run(SqliteDb& catalog, const Query& q) {
  if (is_missed_status(q.status)) {
    return bad("status",
               "'" + q.status + "' lists the missed-recording alerts, not the archive's recordings")
        .error();
  }
  // Every search lists newest first by the search key (catalog_index.h), so it walks one index
  // backwards and stops after a page: the key range (time window, cursor) bounds the walk, one
  // condition leads it (the driver), the others are checked on each row it meets.
  int64_t lo = 0;
  int64_t hi = std::numeric_limits<int64_t>::max();
  if (q.from_ms) lo = archive::search_key_base(*q.from_ms);
  if (q.to_ms) hi = archive::search_key_base(*q.to_ms);
  std::optional<int64_t> cursor_score;
  int64_t cursor_key = 0;
  if (!q.cursor.empty()) {
    if (!read_cursor(q.cursor, cursor_score, cursor_key) ||
        cursor_score.has_value() != !q.phonetic.empty()) {
      return bad("cursor", "not a cursor this search gave").error();
    }
    if (!cursor_score) hi = std::min(hi, cursor_key);
  }
  Sql sql;
  std::vector<std::string> parties;  // the texts a participant query looks for
  std::string party_match;           // the same, as the trigram index's query
  std::optional<KeyRange> lookup;    // a range of the parties' numbers or parts
  if (!q.participant.empty()) {
    auto m = participant_match(sql, q.participant, archive::party_keys_filled(catalog));
    if (!m) return m.error();
    parties = std::move(m.value().texts);
    lookup = std::move(m.value().lookup);
    for (const auto& p : parties) {
      if (m.value().trigrams) party_match += (party_match.empty() ? "" : " OR ") + fts_phrase(p);
    }
  }
  std::vector<std::pair<const char*, std::pair<std::string, std::string>>> numbers;
  if (!q.origin.empty()) {
    auto r = number_prefix("origin", q.origin);
    if (!r) return r.error();
    numbers.emplace_back("origin_number", std::move(r).value());
  }
  if (!q.dialed.empty()) {
    auto r = number_prefix("dialed", q.dialed);
    if (!r) return r.error();
    numbers.emplace_back("dialed_number", std::move(r).value());
  }
  // What was said: the recording's words (every word somewhere in it, or a phrase or keyword
  // somewhere in its text), then, for phrases, in one utterance (vb_said checks a text).
  std::string words_match;  // the full-text query of search_recording_text
  Said said;
  if (!q.text.empty()) {
    auto m = text_matches(q.text);
    if (!m) return m.error();
    words_match = join(m.value(), " ");
    bool phrase = false;
    for (const auto& w : text_words(q.text, phrase)) {
      if (!phrase) said.clauses.push_back({phrase_of(w)});
    }
    if (phrase) said.clauses.push_back({phrase_of(q.text)});
  }
  if (!q.keywords.empty()) {
    std::string any;
    said.clauses.emplace_back();
    for (const auto& k : q.keywords) {
      const auto words = transcribe::spoken_words(k);
      any += (any.empty() ? "" : " OR ") + fts_phrase(join(words, " "));
      said.clauses.back().push_back(phrase_of(join(words, " ")));
    }
    words_match = words_match.empty() ? any : words_match + " AND (" + any + ")";
  }
  std::optional<ScopedFunction> said_function;
  if (!said.clauses.empty()) {
    said_function.emplace(catalog, "vb_said", 2, [&said](sqlite3_context* ctx, sqlite3_value** v) {
      sqlite3_result_int(ctx, said.in(text_arg(v[1]), sqlite3_value_int64(v[0])) ? 1 : 0);
    });
  }
  for (size_t c = 0; c < said.clauses.size(); ++c) {
    if (!said.needs_one_utterance(c)) continue;
    sql.add(
        "EXISTS (SELECT 1 FROM search_utterances u CROSS JOIN search_utterance_text t ON "
        "t.rowid = u.id WHERE u.recording_id = s.recording_id AND vb_said(?, t.text))",
        {static_cast<int64_t>(c)});
  }
  // The driver: a short list (the recordings asked for, a call, a business key), else the
  // fewer of the words and the parties matched (the parties by their number or parts, else
  // their trigrams), else a number prefix's list when short, else the recordings themselves.
  enum class Driver { kRows, kList, kWords, kParties, kPartyKeys, kNumbers } driver = Driver::kRows;
  const std::string range =
      " AND rowid >= " + std::to_string(lo) + " AND rowid < " + std::to_string(hi);
  // The participant's lookup (its number, or its text), counted in the window up to a cap:
  // under it, the lookup may lead.
  bool lookup_leads = false;
  auto count_lookup = [&](int64_t cap) -> Status {
    if (!lookup) return ok_status();
    auto n = count_upto(catalog, lookup->select(lo, hi), {lookup->from, lookup->to}, cap);
    if (!n) return n.error();
    lookup_leads = n.value() < cap;
    return ok_status();
  };
  if (!q.only.empty() || !q.call_id.empty() || !q.data.empty()) {
    driver = Driver::kList;
  } else if (!words_match.empty() && (!party_match.empty() || lookup)) {
    auto matches = [&](const std::string& table, const std::string& match, int64_t cap) {
      return count_upto(catalog,
                        "SELECT rowid FROM " + table + " WHERE " + table + " MATCH ?1" + range,
                        {match}, cap);
    };
    auto words = matches("search_recording_text", words_match, q.plan.count_cap);
    if (!words) return words.error();
    driver = Driver::kWords;
    if (words.value() >= q.plan.few_words) {  // the parties lead if fewer: counted no further
      VB_TRY(count_lookup(words.value()));
      if (lookup_leads) {
        driver = Driver::kPartyKeys;
      } else if ((!lookup || lookup->partial) && !party_match.empty()) {
        auto in_parties = matches("search_party_text", party_match, words.value());
        if (!in_parties) return in_parties.error();
        if (in_parties.value() < words.value()) driver = Driver::kParties;
      }
    }
  } else if (!words_match.empty()) {
    driver = Driver::kWords;
  } else if (lookup || !party_match.empty()) {
    VB_TRY(count_lookup(q.plan.list_cap));
    driver = lookup_leads           ? Driver::kPartyKeys
             : !party_match.empty() ? Driver::kParties
                                    : Driver::kRows;
  }
  if (driver == Driver::kRows && !numbers.empty()) {
    std::string select = "SELECT rowid FROM search_index WHERE ";
    auto n = count_upto(
        catalog, select + numbers[0].first + " >= ?1 AND " + numbers[0].first + " < ?2" + range,
        {numbers[0].second.first, numbers[0].second.second}, q.plan.list_cap);
    if (!n) return n.error();
    if (n.value() < q.plan.list_cap) driver = Driver::kNumbers;
  }
  std::string from = " FROM search_index s";
  std::string key = "s.rowid";
  if (driver == Driver::kWords || driver == Driver::kParties) {
    const char* fts = driver == Driver::kWords ? "search_recording_text" : "search_party_text";
    from = std::string(" FROM ") + fts + " d CROSS JOIN search_index s ON s.rowid = d.rowid";
    key = "d.rowid";
    sql.add(std::string(fts) + " MATCH ?", {driver == Driver::kWords ? words_match : party_match});
  }
  // The conditions that do not lead are checked on the rows met, by reading the row's text
  // (a full-text MATCH per row costs a seek in every segment of the index).
  if (!words_match.empty() && driver != Driver::kWords) {
    sql.add("vb_said(-1, (SELECT w.text FROM search_recording_text w WHERE w.rowid = s.rowid))",
            {});
  }
  if (driver == Driver::kPartyKeys) {
    sql.add("s.rowid IN (" + lookup->select(lo, hi) + ")", {lookup->from, lookup->to});
  }
  // A key holds the first bytes of a number or of the text from a word on: the whole text is
  // checked on the row, unless the lookup alone decides.
  const bool keys_decide = driver == Driver::kPartyKeys && lookup->exact;
  if (!parties.empty() && driver != Driver::kParties && !keys_decide) {
    std::string any;
    std::vector<json> vals;
    for (const auto& p : parties) {
      any += std::string(any.empty() ? "(" : " OR ") +
             "instr((SELECT p.text FROM search_party_text p WHERE p.rowid = s.rowid), ?) > 0";
      vals.emplace_back(p);
    }
    sql.add(any + ")", vals);
  }
  for (const auto& [column, prefix] : numbers) {
    // Led by the first number's list, or checked on each row (the unary + keeps SQLite from
    // listing a common prefix through its index).
    const bool leads = driver == Driver::kNumbers && column == numbers[0].first;
    std::string cond = leads ? "s.rowid IN (SELECT rowid FROM search_index WHERE " : "";
    const std::string col = std::string(leads ? "" : "+s.") + column;
    cond.append(col).append(" >= ? AND ").append(col).append(" < ?").append(leads ? ")" : "");
    sql.add(cond, {prefix.first, prefix.second});
  }
  if (lo > 0) sql.add(key + " >= ?", {lo});
  if (hi < std::numeric_limits<int64_t>::max()) sql.add(key + " < ?", {hi});
  if (q.direction == "internal") {
    sql.add("s.internal = 1", {});
  } else if (!q.direction.empty()) {
    sql.add("s.direction = ?", {q.direction});
  }
  if (q.min_duration_ms) sql.add("s.duration_ms >= ?", {*q.min_duration_ms});
  if (q.max_duration_ms) sql.add("s.duration_ms <= ?", {*q.max_duration_ms});
  if (!q.application.empty()) sql.add("s.application_id = ?", {q.application});
  if (!q.policy.empty()) sql.add("s.policy = ?", {q.policy});
  if (!q.status.empty()) sql.add("r.status = ?", {q.status});
  if (!q.region.empty()) sql.add("s.region = ? COLLATE NOCASE", {q.region});
  if (!q.call_id.empty()) sql.add("s.call_id = ?", {q.call_id});
  if (q.sentiment == "positive") sql.add("s.sentiment >= ?", {transcribe::kPositiveFrom});
  if (q.sentiment == "negative") sql.add("s.sentiment <= ?", {transcribe::kNegativeFrom});
  if (q.sentiment == "neutral") {
    sql.add("s.sentiment > ? AND s.sentiment < ?",
            {transcribe::kNegativeFrom, transcribe::kPositiveFrom});
  }
  if (!q.only.empty()) {
    std::string cond = "s.recording_id IN (";
    std::vector<json> vals;
    for (const auto& id : q.only) {
      cond += vals.empty() ? "?" : ", ?";
      vals.emplace_back(id);
    }
    sql.add(cond + ")", vals);
  }
  if (!q.group.empty()) {
    sql.add(
        "EXISTS (SELECT 1 FROM search_groups g WHERE g.grp = ? AND g.recording_id = "
        "s.recording_id)",
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
      cond +=
          " OR EXISTS (SELECT 1 FROM search_groups g WHERE g.grp = ? AND g.recording_id = "
          "s.recording_id)";
      vals.emplace_back(to_lower(g));
    }
    for (const auto& r : q.scope_regions) {
      cond += " OR s.region = ? COLLATE NOCASE";
      vals.emplace_back(r);
    }
    sql.add(cond + ")", vals);
  }
  // Phonetic: the recordings whose best utterance scores at or above the threshold, ranked by
  // that score (a sound-alike match is a guess; the likeliest come first).
  std::optional<ScopedFunction> phonetic;
  const int64_t threshold =
      std::llround(q.threshold.value_or(transcribe::kDefaultPhoneticThreshold) * 1000);
  std::string ranked;
  if (!q.phonetic.empty()) {
    auto phones = transcribe::query_phones(q.phonetic, q.dictionary);
    if (!phones) return bad("phonetic", phones.error().message).error();
    phonetic.emplace(catalog, "vb_phonetic", 1,
                     [codes = phones.value().codes](sqlite3_context* ctx, sqlite3_value** v) {
                       const auto m = transcribe::phonetic_match(codes, text_arg(v[0]));
                       sqlite3_result_int64(ctx, std::llround(m.score * 1000));
                     });
    sql.values.emplace_back(threshold);
    ranked =
        " JOIN (SELECT recording_id, score FROM (SELECT recording_id, MAX(vb_phonetic(phones)) "
        "AS score FROM search_utterances GROUP BY recording_id) WHERE score >= ?" +
        std::to_string(sql.values.size()) + ") ph ON ph.recording_id = s.recording_id";
    if (cursor_score) sql.add("(ph.score, " + key + ") < (?, ?)", {*cursor_score, cursor_key});
  }
  const size_t limit = std::clamp<size_t>(q.limit, 1, kMaxLimit);
  const std::string text =
      "SELECT s.recording_id, COALESCE(r.serial, 0), s.started_ms, s.duration_ms, "
      "COALESCE(s.direction, ''), COALESCE(s.origin_number, ''), COALESCE(s.dialed_number, ''), "
      "COALESCE(s.application_id, ''), COALESCE(s.policy, ''), r.status, "
      "COALESCE(s.region, ''), COALESCE(s.call_id, ''), s.sentiment, s.internal, " +
      key + std::string(ranked.empty() ? "" : ", ph.score") + from +
      " JOIN recordings r ON r.id = s.recording_id" + ranked + sql.where + " ORDER BY " +
      (ranked.empty() ? "" : "ph.score DESC, ") + key + " DESC LIMIT " + std::to_string(limit + 1);
  SqliteStmt s(catalog, text.c_str());
  if (!s.ok()) return catalog.error("searching the catalog");
  bind_all(s, sql.values);
  Page page;
  page.led_by = driver == Driver::kList        ? "list"
                : driver == Driver::kWords     ? "words"
                : driver == Driver::kParties   ? "parties"
                : driver == Driver::kPartyKeys ? (lookup->number ? "party number" : "party parts")
                : driver == Driver::kNumbers   ? "number prefix"
                                               : "rows";
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
    if (!s.is_null(12)) h.sentiment = s.real(12);
    h.internal = s.int64(13) != 0;
    h.key = s.int64(14);
    if (!ranked.empty()) h.score = static_cast<double>(s.int64(15)) / 1000;
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
  // The groups as the catalog names them (the index keeps them in lower case, for matching).
  SqliteStmt g(catalog,
               "SELECT j.value FROM recordings r, json_each(r.metadata, '$.groups') j "
               "WHERE r.id = ?1 AND j.type = 'text' ORDER BY j.key");
  for (auto& h : page.hits) {
    g.reset();
    g.bind(1, h.id);
    while (g.step() == kSqliteRow) h.groups.push_back(g.text(0));
  }
  if (!said.clauses.empty()) {
    // The first three utterances that say any of it, highlighted.
    SqliteStmt t(catalog,
                 "SELECT u.speaker, u.start_ms, t.text FROM search_utterances u CROSS JOIN "
                 "search_utterance_text t ON t.rowid = u.id WHERE u.recording_id = ?1 ORDER BY "
                 "u.start_ms, u.id");
    for (auto& h : page.hits) {
      t.reset();
      t.bind(1, h.id);
      while (h.matches.size() < 3 && t.step() == kSqliteRow) {
        std::string marked = said.highlight(t.text(2));
        if (!marked.empty()) h.matches.push_back({"text", t.text(0), t.int64(1), marked, 0});
      }
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
      "SELECT DISTINCT o.recording_id, CASE me.key WHEN 'session-uuid' THEN 'same session' ELSE "
      "me.key || '=' || me.value END FROM search_data me JOIN "
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
  if (h.internal) j["internal"] = true;
  put("origin", h.origin_number);
  put("dialed", h.dialed_number);
  put("application", h.application);
  put("policy", h.policy);
  put("region", h.region);
  put("callId", h.call_id);
  if (!h.groups.empty()) j["groups"] = h.groups;
  if (h.score) j["score"] = *h.score;
  if (h.sentiment) {
    j["sentiment"] = {{"score", *h.sentiment},
                      {"label", transcribe::sentiment_label(*h.sentiment)}};
  }
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
  out << "  " << (h.direction.empty() ? "-" : h.direction) << (h.internal ? " internal" : "")
      << "  ";
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

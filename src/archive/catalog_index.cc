#include "archive/catalog_index.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include <sqlite3.h>

#include "common/clock.h"

namespace verbatim::archive {

using nlohmann::json;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "sip:Alice@Example.com;user=phone" -> "alice@example.com"; display parts and parameters go.
std::string plain_aor(std::string_view aor) {
  std::string_view a = aor;
  if (const auto lt = a.find('<'); lt != std::string_view::npos) {
    a.remove_prefix(lt + 1);
    if (const auto gt = a.find('>'); gt != std::string_view::npos) a = a.substr(0, gt);
  }
  for (std::string_view scheme : {"sips:", "sip:", "tel:"}) {
    if (a.size() > scheme.size() && lower(a.substr(0, scheme.size())) == scheme) {
      a.remove_prefix(scheme.size());
      break;
    }
  }
  if (const auto semi = a.find(';'); semi != std::string_view::npos) a = a.substr(0, semi);
  return lower(a);
}

std::string text_of(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t millis_of(const std::string& iso) {
  const auto t = parse_iso8601(iso);
  if (!t) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
}

struct Party {
  std::string role, name, aor, number;
};

Party party_of(const std::string& role, const json& p) {
  Party out{role, text_of(p, "name"), plain_aor(text_of(p, "aor")), ""};
  out.number = number_digits(text_of(p, "aor"));
  if (out.number.empty()) out.number = number_digits(out.name);
  return out;
}

Status step(SqliteStmt& s, SqliteDb& db, const char* what) {
  if (s.step() != kSqliteDone) return db.error(what);
  return ok_status();
}

}  // namespace

std::string number_digits(std::string_view text) {
  std::string_view user = text;
  const std::string plain = plain_aor(text);
  if (text.find(':') != std::string_view::npos || text.find('@') != std::string_view::npos) {
    user = plain;
    if (const auto at = user.find('@'); at != std::string_view::npos) user = user.substr(0, at);
  }
  std::string digits;
  for (char c : user) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits.push_back(c);
    } else if (c == '+' && digits.empty()) {
      continue;
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' && c != '/') {
      return "";  // letters: a name, not a number
    }
  }
  return digits;
}

std::string party_search_text(std::string_view name, std::string_view aor,
                              std::string_view number) {
  std::string out = lower(name);
  out += '\n';
  out += aor;
  out += '\n';
  out += number;
  out += '\n';
  return out;
}

std::vector<std::string> number_keys(std::string_view text) {
  std::set<std::string> keys;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    for (size_t from = i; from + kMinNumberDigits <= end; ++from) {
      keys.emplace(text.substr(from, std::min(kNumberKeyDigits, end - from)));
    }
    i = end;
  }
  return {keys.begin(), keys.end()};
}

namespace {

bool is_word_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || u >= 0x80;  // UTF-8 letters are word characters too
}

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20; }

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Whether a lookup may start at `at` of `text`: in a word, not inside a UTF-8 character, with
// kMinWordBytes or more of the word from there, not all of them digits.
bool part_starts_at(std::string_view text, size_t at) {
  if (at >= text.size() || !is_word_byte(text[at]) || is_continuation(text[at])) return false;
  size_t end = at;
  bool digits_only = true;
  for (; end < text.size() && is_word_byte(text[end]); ++end) {
    digits_only = digits_only && std::isdigit(static_cast<unsigned char>(text[end])) != 0;
  }
  return end - at >= kMinWordBytes && !digits_only;
}

}  // namespace

std::vector<std::string> part_keys(std::string_view text) {
  std::set<std::string> keys;
  for (size_t line = 0; line < text.size();) {  // lines end at any control character
    const size_t end =
        std::find_if(text.begin() + static_cast<std::ptrdiff_t>(line), text.end(), is_control) -
        text.begin();
    const std::string_view l = text.substr(line, end - line);
    for (size_t at = 0; at < l.size(); ++at) {
      if (part_starts_at(l, at)) keys.emplace(l.substr(at, kPartKeyBytes));
    }
    line = end + 1;
  }
  return {keys.begin(), keys.end()};
}

std::optional<size_t> part_lookup_start(std::string_view text) {
  if (std::any_of(text.begin(), text.end(), is_control)) return std::nullopt;  // keys end there
  for (size_t at = 0; at < text.size(); ++at) {
    // The start, or a word's start: the text before it is then in the parties' text before it.
    if ((at == 0 || !is_word_byte(text[at - 1])) && part_starts_at(text, at)) return at;
  }
  return std::nullopt;
}

namespace {

// The two tables of party keys, each filled from the parties' text by its own function.
struct KeyTable {
  const char* table;
  const char* column;
  const char* filled;  // the archive_info key set once an archive's older rows were filled
  std::vector<std::string> (*keys)(std::string_view);
};
constexpr KeyTable kNumberTable{"search_numbers", "digits", "search_numbers_filled", number_keys};
constexpr KeyTable kPartTable{"search_party_parts", "part", "search_party_parts_filled", part_keys};

// Adds (or with `remove`, removes) one recording's keys of `t`, from its parties' text.
Status put_keys(SqliteDb& db, const KeyTable& t, int64_t key, std::string_view party_text,
                bool remove) {
  const std::string sql =
      remove ? std::string("DELETE FROM ") + t.table + " WHERE " + t.column + " = ?1 AND key = ?2"
             : std::string("INSERT OR IGNORE INTO ") + t.table + "(" + t.column +
                   ", key) VALUES(?1, ?2)";
  SqliteStmt s(db, sql.c_str());
  for (const auto& k : t.keys(party_text)) {
    s.reset();
    s.bind(1, k);
    s.bind(2, key);
    VB_TRY(step(s, db, "indexing the parties' numbers and parts"));
  }
  return ok_status();
}

// The recording's words in one row of search_recording_text (rowid: its search key), from its
// utterances; no row when it has none (or is not indexed).
Status refresh_recording_text(SqliteDb& db, const std::string& recording_id) {
  SqliteStmt d(db,
               "DELETE FROM search_recording_text WHERE rowid = "
               "(SELECT rowid FROM search_index WHERE recording_id = ?1)");
  d.bind(1, recording_id);
  VB_TRY(step(d, db, "updating the recording's words in the index"));
  SqliteStmt i(db,
               "INSERT INTO search_recording_text(rowid, text) SELECT s.rowid, w.words FROM "
               "search_index s, (SELECT group_concat(t.text, char(10)) AS words FROM "
               "search_utterances u JOIN search_utterance_text t ON t.rowid = u.id WHERE "
               "u.recording_id = ?1) w WHERE s.recording_id = ?1 AND w.words IS NOT NULL");
  i.bind(1, recording_id);
  return step(i, db, "updating the recording's words in the index");
}

}  // namespace

Status index_utterances(SqliteDb& db, const std::string& recording_id, const std::string& object_id,
                        const std::vector<IndexedUtterance>& utterances) {
  SqliteStmt row(
      db,
      "INSERT INTO search_utterances(recording_id, object_id, speaker, start_ms, end_ms, "
      "phones) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  SqliteStmt text(db, "INSERT INTO search_utterance_text(rowid, text) VALUES (?1, ?2)");
  for (const auto& u : utterances) {
    row.reset();
    row.bind(1, recording_id);
    row.bind(2, object_id);
    row.bind(3, u.speaker);
    row.bind(4, u.start_ms);
    row.bind(5, u.end_ms);
    row.bind(6, u.phones);
    VB_TRY(step(row, db, "indexing a transcript"));
    text.reset();
    text.bind(1, static_cast<int64_t>(sqlite3_last_insert_rowid(db.handle())));
    text.bind(2, u.text);
    VB_TRY(step(text, db, "indexing a transcript"));
  }
  return refresh_recording_text(db, recording_id);
}

Status drop_utterances(SqliteDb& db, const std::string& recording_id) {
  SqliteStmt t(db,
               "DELETE FROM search_utterance_text WHERE rowid IN "
               "(SELECT id FROM search_utterances WHERE recording_id = ?1)");
  t.bind(1, recording_id);
  VB_TRY(step(t, db, "removing a transcript from the index"));
  SqliteStmt u(db, "DELETE FROM search_utterances WHERE recording_id = ?1");
  u.bind(1, recording_id);
  VB_TRY(step(u, db, "removing a transcript from the index"));
  return refresh_recording_text(db, recording_id);
}

Status index_recording(SqliteDb& db, const std::string& id, const json& m) {
  {  // Its numbers, found from the parties' text they were made from.
    SqliteStmt old(db,
                   "SELECT t.rowid, t.text FROM search_index s JOIN search_party_text t ON "
                   "t.rowid = s.rowid WHERE s.recording_id = ?1");
    old.bind(1, id);
    if (old.step() == kSqliteRow) {
      for (const KeyTable* t : {&kNumberTable, &kPartTable}) {
        VB_TRY(put_keys(db, *t, old.int64(0), old.text(1), true));
      }
    }
  }
  for (const char* text : {"search_party_text", "search_recording_text"}) {
    SqliteStmt d(db, (std::string("DELETE FROM ") + text +
                      " WHERE rowid = (SELECT rowid FROM search_index WHERE recording_id = ?1)")
                         .c_str());
    d.bind(1, id);
    VB_TRY(step(d, db, "updating the search index"));
  }
  for (const char* table : {"search_index", "search_parties", "search_groups", "search_data"}) {
    SqliteStmt d(db, (std::string("DELETE FROM ") + table + " WHERE recording_id = ?1").c_str());
    d.bind(1, id);
    VB_TRY(step(d, db, "updating the search index"));
  }
  if (!m.is_object()) return ok_status();
  int64_t started_ms = millis_of(text_of(m, "startedAt"));
  if (started_ms == 0) {
    SqliteStmt c(db, "SELECT created_at FROM recordings WHERE id = ?1");
    c.bind(1, id);
    if (c.step() == kSqliteRow) started_ms = millis_of(c.text(0));
  }
  std::optional<int64_t> duration_ms;
  if (const auto d = m.find("durationSeconds"); d != m.end() && d->is_number()) {
    duration_ms = static_cast<int64_t>(std::llround(d->get<double>() * 1000));
  }
  const json call = m.value("call", json::object());
  std::vector<Party> parties;
  std::string origin, dialed;
  if (call.is_object()) {
    if (call.contains("origin") && call["origin"].is_object()) {
      parties.push_back(party_of("origin", call["origin"]));
      origin = parties.back().number;
    }
    if (call.contains("dialed") && call["dialed"].is_object()) {
      parties.push_back(party_of("dialed", call["dialed"]));
      dialed = parties.back().number;
    }
  }
  if (const auto ps = m.find("participants"); ps != m.end() && ps->is_array()) {
    for (const auto& p : *ps) {
      if (p.is_object()) parties.push_back(party_of("participant", p));
    }
  }
  const std::string direction = call.is_object() ? text_of(call, "direction") : "";
  int64_t row = search_key_base(started_ms);
  {  // The next free key of its millisecond.
    SqliteStmt k(db, "SELECT MAX(rowid) FROM search_index WHERE rowid >= ?1 AND rowid < ?1 + ?2");
    k.bind(1, row);
    k.bind(2, kSearchKeysPerMs);
    if (k.step() != kSqliteRow) return db.error("indexing the recording");
    if (!k.is_null(0)) row = k.int64(0) + 1;
    if (row >= search_key_base(started_ms) + kSearchKeysPerMs) {
      return make_error(ErrorCode::kResourceExhausted,
                        "indexing the recording: over 2^20 recordings start in its millisecond");
    }
  }
  SqliteStmt s(db,
               "INSERT INTO search_index(recording_id, started_ms, duration_ms, direction, "
               "origin_number, dialed_number, application_id, policy, region, call_id, rowid, "
               "sentiment, internal) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
               "?13)");
  s.bind(1, id);
  s.bind(11, row);
  s.bind(2, started_ms);
  auto bind_text = [&](int i, const std::string& v) {
    if (v.empty()) {
      s.bind_null(i);
    } else {
      s.bind(i, v);
    }
  };
  if (duration_ms) {
    s.bind(3, *duration_ms);
  } else {
    s.bind_null(3);
  }
  bind_text(4, direction);
  bind_text(5, origin);
  bind_text(6, dialed);
  bind_text(7, text_of(m, "application_id"));
  bind_text(8, text_of(m, "policy"));
  bind_text(9, text_of(m, "region"));
  bind_text(10, text_of(m, "callId"));
  const json* score = &m;
  for (const char* k : {"transcripts", "sentiment", "overall", "score"}) {
    score = score->is_object() && score->contains(k) ? &(*score)[k] : nullptr;
    if (!score) break;
  }
  const bool internal = call.is_object() && call.contains("internal") &&
                        call["internal"].is_boolean() &&
                        call["internal"].get<bool>();  // metadata edited by hand may hold anything
  s.bind(13, int64_t{internal ? 1 : 0});
  if (score && score->is_number()) {
    s.bind_real(12, score->get<double>());
  } else {
    s.bind_null(12);
  }
  VB_TRY(step(s, db, "indexing the recording"));
  std::string text;
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  for (const auto& p : parties) {
    if (!seen.insert({p.name, p.aor, p.number}).second) continue;
    SqliteStmt ins(db,
                   "INSERT INTO search_parties(recording_id, role, name, aor, number) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)");
    ins.bind(1, id);
    ins.bind(2, p.role);
    ins.bind(3, p.name);
    ins.bind(4, p.aor);
    ins.bind(5, p.number);
    VB_TRY(step(ins, db, "indexing the recording's parties"));
    text += party_search_text(p.name, p.aor, p.number);
  }
  SqliteStmt t(db, "INSERT INTO search_party_text(rowid, text) VALUES(?1, ?2)");
  t.bind(1, row);
  t.bind(2, text);
  VB_TRY(step(t, db, "indexing the recording's parties"));
  for (const KeyTable* t : {&kNumberTable, &kPartTable}) {
    VB_TRY(put_keys(db, *t, row, text, false));
  }
  if (const auto gs = m.find("groups"); gs != m.end() && gs->is_array()) {
    for (const auto& g : *gs) {
      if (!g.is_string()) continue;
      SqliteStmt ins(db, "INSERT OR IGNORE INTO search_groups(recording_id, grp) VALUES(?1, ?2)");
      ins.bind(1, id);
      ins.bind(2, lower(g.get<std::string>()));
      VB_TRY(step(ins, db, "indexing the recording's groups"));
    }
  }
  if (const auto bs = m.find("business"); bs != m.end() && bs->is_array()) {
    for (const auto& b : *bs) {
      if (!b.is_object() || text_of(b, "key").empty()) continue;
      SqliteStmt ins(db,
                     "INSERT OR IGNORE INTO search_data(recording_id, key, value, source) "
                     "VALUES(?1, ?2, ?3, ?4)");
      ins.bind(1, id);
      ins.bind(2, lower(text_of(b, "key")));
      ins.bind(3, text_of(b, "value"));
      ins.bind(4, text_of(b, "source"));
      VB_TRY(step(ins, db, "indexing the recording's business data"));
    }
  }
  return refresh_recording_text(db, id);
}

// Only recordings past the serial the last pass reached are looked at (archive_info
// "search_indexed_serial"), so opening a large archive does not scan its catalog: everything this
// binary creates is indexed in its own transaction; what a pass finds was made by an older one.
Result<size_t> index_missing(SqliteDb& db) {
  if (auto filled = fill_party_keys(db); !filled) return filled.error();
  int64_t done = 0;
  {
    SqliteStmt m(db, "SELECT value FROM archive_info WHERE key = 'search_indexed_serial'");
    if (m.step() == kSqliteRow) done = std::strtoll(m.text(0).c_str(), nullptr, 10);
  }
  std::vector<std::pair<std::string, std::string>> todo;
  int64_t last = done;
  {
    SqliteStmt s(db,
                 "SELECT id, metadata, serial, id IN (SELECT recording_id FROM search_index) "
                 "FROM recordings WHERE serial > ?1 ORDER BY serial");
    s.bind(1, done);
    int rc;
    while ((rc = s.step()) == kSqliteRow) {
      if (s.int64(3) == 0) todo.emplace_back(s.text(0), s.text(1));
      last = s.int64(2);
    }
    if (rc != kSqliteDone) return db.error("reading recordings to index");
  }
  for (const auto& [id, text] : todo) {
    VB_TRY(index_recording(db, id, json::parse(text, nullptr, false)));
  }
  if (last != done) {
    SqliteStmt u(db,
                 "INSERT INTO archive_info(key, value) VALUES('search_indexed_serial', ?1) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    u.bind(1, std::to_string(last));
    VB_TRY(step(u, db, "noting how far the search index reaches"));
  }
  return todo.size();
}

// Keys arrive in search-key order; inserting them so would touch a random page of the table for
// each. So they are sorted in memory and appended in order, a range of first bytes at a time: a
// first pass counts the keys under each two-byte start, and the ranges are cut so that each pass
// holds at most `max_pairs` keys (24 bytes each). Each pass reads the parties' text again.
namespace {

// A key of up to 16 bytes (no zero byte) in memcmp order, shorter keys padded with zeros, so
// pairs sort as SQLite sorts the text.
struct PackedKey {
  std::array<uint64_t, 2> v{};
  bool operator<(const PackedKey& o) const { return v < o.v; }
};
static_assert(kNumberKeyDigits <= 16 && kPartKeyBytes <= 16);

PackedKey pack_key(std::string_view k) {
  PackedKey p;
  for (size_t i = 0; i < 16; ++i) {
    p.v[i / 8] = (p.v[i / 8] << 8) | (i < k.size() ? static_cast<unsigned char>(k[i]) : 0U);
  }
  return p;
}

std::string unpack_key(const PackedKey& p) {
  std::string out;
  for (size_t i = 0; i < 16; ++i) {
    const char c = static_cast<char>((p.v[i / 8] >> (56 - 8 * (i % 8))) & 0xff);
    if (c == 0) break;
    out.push_back(c);
  }
  return out;
}

// The bucket of a key (3 bytes or more): its first two bytes.
size_t bucket_of(std::string_view key) {
  return (static_cast<size_t>(static_cast<unsigned char>(key[0])) << 8) |
         static_cast<unsigned char>(key[1]);
}

// Calls `f(key, k)` for every key of `t` of every recording's parties' text.
template <typename F>
Status each_key(SqliteDb& db, const KeyTable& t, F&& f, size_t* read) {
  SqliteStmt text(db, "SELECT rowid, text FROM search_party_text");
  int rc;
  while ((rc = text.step()) == kSqliteRow) {
    if (read) ++*read;
    const int64_t key = text.int64(0);
    for (const auto& k : t.keys(text.text(1))) f(key, k);
  }
  if (rc != kSqliteDone) return db.error("filling the parties' numbers and parts");
  return ok_status();
}

Result<size_t> fill_keys(SqliteDb& db, const KeyTable& t, size_t max_pairs) {
  {
    SqliteStmt f(db, "SELECT 1 FROM archive_info WHERE key = ?1");
    f.bind(1, std::string(t.filled));
    if (f.step() == kSqliteRow) return size_t{0};
  }
  std::vector<size_t> in_bucket(size_t{1} << 16);
  size_t read = 0;
  VB_TRY(each_key(
      db, t, [&](int64_t, const std::string& k) { ++in_bucket[bucket_of(k)]; }, &read));
  const std::string insert =
      std::string("INSERT OR IGNORE INTO ") + t.table + "(" + t.column + ", key) VALUES(?1, ?2)";
  SqliteStmt ins(db, insert.c_str());
  std::vector<std::pair<PackedKey, int64_t>> pairs;
  for (size_t from = 0; from < in_bucket.size();) {
    size_t to = from;
    size_t n = 0;
    while (to < in_bucket.size() && (to == from || n + in_bucket[to] <= max_pairs)) {
      n += in_bucket[to++];
    }
    if (n > 0) {
      pairs.clear();
      pairs.reserve(n);
      VB_TRY(each_key(
          db, t,
          [&](int64_t key, const std::string& k) {
            if (const size_t b = bucket_of(k); b >= from && b < to) {
              pairs.emplace_back(pack_key(k), key);
            }
          },
          nullptr));
      std::sort(pairs.begin(), pairs.end());
      for (const auto& [k, key] : pairs) {
        ins.reset();
        ins.bind(1, unpack_key(k));
        ins.bind(2, key);
        VB_TRY(step(ins, db, "filling the parties' numbers and parts"));
      }
    }
    from = to;
  }
  SqliteStmt done(db, "INSERT INTO archive_info(key, value) VALUES(?1, '1')");
  done.bind(1, std::string(t.filled));
  VB_TRY(step(done, db, "filling the parties' numbers and parts"));
  return read;
}

}  // namespace

PartyKeysFilled party_keys_filled(SqliteDb& db) {
  auto filled = [&](const KeyTable& t) {
    SqliteStmt f(db, "SELECT 1 FROM archive_info WHERE key = ?1");
    f.bind(1, std::string(t.filled));
    return f.step() == kSqliteRow;
  };
  return {filled(kNumberTable), filled(kPartTable)};
}

Result<size_t> fill_party_keys(SqliteDb& db, size_t max_pairs) {
  size_t read = 0;
  for (const KeyTable* t : {&kNumberTable, &kPartTable}) {
    auto n = fill_keys(db, *t, max_pairs);
    if (!n) return n.error();
    read = std::max(read, n.value());
  }
  return read;
}

}  // namespace verbatim::archive

// Search at archive scale: generates N synthetic interactions (default 10 million) straight into
// the catalog's search index, in the rows catalog_index.cc writes, then times the query mix of
// issue 17 through search::run (what `verbatim search` and GET /api/v1/recordings call) on one
// core: participant, a part of a number (3 to 8 digits), number prefix, time window, text word,
// and participant, window, direction and word combined. Reports p50,
// p95 and max per kind and the index's size on disk (SQLite's dbstat).
//
// The peer, in the same run: the straightforward SQL for the same query (every match listed by
// its index, then sorted by start time for the newest page), which is also the check that the
// driver-led plan finds the same first page.
//
// What is generated (seeded, so every run makes the same archive):
//   - starts: Poisson arrivals over two years (2025-01-01 to 2026-12-31);
//   - 20,000 employees ("First Last", first.last@bank.example, +44 20 7946 xxxx extension
//     numbers), each call's employee drawn by a Zipf law (some traders talk all day);
//   - 2 million counterparties by number, with the country mix of a London desk (44, 1, 49, 33,
//     65, 852, 41, 81, ...), a third of them named, drawn by a Zipf law;
//   - direction inbound 45 %, outbound 45 %, internal 10 % (two employees; no direction);
//   - duration log-normal around 90 s; 3 applications, 5 policies, 3 regions, 40 desks (groups);
//   - status complete 98 %, interrupted 1.5 %, partial 0.5 %;
//   - business data: a trade id on 30 %, an API ticket on 10 %;
//   - a transcript per call: --words words (default 48) in utterances of 12, drawn by a Zipf law
//     (s = 1.0) over 20,000 words of the CMU dictionary in a seeded order.
// The parties' numbers and parts (search_numbers, search_party_parts) are filled after the rows
// by archive::fill_party_keys, as the writer fills an archive indexed before them. The generated
// archive is kept (--db) and reused when it has the same N.
//
// Usage: bench_search [--interactions N] [--db PATH] [--queries K] [--peer K] [--words W]
//                     [--kind K] [--few-words N] [--count-cap N] [--list-cap N]
//        bench_search --emit-queries K   (the query mix as JSON lines, for bench/portal_search.py)
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "archive/catalog_index.h"
#include "archive/schema.h"
#include "common/sqlite.h"
#include "search/search.h"

namespace {

using namespace verbatim;  // NOLINT(google-build-using-namespace)
using Clock = std::chrono::steady_clock;

constexpr int64_t kFrom = 1'735'689'600'000;  // 2025-01-01T00:00:00Z
constexpr int64_t kTo = 1'798'761'600'000;    // 2027-01-01T00:00:00Z
constexpr int kEmployees = 20000;
constexpr int kCounterparties = 2'000'000;
constexpr int kVocabulary = 20000;
constexpr int kWordsPerUtterance = 12;

struct Options {
  int64_t interactions = 10'000'000;
  std::string db;
  int queries = 200;
  int peer = 10;
  int peer_seconds = 20;
  bool size = true;  // --size 0: skip measuring the index (a read of the whole file)
  int words = 48;
  std::string kind;          // --kind K: only this kind of query ("combined", ...)
  int emit = 0;              // --emit-queries K: print K of each kind as JSON lines, then exit
  search::Query::Plan plan;  // --few-words, --count-cap, --list-cap: the search's thresholds
};

// A Zipf law over ranks 0..n-1 (s = 1 unless given): the cumulative weights, drawn by binary
// search.
class Zipf {
 public:
  explicit Zipf(int n, double s = 1.0) : cdf_(static_cast<size_t>(n)) {
    double sum = 0;
    for (int i = 0; i < n; ++i) cdf_[static_cast<size_t>(i)] = sum += 1.0 / std::pow(i + 1, s);
    for (auto& c : cdf_) c /= sum;
  }
  int operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

const char* const kFirst[] = {
    "james",  "mary",    "john",   "patricia", "robert",  "jennifer", "michael", "linda",
    "david",  "susan",   "oliver", "amelia",   "harry",   "isla",     "jack",    "ava",
    "george", "emily",   "noah",   "sophia",   "charlie", "grace",    "jacob",   "lily",
    "thomas", "freya",   "oscar",  "chloe",    "william", "ella",     "leo",     "mia",
    "arjun",  "priya",   "wei",    "mei",      "hiroshi", "yuki",     "lukas",   "anna",
    "pierre", "camille", "mateo",  "lucia",    "omar",    "fatima",   "ivan",    "olga",
    "sean",   "aoife",   "raj",    "ananya",   "chen",    "li",       "kenji",   "sakura",
    "felix",  "clara",   "hugo",   "elena",    "samuel",  "hannah",   "daniel",  "zoe"};
const char* const kLast[] = {
    "smith",    "jones",   "taylor",    "brown",   "williams", "wilson",    "johnson", "davies",
    "robinson", "wright",  "thompson",  "evans",   "walker",   "white",     "roberts", "green",
    "hall",     "wood",    "jackson",   "clarke",  "patel",    "khan",      "lewis",   "james",
    "phillips", "mason",   "mitchell",  "rose",    "davis",    "rodriguez", "cox",     "alexander",
    "garcia",   "martin",  "lee",       "nguyen",  "wang",     "zhang",     "tanaka",  "suzuki",
    "mueller",  "schmidt", "schneider", "fischer", "dubois",   "laurent",   "moreau",  "rossi",
    "russo",    "ferrari", "kowalski",  "novak",   "ivanov",   "petrov",    "murphy",  "kelly",
    "obrien",   "singh",   "sharma",    "gupta",   "kim",      "park",      "cohen",   "levy"};
const char* const kFirms[] = {
    "Acme Capital",         "Northwind Securities",  "Fabrikam Asset Mgmt", "Contoso Bank",
    "Tailspin Investments", "Woodgrove Partners",    "Litware Brokerage",   "Adatum Pensions",
    "Proseware Trading",    "Fourth Coffee Treasury"};
struct Country {
  const char* code;
  int digits;  // national number length
  int weight;
};
const Country kCountries[] = {{"44", 10, 40}, {"1", 10, 25}, {"49", 11, 10}, {"33", 9, 8},
                              {"65", 8, 5},   {"852", 8, 4}, {"41", 9, 4},   {"81", 10, 4}};

std::string employee_name(int i) {
  const auto nf = std::size(kFirst);
  const auto nl = std::size(kLast);
  const auto u = static_cast<size_t>(i);
  std::string first = kFirst[u % nf];
  std::string last = kLast[(u / nf) % nl];
  first[0] = static_cast<char>(std::toupper(first[0]));
  last[0] = static_cast<char>(std::toupper(last[0]));
  return first + " " + last;
}
std::string employee_aor(int i) {
  const auto nf = std::size(kFirst);
  const auto nl = std::size(kLast);
  const auto u = static_cast<size_t>(i);
  std::string aor = std::string(kFirst[u % nf]) + "." + kLast[(u / nf) % nl];
  if (u >= nf * nl) aor += std::to_string(u / (nf * nl));  // james.smith4@
  return aor + "@bank.example";
}
std::string employee_number(int i) {
  const std::string ext = std::to_string(100000 + i);
  return "44207946" + ext.substr(ext.size() - 5);  // +44 20 7946 xxxxx... 12 digits
}

struct Counterparty {
  std::string number, name;
};

std::vector<Counterparty> make_counterparties(std::mt19937_64& rng) {
  std::vector<Counterparty> out(kCounterparties);
  std::vector<double> weights;
  for (const auto& c : kCountries) weights.push_back(c.weight);
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  for (auto& c : out) {
    const Country& k = kCountries[pick(rng)];
    c.number = k.code;
    // Area codes cluster: the first national digits are from a small set.
    c.number += std::to_string(2 + rng() % 8);
    for (int d = 1; d < k.digits; ++d) c.number += static_cast<char>('0' + rng() % 10);
    if (rng() % 3 == 0) c.name = kFirms[rng() % std::size(kFirms)];
  }
  return out;
}

std::vector<std::string> vocabulary(std::mt19937_64& rng) {
  std::ifstream in("/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict");
  std::vector<std::string> words;
  std::string line;
  while (std::getline(in, line)) {
    const std::string w = line.substr(0, line.find(' '));
    if (w.size() < 2 || w.size() > 10) continue;
    if (!std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; })) continue;
    words.push_back(w);
  }
  if (words.size() < static_cast<size_t>(kVocabulary)) {
    std::cerr << "bench_search: the CMU dictionary of pocketsphinx-en-us is missing\n";
    std::exit(2);
  }
  std::shuffle(words.begin(), words.end(), rng);
  words.resize(kVocabulary);
  return words;
}

std::string hex_id(uint64_t i) {
  auto mix = [](uint64_t x) {  // splitmix64
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(mix(i)),
                static_cast<unsigned long long>(mix(i ^ 0x5555555555555555ULL)));
  return buf;
}

void check(SqliteDb& db, Status s) {
  if (!s) {
    std::cerr << "bench_search: " << s.error().message << "\n";
    std::exit(1);
  }
  (void)db;
}

void step(SqliteDb& db, SqliteStmt& s) {
  if (s.step() != kSqliteDone) check(db, db.error("generating"));
  s.reset();
}

void generate(SqliteDb& db, const Options& o) {
  std::mt19937_64 rng(17);
  const auto words = vocabulary(rng);
  const auto parties = make_counterparties(rng);
  const Zipf employee(kEmployees, 0.8), counterparty(kCounterparties, 1.0), word(kVocabulary);
  const char* const apps[] = {"verba-prod", "verba-dr", "nice-archive"};
  const char* const policies[] = {"Traders", "Sales", "Advisers", "Executives", "Operations"};
  const char* const regions[] = {"emea", "amer", "apac"};
  check(db, db.exec("PRAGMA foreign_keys=OFF; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                    "PRAGMA cache_size=-2000000; BEGIN"));
  SqliteStmt rec(
      db,
      "INSERT INTO recordings(id, status, reason, metadata, created_at, retention_until, "
      "ledger_seq, serial) VALUES(?1, ?2, NULL, '{}', ?3, '2033-01-01T00:00:00Z', ?4, "
      "?4)");
  SqliteStmt idx(db,
                 "INSERT INTO search_index(rowid, recording_id, started_ms, duration_ms, "
                 "direction, origin_number, dialed_number, application_id, policy, region, "
                 "call_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  SqliteStmt party(db,
                   "INSERT INTO search_parties(recording_id, role, name, aor, number) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)");
  SqliteStmt ptext(db, "INSERT INTO search_party_text(rowid, text) VALUES(?1, ?2)");
  SqliteStmt grp(db, "INSERT OR IGNORE INTO search_groups(recording_id, grp) VALUES(?1, ?2)");
  SqliteStmt data(db,
                  "INSERT OR IGNORE INTO search_data(recording_id, key, value, source) "
                  "VALUES(?1, ?2, ?3, ?4)");
  SqliteStmt utt(db,
                 "INSERT INTO search_utterances(recording_id, object_id, speaker, start_ms, "
                 "end_ms, phones) VALUES(?1, ?2, ?3, ?4, ?5, '')");
  SqliteStmt utext(db, "INSERT INTO search_utterance_text(rowid, text) VALUES(?1, ?2)");
  SqliteStmt rtext(db, "INSERT INTO search_recording_text(rowid, text) VALUES(?1, ?2)");
  const double gap = static_cast<double>(kTo - kFrom) / static_cast<double>(o.interactions);
  std::exponential_distribution<double> arrival(1.0 / gap);
  std::lognormal_distribution<double> duration(std::log(90.0), 0.9);
  double t = kFrom;
  int64_t last_ms = -1, seq = 0;
  const auto began = Clock::now();
  for (int64_t i = 0; i < o.interactions; ++i) {
    t += arrival(rng);
    const auto started = std::min<int64_t>(static_cast<int64_t>(t), kTo - 1);
    seq = started == last_ms ? seq + 1 : 0;
    last_ms = started;
    const int64_t key = archive::search_key_base(started) + seq;
    const std::string id = hex_id(static_cast<uint64_t>(i));
    const int64_t dur = std::clamp<int64_t>(std::llround(duration(rng) * 1000), 2000, 7'200'000);
    const int dir = static_cast<int>(rng() % 20);  // 0-8 inbound, 9-17 outbound, 18-19 internal
    const int emp = employee(rng);
    struct P {
      std::string name, aor, number;
    };
    const P me{employee_name(emp), employee_aor(emp), employee_number(emp)};
    P other;
    if (dir >= 18) {
      const int e2 = employee(rng);
      other = {employee_name(e2), employee_aor(e2), employee_number(e2)};
    } else {
      const auto& c = parties[static_cast<size_t>(counterparty(rng))];
      other = {c.name, c.number + "@pstn.bank.example", c.number};
    }
    const P& origin = dir < 9 || dir >= 18 ? other : me;
    const P& dialed = &origin == &me ? other : me;
    const uint64_t r = rng();
    const char* status = r % 1000 < 980 ? "complete" : r % 1000 < 995 ? "interrupted" : "partial";
    rec.bind(1, id);
    rec.bind(2, std::string(status));
    rec.bind(3, std::string("2026-01-01T00:00:00Z"));
    rec.bind(4, i + 1);
    step(db, rec);
    idx.bind(1, key);
    idx.bind(2, id);
    idx.bind(3, started);
    idx.bind(4, dur);
    if (dir < 18) {
      idx.bind(5, std::string(dir < 9 ? "inbound" : "outbound"));
    } else {
      idx.bind_null(5);
    }
    idx.bind(6, origin.number);
    idx.bind(7, dialed.number);
    idx.bind(8, std::string(apps[emp % 3 == 0 ? 2 : (r >> 20) % 50 == 0 ? 1 : 0]));
    idx.bind(9, std::string(policies[emp % 5]));
    idx.bind(10, std::string(regions[emp % 7 < 4 ? 0 : emp % 7 < 6 ? 1 : 2]));
    idx.bind(11, hex_id(static_cast<uint64_t>(i) + 0x1000000000ULL).substr(0, 24));
    step(db, idx);
    std::string text;
    for (const auto& [role, p] : {std::pair<const char*, const P*>{"origin", &origin},
                                  std::pair<const char*, const P*>{"dialed", &dialed}}) {
      party.bind(1, id);
      party.bind(2, std::string(role));
      party.bind(3, p->name);
      party.bind(4, p->aor);
      party.bind(5, p->number);
      step(db, party);
      text += archive::party_search_text(p->name, p->aor, p->number);
    }
    ptext.bind(1, key);
    ptext.bind(2, text);
    step(db, ptext);
    grp.bind(1, id);
    grp.bind(2, "desk-" + std::to_string(emp % 40));
    step(db, grp);
    if ((r >> 30) % 10 < 3) {
      data.bind(1, id);
      data.bind(2, std::string("x-trade-id"));
      data.bind(3, "T-" + std::to_string(i));
      data.bind(4, std::string("header"));
      step(db, data);
    }
    if ((r >> 40) % 10 == 0) {
      data.bind(1, id);
      data.bind(2, std::string("ticket"));
      data.bind(3, "INC" + std::to_string(i % 1'000'000));
      data.bind(4, std::string("api"));
      step(db, data);
    }
    std::string all;
    const std::string object = hex_id(static_cast<uint64_t>(i) + 0x2000000000ULL);
    for (int u = 0; u * kWordsPerUtterance < o.words; ++u) {
      std::string said;
      for (int w = 0; w < kWordsPerUtterance && u * kWordsPerUtterance + w < o.words; ++w) {
        if (!said.empty()) said += ' ';
        said += words[static_cast<size_t>(word(rng))];
      }
      utt.bind(1, id);
      utt.bind(2, object);
      utt.bind(3, u % 2 == 0 ? me.name : other.name);
      utt.bind(4, int64_t{u} * 5000);
      utt.bind(5, int64_t{u} * 5000 + 4000);
      step(db, utt);
      utext.bind(1, static_cast<int64_t>(sqlite3_last_insert_rowid(db.handle())));
      utext.bind(2, said);
      step(db, utext);
      all += (all.empty() ? "" : "\n") + said;
    }
    rtext.bind(1, key);
    rtext.bind(2, all);
    step(db, rtext);
    if ((i + 1) % 200000 == 0) {
      check(db, db.exec("COMMIT; BEGIN"));
      const double s = std::chrono::duration<double>(Clock::now() - began).count();
      std::cerr << "  generated " << (i + 1) << " interactions in " << std::llround(s) << " s\n";
    }
  }
  check(db, db.exec("COMMIT; PRAGMA journal_mode=WAL; ANALYZE"));
  check(db, db.exec(("INSERT INTO archive_info(key, value) VALUES('bench_interactions', '" +
                     std::to_string(o.interactions) + "')")
                        .c_str()));
}

int64_t stored_interactions(SqliteDb& db) {
  SqliteStmt s(db, "SELECT value FROM archive_info WHERE key = 'bench_interactions'");
  return s.step() == kSqliteRow ? std::strtoll(s.text(0).c_str(), nullptr, 10) : -1;
}

// The query mix, each kind with its parameters drawn from the same laws as the archive.
struct Case {
  std::string kind;
  std::map<std::string, std::string> params;
};

std::string iso_day(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<Case> query_mix(int per_kind) {
  // The archive's vocabulary and counterparties (its seed), then other draws of the same laws.
  std::mt19937_64 archive_rng(17);
  const auto words = vocabulary(archive_rng);
  const auto parties = make_counterparties(archive_rng);
  std::mt19937_64 rng(2026);
  const Zipf employee(kEmployees, 0.8);
  std::vector<Case> out;
  auto window = [&](int64_t days) {
    const int64_t span = days * 86'400'000;
    const int64_t from =
        kFrom + static_cast<int64_t>(rng() % static_cast<uint64_t>(kTo - kFrom - span));
    return std::make_pair(iso_day(from), iso_day(from + span));
  };
  auto who = [&](int i) -> std::string {
    const int e = employee(rng);
    switch (i % 4) {
      case 0:
        return employee_name(e);  // "Ava Smith"
      case 1:
        return employee_aor(e).substr(0, employee_aor(e).find('@'));  // ava.smith
      case 2:
        return kLast[static_cast<size_t>(e) / std::size(kFirst) % std::size(kLast)];
      default:
        return "+" + parties[rng() % parties.size()].number.substr(0, 9);  // a prefix
    }
  };
  // Words at every frequency: ranks drawn evenly on a log scale, 1 .. 20,000.
  auto spoken = [&] {
    const double r =
        std::exp(std::uniform_real_distribution<double>(0, std::log(kVocabulary))(rng));
    return words[std::min<size_t>(static_cast<size_t>(r) - 1, words.size() - 1)];
  };
  out.reserve(static_cast<size_t>(per_kind) * 6);
  for (int i = 0; i < per_kind; ++i) out.push_back({"participant", {{"participant", who(i)}}});
  for (int i = 0; i < per_kind; ++i) {  // 3 to 8 digits from anywhere in a number
    const auto& n = parties[rng() % parties.size()].number;
    const size_t len = 3 + rng() % 6;
    out.push_back({"number part", {{"participant", n.substr(rng() % (n.size() - len + 1), len)}}});
  }
  for (int i = 0; i < per_kind; ++i) {
    const auto& c = parties[rng() % parties.size()];
    out.push_back({"number prefix", {{"origin", "+" + c.number.substr(0, 3 + rng() % 5)}}});
  }
  for (int i = 0; i < per_kind; ++i) {
    const auto [from, to] = window(1 + static_cast<int64_t>(rng() % 30));
    out.push_back({"time window", {{"from", from}, {"to", to}}});
  }
  for (int i = 0; i < per_kind; ++i) out.push_back({"text word", {{"text", spoken()}}});
  for (int i = 0; i < per_kind; ++i) {
    const auto [from, to] = window(90);
    out.push_back({"combined",
                   {{"participant", employee_name(employee(rng))},
                    {"from", from},
                    {"to", to},
                    {"direction", i % 2 ? "inbound" : "outbound"},
                    {"text", spoken()}}});
  }
  return out;
}

// The straightforward SQL for the same query: each condition's matches in full, then sorted.
// Given up (nullopt) after `limit`: a common word lists millions of utterances.
std::optional<std::vector<std::string>> peer(SqliteDb& db, const search::Query& q,
                                             std::chrono::seconds limit) {
  std::string where = " WHERE 1";
  std::vector<std::string> values;
  auto add = [&](const std::string& cond, const std::string& v) {
    values.push_back(v);
    where += " AND " + cond;
  };
  if (!q.participant.empty()) {
    std::string match = "\"" + [&] {
      std::string l = q.participant;
      std::transform(l.begin(), l.end(), l.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      return l;
    }() + "\"";
    const std::string digits = archive::number_digits(q.participant);
    if (!digits.empty()) match += " OR \"" + digits + "\"";
    add("s.rowid IN (SELECT rowid FROM search_party_text WHERE search_party_text MATCH ?)", match);
  }
  if (!q.origin.empty()) {
    std::string d = archive::number_digits(q.origin);
    add("s.origin_number >= ?", d);
    d.back() = static_cast<char>(d.back() + 1);
    add("s.origin_number < ?", d);
  }
  if (q.from_ms) where += " AND s.rowid >= " + std::to_string(archive::search_key_base(*q.from_ms));
  if (q.to_ms) where += " AND s.rowid < " + std::to_string(archive::search_key_base(*q.to_ms));
  if (!q.direction.empty()) add("s.direction = ?", q.direction);
  if (!q.text.empty()) {
    add("s.recording_id IN (SELECT u.recording_id FROM search_utterances u WHERE u.id IN (SELECT "
        "rowid FROM search_utterance_text WHERE search_utterance_text MATCH ?))",
        "\"" + q.text + "\"");
  }
  const std::string sql =
      "SELECT s.recording_id FROM search_index s JOIN recordings r ON r.id = "
      "s.recording_id" +
      where + " ORDER BY s.started_ms DESC, s.rowid DESC LIMIT " + std::to_string(q.limit);
  SqliteStmt s(db, sql.c_str());
  for (size_t i = 0; i < values.size(); ++i) s.bind(static_cast<int>(i + 1), values[i]);
  const auto deadline = Clock::now() + limit;
  auto past = [](void* d) {
    return Clock::now() > *static_cast<const Clock::time_point*>(d) ? 1 : 0;
  };
  sqlite3_progress_handler(db.handle(), 10000, past, const_cast<Clock::time_point*>(&deadline));
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) out.push_back(s.text(0));
  sqlite3_progress_handler(db.handle(), 0, nullptr, nullptr);
  if (rc != kSqliteDone) return std::nullopt;
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--interactions") {
      o.interactions = std::stoll(v);
    } else if (a == "--db") {
      o.db = v;
    } else if (a == "--queries") {
      o.queries = std::stoi(v);
    } else if (a == "--peer") {
      o.peer = std::stoi(v);
    } else if (a == "--size") {
      o.size = v != "0";
    } else if (a == "--peer-seconds") {
      o.peer_seconds = std::stoi(v);
    } else if (a == "--words") {
      o.words = std::stoi(v);
    } else if (a == "--kind") {
      o.kind = v;
    } else if (a == "--emit-queries") {
      o.emit = std::stoi(v);
    } else if (a == "--few-words") {
      o.plan.few_words = std::stoll(v);
    } else if (a == "--count-cap") {
      o.plan.count_cap = std::stoll(v);
    } else if (a == "--list-cap") {
      o.plan.list_cap = std::stoll(v);
    } else {
      std::cerr << "usage: bench_search [--interactions N] [--db PATH] [--queries K] [--peer K] "
                   "[--peer-seconds S] [--size 0|1] [--words W] [--kind K] [--few-words N] "
                   "[--count-cap N] [--list-cap N] [--emit-queries K]\n";
      return 2;
    }
  }
  if (o.emit > 0) {  // the same mix for another driver (bench/portal_search.py): no archive
    for (const auto& c : query_mix(o.emit)) {
      std::printf("%s\n", nlohmann::json{{"kind", c.kind}, {"params", c.params}}.dump().c_str());
    }
    return 0;
  }
  if (o.db.empty()) o.db = "search-bench-" + std::to_string(o.interactions) + ".db";
  auto opened = SqliteDb::open(o.db);
  if (!opened) {
    std::cerr << "bench_search: " << opened.error().message << "\n";
    return 1;
  }
  auto& db = *opened.value();
  check(db, db.migrate(archive::archive_migrations(), "archive database"));
  if (stored_interactions(db) != o.interactions) {
    if (stored_interactions(db) >= 0 || [&] {
          SqliteStmt n(db, "SELECT count(*) FROM recordings");
          return n.step() == kSqliteRow && n.int64(0) > 0;
        }()) {
      std::cerr << "bench_search: " << o.db << " holds another archive; remove it or give --db\n";
      return 1;
    }
    std::cerr << "generating " << o.interactions << " interactions into " << o.db << "\n";
    const auto t0 = Clock::now();
    generate(db, o);
    std::cerr << "generated in "
              << std::llround(std::chrono::duration<double>(Clock::now() - t0).count()) << " s\n";
  }
  {  // The parties' numbers and parts, filled once as an upgraded archive's writer does.
    const auto t0 = Clock::now();
    check(db, db.exec("PRAGMA cache_size=-2000000; BEGIN"));
    auto filled = archive::fill_party_keys(db, size_t{96} << 20);  // 2.3 GB of keys a pass
    if (!filled) check(db, filled.error());
    check(db, db.exec("COMMIT"));
    if (filled.value() > 0) {
      std::cerr << "filled the numbers and parts of " << filled.value() << " interactions in "
                << std::llround(std::chrono::duration<double>(Clock::now() - t0).count()) << " s\n";
    }
  }
  // The index's size: every table and index of the search (search_*, FTS shadow tables too).
  if (o.size) {
    std::map<std::string, double> parts;
    // With aggregate = TRUE, pageno is the table's page count (its pgsize is a 32-bit sum).
    int64_t page_size = 4096;
    {
      SqliteStmt p(db, "PRAGMA page_size");
      if (p.step() == kSqliteRow) page_size = p.int64(0);
    }
    SqliteStmt s(db, "SELECT name, pageno FROM dbstat WHERE aggregate = TRUE");
    while (s.step() == kSqliteRow) {
      const std::string name = s.text(0);
      auto is = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
      const char* part = is("search_recording_text") ? "words per recording"
                         : is("search_utterance") || name == "utterances_by_recording"
                             ? "utterances"
                         : is("search_party_text")  ? "party trigrams"
                         : is("search_party_parts") ? "party parts"
                         : is("search_numbers")     ? "party numbers"
                         : is("search_") || is("parties_") || is("groups_") || is("data_") ||
                                 is("sqlite_autoindex_search_")
                             ? "metadata columns"
                             : "catalog (not index)";
      parts[part] += static_cast<double>(s.int64(1) * page_size) / 1e6;
    }
    double total = 0;
    std::printf("index size on disk (%lld interactions, %d words each):\n",
                static_cast<long long>(o.interactions), o.words);
    for (const auto& [part, mb] : parts) {
      if (part != "catalog (not index)") total += mb;
      std::printf("  %-22s %10.0f MB\n", part.c_str(), mb);
    }
    std::printf("  %-22s %10.0f MB (%.0f bytes per interaction)\n", "search index total", total,
                total * 1e6 / static_cast<double>(o.interactions));
    std::fflush(stdout);
  }
  auto cases = query_mix(o.queries);
  if (!o.kind.empty()) {
    std::erase_if(cases, [&](const Case& c) { return c.kind != o.kind; });
  }
  // Two passes over the mix: the first meets pages not yet in memory, the second is warm.
  std::map<std::string, std::vector<double>> first, warm, theirs;
  std::map<std::string, int> hits, peer_runs, peer_late, same;
  std::vector<std::vector<std::string>> pages(cases.size());
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto& c = cases[i];
      auto q = search::query_from_params(c.params);
      if (!q) {
        std::cerr << "bench_search: " << q.error().message << "\n";
        return 1;
      }
      q.value().plan = o.plan;
      const auto t0 = Clock::now();
      auto page = search::run(db, q.value());
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!page) {
        std::cerr << "bench_search: " << page.error().message << "\n";
        return 1;
      }
      (pass == 0 ? first : warm)[c.kind].push_back(ms);
      if (pass == 1 && ms > 50) {
        std::cerr << "  over 50 ms (" << std::llround(ms) << "): " << q.value().to_json().dump()
                  << " (" << page.value().hits.size() << " found, led by " << page.value().led_by
                  << ")\n";
      }
      if (pass == 0) {
        hits[c.kind] += page.value().hits.empty() ? 0 : 1;
        for (const auto& h : page.value().hits) pages[i].push_back(h.id);
      }
    }
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    if (peer_runs[c.kind] >= o.peer) continue;
    ++peer_runs[c.kind];
    const auto q = search::query_from_params(c.params).value();
    const auto p0 = Clock::now();
    const auto expected = peer(db, q, std::chrono::seconds(o.peer_seconds));
    if (!expected) {
      ++peer_late[c.kind];
      continue;
    }
    theirs[c.kind].push_back(std::chrono::duration<double, std::milli>(Clock::now() - p0).count());
    if (pages[i] == *expected) {
      ++same[c.kind];
    } else {
      std::cerr << "  differs from the peer: " << q.to_json().dump() << " (" << pages[i].size()
                << " against " << expected->size() << ")\n";
    }
  }
  std::printf("\n%-14s %-24s %-24s %7s | %-30s\n", "query (1 core)", "first pass p50/p95/max",
              "warm p50/p95/max (ms)", "found", "straightforward SQL p50/p95 (ms)");
  for (const char* kind :
       {"participant", "number part", "number prefix", "time window", "text word", "combined"}) {
    const auto& f = first[kind];
    const auto& w = warm[kind];
    const auto& p = theirs[kind];
    std::printf(
        "%-14s %6.2f %7.2f %8.1f  %6.2f %7.2f %8.1f  %4d/%-4zu | %8.1f %9.1f  same %d/%zu, "
        "%d over %d s\n",
        kind, percentile(f, 0.5), percentile(f, 0.95), percentile(f, 1.0), percentile(w, 0.5),
        percentile(w, 0.95), percentile(w, 1.0), hits[kind], f.size(), percentile(p, 0.5),
        percentile(p, 0.95), same[kind], p.size(), peer_late[kind], o.peer_seconds);
  }
  return 0;
}

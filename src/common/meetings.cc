#include "common/meetings.h"

#include <sodium.h>

#include <algorithm>
#include <array>

#include <sqlite3.h>

#include "common/clock.h"

namespace verbatim {

namespace {

constexpr std::array<const char*, 1> kMeetingMigrations = {
    "CREATE TABLE meetings ("
    "  id TEXT PRIMARY KEY, uri TEXT NOT NULL, organizer TEXT NOT NULL, subject TEXT NOT NULL,"
    "  starts_at TEXT NOT NULL, pin TEXT NOT NULL, created_at TEXT NOT NULL,"
    "  created_by TEXT NOT NULL, cancelled_at TEXT NOT NULL DEFAULT '',"
    "  cancelled_by TEXT NOT NULL DEFAULT '', cancel_reason TEXT NOT NULL DEFAULT ''"
    ");"
    // The dial-in IVR finds a meeting by its PIN alone: unique among those that stand.
    "CREATE UNIQUE INDEX meetings_by_pin ON meetings(pin) WHERE cancelled_at = '';"
    "CREATE INDEX meetings_by_organizer ON meetings(organizer, created_at);"};

constexpr const char* kMeetingColumns =
    "id, uri, organizer, subject, starts_at, pin, created_at, created_by, cancelled_at, "
    "cancelled_by, cancel_reason";

Meeting meeting_row(const SqliteStmt& s) {
  Meeting m;
  m.id = s.text(0);
  m.uri = s.text(1);
  m.organizer = s.text(2);
  m.subject = s.text(3);
  m.starts_at = s.text(4);
  m.pin = s.text(5);
  m.created_at = s.text(6);
  m.created_by = s.text(7);
  m.cancelled_at = s.text(8);
  m.cancelled_by = s.text(9);
  m.cancel_reason = s.text(10);
  return m;
}

// Digits from the operating system's random source (libsodium): a PIN is a secret.
std::string random_digits(size_t n) {
  if (sodium_init() < 0) return {};
  std::string out;
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>('0' + randombytes_uniform(10)));
  return out;
}

bool all_pin_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

nlohmann::json Meeting::to_json() const {
  nlohmann::json j = {{"id", id},
                      {"uri", uri},
                      {"organizer", organizer},
                      {"subject", subject},
                      {"pin", pin},
                      {"createdAt", created_at},
                      {"createdBy", created_by}};
  if (!starts_at.empty()) j["start"] = starts_at;
  if (cancelled()) {
    j["cancelledAt"] = cancelled_at;
    j["cancelledBy"] = cancelled_by;
    j["cancelReason"] = cancel_reason;
  }
  return j;
}

Result<std::unique_ptr<MeetingStore>> MeetingStore::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db) return db.error();
  VB_TRY(db.value()->migrate(kMeetingMigrations, "meetings"));
  return std::unique_ptr<MeetingStore>(new MeetingStore(std::move(db).value()));
}

Result<Meeting> MeetingStore::create(const NewMeeting& n) {
  auto invalid = [](const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument, what);
  };
  if (n.organizer.empty()) return invalid("a meeting needs an organiser");
  if (n.subject.empty() || n.subject.size() > 256) return invalid("subject: 1 to 256 characters");
  if (std::any_of(n.subject.begin(), n.subject.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return invalid("subject: no control characters (line breaks, tabs)");
  }
  if (n.domain.empty() || n.domain.find_first_of("@:;/ <>") != std::string::npos) {
    return invalid("the meeting's SIP domain is missing or not a host name: '" + n.domain + "'");
  }
  Meeting m;
  if (!n.start.empty()) {
    const auto t = parse_iso8601(n.start);
    if (!t) return invalid("start: not a time (ISO 8601, e.g. 2026-12-09T14:00:00Z): " + n.start);
    m.starts_at = format_iso8601(*t);
  }
  if (!n.pin.empty() && (!all_pin_digits(n.pin) || n.pin.size() < 4 || n.pin.size() > 12)) {
    return invalid("PIN: 4 to 12 digits (callers key it in on a phone's keypad)");
  }
  m.organizer = n.organizer;
  m.subject = n.subject;
  m.created_at = format_iso8601_ms(std::chrono::system_clock::now());
  m.created_by = n.created_by;
  // A fresh id and PIN: a collision (a PIN of a meeting that stands) draws again; a PIN given
  // that is in use is refused.
  for (int attempt = 0; attempt < 20; ++attempt) {
    m.id = random_digits(10);
    m.pin = n.pin.empty() ? random_digits(9) : n.pin;
    if (m.id.empty() || m.pin.empty()) {
      return make_error(ErrorCode::kInternal, "no random source for the meeting's id and PIN");
    }
    m.uri = "sip:meet-" + m.id + "@" + n.domain;
    SqliteStmt s(*db_,
                 "INSERT INTO meetings (id, uri, organizer, subject, starts_at, pin, created_at, "
                 "created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, m.id);
    s.bind(2, m.uri);
    s.bind(3, m.organizer);
    s.bind(4, m.subject);
    s.bind(5, m.starts_at);
    s.bind(6, m.pin);
    s.bind(7, m.created_at);
    s.bind(8, m.created_by);
    const int rc = s.step();
    if (rc == SQLITE_DONE) return m;
    if ((rc & 0xff) != SQLITE_CONSTRAINT) return db_->error("storing a meeting");
    if (!n.pin.empty()) {
      auto other = by_pin(n.pin);
      if (other && other.value()) {
        return make_error(ErrorCode::kAlreadyExists,
                          "PIN " + n.pin + " is in use by meeting " + other.value()->id +
                              ": choose another, or leave it out for a random one");
      }
    }
  }
  return make_error(ErrorCode::kInternal, "no free meeting id or PIN after 20 draws");
}

Result<std::optional<Meeting>> MeetingStore::one(const char* where, const std::string& value) {
  SqliteStmt s(
      *db_, (std::string("SELECT ") + kMeetingColumns + " FROM meetings WHERE " + where).c_str());
  s.bind(1, value);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<Meeting>();
  if (rc != SQLITE_ROW) return db_->error("reading a meeting");
  return std::optional<Meeting>(meeting_row(s));
}

Result<std::optional<Meeting>> MeetingStore::get(const std::string& id) {
  return one("id = ?", id);
}

Result<std::optional<Meeting>> MeetingStore::by_pin(const std::string& pin) {
  return one("pin = ? AND cancelled_at = ''", pin);
}

Result<std::vector<Meeting>> MeetingStore::list(const std::string& organizer, bool with_cancelled,
                                                size_t limit) {
  SqliteStmt s(*db_, (std::string("SELECT ") + kMeetingColumns +
                      " FROM meetings WHERE (?1 = '' OR organizer = ?1) AND (?2 OR cancelled_at "
                      "= '') ORDER BY created_at DESC, id LIMIT ?3")
                         .c_str());
  s.bind(1, organizer);
  s.bind(2, static_cast<int64_t>(with_cancelled ? 1 : 0));
  s.bind(3, static_cast<int64_t>(limit));
  std::vector<Meeting> out;
  int rc = 0;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(meeting_row(s));
  if (rc != SQLITE_DONE) return db_->error("listing meetings");
  return out;
}

Result<bool> MeetingStore::cancel(const std::string& id, const std::string& by,
                                  const std::string& reason) {
  SqliteStmt s(*db_,
               "UPDATE meetings SET cancelled_at = ?, cancelled_by = ?, cancel_reason = ? WHERE "
               "id = ? AND cancelled_at = ''");
  s.bind(1, format_iso8601_ms(std::chrono::system_clock::now()));
  s.bind(2, by);
  s.bind(3, reason);
  s.bind(4, id);
  if (s.step() != SQLITE_DONE) return db_->error("cancelling a meeting");
  return db_->changes() == 1;
}

}  // namespace verbatim

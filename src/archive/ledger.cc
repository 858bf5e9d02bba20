#include "archive/ledger.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace verbatim::archive {

namespace {
constexpr char kHeadContext[] = "verbatim.archive.ledger/v1";

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
}  // namespace

std::string TreeHead::signed_text() const {
  return std::string(kHeadContext) + "\n" + std::to_string(size) + "\n" + to_hex(root) + "\n" +
         std::to_string(timestamp_ms) + "\n";
}

std::string TreeHead::to_line() const {
  return std::to_string(size) + " " + to_hex(root) + " " + std::to_string(timestamp_ms) + " " +
         hex(signature);
}

Result<TreeHead> TreeHead::from_line(std::string_view line) {
  std::istringstream in{std::string(line)};
  std::string size, root, ts, sig;
  if (!(in >> size >> root >> ts >> sig)) {
    return make_error(ErrorCode::kInvalidArgument, "a tree head line has four fields");
  }
  TreeHead h;
  try {
    h.size = std::stoull(size);
    h.timestamp_ms = std::stoll(ts);
  } catch (const std::exception&) {
    return make_error(ErrorCode::kInvalidArgument, "tree head size or time is not a number");
  }
  auto r = hash_from_hex(root);
  if (!r) return r.error();
  h.root = r.value();
  auto s = unhex(sig);
  if (!s || s.value().size() != 64) {
    return make_error(ErrorCode::kInvalidArgument, "tree head signature is not 64 bytes of hex");
  }
  std::copy(s.value().begin(), s.value().end(), h.signature.begin());
  return h;
}

bool TreeHead::verify(const std::array<uint8_t, 32>& public_key) const {
  return verify_signature(public_key, signed_text(), signature);
}

Result<std::unique_ptr<Ledger>> Ledger::open(SqliteDb& db, SigningKey key, const Clock& clock,
                                             std::string witness_path) {
  std::unique_ptr<Ledger> l(new Ledger(db, std::move(key), clock, std::move(witness_path)));
  // Rebuild the compact tree from the stored leaf hashes (32 bytes each; 1 M entries = 32 MB).
  VB_TRY(l->sync());
  return l;
}

Status Ledger::sync() {
  SqliteStmt s(db_, "SELECT seq, leaf FROM ledger_entries WHERE seq >= ?1 ORDER BY seq");
  if (!s.ok()) return db_.error("reading the ledger");
  s.bind(1, static_cast<int64_t>(tree_.size()));
  int rc;
  while ((rc = s.step()) == kSqliteRow) {
    const auto blob = s.blob(1);
    if (static_cast<uint64_t>(s.int64(0)) != tree_.size() || blob.size() != 32) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "ledger entry " + std::to_string(tree_.size()) +
                            " is missing or damaged; run `verbatim verify`");
    }
    Hash h;
    std::copy(blob.begin(), blob.end(), h.begin());
    tree_.append(h);
  }
  if (rc != kSqliteDone) return db_.error("reading the ledger");
  return ok_status();
}

Result<uint64_t> Ledger::append(nlohmann::json event) {
  const uint64_t index = tree_.size();
  event["seq"] = index;
  if (!event.contains("time")) event["time"] = format_iso8601(clock_.now());
  const std::string bytes = event.dump();  // sorted keys, no whitespace: canonical
  const Hash leaf = leaf_hash(bytes_of(bytes));
  SqliteStmt s(db_,
               "INSERT INTO ledger_entries(seq, entry, leaf, recording_id) VALUES(?1, ?2, ?3, ?4)");
  s.bind(1, static_cast<int64_t>(index));
  s.bind(2, bytes);
  s.bind_blob(3, leaf);
  if (const auto r = event.find("recording"); r != event.end() && r->is_string()) {
    s.bind(4, r->get<std::string>());
  } else {
    s.bind_null(4);
  }
  if (s.step() != kSqliteDone) return db_.error("appending to the ledger");
  tree_.append(leaf);
  return index;
}

Result<TreeHead> Ledger::sign_head() {
  TreeHead h;
  h.size = tree_.size();
  h.root = tree_.root();
  h.timestamp_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
          .count();
  auto latest = latest_head();
  if (!latest) return latest.error();
  if (latest.value() && latest.value()->timestamp_ms > h.timestamp_ms) {
    h.timestamp_ms = latest.value()->timestamp_ms;  // never let head times go backwards
  }
  auto signature = sign(key_, h.signed_text());
  if (!signature) return signature.error();  // the HSM: the entries stay, signed next time
  h.signature = signature.value();
  // The witness file first (append-only, fsynced, outside the database), then the database: a
  // crash in between leaves a witnessed head the database lacks, which verifies (it matches the
  // entries), never a stored head the witness lacks, which verify reports as a cut witness.
  const int fd = ::open(witness_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(ErrorCode::kIo, "cannot open " + witness_path_ + ": " + std::strerror(errno));
  }
  const std::string line = h.to_line() + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    return make_error(ErrorCode::kIo, "cannot write " + witness_path_ + ": " + std::strerror(err));
  }
  SqliteStmt s(db_,
               "INSERT INTO tree_heads(size, root, timestamp_ms, signature) "
               "VALUES(?1, ?2, ?3, ?4)");
  s.bind(1, static_cast<int64_t>(h.size));
  s.bind_blob(2, h.root);
  s.bind(3, h.timestamp_ms);
  s.bind_blob(4, h.signature);
  if (s.step() != kSqliteDone) return db_.error("storing the tree head");
  return h;
}

Result<std::optional<TreeHead>> Ledger::latest_head() {
  SqliteStmt s(db_,
               "SELECT size, root, timestamp_ms, signature FROM tree_heads "
               "ORDER BY rowid DESC LIMIT 1");
  const int rc = s.step();
  if (rc == kSqliteDone) return std::optional<TreeHead>();
  if (rc != kSqliteRow) return db_.error("reading tree heads");
  TreeHead h;
  h.size = static_cast<uint64_t>(s.int64(0));
  const auto root = s.blob(1);
  const auto sig = s.blob(3);
  if (root.size() != 32 || sig.size() != 64) {
    return make_error(ErrorCode::kFailedPrecondition, "the latest tree head is damaged");
  }
  std::copy(root.begin(), root.end(), h.root.begin());
  h.timestamp_ms = s.int64(2);
  std::copy(sig.begin(), sig.end(), h.signature.begin());
  return std::optional<TreeHead>(h);
}

Result<std::vector<uint8_t>> Ledger::entry_bytes(uint64_t index) {
  SqliteStmt s(db_, "SELECT entry FROM ledger_entries WHERE seq = ?1");
  s.bind(1, static_cast<int64_t>(index));
  if (s.step() != kSqliteRow) {
    return make_error(ErrorCode::kNotFound, "no ledger entry " + std::to_string(index));
  }
  return s.blob(0);
}

Result<std::vector<Hash>> Ledger::leaves(uint64_t count) {
  std::vector<Hash> out;
  out.reserve(count);
  SqliteStmt s(db_, "SELECT leaf FROM ledger_entries WHERE seq < ?1 ORDER BY seq");
  s.bind(1, static_cast<int64_t>(count));
  while (s.step() == kSqliteRow) {
    const auto blob = s.blob(0);
    Hash h{};
    std::copy_n(blob.begin(), std::min<size_t>(32, blob.size()), h.begin());
    out.push_back(h);
  }
  if (out.size() != count) {
    return make_error(ErrorCode::kFailedPrecondition, "the ledger has fewer entries than asked");
  }
  return out;
}

Result<Hash> Ledger::leaf(uint64_t index) {
  auto bytes = entry_bytes(index);
  if (!bytes) return bytes.error();
  return leaf_hash(bytes.value());
}

Result<std::vector<Hash>> Ledger::inclusion_proof(uint64_t index, uint64_t tree_size) {
  if (tree_size > tree_.size() || index >= tree_size) {
    return make_error(ErrorCode::kInvalidArgument, "no such entry in a tree of that size");
  }
  auto l = leaves(tree_size);
  if (!l) return l.error();
  return archive::inclusion_proof(l.value(), index);
}

Result<std::vector<Hash>> Ledger::consistency_proof(uint64_t old_size, uint64_t new_size) {
  if (old_size > new_size || new_size > tree_.size()) {
    return make_error(ErrorCode::kInvalidArgument, "sizes out of range");
  }
  auto l = leaves(new_size);
  if (!l) return l.error();
  return archive::consistency_proof(l.value(), old_size);
}

Result<std::vector<Finding>> Ledger::verify() {
  std::vector<Finding> findings;
  // The signing keys over time: the archive's first key (archive.created), then each replacement
  // (key.signing_replaced at seq S: heads covering entry S and later are signed by the new key).
  std::array<uint8_t, 32> first_key = key_.public_key;
  std::vector<std::pair<uint64_t, std::array<uint8_t, 32>>> replacements;
  auto key_from = [](const nlohmann::json& e, const char* field) {
    std::optional<std::array<uint8_t, 32>> k;
    auto bytes = unhex(e.value(field, ""));
    if (bytes && bytes.value().size() == 32) {
      k.emplace();
      std::copy(bytes.value().begin(), bytes.value().end(), k->begin());
    }
    return k;
  };
  // 1. Every entry's stored leaf is the hash of its stored bytes; no gaps; the recording index
  //    column names the entry's recording.
  std::vector<Hash> recomputed;
  {
    SqliteStmt s(db_,
                 "SELECT seq, entry, leaf, COALESCE(recording_id, '') FROM ledger_entries "
                 "ORDER BY seq");
    uint64_t expect = 0;
    while (s.step() == kSqliteRow) {
      const auto seq = static_cast<uint64_t>(s.int64(0));
      for (; expect < seq; ++expect) {
        findings.push_back({"ledger entry " + std::to_string(expect), "missing (deleted)"});
        recomputed.push_back(Hash{});
      }
      const auto bytes = s.blob(1);
      const Hash h = leaf_hash(bytes);
      const auto stored = s.blob(2);
      if (stored.size() != 32 || !std::equal(h.begin(), h.end(), stored.begin())) {
        findings.push_back({"ledger entry " + std::to_string(seq),
                            "content does not match its leaf hash (edited)"});
      }
      auto parsed = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
      if (parsed.is_discarded() || !parsed.is_object() ||
          parsed.value("seq", -1) != static_cast<int64_t>(seq)) {
        findings.push_back({"ledger entry " + std::to_string(seq),
                            "is not a well-formed entry for its position (moved or forged)"});
      } else {
        const auto r = parsed.find("recording");
        const std::string named = r != parsed.end() && r->is_string() ? r->get<std::string>() : "";
        if (named != s.text(3)) {
          findings.push_back({"ledger entry " + std::to_string(seq),
                              "its recording index says \"" + s.text(3) + "\" but the entry is " +
                                  (named.empty() ? "about no recording" : "about " + named) +
                                  " (index edited)"});
        }
        const std::string type = parsed.value("type", "");
        if (type == "archive.created") {
          if (auto k = key_from(parsed, "signing_public_key")) first_key = *k;
        } else if (type == "key.signing_replaced") {
          if (auto k = key_from(parsed, "to")) replacements.emplace_back(seq, *k);
        }
      }
      recomputed.push_back(h);
      expect = seq + 1;
    }
  }
  auto key_for = [&](uint64_t size) {
    std::array<uint8_t, 32> k = first_key;
    for (const auto& [seq, key] : replacements) {
      if (seq < size) k = key;
    }
    return k;
  };
  const std::array<uint8_t, 32> current = key_for(recomputed.size());
  if (!std::equal(current.begin(), current.end(), key_.public_key.begin())) {
    findings.push_back({"signing key", "the archive's key (" + hex(key_.public_key) +
                                           ") is not the one the ledger names (" + hex(current) +
                                           "): replaced without a key.signing_replaced entry"});
  }
  // 2. Every stored head: signature, root over the recomputed leaves, monotonic.
  std::vector<TreeHead> heads;
  {
    SqliteStmt s(db_, "SELECT size, root, timestamp_ms, signature FROM tree_heads ORDER BY rowid");
    while (s.step() == kSqliteRow) {
      TreeHead h;
      h.size = static_cast<uint64_t>(s.int64(0));
      const auto root = s.blob(1);
      const auto sig = s.blob(3);
      std::copy_n(root.begin(), std::min<size_t>(32, root.size()), h.root.begin());
      h.timestamp_ms = s.int64(2);
      std::copy_n(sig.begin(), std::min<size_t>(64, sig.size()), h.signature.begin());
      heads.push_back(h);
    }
  }
  // Witnessed heads (outside the database) must still hold; read them before checking so
  // the roots of every head size come from one pass over the leaves.
  struct Witnessed {
    std::string where;
    Result<TreeHead> head;
  };
  std::vector<Witnessed> witnessed;
  std::set<std::string> witnessed_lines;
  std::error_code ec;
  const bool witness_exists = std::filesystem::exists(witness_path_, ec);
  {
    std::ifstream witness(witness_path_);
    std::string line;
    size_t n = 0;
    while (std::getline(witness, line)) {
      ++n;
      if (!line.empty()) {
        witnessed.push_back(
            {"witnessed head, line " + std::to_string(n), TreeHead::from_line(line)});
        witnessed_lines.insert(line);
      }
    }
  }
  // Every head the database stored was witnessed first (sign_head): one the witness file lacks
  // means the file was deleted or cut, which is how a rollback would hide.
  if (!heads.empty() && !witness_exists) {
    findings.push_back(
        {"witness file " + witness_path_, "is missing (deleted), but the ledger has " +
                                              std::to_string(heads.size()) + " signed tree heads"});
  } else {
    size_t unwitnessed = 0;
    std::string first;
    for (size_t i = 0; i < heads.size(); ++i) {
      if (witnessed_lines.count(heads[i].to_line())) continue;
      if (unwitnessed++ == 0) first = "tree head " + std::to_string(i);
    }
    if (unwitnessed > 0) {
      findings.push_back({"witness file " + witness_path_,
                          "lacks " + std::to_string(unwitnessed) + " of the " +
                              std::to_string(heads.size()) + " signed tree heads, from " + first +
                              " (truncated or edited)"});
    }
  }
  std::vector<uint64_t> sizes;
  sizes.reserve(heads.size() + witnessed.size());
  for (const auto& h : heads) sizes.push_back(h.size);
  for (const auto& w : witnessed) {
    if (w.head) sizes.push_back(w.head.value().size);
  }
  std::sort(sizes.begin(), sizes.end());
  std::map<uint64_t, Hash> roots;  // tree size -> root over the recomputed leaves
  {
    CompactTree tree;
    for (uint64_t size : sizes) {
      if (size > recomputed.size()) break;
      while (tree.size() < size) tree.append(recomputed[tree.size()]);
      roots.emplace(size, tree.root());
    }
  }
  auto check_head = [&](const TreeHead& h, const std::string& where) {
    if (!h.verify(key_for(h.size))) findings.push_back({where, "signature does not verify"});
    if (h.size > recomputed.size()) {
      findings.push_back(
          {where, "covers " + std::to_string(h.size) + " entries but the ledger has " +
                      std::to_string(recomputed.size()) + " (rolled back or truncated)"});
      return;
    }
    if (roots.at(h.size) != h.root) {
      findings.push_back(
          {where, "root does not match the ledger's entries (history rewritten: a fork)"});
    }
  };
  for (size_t i = 0; i < heads.size(); ++i) {
    const std::string where =
        "tree head " + std::to_string(i) + " (size " + std::to_string(heads[i].size) + ")";
    check_head(heads[i], where);
    if (i > 0 && heads[i].size < heads[i - 1].size) {
      findings.push_back({where, "smaller than the head before it"});
    }
    if (i > 0 && heads[i].timestamp_ms < heads[i - 1].timestamp_ms) {
      findings.push_back({where, "time goes backwards"});
    }
  }
  for (const auto& w : witnessed) {
    if (!w.head) {
      findings.push_back({w.where, w.head.error().message});
    } else {
      check_head(w.head.value(), w.where);
    }
  }
  return findings;
}

}  // namespace verbatim::archive

// Archive::verify: every object against its ledger entry, and the catalog's records (recordings,
// retention, holds, disposals, metadata versions, the witness of signed heads) against the
// ledger.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "archive/archive.h"
#include "archive/archive_detail.h"
#include "archive/schema.h"

namespace verbatim::archive {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

Result<std::vector<Finding>> Archive::verify(bool deep) {
  std::vector<ObjectCheck> objects;
  auto findings = verify_records(&objects);
  if (!findings) return findings.error();
  for (const ObjectCheck& o : objects) {
    if (auto f = check_object(o, deep)) findings.value().push_back(*f);
  }
  return findings;
}

std::optional<Finding> Archive::check_object(const ObjectCheck& o, bool deep) {
  auto source = store_->open(o.key);
  if (!source) {
    auto exists = store_->exists(o.key);
    if (exists && !exists.value()) return Finding{o.where, "object file is missing (deleted)"};
    return Finding{o.where, source.error().message};
  }
  auto h = sha256_of(*source.value());
  if (!h) return Finding{o.where, h.error().message};
  if (to_hex(h.value()) != o.sha256) {
    const uint64_t size = source.value()->size();
    return Finding{o.where,
                   size < o.stored_size
                       ? "object file is truncated (" + std::to_string(size) + " of " +
                             std::to_string(o.stored_size) + " bytes)"
                       : "object file content differs from the ledger (altered or swapped)"};
  }
  if (!deep) return std::nullopt;
  auto key = data_key(o.id);
  if (!key) return Finding{o.where, key.error().message};
  auto reader = ObjectReader::open(std::move(source).value(), key.value());
  if (!reader) return Finding{o.where, reader.error().message};
  if (auto st = reader.value()->verify(); !st) return Finding{o.where, st.error().message};
  return std::nullopt;
}

Result<std::vector<Finding>> Archive::verify_records(std::vector<ObjectCheck>* objects) {
  auto ledger_findings = ledger_->verify();
  if (!ledger_findings) return ledger_findings.error();
  std::vector<Finding> findings = ledger_findings.value();
  // What the ledger says about each object and recording.
  std::map<std::string, json> sealed_by_ledger;
  std::map<std::string, json> created_by_ledger;
  std::set<std::string> disposed_objects;
  // (recording, metadata version) -> metadata hash, from recording.created and metadata.updated.
  std::map<std::pair<std::string, int64_t>, std::string> versions_by_ledger;
  std::map<std::string, std::pair<int64_t, std::string>> latest_metadata;  // version, hash
  std::map<std::string, std::string> retention_by_ledger;                  // recording -> until
  std::map<std::pair<std::string, std::string>, bool> holds_by_ledger;     // (case, rec) -> active
  std::set<std::string> disposed_recordings;
  {
    SqliteStmt s(*db_, "SELECT entry FROM ledger_entries ORDER BY seq");
    while (s.step() == kSqliteRow) {
      const auto bytes = s.blob(0);
      auto e = json::parse(bytes.begin(), bytes.end(), nullptr, false);
      if (!e.is_object()) continue;  // reported by the ledger check
      const std::string type = e.value("type", "");
      if (type == "object.sealed") sealed_by_ledger[e.value("object", "")] = e;
      if (type == "recording.created" || type == "metadata.updated") {
        const std::string rec = e.value("recording", "");
        const int64_t version = type == "recording.created" ? 1 : e.value("version", int64_t{0});
        const std::string sha = e.value("metadata_sha256", "");
        versions_by_ledger[{rec, version}] = sha;
        latest_metadata[rec] = {version, sha};
        if (type == "recording.created") created_by_ledger[rec] = e;
      }
      if (type == "recording.created") {
        retention_by_ledger[e.value("recording", "")] = e.value("retention_until", "");
      }
      if (type == "retention.extended") {
        auto& until = retention_by_ledger[e.value("recording", "")];
        until = std::max(until, e.value("until", std::string()));
      }
      if (type == "hold.set" || type == "hold.released") {
        holds_by_ledger[{e.value("case", ""), e.value("recording", "")}] = type == "hold.set";
      }
      if (type == "recording.disposed") {
        disposed_recordings.insert(e.value("recording", ""));
        if (e.contains("objects") && e["objects"].is_array()) {
          for (const auto& o : e["objects"]) {
            if (o.is_string()) disposed_objects.insert(o.get<std::string>());
          }
        }
      }
    }
  }
  // Recordings: their current metadata and serial number, retention and disposal.
  std::set<std::string> catalog_recordings;
  {
    SqliteStmt s(*db_,
                 "SELECT id, metadata, metadata_version, serial, retention_until, status "
                 "FROM recordings");
    while (s.step() == kSqliteRow) {
      const std::string id = s.text(0);
      catalog_recordings.insert(id);
      auto it = created_by_ledger.find(id);
      const std::string status = s.text(5);
      if (it != created_by_ledger.end() && s.text(4) != retention_by_ledger[id]) {
        findings.push_back({"recording " + id, "retention until " + s.text(4) +
                                                   " in the catalog, but the ledger says " +
                                                   retention_by_ledger[id] + " (edited row)"});
      }
      if (status == "disposed" && !disposed_recordings.count(id)) {
        findings.push_back(
            {"recording " + id,
             "marked disposed in the catalog, but the ledger has no "
             "recording.disposed entry for it (disposed behind the archive's back)"});
      } else if (status != "disposed" && disposed_recordings.count(id)) {
        findings.push_back({"recording " + id, "disposed in the ledger, but the catalog says " +
                                                   status + " (edited row)"});
      }
      const auto& latest = latest_metadata[id];
      if (it == created_by_ledger.end()) {
        findings.push_back(
            {"recording " + id, "in the catalog but never created in the ledger (forged row)"});
      } else if (latest.second != sha256_hex(s.text(1)) || latest.first != s.int64(2)) {
        findings.push_back(
            {"recording " + id, "catalog metadata differs from what was recorded (edited row)"});
      } else if (it->second.contains("serial") &&
                 it->second.value("serial", int64_t{0}) != s.int64(3)) {
        findings.push_back(
            {"recording " + id, "serial number differs from the ledger (edited row)"});
      }
    }
  }
  // Every metadata version, byte-exact (audit-trail re-creation).
  {
    std::set<std::pair<std::string, int64_t>> catalog_versions;
    SqliteStmt s(*db_, "SELECT recording_id, version, metadata FROM metadata_versions");
    while (s.step() == kSqliteRow) {
      const std::pair<std::string, int64_t> key{s.text(0), s.int64(1)};
      catalog_versions.insert(key);
      const std::string where =
          "recording " + key.first + " metadata version " + std::to_string(key.second);
      auto it = versions_by_ledger.find(key);
      if (it == versions_by_ledger.end()) {
        findings.push_back({where, "not in the ledger (forged row)"});
      } else if (it->second != sha256_hex(s.text(2))) {
        findings.push_back({where, "differs from what was recorded (edited row)"});
      }
    }
    for (const auto& [key, sha] : versions_by_ledger) {
      if (!catalog_versions.count(key) && catalog_recordings.count(key.first)) {
        findings.push_back(
            {"recording " + key.first + " metadata version " + std::to_string(key.second),
             "in the ledger but missing from the catalog (deleted row)"});
      }
    }
  }
  // Legal holds: every hold the ledger set and did not release is active in the catalog, and
  // the catalog holds nothing the ledger did not set.
  {
    std::map<std::pair<std::string, std::string>, bool> catalog_holds;
    SqliteStmt s(*db_, "SELECT case_id, recording_id, released_at IS NULL FROM legal_holds");
    while (s.step() == kSqliteRow) catalog_holds[{s.text(0), s.text(1)}] = s.int64(2) != 0;
    for (const auto& [key, active] : holds_by_ledger) {
      auto it = catalog_holds.find(key);
      const bool catalog_active = it != catalog_holds.end() && it->second;
      if (active != catalog_active) {
        findings.push_back(
            {"recording " + key.second + " legal hold " + key.first,
             active ? (it == catalog_holds.end()
                           ? "set in the ledger, missing from the catalog (deleted row)"
                           : "active in the ledger, released in the catalog (edited row)")
                    : "released in the ledger, active in the catalog (edited row)"});
      }
    }
    for (const auto& [key, active] : catalog_holds) {
      if (!holds_by_ledger.count(key)) {
        findings.push_back({"recording " + key.second + " legal hold " + key.first,
                            "in the catalog but never set in the ledger (forged row)"});
      }
    }
  }
  for (const auto& [id, e] : created_by_ledger) {
    if (!catalog_recordings.count(id)) {
      findings.push_back(
          {"recording " + id, "in the ledger but missing from the catalog (deleted row)"});
    }
  }
  // Objects: file <-> catalog <-> ledger.
  std::set<std::string> catalog_paths;
  std::set<std::string> catalog_objects;
  struct Row {
    std::string id, recording, path, status, sha;
    int64_t size;
  };
  std::vector<Row> rows;
  {
    SqliteStmt s(*db_,
                 "SELECT id, recording_id, path, status, COALESCE(sha256, ''), "
                 "COALESCE(stored_size, -1) FROM objects");
    while (s.step() == kSqliteRow) {
      rows.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.int64(5)});
    }
  }
  for (const Row& r : rows) {
    catalog_objects.insert(r.id);
    catalog_paths.insert(r.path);
    const std::string where = "recording " + r.recording + " object " + r.id + " (" + r.path + ")";
    auto led = sealed_by_ledger.find(r.id);
    if (r.status == "disposed") {  // its key destroyed, its file removed: the ledger must say so
      if (!disposed_objects.count(r.id)) {
        findings.push_back({where,
                            "marked disposed in the catalog, but no recording.disposed entry of "
                            "the ledger names it (disposed behind the archive's back)"});
      }
      continue;
    }
    if (disposed_objects.count(r.id)) {
      findings.push_back(
          {where, "disposed in the ledger, but the catalog says " + r.status + " (edited row)"});
      continue;
    }
    if (r.status == "open") {  // being written; the ledger has not sealed it
      if (led != sealed_by_ledger.end()) {
        findings.push_back({where, "sealed in the ledger, but open in the catalog (edited row)"});
      }
      continue;
    }
    if (led == sealed_by_ledger.end()) {
      findings.push_back({where, "sealed in the catalog but not in the ledger (forged row)"});
    } else if (led->second.value("sha256", "") != r.sha ||
               led->second.value("stored_size", int64_t{-1}) != r.size ||
               led->second.value("recording", "") != r.recording) {
      findings.push_back({where, "catalog row differs from the ledger (edited row)"});
    }
    // The content is checked against what the ledger says (the catalog only if the ledger
    // lost the entry, which is reported above).
    const bool in_ledger = led != sealed_by_ledger.end();
    objects->push_back(
        {r.id, where, r.path, in_ledger ? led->second.value("sha256", "") : r.sha,
         static_cast<uint64_t>(in_ledger ? led->second.value("stored_size", int64_t{0}) : r.size)});
  }
  for (const auto& [id, e] : sealed_by_ledger) {
    if (!catalog_objects.count(id)) {
      findings.push_back(
          {"object " + id, "sealed in the ledger but missing from the catalog (deleted row)"});
    }
  }
  // Data keys destroyed (crypto-shredded) for objects the ledger never disposed.
  {
    SqliteStmt s(*db_, "SELECT object_id FROM data_keys WHERE wrapped IS NULL");
    while (s.step() == kSqliteRow) {
      if (!disposed_objects.count(s.text(0))) {
        findings.push_back({"object " + s.text(0),
                            "its data key was destroyed, but the ledger never disposed it"});
      }
    }
  }
  // The signing key itself: an archive with signed heads that lost its key can no longer sign,
  // and a writer refuses to start until it is restored or replaced explicitly.
  if (hsm_) {  // in the HSM: there, and the one whose public half auditors have
    const std::string name =
        "signing key '" + options_.hsm.signing_key_label + "' (" + hsm_->describe() + ")";
    auto found = find_hsm_signing_key(hsm_);
    if (!found) {
      findings.push_back({name, "cannot be checked: " + found.error().message});
    } else if (!found.value()) {
      if (auto head = ledger_->latest_head(); head && head.value()) {
        findings.push_back({name,
                            "is missing from the HSM; restore the token from its backup, "
                            "or replace the key with `verbatim archive "
                            "replace-signing-key`"});
      }
    } else if (found.value()->public_key != signing_.public_key) {
      findings.push_back({name, "is not the key of " + options_.signing_key_file + ".pub"});
    }
  } else if (std::error_code ec; !fs::exists(options_.signing_key_file, ec)) {
    if (auto head = ledger_->latest_head(); head && head.value()) {
      findings.push_back({"signing key " + options_.signing_key_file,
                          "is missing (deleted); restore it from backup, or replace it with "
                          "`verbatim archive replace-signing-key`"});
    }
  }
  // Files nobody registered.
  auto keys = store_->list();
  if (!keys) {
    // The store itself is unreadable (a bucket removed behind the archive's back): a finding,
    // so that every object it costs is named too.
    findings.push_back({"object store", "cannot be listed: " + keys.error().message});
    return findings;
  }
  for (const std::string& rel : keys.value()) {
    if (!catalog_paths.count(rel))
      findings.push_back({"file " + rel, "extra object file not in the catalog (inserted)"});
  }
  return findings;
}

}  // namespace verbatim::archive

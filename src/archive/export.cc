#include "archive/export.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "archive/sha256.h"
#include "archive/tarball.h"

namespace verbatim::archive {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::vector<uint8_t> read_file(const fs::path& p, bool* ok) {
  std::error_code ec;
  *ok = false;
  if (p.empty() || !fs::is_regular_file(p, ec)) return {};
  std::ifstream in(p, std::ios::binary);
  std::vector<uint8_t> out{std::istreambuf_iterator<char>(in), {}};
  *ok = !in.bad();
  return out;
}

// A file named by a (hostile) manifest: only relative paths inside the package; an empty path
// (reads as missing) otherwise.
fs::path in_package(const std::string& dir, const std::string& rel) {
  const fs::path p(rel);
  if (rel.empty() || p.is_absolute()) return {};
  for (const auto& part : p) {
    if (part == "..") return {};
  }
  return fs::path(dir) / p;
}

// Packages hold decrypted recordings and their keys: owner-only, 0700 directories, 0600 files.
void owner_only(const fs::path& p, bool dir) {
  std::error_code ec;
  fs::permissions(p, dir ? fs::perms::owner_all : fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace, ec);
}

Status write_file(const fs::path& p, std::span<const uint8_t> data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  owner_only(p, false);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  out.flush();
  if (!out) return make_error(ErrorCode::kIo, "cannot write " + p.string());
  return ok_status();
}

// The stored (encrypted) bytes of an object, copied as they are.
Status copy_stored(const ObjectSource& source, const fs::path& to) {
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  owner_only(to, false);
  std::vector<uint8_t> buf(1 << 16);
  for (uint64_t off = 0; off < source.size() && out;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), source.size() - off));
    VB_TRY(source.read_at(off, std::span(buf).first(n)));
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(n));
    off += n;
  }
  out.flush();
  if (!out) return make_error(ErrorCode::kIo, "cannot write " + to.string());
  return ok_status();
}

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

json ledger_ref(uint64_t seq, const std::vector<uint8_t>& entry, const std::vector<Hash>& proof) {
  json p = json::array();
  for (const auto& h : proof) p.push_back(to_hex(h));
  return {{"seq", seq}, {"entry", std::string(entry.begin(), entry.end())}, {"proof", p}};
}

}  // namespace

namespace {

Result<ExportSummary> export_directory(Archive& archive, const std::vector<std::string>& recordings,
                                       const std::string& out_dir, const std::string& who,
                                       const ExportProgress& progress) {
  if (recordings.empty())
    return make_error(ErrorCode::kInvalidArgument, "name at least one recording");
  std::error_code ec;
  if (fs::exists(out_dir) && !fs::is_empty(out_dir, ec)) {
    return make_error(ErrorCode::kAlreadyExists, out_dir + " exists and is not empty");
  }
  fs::create_directories(out_dir, ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot create " + out_dir + ": " + ec.message());
  owner_only(out_dir, true);
  struct Obj {
    ObjectInfo info;
    DataKey key;
  };
  std::vector<std::pair<RecordingInfo, std::vector<Obj>>> plan;
  for (const auto& id : recordings) {
    auto r = archive.recording(id);
    if (!r) return r.error();
    if (r.value().status == "disposed" || r.value().status == "recording") {
      return make_error(ErrorCode::kFailedPrecondition,
                        "recording " + id + " is " + r.value().status + " and cannot be exported");
    }
    auto ids = archive.objects_of(id);
    if (!ids) return ids.error();
    std::vector<Obj> objs;
    for (const auto& oid : ids.value()) {
      auto info = archive.object_info(oid);
      if (!info) return info.error();
      if (info.value().status != "sealed") continue;
      auto key = archive.export_data_key(oid, who);
      if (!key) return key.error();
      objs.push_back({info.value(), key.value()});
    }
    plan.emplace_back(r.value(), std::move(objs));
  }
  VB_TRY(archive.log_export(recordings, who));
  auto head = archive.sign_head();  // covers every entry referenced below
  if (!head) return head.error();
  auto leaves = archive.ledger().leaves(head.value().size);
  if (!leaves) return leaves.error();
  json manifest = {{"format", "verbatim-export/v1"},
                   {"exported_by", who},
                   {"tree_head", head.value().to_line()},
                   {"public_key", hex(archive.ledger().public_key())},
                   {"recordings", json::array()}};
  ExportSummary summary{out_dir, 0, 0, head.value()};
  for (auto& [rec, objs] : plan) {
    const fs::path rdir = fs::path(out_dir) / "recordings" / rec.id;
    fs::create_directories(rdir, ec);
    owner_only(fs::path(out_dir) / "recordings", true);
    owner_only(rdir, true);
    VB_TRY(write_file(rdir / "metadata.json", as_bytes(rec.metadata_text)));
    auto entry = archive.ledger().entry_bytes(rec.ledger_seq);
    if (!entry) return entry.error();
    json jr = {{"id", rec.id},
               {"status", rec.status},
               {"reason", rec.reason},
               {"metadata_file", "recordings/" + rec.id + "/metadata.json"},
               {"ledger", ledger_ref(rec.ledger_seq, entry.value(),
                                     inclusion_proof(leaves.value(), rec.ledger_seq))},
               {"objects", json::array()},
               {"metadata_versions", json::array()}};
    // The entry that ended the recording lists its objects: the package proves it holds them all.
    auto ending = archive.ending_entry(rec.id);
    if (!ending) return ending.error();
    if (ending.value()) {
      auto eentry = archive.ledger().entry_bytes(*ending.value());
      if (!eentry) return eentry.error();
      jr["ended"] = ledger_ref(*ending.value(), eentry.value(),
                               inclusion_proof(leaves.value(), *ending.value()));
    }
    auto history = archive.metadata_history(rec.id);
    if (!history) return history.error();
    for (const auto& v : history.value()) {
      const std::string file = "metadata.v" + std::to_string(v.version) + ".json";
      VB_TRY(write_file(rdir / file, as_bytes(v.text)));
      auto ventry = archive.ledger().entry_bytes(v.ledger_seq);
      if (!ventry) return ventry.error();
      jr["metadata_versions"].push_back(
          {{"version", v.version},
           {"changed_by", v.changed_by},
           {"changed_at", v.changed_at},
           {"reason", v.reason},
           {"file", "recordings/" + rec.id + "/" + file},
           {"ledger", ledger_ref(v.ledger_seq, ventry.value(),
                                 inclusion_proof(leaves.value(), v.ledger_seq))}});
    }
    for (const Obj& o : objs) {
      const std::string base = "recordings/" + rec.id + "/" + o.info.id;
      auto stored = archive.store().open(o.info.key);
      if (!stored) return stored.error();
      VB_TRY(copy_stored(*stored.value(), fs::path(out_dir) / (base + ".vbo")));
      auto reader = ObjectReader::open(std::move(stored).value(), o.key);
      if (!reader) return reader.error();
      VB_TRY(reader.value()->verify());
      std::ofstream media(fs::path(out_dir) / (base + ".bin"), std::ios::binary);
      owner_only(fs::path(out_dir) / (base + ".bin"), false);
      for (size_t i = 0; i < reader.value()->chunks().size(); ++i) {
        auto c = reader.value()->read_chunk(i);
        if (!c) return c.error();
        media.write(reinterpret_cast<const char*>(c.value().data()),
                    static_cast<std::streamsize>(c.value().size()));
      }
      media.close();
      if (!media) return make_error(ErrorCode::kIo, "cannot write " + base + ".bin");
      auto oentry = archive.ledger().entry_bytes(o.info.ledger_seq);
      if (!oentry) return oentry.error();
      jr["objects"].push_back(
          {{"id", o.info.id},
           {"kind", o.info.kind},
           {"interrupted", o.info.interrupted},
           {"stored_file", base + ".vbo"},
           {"media_file", base + ".bin"},
           {"data_key", hex(o.key)},
           {"ledger", ledger_ref(o.info.ledger_seq, oentry.value(),
                                 inclusion_proof(leaves.value(), o.info.ledger_seq))}});
      ++summary.objects;
    }
    manifest["recordings"].push_back(jr);
    ++summary.recordings;
    if (progress) progress(summary.recordings, plan.size());
  }
  const std::string text = manifest.dump(2) + "\n";
  VB_TRY(write_file(fs::path(out_dir) / "manifest.json", as_bytes(text)));
  return summary;
}

Result<std::vector<PackageVerdict>> verify_manifest(const std::string& dir,
                                                    const std::array<uint8_t, 32>& public_key) {
  bool ok = false;
  const auto mtext = read_file(fs::path(dir) / "manifest.json", &ok);
  if (!ok) return make_error(ErrorCode::kNotFound, "no manifest.json in " + dir);
  const json m = json::parse(mtext.begin(), mtext.end(), nullptr, false);
  if (!m.is_object() || m.value("format", "") != "verbatim-export/v1" ||
      !m.contains("recordings")) {
    return make_error(ErrorCode::kInvalidArgument,
                      dir + "/manifest.json is not a Verbatim export manifest");
  }
  std::vector<PackageVerdict> out;
  auto head = TreeHead::from_line(m.value("tree_head", ""));
  const bool head_ok = head && head.value().verify(public_key);
  for (const auto& jr : m["recordings"]) {
    PackageVerdict v;
    v.recording = jr.value("id", "?");
    bool tampered = false;
    bool unverifiable = !head_ok;
    if (!head_ok)
      v.problems.emplace_back("the tree head does not verify with the given public key");
    // Checks that a ledger reference is in the signed tree; returns its parsed entry.
    auto check_entry = [&](const json& ref, const std::string& what) -> json {
      const std::string bytes = ref.value("entry", "");
      json entry = json::parse(bytes, nullptr, false);
      if (!ref.contains("seq") || !ref.contains("proof") || entry.is_discarded()) {
        v.problems.emplace_back(what + ": no ledger entry or proof");
        unverifiable = true;
        return json();
      }
      std::vector<Hash> proof;
      for (const auto& p : ref["proof"]) {
        auto h = hash_from_hex(p.get<std::string>());
        if (h) proof.push_back(h.value());
      }
      if (head && !verify_inclusion(ref["seq"].get<uint64_t>(), head.value().size,
                                    leaf_hash(as_bytes(bytes)), proof, head.value().root)) {
        v.problems.emplace_back(
            what + ": ledger entry is not in the signed tree (altered entry or proof)");
        tampered = true;
      }
      return entry;
    };
    const json rentry = check_entry(jr.value("ledger", json::object()), "recording");
    if (rentry.is_object()) {
      if (rentry.value("type", "") != "recording.created" ||
          rentry.value("recording", "") != v.recording) {
        v.problems.emplace_back("recording: ledger entry is for something else");
        tampered = true;
      }
      // Every metadata version, each against its own ledger entry; the current metadata is
      // the last version.
      std::string current_sha = rentry.value("metadata_sha256", "");
      int64_t expect_version = 1;
      for (const auto& jv : jr.value("metadata_versions", json::array())) {
        const std::string what = "metadata version " + std::to_string(expect_version);
        const json ventry = check_entry(jv.value("ledger", json::object()), what);
        if (!ventry.is_object()) continue;
        const bool first = expect_version == 1;
        if (jv.value("version", int64_t{0}) != expect_version ||
            ventry.value("recording", "") != v.recording ||
            ventry.value("type", "") != (first ? "recording.created" : "metadata.updated") ||
            (!first && ventry.value("version", int64_t{0}) != expect_version)) {
          v.problems.emplace_back(what + ": ledger entry is for something else");
          tampered = true;
        }
        const auto text = read_file(in_package(dir, jv.value("file", "")), &ok);
        if (!ok || to_hex(Sha256::of(text)) != ventry.value("metadata_sha256", "")) {
          v.problems.emplace_back(what + ": missing or differs from what was recorded");
          tampered = true;
        }
        current_sha = ventry.value("metadata_sha256", "");
        ++expect_version;
      }
      const auto meta = read_file(in_package(dir, jr.value("metadata_file", "")), &ok);
      if (!ok) {
        v.problems.emplace_back("metadata file missing");
        tampered = true;
      } else if (to_hex(Sha256::of(meta)) != current_sha) {
        v.problems.emplace_back("metadata differs from what was recorded");
        tampered = true;
      }
    }
    // Completeness: every object the recording had when it ended (its ledger entry lists them)
    // is in the package. Without that entry (a package from before it was written), whether
    // the package is complete cannot be proven: unverifiable, never valid.
    if (jr.contains("ended")) {
      const json eentry = check_entry(jr["ended"], "recording end");
      const std::string etype = eentry.is_object() ? eentry.value("type", "") : "";
      if (eentry.is_object() &&
          ((etype != "recording.completed" && etype != "recording.interrupted") ||
           eentry.value("recording", "") != v.recording)) {
        v.problems.emplace_back("recording end: ledger entry is for something else");
        tampered = true;
      } else if (eentry.is_object() && !eentry.contains("objects")) {
        v.problems.emplace_back(
            "the recording ended before its ledger entries listed their objects: the package's "
            "completeness cannot be proven");
        unverifiable = true;
      } else if (eentry.is_object()) {
        std::map<std::string, std::string> present;  // object -> its sealed entry's sha256
        for (const auto& jo : jr.value("objects", json::array())) {
          const std::string bytes = jo.value("ledger", json::object()).value("entry", "");
          const json oe = json::parse(bytes, nullptr, false);
          if (oe.is_object()) present[jo.value("id", "")] = oe.value("sha256", "");
        }
        for (const auto& listed : eentry["objects"]) {
          const std::string oid = listed.value("object", "");
          auto it = present.find(oid);
          if (it == present.end()) {
            v.problems.emplace_back("object " + oid + " (" + listed.value("kind", "") +
                                    ") belongs to the recording but is missing from the package");
            tampered = true;
          } else if (it->second != listed.value("sha256", "")) {
            v.problems.emplace_back("object " + oid + ": not the object the recording ended with");
            tampered = true;
          }
        }
      }
    } else if (jr.value("status", "") != "recording") {
      v.problems.emplace_back(
          "the package does not say which objects the recording ended with: its completeness "
          "cannot be proven");
      unverifiable = true;
    }
    for (const auto& jo : jr.value("objects", json::array())) {
      const std::string oid = jo.value("id", "?");
      const std::string what = "object " + oid;
      const json oentry = check_entry(jo.value("ledger", json::object()), what);
      if (!oentry.is_object()) continue;
      if (oentry.value("type", "") != "object.sealed" || oentry.value("object", "") != oid ||
          oentry.value("recording", "") != v.recording) {
        v.problems.emplace_back(what + ": ledger entry is for something else");
        tampered = true;
        continue;
      }
      const fs::path stored = in_package(dir, jo.value("stored_file", ""));
      std::error_code ec;
      auto sha = !stored.empty() && fs::is_regular_file(stored, ec)
                     ? file_sha256(stored.string())
                     : Result<Hash>(make_error(ErrorCode::kNotFound, "missing"));
      if (!sha || to_hex(sha.value()) != oentry.value("sha256", "")) {
        v.problems.emplace_back(what + ": stored object missing or differs from the ledger");
        tampered = true;
        continue;
      }
      auto key_bytes = unhex(jo.value("data_key", ""));
      if (!key_bytes || key_bytes.value().size() != 32) {
        v.problems.emplace_back(what + ": no data key, content cannot be checked");
        unverifiable = true;
        continue;
      }
      DataKey key;
      std::copy(key_bytes.value().begin(), key_bytes.value().end(), key.begin());
      auto reader = ObjectReader::open(stored.string(), key);
      if (!reader || !reader.value()->verify()) {
        v.problems.emplace_back(what + ": stored object does not authenticate under its data key");
        tampered = true;
        continue;
      }
      Sha256 plain;
      for (size_t i = 0; i < reader.value()->chunks().size(); ++i) {
        auto c = reader.value()->read_chunk(i);
        if (c) plain.update(c.value());
      }
      const auto media = read_file(in_package(dir, jo.value("media_file", "")), &ok);
      if (!ok || Sha256::of(media) != plain.final()) {
        v.problems.emplace_back(what + ": media file differs from the sealed object's content");
        tampered = true;
      }
    }
    v.verdict = tampered ? "tampered" : unverifiable ? "unverifiable" : "valid";
    out.push_back(std::move(v));
  }
  return out;
}

// A manifest whose fields have the wrong types is malformed as a whole.
Result<std::vector<PackageVerdict>> verify_directory(const std::string& dir,
                                                     const std::array<uint8_t, 32>& public_key) {
  try {
    return verify_manifest(dir, public_key);
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      dir + "/manifest.json is malformed: " + std::string(e.what()));
  }
}

// A scratch directory next to `near` (or in the temp directory) that is removed on scope exit.
class ScratchDir {
 public:
  static Result<ScratchDir> make(const std::string& prefix) {
    std::string templ = prefix + ".XXXXXX";
    if (!::mkdtemp(templ.data())) {
      return make_error(ErrorCode::kIo, "cannot create a scratch directory " + templ);
    }
    return ScratchDir(templ);
  }
  ScratchDir(ScratchDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

}  // namespace

Result<ExportSummary> export_package(Archive& archive, const std::vector<std::string>& recordings,
                                     const std::string& out, const std::string& who,
                                     const ExportProgress& progress) {
  if (!is_tar_path(out)) return export_directory(archive, recordings, out, who, progress);
  std::error_code ec;
  if (fs::exists(out, ec)) {
    return make_error(ErrorCode::kAlreadyExists, out + " exists; not overwriting it");
  }
  // Staged beside the target (same file system, same permissions), then packed.
  auto scratch = ScratchDir::make(out + ".partial");
  if (!scratch) return scratch.error();
  const std::string staged = scratch.value().path() + "/package";
  auto summary = export_directory(archive, recordings, staged, who, progress);
  if (!summary) return summary.error();
  VB_TRY(pack_directory(staged, out));
  owner_only(out, false);
  summary.value().dir = out;
  return summary;
}

Result<std::vector<PackageVerdict>> verify_package(const std::string& path,
                                                   const std::array<uint8_t, 32>& public_key) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return verify_directory(path, public_key);
  auto scratch = ScratchDir::make((fs::temp_directory_path() / "vb-verify-export").string());
  if (!scratch) return scratch.error();
  VB_TRY(unpack_tar(path, scratch.value().path()));
  return verify_directory(scratch.value().path(), public_key);
}

}  // namespace verbatim::archive

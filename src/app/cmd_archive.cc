// `verbatim archive ...` (store, read, hold, retain, dispose, rotate keys, sign heads, metadata
// versions), `verbatim verify` (one pass of the incremental verifier, or the background one's
// status), `verbatim export` and `verbatim verify-export` (offline, with the public key only).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "app/cli.h"
#include "archive/export.h"
#include "archive/verifier.h"
#include "common/data_paths.h"
#include "common/exit_codes.h"
#include "search/transcript.h"

namespace verbatim::cli {
namespace {

struct ArchiveArgs {
  std::vector<std::string> files;
  std::string metadata = "{}";
  int retention_days = 0;
  std::string recording;
  std::string object;
  std::string case_id;
  std::string until;
  std::string key_file;
  std::string master_key;
  std::string reason;
  int version = 0;
  bool json = false;
};

// What a command's refusal by the archive exits with: 1 for a refusal or a finding (not found,
// not allowed now, bad input), 2 for anything else (the archive could not be used).
int refused(const Error& e) {
  return fail(e.code == ErrorCode::kNotFound || e.code == ErrorCode::kFailedPrecondition ||
                      e.code == ErrorCode::kInvalidArgument
                  ? kExitFinding
                  : kExitUsage,
              e.message);
}

// An archive command: opens the archive as the local user and runs `action` on it, beside the
// running recorder unless it needs the writer.
using ArchiveAction = int (*)(archive::Archive&, const ArchiveArgs&, const std::string& who);
int with_archive(Env& env, const ArchiveArgs& a, ArchiveAction action, ArchiveAccess access) {
  const std::string who = default_actor();
  auto opened = open_archive(env, who, a.master_key, access);
  if (!opened) return fail(kExitUsage, opened.error().message);
  return action(*opened.value(), a, who);
}

// A command whose success is a plain "ok".
int ok_or_refused(const Status& st) {
  if (!st) return refused(st.error());
  std::cout << "ok\n";
  return kExitOk;
}

int replace_signing_key(Env& env, const ArchiveArgs& a) {
  const std::string who = default_actor();
  archive::ArchiveOptions o = archive_options(env, a.master_key);
  o.replace_lost_signing_key = true;
  o.replacement_reason = a.reason;
  if (o.signing_key_file.empty()) o.signing_key_file = o.root + "/signing.key";
  if (auto st = use_configured_store(env, o, false); !st)
    return fail(kExitFinding, st.error().message);
  auto replaced = archive::Archive::open(o, env.clock, who);
  if (!replaced) return fail(kExitFinding, replaced.error().message);
  std::cout << "new signing key " << o.signing_key_file << " (public key "
            << archive::hex(replaced.value()->ledger().public_key())
            << "); the replacement is in the ledger. Give auditors the new public key ("
            << o.signing_key_file << ".pub) alongside the old one.\n";
  return kExitOk;
}

int move_keys_to_hsm(Env& env, const ArchiveArgs& a) {
  const std::string who = default_actor();
  archive::ArchiveOptions o = archive_options(env, a.master_key);
  if (auto st = use_configured_store(env, o, false); !st)
    return fail(kExitFinding, st.error().message);
  if (!o.hsm.enabled()) {
    return fail(kExitUsage, "configure the HSM first ([archive.hsm] in the configuration)");
  }
  o.moving_to_hsm = true;
  auto ar = archive::Archive::open(o, env.clock, who);
  if (!ar) return fail(kExitFinding, ar.error().message);
  auto n = ar.value()->move_keys_to_hsm(who);
  if (!n) return fail(kExitFinding, n.error().message);
  std::cout << "re-wrapped " << n.value() << " data keys under the HSM's master key '"
            << o.hsm.master_key_label << "'; heads are signed by its key '"
            << o.hsm.signing_key_label << "' from now on (public key "
            << archive::hex(ar.value()->ledger().public_key()) << ", in "
            << (o.signing_key_file.empty() ? o.root + "/signing.key" : o.signing_key_file)
            << ".pub). The key files are deleted: destroy their backups too.\n";
  return kExitOk;
}

int archive_import(archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
  auto meta = nlohmann::json::parse(a.metadata, nullptr, false);
  if (meta.is_discarded() || !meta.is_object())
    return fail(kExitUsage, "--metadata must be a JSON object");
  std::optional<std::chrono::days> keep;
  if (a.retention_days > 0) keep = std::chrono::days(a.retention_days);
  auto rec = ar.create_recording(meta, keep);
  if (!rec) return refused(rec.error());
  for (const auto& f : a.files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return fail(kExitUsage, "cannot read " + f);
    auto obj = ar.begin_object(rec.value(), "media");
    if (!obj) return refused(obj.error());
    std::vector<uint8_t> buf(1 << 16);
    while (in) {
      in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
      const auto n = static_cast<size_t>(in.gcount());
      if (n == 0) break;
      if (auto st = obj.value()->writer().write(std::span(buf).first(n)); !st) {
        return refused(st.error());
      }
    }
    auto sealed = ar.seal(*obj.value());
    if (!sealed) return refused(sealed.error());
    std::cout << "object " << obj.value()->id() << " " << f << " " << sealed.value().plaintext_size
              << " bytes, sha256 " << archive::to_hex(sealed.value().stored_sha256) << "\n";
  }
  if (auto st = ar.complete_recording(rec.value(), "complete"); !st) return refused(st.error());
  std::cout << "recording " << rec.value() << "\n";
  return kExitOk;
}

int archive_show(archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
  auto r = ar.recording(a.recording);
  if (!r) return refused(r.error());
  auto objs = ar.objects_of(a.recording);
  if (!objs) return refused(objs.error());
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& id : objs.value()) {
    auto info = ar.object_info(id);
    if (!info) return refused(info.error());
    const auto& o = info.value();
    nlohmann::json oj = {{"id", o.id},
                         {"kind", o.kind},
                         {"status", o.status},
                         {"bytes", o.plaintext_size},
                         {"sha256", o.sha256}};
    if (o.interrupted) oj["interrupted"] = true;
    objects.push_back(oj);
  }
  nlohmann::json j = {{"id", r.value().id},
                      {"serial", ar.node_id() + "-" + std::to_string(r.value().serial)},
                      {"status", r.value().status},
                      {"reason", r.value().reason},
                      {"metadata", r.value().metadata},
                      {"metadataVersion", r.value().metadata_version},
                      {"created", r.value().created_at},
                      {"completed", r.value().completed_at},
                      {"retentionUntil", r.value().retention_until},
                      {"legalHolds", r.value().active_holds},
                      {"objects", objects}};
  std::cout << j.dump(2) << "\n";
  return kExitOk;
}

int archive_edit_metadata(archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
  auto meta = nlohmann::json::parse(a.metadata, nullptr, false);
  if (meta.is_discarded() || !meta.is_object())
    return fail(kExitUsage, "--metadata must be a JSON object");
  auto v = ar.update_metadata(a.recording, meta, who, a.reason);
  if (!v) return refused(v.error());
  std::cout << "recording " << a.recording << " metadata version " << v.value() << "\n";
  return kExitOk;
}

int archive_history(archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
  auto h = ar.metadata_history(a.recording);
  if (!h) return refused(h.error());
  if (a.version > 0) {  // one version, byte-exact
    for (const auto& v : h.value()) {
      if (v.version == a.version) {
        std::cout << v.text;
        return kExitOk;
      }
    }
    return fail(kExitFinding, "recording " + a.recording + " has no metadata version " +
                                  std::to_string(a.version));
  }
  nlohmann::json j = nlohmann::json::array();
  for (const auto& v : h.value()) {
    j.push_back({{"version", v.version},
                 {"changedBy", v.changed_by},
                 {"changedAt", v.changed_at},
                 {"reason", v.reason},
                 {"ledgerSeq", v.ledger_seq},
                 {"metadata", nlohmann::json::parse(v.text, nullptr, false)}});
  }
  std::cout << j.dump(2) << "\n";
  return kExitOk;
}

int archive_cat(archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
  auto r = ar.read_object(a.object, who);
  if (!r) return refused(r.error());
  if (auto st = r.value()->verify(); !st) return fail(kExitFinding, st.error().message);
  for (size_t i = 0; i < r.value()->chunks().size(); ++i) {
    auto c = r.value()->read_chunk(i);
    if (!c) return fail(kExitFinding, c.error().message);
    std::cout.write(reinterpret_cast<const char*>(c.value().data()),
                    static_cast<std::streamsize>(c.value().size()));
  }
  return kExitOk;
}

int archive_transcript(archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
  auto t = search::read_transcript(ar, a.recording, who);
  if (!t) return refused(t.error());
  if (a.json) {
    std::cout << t.value().dump(2) << "\n";
    return kExitOk;
  }
  const auto& e = t.value()["engine"];
  std::cout << "# transcribed by " << e.value("name", "?") << " " << e.value("version", "") << " ("
            << e.value("model", "") << ")\n"
            << search::transcript_lines(t.value());
  return kExitOk;
}

int archive_dispose_expired(archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
  auto gone = ar.dispose_expired(who);
  if (!gone) return refused(gone.error());
  for (const auto& id : gone.value()) std::cout << "disposed " << id << "\n";
  return kExitOk;
}

int archive_rotate_key(archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
  auto n = ar.rotate_master_key(a.key_file, who);
  if (!n) return refused(n.error());
  std::cout << "re-wrapped " << n.value() << " data keys under " << a.key_file
            << "; use it as the master key file from now on (--master-key)\n";
  return kExitOk;
}

int archive_sign_head(archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
  auto h = ar.sign_head();
  if (!h) return refused(h.error());
  std::cout << h.value().to_line() << "\n";
  return kExitOk;
}
struct VerifyArgs {
  bool deep = false;
  bool json = false;
  bool progress = false;
  bool status = false;
  std::string master_key;
};

// The background verifier's last report (verbatim serve --roles archive-verify).
int show_verify_status(Env& env, bool json) {
  const auto path = DataPaths(env.config.data_dir).verify_status();
  std::ifstream in(path);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (!in || j.is_discarded()) {
    return fail(kExitUsage, "no background verification has reported yet (" + path +
                                "); run: verbatim serve --roles archive-verify");
  }
  const bool clean = j["findings"].empty() && j["lastPassFindings"].empty();
  if (json) {
    std::cout << j.dump(2) << "\n";
  } else {
    const bool in_pass = j["inPass"].get<bool>();
    std::cout << (in_pass ? "verifying: " : "idle: ") << j["percent"].dump() << "% of pass "
              << j["passesCompleted"].get<uint64_t>() + (in_pass ? 1 : 0) << " ("
              << j["objectsChecked"].dump() << " of " << j["objectsTotal"].dump() << " objects, "
              << j["bytesChecked"].dump() << " of " << j["bytesTotal"].dump() << " bytes), started "
              << j["passStarted"].get<std::string>() << "\n"
              << "last complete pass: " << j["lastPassFinished"].get<std::string>() << ", "
              << j["lastPassFindings"].size() << " finding(s)\n";
    for (const char* key : {"findings", "lastPassFindings"}) {
      for (const auto& f : j[key]) {
        std::cout << "FINDING " << f["where"].get<std::string>() << ": "
                  << f["what"].get<std::string>() << "\n";
      }
    }
  }
  return clean ? kExitOk : kExitFinding;
}

int run_verify(Env& env, const VerifyArgs& a) {
  if (a.status) return show_verify_status(env, a.json);
  if (!std::filesystem::exists(DataPaths(env.config.data_dir).archive_db())) {
    return fail(kExitUsage, "no archive in " + env.config.data_dir);
  }
  // Read-only: safe while a recorder writes; objects still open are skipped. The same
  // incremental verifier as the background role, run to the end of one pass.
  archive::ArchiveOptions options = archive_options(env, a.master_key);
  if (auto st = use_configured_store(env, options, false); !st) {
    return fail(kExitFinding, st.error().message);
  }
  archive::IncrementalVerifier verifier(options, env.clock, a.deep);
  int shown = -10;
  do {
    auto f = verifier.step();
    if (!f) return fail(kExitFinding, f.error().message);
    const int pct = static_cast<int>(verifier.status().percent());
    if (a.progress && pct / 10 != shown / 10) {
      std::cerr << "verify: " << pct << "% (" << verifier.status().objects_checked << " of "
                << verifier.status().objects_total << " objects)\n";
      shown = pct;
    }
  } while (verifier.status().in_pass);
  const auto& st = verifier.status();
  const auto& findings = st.findings;
  if (a.json) {
    nlohmann::json out = {{"ok", findings.empty()}, {"ledgerSize", st.ledger_size}};
    out["findings"] = nlohmann::json::array();
    for (const auto& f : findings)
      out["findings"].push_back({{"where", f.where}, {"what", f.what}});
    out["latestTreeHead"] = st.latest_head;
    std::cout << out.dump(2) << "\n";
  } else {
    for (const auto& f : findings) std::cout << "FINDING " << f.where << ": " << f.what << "\n";
    std::cout << (findings.empty() ? "OK" : "FAILED") << ": ledger of " << st.ledger_size
              << " entries, " << st.objects_checked << " objects, " << findings.size()
              << " finding(s)" << (a.deep ? " (deep: every chunk authenticated)" : "") << "\n";
    if (!st.latest_head.empty()) std::cout << "latest signed tree head: " << st.latest_head << "\n";
  }
  return findings.empty() ? kExitOk : kExitFinding;
}

int run_export(Env& env, const std::vector<std::string>& recordings, const std::string& out,
               const std::string& master_key) {
  const std::string who = default_actor();
  auto opened = open_archive(env, who, master_key, ArchiveAccess::kShared);
  if (!opened) return fail(kExitUsage, opened.error().message);
  auto s = archive::export_package(*opened.value(), recordings, out, who);
  if (!s)
    return fail(s.error().code == ErrorCode::kIo ? kExitUsage : kExitFinding, s.error().message);
  std::cout << "exported " << s.value().recordings << " recording(s), " << s.value().objects
            << " object(s) to " << out << "\ntree head: " << s.value().head.to_line()
            << "\nverify offline with: verbatim verify-export " << out
            << " --public-key <archive>/signing.key.pub\n";
  return kExitOk;
}

// A captured message from a file or stdin ("-"); nullopt (after saying why) when unreadable.

int run_verify_export(const std::string& dir, const std::string& public_key_file, bool json) {
  auto pk = archive::load_public_key(public_key_file);
  if (!pk) return fail(kExitUsage, pk.error().message);
  auto verdicts = archive::verify_package(dir, pk.value());
  if (!verdicts) return fail(kExitFinding, verdicts.error().message);
  bool all_valid = !verdicts.value().empty();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : verdicts.value()) {
    all_valid &= v.verdict == "valid";
    out.push_back({{"recording", v.recording}, {"verdict", v.verdict}, {"problems", v.problems}});
    if (!json) {
      std::cout << v.recording << ": " << v.verdict << "\n";
      for (const auto& p : v.problems) std::cout << "  " << p << "\n";
    }
  }
  if (json) std::cout << out.dump(2) << "\n";
  return all_valid ? kExitOk : kExitFinding;
}

}  // namespace

void add_archive_commands(CLI::App& app, Commands& commands) {
  auto aa = std::make_shared<ArchiveArgs>();
  auto* arch = app.add_subcommand("archive", "the encrypted, tamper-evident archive");
  arch->require_subcommand(1);
  arch->add_option("--master-key", aa->master_key,
                   "master key file (default <data-dir>/archive/master.key)");
  auto on = [&](CLI::App* cmd, ArchiveAction action,
                ArchiveAccess access = ArchiveAccess::kShared) {
    commands.on(cmd,
                [aa, action, access](Env& env) { return with_archive(env, *aa, action, access); });
  };
  auto* import = arch->add_subcommand("import", "store files as one recording");
  import->add_option("files", aa->files, "files to store")->required()->check(CLI::ExistingFile);
  import->add_option("--metadata", aa->metadata, "recording metadata (JSON object)");
  import->add_option("--retention-days", aa->retention_days, "retention (default 7 years)");
  on(import, archive_import, ArchiveAccess::kWriter);
  auto* show = arch->add_subcommand("show", "a recording's catalog entry");
  show->add_option("recording", aa->recording)->required();
  on(show, archive_show);
  auto* cat = arch->add_subcommand("cat", "decrypt an object to stdout (logged as access)");
  cat->add_option("object", aa->object)->required();
  on(cat, archive_cat);
  auto* transcript = arch->add_subcommand(
      "transcript", "a recording's transcript, every participant in time order (logged as access)");
  transcript->add_option("recording", aa->recording)->required();
  transcript->add_flag("--json", aa->json, "print JSON: utterances with words, times, confidences");
  on(transcript, archive_transcript);
  auto* hold = arch->add_subcommand("hold", "set a legal hold");
  hold->add_option("case", aa->case_id)->required();
  hold->add_option("recording", aa->recording)->required();
  on(hold, [](archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
    return ok_or_refused(ar.set_hold(a.case_id, a.recording, who));
  });
  auto* release = arch->add_subcommand("release", "release a legal hold");
  release->add_option("case", aa->case_id)->required();
  release->add_option("recording", aa->recording)->required();
  on(release, [](archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
    return ok_or_refused(ar.release_hold(a.case_id, a.recording, who));
  });
  auto* extend = arch->add_subcommand("extend", "extend a recording's retention");
  extend->add_option("recording", aa->recording)->required();
  extend->add_option("until", aa->until, "ISO 8601 UTC, e.g. 2033-01-31T00:00:00Z")->required();
  on(extend, [](archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
    return ok_or_refused(ar.extend_retention(a.recording, a.until, who));
  });
  auto* dispose = arch->add_subcommand("dispose", "dispose a recording whose retention ended");
  dispose->add_option("recording", aa->recording)->required();
  on(dispose, [](archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
    return ok_or_refused(ar.dispose(a.recording, who));
  });
  auto* expired =
      arch->add_subcommand("dispose-expired", "dispose every expired, unheld recording");
  on(expired, archive_dispose_expired);
  auto* del = arch->add_subcommand("delete", "attempt to delete an object (always refused)");
  del->add_option("object", aa->object)->required();
  on(del, [](archive::Archive& ar, const ArchiveArgs& a, const std::string& who) {
    return ok_or_refused(ar.delete_object(a.object, who));
  });
  auto* rotate = arch->add_subcommand("rotate-key", "re-wrap data keys under a new master key");
  rotate->add_option("key-file", aa->key_file, "new master key file (created if absent)")
      ->required();
  on(rotate, archive_rotate_key, ArchiveAccess::kWriter);
  auto* head = arch->add_subcommand("sign-head", "sign and print the ledger's tree head");
  on(head, archive_sign_head);
  auto* rekey = arch->add_subcommand(
      "replace-signing-key",
      "after the signing key was lost for good: a new one, recorded in the ledger");
  rekey->add_option("--reason", aa->reason, "why (kept in the ledger)")->required();
  commands.on(rekey, [aa](Env& env) { return replace_signing_key(env, *aa); });
  auto* to_hsm = arch->add_subcommand(
      "move-keys-to-hsm",
      "move an archive's master and signing keys from files into the configured HSM "
      "([archive.hsm]); the recorder must be stopped");
  commands.on(to_hsm, [aa](Env& env) { return move_keys_to_hsm(env, *aa); });
  auto* edit = arch->add_subcommand(
      "edit-metadata", "replace a recording's metadata (a new version; every version is kept)");
  edit->add_option("recording", aa->recording)->required();
  edit->add_option("--metadata", aa->metadata, "the new metadata (JSON object)")->required();
  edit->add_option("--reason", aa->reason, "why (kept in the audit trail)")->required();
  on(edit, archive_edit_metadata);
  auto* history = arch->add_subcommand("history", "every metadata version with who, when and why");
  history->add_option("recording", aa->recording)->required();
  history->add_option("--version", aa->version, "print this version byte-exact");
  on(history, archive_history);

  auto va = std::make_shared<VerifyArgs>();
  auto* verify = app.add_subcommand("verify", "verify the archive (exit 1 on any finding)");
  verify->add_flag("--deep", va->deep, "also decrypt and authenticate every chunk");
  verify->add_flag("--json", va->json, "print JSON");
  verify->add_flag("--progress", va->progress, "report progress on stderr");
  verify->add_flag("--status", va->status,
                   "show the background verifier's progress and findings instead");
  verify->add_option("--master-key", va->master_key, "master key file");
  commands.on(verify, [va](Env& env) { return run_verify(env, *va); });

  struct ExportArgs {
    std::vector<std::string> recordings;
    std::string out, master_key, package, public_key;
    bool json = false;
  };
  auto ea = std::make_shared<ExportArgs>();
  auto* exp = app.add_subcommand("export", "write a verifiable package of recordings");
  exp->add_option("recordings", ea->recordings, "recording ids")->required();
  exp->add_option("--out", ea->out,
                  "package directory (must not exist or be empty), or a file ending in .tar, "
                  ".tar.gz or .tar.xz (must not exist)")
      ->required();
  exp->add_option("--master-key", ea->master_key, "master key file");
  commands.on(exp,
              [ea](Env& env) { return run_export(env, ea->recordings, ea->out, ea->master_key); });
  auto* vexp = app.add_subcommand("verify-export", "check an export package offline");
  vexp->add_option("package", ea->package, "package directory or tar file")
      ->required()
      ->check(CLI::ExistingPath);
  vexp->add_option("--public-key", ea->public_key, "the archive's signing.key.pub")
      ->required()
      ->check(CLI::ExistingFile);
  vexp->add_flag("--json", ea->json, "print JSON");
  commands.on(vexp,
              [ea](Env&) { return run_verify_export(ea->package, ea->public_key, ea->json); });
}

}  // namespace verbatim::cli

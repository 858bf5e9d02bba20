"""The archive through the CLI: import, verify (exit 0 / 1 naming the object), write-once and
retention refusals, legal holds, deep verification, JSON output."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, VerbatimTestCase, wait_until, main  # noqa: E402


class ArchiveCliTest(VerbatimTestCase):
    def import_files(self):
        paths = []
        for name, size in (("call.pcap", 150000), ("meta.json", 300)):
            p = os.path.join(self.tmp, name)
            with open(p, "wb") as f:
                f.write(os.urandom(size))
            paths.append(p)
        r = self.run_vb("archive", "import", *paths, "--metadata", '{"from": "sip:alice@contoso.com"}', check=0)
        objects = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("object ")]
        recording = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("recording ")][0]
        return paths, objects, recording

    def test_import_read_back_and_verify(self):
        paths, objects, recording = self.import_files()
        self.assertIn("OK", self.run_vb("verify", "--deep", check=0).stdout)
        r = subprocess_bytes(self, "archive", "cat", objects[0])
        with open(paths[0], "rb") as f:
            self.assertEqual(r, f.read())
        show = json.loads(self.run_vb("archive", "show", recording, check=0).stdout)
        self.assertEqual(show["status"], "complete")
        self.assertEqual(show["metadata"]["from"], "sip:alice@contoso.com")
        self.assertEqual(len(show["objects"]), 2)
        mode = os.stat(os.path.join(self.data, "archive", "master.key")).st_mode & 0o777
        self.assertEqual(mode, 0o600)

    def test_tampering_is_reported_with_exit_1(self):
        _, objects, recording = self.import_files()
        path = os.path.join(self.data, "archive", "objects", objects[0][:2], objects[0] + ".vbo")
        with open(path, "r+b") as f:
            f.seek(1000)
            b = f.read(1)
            f.seek(1000)
            f.write(bytes([b[0] ^ 1]))
        r = self.run_vb("verify", check=1)
        self.assertIn(objects[0], r.stdout)
        self.assertNotIn(objects[1], r.stdout)
        j = json.loads(self.run_vb("verify", "--json", check=1).stdout)
        self.assertFalse(j["ok"])
        self.assertEqual(len(j["findings"]), 1)

    def test_write_once_retention_and_holds(self):
        _, objects, recording = self.import_files()
        r = self.run_vb("archive", "delete", objects[0], check=1)
        self.assertIn("write-once", r.stderr)
        r = self.run_vb("archive", "dispose", recording, check=1)
        self.assertIn("retained until", r.stderr)
        self.run_vb("archive", "hold", "CASE-7", recording, check=0)
        self.run_vb("archive", "extend", recording, "2099-01-01T00:00:00Z", check=0)
        r = self.run_vb("archive", "extend", recording, "2030-01-01T00:00:00Z", check=1)
        self.assertIn("never shortened", r.stderr)
        self.run_vb("archive", "release", "CASE-7", recording, check=0)
        self.run_vb("archive", "release", "CASE-7", recording, check=1)
        self.assertIn("OK", self.run_vb("verify", check=0).stdout)

    def test_metadata_edits_are_versioned_and_recreatable(self):
        _, objects, recording = self.import_files()
        original = self.run_vb("archive", "history", recording, "--version", "1", check=0).stdout
        for i in range(3):
            self.run_vb("archive", "edit-metadata", recording,
                        "--metadata", json.dumps({"note": i}), "--reason", "ticket %d" % i, check=0)
        r = self.run_vb("archive", "edit-metadata", recording, "--metadata", "[1]", "--reason", "x", check=2)
        self.assertIn("JSON object", r.stderr)
        history = json.loads(self.run_vb("archive", "history", recording, check=0).stdout)
        self.assertEqual([v["version"] for v in history], [1, 2, 3, 4])
        self.assertEqual(history[3]["changedBy"], f"os:{os.getuid()}")  # the local user, by uid
        self.assertEqual(history[2]["reason"], "ticket 1")
        self.assertEqual(json.loads(original), {"from": "sip:alice@contoso.com"})
        self.assertEqual(self.run_vb("archive", "history", recording, "--version", "1", check=0).stdout, original)
        self.run_vb("archive", "history", recording, "--version", "9", check=1)
        show = json.loads(self.run_vb("archive", "show", recording, check=0).stdout)
        self.assertEqual(show["metadataVersion"], 4)
        self.assertEqual(show["metadata"], {"note": 2})
        self.assertRegex(show["serial"], r"^[0-9a-f]{16}-1$")
        self.assertIn("OK", self.run_vb("verify", check=0).stdout)

    def test_retention_rules_from_the_configuration(self):
        cfg = os.path.join(self.tmp, "verbatim.toml")
        with open(cfg, "w") as f:
            f.write('[archive]\ndefault_retention = "7y"\n'
                    '[[archive.retention]]\ngroup = "SEC-Brokers"\nperiod = "6y"\n'
                    '[[archive.retention]]\ngroup = "FINRA-Desk"\nperiod = "10y"\n')
        p = os.path.join(self.tmp, "call.pcap")
        with open(p, "wb") as f:
            f.write(os.urandom(1000))
        years = {}
        for groups in (["sec-brokers"], ["SEC-Brokers", "FINRA-Desk"], []):
            r = self.run_vb("--config", cfg, "archive", "import", p, "--metadata",
                            json.dumps({"groups": groups}), check=0)
            rec = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("recording ")][0]
            show = json.loads(self.run_vb("archive", "show", rec, check=0).stdout)
            years[",".join(groups)] = int(show["retentionUntil"][:4])
        now = int(time.strftime("%Y", time.gmtime()))
        self.assertEqual(years, {"sec-brokers": now + 6, "SEC-Brokers,FINRA-Desk": now + 10, "": now + 7})
        with open(cfg, "a") as f:
            f.write('[[archive.retention]]\ngroup = "X"\nperiod = "six years"\n')
        r = self.run_vb("--config", cfg, "archive", "import", p, check=2)
        self.assertIn("archive.retention[3].period", r.stderr)


class BackgroundVerifyTest(VerbatimTestCase):
    def test_background_verification_reports_progress_and_findings(self):
        cfg = os.path.join(self.tmp, "verbatim.toml")
        with open(cfg, "w") as f:
            f.write("[archive]\nverify_interval_s = 1\n")
        r = self.run_vb("verify", "--status", check=2)
        self.assertIn("no background verification", r.stderr)
        p = os.path.join(self.tmp, "call.pcap")
        with open(p, "wb") as f:
            f.write(os.urandom(300000))
        r = self.run_vb("archive", "import", p, check=0)
        obj = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("object ")][0]
        # The foreground verify reports progress on request.
        r = self.run_vb("verify", "--progress", check=0)
        self.assertIn("verify: 100%", r.stderr)
        server = subprocess.Popen([BIN, "--config", cfg, "serve", "--roles", "archive-verify"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
        self.servers.append(server)
        self.assertIn("archive-verify running", server.stdout.readline())

        def status():
            r = self.run_vb("verify", "--status", "--json")
            return json.loads(r.stdout) if r.returncode in (0, 1) else None

        done = wait_until(lambda: (status() or {}).get("passesCompleted", 0) >= 1, timeout=20)
        self.assertTrue(done, "no pass completed")
        self.assertIn("idle: 100", self.run_vb("verify", "--status", check=0).stdout)
        path = os.path.join(self.data, "archive", "objects", obj[:2], obj + ".vbo")
        with open(path, "r+b") as f:
            f.seek(5000)
            b = f.read(1)
            f.seek(5000)
            f.write(bytes([b[0] ^ 0x20]))
        found = wait_until(lambda: (status() or {}).get("lastPassFindings"), timeout=20)
        self.assertTrue(found, "the tampering was not reported")
        self.assertIn(obj, found[0]["where"])
        r = self.run_vb("verify", "--status", check=1)
        self.assertIn("FINDING", r.stdout)
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=10)
        self.assertEqual(server.returncode, 0)
        self.assertIn("archive verification FINDING", err)
        self.assertIn(obj, err)


class ExportCliTest(VerbatimTestCase):
    def test_export_and_offline_verification(self):
        p = os.path.join(self.tmp, "call.pcap")
        with open(p, "wb") as f:
            f.write(os.urandom(50000))
        r = self.run_vb("archive", "import", p, check=0)
        recording = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("recording ")][0]
        pkg = os.path.join(self.tmp, "package")
        self.run_vb("export", recording, "--out", pkg, check=0)
        pub = os.path.join(self.data, "archive", "signing.key.pub")
        # Offline: no data directory at all, only the package and the public key.
        env = {k: v for k, v in self.env.items() if k != "VERBATIM_DATA_DIR"}
        r = self.run_vb("verify-export", pkg, "--public-key", pub, env=env, check=0)
        self.assertIn(recording + ": valid", r.stdout)
        media = [os.path.join(dp, f) for dp, _, fs in os.walk(pkg) for f in fs if f.endswith(".bin")][0]
        with open(media, "rb") as f:
            self.assertEqual(f.read(), open(p, "rb").read())
        with open(media, "r+b") as f:
            f.write(b"X")
        r = self.run_vb("verify-export", pkg, "--public-key", pub, "--json", env=env, check=1)
        self.assertEqual(json.loads(r.stdout)[0]["verdict"], "tampered")
        self.run_vb("export", recording, "--out", pkg, check=1)  # never overwrites

    def test_tar_package_and_hostile_tars(self):
        import io
        import tarfile
        p = os.path.join(self.tmp, "call.pcap")
        with open(p, "wb") as f:
            f.write(os.urandom(20000))
        r = self.run_vb("archive", "import", p, check=0)
        recording = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("recording ")][0]
        tar = os.path.join(self.tmp, "evidence.tar")
        self.run_vb("export", recording, "--out", tar, check=0)
        self.assertTrue(tarfile.is_tarfile(tar))
        with tarfile.open(tar) as t:
            names = t.getnames()
        self.assertIn("manifest.json", names)
        pub = os.path.join(self.data, "archive", "signing.key.pub")
        env = {k: v for k, v in self.env.items() if k != "VERBATIM_DATA_DIR"}
        r = self.run_vb("verify-export", tar, "--public-key", pub, env=env, check=0)
        self.assertIn(recording + ": valid", r.stdout)
        # Hostile packages are refused by name, and nothing lands outside the scratch space.
        for name, kind in (("../escaped.txt", tarfile.REGTYPE), ("/tmp/vb-abs.txt", tarfile.REGTYPE),
                           ("link", tarfile.SYMTYPE)):
            bad = os.path.join(self.tmp, "bad.tar")
            with tarfile.open(bad, "w") as t:
                info = tarfile.TarInfo(name)
                info.type = kind
                if kind == tarfile.SYMTYPE:
                    info.linkname = "/etc/passwd"
                    t.addfile(info)
                else:
                    info.size = 4
                    t.addfile(info, io.BytesIO(b"evil"))
            r = self.run_vb("verify-export", bad, "--public-key", pub, env=env, check=1)
            self.assertIn("refusing entry", r.stderr)
            os.remove(bad)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "escaped.txt")))


def subprocess_bytes(test, *args):
    import subprocess
    from helpers import BIN
    r = subprocess.run([BIN, *args], capture_output=True, env=test.env, timeout=60)
    test.assertEqual(r.returncode, 0, r.stderr)
    return r.stdout


if __name__ == "__main__":
    main()

"""Fault sweep (reliability T06/T07): fail the k-th fsync/fdatasync with EIO, for every k of a
recording import, then restart. Each outcome must be either durable + verifiable, or an
explicit error whose recording is marked interrupted after recovery — never an object that is
indexed but missing, stored but unindexed, or a failed fsync reported as durable."""
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import VerbatimTestCase, main  # noqa: E402

SHIM = os.environ.get("VERBATIM_FAIL_FSYNC_LIB", "")


class FsyncFaultSweep(VerbatimTestCase):
    def test_every_failing_fsync_is_reported_and_recovered(self):
        if not SHIM:
            self.skipTest("fault injection library not built")
        media = os.path.join(self.tmp, "call.pcap")
        with open(media, "wb") as f:
            f.write(os.urandom(300000))
        count_file = os.path.join(self.tmp, "fsync-count")
        env = dict(self.env, LD_PRELOAD=SHIM, VB_FSYNC_COUNT_FILE=count_file,
                   ASAN_OPTIONS="verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", ""))
        # How many fsyncs a clean import makes (on a fresh archive, then on a warm one).
        self.run_vb("archive", "import", media, env=env, check=0)
        total = int(open(count_file).read())
        self.assertGreater(total, 3)
        failures = 0
        for k in range(1, total + 3):
            with self.subTest(k=k):
                r = self.run_vb("archive", "import", media, env=dict(env, VB_FAIL_FSYNC_AT=str(k)))
                if r.returncode != 0:
                    failures += 1
                    self.assertTrue(r.stderr.strip(), "a failure must say why")
                # Restart as a writer (recovers anything left open), then verify deeply.
                self.run_vb("archive", "sign-head", check=0)
                v = self.run_vb("verify", "--deep", "--json")
                report = json.loads(v.stdout)
                self.assertTrue(report["ok"], report["findings"])
                self.assertEqual(v.returncode, 0)
        self.assertGreater(failures, 0, "the sweep never hit a fault")
        # Nothing is left open; every recording is complete or explicitly interrupted.
        db = sqlite3.connect(os.path.join(self.data, "archive", "archive.db"))
        open_objects = db.execute("SELECT COUNT(*) FROM objects WHERE status = 'open'").fetchone()[0]
        self.assertEqual(open_objects, 0)
        statuses = {s for (s,) in db.execute("SELECT DISTINCT status FROM recordings")}
        self.assertTrue(statuses <= {"complete", "interrupted", "recording"}, statuses)


class DiskFullTest(VerbatimTestCase):
    def test_a_full_disk_fails_the_write_keeps_what_is_stored_and_refuses_new_work(self):
        if not SHIM:
            self.skipTest("fault injection library not built")
        media = os.path.join(self.tmp, "call.pcap")
        with open(media, "wb") as f:
            f.write(os.urandom(3 << 20))
        r = self.run_vb("archive", "import", media, check=0)
        before = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("recording ")][0]
        env = dict(self.env, LD_PRELOAD=SHIM, VB_ENOSPC_AFTER_BYTES=str(1 << 20),
                   ASAN_OPTIONS="verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", ""))
        r = self.run_vb("archive", "import", media, env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No space left on device", r.stderr)
        # Space is back: the next writer recovers the interrupted object; all verifies.
        self.run_vb("archive", "sign-head", check=0)
        v = json.loads(self.run_vb("verify", "--deep", "--json", check=0).stdout)
        self.assertTrue(v["ok"], v["findings"])
        db = sqlite3.connect(os.path.join(self.data, "archive", "archive.db"))
        rows = db.execute("SELECT id, status FROM recordings ORDER BY serial").fetchall()
        self.assertEqual(rows[0], (before, "complete"))
        self.assertEqual(rows[1][1], "interrupted")
        kept = db.execute("SELECT plaintext_size FROM objects WHERE recording_id = ?",
                          (rows[1][0],)).fetchone()[0]
        self.assertLess(kept, 1 << 20)
        # The earlier recording is untouched, byte for byte.
        obj = db.execute("SELECT id FROM objects WHERE recording_id = ?", (before,)).fetchone()[0]
        import subprocess
        from helpers import BIN
        out = subprocess.run([BIN, "archive", "cat", obj], capture_output=True, env=self.env).stdout
        self.assertEqual(out, open(media, "rb").read())
        # Below the free-space threshold new recordings are refused with the reason.
        cfg = os.path.join(self.tmp, "full.toml")
        with open(cfg, "w") as f:
            f.write("[archive]\nmin_free_mb = 1000000000\n")
        r = self.run_vb("--config", cfg, "archive", "import", media)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("refusing a new object", r.stderr)


if __name__ == "__main__":
    main()

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
from helpers import VerbatimTestCase  # noqa: E402

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


if __name__ == "__main__":
    unittest.main(verbosity=2)

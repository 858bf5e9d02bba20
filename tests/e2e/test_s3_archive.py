"""The archive on S3 with Object Lock, end to end: `verbatim serve --roles recorder` records a
SIPp call into a bucket of a real Ceph RADOS Gateway that this module starts once
(tests/peers/ceph-rgw.sh). boto3, an independent S3 client, checks what the store holds:
every object locked in COMPLIANCE mode until the recording's retention date, no personal data
in the keys, and deletion before the date refused by the store itself (T25 c). The store is then
stopped mid-service: calls go on being recorded into the local spool and reach the bucket when it
is back. `verbatim verify` reads the objects back from the bucket, and reports objects that a
Ceph administrator removes behind S3's back."""
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, SOURCE_DIR, main, wait_until  # noqa: E402
from test_recorder import RecorderTestCase  # noqa: E402

CEPH = os.path.join(SOURCE_DIR, "tests", "peers", "ceph-rgw.sh")


class S3ArchiveTest(RecorderTestCase):
    skip_reason = ""

    @classmethod
    def setUpClass(cls):
        cls.ceph_dir = tempfile.mkdtemp(prefix="vb_ceph_")
        r = subprocess.run([CEPH, "start", cls.ceph_dir], capture_output=True, text=True, timeout=180)
        if r.returncode == 77:
            cls.skip_reason = "Ceph is not installed (scripts/bootstrap.sh installs it)"
            return
        if r.returncode != 0:
            subprocess.run([CEPH, "stop", cls.ceph_dir], timeout=60)
            raise RuntimeError("Ceph did not start: " + r.stderr)
        cls.rgw = dict(line.split("=", 1) for line in r.stdout.split())
        try:
            import boto3
            import botocore
        except ImportError:
            cls.skip_reason = "python3-boto3 is not installed (scripts/bootstrap.sh installs it)"
            return
        cls.s3 = boto3.client("s3", endpoint_url=cls.rgw["RGW_URL"], region_name="us-east-1",
                              aws_access_key_id=cls.rgw["S3_ACCESS_KEY"],
                              aws_secret_access_key=cls.rgw["S3_SECRET_KEY"],
                              config=botocore.config.Config(s3={"addressing_style": "path"},
                                                            retries={"max_attempts": 1}))

    @classmethod
    def tearDownClass(cls):
        subprocess.run([CEPH, "stop", cls.ceph_dir], timeout=120)

    def setUp(self):
        super().setUp()
        if self.skip_reason:
            self.skipTest(self.skip_reason)

    def rgw_pid(self):
        with open(os.path.join(self.ceph_dir, "run", "client.rgw.v.pid")) as f:
            return int(f.read())

    def stop_rgw(self):
        pid = self.rgw_pid()
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 30))

    def start_rgw(self):
        env = dict(os.environ, CEPH_CONF=self.rgw["CEPH_CONF"])
        subprocess.run(["radosgw", "-n", "client.rgw.v"], env=env, check=True, timeout=60)

        def up():
            try:
                self.s3.list_buckets()
                return True
            except Exception:  # noqa: BLE001 (still starting)
                return False
        self.assertTrue(wait_until(up, 60, 0.2), "radosgw did not come back")

    def start_s3_recorder(self, bucket):
        creds = os.path.join(self.tmp, "s3-credentials")
        with open(creds, "w") as f:
            f.write(f"[default]\naws_access_key_id = {self.rgw['S3_ACCESS_KEY']}\n"
                    f"aws_secret_access_key = {self.rgw['S3_SECRET_KEY']}\n")
        os.chmod(creds, 0o600)
        extra = (f'[archive.s3]\nendpoint = "{self.rgw["RGW_URL"]}"\nbucket = "{bucket}"\n'
                 f'prefix = "site-a"\ncredentials_file = "{creds}"\ntimeout_s = 3\n')
        rec, port = self.start_recorder(extra_toml=extra)
        # The CLI commands of this test read the same configuration (and so the same bucket).
        self.env["VERBATIM_CONFIG"] = os.path.join(self.tmp, "recorder.toml")
        return rec, port

    def status(self):
        try:
            with open(os.path.join(self.data, "recorder-status.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def bucket_keys(self, bucket):
        out = self.s3.list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in out.get("Contents", []))

    def outbox(self):
        root = os.path.join(self.data, "archive", "spool", "outbox")
        return [f for _, _, files in os.walk(root) for f in files]

    def test_calls_are_kept_write_once_in_the_bucket_even_through_an_outage(self):
        bucket = "recordings-" + os.path.basename(self.tmp).lower().replace("_", "-")
        self.s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        rec_proc, port = self.start_s3_recorder(bucket)

        first = self.record_call(port, "first")
        objects = {o["id"]: o for o in self.show(first)["objects"]}
        self.assertTrue(wait_until(lambda: len(self.bucket_keys(bucket)) >= len(objects) and not self.outbox(), 60),
                        (self.bucket_keys(bucket), self.outbox()))
        keys = self.bucket_keys(bucket)
        self.assertEqual(sorted(k.split("/")[-1][:-4] for k in keys), sorted(objects))
        retention = self.show(first)["retentionUntil"]
        for key in keys:
            self.assertTrue(key.startswith("site-a/"), key)
            self.assertNotIn("alice", key.lower())
            r = self.s3.get_object_retention(Bucket=bucket, Key=key)["Retention"]
            self.assertEqual(r["Mode"], "COMPLIANCE")
            self.assertEqual(r["RetainUntilDate"].strftime("%Y-%m-%dT%H:%M:%S"), retention[:19])
        # T25 (c): the store's own credentials cannot delete or shorten the lock.
        import botocore
        key = keys[0]
        version = self.s3.head_object(Bucket=bucket, Key=key)["VersionId"]
        for attempt in (lambda: self.s3.delete_object(Bucket=bucket, Key=key, VersionId=version),
                        lambda: self.s3.delete_object(Bucket=bucket, Key=key, VersionId=version,
                                                      BypassGovernanceRetention=True),
                        lambda: self.s3.put_object_retention(
                            Bucket=bucket, Key=key, VersionId=version,
                            Retention={"Mode": "COMPLIANCE",
                                       "RetainUntilDate": datetime.datetime.now(datetime.timezone.utc)
                                       + datetime.timedelta(days=1)})):
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                attempt()
            self.assertEqual(e.exception.response["Error"]["Code"], "AccessDenied")
        # Playback reads the bucket: the evidence holds the capture's packets.
        self.assertGreater(len(self.object_bytes(first, "evidence-pcap")), 10000)

        # The store goes away: the next call is recorded all the same, into the spool.
        self.stop_rgw()
        second = self.record_call(port, "second")
        self.assertIn(self.show(second)["status"], ("complete", "partial"))
        self.assertTrue(self.outbox(), "the second call waits in the spool")
        # The recorder's status (and /metrics) says so: verbatim_recorder_s3_store_up 0.
        self.assertTrue(wait_until(lambda: self.status().get("s3StoreUp") is False, 30), self.status())
        self.assertGreater(self.status()["s3SpoolObjects"], 0)
        self.assertIn("127.0.0.1", self.status()["s3LastError"])
        self.assertGreater(len(self.object_bytes(second, "evidence-pcap")), 10000)
        self.start_rgw()
        self.assertTrue(wait_until(lambda: not self.outbox(), 120), self.outbox())
        # The status file is rewritten every second or so: it may still show the last upload due.
        self.assertTrue(wait_until(lambda: self.status().get("s3StoreUp") is True
                                   and self.status().get("s3SpoolObjects") == 0, 30), self.status())
        want = set(objects) | {o["id"] for o in self.show(second)["objects"]}
        got = {k.split("/")[-1][:-4] for k in self.bucket_keys(bucket)}
        self.assertEqual(got, want)
        for key in self.bucket_keys(bucket):
            versions = self.s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
            self.assertEqual(len(versions), 1, f"{key} sent once")
        self.assertIn("OK", self.run_vb("verify", "--deep", check=0).stdout)

        # Retention extended by a compliance officer reaches the lock in the store.
        self.run_vb("archive", "extend", first, "2099-01-01T00:00:00Z", check=0)
        r = self.s3.get_object_retention(Bucket=bucket, Key=keys[0])["Retention"]
        self.assertEqual(r["RetainUntilDate"].year, 2099)
        self.stop_recorder(rec_proc)

        # A Ceph administrator can go around S3 (radosgw-admin, with the cluster's keys): verify
        # then names every object that is gone.
        env = dict(os.environ, CEPH_CONF=self.rgw["CEPH_CONF"])
        subprocess.run(["radosgw-admin", "bucket", "rm", "--bucket", bucket, "--purge-objects",
                        "--bypass-gc"], env=env, capture_output=True, timeout=120)
        r = self.run_vb("verify", "--json", check=None)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith("{"), r.stderr)
        findings = " ".join(f["where"] + " " + f["what"] for f in json.loads(r.stdout)["findings"])
        for oid in want:
            self.assertIn(oid, findings)

    def test_a_bucket_without_object_lock_is_refused(self):
        bucket = "plain-" + os.path.basename(self.tmp).lower().replace("_", "-")
        self.s3.create_bucket(Bucket=bucket)
        creds = os.path.join(self.tmp, "s3-credentials")
        with open(creds, "w") as f:
            f.write(f"aws_access_key_id = {self.rgw['S3_ACCESS_KEY']}\n"
                    f"aws_secret_access_key = {self.rgw['S3_SECRET_KEY']}\n")
        cfg = os.path.join(self.tmp, "plain.toml")
        with open(cfg, "w") as f:
            f.write(f'[archive.s3]\nendpoint = "{self.rgw["RGW_URL"]}"\nbucket = "{bucket}"\n'
                    f'credentials_file = "{creds}"\n')
        r = self.run_vb("--config", cfg, "archive", "import", creds, check=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("does not have Object Lock", r.stderr)


if __name__ == "__main__":
    main()

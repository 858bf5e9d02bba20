"""The archive's keys in an HSM, end to end: `verbatim serve --roles recorder` with [archive.hsm]
on a SoftHSM2 token that this module makes (a real PKCS#11 module, in a directory of its own)
records a SIPp call; no master or signing key is ever on disk; `verbatim verify` and playback
work through the token. T38: with the HSM unusable at restart (a wrong PIN, a token that is not
there) the recorder does not start, says why, and writes nothing; once the HSM is back it records
again."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, main  # noqa: E402
from test_recorder import RecorderTestCase  # noqa: E402

MODULES = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"]
PIN = "271828"


class HsmTest(RecorderTestCase):
    skip_reason = ""

    @classmethod
    def setUpClass(cls):
        cls.module = next((m for m in MODULES if os.path.exists(m)), None)
        if not cls.module or not shutil.which("softhsm2-util"):
            cls.skip_reason = "SoftHSM2 is not installed (scripts/bootstrap.sh installs softhsm2)"
            return
        cls.hsm_dir = tempfile.mkdtemp(prefix="vb_softhsm_")
        os.mkdir(os.path.join(cls.hsm_dir, "tokens"))
        cls.hsm_conf = os.path.join(cls.hsm_dir, "softhsm2.conf")
        with open(cls.hsm_conf, "w") as f:
            f.write(f"directories.tokendir = {cls.hsm_dir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "recorders", "--pin", PIN,
                        "--so-pin", "31415926"], env=dict(os.environ, SOFTHSM2_CONF=cls.hsm_conf),
                       check=True, capture_output=True, timeout=60)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "hsm_dir", None):
            shutil.rmtree(cls.hsm_dir, ignore_errors=True)

    def setUp(self):
        super().setUp()
        if self.skip_reason:
            self.skipTest(self.skip_reason)
        self.env["SOFTHSM2_CONF"] = self.hsm_conf
        self.pin_file = os.path.join(self.tmp, "hsm-pin")
        self.write_pin(PIN)

    def write_pin(self, pin):
        with open(self.pin_file, "w") as f:
            f.write(pin + "\n")
        os.chmod(self.pin_file, 0o600)

    def hsm_toml(self, label):
        return (f'[archive.hsm]\nmodule = "{self.module}"\ntoken = "recorders"\npin_file = "{self.pin_file}"\n'
                f'master_key_label = "{label}-master"\nsigning_key_label = "{label}-signing"\n')

    def archive_files(self):
        root = os.path.join(self.data, "archive")
        return {os.path.relpath(os.path.join(d, f), root): os.path.getsize(os.path.join(d, f))
                for d, _, files in os.walk(root) for f in files}

    def test_recordings_are_keyed_and_signed_by_the_hsm_and_t38_an_unusable_hsm_stops_the_recorder(self):
        toml = self.hsm_toml("site-a")
        rec_proc, port = self.start_recorder(extra_toml=toml)
        # The CLI commands of this test read the same configuration (and so the same HSM).
        self.env["VERBATIM_CONFIG"] = os.path.join(self.tmp, "recorder.toml")
        first = self.record_call(port, "first")
        self.assertIn(self.show(first)["status"], ("complete", "partial"))
        self.assertGreater(len(self.object_bytes(first, "evidence-pcap")), 10000)
        files = self.archive_files()
        self.assertNotIn("master.key", files)
        self.assertNotIn("signing.key", files)
        self.assertIn("signing.key.pub", files)
        out = self.run_vb("verify", "--deep", check=0).stdout
        self.assertIn("OK", out)
        # The heads are signed by the token's key, whose public half is signing.key.pub.
        head = self.run_vb("archive", "sign-head", check=0).stdout.split()
        self.assertEqual(len(head), 4, head)
        self.stop_recorder(rec_proc)

        # T38: the HSM cannot be used at restart. The recorder exits with the reason and writes
        # nothing (so the gateway treats it as down and applies the policy's Required* flags).
        before = self.archive_files()
        for pin, reason in ((PIN[::-1], "CKR_PIN_INCORRECT"), (None, "no token labelled 'elsewhere'")):
            cfg = os.path.join(self.tmp, "recorder.toml")
            with open(cfg) as f:
                text = f.read()
            if pin:
                self.write_pin(pin)
            else:
                with open(cfg, "w") as f:
                    f.write(text.replace('token = "recorders"', 'token = "elsewhere"'))
            log = os.path.join(self.tmp, "refused.log")
            with open(log, "w") as err:
                started = time.monotonic()
                p = subprocess.run([BIN, "--config", cfg, "serve", "--roles", "recorder"], stdout=subprocess.PIPE,
                                   stderr=err, text=True, env=self.env, timeout=60)
            with open(log) as f:
                message = f.read()
            self.assertNotEqual(p.returncode, 0, message)
            self.assertLess(time.monotonic() - started, 30)
            self.assertIn(reason, message)
            self.assertIn("nothing is recorded until it can", message)
            self.assertEqual(self.archive_files(), before)
            with open(cfg, "w") as f:
                f.write(text)
            self.write_pin(PIN)
        # The HSM is back: the same archive records again and verifies.
        _, port = self.start_recorder(extra_toml=toml)
        second = self.record_call(port, "second")
        self.assertGreater(len(self.object_bytes(second, "evidence-pcap")), 10000)
        self.assertIn("OK", self.run_vb("verify", "--deep", check=0).stdout)


if __name__ == "__main__":
    main()

"""Interop of Verbatim's SIP stack with a real softphone, baresip (Debian package baresip-core),
started by the test on loopback and driven through its ctrl_tcp interface (netstring JSON
commands and events): baresip registers with digest authentication at our registrar and
calls our UAS; our UAC (the UserAgent core) calls baresip, puts the call on hold with a
re-INVITE, and transfers it with REFER to our UAS, which baresip then calls."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import SIP_PEER, SipPeerTestCase, free_udp_port, main  # noqa: E402

PEER = SIP_PEER
BARESIP = shutil.which("baresip")
MODULES = "/usr/lib/baresip/modules"


class Baresip:
    """One baresip process with one account, its SIP port and its control connection."""

    def __init__(self, workdir, account, extra_config=""):
        self.sip_port = free_udp_port()
        ctrl_port = free_udp_port()
        os.makedirs(workdir, exist_ok=True)
        # No sound card: a sine tone (48 kHz stereo, resampled to the codec) as the microphone,
        # the in-process bridge as the speaker.
        with open(os.path.join(workdir, "config"), "w") as f:
            f.write(f"""poll_method epoll
sip_listen 127.0.0.1:{self.sip_port}
sip_transports udp
audio_player aubridge,nil
audio_source ausine,440
audio_alert aubridge,nil
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 2
auplay_channels 2
rtp_ports 30000-39999
module_path {MODULES}
module g711.so
module ausine.so
module aubridge.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
{extra_config}""")
        with open(os.path.join(workdir, "accounts"), "w") as f:
            f.write(account + "\n")
        self.log = open(os.path.join(workdir, "baresip.log"), "w")
        self.proc = subprocess.Popen([BARESIP, "-f", workdir, "-t", "120"], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                self.ctrl = socket.create_connection(("127.0.0.1", ctrl_port), timeout=0.5)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("baresip did not start: " + self.tail())
                time.sleep(0.1)
        self.buffer = b""
        self.events = []

    def tail(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()[-2000:]

    def command(self, name, params=""):
        data = json.dumps({"command": name, "params": params, "token": name}).encode()
        self.ctrl.sendall(str(len(data)).encode() + b":" + data + b",")

    def wait_event(self, kinds, timeout=10):
        """Reads netstrings until an event of one of `kinds` arrives; returns it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            while b":" in self.buffer:
                length, rest = self.buffer.split(b":", 1)
                n = int(length)
                if len(rest) < n + 1:
                    break
                message = json.loads(rest[:n])
                self.buffer = rest[n + 1:]
                if message.get("event"):
                    self.events.append(message["type"])
                    if message["type"] in kinds:
                        return message
            self.ctrl.settimeout(max(0.05, deadline - time.time()))
            try:
                chunk = self.ctrl.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            self.buffer += chunk
        raise AssertionError(f"no {kinds} from baresip; events {self.events}; log:\n{self.tail()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.ctrl.close()
        self.log.close()


class SoftphoneInteropTest(SipPeerTestCase):
    def setUp(self):
        super().setUp()
        if not BARESIP or not os.path.isdir(MODULES):
            self.fail("needs baresip (Debian package baresip-core; "
                      "scripts/bootstrap.sh installs it)")
        self.phones = []

    def tearDown(self):
        for b in self.phones:
            b.stop()
        super().tearDown()

    def phone(self, name, account):
        b = Baresip(os.path.join(self.tmp, name), account)
        self.phones.append(b)
        return b

    def registering_phone(self, name, account):
        # The account is added once the control connection is up, so its REGISTER events are
        # not missed.
        b = self.phone(name, "")
        b.command("uanew", account)
        return b

    def start_registrar(self):
        # baresip 1.0 (libre) answers only the first challenge and knows only MD5, so this
        # registrar offers MD5 alone (see docs/sip.md, "Digest algorithms").
        return self.start_uas("--md5-only")

    def test_baresip_registers_with_digest_and_calls_our_uas(self):
        uas, port = self.start_registrar()
        alice = self.registering_phone("alice", f"<sip:alice@127.0.0.1:{port};transport=udp>;auth_pass=s3cret;regint=600")
        alice.wait_event({"REGISTER_OK"})
        alice.command("dial", f"sip:service@127.0.0.1:{port}")
        alice.wait_event({"CALL_ESTABLISHED"})
        time.sleep(0.5)  # some RTP flows (to nowhere: our UAS has no media)
        alice.command("hangup")
        alice.wait_event({"CALL_CLOSED"})
        stats = self.stop_uas(uas)
        self.assertGreaterEqual(stats["registered"], 1)
        self.assertGreaterEqual(stats["challenged"], 1)
        self.assertEqual(stats["auth_failures"], 0)
        self.assertEqual((stats["invites"], stats["acks"], stats["byes"]), (1, 1, 1))

    def test_baresip_with_a_wrong_password_is_refused(self):
        uas, port = self.start_registrar()
        mallory = self.registering_phone("mallory", f"<sip:alice@127.0.0.1:{port};transport=udp>;auth_pass=guess;regint=600")
        mallory.wait_event({"REGISTER_FAIL"})
        stats = self.stop_uas(uas)
        self.assertEqual(stats["registered"], 0)
        self.assertGreaterEqual(stats["auth_failures"], 1)

    def test_our_uac_calls_baresip_holds_and_transfers_the_call(self):
        bob = self.phone("bob", "<sip:bob@127.0.0.1;transport=udp>;regint=0;answermode=auto")
        # A call with a hold re-INVITE, answered automatically by baresip.
        r = subprocess.run([PEER, "uac", "--listen", "127.0.0.1:0", "--to", f"127.0.0.1:{bob.sip_port}",
                            "--to-user", "bob", "--calls", "2", "--hold-ms", "300", "--reinvite"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + bob.tail())
        counters = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual((counters["completed"], counters["reinvites"]), (2, 2))
        bob.wait_event({"CALL_ESTABLISHED"})  # baresip's own view of the call
        # A blind transfer: we REFER baresip to our UAS; baresip calls it and reports the outcome
        # in NOTIFYs (sipfrag), the last one "200 OK".
        uas, port = self.start_uas()
        r = subprocess.run([PEER, "uac", "--listen", "127.0.0.1:0", "--to", f"127.0.0.1:{bob.sip_port}",
                            "--to-user", "bob", "--calls", "1", "--hold-ms", "300",
                            "--refer-to", f"sip:service@127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + bob.tail())
        self.assertEqual(json.loads(r.stdout.strip().splitlines()[-1])["transfers"], 1)
        time.sleep(0.5)
        bob.command("hangup")
        time.sleep(0.5)
        stats = self.stop_uas(uas)
        self.assertEqual(stats["invites"], 1, "baresip called the transfer target")
        self.assertEqual(stats["acks"], 1)


if __name__ == "__main__":
    main()

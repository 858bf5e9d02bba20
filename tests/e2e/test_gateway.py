"""The gateway end to end, with real peers on loopback: SIPp as the phones (registering with
digest, calling, answering, sending real speech from SIPp's pcap), our recorder(s) as the SIPREC
servers, the policy set with the admin cmdlets. Asserts what each party receives and what the
archive holds (docs/gateway.md)."""
import json
import urllib.request
import math
import os
import re
import signal
import struct
import subprocess
import sys
import time
import unittest
import wave

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, SOURCE_DIR, LoopbackUdpServer, VerbatimTestCase, free_port_block, free_udp_port, http, main, wait_until  # noqa: E402
from test_recorder import g711, rtp_fields  # noqa: E402
from test_sip_softphone import BARESIP, MODULES, Baresip  # noqa: E402
from sip_ua import Dialog, SipUA  # noqa: E402

APP = "11111111-2222-4333-8444-555555555555"
PAIR_APP = "11111111-2222-4333-8444-666666666666"

SETUP = f"""
New-VbUser alice@contoso.com -DisplayName "Alice Trader" -PhoneNumber +14255550100 -SipPassword alice-secret-1
New-VbUser bob@contoso.com -DisplayName "Bob Broker" -PhoneNumber +14255550101 -SipPassword bob-secret-22
New-VbUser carol@contoso.com -DisplayName "Carol Client" -PhoneNumber +14255550102 -SipPassword carol-secret-3
New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -DisplayName "Verbatim Recorder" -ApplicationId {APP}
New-CsOnlineApplicationInstance -UserPrincipalName rec2@contoso.com -DisplayName "Second Recorder" -ApplicationId {PAIR_APP}
"""

# SIPp phones. Requests go to the gateway; [service] is the user. Registering is the demo's
# phone scenario (demo/gateway/register.xml) in the tests' domain.
with open(os.path.join(SOURCE_DIR, "demo", "gateway", "register.xml")) as _f:
    REGISTRATION = _f.read().replace("@DOMAIN@", "contoso.com")


# Started on the port the phone registered from (SIPp maps requests to calls by Call-ID, so
# registering and answering are two runs on one port).
# The answer every test phone gives (PCMA), and the 200 to an in-dialog request (BYE, NOTIFY).
ANSWER = """  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]B[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

v=0
o=- 2 2 IN IP4 [media_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8
a=rtpmap:8 PCMA/8000
    ]]></send>
"""
OK_REPLY = """  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]></send>
"""

CALLEE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phone that answers">
  <recv request="INVITE">
    <action>
      <ereg regexp="a=record:on" search_in="body" check_it="false" assign_to="rec"/>
      <ereg regexp="Call-Info: (.*)" search_in="msg" check_it="false" assign_to="ci,ci1"/>
      <log message="RECORD [$rec] CALLINFO [$ci1]"/>
    </action>
  </recv>
  <send><![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]B[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Content-Length: 0
    ]]></send>
""" + ANSWER + """  <recv request="ACK"/>
  <recv request="BYE">
    <action>
      <ereg regexp="Reason: (.*)" search_in="msg" check_it="false" assign_to="r,r1"/>
      <log message="BYE REASON [$r1]"/>
    </action>
  </recv>
""" + OK_REPLY + """  <Reference variables="rec,ci,r"/>
</scenario>
"""

INVITE = """
  <send retrans="500"><![CDATA[
      INVITE sip:@TARGET@@contoso.com SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Alice Trader" <sip:[service]@contoso.com>;tag=[pid]A[call_number]
      To: <sip:@TARGET@@contoso.com>
      Call-ID: [call_id]
      CSeq: @CSEQ@ INVITE
      Contact: <sip:[service]@[local_ip]:[local_port]>
      @AUTH@
      Session-ID: ab30317f1a784dc48ff824d0d3715d86;remote=00000000000000000000000000000000
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

v=0
o=- 1 1 IN IP4 [media_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
    ]]></send>
"""

ACK = """
  <send><![CDATA[
      ACK sip:@TARGET@@contoso.com SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Alice Trader" <sip:[service]@contoso.com>;tag=[pid]A[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: @CSEQ@ ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]></send>
"""


def caller_scenario(target, outcome, hold_ms=3000, play=True, record_aware=False):
    """INVITE (challenged, then with credentials); outcome "200": talk (SIPp's g711a.pcap) for
    hold_ms, then BYE, or take the gateway's BYE; else expect that final status. A record-aware
    phone says it shows the recording indicator itself (Supported: record-aware)."""
    s = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="caller">\n'
    s += INVITE.replace("@CSEQ@", "1").replace("      @AUTH@\n", "").replace("@TARGET@", target)
    s += '  <recv response="100" optional="true"/>\n  <recv response="401" auth="true"/>\n'
    s += ACK.replace("@CSEQ@", "1").replace("@TARGET@", target)
    s += INVITE.replace("@CSEQ@", "2").replace("@AUTH@", "[authentication]").replace("@TARGET@", target)
    s += '  <recv response="100" optional="true"/>\n  <recv response="180" optional="true"/>\n'
    if outcome == "200":
        s += '''  <recv response="200" rtd="true">
    <action>
      <ereg regexp="a=record:on" search_in="body" check_it="false" assign_to="rec"/>
      <log message="ANSWERED RECORD [$rec]"/>
    </action>
  </recv>
'''
        s += ACK.replace("@CSEQ@", "2").replace("@TARGET@", target)
        if play:
            s += '''  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>\n'''
        s += f'''  <recv request="BYE" timeout="{hold_ms}" ontimeout="hangup">
    <action>
      <ereg regexp="Reason: (.*)" search_in="msg" check_it="false" assign_to="r,r1"/>
      <log message="BYE REASON [$r1]"/>
    </action>
  </recv>
{OK_REPLY}  <nop next="done"/>
  <label id="hangup"/>
  <send retrans="500"><![CDATA[
      BYE sip:@TARGET@@contoso.com SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Alice Trader" <sip:[service]@contoso.com>;tag=[pid]A[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]></send>
  <recv response="200"/>
  <label id="done"/>
  <Reference variables="rec,r"/>
'''.replace("@TARGET@", target)
    else:
        s += f'''  <recv response="{outcome}">
    <action>
      <ereg regexp="Reason: (.*)" search_in="msg" check_it="false" assign_to="r,r1"/>
      <log message="REFUSED REASON [$r1]"/>
    </action>
  </recv>
'''
        s += ACK.replace("@CSEQ@", "2").replace("@TARGET@", target)
        s += '  <Reference variables="r"/>\n'
    if record_aware:
        s = s.replace("      Max-Forwards: 70\n      Content-Type",
                      "      Supported: record-aware\n      Max-Forwards: 70\n      Content-Type")
    return s + "</scenario>\n"


# Bob answers, then transfers the caller to `target` (a blind transfer: REFER, RFC 3515), takes
# the NOTIFYs (100 Trying, then the outcome, logged) and, when it succeeded, the gateway's BYE.
TRANSFEROR = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phone that answers and transfers">
  <recv request="INVITE">
    <action>
      <ereg regexp="From: ([^;]*);tag=([A-Za-z0-9.-]*)" search_in="msg" check_it="true" assign_to="fm,furi,ftag"/>
      <ereg regexp="Contact: *&lt;([^&gt;]*)&gt;" search_in="msg" check_it="true" assign_to="ct,curi"/>
    </action>
  </recv>
""" + ANSWER + """  <recv request="ACK"/>
  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[
      REFER [$curi] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:bob@contoso.com>;tag=[pid]B[call_number]
      To: [$furi];tag=[$ftag]
      Call-ID: [call_id]
      CSeq: 1 REFER
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Refer-To: <@TARGET@>
      Referred-By: <sip:bob@contoso.com>
      Max-Forwards: 70
      Content-Length: 0
    ]]></send>
  <recv response="202"/>
  <recv request="NOTIFY"/>
""" + OK_REPLY + """  <recv request="NOTIFY">
    <action>
      <ereg regexp="SIP/2.0 ([0-9]+)" search_in="body" check_it="true" assign_to="nf,status"/>
      <log message="TRANSFER OUTCOME [$status]"/>
    </action>
  </recv>
""" + OK_REPLY + """  <recv request="BYE"/>
""" + OK_REPLY + """  <Reference variables="fm,ct,nf"/>
</scenario>
"""

# The transfer's target: answers at once (no 180) and logs what the gateway told it.
TARGET = CALLEE.replace("""  <send><![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]B[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Content-Length: 0
    ]]></send>
""", "").replace(
    '<log message="RECORD [$rec] CALLINFO [$ci1]"/>',
    '<ereg regexp="Referred-By: (&lt;[^&gt;]*&gt;)" search_in="msg" check_it="false" assign_to="rb,rb1"/>'
    '<ereg regexp="From: &quot;([A-Za-z ]*)&quot;" search_in="msg" check_it="false" assign_to="fr,fr1"/>'
    '<log message="RECORD [$rec] REFERRED-BY [$rb1] FROM [$fr1]"/>').replace(
    '<Reference variables="rec,ci,r"/>', '<Reference variables="rec,ci,ci1,r,rb,fr"/>')
assert "180 Ringing" not in TARGET


# A second phone of the same user that rings until the gateway cancels it (another registration
# answered first).
RINGER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phone that rings until cancelled">
  <recv request="INVITE"/>
  <send><![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]R[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Content-Length: 0
    ]]></send>
  <recv request="CANCEL"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]R[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]></send>
  <send><![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]R[call_number]
      [last_Call-ID:]
      CSeq: [cseq] INVITE
      Content-Length: 0
    ]]></send>
  <recv request="ACK">
    <action><log message="CANCELLED"/></action>
  </recv>
</scenario>
"""


# A phone (or voicemail) that answers and logs whose call it was (Diversion, To).
DIVERTED = CALLEE.replace(
    '<log message="RECORD [$rec] CALLINFO [$ci1]"/>',
    '<ereg regexp="Diversion: ([^;]*;reason=[a-z-]*)" search_in="msg" check_it="false" assign_to="dv,dv1"/>'
    '<ereg regexp="To: (.sip:[a-z@.]*.)" search_in="msg" check_it="false" assign_to="to,to1"/>'
    '<log message="RECORD [$rec] DIVERSION [$dv1] TO [$to1]"/>').replace(
    '<Reference variables="rec,ci,r"/>', '<Reference variables="rec,ci,ci1,r,dv,to"/>')

def refusing_phone(name, status, extra=""):
    """A phone that answers every INVITE with a final non-2xx `status` (and `extra` headers)."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
  <recv request="INVITE"/>
  <send><![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]F[call_number]
      [last_Call-ID:]
      [last_CSeq:]
{extra}      Content-Length: 0
    ]]></send>
  <recv request="ACK"/>
</scenario>
"""


# A phone set to forward every call (302) to Carol.
FORWARDER = refusing_phone("phone that forwards", "302 Moved Temporarily",
                           "      Contact: <sip:carol@contoso.com>\n")


class RtpSink(LoopbackUdpServer):
    """A phone's media port that keeps what arrives (what the gateway sends that phone)."""

    def __init__(self):
        super().__init__()
        self.packets = []
        self.start()

    def on_datagram(self, data, peer):
        self.packets.append(data)


def envelope(samples, per_window):
    """RMS per window (20 ms at the samples' rate)."""
    return [math.sqrt(sum(v * v for v in samples[i:i + per_window]) / per_window)
            for i in range(0, len(samples) - per_window + 1, per_window)]


def pearson(x, y):
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    mx, my = sum(x) / n, sum(y) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y))
    vx = sum((a - mx) ** 2 for a in x) ** 0.5
    vy = sum((b - my) ** 2 for b in y) ** 0.5
    return cov / (vx * vy) if vx and vy else 0.0


class GatewayTestCase(VerbatimTestCase):
    def setUp(self):
        super().setUp()
        self.sipps = []

    def tearDown(self):
        for p in self.sipps:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        super().tearDown()

    def admin(self, script):
        return self.run_vb("admin", "-c", script, check=0)

    def start_role(self, role, section, settings, extra="", data=None):
        base = free_port_block()
        values = {"sip_listen": "127.0.0.1:0", "rtp_port_min": base, "rtp_port_max": base + 99,
                  **settings}
        cfg = os.path.join(self.tmp, f"{role}-{len(self.servers)}.toml")
        with open(cfg, "w") as f:
            f.write(f"[archive]\nflush_interval_ms = 200\nmin_free_mb = 0\n{extra}[{section}]\n")
            for k, v in values.items():
                f.write(f"{k} = {json.dumps(v)}\n")
        log = os.path.join(self.tmp, f"{role}-{len(self.servers)}.log")
        err = open(log, "a")
        env = dict(self.env, VERBATIM_DATA_DIR=data) if data else self.env
        p = subprocess.Popen([BIN, "--config", cfg, "serve", "--roles", role], stdout=subprocess.PIPE,
                             stderr=err, text=True, env=env)
        err.close()
        self.servers.append(p)
        line = p.stdout.readline()
        m = re.search(r"sip:127\.0\.0\.1:(\d+)", line)
        if not m:
            p.kill()
            self.fail(f"{role} did not start: {line!r} {open(log).read()}")
        p.log = log
        return p, int(m.group(1))

    def start_recorder(self, data=None, **settings):
        """A recorder; a second one needs a data directory of its own (`data`)."""
        return self.start_role("recorder", "recorder", {"min_free_mb": 0, "transcription": "none", **settings},
                               "", data)

    def start_gateway(self, **settings):
        values = {"digest_algorithms": ["MD5"], "recording_setup_timeout_ms": 2000, **settings}
        return self.start_role("gateway", "gateway", values)

    def policy(self, recorders, required=True, count=1, paired=None, who="alice@contoso.com", flags=""):
        """A policy for `who` whose application has endpoints at `recorders` (SIP ports)."""
        if not hasattr(self, "_setup_done"):
            self.admin(SETUP)
            self._setup_done = True
        script = ""
        for i, port in enumerate(recorders):
            script += f"New-VbRecorderEndpoint -ApplicationId {APP} -Uri sip:srs@127.0.0.1:{port} -Region EUR\n"
        flag = "$true" if required else "$false"
        script += f"New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true {flags}\n"
        script += (f"New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com "
                   f"-RequiredBeforeCallEstablishment {flag} -RequiredDuringCall {flag} "
                   f"-ConcurrentInvitationCount {count}\n")
        if paired:
            script += f"New-VbRecorderEndpoint -ApplicationId {PAIR_APP} -Uri sip:srs@127.0.0.1:{paired}\n"
            script += ("Set-CsTeamsComplianceRecordingApplication -Identity 'Traders/" + self.instance_id("rec@contoso.com")
                       + "' -ComplianceRecordingPairedApplications @(New-CsTeamsComplianceRecordingPairedApplication -Id "
                       + self.instance_id("rec2@contoso.com") + ")\n")
        script += f"Grant-CsTeamsComplianceRecordingPolicy -Identity {who} -PolicyName Traders\n"
        return self.admin(script)

    def instance_id(self, upn):
        r = self.run_vb("admin", "-c", f"Get-CsOnlineApplicationInstance -Identity {upn} | select -ExpandProperty ObjectId", check=0)
        return r.stdout.strip()

    def sipp(self, gw_port, scenario, user, password, name, media_port=None, port=None, echo=True):
        """A SIPp phone; `echo`: it sends back the RTP it gets (with both phones echoing, every
        packet circles between them until the call ends: keep such calls short)."""
        args, log = self.sipp_command(gw_port, scenario, user, password, name, media_port, port, echo)
        p = subprocess.Popen(args, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        p.log = log
        p.name = name
        self.sipps.append(p)
        return p

    def sipp_command(self, gw_port, scenario, user, password, name, media_port=None, port=None, echo=True):
        """The command line of a SIPp phone (run in self.tmp), and its log file."""
        path = os.path.join(self.tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(scenario)
        log = os.path.join(self.tmp, name + "_logs.log")
        # SIPp's digest uri is its peer's ip:port unless told: the gateway checks that it names the
        # Request-URI (RFC 3261 §22.4), so give it the scenario's first one.
        ruri = re.search(r"^\s*(?:REGISTER|INVITE) sip:(\S+) SIP/2\.0", scenario, re.M)
        auth_uri = ["-auth_uri", ruri.group(1)] if ruri and "[" not in ruri.group(1) else []
        return ["sipp", f"127.0.0.1:{gw_port}", "-sf", path, "-m", "1", "-i", "127.0.0.1", *auth_uri,
                "-p", str(port or free_udp_port()), "-mi", "127.0.0.1",
                "-mp", str(media_port or free_udp_port()), "-s", user, "-au", user,
                "-ap", password, "-timeout", "60", "-timeout_error", "-nostdin",
                "-trace_err", "-trace_logs", "-log_file", log, *(["-rtp_echo"] if echo else [])], log

    def sipp_log(self, p):
        if not os.path.exists(p.log):
            return ""
        with open(p.log) as f:
            return f.read()

    def wait_sipp(self, p, timeout=60):
        p.wait(timeout=timeout)
        errs = ""
        for f in os.listdir(self.tmp):
            if f.startswith(p.name) and f.endswith("errors.log"):
                with open(os.path.join(self.tmp, f)) as e:
                    errs += e.read()
        self.assertEqual(p.returncode, 0, f"{p.name}: {p.stderr.read()} {errs[-3000:]}")

    def callee(self, gw_port, media_port=None, session_id=None):
        """Bob's phone; with `media_port` its SDP names that port (an RtpSink) for its media; with
        `session_id` its 200 OK carries that RFC 7989 Session-ID."""
        port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "bob", "bob-secret-22", "bob-register", port=port))
        scenario = CALLEE if media_port is None else CALLEE.replace("m=audio [media_port]", f"m=audio {media_port}")
        if session_id:
            answer = "      Contact: <sip:[service]@[local_ip]:[local_port]>\n      Content-Type: application/sdp"
            assert scenario.count(answer) == 1
            scenario = scenario.replace(answer, answer.replace("\n", f"\n      Session-ID: {session_id}\n", 1))
        return self.sipp(gw_port, scenario, "bob", "bob-secret-22", "bob", port=port)

    def connected_call(self, gw_port, hold_ms=1500):
        """Alice calls Bob (a registered SIPp phone) and talks for `hold_ms`; once both phones are
        done, the first call record."""
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=hold_ms, play=False), "alice",
                          "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        return wait_until(self.calls, 10)[0]

    def calls(self):
        path = os.path.join(self.data, "gateway-calls.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]


class RecordingPolicyTest(GatewayTestCase):
    def test_recorded_call_is_anchored_forked_and_archived(self):
        rec, rec_port = self.start_recorder()
        self.assertIn("Traders", self.policy([rec_port]).stdout + "Traders")
        gw, gw_port = self.start_gateway()
        bob = self.callee(gw_port, session_id="47755a9de7794ba387653f2099600ef2;remote=ab30317f1a784dc48ff824d0d3715d86")
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=4000), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        # Both phones were told: a=record:on, and the callee got the Call-Info banner.
        self.assertIn("ANSWERED RECORD a=record:on", self.sipp_log(alice))
        self.assertIn("RECORD a=record:on CALLINFO <urn:verbatim:recording>;purpose=recording",
                      self.sipp_log(bob))
        calls = wait_until(self.calls, 10)
        self.assertEqual(len(calls), 1, calls)
        c = calls[0]
        self.assertEqual(c["status"], 200)
        self.assertTrue(c["caller"]["recorded"])
        self.assertFalse(c["callee"]["recorded"])
        self.assertEqual(c["caller"]["policy"], "Traders")
        leg = c["recordings"][0]["applications"][0]["instances"][0]
        self.assertEqual(leg["state"], "ended", leg)
        self.assertGreaterEqual(c["timings"]["recordersReadyMs"], 0)
        self.assertLessEqual(c["timings"]["recordersReadyMs"], c["timings"]["calleeCalledMs"])
        media = c["media"][0]
        self.assertGreater(media["fromCaller"], 100, media)  # SIPp's pcap: 50 packets/s
        self.assertGreater(media["fromCallee"], 100, media)  # bob echoes
        self.assertGreater(media["copiedToRecorders"], 200, media)
        # `verbatim calls show` tells the story.
        shown = self.run_vb("calls", "show", c["callId"], check=0).stdout
        self.assertIn("policy Traders (Direct), recorded", shown)
        self.assertIn(f"sip:srs@127.0.0.1:{rec_port}: ended", shown)
        # The recorder archived one recording of Alice's side, with the gateway's metadata.
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            log = f.read()
        m = re.search(r"recording (\w+) started", log)
        self.assertTrue(m, log)
        shown = json.loads(self.run_vb("archive", "show", m.group(1), check=0).stdout)
        text = json.dumps(shown["metadata"])
        self.assertIn("sip:alice@contoso.com", text)
        self.assertIn("sip:bob@contoso.com", text)
        self.assertIn(c["callId"], text)
        self.assertIn('"policy": "Traders"', text)
        self.assertIn("complete", text)
        # The caller's RFC 7989 Session-ID went into the SIPREC metadata: its UUID relates this
        # recording to any other client's recording of the call (search --related).
        self.assertIn({"key": "session-uuid", "value": "ab30317f1a784dc48ff824d0d3715d86", "source": "siprec"},
                      shown["metadata"]["business"])
        # The callee's, from its 200 OK, came in a metadata update once it answered.
        self.assertIn({"key": "session-uuid", "value": "47755a9de7794ba387653f2099600ef2", "source": "siprec"},
                      shown["metadata"]["business"])
        # This recorder is reached over UDP: SRTP keys never go in clear SDP, so the copies are
        # plain RTP (test_tls.py: over TLS they are SRTP); the evidence decoded (packets counted).
        sig = [o["id"] for o in shown["objects"] if o["kind"] == "signalling"][0]
        signalling = self.run_vb("archive", "cat", sig, check=0).stdout
        self.assertIn("m=audio", signalling)
        self.assertNotIn("a=crypto", signalling)
        self.assertIn("is reached without TLS: its copies go as plain RTP", open(gw.log).read())
        self.assertGreater(shown["metadata"]["streams"][0]["packets"], 100)

    def test_gateway_never_sends_groups_so_retention_by_group_never_matched(self):
        """`[[archive.retention]] group = ...` applies to calls recorded through our own gateway:
        the gateway sends the recorded user's groups (signed, with the application, policy and
        call), and the recorder's catalog keeps them."""
        rec, rec_port = self.start_role(
            "recorder", "recorder", {"min_free_mb": 0},
            '[[archive.retention]]\ngroup = "FX Desk"\nperiod = "10y"\n')
        self.policy([rec_port])
        self.admin('New-VbGroup -DisplayName "FX Desk"\nAdd-VbGroupMember -Group "FX Desk" -Member alice@contoso.com')
        gw, gw_port = self.start_gateway()
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=1000, play=False), "alice",
                          "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        wait_until(self.calls, 10)
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            m = re.search(r"recording (\w+) started", f.read())
        shown = json.loads(self.run_vb("archive", "show", m.group(1), check=0).stdout)
        self.assertIn("FX Desk", shown["metadata"]["groups"])
        self.assertNotIn("untrustedGatewayHeaders", shown["metadata"])
        self.assertEqual(shown["metadata"]["policy"], "Traders")
        created = int(shown["created"][:4])
        self.assertEqual(int(shown["retentionUntil"][:4]), created + 10, shown["retentionUntil"])

    def test_required_recorder_refusing_refuses_the_call_with_a_reason(self):
        dead = free_udp_port()  # nothing listens: the INVITE is never answered
        self.policy([dead])
        gw, gw_port = self.start_gateway(recording_setup_timeout_ms=1500)
        bob = self.callee(gw_port)
        t0 = time.monotonic()
        alice = self.sipp(gw_port, caller_scenario("bob", "480"), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        took = time.monotonic() - t0
        self.assertIn("REFUSED REASON SIP;cause=480;text=\"There was a problem setting up the recording "
                      "required by your organisation\"", self.sipp_log(alice))
        self.assertGreaterEqual(took, 1.4)
        self.assertEqual(bob.poll(), None, "the callee must never be called")
        c = wait_until(self.calls, 10)[0]
        self.assertEqual(c["status"], 480)
        self.assertIn("no recorder answered within 1500 ms", c["outcome"])
        self.assertEqual(c["timings"]["calleeCalledMs"], -1)

    def test_inbound_call_to_a_user_whose_recording_fails_goes_to_voicemail(self):
        """Teams: "Inbound calls to such a user go to voicemail" (gateway.voicemail_uri)."""
        dead = free_udp_port()
        self.policy([dead], who="bob@contoso.com")  # the callee's required recorder never answers
        vm_port = free_udp_port()
        gw, gw_port = self.start_gateway(recording_setup_timeout_ms=1500,
                                         voicemail_uri=f"sip:voicemail@127.0.0.1:{vm_port}")
        bob = self.callee(gw_port)
        vm = self.sipp(gw_port, DIVERTED, "voicemail", "x", "voicemail", port=vm_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=1500, play=False), "alice",
                          "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(vm)
        self.assertIn("DIVERSION <sip:bob@contoso.com>;reason=unavailable", self.sipp_log(vm))
        self.assertIn("TO <sip:bob@contoso.com>", self.sipp_log(vm))  # Bob's mailbox
        self.assertNotIn("a=record:on", self.sipp_log(alice) + self.sipp_log(vm))  # nobody recorded now
        self.assertEqual(bob.poll(), None, "Bob's phone is never called")
        c = wait_until(self.calls, 10)[0]
        self.assertEqual(c["status"], 200)
        self.assertIn("no recorder answered within 1500 ms", c["voicemail"])
        self.assertTrue(c["recordings"][0]["left"])  # Bob never joined: his recorders were let go
        self.assertGreaterEqual(c["timings"]["calleeCalledMs"], 1400)
        # The caller's own required recording failing still refuses the call (Alice is recorded
        # by the same dead recorder now).
        self.admin("Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Traders")
        time.sleep(1.5)  # the gateway picks up changes every 0.5 s (general.reload_interval_ms)
        alice = self.sipp(gw_port, caller_scenario("bob", "480"), "alice", "alice-secret-1", "alice-2")
        self.wait_sipp(alice)
        self.assertTrue(wait_until(lambda: len(self.calls()) == 2, 10))
        self.assertIsNone(self.calls()[1]["voicemail"])

    def test_t04_t05_recorder_storage_full(self):
        """T04: the recorder's storage is below its floor (as good as full): a call whose recording
        is required is refused at once with the recorder's reason; T05: when it is not required
        the call goes on unrecorded and its record says why (and an error is logged)."""
        rec, rec_port = self.start_recorder(min_free_mb=100_000_000)  # more than any disk has
        self.policy([rec_port])
        gw, gw_port = self.start_gateway(recording_setup_timeout_ms=10000)
        bob = self.callee(gw_port)
        t0 = time.monotonic()
        alice = self.sipp(gw_port, caller_scenario("bob", "480"), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.assertLess(time.monotonic() - t0, 5)  # the refusal, not the 10 s deadline
        self.assertEqual(bob.poll(), None, "the callee must never be called")
        c = wait_until(self.calls, 10)[0]
        self.assertEqual(c["status"], 480)
        self.assertIn("503 Service Unavailable (recording storage unavailable", c["outcome"])
        self.assertFalse(c["recordings"][0]["applications"][0]["recorded"])
        # Not required: connected, unrecorded, and the record is the evidence of why.
        self.admin("Set-CsTeamsComplianceRecordingApplication -Identity 'Traders/" +
                   self.instance_id("rec@contoso.com") +
                   "' -RequiredBeforeCallEstablishment $false -RequiredDuringCall $false")
        time.sleep(1.5)  # the gateway picks up changes every 0.5 s
        bob.kill()
        bob.wait()
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=1000, play=False), "alice",
                          "alice-secret-1", "alice-2")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        self.assertTrue(wait_until(lambda: len(self.calls()) == 2, 10))
        c = self.calls()[1]
        self.assertEqual(c["status"], 200)
        app = c["recordings"][0]["applications"][0]
        self.assertFalse(app["recorded"])
        self.assertIn("recording storage unavailable", app["instances"][0]["why"])
        with open(gw.log) as f:
            self.assertIn(f"call {c['callId']}: NOT RECORDED: sip:alice@contoso.com under policy Traders",
                          f.read())

    def test_not_required_recorder_never_blocks_the_call(self):
        dead = free_udp_port()
        self.policy([dead], required=False)
        gw, gw_port = self.start_gateway()
        c = self.connected_call(gw_port)
        self.assertEqual(c["status"], 200)
        self.assertLess(c["timings"]["calleeCalledMs"], 1000)  # never held for the 2 s deadline

    def test_recorder_dying_mid_call_ends_a_required_call_after_the_spoken_warning(self):
        rec, rec_port = self.start_recorder(drain_timeout_s=0)
        self.policy([rec_port])  # WarnUserOnRemoval: true (the default)
        gw, gw_port = self.start_gateway()
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=30000), "alice", "alice-secret-1", "alice")
        self.assertTrue(wait_until(lambda: "ANSWERED" in self.sipp_log(alice), 15))
        time.sleep(0.5)
        t0 = time.monotonic()
        rec.send_signal(signal.SIGTERM)  # no drain time: BYE to the gateway at once
        self.wait_sipp(alice, timeout=40)
        ended_after = time.monotonic() - t0
        self.wait_sipp(bob, timeout=30)
        self.assertIn("BYE REASON SIP;cause=480;text=\"The recording required by your organisation stopped",
                      self.sipp_log(alice))
        self.assertIn("BYE REASON SIP;cause=480", self.sipp_log(bob))
        c = wait_until(self.calls, 10)[0]
        self.assertIn("recording lost", c["outcome"])
        self.assertIn("after the spoken warning", c["outcome"])
        # Both heard the warning (English: neither set a language), whole, before the BYE.
        warnings = [n for n in c["notices"] if n["prompt"] == "recording-stopped"]
        self.assertEqual(sorted(n["to"] for n in warnings), ["callee", "caller"])
        for n in warnings:
            self.assertEqual((n["outcome"], n["language"]), ("played", "en"), n)
            self.assertEqual(n["packetsSent"], n["durationMs"] // 20)
        self.assertGreaterEqual(ended_after, warnings[0]["durationMs"] / 1000)

    def test_recorder_refusing_fails_fast_and_concurrent_instances_cover_for_each_other(self):
        # A recorder that refuses (403: not an allowed source) fails the call at once, well
        # before the deadline.
        rec, rec_port = self.start_recorder(allowed_sources=["10.0.0.0/8"])
        self.policy([rec_port])
        gw, gw_port = self.start_gateway(recording_setup_timeout_ms=10000)
        self.callee(gw_port)
        t0 = time.monotonic()
        alice = self.sipp(gw_port, caller_scenario("bob", "480"), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.assertLess(time.monotonic() - t0, 5)
        c = wait_until(self.calls, 10)[0]
        self.assertIn("every recorder of Verbatim Recorder refused or failed", c["outcome"])
        leg = c["recordings"][0]["applications"][0]["instances"][0]
        self.assertEqual((leg["state"], leg["status"]), ("failed", 403), leg)

    def test_concurrent_invitation_count_2_one_instance_down(self):
        rec, rec_port = self.start_recorder()
        dead = free_udp_port()
        self.policy([dead, rec_port], count=2)
        gw, gw_port = self.start_gateway(recording_setup_timeout_ms=3000)
        c = self.connected_call(gw_port)
        self.assertEqual(c["status"], 200)
        states = sorted(i["state"] for i in c["recordings"][0]["applications"][0]["instances"])
        self.assertEqual(states, ["ended", "failed"], c)
        # Not held for the dead instance: the live one answering was enough.
        self.assertLess(c["timings"]["calleeCalledMs"], 1500)  # the deadline is 3 s

    def test_paired_application_satisfies_the_requirement(self):
        rec, rec_port = self.start_recorder()
        dead = free_udp_port()
        self.policy([dead], paired=rec_port)
        gw, gw_port = self.start_gateway(recording_setup_timeout_ms=3000)
        c = self.connected_call(gw_port)
        self.assertEqual(c["status"], 200)
        instances = c["recordings"][0]["applications"][0]["instances"]
        self.assertEqual({i["instance"]: i["state"] for i in instances},
                         {"rec@contoso.com": "failed", "rec2@contoso.com": "ended"}, instances)

    def test_two_recorded_parties_get_a_recording_each(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port])
        self.admin("Grant-CsTeamsComplianceRecordingPolicy -Identity bob@contoso.com -PolicyName Traders")
        gw, gw_port = self.start_gateway()
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=2000), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        c = wait_until(self.calls, 10)[0]
        self.assertEqual([r["party"] for r in c["recordings"]],
                         ["sip:alice@contoso.com", "sip:bob@contoso.com"])
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            recs = re.findall(r"recording (\w+) started", f.read())
        self.assertEqual(len(recs), 2)
        observed = set()
        for r in recs:
            md = json.loads(self.run_vb("archive", "show", r, check=0).stdout)["metadata"]
            self.assertEqual(md["status"], "complete", md)
            ext = json.dumps(md["siprec"])
            m = re.search(r'observed=\\"(\w+)\\"', ext)
            self.assertTrue(m, ext)
            who = [p for p in md["siprec"]["participants"] if p["id"] == m.group(1)]
            observed.add(who[0]["names"][0]["aor"])
        self.assertEqual(observed, {"sip:alice@contoso.com", "sip:bob@contoso.com"})

    def test_emergency_calls_are_never_recorded_delayed_or_blocked(self):
        dead = free_udp_port()
        self.policy([dead])  # a required recorder that never answers
        trunk_port = free_udp_port()
        trunk = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(trunk_port), "-m", "1",
                                  "-nostdin", "-timeout", "60"], cwd=self.tmp, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        self.sipps.append(trunk)
        gw, gw_port = self.start_gateway(trunk=f"127.0.0.1:{trunk_port}", recording_setup_timeout_ms=5000)
        alice = self.sipp(gw_port, caller_scenario("112", "200", hold_ms=1000, play=False), "alice",
                          "alice-secret-1", "alice")
        self.wait_sipp(alice)
        trunk.wait(timeout=30)
        c = wait_until(self.calls, 10)[0]
        self.assertTrue(c["emergency"])
        self.assertEqual(c["status"], 200)
        self.assertEqual(c["recordings"], [])
        self.assertFalse(c["caller"]["recorded"])
        self.assertLess(c["timings"]["calleeCalledMs"], 2500)  # the deadline is 5 s
        self.assertNotIn("ANSWERED RECORD a=record:on", self.sipp_log(alice))

    def test_every_registration_rings_and_the_first_to_answer_takes_the_call(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port])
        gw, gw_port = self.start_gateway()
        desk_port = free_udp_port()  # Bob's desk phone registers first, his softphone second
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "bob", "bob-secret-22", "bob-desk-register", port=desk_port))
        desk = self.sipp(gw_port, RINGER, "bob", "bob-secret-22", "bob-desk", port=desk_port)
        soft = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=1500, play=False), "alice",
                          "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(soft)
        self.wait_sipp(desk)  # rang, then was cancelled when the softphone answered
        self.assertIn("CANCELLED", self.sipp_log(desk))
        c = wait_until(self.calls, 10)[0]
        self.assertEqual((c["status"], c["registrationsRung"]), (200, 2))

    def test_call_to_an_unregistered_user_gets_480(self):
        self.admin(SETUP)
        gw, gw_port = self.start_gateway()
        alice = self.sipp(gw_port, caller_scenario("bob", "480"), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        c = wait_until(self.calls, 10)[0]
        self.assertEqual(c["outcome"], "callee not registered")

    def test_t01_killed_recorder_with_concurrent_invitation_count_2(self):
        """T01: kill -9 one of two recorders mid-call: the health checks find it down, its leg is
        the one gap record, the call goes on, the other recorder's recording is complete."""
        survivor, port1 = self.start_recorder()
        victim, port2 = self.start_recorder(data=os.path.join(self.tmp, "data2"))
        self.policy([port1, port2], count=2)
        gw, gw_port = self.start_gateway(health_check_interval_ms=300)
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=5000), "alice", "alice-secret-1", "alice")
        self.assertTrue(wait_until(lambda: "ANSWERED" in self.sipp_log(alice), 15))
        time.sleep(1)
        victim.kill()
        self.wait_sipp(alice, timeout=30)
        self.wait_sipp(bob, timeout=30)
        self.assertNotIn("BYE REASON", self.sipp_log(alice))  # the call was never ended for it
        c = wait_until(self.calls, 10)[0]
        self.assertEqual(c["status"], 200)
        self.assertIn("caller ended", c["outcome"])
        legs = {i["uri"]: i for i in c["recordings"][0]["applications"][0]["instances"]}
        self.assertEqual(legs[f"sip:srs@127.0.0.1:{port2}"]["why"],
                         "recorder endpoint stopped answering health checks", legs)
        self.assertEqual(legs[f"sip:srs@127.0.0.1:{port1}"]["state"], "ended")
        survivor.send_signal(signal.SIGTERM)
        survivor.communicate(timeout=60)
        with open(survivor.log) as f:
            r = re.search(r"recording (\w+) started", f.read()).group(1)
        md = json.loads(self.run_vb("archive", "show", r, check=0).stdout)["metadata"]
        self.assertEqual(md["status"], "complete", md)

    def test_t08_partition_from_the_recorder_fails_over_and_heals_without_split_recordings(self):
        """T08, the partition simulated by freezing the recorder (SIGSTOP: nothing in or out for
        3 s): the health checks find it down, the call's recording fails over to the spare
        endpoint, the call goes on; after the heal the frozen recorder takes the BYE it was sent
        and closes its recording: one recording on each recorder, no duplicate, no split."""
        one, port_one = self.start_recorder()
        two, port_two = self.start_recorder(data=os.path.join(self.tmp, "data2"))
        self.policy([port_one, port_two], count=1)  # one instance; the other endpoint is the spare
        gw, gw_port = self.start_gateway(health_check_interval_ms=300)
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=7000), "alice", "alice-secret-1", "alice")
        self.assertTrue(wait_until(lambda: "ANSWERED" in self.sipp_log(alice), 15))

        def started(rec):
            with open(rec.log) as f:
                return "started" in f.read()
        # Whichever endpoint the gateway chose first is cut off; the other is the spare.
        self.assertTrue(wait_until(lambda: started(one) or started(two), 10))
        first, port1, spare, port2, spare_data = (
            (one, port_one, two, port_two, os.path.join(self.tmp, "data2")) if started(one)
            else (two, port_two, one, port_one, self.data))
        time.sleep(1)
        first.send_signal(signal.SIGSTOP)
        time.sleep(3)
        first.send_signal(signal.SIGCONT)
        self.wait_sipp(alice, timeout=30)
        self.wait_sipp(bob, timeout=30)
        self.assertNotIn("BYE REASON", self.sipp_log(alice))  # the call went on
        c = wait_until(self.calls, 10)[0]
        self.assertIn("caller ended", c["outcome"])
        legs = {i["uri"]: i for i in c["recordings"][0]["applications"][0]["instances"]}
        self.assertEqual(legs[f"sip:srs@127.0.0.1:{port1}"]["why"],
                         "recorder endpoint stopped answering health checks", legs)
        self.assertEqual(legs[f"sip:srs@127.0.0.1:{port2}"]["state"], "ended", legs)  # the fail-over
        ids = []
        for rec in (first, spare):
            rec.send_signal(signal.SIGTERM)
            rec.communicate(timeout=60)
            with open(rec.log) as f:
                found = re.findall(r"recording (\w+) started", f.read())
            self.assertEqual(len(found), 1, found)
            ids += found
        self.assertEqual(len(set(ids)), 2)
        md = json.loads(self.run_vb("archive", "show", ids[1], check=0,
                                    env=dict(self.env, VERBATIM_DATA_DIR=spare_data)).stdout)["metadata"]
        self.assertEqual(md["status"], "complete", md)

    def test_killed_only_recorder_ends_a_required_call(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port], flags="-WarnUserOnRemoval $false")  # ended without a warning
        gw, gw_port = self.start_gateway(health_check_interval_ms=300)
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=20000), "alice", "alice-secret-1", "alice")
        self.assertTrue(wait_until(lambda: "ANSWERED" in self.sipp_log(alice), 15))
        t0 = time.monotonic()
        rec.kill()
        self.wait_sipp(alice, timeout=30)
        self.assertLess(time.monotonic() - t0, 15)  # found by the checks, not the 20 s call end
        self.assertIn("BYE REASON SIP;cause=480", self.sipp_log(alice))
        self.wait_sipp(bob, timeout=30)
        c = wait_until(self.calls, 10)[0]
        self.assertNotIn("after the spoken warning", c["outcome"])
        self.assertEqual([n["prompt"] for n in c["notices"]], ["recording-started"] * 2)

    def test_gateway_killed_mid_call_ends_what_it_left_when_it_restarts(self):
        """kill -9 of the gateway mid-call: the restarted gateway sends BYE to every dialog the
        dead one held (both phones and the recorder), so the recorder closes a complete recording
        at once instead of waiting for its media timeout (60 s), and nobody holds a dead call."""
        rec, rec_port = self.start_recorder()
        self.policy([rec_port])
        gw, gw_port = self.start_gateway()
        bob_port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "bob", "bob-secret-22", "bob-register", port=bob_port))
        bob = self.sipp(gw_port, CALLEE, "bob", "bob-secret-22", "bob", port=bob_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=60000), "alice", "alice-secret-1", "alice")
        self.assertTrue(wait_until(lambda: "ANSWERED" in self.sipp_log(alice), 15))
        time.sleep(1.5)  # the journal is flushed once a second
        gw.kill()
        gw.wait()
        t0 = time.monotonic()
        gw, _ = self.start_gateway(sip_listen=f"127.0.0.1:{gw_port}")
        self.wait_sipp(alice, timeout=30)
        self.wait_sipp(bob, timeout=30)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn('BYE REASON SIP;cause=503;text="the gateway restarted"', self.sipp_log(alice))
        self.assertIn('BYE REASON SIP;cause=503;text="the gateway restarted"', self.sipp_log(bob))

        def status():
            with open(os.path.join(self.data, "gateway-status.json")) as f:
                return json.load(f)["totals"]["dialogsLeftByPreviousRunEnded"]
        self.assertTrue(wait_until(lambda: status() == 3, 5))  # caller, callee, recorder
        # Bob's registration survived the crash: he is called without registering again.
        bob = self.sipp(gw_port, CALLEE, "bob", "bob-secret-22", "bob-again", port=bob_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=500, play=False), "alice",
                          "alice-secret-1", "alice-again")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            log = f.read()
        r = re.search(r"recording (\w+) started", log).group(1)
        md = json.loads(self.run_vb("archive", "show", r, check=0).stdout)["metadata"]
        self.assertEqual(md["status"], "complete", md)

    def test_t35_srtp_towards_phones_that_offer_it_and_required_srtp(self):
        """SDES-SRTP: each party gets the gateway's own key (never the other party's), the callee
        is offered SRTP too; with gateway.require_srtp a plain RTP offer is refused with 488."""
        caller_key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
        callee_key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk"
        self.admin(SETUP)
        # Debian's SIPp has no TLS: the lab setting that lets SDES keys go over plain SIP (the
        # default refuses them; test_tls.py has the same over TLS, with baresip).
        gw, gw_port = self.start_gateway(allow_sdes_over_plain_sip=True)
        srtp = lambda sdp, key: sdp.replace("RTP/AVP 8", "RTP/SAVP 8").replace(
            "a=rtpmap:8 PCMA/8000", f"a=rtpmap:8 PCMA/8000\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}")
        keys = ('<ereg regexp="m=audio [0-9]+ (RTP/SAVP)" search_in="body" check_it="false" assign_to="sp,proto"/>'
                '<ereg regexp="inline:([A-Za-z0-9+/=]+)" search_in="body" check_it="false" assign_to="k,key"/>'
                '<log message="SRTP [$proto] KEY [$key]"/>')
        callee = srtp(CALLEE, callee_key).replace('<log message="RECORD [$rec] CALLINFO [$ci1]"/>', keys)
        callee = callee.replace('<Reference variables="rec,ci,r"/>', '<Reference variables="rec,ci,ci1,r,sp,k"/>')
        caller = srtp(caller_scenario("bob", "200", hold_ms=1000, play=False), caller_key)
        caller = caller.replace('<log message="ANSWERED RECORD [$rec]"/>', keys)
        caller = caller.replace('<Reference variables="rec,r"/>', '<Reference variables="rec,r,sp,k"/>')
        port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "bob", "bob-secret-22", "bob-register", port=port))
        bob = self.sipp(gw_port, callee, "bob", "bob-secret-22", "bob", port=port)
        alice = self.sipp(gw_port, caller, "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        got_a = re.search(r"SRTP RTP/SAVP KEY (\S+)", self.sipp_log(alice))
        got_b = re.search(r"SRTP RTP/SAVP KEY (\S+)", self.sipp_log(bob))
        self.assertTrue(got_a and got_b, self.sipp_log(alice) + self.sipp_log(bob))
        self.assertEqual(len({got_a.group(1), got_b.group(1), caller_key, callee_key}), 4,
                         "every party gets a key of the gateway's own")
        gw.send_signal(signal.SIGTERM)
        gw.communicate(timeout=30)
        # Required SRTP: the plain offer is refused.
        gw, gw_port = self.start_gateway(require_srtp=True)
        alice = self.sipp(gw_port, caller_scenario("bob", "488"), "alice", "alice-secret-1", "alice-plain")
        self.wait_sipp(alice)  # the scenario expects exactly 488

    def test_unauthenticated_and_wrong_password_are_refused(self):
        self.admin(SETUP)
        gw, gw_port = self.start_gateway()
        wrong = REGISTRATION.replace('<recv response="200"/>', '<recv response="401"/>')
        p = self.sipp(gw_port, wrong, "bob", "wrong-password", "bob-wrong")
        self.wait_sipp(p)  # challenged again: never registered
        # Bob's password registers; Bob cannot register Alice's address with his own credentials.
        self.callee(gw_port)
        as_alice = (REGISTRATION.replace("[service]@contoso.com", "alice@contoso.com")
                    .replace('<recv response="200"/>', '<recv response="403"/>'))
        p = self.sipp(gw_port, as_alice, "bob", "bob-secret-22", "bob-as-alice")
        self.wait_sipp(p)

        def status():
            with open(os.path.join(self.data, "gateway-status.json")) as f:
                return json.load(f)
        self.assertTrue(wait_until(lambda: status()["registeredUsers"] == 1, 5), status())
        self.assertGreaterEqual(status()["totals"]["authChallenges"], 4)


class TransferTest(GatewayTestCase):
    """Blind transfer (REFER): recording follows whoever is in the call now."""

    def transfer(self, flags="", grant_carol=True):
        """Alice calls Bob (recorded under Traders); Bob transfers Alice to Carol. Returns the
        call record and the recorder's recordings (id -> archive metadata)."""
        rec, rec_port = self.start_recorder()
        self.policy([rec_port], who="bob@contoso.com", flags=flags)
        if grant_carol:
            self.admin("Grant-CsTeamsComplianceRecordingPolicy -Identity carol@contoso.com -PolicyName Traders")
        c, carol = self.alice_bob_carol()
        self.wait_sipp(carol)
        self.assertIn("TRANSFER OUTCOME 200", self.sipp_log(self.sipps[-2]))
        # Carol was called for Alice, referred by Bob, and told the call is recorded (in both
        # tests someone is recorded: Carol herself, or Bob's recording goes on).
        self.assertIn('RECORD a=record:on REFERRED-BY <sip:bob@contoso.com> FROM Alice Trader',
                      self.sipp_log(carol))
        self.assertEqual(c["status"], 200)
        self.assertEqual((c["caller"]["aor"], c["callee"]["aor"]), ("sip:alice@contoso.com", "sip:carol@contoso.com"))
        t = c["transfers"]
        self.assertEqual((len(t), t[0]["by"], t[0]["to"], t[0]["outcome"]),
                         (1, "sip:bob@contoso.com", "sip:carol@contoso.com", "completed"), t)
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            ids = re.findall(r"recording (\w+) started", f.read())
        recordings = {r: json.loads(self.run_vb("archive", "show", r, check=0).stdout)["metadata"] for r in ids}
        return c, recordings

    def alice_bob_carol(self, **gateway):
        """Carol's and Bob's phones register; Alice calls Bob, who transfers her to Carol; Alice
        hangs up after 5 s. The call record and Carol's phone."""
        gw, gw_port = self.start_gateway(**gateway)
        carol_port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "carol", "carol-secret-3", "carol-register", port=carol_port))
        carol = self.sipp(gw_port, TARGET, "carol", "carol-secret-3", "carol", port=carol_port)
        bob_port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "bob", "bob-secret-22", "bob-register", port=bob_port))
        bob = self.sipp(gw_port, TRANSFEROR.replace("@TARGET@", "sip:carol@contoso.com"), "bob",
                        "bob-secret-22", "bob", port=bob_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=5000), "alice", "alice-secret-1", "alice")
        self.wait_sipp(bob)
        self.wait_sipp(alice)
        return wait_until(self.calls, 10)[0], carol

    def test_transfer_refused_by_the_targets_required_recording_leaves_the_call_as_it_was(self):
        dead = free_udp_port()
        self.policy([dead], who="carol@contoso.com")  # Carol's required recorder never answers
        c, carol = self.alice_bob_carol(recording_setup_timeout_ms=1000)
        self.assertIn("TRANSFER OUTCOME 480", self.sipp_log(self.sipps[-2]))  # Bob was told
        self.assertIsNone(carol.poll(), "Carol's phone is never called")
        # Alice and Bob talked on until Alice hung up.
        self.assertEqual((c["status"], c["callee"]["aor"]), (200, "sip:bob@contoso.com"))
        self.assertIn("caller ended", c["outcome"])
        t = c["transfers"][0]
        self.assertEqual((t["to"], t["status"]), ("sip:carol@contoso.com", 480), t)
        self.assertIn("failed: There was a problem setting up the recording", t["outcome"])
        self.assertEqual(c["recordings"][0]["applications"][0]["instances"][0]["why"], "the transfer failed")

    def test_the_target_is_recorded_under_its_own_policy_and_the_transferor_no_more(self):
        c, recordings = self.transfer()
        by_party = {r["party"]: r for r in c["recordings"]}
        self.assertEqual(set(by_party), {"sip:bob@contoso.com", "sip:carol@contoso.com"})
        self.assertTrue(by_party["sip:bob@contoso.com"]["left"])  # ended when Bob left
        self.assertFalse(by_party["sip:carol@contoso.com"]["left"])
        bob_leg = by_party["sip:bob@contoso.com"]["applications"][0]["instances"][0]
        self.assertEqual((bob_leg["state"], bob_leg["why"]), ("ended", "the party transferred the call"))
        # Two recordings, both complete: Bob's (with Alice) and Carol's (with Alice).
        self.assertEqual(len(recordings), 2, recordings)
        aors = []
        for md in recordings.values():
            self.assertEqual(md["status"], "complete", md)
            aors.append(sorted(n["aor"] for p in md["siprec"]["participants"] for n in p["names"]))
        self.assertEqual(sorted(aors), [["sip:alice@contoso.com", "sip:bob@contoso.com"],
                                        ["sip:alice@contoso.com", "sip:carol@contoso.com"]])

    def test_forwarded_call_records_the_target_and_with_record_rerouted_calls_the_forwarder(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port], who="bob@contoso.com", flags="-RecordReroutedCalls $true")
        self.admin("Grant-CsTeamsComplianceRecordingPolicy -Identity carol@contoso.com -PolicyName Traders")
        gw, gw_port = self.start_gateway()
        carol_port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "carol", "carol-secret-3", "carol-register", port=carol_port))
        carol = self.sipp(gw_port, DIVERTED, "carol", "carol-secret-3", "carol", port=carol_port)
        bob_port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "bob", "bob-secret-22", "bob-register", port=bob_port))
        bob = self.sipp(gw_port, FORWARDER, "bob", "bob-secret-22", "bob", port=bob_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=2000), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        self.wait_sipp(carol)
        self.assertIn("RECORD a=record:on DIVERSION <sip:bob@contoso.com>;reason=unconditional TO <sip:carol@contoso.com>",
                      self.sipp_log(carol))
        c = wait_until(self.calls, 10)[0]
        self.assertEqual((c["status"], c["callee"]["aor"]), (200, "sip:carol@contoso.com"))
        self.assertEqual([(f["from"], f["to"], f["status"]) for f in c["forwards"]],
                         [("sip:bob@contoso.com", "sip:carol@contoso.com", 302)])
        by_party = {r["party"]: r for r in c["recordings"]}
        self.assertTrue(by_party["sip:bob@contoso.com"]["onBehalf"])  # RecordReroutedCalls
        self.assertFalse(by_party["sip:carol@contoso.com"]["onBehalf"])  # her own policy
        for r in by_party.values():
            self.assertEqual(r["applications"][0]["instances"][0]["state"], "ended", r)

    def test_record_rerouted_calls_goes_on_recording_for_the_transferor(self):
        c, recordings = self.transfer(flags="-RecordReroutedCalls $true", grant_carol=False)
        self.assertEqual(len(c["recordings"]), 1)
        r = c["recordings"][0]
        self.assertEqual((r["party"], r["onBehalf"], r["left"]), ("sip:bob@contoso.com", True, False), r)
        self.assertEqual(r["applications"][0]["instances"][0]["state"], "ended")
        self.assertFalse(c["callee"]["recorded"])  # Carol herself is not recorded
        self.assertEqual(len(recordings), 1)
        self.assertEqual(list(recordings.values())[0]["status"], "complete")


class SoftphoneTest(GatewayTestCase):
    """baresip (a real softphone) as the users' phones: registering with digest through the
    gateway, calling, answering, transferring; our recorder as the SRS."""

    def setUp(self):
        super().setUp()
        if not BARESIP or not os.path.isdir(MODULES):
            self.fail("needs baresip (Debian package baresip-core; scripts/bootstrap.sh installs it)")
        self.phones = []

    def tearDown(self):
        for b in self.phones:  # while the gateway still answers their un-REGISTER
            b.stop()
        super().tearDown()

    def phone(self, user, password, gw_port, extra=""):
        b = Baresip(os.path.join(self.tmp, user), "")
        self.phones.append(b)
        b.command("uanew", f'<sip:{user}@contoso.com;transport=udp>;auth_pass={password};'
                           f'outbound="sip:127.0.0.1:{gw_port}";regint=600{extra}')
        b.wait_event({"REGISTER_OK"})
        return b

    def test_baresip_phones_call_through_the_gateway_and_the_call_is_recorded(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port])
        gw, gw_port = self.start_gateway()
        bob = self.phone("bob", "bob-secret-22", gw_port, ";answermode=auto")
        alice = self.phone("alice", "alice-secret-1", gw_port)
        alice.command("dial", "sip:bob@contoso.com")
        alice.wait_event({"CALL_ESTABLISHED"})
        bob.wait_event({"CALL_ESTABLISHED"})
        time.sleep(4)  # the notice (3 s), then the phones' tones both ways
        alice.command("hangup")
        alice.wait_event({"CALL_CLOSED"})
        bob.wait_event({"CALL_CLOSED"})
        c = wait_until(self.calls, 10)[0]
        self.assertEqual((c["status"], c["caller"]["recorded"]), (200, True), c)
        # baresip does not say it shows the indicator: both heard the notice.
        self.assertEqual(sorted((n["to"], n["outcome"]) for n in c["notices"]),
                         [("callee", "played"), ("caller", "played")])
        media = c["media"][0]
        self.assertGreater(media["fromCaller"], 150, media)  # 50 packets/s for 4 s
        self.assertGreater(media["fromCallee"], 150, media)
        # The callee's first packets can arrive before its 200 OK is read (then its address is
        # not known yet): a couple at most.
        self.assertLessEqual(media["foreignDropped"], 2, media)
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            r = re.search(r"recording (\w+) started", f.read()).group(1)
        md = json.loads(self.run_vb("archive", "show", r, check=0).stdout)["metadata"]
        self.assertEqual(md["status"], "complete", md)

    def test_baresip_transfers_the_call_to_another_user(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port], who="carol@contoso.com")
        gw, gw_port = self.start_gateway()
        carol = self.phone("carol", "carol-secret-3", gw_port, ";answermode=auto")
        bob = self.phone("bob", "bob-secret-22", gw_port, ";answermode=auto")
        alice = self.phone("alice", "alice-secret-1", gw_port)
        alice.command("dial", "sip:bob@contoso.com")
        alice.wait_event({"CALL_ESTABLISHED"})
        bob.wait_event({"CALL_ESTABLISHED"})
        bob.command("transfer", "sip:carol@contoso.com")
        carol.wait_event({"CALL_ESTABLISHED"}, timeout=15)
        bob.wait_event({"CALL_CLOSED"})
        time.sleep(1)
        alice.command("hangup")
        alice.wait_event({"CALL_CLOSED"})
        c = wait_until(self.calls, 10)[0]
        self.assertEqual(c["callee"]["aor"], "sip:carol@contoso.com")
        self.assertEqual(c["transfers"][0]["outcome"], "completed", c["transfers"])
        self.assertEqual([r["party"] for r in c["recordings"]], ["sip:carol@contoso.com"])
        self.assertEqual(c["recordings"][0]["applications"][0]["instances"][0]["state"], "ended")


class NoticeTest(GatewayTestCase):
    """The spoken notices: what a phone that cannot show the indicator hears."""

    def call_with_sink(self, flags="", hold_ms=6000, caller_aware=True):
        rec, rec_port = self.start_recorder()
        self.admin('New-CsTeamsCustomBannerText -Identity MiFID -Text "Recorded under MiFID II"')
        self.policy([rec_port], flags=flags)
        self.admin("Set-VbUser -Identity bob@contoso.com -PreferredLanguage de-DE")
        gw, gw_port = self.start_gateway()
        sink = RtpSink()
        self.addCleanup(sink.stop)
        bob = self.callee(gw_port, media_port=sink.port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=hold_ms, play=False,
                                                   record_aware=caller_aware),
                          "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        return sink, wait_until(self.calls, 10)[0]

    def test_phone_without_the_indicator_hears_the_notice_in_its_users_language(self):
        sink, c = self.call_with_sink(flags="-CustomBanner MiFID")
        # The indicator's banner is the policy's own text.
        self.assertIn('CALLINFO <urn:verbatim:recording>;purpose=recording;banner="Recorded under MiFID II"',
                      self.sipp_log(self.sipps[-2]))
        notices = {n["to"]: n for n in c["notices"]}
        # Alice's phone shows the indicator (record-aware): no audio for her.
        self.assertIn("record-aware", notices["caller"]["outcome"])
        self.assertNotIn("file", notices["caller"])
        # Bob's cannot: the German notice (his PreferredLanguage), in the call's codec.
        n = notices["callee"]
        self.assertEqual((n["outcome"], n["prompt"], n["language"], n["encoding"]),
                         ("played", "recording-started", "de", "PCMA"), n)
        frames = n["durationMs"] // 20
        self.assertEqual(n["packetsSent"], frames)
        # What Bob's phone got: one RTP stream of PCMA (PT 8), marker first, no gaps...
        rtp = [rtp_fields(p) for p in sink.packets if len(p) > 12]
        self.assertEqual(len(rtp), frames)
        self.assertEqual({r[0] for r in rtp}.__len__(), 1)
        self.assertEqual({r[3] for r in rtp}, {8})
        self.assertEqual(sink.packets[0][1] & 0x80, 0x80)
        self.assertEqual([(r[1] - rtp[0][1]) % 65536 for r in rtp], list(range(frames)))
        self.assertEqual([(r[2] - rtp[0][2]) % 2**32 for r in rtp], [160 * i for i in range(frames)])
        # ...and it is the prompt's speech: its loudness contour follows the file's (decoded with
        # an independent G.711 decoder; 20 ms windows, whatever the file's rate).
        heard = g711(b"".join(r[4] for r in rtp), alaw=True)
        with wave.open(n["file"]) as w:
            rate = w.getframerate()
            ref = list(struct.unpack(f"<{w.getnframes()}h", w.readframes(w.getnframes())))
        e_heard, e_ref = envelope(heard, 160), envelope(ref, rate // 50)
        best = max(pearson(e_heard[lag:], e_ref) for lag in range(0, 5))
        self.assertGreater(best, 0.9)
        self.assertEqual(c["caller"]["recorded"], True)
        # The decisions are queryable: the CLI and the admin REST API.
        shown = self.run_vb("calls", "show", c["callId"], check=0).stdout
        self.assertIn("notice   recording-started to the callee: played (de, PCMA", shown)
        listed = self.run_vb("calls", "list", "--party", "BOB@contoso", check=0).stdout
        self.assertIn(c["callId"], listed)
        self.assertNotIn(c["callId"], self.run_vb("calls", "list", "--party", "carol", check=0).stdout)
        self.assertIn("since must be an ISO 8601", self.run_vb("calls", "list", "--since", "yesterday",
                                                               check=2).stderr)
        token = self.token()
        _, url = self.start_server()
        status, body = http("GET", f"{url}/api/v1/calls/{c['callId']}", token)
        self.assertEqual((status, body["notices"]), (200, c["notices"]))
        status, body = http("GET", f"{url}/api/v1/calls?party=alice&since={c['start'][:10]}", token)
        self.assertEqual((status, body["count"], body["calls"][0]["callId"]), (200, 1, c["callId"]))
        self.assertEqual(http("GET", f"{url}/api/v1/calls?since=2999-01-01", token)[1]["count"], 0)
        self.assertEqual(http("GET", f"{url}/api/v1/calls?limit=0", token)[0], 400)
        self.assertEqual(http("GET", f"{url}/api/v1/calls/no-such-call", token)[0], 403)  # as if forbidden
        self.assertEqual(http("GET", f"{url}/api/v1/calls", None)[0], 401)
        # One renderer: the REST API's text is what `calls show` printed.
        req = urllib.request.Request(f"{url}/api/v1/calls/{c['callId']}?format=text",
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual((r.headers.get_content_type(), r.read().decode()), ("text/plain", shown))
        self.assertEqual(http("GET", f"{url}/api/v1/calls/{c['callId']}?format=xml", token)[0], 400)

    def test_policy_can_turn_the_notice_off_for_calls(self):
        sink, c = self.call_with_sink(flags="-DisableComplianceRecordingAudioNotificationForCalls $true",
                                      hold_ms=2500, caller_aware=False)
        self.assertEqual(sink.packets, [])  # nothing played (Alice sent nothing either)
        for n in c["notices"]:
            self.assertIn("DisableComplianceRecordingAudioNotificationForCalls", n["outcome"])
        self.assertEqual(len(c["notices"]), 2)


# Carol, consulted by Bob: answers, then takes the gateway's re-INVITE that moves her into the
# call Bob transfers to her (logging the o= lines of both offers), then the BYE.
CONSULTED = CALLEE.replace(
    '<log message="RECORD [$rec] CALLINFO [$ci1]"/>',
    '<ereg regexp="o=verbatim ([0-9]*)" search_in="body" check_it="true" assign_to="o,o1"/>'
    '<log message="RECORD [$rec] ORIGIN [$o1]"/>').replace(
    '  <recv request="BYE">', '''  <recv request="INVITE">
    <action>
      <ereg regexp="o=verbatim ([0-9]*)" search_in="body" check_it="true" assign_to="p,p1"/>
      <log message="REINVITE ORIGIN [$p1]"/>
    </action>
  </recv>
''' + ANSWER.replace(";tag=[pid]B[call_number]", "") + '''  <recv request="ACK"/>
  <recv request="BYE">''').replace('<Reference variables="rec,ci,r"/>', '<Reference variables="rec,ci,ci1,r,o,p"/>')


class AttendedTransferTest(GatewayTestCase):
    def test_attended_transfer_joins_the_consulted_party_who_is_recorded_in_the_new_call(self):
        """Alice calls Bob; Bob holds her, calls Carol (recorded under Traders), then transfers
        Alice to Carol with Replaces naming his call with Carol (RFC 5589 §7): Carol's phone is
        re-INVITEd into Alice's call, Bob's two dialogs end, Carol's recording of her call with
        Bob is complete and a new one records her with Alice."""
        rec, rec_port = self.start_recorder()
        self.policy([rec_port], who="carol@contoso.com")
        self.admin("Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Traders")
        gw, gw_port = self.start_gateway()
        carol_port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "carol", "carol-secret-3", "carol-register", port=carol_port))
        carol = self.sipp(gw_port, CONSULTED, "carol", "carol-secret-3", "carol", port=carol_port)
        bob = SipUA("bob", "bob-secret-22", gw_port)
        self.addCleanup(bob.close)
        bob.register()
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=9000), "alice", "alice-secret-1", "alice")
        held = bob.answer()
        self.assertEqual(bob.hold(held).status, 200)
        consultation = bob.call("carol")
        time.sleep(1)
        # A Replaces naming no dialog of the gateway's is declined, and nothing changes.
        bogus = Dialog("no-such-call", "x", "y", bob.aor, "sip:carol@contoso.com", "")
        self.assertEqual(bob.attended_transfer(held, bogus, "carol").status, 603)
        self.assertEqual(bob.attended_transfer(held, consultation, "carol").status, 202)
        self.assertTrue(bob.serve_until(lambda: held.ended and consultation.ended and "SIP/2.0 200 OK" in bob.notify_frags),
                        "\n".join(bob.log))
        self.wait_sipp(alice)
        self.wait_sipp(carol)
        log = self.sipp_log(carol)
        first, again = re.search(r"ORIGIN (\d+)", log).group(1), re.search(r"REINVITE ORIGIN (\d+)", log).group(1)
        self.assertEqual(first, again, "the re-INVITE keeps the dialog's o= session id")
        calls = wait_until(lambda: self.calls() if len(self.calls()) == 2 else None, 10)
        main = [c for c in calls if c["caller"]["aor"] == "sip:alice@contoso.com"][0]
        consult = [c for c in calls if c is not main][0]
        self.assertEqual((main["status"], main["callee"]["aor"]), (200, "sip:carol@contoso.com"))
        self.assertEqual(main["transfers"][0]["outcome"], "declined: Replaces names no call through the gateway")
        t = main["transfers"][1]
        self.assertEqual((t["by"], t["to"], t["attended"], t["outcome"]),
                         ("sip:bob@contoso.com", "sip:carol@contoso.com", True, "completed"))
        self.assertIn("attended transfer: sip:carol@contoso.com joined call", consult["outcome"])
        # Alice's audio reached Carol in the new call and Carol's echo came back.
        self.assertGreater(main["media"][0]["fromCallee"], 50, main["media"])
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            ids = re.findall(r"recording (\w+) started", f.read())
        aors, alices = [], None
        for r in ids:
            md = json.loads(self.run_vb("archive", "show", r, check=0).stdout)["metadata"]
            self.assertEqual(md["status"], "complete", md)
            names = sorted(n["aor"] for p in md["siprec"]["participants"] for n in p["names"])
            aors.append(names)
            if len(names) == 3:
                alices = md
        # Carol: her call with Bob, and her part of Alice's call. Alice (recorded all along): one
        # recording whose metadata was updated at the transfer — Bob left, Carol came, on the
        # same streams (RFC 7866 §7.1.2).
        self.assertEqual(sorted(aors), [["sip:alice@contoso.com", "sip:bob@contoso.com", "sip:carol@contoso.com"],
                                        ["sip:alice@contoso.com", "sip:carol@contoso.com"],
                                        ["sip:bob@contoso.com", "sip:carol@contoso.com"]])
        by_aor = {p["names"][0]["aor"]: p for p in alices["siprec"]["participants"]}
        self.assertIn("disassociateTime", json.dumps(by_aor["sip:bob@contoso.com"]))
        self.assertEqual(sorted(by_aor["sip:carol@contoso.com"]["send"]), sorted(by_aor["sip:bob@contoso.com"]["send"]))
        self.assertEqual(main["caller"]["recorded"], True)


class CallingSettingsTest(GatewayTestCase):
    """Forwarding set by the admin (Set-CsUserCallingSettings)."""

    def test_immediate_forwarding_records_the_target_and_with_record_rerouted_calls_the_user(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port], who="bob@contoso.com", flags="-RecordReroutedCalls $true")
        self.admin("Set-CsUserCallingSettings -Identity bob@contoso.com -IsForwardingEnabled $true "
                   "-ForwardingType Immediate -ForwardingTargetType SingleTarget -ForwardingTarget carol@contoso.com")
        gw, gw_port = self.start_gateway()  # Bob has no phone registered: his calls still reach Carol
        carol_port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "carol", "carol-secret-3", "carol-register", port=carol_port))
        carol = self.sipp(gw_port, DIVERTED, "carol", "carol-secret-3", "carol", port=carol_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=2000), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(carol)
        self.assertIn("RECORD a=record:on DIVERSION <sip:bob@contoso.com>;reason=unconditional TO <sip:carol@contoso.com>",
                      self.sipp_log(carol))
        c = wait_until(self.calls, 10)[0]
        self.assertEqual((c["status"], c["callee"]["aor"], c["registrationsRung"]), (200, "sip:carol@contoso.com", 1))
        f = c["forwards"][0]
        self.assertEqual((f["from"], f["to"], f["setting"]), ("sip:bob@contoso.com", "sip:carol@contoso.com", "immediate"))
        self.assertIn("forward  sip:bob@contoso.com -> sip:carol@contoso.com (immediate forwarding, reason unconditional",
                      self.run_vb("calls", "show", c["callId"], check=0).stdout)
        (r,) = c["recordings"]  # Carol has no policy; Bob's records the call for him
        self.assertEqual((r["party"], r["onBehalf"], r["applications"][0]["instances"][0]["state"]),
                         ("sip:bob@contoso.com", True, "ended"))

    def test_simultaneous_ring_the_target_answers_and_is_recorded_under_her_own_policy(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port], who="carol@contoso.com")
        self.admin("Set-CsUserCallingSettings -Identity bob@contoso.com -IsForwardingEnabled $true "
                   "-ForwardingType Simultaneous -ForwardingTargetType SingleTarget -ForwardingTarget carol@contoso.com")
        gw, gw_port = self.start_gateway()
        bob_port, carol_port = free_udp_port(), free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "bob", "bob-secret-22", "bob-register", port=bob_port))
        bob = self.sipp(gw_port, RINGER, "bob", "bob-secret-22", "bob", port=bob_port)
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "carol", "carol-secret-3", "carol-register", port=carol_port))
        carol = self.sipp(gw_port, DIVERTED, "carol", "carol-secret-3", "carol", port=carol_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=2000), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        self.wait_sipp(carol)
        self.assertIn("CANCELLED", self.sipp_log(bob))  # both rang; Carol answered
        # Carol's phone showed the indicator from the start: her own policy records her.
        self.assertIn("RECORD a=record:on DIVERSION <sip:bob@contoso.com>;reason=follow-me TO <sip:carol@contoso.com>",
                      self.sipp_log(carol))
        c = wait_until(self.calls, 10)[0]
        self.assertEqual((c["status"], c["callee"]["aor"], c["registrationsRung"]), (200, "sip:carol@contoso.com", 2))
        f = c["forwards"][0]
        self.assertEqual((f["from"], f["to"], f["setting"]), ("sip:bob@contoso.com", "sip:carol@contoso.com", "simultaneous"))
        (r,) = c["recordings"]
        self.assertEqual((r["party"], r["onBehalf"], r["applications"][0]["instances"][0]["state"]),
                         ("sip:carol@contoso.com", False, "ended"))

    def test_unanswered_calls_go_to_voicemail_after_the_delay(self):
        self.admin(SETUP)
        self.admin("Set-CsUserCallingSettings -Identity bob@contoso.com -IsUnansweredEnabled $true "
                   "-UnansweredTargetType Voicemail -UnansweredDelay 00:00:02")
        vm_port = free_udp_port()
        gw, gw_port = self.start_gateway(voicemail_uri=f"sip:voicemail@127.0.0.1:{vm_port}")
        bob_port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, "bob", "bob-secret-22", "bob-register", port=bob_port))
        bob = self.sipp(gw_port, RINGER, "bob", "bob-secret-22", "bob", port=bob_port)
        vm = self.sipp(gw_port, DIVERTED, "voicemail", "x", "voicemail", port=vm_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=1500, play=False), "alice",
                          "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        self.wait_sipp(vm)
        self.assertIn("CANCELLED", self.sipp_log(bob))  # rang, then let go
        self.assertIn("DIVERSION <sip:bob@contoso.com>;reason=no-answer TO <sip:bob@contoso.com>", self.sipp_log(vm))
        c = wait_until(self.calls, 10)[0]
        self.assertEqual(c["status"], 200)
        self.assertEqual(c["voicemail"], "no answer within 2 s (calling settings)")
        self.assertGreaterEqual(c["timings"]["calleeCalledMs"], 1900)
        # Bob unregistered: the unanswered target at once, no 480.
        self.wait_sipp(self.sipp(gw_port, REGISTRATION.replace("Expires: 600", "Expires: 0"), "bob",
                                 "bob-secret-22", "bob-unregister", port=bob_port))
        vm = self.sipp(gw_port, DIVERTED, "voicemail", "x", "voicemail-2", port=vm_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=1000, play=False), "alice",
                          "alice-secret-1", "alice-2")
        self.wait_sipp(alice)
        self.wait_sipp(vm)
        second = wait_until(lambda: self.calls()[1] if len(self.calls()) == 2 else None, 10)
        self.assertEqual(second["voicemail"], "sip:bob@contoso.com is not registered (calling settings)")


# A phone that is busy: 486 to the INVITE.
DECLINER = refusing_phone("phone that is busy", "486 Busy Here")

# An agent's phone: answers, logs the queue in Diversion and the codecs it was offered.
AGENT = CALLEE.replace(
    '<log message="RECORD [$rec] CALLINFO [$ci1]"/>',
    '<ereg regexp="Diversion: ([^;]*;reason=[a-z-]*)" search_in="msg" check_it="false" assign_to="dv,dv1"/>'
    '<ereg regexp="m=audio [0-9]* RTP/AVP ([0-9 ]*)" search_in="body" check_it="false" assign_to="m,m1"/>'
    '<log message="RECORD [$rec] DIVERSION [$dv1] CODECS [$m1]"/>').replace(
    '<Reference variables="rec,ci,r"/>', '<Reference variables="rec,ci,ci1,r,dv,m"/>')

PASSWORDS = {"bob": "bob-secret-22", "carol": "carol-secret-3"}


class QueueTest(GatewayTestCase):
    """Call queues (New-CsCallQueue): agents rung by the routing method, each recorded under
    their own policy once they answer; transfer and conference mode."""

    def queue(self, flags):
        """Sales (bob, carol) behind the resource account sales.queue@contoso.com."""
        if not hasattr(self, "_setup_done"):
            self.admin(SETUP)
            self._setup_done = True
        out = self.admin(
            'New-CsOnlineApplicationInstance -UserPrincipalName sales.queue@contoso.com -DisplayName "Sales line"\n'
            f"New-CsCallQueue -Name Sales -Users bob@contoso.com, carol@contoso.com {flags}\n"
            "New-CsOnlineApplicationInstanceAssociation -Identities sales.queue@contoso.com "
            "-ConfigurationId Sales -ConfigurationType CallQueue\n")
        self.assertIn("CallQueue", out.stdout, out.stderr)

    def agent(self, gw_port, user, scenario):
        port = free_udp_port()
        self.wait_sipp(self.sipp(gw_port, REGISTRATION, user, PASSWORDS[user], f"{user}-register", port=port))
        return self.sipp(gw_port, scenario, user, PASSWORDS[user], user, port=port)

    def queued_call(self, gw_port, bob, carol, hold_ms=3000, caller=None):
        """Bob's and Carol's phones (scenarios) register; Alice calls the queue; all finish."""
        phones = [self.agent(gw_port, "bob", bob), self.agent(gw_port, "carol", carol),
                  self.sipp(gw_port, caller or caller_scenario("sales.queue", "200", hold_ms=hold_ms),
                            "alice", "alice-secret-1", "alice")]
        for p in reversed(phones):
            self.wait_sipp(p)
        return phones

    def test_transfer_mode_serial_busy_agent_skipped_and_the_next_recorded_under_her_policy(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port], who="carol@contoso.com")
        self.queue("-RoutingMethod Serial -ConferenceMode $false")
        gw, gw_port = self.start_gateway()
        bob, carol, alice = self.queued_call(gw_port, DECLINER, AGENT)
        # Carol's phone saw the queue and the indicator; Alice saw the indicator in the answer.
        self.assertIn("RECORD a=record:on DIVERSION <sip:sales.queue@contoso.com>;reason=unconditional",
                      self.sipp_log(carol))
        self.assertIn("ANSWERED RECORD a=record:on", self.sipp_log(alice))
        c = wait_until(self.calls, 10)[0]
        self.assertEqual((c["status"], c["callee"]["aor"], c["callee"]["recorded"]),
                         (200, "sip:carol@contoso.com", True))
        q = c["queue"]
        self.assertEqual((q["name"], q["routingMethod"], q["conferenceMode"], q["callerAnsweredMs"]),
                         ("Sales", "Serial", False, -1))
        self.assertEqual([(o["agent"], o["outcome"]) for o in q["offers"]],
                         [("sip:bob@contoso.com", "declined: 486 Busy Here"),
                          ("sip:carol@contoso.com", "answered")])
        shown = self.run_vb("calls", "show", c["callId"], check=0).stdout
        self.assertIn("queue    Sales (Serial, transfer mode) via sip:sales.queue@contoso.com", shown)
        self.assertRegex(shown, r"offered to sip:bob@contoso.com at \d+ ms: declined: 486 Busy Here")
        # One recording: Carol's, with Alice, complete.
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            ids = re.findall(r"recording (\w+) started", f.read())
        self.assertEqual(len(ids), 1)
        md = json.loads(self.run_vb("archive", "show", ids[0], check=0).stdout)["metadata"]
        self.assertEqual(md["status"], "complete")
        self.assertEqual(sorted(n["aor"] for p in md["siprec"]["participants"] for n in p["names"]),
                         ["sip:alice@contoso.com", "sip:carol@contoso.com"])

    def test_conference_mode_answers_the_caller_at_once_and_the_first_agent_to_answer_joins(self):
        self.queue("-RoutingMethod Attendant")  # conference mode: the default
        gw, gw_port = self.start_gateway()
        # Alice offers two codecs; the queue answers her with the first, and agents get only it.
        caller = caller_scenario("sales.queue", "200", hold_ms=3000).replace(
            "RTP/AVP 8 101", "RTP/AVP 8 0 101").replace(
            "a=rtpmap:8 PCMA/8000", "a=rtpmap:8 PCMA/8000\na=rtpmap:0 PCMU/8000")
        bob, carol, alice = self.queued_call(gw_port, AGENT, RINGER, caller=caller)
        self.assertIn("CANCELLED", self.sipp_log(carol))
        self.assertIn("CODECS 8 101", self.sipp_log(bob))
        c = wait_until(self.calls, 10)[0]
        q = c["queue"]
        self.assertEqual((c["status"], c["callee"]["aor"], q["conferenceMode"]), (200, "sip:bob@contoso.com", True))
        self.assertGreaterEqual(q["callerAnsweredMs"], 0)
        self.assertLess(q["callerAnsweredMs"], c["timings"]["connectedMs"])
        self.assertEqual(sorted((o["agent"], o["outcome"]) for o in q["offers"]),
                         [("sip:bob@contoso.com", "answered"),
                          ("sip:carol@contoso.com", "cancelled: sip:bob@contoso.com answered")])
        self.assertGreater(c["media"][0]["fromCallee"], 50, c["media"])

    def test_agent_whose_required_recording_fails_is_released_and_the_next_agent_takes_the_call(self):
        self.policy([free_udp_port()], who="bob@contoso.com")  # Bob's required recorder never answers
        self.queue("-RoutingMethod Serial -ConferenceMode $false")
        gw, gw_port = self.start_gateway(recording_setup_timeout_ms=1000)
        bob, carol, alice = self.queued_call(gw_port, AGENT, AGENT, hold_ms=2000)
        self.assertIn('BYE REASON SIP;cause=480;text="There was a problem setting up the recording required by '
                      'your organisation"', self.sipp_log(bob))
        c = wait_until(self.calls, 10)[0]
        self.assertEqual((c["status"], c["callee"]["aor"]), (200, "sip:carol@contoso.com"))
        offers = c["queue"]["offers"]
        self.assertEqual(offers[0]["agent"], "sip:bob@contoso.com")
        self.assertIn("recording failed: no recorder answered within 1000 ms", offers[0]["outcome"])
        self.assertEqual((offers[1]["agent"], offers[1]["outcome"]), ("sip:carol@contoso.com", "answered"))
        bob_rec = c["recordings"][0]
        self.assertEqual((bob_rec["party"], bob_rec["left"]), ("sip:bob@contoso.com", True))

    def test_no_agent_within_the_timeout_threshold_disconnects_the_caller_with_a_reason(self):
        self.queue("-ConferenceMode $false -TimeoutThreshold 2")
        gw, gw_port = self.start_gateway()  # nobody registered
        alice = self.sipp(gw_port, caller_scenario("sales.queue", "480"), "alice", "alice-secret-1", "alice")
        self.wait_sipp(alice)
        self.assertIn('REFUSED REASON SIP;cause=480;text="No agent of the call queue answered"', self.sipp_log(alice))
        self.admin("Set-CsCallQueue Sales -ConferenceMode $true")  # the queue answers, then lets go
        time.sleep(1.5)  # the gateway applies changes made elsewhere every reload_interval_ms (500)
        alice = self.sipp(gw_port, caller_scenario("sales.queue", "200", hold_ms=10000), "alice",
                          "alice-secret-1", "alice2")
        self.wait_sipp(alice)
        self.assertIn('BYE REASON SIP;cause=480;text="No agent of the call queue answered"', self.sipp_log(alice))
        calls = wait_until(lambda: self.calls() if len(self.calls()) == 2 else None, 10)
        for c in calls:
            self.assertIn("No agent of the call queue answered within 2 s", c["outcome"])
            self.assertEqual(c["queue"]["offers"], [])


if __name__ == "__main__":
    main()

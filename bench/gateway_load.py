#!/usr/bin/env python3
"""Gateway load driver (issue 6): SIPp's built-in UAC places calls through the gateway to a
registered SIPp phone, and every call is recorded by two recorders (a policy with
ConcurrentInvitationCount 2, RequiredBeforeCallEstablishment: the callee is only called once a
recorder answered); in the same run the same SIPp scenario goes through Kamailio as a stateful
record-routing proxy (tm t_relay, no recording) to a SIPp phone.

The recorders are SIPp UASes answering the SIPREC INVITEs: the gateway's work (four dialogs per
call: caller, callee, two recorders; six media port pairs) is what is measured, not a
recorder's archive. The gateway (or Kamailio, one worker) is pinned to CPU 1, every SIPp to CPU 0.
The caller is the gateway's trunk (no digest round trip, as a PSTN trunk). Health checks are off
(SIPp's UAS does not answer OPTIONS).

Per step (a fixed offered rate for a fixed time, bounded): calls passed/failed, the server's
CPU time, and the setup delay SIPp measured per call (INVITE sent to 200 received: p50/p99).
Reported: the highest rate with < 0.5 % failed calls for each, the CPU per 1,000 calls at the
highest rate both passed, the delay the gateway adds over Kamailio at the same rate, and the
gateway's memory per active call (RSS with N long calls up, over the idle RSS).

What TLS costs (issue 15): the same steps with the trunk's signalling over TCP and over TLS, each
on a fresh gateway in the same run. SIPp (Debian's build has no TLS) speaks TCP over one
connection, as an SBC's trunk does; for TLS an stunnel client (on SIPp's CPU) turns it into TLS 1.3
verified against the gateway's certificate, so the gateway does all the server-side TLS work.
The probe then calls over the same transport (a Python TLS client for TLS). Also measured: full
TLS handshakes (openssl s_time, new sessions) against the gateway's TLS port, with the gateway's
CPU per 1,000 handshakes: what a storm of phones reconnecting costs.

A restructuring of the gateway is checked against the revision before it (issue 16: >= 95 % of
the calls per second, the same setup delay): --baseline OLD_BUILD_DIR runs the same UDP steps on a
gateway built from that revision (same data directory, same recorders and phone), alternating
with ours step by step so both see the same machine, and prints the ratio.

Usage: bench/gateway_load.py BUILD_DIR [--seconds 4] [--rates 200,400,...] [--hold-calls 2000]
                             [--transports udp,tcp,tls]
                             [--baseline OLD_BUILD_DIR [--repeat 3] [--baseline-only]]
Everything runs on loopback on ports picked here; every process is stopped at the end."""
import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from helpers import free_udp_port as free_port  # noqa: E402
from sip_load import cpu_seconds, process_tree  # noqa: E402  (bench/ is on sys.path as the script dir)

KAMAILIO_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
request_route {{
  if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
  if (has_totag()) {{
    # SIPp's built-in UAC ignores Record-Route: in-dialog requests without a Route go on to
    # the phone too (what a proxy serving one phone would do).
    if (!loose_route()) {{ $du = "sip:127.0.0.1:{callee}"; }}
    t_relay();
    exit;
  }}
  if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
  record_route();
  $du = "sip:127.0.0.1:{callee}";
  t_relay();
}}
"""

APP = "11111111-2222-4333-8444-555555555555"


def sipp_uas(port, tmp):
    return subprocess.Popen(["taskset", "-c", "0", "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port),
                             "-mp", str(free_port()), "-nostdin"],
                            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_step(target_port, rate, seconds, tmp, hold_ms=0, calls=None, caller_port=None, tcp=False):
    """One SIPp UAC run (over one TCP connection when `tcp`); returns (ok, failed, setup delays in ms)."""
    calls = calls or rate * seconds
    for f in glob.glob(os.path.join(tmp, "uac_*_rtt.csv")):
        os.remove(f)
    cmd = ["taskset", "-c", "0", "sipp", "-sn", "uac", f"127.0.0.1:{target_port}", "-i", "127.0.0.1",
           "-p", str(caller_port or free_port()), "-mp", str(free_port()), "-cp", str(free_port()),
           "-s", "+14255550101", "-m", str(calls), "-r", str(rate), "-l", str(max(rate * 2, calls if hold_ms else 0)),
           "-d", str(hold_ms), "-nostdin", "-trace_rtt", "-rtt_freq", "1",
           "-timeout", str(seconds * 4 + 20 + hold_ms // 1000)] + (["-t", "t1"] if tcp else [])
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=seconds * 6 + 60 + hold_ms // 1000)
    out = r.stdout
    ok = int((re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out) or [0])[-1])
    failed = int((re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", out) or [0])[-1])
    if ok + failed == 0:
        print(f"  SIPp placed no call (exit {r.returncode}): {r.stderr.strip()[-400:]}", flush=True)
    delays = []
    for f in glob.glob(os.path.join(tmp, "uac_*_rtt.csv")):
        with open(f) as fh:
            for line in fh:
                parts = line.strip().split(";")
                if len(parts) >= 2:
                    try:
                        delays.append(float(parts[1]))
                    except ValueError:
                        pass
    return ok, failed, delays


class Probe:
    """Measures call setup delay precisely (SIPp's own figures are in whole milliseconds of its
    event loop): calls from 127.0.0.1 alongside the load, INVITE (the authenticated one, for the
    gateway) sent to 200 received, timed with perf_counter; then ACK and BYE."""

    def __init__(self, target_port, user=None, password=None, transport="udp", ca=None):
        # From 127.0.0.2: never taken for the trunk (which is 127.0.0.1), so the probe's call is
        # a user's, authenticated, whatever the trunk's transport.
        self.transport = transport.upper()
        if self.transport == "UDP":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.2", 0))
        else:
            raw = socket.create_connection(("127.0.0.1", target_port), timeout=2,
                                           source_address=("127.0.0.2", 0))
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.transport == "TLS":
                ctx = ssl.create_default_context(cafile=ca)
                raw = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            self.sock = raw
        self.sock.settimeout(2)
        self.port = self.sock.getsockname()[1]
        self.target = ("127.0.0.1", target_port)
        self.user, self.password = user, password
        self.n = 0
        self.buf = b""

    def request(self, method, call_id, cseq, to_tag="", extra="", body=""):
        to = "<sip:+14255550101@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
        tp = "" if self.transport == "UDP" else f";transport={self.transport.lower()}"
        msg = (f"{method} sip:+14255550101@127.0.0.1:{self.target[1]}{tp} SIP/2.0\r\n"
               f"Via: SIP/2.0/{self.transport} 127.0.0.2:{self.port};branch=z9hG4bK{call_id}{cseq}{method}\r\n"
               f"From: <sip:{self.user or 'probe'}@contoso.com>;tag=p{call_id}\r\nTo: {to}\r\n"
               f"Call-ID: probe-{call_id}\r\nCSeq: {cseq} {method}\r\n"
               f"Contact: <sip:probe@127.0.0.2:{self.port}{tp}>\r\nMax-Forwards: 70\r\n{extra}")
        if body:
            msg += f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        else:
            msg += "Content-Length: 0\r\n\r\n"
        if self.transport == "UDP":
            self.sock.sendto(msg.encode(), self.target)
        else:
            self.sock.sendall(msg.encode())

    def receive(self):
        """The next message (a datagram, or one framed by Content-Length off the stream)."""
        if self.transport == "UDP":
            return self.sock.recv(65535).decode(errors="replace")
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end >= 0:
                m = re.search(rb"^(?:Content-Length|l):\s*(\d+)", self.buf[:head_end], re.M | re.I)
                end = head_end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buf) >= end:
                    msg, self.buf = self.buf[:end], self.buf[end:]
                    return msg.decode(errors="replace")
            data = self.sock.recv(65535)
            if not data:
                raise socket.timeout("connection closed")
            self.buf += data.lstrip(b"\r\n") if not self.buf else data

    def final(self, call_id, method):
        while True:
            data = self.receive()
            if f"probe-{call_id}" not in data or f" {method}\r\n" not in data.split("CSeq:", 1)[1].split("\r\n")[0] + "\r\n":
                continue
            status = int(data.split(" ", 2)[1])
            if status >= 200:
                return status, data

    def call(self):
        """The setup delay in ms, or None when the call failed."""
        self.n += 1
        cid = f"{self.port}-{self.n}"
        sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {self.port + 2} RTP/AVP 0\r\n")
        try:
            cseq = 1
            t0 = time.perf_counter()
            self.request("INVITE", cid, cseq, body=sdp)
            status, r = self.final(cid, "INVITE")
            if status == 401 and self.user:
                tag = re.search(r"^To:.*;tag=([^;\s]+)", r, re.M).group(1)
                self.request("ACK", cid, cseq, to_tag=tag)
                realm = re.search(r'realm="([^"]+)"', r).group(1)
                nonce = re.search(r'nonce="([^"]+)"', r).group(1)
                tp = "" if self.transport == "UDP" else f";transport={self.transport.lower()}"
                uri = f"sip:+14255550101@127.0.0.1:{self.target[1]}{tp}"
                h = lambda x: hashlib.md5(x.encode()).hexdigest()
                ha1, ha2 = h(f"{self.user}:{realm}:{self.password}"), h(f"INVITE:{uri}")
                resp = h(f"{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}")
                auth = (f'Authorization: Digest username="{self.user}", realm="{realm}", nonce="{nonce}", '
                        f'uri="{uri}", response="{resp}", algorithm=MD5, qop=auth, nc=00000001, '
                        f'cnonce="c0ffee"\r\n')
                cseq = 2
                t0 = time.perf_counter()
                self.request("INVITE", cid, cseq, extra=auth, body=sdp)
                status, r = self.final(cid, "INVITE")
            took = (time.perf_counter() - t0) * 1000
            if status != 200:
                return None
            tag = re.search(r"^To:.*;tag=([^;\s]+)", r, re.M).group(1)
            self.request("ACK", cid, cseq, to_tag=tag)
            self.request("BYE", cid, cseq + 1, to_tag=tag)
            self.final(cid, "BYE")
            return took
        except (OSError, AttributeError, IndexError, ValueError):
            return None

    def run(self, seconds, count, out):
        end = time.monotonic() + seconds
        for _ in range(count):
            if time.monotonic() > end:
                break
            d = self.call()
            if d is not None:
                out.append(d)
            time.sleep(max(0.0, seconds / count - (d or 0) / 1000))


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def measure(name, proc, port, rates, seconds, tmp, caller_port=None, user=None, password=None,
            load_port=None, tcp=False, probe_transport="udp", ca=None):
    """Steps up the offered rate; SIPp sends to `load_port` (default `port`), the probe to `port`."""
    results = []
    for rate in rates:
        pids = process_tree(proc.pid)
        before = cpu_seconds(pids)
        delays = []
        probe = threading.Thread(target=Probe(port, user, password, probe_transport, ca).run,
                                 args=(seconds, 25 * seconds, delays))
        probe.start()
        ok, failed, _ = run_step(load_port or port, rate, seconds, tmp, caller_port=caller_port, tcp=tcp)
        probe.join()
        cpu = cpu_seconds(pids) - before
        passed = failed <= 0.005 * (ok + failed) and ok > 0
        results.append({"rate": rate, "ok": ok, "failed": failed, "cpu": cpu, "passed": passed,
                        "p50": pct(delays, 50), "p99": pct(delays, 99)})
        print(f"  {name:13} {rate:6} calls/s offered: {ok:7} ok {failed:6} failed, CPU {cpu:6.2f} s "
              f"({1000 * cpu / max(ok, 1):.3f} s per 1,000 calls), setup p50 {pct(delays, 50):.2f} ms "
              f"p99 {pct(delays, 99):.2f} ms{'' if passed else '  <- over the limit'}", flush=True)
        if not passed:
            break
    return results


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


STUNNEL_CFG = """foreground = yes
pid =
debug = 3
[trunk]
client = yes
accept = 127.0.0.1:{accept}
connect = 127.0.0.1:{connect}
CAfile = {ca}
verifyChain = yes
checkIP = 127.0.0.1
sslVersionMin = TLSv1.2
"""


def gateway_config(tmp, transport, caller_port, tls_section, tls=True):
    """The gateway's configuration with the trunk (127.0.0.1, SIPp's caller) on `transport`."""
    trunk = f"trunk = \"127.0.0.1:{caller_port}\"\n"
    if transport != "udp":
        trunk += f"trunk_transport = \"{transport}\"\ntrunk_sources = [\"127.0.0.1/32\"]\n"
    cfg = os.path.join(tmp, f"gateway-{transport}.toml")
    with open(cfg, "w") as f:
        f.write("[log]\nlevel = \"warn\"\n" + tls_section + "[gateway]\nsip_listen = \"127.0.0.1:0\"\n"
                + ("tls_listen = \"127.0.0.1:0\"\n" if tls else "") + trunk + "digest_algorithms = [\"MD5\"]\n"
                "health_check_interval_ms = 0\nrtp_port_min = 10000\nrtp_port_max = 31999\n")
    return cfg


def start_gateway(binary, cfg, env, tmp):
    """The gateway on CPU 1 with the SIPp phone bob registered (over UDP) and answering; returns
    (gateway process, SIP port, TLS port, phone process)."""
    gw = subprocess.Popen(["taskset", "-c", "1", binary, "--config", cfg, "serve", "--roles", "gateway"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = gw.stdout.readline()
    ports = re.findall(r":(\d+) \(", line) + [None]  # no TLS port without a TLS listener
    if not ports[0]:
        stop(gw)
        sys.exit(f"gateway_load: the gateway did not start: {line!r}")
    callee_port = free_port()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with open(os.path.join(root, "demo", "gateway", "register.xml")) as src, \
            open(os.path.join(tmp, "register.xml"), "w") as f:
        f.write(src.read().replace("@DOMAIN@", "contoso.com"))
    subprocess.run(["sipp", f"127.0.0.1:{ports[0]}", "-sf", "register.xml", "-m", "1", "-i", "127.0.0.1",
                    "-p", str(callee_port), "-s", "bob", "-au", "bob", "-ap", "bob-secret-22",
                    "-auth_uri", "contoso.com", "-nostdin",
                    "-timeout", "10"], cwd=tmp, check=True, capture_output=True)
    phone = sipp_uas(callee_port, tmp)
    time.sleep(0.5)
    return gw, int(ports[0]), int(ports[1]) if ports[1] else None, phone


def not_connected(tmp):
    """The gateway's calls that did not connect, by status, outcome and recorders' reasons; the
    call record files are removed so the next gateway's are counted alone."""
    outcomes = {}
    for path in glob.glob(os.path.join(tmp, "data", "gateway-calls*.jsonl")):
        with open(path) as f:
            for line in f:
                c = json.loads(line)
                if c["status"] != 200:
                    whys = {i.get("why", "") for r in c["recordings"] for a in r["applications"]
                            for i in a["instances"]}
                    key = f"{c['status']} {c['outcome']} ({'; '.join(sorted(whys))})"
                    outcomes[key] = outcomes.get(key, 0) + 1
        os.remove(path)
    return sorted(outcomes.items(), key=lambda kv: -kv[1])[:5]


def memory_per_call(gw, gw_port, caller_port, hold_calls, tmp):
    """Holds calls up (long calls at a moderate rate) on the fresh process: RSS over idle."""
    idle = rss_kib(gw.pid)
    hold_rate = 200
    hold_ms = int(hold_calls / hold_rate * 1000) + 4000
    peak = {"rss": idle, "calls": 0}

    def sample():
        deadline = time.monotonic() + hold_ms / 1000 + hold_calls / hold_rate + 10
        status_file = os.path.join(tmp, "data", "gateway-status.json")
        while time.monotonic() < deadline:
            try:
                with open(status_file) as f:
                    calls = json.load(f)["calls"]
                rss = rss_kib(gw.pid)
                if calls > peak["calls"]:
                    peak.update(rss=rss, calls=calls)
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.25)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    ok, failed, _ = run_step(gw_port, hold_rate, 0, tmp, hold_ms=hold_ms, calls=hold_calls,
                             caller_port=caller_port)
    th.join(timeout=1)
    per_call = (peak["rss"] - idle) / max(peak["calls"], 1)
    print(f"  verbatim      memory: idle RSS {idle} KiB, {peak['rss']} KiB with {peak['calls']} calls up "
          f"-> {per_call:.1f} KiB per active call (4 dialogs, 6 media port pairs each); "
          f"{ok} ok {failed} failed", flush=True)


def handshakes(gw, tls_port, ca, seconds):
    """Full TLS handshakes (new sessions, openssl s_time on CPU 0) against the gateway's TLS
    port: (handshakes per second, the gateway's CPU seconds per 1,000)."""
    pids = process_tree(gw.pid)
    before = cpu_seconds(pids)
    out = subprocess.run(["taskset", "-c", "0", "openssl", "s_time", "-connect", f"127.0.0.1:{tls_port}",
                          "-new", "-time", str(seconds), "-CAfile", ca, "-verify", "2"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    cpu = cpu_seconds(pids) - before
    m = re.search(r"(\d+) connections in (\d+) real seconds", out)
    if not m:
        return None
    n, secs = int(m.group(1)), int(m.group(2))
    return n / max(secs, 1), 1000 * cpu / max(n, 1)


def best(results):
    return max([r["rate"] for r in results if r["passed"]], default=0)


def compare(a_name, a, b_name, b):
    """CPU per 1,000 calls and setup delay of a against b at the highest rate both carried
    without a failed call (near its limit a server's CPU per call grows with retransmissions,
    which would compare overload, not cost); and the CPU ratio at every rate both passed."""
    both = [(r, next(k for k in b if k["rate"] == r["rate"])) for r in a
            if r["passed"] and any(k["rate"] == r["rate"] and k["passed"] for k in b)]
    if not both:
        print(f"gateway_load: {a_name} and {b_name} passed no rate in common")
        return
    per_k = lambda r: r["cpu"] / max(r["ok"], 1) * 1000
    clean = [(o, k) for o, k in both if o["failed"] == 0 and k["failed"] == 0] or both
    o, k = clean[-1]
    co, ck = per_k(o), per_k(k)
    print(f"gateway_load: at {o['rate']} calls/s: CPU per 1,000 calls {a_name} {co:.3f} s, {b_name} "
          f"{ck:.3f} s ({co / ck if ck else float('nan'):.2f}x); setup delay p50 {o['p50']:.2f} vs "
          f"{k['p50']:.2f} ms, p99 {o['p99']:.2f} vs {k['p99']:.2f} ms -> added p99 "
          f"{o['p99'] - k['p99']:.2f} ms")
    print(f"gateway_load: CPU {a_name} / {b_name} by rate: " + ", ".join(
        f"{x['rate']}: {per_k(x) / per_k(y):.2f}x" for x, y in both if per_k(y)))


def baseline_against(a, binary, env, tmp, caller_port, script, rates, procs):
    """Ours and the baseline's gateway over UDP without a TLS listener (the baseline may predate
    TLS), each with a data directory its own binary made from the same admin script, each on a
    fresh process per step. Every rate is run --repeat times by both, the order alternating (ours
    first, then the baseline first), so a machine that slows down mid-run slows both; the figures
    are the medians."""
    runs = []
    for label, exe in (("this build", binary), ("baseline", os.path.join(a.baseline, "verbatim"))):
        data = os.path.join(tmp, f"data-{label.replace(' ', '-')}")
        e = dict(env, VERBATIM_DATA_DIR=data)
        subprocess.run([exe, "admin", "-c", script], env=e, check=True, capture_output=True)
        runs.append((f"verbatim/udp ({label})", exe, e))
    cfg = gateway_config(tmp, "udp", caller_port, "", tls=False)
    results = {name: {r: [] for r in rates} for name, _, _ in runs}
    for rep in range(a.repeat):
        for rate in rates:
            for name, exe, e in (runs if rep % 2 == 0 else runs[::-1]):
                gw, gw_port, _, phone = start_gateway(exe, cfg, e, tmp)
                procs += [gw, phone]
                results[name][rate] += measure(name, gw, gw_port, [rate], a.seconds, tmp,
                                               caller_port=caller_port, user="alice",
                                               password="alice-secret-1", load_port=gw_port)
                for p in (gw, phone):
                    stop(p)
                    procs.remove(p)
    median = lambda xs: sorted(xs)[len(xs) // 2]
    per_k = lambda r: 1000 * r["cpu"] / max(r["ok"], 1)
    (ours_name, ours), (base_name, base) = results.items()
    print(f"gateway_load: this build against the baseline ({a.baseline}), {a.repeat} runs per rate, medians:")
    for rate in rates:
        o, b = ours[rate], base[rate]
        po, pb = sum(r["passed"] for r in o), sum(r["passed"] for r in b)
        co, cb = median([per_k(r) for r in o]), median([per_k(r) for r in b])
        print(f"  {rate:5} calls/s: passed {po}/{len(o)} vs {pb}/{len(b)}; CPU per 1,000 calls "
              f"{co:.3f} vs {cb:.3f} s ({co / cb:.2f}x); setup p50 {median([r['p50'] for r in o]):.2f} vs "
              f"{median([r['p50'] for r in b]):.2f} ms, p99 {median([r['p99'] for r in o]):.2f} vs "
              f"{median([r['p99'] for r in b]):.2f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rates", default="200,400,600,800,1000,1200,1500,2000")
    # 12 sockets per call (6 port pairs): 1,200 calls stay below a 20,000-descriptor limit.
    ap.add_argument("--hold-calls", type=int, default=1200)
    ap.add_argument("--transports", default="udp,tcp,tls",
                    help="the trunk's signalling, each on a fresh gateway (udp first: memory is measured there)")
    ap.add_argument("--baseline", help="a build of an earlier revision: its gateway runs the UDP steps too")
    ap.add_argument("--repeat", type=int, default=3, help="runs per rate against the baseline")
    ap.add_argument("--baseline-only", action="store_true",
                    help="only the comparison with --baseline (no transports, memory or Kamailio)")
    a = ap.parse_args()
    rates = [int(r) for r in a.rates.split(",")]
    transports = [t.strip().lower() for t in a.transports.split(",") if t.strip()]
    if not transports or any(t not in ("udp", "tcp", "tls") for t in transports):
        sys.exit("gateway_load: --transports takes udp, tcp and tls")
    for tool in ("sipp", "kamailio", "taskset") + (("stunnel", "openssl") if "tls" in transports else ()):
        if not (shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}")):
            sys.exit(f"gateway_load: {tool} is missing (scripts/bootstrap.sh installs it)")
    binary = os.path.join(a.build, "verbatim")
    tmp = tempfile.mkdtemp(prefix="vb_gwload_")
    procs = []
    ours = {}
    try:
        env = dict(os.environ, VERBATIM_DATA_DIR=os.path.join(tmp, "data"))
        rec_ports = [free_port(), free_port()]
        for p in rec_ports:
            procs.append(sipp_uas(p, tmp))
        script = (f"New-VbUser bob@contoso.com -PhoneNumber +14255550101 -SipPassword bob-secret-22\n"
                  f"New-VbUser alice@contoso.com -SipPassword alice-secret-1\n"
                  f"New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -DisplayName Rec "
                  f"-ApplicationId {APP}\n"
                  + "".join(f"New-VbRecorderEndpoint -ApplicationId {APP} -Uri sip:srs@127.0.0.1:{p}\n"
                            for p in rec_ports)
                  + "New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true\n"
                  "New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com "
                  "-ConcurrentInvitationCount 2\n"
                  "Grant-CsTeamsComplianceRecordingPolicy -Identity bob@contoso.com -PolicyName Traders\n")
        subprocess.run([binary, "admin", "-c", script], env=env, check=True, capture_output=True)
        tls_init = subprocess.run([binary, "tls", "init", "--name", "localhost", "--ip", "127.0.0.1"], env=env,
                                  check=True, capture_output=True, text=True).stdout
        tls_section = tls_init[tls_init.index("[tls]"):]
        ca = re.search(r'ca_file = "([^"]+)"', tls_section).group(1)
        caller_port = free_port()
        print(f"gateway_load: SIPp uac -> gateway (recording to 2 recorders) -> SIPp phone, {a.seconds} s "
              f"per step; server on CPU 1, SIPp (and stunnel, openssl) on CPU 0; the trunk over "
              f"{', '.join(t.upper() for t in transports)}")
        for transport in ([] if a.baseline_only else transports):
            gw, gw_port, tls_port, phone = start_gateway(
                binary, gateway_config(tmp, transport, caller_port, tls_section), env, tmp)
            run = [gw, phone]
            procs += run
            if transport == transports[0] and transport == "udp":
                memory_per_call(gw, gw_port, caller_port, a.hold_calls, tmp)
            load_port = gw_port
            if transport == "tls":
                load_port = free_port()
                scfg = os.path.join(tmp, "stunnel.conf")
                with open(scfg, "w") as f:
                    f.write(STUNNEL_CFG.format(accept=load_port, connect=tls_port, ca=ca))
                tunnel = subprocess.Popen(["taskset", "-c", "0", "stunnel", scfg],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                run.append(tunnel)
                procs.append(tunnel)
                time.sleep(0.5)
            name = f"verbatim/{transport}"
            ours[transport] = measure(name, gw, tls_port if transport == "tls" else gw_port, rates, a.seconds,
                                      tmp, caller_port=caller_port, user="alice", password="alice-secret-1",
                                      load_port=load_port, tcp=transport != "udp", probe_transport=transport,
                                      ca=ca)
            if transport == "tls":
                hs = handshakes(gw, tls_port, ca, a.seconds)
                if hs:
                    print(f"  {name:13} TLS handshakes (new sessions): {hs[0]:.0f}/s, the gateway's CPU "
                          f"{hs[1]:.3f} s per 1,000", flush=True)
                else:
                    print(f"  {name:13} TLS handshakes: openssl s_time gave no figure", flush=True)
            for p in run:
                stop(p)
                procs.remove(p)
            for k, n in not_connected(tmp):
                print(f"  {name:13} not connected: {n} x {k}")
        if a.baseline:
            baseline_against(a, binary, env, tmp, caller_port, script, rates, procs)
        for p in procs:
            stop(p)
        procs.clear()
        if a.baseline_only:
            return

        # Kamailio: the same SIPp UAC through a stateful record-routing proxy to a SIPp phone.
        callee_port = free_port()
        procs.append(sipp_uas(callee_port, tmp))
        kport = free_port()
        kcfg = os.path.join(tmp, "kamailio.cfg")
        with open(kcfg, "w") as f:
            f.write(KAMAILIO_CFG.format(port=kport, callee=callee_port))
        kam = subprocess.Popen(["taskset", "-c", "1", "kamailio", "-f", kcfg, "-m", "512", "-DD", "-E", "-P",
                                os.path.join(tmp, "k.pid"), "-Y", tmp, "-w", tmp],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(kam)
        time.sleep(1)
        kres = measure("kamailio", kam, kport, rates, a.seconds, tmp)
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)

    print("gateway_load: highest passing rate: " + ", ".join(
        f"verbatim/{t} {best(r)} calls/s" for t, r in ours.items())
        + f" (with recording), kamailio {best(kres)} calls/s (proxy, no recording)")
    first = next(iter(ours))
    compare(f"verbatim/{first}", ours[first], "kamailio", kres)
    for t in ("tcp", "tls"):
        if t in ours and "udp" in ours:
            compare(f"verbatim/{t}", ours[t], "verbatim/udp", ours["udp"])


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Transaction-layer load driver (issue 3): SIPp's built-in UAC (INVITE, ACK, BYE) against
Verbatim's SIP stack (the vb_sip_peer UAS: parser, transaction layer, dialogs, SDP answer)
and, in the same run, against Kamailio answering statefully (tm: t_newtran + t_reply).

Each server is pinned to CPU 1 and SIPp to CPU 0. The offered rate steps up (each step a fixed
number of seconds, bounded); a step passes when fewer than 0.5 % of its calls fail. Reported:
the highest passing rate, and the server's CPU time per 1,000 calls at the highest rate both
passed (a like-for-like cost figure that does not depend on SIPp's own limits).

Usage: bench/sip_load.py BUILD_DIR [--seconds 4] [--rates 500,1000,2000,...]
Everything runs on loopback on ports picked here; every process is stopped at the end."""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from helpers import free_udp_port as free_port  # noqa: E402

KAMAILIO_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
request_route {{
  if (is_method("ACK")) {{ exit; }}
  if (!t_newtran()) {{ sl_reply_error(); exit; }}
  t_reply("200", "OK");
  exit;
}}
"""


def cpu_seconds(pids):
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def process_tree(root):
    pids = [root]
    for line in subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout.splitlines():
        pid, ppid = (int(x) for x in line.split())
        if ppid == root:
            pids.append(pid)
    return pids


def run_step(target_port, rate, seconds):
    calls = rate * seconds
    cmd = ["taskset", "-c", "0", "sipp", "-sn", "uac", f"127.0.0.1:{target_port}", "-i", "127.0.0.1",
           "-p", str(free_port()), "-mp", str(free_port()), "-cp", str(free_port()),
           "-m", str(calls), "-r", str(rate), "-l", str(rate * 2), "-d", "0", "-nostdin",
           "-timeout", str(seconds * 4 + 20)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 6 + 60).stdout
    ok = int(re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out)[-1])
    failed = int(re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", out)[-1])
    return ok, failed


def measure(name, start, rates, seconds):
    proc, port = start()
    time.sleep(0.5)
    results = []
    try:
        for rate in rates:
            pids = process_tree(proc.pid)
            before = cpu_seconds(pids)
            ok, failed = run_step(port, rate, seconds)
            cpu = cpu_seconds(pids) - before
            passed = failed <= 0.005 * (ok + failed) and ok > 0
            results.append((rate, ok, failed, cpu, passed))
            print(f"  {name:9} {rate:6} calls/s offered: {ok:7} ok {failed:6} failed, "
                  f"server CPU {cpu:6.2f} s ({1000 * cpu / max(ok, 1):.3f} s per 1,000 calls)"
                  f"{'' if passed else '  <- over the limit'}", flush=True)
            if not passed:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rates", default="500,1000,2000,3000,4000,5000,6000,8000")
    a = ap.parse_args()
    rates = [int(r) for r in a.rates.split(",")]
    for tool in ("sipp", "kamailio", "taskset"):
        if not (shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}")):
            sys.exit(f"sip_load: {tool} is missing (scripts/bootstrap.sh installs it)")
    peer = os.path.join(a.build, "tests", "vb_sip_peer")
    tmp = tempfile.mkdtemp(prefix="vb_sipload_")

    def start_verbatim():
        p = subprocess.Popen(["taskset", "-c", "1", peer, "uas", "--listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        port = int(p.stdout.readline().split()[2])
        return p, port

    def start_kamailio():
        port = free_port()
        cfg = os.path.join(tmp, "kamailio.cfg")
        with open(cfg, "w") as f:
            f.write(KAMAILIO_CFG.format(port=port))
        # 512 MB of shared memory: tm keeps every transaction for its wait timer.
        p = subprocess.Popen(["taskset", "-c", "1", "kamailio", "-f", cfg, "-m", "512", "-DD", "-E", "-P",
                              os.path.join(tmp, "k.pid"), "-Y", tmp, "-w", tmp],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return p, port

    print(f"sip_load: SIPp uac (INVITE/ACK/BYE) for {a.seconds} s per step, server on CPU 1")
    ours = measure("verbatim", start_verbatim, rates, a.seconds)
    kam = measure("kamailio", start_kamailio, rates, a.seconds)
    shutil.rmtree(tmp, ignore_errors=True)
    best = lambda rs: max([r[0] for r in rs if r[4]], default=0)
    common = [r for r in ours if r[4] and any(k[0] == r[0] and k[4] for k in kam)]
    print(f"sip_load: highest passing rate: verbatim {best(ours)} calls/s, kamailio {best(kam)} calls/s")
    if common:
        rate = common[-1][0]
        o = next(r for r in ours if r[0] == rate)
        k = next(r for r in kam if r[0] == rate)
        co, ck = o[3] / max(o[1], 1) * 1000, k[3] / max(k[1], 1) * 1000
        print(f"sip_load: CPU per 1,000 calls at {rate} calls/s: verbatim {co:.3f} s, kamailio {ck:.3f} s "
              f"(verbatim/kamailio = {co / ck if ck else float('nan'):.2f})")


if __name__ == "__main__":
    main()

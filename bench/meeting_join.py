#!/usr/bin/env python3
"""Meeting join delay (issue 19): how long a phone waits between its (authenticated) INVITE to a
meeting's URI and the gateway's 200 OK, p50/p99/max over N joins, in three cases on one gateway
and one of our recorders in the same run:

  - unrecorded: a member whose policy does not record joins an empty meeting (the gateway looks
    the meeting up, chooses the codec, opens the port, answers);
  - RequiredBeforeMeetingJoin: a recorded member joins an empty meeting, so the gateway invites
    the recorder (a SIPREC session with the member's stream) and answers only once it is in;
  - into a recorded meeting: a member joins a meeting already recorded (a recorded member stays
    in it): answered at once, the recorder gets the new stream in a re-offer afterwards.

Each join is followed by a BYE before the next (so every RequiredBeforeMeetingJoin join starts a
recording session). The digest challenge round trip is outside the measured time. The gateway
and the recorder run as `verbatim serve` processes on loopback ports picked here (the real
archive: the recorder encrypts and seals each session); every process is stopped at the end.

Usage: bench/meeting_join.py BUILD_DIR [--joins 200]"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from helpers import free_port_block  # noqa: E402
from sip_ua import SipUA  # noqa: E402

APP = "11111111-2222-4333-8444-555555555555"


def start(binary, tmp, env, role, settings):
    values = {"sip_listen": "127.0.0.1:0", "rtp_port_min": free_port_block("bench"), **settings}
    values["rtp_port_max"] = values["rtp_port_min"] + 199
    cfg = os.path.join(tmp, f"{role}.toml")
    with open(cfg, "w") as f:
        f.write(f"[archive]\nmin_free_mb = 0\n[{role}]\n")
        for k, v in values.items():
            f.write(f"{k} = {json.dumps(v)}\n")
    log = open(os.path.join(tmp, f"{role}.log"), "a")
    p = subprocess.Popen([binary, "--config", cfg, "serve", "--roles", role], stdout=subprocess.PIPE,
                         stderr=log, text=True, env=env)
    log.close()
    m = re.search(r"sip:127\.0\.0\.1:(\d+)", p.stdout.readline())
    if not m:
        p.kill()
        sys.exit(f"{role} did not start: see {tmp}/{role}.log")
    return p, int(m.group(1))


def stop(procs):
    """Stops every process started here (SIGTERM, then SIGKILL after 30 s)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def recorded_tenant(binary, tmp, env, users, procs):
    """A recorder and a gateway (appended to `procs`) for `users` ((name, password) pairs, not
    recorded) and Alice, whose policy records her with that recorder: the gateway and its port."""
    rec, rec_port = start(binary, tmp, env, "recorder", {"min_free_mb": 0, "transcription": "none",
                                                         "playback": False})
    procs.append(rec)
    script = "\n".join(f"New-VbUser {u}@contoso.com -DisplayName {u} -SipPassword {p}" for u, p in users)
    script += f"""
New-VbUser alice@contoso.com -DisplayName Alice -SipPassword alice-secret-1
New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -DisplayName Recorder -ApplicationId {APP}
New-VbRecorderEndpoint -ApplicationId {APP} -Uri sip:srs@127.0.0.1:{rec_port}
New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com
Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Traders
"""
    subprocess.run([binary, "admin", "-c", script], env=env, check=True, capture_output=True)
    gw, gw_port = start(binary, tmp, env, "gateway", {"digest_algorithms": ["MD5"],
                                                      "recording_setup_timeout_ms": 5000,
                                                      "meeting_chimes": False})
    procs.append(gw)
    return gw, gw_port


def timed_join(ua, uri):
    """Milliseconds from the authenticated INVITE to its 200; then the BYE."""
    call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
    to = f"<{uri}>"
    offer = ua.sdp()
    ua.send(ua.request("INVITE", uri, call_id, tag, to, 1, body=offer))
    branch = ua.branch
    r = ua.wait_response(call_id, "INVITE")
    assert r.status == 401, str(r)
    ua.send(ua.request("ACK", uri, call_id, tag, r.get("to"), 1, branch=branch))
    auth = ua.authorization(r.get("www-authenticate"), "INVITE", uri)
    t0 = time.perf_counter()
    ua.send(ua.request("INVITE", uri, call_id, tag, to, 2, auth, body=offer))
    r = ua.wait_response(call_id, "INVITE", timeout=15)
    ms = (time.perf_counter() - t0) * 1000
    assert r.status == 200, str(r)
    target = re.search(r"<([^>]+)>", r.get("contact")).group(1)
    ua.send(ua.request("ACK", target, call_id, tag, r.get("to"), 2))
    ua.send(ua.request("BYE", target, call_id, tag, r.get("to"), 3))
    ua.wait_response(call_id, "BYE")
    ua.log.clear()
    return ms


def stats(samples):
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return {"p50": pick(0.5), "p99": pick(0.99), "max": s[-1], "n": len(s)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--joins", type=int, default=200)
    args = ap.parse_args()
    binary = os.path.join(os.path.abspath(args.build), "verbatim")
    tmp = tempfile.mkdtemp(prefix="vb_meeting_join_")
    env = dict(os.environ, VERBATIM_DATA_DIR=os.path.join(tmp, "data"), USER="bench")
    procs = []
    try:
        rec, rec_port = start(binary, tmp, env, "recorder", {"min_free_mb": 0, "transcription": "none"})
        procs.append(rec)
        script = f"""
New-VbUser alice@contoso.com -DisplayName Alice -SipPassword alice-secret-1
New-VbUser bob@contoso.com -DisplayName Bob -SipPassword bob-secret-22
New-VbUser carol@contoso.com -DisplayName Carol -SipPassword carol-secret-3
New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -DisplayName Recorder -ApplicationId {APP}
New-VbRecorderEndpoint -ApplicationId {APP} -Uri sip:srs@127.0.0.1:{rec_port}
New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com -RequiredBeforeMeetingJoin $true
Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Traders
Grant-CsTeamsComplianceRecordingPolicy -Identity carol@contoso.com -PolicyName Traders
"""
        subprocess.run([binary, "admin", "-c", script], env=env, check=True, capture_output=True)
        gw, gw_port = start(binary, tmp, env, "gateway",
                            {"digest_algorithms": ["MD5"], "recording_setup_timeout_ms": 5000})
        procs.append(gw)
        made = subprocess.run([binary, "meeting", "create", "--organizer", "alice@contoso.com", "--subject",
                               "bench", "--json"], env=env, check=True, capture_output=True, text=True)
        uri = f"sip:meet-{json.loads(made.stdout)['id']}@contoso.com"
        bob = SipUA("bob", "bob-secret-22", gw_port)
        alice = SipUA("alice", "alice-secret-1", gw_port)
        carol = SipUA("carol", "carol-secret-3", gw_port)
        rows = []
        for _ in range(5):  # warm-up: prompts encoded, recorder's first session
            timed_join(bob, uri)
            timed_join(alice, uri)
        rows.append(("unrecorded member, empty meeting", stats([timed_join(bob, uri) for _ in range(args.joins)])))
        rows.append(("recorded member, RequiredBeforeMeetingJoin (a recorder session each)",
                     stats([timed_join(alice, uri) for _ in range(args.joins)])))
        stay = carol.call(uri.split(":", 1)[1].split("@")[0], talk=False)  # recorded, stays in
        rows.append(("unrecorded member into a recorded meeting (re-offer after)",
                     stats([timed_join(bob, uri) for _ in range(args.joins)])))
        carol.in_dialog(stay, "BYE")
        print(f"meeting join delay, authenticated INVITE to 200 OK, {args.joins} joins each "
              f"({os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')})")
        print(f"{'case':<72} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, s in rows:
            print(f"{name:<72} {s['p50']:8.2f} {s['p99']:8.2f} {s['max']:8.2f}")
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

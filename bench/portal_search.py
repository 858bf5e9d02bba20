#!/usr/bin/env python3
"""The portal's search in the browser at archive scale (issue 18: "search answers in <= 300 ms at
1 M recordings"), end to end: Chromium (Playwright) signed in to `verbatim serve` over HTTPS, on an
archive of millions of interactions that bench_search generated.

The archive: bench_search's database (`--db PATH`, 10 million interactions by default) becomes
the archive of a data directory beside it, PATH.portal/, by a hard link (the same file: nothing is
copied; `serve` adds its ledger entries to it). The data directory is kept and reused: its signing
key signs those entries. Do not run bench_search on PATH while this runs.

The queries: bench_search's own mix (`--emit-queries`), K of each kind, each run twice (the second
pass is warm), in bench/portal_search.mjs. Printed per kind: p50 / p95 / max of the time from the
action to the results listed in the page, and of the REST call as the page measured it (the
peer: what the browser adds is the difference).

Usage: python3 bench/portal_search.py --build build --bench build-bench --db /tmp/sb10m.db [--queries 50]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB = os.path.join(SOURCE, "web")


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p * len(v) + 0.5)) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the build with the verbatim binary and the portal")
    ap.add_argument("--bench", default="build-bench", help="the build with bench_search")
    ap.add_argument("--db", required=True, help="an archive database made by bench_search")
    ap.add_argument("--queries", type=int, default=50, help="queries of each kind")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    a = ap.parse_args()
    verbatim = os.path.join(os.path.abspath(a.build), "verbatim")
    bench_search = os.path.join(os.path.abspath(a.bench), "bench_search")
    for path, what in ((verbatim, "the verbatim binary"), (bench_search, "bench_search"), (a.db, "the archive"),
                       (a.chromium, "chromium"), (os.path.join(WEB, "node_modules", "playwright-core"), "playwright")):
        if not os.path.exists(path):
            sys.exit(f"portal_search: {what} is missing: {path}")
    if os.path.exists(a.db + "-wal") and os.path.getsize(a.db + "-wal") > 0:
        sys.exit(f"portal_search: {a.db}-wal exists: bench_search is writing it, or stopped without a checkpoint")

    data = os.path.abspath(a.db) + ".portal"
    archive_db = os.path.join(data, "archive", "archive.db")
    os.makedirs(os.path.dirname(archive_db), exist_ok=True)
    if not os.path.exists(archive_db):
        try:
            os.link(a.db, archive_db)
        except OSError as e:
            sys.exit(f"portal_search: cannot hard-link {a.db} into {data} ({e}): keep them on one file system")
    elif not os.path.samefile(a.db, archive_db):
        sys.exit(f"portal_search: {archive_db} is not {a.db}: remove {data}")

    cfg = os.path.join(data, "portal.toml")
    tls = os.path.join(data, "tls")
    if not os.path.exists(os.path.join(tls, "server.crt")):
        subprocess.run([verbatim, "tls", "init", "--dir", tls], check=True, capture_output=True)
    with open(cfg, "w") as f:
        f.write(f'[general]\ndata_dir = "{data}"\n[admin_api]\nlisten = "127.0.0.1:0"\ntls = true\n'
                '[recorder]\nsip_listen = "127.0.0.1:0"\n'
                f'[tls]\ncertificate = "{tls}/server.crt"\nprivate_key = "{tls}/server.key"\n')
    officer = {"name": "bench-officer", "password": "bench officer has a long passphrase"}
    added = subprocess.run([verbatim, "--config", cfg, "account", "add", officer["name"], "--role",
                            "compliance-officer", "--password-stdin"], input=officer["password"] + "\n", text=True,
                           capture_output=True)
    if added.returncode != 0 and "exists" not in added.stderr:
        sys.exit("portal_search: account add: " + added.stderr)

    mix = subprocess.run([bench_search, "--emit-queries", str(a.queries)], check=True, capture_output=True,
                         text=True).stdout
    queries = [json.loads(line) for line in mix.splitlines() if line.strip()]

    # The embedded server as `make demo` runs it, less the gateway: the recorder is the archive's
    # writer (its keys, its ledger; its first start checks every recording is indexed: minutes at
    # 10 M), the portal beside it.
    print(f"starting serve on {a.db}", file=sys.stderr)
    log = open(os.path.join(data, "serve.log"), "w")
    serve = subprocess.Popen([verbatim, "--config", cfg, "serve", "--roles", "recorder,admin-api"], stdout=subprocess.PIPE,
                             stderr=log, text=True)
    try:
        first = [None]
        reader = threading.Thread(target=lambda: first.__setitem__(0, serve.stdout.readline()), daemon=True)
        reader.start()
        reader.join(3600)
        m = re.search(r"(https://\S+)", first[0] or "")
        if not m:
            sys.exit("portal_search: serve did not start; see " + log.name)
        facts = {"url": m.group(1), "officer": officer, "queries": queries}
        env = dict(os.environ, PORTAL_FACTS=json.dumps(facts), CHROMIUM=a.chromium)
        run = subprocess.run(["node", os.path.join(SOURCE, "bench", "portal_search.mjs")], cwd=WEB, env=env,
                             capture_output=True, text=True, timeout=3600)
        if run.returncode != 0:
            sys.exit("portal_search: the browser run failed:\n" + run.stdout[-3000:] + run.stderr[-3000:])
    finally:
        serve.terminate()
        try:
            serve.wait(120)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()

    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    bad = [r for r in rows if r["status"] != 200]
    if bad:
        sys.exit(f"portal_search: {len(bad)} searches failed: {bad[:3]}")
    kinds = list(dict.fromkeys(q["kind"] for q in queries))
    print(f"{'query':14} {'browser first p50/p95/max (ms)':32} {'browser warm p50/p95/max':28} "
          f"{'REST call warm p50/p95 (the page measured)':30}")
    for kind in kinds:
        first = [r["ms"] for r in rows if r["kind"] == kind and r["pass"] == "first"]
        warm = [r["ms"] for r in rows if r["kind"] == kind and r["pass"] == "warm"]
        fetch = [r["fetchMs"] for r in rows if r["kind"] == kind and r["pass"] == "warm" and r["fetchMs"] is not None]
        print(f"{kind:14} {percentile(first, .5):8.1f} {percentile(first, .95):8.1f} {max(first):8.1f}       "
              f"{percentile(warm, .5):8.1f} {percentile(warm, .95):8.1f} {max(warm):8.1f}   "
              f"{percentile(fetch, .5):8.1f} {percentile(fetch, .95):8.1f}   ({len(warm)} queries)")
    every = [r["ms"] for r in rows if r["pass"] == "warm"]
    print(f"all kinds, warm: p50 {percentile(every, .5):.1f} ms, p95 {percentile(every, .95):.1f} ms, "
          f"max {max(every):.1f} ms; over 300 ms: {sum(1 for v in every if v > 300)} of {len(every)}")


if __name__ == "__main__":
    main()

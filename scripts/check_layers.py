#!/usr/bin/env python3
"""Fails on an include that points up the layers (docs/development.md, "Layers").

Every file under src/ belongs to one layer: its directory, except in sip/, which is layered
within itself. A file may include headers of its own layer and of the layers listed below it,
nothing else. `make lint` runs this; it reads only the source tree, so it takes a moment.

    scripts/check_layers.py [SRC_DIR]
"""
import os
import re
import sys

# layer -> the layers it may use (directly; what they use comes with them).
LAYERS = {
    "common": [],
    "sip-digest": ["common"],
    "sip-message": ["sip-digest"],
    "sip-transport": ["sip-message"],
    "sip-transaction": ["sip-message"],
    "sip-ua": ["sip-transport", "sip-transaction"],
    "media": ["common"],
    "policy": ["common"],
    "archive": ["common"],
    "jobs": ["common"],
    "transcribe": ["media"],
    "search": ["archive", "transcribe"],
    "reconcile": ["search"],
    "saved": ["search"],
    "cases": ["common"],
    "siprec": ["sip-ua"],
    "admin": ["policy", "sip-digest"],
    "gateway": ["policy", "media", "siprec"],
    "recorder": ["archive", "jobs", "media", "siprec", "transcribe"],
    "adminapi": ["admin", "archive", "search", "reconcile", "saved", "cases", "media", "jobs"],
    "app": ["adminapi", "gateway", "recorder", "reconcile", "saved"],
}

# sip/ files by sub-layer: URIs and digests need nothing else; messages and SDP are values; the
# transports move messages; transactions and dialogs are state machines over messages (neither
# knows the other); the user agent and the endpoint put them together.
SIP = {
    "sip-digest": ["chars", "uri", "digest"],
    "sip-message": ["header_values", "message", "lint", "sdp", "multipart", "cpim", "timers", "peer"],
    "sip-transport": ["transport", "tcp_transport", "ws_transport", "tls", "resolver", "test_certificates"],
    "sip-transaction": ["transaction", "dialog"],
    "sip-ua": ["signalling", "user_agent", "user_agent_session", "user_agent_outgoing", "endpoint"],
}
SIP_LAYER = {stem: layer for layer, stems in SIP.items() for stem in stems}


def layer_of(path):
    """The layer of a path relative to src/ ("sip/message.h" -> "sip-message")."""
    directory, _, name = path.partition("/")
    if directory != "sip":
        return directory
    stem = re.sub(r"(_test)?\.(h|cc)$", "", name)
    return SIP_LAYER.get(stem)


def reachable(layer):
    seen, todo = set(), [layer]
    while todo:
        here = todo.pop()
        if here in seen:
            continue
        seen.add(here)
        todo.extend(LAYERS.get(here, []))
    return seen


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
    problems = []
    include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".h", ".cc")):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)
            if f.endswith("_test.cc"):
                continue  # tests may use anything that helps them
            here = layer_of(rel)
            if here is None or here not in LAYERS:
                problems.append(f"src/{rel}: in no layer (add it to scripts/check_layers.py)")
                continue
            allowed = reachable(here)
            with open(os.path.join(root, f), encoding="utf-8") as fh:
                text = fh.read()
            for target in include.findall(text):
                there = layer_of(target)
                if there is None or target.count("/") != 1:
                    continue  # a generated or third-party header
                if there not in allowed:
                    problems.append(f"src/{rel}: includes {target} ({here} may not use {there})")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include(s) against the layers: see docs/development.md")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

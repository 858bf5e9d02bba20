#!/usr/bin/env python3
"""The translation units `make lint` gives clang-tidy: from BUILD_DIR's compile_commands.json,
every unity batch (CMake's Unity/unity_N_cxx.cxx) of a target built from src/, and every source
of src/ compiled on its own, except the tests'. Checking the batches parses each target's
headers once per batch of 8 files instead of once per file: about four times faster, with the
same findings (clang-tidy reports them in the .cc files the batch includes).

    scripts/lint_units.py BUILD_DIR    # one path per line
"""
import json
import os
import re
import sys

build = os.path.abspath(sys.argv[1])
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
seen = set()
for entry in json.load(open(os.path.join(build, "compile_commands.json"))):
    f = os.path.abspath(os.path.join(entry["directory"], entry["file"]))
    unity = re.match(re.escape(build) + r"/src/[^/]+/CMakeFiles/([^/]+)\.dir/Unity/unity_\d+_cxx\.cxx$", f)
    if unity:
        if unity.group(1).endswith("_test"):
            continue
    elif not (f.startswith(os.path.join(root, "src") + "/") and f.endswith(".cc")) or f.endswith("_test.cc"):
        continue
    if f not in seen:
        seen.add(f)
        print(f)

#!/usr/bin/env bash
# `make lint`: includes must point down the layers (scripts/check_layers.py), clang-format must
# leave the tree unchanged and clang-tidy (.clang-tidy) must report nothing for the project's
# sources. Usage: scripts/lint.sh BUILD_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
cd "$ROOT"
files=$(git ls-files 'src/*.cc' 'src/*.h' 'bench/*.cc' 'fuzz/*.cc')
echo "lint: layers"
python3 scripts/check_layers.py src
echo "lint: clang-format"
clang-format --dry-run -Werror $files
echo "lint: clang-tidy"
# The unity batches of the build (scripts/lint_units.py says why); the unity files are generated
# in BUILD, so the configuration is named, and including .cc files is what a batch does.
python3 scripts/lint_units.py "$BUILD" | xargs -P "$(nproc)" -n 1 clang-tidy -p "$BUILD" --quiet \
  --config-file="$ROOT/.clang-tidy" --checks=-bugprone-suspicious-include
echo "lint: clean"

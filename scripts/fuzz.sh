#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for SECONDS (default 30),
# seeded from fuzz/corpus/<target> (and tests/golden for the cmdlet interpreter).
# A crash, leak, timeout or sanitizer report fails the run and leaves the reproducer in
# build-fuzz/artifacts/. Longer campaigns: scripts/fuzz.sh 3600 (see docs/development.md).
set -euo pipefail
SECONDS_EACH=${1:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-fuzz
CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVERBATIM_FUZZ=ON -DVERBATIM_TESTS=OFF -DVERBATIM_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target cmdlet_fuzz csv_fuzz party_fuzz object_fuzz treehead_fuzz \
  package_fuzz sip_message_fuzz sip_uri_fuzz sdp_fuzz multipart_fuzz rs_metadata_fuzz rtp_fuzz \
  rtp_stream_fuzz playback_fuzz live_mix_fuzz registrar_fuzz gateway_context_fuzz transcript_fuzz party_keys_fuzz \
  cpim_fuzz video_fuzz stun_fuzz transcoder_fuzz s3_reply_fuzz
mkdir -p "$BUILD/artifacts"
# One fuzzer per core at a time: each target still runs SECONDS on its own core.
run_one() {
  local target=$1 work seeds shared
  work=$(mktemp -d)
  seeds=("$ROOT/fuzz/corpus/$target")
  [ "$target" = cmdlet ] && seeds+=("$ROOT/tests/golden")
  # Live listening reads the same evidence as the playback job: the same seeds.
  [ "$target" = live_mix ] && seeds=("$ROOT/fuzz/corpus/playback")
  # The SIP parser also starts from the RFC 4475/5118 torture messages and vendor captures.
  shared=${VERBATIM_TESTDATA:-$ROOT/../shared/testdata}
  if { [ "$target" = sip_message ] || [ "$target" = registrar ]; } && [ -d "$shared" ]; then
    seeds+=("$shared/sip-torture" "$shared/siprec-vendors")
  fi
  if [ "$target" = rs_metadata ] && [ -d "$shared" ]; then
    seeds+=("$shared/siprec-vendors")
  fi
  if "$BUILD/${target}_fuzz" "$work" "${seeds[@]}" -max_total_time="$SECONDS_EACH" \
      -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$BUILD/artifacts/${target}-" >"$BUILD/${target}.log" 2>&1; then
    echo ok >"$BUILD/${target}.status"
  else
    echo failed >"$BUILD/${target}.status"
  fi
  rm -rf "$work"
}
targets=(cmdlet csv party object treehead package sip_message sip_uri sdp multipart rs_metadata rtp
  rtp_stream playback live_mix registrar gateway_context transcript party_keys cpim video stun
  transcoder s3_reply)
parallel=$(nproc)
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  echo "fuzz: $target for ${SECONDS_EACH}s"
  rm -f "$BUILD/${target}.status"
  run_one "$target" &
done
wait
status=0
for target in "${targets[@]}"; do
  if [ "$(cat "$BUILD/${target}.status" 2>/dev/null)" != ok ]; then
    echo "fuzz: $target FAILED; see $BUILD/${target}.log and $BUILD/artifacts/"
    tail -40 "$BUILD/${target}.log"
    status=1
  else
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$BUILD/${target}.log" | sed "s/^/fuzz: $target /"
  fi
done
exit $status

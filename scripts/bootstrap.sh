#!/usr/bin/env bash
# Installs the Debian 12 packages Verbatim needs to build, test and demo, and the npm packages
# from the npm registry by their lockfiles: the published lexicons it reads at run time
# (third_party/lexicons) and the portal's front end with its build and browser-test tools (web/).
# Idempotent and quiet when everything is already present.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang clang-format clang-tidy
  libclang-rt-14-dev
  # libraries
  libboost-dev libssl-dev libsodium-dev libsqlite3-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev robin-map-dev libarchive-dev libc-ares-dev libpugixml-dev
  libsrtp2-dev libopus-dev libogg-dev libspandsp-dev libspeexdsp-dev libopusfile-dev libsndfile1-dev libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us
  libp11-kit-dev  # PKCS#11 (the archive's keys in an HSM): its header
  libavformat-dev libavcodec-dev libavutil-dev  # the recorder's video playback files (WebM, MP4)
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libsofia-sip-ua-dev sip-tester kamailio baresip-core tcpdump opus-tools espeak-ng festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts rtpengine-daemon python3 python3-yaml curl stunnel4 openssl
  prometheus  # promtool: lints /metrics and tests the sample alerting rules
  ffmpeg  # meetings' video and screen share in the tests come from its VP8 and H.264 encoders
  janus   # the meeting audio benchmark's peer (its AudioBridge), started by bench/meeting_audio.py
  softhsm2  # the HSM of the tests (a PKCS#11 token in a directory of their own)
  ceph-mon ceph-osd radosgw ceph-common python3-boto3  # the S3 store's peer (tests/peers/ceph-rgw.sh) and an independent S3 client
  # npm packages (lexicons, the portal), and the browser the portal's tests drive (Playwright)
  nodejs chromium fonts-dejavu-core
)
# npm: Debian's package, unless the machine's nodejs brings its own (NodeSource's does).
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

# The npm packages, exactly as each package-lock.json says (no install scripts run): again only
# when a lockfile changed since its last install.
npm_packages() {
  local dir
  for dir in "$ROOT/third_party/lexicons" "$ROOT/web"; do
    if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.verbatim-installed-lock" 2>/dev/null; then
      echo "bootstrap: installing ${dir#"$ROOT"/} (npm ci)"
      (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
      cp "$dir/package-lock.json" "$dir/node_modules/.verbatim-installed-lock"
    fi
  done
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  npm_packages
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Kamailio, rtpengine, Janus and Prometheus are only peers for the tests and benchmarks (started by them
# on loopback ports of their own, or only their tools used): do not leave the packaged system
# services running.
for svc in kamailio rtpengine-daemon janus prometheus; do
  if printf '%s\n' "${missing[@]}" | grep -qx "$svc" && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
# Ceph's packages enable its systemd targets; the tests run their own daemons (tests/peers/).
if printf '%s\n' "${missing[@]}" | grep -qx ceph-mon && command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now ceph.target ceph-mon.target ceph-osd.target ceph-radosgw.target >/dev/null 2>&1 || true
fi
npm_packages

#!/usr/bin/env bash
# `make demo`: load the demo directory, apply the seed policy script as an admin would paste
# it, start the embedded server, and show who is recorded and why, over the CLI and the REST
# API. Usage: scripts/demo.sh path/to/verbatim [data-dir]
set -euo pipefail
BIN=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${2:-$ROOT/demo-var}
export VERBATIM_DATA_DIR=$DATA

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$DATA"
say "1. Load the demo directory (users and groups from CSV)"
"$BIN" admin -c "Import-VbDirectory '$ROOT/demo/directory/groups.csv'; Import-VbDirectory '$ROOT/demo/directory/users.csv'" \
  | grep -E 'Path|Created|Added' || true
"$BIN" admin -c 'Get-CsOnlineUser | ft DisplayName, UserPrincipalName, LineUri, DataLocation'

say "2. Apply the seed policy script (pasted Teams cmdlets: demo/seed-policy.ps1)"
"$BIN" admin "$ROOT/demo/seed-policy.ps1" | sed -n '/^SipAddress/,/^TeamsCompliance/p;/^GroupId/,$p'

say "3. Start the embedded server (SQLite + local files) and ask it over REST"
TOKEN=$("$BIN" token create demo 2>/dev/null)
LOG=$DATA/serve.log
"$BIN" serve --roles admin-api --http-listen 127.0.0.1:0 >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
URL=""
for _ in $(seq 1 100); do
  URL=$(grep -o 'http://[^ ]*' "$LOG" 2>/dev/null | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "server did not start:"; cat "$LOG"; exit 1; }
echo "admin API: $URL"
for party in "sip:testuser@contoso.onmicrosoft.com" "tel:+1-212-555-0101" "sip:+4969120104@gw.contoso.com;user=phone" "sip:emi.research@contoso.onmicrosoft.com" "sip:stranger@example.net"; do
  enc=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$party")
  curl -fsS -H "Authorization: Bearer $TOKEN" "$URL/api/v1/decision?party=$enc" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); p=d.get("policy") or {}; print("  %-45s %-14s %s" % (d["party"], "RECORD" if d["record"] else "not recorded", (p.get("identity","") + " via " + d.get("source","")) if d["knownUser"] else "(not a user of this tenant)"))'
done

say "4. Who is recorded, and why"
for who in testuser@contoso.onmicrosoft.com chloe.sales@contoso.onmicrosoft.com +4969120104 emi.research@contoso.onmicrosoft.com; do
  "$BIN" policy explain "$who"
  echo
done

kill $PID; wait $PID 2>/dev/null || true
trap - EXIT

say "5. The archive: store a recording encrypted, prove it is intact, export it for a regulator"
SAMPLE=$DATA/sample-call.raw
head -c 480000 /dev/urandom >"$SAMPLE"   # 30 s of 8 kHz 16-bit audio, as the recorder will store
FIRST=$("$BIN" archive import "$SAMPLE" --metadata '{"from":"sip:ava.trader@contoso.onmicrosoft.com","to":"tel:+442071230102","policy":"Tag:Traders"}')
echo "$FIRST" | sed 's/^/  /'
REC1=$(echo "$FIRST" | awk '/^recording/ {print $2}')
REC=$("$BIN" archive import "$SAMPLE" --metadata '{"demo":"second call"}' | awk '/^recording/ {print $2}')
"$BIN" archive sign-head >/dev/null
"$BIN" verify --deep | sed 's/^/  /'
echo "  deleting a sealed recording before its retention ends is refused:"
OBJ=$("$BIN" archive show "$REC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["id"])')
"$BIN" archive delete "$OBJ" 2>&1 | sed 's/^verbatim: /  refused: /' || true
echo "  flipping one byte of a stored object behind Verbatim's back:"
F=$(find "$DATA/archive/objects" -name "$OBJ.vbo")
printf 'X' | dd of="$F" bs=1 seek=1000 conv=notrunc 2>/dev/null
"$BIN" verify | sed 's/^/  /' || true
"$BIN" export "$REC1" --out "$DATA/export-case-42" | sed 's/^/  /'
"$BIN" verify-export "$DATA/export-case-42" --public-key "$DATA/archive/signing.key.pub" | sed 's/^/  offline check: /'
say "Where to look"
cat <<MSG
  data directory:   $DATA (policy.db: SQLite; every change is in its audit log)
  audit log:        VERBATIM_DATA_DIR=$DATA $BIN admin -c 'Get-VbAuditLog -Last 10'
  admin shell:      VERBATIM_DATA_DIR=$DATA $BIN admin
  explain a user:   VERBATIM_DATA_DIR=$DATA $BIN policy explain USER
  REST API:         VERBATIM_DATA_DIR=$DATA $BIN serve   (token: $BIN token create NAME)
  archive:          $DATA/archive (verify: VERBATIM_DATA_DIR=$DATA $BIN verify --deep)
  export package:   $DATA/export-case-42 (manifest.json; verify-export needs only signing.key.pub)
  docs:             $ROOT/docs/ (cmdlets.md, rest-api.md, operations.md, archive-format.md)
MSG

#!/usr/bin/env bash
# `make demo`: load the demo directory, apply the seed policy script as an admin would paste
# it, start the embedded server, and show who is recorded and why, over the CLI and the REST
# API; record a SIPREC call sent by SIPp and show its playback files; real calls between two
# phones through the gateway, recorded by policy and refused when the recorder is down; the
# archive's integrity and export. Usage: scripts/demo.sh path/to/verbatim [data-dir]
set -euo pipefail
BIN=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${2:-$ROOT/demo-var}
export VERBATIM_DATA_DIR=$DATA

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# The first http(s):// address a server printed to FILE, waited for up to 10 s; else show LOG.
server_url() {
  local file=$1 log=$2 url=""
  for _ in $(seq 1 100); do
    url=$(grep -o 'https\?://[^ ]*' "$file" 2>/dev/null | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "server did not start:" >&2; cat "$log" >&2; return 1; }
  echo "$url"
}

rm -rf "$DATA"
say "1. Load the demo directory (users and groups from CSV)"
"$BIN" admin -c "Import-VbDirectory '$ROOT/demo/directory/groups.csv'; Import-VbDirectory '$ROOT/demo/directory/users.csv'" \
  | grep -E 'Path|Created|Added' || true
"$BIN" admin -c 'Get-CsOnlineUser | ft DisplayName, UserPrincipalName, LineUri, DataLocation'

say "2. Apply the seed policy script (pasted Teams cmdlets: demo/seed-policy.ps1)"
"$BIN" admin "$ROOT/demo/seed-policy.ps1" | sed -n '/^SipAddress/,/^TeamsCompliance/p;/^GroupId/,$p'

say "3. Start the embedded server (SQLite + local files) and ask it over REST"
# REST access is by account: a token acts with its account's role (admin: policy, not recordings).
"$BIN" account add demo-admin --role admin >/dev/null
"$BIN" account add demo-officer --role compliance-officer --groups "FX Desk" >/dev/null
TOKEN=$("$BIN" token create demo-admin 2>/dev/null)
LOG=$DATA/serve.log
"$BIN" serve --roles admin-api --http-listen 127.0.0.1:0 >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
URL=$(server_url "$LOG" "$LOG")
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

say "5. The recorder: an SBC (SIPp) sends a SIPREC call between Ava Trader and a client; Verbatim records it"
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cat >"$DATA/recorder.toml" <<TOML
[archive]
min_free_mb = 0
[recorder]
sip_listen = "127.0.0.1:0"
rtp_port_min = 31000
rtp_port_max = 31999
min_free_mb = 0
TOML
"$BIN" --config "$DATA/recorder.toml" serve --roles recorder >"$DATA/recorder.out" 2>"$DATA/recorder.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
RPORT=""
for _ in $(seq 1 100); do
  RPORT=$(grep -o 'sip:127.0.0.1:[0-9]*' "$DATA/recorder.out" 2>/dev/null | cut -d: -f3 || true)
  [ -n "$RPORT" ] && break
  sleep 0.1
done
[ -n "$RPORT" ] || { echo "recorder did not start:"; cat "$DATA/recorder.log"; exit 1; }
echo "  recorder listening on sip:127.0.0.1:$RPORT"
# The SBC: SIPp sends the recording session (demo/siprec/call.body: SDP + RFC 7865 metadata),
# plays real speech from its own capture to Ava's stream, and a tone comes on the client's.
python3 - "$ROOT/tests/interop/scenarios/siprec_src.xml" "$ROOT/demo/siprec/call.body" "$DATA/siprec-call.xml" \
  "$ROOT/tests/e2e/rtp_sender.py" "$DATA" <<'PY'
import sys
template, body, out, sender, data = sys.argv[1:]
send = f'<exec command="python3 {sender} --ports 0,[$p2] --packets 350 --out {data}/sent.json"/>'
s = (open(template).read().replace("@CONTENT_TYPE@", "multipart/mixed;boundary=vbb")
     .replace("@BODY@", open(body).read().strip("\n")).replace("@EXEC@", send)
     .replace("@PLAY@", '<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>').replace("@HOLD_MS@", "7500"))
open(out, "w").write(s)
PY
(cd "$DATA" && sipp "127.0.0.1:$RPORT" -sf siprec-call.xml -m 1 -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 \
  -mp "$(free_port)" -cp "$(free_port)" -timeout 60 -timeout_error -nostdin >/dev/null 2>&1) ||
  { echo "SIPp call failed:"; tail -20 "$DATA/recorder.log"; exit 1; }
echo "  SIPp: INVITE (SIPREC) -> 200 OK, 7 s of RTP on two streams, BYE -> 200 OK"
echo "  the playback job (after the call, off the live path):"
JOB=""
for _ in $(seq 1 300); do
  JOB=$("$BIN" jobs list --state done --json | python3 -c 'import json,sys; j=[x for x in json.load(sys.stdin) if x["kind"] == "playback"]; print(j[0]["recording"] if j else "")')
  [ -n "$JOB" ] && break
  sleep 0.2
done
[ -n "$JOB" ] || { echo "playback job did not finish:"; "$BIN" jobs list; exit 1; }
"$BIN" jobs list | sed 's/^/  /'
kill $PID; wait $PID 2>/dev/null || true
trap - EXIT
"$BIN" archive show "$JOB" | python3 -c '
import json, sys
r = json.load(sys.stdin); m = r["metadata"]
print("  recording %s: %s, %.1f s, from %s" % (r["id"], r["status"], m["durationSeconds"], m["recordingClient"]["address"]))
for p in m["participants"]:
    print("    participant %-22s %-40s sends on stream %s" % (p.get("name", ""), p["aor"], ",".join(p["sendsOnLabels"])))
for s in m["streams"]:
    print("    stream %s: %s, %d packets, loss %.1f %%, MOS %.2f" % (s["label"], s.get("codec", "?"), s["packets"], 100 * s.get("lossRatio", 0), s.get("mos", 0)))
print("    objects: " + ", ".join("%s (%d bytes)" % (o["kind"], o["bytes"]) for o in r["objects"]))
for f in m["playback"]["files"]:
    print("    playback file: %-45s %.1f s  object %s" % (f["name"], f["durationSeconds"], f["object"]))
'
AVA=$("$BIN" archive show "$JOB" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["playback"]["files"][0]["object"])')
"$BIN" archive cat "$AVA" >"$DATA/ava-trader.opus"
echo "  Ava's side of the call, decrypted: $DATA/ava-trader.opus (play it: opusdec, VLC, a browser)"

say "6. Real calls through the gateway: Ava (FX Desk: policy Traders) calls Emi; then the recorder goes down"
# The demo phones get SIP passwords; the Traders application gets the local recorder as an endpoint
# (the seed's rec-*.contoso.com endpoints are placeholders the gateway cannot reach: tried last).
R2PORT=$(free_port)
DOMAIN=contoso.onmicrosoft.com
"$BIN" admin -c "Set-VbUser ava.trader@$DOMAIN -SipPassword 'ava-demo-secret'
Set-VbUser emi.research@$DOMAIN -SipPassword 'emi-demo-secret'
New-VbRecorderEndpoint -ApplicationId fcc88ff5-a42d-49cf-b3d8-f2e1f609d511 -Uri sip:srs@127.0.0.1:$R2PORT -Region USA -Description 'the demo recorder'" >/dev/null
cat >"$DATA/gateway.toml" <<TOML
[archive]
min_free_mb = 0
[recorder]
sip_listen = "127.0.0.1:$R2PORT"
rtp_port_min = 31000
rtp_port_max = 31999
min_free_mb = 0
[gateway]
sip_listen = "127.0.0.1:0"
rtp_port_min = 30000
rtp_port_max = 30999
digest_algorithms = ["MD5"]
recording_setup_timeout_ms = 3000
health_check_interval_ms = 1000
TOML
"$BIN" --config "$DATA/gateway.toml" serve --roles recorder >"$DATA/recorder2.out" 2>"$DATA/recorder2.log" &
RPID=$!
"$BIN" --config "$DATA/gateway.toml" serve --roles gateway >"$DATA/gateway.out" 2>"$DATA/gateway.log" &
GPID=$!
trap 'kill $RPID $GPID 2>/dev/null || true' EXIT
GPORT=""
for _ in $(seq 1 100); do
  GPORT=$(grep -o 'sip:127.0.0.1:[0-9]*' "$DATA/gateway.out" 2>/dev/null | cut -d: -f3 || true)
  [ -n "$GPORT" ] && grep -q "sip:127.0.0.1:$R2PORT" "$DATA/recorder2.out" 2>/dev/null && break
  sleep 0.1
done
[ -n "$GPORT" ] || { echo "gateway did not start:"; cat "$DATA/gateway.log"; exit 1; }
echo "  gateway on sip:127.0.0.1:$GPORT, recorder on sip:127.0.0.1:$R2PORT"
# Their voices: espeak-ng, as G.711 A-law RTP the phones (SIPp) send.
python3 "$ROOT/scripts/voice_pcap.py" --voice en-us --out "$DATA/ava.pcap" \
  --text "Good morning Emi, it is Ava on the trading desk. I would like to buy ten million euros at the market price."
python3 "$ROOT/scripts/voice_pcap.py" --voice en-gb --lead-ms 3000 --out "$DATA/emi.pcap" \
  --text "Good morning Ava. The trade is done at the market price. I will send you the confirmation today."
for f in register answer call; do
  sed -e "s#@DOMAIN@#$DOMAIN#g" -e "s#@CALLEE@#emi.research#g" -e "s#@HOLD_MS@#9000#g" \
    -e "s#@PCAP@#$DATA/$([ $f = answer ] && echo emi || echo ava).pcap#g" "$ROOT/demo/gateway/$f.xml" >"$DATA/$f.xml"
done
EPORT=$(free_port)
phone() { (cd "$DATA" && sipp "127.0.0.1:$GPORT" -i 127.0.0.1 -mi 127.0.0.1 -mp "$(free_port)" -m 1 -nostdin \
  -timeout 60 -timeout_error "$@" >/dev/null 2>&1); }
# -auth_uri: SIPp's digest uri is otherwise its peer's ip:port; the gateway checks it names the
# Request-URI (RFC 3261 §22.4).
phone -sf register.xml -p "$EPORT" -s emi.research -au emi.research -ap emi-demo-secret -auth_uri "$DOMAIN" ||
  { echo "Emi's phone could not register:"; tail -5 "$DATA/gateway.log"; exit 1; }
echo "  Emi's phone registered (digest, MD5) from 127.0.0.1:$EPORT"
phone -sf answer.xml -p "$EPORT" -s emi.research -log_file "$DATA/emi.log" -trace_logs &
EMI=$!
sleep 0.3
phone -sf call.xml -p "$(free_port)" -s ava.trader -au ava.trader -ap ava-demo-secret -auth_uri "emi.research@$DOMAIN" -log_file "$DATA/ava.log" \
  -trace_logs || { echo "Ava's call failed:"; tail -20 "$DATA/gateway.log"; exit 1; }
wait $EMI || true
echo "  Ava's phone: $(grep -ho 'ANSWERED.*' "$DATA/ava.log")  (the recording indicator in the SDP)"
echo "  Emi's phone: $(grep -ho 'INDICATOR.*' "$DATA/emi.log")"
# The Call-ID of the gateway's N-th call record (records are written off the SIP thread, a
# fraction of a second after the call ends).
call_record() {
  # The gateway's writer thread appends the record after the call ends; under a loaded machine
  # (CI under sanitizers) that can take seconds, so wait up to a minute.
  for _ in $(seq 1 600); do
    [ "$(wc -l <"$DATA/gateway-calls.jsonl" 2>/dev/null || echo 0)" -ge "$1" ] && break
    sleep 0.1
  done
  sed -n "${1}p" "$DATA/gateway-calls.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["callId"])'
}
CALL1=$(call_record 1)
"$BIN" calls show "$CALL1" | sed 's/^/  /'
GREC=""
for _ in $(seq 1 300); do
  GREC=$("$BIN" jobs list --state done --json | python3 -c 'import json,sys; j=[x for x in json.load(sys.stdin) if x["kind"] == "playback"]; print(j[1]["recording"] if len(j) > 1 else "")')
  [ -n "$GREC" ] && break
  sleep 0.2
done
[ -n "$GREC" ] || { echo "the gateway call's playback job did not finish:"; "$BIN" jobs list; exit 1; }
echo "  a compliance officer searches while the recorder runs (each search goes into the ledger):"
echo "  \$ verbatim search --participant ava"
"$BIN" search --participant ava | sed 's/^/    /'
echo "  \$ verbatim search --participant emi --direction outbound"
"$BIN" search --participant emi --direction outbound | sed 's/^/    /'
# The transcripts come after the playback files (their own job, also off the live path).
for _ in $(seq 1 600); do
  "$BIN" jobs list --state done --json | python3 -c 'import json,sys; sys.exit(0 if any(x["kind"] == "transcribe" and x["recording"] == sys.argv[1] for x in json.load(sys.stdin)) else 1)' "$GREC" && break
  sleep 0.2
done
echo "  the recorder stops (its archive is read below; Ava calls again after that):"
kill $RPID; wait $RPID 2>/dev/null || true
"$BIN" archive show "$GREC" | python3 -c '
import json, sys
r = json.load(sys.stdin); m = r["metadata"]
print("  recording %s: %s, %.1f s, policy %s, call %s" % (r["id"], r["status"], m["durationSeconds"], m.get("policy", ""), m.get("callId", "")))
for p in m["participants"]:
    print("    participant %-14s %-45s sends on stream %s" % (p.get("name", ""), p["aor"], ",".join(p["sendsOnLabels"])))
for f in m["playback"]["files"]:
    print("    playback file: %-60s %.1f s" % (f["name"], f["durationSeconds"]))
'
GAVA=$("$BIN" archive show "$GREC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["playback"]["files"][0]["object"])')
"$BIN" archive cat "$GAVA" >"$DATA/gateway-call-ava.opus"
echo "  Ava's voice as recorded through the gateway: $DATA/gateway-call-ava.opus"
echo "  Ava calls again with the recorder down (Traders: RequiredBeforeCallEstablishment is true):"
phone -sf call.xml -p "$(free_port)" -s ava.trader -au ava.trader -ap ava-demo-secret -auth_uri "emi.research@$DOMAIN" -log_file "$DATA/ava2.log" \
  -trace_logs || true
echo "  Ava's phone: $(grep -ho 'REFUSED.*' "$DATA/ava2.log")"
CALL2=$(call_record 2)
"$BIN" calls show "$CALL2" | grep -E 'status|sip:srs' | sed 's/^/  /'
kill $GPID; wait $GPID 2>/dev/null || true
trap - EXIT

say "7. The archive: store a recording encrypted, prove it is intact, export it for a regulator"
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
say "8. What was said: every call is transcribed after it ends, and searched by its words"
echo "  \$ verbatim archive transcript $GREC   (Ava's call to Emi through the gateway)"
"$BIN" archive transcript "$GREC" 2>&1 | sed 's/^/    /' | cut -c1-150
echo "  \$ verbatim search --text market   (the words, in context; --json for times and speakers)"
"$BIN" search --text market | sed 's/^/    /' | cut -c1-150
echo "  \$ verbatim search --phonetic Zorblax   (a name by its sound: nobody said it, so nothing scores high)"
"$BIN" search --phonetic Zorblax --threshold 0.7 | sed 's/^/    /'

say "9. The portal and the web client in the browser (HTTPS): officers and admins by role, users by SIP address"
# It keeps running after the demo, on 8443 when that port is free, so there is something to open.
[ -f "$DATA/portal.pid" ] && kill "$(cat "$DATA/portal.pid")" 2>/dev/null || true
"$BIN" tls init --dir "$DATA/tls" >/dev/null
PORTAL_PORT=8443
python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", 8443))' 2>/dev/null || PORTAL_PORT=0
cat >"$DATA/portal.toml" <<TOML
[admin_api]
listen = "127.0.0.1:$PORTAL_PORT"
tls = true
[tls]
certificate = "$DATA/tls/server.crt"
private_key = "$DATA/tls/server.key"
[gateway]
sip_listen = "127.0.0.1:0"
wss_listen = "127.0.0.1:0"
rtp_port_min = 32000
rtp_port_max = 32999
TOML
ACCOUNTS=""
for role in compliance-officer supervisor auditor admin recorder-admin; do
  pw="demo-$(openssl rand -hex 6)"
  echo "$pw" | "$BIN" account add "portal-$role" --role "$role" --password-stdin >/dev/null
  ACCOUNTS+=$(printf '\n    %-28s password %s' "portal-$role" "$pw")
done
nohup "$BIN" --config "$DATA/portal.toml" serve --roles admin-api,gateway >"$DATA/portal.out" 2>"$DATA/portal.log" &
echo $! >"$DATA/portal.pid"
PORTAL=$(server_url "$DATA/portal.out" "$DATA/portal.log")
curl -fsS --cacert "$DATA/tls/ca.crt" -o /dev/null "$PORTAL/" && echo "  portal: $PORTAL/ (running; certificate from $DATA/tls/ca.crt)"
printf '  sign in as:%b\n' "$ACCOUNTS"
WSPORT=$(curl -fsS --cacert "$DATA/tls/ca.crt" "$PORTAL/api/v1/client" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["webSocketPort"])')
echo "  web client: $PORTAL/client (calls, meetings and chat over wss port $WSPORT; users: emi.research@$DOMAIN, password emi-demo-secret)"
echo "  stop it with: kill \$(cat $DATA/portal.pid)"

say "Where to look"
cat <<MSG
  data directory:   $DATA (policy.db: SQLite; every change is in its audit log)
  audit log:        VERBATIM_DATA_DIR=$DATA $BIN admin -c 'Get-VbAuditLog -Last 10'
  admin shell:      VERBATIM_DATA_DIR=$DATA $BIN admin
  explain a user:   VERBATIM_DATA_DIR=$DATA $BIN policy explain USER
  portal:           $PORTAL/ (the accounts above; docs/portal.md)
  web client:       $PORTAL/client (a user's SIP address and password; docs/web-client.md)
  REST API:         VERBATIM_DATA_DIR=$DATA $BIN serve   (accounts demo-admin and demo-officer;
                    a token: $BIN token create demo-officer; roles: docs/rest-api.md)
  archive:          $DATA/archive (verify: VERBATIM_DATA_DIR=$DATA $BIN verify --deep)
  recorded call:    VERBATIM_DATA_DIR=$DATA $BIN archive show $JOB
  search:           VERBATIM_DATA_DIR=$DATA $BIN search --participant ava (--help: every filter)
  transcript:       VERBATIM_DATA_DIR=$DATA $BIN archive transcript $GREC
  recorder:         $BIN --config $DATA/recorder.toml serve --roles recorder (docs/recorder.md)
  gateway:          $BIN --config $DATA/gateway.toml serve --roles gateway,recorder (docs/gateway.md)
  a gateway call:   VERBATIM_DATA_DIR=$DATA $BIN calls show $CALL1
  export package:   $DATA/export-case-42 (manifest.json; verify-export needs only signing.key.pub)
  docs:             $ROOT/docs/ (cmdlets.md, rest-api.md, operations.md, archive-format.md)
MSG

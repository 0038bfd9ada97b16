#!/usr/bin/env bash
# Real-browser tests: starts `linli demo` on a free port with a fresh SQLite database,
# waits for /healthz, runs `node --test tests/e2e/` (every *.test.mjs there, sharing browser.mjs: linli.test.mjs,
# registry.test.mjs, events.test.mjs, healthcheck.test.mjs, care.test.mjs, care_visits.test.mjs) against it with the system Chromium, and stops the
# server on exit.
#
#   tests/e2e/run.sh                         # uses target/debug/linli
#   LINLI_BIN=target/release/linli tests/e2e/run.sh
#   tests/e2e/run.sh --test-name-pattern=map # extra arguments go to `node --test`
#
# Environment: LINLI_BIN (server binary), CHROMIUM (browser, default /usr/bin/chromium),
# LINLI_E2E_KEEP=1 keeps the temp dir (database, server log). Screenshots and the server
# log are left in tests/e2e/artifacts/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

E2E_DIR="$ROOT/tests/e2e"
ARTIFACTS="$E2E_DIR/artifacts"
LINLI_BIN="${LINLI_BIN:-$ROOT/target/debug/linli}"
PASSWORD="e2e-pass-123"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$LINLI_BIN" ]]; then
  echo "e2e: linli binary not found at $LINLI_BIN (build it with 'cargo build -p linli' or set LINLI_BIN)" >&2
  exit 1
fi
if [[ ! -x "$CHROMIUM" ]]; then
  echo "e2e: Chromium not found at $CHROMIUM (apt-get install chromium, or set CHROMIUM)" >&2
  exit 1
fi
if [[ ! -d "$E2E_DIR/node_modules" ]]; then
  echo "e2e: installing test dependencies (npm ci)" >&2
  (cd "$E2E_DIR" && npm ci --no-audit --no-fund)
fi

mkdir -p "$ARTIFACTS"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/linli-e2e.XXXXXX")"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
URL="http://127.0.0.1:$PORT"
SERVER_PID=""

cleanup() {
  local status=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "e2e: server did not stop on SIGTERM; killing it" >&2
      kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  [[ -f "$tmp/server.log" ]] && cp "$tmp/server.log" "$ARTIFACTS/server.log"
  if [[ "${LINLI_E2E_KEEP:-}" == "1" ]]; then
    echo "e2e: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "e2e: starting $LINLI_BIN demo on $URL" >&2
"$LINLI_BIN" demo --database "sqlite://$tmp/e2e.db" --key-file "$tmp/e2e.keys" --photos "$tmp/photos" --listen "127.0.0.1:$PORT" --password "$PASSWORD" \
  >"$tmp/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + 120))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/healthz" || true)" == "200" ]]; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=""
    echo "e2e: the server exited (status $rc) before answering /healthz; its log:" >&2
    cat "$tmp/server.log" >&2
    exit 1
  fi
  if (( SECONDS >= deadline )); then
    echo "e2e: the server did not answer GET /healthz with 200 within 120 s; its log:" >&2
    cat "$tmp/server.log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "e2e: server is up ($(( SECONDS )) s); running tests" >&2

status=0
LINLI_URL="$URL" LINLI_PASSWORD="$PASSWORD" node --test "$@" tests/e2e/ || status=$?
if (( status != 0 )); then
  echo "e2e: tests failed; screenshots in $ARTIFACTS, server log in $ARTIFACTS/server.log" >&2
fi
exit "$status"

#!/usr/bin/env bash
# bench/run.sh: confab's HTTP and event fan-out benchmarks (`make bench` builds, then runs this).
#
# Starts the release server on a temporary data dir and a free loopback port, provisions data,
# then runs, one at a time:
#   get_one      wrk GET  /v2/accounts/{A}/conferences/{C}          (64 keep-alive connections)
#   list_1000    wrk GET  /v2/accounts/{L}/conferences              (1,000 conferences)
#   put_create   wrk PUT  /v2/accounts/{P}/conferences              (unique names, no numbers)
#   ws_fanout    bench/ws_fanout.cpp: 1,000 WebSocket subscribers, 100 events/s
# prints a table of measured figures against the targets, and stops the server.
#
# Exit status: non-zero only when a scenario could not run (missing tool, server crash, errors
# under load, bad responses); a missed target is reported, never fatal.
#
# Knobs (environment): BENCH_WRK_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_SUBSCRIBERS (1000),
# BENCH_EVENT_RATE (100), BENCH_FANOUT_SECONDS (20), BENCH_LIST_COUNT (1000), BENCH_PIN (1: server
# on CPU 0, load generators on CPU 1; 0: no pinning), BENCH_RESULTS (where the JSON results go,
# default build/release/bench/results.json), BENCH_KEEP (1: keep the temp dir and its logs),
# BENCH_PERF (1: record a perf profile of the server per scenario, kept in the temp dir),
# BENCH_SCENARIOS (which to run, default "get_one list_1000 put_create ws_fanout").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${CONFAB_BUILD:-$ROOT/build/release}
BIN=$BUILD/confab
FANOUT=$BUILD/bench/confab_ws_fanout
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
SUBSCRIBERS=${BENCH_SUBSCRIBERS:-1000}
EVENT_RATE=${BENCH_EVENT_RATE:-100}
FANOUT_SECONDS=${BENCH_FANOUT_SECONDS:-20}
LIST_COUNT=${BENCH_LIST_COUNT:-1000}
RESULTS=${BENCH_RESULTS:-$BUILD/bench/results.json}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
SCENARIOS=" ${BENCH_SCENARIOS:-get_one list_1000 put_create ws_fanout} "
export CONFAB_BENCH_DIR="$ROOT/bench"
want() { [[ "$SCENARIOS" == *" $1 "* ]]; }

die() { echo "bench: $*" >&2; exit 1; }
for f in "$BIN" "$FANOUT"; do [ -x "$f" ] || die "$f is missing: run 'make bench' (it builds first)"; done
command -v wrk >/dev/null || die "wrk is not installed (scripts/install-deps installs it)"
command -v curl >/dev/null || die "curl is not installed"

# Pinning: on two or more CPUs the server gets CPU 0 and the load generator CPU 1, so that they
# do not steal each other's time slices. The server's store thread shares CPU 0 with it.
SERVER_PIN=() CLIENT_PIN=() PINNING="none"
if [ "${BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 1) PINNING="taskset: server CPU 0, client CPU 1"
fi

# Receive Packet Steering on loopback (BENCH_RPS=1, the default when root can set it): without it
# the kernel runs each receiving client's TCP stack inline in the *sender's* softirq, so the
# server's core pays for 1,000 subscribers' receive work, which on a real network happens on the
# subscribers' machines. With it, loopback receive work moves to the load generator's CPU. The
# previous setting is restored on exit.
RPS_FILE=/sys/class/net/lo/queues/rx-0/rps_cpus RPS_SAVED="" RPS="off"
if [ "${BENCH_RPS:-1}" = 1 ] && [ -n "${CLIENT_PIN[*]}" ] && [ -w "$RPS_FILE" ]; then
  RPS_SAVED=$(cat "$RPS_FILE")
  echo 2 > "$RPS_FILE" && RPS="loopback receive steered to CPU 1"
fi

# 1,000 subscribers need more descriptors than the usual 1,024 soft limit, on both sides.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$hard"; fi
[ "$(ulimit -n)" -ge $((SUBSCRIBERS + 256)) ] ||
  echo "bench: warning: open-file limit $(ulimit -n) is low for $SUBSCRIBERS subscribers" >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/confab-bench.XXXXXX")
SERVER_PID=""
FAILED=()

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  local pid=$SERVER_PID rc=0
  SERVER_PID=""
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "bench: the server did not stop within 10 s of SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      FAILED+=("shutdown")
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "bench: the server exited with status $rc" >&2
    FAILED+=("server-exit-$rc")
  fi
}

cleanup() {
  [ -n "$RPS_SAVED" ] && echo "$RPS_SAVED" > "$RPS_FILE"
  if declare -F perf_stop >/dev/null; then perf_stop; fi
  stop_server
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_alive() {
  kill -0 "$SERVER_PID" 2>/dev/null && curl -fsS -m 5 "$URL/healthz" >/dev/null 2>&1
}

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"

echo "== confab bench: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "== binary $BIN ($(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || echo '?') build)"
echo "== pinning: $PINNING; rps: $RPS; open files: $(ulimit -n); data dir: $WORK/data; $URL"
# Figures from a shared machine are only as good as its idleness: say how busy it was.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== load average before the run: $LOAD_BEFORE"
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
  echo "bench: warning: the machine is busy (load ${LOAD_BEFORE%% *}); the figures will be low and noisy:" >&2
  ps -eo pcpu=,comm= --sort=-pcpu | head -5 | sed 's/^/bench:   /' >&2
fi

# Every subscriber and wrk connection comes from 127.0.0.1: the per-source connection cap
# (default 1,024) must admit them all, as must the total cap (default 10,000).
CAP=$((SUBSCRIBERS > CONNECTIONS ? SUBSCRIBERS + 64 : CONNECTIONS + 64))
export CONFAB_HTTP_MAX_CONNECTIONS_PER_SOURCE=$((CAP > 1024 ? CAP : 1024))
export CONFAB_HTTP_MAX_CONNECTIONS=$((CAP > 10000 ? CAP : 10000))
"${SERVER_PIN[@]}" "$BIN" serve --data-dir "$WORK/data" --http "127.0.0.1:$PORT" \
  >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do
  curl -fsS -m 1 "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.out" "$WORK/server.err" >&2; die "the server failed to start"; }
  sleep 0.1
done
server_alive || die "the server did not answer /healthz within 10 s"

"$PY" "$ROOT/bench/provision.py" --port "$PORT" --first-line "$WORK/server.out" \
  --list-count "$LIST_COUNT" >"$WORK/env" || die "provisioning failed"
# shellcheck disable=SC1091
. "$WORK/env"

# BENCH_PERF=1: profile the server (call graphs, all its threads) during each scenario into
# $WORK/NAME.perf.data; the temp dir is then kept. Read with `perf report -i FILE --no-children`.
PERF_PID=""
perf_start() {
  [ "${BENCH_PERF:-0}" = 1 ] || return 0
  command -v perf >/dev/null || { echo "bench: BENCH_PERF=1 but perf is not installed" >&2; return 0; }
  BENCH_KEEP=1
  perf record -q -F 499 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$WORK/$1.perf.data" \
    >/dev/null 2>&1 &
  PERF_PID=$!
}
perf_stop() {
  [ -n "$PERF_PID" ] || return 0
  kill -TERM "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  PERF_PID=""
}

# Server CPU time (all threads) around each scenario: on a shared machine this is steadier than
# throughput, and CPU per request says what one dedicated core could do.
CLK_TCK=$(getconf CLK_TCK)
cpu_mark() {  # cpu_mark NAME: remember the server's CPU ticks and the time
  read -r _ _ _ _ _ _ _ _ _ _ _ _ _ ut st _ <"/proc/$SERVER_PID/stat" || return 0
  echo "$((ut + st)) $(date +%s.%N)" >"$WORK/$1.cpu0"
}
cpu_done() {  # cpu_done NAME: write {"server_cpu_s", "wall_s"} for the summary
  [ -f "$WORK/$1.cpu0" ] || return 0
  local t0 w0 ut st
  read -r t0 w0 <"$WORK/$1.cpu0"
  read -r _ _ _ _ _ _ _ _ _ _ _ _ _ ut st _ <"/proc/$SERVER_PID/stat" || return 0
  "$PY" -c 'import sys,time; t0,w0,t1,hz=map(float,sys.argv[1:5]); print("{\"server_cpu_s\": %.3f, \"wall_s\": %.3f}" % ((t1-t0)/hz, time.time()-w0))' \
    "$t0" "$w0" "$((ut + st))" "$CLK_TCK" >"$WORK/$1.cpu"
}

# run_wrk NAME METHOD-SCRIPT PATH: one wrk scenario; its RESULT line goes to $WORK/NAME.result.
run_wrk() {
  local name=$1 script=$2 path=$3
  want "$name" || return 0
  echo
  echo "== $name: wrk -t1 -c$CONNECTIONS -d${WRK_SECONDS}s --timeout 10s --latency $path"
  perf_start "$name"
  cpu_mark "$name"
  if ! "${CLIENT_PIN[@]}" wrk -t1 -c"$CONNECTIONS" -d"${WRK_SECONDS}s" --timeout 10s --latency \
      -H "X-Auth-Token: $TOKEN" -s "$ROOT/bench/wrk/$script" "$URL$path" >"$WORK/$name.txt" 2>&1; then
    perf_stop
    cat "$WORK/$name.txt"
    FAILED+=("$name")
    return 0
  fi
  cpu_done "$name"
  perf_stop
  grep -v '^RESULT ' "$WORK/$name.txt"
  grep '^RESULT ' "$WORK/$name.txt" | sed 's/^RESULT //' >"$WORK/$name.result" || true
  if [ ! -s "$WORK/$name.result" ]; then
    echo "bench: $name: wrk printed no result" >&2
    FAILED+=("$name")
  elif ! server_alive; then
    echo "bench: $name: the server is not answering after the run" >&2
    FAILED+=("$name")
  elif "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(1 if r["requests"]==0 or r["status_errors"] or r["connect_errors"] or r["read_errors"] or r["write_errors"] or r["timeouts"] else 0)' "$WORK/$name.result"; then
    :
  else
    echo "bench: $name: errors under load (see the result line above)" >&2
    FAILED+=("$name")
  fi
}

# A check that the documents are what we think, before measuring reads of them.
curl -fsS -m 5 -H "X-Auth-Token: $TOKEN" "$URL/v2/accounts/$ADMIN_ACCOUNT/conferences/$GET_CONF" >/dev/null ||
  die "GET of the provisioned conference failed"

run_wrk get_one get.lua "/v2/accounts/$ADMIN_ACCOUNT/conferences/$GET_CONF"
run_wrk list_1000 get.lua "/v2/accounts/$LIST_ACCOUNT/conferences"
run_wrk put_create put_conference.lua "/v2/accounts/$CREATE_ACCOUNT/conferences"

# Every acknowledged create must be listed afterwards (wrk may have had a few in flight at the end).
if want put_create && server_alive; then
  curl -fsS -m 30 -H "X-Auth-Token: $TOKEN" "$URL/v2/accounts/$CREATE_ACCOUNT/conferences" \
    >"$WORK/created.json" || FAILED+=("put_create-list")
fi

if want ws_fanout; then
  echo
  echo "== ws_fanout: $SUBSCRIBERS subscribers, $EVENT_RATE events/s for ${FANOUT_SECONDS}s"
  perf_start ws_fanout
  cpu_mark ws_fanout
  if "${CLIENT_PIN[@]}" "$FANOUT" --port "$PORT" --token "$TOKEN" --account "$ADMIN_ACCOUNT" \
      --conference "$FANOUT_CONF" --subscribers "$SUBSCRIBERS" --rate "$EVENT_RATE" \
      --duration "$FANOUT_SECONDS" >"$WORK/ws_fanout.txt" 2>&1; then
    cpu_done ws_fanout
    perf_stop
    grep -v '^RESULT ' "$WORK/ws_fanout.txt"
    grep '^RESULT ' "$WORK/ws_fanout.txt" | sed 's/^RESULT //' >"$WORK/ws_fanout.result" || true
    [ -s "$WORK/ws_fanout.result" ] || FAILED+=("ws_fanout")
  else
    perf_stop
    cat "$WORK/ws_fanout.txt"
    FAILED+=("ws_fanout")
  fi
  server_alive || { echo "bench: the server is not answering after ws_fanout" >&2; FAILED+=("ws_fanout-server"); }
fi

# Server-side trouble during the run: anything logged at error level.
SERVER_ERRORS=$(cat "$WORK/server.out" "$WORK/server.err" | grep -c ' error ' || true)
stop_server

mkdir -p "$(dirname "$RESULTS")"
"$PY" - "$WORK" "$RESULTS" "$PINNING" "$SERVER_ERRORS" "$CONNECTIONS" "$WRK_SECONDS" "$LOAD_BEFORE" "$SCENARIOS" <<'EOF' || FAILED+=("summary")
import json, os, sys
work, out, pinning, server_errors, conns, secs, load_before, scenarios = sys.argv[1:]
scenarios = scenarios.split()
def load(name):
    p = os.path.join(work, name + ".result")
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
res = {n: load(n) for n in ("get_one", "list_1000", "put_create", "ws_fanout")}
cpu = {}
for n in res:
    p = os.path.join(work, n + ".cpu")
    if os.path.exists(p) and os.path.getsize(p):
        cpu[n] = json.load(open(p))
        if res[n]:
            res[n]["server_cpu_s"] = cpu[n]["server_cpu_s"]
            res[n]["server_wall_s"] = cpu[n]["wall_s"]
def cpu_cols(name, units):
    c = cpu.get(name)
    if not c or not units:
        return ("", "")
    return (f"{100 * c['server_cpu_s'] / c['wall_s']:.0f}%", f"{1e6 * c['server_cpu_s'] / units:,.0f}")
created = None
try:
    created = len(json.load(open(os.path.join(work, "created.json")))["data"])
except Exception:
    pass
rows = []
def ms(us): return f"{us / 1000:.2f}"
for name, label, target in [
    ("get_one", "GET one conference", (20000, 10.0)),
    ("list_1000", "GET list of 1,000 conferences", None),
    ("put_create", "PUT create conference", None),
]:
    r = res[name]
    if name not in scenarios:
        continue
    if not r:
        rows.append((label, "FAILED", "", "", "", "", "", "", "n/a")); continue
    errs = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["status_errors"] + r["timeouts"]
    if target:
        met = r["rps"] >= target[0] and r["p99_us"] / 1000 < target[1]
        tgt = f">= {target[0]:,} req/s, p99 < {target[1]:g} ms: {'met' if met else 'MISSED'}"
    else:
        tgt = "(no target; measured)"
    rows.append((label, f"{r['rps']:,.0f} req/s", ms(r["p50_us"]), ms(r["p99_us"]), ms(r["max_us"]), str(errs),
                 *cpu_cols(name, r["requests"]), tgt))
f = res["ws_fanout"]
if "ws_fanout" not in scenarios:
    pass
elif f:
    met = (f["p99_ms"] < 20 and f["lost"] == 0 and f["subscribed"] == f["subscribers"]
           and f["achieved_rate"] >= 0.95 * f["rate"])
    rows.append((f"WS fan-out {f['subscribed']} subs x {f['rate']:g} ev/s",
                 f"{f['achieved_rate']:.1f} ev/s sent, {f['count']:,} deliveries, lost {f['lost']}",
                 f"{f['p50_ms']:.2f}", f"{f['p99_ms']:.2f}", f"{f['max_ms']:.2f}",
                 str(f["http_errors"] + f["setup_failed"] + f["closed_early"] + f["mismatched"]
                     + f.get("parse_disagreements", 0)),
                 *cpu_cols("ws_fanout", f["answered"]),
                 f"{f['rate']:g} ev/s, p99 < 20 ms, none lost: {'met' if met else 'MISSED'}"))
else:
    rows.append(("WS fan-out", "FAILED", "", "", "", "", "", "", "n/a"))
head = ("scenario", "throughput", "p50 ms", "p99 ms", "max ms", "errors", "srv CPU", "CPU us/op", "target")
w = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
print()
print(f"== summary ({pinning}; wrk -t1 -c{conns} -d{secs}s --timeout 10s)")
for row in [head, tuple("-" * n for n in w)] + rows:
    print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(row)).rstrip())
bad = False
if created is not None and res["put_create"]:
    done = res["put_create"]["requests"]
    # Every acknowledged create must be there; at most one more per connection may have been in
    # flight when wrk stopped.
    ok = done <= created <= done + int(conns)
    bad = not ok
    print(f"put_create: {created:,} conferences listed afterwards for {done:,} completed PUTs"
          f" ({'consistent' if ok else 'INCONSISTENT: acknowledged writes are missing or extra'})")
print("srv CPU: the server's CPU time (all threads) over the scenario's wall time; CPU us/op: per"
      " completed request (per event for the fan-out).")
print(f"server log lines at error level: {server_errors}")
print(f"load average before the run: {load_before}")
json.dump({"pinning": pinning, "connections": int(conns), "wrk_seconds": int(secs), "load_before": load_before,
           "created_listed": created, "server_error_lines": int(server_errors), **res},
          open(out, "w"), indent=2)
print(f"results: {out}")
sys.exit(3 if bad else 0)
EOF

if [ ${#FAILED[@]} -ne 0 ]; then
  echo "bench: FAILED to run: ${FAILED[*]}" >&2
  echo "--- server log (tail) ---" >&2
  tail -n 20 "$WORK/server.out" "$WORK/server.err" >&2 || true
  exit 1
fi

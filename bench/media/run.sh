#!/usr/bin/env bash
# bench/media/run.sh: confab's media engine under load, side by side with Janus AudioBridge.
#
# For each scenario it starts a fresh release server (one media shard) on a temporary data dir,
# drives it with bench/media/loadgen.cpp (plain-RTP participants joined through the REST API),
# stops it, then does the same with a fresh Janus (per shared/janus/README.md, loopback only)
# where the scenario has a Janus column. Then it runs the in-process allocation counter and
# prints one table of figures against the targets.
#
#   webinar     1 room: 3 speakers + 2,000 muted listeners, Opus 48 kHz   real time, 0 late ticks, loss < 1 %
#   meeting     1 room: 50 participants all talking, Opus 48 kHz          CPU: confab <= Janus / 4
#   webinar100  1 room: 3 speakers + 100 muted listeners, Opus 48 kHz     CPU per participant <= Janus / 10
#   rooms       200 rooms x 5 participants all talking, PCMU, conferences   real time on one shard
#               with profile "narrowband" (8 kHz rooms, as Janus mixes PCMU rooms here)
#   rooms48k    the same with profile "cdquality" (48 kHz rooms)          (what-if; no target)
#   alloc       in-process engine, 3 talking + 50 listening legs          0 heap allocations per tick
#   delay       1 room: a talker and a listener, PCMU then Opus           mouth-to-ear < 60 ms
#               (bench/media/delay.py: onsets timed on the signal, 50 bursts per codec)
#
# Listeners act as muted clients: they send an encoded silent frame every 20 ms
# (BENCH_MEDIA_LISTENER_TX=dtx: every 400 ms; none: nothing).
#
# Nothing is installed here. Janus is the Debian package `janus`; without it the Janus columns are
# skipped (the command to install it is printed). Exit status: non-zero only when a scenario
# could not run; a missed target is reported, never fatal.
#
# Knobs (environment):
#   BENCH_MEDIA_SCENARIOS    "webinar meeting webinar100 rooms rooms48k alloc delay"
#   BENCH_MEDIA_DELAY_REPEATS  50: bursts per codec in the delay scenario
#   BENCH_MEDIA_WARMUP       3 (s)      BENCH_MEDIA_WINDOW  10 (s)
#   BENCH_MEDIA_LISTENER_TX  silence | dtx | none
#   BENCH_MEDIA_JANUS        1; 0 skips Janus
#   BENCH_MEDIA_JANUS_PIN    0: Janus may use both cores; 1: on CPU 0 with confab
#   BENCH_MEDIA_JANUS_ROOMS  0; 1 runs Janus in the 200-room scenario too (pinned to one core it
#                            did not finish 1,000 joins in 90 s)
#   BENCH_PIN                1: confab on CPU 0, load generator on CPU 1; 0: no pinning
#   BENCH_MEDIA_NICE         -10: priority of servers and load generator; 0 leaves it
#   BENCH_MEDIA_RT           1: SCHED_FIFO 10 for them instead
#   BENCH_RPS                0; 1 steers loopback receive work to the load generator's CPU
#   BENCH_QUIET_WAIT         30: seconds to wait for the machine to be idle before each run
#   BENCH_MEDIA_RESULTS      JSON lines, default build/release/bench/media-results.jsonl
#   BENCH_PERF               1: perf profile of confab per scenario, kept in the temp dir
#   BENCH_KEEP               1: keep the temp dir and its logs
#   CONFAB_BUILD             build/release; MEDIA_LOADGEN, MEDIA_ALLOC_COUNT: binaries to use
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/media
BUILD=${CONFAB_BUILD:-$ROOT/build/release}
BIN=$BUILD/confab
SCENARIOS=" ${BENCH_MEDIA_SCENARIOS:-webinar meeting webinar100 rooms rooms48k alloc delay} "
WARMUP=${BENCH_MEDIA_WARMUP:-3}
WINDOW=${BENCH_MEDIA_WINDOW:-10}
LISTENER_TX=${BENCH_MEDIA_LISTENER_TX:-silence}
RESULTS=${BENCH_MEDIA_RESULTS:-$BUILD/bench/media-results.jsonl}
QUIET_WAIT=${BENCH_QUIET_WAIT:-30}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
want() { [[ "$SCENARIOS" == *" $1 "* ]]; }
die() { echo "bench-media: $*" >&2; exit 1; }

[ -x "$BIN" ] || die "$BIN is missing: run 'make build' first"
WORK="" SERVER_PID="" JANUS_PID="" PERF_PID=""
RPS_FILE=/sys/class/net/lo/queues/rx-0/rps_cpus RPS_SAVED="" RPS="off"
FAILED=()

stop_pid() {  # stop_pid PID NAME: TERM, then KILL after 10 s
  local pid=$1
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "bench-media: $2 did not stop within 10 s of SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}
perf_stop() {
  [ -n "$PERF_PID" ] || return 0
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  PERF_PID=""
}
cleanup() {
  if [ -n "$RPS_SAVED" ]; then echo "$RPS_SAVED" >"$RPS_FILE"; fi
  perf_stop
  stop_pid "$SERVER_PID" confab
  stop_pid "$JANUS_PID" janus
  if [ -z "$WORK" ]; then :; elif [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench-media: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/confab-media-bench.XXXXXX")

# The benchmark binaries: from the CMake tree (bench/media/CMakeLists.txt) when it has them,
# else compiled here with g++ into the temp dir (same flags as the tree, no install).
LOADGEN=${MEDIA_LOADGEN:-$BUILD/bench/media/confab_media_loadgen}
ALLOC=${MEDIA_ALLOC_COUNT:-$BUILD/bench/media/confab_media_alloc_count}
if [ ! -x "$LOADGEN" ] && { want webinar || want meeting || want webinar100 || want rooms || want rooms8k; }; then
  echo "bench-media: $LOADGEN not built; compiling it into $WORK"
  LOADGEN=$WORK/confab_media_loadgen
  g++ -std=c++20 -O2 -Wall -Wextra -Werror -o "$LOADGEN" "$HERE/loadgen.cpp" -lopus -lboost_json ||
    die "cannot compile the load generator"
fi
if want alloc && [ ! -x "$ALLOC" ]; then
  echo "bench-media: $ALLOC not built; compiling it (with src/media/*.cpp) into $WORK"
  ALLOC=$WORK/confab_media_alloc_count
  g++ -std=c++20 -O2 -g -fno-omit-frame-pointer -rdynamic -Wall -Wextra -Werror -I "$ROOT/src" \
    -o "$ALLOC" "$HERE/alloc_count.cpp" "$ROOT"/src/media/*.cpp \
    -lopus -lspeexdsp -pthread || die "cannot compile the allocation counter"
fi

JANUS=0
if [ "${BENCH_MEDIA_JANUS:-1}" = 1 ]; then
  if command -v janus >/dev/null && [ -f /usr/lib/x86_64-linux-gnu/janus/plugins/libjanus_audiobridge.so ]; then
    JANUS=1
  else
    echo "bench-media: Janus is not installed: the Janus columns are skipped." >&2
    echo "bench-media:   to compare, install it with: apt-get install -y janus" >&2
  fi
fi
JANUS_CFG=$ROOT/../shared/janus
[ -f "$JANUS_CFG/janus.jcfg" ] || JANUS_CFG=/work/shared/janus
if [ "$JANUS" = 1 ] && [ ! -f "$JANUS_CFG/janus.jcfg" ]; then
  echo "bench-media: no Janus configuration (shared/janus/*.jcfg): the Janus columns are skipped" >&2
  JANUS=0
fi

SERVER_PIN=() CLIENT_PIN=() PINNING="none"
if [ "${BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 1) PINNING="confab on CPU 0, load generator on CPU 1"
fi
# On a shared machine other jobs' time slices land in the middle of 20 ms ticks: the servers and
# the load generator run at a higher CFS weight (nice -10, when allowed) so that the figures are
# about media work, not about a neighbour's compiler. BENCH_MEDIA_NICE=0 turns it off.
# BENCH_MEDIA_RT=1 goes further: SCHED_FIFO priority 10 for both (as media servers are often
# run; FreeSWITCH's -rp), which shields ticks from neighbours entirely.
NICE=${BENCH_MEDIA_NICE:--10}
if [ "${BENCH_MEDIA_RT:-0}" = 1 ] && chrt -f 10 true 2>/dev/null; then
  SERVER_PIN=(chrt -f 10 "${SERVER_PIN[@]}") CLIENT_PIN=(chrt -f 10 "${CLIENT_PIN[@]}")
  PINNING="$PINNING; SCHED_FIFO 10"
elif [ "$NICE" != 0 ] && nice -n "$NICE" true 2>/dev/null && [ "$(nice -n "$NICE" nice)" -lt 0 ]; then
  SERVER_PIN=(nice -n "$NICE" "${SERVER_PIN[@]}") CLIENT_PIN=(nice -n "$NICE" "${CLIENT_PIN[@]}")
  PINNING="$PINNING; nice $NICE"
fi
# Receive Packet Steering on loopback (BENCH_RPS=1; off by default): as bench/run.sh does for
# TCP, it moves the load generator's receive path out of the server's sendmmsg (where loopback
# runs it, in the sender's softirq) onto the load generator's CPU. For this UDP load it did not
# lower the server's CPU (59 % vs 58 % in the webinar) and the CPU 1 backlog dropped 0.1 % of
# packets, so it stays off (see docs/performance-media.md). Restored on exit.
# Janus is not a one-thread-per-core design (a mixer thread per room, an encoder thread per
# participant): pinned to one core it saturates at ~100 participants and its CPU time is capped,
# which understates its cost. By default it may use both cores (BENCH_MEDIA_JANUS_PIN=1 pins it
# with confab's CPU); confab keeps its one shard on CPU 0.
JANUS_PIN=("${SERVER_PIN[@]}")
if [ "${BENCH_MEDIA_JANUS_PIN:-0}" != 1 ]; then
  for i in "${!JANUS_PIN[@]}"; do  # drop "taskset -c 0", keep the priority
    if [ "${JANUS_PIN[$i]:-}" = taskset ]; then unset 'JANUS_PIN[i]' 'JANUS_PIN[i+1]' 'JANUS_PIN[i+2]'; fi
  done
  JANUS_PIN=("${JANUS_PIN[@]}")
fi
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$hard"; fi

if [ "${BENCH_RPS:-0}" = 1 ] && [[ "${CLIENT_PIN[*]}" == *"taskset -c 1"* ]] && [ -w "$RPS_FILE" ]; then
  RPS_SAVED=$(cat "$RPS_FILE")
  echo 2 >"$RPS_FILE" && RPS="loopback receive steered to CPU 1"
fi

busy_pct() {  # the whole machine's busy share over 1 s, in % of all CPUs
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local t=0 i=0
  for k in 1 2 3 4 5 6 7 8; do t=$((t + b[k] - a[k])); done
  i=$((b[4] - a[4] + b[5] - a[5]))
  [ "$t" -gt 0 ] && echo $(((t - i) * 100 / t)) || echo 0
}
wait_quiet() {  # figures from a shared machine are only as good as its idleness
  local waited=0 b
  while :; do
    b=$(busy_pct)
    [ "$b" -le 15 ] && return 0
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      echo "bench-media: warning: the machine is still ${b}% busy; measuring anyway:" >&2
      ps -eo pcpu=,comm= --sort=-pcpu | head -4 | sed 's/^/bench-media:   /' >&2
      return 0
    fi
    [ "$waited" -eq 0 ] && echo "bench-media: the machine is ${b}% busy; waiting up to ${QUIET_WAIT}s for it to settle" >&2
    sleep 4; waited=$((waited + 5))
  done
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_confab() {
  local d=$WORK/confab-$1 extra=()
  mkdir -p "$d"
  CONFAB_PORT=$(free_port)
  if [ -n "${CONFAB_MEDIA_RATE:-}" ]; then  # server-wide mixing rate (media.rate in the TOML file)
    printf '[media]\nrate = %s\n' "$CONFAB_MEDIA_RATE" >"$d/confab.toml"
    extra=(--config "$d/confab.toml")
  fi
  "${SERVER_PIN[@]}" "$BIN" serve "${extra[@]}" --data-dir "$d/data" --http "127.0.0.1:$CONFAB_PORT" \
    --media-shards 1 >"$d/out" 2>"$d/err" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -fsS -m 1 "http://127.0.0.1:$CONFAB_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$d/out" "$d/err" >&2; die "confab failed to start"; }
    sleep 0.1
  done
  API_KEY=$(head -1 "$d/out" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["api_key"])')
  if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
    BENCH_KEEP=1
    perf record -q -F 499 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$WORK/$1.perf.data" >/dev/null 2>&1 &
    PERF_PID=$!
  fi
}

start_janus() {
  local d=$WORK/janus-$1
  mkdir -p "$d"
  cp "$JANUS_CFG"/*.jcfg "$d/"
  sed -i "s|@CONFIG_DIR@|$d|" "$d/janus.jcfg"
  if curl -fsS -m 1 http://127.0.0.1:8088/janus/info >/dev/null 2>&1; then
    die "something already answers on 127.0.0.1:8088 (Janus's configured port)"
  fi
  "${JANUS_PIN[@]}" janus -F "$d" -C "$d/janus.jcfg" -L "$d/janus.log" -N -o >"$d/stdout" 2>&1 &
  JANUS_PID=$!
  for _ in $(seq 100); do
    curl -fsS -m 1 http://127.0.0.1:8088/janus/info >/dev/null 2>&1 && return 0
    kill -0 "$JANUS_PID" 2>/dev/null || { tail "$d/janus.log" >&2; die "janus failed to start"; }
    sleep 0.1
  done
  die "janus did not answer on 127.0.0.1:8088 within 10 s"
}

# run_case NAME SERVER LOADGEN-ARGS...: one measured run; its JSON line is appended to $RESULTS.
run_case() {
  local name=$1 server=$2
  shift 2
  local limit=$((${SETUP_LIMIT:-90} + WARMUP + ${WINDOW%.*} + 30))
  echo
  echo "== $name on $server: $*"
  wait_quiet
  if [ "$server" = confab ]; then start_confab "$name"; else start_janus "$name"; fi
  local pid=$SERVER_PID
  [ "$server" = janus ] && pid=$JANUS_PID
  local args=(--target "$server" --label "$name" --pid "$pid" --warmup "$WARMUP" --window "$WINDOW"
              --listener-tx "$LISTENER_TX" --setup-limit "${SETUP_LIMIT:-90}" --json "$RESULTS")
  if [ "$server" = confab ]; then args+=(--http-port "$CONFAB_PORT" --api-key "$API_KEY"); else args+=(--http-port 8088); fi
  if ! timeout "$limit" "${CLIENT_PIN[@]}" "$LOADGEN" "${args[@]}" "$@" >"$WORK/$name-$server.txt" 2>&1; then
    cat "$WORK/$name-$server.txt" >&2
    FAILED+=("$name/$server")
  else
    cat "$WORK/$name-$server.txt"
  fi
  perf_stop
  if [ "$server" = confab ]; then
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "bench-media: confab died during $name" >&2; FAILED+=("$name/confab-died"); }
    stop_pid "$SERVER_PID" confab; SERVER_PID=""
  else
    kill -0 "$JANUS_PID" 2>/dev/null || { echo "bench-media: janus died during $name" >&2; FAILED+=("$name/janus-died"); }
    stop_pid "$JANUS_PID" janus; JANUS_PID=""
  fi
}

echo "== confab media bench: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "== binary $BIN; git $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
echo "== pinning: $PINNING; rps: $RPS; warm-up ${WARMUP}s, window ${WINDOW}s; listeners send: $LISTENER_TX"
echo "== janus runs as: ${JANUS_PIN[*]:-(no prefix)} janus ..."
if [ "$JANUS" = 1 ]; then echo "== janus: $(janus --version 2>/dev/null | head -1)"; fi
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"

if want webinar; then
  # No Janus column: its configured plain-RTP port range holds 2,000 legs, and at about 1.2 % of
  # a core per muted listener (shared/janus/README.md) 2,000 listeners would need ~24 cores.
  SETUP_LIMIT=120 run_case webinar confab --rooms 1 --per-room 2003 --speakers 3 --codec opus
fi
if want meeting; then
  run_case meeting confab --rooms 1 --per-room 50 --speakers 50 --codec opus
  if [ "$JANUS" = 1 ]; then run_case meeting janus --rooms 1 --per-room 50 --speakers 50 --codec opus; fi
fi
if want webinar100; then
  run_case webinar100 confab --rooms 1 --per-room 103 --speakers 3 --codec opus
  if [ "$JANUS" = 1 ]; then run_case webinar100 janus --rooms 1 --per-room 103 --speakers 3 --codec opus; fi
fi
if want rooms; then
  run_case rooms confab --rooms 200 --per-room 5 --speakers 5 --codec pcmu --profile narrowband
  if [ "$JANUS" = 1 ] && [ "${BENCH_MEDIA_JANUS_ROOMS:-0}" = 1 ]; then
    run_case rooms janus --rooms 200 --per-room 5 --speakers 5 --codec pcmu
  fi
fi
if want rooms48k; then
  # The same 200 G.711 rooms mixing at 48 kHz: every leg resampled both ways (what-if).
  run_case rooms48k confab --rooms 200 --per-room 5 --speakers 5 --codec pcmu --profile cdquality
fi
if want alloc; then
  echo
  echo "== alloc: $ALLOC --speakers 3 --listeners 50 --warmup 2 --seconds 5"
  if timeout 60 "$ALLOC" --speakers 3 --listeners 50 --warmup 2 --seconds 5 >"$WORK/alloc.txt" 2>&1; then
    cat "$WORK/alloc.txt"
    head -1 "$WORK/alloc.txt" | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.readline()); d["label"]="alloc"; d["target"]="engine"; print(json.dumps(d))' >>"$RESULTS"
  else
    cat "$WORK/alloc.txt" >&2
    FAILED+=("alloc")
  fi
fi

if want delay; then
  # Mouth-to-ear delay through an idle server: one talker, one listener, each codec in turn.
  repeats=${BENCH_MEDIA_DELAY_REPEATS:-50}
  echo
  echo "== delay: bench/media/delay.py --codec pcmu,opus --repeats $repeats"
  wait_quiet
  start_confab delay
  if timeout 300 "${CLIENT_PIN[@]}" "$PY" "$HERE/delay.py" --http-port "$CONFAB_PORT" \
      --api-key "$API_KEY" --codec pcmu,opus --repeats "$repeats" --json "$RESULTS" >"$WORK/delay.txt" 2>&1; then
    cat "$WORK/delay.txt"
  else
    cat "$WORK/delay.txt" >&2
    FAILED+=("delay")
  fi
  perf_stop
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "bench-media: confab died during delay" >&2; FAILED+=("delay/confab-died"); }
  stop_pid "$SERVER_PID" confab; SERVER_PID=""
fi

"$PY" "$HERE/report.py" "$RESULTS" "$PINNING; rps: $RPS" || FAILED+=("report")
echo "results: $RESULTS"
if [ ${#FAILED[@]} -ne 0 ]; then
  echo "bench-media: FAILED to run: ${FAILED[*]}" >&2
  exit 1
fi

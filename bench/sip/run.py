#!/usr/bin/env python3
"""bench/sip: how many OPTIONS and INVITE->404 a second the SIP endpoint sustains.

Starts build/release/confab (rate limiting off, log level warn) on a temporary data dir, then
for each scenario (OPTIONS answered statelessly; INVITE with an SDP offer to an unknown number:
a transaction, the application's 404, the ACK) drives it with sipp (Debian sip-tester) at
rising rates, BENCH_SIP_SECONDS each. A step holds when every call succeeded without a single
retransmission (so nothing was lost or late by 500 ms); the table gives each step's achieved
rate, the server's CPU per 1,000 requests (utime+stime from /proc), sipp's response times and the
datagrams the kernel dropped at the server's socket for a full receive buffer (/proc/net/udp).
The result of a scenario is the highest rate that held. Server and sipp are pinned to different
cores when BENCH_PIN=1 (the default), as Kamailio was for the anchor in docs/performance.md.

Knobs: BENCH_SIP_SECONDS (10), BENCH_SIP_RATES ("2000 5000 8000 11000 14000 17000 20000 25000
30000"),
BENCH_SIP_SCENARIOS ("options invite_404"), BENCH_PIN (1), BENCH_SIP_RESULTS (JSON output,
default build/release/bench/sip_results.json), CONFAB_BUILD (build/release).
Exit status non-zero only when a step could not run at all (no binary, no sipp, server died).
"""
import csv
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CONFAB_BUILD", os.path.join(ROOT, "build", "release"))
BIN = os.path.join(BUILD, "confab")
HERE = os.path.dirname(os.path.abspath(__file__))
SECONDS = int(os.environ.get("BENCH_SIP_SECONDS", "10"))
RATES = [int(r) for r in os.environ.get("BENCH_SIP_RATES",
                                        "2000 5000 8000 11000 14000 17000 20000 25000 30000").split()]
SCENARIOS = os.environ.get("BENCH_SIP_SCENARIOS", "options invite_404").split()
PIN = os.environ.get("BENCH_PIN", "1") == "1"
RESULTS = os.environ.get("BENCH_SIP_RESULTS", os.path.join(BUILD, "bench", "sip_results.json"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def die(msg):
    print(f"bench/sip: {msg}", file=sys.stderr)
    sys.exit(1)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def socket_drops(port):
    """Datagrams the kernel dropped at the server's UDP socket (its receive buffer was full):
    the last column of its line in /proc/net/udp."""
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == port:
                return int(cols[-1])
    return 0


def pinned(cpu, argv):
    return (["taskset", "-c", str(cpu)] + argv) if PIN and shutil.which("taskset") else argv


def start_server(work):
    env = dict(os.environ, CONFAB_SIP="127.0.0.1:0", CONFAB_SIP_RATE_PER_SOURCE="0",
               CONFAB_SIP_MAX_TRANSACTIONS="1000000", CONFAB_LOG_LEVEL="warn")
    args = pinned(0, [BIN, "serve", "--data-dir", os.path.join(work, "var"),
                      "--http", "127.0.0.1:0", "--log-level", "info"])
    log = open(os.path.join(work, "server.log"), "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            die("the server exited at start")
        with open(log.name) as f:
            text = f.read()
        m = re.search(r"sip: answering on udp and tcp (\[[^\]\n]+\]|[^ :\n]+):(\d+)", text)
        if m and "listening on http://" in text:
            return proc, int(m.group(2))
        time.sleep(0.1)
    die("the server did not say where SIP listens")


def sipp_step(port, scenario, rate, work):
    calls = rate * SECONDS
    stat = os.path.join(work, f"{scenario}-{rate}.csv")
    args = pinned(1, ["sipp", f"127.0.0.1:{port}", "-sf", os.path.join(HERE, scenario + ".xml"),
                      "-i", "127.0.0.1", "-s", "4000", "-r", str(rate), "-m", str(calls),
                      "-l", str(max(rate, 1000)), "-nostdin", "-trace_stat", "-stf", stat,
                      "-fd", "1", "-buff_size", "4194304", "-max_recv_loops", "100000",
                      "-max_sched_loops", "100000", "-timeout", f"{SECONDS * 3 + 30}s",
                      "-recv_timeout", "5000", "-max_retrans", "3"])
    t0 = time.time()
    p = subprocess.run(args, cwd=work, capture_output=True, text=True)
    elapsed = time.time() - t0
    rows = []
    if os.path.exists(stat):
        with open(stat, newline="") as f:
            rows = list(csv.DictReader(f, delimiter=";"))
    if not rows:
        return {"rate": rate, "error": f"sipp wrote no statistics (exit {p.returncode})"}
    last = rows[-1]

    def num(key):
        v = last.get(key, "0") or "0"
        return int(float(v))

    def ms(key):
        v = last.get(key, "") or ""
        parts = v.split(":")  # HH:MM:SS:mmmmmm
        if len(parts) == 4:
            return (int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])) * 1000 + \
                int(parts[3]) / 1000
        return None

    buckets = {k: num(k) for k in last if k.startswith("ResponseTimeRepartition1_")}
    return {"rate": rate, "calls": calls, "successful": num("SuccessfulCall(C)"),
            "failed": num("FailedCall(C)"), "retransmissions": num("Retransmissions(C)"),
            "elapsed_s": round(elapsed, 2), "response_ms_mean": ms("ResponseTime1(C)"),
            "response_buckets": buckets, "sipp_exit": p.returncode}


def main():
    if not os.access(BIN, os.X_OK):
        die(f"{BIN} is missing (make build)")
    if not shutil.which("sipp"):
        die("sipp is missing (scripts/install-deps installs sip-tester)")
    work = tempfile.mkdtemp(prefix="confab-bench-sip-")
    proc, port = start_server(work)
    results = {"seconds_per_step": SECONDS, "pinned": PIN, "scenarios": {}}
    try:
        for scenario in SCENARIOS:
            steps = []
            best = 0
            for rate in RATES:
                if proc.poll() is not None:
                    die("the server died")
                # Let the last step's transactions (timer I: 5 s) run out first.
                time.sleep(6)
                c0 = cpu_seconds(proc.pid)
                d0 = socket_drops(port)
                s = sipp_step(port, scenario, rate, work)
                s["server_cpu_s"] = round(cpu_seconds(proc.pid) - c0, 3)
                s["server_socket_drops"] = socket_drops(port) - d0
                requests = s.get("successful", 0) * (2 if scenario == "invite_404" else 1)
                s["cpu_ms_per_1000_requests"] = round(1e6 * s["server_cpu_s"] / requests, 1) \
                    if requests else None
                s["achieved_per_s"] = round(s.get("successful", 0) / max(s.get("elapsed_s", 1), 1e-9))
                s["held"] = "error" not in s and s["failed"] == 0 and s["retransmissions"] == 0 \
                    and s["successful"] == s["calls"]
                steps.append(s)
                print(f"{scenario:11} rate {rate:6}/s: ok {s.get('successful', 0):7} "
                      f"failed {s.get('failed', '?'):5} retrans {s.get('retransmissions', '?'):6} "
                      f"achieved {s['achieved_per_s']:6}/s  cpu/1000 req "
                      f"{s['cpu_ms_per_1000_requests']} ms  mean {s.get('response_ms_mean')} ms"
                      f"  socket drops {s['server_socket_drops']}"
                      f"  {'held' if s['held'] else 'NOT held'}", flush=True)
                if s["held"]:
                    best = rate
                else:
                    break
            results["scenarios"][scenario] = {"highest_rate_held": best, "steps": steps}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps({k: v["highest_rate_held"] for k, v in results["scenarios"].items()}))
    print(f"bench/sip: results in {RESULTS}; sipp statistics in {work}")
    if proc.returncode not in (0, None):
        die(f"the server exited {proc.returncode}")


if __name__ == "__main__":
    main()

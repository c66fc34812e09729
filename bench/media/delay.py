#!/usr/bin/env python3
"""bench/media/delay.py: mouth-to-ear delay through a confab server, measured on the signal.

Two plain-RTP participants join one conference through the Kazoo REST API: A talks, B listens.
A sends a 20 ms frame every 20 ms, silence but for a burst of tone every --gap seconds whose
onset is the first sample of a frame (a cosine: full amplitude at once). B timestamps every packet
the server sends it (the kernel's receive time, SO_TIMESTAMPNS) and decodes it; the first sample
of B's stream above a quarter of the burst's amplitude is the onset heard. For each burst:

  transit       arrival at B of the packet carrying the onset - departure of A's onset packet;
                it is made of:
  tick wait     how long A's packet waited for the server's next tick to start (0-20 ms: nothing
                ties A to the server's clock; the bursts are spread over the phases, see
                phase_shifts)
  work          the server's work in a tick, from its start to B's packet (receive, mix, encode,
                send), taken as the least transit seen
  buffered      the whole ticks the onset then waited in the server's jitter buffer (0 when it
                was mixed at the first tick after it arrived)
  in frame      where the onset is in B's packet (the resamplers' and codecs' own delays)
  mouth-to-ear  20 ms (A's packetisation: a frame leaves when its last sample is spoken)
                + transit + in frame

Nothing is subtracted. Not included: the clients' capture and playout devices, B's own jitter
buffer, and any network (the two peers and the server share the loopback device).

    delay.py --http-port PORT --api-key KEY [--codec pcmu,opus] [--repeats 50] [--json FILE]
    delay.py --confab build/release/confab ...     (starts its own server on a temporary dir)

Prints a summary per codec, then one JSON line per codec (also appended to --json).
"""
import argparse
import json
import math
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from rtp_peer import FRAME, RATE, Peer, answer_port, libopus  # noqa: E402  (the tests' RTP peer)

TICK_MS = 20
SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; Python's socket module does not name it
AMPLITUDE = 16000  # -6 dBFS: loud, and no codec clips it
HZ = 1000


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def stats(values):
    if not values:
        return None
    return {"min": round(min(values), 2), "median": round(percentile(values, 50), 2),
            "p95": round(percentile(values, 95), 2), "max": round(max(values), 2)}


class Api:
    def __init__(self, host, port):
        self.base = f"http://{host}:{port}"
        self.token = None

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        if self.token:
            req.add_header("X-Auth-Token", self.token)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode() or "null")

    def login(self, api_key):
        r = self.call("PUT", "/v2/api_auth", {"data": {"api_key": api_key}})
        self.token = r["auth_token"]
        return r["data"]["account_id"]


def start_confab(binary):
    """Starts `binary serve` on a temporary data dir; returns (process, http port, api key)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="confab-delay-")
    proc = subprocess.Popen([binary, "serve", "--data-dir", data, "--http", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    key = None
    deadline = time.time() + 20
    for line in proc.stdout:
        m = re.search(r'"api_key":"(\w+)"', line)
        key = m.group(1) if m else key
        if "listening on" in line or time.time() > deadline:
            break
    if not key:
        proc.kill()
        sys.exit("delay: the server printed no admin api_key")
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    # Drain its log so that the pipe never fills.
    import threading
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, port, key


class Burst:
    """A's speech: silence, and from frame `starts[i]` on, `length` frames of a cosine."""

    def __init__(self, starts, length):
        self.starts = starts
        self.length = length

    def __call__(self, index):
        for s in self.starts:
            if s <= index < s + self.length:
                t0 = (index - s) * FRAME
                return [int(AMPLITUDE * math.cos(2 * math.pi * HZ * (t0 + i) / RATE))
                        for i in range(FRAME)]
        return [0] * FRAME


def kernel_time_ns(ancillary):
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec * 1_000_000_000 + nsec
    return time.time_ns()


def phase_shifts(starts):
    """A's clock and the server's tick both run at exactly 20 ms, so the phase between them, and
    with it the wait for the next tick, would be the same for every burst. Five frames before each
    burst (in silence) A pauses, so that burst r meets the tick at a phase of frac(r x 0.618) of
    it: the bursts sample the phases evenly, as many calls would. Only ever a pause: a packet that
    then misses its tick finds the jitter buffer empty, which restarts it at its initial depth in
    the new phase (an early packet would instead leave it a frame deeper for good).
    Returns {frame index: pause in ns}."""
    golden = (math.sqrt(5) - 1) / 2
    shifts, phase = {}, 0.0
    for r, s in enumerate(starts):
        want = (r * golden) % 1.0
        shifts[s - 5] = int((want - phase) % 1.0 * TICK_MS * 1_000_000)
        phase = want
    return shifts


def measure(api, account, codec, repeats, gap_s, burst_ms, warmup_s, spread=True):
    conf = api.call("PUT", f"/v2/accounts/{account}/conferences",
                    {"data": {"name": f"delay-{codec}", "member": {"join_muted": False}}})["data"]
    base = f"/v2/accounts/{account}/conferences/{conf['id']}/participants"
    gap = max(int(gap_s * 1000 / TICK_MS), 10)
    warm = int(warmup_s * 1000 / TICK_MS)
    starts = [warm + r * gap for r in range(repeats)]
    a = Peer(0, codec=codec, source=Burst(starts, max(1, burst_ms // TICK_MS)))
    b = Peer(0, codec=codec)
    try:
        for peer, name in ((a, "mouth"), (b, "ear")):
            r = api.call("POST", base, {"data": {"name": name, "number": str(peer.port),
                                                 "sdp": peer.sdp()}})
            peer.server_port = answer_port(r["data"]["sdp"])
        b.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sent = {}  # frame index -> departure (ns, CLOCK_REALTIME, as the kernel's timestamps)
        heard = []  # (arrival ns, decoded samples) of every packet B receives
        frames = starts[-1] + gap
        shifts = phase_shifts(starts) if spread else {}
        start = time.monotonic_ns()
        worst_late = 0
        offset = 0
        for index in range(frames):
            offset += shifts.get(index, 0)
            due = start + index * TICK_MS * 1_000_000 + offset
            while True:
                now = time.monotonic_ns()
                if now >= due:
                    break
                ready, _, _ = select.select([a.sock, b.sock], [], [], (due - now) / 1e9)
                if b.sock in ready:
                    while True:
                        try:
                            data, anc, _, _ = b.sock.recvmsg(2048, socket.CMSG_SPACE(16))
                        except BlockingIOError:
                            break
                        pcm = b.on_datagram(data)
                        if pcm is not None:
                            heard.append((kernel_time_ns(anc), pcm))
                if a.sock in ready:
                    a.drain()
                    a.heard.clear()
            worst_late = max(worst_late, time.monotonic_ns() - due)
            a.send_frame()
            sent[index] = a.sent_at
        rows = []
        for s in starts:
            rows.append(onset(sent[s], heard, gap * TICK_MS * 1_000_000))
    finally:
        a.close()
        b.close()
        try:  # leave the conference as found: both participants out
            for p in api.call("GET", base)["data"]:
                api.call("DELETE", f"{base}/{p['participant_id'] if isinstance(p, dict) else p}")
        except (OSError, KeyError, TypeError, ValueError):
            pass
    found = [r for r in rows if r]
    # The server's own work per tick (receive, mix, encode, send: from the tick's start to B's
    # packet) is the least transit seen: that burst met the tick at the phase of least wait (under
    # 20 ms / repeats, as the phases are spread).
    work = min((r["transit"] for r in found), default=0.0)
    for r in found:
        # Ticks start `work` before B's packets arrive; the first to start after A's packet left is
        # where it could be mixed at the earliest.
        first = next((t for t in r["ticks"] if t - work > 0), r["transit"])
        r["tick_wait"] = first - work
        r["buffered"] = round((r["transit"] - first) / TICK_MS)
    ms = lambda key: [r[key] for r in found]  # noqa: E731
    buffered = {}
    for r in found:
        buffered[str(r["buffered"])] = buffered.get(str(r["buffered"]), 0) + 1
    return {
        "kind": "delay", "codec": codec, "tick_ms": TICK_MS, "bursts": len(rows),
        "detected": len(found), "packetisation_ms": TICK_MS, "server_work_ms": round(work, 2),
        "transit_ms": stats(ms("transit")), "tick_wait_ms": stats(ms("tick_wait")),
        "buffered_ticks": buffered, "in_frame_ms": stats(ms("in_frame")),
        "mouth_to_ear_ms": stats(ms("mouth_to_ear")),
        "sender_late_ms_max": round(worst_late / 1e6, 2), "phases_spread": spread,
    }


def onset(departure, heard, window_ns):
    """Where the burst that left at `departure` is first heard (None if nowhere): transit and
    place in B's packet, in ms, and when B's packets arrived until then (ms after departure)."""
    later = [(t, pcm) for t, pcm in heard if departure <= t < departure + window_ns]
    for t, pcm in later:
        hit = next((i for i, x in enumerate(pcm) if abs(x) > AMPLITUDE / 4), None)
        if hit is not None:
            transit = (t - departure) / 1e6
            in_frame = hit * 1000 / RATE
            return {"transit": transit, "in_frame": in_frame,
                    "mouth_to_ear": TICK_MS + transit + in_frame,
                    "ticks": [(u - departure) / 1e6 for u, _ in later if u <= t]}
    return None


def summary(row):
    def line(name, key, what):
        s = row[key]
        if s is None:
            return f"  {name:<13} (none)"
        return (f"  {name:<13} min {s['min']:6.1f}  median {s['median']:6.1f}  p95 {s['p95']:6.1f}"
                f"  max {s['max']:6.1f} ms   {what}")
    out = [f"== {row['codec']}: {row['detected']} of {row['bursts']} bursts heard "
           f"(sender late by up to {row['sender_late_ms_max']} ms)",
           line("mouth-to-ear", "mouth_to_ear_ms", "= 20 ms packetisation + transit + in frame"),
           line("transit", "transit_ms", "A's packet out -> B's packet in, through the server"),
           line("  tick wait", "tick_wait_ms", "waiting for the server's next 20 ms tick"),
           f"  {'  work':<13} {row['server_work_ms']:6.1f} ms   the server's work in the tick "
           "(receive, mix, encode, send: the least transit seen)",
           f"  {'  buffered':<13} " + ", ".join(
               f"{n} x {k} tick{'s' if k != '1' else ''}" for k, n in sorted(row["buffered_ticks"].items()))
           + "   whole ticks held in the jitter buffer after the first",
           line("in frame", "in_frame_ms", "the onset's place in B's packet (codec/resampler delay)")]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--http-port", type=int)
    ap.add_argument("--api-key")
    ap.add_argument("--confab", help="start this binary on a temporary data dir instead")
    ap.add_argument("--codec", default="pcmu,opus", help="comma-separated: pcmu, opus")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--gap", type=float, default=0.4, help="seconds between bursts")
    ap.add_argument("--burst", type=int, default=100, help="burst length, ms")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of silence first")
    ap.add_argument("--fixed-phase", action="store_true",
                    help="do not spread the bursts over the server tick's phases")
    ap.add_argument("--label", default="delay")
    ap.add_argument("--json", help="append the JSON lines to this file")
    o = ap.parse_args()
    codecs = [c for c in o.codec.split(",") if c]
    if any(c not in ("pcmu", "opus") for c in codecs):
        ap.error("--codec takes pcmu and/or opus")
    if "opus" in codecs and libopus() is None:
        ap.error("libopus is not installed: use --codec pcmu")
    proc = None
    if o.confab:
        proc, o.http_port, o.api_key = start_confab(o.confab)
    elif not (o.http_port and o.api_key):
        ap.error("give --http-port and --api-key, or --confab BINARY")
    try:
        api = Api(o.host, o.http_port)
        account = api.login(o.api_key)
        rows = []
        for codec in codecs:
            row = measure(api, account, codec, o.repeats, o.gap, o.burst, o.warmup,
                          not o.fixed_phase)
            row["label"] = f"{o.label}-{codec}"
            rows.append(row)
            print(summary(row), flush=True)
        for row in rows:
            print(json.dumps(row), flush=True)
            if o.json:
                with open(o.json, "a") as f:
                    f.write(json.dumps(row) + "\n")
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    return 0 if all(r["detected"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

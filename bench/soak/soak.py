#!/usr/bin/python3
"""Soak: the release binary under churn for --duration seconds, then judged on leaks.

Load (defaults: the reliability figure of docs/reliability.md, shortened by --duration):
  - --legs plain-RTP legs (G.711 mu-law) in --rooms narrowband rooms, --speakers of each room
    talking (a tone), the others sending silence, every 20 ms; each leg leaves after a random
    lifetime (--lifetime MIN MAX seconds) and a new one joins in its place, all the time;
  - --sockets Kazoo event sockets, each subscribed to one room's events and read as they come;
    a few of them are closed and replaced every 10 s;
  - --rest requests per second of REST (create, patch, read, delete conferences).
One Python process of its own sends for every leg and churns them (tests/integration/
many_legs.py: one thread, one pre-encoded frame per leg per tick); only one leg per room reads
what the server sends back. The sockets and the REST load run in the main process.

Judged (printed as JSON, --json FILE too), after --warmup seconds:
  - RSS growth of the server from the end of the warm-up to the end (medians of 3 samples) < 5 %;
  - late ticks (/metrics media.late_ticks over media.ticks) during the run < 0.1 %;
  - once everything has left: /metrics legs and plays back to 0, the server's open file
    descriptors back to their count before the load;
  - SIGTERM then: exit 0.
Exit status 0 when every target is met, 1 otherwise, 2 when the run could not be made.

  bench/soak/soak.py --duration 300          (make soak DURATION=300)
"""
import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import resource
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from many_legs import Legs  # noqa: E402

import websocket  # noqa: E402  (Debian's python3-websocket)


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the RSS baseline (default: a fifth, at most 120)")
    p.add_argument("--rooms", type=int, default=50)
    p.add_argument("--legs", type=int, default=500)
    p.add_argument("--speakers", type=int, default=2, help="talking legs per room")
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--rest", type=float, default=20, help="REST requests per second")
    p.add_argument("--lifetime", type=float, nargs=2, default=(5.0, 40.0), metavar=("MIN", "MAX"))
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "release", "confab"))
    p.add_argument("--shards", type=int, default=0, help="--media-shards (0: the default)")
    p.add_argument("--realtime", type=int, default=0,
                   help="[media] realtime_priority for the server (0: normal scheduling)")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--json", help="also write the result here")
    return p.parse_args()


class Api:
    """A keep-alive connection of one thread."""

    def __init__(self, port, token=None):
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        for attempt in range(2):
            try:
                self.conn.request(method, path, json.dumps(body) if body is not None else None,
                                  headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


class Server:
    def __init__(self, binary, data_dir, shards, realtime=0, duration=3600):
        # Every socket of the soak comes from 127.0.0.1: the per-source cap (1,024) is for real
        # clients spread over many addresses, not for this.
        args = [binary, "serve", "--data-dir", data_dir, "--http", "127.0.0.1:0",
                "--http-max-connections-per-source", "4096",
                # One token serves the whole run (the default 1 h would expire in a 1-hour soak and
                # leave the final leaves unauthorized).
                "--token-ttl", str(int(duration * 2 + 3600))]
        if shards:
            args += ["--media-shards", str(shards)]
        if realtime:
            conf = os.path.join(data_dir, "soak.toml")
            os.makedirs(data_dir, exist_ok=True)
            with open(conf, "w") as f:
                f.write(f"[media]\nrealtime_priority = {realtime}\n")
            args += ["--config", conf]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []
        self.port = self.key = None
        deadline = time.time() + 30
        while time.time() < deadline and self.port is None:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                raise SystemExit("confab exited:\n" + "".join(self.lines))
            self.lines.append(line)
            m = re.search(r'"api_key":"(\w+)"', line)
            if m:
                self.key = m.group(1)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+) ", line)
            if m:
                self.port = int(m.group(1))
        if self.port is None:
            raise SystemExit("confab did not start:\n" + "".join(self.lines))
        self.log_lines = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.log_lines += 1
            self.lines.append(line)
            if len(self.lines) > 4000:
                del self.lines[:-2000]

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


class Sockets:
    """Event sockets, each on one room, read by one thread."""

    def __init__(self, port, token, account, rooms):
        self.port, self.token, self.account, self.rooms = port, token, account, rooms
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.socks = []
        self.frames = 0
        self.opened = self.closed = self.dropped = 0
        self.stop = threading.Event()

    def open(self, i):
        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/v2/websocket", timeout=30)
        room = self.rooms[i % len(self.rooms)]
        ws.send(json.dumps({"action": "subscribe", "auth_token": self.token,
                            "data": {"account_id": self.account,
                                     "binding": f"conference.event.{room}.*"}}))
        reply = json.loads(ws.recv())
        if reply.get("status") != "success":
            raise SystemExit(f"subscribe refused: {reply}")
        ws.settimeout(5)
        with self.lock:
            self.socks.append(ws)
            self.sel.register(ws.sock, selectors.EVENT_READ, ws)
        self.opened += 1

    def close_one(self):
        with self.lock:
            if not self.socks:
                return
            ws = self.socks.pop(random.randrange(len(self.socks)))
            self.sel.unregister(ws.sock)
        ws.close()
        self.closed += 1

    def run(self):
        while not self.stop.is_set():
            with self.lock:
                events = self.sel.select(timeout=0.1) if self.socks else []
            for key, _ in events:
                ws = key.data
                try:
                    ws.recv()
                    self.frames += 1
                except Exception:  # noqa: BLE001 - closed by the server (too slow?) or by us
                    with self.lock:
                        if ws in self.socks:
                            self.socks.remove(ws)
                            self.sel.unregister(ws.sock)
                            self.dropped += 1
            if not events:
                time.sleep(0.01)

    def close_all(self):
        self.stop.set()
        with self.lock:
            socks, self.socks = self.socks, []
            for ws in socks:
                self.sel.unregister(ws.sock)
        for ws in socks:
            ws.close()
            self.closed += 1


class Facade:
    """What many_legs.Legs expects of a server: request() with .status and .data."""

    class R:
        pass

    def __init__(self, api):
        self.api = api

    def request(self, method, path, body=None, token=None):
        status, j = self.api.call(method, path, body)
        r = Facade.R()
        r.status, r.json = status, j
        r.data = j.get("data") if isinstance(j, dict) else None
        return r


def media_worker(port, token, account, rooms, o, stop, joined, out):
    """The legs and their churn, in a process of their own (its own GIL): sends for every leg,
    replaces each leg when its lifetime is up, and at `stop` takes every leg out."""
    legs = Legs()
    per_room = max(1, o.legs // o.rooms)
    lo, hi = o.lifetime
    stats = {"joins": 0, "leaves": 0, "join_failures": 0}
    api = Facade(Api(port, token))

    def make_leg(room_index, slot):
        hz = 300 + 20 * (room_index % 30) + 150 * slot if slot < o.speakers else 0
        leg = legs.new(hz=hz)
        if slot != per_room - 1:  # one leg per room reads what it is sent
            leg.deaf()
        leg.lifetime = random.uniform(lo, hi)
        return leg

    slots = {}  # (room index, slot) -> leg
    for r in range(o.rooms):
        for k in range(per_room):
            leg = make_leg(r, k)
            if legs.join(api, account, token, rooms[r], leg).status == 201:
                slots[(r, k)] = leg
                stats["joins"] += 1
    legs.start()
    joined.set()
    last = 0.0
    while not stop.is_set():
        now = time.monotonic()
        for key, leg in list(slots.items()):
            if stop.is_set():
                break
            if now - leg.born < leg.lifetime:
                continue
            legs.leave(api, account, token, leg)
            stats["leaves"] += 1
            new = make_leg(*key)
            if legs.join(api, account, token, rooms[key[0]], new).status == 201:
                slots[key] = new
                stats["joins"] += 1
            else:
                stats["join_failures"] += 1
                del slots[key]
        if now - last > 1:
            out.put(("progress", stats["joins"], legs.late_sends))
            last = now
        time.sleep(0.05)
    for leg in list(slots.values()):
        legs.leave(api, account, token, leg)
        stats["leaves"] += 1
    legs.stop()
    api.api.conn.close()
    stats.update(packets_sent=legs.sent, packets_received_by_readers=legs.received,
                 sender_late_ticks=legs.late_sends)
    out.put(("done", stats))


def main():

    o = parse()
    if not os.access(o.binary, os.X_OK):
        print(f"soak: no binary at {o.binary} (make build)", file=sys.stderr)
        return 2
    warmup = o.warmup if o.warmup is not None else min(120.0, o.duration / 5)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = o.sockets * 2 + o.legs * 2 + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, need)), hard))

    data_dir = tempfile.mkdtemp(prefix="confab-soak-")
    srv = Server(o.binary, data_dir, o.shards, o.realtime, o.duration)
    admin = Api(srv.port)
    status, j = admin.call("PUT", "/v2/api_auth", {"data": {"api_key": srv.key}})
    admin.token = j["auth_token"]
    status, j = admin.call("PUT", "/v2/accounts", {"data": {"name": "soak"}})
    account = j["data"]["id"]
    status, j = admin.call("PUT", "/v2/api_auth", {"data": {"api_key": j["data"]["api_key"]}})
    token = j["auth_token"]
    api = Api(srv.port, token)
    rooms = []
    for i in range(o.rooms):
        status, j = api.call("PUT", f"/v2/accounts/{account}/conferences",
                             {"data": {"name": f"soak-{i}", "profile": "narrowband",
                                       "member": {"join_muted": False}}})
        assert status == 201, j
        rooms.append(j["data"]["id"])

    def server_fds():
        # Our own keep-alive connections are not the server's leak: closed before counting.
        admin.conn.close()
        api.conn.close()
        time.sleep(0.5)
        return srv.fds()

    # One leg first and then away: what is opened once (WAL, shard sockets) is open before the
    # fd baseline.
    legs = Legs()
    warm = legs.new()
    assert legs.join(Facade(api), account, token, rooms[0], warm).status == 201
    legs.leave(Facade(api), account, token, warm)
    time.sleep(1)
    fds_start = server_fds()
    m0 = api.call("GET", "/metrics")[1]["media"]
    stats = {"rest": 0, "rest_errors": 0}

    ctx = multiprocessing.get_context("fork")
    media_stop, media_joined, media_out = ctx.Event(), ctx.Event(), ctx.Queue()
    media = ctx.Process(target=media_worker, args=(srv.port, token, account, rooms, o, media_stop,
                                                   media_joined, media_out), daemon=True)
    media.start()
    if not media_joined.wait(300):
        raise SystemExit("the legs did not join within 300 s")
    progress = {"joins": 0, "sender_late": 0}

    def media_progress():
        while True:
            try:
                kind, *rest = media_out.get(timeout=0.5)
            except Exception:  # noqa: BLE001 - queue.Empty
                if not media.is_alive():
                    return None
                continue
            if kind == "done":
                return rest[0]
            progress["joins"], progress["sender_late"] = rest

    socks = Sockets(srv.port, token, account, rooms)
    for i in range(o.sockets):
        socks.open(i)
    threading.Thread(target=socks.run, daemon=True).start()

    stop = threading.Event()

    def rest():
        rapi = Api(srv.port, token)
        base = f"/v2/accounts/{account}/conferences"
        gap = 1.0 / o.rest if o.rest > 0 else None
        mine = []
        n = 0
        while gap and not stop.is_set():
            n += 1
            step = n % 4
            if step == 0 or not mine:
                status, j = rapi.call("PUT", base, {"data": {"name": f"rest-{n}"}})
                ok = status == 201
                if ok:
                    mine.append(j["data"]["id"])
            elif step == 1:
                status, _ = rapi.call("PATCH", f"{base}/{mine[-1]}", {"data": {"n": n}})
                ok = status == 200
            elif step == 2:
                status, _ = rapi.call("GET", f"{base}/{random.choice(rooms)}")
                ok = status == 200
            else:
                status, _ = rapi.call("DELETE", f"{base}/{mine.pop(0)}")
                ok = status == 200
            stats["rest"] += 1
            if not ok:
                stats["rest_errors"] += 1
            time.sleep(gap)

    def socket_churn():
        i = o.sockets
        while not stop.wait(10):
            for _ in range(max(1, o.sockets // 100)):
                socks.close_one()
                socks.open(i)
                i += 1

    threads = [threading.Thread(target=f, daemon=True) for f in (rest, socket_churn)]
    for t in threads:
        t.start()

    start = time.monotonic()
    samples = []  # (t, rss kB, fds, ticks, late ticks, legs)
    drainer = {}
    threading.Thread(target=lambda: drainer.setdefault("stats", media_progress()),
                     daemon=True).start()
    m_warm = None
    while True:
        t = time.monotonic() - start
        m = api.call("GET", "/metrics")[1]["media"]
        samples.append((round(t, 1), srv.rss_kb(), srv.fds(), m["ticks"], m["late_ticks"],
                        m["legs"]))
        if m_warm is None and t >= warmup:
            m_warm = m
        print(f"soak: t={t:6.0f}s rss={samples[-1][1] / 1024:.1f} MiB fds={samples[-1][2]} "
              f"legs={m['legs']} late={m['late_ticks'] - m0['late_ticks']}/"
              f"{m['ticks'] - m0['ticks']} joins={progress['joins']} events={socks.frames} "
              f"rest={stats['rest']} sender_late={progress['sender_late']}", flush=True)
        if t >= o.duration:
            break
        time.sleep(min(o.sample, max(0.1, o.duration - t)))
    m_end = api.call("GET", "/metrics")[1]["media"]
    stop.set()
    for t in threads:
        t.join(30)

    # Everyone leaves; the counters must come back.
    media_stop.set()
    media.join(120)
    for _ in range(100):
        if "stats" in drainer:
            break
        time.sleep(0.1)
    mstats = drainer.get("stats") or {}
    socks.close_all()
    deadline = time.time() + 30
    while time.time() < deadline:
        m = api.call("GET", "/metrics")[1]["media"]
        fds_end = server_fds()
        if (m["legs"], m["plays"], fds_end) == (0, 0, fds_start):
            break
        time.sleep(0.2)
    srv.proc.send_signal(signal.SIGTERM)
    try:
        code = srv.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        code = "killed after 60 s"

    after = [s for s in samples if s[0] >= warmup]
    base_rss = statistics.median(s[1] for s in after[:3]) if after else samples[0][1]
    end_rss = statistics.median(s[1] for s in samples[-3:])
    ticks = m_end["ticks"] - m0["ticks"]
    late = m_end["late_ticks"] - m0["late_ticks"]
    result = {
        "duration_s": o.duration, "warmup_s": warmup, "rooms": o.rooms, "legs": o.legs,
        "speakers_per_room": o.speakers, "sockets": o.sockets, "rest_rps": o.rest,
        "lifetime_s": list(o.lifetime),
        "joins": mstats.get("joins"), "leaves": mstats.get("leaves"),
        "join_failures": mstats.get("join_failures"),
        "rest_requests": stats["rest"], "rest_errors": stats["rest_errors"],
        "events_received": socks.frames, "sockets_opened": socks.opened,
        "sockets_dropped_by_server": socks.dropped,
        "packets_sent": mstats.get("packets_sent"),
        "packets_received_by_readers": mstats.get("packets_received_by_readers"),
        "sender_late_ticks": mstats.get("sender_late_ticks"),
        "rss_mib_after_warmup": round(base_rss / 1024, 1), "rss_mib_end": round(end_rss / 1024, 1),
        "rss_growth_pct": round(100 * (end_rss - base_rss) / base_rss, 2),
        "ticks": ticks, "late_ticks": late,
        "late_ticks_pct": round(100 * late / ticks, 4) if ticks else None,
        "late_ticks_after_warmup": m_end["late_ticks"] - (m_warm or m0)["late_ticks"],
        "fds_start": fds_start, "fds_end": fds_end, "legs_end": m["legs"], "plays_end": m["plays"],
        "exit_code": code, "server_log_lines": srv.log_lines,
        "server_warnings": [l.rstrip() for l in srv.lines
                            if " warning " in l or " error " in l or "WARNING" in l][-20:],
        "server_log_tail": [l.rstrip() for l in srv.lines[-60:]],
        "samples": samples,
    }
    targets = {
        "rss_growth_below_5pct": result["rss_growth_pct"] < 5,
        "late_ticks_below_0.1pct": ticks > 0 and late / ticks < 0.001,
        "fds_back": fds_end == fds_start,
        "legs_back_to_0": m["legs"] == 0 and m["plays"] == 0,
        "exit_0": code == 0,
        "mixes_heard": (mstats.get("packets_received_by_readers") or 0) > 0,
    }
    result["targets"] = targets
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    if o.json:
        with open(o.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

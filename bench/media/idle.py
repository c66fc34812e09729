#!/usr/bin/env python3
"""What an idle confab costs: CPU of a server whose conferences are live but carry no media.

Starts the server on a temporary data dir, creates ROOMS conferences through the Kazoo REST API
and makes each live with one participant without media. With --engine-rooms, each also gets a
media leg that joins and leaves again, so that the media engine holds ROOMS rooms without legs
(an engine room lives while its conference does). Then it reads the server's utime + stime from
/proc/<pid>/stat over --seconds and prints one JSON line: the share of one core, the engine's
ticks and sleeps in that window.

  bench/media/idle.py --bin build/release/confab [--rooms 10000] [--engine-rooms] [--seconds 20]
"""
import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=idle\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Api:
    def __init__(self, port, token=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.token = token

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rooms", type=int, default=10000)
    ap.add_argument("--engine-rooms", action="store_true")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--settle", type=float, default=3)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--shards", type=int, default=0, help="--media-shards (0: the default)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="confab-idle-")
    port = free_port()
    cmd = [args.bin, "serve", "--data-dir", os.path.join(work, "var"), "--http",
           f"127.0.0.1:{port}", "--log-level", "warn"]
    if args.shards:
        cmd += ["--media-shards", str(args.shards)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    key = account = None
    for line in proc.stdout:
        m = re.search(r'"admin_account_id":"(\w+)","api_key":"(\w+)"', line)
        if m:
            account, key = m.group(1), m.group(2)
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    try:
        for _ in range(200):
            try:
                if Api(port).call("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        st, r = Api(port).call("PUT", "/v2/api_auth", {"data": {"api_key": key}})
        token = r["auth_token"]
        base = f"/v2/accounts/{account}/conferences"
        dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dead.bind(("127.0.0.1", 0))
        sdp = SDP.format(port=dead.getsockname()[1])
        errors = []

        def worker(first):
            api = Api(port, token)
            for i in range(first, args.rooms, args.workers):
                st, r = api.call("PUT", base, {"data": {"name": f"idle {i}"}})
                if st != 201:
                    errors.append((st, r))
                    return
                conf = r["data"]["id"]
                st, r = api.call("POST", f"{base}/{conf}/participants",
                                 {"data": {"name": "no media"}})
                if st != 201:
                    errors.append((st, r))
                    return
                if args.engine_rooms:
                    st, r = api.call("POST", f"{base}/{conf}/participants",
                                     {"data": {"name": "media", "sdp": sdp}})
                    if st != 201:
                        errors.append((st, r))
                        return
                    pid = r["data"]["participant_id"]
                    api.call("DELETE", f"{base}/{conf}/participants/{pid}")

        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            sys.exit(f"idle: setup failed: {errors[:3]}")
        setup = time.monotonic() - t0
        time.sleep(args.settle)
        m0 = Api(port).call("GET", "/metrics")[1]["media"]
        c0, w0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.seconds)
        c1, w1 = cpu_seconds(proc.pid), time.monotonic()
        m1 = Api(port).call("GET", "/metrics")[1]["media"]
        print(json.dumps({
            "label": "idle", "rooms": args.rooms, "engine_rooms": args.engine_rooms,
            "legs": m1["legs"], "seconds": round(w1 - w0, 1), "setup_s": round(setup, 1),
            "cpu_s": round(c1 - c0, 3), "core_pct": round(100 * (c1 - c0) / (w1 - w0), 3),
            "ticks": m1["ticks"] - m0["ticks"], "sleeps": m1.get("sleeps", 0) - m0.get("sleeps", 0),
        }))
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()

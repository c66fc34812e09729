"""SIGTERM while everything is busy: REST writers creating and changing conferences, event-socket
subscribers reading, media legs talking in rooms (one of them recording, one playing a tone) and
legs joining and leaving. The server must exit 0 by itself, log its last line, keep every write it
acknowledged, and (under `make tsan`) show no ThreadSanitizer report: the harness fails a test
whose server printed one."""
import http.client
import json
import select
import threading
import time

import pytest

from conftest import Server, ws_connect
from many_legs import Legs

ROOMS = 3
LEGS_PER_ROOM = 8
SUBSCRIBERS = 20


class Load:
    def __init__(self, server, account, token, rooms):
        self.s, self.acct, self.token, self.rooms = server, account, token, rooms
        self.stop = threading.Event()
        self.acked = {}  # conference id -> name
        self.lock = threading.Lock()
        self.errors = []
        self.frames = 0
        self.threads = []

    def spawn(self, fn, *args):
        def wrap():
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - a failure before the signal is a failure
                if not self.stop.is_set():
                    self.errors.append(repr(e))
        t = threading.Thread(target=wrap, daemon=True)
        t.start()
        self.threads.append(t)

    def writer(self, i):
        conn = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=30)
        headers = {"X-Auth-Token": self.token, "Content-Type": "application/json"}
        base = f"/v2/accounts/{self.acct}/conferences"
        n = 0
        while not self.stop.is_set():
            n += 1
            name = f"w{i}-{n}"
            conn.request("PUT", base, json.dumps({"data": {"name": name}}), headers)
            r = conn.getresponse()
            body = json.loads(r.read())
            assert r.status == 201, body
            with self.lock:
                self.acked[body["data"]["id"]] = name
            cid = body["data"]["id"]
            conn.request("PATCH", f"{base}/{cid}", json.dumps({"data": {"n": n}}), headers)
            r = conn.getresponse()
            r.read()
            assert r.status == 200

    def subscribers(self, socks):
        while not self.stop.is_set():
            ready, _, _ = select.select([ws.sock for ws in socks], [], [], 0.1)
            for ws in socks:
                if ws.sock in ready:
                    ws.recv()
                    self.frames += 1

    def churn(self, legs):
        i = 0
        while not self.stop.is_set():
            i += 1
            leg = legs.new(hz=500 if i % 2 else 0)
            r = legs.join(self.s, self.acct, self.token, self.rooms[i % len(self.rooms)], leg)
            assert r.status == 201, r
            time.sleep(0.05)
            assert legs.leave(self.s, self.acct, self.token, leg) == 200


@pytest.mark.parametrize("after", [0.5, 2.0], ids=["early", "late"])
def test_sigterm_under_load_exits_zero_and_keeps_acknowledged_writes(tmp_path, after):
    data_dir = tmp_path / "var"
    s = Server(data_dir).start()
    acct, token = s.new_account("acme")
    rooms = []
    for i in range(ROOMS):
        r = s.request("PUT", f"/v2/accounts/{acct}/conferences",
                      {"data": {"name": f"room-{i}", "member": {"join_muted": False}}},
                      token=token)
        assert r.status == 201, r
        rooms.append(r.data["id"])
    legs = Legs().start()
    for i in range(ROOMS * LEGS_PER_ROOM):
        r = legs.join(s, acct, token, rooms[i % ROOMS], legs.new(hz=300 + 50 * i if i < 6 else 0))
        assert r.status == 201, r
    socks = []
    for i in range(SUBSCRIBERS):
        ws = ws_connect(s)
        ws.send(json.dumps({"action": "subscribe", "auth_token": token,
                            "data": {"account_id": acct, "binding": "conference.event.*.*"}}))
        assert json.loads(ws.recv())["status"] == "success"
        socks.append(ws)
    base = f"/v2/accounts/{acct}/conferences"
    r = s.request("PUT", f"{base}/{rooms[0]}", {"action": "record", "data": {"action": "start"}},
                  token=token)
    assert r.status in (200, 202), r
    r = s.request("PUT", f"{base}/{rooms[1]}",
                  {"action": "play", "data": {"media_id": "tone_stream://%(10000,0,440)"}},
                  token=token)
    assert r.status in (200, 202), r

    load = Load(s, acct, token, rooms)
    for i in range(2):
        load.spawn(load.writer, i)
    load.spawn(load.subscribers, socks)
    load.spawn(load.churn, legs)
    time.sleep(after)
    assert not load.errors, load.errors
    with load.lock:
        acked_before = len(load.acked)
    sent_before = legs.sent
    try:
        code = s.stop(timeout=60)  # SIGTERM, with everything still running
    finally:
        load.stop.set()
        legs.stop()
        for t in load.threads:
            t.join(30)
        for ws in socks:
            try:
                ws.close()
            except Exception:  # noqa: BLE001 - the server is gone
                pass
    log = "".join(s.log_lines)
    assert code == 0, "SIGTERM under load: exit " + str(code) + "\n" + log[-5000:]
    assert log.rstrip().endswith("stopped"), log[-2000:]
    # The load was real when the signal came.
    assert acked_before >= 1 and sent_before > 0 and load.frames > 0, \
        (acked_before, sent_before, load.frames)

    # Every acknowledged write is there after a restart; the recording that was running became
    # a recording document or left nothing (never a half-written one).
    s2 = Server(data_dir).start()
    try:
        listed = {c["id"]: c["name"] for c in s2.request("GET", base, token=token).data}
        missing = {cid for cid in load.acked if load.acked[cid] != listed.get(cid)}
        assert not missing, f"{len(missing)} acknowledged conferences lost"
        for rec in s2.request("GET", f"/v2/accounts/{acct}/recordings", token=token).data:
            raw = s2.request("GET", f"/v2/accounts/{acct}/recordings/{rec['id']}/raw", token=token)
            assert raw.status == 200 and raw.content[:4] == b"RIFF", raw
    finally:
        assert s2.stop() == 0

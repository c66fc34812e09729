"""A short leak check (the soak's, in bench/soak/, runs for minutes to an hour): 50 media legs and
50 event sockets come and go in rounds, with a recording and a play on the way; after each round
the server's /metrics legs and plays are back to 0 and its open file descriptors (/proc/PID/fd)
back to what they were before the first round."""
import json
import os
import time

from conftest import ws_connect
from many_legs import Legs

LEGS = 50
SOCKETS = 50
ROUNDS = 2


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metrics(server):
    r = server.request("GET", "/metrics")
    assert r.status == 200, r
    return r.json["media"]


def settles(server, want_fds, timeout=20):
    """Waits for legs, plays and fds to be back; returns the last (legs, plays, fds) seen."""
    deadline = time.time() + timeout
    while True:
        m = metrics(server)
        seen = (m["legs"], m["plays"], fd_count(server.proc.pid))
        if seen == (0, 0, want_fds) or time.time() > deadline:
            return seen
        time.sleep(0.1)


def subscribe(server, token, account, binding):
    ws = ws_connect(server)
    ws.send(json.dumps({"action": "subscribe", "auth_token": token, "request_id": "s",
                        "data": {"account_id": account, "binding": binding}}))
    reply = json.loads(ws.recv())
    assert reply["status"] == "success", reply
    return ws


def one_round(server, account, token, rooms, legs, rnd):
    socks = [subscribe(server, token, account, f"conference.event.{rooms[i % len(rooms)]}.*")
             for i in range(SOCKETS)]
    joined = []
    for i in range(LEGS):
        leg = legs.new(hz=300 + 10 * i if i % 5 == 0 else 0)
        r = legs.join(server, account, token, rooms[i % len(rooms)], leg)
        assert r.status == 201, r
        joined.append(leg)
    assert metrics(server)["legs"] == LEGS
    room = f"/v2/accounts/{account}/conferences/{rooms[0]}"
    r = server.request("PUT", room, {"action": "record", "data": {"action": "start"}}, token=token)
    assert r.status in (200, 202), r
    r = server.request("PUT", f"/v2/accounts/{account}/conferences/{rooms[1]}",
                       {"action": "play", "data": {"media_id": "tone_stream://%(2000,0,440)"}},
                       token=token)
    assert r.status in (200, 202), r
    time.sleep(1.0)  # media flows
    assert all(leg.rx > 0 for leg in joined[:5]), [leg.rx for leg in joined[:5]]
    r = server.request("PUT", room, {"action": "record", "data": {"action": "stop"}}, token=token)
    assert r.status in (200, 202), r
    for leg in joined:
        assert legs.leave(server, account, token, leg) == 200
    for ws in socks:
        ws.close()
    # The recording became a document (its file written and closed).
    deadline = time.time() + 10
    while time.time() < deadline:
        recs = server.request("GET", f"/v2/accounts/{account}/recordings", token=token).data
        if len(recs) == rnd + 1:
            break
        time.sleep(0.1)
    assert len(recs) == rnd + 1, recs


def test_legs_sockets_and_files_leave_nothing_behind(server, account):
    acct, token = account
    rooms = []
    for i in range(5):
        r = server.request("PUT", f"/v2/accounts/{acct}/conferences",
                           {"data": {"name": f"leak-{i}", "profile": "narrowband",
                                     "member": {"join_muted": False}}}, token=token)
        assert r.status == 201, r
        rooms.append(r.data["id"])
    legs = Legs().start()
    try:
        # A first leg and socket open what is opened once (the store's WAL, a shard's socket...).
        leg = legs.new()
        assert legs.join(server, acct, token, rooms[0], leg).status == 201
        subscribe(server, token, acct, f"conference.event.{rooms[0]}.*").close()
        assert legs.leave(server, acct, token, leg) == 200
        time.sleep(0.5)
        base = fd_count(server.proc.pid)
        assert settles(server, base) == (0, 0, base)
        for rnd in range(ROUNDS):
            one_round(server, acct, token, rooms, legs, rnd)
            assert settles(server, base) == (0, 0, base), f"round {rnd}"
    finally:
        legs.stop()

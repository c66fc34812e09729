"""The Drumee face: /-/svc/conference.* services, their ACL by hub privilege, the live socket
(/-/websocket) and its notifications, call flows (invite, accept, decline, crossed calls, cancel,
revoke, get_caller), call logs in the direct chat channels, and what other faces see of it."""
import hashlib
import json
import re
import time
import urllib.parse

import pytest

from conftest import ws_connect

HEX32 = re.compile(r"^[0-9a-f]{32}$")
RECV_TIMEOUT = 5
PASSWORD = "drumee-pass-1"

OWNER, READ, ANON = 63, 3, 1


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


# --- helpers -----------------------------------------------------------------------------------

def svc(server, name, params=None, token=None, headers=None, method="POST", query=None):
    path = f"/-/svc/{name}"
    if query:
        path += "?" + urllib.parse.urlencode(query)
    return server.request(method, path, params if params is not None else None, token=token,
                          headers=headers)


def ok(r, ack):
    assert r.status == 200, r
    j = r.json
    assert j["__ack__"] == ack, r
    assert j["__status__"] == "ok", r
    assert isinstance(j["__timestamp__"], int) and j["__timestamp__"] > 1_600_000_000_000, r
    return j["data"]


def err(r, status, error, ack, reason=None):
    assert r.status == status, r
    j = r.json
    assert j["error"] == error, r
    assert j["error_code"] == status and j["status"] == status, r
    assert j["__ack__"] == ack, r
    assert j["data"] == [], r
    if reason is not None:
        assert j["reason"] == reason, r
    return j


class Live:
    """A Drumee live socket. The server speaks first: sys.hello (with our socket_id) arrives
    without the client sending anything."""

    def __init__(self, server, token=None, path="/-/websocket"):
        if token:
            path += "?" + urllib.parse.urlencode({"token": token})
        self.ws = ws_connect(server, path, timeout=RECV_TIMEOUT)
        self.hello = self.recv()
        assert self.hello["service"] == "sys.hello", self.hello
        self.socket_id = self.hello["data"]["socket_id"]

    def recv(self, timeout=RECV_TIMEOUT):
        self.ws.settimeout(timeout)
        return json.loads(self.ws.recv())

    def expect(self, service):
        """The next notification, which must be `service`."""
        m = self.recv()
        assert m["service"] == service, m
        assert m["options"]["service"] == service, m
        assert m["model"]["type"] == service, m
        return m

    def drain(self):
        """Every notification received before a ping's answer (a barrier: frames are ordered)."""
        self.ws.send(json.dumps({"service": "x.ping"}))
        out = []
        for _ in range(50):
            m = self.recv()
            if m["service"] == "sys.ping":
                return out
            out.append(m)
        raise AssertionError("no sys.ping after 50 frames")

    def quiet(self):
        got = self.drain()
        assert got == [], got

    def close(self):
        self.ws.close()


class World:
    """An account with users (and their tokens) and a hub granting them privileges:
    alice owns it, carol has owner privilege, bob read, dave the default (anonymous)."""

    def __init__(self, server, account):
        self.server = server
        self.account_id, self.token = account
        self.users, self.tokens = {}, {}
        for name, first in [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol"),
                            ("dave", "Dave")]:
            r = server.request("PUT", f"/v2/accounts/{self.account_id}/users",
                               {"data": {"username": name, "password": PASSWORD,
                                         "first_name": first, "last_name": "Doe"}},
                               token=self.token)
            assert r.status == 201, r
            self.users[name] = r.data["id"]
            r = server.request("PUT", "/v2/user_auth",
                               {"data": {"credentials": md5(f"{name}:{PASSWORD}"),
                                         "account_name": "acme"}})
            assert r.status == 201, r
            self.tokens[name] = r.json["auth_token"]
        self.hub = self.new_hub("Team", {self.users["bob"]: READ, self.users["carol"]: OWNER})

    def new_hub(self, name, privileges, default=ANON, owner="alice"):
        r = self.server.request("PUT", f"/v2/accounts/{self.account_id}/hubs",
                                {"data": {"name": name, "owner_id": self.users[owner],
                                          "default_privilege": default,
                                          "privileges": privileges}}, token=self.token)
        assert r.status == 201, r
        return r.data["id"]

    def live(self, who=None):
        return Live(self.server, self.tokens[who] if who else None)

    def call(self, who, name, params):
        return svc(self.server, name, params, token=self.tokens[who] if who else None)

    def join(self, who, sock, **extra):
        params = {"hub_id": self.hub, "socket_id": sock.socket_id, "metadata": {}}
        params.update(extra)
        return ok(self.call(who, "conference.join", params), "conference.join")

    def participants(self, room_id):
        r = self.server.request(
            "GET", f"/v2/accounts/{self.account_id}/conferences/{room_id}/participants",
            token=self.token)
        assert r.status == 200, r
        return r.data

    def messages(self, who, room_id):
        return ok(self.call(who, "chat.messages", {"room_id": room_id}),
                  "chat.messages")["messages"]


@pytest.fixture
def world(server, account):
    return World(server, account)


def sender(world, who, sock):
    first = who.capitalize()
    return {"socket_id": sock.socket_id, "uid": world.users[who], "firstname": first,
            "lastname": "Doe", "fullname": f"{first} Doe"}


def record(world, who, sock, role, pid):
    return {"socket_id": sock.socket_id, "uid": world.users[who], "username": who,
            "firstname": who.capitalize(), "lastname": "Doe", "role": role,
            "participant_id": pid, "status": "started"}


# --- live socket -------------------------------------------------------------------------------

def test_hello_gives_socket_id_and_user(world):
    a = world.live("alice")
    assert HEX32.match(a.socket_id)
    assert a.hello == {"service": "sys.hello",
                       "data": {"socket_id": a.socket_id,
                                "user": {"id": world.users["alice"], "username": "alice"}}}
    g = world.live()
    assert g.hello["data"]["user"] is None and g.socket_id != a.socket_id
    # /websocket is accepted too, and a token may come as the regsid cookie.
    import websocket
    ws = websocket.create_connection(f"ws://127.0.0.1:{world.server.port}/websocket",
                                     timeout=RECV_TIMEOUT,
                                     cookie=f"regsid={world.tokens['bob']}")
    hello = json.loads(ws.recv())
    assert hello["data"]["user"] == {"id": world.users["bob"], "username": "bob"}
    ws.send(json.dumps({"service": "x.ping"}))
    assert json.loads(ws.recv()) == {"service": "sys.ping", "data": {"ok": 1}}
    ws.send("not json")
    assert json.loads(ws.recv()) == {"service": "sys.error", "data": {"error": "BAD_MESSAGE"}}
    ws.send(json.dumps({"service": "conference.nope"}))
    assert json.loads(ws.recv())["data"] == {"error": "SERVICE_NOT_FOUND:conference.nope"}
    ws.close()


def test_the_server_speaks_first_and_notifications_flow_at_once(world):
    """sys.hello, then notifications, reach a socket that never sent a frame."""
    import websocket
    raw = websocket.create_connection(
        f"ws://127.0.0.1:{world.server.port}/-/websocket?token={world.tokens['alice']}",
        timeout=RECV_TIMEOUT)
    hello = json.loads(raw.recv())
    assert hello["service"] == "sys.hello"
    assert hello["data"]["user"] == {"id": world.users["alice"], "username": "alice"}
    sock = hello["data"]["socket_id"]
    ok(world.call("alice", "conference.join",
                  {"hub_id": world.hub, "socket_id": sock, "metadata": {}}), "conference.join")
    b = world.live("bob")
    world.join("bob", b)
    m = json.loads(raw.recv())
    assert m["service"] == "conference.join" and m["model"]["uid"] == world.users["bob"]
    raw.close()


def test_a_bad_token_is_refused_not_taken_for_a_guest(world):
    import websocket
    with pytest.raises(websocket.WebSocketBadStatusException):
        ws_connect(world.server, "/-/websocket?token=forged")
    r = svc(world.server, "conference.join", {"hub_id": world.hub}, token="forged")
    err(r, 401, "unauthorized", "conference.join")


def test_unknown_service(world):
    r = world.call("alice", "conference.nope", {})
    err(r, 404, "SERVICE_NOT_FOUND:conference.nope", "conference.nope")
    r = world.call("alice", "media.upload", {})
    err(r, 404, "SERVICE_NOT_FOUND:media.upload", "media.upload")


# --- parameters and privileges -----------------------------------------------------------------

MISSING = [
    ("accept", {}, "caller"),
    ("accept", {"caller": {"caller_id": "x"}}, "socket_id"),
    ("attendee", {}, "participant_id"),
    ("broadcast", {}, "socket_id"),
    ("broadcast", {"socket_id": "s"}, "event"),
    ("broadcast", {"socket_id": "s", "event": "e"}, "payload"),
    ("cancel", {}, "room_id"),
    ("cancel", {"room_id": "r"}, "socket_id"),
    ("decline", {}, "caller"),
    ("get_caller", {}, "guest_id"),
    ("invite", {}, "hub_id"),
    ("invite", {"hub_id": "h"}, "guest_id"),
    ("invite", {"hub_id": "h", "guest_id": "g"}, "socket_id"),
    ("invite", {"hub_id": "h", "guest_id": "g", "socket_id": "s"}, "metadata"),
    ("join", {}, "socket_id"),
    ("join", {"socket_id": "s"}, "metadata"),
    ("join", {"socket_id": "s", "metadata": {}}, "hub_id"),
    ("leave", {}, "room_id"),
    ("leave", {"room_id": "r"}, "socket_id"),
    ("logCall", {}, "callee"),
    ("logCall", {"callee": {"entity_id": "x"}}, "event"),
    ("logCall", {"callee": {"contact_id": "x"}, "event": "leave"}, "callee.entity_id"),
    ("revoke", {}, "hub_id"),
    ("revoke", {"hub_id": "h"}, "callee"),
    ("revoke", {"hub_id": "h", "callee": {"drumate_id": "x"}}, "socket_id"),
    ("update", {}, "room_id"),
    ("update", {"room_id": "r"}, "socket_id"),
    ("update", {"room_id": "r", "socket_id": "s"}, "metadata"),
]


@pytest.mark.parametrize("name,params,missing", MISSING)
def test_missing_param(world, name, params, missing):
    r = world.call("alice", f"conference.{name}", params)
    err(r, 400, "MISSING_PARAM", f"conference.{name}", f"{missing} is required")


def test_missing_param_for_guests_and_null_or_empty_values(world):
    r = world.call(None, "conference.join", {"socket_id": "", "metadata": {}})
    err(r, 400, "MISSING_PARAM", "conference.join", "socket_id is required")
    r = world.call(None, "conference.join", {"socket_id": "s", "metadata": None})
    err(r, 400, "MISSING_PARAM", "conference.join", "metadata is required")
    r = world.call("alice", "conference.join", {"socket_id": "s", "metadata": "[1]",
                                                 "hub_id": world.hub})
    j = err(r, 400, "invalid_data", "conference.join")
    assert j["details"] == {"metadata": {"type": {"message": "metadata must be an object"}}}


def full_params(world, sock):
    """Complete parameters for every service, so that only privilege can fail."""
    caller = {"caller_id": sock.socket_id}
    callee = {"drumate_id": world.users["dave"], "entity_id": world.users["dave"],
              "contact_id": "c1"}
    hub = world.hub
    return {
        "attendee": {"participant_id": "1", "hub_id": hub},
        "join": {"socket_id": sock.socket_id, "metadata": {}, "hub_id": hub},
        "leave": {"room_id": "R", "socket_id": sock.socket_id},
        "update": {"room_id": "R", "socket_id": sock.socket_id, "metadata": {}},
        "accept": {"caller": caller, "socket_id": sock.socket_id, "hub_id": hub},
        "broadcast": {"socket_id": sock.socket_id, "event": "e", "payload": {}, "hub_id": hub},
        "decline": {"caller": caller, "hub_id": hub},
        "cancel": {"room_id": "R", "socket_id": sock.socket_id},
        "get_caller": {"guest_id": world.users["dave"], "hub_id": hub},
        "invite": {"hub_id": hub, "guest_id": world.users["dave"], "socket_id": sock.socket_id,
                   "metadata": {}},
        "logCall": {"callee": callee, "event": "leave", "hub_id": hub},
        "revoke": {"hub_id": hub, "callee": callee, "socket_id": sock.socket_id},
    }


READ_SERVICES = ["accept", "broadcast", "decline"]
OWNER_SERVICES = ["cancel", "get_caller", "invite", "logCall", "revoke"]


def test_acl_table(world):
    """COMPAT's table: anonymous (1) attendee join leave update; read (3) accept broadcast
    decline; owner (63) cancel get_caller invite logCall revoke."""
    owner = world.live("alice")
    room = world.join("alice", owner)["details"]["room_id"]

    def weak(who, sock, names):
        params = full_params(world, sock)
        for name in names:
            p = dict(params[name])
            if p.get("room_id") == "R":
                p["room_id"] = room
            r = world.call(who, f"conference.{name}", p)
            err(r, 403, "WEAK_PRIVILEGE", f"conference.{name}")
            assert "PERMISSION_DENIED" in r.json["reason"], r

    guest = world.live()
    weak(None, guest, READ_SERVICES + OWNER_SERVICES)
    dave = world.live("dave")  # the hub's default privilege: anonymous
    weak("dave", dave, READ_SERVICES + OWNER_SERVICES)
    bob = world.live("bob")  # read
    weak("bob", bob, OWNER_SERVICES)
    # What they may do, they can.
    ok(world.call("bob", "conference.broadcast", full_params(world, bob)["broadcast"]),
       "conference.broadcast")
    world.join("dave", dave)
    world.join(None, guest)
    assert len(world.participants(room)) == 3


def test_a_hub_closed_to_guests_and_other_accounts(world, server):
    closed = world.new_hub("Private", {world.users["bob"]: READ}, default=0)
    guest = world.live()
    r = world.call(None, "conference.join", {"hub_id": closed, "socket_id": guest.socket_id,
                                              "metadata": {}})
    err(r, 403, "WEAK_PRIVILEGE", "conference.join")
    dave = world.live("dave")
    r = world.call("dave", "conference.join", {"hub_id": closed, "socket_id": dave.socket_id,
                                                "metadata": {}})
    err(r, 403, "WEAK_PRIVILEGE", "conference.join")
    bob = world.live("bob")
    ok(world.call("bob", "conference.join", {"hub_id": closed, "socket_id": bob.socket_id,
                                              "metadata": {}}), "conference.join")
    # A user of another account is refused in this account's hub.
    other_id, other_token = server.new_account("other")
    r = server.request("PUT", f"/v2/accounts/{other_id}/users",
                       {"data": {"username": "eve", "password": PASSWORD, "first_name": "Eve",
                                 "last_name": "Doe"}}, token=other_token)
    assert r.status == 201, r
    r = server.request("PUT", "/v2/user_auth", {"data": {"credentials": md5(f"eve:{PASSWORD}"),
                                                         "account_name": "other"}})
    eve_token = r.json["auth_token"]
    eve = Live(server, eve_token)
    r = svc(server, "conference.join", {"hub_id": world.hub, "socket_id": eve.socket_id,
                                        "metadata": {}}, token=eve_token)
    err(r, 403, "WEAK_PRIVILEGE", "conference.join")
    r = world.call("alice", "conference.join", {"hub_id": "f" * 32, "socket_id": "s",
                                                 "metadata": {}})
    err(r, 404, "not_found", "conference.join")


def test_a_socket_must_be_ones_own(world):
    alice, bob = world.live("alice"), world.live("bob")
    r = world.call("bob", "conference.join", {"hub_id": world.hub, "socket_id": alice.socket_id,
                                               "metadata": {}})
    err(r, 403, "WEAK_PRIVILEGE", "conference.join", "socket_id is not yours")
    r = world.call("bob", "conference.join", {"hub_id": world.hub, "socket_id": "nope",
                                               "metadata": {}})
    err(r, 404, "not_found", "conference.join", "unknown socket_id")
    guest = world.live()
    r = world.call(None, "conference.join", {"hub_id": world.hub, "socket_id": bob.socket_id,
                                              "metadata": {}})
    err(r, 403, "WEAK_PRIVILEGE", "conference.join")
    bob.quiet()


# --- join, attendee, leave, update, broadcast ----------------------------------------------------

def test_join_creates_then_reuses_the_room_and_the_first_socket_hosts(world):
    a = world.live("alice")
    data = world.join("alice", a, echoId="e-1")
    room = data["details"]["room_id"]
    assert HEX32.match(room)
    assert data["echoId"] == "e-1"
    assert data["permission"] == OWNER
    assert data["configs"] == {}
    assert data["attendees"] == []
    assert data["user"] == record(world, "alice", a, "host", 1)
    details = data["details"]
    assert details["name"] == "Team meeting"
    assert details["hub_id"] == world.hub and details["type"] == "meeting"
    assert not any(k.startswith("pvt_") for k in details)

    b = world.live("bob")
    data = world.join("bob", b, echoId=7)
    assert data["details"]["room_id"] == room
    assert data["permission"] == READ
    assert data["user"] == record(world, "bob", b, "attendee", 2)
    assert data["attendees"] == [record(world, "alice", a, "host", 1)]
    m = a.expect("conference.join")
    assert m["model"] == dict(record(world, "bob", b, "attendee", 2), room_id=room,
                              hub_id=world.hub, type="conference.join")
    assert m["options"]["echoId"] == 7
    assert m["options"]["sender"] == sender(world, "bob", b)
    b.quiet()
    a.quiet()

    # Joining again from the same socket keeps its place and tells nobody.
    again = world.join("bob", b)
    assert again["user"]["participant_id"] == 2
    a.quiet()
    # Another kind of meeting is another room; a room_id names one.
    c = world.live("carol")
    other = world.join("carol", c, metadata={"type": "webinar"})
    assert other["details"]["room_id"] != room
    assert other["details"]["name"] == "Team webinar"
    assert other["user"]["role"] == "host"
    d = world.live("dave")
    named = world.join("dave", d, room_id=room, type="webinar")
    assert named["details"]["room_id"] == room
    assert [x["participant_id"] for x in named["attendees"]] == [1, 2]
    assert a.expect("conference.join")["model"]["uid"] == world.users["dave"]
    assert b.expect("conference.join")["model"]["uid"] == world.users["dave"]
    # A room of another hub is not found through this one.
    hub2 = world.new_hub("Other", {})
    r = world.call("alice", "conference.join", {"hub_id": hub2, "socket_id": a.socket_id,
                                                 "metadata": {}, "room_id": room})
    err(r, 404, "not_found", "conference.join", "the room is not in this hub")


def test_a_drumee_room_is_a_conference_for_the_other_faces(world):
    a, g = world.live("alice"), world.live()
    room = world.join("alice", a)["details"]["room_id"]
    data = world.join(None, g, guest_name="Visitor")
    assert data["user"] == {"socket_id": g.socket_id, "uid": "", "username": "Visitor",
                            "firstname": "Visitor", "lastname": "", "role": "attendee",
                            "participant_id": 2, "status": "started"}
    m = a.expect("conference.join")
    assert m["options"]["sender"] == {"socket_id": g.socket_id, "uid": "",
                                      "firstname": "Visitor", "lastname": "",
                                      "fullname": "Visitor"}
    parts = world.participants(room)
    assert [(p["participant_id"], p["is_moderator"], p["caller_id_name"]) for p in parts] == \
        [(1, True, "alice"), (2, False, "Visitor")]
    # Drumee attendees speak from the start.
    assert all(p["speak"] for p in parts)
    # A Kazoo mute reaches the Drumee sockets of the room.
    r = world.server.request(
        "PUT", f"/v2/accounts/{world.account_id}/conferences/{room}/participants/2",
        {"data": {"action": "mute"}}, token=world.token)
    assert r.status == 202, r
    for sock in (a, g):
        m = sock.expect("conference.attendee")
        assert m["model"]["event"] == "mute-member"
        assert m["model"]["speak"] is False and m["model"]["participant_id"] == 2
    # A guest socket that closes leaves the room.
    g.close()
    m = a.expect("conference.leave")
    assert m["model"]["reason"] == "disconnected" and m["model"]["socket_id"] == g.socket_id
    assert [p["participant_id"] for p in world.participants(room)] == [1]


def test_concurrent_first_joins_share_one_room(world):
    """Joins that all find no live room of their type while the first one is being stored end
    in that one room: the others wait for it instead of creating their own."""
    import threading
    socks = [world.live("bob") for _ in range(8)]
    results, barrier = [None] * len(socks), threading.Barrier(len(socks))

    def join(i):
        barrier.wait()
        results[i] = world.call("bob", "conference.join",
                                {"hub_id": world.hub, "socket_id": socks[i].socket_id,
                                 "metadata": {"type": "rush"}})

    threads = [threading.Thread(target=join, args=(i,)) for i in range(len(socks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rooms = {ok(r, "conference.join")["details"]["room_id"] for r in results}
    assert len(rooms) == 1, rooms
    room = rooms.pop()
    parts = world.participants(room)
    assert sorted(p["participant_id"] for p in parts) == list(range(1, len(socks) + 1))
    assert [p["is_moderator"] for p in parts].count(True) == 1
    r = world.server.request("GET", f"/v2/accounts/{world.account_id}/conferences",
                             token=world.token)
    assert [c["name"] for c in r.data].count("Team rush") == 1, r.data


def test_attendee(world):
    a, b = world.live("alice"), world.live("bob")
    room = world.join("alice", a)["details"]["room_id"]
    world.join("bob", b)
    want = dict(record(world, "bob", b, "attendee", 2), room_id=room)
    assert ok(world.call("alice", "conference.attendee", {"participant_id": b.socket_id}),
              "conference.attendee") == want
    assert ok(world.call(None, "conference.attendee", {"participant_id": 2, "room_id": room}),
              "conference.attendee") == want
    assert ok(world.call("dave", "conference.attendee",
                         {"participant_id": "2", "hub_id": world.hub}),
              "conference.attendee") == want
    r = world.call("alice", "conference.attendee", {"participant_id": "9", "room_id": room})
    err(r, 404, "not_found", "conference.attendee", "participant not found")


def test_leave_returns_peers_and_tells_the_others(world):
    a, b, c = world.live("alice"), world.live("bob"), world.live("carol")
    room = world.join("alice", a)["details"]["room_id"]
    world.join("bob", b)
    world.join("carol", c)
    a.drain(), b.drain()
    data = ok(world.call("bob", "conference.leave", {"room_id": room, "socket_id": b.socket_id}),
              "conference.leave")
    assert data == {"peers": [record(world, "alice", a, "host", 1),
                              record(world, "carol", c, "attendee", 3)]}
    for sock in (a, c):
        m = sock.expect("conference.leave")
        assert m["model"] == dict(record(world, "bob", b, "attendee", 2), room_id=room,
                                  hub_id=world.hub, reason="left", type="conference.leave")
        assert m["options"]["sender"] == sender(world, "bob", b)
    b.quiet()
    # Leaving again changes nothing.
    data = ok(world.call("bob", "conference.leave", {"room_id": room, "socket_id": b.socket_id}),
              "conference.leave")
    assert len(data["peers"]) == 2
    a.quiet()
    r = world.call("carol", "conference.leave", {"room_id": room, "socket_id": a.socket_id})
    err(r, 403, "WEAK_PRIVILEGE", "conference.leave")
    r = world.call("carol", "conference.leave", {"room_id": "0" * 32, "socket_id": c.socket_id})
    err(r, 404, "not_found", "conference.leave")


def test_update_tells_the_other_sockets_of_the_hub(world):
    a, b, c = world.live("alice"), world.live("bob"), world.live("carol")
    room = world.join("alice", a)["details"]["room_id"]
    world.join("bob", b)
    a.drain()
    data = ok(world.call("bob", "conference.update",
                         {"room_id": room, "socket_id": b.socket_id,
                          "metadata": {"audio": False}, "event": "mic"}), "conference.update")
    assert data["metadata"] == {"audio": False, "uid": world.users["bob"]}
    assert data["room_id"] == room and data["socket_id"] == b.socket_id
    assert data["event"] == "mic" and isinstance(data["timestamp"], int)
    # Alice (in the room) and Carol (of the hub, not in the room) hear it; Bob does not.
    for sock in (a, c):
        m = sock.expect("conference.update")
        assert m["model"] == dict(data, type="conference.update")
        assert m["options"]["sender"] == sender(world, "bob", b)
    b.quiet()
    # Someone else's socket: an empty answer, and nothing is sent.
    data = ok(world.call("carol", "conference.update",
                         {"room_id": room, "socket_id": b.socket_id, "metadata": {"x": 1}}),
              "conference.update")
    assert data == {}
    a.quiet(), b.quiet(), c.quiet()


def test_broadcast_reaches_the_hub_but_not_the_sender(world):
    a, b, c = world.live("alice"), world.live("bob"), world.live("carol")
    a2 = world.live("alice")
    outsider_hub = world.new_hub("Elsewhere", {}, default=0, owner="dave")
    d = world.live("dave")  # has the default privilege in the team hub: reached
    data = ok(world.call("bob", "conference.broadcast",
                         {"socket_id": b.socket_id, "event": "hand-up", "hub_id": world.hub,
                          "payload": {"hand": True}, "echoId": "x1"}), "conference.broadcast")
    assert data == {"payload": {"hand": True}, "echoId": "x1"}
    for sock in (a, a2, c, d):
        m = sock.expect("conference.broadcast")
        assert m["model"] == {"event": "hand-up", "payload": {"hand": True},
                              "hub_id": world.hub, "type": "conference.broadcast"}
        assert m["options"] == {"service": "conference.broadcast", "echoId": "x1",
                                "sender": sender(world, "bob", b)}
    b.quiet()
    # In a hub where only its owner has a privilege, nobody else hears.
    ok(world.call("dave", "conference.broadcast",
                  {"socket_id": d.socket_id, "event": "e", "payload": 1, "hub_id": outsider_hub}),
       "conference.broadcast")
    for sock in (a, b, c, d):
        sock.quiet()
    # Without hub_id, the hub of the room the socket is in.
    world.join("alice", a)
    ok(world.call("alice", "conference.broadcast",
                  {"socket_id": a.socket_id, "event": "e", "payload": [1, 2]}),
       "conference.broadcast")
    assert b.expect("conference.broadcast")["model"]["payload"] == [1, 2]
    r = world.call("bob", "conference.broadcast",
                   {"socket_id": b.socket_id, "event": "e", "payload": 1})
    err(r, 400, "MISSING_PARAM", "conference.broadcast", "hub_id is required")


# --- calls -------------------------------------------------------------------------------------

def test_invite_an_offline_user(world):
    a = world.live("alice")
    data = ok(world.call("alice", "conference.invite",
                         {"hub_id": world.hub, "guest_id": world.users["bob"],
                          "socket_id": a.socket_id, "metadata": {}}), "conference.invite")
    assert data == {"offline": 1, "uid": world.users["bob"]}
    r = world.call("alice", "conference.invite",
                   {"hub_id": world.hub, "guest_id": "0" * 32, "socket_id": a.socket_id,
                    "metadata": {}})
    err(r, 404, "not_found", "conference.invite")


def invite(world, who, sock, guest, **extra):
    params = {"hub_id": world.hub, "guest_id": world.users[guest], "socket_id": sock.socket_id,
              "metadata": {"topic": "hello"}}
    params.update(extra)
    return ok(world.call(who, "conference.invite", params), "conference.invite")


def test_invite_rings_and_accept_joins(world):
    a = world.live("alice")
    b1, b2 = world.live("bob"), world.live("bob")
    data = invite(world, "alice", a, "bob", echoId="call-1")
    room = data["room_id"]
    assert data == {"room_id": room, "nid": room, "echoId": "call-1"}
    for sock in (b1, b2):
        m = sock.expect("conference.invite")
        model = m["model"]
        assert model["room_id"] == room and model["nid"] == room
        assert model["caller"] == {"caller_id": a.socket_id, "uid": world.users["alice"],
                                   "username": "alice", "firstname": "Alice",
                                   "lastname": "Doe", "extension": ""}
        assert model["callee_id"] == world.users["bob"]
        assert model["metadata"] == {"topic": "hello", "uid": world.users["alice"]}
        assert m["options"]["echoId"] == "call-1"
        assert m["options"]["sender"] == sender(world, "alice", a)
    a.quiet()
    # The caller is in the new room, as its host.
    parts = world.participants(room)
    assert [(p["participant_id"], p["is_moderator"]) for p in parts] == [(1, True)]

    caller = {"caller_id": a.socket_id, "uid": world.users["alice"]}
    data = ok(world.call("bob", "conference.accept",
                         {"caller": caller, "socket_id": b1.socket_id}), "conference.accept")
    assert data == {"caller": caller}
    for sock in (a, b2):
        m = sock.expect("conference.accept")
        assert m["model"]["room_id"] == room
        assert m["model"]["socket_id"] == b1.socket_id
        assert m["model"]["attendee"] == record(world, "bob", b1, "attendee", 2)
        assert m["options"]["sender"] == sender(world, "bob", b1)
        sock.quiet()
    b1.quiet()
    assert [p["participant_id"] for p in world.participants(room)] == [1, 2]
    # Nothing rings any more.
    r = world.call("bob", "conference.accept", {"caller": caller, "socket_id": b2.socket_id})
    err(r, 404, "not_found", "conference.accept", "no call is ringing for you")


def test_a_third_party_in_the_room_hears_of_the_accept(world):
    a, c, b = world.live("alice"), world.live("carol"), world.live("bob")
    room = invite(world, "alice", a, "bob")["room_id"]
    world.join("carol", c, room_id=room)
    a.expect("conference.join")
    b.expect("conference.invite")
    ok(world.call("bob", "conference.accept", {"caller": {"caller_id": a.socket_id},
                                                "socket_id": b.socket_id}), "conference.accept")
    assert a.expect("conference.accept")["model"]["callee_id"] == world.users["bob"]
    m = c.expect("conference.accept")
    assert m["model"] == dict(record(world, "bob", b, "attendee", 3), room_id=room,
                              hub_id=world.hub, type="conference.accept")
    a.quiet(), b.quiet(), c.quiet()


def test_decline_tells_the_caller(world):
    a = world.live("alice")
    b1, b2 = world.live("bob"), world.live("bob")
    room = invite(world, "alice", a, "bob")["room_id"]
    b1.expect("conference.invite"), b2.expect("conference.invite")
    caller = {"caller_id": a.socket_id}
    data = ok(world.call("bob", "conference.decline",
                         {"caller": caller, "socket_id": b1.socket_id}), "conference.decline")
    assert data == {"caller": caller}
    m = a.expect("conference.decline")
    assert m["model"]["room_id"] == room and m["model"]["callee_id"] == world.users["bob"]
    assert m["options"]["sender"] == sender(world, "bob", b1)
    assert b2.expect("conference.decline")["model"]["room_id"] == room
    b1.quiet(), a.quiet()
    r = world.call("bob", "conference.decline", {"caller": caller})
    err(r, 404, "not_found", "conference.decline")


def test_crossed_calls_end_in_one_room(world):
    a, c = world.live("alice"), world.live("carol")
    first = invite(world, "alice", a, "carol")
    c.expect("conference.invite")
    # Carol calls Alice back before answering: she joins Alice's room instead of ringing her.
    data = invite(world, "carol", c, "alice")
    assert data == {"room_id": first["room_id"], "nid": first["room_id"], "cross_call": 1}
    m = a.expect("conference.accept")
    assert m["model"]["socket_id"] == c.socket_id
    a.quiet(), c.quiet()
    parts = world.participants(first["room_id"])
    assert [p["participant_id"] for p in parts] == [1, 2]


def test_crossed_call_window_is_five_seconds(world):
    a, c = world.live("alice"), world.live("carol")
    first = invite(world, "alice", a, "carol")
    c.expect("conference.invite")
    time.sleep(5.2)
    data = invite(world, "carol", c, "alice")
    assert "cross_call" not in data and data["room_id"] != first["room_id"]
    assert a.expect("conference.invite")["model"]["room_id"] == data["room_id"]


def test_get_caller_then_cancel(world):
    a, c, b = world.live("alice"), world.live("carol"), world.live("bob")
    room = invite(world, "alice", a, "carol")["room_id"]
    world.join("bob", b, room_id=room)
    data = ok(world.call("carol", "conference.get_caller", {"guest_id": world.users["alice"]}),
              "conference.get_caller")
    assert data == {"uid": world.users["alice"], "username": "alice", "firstname": "Alice",
                    "lastname": "Doe", "fullname": "Alice Doe", "hub_id": world.hub,
                    "room_id": room, "nid": room, "caller_id": a.socket_id,
                    "metadata": {"topic": "hello", "uid": world.users["alice"]}}
    c.drain(), a.drain()
    data = ok(world.call("alice", "conference.cancel", {"room_id": room, "socket_id": a.socket_id}),
              "conference.cancel")
    assert data == {}
    for sock in (b, c):
        m = sock.expect("conference.cancel")
        assert m["model"]["room_id"] == room
        assert m["options"]["sender"] == sender(world, "alice", a)
        sock.quiet()
    a.quiet()
    assert world.participants(room) == []
    data = ok(world.call("carol", "conference.get_caller",
                         {"guest_id": world.users["alice"], "hub_id": world.hub}),
              "conference.get_caller")
    assert data == {}
    r = world.call("carol", "conference.get_caller", {"guest_id": world.users["alice"]})
    err(r, 400, "MISSING_PARAM", "conference.get_caller", "hub_id is required")


def test_cancel_needs_a_place_in_the_room(world):
    a, c = world.live("alice"), world.live("carol")
    room = world.join("alice", a)["details"]["room_id"]
    r = world.call("carol", "conference.cancel", {"room_id": room, "socket_id": c.socket_id})
    err(r, 403, "NotAMember", "conference.cancel")


def test_revoke_takes_the_callee_out_and_logs_the_call(world):
    a, c = world.live("alice"), world.live("carol")
    room = invite(world, "alice", a, "carol")["room_id"]
    c.expect("conference.invite")
    ok(world.call("carol", "conference.accept", {"caller": {"caller_id": a.socket_id},
                                                  "socket_id": c.socket_id}),
       "conference.accept")
    a.expect("conference.accept")
    carol = world.users["carol"]
    data = ok(world.call("alice", "conference.revoke",
                         {"hub_id": world.hub, "socket_id": a.socket_id,
                          "callee": {"drumate_id": carol, "entity_id": carol,
                                     "contact_id": "k"}}), "conference.revoke")
    assert data == {"room_id": room}
    got = {m["service"]: m for m in c.drain()}
    assert set(got) == {"conference.revoke", "chat.post"}
    assert got["conference.revoke"]["model"]["room_id"] == room
    assert got["chat.post"]["model"]["metadata"]["call_status"] == "cancel"
    got = {m["service"]: m for m in a.drain()}
    assert set(got) == {"conference.leave", "chat.post"}
    assert got["conference.leave"]["model"]["reason"] == "revoked"
    assert [p["participant_id"] for p in world.participants(room)] == [1]
    mine = world.messages("alice", f"dm:{world.users['alice']}:{carol}")
    assert [(m["kind"], m["metadata"]["call_status"], m["metadata"]["role"]) for m in mine] == \
        [("call", "cancel", "caller")]
    theirs = world.messages("carol", f"dm:{carol}:{world.users['alice']}")
    assert theirs[0]["metadata"]["role"] == "callee"
    # Revoking someone who is neither in the room nor called.
    r = world.call("alice", "conference.revoke",
                   {"hub_id": world.hub, "socket_id": a.socket_id, "room_id": room,
                    "callee": {"drumate_id": world.users["dave"]}})
    err(r, 404, "not_found", "conference.revoke")


def test_log_call_writes_both_sides_and_tells_both(world):
    a, c = world.live("alice"), world.live("carol")
    callee = {"entity_id": world.users["carol"], "contact_id": "contact-9"}
    data = ok(world.call("alice", "conference.logCall",
                         {"callee": callee, "event": "leave", "duration": 42,
                          "hub_id": world.hub}), "conference.logCall")
    assert data == {"callee": callee}
    alice, carol = world.users["alice"], world.users["carol"]
    for sock, owner, peer, role in ((a, alice, carol, "caller"), (c, carol, alice, "callee")):
        m = sock.expect("chat.post")
        model = m["model"]
        assert model["room_id"] == f"dm:{owner}:{peer}"
        assert model["kind"] == "call" and model["author_id"] == alice
        assert model["metadata"] == {"message_type": "call", "call_status": "leave",
                                     "duration": 42, "role": role}
        assert m["options"]["sender"]["uid"] == alice
        sock.quiet()
        history = world.messages("alice" if owner == alice else "carol", f"dm:{owner}:{peer}")
        assert [(h["seq"], h["kind"], h["body"], h["metadata"]["role"]) for h in history] == \
            [(1, "call", "call", role)]
    # Someone else's channel is not readable.
    r = world.call("carol", "chat.messages", {"room_id": f"dm:{alice}:{carol}"})
    err(r, 403, "WEAK_PRIVILEGE", "chat.messages")


@pytest.mark.parametrize("event", ["accept", "ring", "join"])
def test_log_call_of_other_events_writes_nothing(world, event):
    a, c = world.live("alice"), world.live("carol")
    callee = {"entity_id": world.users["carol"], "contact_id": "x"}
    data = ok(world.call("alice", "conference.logCall",
                         {"callee": callee, "event": event, "hub_id": world.hub}),
              "conference.logCall")
    assert data == {"callee": callee}
    a.quiet(), c.quiet()
    assert world.messages("alice", f"dm:{world.users['alice']}:{world.users['carol']}") == []


@pytest.mark.parametrize("event", ["cancel", "reject", "decline"])
def test_log_call_logged_events(world, event):
    callee = {"entity_id": world.users["bob"]}
    ok(world.call("carol", "conference.logCall",
                  {"callee": callee, "event": event, "duration": "7", "hub_id": world.hub}),
       "conference.logCall")
    msgs = world.messages("bob", f"dm:{world.users['bob']}:{world.users['carol']}")
    assert [(m["metadata"]["call_status"], m["metadata"]["duration"], m["metadata"]["role"])
            for m in msgs] == [(event, 7, "callee")]


# --- chat extension, parameters ----------------------------------------------------------------

def test_chat_post_to_a_room_and_to_a_peer(world):
    a, b = world.live("alice"), world.live("bob")
    room = world.join("alice", a)["details"]["room_id"]
    world.join("bob", b)
    a.drain()
    msg = ok(world.call("bob", "chat.post", {"room_id": room, "message": "hi all"}), "chat.post")
    assert msg["room_id"] == room and msg["body"] == "hi all" and msg["seq"] == 1
    assert msg["author_id"] == world.users["bob"] and msg["author_name"] == "Bob Doe"
    for sock in (a, b):
        assert sock.expect("chat.post")["model"] == dict(msg, type="chat.post")
    d = ok(world.call("alice", "chat.post", {"peer_id": world.users["dave"], "message": "psst"}),
           "chat.post")
    assert d["room_id"] == f"dm:{world.users['alice']}:{world.users['dave']}"
    assert a.expect("chat.post")["model"]["owner_id"] == world.users["alice"]
    b.quiet()
    page = ok(world.call("dave", "chat.messages",
                         {"peer_id": world.users["alice"], "limit": 10}), "chat.messages")
    assert [m["body"] for m in page["messages"]] == ["psst"]
    assert [m["body"] for m in world.messages("carol", room)] == ["hi all"]
    r = world.call(None, "chat.post", {"room_id": room, "message": "x"})
    err(r, 401, "unauthorized", "chat.post")
    r = world.call("carol", "chat.post", {"room_id": room, "message": "x"})
    err(r, 403, "NotAMember", "chat.post")
    r = world.call("bob", "chat.post", {"room_id": room})
    err(r, 400, "MISSING_PARAM", "chat.post", "message is required")
    r = world.call("bob", "chat.nope", {})
    err(r, 404, "SERVICE_NOT_FOUND:chat.nope", "chat.nope")


def test_parameters_from_query_string_form_and_cookie(world):
    a = world.live("alice")
    # Query string only (GET), with the metadata object as JSON text and the token as a param.
    r = svc(world.server, "conference.join", method="GET",
            query={"hub_id": world.hub, "socket_id": a.socket_id,
                   "metadata": json.dumps({"type": "standup"}),
                   "token": world.tokens["alice"]})
    data = ok(r, "conference.join")
    assert data["details"]["type"] == "standup"
    # The body wins over the query string.
    r = svc(world.server, "conference.attendee", {"participant_id": a.socket_id},
            query={"participant_id": "nobody"}, token=world.tokens["bob"])
    assert ok(r, "conference.attendee")["uid"] == world.users["alice"]
    # A form body, and the regsid cookie.
    body = urllib.parse.urlencode({"participant_id": a.socket_id}).encode()
    r = world.server.request("POST", "/-/svc/conference.attendee", raw=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                      "Cookie": f"lang=en; regsid={world.tokens['bob']}"})
    assert ok(r, "conference.attendee")["participant_id"] == 1
    r = world.server.request("POST", "/-/svc/conference.attendee", raw=b"{not json",
                             headers={"Content-Type": "application/json"})
    err(r, 400, "parse_error", "conference.attendee")


def test_invite_into_an_existing_room(world):
    a, c, b = world.live("alice"), world.live("carol"), world.live("bob")
    room = world.join("alice", a)["details"]["room_id"]
    world.join("carol", c)
    a.drain()
    # Carol (owner privilege, an attendee of Alice's room) calls Bob into it.
    data = invite(world, "carol", c, "bob", room_id=room)
    assert data == {"room_id": room, "nid": room}
    assert b.expect("conference.invite")["model"]["room_id"] == room
    ok(world.call("bob", "conference.accept", {"caller": {"caller_id": c.socket_id},
                                                "socket_id": b.socket_id}), "conference.accept")
    assert c.expect("conference.accept")["model"]["socket_id"] == b.socket_id
    assert a.expect("conference.accept")["model"]["uid"] == world.users["bob"]
    assert [p["participant_id"] for p in world.participants(room)] == [1, 2, 3]
    r = world.call("carol", "conference.invite",
                   {"hub_id": world.hub, "guest_id": world.users["bob"], "metadata": {},
                    "socket_id": c.socket_id, "room_id": "0" * 32})
    err(r, 404, "not_found", "conference.invite")


def test_the_service_param_renames_call_and_join_notifications_only(world):
    a, b = world.live("alice"), world.live("bob")
    room = world.join("alice", a)["details"]["room_id"]
    world.join("bob", b, service="conference.accept")
    m = a.expect("conference.accept")
    assert m["model"]["uid"] == world.users["bob"] and m["model"]["room_id"] == room
    # Not for broadcast: its model is the caller's own.
    ok(world.call("bob", "conference.broadcast",
                  {"socket_id": b.socket_id, "event": "e", "payload": {}, "hub_id": world.hub,
                   "service": "conference.cancel"}), "conference.broadcast")
    a.expect("conference.broadcast")
    # Nor outside the conference namespace.
    c = world.live("carol")
    world.join("carol", c, service="chat.post")
    a.expect("conference.join")


def test_a_guest_socket_in_two_accounts_leaves_both_rooms_on_close(world, server):
    a = world.live("alice")
    g = world.live()
    room = world.join("alice", a)["details"]["room_id"]
    world.join(None, g)
    a.expect("conference.join")
    other_id, other_token = server.new_account("other")
    r = server.request("PUT", f"/v2/accounts/{other_id}/users",
                       {"data": {"username": "olga", "first_name": "Olga", "last_name": "K"}},
                       token=other_token)
    olga = r.data["id"]
    r = server.request("PUT", f"/v2/accounts/{other_id}/hubs",
                       {"data": {"name": "Theirs", "owner_id": olga}}, token=other_token)
    assert r.status == 201, r
    data = ok(world.call(None, "conference.join",
                         {"hub_id": r.data["id"], "socket_id": g.socket_id, "metadata": {}}),
              "conference.join")
    theirs = data["details"]["room_id"]
    r = server.request("GET", f"/v2/accounts/{other_id}/conferences/{theirs}/participants",
                       token=other_token)
    assert [p["participant_id"] for p in r.data] == [1]
    # Closing the socket takes it out of both rooms, each in its own account.
    g.close()
    m = a.expect("conference.leave")
    assert m["model"]["reason"] == "disconnected" and m["model"]["socket_id"] == g.socket_id
    assert [p["participant_id"] for p in world.participants(room)] == [1]
    r = server.request("GET", f"/v2/accounts/{other_id}/conferences/{theirs}/participants",
                       token=other_token)
    assert r.data == []


def test_numeric_participant_ids_are_per_room(world):
    a, c = world.live("alice"), world.live("carol")
    world.join("alice", a)
    world.join("carol", c, type="other")
    r = world.call("alice", "conference.attendee", {"participant_id": "1", "hub_id": world.hub})
    err(r, 404, "not_found", "conference.attendee")
    r = world.call("alice", "conference.attendee",
                   {"participant_id": "99999999999999999999", "hub_id": world.hub})
    err(r, 404, "not_found", "conference.attendee")


def test_a_kazoo_kick_is_told_to_the_kicked_socket_and_the_room(world):
    a, b = world.live("alice"), world.live("bob")
    room = world.join("alice", a)["details"]["room_id"]
    world.join("bob", b)
    a.expect("conference.join")
    r = world.server.request(
        "PUT", f"/v2/accounts/{world.account_id}/conferences/{room}/participants/2",
        {"data": {"action": "kick"}}, token=world.token)
    assert r.status == 202, r
    for sock in (a, b):
        m = sock.expect("conference.leave")
        assert m["model"]["reason"] == "kicked" and m["model"]["socket_id"] == b.socket_id
        sock.quiet()
    # The caller of a ringing call hangs up by closing its socket: the callee stops ringing.
    c = world.live("carol")
    invite(world, "alice", a, "carol")
    c.expect("conference.invite")
    a.close()
    m = c.expect("conference.cancel")
    assert m["model"]["caller"]["caller_id"] == a.socket_id
    assert m["options"]["echoId"] is None
    assert m["options"]["sender"] == sender(world, "alice", a)


def test_conferences_outside_hubs_are_not_drumee_rooms(world):
    r = world.server.request("PUT", f"/v2/accounts/{world.account_id}/conferences",
                             {"data": {"name": "Phone bridge"}}, token=world.token)
    assert r.status == 201, r
    conf = r.data["id"]
    a = world.live("alice")
    for name, params in [("leave", {"room_id": conf, "socket_id": a.socket_id}),
                         ("cancel", {"room_id": conf, "socket_id": a.socket_id,
                                     "hub_id": world.hub}),
                         ("update", {"room_id": conf, "socket_id": a.socket_id,
                                     "metadata": {}, "hub_id": world.hub})]:
        r = world.call("alice", f"conference.{name}", params)
        err(r, 404, "not_found", f"conference.{name}", "the room is not in a hub")
    r = world.call("alice", "conference.join", {"hub_id": world.hub, "socket_id": a.socket_id,
                                                 "metadata": {}, "room_id": conf})
    err(r, 404, "not_found", "conference.join", "the room is not in this hub")


BAD_TYPES = [
    ("join", {"socket_id": {"a": 1}, "metadata": {}, "hub_id": "h"}, "socket_id"),
    ("join", {"socket_id": "s", "metadata": 5, "hub_id": "h"}, "metadata"),
    ("join", {"socket_id": "s", "metadata": {"type": ["x"]}, "hub_id": "h"}, "metadata.type"),
    ("invite", {"hub_id": "h", "guest_id": "g", "socket_id": "s", "metadata": {"type": {}}},
     "metadata.type"),
    ("accept", {"caller": [1], "socket_id": "s"}, "caller"),
    ("accept", {"caller": {"caller_id": True}, "socket_id": "s"}, "caller.caller_id"),
    ("logCall", {"callee": {"entity_id": "x"}, "event": "leave", "duration": "abc"},
     "duration"),
    ("logCall", {"callee": {"entity_id": "x"}, "event": "leave", "duration": [1]}, "duration"),
    ("attendee", {"participant_id": 1.5}, "participant_id"),
    ("revoke", {"hub_id": "h", "callee": {"drumate_id": {}}, "socket_id": "s"},
     "callee.drumate_id"),
]


@pytest.mark.parametrize("name,params,field", BAD_TYPES)
def test_wrong_types_are_400_naming_the_field(world, name, params, field):
    r = world.call("alice", f"conference.{name}", params)
    j = err(r, 400, "invalid_data", f"conference.{name}")
    assert list(j["details"]) == [field], r

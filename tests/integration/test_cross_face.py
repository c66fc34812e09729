"""One scenario through every face at once: a change made through one face is seen, correctly
rendered, by the subscribers of the others.

The faces: Kazoo REST and the Kazoo event WebSocket (/v2/websocket), XiVO's CTI socket
(/xuc/api/2.0/cti), Drumee's services (/-/svc/...) and live socket (/-/websocket), and
Userplane's room list (/v1/conference.json, polled over HTTP).

One module-scoped world runs the real confab binary; the steps below are separate tests that run
in file order and share it (pytest keeps definition order):

  1. set-up through Kazoo REST: an account (its API key kept for Userplane), users alice (1001)
     and bob (1002), a hub owned by alice where bob may read, and a conference "4000" of that hub
     (moderator PIN 9999, members join unmuted, alice affiliated owner);
  2. subscribers: a Kazoo event socket on conference.event.{C}.*, alice's CTI socket (after
     getList), bob's Drumee live socket; Userplane is polled;
  3. alice joins through Kazoo REST (her extension and the moderator PIN);
  4. bob joins through Drumee conference.join;
  5. alice mutes bob through the CTI;
  6. Kazoo REST unmutes bob;
  7. bob posts in the room's chat through Drumee chat.post;
  8. Kazoo REST kicks bob;
  9. alice leaves through Kazoo REST: the room ends.

Two checks stand beside the steps: 4b, the Drumee join answer does not hand the room's PINs
(set through Kazoo) to attendees; 7b, the CTI answers conferenceChatHistory in frame order.

Every face is told of every change through its own wire format, and each step checks that every
subscriber got exactly what it should and nothing more. The server runs one control thread and a
socket's frames leave in order, so once a request has been answered a ping on a socket is
answered only after every event that request produced for it: each socket's ping is used as a
barrier (Kazoo `ping`, CTI `{"claz": "ping"}`, Drumee `x.ping`), and every wait is bounded.
"""
import base64
import datetime
import hashlib
import json
import re
import time
import urllib.parse

import pytest

from conftest import Server, ws_connect

RECV_TIMEOUT = 5  # seconds; every wait on a socket is bounded by this
GREGORIAN_OFFSET = 62167219200  # seconds from year 0 to 1970 (Kazoo timestamps)
XUC = "/xuc/api/2.0"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

ACCOUNT_NAME = "crossco"
CONF_NAME = "Cross faces"
NUMBER = "4000"
MOD_PIN = "9999"
PASSWORD = "cross-pass-1"
USERS = {"alice": ("1001", "Alice", "Liddell"), "bob": ("1002", "Bob", "Morane")}
READ = 3  # Drumee privilege: bob may join and read in alice's hub
OWNER = 63
CHAT_TEXT = "hello from drumee"

EVENT_KEYS = {"action", "subscribed_key", "subscription_key", "name", "routing_key", "data"}
CTI_PARTICIPANT_KEYS = {"index", "callerIdName", "callerIdNum", "since", "isTalking", "role",
                        "isMuted", "isMe", "username", "isDeaf"}
CTI_PARTICIPANT_EVENT_KEYS = CTI_PARTICIPANT_KEYS | {"eventType", "uniqueId", "conferenceNumber",
                                                     "conferenceName"}
UP_ROOM_KEYS = {"roomId", "name", "admins", "creationDate", "description", "maxUsers", "members",
                "moderators", "modificationDate", "occupants", "outcasts", "owners",
                "participants", "subject", "visitors"}


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def parse_iso(s):
    assert ISO_MS.match(s), s
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


# --- Kazoo event socket ---------------------------------------------------------------------------

class KazooWs:
    """A blackhole socket: replies matched by request_id, events queued in arrival order."""

    def __init__(self, server, token):
        import websocket
        self.timeout_exc = websocket.WebSocketTimeoutException
        self.ws = ws_connect(server, timeout=RECV_TIMEOUT)
        self.token = token
        self.events = []
        self.seq = 0

    def recv(self, timeout):
        self.ws.settimeout(timeout)
        try:
            raw = self.ws.recv()
        except self.timeout_exc:
            raise AssertionError(f"Kazoo socket: nothing received within {timeout:.1f} s") from None
        assert raw, "the server closed the Kazoo socket"
        return json.loads(raw)

    def call(self, action, data=None):
        self.seq += 1
        rid = f"req-{self.seq}"
        msg = {"action": action, "request_id": rid, "auth_token": self.token}
        if data is not None:
            msg["data"] = data
        self.ws.send(json.dumps(msg))
        deadline = time.time() + RECV_TIMEOUT
        while True:
            m = self.recv(max(0.1, deadline - time.time()))
            if m.get("action") == "event":
                self.events.append(m)
                continue
            assert m.get("action") == "reply", m
            if m.get("request_id") == rid:
                return m

    def sync(self):
        """Every event delivered before the pong (see the module doc)."""
        r = self.call("ping")
        assert r["status"] == "success" and r["data"] == {"response": "pong"}, r
        out, self.events = self.events, []
        return out

    def close(self):
        try:
            self.ws.close(timeout=2)
        except Exception:
            pass


def names(events):
    return [e["name"] for e in events]


def kz_common(d, w):
    assert d["conference_id"] == w.conf
    assert d["account_id"] == w.acct
    assert d["conference_name"] == CONF_NAME
    assert d["event_category"] == "conference"
    assert isinstance(d["focus"], str) and d["focus"] and d["node"] == d["focus"]
    assert re.fullmatch(r"[0-9a-f]{16}", d["msg_id"]), d["msg_id"]
    assert isinstance(d["app_name"], str) and d["app_name"]
    assert isinstance(d["app_version"], str) and d["app_version"]
    now = int(time.time()) + GREGORIAN_OFFSET
    assert now - 60 <= d["timestamp"] <= now + 5, d["timestamp"]


def kz_participant_event(ev, w, name, p, *, speak, hear, reason=None):
    """One participant event of the Kazoo socket against `p`, the participant as Kazoo REST
    renders it (a join answer or GET .../participants/{id})."""
    assert set(ev) == EVENT_KEYS, ev
    assert ev["action"] == "event" and ev["name"] == name, ev
    assert ev["subscribed_key"] == w.binding, ev
    assert ev["subscription_key"] == f"conference.event.*.{w.acct}.{w.conf}.*", ev
    assert ev["routing_key"] == f"conference.event.{name}.{w.acct}.{w.conf}.{p['call_id']}", ev
    d = ev["data"]
    kz_common(d, w)
    assert d["event"] == name
    assert d["event_name"] == "participant_event" and d["routing_key"] == "participant_event"
    assert d["custom_channel_vars"] == {"account_id": w.acct}, d
    assert d["instance_id"] == p["conference_uuid"]
    assert d["focus"] == p["switch_hostname"]
    for k in ("participant_id", "call_id", "caller_id_name", "caller_id_number", "join_time"):
        assert d[k] == p[k], (k, d, p)
    assert d["is_moderator"] is p["is_moderator"], d
    assert (d["speak"], d["hear"]) == (speak, hear), d
    assert (d["talking"], d["floor"], d["mute_detect"], d["video"]) == (False,) * 4, d
    assert (d["energy_level"], d["current_energy"]) == (20, 0), d
    assert isinstance(d["duration"], int) and 0 <= d["duration"] <= 60, d
    if reason is None:
        assert "reason" not in d, d
    else:
        assert d["reason"] == reason, d


def kz_conference_event(ev, w, name, instance_id):
    assert set(ev) == EVENT_KEYS, ev
    assert ev["action"] == "event" and ev["name"] == name, ev
    assert ev["subscribed_key"] == w.binding
    assert ev["subscription_key"] == f"conference.event.*.{w.acct}.{w.conf}.*", ev
    assert ev["routing_key"] == f"conference.event.{name}.{w.acct}.{w.conf}", ev
    d = ev["data"]
    kz_common(d, w)
    assert d["event"] == name
    assert d["event_name"] == "conference_event" and d["routing_key"] == "conference_event"
    for absent in ("call_id", "participant_id", "speak", "hear", "custom_channel_vars", "reason"):
        assert absent not in d, (absent, d)
    assert d["instance_id"] == instance_id, d


# --- XiVO CTI socket -----------------------------------------------------------------------------

class Cti:
    """A CTI socket; connecting sends a ping and reads LoggedOn, then Pong (docs/api/xivo.md)."""

    def __init__(self, server, token):
        import websocket
        self.timeout_exc = websocket.WebSocketTimeoutException
        self.ws = ws_connect(server, f"{XUC}/cti?token={token}", timeout=RECV_TIMEOUT)
        self.raw({"claz": "ping"})
        self.logged_on = self.recv()
        assert self.logged_on["msgType"] == "LoggedOn", self.logged_on
        assert self.recv() == {"msgType": "Pong", "ctiMessage": {}}

    def raw(self, msg):
        self.ws.send(json.dumps(msg))

    def send(self, command, **args):
        self.raw({"claz": "web", "command": command, **args})

    def recv(self, timeout=RECV_TIMEOUT):
        self.ws.settimeout(timeout)
        try:
            raw = self.ws.recv()
        except self.timeout_exc:
            raise AssertionError(f"CTI socket: nothing received within {timeout} s") from None
        assert raw, "the server closed the CTI socket"
        return json.loads(raw)

    def sync(self):
        """Everything delivered before a ping's Pong."""
        self.raw({"claz": "ping"})
        out = []
        for _ in range(200):
            m = self.recv()
            if m == {"msgType": "Pong", "ctiMessage": {}}:
                return out
            out.append(m)
        raise AssertionError("CTI: no Pong after 200 frames")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def split_lists(msgs):
    """(the messages that are not ConferenceList, the ConferenceList bodies), in order."""
    return ([m for m in msgs if m["msgType"] != "ConferenceList"],
            [m["ctiMessage"] for m in msgs if m["msgType"] == "ConferenceList"])


def cti_participant(p, *, index, name, num, username, role, muted, me, uptime=(0, 30)):
    assert set(p) == CTI_PARTICIPANT_KEYS, p
    assert (p["index"], p["callerIdName"], p["callerIdNum"], p["username"]) == (
        index, name, num, username), p
    assert (p["role"], p["isMuted"], p["isMe"], p["isDeaf"], p["isTalking"]) == (
        role, muted, me, False, False), p
    assert isinstance(p["since"], int) and uptime[0] <= p["since"] <= uptime[1], p


def cti_participant_event(ev, event_type, unique_id, **participant):
    assert set(ev) == CTI_PARTICIPANT_EVENT_KEYS, ev
    assert (ev["eventType"], ev["uniqueId"], ev["conferenceNumber"], ev["conferenceName"]) == (
        event_type, unique_id, NUMBER, CONF_NAME), ev
    cti_participant({k: ev[k] for k in CTI_PARTICIPANT_KEYS}, **participant)


# --- Drumee --------------------------------------------------------------------------------------

class Live:
    """A Drumee live socket. Its first frame opens the conversation: sys.hello, then sys.ping."""

    def __init__(self, server, token):
        import websocket
        self.timeout_exc = websocket.WebSocketTimeoutException
        self.ws = ws_connect(server, "/-/websocket?" + urllib.parse.urlencode({"token": token}),
                             timeout=RECV_TIMEOUT)
        self.ws.send(json.dumps({"service": "x.ping"}))
        self.hello = self.recv()
        assert self.hello["service"] == "sys.hello", self.hello
        self.socket_id = self.hello["data"]["socket_id"]
        assert self.recv() == {"service": "sys.ping", "data": {"ok": 1}}

    def recv(self, timeout=RECV_TIMEOUT):
        self.ws.settimeout(timeout)
        try:
            raw = self.ws.recv()
        except self.timeout_exc:
            raise AssertionError(f"Drumee socket: nothing received within {timeout} s") from None
        assert raw, "the server closed the Drumee socket"
        return json.loads(raw)

    def drain(self):
        """Every notification received before a ping's answer."""
        self.ws.send(json.dumps({"service": "x.ping"}))
        out = []
        for _ in range(200):
            m = self.recv()
            if m["service"] == "sys.ping":
                return out
            out.append(m)
        raise AssertionError("Drumee: no sys.ping after 200 frames")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def drumee_ok(r, ack):
    assert r.status == 200, r
    j = r.json
    assert (j["__ack__"], j["__status__"]) == (ack, "ok"), r
    assert isinstance(j["__timestamp__"], int) and j["__timestamp__"] > 1_600_000_000_000, r
    return j["data"]


def notification(m, service):
    assert set(m) == {"service", "model", "options"}, m
    assert m["service"] == service, m
    assert m["model"]["type"] == service, m
    assert set(m["options"]) == {"service", "echoId", "sender"}, m
    assert m["options"]["service"] == service and m["options"]["echoId"] is None, m
    assert set(m["options"]["sender"]) == {"socket_id", "uid", "firstname", "lastname",
                                           "fullname"}, m
    return m["model"]


# --- the world -----------------------------------------------------------------------------------

class World:
    """The server, the ids made in step 1 and the subscribers of step 2."""

    def __init__(self, server):
        self.s = server
        self.kz = self.cti = self.live = None
        self.p = {}  # username -> the participant as Kazoo REST rendered it

    def rest(self, method, path, body=None, expect=None):
        r = self.s.request(method, f"/v2/accounts/{self.acct}{path}", body, token=self.token)
        if expect is not None:
            assert r.status == expect, f"{method} {path} {body!r} -> {r!r}"
        return r

    def participant(self, pid):
        return self.rest("GET", f"/conferences/{self.conf}/participants/{pid}", None, 200).data

    def participants(self):
        return self.rest("GET", f"/conferences/{self.conf}/participants", None, 200).data

    def svc(self, who, name, params):
        return self.s.request("POST", f"/-/svc/{name}", params, token=self.drumee_tokens[who])

    def userplane_room(self):
        """The room as Userplane lists it (the whole list is read: it holds just this room)."""
        creds = base64.b64encode(f"{self.acct}:{self.api_key}".encode()).decode()
        r = self.s.request("GET", "/v1/conference.json",
                           headers={"Authorization": "Basic " + creds})
        assert r.status == 200, r
        j = r.json
        assert (j["result"], j["resultCode"], j["message"], j["error"]) == (
            "Success", 200, "", []), r
        rooms = j["data"]["rooms"]
        assert [x["roomId"] for x in rooms] == [f"{self.conf}|{self.acct}"], rooms
        return rooms[0]

    def check_userplane(self, *, occupants, moderators, participants, empty):
        room = self.userplane_room()
        assert set(room) == UP_ROOM_KEYS | ({"emptyDate"} if empty else set()), room
        assert room["name"] == CONF_NAME
        assert room["description"] == room["roomId"] and room["subject"] == ""
        assert room["maxUsers"] == 0
        # Affiliations are configuration: alice is the one owner whoever is in.
        assert (room["owners"], room["admins"], room["members"], room["outcasts"]) == (
            1, 0, 0, 0), room
        assert (room["occupants"], room["moderators"], room["participants"],
                room["visitors"]) == (occupants, moderators, participants, 0), room
        return room

    def settle(self):
        """Drains every subscriber before a step, so that a failed step does not leave its
        frames to the next one (a passing step ends with every subscriber checked quiet)."""
        for sock in (self.kz, self.cti, self.live):
            if sock is not None:
                sock.sync() if not isinstance(sock, Live) else sock.drain()

    def close(self):
        for sock in (self.kz, self.cti, self.live):
            if sock is not None:
                sock.close()


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("cross_face") / "var").start()
    world = World(server)
    yield world
    world.close()
    code = server.stop()
    assert code == 0, "confab did not exit cleanly on SIGTERM:\n" + "".join(server.log_lines[-50:])


def need(w, *attrs):
    """Skips a step whose prerequisites an earlier failed step did not make."""
    for a in attrs:
        if a.startswith("p:"):
            if a[2:] not in w.p:
                pytest.skip(f"an earlier step failed: no participant {a[2:]}")
        elif getattr(w, a, None) is None:
            pytest.skip(f"an earlier step failed: no {a}")


# --- the scenario --------------------------------------------------------------------------------

def test_1_setup_through_kazoo_rest(w):
    s = w.s
    r = s.request("PUT", "/v2/accounts", {"data": {"name": ACCOUNT_NAME}}, token=s.admin_token())
    assert r.status == 201, r
    w.acct, w.api_key = r.data["id"], r.data["api_key"]
    w.token = s.token_for_key(w.api_key)

    users = {}
    for username, (ext, first, last) in USERS.items():
        r = w.rest("PUT", "/users", {"data": {
            "username": username, "password": PASSWORD, "extension": ext, "first_name": first,
            "last_name": last, "priv_level": "user"}}, 201)
        users[username] = r.data["id"]
    w.users = users

    r = w.rest("PUT", "/hubs", {"data": {"name": "Team", "owner_id": users["alice"],
                                         "default_privilege": 1,
                                         "privileges": {users["bob"]: READ}}}, 201)
    w.hub = r.data["id"]

    r = w.rest("PUT", "/conferences", {"data": {
        "name": CONF_NAME, "conference_numbers": [NUMBER], "moderator": {"pins": [MOD_PIN]},
        "member": {"join_muted": False}, "hub_id": w.hub, "type": "meeting",
        "muc": {"affiliations": {users["alice"]: "owner"}}}}, 201)
    doc = r.data
    assert (doc["hub_id"], doc["type"], doc["conference_numbers"]) == (
        w.hub, "meeting", [NUMBER]), doc
    w.conf = doc["id"]

    # Credentials for the other faces: Drumee user tokens (Kazoo user_auth).
    tokens = {}
    for username in USERS:
        r = s.request("PUT", "/v2/user_auth", {"data": {
            "credentials": md5(f"{username}:{PASSWORD}"), "account_name": ACCOUNT_NAME}})
        assert r.status == 201, r
        tokens[username] = r.json["auth_token"]
    w.drumee_tokens = tokens

    # Userplane already lists the room, empty since it was made.
    room = w.check_userplane(occupants=0, moderators=0, participants=0, empty=True)
    assert room["emptyDate"] == room["creationDate"]


def test_2_subscribers_of_every_face(w):
    need(w, "conf", "drumee_tokens")
    # Kazoo event socket.
    w.binding = f"conference.event.{w.conf}.*"
    kz = KazooWs(w.s, w.token)
    r = kz.call("subscribe", {"account_id": w.acct, "binding": w.binding})
    assert r["status"] == "success" and r["data"] == {"subscribed": [w.binding]}, r
    w.kz = kz

    # alice's CTI socket, after getList: the room is listed, idle.
    r = w.s.request("POST", f"{XUC}/auth/login", {"login": "alice", "password": PASSWORD},
                    headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    cti = Cti(w.s, r.json["token"])
    assert cti.logged_on == {"msgType": "LoggedOn", "ctiMessage": {
        "userId": w.users["alice"], "username": "alice", "accountId": w.acct}}
    cti.send("getList", objectType="meetme")
    assert cti.sync() == [{"msgType": "ConferenceList", "ctiMessage": [
        {"number": NUMBER, "name": CONF_NAME, "pinRequired": False, "startTime": 0,
         "members": []}]}]
    w.cti = cti

    # bob's Drumee live socket.
    live = Live(w.s, w.drumee_tokens["bob"])
    assert HEX32.match(live.socket_id)
    assert live.hello["data"]["user"] == {"id": w.users["bob"], "username": "bob"}
    w.live = live

    assert kz.sync() == [] and live.drain() == []


def test_3_alice_joins_through_kazoo_rest(w):
    need(w, "kz", "cti", "live")
    w.settle()
    before = time.time()
    r = w.rest("POST", f"/conferences/{w.conf}/participants", {"data": {
        "name": "Alice Liddell", "number": "1001", "pin": MOD_PIN, "call_id": "call-alice"}}, 201)
    after = time.time()
    a = r.data
    assert (a["participant_id"], a["call_id"], a["caller_id_name"], a["caller_id_number"]) == (
        1, "call-alice", "Alice Liddell", "1001"), a
    assert (a["is_moderator"], a["speak"], a["hear"]) == (True, True, True), a
    w.p["alice"] = a

    # Kazoo socket: the room starts, alice is in, a moderator.
    evs = w.kz.sync()
    assert names(evs) == ["conference-create", "add-member"], evs
    kz_conference_event(evs[0], w, "conference-create", a["conference_uuid"])
    kz_participant_event(evs[1], w, "add-member", a, speak=True, hear=True)
    assert evs[1]["data"]["is_moderator"] is True
    assert evs[1]["data"]["caller_id_number"] == "1001"

    # alice's CTI: her own join (she is the user of extension 1001), an organizer; the list.
    got, lists = split_lists(w.cti.sync())
    assert [m["msgType"] for m in got] == ["ConferenceEvent"], got
    ev = got[0]["ctiMessage"]
    assert set(ev) == {"eventType", "uniqueId", "conferenceNumber", "conferenceName",
                       "participants", "since"}, ev
    assert (ev["eventType"], ev["uniqueId"], ev["conferenceNumber"], ev["conferenceName"]) == (
        "Join", "call-alice", NUMBER, CONF_NAME), ev
    assert 0 <= ev["since"] <= 5, ev
    [me] = ev["participants"]
    cti_participant(me, index=1, name="Alice Liddell", num="1001", username="alice",
                    role="Organizer", muted=False, me=True)
    assert len(lists) == 1, lists
    [room] = lists[0]
    assert (room["number"], room["name"], room["pinRequired"]) == (NUMBER, CONF_NAME, False)
    assert int(before) * 1000 - 1000 <= room["startTime"] <= after * 1000 + 1000, room
    assert room["members"] == [{"joinOrder": 1, "joinTime": room["startTime"], "muted": False,
                                "name": "Alice Liddell", "number": "1001",
                                "username": "alice"}], room
    w.start_time = room["startTime"]

    # Userplane: one occupant, a moderator; the owner count is configuration.
    w.check_userplane(occupants=1, moderators=1, participants=0, empty=False)
    # bob is not in the room: his Drumee socket hears nothing.
    assert w.live.drain() == []


def test_4_bob_joins_through_drumee(w):
    need(w, "kz", "cti", "live", "p:alice")
    w.settle()
    data = drumee_ok(w.svc("bob", "conference.join", {
        "hub_id": w.hub, "room_id": w.conf, "socket_id": w.live.socket_id, "metadata": {}}),
        "conference.join")
    assert set(data) == {"permission", "details", "configs", "attendees", "user"}, data
    assert data["permission"] == READ
    assert data["configs"] == {}
    details = data["details"]
    assert (details["room_id"], details["name"], details["hub_id"], details["type"]) == (
        w.conf, CONF_NAME, w.hub, "meeting"), details
    assert not any(k.startswith("pvt_") for k in details), details
    assert (details["conference_numbers"], details["member"]["join_muted"],
            details["muc"]) == ([NUMBER], False, {"affiliations": {w.users["alice"]: "owner"}})
    w.join_details = details
    # alice, who came in through Kazoo, is listed as the host; she has no Drumee socket.
    assert data["attendees"] == [{
        "socket_id": "", "uid": w.users["alice"], "username": "alice", "firstname": "Alice",
        "lastname": "Liddell", "role": "host", "participant_id": 1, "status": "started"}], data
    bob_attendee = {"socket_id": w.live.socket_id, "uid": w.users["bob"], "username": "bob",
                    "firstname": "Bob", "lastname": "Morane", "role": "attendee",
                    "participant_id": 2, "status": "started"}
    assert data["user"] == bob_attendee, data
    w.bob_attendee = bob_attendee

    # Kazoo REST sees bob as participant 2 (a Drumee join names him by username, no number).
    b = w.participant(2)
    assert (b["participant_id"], b["caller_id_name"], b["caller_id_number"]) == (
        2, "bob", ""), b
    assert HEX32.match(b["call_id"]), b
    assert (b["is_moderator"], b["speak"], b["hear"]) == (False, True, True), b
    assert b["conference_uuid"] == w.p["alice"]["conference_uuid"], b
    w.p["bob"] = b

    # Kazoo socket: add-member for bob.
    evs = w.kz.sync()
    assert names(evs) == ["add-member"], evs
    kz_participant_event(evs[0], w, "add-member", b, speak=True, hear=True)
    assert evs[0]["data"]["caller_id_name"] == "bob"

    # alice's CTI: bob joins her room (he is the user bob, not her).
    got, lists = split_lists(w.cti.sync())
    assert [m["msgType"] for m in got] == ["ConferenceParticipantEvent"], got
    cti_participant_event(got[0]["ctiMessage"], "Join", b["call_id"], index=2, name="bob",
                          num="", username="bob", role="User", muted=False, me=False)
    assert len(lists) == 1, lists
    [room] = lists[0]
    assert room["startTime"] == w.start_time
    assert [(m["joinOrder"], m["name"], m["number"], m["username"], m["muted"])
            for m in room["members"]] == [(1, "Alice Liddell", "1001", "alice", False),
                                          (2, "bob", "", "bob", False)], room

    # Userplane: two occupants, one moderator and one participant.
    w.check_userplane(occupants=2, moderators=1, participants=1, empty=False)
    # The joiner itself is told nothing on its socket; nobody else has a Drumee socket.
    assert w.live.drain() == []


def test_4b_the_drumee_join_answer_keeps_the_pins_secret(w):
    """The room's details go to whoever may join through Drumee (here bob, with read privilege;
    a guest of the hub alike). A moderator PIN set through Kazoo is a secret: whoever knows it
    can enter as an organizer by phone or Kazoo, so it must not be handed to attendees."""
    need(w, "join_details")
    details = w.join_details
    for role in ("moderator", "member"):
        assert not details.get(role, {}).get("pins"), (
            f"conference.join discloses {role}.pins to a hub member of privilege {READ}: "
            f"{details.get(role)}")
    assert MOD_PIN not in json.dumps(details), details


def test_5_alice_mutes_bob_through_the_cti(w):
    need(w, "kz", "cti", "live", "p:bob")
    w.settle()
    b = w.p["bob"]
    w.cti.send("conferenceMute", numConf=NUMBER, index=b["participant_id"])
    got, lists = split_lists(w.cti.sync())
    assert [m["msgType"] for m in got] == ["ConferenceParticipantEvent"], got
    cti_participant_event(got[0]["ctiMessage"], "Update", b["call_id"], index=2, name="bob",
                          num="", username="bob", role="User", muted=True, me=False)
    assert len(lists) == 1, lists
    assert [(m["joinOrder"], m["muted"]) for m in lists[0][0]["members"]] == [
        (1, False), (2, True)], lists

    # Kazoo socket: mute-member for bob; Kazoo REST agrees.
    evs = w.kz.sync()
    assert names(evs) == ["mute-member"], evs
    kz_participant_event(evs[0], w, "mute-member", b, speak=False, hear=True)
    p = w.participant(2)
    assert (p["speak"], p["hear"]) == (False, True), p
    assert w.participant(1)["speak"] is True

    # bob's Drumee socket: conference.attendee, event mute-member. (options.sender is bob's own
    # record, not alice who muted him: core events carry no actor; only its shape is checked.)
    got = w.live.drain()
    assert [m["service"] for m in got] == ["conference.attendee"], got
    model = notification(got[0], "conference.attendee")
    assert model == dict(w.bob_attendee, room_id=w.conf, hub_id=w.hub, event="mute-member",
                         speak=False, hear=True, type="conference.attendee"), model

    # Userplane: a mute changes nobody's place.
    w.check_userplane(occupants=2, moderators=1, participants=1, empty=False)


def test_6_kazoo_rest_unmutes_bob(w):
    need(w, "kz", "cti", "live", "p:bob")
    w.settle()
    b = w.p["bob"]
    w.rest("PUT", f"/conferences/{w.conf}/participants/2", {"data": {"action": "unmute"}}, 202)

    got, lists = split_lists(w.cti.sync())
    assert [m["msgType"] for m in got] == ["ConferenceParticipantEvent"], got
    cti_participant_event(got[0]["ctiMessage"], "Update", b["call_id"], index=2, name="bob",
                          num="", username="bob", role="User", muted=False, me=False)
    assert len(lists) == 1, lists
    assert [(m["joinOrder"], m["muted"]) for m in lists[0][0]["members"]] == [
        (1, False), (2, False)], lists

    evs = w.kz.sync()
    assert names(evs) == ["unmute-member"], evs
    kz_participant_event(evs[0], w, "unmute-member", b, speak=True, hear=True)

    got = w.live.drain()
    assert [m["service"] for m in got] == ["conference.attendee"], got
    model = notification(got[0], "conference.attendee")
    assert model == dict(w.bob_attendee, room_id=w.conf, hub_id=w.hub, event="unmute-member",
                         speak=True, hear=True, type="conference.attendee"), model
    assert w.participant(2)["speak"] is True
    w.check_userplane(occupants=2, moderators=1, participants=1, empty=False)


def test_7_bob_chats_through_drumee(w):
    need(w, "kz", "cti", "live", "p:bob")
    w.settle()
    before = time.time()
    msg = drumee_ok(w.svc("bob", "chat.post", {"room_id": w.conf, "message": CHAT_TEXT}),
                    "chat.post")
    after = time.time()
    assert (msg["room_id"], msg["seq"], msg["account_id"], msg["author_id"], msg["author_name"],
            msg["body"]) == (w.conf, 1, w.acct, w.users["bob"], "Bob Morane", CHAT_TEXT), msg
    assert int(before * 1000) - 1000 <= msg["ts"] <= after * 1000 + 1000, msg

    # alice's CTI: the message, rendered as xuc's chat message.
    expected = {"numConf": NUMBER, "seq": 1, "ts": msg["ts"], "author": "bob",
                "authorName": "Bob Morane", "message": CHAT_TEXT}
    got = w.cti.sync()
    assert got == [{"msgType": "ConferenceChatMessage", "ctiMessage": expected}], got
    # ... and in the room's history. (The answer may come after the next Pong: test_7b.)
    w.cti.send("conferenceChatHistory", numConf=NUMBER)
    got = w.cti.sync()
    if not got:
        got = [w.cti.recv()]
    assert got == [{"msgType": "ConferenceChatHistory",
                    "ctiMessage": {"numConf": NUMBER, "messages": [expected]}}], got
    w.chat_expected = expected

    # bob's Drumee socket hears his own room message; Kazoo's event socket has no chat.
    got = w.live.drain()
    assert [m["service"] for m in got] == ["chat.post"], got
    assert notification(got[0], "chat.post") == dict(msg, type="chat.post")
    assert got[0]["options"]["sender"]["uid"] == w.users["bob"]
    assert w.kz.sync() == []
    w.check_userplane(occupants=2, moderators=1, participants=1, empty=False)


def test_7b_cti_history_is_answered_before_a_later_pong(w):
    """docs/api/xivo.md: "Frames of one socket are answered in order, so a Pong also means that
    everything before it was delivered." conferenceChatHistory must keep that order (the history
    is read from the store off the control thread, so a later ping may be answered first). Each
    round is a race; twenty rounds catch a broken order almost surely."""
    need(w, "chat_expected")
    w.settle()
    want = {"msgType": "ConferenceChatHistory",
            "ctiMessage": {"numConf": NUMBER, "messages": [w.chat_expected]}}
    overtaken = 0
    for _ in range(20):
        w.cti.send("conferenceChatHistory", numConf=NUMBER)
        got = w.cti.sync()
        if not got:
            overtaken += 1
            got = [w.cti.recv()]  # the late answer, so the next round starts clean
        assert got == [want], got
    assert overtaken == 0, (
        f"in {overtaken} of 20 rounds the Pong of a ping sent after conferenceChatHistory "
        "arrived before the ConferenceChatHistory answer")


def test_8_kazoo_rest_kicks_bob(w):
    need(w, "kz", "cti", "live", "p:bob")
    w.settle()
    b = w.p["bob"]
    w.rest("PUT", f"/conferences/{w.conf}/participants/2", {"data": {"action": "kick"}}, 202)

    evs = w.kz.sync()
    assert names(evs) == ["kick-member", "del-member"], evs
    kz_participant_event(evs[0], w, "kick-member", b, speak=True, hear=True)
    kz_participant_event(evs[1], w, "del-member", b, speak=True, hear=True, reason="kicked")

    got, lists = split_lists(w.cti.sync())
    assert [m["msgType"] for m in got] == ["ConferenceParticipantEvent"], got
    cti_participant_event(got[0]["ctiMessage"], "Leave", b["call_id"], index=2, name="bob",
                          num="", username="bob", role="User", muted=False, me=False)
    assert len(lists) == 1, lists
    assert [m["joinOrder"] for m in lists[0][0]["members"]] == [1], lists

    # bob's Drumee socket is told he was kicked.
    got = w.live.drain()
    assert [m["service"] for m in got] == ["conference.leave"], got
    model = notification(got[0], "conference.leave")
    assert model == dict(w.bob_attendee, room_id=w.conf, hub_id=w.hub, reason="kicked",
                         type="conference.leave"), model

    assert [p["participant_id"] for p in w.participants()] == [1]
    w.check_userplane(occupants=1, moderators=1, participants=0, empty=False)


def test_9_alice_leaves_and_the_room_ends(w):
    need(w, "kz", "cti", "live", "p:alice")
    w.settle()
    a = w.p["alice"]
    t0 = time.time()
    w.rest("DELETE", f"/conferences/{w.conf}/participants/1", None, 200)
    t1 = time.time()

    evs = w.kz.sync()
    assert names(evs) == ["del-member", "conference-destroy"], evs
    kz_participant_event(evs[0], w, "del-member", a, speak=True, hear=True, reason="left")
    kz_conference_event(evs[1], w, "conference-destroy", a["conference_uuid"])

    got, lists = split_lists(w.cti.sync())
    assert [m["msgType"] for m in got] == ["ConferenceEvent"], got
    assert got[0]["ctiMessage"] == {"eventType": "Leave", "uniqueId": "call-alice",
                                    "conferenceNumber": NUMBER, "conferenceName": CONF_NAME,
                                    "participants": [], "since": 0}, got
    assert lists == [[{"number": NUMBER, "name": CONF_NAME, "pinRequired": False,
                       "startTime": 0, "members": []}]], lists

    # bob left the room in step 8: his Drumee socket hears nothing of it any more.
    assert w.live.drain() == []
    assert w.participants() == []

    room = w.check_userplane(occupants=0, moderators=0, participants=0, empty=True)
    emptied = parse_iso(room["emptyDate"])
    assert int(t0) <= emptied <= t1, (t0, room["emptyDate"], t1)

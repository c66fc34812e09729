"""XiVO face: xuc's token API (/xuc/api/2.0/auth/...) and its CTI WebSocket (/xuc/api/2.0/cti).

Every test runs the real confab binary and talks to it over real HTTP and WebSocket connections.
Users, conferences and participants are made through the Kazoo REST API (the other face), and
what a CTI client sees is read from its socket.

The server runs one control thread and a socket's frames leave in order, so once a REST call has
returned, a ping on a CTI socket is answered only after every event that call produced for it.
The tests use that ping as a barrier (Cti.sync) to assert what was, and was not, delivered.
"""
import json
import time

import pytest

from conftest import ws_connect

RECV_TIMEOUT = 5  # seconds; every wait on a socket is bounded by this
XUC = "/xuc/api/2.0"

PARTICIPANT_KEYS = {"index", "callerIdName", "callerIdNum", "since", "isTalking", "role",
                    "isMuted", "isMe", "username", "isDeaf"}
PARTICIPANT_EVENT_KEYS = PARTICIPANT_KEYS | {"eventType", "uniqueId", "conferenceNumber",
                                             "conferenceName"}
USERS = {
    "alice": ("1001", "Alice", "Liddell"),
    "bob": ("1002", "Bob", "Morane"),
    "carol": ("1003", "Carol", "Danvers"),
    "dave": ("1004", "Dave", "Bowman"),
}
PASSWORD = "s3cret-pass"
MOD_PIN = "1234"


# --- REST (Kazoo) helpers --------------------------------------------------------------------

class World:
    """An account with four users (alice..dave, extensions 1001..1004) and three conferences:
    4000 "support" (organizer PIN 1234, no member PIN), 4001 "private" (member PIN 9999) and
    one without any number, which XiVO cannot see."""

    def __init__(self, server, account):
        self.s = server
        self.acct, self.token = account
        self.users = {}
        for username, (ext, first, last) in USERS.items():
            r = self.rest("PUT", "/users", {"data": {
                "username": username, "password": PASSWORD, "extension": ext,
                "first_name": first, "last_name": last, "priv_level": "user"}}, 201)
            self.users[username] = r.data["id"]
        self.support = self.conference(name="support", conference_numbers=["4000"],
                                       moderator={"pins": [MOD_PIN]})
        self.private = self.conference(name="private", conference_numbers=["4001"],
                                       member={"pins": ["9999"]})
        self.hidden = self.conference(name="hidden")

    def rest(self, method, path, body=None, expect=None):
        r = self.s.request(method, f"/v2/accounts/{self.acct}{path}", body, token=self.token)
        if expect is not None:
            assert r.status == expect, f"{method} {path} {body!r} -> {r!r}"
        return r

    def conference(self, **data):
        return self.rest("PUT", "/conferences", {"data": data}, 201).data["id"]

    def join(self, conf, username, organizer=False, **extra):
        ext, first, last = USERS[username]
        data = {"name": f"{first} {last}", "number": ext, "call_id": f"call-{username}"}
        if organizer:
            data["pin"] = MOD_PIN
        data.update(extra)
        return self.rest("POST", f"/conferences/{conf}/participants", {"data": data}, 201).data

    def participants(self, conf):
        return self.rest("GET", f"/conferences/{conf}/participants", None, 200).data

    def participant(self, conf, pid):
        return self.rest("GET", f"/conferences/{conf}/participants/{pid}", None, 200).data

    def act(self, conf, pid, action):
        self.rest("PUT", f"/conferences/{conf}/participants/{pid}",
                  {"data": {"action": action}}, 202)

    def leave(self, conf, pid):
        self.rest("DELETE", f"/conferences/{conf}/participants/{pid}", None, 200)

    def login(self, username):
        r = xuc_login(self.s, {"login": username, "password": PASSWORD})
        assert r.status == 200, r
        return r.json["token"]

    def cti(self, username):
        return Cti(self.s, self.login(username))


def xuc_login(server, body=None, raw=None):
    return server.request("POST", f"{XUC}/auth/login", body, raw=raw,
                          headers={"Content-Type": "application/json"})


# --- the CTI client ---------------------------------------------------------------------------

class Cti:
    """A CTI socket. confab sends its first frames (LoggedOn) once the client has spoken, so
    connecting sends a ping and reads LoggedOn, then Pong (see docs/api/xivo.md)."""

    def __init__(self, server, token, expect_logon=True):
        import websocket
        self.timeout_exc = websocket.WebSocketTimeoutException
        self.closed_exc = websocket.WebSocketConnectionClosedException
        self.ws = ws_connect(server, f"{XUC}/cti?token={token}")
        self.backlog = []
        if expect_logon:
            self.raw({"claz": "ping"})
            self.logged_on = self.recv()
            assert self.logged_on["msgType"] == "LoggedOn", self.logged_on
            assert self.recv() == {"msgType": "Pong", "ctiMessage": {}}

    def raw(self, msg):
        self.ws.send(msg if isinstance(msg, str) else json.dumps(msg))

    def send(self, command, **args):
        self.raw({"claz": "web", "command": command, **args})

    def recv(self, timeout=RECV_TIMEOUT):
        if self.backlog:
            return self.backlog.pop(0)
        self.ws.settimeout(timeout)
        return json.loads(self.ws.recv())

    def wait_for(self, msg_type, timeout=RECV_TIMEOUT, **match):
        """The first message of this type (whose ctiMessage has these values); others are kept
        for later reads."""
        def ok(m):
            if m["msgType"] != msg_type:
                return False
            body = m["ctiMessage"]
            return all(isinstance(body, dict) and body.get(k) == v for k, v in match.items())
        for i, m in enumerate(self.backlog):
            if ok(m):
                return self.backlog.pop(i)["ctiMessage"]
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            assert left > 0, f"no {msg_type} {match} within {timeout}s; got {self.backlog}"
            self.ws.settimeout(left)
            m = json.loads(self.ws.recv())
            if ok(m):
                return m["ctiMessage"]
            self.backlog.append(m)

    def sync(self):
        """Everything delivered before a ping's Pong (the backlog included)."""
        self.raw({"claz": "ping"})
        out = []
        while True:
            m = self.recv()
            if m == {"msgType": "Pong", "ctiMessage": {}}:
                return out
            out.append(m)

    def quiet(self):
        got = self.sync()
        assert got == [], got

    def error(self, command, **args):
        """Sends a command and returns the ConferenceCommandError it gets."""
        self.send(command, **args)
        got = self.sync()
        assert [m["msgType"] for m in got] == ["ConferenceCommandError"], got
        return got[0]["ctiMessage"]

    def ok(self, command, **args):
        """Sends a command that must not be refused; returns what the socket got meanwhile."""
        self.send(command, **args)
        got = self.sync()
        assert all(m["msgType"] not in ("Error", "ConferenceCommandError") for m in got), got
        return got

    def closed(self, timeout=RECV_TIMEOUT):
        self.ws.settimeout(timeout)
        try:
            frame = self.ws.recv()
        except self.closed_exc:
            return True
        return frame == ""  # the close frame

    def close(self):
        self.ws.close()


@pytest.fixture
def world(server, account):
    return World(server, account)


def check_participant(p, *, index, name, num, username, role="User", muted=False, me=False,
                      deaf=False):
    assert set(p) == PARTICIPANT_KEYS, p
    assert (p["index"], p["callerIdName"], p["callerIdNum"], p["username"]) == (
        index, name, num, username), p
    assert (p["role"], p["isMuted"], p["isMe"], p["isDeaf"], p["isTalking"]) == (
        role, muted, me, deaf, False), p
    assert isinstance(p["since"], int) and 0 <= p["since"] <= 2, p


def check_participant_event(ev, event_type, conf_number, conf_name, unique_id, **participant):
    assert set(ev) == PARTICIPANT_EVENT_KEYS, ev
    assert (ev["eventType"], ev["conferenceNumber"], ev["conferenceName"], ev["uniqueId"]) == (
        event_type, conf_number, conf_name, unique_id), ev
    check_participant({k: ev[k] for k in PARTICIPANT_KEYS}, **participant)


# --- token API ----------------------------------------------------------------------------------

def test_login_returns_a_token_for_the_cti(world):
    r = xuc_login(world.s, {"login": "alice", "password": PASSWORD})
    assert r.status == 200, r
    assert set(r.json) == {"login", "token", "TTL"}
    assert r.json["login"] == "alice" and r.json["TTL"] == 3600
    assert isinstance(r.json["token"], str) and len(r.json["token"]) > 20
    cti = Cti(world.s, r.json["token"])
    assert cti.logged_on == {"msgType": "LoggedOn", "ctiMessage": {
        "userId": world.users["alice"], "username": "alice", "accountId": world.acct}}


def test_login_with_account_name(world):
    r = xuc_login(world.s, {"login": "bob@acme", "password": PASSWORD})
    assert r.status == 200, r
    assert r.json["login"] == "bob@acme"
    r = xuc_login(world.s, {"login": "bob@elsewhere", "password": PASSWORD})
    assert r.status == 401, r


def test_login_bad_password(world):
    r = xuc_login(world.s, {"login": "alice", "password": "wrong"})
    assert r.status == 401, r
    assert r.json == {"error": "InvalidCredentials", "message": "invalid credentials"}
    r = xuc_login(world.s, {"login": "nobody", "password": PASSWORD})
    assert r.status == 401 and r.json["error"] == "InvalidCredentials", r


def test_login_without_account_reveals_no_ambiguity_to_a_wrong_password(server):
    # "dup" exists in two accounts; without its password a client must not learn that.
    admin = server.admin_token()
    accounts = {}
    for name, password in (("one", "pw-one"), ("two", "pw-two")):
        r = server.request("PUT", "/v2/accounts", {"data": {"name": name}}, token=admin)
        assert r.status == 201, r
        acct, tok = r.data["id"], server.token_for_key(r.data["api_key"])
        r = server.request("PUT", f"/v2/accounts/{acct}/users", {"data": {
            "username": "dup", "password": password, "first_name": "D", "last_name": "Up"}},
            token=tok)
        assert r.status == 201, r
        accounts[name] = (acct, tok)
    wrong = xuc_login(server, {"login": "dup", "password": "guess"})
    unknown = xuc_login(server, {"login": "nobody-at-all", "password": "guess"})
    assert wrong.status == unknown.status == 401, (wrong, unknown)
    assert wrong.json == unknown.json == {"error": "InvalidCredentials",
                                          "message": "invalid credentials"}
    # The password of one of them opens that one: nothing is ambiguous.
    r = xuc_login(server, {"login": "dup", "password": "pw-two"})
    assert r.status == 200, r
    cti_claims = server.request("GET", f"{XUC}/auth/check",
                                headers={"Authorization": "Bearer " + r.json["token"]})
    assert cti_claims.status == 200 and cti_claims.json["login"] == "dup", cti_claims
    # Only a password that opens both says "ambiguous".
    acct, tok = accounts["two"]
    users = server.request("GET", f"/v2/accounts/{acct}/users", token=tok).data
    uid = next(u["id"] for u in users if u["username"] == "dup")
    r = server.request("POST", f"/v2/accounts/{acct}/users/{uid}",
                       {"data": {"username": "dup", "password": "pw-one", "first_name": "D",
                                 "last_name": "Up"}}, token=tok)
    assert r.status == 200, r
    r = xuc_login(server, {"login": "dup", "password": "pw-one"})
    assert r.status == 401 and r.json["message"] == "ambiguous login: use user@account", r
    assert xuc_login(server, {"login": "dup@two", "password": "pw-one"}).status == 200
    assert xuc_login(server, {"login": "dup", "password": "guess"}).json["message"] == \
        "invalid credentials"


@pytest.mark.parametrize("raw,message", [
    (b"{not json", "the body must be a JSON object {\"login\": ..., \"password\": ...}"),
    (b"[1,2]", "the body must be a JSON object {\"login\": ..., \"password\": ...}"),
    (b"", "the body must be a JSON object {\"login\": ..., \"password\": ...}"),
    (b'{"password":"x"}', "login is required (a string)"),
    (b'{"login":42,"password":"x"}', "login is required (a string)"),
    (b'{"login":"alice"}', "password is required (a string)"),
])
def test_login_bad_json(world, raw, message):
    r = xuc_login(world.s, raw=raw)
    assert r.status == 400, r
    assert r.json == {"error": "InvalidJson", "message": message}


def test_login_wrong_method_and_unknown_path(server):
    r = server.request("GET", f"{XUC}/auth/login")
    assert r.status == 405 and r.headers["Allow"] == "POST", r
    assert r.json["error"] == "MethodNotAllowed"
    r = server.request("POST", f"{XUC}/auth/check")
    assert r.status == 405 and r.headers["Allow"] == "GET", r
    r = server.request("GET", f"{XUC}/nothing")
    assert r.status == 404, r
    assert r.json == {"error": "NotFound", "message": f"no such endpoint: {XUC}/nothing"}


def test_check_refreshes_the_token(world):
    token = world.login("alice")
    r = world.s.request("GET", f"{XUC}/auth/check", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200, r
    assert set(r.json) == {"login", "token", "TTL"}
    assert (r.json["login"], r.json["TTL"]) == ("alice", 3600)
    Cti(world.s, r.json["token"])  # the fresh token logs on


def test_check_refuses_bad_tokens(world):
    def check(headers):
        return world.s.request("GET", f"{XUC}/auth/check", headers=headers)
    r = check({})
    assert r.status == 401, r
    assert r.json == {"error": "AuthorizationHeaderNotFound",
                      "message": "the header Authorization: Bearer <token> is required"}
    r = check({"Authorization": "Basic YWxpY2U6eA=="})
    assert r.status == 401 and r.json["error"] == "BearerNotFound", r
    r = check({"Authorization": "Bearer not-a-token"})
    assert r.status == 401, r
    assert r.json == {"error": "InvalidToken", "message": "invalid auth token"}
    # An account's API token is nobody's CTI identity.
    r = check({"Authorization": f"Bearer {world.token}"})
    assert r.status == 401, r
    assert r.json == {"error": "InvalidToken", "message": "not a user's token"}


# --- the socket -----------------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["garbage", "", "API"])
def test_bad_token_gets_logged_on_error_then_close(world, token):
    if token == "API":
        token = world.token  # valid, but not a user's
    cti = Cti(world.s, token, expect_logon=False)
    cti.raw({"claz": "ping"})
    assert cti.recv() == {"msgType": "LoggedOnError", "ctiMessage": {"Error": "loggedOnFailed"}}
    assert cti.closed()


def test_logged_on_arrives_without_a_client_frame(world):
    cti = Cti(world.s, world.login("alice"), expect_logon=False)
    assert cti.recv(timeout=1)["msgType"] == "LoggedOn"


def test_ping_pong(world):
    cti = world.cti("alice")
    for _ in range(3):
        cti.raw({"claz": "ping"})
        assert cti.recv() == {"msgType": "Pong", "ctiMessage": {}}


@pytest.mark.parametrize("frame,error", [
    ("not json", "a frame must be a JSON object"),
    ("[1]", "a frame must be a JSON object"),
    ({"command": "getList"}, "claz is required"),
    ({"claz": "agent"}, "unknown claz: agent"),
    ({"claz": "web"}, "command is required"),
    ({"claz": "web", "command": "dial", "destination": "1002"}, "unknown command: dial"),
    ({"claz": "web", "command": "getList", "objectType": "queue"},
     "getList: unsupported objectType \"queue\" (only \"meetme\")"),
    ({"claz": "web", "command": "conferenceMuteMe"}, "numConf is required"),
    ({"claz": "web", "command": "conferenceMuteMe", "numConf": {"a": 1}},
     "numConf must be a string"),
    ({"claz": "web", "command": "conferenceMute", "numConf": "4000"}, "index is required"),
    ({"claz": "web", "command": "conferenceMute", "numConf": "4000", "index": "x"},
     "index must be an integer in 1..2147483647"),
    ({"claz": "web", "command": "conferenceInvite", "numConf": "4000"}, "exten is required"),
    ({"claz": "web", "command": "conferenceInvite", "numConf": "4000", "exten": "1002",
      "role": "Boss"}, "role must be \"User\" or \"Organizer\""),
    ({"claz": "web", "command": "conferenceInvite", "numConf": "4000", "exten": "1002",
      "earlyJoin": 3}, "earlyJoin must be a boolean"),
    ({"claz": "web", "command": "conferenceChatHistory", "numConf": "4000", "limit": 0},
     "limit must be an integer in 1..200"),
    ({"claz": "web", "command": "conferenceSetSubject", "numConf": "4000"},
     "subject is required"),
])
def test_bad_frames_get_error_and_the_socket_stays(world, frame, error):
    cti = world.cti("alice")
    cti.raw(frame)
    assert cti.recv() == {"msgType": "Error", "ctiMessage": {"Error": error}}
    cti.raw({"claz": "ping"})
    assert cti.recv() == {"msgType": "Pong", "ctiMessage": {}}


# --- the conference list --------------------------------------------------------------------------

def test_conference_list_idle(world):
    cti = world.cti("alice")
    cti.send("getList", objectType="meetme")
    assert cti.recv() == {"msgType": "ConferenceList", "ctiMessage": [
        {"number": "4000", "name": "support", "pinRequired": False, "startTime": 0,
         "members": []},
        {"number": "4001", "name": "private", "pinRequired": True, "startTime": 0,
         "members": []},
    ]}


def test_conference_list_is_kept_up_to_date(world):
    cti = world.cti("alice")
    cti.send("getList", objectType="meetme")
    cti.wait_for("ConferenceList")
    before = int(time.time() * 1000)
    world.join(world.support, "bob")
    rooms = cti.wait_for("ConferenceList")
    support = rooms[0]
    assert support["number"] == "4000"
    assert before - 1000 <= support["startTime"] <= int(time.time() * 1000) + 1000
    assert support["members"] == [{"joinOrder": 1, "joinTime": support["members"][0]["joinTime"],
                                   "muted": True, "name": "Bob Morane", "number": "1002",
                                   "username": "bob"}]
    assert support["members"][0]["joinTime"] // 1000 * 1000 == support["members"][0]["joinTime"]
    assert rooms[1]["members"] == [] and rooms[1]["startTime"] == 0
    assert cti.sync() == []  # one change, one list
    # A mute changes the list; the room's end empties it.
    world.join(world.support, "carol", organizer=True)
    rooms = cti.wait_for("ConferenceList")
    assert [(m["username"], m["muted"]) for m in rooms[0]["members"]] == [
        ("bob", True), ("carol", False)]
    world.act(world.support, 2, "mute")
    rooms = cti.wait_for("ConferenceList")
    assert [(m["joinOrder"], m["muted"]) for m in rooms[0]["members"]] == [(1, True), (2, True)]
    world.leave(world.support, 1)
    world.leave(world.support, 2)
    got = [m for m in cti.sync() if m["msgType"] == "ConferenceList"]
    assert got[-1]["ctiMessage"][0]["startTime"] == 0
    assert got[-1]["ctiMessage"][0]["members"] == []


def test_no_list_updates_without_get_list(world):
    cti = world.cti("alice")
    world.join(world.support, "bob")
    cti.quiet()


# --- joining and leaving --------------------------------------------------------------------------

def test_join_and_leave_events(world):
    alice, bob = world.cti("alice"), world.cti("bob")
    world.join(world.support, "alice", organizer=True)
    ev = alice.wait_for("ConferenceEvent")
    assert set(ev) == {"eventType", "uniqueId", "conferenceNumber", "conferenceName",
                       "participants", "since"}
    assert (ev["eventType"], ev["uniqueId"], ev["conferenceNumber"], ev["conferenceName"]) == (
        "Join", "call-alice", "4000", "support")
    assert 0 <= ev["since"] <= 2
    [me] = ev["participants"]
    check_participant(me, index=1, name="Alice Liddell", num="1001", username="alice",
                      role="Organizer", me=True)
    assert alice.sync() == []  # no ConferenceParticipantEvent for one's own join
    assert bob.sync() == []  # bob is not in the room

    world.join(world.support, "bob")
    ev = alice.wait_for("ConferenceParticipantEvent")
    check_participant_event(ev, "Join", "4000", "support", "call-bob", index=2,
                            name="Bob Morane", num="1002", username="bob", muted=True)
    ev = bob.wait_for("ConferenceEvent")
    assert (ev["eventType"], ev["uniqueId"]) == ("Join", "call-bob")
    a, b = ev["participants"]
    check_participant(a, index=1, name="Alice Liddell", num="1001", username="alice",
                      role="Organizer")
    check_participant(b, index=2, name="Bob Morane", num="1002", username="bob", muted=True,
                      me=True)
    assert alice.sync() == [] and bob.sync() == []

    world.leave(world.support, 2)
    ev = alice.wait_for("ConferenceParticipantEvent")
    check_participant_event(ev, "Leave", "4000", "support", "call-bob", index=2,
                            name="Bob Morane", num="1002", username="bob", muted=True)
    ev = bob.wait_for("ConferenceEvent")
    assert (ev["eventType"], ev["uniqueId"], ev["conferenceNumber"]) == (
        "Leave", "call-bob", "4000")
    [a] = ev["participants"]
    check_participant(a, index=1, name="Alice Liddell", num="1001", username="alice",
                      role="Organizer")
    assert alice.sync() == [] and bob.sync() == []


def test_caller_unknown_to_confab_is_rendered_without_username(world):
    alice = world.cti("alice")
    world.join(world.support, "alice", organizer=True)
    alice.wait_for("ConferenceEvent")
    world.rest("POST", f"/conferences/{world.support}/participants",
               {"data": {"name": "Outside", "number": "+3312345678", "call_id": "ext-1"}}, 201)
    ev = alice.wait_for("ConferenceParticipantEvent")
    check_participant_event(ev, "Join", "4000", "support", "ext-1", index=2, name="Outside",
                            num="+3312345678", username="", muted=True)


def test_kazoo_mute_reaches_the_cti(world):
    alice = world.cti("alice")
    p = world.join(world.support, "alice", organizer=True)
    alice.wait_for("ConferenceEvent")
    world.act(world.support, p["participant_id"], "mute")
    ev = alice.wait_for("ConferenceParticipantEvent")
    check_participant_event(ev, "Update", "4000", "support", "call-alice", index=1,
                            name="Alice Liddell", num="1001", username="alice",
                            role="Organizer", muted=True, me=True)
    world.act(world.support, p["participant_id"], "deaf")
    ev = alice.wait_for("ConferenceParticipantEvent")
    assert (ev["eventType"], ev["isMuted"], ev["isDeaf"], ev["isMe"]) == (
        "Update", True, True, True)
    assert alice.sync() == []


# --- commands ---------------------------------------------------------------------------------------

def test_mute_me_and_unmute_me(world):
    alice, bob = world.cti("alice"), world.cti("bob")
    world.join(world.support, "alice", organizer=True)
    world.join(world.support, "bob")
    alice.sync(), bob.sync()
    alice.send("conferenceMuteMe", numConf="4000")
    ev = alice.wait_for("ConferenceParticipantEvent")
    check_participant_event(ev, "Update", "4000", "support", "call-alice", index=1,
                            name="Alice Liddell", num="1001", username="alice",
                            role="Organizer", muted=True, me=True)
    ev = bob.wait_for("ConferenceParticipantEvent")
    assert (ev["index"], ev["isMuted"], ev["isMe"]) == (1, True, False)
    alice.send("conferenceUnmuteMe", numConf=4000)  # a number works as well as a string
    ev = alice.wait_for("ConferenceParticipantEvent")
    assert (ev["eventType"], ev["index"], ev["isMuted"]) == ("Update", 1, False)
    assert [m["ctiMessage"]["isMuted"] for m in bob.sync()] == [False]
    # A member may unmute itself (it has voice).
    bob.send("conferenceUnmuteMe", numConf="4000")
    ev = bob.wait_for("ConferenceParticipantEvent")
    assert (ev["index"], ev["isMuted"], ev["isMe"]) == (2, False, True)
    assert world.participant(world.support, 2)["speak"] is True


def test_not_a_member(world):
    alice = world.cti("alice")
    # The room is not running.
    assert alice.error("conferenceMuteMe", numConf="4000") == {"error": "NotAMember"}
    # The room runs without her.
    world.join(world.support, "bob")
    for cmd, args in [("conferenceMuteMe", {}), ("conferenceUnmuteMe", {}),
                      ("conferenceMuteAll", {}), ("conferenceUnmuteAll", {}),
                      ("conferenceMute", {"index": 1}), ("conferenceUnmute", {"index": 1}),
                      ("conferenceDeafen", {"index": 1}), ("conferenceUndeafen", {"index": 1}),
                      ("conferenceKick", {"index": 1}), ("conferenceClose", {}),
                      ("conferenceGrantVoice", {"index": 1}),
                      ("conferenceRevokeVoice", {"index": 1}),
                      ("conferenceInvite", {"exten": "1003"})]:
        assert alice.error(cmd, numConf="4000", **args) == {"error": "NotAMember"}, cmd
    # A number nobody has.
    assert alice.error("conferenceMuteMe", numConf="9999") == {"error": "NotAMember"}
    assert world.participant(world.support, 1)["speak"] is False


def test_not_organizer(world):
    bob = world.cti("bob")
    world.join(world.support, "alice", organizer=True)
    world.join(world.support, "bob")
    bob.sync()
    for cmd, args in [("conferenceMuteAll", {}), ("conferenceUnmuteAll", {}),
                      ("conferenceMute", {"index": 1}), ("conferenceUnmute", {"index": 1}),
                      ("conferenceDeafen", {"index": 1}), ("conferenceUndeafen", {"index": 1}),
                      ("conferenceKick", {"index": 1}), ("conferenceClose", {}),
                      ("conferenceGrantVoice", {"index": 1}),
                      ("conferenceRevokeVoice", {"index": 1})]:
        assert bob.error(cmd, numConf="4000", **args) == {"error": "NotOrganizer"}, cmd
    assert [p["participant_id"] for p in world.participants(world.support)] == [1, 2]


def test_cannot_kick_organizer_and_participant_not_found(world):
    alice = world.cti("alice")
    world.join(world.support, "alice", organizer=True)
    world.join(world.support, "carol", organizer=True)
    alice.sync()
    assert alice.error("conferenceKick", numConf="4000", index=2) == {
        "error": "CannotKickOrganizer"}
    for cmd in ["conferenceMute", "conferenceUnmute", "conferenceDeafen", "conferenceUndeafen",
                "conferenceKick", "conferenceGrantVoice", "conferenceRevokeVoice"]:
        assert alice.error(cmd, numConf="4000", index=99) == {
            "error": "ParticipantNotFound"}, cmd
    # An index out of its range is a bad frame, not a missing participant (docs/api/limits.md).
    alice.send("conferenceMute", numConf="4000", index=0)
    assert alice.sync() == [{"msgType": "Error", "ctiMessage": {
        "Error": "index must be an integer in 1..2147483647"}}]
    assert len(world.participants(world.support)) == 2


def test_organizer_mutes_deafens_and_kicks(world):
    alice, bob = world.cti("alice"), world.cti("bob")
    world.join(world.support, "alice", organizer=True)
    world.join(world.support, "bob")
    alice.sync(), bob.sync()

    alice.send("conferenceUnmute", numConf="4000", index="2")  # index as text works too
    ev = alice.wait_for("ConferenceParticipantEvent")
    check_participant_event(ev, "Update", "4000", "support", "call-bob", index=2,
                            name="Bob Morane", num="1002", username="bob", muted=False)
    ev = bob.wait_for("ConferenceParticipantEvent")
    assert (ev["index"], ev["isMuted"], ev["isMe"]) == (2, False, True)

    alice.send("conferenceMute", numConf="4000", index=2)
    ev = alice.wait_for("ConferenceParticipantEvent")
    assert (ev["eventType"], ev["index"], ev["isMuted"]) == ("Update", 2, True)
    assert [m["ctiMessage"]["isMuted"] for m in bob.sync()] == [True]

    alice.send("conferenceDeafen", numConf="4000", index=2)
    ev = bob.wait_for("ConferenceParticipantEvent")
    assert (ev["index"], ev["isDeaf"], ev["isMe"]) == (2, True, True)
    assert world.participant(world.support, 2)["hear"] is False
    alice.send("conferenceUndeafen", numConf="4000", index=2)
    ev = bob.wait_for("ConferenceParticipantEvent")
    assert (ev["index"], ev["isDeaf"]) == (2, False)
    alice.sync()

    alice.send("conferenceKick", numConf="4000", index=2)
    ev = alice.wait_for("ConferenceParticipantEvent", eventType="Leave")
    assert (ev["index"], ev["uniqueId"]) == (2, "call-bob")
    ev = bob.wait_for("ConferenceEvent")
    assert (ev["eventType"], ev["uniqueId"]) == ("Leave", "call-bob")
    assert [p["participant_id"] for p in world.participants(world.support)] == [1]
    alice.sync(), bob.sync()
    # An organizer may kick itself out.
    alice.send("conferenceKick", numConf="4000", index=1)
    ev = alice.wait_for("ConferenceEvent")
    assert (ev["eventType"], ev["participants"]) == ("Leave", [])
    assert world.participants(world.support) == []


def test_mute_all_spares_only_the_caller(world):
    alice = world.cti("alice")
    world.join(world.support, "alice", organizer=True)
    world.join(world.support, "bob")
    world.join(world.support, "carol", organizer=True)
    alice.sync()
    alice.ok("conferenceUnmuteAll", numConf="4000")
    assert [p["speak"] for p in world.participants(world.support)] == [True, True, True]
    got = alice.ok("conferenceMuteAll", numConf="4000")
    updates = [(m["ctiMessage"]["index"], m["ctiMessage"]["isMuted"]) for m in got
               if m["msgType"] == "ConferenceParticipantEvent"]
    assert updates == [(2, True), (3, True)]
    speak = {p["participant_id"]: p["speak"] for p in world.participants(world.support)}
    assert speak == {1: True, 2: False, 3: False}  # the other organizer too
    alice.ok("conferenceUnmuteAll", numConf="4000")
    assert [p["speak"] for p in world.participants(world.support)] == [True, True, True]


def test_close_hangs_everyone_up(world):
    alice, bob = world.cti("alice"), world.cti("bob")
    world.join(world.support, "alice", organizer=True)
    world.join(world.support, "bob")
    world.join(world.support, "carol", organizer=True)
    alice.send("getList", objectType="meetme")
    alice.sync(), bob.sync()
    alice.send("conferenceClose", numConf="4000")
    ev = alice.wait_for("ConferenceEvent")
    assert (ev["eventType"], ev["uniqueId"], ev["participants"]) == ("Leave", "call-alice", [])
    ev = bob.wait_for("ConferenceEvent")
    assert (ev["eventType"], ev["uniqueId"], ev["participants"]) == ("Leave", "call-bob", [])
    rooms = alice.wait_for("ConferenceList")
    assert rooms[0]["startTime"] == 0 and rooms[0]["members"] == []
    assert world.participants(world.support) == []
    assert alice.sync() == [] and bob.sync() == []


# --- invitations -----------------------------------------------------------------------------------

def test_invite_offline_user_or_unknown_extension(world):
    alice = world.cti("alice")
    world.join(world.support, "alice", organizer=True)
    alice.sync()
    assert alice.error("conferenceInvite", numConf="4000", exten="1002", role="User",
                       earlyJoin=False) == {
        "error": "InviteFailed",
        "message": "the user with extension 1002 has no confab session open (CTI, WebRTC); "
                   "ringing their phone needs SIP, which confab does not offer yet"}
    assert alice.error("conferenceInvite", numConf="4000", exten="5555") == {
        "error": "InviteFailed",
        "message": "no confab user has extension 5555; dialling a phone extension needs SIP, "
                   "which confab does not offer yet"}


def test_invite_accepted_as_organizer(world):
    alice, bob = world.cti("alice"), world.cti("bob")
    world.join(world.support, "alice", organizer=True)
    alice.sync()
    alice.ok("conferenceInvite", numConf="4000", exten="1002", role="Organizer", earlyJoin=True)
    assert bob.wait_for("ConferenceInvite") == {
        "numConf": "4000", "conferenceName": "support", "role": "Organizer",
        "from": {"username": "alice", "name": "Alice Liddell", "extension": "1001"},
        "earlyJoin": True}
    assert bob.sync() == []
    bob.send("conferenceInviteAccept", numConf="4000")
    ev = bob.wait_for("ConferenceEvent")
    assert ev["eventType"] == "Join" and ev["conferenceNumber"] == "4000"
    a, b = ev["participants"]
    check_participant(a, index=1, name="Alice Liddell", num="1001", username="alice",
                      role="Organizer")
    check_participant(b, index=2, name="Bob Morane", num="1002", username="bob", role="Organizer", me=True)
    assert bob.sync() == []
    up = alice.wait_for("ConferenceInviteUpdate")
    assert up == {"status": "accept", "numConf": "4000", "conferenceName": "support",
                  "role": "Organizer",
                  "from": {"username": "alice", "name": "Alice Liddell", "extension": "1001"},
                  "to": {"username": "bob", "name": "Bob Morane", "extension": "1002"},
                  "index": 2}
    ev = alice.wait_for("ConferenceParticipantEvent")
    assert (ev["eventType"], ev["index"], ev["username"], ev["role"]) == (
        "Join", 2, "bob", "Organizer")
    parts = world.participants(world.support)
    assert [(p["participant_id"], p["is_moderator"]) for p in parts] == [(1, True), (2, True)]
    # Bob is an organizer now: he may mute everyone else.
    bob.ok("conferenceMuteAll", numConf="4000")
    assert world.participant(world.support, 1)["speak"] is False
    # Bob's participant belongs to his CTI socket: closing it hangs him up.
    bob.close()
    ev = alice.wait_for("ConferenceParticipantEvent", eventType="Leave")
    assert ev["index"] == 2
    assert [p["participant_id"] for p in world.participants(world.support)] == [1]


def test_invite_accepted_as_user(world):
    alice, carol = world.cti("alice"), world.cti("carol")
    world.join(world.support, "alice", organizer=True)
    alice.ok("conferenceInvite", numConf="4000", exten=1003)
    inv = carol.wait_for("ConferenceInvite")
    assert (inv["role"], inv["earlyJoin"]) == ("User", False)
    carol.send("conferenceInviteAccept")  # numConf is optional
    ev = carol.wait_for("ConferenceEvent")
    assert ev["participants"][1]["role"] == "User" and ev["participants"][1]["isMe"] is True
    assert world.participant(world.support, 2)["is_moderator"] is False


def test_invite_declined(world):
    alice, bob = world.cti("alice"), world.cti("bob")
    bob2 = world.cti("bob")  # a second socket of bob's rings too
    world.join(world.support, "alice", organizer=True)
    alice.ok("conferenceInvite", numConf="4000", exten="1002")
    bob.wait_for("ConferenceInvite")
    bob2.wait_for("ConferenceInvite")
    bob.send("conferenceInviteDecline", numConf="4000")
    up = alice.wait_for("ConferenceInviteUpdate")
    assert (up["status"], up["numConf"], up["to"]["username"]) == ("decline", "4000", "bob")
    assert "index" not in up
    up = bob2.wait_for("ConferenceInviteUpdate")
    assert up["status"] == "decline"
    assert bob.sync() == []
    assert [p["participant_id"] for p in world.participants(world.support)] == [1]
    # Nothing rings any more.
    assert bob.error("conferenceInviteAccept") == {"error": "NoInvitation",
                                                   "message": "no call is ringing for you"}
    assert bob.error("conferenceInviteDecline", numConf="4000") == {
        "error": "NoInvitation", "message": "no call to conference 4000 is ringing for you"}


def test_closing_the_room_cancels_a_ringing_invitation(world):
    alice, bob = world.cti("alice"), world.cti("bob")
    world.join(world.support, "alice", organizer=True)
    alice.sync()
    alice.ok("conferenceInvite", numConf="4000", exten="1002", role="User")
    bob.wait_for("ConferenceInvite")
    alice.send("conferenceClose", numConf="4000")
    up = bob.wait_for("ConferenceInviteUpdate")
    assert up == {"status": "cancel", "numConf": "4000", "conferenceName": "support",
                  "role": "User",
                  "from": {"username": "alice", "name": "Alice Liddell", "extension": "1001"},
                  "to": {"username": "bob", "name": "Bob Morane", "extension": "1002"}}
    # The inviter is told too, once.
    got = [m["ctiMessage"] for m in alice.sync() if m["msgType"] == "ConferenceInviteUpdate"]
    assert [u["status"] for u in got] == ["cancel"]
    assert bob.sync() == []
    # Nothing rings any more, and accepting cannot bring the room back.
    assert bob.error("conferenceInviteAccept") == {"error": "NoInvitation",
                                                   "message": "no call is ringing for you"}
    assert world.participants(world.support) == []


def test_the_inviter_leaving_an_empty_room_cancels_its_invitation(world):
    alice, carol = world.cti("alice"), world.cti("carol")
    world.join(world.support, "alice", organizer=True)
    alice.ok("conferenceInvite", numConf="4000", exten="1003")
    carol.wait_for("ConferenceInvite")
    alice.send("conferenceKick", numConf="4000", index=1)  # alone: the room ends
    up = carol.wait_for("ConferenceInviteUpdate")
    assert (up["status"], up["to"]["username"]) == ("cancel", "carol")
    assert carol.error("conferenceInviteAccept") == {"error": "NoInvitation",
                                                     "message": "no call is ringing for you"}


def test_invite_needs_an_organizer(world):
    bob, carol = world.cti("bob"), world.cti("carol")
    world.join(world.support, "alice", organizer=True)
    world.join(world.support, "bob")
    bob.sync()
    assert bob.error("conferenceInvite", numConf="4000", exten="1003") == {
        "error": "NotOrganizer"}
    assert carol.sync() == []


# --- chat, subject, voice (confab extensions) -------------------------------------------------------

def test_chat_send_receive_and_history(world):
    alice, bob, carol = world.cti("alice"), world.cti("bob"), world.cti("carol")
    world.join(world.support, "alice", organizer=True)
    world.join(world.support, "bob")
    alice.sync(), bob.sync()
    alice.send("conferenceChatSend", numConf="4000", message="hello room")
    m = bob.wait_for("ConferenceChatMessage")
    assert set(m) == {"numConf", "seq", "ts", "author", "authorName", "message"}
    assert (m["numConf"], m["seq"], m["author"], m["authorName"], m["message"]) == (
        "4000", 1, "alice", "Alice Liddell", "hello room")
    assert abs(m["ts"] - time.time() * 1000) < 5000
    assert alice.wait_for("ConferenceChatMessage") == m  # the sender hears it too
    assert carol.sync() == []  # not in the room
    bob.send("conferenceChatSend", numConf="4000", message="hi alice")
    assert alice.wait_for("ConferenceChatMessage")["seq"] == 2

    # History: newest first, in pages; anyone of the account may read it.
    carol.send("conferenceChatHistory", numConf="4000")
    h = carol.wait_for("ConferenceChatHistory")
    assert h["numConf"] == "4000"
    assert [(x["seq"], x["author"], x["message"]) for x in h["messages"]] == [
        (2, "bob", "hi alice"), (1, "alice", "hello room")]
    assert h["messages"][1] == m
    carol.send("conferenceChatHistory", numConf="4000", limit=1)
    assert [x["seq"] for x in carol.wait_for("ConferenceChatHistory")["messages"]] == [2]
    carol.send("conferenceChatHistory", numConf="4000", before=2, limit=200)
    assert [x["seq"] for x in carol.wait_for("ConferenceChatHistory")["messages"]] == [1]

    # Refusals.
    assert carol.error("conferenceChatSend", numConf="4000", message="let me in") == {
        "error": "NotAMember"}
    assert alice.error("conferenceChatSend", numConf="4000", message="") == {
        "error": "InvalidMessage", "message": "message: Field is required but missing"}
    assert alice.error("conferenceChatSend", numConf="4000", message="x" * 5000) == {
        "error": "InvalidMessage", "message": "message: String must not be more than 4096 "
                                              "characters"}


def test_subject(world):
    alice, bob = world.cti("alice"), world.cti("bob")
    world.join(world.support, "alice", organizer=True)
    world.join(world.support, "bob")
    alice.sync(), bob.sync()
    alice.send("conferenceSetSubject", numConf="4000", subject="Q3 planning",
               description="bring numbers")
    expected = {"numConf": "4000", "subject": "Q3 planning", "description": "bring numbers"}
    assert bob.wait_for("ConferenceSubject") == expected
    assert alice.wait_for("ConferenceSubject") == expected
    doc = world.rest("GET", f"/conferences/{world.support}", None, 200).data
    assert doc["muc"]["subject"] == "Q3 planning"
    assert bob.error("conferenceSetSubject", numConf="4000", subject="mine") == {
        "error": "NotAllowed", "message": "only moderators may change the subject"}
    assert alice.error("conferenceSetSubject", numConf="4000", subject=42) == {
        "error": "InvalidSubject", "message": "muc.subject: Value did not match type(s): string"}
    carol = world.cti("carol")
    assert carol.error("conferenceSetSubject", numConf="4000", subject="x") == {
        "error": "NotAMember"}


def test_visitors_of_a_moderated_room(world):
    town = world.conference(name="town hall", conference_numbers=["4100"],
                            moderator={"pins": [MOD_PIN]}, member={"join_muted": False},
                            muc={"moderated": True})
    alice, carol = world.cti("alice"), world.cti("carol")
    world.join(town, "alice", organizer=True)
    world.join(town, "carol")  # no affiliation: a visitor, muted
    alice.sync(), carol.sync()
    assert world.participant(town, 2)["speak"] is False

    assert carol.error("conferenceUnmuteMe", numConf="4100") == {
        "error": "NotAllowed", "message": "a visitor has no voice: grant voice before unmuting"}
    assert carol.error("conferenceChatSend", numConf="4100", message="hi") == {
        "error": "NotAllowed", "message": "visitors may not post in a moderated room"}
    # The organizer cannot unmute a visitor either, but can give voice.
    assert alice.error("conferenceUnmute", numConf="4100", index=2) == {
        "error": "NotAllowed", "message": "a visitor has no voice: grant voice before unmuting"}
    alice.send("conferenceGrantVoice", numConf="4100", index=2)
    ev = carol.wait_for("ConferenceParticipantEvent")
    assert (ev["eventType"], ev["index"], ev["isMe"], ev["isMuted"]) == ("Update", 2, True, True)
    carol.send("conferenceUnmuteMe", numConf="4100")
    ev = carol.wait_for("ConferenceParticipantEvent")
    assert (ev["index"], ev["isMuted"]) == (2, False)
    carol.send("conferenceChatSend", numConf="4100", message="thanks")
    assert alice.wait_for("ConferenceChatMessage")["message"] == "thanks"
    assert carol.wait_for("ConferenceChatMessage")["message"] == "thanks"
    alice.sync(), carol.sync()
    # Revoking voice mutes again (an Update for the mute, one for the lost voice).
    alice.ok("conferenceRevokeVoice", numConf="4100", index=2)
    evs = [m["ctiMessage"] for m in carol.sync()]
    assert [(e["eventType"], e["index"], e["isMuted"]) for e in evs] == [
        ("Update", 2, True), ("Update", 2, True)]
    assert carol.error("conferenceUnmuteMe", numConf="4100")["error"] == "NotAllowed"
    # A moderator's voice cannot be revoked.
    assert alice.error("conferenceRevokeVoice", numConf="4100", index=1) == {
        "error": "NotAllowed", "message": "a moderator's voice cannot be revoked"}

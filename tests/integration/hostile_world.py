"""The world test_hostile.py attacks: two tenant accounts with users, conferences (one live, with
a user in it), hubs, media with a file, chat messages, call logs and a recording, made through
the real API of the running binary; and the checks of each face's own error format."""
import json
import os
import time

from conftest import ok
from hostile_clients import RawWs, call, md5
from media_room import make_wav
from rtp_peer import Peer, answer_port, run

PASSWORDS = {"alice": "alice-pass-77", "bob": "bob-pass-78", "carol": "carol-pass-79",
             "dave": "dave-pass-80"}
MEMBER_PIN, MODERATOR_PIN = "1111", "9999"
XUC = "/xuc/api/2.0"


class Tenant:
    """One account: its API key and token, users (name -> id, token), a conference (number
    4000 or 5000) with PINs, a hub, a media document."""

    def __init__(self, world, name, users, number):
        s = self.s = world.s
        self.name = name
        r = s.request("PUT", "/v2/accounts", {"data": {"name": name}}, token=world.admin)
        d = ok(r, 201)
        self.id, self.api_key = d["id"], d["api_key"]
        self.token = s.token_for_key(self.api_key)
        self.users, self.user_tokens, self.ext = {}, {}, {}
        for i, (user, level) in enumerate(users):
            ext = str(int(number) // 2 - 999 + i)  # 1001, 1002 / 1501, 1502
            r = self.rest("PUT", "/users", {"data": {
                "username": user, "password": PASSWORDS[user], "first_name": user.title(),
                "last_name": name.title(), "extension": ext, "priv_level": level}})
            self.users[user] = ok(r, 201)["id"]
            self.ext[user] = ext
            r = s.request("PUT", "/v2/user_auth", {"data": {
                "credentials": md5(f"{user}:{PASSWORDS[user]}"), "account_name": name}})
            ok(r, 201)
            self.user_tokens[user] = r.json["auth_token"]
        self.number = number
        self.conf = ok(self.rest("PUT", "/conferences", {"data": {
            "name": f"{name} room", "conference_numbers": [number],
            "member": {"pins": [MEMBER_PIN], "join_muted": False},
            "moderator": {"pins": [MODERATOR_PIN]}}}), 201)["id"]
        owner = users[0][0]
        self.hub = ok(self.rest("PUT", "/hubs", {"data": {
            "name": f"{name} hub", "owner_id": self.users[owner], "default_privilege": 1,
            "privileges": {}}}), 201)["id"]
        self.media = ok(self.rest("PUT", "/media", {"data": {"name": f"{name} tune"}}), 201)["id"]
        self.wav = make_wav(8000, 1, 0.2)
        r = call(s, "POST", f"/v2/accounts/{self.id}/media/{self.media}/raw", self.wav,
                 {"X-Auth-Token": self.token, "Content-Type": "audio/wav"})
        ok(r, 200)
        # The owner in the live room, as themselves, a moderator (the CTI sees them in it).
        r = s.request("POST", f"/v2/accounts/{self.id}/conferences/{self.conf}/participants",
                      {"data": {"name": owner.title(), "number": self.ext[owner],
                                "pin": MODERATOR_PIN, "user_id": self.users[owner]}},
                      token=self.token)
        self.participant = ok(r, 201)["participant_id"]
        self.owner = owner

    def rest(self, method, path, body=None, token=None):
        return self.s.request(method, f"/v2/accounts/{self.id}{path}", body,
                              token=token or self.token)


class World:
    def __init__(self, server):
        self.s = server
        self.admin = server.admin_token()
        with open(os.path.join(server.data_dir, "secret.key")) as f:
            self.secret = f.read().strip()
        self.A = Tenant(self, "alpha", [("alice", "admin"), ("bob", "user")], "4000")
        self.B = Tenant(self, "bravo", [("carol", "admin"), ("dave", "user")], "5000")
        a = self.A
        # A chat message in A's room, and a call log between A's users (both direct channels).
        r = self.drumee("chat.post", {"room_id": a.conf, "message": "the plan is secret"},
                        a.user_tokens["alice"])
        assert r.status == 200, r
        r = self.drumee("conference.logCall", {"callee": {"entity_id": a.users["bob"]},
                                               "event": "leave", "hub_id": a.hub},
                        a.user_tokens["alice"])
        assert r.status == 200, r
        self.dm = f"dm:{a.users['alice']}:{a.users['bob']}"
        # A recording of A's room (the mix needs a leg in it while it records).
        base = f"/v2/accounts/{a.id}/conferences/{a.conf}"
        peer = Peer(0)
        try:
            r = self.s.request("POST", base + "/participants", {"data": {
                "name": "recorder", "number": "600", "pin": MEMBER_PIN, "sdp": peer.sdp()}},
                token=a.token)
            leg = ok(r, 201)["participant_id"]
            peer.server_port = answer_port(r.data["sdp"])
            run([peer], 0.2)
            for step in ("start", "stop"):
                r = self.s.request("PUT", base, {"action": "record", "data": {"action": step}},
                                   token=a.token)
                assert r.status == 202, r
                run([peer], 0.3)
            deadline = time.monotonic() + 10
            while not ok(self.s.request("GET", f"/v2/accounts/{a.id}/recordings",
                                        token=a.token)):
                assert time.monotonic() < deadline, "the recording was never stored"
                time.sleep(0.05)
            self.recording = ok(self.s.request("GET", f"/v2/accounts/{a.id}/recordings",
                                               token=a.token))[0]["id"]
            ok(self.s.request("DELETE", f"{base}/participants/{leg}", token=a.token))
        finally:
            peer.close()

    # --- faces ---------------------------------------------------------------------------------

    def drumee(self, service, params, token=None, headers=None):
        h = {"Content-Type": "application/json"}
        if token:
            h["X-Auth-Token"] = token
        h.update(headers or {})
        return call(self.s, "POST", f"/-/svc/{service}", params, h)

    def xivo_token(self, tenant, user):
        r = self.s.request("POST", f"{XUC}/auth/login",
                           {"login": user, "password": PASSWORDS[user]})
        assert r.status == 200, r
        return r.json["token"]

    def cti(self, token):
        """A CTI socket, past its LoggedOn."""
        w = RawWs(self.s.port, f"{XUC}/cti?token={token}")
        assert w.status == 101, w.head
        m = w.recv_json()
        assert m["msgType"] == "LoggedOn", m
        return w

    def kazoo_ws(self):
        w = RawWs(self.s.port, "/v2/websocket")
        assert w.status == 101, w.head
        return w

    def drumee_ws(self, token=None):
        w = RawWs(self.s.port, "/-/websocket" + (f"?token={token}" if token else ""))
        assert w.status == 101, w.head
        hello = w.recv_json()
        assert hello["service"] == "sys.hello", hello
        w.hello_id = hello["data"]["socket_id"]
        return w

    # --- what is stored ------------------------------------------------------------------------

    def count(self, tenant, collection):
        r = self.s.request("GET", f"/v2/accounts/{tenant.id}/{collection}", token=tenant.token)
        return len(ok(r))

    def revision(self, tenant, path):
        r = self.s.request("GET", f"/v2/accounts/{tenant.id}{path}", token=tenant.token)
        ok(r)
        return r.json.get("revision")

    def messages(self, room, token):
        r = self.drumee("chat.messages", {"room_id": room, "limit": 200}, token)
        assert r.status == 200, r
        return r.json["data"]["messages"]


# --- each face's own error format ---------------------------------------------------------------

def kazoo_error(r, status, message=None, field=None, rule=None, part=None):
    """Kazoo's envelope: status "error", error the HTTP code, message its name, data naming the
    field (data.<path>.<rule>.message)."""
    assert r.status == status, r
    j = r.json
    assert isinstance(j, dict) and j.get("status") == "error", r
    assert j["error"] == str(status), r
    if message is not None:
        assert j["message"] == message, r
    data = j.get("data")
    assert isinstance(data, dict), r
    if field is not None:
        assert field in data, (field, r)
        if rule is not None:
            assert rule in data[field], (field, rule, r)
            assert isinstance(data[field][rule]["message"], str), r
    if part is not None:
        assert part in json.dumps(data), (part, r)
    return data


def xivo_error(r, status, error=None, part=None):
    """xuc's token API: exactly {"error": <code name>, "message": <what is wrong>}."""
    assert r.status == status, r
    j = r.json
    assert isinstance(j, dict) and set(j) == {"error", "message"}, r
    assert isinstance(j["error"], str) and not j["error"].isdigit(), r
    assert isinstance(j["message"], str) and j["message"], r
    if error is not None:
        assert j["error"] == error, r
    if part is not None:
        assert part in j["message"], (part, r)
    return j


def drumee_error(r, status, error=None, field=None, part=None):
    """Drumee's {"__ack__", "__status__": "error", "error", "error_code", "status", "reason"};
    invalid_data names the field in details."""
    assert r.status == status, r
    j = r.json
    assert isinstance(j, dict) and j.get("__status__") == "error", r
    assert isinstance(j.get("__ack__"), str), r
    assert j["error_code"] == status and j["status"] == status, r
    assert isinstance(j.get("reason"), str), r
    if error is not None:
        assert j["error"] == error, r
    if field is not None:
        assert field in j.get("details", {}), (field, r)
    if part is not None:
        assert part in json.dumps(j), (part, r)
    return j


def userplane_error(r, status, part=None):
    assert r.status == status, r
    j = r.json
    assert isinstance(j, dict) and j.get("result") == "Failure", r
    assert j["resultCode"] == status and j["data"] == {}, r
    assert j["error"] == [j["message"]] and j["message"], r
    if part is not None:
        assert part in j["message"], (part, r)
    return j

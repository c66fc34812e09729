"""Documented limits (docs/api/limits.md) against the real binary, on every face: lists, strings and
numbers from outside are bounded, an over-limit input is refused in the face's own error format
naming the field and its limit, nothing of it is stored, and the control thread stays free (other
clients are answered meanwhile). Names refuse control characters but keep any script."""
import hashlib
import json
import threading
import urllib.parse

import pytest

from conftest import error_data, ok, ws_connect

RECV_TIMEOUT = 5
PASSWORD = "limits-pass-1"
XUC = "/xuc/api/2.0"
SCRIPTS = ["Zoë", "会议", "مؤتمر", "Réunion 🎉", "Ελληνικά", "कॉन्फ़्रेंस"]
CONTROL = ["a\u0000b", "a\u0001b", "a\u001fb", "a\u007fb", "line\nbreak", "tab\there"]


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


class Api:
    def __init__(self, server, account):
        self.s = server
        self.acct, self.token = account

    def req(self, method, path, body=None, **kw):
        return self.s.request(method, f"/v2/accounts/{self.acct}{path}", body, token=self.token,
                              **kw)

    def conferences(self):
        return ok(self.req("GET", "/conferences"))

    def user(self, username, **extra):
        data = {"username": username, "password": PASSWORD, "first_name": username.title(),
                "last_name": "Doe", **extra}
        r = self.req("PUT", "/users", {"data": data})
        return ok(r, 201)["id"]

    def user_token(self, username):
        r = self.s.request("PUT", "/v2/user_auth", {"data": {
            "credentials": md5(f"{username}:{PASSWORD}"), "account_name": "acme"}})
        assert r.status == 201, r
        return r.json["auth_token"]


@pytest.fixture
def api(server, account):
    return Api(server, account)


def rule(data, path, name):
    assert path in data, (path, data)
    assert name in data[path], (path, data[path])
    return data[path][name]


# --- Kazoo REST: documents ---------------------------------------------------------------------

@pytest.mark.parametrize("where", ["member.pins", "moderator.pins", "conference_numbers",
                                   "member.numbers"])
def test_fifty_thousand_items_are_refused_naming_the_list_and_its_maximum(api, where):
    items = [f"{i:06d}" for i in range(50_000)]
    data = {"name": "huge"}
    if "." in where:
        role, key = where.split(".")
        data[role] = {key: items}
    else:
        data[where] = items
    r = api.req("PUT", "/conferences", {"data": data})
    err = error_data(r, 400, "invalid data")
    max_items = rule(err, where, "maxItems")
    assert max_items["value"] == 100 and "100" in max_items["message"], max_items
    # One error for the list, not one per item.
    assert len(err) == 1, list(err)[:5]
    assert api.conferences() == []


def test_lists_at_their_maximum_are_taken_and_one_more_is_not(api):
    pins = [f"{i:04d}" for i in range(100)]
    numbers = [f"7{i:03d}" for i in range(100)]
    doc = ok(api.req("PUT", "/conferences", {"data": {
        "name": "full", "member": {"pins": pins}, "moderator": {"pins": [f"9{p}" for p in pins]},
        "conference_numbers": numbers}}), 201)
    assert doc["member"]["pins"] == pins and doc["conference_numbers"] == numbers
    r = api.req("PATCH", f"/conferences/{doc['id']}",
                {"data": {"member": {"pins": pins + ["5555"]}}})
    rule(error_data(r, 400, "invalid data"), "member.pins", "maxItems")
    assert ok(api.req("GET", f"/conferences/{doc['id']}"))["member"]["pins"] == pins


@pytest.mark.parametrize("data,path,name,limit", [
    ({"name": "x", "member": {"pins": ["1" * 17]}}, "member.pins.0", "maxLength", 16),
    ({"name": "x", "conference_numbers": ["1" * 33]}, "conference_numbers.0", "maxLength", 32),
    ({"name": "x", "profile": "p" * 257}, "profile", "maxLength", 256),
    ({"name": "x", "muc": {"subject": "s" * 1025}}, "muc.subject", "maxLength", 1024),
    ({"name": "x", "max_participants": 10_001}, "max_participants", "maximum", 10_000),
    ({"name": "x", "notes": "n" * 4097}, "notes", "maxLength", 4096),
    ({"name": "x", "tags": list(range(101))}, "tags", "maxItems", 100),
    ({"name": "x", "ui": {"1": {"2": {"3": {"4": {"5": {"6": {"7": {"8": {"9": 1}}}}}}}}}}, "ui",
     "maxDepth", 8),
])
def test_every_string_list_and_number_of_a_document_is_bounded(api, data, path, name, limit):
    r = api.req("PUT", "/conferences", {"data": data})
    got = rule(error_data(r, 400, "invalid data"), path, name)
    assert got["value"] == limit and str(limit) in got["message"], got
    assert api.conferences() == []


def test_the_stored_size_of_a_document_is_bounded(api):
    # Every string and list is within its own limit; together they are too much to store.
    notes = {f"k{i}": "n" * 4000 for i in range(20)}
    r = api.req("PUT", "/conferences", {"data": {"name": "fat", "notes": notes}})
    got = rule(error_data(r, 400, "invalid data"), "data", "maxLength")
    assert got["value"] == 65536 and "65536" in got["message"], got
    assert api.conferences() == []
    r = api.req("PUT", "/users", {"data": {"first_name": "F", "last_name": "L", "notes": notes}})
    rule(error_data(r, 400, "invalid data"), "data", "maxLength")


def test_healthz_answers_while_a_burst_of_large_valid_documents_is_written(server, api):
    total, workers = 160, 8
    statuses, lock = [], threading.Lock()

    def writer(w):
        for k in range(total // workers):
            i = w * (total // workers) + k
            body = {"data": {
                "name": f"burst {i}",
                "member": {"pins": [f"{i:04d}{j:03d}" for j in range(100)]},
                "moderator": {"pins": [f"9{i:04d}{j:03d}" for j in range(100)]},
                "conference_numbers": [f"8{i:04d}{j:03d}" for j in range(100)]}}
            r = api.req("PUT", "/conferences", body)
            with lock:
                statuses.append(r.status)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    answered_in_flight = 0
    while any(t.is_alive() for t in threads):
        r = server.request("GET", "/healthz")
        with lock:
            pending = len(statuses) < total
        if r.status == 200 and pending:
            answered_in_flight += 1
    for t in threads:
        t.join()
    assert statuses == [201] * total, sorted(set(statuses))
    assert answered_in_flight > 0
    assert len(api.conferences()) == total


@pytest.mark.parametrize("bad", CONTROL)
def test_names_with_control_characters_are_refused_on_kazoo(api, bad):
    r = api.req("PUT", "/conferences", {"data": {"name": bad}})
    assert "control" in rule(error_data(r, 400, "invalid data"), "name", "pattern")["message"]
    r = api.req("PUT", "/users", {"data": {"first_name": bad, "last_name": "L"}})
    rule(error_data(r, 400, "invalid data"), "first_name", "pattern")
    r = api.req("PUT", "/media", {"data": {"name": bad}})
    rule(error_data(r, 400, "invalid data"), "name", "pattern")
    assert api.conferences() == []
    assert ok(api.req("GET", "/users")) == []
    assert ok(api.req("GET", "/media")) == []


def test_control_characters_are_refused_in_joins_and_numbers(api):
    conf = ok(api.req("PUT", "/conferences", {"data": {"name": "room"}}), 201)["id"]
    for field in ("name", "number", "call_id"):
        r = api.req("POST", f"/conferences/{conf}/participants",
                    {"data": {field: "a\u0000b"}})
        rule(error_data(r, 400, "invalid data"), field, "pattern")
    r = api.req("POST", f"/conferences/{conf}/participants", {"data": {"name": "n" * 257}})
    assert rule(error_data(r, 400, "invalid data"), "name", "maxLength")["value"] == 256
    assert ok(api.req("GET", f"/conferences/{conf}/participants")) == []
    r = api.req("PUT", "/conferences", {"data": {"name": "x", "conference_numbers": ["12\u00004"]}})
    rule(error_data(r, 400, "invalid data"), "conference_numbers.0", "pattern")


def test_invalid_utf8_is_refused(api):
    raw = b'{"data":{"name":"caf\xe9"}}'
    r = api.req("PUT", "/conferences", raw=raw)
    error_data(r, 400, "parse_error")
    assert api.conferences() == []


@pytest.mark.parametrize("name", SCRIPTS)
def test_any_script_round_trips_on_kazoo(api, name):
    doc = ok(api.req("PUT", "/conferences", {"data": {"name": name, "muc": {"subject": name}}}),
             201)
    assert doc["name"] == name
    got = ok(api.req("GET", f"/conferences/{doc['id']}"))
    assert got["name"] == name and got["muc"]["subject"] == name
    assert [c["name"] for c in api.conferences()] == [name]
    p = ok(api.req("POST", f"/conferences/{doc['id']}/participants", {"data": {"name": name}}),
           201)
    assert p["caller_id_name"] == name
    uid = api.user("zoe", first_name=name, last_name=name)
    assert ok(api.req("GET", f"/users/{uid}"))["first_name"] == name


def test_relate_participant_ids_are_checked_integers(api):
    conf = ok(api.req("PUT", "/conferences", {"data": {"name": "room"}}), 201)["id"]
    for bad in ("x", "1.5", 2**40, -3, 0):
        r = api.req("PUT", f"/conferences/{conf}/participants", {"data": {
            "action": "relate", "participant_id": bad, "other_participant": 1}})
        got = error_data(r, 400, "invalid data")
        assert "participant_id" in got, got


def test_actions_and_media_ids_are_bounded(api):
    conf = ok(api.req("PUT", "/conferences", {"data": {"name": "room"}}), 201)["id"]
    ok(api.req("POST", f"/conferences/{conf}/participants", {"data": {"name": "a"}}), 201)
    r = api.req("PUT", f"/conferences/{conf}", {"data": {"action": "x" * 65}})
    assert rule(error_data(r, 400, "invalid data"), "action", "maxLength")["value"] == 64
    r = api.req("PUT", f"/conferences/{conf}", {"data": {"action": "play",
                                                        "media_id": "m" * 1025}})
    assert rule(error_data(r, 400, "invalid data"), "data.media_id", "maxLength")["value"] == 1024


# --- Kazoo event socket ------------------------------------------------------------------------

def es_call(ws, msg):
    ws.send(json.dumps(msg))
    ws.settimeout(RECV_TIMEOUT)
    return json.loads(ws.recv())


def test_event_socket_bounds_bindings_and_request_ids(server, api):
    conf = ok(api.req("PUT", "/conferences", {"data": {"name": "room"}}), 201)["id"]
    ws = ws_connect(server)
    try:
        many = [f"conference.event.{conf}.call{i}" for i in range(101)]
        r = es_call(ws, {"action": "subscribe", "auth_token": api.token, "request_id": "r1",
                         "data": {"account_id": api.acct, "bindings": many}})
        assert r["status"] == "error" and r["request_id"] == "r1", r
        assert "bindings" in r["data"]["errors"][0] and "100" in r["data"]["errors"][0], r
        r = es_call(ws, {"action": "subscribe", "auth_token": api.token,
                         "data": {"binding": f"conference.event.{conf}.a\u0000b"}})
        assert r["status"] == "error" and "binding" in r["data"]["errors"][0], r
        r = es_call(ws, {"action": "ping", "auth_token": api.token, "request_id": "x" * 300})
        assert r["status"] == "error" and "request_id" in r["data"]["errors"][0], r
        assert len(r["request_id"]) <= 128, r
        # A socket holds at most 100 bindings, however many messages bring them.
        for k in range(2):
            batch = [f"conference.event.{conf}.c{k}x{i}" for i in range(50)]
            r = es_call(ws, {"action": "subscribe", "auth_token": api.token,
                             "data": {"bindings": batch}})
            assert r["status"] == "success", r
        r = es_call(ws, {"action": "subscribe", "auth_token": api.token,
                         "data": {"binding": f"conference.event.{conf}.one-more"}})
        assert r["status"] == "error" and "100" in r["data"]["errors"][0], r
        r = es_call(ws, {"action": "unsubscribe", "auth_token": api.token,
                         "data": {"bindings": [f"conference.event.{conf}.c0x{i}"
                                               for i in range(50)]}})
        assert r["status"] == "success", r
        # Within the limits, the subscription works and names arrive in any script.
        r = es_call(ws, {"action": "subscribe", "auth_token": api.token, "request_id": "r2",
                         "data": {"binding": f"conference.event.{conf}.*"}})
        assert r["status"] == "success", r
        ok(api.req("POST", f"/conferences/{conf}/participants", {"data": {"name": "Zoë 会议"}}),
           201)
        ws.settimeout(RECV_TIMEOUT)
        ev = json.loads(ws.recv())
        while ev["name"] != "add-member":  # conference-create comes first
            ev = json.loads(ws.recv())
        assert ev["data"]["caller_id_name"] == "Zoë 会议", ev
    finally:
        ws.close()


# --- Drumee ------------------------------------------------------------------------------------

def dsvc(server, name, params, token=None):
    return server.request("POST", f"/-/svc/{name}", params, token=token)


def drumee_err(r, ack):
    assert r.status == 400, r
    j = r.json
    assert j["__ack__"] == ack and j["__status__"] == "error" and j["error_code"] == 400, r
    assert j["error"] == "invalid_data", r
    return j


class Drumee:
    def __init__(self, server, api):
        self.s, self.api = server, api
        self.alice = api.user("alice")
        self.token = api.user_token("alice")
        r = api.req("PUT", "/hubs", {"data": {"name": "Zoë 会议", "owner_id": self.alice,
                                              "default_privilege": 1}})
        self.hub = ok(r, 201)["id"]

    def live(self, token=None):
        path = "/-/websocket" + ("?" + urllib.parse.urlencode({"token": token}) if token else "")
        ws = ws_connect(self.s, path, timeout=RECV_TIMEOUT)
        hello = json.loads(ws.recv())
        return ws, hello["data"]["socket_id"]


@pytest.fixture
def drumee(server, api):
    return Drumee(server, api)


@pytest.mark.parametrize("limit", [100000, 201, 0, -1, "abc", 1.5, "1e3", True, [5]])
def test_drumee_chat_limit_out_of_range_is_400_naming_limit_and_its_range(server, drumee, limit):
    r = dsvc(server, "chat.messages", {"peer_id": drumee.alice, "limit": limit}, drumee.token)
    j = drumee_err(r, "chat.messages")
    assert "limit" in j["reason"] and "1..200" in j["reason"], j
    assert list(j["details"]) == ["limit"], j


def test_drumee_chat_limit_in_range_and_from_a_query_string(server, drumee):
    for limit in (1, 200, "50"):
        r = dsvc(server, "chat.messages", {"peer_id": drumee.alice, "limit": limit}, drumee.token)
        assert r.status == 200, r
    r = server.request("GET", "/-/svc/chat.messages?" + urllib.parse.urlencode(
        {"peer_id": drumee.alice, "limit": "100000"}), token=drumee.token)
    assert "1..200" in drumee_err(r, "chat.messages")["reason"]


@pytest.mark.parametrize("service,params,field,limits", [
    ("chat.messages", {"before": -1}, "before", "0.."),
    ("conference.logCall", {"callee": {"entity_id": "x"}, "event": "leave", "duration": -5},
     "duration", "0..604800"),
    ("conference.logCall", {"callee": {"entity_id": "x"}, "event": "leave", "duration": 10**9},
     "duration", "0..604800"),
])
def test_drumee_other_numbers_are_ranged(server, drumee, service, params, field, limits):
    params = dict(params)
    if service == "chat.messages":
        params["peer_id"] = drumee.alice
    else:
        params["hub_id"] = drumee.hub
    j = drumee_err(dsvc(server, service, params, drumee.token), service)
    assert field in j["reason"] and limits in j["reason"], j


def test_drumee_strings_are_bounded_and_control_characters_refused(server, drumee):
    ws, sock = drumee.live()
    try:
        base = {"hub_id": drumee.hub, "socket_id": sock, "metadata": {}}
        r = dsvc(server, "conference.join", {**base, "guest_name": "a\u0000b"})
        assert "guest_name" in drumee_err(r, "conference.join")["details"], r
        r = dsvc(server, "conference.join", {**base, "guest_name": "g" * 257})
        assert "256" in drumee_err(r, "conference.join")["reason"], r
        r = dsvc(server, "conference.join", {**base, "metadata": {"type": "t\u007f"}})
        drumee_err(r, "conference.join")
        r = dsvc(server, "conference.join", {**base, "metadata": {"blob": "x" * 9000}})
        assert "metadata" in drumee_err(r, "conference.join")["reason"], r
        # Invalid UTF-8 from a form body.
        raw = urllib.parse.urlencode({"hub_id": drumee.hub, "socket_id": sock, "metadata": "{}"})
        r = server.request("POST", "/-/svc/conference.join", raw=(raw + "&guest_name=caf%E9").encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert "guest_name" in drumee_err(r, "conference.join")["details"], r
        # Nothing was created by any of them.
        assert api_conferences(drumee) == []
    finally:
        ws.close()


def api_conferences(drumee):
    return drumee.api.conferences()


def test_drumee_objects_are_bounded(server, drumee):
    ws, sock = drumee.live(drumee.token)
    try:
        r = dsvc(server, "conference.broadcast", {"hub_id": drumee.hub, "socket_id": sock,
                                                  "event": "draw",
                                                  "payload": {"p": ["x" * 1000] * 9}},
                 drumee.token)
        assert "payload" in drumee_err(r, "conference.broadcast")["reason"], r
        r = dsvc(server, "conference.broadcast", {"hub_id": drumee.hub, "socket_id": sock,
                                                  "event": "draw", "payload": {"p": [1] * 101}},
                 drumee.token)
        assert "payload.p" in drumee_err(r, "conference.broadcast")["details"], r
        r = dsvc(server, "conference.broadcast", {"hub_id": drumee.hub, "socket_id": sock,
                                                  "event": "draw", "payload": {"p": "ok"}},
                 drumee.token)
        assert r.status == 200, r
    finally:
        ws.close()


def test_drumee_any_script_round_trips(server, drumee):
    ws, sock = drumee.live()
    try:
        r = dsvc(server, "conference.join", {"hub_id": drumee.hub, "socket_id": sock,
                                             "metadata": {}, "guest_name": "Zoë مؤتمر"})
        assert r.status == 200, r
        d = r.json["data"]
        assert d["details"]["name"].startswith("Zoë 会议"), d
        assert d["user"]["firstname"] == "Zoë مؤتمر", d
    finally:
        ws.close()
    ws, sock = drumee.live(drumee.token)
    try:
        bob = drumee.api.user("bob")
        r = dsvc(server, "chat.post", {"peer_id": bob, "message": "会议 🎉 Zoë"}, drumee.token)
        assert r.status == 200, r
        r = dsvc(server, "chat.messages", {"peer_id": bob}, drumee.token)
        assert [m["body"] for m in r.json["data"]["messages"]] == ["会议 🎉 Zoë"], r
        r = dsvc(server, "chat.post", {"peer_id": bob, "message": "a\u0000b"}, drumee.token)
        assert "message" in drumee_err(r, "chat.post")["details"], r
        r = dsvc(server, "chat.post", {"peer_id": bob, "message": "two\nlines"}, drumee.token)
        assert r.status == 200, r
    finally:
        ws.close()


# --- XiVO --------------------------------------------------------------------------------------

class Cti:
    def __init__(self, server, token):
        self.ws = ws_connect(server, f"{XUC}/cti?token={token}")
        self.send_raw({"claz": "ping"})
        assert self.recv()["msgType"] == "LoggedOn"
        assert self.recv()["msgType"] == "Pong"

    def send_raw(self, msg):
        self.ws.send(json.dumps(msg))

    def recv(self):
        self.ws.settimeout(RECV_TIMEOUT)
        return json.loads(self.ws.recv())

    def command(self, command, **args):
        """Sends a command; returns what came back before the next Pong."""
        self.send_raw({"claz": "web", "command": command, **args})
        self.send_raw({"claz": "ping"})
        out = []
        while True:
            m = self.recv()
            if m == {"msgType": "Pong", "ctiMessage": {}}:
                return out
            out.append(m)

    def expect(self, msg_type):
        """The next frame of this type (others before it are dropped)."""
        for _ in range(20):
            m = self.recv()
            if m["msgType"] == msg_type:
                return m["ctiMessage"]
        raise AssertionError(f"no {msg_type}")

    def close(self):
        self.ws.close()


@pytest.fixture
def xivo(server, api):
    uid = api.user("alice", extension="1001")
    conf = ok(api.req("PUT", "/conferences", {"data": {
        "name": "会议 Zoë", "conference_numbers": ["4000"], "muc": {
            "affiliations": {uid: "owner"}}}}), 201)
    r = server.request("POST", f"{XUC}/auth/login", {"login": "alice", "password": PASSWORD},
                       headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    cti = Cti(server, r.json["token"])
    ok(api.req("POST", f"/conferences/{conf['id']}/participants",
               {"data": {"user_id": uid, "name": "Alice"}}), 201)
    cti.command("getList", objectType="meetme")
    yield cti
    cti.close()


@pytest.mark.parametrize("limit", [100000, 201, 0, -4, "x", 2.5])
def test_xivo_history_limit_out_of_range_is_an_error_naming_limit(xivo, limit):
    got = xivo.command("conferenceChatHistory", numConf="4000", limit=limit)
    assert got == [{"msgType": "Error", "ctiMessage": {
        "Error": "limit must be an integer in 1..200"}}], got


def test_xivo_numbers_and_strings_are_bounded(xivo):
    got = xivo.command("conferenceMute", numConf="4000", index=2**40)
    assert got[0]["msgType"] == "Error" and "index" in got[0]["ctiMessage"]["Error"], got
    got = xivo.command("conferenceChatHistory", numConf="4000", before=-1)
    assert got[0]["msgType"] == "Error" and "before" in got[0]["ctiMessage"]["Error"], got
    got = xivo.command("conferenceChatSend", numConf="4000", message="a\u0000b")
    assert got[0]["ctiMessage"]["error"] == "InvalidMessage", got
    assert "message" in got[0]["ctiMessage"]["message"], got
    got = xivo.command("conferenceSetSubject", numConf="4000", subject="s\u0007")
    assert got[0]["ctiMessage"]["error"] == "InvalidSubject", got
    assert "subject" in got[0]["ctiMessage"]["message"], got
    got = xivo.command("conferenceChatSend", numConf="4" * 100, message="hi")
    assert got[0]["msgType"] == "Error" and "numConf" in got[0]["ctiMessage"]["Error"], got


def test_xivo_login_is_bounded(server, api):
    for login in ("a\u0000b", "l" * 257):
        r = server.request("POST", f"{XUC}/auth/login", {"login": login, "password": "x"},
                           headers={"Content-Type": "application/json"})
        assert r.status == 400 and r.json["error"] == "InvalidJson", r
        assert "login" in r.json["message"], r


def test_xivo_any_script_round_trips(xivo):
    text = "مؤتمر 🎉 Zoë"
    got = xivo.command("conferenceChatSend", numConf="4000", message=text)
    assert not [m for m in got if "rror" in m["msgType"]], got
    assert xivo.expect("ConferenceChatMessage")["message"] == text
    got = xivo.command("conferenceChatHistory", numConf="4000")
    assert got[0]["ctiMessage"]["messages"][0]["message"] == text, got
    got = xivo.command("getList", objectType="meetme")
    names = [c["name"] for m in got if m["msgType"] == "ConferenceList" for c in m["ctiMessage"]]
    assert names in ([], ["会议 Zoë"]), got  # unchanged since the fixture's getList: not resent


# --- Userplane ---------------------------------------------------------------------------------

def basic(site, key):
    import base64
    return {"Authorization": "Basic " + base64.b64encode(f"{site}:{key}".encode()).decode()}


def test_userplane_lists_any_script_and_bounds_room_ids(server):
    admin = server.admin_token()
    r = server.request("PUT", "/v2/accounts", {"data": {"name": "site"}}, token=admin)
    site, key = r.data["id"], r.data["api_key"]
    tok = server.token_for_key(key)
    for name in SCRIPTS[:3]:
        ok(server.request("PUT", f"/v2/accounts/{site}/conferences", {"data": {
            "name": name, "muc": {"subject": name}}}, token=tok), 201)
    r = server.request("GET", "/v1/conference.json", headers=basic(site, key))
    assert r.status == 200, r
    assert sorted(x["name"] for x in r.json["data"]["rooms"]) == sorted(SCRIPTS[:3])
    r = server.request("GET", "/v1/conference/" + "r" * 300 + ".json", headers=basic(site, key))
    assert r.status == 400 and r.json["result"] == "Failure", r
    assert "roomId" in r.json["message"], r

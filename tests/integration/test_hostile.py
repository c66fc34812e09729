"""Hostile inputs against the real binary, every face and transport (issue 12, "Hostile
inputs"): malformed JSON, wrong types on every field, huge bodies and headers, slowloris,
WebSocket framing abuse, other tenants' ids, forged tokens, path traversal, SDP garbage, RTP and
RTCP garbage to a live leg, numbers out of range, control characters in names and oversized
arrays. Every case is a row of a table; each asserts the clear 4xx (in the face's own error
format, naming what is wrong) or the WebSocket close code that the documentation promises, that
nothing was stored where a write was attempted, and, after it, that GET /healthz answers 200.

The contract comes from docs/api/*, docs/security.md and the README's limits; where those say
nothing (XiVO and Drumee have no documented 413), the face's own envelope is still expected.
One server serves most tables (small limits through its config, so the slow cases are quick);
the oversized arrays get their own, since a server that takes them slowly must not hold the
other tables up. `test_secrets_never_reach_the_log` runs its own at debug level.
"""
import base64
import contextlib
import json
import os
import select
import socket
import threading
import time
import urllib.parse

import pytest

from conftest import ok, running
from hostile_clients import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWs,
                             WsClosed, b64url, call, exchange, frame, md5, mint, parse_answer,
                             payload_of, rtcp, rtp, sdp, sign)
from hostile_world import (MEMBER_PIN, MODERATOR_PIN, PASSWORDS, XUC, World, drumee_error,
                           kazoo_error, userplane_error, xivo_error)
from media_room import make_wav
from rtp_peer import Peer, answer_port, goertzel

BODY_LIMIT = 3 << 20  # the configured limits (README): over them, 413
UPLOAD_LIMIT = 2 << 20
CONFIG = f"""
[http]
body_limit = {BODY_LIMIT}
header_timeout = 1
body_timeout = 1
[media]
upload_limit = {UPLOAD_LIMIT}
[pins]
caller_attempts = 100
source_attempts = 1000
conference_attempts = 1000
"""

LIVE = []  # the servers of this module: every test ends by asking each for /healthz


@pytest.fixture(autouse=True)
def healthz_after_each_case():
    yield
    for s in LIVE:
        assert s.proc.poll() is None, "the server died:\n" + "".join(s.log_lines[-60:])
        r = call(s, "GET", "/healthz", timeout=15)
        assert (r.status, r.json) == (200, {"status": "ok"}), r


@contextlib.contextmanager
def live(tmp, config, extra_args=()):
    with running(tmp / "var", extra_args=extra_args, config=config) as s:
        LIVE.append(s)
        try:
            yield s
        finally:
            LIVE.remove(s)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with live(tmp_path_factory.mktemp("hostile"), CONFIG) as s:
        yield World(s)


def expand(w, text):
    """{A} {B}: account ids; {C} {CB}: their conferences; {U} alice, {UB} carol; {M} {MB}:
    media; {H} {HB}: hubs; {R}: A's recording; {P}: the live participant of A's room."""
    a, b = w.A, w.B
    for k, v in (("{A}", a.id), ("{B}", b.id), ("{CB}", b.conf), ("{C}", a.conf),
                 ("{UB}", b.users["carol"]), ("{U}", a.users["alice"]), ("{MB}", b.media),
                 ("{M}", a.media), ("{HB}", b.hub), ("{H}", a.hub), ("{R}", w.recording),
                 ("{P}", str(a.participant))):
        text = text.replace(k, v)
    return text


def token(w, who):
    return {None: None, "A": w.A.token, "B": w.B.token, "admin": w.admin,
            **w.A.user_tokens, **w.B.user_tokens}[who]


def kazoo(w, method, path, body=None, who="A", headers=None, timeout=10):
    h = {"Content-Type": "application/json"}
    if token(w, who):
        h["X-Auth-Token"] = token(w, who)
    h.update(headers or {})
    return call(w.s, method, expand(w, path), body, h, timeout=timeout)


# What a write that was refused must have left as it was.
def state(w, what):
    if what is None:
        return None
    if what == "conferences":
        return w.count(w.A, "conferences"), w.count(w.B, "conferences")
    if what in ("users", "media", "hubs"):
        return w.count(w.A, what)
    if what == "room":
        r = kazoo(w, "GET", "/v2/accounts/{A}/conferences/{C}")
        d = ok(r)
        return r.json["revision"], d["_read_only"]["participants"].__len__()
    if what == "account":
        return w.revision(w.A, "")
    if what == "user":
        return w.revision(w.A, f"/users/{w.A.users['alice']}")
    if what == "hub":
        return w.revision(w.A, f"/hubs/{w.A.hub}")
    if what == "file":
        r = kazoo(w, "GET", "/v2/accounts/{A}/media/{M}/raw")
        return r.status, r.content, w.revision(w.A, f"/media/{w.A.media}")
    if what == "messages":
        return len(w.messages(w.A.conf, w.A.user_tokens["alice"])), \
            len(w.messages(w.dm, w.A.user_tokens["alice"]))
    raise AssertionError(what)


@contextlib.contextmanager
def unchanged(w, what):
    before = state(w, what)
    yield
    assert state(w, what) == before, f"{what} changed"


# ==============================================================================================
# 1. Malformed JSON, on every face that reads JSON (HTTP bodies and WebSocket messages)
# ==============================================================================================

def _deep(good, opener, closer):
    return opener * 10000 + good + closer * 10000


MALFORM = {
    "truncated": lambda g: g[:len(g) // 2],
    "trailing_garbage": lambda g: g + b" @@",
    "two_documents": lambda g: g + g,
    "deep_arrays_10000": lambda g: b'{"deep":' + b"[" * 10000 + b"]" * 10000 + b"," + g[1:],
    "deep_objects_10000": lambda g: _deep(g, b'{"a":', b"}"),
    "deep_unclosed_10000": lambda g: b"[" * 10000,
    "invalid_utf8_byte": lambda g: g.replace(b'"x"', b'"\xffx"', 1),
    "overlong_utf8": lambda g: g.replace(b'"x"', b'"\xc0\xafx"', 1),
    "utf8_encoded_surrogate": lambda g: g.replace(b'"x"', b'"\xed\xa0\x80"', 1),
    "truncated_utf8_sequence": lambda g: g.replace(b'"x"', b'"\xe2\x82"', 1),
    "lone_surrogate_escape": lambda g: g.replace(b'"x"', b'"\\ud800"', 1),
    "raw_control_character": lambda g: g.replace(b'"x"', b'"a\x01b"', 1),
    "nan": lambda g: g.replace(b'"x"', b"NaN", 1),
    "infinity": lambda g: g.replace(b'"x"', b"Infinity", 1),
    "negative_infinity": lambda g: g.replace(b'"x"', b"-Infinity", 1),
    "byte_order_mark": lambda g: b"\xef\xbb\xbf" + g,
    "single_quotes": lambda g: g.replace(b'"', b"'"),
    "comment": lambda g: g[:-1] + b" /* hi */}",
    "trailing_comma": lambda g: g[:-1] + b",}",
    "unquoted_key": lambda g: b"{k:1," + g[1:],
    "nul_byte": lambda g: g[:2] + b"\x00" + g[2:],
    "not_an_object": lambda g: b"[" + g + b"]",
}
BAD_UTF8 = {"invalid_utf8_byte", "overlong_utf8", "utf8_encoded_surrogate",
            "truncated_utf8_sequence"}

# target: (method, path, who, a good body holding the string "x", face, what must not change)
JSON_HTTP = {
    "kazoo_conference_create": ("PUT", "/v2/accounts/{A}/conferences", "A",
                                b'{"data":{"name":"x"}}', "kazoo", "conferences"),
    "kazoo_conference_patch": ("PATCH", "/v2/accounts/{A}/conferences/{C}", "A",
                               b'{"data":{"name":"x"}}', "kazoo", "room"),
    "kazoo_api_auth": ("PUT", "/v2/api_auth", None, b'{"data":{"api_key":"x"}}', "kazoo", None),
    "kazoo_user_create": ("PUT", "/v2/accounts/{A}/users", "A",
                          b'{"data":{"first_name":"x","last_name":"y"}}', "kazoo", "users"),
    "kazoo_join": ("POST", "/v2/accounts/{A}/conferences/{C}/participants", "A",
                   b'{"data":{"name":"x","number":"5"}}', "kazoo", "room"),
    "xivo_login": ("POST", XUC + "/auth/login", None, b'{"login":"x","password":"p"}', "xivo",
                   None),
    "drumee_chat_post": ("POST", "/-/svc/chat.post", "alice",
                         b'{"room_id":"{C}","message":"x"}', "drumee", "messages"),
}


@pytest.mark.parametrize("kind", MALFORM)
@pytest.mark.parametrize("target", JSON_HTTP)
def test_malformed_json_over_http(world, target, kind):
    method, path, who, good, face, keep = JSON_HTTP[target]
    body = MALFORM[kind](expand(world, good.decode()).encode())
    with unchanged(world, keep):
        r = kazoo(world, method, path, body, who)
    if face == "kazoo":
        data = kazoo_error(r, 400, "parse_error", field="json")
        assert set(data["json"]) == ({"type"} if kind == "not_an_object" else {"invalid"}), r
        assert data["json"][next(iter(data["json"]))]["target"] == "body", r
    elif face == "xivo":
        xivo_error(r, 400, "InvalidJson", "JSON object")
    else:
        drumee_error(r, 400, "parse_error", part="JSON")


class KazooWs:
    bad_json = "message must be a JSON object"
    good = b'{"action":"ping","request_id":"x"}'

    def open(self, w):
        self.token = w.A.token
        return w.kazoo_ws()

    def error(self, m):
        if m.get("action") == "reply" and m.get("status") == "error":
            return m["data"]["errors"][0]
        return None

    def alive(self, ws):
        ws.send_json({"action": "ping", "request_id": "alive", "auth_token": self.token})
        m = ws.wait_json(lambda m: m.get("request_id") == "alive")
        assert m["status"] == "success" and m["data"] == {"response": "pong"}, m

    ping = {"action": "ping", "request_id": "p"}


class XivoCti:
    bad_json = "a frame must be a JSON object"
    good = b'{"claz":"web","command":"x"}'

    def open(self, w):
        return w.cti(w.A.user_tokens["alice"])

    def error(self, m):
        if m.get("msgType") == "Error":
            return m["ctiMessage"]["Error"]
        if m.get("msgType") == "ConferenceCommandError":
            return "%s: %s" % (m["ctiMessage"]["error"], m["ctiMessage"].get("message", ""))
        return None

    def alive(self, ws):
        ws.send_json({"claz": "ping"})
        assert ws.wait_json(lambda m: m.get("msgType") == "Pong")["ctiMessage"] == {}

    ping = {"claz": "ping"}


class DrumeeLive:
    bad_json = "BAD_MESSAGE"
    good = b'{"service":"x"}'

    def open(self, w):
        return w.drumee_ws()

    def error(self, m):
        return m["data"]["error"] if m.get("service") == "sys.error" else None

    def alive(self, ws):
        ws.send_json({"service": "x.ping"})
        assert ws.wait_json(lambda m: m.get("service") == "sys.ping")["data"] == {"ok": 1}

    ping = {"service": "x.ping"}


WS_FACES = {"kazoo_events": KazooWs(), "xivo_cti": XivoCti(), "drumee_live": DrumeeLive()}


def _first_error(face, ws):
    while True:
        m = ws.recv_json()
        e = face.error(m)
        if e is not None:
            return e


@pytest.mark.parametrize("kind", MALFORM)
@pytest.mark.parametrize("name", WS_FACES)
def test_malformed_json_over_websocket(world, name, kind):
    face = WS_FACES[name]
    ws = face.open(world)
    try:
        ws.send_text(MALFORM[kind](face.good))
        if kind in BAD_UTF8:  # not text at all: RFC 6455 8.1 fails the connection
            assert ws.until_close() == 1007
            return
        assert _first_error(face, ws) == face.bad_json
        face.alive(ws)  # a bad message is answered; the socket stays
    finally:
        ws.close()


DUPLICATES = [
    # (id, path, body, field, the valid value if the server keeps one)
    ("conference_name_last_wrong", "/v2/accounts/{A}/conferences",
     b'{"data":{"name":"dup-first","name":5}}', "name", "dup-first"),
    ("conference_name_last_right", "/v2/accounts/{A}/conferences",
     b'{"data":{"name":5,"name":"dup-last"}}', "name", "dup-last"),
    ("conference_pins_then_string", "/v2/accounts/{A}/conferences",
     b'{"data":{"name":"dup-pins","member":{"pins":["12"],"pins":"12"}}}', "member.pins", None),
    ("user_first_name", "/v2/accounts/{A}/users",
     b'{"data":{"first_name":7,"first_name":"Dup","last_name":"X"}}', "first_name", "Dup"),
]


@pytest.mark.parametrize("case", DUPLICATES, ids=[d[0] for d in DUPLICATES])
def test_duplicate_keys_are_refused_or_kept_as_validated(world, case):
    """RFC 8259 leaves duplicate names to the parser; what matters is that the value checked is
    the value stored: a 400 naming the field, or the document with the valid value."""
    _, path, body, field, valid = case
    r = kazoo(world, "PUT", path, body)
    if r.status == 201:
        assert valid is not None and r.data[field] == valid, r
        got = kazoo(world, "GET", f"{path}/{r.data['id']}")
        assert ok(got)[field] == valid, got
        ok(kazoo(world, "DELETE", f"{path}/{r.data['id']}"))
    else:
        kazoo_error(r, 400, "invalid data", field=field)


# ==============================================================================================
# 2. Wrong types on every field of every document and message
# ==============================================================================================

WRONG = {"string": [5, []], "bool": ["true", 1], "digits": ["4000", [4000]],
         "object": ["x", []], "integer": ["10", 1.5], "tone": [5, {}]}

CONFERENCE_FIELDS = [
    ("name", "string"), ("owner_id", "string"), ("bridge_password", "string"),
    ("bridge_username", "string"), ("caller_controls", "string"),
    ("moderator_controls", "string"), ("max_members_media", "string"), ("profile", "string"),
    ("conference_numbers", "digits"), ("member.numbers", "digits"), ("member.pins", "digits"),
    ("moderator.numbers", "digits"), ("moderator.pins", "digits"),
    ("member.join_muted", "bool"), ("member.join_deaf", "bool"),
    ("moderator.join_muted", "bool"), ("moderator.join_deaf", "bool"), ("play_name", "bool"),
    ("play_welcome", "bool"), ("wait_for_moderator", "bool"), ("require_moderator", "bool"),
    ("member", "object"), ("moderator", "object"), ("muc", "object"),
    ("max_participants", "integer"), ("play_entry_tone", "tone"), ("play_exit_tone", "tone"),
    ("muc.members_only", "bool"), ("muc.moderated", "bool"), ("muc.subject", "string"),
    ("muc.description", "string"), ("muc.affiliations", "object"),
]


def with_field(doc, path, value):
    doc = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    cur = doc
    for p in parents:
        cur = cur.setdefault(p, {})
    cur[last] = value
    return doc


def error_path(path, value):
    return path + ".0" if isinstance(value, list) and value and path.endswith(
        ("numbers", "pins")) else path


CONF_TYPE_CASES = [(f, v) for f, kind in CONFERENCE_FIELDS for v in WRONG[kind]]


@pytest.mark.parametrize("field,value", CONF_TYPE_CASES,
                         ids=[f"{f}={json.dumps(v)}" for f, v in CONF_TYPE_CASES])
def test_conference_create_with_a_wrong_type(world, field, value):
    doc = with_field({"name": "typed"}, field, value)
    with unchanged(world, "conferences"):
        r = kazoo(world, "PUT", "/v2/accounts/{A}/conferences", {"data": doc})
    kazoo_error(r, 400, "invalid data", field=error_path(field, value), rule="type")


@pytest.mark.parametrize("field,kind", CONFERENCE_FIELDS, ids=[f for f, _ in CONFERENCE_FIELDS])
def test_conference_patch_with_a_wrong_type(world, field, kind):
    value = WRONG[kind][1]
    with unchanged(world, "room"):
        r = kazoo(world, "PATCH", "/v2/accounts/{A}/conferences/{C}",
                  {"data": with_field({}, field, value)})
    kazoo_error(r, 400, "invalid data", field=error_path(field, value), rule="type")


# (document collection, base document, field, wrong value, rule, what must not change)
OTHER_TYPE_CASES = (
    [("users", {"first_name": "T", "last_name": "Y"}, f, v, "type", "users")
     for f in ("first_name", "last_name", "username", "password", "email", "extension")
     for v in WRONG["string"]] +
    [("users", {"first_name": "T", "last_name": "Y"}, "priv_level", v, "enum", "users")
     for v in (5, "root")] +
    [("media", {"name": "typed"}, f, v, "type", "media")
     for f in ("name", "description", "language", "prompt_id") for v in WRONG["string"]] +
    [("media", {"name": "typed"}, "streamable", v, "type", "media") for v in WRONG["bool"]] +
    [("media", {"name": "typed"}, "media_source", 5, "type", "media")] +
    [("hubs", {"name": "typed"}, "name", v, "type", "hubs") for v in WRONG["string"]] +
    [("hubs", {"name": "typed"}, "default_privilege", v, "enum", "hubs") for v in ("1", 2)] +
    [("hubs", {"name": "typed"}, "privileges", v, "type", "hubs") for v in WRONG["object"]] +
    [("hubs", {"name": "typed"}, "owner_id", v, "type", "hubs") for v in WRONG["string"]]
)


@pytest.mark.parametrize("coll,base,field,value,rule,keep", OTHER_TYPE_CASES,
                         ids=[f"{c}.{f}={json.dumps(v)}" for c, _, f, v, _, _ in OTHER_TYPE_CASES])
def test_document_create_with_a_wrong_type(world, coll, base, field, value, rule, keep):
    with unchanged(world, keep):
        r = kazoo(world, "PUT", "/v2/accounts/{A}/" + coll, {"data": with_field(base, field, value)})
    kazoo_error(r, 400, "invalid data", field=field, rule=rule)


def test_hub_privilege_of_a_wrong_type(world):
    uid = world.A.users["bob"]
    with unchanged(world, "hubs"):
        r = kazoo(world, "PUT", "/v2/accounts/{A}/hubs",
                  {"data": {"name": "typed", "privileges": {uid: "3"}}})
    kazoo_error(r, 400, "invalid data", field=f"privileges.{uid}", rule="enum")


def test_affiliation_of_a_wrong_type(world):
    uid = world.A.users["bob"]
    with unchanged(world, "room"):
        r = kazoo(world, "PATCH", "/v2/accounts/{A}/conferences/{C}",
                  {"data": {"muc": {"affiliations": {uid: 5}}}})
    kazoo_error(r, 400, "invalid data", field=f"muc.affiliations.{uid}", rule="enum")


ACCOUNT_TYPE_CASES = [("name", 5), ("name", []), ("realm", 5), ("realm", {})]


@pytest.mark.parametrize("field,value", ACCOUNT_TYPE_CASES,
                         ids=[f"{f}={json.dumps(v)}" for f, v in ACCOUNT_TYPE_CASES])
def test_account_patch_with_a_wrong_type(world, field, value):
    with unchanged(world, "account"):
        r = kazoo(world, "PATCH", "/v2/accounts/{A}", {"data": {field: value}})
    kazoo_error(r, 400, "invalid data", field=field, rule="type")


JOIN_TYPE_CASES = [(f, v) for f in ("name", "number", "pin", "dialed", "call_id", "user_id")
                   for v in ([], {})] + \
    [("mute_detect", "yes"), ("mute_detect", 1), ("sdp", 5), ("sdp", {}), ("name", 1.5),
     ("pin", True)]


@pytest.mark.parametrize("field,value", JOIN_TYPE_CASES,
                         ids=[f"{f}={json.dumps(v)}" for f, v in JOIN_TYPE_CASES])
def test_join_with_a_wrong_type(world, field, value):
    data = {"name": "typed", "number": "77", field: value}
    with unchanged(world, "room"):
        r = kazoo(world, "POST", "/v2/accounts/{A}/conferences/{C}/participants", {"data": data})
    kazoo_error(r, 400, "invalid data", field=field, rule="type")


# (Kazoo's face takes an integer wherever it takes text, as for numbers and PINs.)
AUTH_TYPE_CASES = [("/v2/api_auth", "api_key", v) for v in ([], True, {})] + \
    [("/v2/user_auth", f, v) for f in ("credentials", "account_name", "method") for v in ([], {})]


@pytest.mark.parametrize("path,field,value", AUTH_TYPE_CASES,
                         ids=[f"{p.rsplit('/', 1)[1]}.{f}={json.dumps(v)}"
                              for p, f, v in AUTH_TYPE_CASES])
def test_auth_with_a_wrong_type(world, path, field, value):
    data = {"credentials": md5("alice:" + PASSWORDS["alice"]), "account_name": "alpha",
            field: value}
    r = kazoo(world, "PUT", path, {"data": data}, who=None)
    kazoo_error(r, 400, "invalid data", field=field, rule="type")


ACTION_TYPE_CASES = [
    ("conference_action_number", "PUT", "/v2/accounts/{A}/conferences/{C}", {"action": 5},
     404, "faulty_request", "action"),
    ("participants_action_list", "PUT", "/v2/accounts/{A}/conferences/{C}/participants",
     {"data": {"action": []}}, 404, "faulty_request", "action"),
    ("play_media_id_number", "PUT", "/v2/accounts/{A}/conferences/{C}",
     {"action": "play", "data": {"media_id": 5}}, 400, "invalid data", "media_id"),
    ("relate_participant_object", "PUT", "/v2/accounts/{A}/conferences/{C}/participants",
     {"action": "relate", "data": {"participant_id": {}, "other_participant": 1}}, 400,
     "invalid data", "participant_id"),
    ("record_action_number", "PUT", "/v2/accounts/{A}/conferences/{C}",
     {"action": "record", "data": {"action": 5}}, 400, "invalid data", "action"),
]


@pytest.mark.parametrize("case", ACTION_TYPE_CASES, ids=[c[0] for c in ACTION_TYPE_CASES])
def test_action_with_a_wrong_type(world, case):
    _, method, path, body, status, message, field = case
    with unchanged(world, "room"):
        r = kazoo(world, method, path, body)
    kazoo_error(r, status, message, part=field)


XIVO_LOGIN_TYPES = [("login", 5, "login"), ("login", [], "login"), ("login", None, "login"),
                    ("password", 5, "password"), ("password", {}, "password")]


@pytest.mark.parametrize("field,value,named", XIVO_LOGIN_TYPES,
                         ids=[f"{f}={json.dumps(v)}" for f, v, _ in XIVO_LOGIN_TYPES])
def test_xivo_login_with_a_wrong_type(world, field, value, named):
    body = {"login": "alice", "password": PASSWORDS["alice"], field: value}
    r = call(world.s, "POST", XUC + "/auth/login", body)
    xivo_error(r, 400, "InvalidJson", named)


# (command, argument, wrong value, the words the Error must hold)
CTI_TYPES = (
    [("conferenceMuteMe", "claz", v, "claz is required") for v in (5, [])] +
    [("conferenceMuteMe", "command", v, "command is required") for v in (5, {})] +
    [("conferenceMuteMe", "numConf", v, "numConf must be a string")
     for v in ([], {}, 1.5, True)] +
    [("conferenceMute", "index", v, "index must be an integer") for v in ("abc", 1.5, [], True)] +
    [("conferenceInvite", "exten", v, "exten must be a string") for v in ([], {})] +
    [("conferenceInvite", "role", v, "role must be") for v in (5, "King")] +
    [("conferenceInvite", "earlyJoin", v, "earlyJoin must be a boolean") for v in ("maybe", 5)] +
    [("conferenceChatHistory", "limit", v, "limit must be an integer") for v in ("x", 1.5)] +
    [("conferenceChatHistory", "before", v, "before must be an integer") for v in ({}, "x")] +
    [("conferenceChatSend", "message", v, "message must be a string") for v in (5, [])] +
    [("conferenceSetSubject", "subject", v, "InvalidSubject: muc.subject") for v in (5, [])] +
    [("getList", "objectType", v, "objectType must be a string") for v in ([], {})]
)


@pytest.mark.parametrize("command,arg,value,words", CTI_TYPES,
                         ids=[f"{c}.{a}={json.dumps(v)}" for c, a, v, _ in CTI_TYPES])
def test_cti_command_with_a_wrong_type(world, command, arg, value, words):
    face = WS_FACES["xivo_cti"]
    msg = {"claz": "web", "command": command, "numConf": "4000", "index": 1, "exten": "1002",
           "objectType": "meetme", "message": "hi", "subject": "s", arg: value}
    ws = face.open(world)
    try:
        with unchanged(world, "messages"):
            ws.send_json(msg)
            assert words in _first_error(face, ws)
        face.alive(ws)
    finally:
        ws.close()


# (message, the words its error must hold)
KAZOO_WS_TYPES = [
    ({"action": 5, "auth_token": "T"}, "unknown action"),
    ({"action": "subscribe", "auth_token": 5}, "authentication token"),
    ({"action": "subscribe", "auth_token": "T", "data": "x"}, "data"),
    ({"action": "subscribe", "auth_token": "T", "data": []}, "data"),
    ({"action": "subscribe", "auth_token": "T", "data": {"account_id": 5, "binding": "b"}},
     "account_id"),
    ({"action": "subscribe", "auth_token": "T", "data": {"binding": 5}}, "binding"),
    ({"action": "subscribe", "auth_token": "T", "data": {"bindings": "x"}}, "binding"),
    ({"action": "subscribe", "auth_token": "T", "data": {"bindings": [5, {}]}}, "binding"),
]


@pytest.mark.parametrize("msg,words", KAZOO_WS_TYPES, ids=[json.dumps(m) for m, _ in KAZOO_WS_TYPES])
def test_event_socket_message_with_a_wrong_type(world, msg, words):
    face = WS_FACES["kazoo_events"]
    ws = face.open(world)
    try:
        text = json.dumps(msg).replace('"T"', json.dumps(world.A.token))
        ws.send_text(text)
        assert words in _first_error(face, ws)
        face.alive(ws)
    finally:
        ws.close()


DRUMEE_TYPES = [
    ("conference.join", {"socket_id": {"a": 1}, "metadata": {}, "hub_id": "h"}, "socket_id"),
    ("conference.join", {"socket_id": "s", "metadata": 5, "hub_id": "h"}, "metadata"),
    ("conference.join", {"socket_id": "s", "metadata": {"type": ["x"]}, "hub_id": "h"},
     "metadata.type"),
    ("conference.join", {"socket_id": "s", "metadata": {}, "hub_id": {}}, "hub_id"),
    ("conference.join", {"socket_id": "s", "metadata": {}, "hub_id": "h", "guest_name": []},
     "guest_name"),
    ("conference.invite", {"hub_id": "h", "guest_id": "g", "socket_id": "s",
                           "metadata": {"type": {}}}, "metadata.type"),
    ("conference.accept", {"caller": [1], "socket_id": "s"}, "caller"),
    ("conference.accept", {"caller": {"caller_id": True}, "socket_id": "s"}, "caller.caller_id"),
    ("conference.logCall", {"callee": {"entity_id": "x"}, "event": "leave", "duration": "abc"},
     "duration"),
    ("conference.logCall", {"callee": {"entity_id": "x"}, "event": "leave", "duration": [1]},
     "duration"),
    ("conference.logCall", {"callee": {"entity_id": []}, "event": "leave"}, "callee.entity_id"),
    ("conference.attendee", {"participant_id": 1.5}, "participant_id"),
    ("conference.leave", {"room_id": [], "socket_id": "s"}, "room_id"),
    ("conference.revoke", {"hub_id": "h", "callee": {"drumate_id": {}}, "socket_id": "s"},
     "callee.drumate_id"),
    ("conference.broadcast", {"socket_id": "s", "event": {}, "payload": 1}, "event"),
    ("chat.post", {"room_id": "{C}", "message": {}}, "message"),
    ("chat.post", {"room_id": "{C}", "message": []}, "message"),
    ("chat.post", {"peer_id": [], "message": "m"}, "peer_id"),
    ("chat.messages", {"room_id": []}, "room_id"),
    ("chat.messages", {"room_id": "{C}", "limit": "abc"}, "limit"),
    ("chat.messages", {"room_id": "{C}", "limit": {}}, "limit"),
    ("chat.messages", {"room_id": "{C}", "before": "x"}, "before"),
]


@pytest.mark.parametrize("service,params,field", DRUMEE_TYPES,
                         ids=[f"{s}.{f}" + ("" if i == 0 else f"#{i}") for i, (s, p, f) in
                              enumerate(DRUMEE_TYPES)])
def test_drumee_service_with_a_wrong_type(world, service, params, field):
    params = json.loads(expand(world, json.dumps(params)))
    with unchanged(world, "messages"):
        r = world.drumee(service, params, world.A.user_tokens["alice"])
    j = drumee_error(r, 400, "invalid_data", field=field)
    assert list(j["details"]) == [field], r


@pytest.mark.parametrize("text", [b'{"service":5}', b'{"service":["x.ping"]}', b'{"service":null}'],
                         ids=["number", "array", "null"])
def test_drumee_live_message_with_a_wrong_type(world, text):
    face = WS_FACES["drumee_live"]
    ws = face.open(world)
    try:
        ws.send_text(text)
        e = _first_error(face, ws)
        assert e == "BAD_MESSAGE" or e.startswith("SERVICE_NOT_FOUND"), e
        face.alive(ws)
    finally:
        ws.close()

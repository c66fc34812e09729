"""Kazoo blackhole WebSocket (/v2/websocket): subscriptions, errors and the conference events.

Every test runs the real confab binary and talks to it over real HTTP and WebSocket connections.
Changes are triggered through the Kazoo REST API; events are read from the socket.

The server runs one control thread: a REST call publishes its events to every subscribed socket
before it answers, and a socket's frames leave in order. So after a REST call has returned, a
ping on a socket is answered only after every event that call produced for that socket. The
tests use that ping as a barrier to assert that nothing else was delivered, without sleeping.
"""
import json
import re
import time

import pytest

from conftest import ws_connect

RECV_TIMEOUT = 5  # seconds; every wait on a socket is bounded by this
GREGORIAN_OFFSET = 62167219200  # seconds from year 0 to 1970 (Kazoo timestamps)

EVENT_KEYS = {"action", "subscribed_key", "subscription_key", "name", "routing_key", "data"}
REPLY_KEYS = {"action", "request_id", "status", "data"}


# --- REST helpers ------------------------------------------------------------------------------

def rest(server, token, method, path, body=None, expect=None):
    r = server.request(method, path, body, token=token)
    if expect is not None:
        assert r.status == expect, f"{method} {path} {body!r} -> {r!r}"
    return r


def create_conf(server, acct, token, name="standup", **fields):
    """A conference whose members join unmuted (Kazoo's default is muted), so mute emits events."""
    data = {"name": name, "member": {"join_muted": False}}
    data.update(fields)
    r = rest(server, token, "PUT", f"/v2/accounts/{acct}/conferences", {"data": data}, 201)
    return r.data["id"]


def join(server, acct, token, conf, name, number, call_id=None, pin=None):
    data = {"name": name, "number": number}
    if call_id is not None:
        data["call_id"] = call_id
    if pin is not None:
        data["pin"] = pin
    r = rest(server, token, "POST", f"/v2/accounts/{acct}/conferences/{conf}/participants",
             {"data": data}, 201)
    return r.data


def leave(server, acct, token, conf, pid):
    rest(server, token, "DELETE", f"/v2/accounts/{acct}/conferences/{conf}/participants/{pid}",
         None, 200)


def act(server, acct, token, conf, pid, action):
    rest(server, token, "PUT", f"/v2/accounts/{acct}/conferences/{conf}/participants/{pid}",
         {"data": {"action": action}}, 202)


def act_all(server, acct, token, conf, action):
    rest(server, token, "PUT", f"/v2/accounts/{acct}/conferences/{conf}/participants",
         {"data": {"action": action}}, 202)


def conf_action(server, acct, token, conf, action):
    rest(server, token, "PUT", f"/v2/accounts/{acct}/conferences/{conf}",
         {"data": {"action": action}}, 202)


# --- WebSocket client --------------------------------------------------------------------------

class Client:
    """One blackhole socket. Replies are matched by request_id; events are queued in order."""

    def __init__(self, server, token=None):
        self.ws = ws_connect(server, timeout=RECV_TIMEOUT)
        self.token = token
        self.events = []  # events received while waiting for something else
        self.seq = 0

    def close(self):
        try:
            self.ws.close(timeout=2)
        except Exception:
            pass

    def abort(self):
        """Drops the TCP connection without a WebSocket close frame."""
        self.ws.shutdown()

    def send_raw(self, text):
        self.ws.send(text)

    def send(self, msg):
        self.ws.send(json.dumps(msg))

    def recv(self, timeout=RECV_TIMEOUT):
        import websocket
        self.ws.settimeout(timeout)
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            raise AssertionError(f"nothing received within {timeout} s") from None
        assert raw, "the server closed the socket"
        return json.loads(raw)

    def next_id(self):
        self.seq += 1
        return f"req-{self.seq}"

    def call(self, action, data=None, token="default", request_id=None, **extra):
        """Sends one message and returns its reply; events seen meanwhile are queued."""
        msg = {"action": action, "request_id": request_id or self.next_id()}
        if token == "default":
            token = self.token
        if token is not None:
            msg["auth_token"] = token
        if data is not None:
            msg["data"] = data
        msg.update(extra)
        self.send(msg)
        return self.reply_for(msg["request_id"])

    def reply_for(self, request_id):
        deadline = time.time() + RECV_TIMEOUT
        while True:
            m = self.recv(max(0.1, deadline - time.time()))
            if m.get("action") == "event":
                self.events.append(m)
                continue
            assert m.get("action") == "reply", m
            if request_id is None or m.get("request_id") == request_id:
                return m

    def subscribe(self, account_id, binding=None, bindings=None, **kw):
        data = {"account_id": account_id}
        if binding is not None:
            data["binding"] = binding
        if bindings is not None:
            data["bindings"] = bindings
        r = self.call("subscribe", data, **kw)
        assert r["status"] == "success", r
        return r

    def unsubscribe(self, account_id, binding=None, bindings=None, **kw):
        data = {"account_id": account_id}
        if binding is not None:
            data["binding"] = binding
        if bindings is not None:
            data["bindings"] = bindings
        return self.call("unsubscribe", data, **kw)

    def event(self, timeout=RECV_TIMEOUT):
        if self.events:
            return self.events.pop(0)
        m = self.recv(timeout)
        assert m.get("action") == "event", m
        return m

    def take(self, n):
        return [self.event() for _ in range(n)]

    def sync(self):
        """Pings and returns every event that arrived before the pong (see the module doc)."""
        r = self.call("ping")
        assert r["status"] == "success" and r["data"] == {"response": "pong"}, r
        out, self.events = self.events, []
        return out

    def assert_quiet(self):
        extra = self.sync()
        assert extra == [], "unexpected events: " + json.dumps(
            [(e["name"], e["subscribed_key"], e["routing_key"]) for e in extra])


@pytest.fixture
def clients(server):
    """Factory for sockets, all closed before the server is stopped."""
    made = []

    def make(token=None):
        c = Client(server, token)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# --- event assertions --------------------------------------------------------------------------

def names(events):
    return [e["name"] for e in events]


def check_common(d, acct, conf, conf_name, server):
    assert d["conference_id"] == conf
    assert d["account_id"] == acct
    assert d["conference_name"] == conf_name
    assert d["event_category"] == "conference"
    assert isinstance(d["focus"], str) and d["focus"]
    assert d["node"] == d["focus"]
    assert re.fullmatch(r"[0-9a-f]{16}", d["msg_id"]), d["msg_id"]
    assert isinstance(d["app_name"], str) and d["app_name"]
    assert isinstance(d["app_version"], str) and d["app_version"]
    now = int(time.time()) + GREGORIAN_OFFSET
    assert now - 60 <= d["timestamp"] <= now + 5, d["timestamp"]


ANY = object()  # skips the subscription_key check (it has a test of its own)


def event_sub_key(binding, acct):
    """Kazoo's AMQP binding for a client binding: fixed by the subscription, not by the event."""
    bind_conf, bind_call = binding.split(".")[2], binding.split(".")[3]
    return f"conference.event.*.{acct}.{bind_conf}.{bind_call}"


def check_participant_event(ev, *, binding, acct, conf, conf_name, name, p, speak, hear,
                            reason=None, server=None, sub_key=None):
    """Checks one participant event against the seed-001 fields and the participant `p` (the
    REST join answer)."""
    assert set(ev) == EVENT_KEYS, ev
    assert ev["action"] == "event"
    assert ev["name"] == name, ev
    assert ev["subscribed_key"] == binding
    if sub_key is not ANY:
        assert ev["subscription_key"] == (sub_key or event_sub_key(binding, acct)), ev
    assert ev["routing_key"] == f"conference.event.{name}.{acct}.{conf}.{p['call_id']}"
    d = ev["data"]
    check_common(d, acct, conf, conf_name, server)
    assert d["event"] == name
    assert d["event_name"] == "participant_event"
    assert d["routing_key"] == "participant_event"
    assert d["custom_channel_vars"]["account_id"] == acct
    assert d["instance_id"] == p["conference_uuid"]
    assert d["focus"] == p["switch_hostname"]
    assert d["participant_id"] == p["participant_id"]
    assert d["call_id"] == p["call_id"]
    assert d["caller_id_name"] == p["caller_id_name"]
    assert d["caller_id_number"] == p["caller_id_number"]
    assert d["is_moderator"] is p["is_moderator"]
    assert d["speak"] is speak
    assert d["hear"] is hear
    assert d["talking"] is False
    assert d["floor"] is False
    assert d["mute_detect"] is False
    assert d["video"] is False
    assert d["energy_level"] == 20
    assert d["current_energy"] == 0
    assert d["join_time"] == p["join_time"]
    assert isinstance(d["duration"], int) and 0 <= d["duration"] <= 60
    if reason is None:
        assert "reason" not in d
    else:
        assert d["reason"] == reason


def check_conference_event(ev, *, binding, acct, conf, conf_name, name, instance_id=None,
                           server=None, sub_key=None):
    assert set(ev) == EVENT_KEYS, ev
    assert ev["action"] == "event"
    assert ev["name"] == name, ev
    assert ev["subscribed_key"] == binding
    if sub_key is not ANY:
        assert ev["subscription_key"] == (sub_key or event_sub_key(binding, acct)), ev
    assert ev["routing_key"] == f"conference.event.{name}.{acct}.{conf}"
    d = ev["data"]
    check_common(d, acct, conf, conf_name, server)
    assert d["event"] == name
    assert d["event_name"] == "conference_event"
    assert d["routing_key"] == "conference_event"
    for absent in ("call_id", "participant_id", "speak", "hear", "custom_channel_vars", "reason"):
        assert absent not in d, (absent, d)
    if instance_id is not None:
        assert d["instance_id"] == instance_id


def check_command_event(ev, *, binding, acct, conf, conf_name, application, participant_id=None,
                        sub_key=None):
    assert set(ev) == EVENT_KEYS, ev
    assert ev["action"] == "event"
    assert ev["name"] == "command"
    assert ev["subscribed_key"] == binding
    if sub_key is not ANY:
        assert ev["subscription_key"] == (sub_key or binding), ev
    assert ev["routing_key"] == f"conference.command.{conf}"
    d = ev["data"]
    check_common(d, acct, conf, conf_name, None)
    assert d["event_name"] == "command"
    assert d["application_name"] == application
    assert d["routing_key"] == f"conference.command.{conf}"
    if participant_id is None:
        assert "participant_id" not in d
    else:
        assert d["participant_id"] == participant_id
    assert "call_id" not in d and "event" not in d


def assert_error(reply, request_id, message=None, prefix=None):
    assert set(reply) == REPLY_KEYS, reply
    assert reply["action"] == "reply"
    assert reply["status"] == "error", reply
    if request_id is not None:
        assert reply["request_id"] == request_id
    errors = reply["data"]["errors"]
    assert isinstance(errors, list) and len(errors) == 1, reply
    if message is not None:
        assert errors[0] == message, reply
    if prefix is not None:
        assert errors[0].startswith(prefix), reply


# --- subscribe / unsubscribe / ping -------------------------------------------------------------

def test_subscribe_reply_lists_bindings(server, account, clients):
    acct, token = account
    c1 = create_conf(server, acct, token, "one")
    c2 = create_conf(server, acct, token, "two")
    ws = clients(token)

    b1 = f"conference.event.{c1}.*"
    r = ws.call("subscribe", {"account_id": acct, "binding": b1}, request_id="sub-1")
    assert r == {"action": "reply", "request_id": "sub-1", "status": "success",
                 "data": {"subscribed": [b1]}}

    more = [f"conference.command.{c1}", f"conference.event.{c2}.call7"]
    r = ws.call("subscribe", {"account_id": acct, "bindings": more}, request_id="sub-2")
    assert r == {"action": "reply", "request_id": "sub-2", "status": "success",
                 "data": {"subscribed": [b1] + more}}

    # Subscribing again to a binding the socket holds does not list it twice.
    r = ws.call("subscribe", {"account_id": acct, "binding": b1}, request_id="sub-3")
    assert r["status"] == "success"
    assert r["data"] == {"subscribed": [b1] + more}

    # Without account_id the token's account is used.
    b4 = f"conference.event.{c2}.*"
    r = ws.call("subscribe", {"binding": b4}, request_id="sub-4")
    assert r["status"] == "success", r
    assert r["data"] == {"subscribed": [b1] + more + [b4]}
    ws.assert_quiet()


def test_unsubscribe_reply_and_ping(server, account, clients):
    acct, token = account
    c1 = create_conf(server, acct, token)
    ws = clients(token)
    b_ev, b_cmd, b_call = (f"conference.event.{c1}.*", f"conference.command.{c1}",
                           f"conference.event.{c1}.abc")
    ws.subscribe(acct, bindings=[b_ev, b_cmd, b_call])

    r = ws.call("unsubscribe", {"account_id": acct, "binding": b_cmd}, request_id="u-1")
    assert r == {"action": "reply", "request_id": "u-1", "status": "success",
                 "data": {"unsubscribed": [b_cmd], "subscribed": [b_ev, b_call]}}

    r = ws.call("unsubscribe", {"account_id": acct, "bindings": [b_ev, b_call]}, request_id="u-2")
    assert r == {"action": "reply", "request_id": "u-2", "status": "success",
                 "data": {"unsubscribed": [b_ev, b_call], "subscribed": []}}

    r = ws.call("ping", request_id="p-1")
    assert r == {"action": "reply", "request_id": "p-1", "status": "success",
                 "data": {"response": "pong"}}


# --- errors ----------------------------------------------------------------------------------

def test_error_replies_and_socket_stays_usable(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token)
    other_acct, other_token = server.new_account("globex")
    other_conf = create_conf(server, other_acct, other_token, "theirs")
    good = f"conference.event.{conf}.*"
    ws = clients()

    def check(msg, message=None, prefix=None, with_token=True):
        rid = ws.next_id()
        msg = dict(msg, request_id=rid)
        if with_token and "auth_token" not in msg:
            msg["auth_token"] = token
        ws.send(msg)
        assert_error(ws.reply_for(rid), rid, message, prefix)
        # The socket answers the next message normally.
        r = ws.call("ping", token=token)
        assert r["status"] == "success" and r["data"] == {"response": "pong"}, r

    # No token on a fresh socket: refused, for subscribe and ping alike.
    for action in ("subscribe", "ping"):
        rid = ws.next_id()
        ws.send({"action": action, "request_id": rid,
                 "data": {"account_id": acct, "binding": good}})
        assert_error(ws.reply_for(rid), rid, "authentication token required")

    # A token that does not verify.
    check({"action": "subscribe", "auth_token": "not-a-token",
           "data": {"account_id": acct, "binding": good}},
          prefix="failed to authenticate token")
    check({"action": "subscribe", "auth_token": token[:-4] + "AAAA",
           "data": {"account_id": acct, "binding": good}},
          prefix="failed to authenticate token")
    check({"action": "subscribe", "auth_token": 42, "data": {"account_id": acct, "binding": good}},
          message="invalid authentication token format")

    check({"action": "subscribe"}, "missing required keys in data object")
    check({"action": "subscribe", "data": {}}, "missing required keys in data object")
    check({"action": "subscribe", "data": "conference.event.x.*"},
          "missing required keys in data object")
    check({"action": "subscribe", "data": {"account_id": acct}}, "missing required keys : binding")
    check({"action": "subscribe", "data": {"account_id": acct, "bindings": []}},
          "missing required keys : binding")
    check({"action": "subscribe", "data": {"account_id": acct, "binding": "call.CHANNEL_CREATE.*"}},
          "no available subscriptions to requested binding")
    check({"action": "subscribe", "data": {"account_id": acct, "binding": "conference.status.x"}},
          "no available subscriptions to requested binding")
    for bad in (f"conference.event.{conf}", f"conference.event.{conf}.a.b", "conference.event",
                f"conference.command.{conf}.x", "conference.command"):
        check({"action": "subscribe", "data": {"account_id": acct, "binding": bad}},
              "invalid format for conference subscription : " + bad)
    check({"action": "subscribe", "data": {"account_id": acct, "binding": "conference.event..*"}},
          "ConferenceId required")
    check({"action": "subscribe",
           "data": {"account_id": acct, "binding": f"conference.event.{conf}."}},
          "ConferenceId required")
    check({"action": "subscribe", "data": {"account_id": acct, "binding": "conference.command."}},
          "ConferenceId required")
    # A conference of another account, and one that does not exist.
    check({"action": "subscribe",
           "data": {"account_id": acct, "binding": f"conference.event.{other_conf}.*"}},
          "unknown conference id for this account: " + other_conf)
    check({"action": "subscribe",
           "data": {"account_id": acct, "binding": f"conference.command.{other_conf}"}},
          "unknown conference id for this account: " + other_conf)
    check({"action": "subscribe",
           "data": {"account_id": acct, "binding": "conference.event.0123456789abcdef0123456789abcdef.*"}},
          "unknown conference id for this account: 0123456789abcdef0123456789abcdef")
    # Another account's id, even naming that account's own conference.
    check({"action": "subscribe",
           "data": {"account_id": other_acct, "binding": f"conference.event.{other_conf}.*"}},
          "unauthorized account id")
    check({"action": "subscribe", "data": {"account_id": other_acct, "binding": "conference.event.*.*"}},
          "unauthorized account id")
    check({"action": "subscribe", "data": {"account_id": "*", "binding": "conference.event.*.*"}},
          "unauthorized wildcard account id")
    check({"action": "subscribe", "data": {"account_id": 7, "binding": good}},
          "missing required keys : account_id")
    # One bad binding in a list refuses the whole message: nothing is subscribed.
    check({"action": "subscribe",
           "data": {"account_id": acct,
                    "bindings": [good, f"conference.event.{other_conf}.*"]}},
          "unknown conference id for this account: " + other_conf)
    check({"action": "unsubscribe", "data": {"account_id": other_acct, "binding": good}},
          "unauthorized account id")
    check({"action": "subscribe2", "data": {"account_id": acct, "binding": good}},
          "unknown action: subscribe2")

    # Not JSON, or not an object: the reply carries some request id of the server's choosing.
    for raw in ("{not json", "[1,2]", '"subscribe"', ""):
        ws.send_raw(raw)
        r = ws.reply_for(None)
        assert_error(r, None, "message must be a JSON object")
        assert isinstance(r["request_id"], str) and r["request_id"]
        r = ws.call("ping", token=token)
        assert r["data"] == {"response": "pong"}, r

    # After all that the socket subscribes normally, and none of the refused bindings stuck.
    r = ws.subscribe(acct, good, token=token)
    assert r["data"] == {"subscribed": [good]}
    p = join(server, acct, token, conf, "Ann", "1001")
    evs = ws.take(2)
    assert names(evs) == ["conference-create", "add-member"]
    assert evs[1]["data"]["call_id"] == p["call_id"]
    ws.assert_quiet()


def test_other_account_subscriber_gets_nothing_after_refusal(server, account, clients):
    """A refused subscription to another account's conference must not deliver its events."""
    acct, token = account
    conf = create_conf(server, acct, token)
    other_acct, other_token = server.new_account("globex")
    spy = clients(other_token)
    for msg in ({"account_id": other_acct, "binding": f"conference.event.{conf}.*"},
                {"account_id": acct, "binding": f"conference.event.{conf}.*"},
                {"account_id": acct, "binding": "conference.event.*.*"},
                {"account_id": acct, "binding": f"conference.command.{conf}"}):
        r = spy.call("subscribe", msg)
        assert r["status"] == "error", (msg, r)
    spy.subscribe(other_acct, "conference.event.*.*")
    p = join(server, acct, token, conf, "Ann", "1001")
    act(server, acct, token, conf, p["participant_id"], "mute")
    conf_action(server, acct, token, conf, "lock")
    spy.assert_quiet()


# --- event flow --------------------------------------------------------------------------------

def test_participant_event_flow(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "flow")
    b = f"conference.event.{conf}.*"
    ws = clients(token)
    ws.subscribe(acct, b)
    kw = dict(binding=b, acct=acct, conf=conf, conf_name="flow", server=server)

    ann = join(server, acct, token, conf, "Ann", "1001")
    assert ann["speak"] is True and ann["hear"] is True
    evs = ws.take(2)
    check_conference_event(evs[0], name="conference-create", instance_id=ann["conference_uuid"],
                           **kw)
    check_participant_event(evs[1], name="add-member", p=ann, speak=True, hear=True, **kw)
    ws.assert_quiet()

    bob = join(server, acct, token, conf, "Bob", "1002")
    assert bob["conference_uuid"] == ann["conference_uuid"]
    ev = ws.event()
    check_participant_event(ev, name="add-member", p=bob, speak=True, hear=True, **kw)
    ws.assert_quiet()  # no second conference-create

    steps = [("mute", "mute-member", False, True),
             ("unmute", "unmute-member", True, True),
             ("deaf", "deaf-member", True, False),
             ("mute", "mute-member", False, False),
             ("undeaf", "undeaf-member", False, True),
             ("unmute", "unmute-member", True, True)]
    for action, name, speak, hear in steps:
        act(server, acct, token, conf, ann["participant_id"], action)
        ev = ws.event()
        check_participant_event(ev, name=name, p=ann, speak=speak, hear=hear, **kw)
        ws.assert_quiet()
        # The REST view agrees with the event.
        r = rest(server, token, "GET",
                 f"/v2/accounts/{acct}/conferences/{conf}/participants/{ann['participant_id']}",
                 None, 200)
        assert (r.data["speak"], r.data["hear"]) == (speak, hear)

    # Bob leaves: del-member with reason "left"; the room goes on.
    act(server, acct, token, conf, bob["participant_id"], "deaf")
    check_participant_event(ws.event(), name="deaf-member", p=bob, speak=True, hear=False, **kw)
    leave(server, acct, token, conf, bob["participant_id"])
    ev = ws.event()
    check_participant_event(ev, name="del-member", p=bob, speak=True, hear=False, reason="left",
                            **kw)
    ws.assert_quiet()

    # Ann is kicked: kick-member, del-member (kicked), then conference-destroy as she was last.
    act(server, acct, token, conf, ann["participant_id"], "mute")
    check_participant_event(ws.event(), name="mute-member", p=ann, speak=False, hear=True, **kw)
    act(server, acct, token, conf, ann["participant_id"], "kick")
    evs = ws.take(3)
    assert names(evs) == ["kick-member", "del-member", "conference-destroy"]
    check_participant_event(evs[0], name="kick-member", p=ann, speak=False, hear=True, **kw)
    check_participant_event(evs[1], name="del-member", p=ann, speak=False, hear=True,
                            reason="kicked", **kw)
    check_conference_event(evs[2], name="conference-destroy", instance_id=ann["conference_uuid"],
                           **kw)
    ws.assert_quiet()

    # A new call starts a new instance: conference-create again with a new instance id.
    cid = join(server, acct, token, conf, "Cid", "1003")
    assert cid["conference_uuid"] != ann["conference_uuid"]
    evs = ws.take(2)
    check_conference_event(evs[0], name="conference-create", instance_id=cid["conference_uuid"],
                           **kw)
    check_participant_event(evs[1], name="add-member", p=cid, speak=True, hear=True, **kw)
    ws.assert_quiet()


def test_msg_ids_are_unique(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token)
    ws = clients(token)
    ws.subscribe(acct, bindings=[f"conference.event.{conf}.*", f"conference.command.{conf}"])
    p = join(server, acct, token, conf, "Ann", "1001")
    for a in ("mute", "unmute", "deaf", "undeaf", "kick"):
        act(server, acct, token, conf, p["participant_id"], a)
    evs = ws.sync()
    # create, add; (command + change) for mute..undeaf; command, kick, del, destroy
    assert len(evs) == 2 + 4 * 2 + 4
    ids = [e["data"]["msg_id"] for e in evs]
    assert len(set(ids)) == len(ids)


def test_join_muted_member_and_moderator(server, account, clients):
    """The event's speak/hear follow the conference's join_muted/join_deaf per role."""
    acct, token = account
    conf = create_conf(server, acct, token, "roles",
                       member={"join_muted": True, "join_deaf": True},
                       moderator={"pins": ["4321"], "join_muted": False})
    b = f"conference.event.{conf}.*"
    ws = clients(token)
    ws.subscribe(acct, b)
    kw = dict(binding=b, acct=acct, conf=conf, conf_name="roles", server=server)
    mem = join(server, acct, token, conf, "Mem", "2001")
    mod = join(server, acct, token, conf, "Mod", "2002", pin="4321")
    assert mod["is_moderator"] is True and mem["is_moderator"] is False
    evs = ws.take(3)
    assert names(evs) == ["conference-create", "add-member", "add-member"]
    check_participant_event(evs[1], name="add-member", p=mem, speak=False, hear=False, **kw)
    check_participant_event(evs[2], name="add-member", p=mod, speak=True, hear=True, **kw)

    # Muting an already muted member changes nothing and emits no mute-member.
    act(server, acct, token, conf, mem["participant_id"], "mute")
    ws.assert_quiet()


def test_bulk_actions(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "bulk", moderator={"pins": ["4321"]})
    b, bc = f"conference.event.{conf}.*", f"conference.command.{conf}"
    ws = clients(token)
    ws.subscribe(acct, bindings=[b, bc])
    kw = dict(binding=b, acct=acct, conf=conf, conf_name="bulk", server=server)
    ckw = dict(binding=bc, acct=acct, conf=conf, conf_name="bulk")
    m1 = join(server, acct, token, conf, "M1", "3001")
    mod = join(server, acct, token, conf, "Mod", "3002", pin="4321")
    m2 = join(server, acct, token, conf, "M2", "3003")
    assert names(ws.take(4)) == ["conference-create", "add-member", "add-member", "add-member"]

    # Bulk mute: one command without a participant, then mute-member for members only.
    act_all(server, acct, token, conf, "mute")
    evs = ws.take(3)
    check_command_event(evs[0], application="mute", **ckw)
    check_participant_event(evs[1], name="mute-member", p=m1, speak=False, hear=True, **kw)
    check_participant_event(evs[2], name="mute-member", p=m2, speak=False, hear=True, **kw)
    ws.assert_quiet()

    # Bulk kick: everyone, in join order, then conference-destroy once.
    act_all(server, acct, token, conf, "kick")
    evs = ws.take(8)
    assert names(evs) == ["command", "kick-member", "del-member", "kick-member", "del-member",
                          "kick-member", "del-member", "conference-destroy"]
    check_command_event(evs[0], application="kick", **ckw)
    for i, (p, speak) in enumerate([(m1, False), (mod, True), (m2, False)]):
        check_participant_event(evs[1 + 2 * i], name="kick-member", p=p, speak=speak, hear=True,
                                **kw)
        check_participant_event(evs[2 + 2 * i], name="del-member", p=p, speak=speak, hear=True,
                                reason="kicked", **kw)
    check_conference_event(evs[7], name="conference-destroy", instance_id=m1["conference_uuid"],
                           **kw)
    ws.assert_quiet()


def test_lock_unlock_events(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "locky")
    b = f"conference.event.{conf}.*"
    ws = clients(token)
    ws.subscribe(acct, b)
    kw = dict(binding=b, acct=acct, conf=conf, conf_name="locky", server=server)
    p = join(server, acct, token, conf, "Ann", "1001")
    ws.take(2)

    conf_action(server, acct, token, conf, "lock")
    check_conference_event(ws.event(), name="lock", instance_id=p["conference_uuid"], **kw)
    ws.assert_quiet()
    conf_action(server, acct, token, conf, "lock")  # already locked: no second lock event
    ws.assert_quiet()
    # A locked room refuses callers, and that emits nothing.
    r = server.request("POST", f"/v2/accounts/{acct}/conferences/{conf}/participants",
                       {"data": {"name": "Late", "number": "1009"}}, token=token)
    assert r.status == 423, r
    ws.assert_quiet()
    conf_action(server, acct, token, conf, "unlock")
    check_conference_event(ws.event(), name="unlock", instance_id=p["conference_uuid"], **kw)
    ws.assert_quiet()


def test_conference_delete_ends_room(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "doomed")
    b = f"conference.event.{conf}.*"
    ws = clients(token)
    ws.subscribe(acct, b)
    kw = dict(binding=b, acct=acct, conf=conf, conf_name="doomed", server=server)
    p = join(server, acct, token, conf, "Ann", "1001")
    ws.take(2)
    rest(server, token, "DELETE", f"/v2/accounts/{acct}/conferences/{conf}", None, 200)
    evs = ws.take(2)
    check_participant_event(evs[0], name="del-member", p=p, speak=True, hear=True,
                            reason="conference deleted", **kw)
    check_conference_event(evs[1], name="conference-destroy", **kw)
    ws.assert_quiet()


def test_unsubscribe_after_conference_deleted(server, account, clients):
    """A socket can always drop a binding it holds, even when the conference is gone."""
    acct, token = account
    conf = create_conf(server, acct, token, "gone")
    b = f"conference.event.{conf}.*"
    ws = clients(token)
    ws.subscribe(acct, b)
    rest(server, token, "DELETE", f"/v2/accounts/{acct}/conferences/{conf}", None, 200)
    r = ws.unsubscribe(acct, b)
    assert r["status"] == "success", r
    assert r["data"] == {"unsubscribed": [b], "subscribed": []}


# --- binding scopes ----------------------------------------------------------------------------

def test_call_binding_receives_only_that_participant(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "calls")
    b = f"conference.event.{conf}.call-ann-1"
    ws = clients(token)
    ws.subscribe(acct, b)
    kw = dict(binding=b, acct=acct, conf=conf, conf_name="calls", server=server)

    ann = join(server, acct, token, conf, "Ann", "1001", call_id="call-ann-1")
    assert ann["call_id"] == "call-ann-1"
    # Conference-level events are not this call's: only add-member arrives.
    check_participant_event(ws.event(), name="add-member", p=ann, speak=True, hear=True, **kw)
    ws.assert_quiet()

    bob = join(server, acct, token, conf, "Bob", "1002", call_id="call-bob-1")
    act(server, acct, token, conf, bob["participant_id"], "mute")
    act(server, acct, token, conf, bob["participant_id"], "deaf")
    conf_action(server, acct, token, conf, "lock")
    conf_action(server, acct, token, conf, "unlock")
    ws.assert_quiet()

    act(server, acct, token, conf, ann["participant_id"], "mute")
    check_participant_event(ws.event(), name="mute-member", p=ann, speak=False, hear=True, **kw)
    ws.assert_quiet()

    act(server, acct, token, conf, bob["participant_id"], "kick")
    ws.assert_quiet()
    act(server, acct, token, conf, ann["participant_id"], "kick")
    evs = ws.take(2)
    check_participant_event(evs[0], name="kick-member", p=ann, speak=False, hear=True, **kw)
    check_participant_event(evs[1], name="del-member", p=ann, speak=False, hear=True,
                            reason="kicked", **kw)
    ws.assert_quiet()  # no conference-destroy


def test_command_binding(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "cmds")
    b = f"conference.command.{conf}"
    ws = clients(token)
    r = ws.subscribe(acct, b)
    assert r["data"] == {"subscribed": [b]}
    kw = dict(binding=b, acct=acct, conf=conf, conf_name="cmds")

    ann = join(server, acct, token, conf, "Ann", "1001")
    bob = join(server, acct, token, conf, "Bob", "1002")
    ws.assert_quiet()  # joins are events, not commands

    for a in ("mute", "unmute", "deaf", "undeaf"):
        act(server, acct, token, conf, ann["participant_id"], a)
        check_command_event(ws.event(), application=a, participant_id=ann["participant_id"], **kw)
        ws.assert_quiet()
    # A command is published even when it changes nothing.
    act(server, acct, token, conf, ann["participant_id"], "unmute")
    check_command_event(ws.event(), application="unmute", participant_id=ann["participant_id"],
                        **kw)
    conf_action(server, acct, token, conf, "lock")
    check_command_event(ws.event(), application="lock", **kw)
    conf_action(server, acct, token, conf, "unlock")
    check_command_event(ws.event(), application="unlock", **kw)
    act_all(server, acct, token, conf, "deaf")
    check_command_event(ws.event(), application="deaf", **kw)
    ws.assert_quiet()
    leave(server, acct, token, conf, bob["participant_id"])  # a hangup is not a command
    ws.assert_quiet()
    act(server, acct, token, conf, ann["participant_id"], "kick")
    check_command_event(ws.event(), application="kick", participant_id=ann["participant_id"], **kw)
    ws.assert_quiet()


def test_wildcard_conference_binding_stays_in_account(server, account, clients):
    acct, token = account
    c1 = create_conf(server, acct, token, "first")
    c2 = create_conf(server, acct, token, "second")
    other_acct, other_token = server.new_account("globex")
    d1 = create_conf(server, other_acct, other_token, "theirs")
    b = "conference.event.*.*"
    ws = clients(token)
    r = ws.subscribe(acct, b)
    assert r["data"] == {"subscribed": [b]}
    bc = "conference.command.*"
    r = ws.subscribe(acct, bc)
    assert r["data"] == {"subscribed": [b, bc]}

    # The other account's activity never shows up.
    q = join(server, other_acct, other_token, d1, "Zed", "9001")
    act(server, other_acct, other_token, d1, q["participant_id"], "mute")
    conf_action(server, other_acct, other_token, d1, "lock")
    ws.assert_quiet()

    p1 = join(server, acct, token, c1, "Ann", "1001")
    p2 = join(server, acct, token, c2, "Bob", "1002")
    evs = ws.take(4)
    kw = dict(binding=b, acct=acct, server=server, sub_key=ANY)
    check_conference_event(evs[0], conf=c1, conf_name="first", name="conference-create", **kw)
    check_participant_event(evs[1], conf=c1, conf_name="first", name="add-member", p=p1,
                            speak=True, hear=True, **kw)
    check_conference_event(evs[2], conf=c2, conf_name="second", name="conference-create", **kw)
    check_participant_event(evs[3], conf=c2, conf_name="second", name="add-member", p=p2,
                            speak=True, hear=True, **kw)
    act(server, acct, token, c2, p2["participant_id"], "mute")
    evs = ws.take(2)
    check_command_event(evs[0], binding=bc, acct=acct, conf=c2, conf_name="second",
                        application="mute", participant_id=p2["participant_id"], sub_key=ANY)
    check_participant_event(evs[1], conf=c2, conf_name="second", name="mute-member", p=p2,
                            speak=False, hear=True, **kw)
    ws.assert_quiet()

    # A conference created after the subscription is covered too.
    c3 = create_conf(server, acct, token, "third")
    p3 = join(server, acct, token, c3, "Cid", "1003")
    evs = ws.take(2)
    assert [(e["name"], e["data"]["conference_id"]) for e in evs] == \
        [("conference-create", c3), ("add-member", c3)]
    assert evs[1]["data"]["call_id"] == p3["call_id"]
    act(server, other_acct, other_token, d1, q["participant_id"], "kick")
    ws.assert_quiet()


def test_wildcard_call_id_with_specific_call(server, account, clients):
    """conference.event.*.{call}: that call's events in whichever conference of the account."""
    acct, token = account
    c1 = create_conf(server, acct, token, "first")
    c2 = create_conf(server, acct, token, "second")
    b = "conference.event.*.roamer"
    ws = clients(token)
    ws.subscribe(acct, b)
    join(server, acct, token, c1, "Ann", "1001")
    r1 = join(server, acct, token, c2, "Rom", "1002", call_id="roamer")
    check_participant_event(ws.event(), binding=b, acct=acct, conf=c2, conf_name="second",
                            name="add-member", p=r1, speak=True, hear=True, server=server,
                            sub_key=ANY)
    ws.assert_quiet()


def test_wildcard_subscription_key_names_the_binding(server, account, clients):
    """subscription_key is the subscription's own key (Kazoo's AMQP binding, fixed when the
    client subscribed: conference.event.*.{ACCOUNT}.{CONF}.{CALL} built from the client's
    binding); for a "*" conference binding it keeps the "*", as the call part already does."""
    acct, token = account
    conf = create_conf(server, acct, token, "keys")
    ws = clients(token)
    ws.subscribe(acct, bindings=["conference.event.*.*", "conference.command.*"])
    p = join(server, acct, token, conf, "Ann", "1001")
    act(server, acct, token, conf, p["participant_id"], "mute")
    got = [(e["name"], e["subscribed_key"], e["subscription_key"]) for e in ws.sync()]
    assert got == [
        ("conference-create", "conference.event.*.*", f"conference.event.*.{acct}.*.*"),
        ("add-member", "conference.event.*.*", f"conference.event.*.{acct}.*.*"),
        ("command", "conference.command.*", "conference.command.*"),
        ("mute-member", "conference.event.*.*", f"conference.event.*.{acct}.*.*"),
    ]


def test_account_isolation(server, account, clients):
    acct_a, token_a = account
    acct_b, token_b = server.new_account("globex")
    ca = create_conf(server, acct_a, token_a, "alpha")
    cb = create_conf(server, acct_b, token_b, "beta")
    wa, wb = clients(token_a), clients(token_b)
    wa.subscribe(acct_a, bindings=[f"conference.event.{ca}.*", f"conference.command.{ca}",
                                    "conference.event.*.*"])
    wb.subscribe(acct_b, bindings=[f"conference.event.{cb}.*", f"conference.command.{cb}",
                                    "conference.event.*.*", "conference.command.*"])

    # Account A's whole life cycle: B sees none of it.
    pa = join(server, acct_a, token_a, ca, "Ann", "1001")
    act(server, acct_a, token_a, ca, pa["participant_id"], "mute")
    conf_action(server, acct_a, token_a, ca, "lock")
    act_all(server, acct_a, token_a, ca, "kick")
    wb.assert_quiet()
    got = wa.sync()
    assert all(e["data"]["conference_id"] == ca and e["data"]["account_id"] == acct_a
               for e in got)
    assert len(got) > 0

    # And B's are B's alone.
    pb = join(server, acct_b, token_b, cb, "Bea", "1001")
    act(server, acct_b, token_b, cb, pb["participant_id"], "deaf")
    wa.assert_quiet()
    got = wb.sync()
    assert len(got) > 0
    assert all(e["data"]["account_id"] == acct_b for e in got)

    # Account B cannot act on A's conference either (and nothing is emitted).
    r = server.request("PUT", f"/v2/accounts/{acct_a}/conferences/{ca}",
                       {"data": {"action": "unlock"}}, token=token_b)
    assert r.status in (403, 404), r
    wa.assert_quiet()
    wb.assert_quiet()


def test_admin_may_subscribe_to_another_account(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "watched")
    admin = clients(server.admin_token())
    b = f"conference.event.{conf}.*"
    r = admin.subscribe(acct, b)
    assert r["data"] == {"subscribed": [b]}
    # Without the account id the admin's own account is meant, which does not own the room.
    r = admin.call("subscribe", {"binding": f"conference.command.{conf}"})
    assert_error(r, r["request_id"], "unknown conference id for this account: " + conf)
    p = join(server, acct, token, conf, "Ann", "1001")
    evs = admin.take(2)
    check_participant_event(evs[1], binding=b, acct=acct, conf=conf, conf_name="watched",
                            name="add-member", p=p, speak=True, hear=True, server=server)
    admin.assert_quiet()


def test_admin_same_binding_for_two_accounts(server, clients):
    """An admin socket may hold one binding text for several accounts (Kazoo keys a session's
    subscription by client binding and account-qualified AMQP binding): each account's events
    arrive, and unsubscribing one account leaves the other."""
    acct_a, token_a = server.new_account("alpha")
    acct_b, token_b = server.new_account("beta")
    ca = create_conf(server, acct_a, token_a, "alpha-room")
    cb = create_conf(server, acct_b, token_b, "beta-room")
    admin = clients(server.admin_token())
    b = "conference.event.*.*"
    admin.subscribe(acct_a, b)
    admin.subscribe(acct_b, b)
    join(server, acct_a, token_a, ca, "Ann", "1001")
    join(server, acct_b, token_b, cb, "Bea", "1001")
    got = [(e["name"], e["data"]["account_id"]) for e in admin.sync()]
    assert got == [("conference-create", acct_a), ("add-member", acct_a),
                   ("conference-create", acct_b), ("add-member", acct_b)]
    r = admin.unsubscribe(acct_a, b)
    assert r["status"] == "success", r
    join(server, acct_a, token_a, ca, "Al", "1002")
    join(server, acct_b, token_b, cb, "Bo", "1002")
    got = [(e["name"], e["data"]["account_id"]) for e in admin.sync()]
    assert got == [("add-member", acct_b)]


# --- unsubscribe and closing --------------------------------------------------------------------

def test_unsubscribed_binding_stops_receiving(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "quiet")
    be, bc = f"conference.event.{conf}.*", f"conference.command.{conf}"
    ws = clients(token)
    ws.subscribe(acct, bindings=[be, bc])
    p = join(server, acct, token, conf, "Ann", "1001")
    assert names(ws.take(2)) == ["conference-create", "add-member"]

    r = ws.unsubscribe(acct, be)
    assert r["data"] == {"unsubscribed": [be], "subscribed": [bc]}
    act(server, acct, token, conf, p["participant_id"], "mute")
    ev = ws.event()
    assert (ev["name"], ev["subscribed_key"]) == ("command", bc)
    ws.assert_quiet()

    r = ws.unsubscribe(acct, bc)
    assert r["data"] == {"unsubscribed": [bc], "subscribed": []}
    act(server, acct, token, conf, p["participant_id"], "unmute")
    conf_action(server, acct, token, conf, "lock")
    act(server, acct, token, conf, p["participant_id"], "kick")
    ws.assert_quiet()

    # Subscribing again works and delivers again.
    ws.subscribe(acct, be)
    join(server, acct, token, conf, "Bob", "1002")
    assert names(ws.take(2)) == ["conference-create", "add-member"]
    ws.assert_quiet()


def test_closing_sockets_does_not_disturb_others(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "churn")
    b = f"conference.event.{conf}.*"
    keeper = clients(token)
    keeper.subscribe(acct, bindings=[b, f"conference.command.{conf}"])
    polite, rude, silent = clients(token), clients(token), clients(token)
    for c in (polite, rude, silent):
        c.subscribe(acct, bindings=[b, "conference.event.*.*", f"conference.command.{conf}"])

    p = join(server, acct, token, conf, "Ann", "1001")
    assert names(keeper.sync()) == ["conference-create", "add-member"]
    for c in (polite, rude, silent):  # once per binding that matches
        assert sorted(names(c.sync())) == ["add-member", "add-member",
                                           "conference-create", "conference-create"]

    polite.close()  # a WebSocket close handshake
    rude.abort()    # a dropped TCP connection, no close frame
    # `silent` keeps unread events queued and then vanishes mid-stream.
    act(server, acct, token, conf, p["participant_id"], "mute")
    silent.abort()

    for a in ("unmute", "deaf", "undeaf"):
        act(server, acct, token, conf, p["participant_id"], a)
    bob = join(server, acct, token, conf, "Bob", "1002")
    got = keeper.sync()
    assert [(e["name"], e["data"].get("application_name")) for e in got] == [
        ("command", "mute"), ("mute-member", None),
        ("command", "unmute"), ("unmute-member", None),
        ("command", "deaf"), ("deaf-member", None),
        ("command", "undeaf"), ("undeaf-member", None),
        ("add-member", None)]
    assert got[-1]["data"]["call_id"] == bob["call_id"]

    # New sockets still subscribe and receive.
    fresh = clients(token)
    fresh.subscribe(acct, b)
    act(server, acct, token, conf, bob["participant_id"], "kick")
    assert names(fresh.take(2)) == ["kick-member", "del-member"]
    assert names(keeper.sync()) == ["command", "kick-member", "del-member"]
    fresh.assert_quiet()


def test_many_sockets_receive_the_same_event(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "crowd")
    b = f"conference.event.{conf}.*"
    socks = [clients(token) for _ in range(50)]
    for s in socks:
        r = s.subscribe(acct, b)
        assert r["data"] == {"subscribed": [b]}

    p = join(server, acct, token, conf, "Ann", "1001")
    first = None
    for s in socks:
        evs = s.take(2)
        assert names(evs) == ["conference-create", "add-member"]
        check_participant_event(evs[1], binding=b, acct=acct, conf=conf, conf_name="crowd",
                                name="add-member", p=p, speak=True, hear=True, server=server)
        if first is None:
            first = evs
        # Every socket gets the very same event (same msg_id, same payload).
        assert evs == first
    for s in socks:
        s.assert_quiet()


# --- authentication once per socket ---------------------------------------------------------

def test_token_sent_once_holds_for_the_socket(server, account, clients):
    acct, token = account
    conf = create_conf(server, acct, token, "once")
    be, bc = f"conference.event.{conf}.*", f"conference.command.{conf}"
    ws = clients(token=None)
    r = ws.call("subscribe", {"account_id": acct, "binding": be}, token=token)
    assert r["status"] == "success" and r["data"] == {"subscribed": [be]}, r

    # Later messages carry no token.
    r = ws.call("ping")
    assert r["status"] == "success" and r["data"] == {"response": "pong"}, r
    r = ws.call("subscribe", {"account_id": acct, "binding": bc})
    assert r["status"] == "success" and r["data"] == {"subscribed": [be, bc]}, r
    r = ws.call("subscribe", {"binding": "conference.event.*.*"})
    assert r["status"] == "success", r
    r = ws.call("unsubscribe", {"account_id": acct, "binding": "conference.event.*.*"})
    assert r["status"] == "success" and r["data"] == {"unsubscribed": ["conference.event.*.*"],
                                                      "subscribed": [be, bc]}, r
    # The socket's account still bounds what it may ask for.
    other_acct, _ = server.new_account("globex")
    r = ws.call("subscribe", {"account_id": other_acct, "binding": be})
    assert_error(r, r["request_id"], "unauthorized account id")

    p = join(server, acct, token, conf, "Ann", "1001")
    act(server, acct, token, conf, p["participant_id"], "mute")
    assert names(ws.sync()) == ["conference-create", "add-member", "command", "mute-member"]

    # Authentication belongs to the socket: a new one must send its own token.
    other = clients(token=None)
    r = other.call("ping")
    assert_error(r, r["request_id"], "authentication token required")
    r = other.call("subscribe", {"account_id": acct, "binding": be})
    assert_error(r, r["request_id"], "authentication token required")

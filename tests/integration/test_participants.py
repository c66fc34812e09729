"""Live rooms over the Kazoo crossbar API: joining (PIN, dialled number, roles), limits (lock,
max_participants, PIN lockout), per-participant and bulk actions, leaving, and room lifetime."""
import json
import re

import pytest

from conftest import ws_connect, error_data, ok




class Api:
    def __init__(self, server, account_id, token):
        self.s, self.account_id, self.token = server, account_id, token
        self.base = f"/v2/accounts/{account_id}/conferences"

    def req(self, method, path="", body=None):
        return self.s.request(method, self.base + path, body, token=self.token)

    def create(self, **data):
        return ok(self.req("PUT", "", {"data": data}), 201)["id"]

    def join(self, cid, **data):
        return self.req("POST", f"/{cid}/participants", {"data": data})

    def joined(self, cid, **data):
        return ok(self.join(cid, **data), 201)

    def participant(self, cid, pid):
        return ok(self.req("GET", f"/{cid}/participants/{pid}"))

    def participants(self, cid):
        return ok(self.req("GET", f"/{cid}/participants"))

    def act(self, cid, pid, action):
        r = self.req("PUT", f"/{cid}/participants/{pid}", {"data": {"action": action}})
        assert (r.status, r.json["status"], r.json["data"]) == (202, "accepted", "ok"), r

    def act_all(self, cid, action):
        r = self.req("PUT", f"/{cid}/participants", {"data": {"action": action}})
        assert (r.status, r.json["status"], r.json["data"]) == (202, "accepted", "ok"), r

    def read_only(self, cid):
        return ok(self.req("GET", f"/{cid}"))["_read_only"]


@pytest.fixture
def api(server, account):
    return Api(server, *account)


def test_join_returns_participant(api):
    cid = api.create(name="Room")
    r = api.join(cid, name="Alice", number="+15551234", call_id="call-alice-1")
    p = ok(r, 201)
    assert p["participant_id"] == 1
    assert p["call_id"] == "call-alice-1"
    assert p["caller_id_name"] == "Alice" and p["caller_id_number"] == "+15551234"
    assert p["conference_name"] == cid
    assert re.match(r"^[0-9a-f]{32}$", p["conference_uuid"])
    assert p["is_moderator"] is False
    assert (p["speak"], p["hear"]) == (False, True)  # member.join_muted defaults to true
    for key in ("talking", "floor", "mute_detect", "video"):
        assert p[key] is False, key
    assert isinstance(p["join_time"], int) and p["duration"] >= 0
    # Without a call_id one is generated, unique per participant.
    p2 = api.joined(cid, name="Bob", number="2")
    assert p2["call_id"] and p2["call_id"] != p["call_id"]
    assert p2["conference_uuid"] == p["conference_uuid"]
    # The same call cannot join twice.
    r = api.join(cid, name="Alice again", number="+15551234", call_id="call-alice-1")
    assert error_data(r, 409, "conflict")["cause"] == "call-alice-1"
    assert [x["participant_id"] for x in api.participants(cid)] == [1, 2]
    assert api.participant(cid, 1) == {**api.participant(cid, 1), "call_id": "call-alice-1",
                                       "caller_id_name": "Alice"}


def test_join_body_must_be_an_object_with_string_fields(api):
    cid = api.create(name="Room")
    r = api.req("POST", f"/{cid}/participants", {"data": "Alice"})
    assert error_data(r, 400, "invalid data")["data"]["type"]
    r = api.join(cid, name=["A"], number="1")
    assert error_data(r, 400, "invalid data")["name"]["type"]["message"] == \
        "Value did not match type(s): string"
    # Numbers given as JSON integers are taken as digits.
    assert api.joined(cid, name="N", number=5551000)["caller_id_number"] == "5551000"
    assert api.read_only(cid)["members"] == 1


def test_pin_decides_role(api):
    cid = api.create(name="Pins", member={"pins": ["1111", "2222"]}, moderator={"pins": ["9999"]})
    mod = api.joined(cid, name="Mod", number="100", pin="9999")
    mem = api.joined(cid, name="Mem", number="101", pin="2222")
    assert mod["is_moderator"] is True and mem["is_moderator"] is False
    assert (mod["speak"], mod["hear"]) == (True, True)
    assert (mem["speak"], mem["hear"]) == (False, True)
    # A PIN given as a JSON number works the same.
    assert api.joined(cid, name="Mem2", number="102", pin=1111)["is_moderator"] is False
    ro = api.read_only(cid)
    assert (ro["members"], ro["moderators"]) == (2, 1)
    assert ro["bad_pin_attempts"] == 0
    assert [p["is_moderator"] for p in ro["participants"]] == [True, False, False]


def test_missing_and_wrong_pin(api):
    cid = api.create(name="Pins", member={"pins": ["1111"]}, moderator={"pins": ["9999"]})
    r = api.join(cid, name="NoPin", number="200")
    data = error_data(r, 403, "invalid_pin")
    assert data["message"] == "a PIN is required to join this conference"
    assert data["pin"]["required"]["message"] == "PIN is not valid"
    assert data["attempts_remaining"] == 2
    r = api.join(cid, name="Wrong", number="201", pin="0000")
    data = error_data(r, 403, "invalid_pin")
    assert data["message"] == "the PIN does not match this conference"
    assert data["pin"]["invalid"]["message"] == "PIN is not valid"
    assert data["attempts_remaining"] == 2  # counted per caller number
    ro = api.read_only(cid)
    assert ro["bad_pin_attempts"] == 2
    assert ro["participants"] == [] and ro["members"] == 0
    assert api.participants(cid) == []


def test_three_wrong_pins_lock_the_caller_out(api):
    cid = api.create(name="Pins", member={"pins": ["1111"]})
    for remaining in (2, 1, 0):
        r = api.join(cid, name="Guess", number="300", pin="1234")
        assert error_data(r, 403, "invalid_pin")["attempts_remaining"] == remaining
    # The fourth try is refused even with the right PIN.
    r = api.join(cid, name="Guess", number="300", pin="1111")
    data = error_data(r, 429, "too_many_pin_attempts")
    assert 0 < data["retry_after"] <= 60
    assert data["message"] == "too many wrong PINs from this caller"
    r = api.join(cid, name="Guess", number="300", pin="1234")
    error_data(r, 429, "too_many_pin_attempts")
    # Other callers are not affected.
    assert api.joined(cid, name="Other", number="301", pin="1111")["participant_id"] == 1
    ro = api.read_only(cid)
    assert ro["bad_pin_attempts"] == 3
    assert ro["members"] == 1
    # Counters are per conference: the same caller may join another room.
    other = api.create(name="Other room", member={"pins": ["1111"]})
    assert api.joined(other, name="Guess", number="300", pin="1111")["participant_id"] == 1
    assert api.read_only(other)["bad_pin_attempts"] == 0


def test_successful_join_resets_the_callers_pin_count(api):
    cid = api.create(name="Pins", member={"pins": ["1111"]})
    for _ in range(2):
        error_data(api.join(cid, name="C", number="400", pin="5"), 403, "invalid_pin")
    p = api.joined(cid, name="C", number="400", pin="1111")
    api.act(cid, p["participant_id"], "kick")
    for remaining in (2, 1):
        r = api.join(cid, name="C", number="400", pin="5")
        assert error_data(r, 403, "invalid_pin")["attempts_remaining"] == remaining
    assert api.read_only(cid)["bad_pin_attempts"] == 4


def test_no_pins_means_member_without_pin(api):
    cid = api.create(name="Open")
    p = api.joined(cid, name="Anyone", number="500")
    assert p["is_moderator"] is False
    # Moderator PINs only: callers without a PIN are members, with the PIN moderators.
    cid2 = api.create(name="ModPinOnly", moderator={"pins": ["7777"]})
    assert api.joined(cid2, name="M", number="501")["is_moderator"] is False
    assert api.joined(cid2, name="Boss", number="502", pin="7777")["is_moderator"] is True
    ro = api.read_only(cid2)
    assert (ro["members"], ro["moderators"]) == (1, 1)


def test_dialed_number_picks_the_role(api):
    cid = api.create(name="Numbers", conference_numbers=["6000"], member={"numbers": ["6001"]},
                     moderator={"numbers": ["6002"]})
    mod = api.joined(cid, name="ByModNumber", number="1", dialed="6002")
    mem = api.joined(cid, name="ByMemNumber", number="2", dialed="6001")
    generic = api.joined(cid, name="ByConfNumber", number="3", dialed="6000")
    assert (mod["is_moderator"], mem["is_moderator"], generic["is_moderator"]) == (True, False, False)
    assert (mod["speak"], mem["speak"]) == (True, False)
    r = api.join(cid, name="Wrong", number="4", dialed="6999")
    data = error_data(r, 400, "invalid data")
    assert "6999" in data["dialed"]["enum"]["message"]
    ro = api.read_only(cid)
    assert (ro["members"], ro["moderators"]) == (2, 1)
    assert ro["bad_pin_attempts"] == 0


def test_dialed_number_and_pin_together(api):
    cid = api.create(name="Both", member={"numbers": ["7001"], "pins": ["1"]},
                     moderator={"numbers": ["7002"], "pins": ["2"]})
    # The number fixes the role; the PIN must be that role's PIN.
    assert api.joined(cid, name="a", number="1", dialed="7002", pin="2")["is_moderator"] is True
    assert api.joined(cid, name="b", number="2", dialed="7001", pin="1")["is_moderator"] is False
    error_data(api.join(cid, name="c", number="3", dialed="7001", pin="2"), 403, "invalid_pin")
    error_data(api.join(cid, name="d", number="4", dialed="7002", pin="1"), 403, "invalid_pin")
    assert api.read_only(cid)["bad_pin_attempts"] == 2


def test_join_muted_and_deaf_per_role(api):
    cid = api.create(name="Flags", member={"join_muted": False, "join_deaf": True, "pins": ["1"]},
                     moderator={"join_muted": True, "join_deaf": False, "pins": ["2"]})
    mem = api.joined(cid, name="mem", number="1", pin="1")
    mod = api.joined(cid, name="mod", number="2", pin="2")
    assert (mem["speak"], mem["hear"]) == (True, False)
    assert (mod["speak"], mod["hear"]) == (False, True)
    assert (api.participant(cid, 1)["speak"], api.participant(cid, 1)["hear"]) == (True, False)
    assert (api.participant(cid, 2)["speak"], api.participant(cid, 2)["hear"]) == (False, True)
    # A change of the document applies to callers that join afterwards.
    ok(api.req("PATCH", f"/{cid}", {"data": {"member": {"join_deaf": False}}}))
    later = api.joined(cid, name="later", number="3", pin="1")
    assert (later["speak"], later["hear"]) == (True, True)


def test_participant_ids_count_per_room(api):
    cid = api.create(name="Ids")
    ids = [api.joined(cid, name=f"p{i}", number=str(i))["participant_id"] for i in range(3)]
    assert ids == [1, 2, 3]
    # Ids are not reused while the room lives.
    ok(api.req("DELETE", f"/{cid}/participants/2"))
    assert api.joined(cid, name="p4", number="4")["participant_id"] == 4
    assert [p["participant_id"] for p in api.participants(cid)] == [1, 3, 4]
    # Another room counts from 1.
    other = api.create(name="Other")
    assert api.joined(other, name="x", number="9")["participant_id"] == 1
    # When the room empties it ends; the next room starts again at 1 with a new instance.
    uuid = api.participant(cid, 1)["conference_uuid"]
    api.act_all(cid, "kick")
    p = api.joined(cid, name="again", number="5")
    assert p["participant_id"] == 1
    assert p["conference_uuid"] != uuid


def test_locked_room_refuses_joins(api):
    cid = api.create(name="Lock", moderator={"pins": ["9"]})
    api.joined(cid, name="first", number="1")
    r = api.req("PUT", f"/{cid}", {"data": {"action": "lock"}})
    assert r.status == 202, r
    r = api.join(cid, name="late", number="2")
    data = error_data(r, 423, "conference_locked")
    assert data["message"] == "the conference is locked"
    error_data(api.join(cid, name="late mod", number="3", pin="9"), 423, "conference_locked")
    ro = api.read_only(cid)
    assert ro["is_locked"] is True and ro["members"] == 1 and len(ro["participants"]) == 1
    assert api.req("PUT", f"/{cid}", {"data": {"action": "unlock"}}).status == 202
    assert api.joined(cid, name="late", number="2")["participant_id"] == 2


def test_max_participants_makes_room_full(api):
    cid = api.create(name="Small", max_participants=2, moderator={"pins": ["9"]})
    api.joined(cid, name="a", number="1")
    api.joined(cid, name="b", number="2", pin="9")
    r = api.join(cid, name="c", number="3")
    data = error_data(r, 403, "conference_full")
    assert data["message"] == "the conference is full"
    assert data["max_participants"] == 2
    # Full is not a PIN failure.
    error_data(api.join(cid, name="c", number="3", pin="9"), 403, "conference_full")
    ro = api.read_only(cid)
    assert (ro["members"], ro["moderators"], ro["bad_pin_attempts"]) == (1, 1, 0)
    ok(api.req("DELETE", f"/{cid}/participants/1"))
    assert api.joined(cid, name="c", number="3")["participant_id"] == 3
    error_data(api.join(cid, name="d", number="4"), 403, "conference_full")
    # 0 means no limit.
    unlimited = api.create(name="Big", max_participants=0)
    for i in range(5):
        api.joined(unlimited, name=f"u{i}", number=str(i))
    assert api.read_only(unlimited)["members"] == 5


def test_huge_max_participants_never_breaks_join(api):
    """A limit too large for the room is either refused when saved or means 'no limit'; it must
    not turn a later join into a 500."""
    r = api.req("PUT", "", {"data": {"name": "Huge", "max_participants": 18446744073709551615}})
    if r.status == 400:
        assert error_data(r, 400, "invalid data")["max_participants"]
        return
    cid = ok(r, 201)["id"]
    r = api.join(cid, name="a", number="1")
    assert r.status == 201, r
    assert api.read_only(cid)["members"] == 1


def test_actions_on_one_participant(api):
    cid = api.create(name="Acts", member={"join_muted": False}, moderator={"pins": ["9"]})
    api.joined(cid, name="a", number="1")
    api.joined(cid, name="b", number="2")
    api.joined(cid, name="mod", number="3", pin="9")

    def state(pid):
        p = api.participant(cid, pid)
        return p["speak"], p["hear"]

    assert state(1) == (True, True)
    api.act(cid, 1, "mute")
    assert state(1) == (False, True)
    assert state(2) == (True, True)  # the others are untouched
    api.act(cid, 1, "mute")  # again: no change, still accepted
    assert state(1) == (False, True)
    api.act(cid, 1, "deaf")
    assert state(1) == (False, False)
    api.act(cid, 1, "unmute")
    assert state(1) == (True, False)
    api.act(cid, 1, "undeaf")
    assert state(1) == (True, True)
    # Moderators can be acted on individually.
    api.act(cid, 3, "mute")
    assert state(3) == (False, True)
    # The action may be given at the top level too.
    r = api.req("PUT", f"/{cid}/participants/2", {"action": "deaf"})
    assert r.status == 202, r
    assert state(2) == (True, False)
    # Kick removes the participant.
    api.act(cid, 2, "kick")
    r = api.req("GET", f"/{cid}/participants/2")
    assert error_data(r, 404, "bad_identifier")["cause"] == "2"
    assert [p["participant_id"] for p in api.participants(cid)] == [1, 3]
    ro = api.read_only(cid)
    assert (ro["members"], ro["moderators"]) == (1, 1)
    assert [(p["participant_id"], p["speak"], p["hear"]) for p in ro["participants"]] == \
        [(1, True, True), (3, False, True)]


def test_participant_action_errors(api):
    cid = api.create(name="Errs")
    api.joined(cid, name="a", number="1")
    r = api.req("PUT", f"/{cid}/participants/1", {"data": {"action": "explode"}})
    assert error_data(r, 404, "faulty_request")["cause"] == "explode"
    r = api.req("PUT", f"/{cid}/participants/1", {"data": {}})
    assert error_data(r, 404, "faulty_request")["action"]["required"]
    r = api.req("PUT", f"/{cid}/participants/42", {"data": {"action": "mute"}})
    error_data(r, 404, "bad_identifier")
    r = api.req("PUT", f"/{cid}/participants", {"data": {"action": "lock"}})
    assert error_data(r, 404, "faulty_request")["cause"] == "lock"
    assert api.participant(cid, 1)["speak"] is False


def test_bulk_mute_and_deaf_skip_moderators(api):
    cid = api.create(name="Bulk", member={"join_muted": False, "pins": ["1"]},
                     moderator={"pins": ["9"]})
    api.joined(cid, name="m1", number="1", pin="1")
    api.joined(cid, name="mod", number="2", pin="9")
    api.joined(cid, name="m2", number="3", pin="1")

    def states():
        return {p["participant_id"]: (p["is_moderator"], p["speak"], p["hear"])
                for p in api.participants(cid)}

    assert states() == {1: (False, True, True), 2: (True, True, True), 3: (False, True, True)}
    api.act_all(cid, "mute")
    assert states() == {1: (False, False, True), 2: (True, True, True), 3: (False, False, True)}
    api.act_all(cid, "deaf")
    assert states() == {1: (False, False, False), 2: (True, True, True), 3: (False, False, False)}
    api.act_all(cid, "unmute")
    api.act_all(cid, "undeaf")
    assert states() == {1: (False, True, True), 2: (True, True, True), 3: (False, True, True)}
    # A muted moderator stays as it is through bulk actions.
    api.act(cid, 2, "mute")
    api.act_all(cid, "unmute")
    assert states()[2] == (True, False, True)
    # The bulk action may be given at the top level too.
    r = api.req("PUT", f"/{cid}/participants", {"action": "mute"})
    assert r.status == 202, r
    assert states() == {1: (False, False, True), 2: (True, False, True), 3: (False, False, True)}


def test_bulk_kick_empties_the_room(api):
    cid = api.create(name="Kick", moderator={"pins": ["9"]})
    for i in range(3):
        api.joined(cid, name=f"m{i}", number=str(i))
    api.joined(cid, name="mod", number="9", pin="9")
    assert api.read_only(cid)["members"] == 3
    api.act_all(cid, "kick")
    ro = api.read_only(cid)
    assert ro["participants"] == []
    assert (ro["members"], ro["moderators"], ro["duration"], ro["is_locked"]) == (0, 0, 0, False)
    assert api.participants(cid) == []
    row = [c for c in ok(api.req("GET")) if c["id"] == cid][0]
    assert (row["members"], row["moderators"]) == (0, 0)
    # The room is gone: actions on it find nothing.
    r = api.req("PUT", f"/{cid}/participants", {"data": {"action": "mute"}})
    assert error_data(r, 404, "bad_identifier")["cause"] == cid
    error_data(api.req("PUT", f"/{cid}/participants/1", {"data": {"action": "mute"}}), 404,
               "bad_identifier")
    error_data(api.req("GET", f"/{cid}/participants/1"), 404, "bad_identifier")


def test_delete_participant_leaves(api):
    cid = api.create(name="Leave", moderator={"pins": ["9"]})
    api.joined(cid, name="a", number="1")
    api.joined(cid, name="mod", number="2", pin="9")
    r = api.req("DELETE", f"/{cid}/participants/1")
    assert ok(r) == {"participant_id": 1, "left": True}
    error_data(api.req("GET", f"/{cid}/participants/1"), 404, "bad_identifier")
    error_data(api.req("DELETE", f"/{cid}/participants/1"), 404, "bad_identifier")
    ro = api.read_only(cid)
    assert (ro["members"], ro["moderators"]) == (0, 1)
    assert [p["participant_id"] for p in ro["participants"]] == [2]
    ok(api.req("DELETE", f"/{cid}/participants/2"))
    assert api.read_only(cid)["participants"] == []


@pytest.mark.parametrize("pid", ["99", "0", "-1", "abc", "1x", "99999999999999999999"])
def test_unknown_participant_is_404(api, pid):
    cid = api.create(name="Unknown")
    api.joined(cid, name="a", number="1")
    r = api.req("GET", f"/{cid}/participants/{pid}")
    data = error_data(r, 404, "bad_identifier")
    assert data["cause"] == pid
    assert api.participant(cid, 1)["participant_id"] == 1


def test_participants_of_idle_or_unknown_conference(api):
    cid = api.create(name="Idle")
    assert api.participants(cid) == []
    error_data(api.req("GET", f"/{cid}/participants/1"), 404, "bad_identifier")
    missing = "0" * 32
    for method, path, body in (("GET", f"/{missing}/participants", None),
                               ("POST", f"/{missing}/participants", {"data": {"name": "x"}}),
                               ("GET", f"/{missing}/participants/1", None)):
        assert error_data(api.req(method, path, body), 404, "bad_identifier")["cause"] == missing


def test_counters_in_single_and_list_views(api):
    cid = api.create(name="Counters", member={"pins": ["1"]}, moderator={"pins": ["2"]})
    for i in range(3):
        api.joined(cid, name=f"m{i}", number=f"1{i}", pin="1")
    for i in range(2):
        api.joined(cid, name=f"mod{i}", number=f"2{i}", pin="2")
    ro = api.read_only(cid)
    assert (ro["members"], ro["moderators"], len(ro["participants"])) == (3, 2, 5)
    parts = {p["caller_id_name"]: p for p in ro["participants"]}
    assert parts["mod1"]["is_moderator"] is True and parts["m2"]["is_moderator"] is False
    for p in ro["participants"]:
        for key in ("participant_id", "call_id", "speak", "hear", "talking", "floor",
                    "energy_level", "current_energy", "mute_detect", "video", "is_moderator",
                    "join_time", "duration"):
            assert key in p, key
    row = [c for c in ok(api.req("GET")) if c["id"] == cid][0]
    assert (row["members"], row["moderators"]) == (3, 2)
    api.act(cid, 1, "kick")
    row = [c for c in ok(api.req("GET")) if c["id"] == cid][0]
    assert (row["members"], row["moderators"]) == (2, 2)


def _recv_json(ws):
    return json.loads(ws.recv())


def test_deleting_a_conference_ends_its_room(server, api):
    cid = api.create(name="Doomed", conference_numbers=["9100"])
    api.joined(cid, name="a", number="1", call_id="call-a")
    api.joined(cid, name="b", number="2", call_id="call-b")
    ws = ws_connect(server)
    try:
        ws.send(json.dumps({"action": "subscribe", "auth_token": api.token, "request_id": "sub-1",
                            "data": {"account_id": api.account_id,
                                     "binding": f"conference.event.{cid}.*"}}))
        reply = _recv_json(ws)
        assert reply["action"] == "reply" and reply["status"] == "success", reply
        r = api.req("DELETE", f"/{cid}")
        assert ok(r) == {"id": cid, "_deleted": True}
        events = []
        while not any(e.get("name") == "conference-destroy" for e in events):
            events.append(_recv_json(ws))
            assert len(events) < 20, events
    finally:
        ws.close()
    left = {e["data"]["call_id"]: e["data"]["reason"] for e in events if e["name"] == "del-member"}
    assert left == {"call-a": "conference deleted", "call-b": "conference deleted"}
    error_data(api.req("GET", f"/{cid}/participants"), 404, "bad_identifier")
    error_data(api.req("POST", f"/{cid}/participants", {"data": {"name": "c"}}), 404,
               "bad_identifier")
    # A new conference with the freed number starts an empty room of its own.
    new = api.create(name="Phoenix", conference_numbers=["9100"])
    assert api.joined(new, name="c", number="3")["participant_id"] == 1
    assert api.read_only(new)["members"] == 1

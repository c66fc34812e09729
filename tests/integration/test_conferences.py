"""Conference documents over the Kazoo crossbar API: create, read, list, replace, patch, delete,
number uniqueness, validation and conference actions (lock/unlock)."""
import re

import pytest

from conftest import error_data, ok

REVISION = re.compile(r"^(\d+)-[0-9a-f]{32}$")
READ_ONLY_KEYS = {"members", "moderators", "duration", "is_locked", "participants"}



def rev(r):
    m = REVISION.match(r.json["revision"])
    assert m, r.json["revision"]
    return int(m.group(1))


class Api:
    def __init__(self, server, account_id, token):
        self.s, self.account_id, self.token = server, account_id, token
        self.base = f"/v2/accounts/{account_id}/conferences"

    def req(self, method, path="", body=None):
        return self.s.request(method, self.base + path, body, token=self.token)

    def create(self, **data):
        r = self.req("PUT", "", {"data": data})
        return ok(r, 201)

    def join(self, cid, **data):
        return self.req("POST", f"/{cid}/participants", {"data": data})


@pytest.fixture
def api(server, account):
    return Api(server, *account)


def test_create_applies_kazoo_defaults(api):
    r = api.req("PUT", "", {"data": {"name": "Weekly"}})
    doc = ok(r, 201)
    assert rev(r) == 1
    assert re.match(r"^[0-9a-f]{32}$", doc["id"])
    assert doc["name"] == "Weekly"
    assert doc["member"] == {"join_muted": True, "join_deaf": False, "numbers": [], "pins": []}
    assert doc["moderator"] == {"join_muted": False, "join_deaf": False, "numbers": [], "pins": []}
    assert doc["conference_numbers"] == []
    assert doc["play_name"] is False
    assert not [k for k in doc if k.startswith("pvt_")]
    ro = doc["_read_only"]
    assert READ_ONLY_KEYS <= set(ro)
    assert ro["members"] == 0 and ro["moderators"] == 0 and ro["is_locked"] is False
    assert ro["participants"] == [] and ro["duration"] == 0
    # The envelope.
    env = r.json
    for key in ("request_id", "node", "version", "timestamp", "auth_token", "revision"):
        assert env[key], key
    assert env["auth_token"] == api.token
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", env["timestamp"])


def test_explicit_role_settings_are_kept(api):
    doc = api.create(name="x", member={"join_muted": False, "join_deaf": True, "pins": ["1"]},
                     moderator={"join_muted": True})
    assert doc["member"] == {"join_muted": False, "join_deaf": True, "numbers": [], "pins": ["1"]}
    assert doc["moderator"]["join_muted"] is True and doc["moderator"]["join_deaf"] is False


def test_get_one_has_read_only_and_same_body(api):
    created = api.create(name="Standup", conference_numbers=["5000"], play_welcome=True,
                         ui_metadata={"ui": "test-ui", "version": 3}, custom_flag=7)
    r = api.req("GET", f"/{created['id']}")
    got = ok(r)
    assert rev(r) == 1
    for key in ("name", "conference_numbers", "play_welcome", "member", "moderator"):
        assert got[key] == created[key]
    # Unknown keys are kept as given.
    assert got["ui_metadata"] == {"ui": "test-ui", "version": 3}
    assert got["custom_flag"] == 7
    ro = got["_read_only"]
    assert set(ro) >= READ_ONLY_KEYS
    assert ro == {**ro, "members": 0, "moderators": 0, "duration": 0, "is_locked": False,
                  "participants": []}
    # Read-only and private keys sent by a client are not stored.
    r = api.req("PATCH", f"/{created['id']}", {"data": {"_read_only": {"members": 99},
                                                        "pvt_secret": 1, "id": "f" * 32}})
    patched = ok(r)
    assert patched["id"] == created["id"]
    assert patched["_read_only"]["members"] == 0
    assert "pvt_secret" not in patched


def test_list_has_per_conference_counters(api):
    a = api.create(name="A", member={"pins": ["111"]}, moderator={"pins": ["999"]})
    b = api.create(name="B")
    c = api.create(name="C")
    assert api.join(a["id"], name="m1", number="1", pin="111").status == 201
    assert api.join(a["id"], name="m2", number="2", pin="111").status == 201
    assert api.join(a["id"], name="mod", number="3", pin="999").status == 201
    assert api.join(b["id"], name="solo", number="4").status == 201
    assert api.req("PUT", f"/{b['id']}", {"action": "lock"}).status == 202
    r = api.req("GET")
    rows = {row["name"]: row for row in ok(r)}
    assert set(rows) == {"A", "B", "C"}
    assert (rows["A"]["members"], rows["A"]["moderators"], rows["A"]["is_locked"]) == (2, 1, False)
    assert (rows["B"]["members"], rows["B"]["moderators"], rows["B"]["is_locked"]) == (1, 0, True)
    assert (rows["C"]["members"], rows["C"]["moderators"], rows["C"]["is_locked"]) == (0, 0, False)
    assert rows["C"]["duration"] == 0
    assert rows["A"]["id"] == a["id"]
    assert rows["A"]["member"]["pins"] == ["111"]
    assert "_read_only" not in rows["A"]


def test_post_replaces_the_document(api):
    created = api.create(name="Old", play_welcome=True, conference_numbers=["7000"],
                         member={"join_muted": False, "pins": ["12"]}, ui_metadata={"a": 1})
    r = api.req("POST", f"/{created['id']}", {"data": {"name": "New", "profile": "wide"}})
    doc = ok(r)
    assert rev(r) == 2
    assert doc["id"] == created["id"]
    assert doc["name"] == "New" and doc["profile"] == "wide"
    for gone in ("play_welcome", "ui_metadata"):
        assert gone not in doc
    assert doc["conference_numbers"] == []
    assert doc["member"] == {"join_muted": True, "join_deaf": False, "numbers": [], "pins": []}
    got = ok(api.req("GET", f"/{created['id']}"))
    assert "play_welcome" not in got and got["name"] == "New"
    # The replaced number is free again.
    assert api.req("PUT", "", {"data": {"name": "taker", "conference_numbers": ["7000"]}}).status == 201


def test_patch_merges_nested_objects(api):
    created = api.create(name="P", play_welcome=True,
                         member={"join_muted": False, "join_deaf": True, "pins": ["12"]},
                         ui_metadata={"a": 1, "b": {"c": 2}})
    cid = created["id"]
    r = api.req("PATCH", f"/{cid}", {"data": {"member": {"pins": ["34", "56"]},
                                               "ui_metadata": {"b": {"d": 3}}}})
    doc = ok(r)
    assert rev(r) == 2
    assert doc["name"] == "P" and doc["play_welcome"] is True
    assert doc["member"] == {"join_muted": False, "join_deaf": True, "numbers": [],
                             "pins": ["34", "56"]}
    assert doc["ui_metadata"] == {"a": 1, "b": {"c": 2, "d": 3}}
    r = api.req("PATCH", f"/{cid}", {"data": {"name": "P2"}})
    assert rev(r) == 3 and ok(r)["name"] == "P2"
    r = api.req("GET", f"/{cid}")
    assert rev(r) == 3
    assert ok(r)["member"]["pins"] == ["34", "56"]


def test_invalid_patch_changes_nothing(api):
    cid = api.create(name="keep", max_participants=5)["id"]
    r = api.req("PATCH", f"/{cid}", {"data": {"name": "", "max_participants": "many"}})
    data = error_data(r, 400, "invalid data")
    assert data["name"]["minLength"]["message"] == "String must be at least 1 characters"
    assert data["max_participants"]["type"]["message"] == "Value did not match type(s): integer"
    r = api.req("GET", f"/{cid}")
    assert rev(r) == 1
    assert ok(r)["name"] == "keep" and r.data["max_participants"] == 5


def test_delete_then_get_is_404(api):
    cid = api.create(name="Temp", conference_numbers=["8100"])["id"]
    r = api.req("DELETE", f"/{cid}")
    assert ok(r) == {"id": cid, "_deleted": True}
    r = api.req("GET", f"/{cid}")
    data = error_data(r, 404, "bad_identifier")
    assert data["cause"] == cid
    assert ok(api.req("GET")) == []
    error_data(api.req("DELETE", f"/{cid}"), 404, "bad_identifier")
    error_data(api.req("PATCH", f"/{cid}", {"data": {"name": "zombie"}}), 404, "bad_identifier")
    error_data(api.req("POST", f"/{cid}", {"data": {"name": "zombie"}}), 404, "bad_identifier")
    # Its number is free again.
    assert api.req("PUT", "", {"data": {"name": "n", "conference_numbers": ["8100"]}}).status == 201


@pytest.mark.parametrize("field", ["conference_numbers", "member.numbers", "moderator.numbers"])
def test_numbers_unique_within_account(api, server, field):
    first = api.create(name="first", conference_numbers=["1000"],
                       member={"numbers": ["1001"]}, moderator={"numbers": ["1002"]})

    def body(num):
        if field == "conference_numbers":
            return {"name": "second", "conference_numbers": [num]}
        role, key = field.split(".")
        return {"name": "second", role: {key: [num]}}

    for taken in ("1000", "1001", "1002"):
        r = api.req("PUT", "", {"data": body(taken)})
        data = error_data(r, 400, "invalid data")
        assert data["numbers"]["unique"]["message"] == "Numbers already in use"
        assert data["numbers"]["unique"]["cause"] == taken
    assert [c["name"] for c in ok(api.req("GET"))] == ["first"]
    # A free number is fine.
    second = api.create(**body("2000"))
    # Taking a used number through PATCH is refused as well, and changes nothing.
    r = api.req("PATCH", f"/{second['id']}", {"data": body("1001")})
    assert error_data(r, 400, "invalid data")["numbers"]["unique"]["message"] == \
        "Numbers already in use"
    r = api.req("GET", f"/{second['id']}")
    assert rev(r) == 1
    # The same number in another account is fine.
    other_id, other_tok = server.new_account("other")
    r = server.request("PUT", f"/v2/accounts/{other_id}/conferences",
                       {"data": body("1000")}, token=other_tok)
    assert r.status == 201, r
    assert first["id"]


def test_several_taken_numbers_are_reported_together(api):
    api.create(name="a", conference_numbers=["3001", "3002"])
    r = api.req("PUT", "", {"data": {"name": "b", "conference_numbers": ["3001"],
                                      "member": {"numbers": ["3002"]}}})
    cause = error_data(r, 400, "invalid data")["numbers"]["unique"]["cause"]
    assert sorted(cause.split(", ")) == ["3001", "3002"]


def test_update_keeping_own_numbers_is_fine(api):
    doc = api.create(name="own", conference_numbers=["4000"], member={"numbers": ["4001"]},
                     moderator={"numbers": ["4002"]})
    cid = doc["id"]
    r = api.req("PATCH", f"/{cid}", {"data": {"name": "own2"}})
    assert ok(r)["conference_numbers"] == ["4000"]
    r = api.req("POST", f"/{cid}", {"data": {"name": "own3", "conference_numbers": ["4000", "4003"],
                                              "moderator": {"numbers": ["4001"]}}})
    doc = ok(r)
    assert doc["moderator"]["numbers"] == ["4001"] and rev(r) == 3
    # 4002 was released by the replace.
    assert api.req("PUT", "", {"data": {"name": "x", "conference_numbers": ["4002"]}}).status == 201


def test_validation_reports_every_bad_field_at_once(api):
    r = api.req("PUT", "", {"data": {
        "name": "",
        "owner_id": "abc",
        "conference_numbers": ["12a", 5],
        "member": {"join_muted": "yes", "pins": ["1" * 17, "1", "1"]},
        "moderator": "boss",
        "play_entry_tone": 3,
        "play_exit_tone": "",
        "play_name": "no",
        "max_participants": -1,
        "profile": 9,
    }})
    data = error_data(r, 400, "invalid data")
    expected = {
        "name": ("minLength", "String must be at least 1 characters"),
        "owner_id": ("minLength", "String must be at least 32 characters"),
        "conference_numbers.0": ("pattern", "Failed to match pattern '^[0-9]+$'"),
        "conference_numbers.1": ("type", "Value did not match type(s): string"),
        "member.join_muted": ("type", "Value did not match type(s): boolean"),
        "member.pins.0": ("maxLength", "String must not be more than 16 characters"),
        "member.pins": ("uniqueItems", "Array items must be unique"),
        "moderator": ("type", "Value did not match type(s): object"),
        "play_entry_tone": ("type", "Value did not match type(s): boolean, string"),
        "play_exit_tone": ("minLength", "String must be at least 1 characters"),
        "play_name": ("type", "Value did not match type(s): boolean"),
        "max_participants": ("minimum", "Value must be at least 0"),
        "profile": ("type", "Value did not match type(s): string"),
    }
    for path, (rule, message) in expected.items():
        assert path in data, (path, data)
        assert data[path][rule]["message"] == message, (path, data[path])
    assert set(data) == set(expected), set(data) ^ set(expected)
    assert ok(api.req("GET")) == []


@pytest.mark.parametrize("data,path,rule,message", [
    ({}, "name", "required", "Field is required but missing"),
    ({"name": "x" * 129}, "name", "maxLength", "String must not be more than 128 characters"),
    ({"name": 5}, "name", "type", "Value did not match type(s): string"),
    ({"name": "x", "owner_id": "a" * 33}, "owner_id", "maxLength",
     "String must not be more than 32 characters"),
    ({"name": "x", "conference_numbers": "1000"}, "conference_numbers", "type",
     "Value did not match type(s): array"),
    ({"name": "x", "moderator": {"numbers": ["+1"]}}, "moderator.numbers.0", "pattern",
     "Failed to match pattern '^[0-9]+$'"),
    ({"name": "x", "max_participants": 2.5}, "max_participants", "type",
     "Value did not match type(s): integer"),
    ({"name": "x", "wait_for_moderator": 1}, "wait_for_moderator", "type",
     "Value did not match type(s): boolean"),
])
def test_single_field_validation(api, data, path, rule, message):
    r = api.req("PUT", "", {"data": data})
    err = error_data(r, 400, "invalid data")
    assert err[path][rule]["message"] == message
    assert list(err) == [path]


def test_name_at_limits_and_tone_strings_are_accepted(api):
    doc = api.create(name="x" * 128, owner_id="a" * 32, play_entry_tone="tone_stream://%(200,0,500)",
                     play_exit_tone=False, max_participants=0, member={"pins": ["1" * 16]})
    assert len(doc["name"]) == 128
    assert doc["play_entry_tone"].startswith("tone_stream://")
    assert doc["max_participants"] == 0


def test_lock_and_unlock(api):
    cid = api.create(name="L")["id"]
    assert api.join(cid, name="a", number="1").status == 201
    r = api.req("PUT", f"/{cid}", {"data": {"action": "lock"}})
    assert r.status == 202, r
    assert r.json["status"] == "accepted"
    assert r.json["data"] == "ok"
    assert "revision" not in r.json
    assert ok(api.req("GET", f"/{cid}"))["_read_only"]["is_locked"] is True
    # Locking twice is harmless.
    assert api.req("PUT", f"/{cid}", {"data": {"action": "lock"}}).status == 202
    r = api.req("PUT", f"/{cid}", {"data": {"action": "unlock"}})
    assert (r.status, r.json["status"], r.json["data"]) == (202, "accepted", "ok")
    assert ok(api.req("GET", f"/{cid}"))["_read_only"]["is_locked"] is False
    # Actions do not change the document.
    r = api.req("GET", f"/{cid}")
    assert rev(r) == 1


def test_action_read_from_top_level_first_then_data(api):
    cid = api.create(name="L")["id"]
    assert api.join(cid, name="a", number="1").status == 201
    assert api.req("PUT", f"/{cid}", {"action": "lock"}).status == 202
    assert ok(api.req("GET", f"/{cid}"))["_read_only"]["is_locked"] is True
    # Top level wins over data.
    assert api.req("PUT", f"/{cid}", {"action": "unlock", "data": {"action": "lock"}}).status == 202
    assert ok(api.req("GET", f"/{cid}"))["_read_only"]["is_locked"] is False
    assert api.req("PUT", f"/{cid}", {"data": {"action": "lock"}}).status == 202
    assert ok(api.req("GET", f"/{cid}"))["_read_only"]["is_locked"] is True


def test_unknown_or_missing_action_is_faulty_request(api):
    cid = api.create(name="L")["id"]
    assert api.join(cid, name="a", number="1").status == 201
    r = api.req("PUT", f"/{cid}", {"data": {"action": "explode"}})
    data = error_data(r, 404, "faulty_request")
    assert data["cause"] == "explode"
    assert data["message"] == "faulty request"
    r = api.req("PUT", f"/{cid}", {"data": {}})
    data = error_data(r, 404, "faulty_request")
    assert data["action"]["required"]["message"] == "Field is required but missing"
    r = api.req("PUT", f"/{cid}", {"action": 7})
    error_data(r, 404, "faulty_request")
    # An unknown action on a conference that is not running is still faulty_request.
    idle = api.create(name="idle")["id"]
    assert error_data(api.req("PUT", f"/{idle}", {"action": "dance"}), 404,
                      "faulty_request")["cause"] == "dance"
    assert ok(api.req("GET", f"/{cid}"))["_read_only"]["is_locked"] is False


def test_conference_documents_survive_restart(tmp_path):
    """Documents are durable: a clean restart serves the same bodies and revisions."""
    from conftest import Server
    server = Server(tmp_path / "var").start()
    try:
        account_id, token = server.new_account("acme")
        api = Api(server, account_id, token)
        a = api.create(name="persist-a", conference_numbers=["6000"], ui_metadata={"k": "v"})
        b = api.create(name="persist-b")
        ok(api.req("PATCH", f"/{a['id']}", {"data": {"play_name": True}}))
        ok(api.req("DELETE", f"/{b['id']}"))
        before = {c["id"]: c for c in ok(api.req("GET"))}
    finally:
        assert server.stop() == 0
    s2 = Server(tmp_path / "var").start()
    try:
        api2 = Api(s2, account_id, token)  # tokens survive: the secret is in the data dir
        after = {c["id"]: c for c in ok(api2.req("GET"))}
        assert after == before
        r = api2.req("GET", f"/{a['id']}")
        assert rev(r) == 2 and ok(r)["play_name"] is True and r.data["ui_metadata"] == {"k": "v"}
        error_data(api2.req("GET", f"/{b['id']}"), 404, "bad_identifier")
        r = api2.req("PUT", "", {"data": {"name": "dup", "conference_numbers": ["6000"]}})
        assert error_data(r, 400, "invalid data")["numbers"]["unique"]["message"] == \
            "Numbers already in use"
    finally:
        assert s2.stop() == 0

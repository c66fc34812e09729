"""The Userplane face: GET /v1/conference.json (seed 004) with HTTP Basic siteId:apiKey, its
envelope, and each room's metadata and occupant counts, checked against rooms set up and joined
through the Kazoo REST face."""
import base64
import datetime
import hashlib
import re
import time

import pytest

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ROOM_KEYS = {"roomId", "name", "admins", "creationDate", "description", "maxUsers", "members",
             "moderators", "modificationDate", "occupants", "outcasts", "owners", "participants",
             "subject", "visitors"}
COUNT_KEYS = ("admins", "maxUsers", "members", "moderators", "occupants", "outcasts", "owners",
              "participants", "visitors")


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def parse_iso(s):
    assert ISO_MS.match(s), s
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Site:
    """An account seen from both sides: Kazoo REST to set rooms up, Userplane to read them."""

    def __init__(self, server, name):
        self.s = server
        r = server.request("PUT", "/v2/accounts", {"data": {"name": name}},
                           token=server.admin_token())
        assert r.status == 201, r
        self.id, self.key = r.data["id"], r.data["api_key"]
        self.token = server.token_for_key(self.key)
        self.confs = f"/v2/accounts/{self.id}/conferences"

    def kazoo(self, method, path, body=None, token=None):
        return self.s.request(method, path, body, token=token or self.token)

    def create(self, **data):
        r = self.kazoo("PUT", self.confs, {"data": data})
        assert r.status == 201, r
        return r.data["id"]

    def user(self, **fields):
        body = {"first_name": "Some", "last_name": "One"}
        body.update(fields)
        r = self.kazoo("PUT", f"/v2/accounts/{self.id}/users", {"data": body})
        assert r.status == 201, r
        return r.data["id"]

    def join(self, cid, token=None, **data):
        r = self.kazoo("POST", f"{self.confs}/{cid}/participants", {"data": data}, token=token)
        assert r.status == 201, r
        return r.data

    def leave(self, cid, pid):
        r = self.kazoo("DELETE", f"{self.confs}/{cid}/participants/{pid}")
        assert r.status == 200, r

    def get(self, path="/v1/conference.json", headers=None):
        return self.s.request("GET", path, headers=basic(self.id, self.key) if headers is None
                              else headers)

    def rooms(self):
        r = self.get()
        assert r.status == 200, r
        assert r.json["result"] == "Success", r
        return {room["roomId"]: room for room in r.json["data"]["rooms"]}

    def room(self, cid):
        return self.rooms()[f"{cid}|{self.id}"]


@pytest.fixture
def site(server):
    return Site(server, "acme")


def failure(r, status, message_part):
    """A Userplane failure: exact envelope, the status as resultCode, a message naming the cause."""
    assert r.status == status, r
    j = r.json
    assert j is not None, r
    assert set(j) == {"result", "resultCode", "message", "error", "data"}, r
    assert j["result"] == "Failure", r
    assert j["resultCode"] == status, r
    assert j["data"] == {}, r
    assert isinstance(j["message"], str) and message_part.lower() in j["message"].lower(), r
    assert j["error"] == [j["message"]], r
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    return j["message"]


# --- authentication ----------------------------------------------------------------------------

def test_missing_authorization_is_401_with_basic_challenge(site):
    r = site.get(headers={})
    failure(r, 401, "missing Authorization")
    assert r.headers.get("WWW-Authenticate", "").startswith("Basic"), r.headers


@pytest.mark.parametrize("value,part", [
    ("Bearer abcdef", "Basic scheme"),
    ("Digest username=x", "Basic scheme"),
    ("Basic", "credentials are missing"),
    ("Basic !!!not-base64!!!", "base64"),
    ("Basic YWJj=ZGVm", "base64"),           # padding in the middle
    ("Basic YWJjZA===", "base64"),           # too much padding
    ("Basic " + base64.b64encode(b"no-colon-here").decode(), "siteId:apiKey"),
    ("Basic " + base64.b64encode(b":somekey").decode(), "siteId is missing"),
])
def test_malformed_authorization_is_401_naming_the_fault(site, value, part):
    failure(site.get(headers={"Authorization": value}), 401, part)


def test_empty_api_key_is_401(site):
    failure(site.get(headers=basic(site.id, "")), 401, "apiKey is missing")


def test_wrong_api_key_is_401(site):
    failure(site.get(headers=basic(site.id, "0" * 64)), 401, "invalid apiKey")
    failure(site.get(headers=basic(site.id, site.key + "x")), 401, "invalid apiKey")


def test_key_of_another_account_is_401(server, site):
    other = Site(server, "globex")
    failure(site.get(headers=basic(site.id, other.key)), 401, "does not belong to siteId")
    failure(site.get(headers=basic(other.id, site.key)), 401, "does not belong to siteId")
    # Not even the admin account's key opens another site.
    failure(site.get(headers=basic(site.id, server.admin_key)), 401, "does not belong")
    failure(site.get(headers=basic("not-an-account", site.key)), 401, "does not belong")


def test_scheme_name_is_case_insensitive_and_unpadded_base64_is_accepted(site):
    token = base64.b64encode(f"{site.id}:{site.key}".encode()).decode()
    assert site.get(headers={"Authorization": "basic " + token}).status == 200
    unpadded = token.rstrip("=")
    assert unpadded != token  # 97 bytes of credentials: base64 pads them
    assert site.get(headers={"Authorization": "Basic " + unpadded}).status == 200
    assert site.get(headers={"Authorization": "Basic   " + token + "  "}).status == 200


def test_a_kazoo_token_is_not_a_userplane_credential(site):
    r = site.s.request("GET", "/v1/conference.json", token=site.token)
    failure(r, 401, "missing Authorization")


# --- paths and methods -------------------------------------------------------------------------

# Only Userplane's conference resource is this face's; other /v1 paths get Kazoo's 404.
@pytest.mark.parametrize("path", ["/v1/conference", "/v1/conference.xml",
                                  "/v1/conference/.json", "/v1/conference/a/b.json"])
def test_unknown_path_is_404_in_the_userplane_envelope(site, path):
    failure(site.get(path), 404, "unknown path")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405_with_allow(site, method):
    r = site.s.request(method, "/v1/conference.json", {"data": {}},
                       headers=basic(site.id, site.key))
    failure(r, 405, "not allowed")
    assert r.headers.get("Allow") == "GET", r.headers


def test_other_faces_are_untouched(site):
    assert site.s.request("GET", "/healthz").status == 200
    r = site.kazoo("GET", site.confs)
    assert r.status == 200 and r.json["status"] == "success", r


# --- the envelope and the room -----------------------------------------------------------------

def test_no_rooms_is_an_exact_empty_success_envelope(site):
    r = site.get()
    assert r.status == 200, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    assert r.json == {"result": "Success", "resultCode": 200, "message": "", "error": [],
                      "data": {"rooms": []}}


def test_room_fields_and_types(site):
    before = time.time()
    cid = site.create(name="Board room", max_participants=12)
    after = time.time()
    r = site.get()
    assert r.status == 200, r
    assert list(r.json) == ["result", "resultCode", "message", "error", "data"]
    assert r.json["result"] == "Success" and r.json["resultCode"] == 200
    assert r.json["message"] == "" and r.json["error"] == []
    assert list(r.json["data"]) == ["rooms"]
    [room] = r.json["data"]["rooms"]
    # An unused room is empty, so it carries the empty date too.
    assert set(room) == ROOM_KEYS | {"emptyDate"}, room
    room_id = f"{cid}|{site.id}"
    assert room["roomId"] == room_id
    assert room["name"] == "Board room"
    assert room["description"] == room_id  # Userplane: "defaults to the roomId"
    assert room["subject"] == ""
    assert room["maxUsers"] == 12
    for k in COUNT_KEYS:
        assert type(room[k]) is int, (k, room)
    for k in ("admins", "members", "moderators", "occupants", "outcasts", "owners",
              "participants", "visitors"):
        assert room[k] == 0, (k, room)
    created = parse_iso(room["creationDate"])
    assert int(before) - 1 <= created <= after + 1
    assert room["creationDate"].endswith(".000Z")
    assert parse_iso(room["modificationDate"]) == created
    # Never used: empty since it was created.
    assert room["emptyDate"] == room["creationDate"]


def test_max_users_defaults_to_zero(site):
    cid = site.create(name="open")
    assert site.room(cid)["maxUsers"] == 0


def test_counts_by_affiliation_and_by_role(site):
    owner = site.user(first_name="Olga", username="olga", password="olga-pass-1")
    admin = site.user(first_name="Adam", username="adam", password="adam-pass-1")
    member = site.user(first_name="Mia")
    member2 = site.user(first_name="Max")
    outcast = site.user(first_name="Otto")
    cid = site.create(name="Standup", member={"join_muted": False},
                      muc={"moderated": True,
                           "affiliations": {owner: "owner", admin: "admin", member: "member",
                                            member2: "member", outcast: "outcast",
                                            "someone-else": "none"}})
    room = site.room(cid)
    assert (room["owners"], room["admins"], room["members"], room["outcasts"]) == (1, 1, 2, 1)
    assert room["occupants"] == 0 and "emptyDate" in room

    site.join(cid, user_id=owner)  # the account's API token names the user
    r = site.s.request("PUT", "/v2/user_auth",
                       {"data": {"credentials": hashlib.md5(b"adam:adam-pass-1").hexdigest(),
                                 "account_name": "acme"}})
    assert r.status == 201, r
    admin_token = r.json["auth_token"]
    site.join(cid, token=admin_token)  # the user's own token: joins as themselves
    site.join(cid, user_id=member)
    v1 = site.join(cid, name="Caller One", number="5551001")  # anonymous: a visitor here
    site.join(cid, name="Caller Two", number="5551002")
    room = site.room(cid)
    assert room["occupants"] == 5, room
    assert (room["moderators"], room["participants"], room["visitors"]) == (2, 1, 2), room
    assert "emptyDate" not in room, room
    # Affiliation counts are the room's configuration, not who is in.
    assert (room["owners"], room["admins"], room["members"], room["outcasts"]) == (1, 1, 2, 1)

    # Voice moves a visitor to participant.
    r = site.kazoo("PUT", f"{site.confs}/{cid}/participants/{v1['participant_id']}",
                   {"data": {"action": "voice"}})
    assert r.status == 202, r
    room = site.room(cid)
    assert (room["moderators"], room["participants"], room["visitors"]) == (2, 2, 1), room
    site.leave(cid, v1["participant_id"])
    room = site.room(cid)
    assert (room["moderators"], room["participants"], room["visitors"]) == (2, 1, 1), room
    assert room["occupants"] == 4


def test_unmoderated_room_has_participants_not_visitors(site):
    cid = site.create(name="open")
    site.join(cid, name="a", number="100")
    site.join(cid, name="b", number="101")
    room = site.room(cid)
    assert (room["moderators"], room["participants"], room["visitors"]) == (0, 2, 0), room
    assert room["occupants"] == 2


def test_pin_moderators_count_as_moderators(site):
    cid = site.create(name="pins", moderator={"pins": ["4321"]}, member={"pins": ["1234"]})
    site.join(cid, name="m", number="200", pin="4321")
    site.join(cid, name="p", number="201", pin="1234")
    room = site.room(cid)
    assert (room["moderators"], room["participants"], room["visitors"]) == (1, 1, 0), room


def test_empty_date_only_for_empty_rooms_and_it_moves_when_a_room_empties(site):
    cid = site.create(name="lifecycle")
    room = site.room(cid)
    assert room["emptyDate"] == room["creationDate"]
    p = site.join(cid, name="a", number="300")
    assert "emptyDate" not in site.room(cid)
    time.sleep(1.1)  # confab keeps whole seconds
    t0 = time.time()
    site.leave(cid, p["participant_id"])
    t1 = time.time()
    room = site.room(cid)
    assert room["occupants"] == 0
    emptied = parse_iso(room["emptyDate"])
    assert emptied > parse_iso(room["creationDate"]), room
    assert int(t0) <= emptied <= t1
    # A second visit moves it again; a kicked room empties just the same.
    site.join(cid, name="b", number="301")
    time.sleep(1.1)
    r = site.kazoo("PUT", f"{site.confs}/{cid}/participants", {"data": {"action": "kick"}})
    assert r.status == 202, r
    later = parse_iso(site.room(cid)["emptyDate"])
    assert later > emptied


def test_subject_and_description_from_muc(site):
    cid = site.create(name="Weekly")
    created = site.room(cid)["creationDate"]
    time.sleep(1.1)
    r = site.kazoo("PATCH", f"{site.confs}/{cid}",
                   {"data": {"muc": {"subject": "Q3 planning", "description": "Team weekly room"}}})
    assert r.status == 200, r
    room = site.room(cid)
    assert room["subject"] == "Q3 planning"
    assert room["description"] == "Team weekly room"
    assert room["name"] == "Weekly"
    assert room["creationDate"] == created
    assert parse_iso(room["modificationDate"]) > parse_iso(created)
    # An empty description falls back to the roomId again.
    r = site.kazoo("PATCH", f"{site.confs}/{cid}", {"data": {"muc": {"description": ""}}})
    assert r.status == 200, r
    room = site.room(cid)
    assert room["description"] == room["roomId"]
    assert room["subject"] == "Q3 planning"


def test_unicode_subject_round_trips(site):
    cid = site.create(name="Café", muc={"subject": "Ünïcödé — 会议 ☎"})
    room = site.room(cid)
    assert room["name"] == "Café"
    assert room["subject"] == "Ünïcödé — 会议 ☎"


def test_sites_see_only_their_own_rooms(server, site):
    other = Site(server, "globex")
    mine = {site.create(name=f"a{i}") for i in range(3)}
    theirs = other.create(name="b")
    assert {rid.split("|")[0] for rid in site.rooms()} == mine
    assert set(other.rooms()) == {f"{theirs}|{other.id}"}
    for rid in site.rooms():
        assert rid.endswith("|" + site.id)


def test_deleted_conference_leaves_the_list(site):
    keep = site.create(name="keep")
    gone = site.create(name="gone")
    r = site.kazoo("DELETE", f"{site.confs}/{gone}")
    assert r.status == 200, r
    assert set(site.rooms()) == {f"{keep}|{site.id}"}


# --- one room ----------------------------------------------------------------------------------

def test_one_room_by_room_id(site):
    cid = site.create(name="solo", muc={"subject": "s"})
    site.create(name="other")
    listed = site.room(cid)
    for path in (f"/v1/conference/{cid}%7C{site.id}.json", f"/v1/conference/{cid}.json"):
        r = site.get(path)
        assert r.status == 200, r
        assert r.json == {"result": "Success", "resultCode": 200, "message": "", "error": [],
                          "data": {"rooms": [listed]}}


def test_one_room_unknown_or_of_another_site_is_404(server, site):
    other = Site(server, "globex")
    theirs = other.create(name="theirs")
    mine = site.create(name="mine")
    failure(site.get("/v1/conference/nope.json"), 404, "no room")
    failure(site.get(f"/v1/conference/{theirs}.json"), 404, "no room")
    failure(site.get(f"/v1/conference/{theirs}%7C{other.id}.json"), 404, "no room")
    # The right conference under the wrong siteId is not this site's room either.
    failure(site.get(f"/v1/conference/{mine}%7C{other.id}.json"), 404, "no room")


def test_one_room_needs_auth_too(site):
    cid = site.create(name="x")
    failure(site.get(f"/v1/conference/{cid}.json", headers={}), 401, "missing Authorization")

"""XEP-0045 roles and affiliations govern a room's audio: who may enter, who enters as moderator,
who has a voice. Set up and driven through the Kazoo REST face; the occupant counts are
cross-checked through the Userplane face.

Not reachable over HTTP: "a moderator cannot act on someone of higher affiliation" binds occupants
acting on their own room (ConferenceService::act_as). The Kazoo face acts as the account's
administrator, above every affiliation, so here an administrator may kick an owner; the occupant
rule is covered by tests/unit/core/muc_calls_chat_test.cpp
(AModeratorCannotActOnAHigherAffiliation).
"""
import base64
import hashlib

import pytest


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Acct:
    def __init__(self, server, name="acme"):
        self.s, self.name = server, name
        r = server.request("PUT", "/v2/accounts", {"data": {"name": name}},
                           token=server.admin_token())
        assert r.status == 201, r
        self.id, self.key = r.data["id"], r.data["api_key"]
        self.token = server.token_for_key(self.key)
        self.confs = f"/v2/accounts/{self.id}/conferences"

    def req(self, method, path, body=None, token=None):
        return self.s.request(method, path, body, token=token or self.token)

    def user(self, first_name, password=None, **fields):
        body = {"first_name": first_name, "last_name": "X"}
        if password:
            body.update(username=first_name.lower(), password=password)
        body.update(fields)
        r = self.req("PUT", f"/v2/accounts/{self.id}/users", {"data": body})
        assert r.status == 201, r
        return r.data["id"]

    def user_token(self, username, password):
        creds = hashlib.md5(f"{username}:{password}".encode()).hexdigest()
        r = self.s.request("PUT", "/v2/user_auth",
                           {"data": {"credentials": creds, "account_name": self.name}})
        assert r.status == 201, r
        return r.json["auth_token"]

    def create(self, **data):
        r = self.req("PUT", self.confs, {"data": data})
        assert r.status == 201, r
        return r.data["id"]

    def join(self, cid, token=None, **data):
        return self.req("POST", f"{self.confs}/{cid}/participants", {"data": data}, token=token)

    def joined(self, cid, token=None, **data):
        r = self.join(cid, token=token, **data)
        assert r.status == 201, r
        return r.data

    def act(self, cid, pid, action):
        return self.req("PUT", f"{self.confs}/{cid}/participants/{pid}",
                        {"data": {"action": action}})

    def state(self, cid, pid):
        r = self.req("GET", f"{self.confs}/{cid}/participants/{pid}")
        assert r.status == 200, r
        return r.data

    def room(self, cid):
        r = self.s.request("GET", f"/v1/conference/{cid}.json", headers=basic(self.id, self.key))
        assert r.status == 200, r
        return r.json["data"]["rooms"][0]


@pytest.fixture
def acct(server):
    return Acct(server)


def forbidden(r):
    assert r.status == 403, r
    assert r.json["status"] == "error" and r.json["message"] == "forbidden", r
    return r.data


def ok_action(r):
    assert r.status == 202, r
    assert r.json["status"] == "accepted", r


# --- outcasts ----------------------------------------------------------------------------------

def test_outcast_is_refused_however_they_come(acct):
    otto = acct.user("Otto", "otto-pass-1", extension="301")
    cid = acct.create(name="c", member={"pins": ["1111"]}, moderator={"pins": ["9999"]},
                      muc={"affiliations": {otto: "outcast"}})
    # Named by the administrator, with their own token, with the member PIN, with the moderator
    # PIN, or calling from their extension: banned is banned.
    attempts = [acct.join(cid, user_id=otto),
                acct.join(cid, token=acct.user_token("otto", "otto-pass-1")),
                acct.join(cid, token=acct.user_token("otto", "otto-pass-1"), pin="1111"),
                acct.join(cid, token=acct.user_token("otto", "otto-pass-1"), pin="9999"),
                acct.join(cid, name="Otto", number="301", pin="1111")]
    for r in attempts:
        data = forbidden(r)
        assert data["affiliation"] == "outcast", r
        assert data["condition"] == "forbidden", r
    # Nobody got in, and no room was left behind.
    room = acct.room(cid)
    assert room["occupants"] == 0 and room["outcasts"] == 1
    assert acct.req("GET", f"{acct.confs}/{cid}/participants").data == []


def test_outcasting_by_patch_applies_to_the_next_join(acct):
    bob = acct.user("Bob")
    cid = acct.create(name="c")
    p = acct.joined(cid, user_id=bob)
    r = acct.req("PATCH", f"{acct.confs}/{cid}",
                 {"data": {"muc": {"affiliations": {bob: "outcast"}}}})
    assert r.status == 200, r
    r = acct.req("DELETE", f"{acct.confs}/{cid}/participants/{p['participant_id']}")
    assert r.status == 200, r
    assert forbidden(acct.join(cid, user_id=bob))["affiliation"] == "outcast"
    # ...and lifting the ban lets them back in.
    r = acct.req("PATCH", f"{acct.confs}/{cid}", {"data": {"muc": {"affiliations": {bob: "none"}}}})
    assert r.status == 200, r
    acct.joined(cid, user_id=bob)


def test_unknown_affiliation_is_invalid_data(acct):
    bob = acct.user("Bob")
    r = acct.req("PUT", acct.confs, {"data": {"name": "c", "muc": {"affiliations": {bob: "king"}}}})
    assert r.status == 400, r
    assert "enum" in r.data[f"muc.affiliations.{bob}"], r


# --- members-only ------------------------------------------------------------------------------

def test_members_only_refuses_the_unaffiliated(acct):
    mia = acct.user("Mia", "mia-pass-1", extension="201")
    stranger = acct.user("Sam", "sam-pass-1")
    cid = acct.create(name="c", muc={"members_only": True, "affiliations": {mia: "member"}})
    for r in (acct.join(cid, user_id=stranger),
              acct.join(cid, token=acct.user_token("sam", "sam-pass-1")),
              acct.join(cid, name="Anonymous", number="5550000")):
        data = forbidden(r)
        assert data["condition"] == "registration-required", r
    # Members are admitted: named, with their own token, or calling from their extension.
    p1 = acct.joined(cid, user_id=mia)
    assert p1["is_moderator"] is False
    acct.req("DELETE", f"{acct.confs}/{cid}/participants/{p1['participant_id']}")
    acct.joined(cid, token=acct.user_token("mia", "mia-pass-1"))
    acct.joined(cid, name="Mia", number="201")
    assert acct.room(cid)["occupants"] == 2


def test_members_only_admits_pin_holders(acct):
    stranger = acct.user("Sam")
    mia = acct.user("Mia")
    cid = acct.create(name="c", member={"pins": ["1111"]}, moderator={"pins": ["9999"]},
                      muc={"members_only": True, "affiliations": {mia: "member"}})
    # A PIN proves membership, for callers and for unaffiliated users alike.
    caller = acct.joined(cid, name="Caller", number="5550001", pin="1111")
    assert caller["is_moderator"] is False
    acct.joined(cid, user_id=stranger, pin="1111")
    host = acct.joined(cid, name="Host", number="5550002", pin="9999")
    assert host["is_moderator"] is True
    # Without a PIN the unaffiliated are told the room is members-only (before any PIN
    # question); a wrong PIN is a wrong PIN.
    assert forbidden(acct.join(cid, name="Caller", number="5550003"))["condition"] == \
        "registration-required"
    assert forbidden(acct.join(cid, user_id=stranger))["condition"] == "registration-required"
    r = acct.join(cid, name="Caller", number="5550004", pin="2222")
    assert r.status == 403 and r.json["message"] == "invalid_pin", r
    # ...while an affiliated member needs none.
    acct.joined(cid, user_id=mia)
    assert acct.room(cid)["occupants"] == 4


# --- moderated rooms: visitors have no voice ---------------------------------------------------

def test_moderated_room_visitor_voice_and_devoice(acct):
    vic = acct.user("Vic", "vic-pass-1")
    mia = acct.user("Mia")
    cid = acct.create(name="c", member={"join_muted": False},
                      muc={"moderated": True, "affiliations": {mia: "member"}})
    # An unaffiliated user (own token) enters as a visitor: in, listening, silent.
    v = acct.joined(cid, token=acct.user_token("vic", "vic-pass-1"))
    assert v["speak"] is False and v["hear"] is True and v["is_moderator"] is False
    # A member keeps their voice; join_muted false lets them speak at once.
    m = acct.joined(cid, user_id=mia)
    assert m["speak"] is True
    room = acct.room(cid)
    assert (room["visitors"], room["participants"], room["moderators"]) == (1, 1, 0)

    vid = v["participant_id"]
    data = forbidden(acct.act(cid, vid, "unmute"))
    assert data["role"] == "visitor", data
    assert acct.state(cid, vid)["speak"] is False

    ok_action(acct.act(cid, vid, "voice"))
    assert acct.state(cid, vid)["speak"] is False  # voice allows speaking; it does not unmute
    room = acct.room(cid)
    assert (room["visitors"], room["participants"]) == (0, 2)
    ok_action(acct.act(cid, vid, "unmute"))
    assert acct.state(cid, vid)["speak"] is True
    ok_action(acct.act(cid, vid, "voice"))  # again: nothing changes, still accepted

    ok_action(acct.act(cid, vid, "devoice"))
    assert acct.state(cid, vid)["speak"] is False
    assert acct.room(cid)["visitors"] == 1
    assert forbidden(acct.act(cid, vid, "unmute"))["role"] == "visitor"
    # Mute, deaf and undeaf still work on a visitor.
    ok_action(acct.act(cid, vid, "deaf"))
    assert acct.state(cid, vid)["hear"] is False
    ok_action(acct.act(cid, vid, "undeaf"))


def test_anonymous_callers_are_visitors_in_a_moderated_room(acct):
    cid = acct.create(name="c", member={"join_muted": False}, muc={"moderated": True})
    p = acct.joined(cid, name="Caller", number="5551234")
    assert p["speak"] is False
    assert forbidden(acct.act(cid, p["participant_id"], "unmute"))["role"] == "visitor"


def test_moderators_voice_cannot_be_revoked(acct):
    ada = acct.user("Ada")
    cid = acct.create(name="c", muc={"moderated": True, "affiliations": {ada: "admin"}})
    p = acct.joined(cid, user_id=ada)
    assert p["is_moderator"] is True
    data = forbidden(acct.act(cid, p["participant_id"], "devoice"))
    assert data["role"] == "moderator"
    assert acct.state(cid, p["participant_id"])["speak"] is True


def test_bulk_unmute_passes_over_visitors(acct):
    mia = acct.user("Mia")
    cid = acct.create(name="c", muc={"moderated": True, "affiliations": {mia: "member"}})
    m = acct.joined(cid, user_id=mia)  # member.join_muted defaults to true: muted, with voice
    v = acct.joined(cid, name="Caller", number="5550009")
    assert m["speak"] is False and v["speak"] is False
    r = acct.req("PUT", f"{acct.confs}/{cid}/participants", {"data": {"action": "unmute"}})
    ok_action(r)
    assert acct.state(cid, m["participant_id"])["speak"] is True
    assert acct.state(cid, v["participant_id"])["speak"] is False


def test_voice_in_an_unmoderated_room_is_a_no_op(acct):
    cid = acct.create(name="c", member={"join_muted": False})
    p = acct.joined(cid, name="a", number="1")
    ok_action(acct.act(cid, p["participant_id"], "voice"))
    assert acct.state(cid, p["participant_id"])["speak"] is True
    assert acct.room(cid)["participants"] == 1


def test_unknown_muc_action_is_rejected(acct):
    cid = acct.create(name="c")
    p = acct.joined(cid, name="a", number="1")
    r = acct.act(cid, p["participant_id"], "ban")
    assert r.status == 404 and r.json["message"] == "faulty_request", r


# --- owners and admins moderate without a PIN --------------------------------------------------

def test_owner_and_admin_join_as_moderators_without_pin(acct):
    olga = acct.user("Olga", "olga-pass-1")
    adam = acct.user("Adam")
    mia = acct.user("Mia")
    sam = acct.user("Sam")
    cid = acct.create(name="c", member={"pins": ["1111"]}, moderator={"pins": ["9999"]},
                      muc={"affiliations": {olga: "owner", adam: "admin", mia: "member"}})
    o = acct.joined(cid, token=acct.user_token("olga", "olga-pass-1"))
    a = acct.joined(cid, user_id=adam)
    m = acct.joined(cid, user_id=mia)
    assert o["is_moderator"] is True and a["is_moderator"] is True
    assert o["speak"] is True and a["speak"] is True  # moderator.join_muted defaults to false
    assert m["is_moderator"] is False
    # The unaffiliated still need a PIN.
    r = acct.join(cid, user_id=sam)
    assert r.status == 403 and r.json["message"] == "invalid_pin", r
    room = acct.room(cid)
    assert (room["moderators"], room["participants"], room["visitors"]) == (2, 1, 0)
    assert (room["owners"], room["admins"], room["members"]) == (1, 1, 1)


def test_admins_moderate_even_in_a_moderated_members_only_room(acct):
    adam = acct.user("Adam")
    cid = acct.create(name="c", muc={"moderated": True, "members_only": True,
                                     "affiliations": {adam: "admin"}})
    a = acct.joined(cid, user_id=adam)
    assert a["is_moderator"] is True and a["speak"] is True
    # Moderators are skipped by bulk mute, as in Kazoo.
    ok_action(acct.req("PUT", f"{acct.confs}/{cid}/participants", {"data": {"action": "mute"}}))
    assert acct.state(cid, a["participant_id"])["speak"] is True


def test_the_account_administrator_may_kick_an_owner(acct):
    # The Kazoo face acts as the account's administrator, not as an occupant: XEP-0045's "no
    # acting on a higher affiliation" binds moderators in the room (act_as), not the account.
    olga = acct.user("Olga")
    adam = acct.user("Adam")
    cid = acct.create(name="c", muc={"affiliations": {olga: "owner", adam: "admin"}})
    acct.joined(cid, user_id=adam)
    o = acct.joined(cid, user_id=olga)
    ok_action(acct.act(cid, o["participant_id"], "kick"))
    assert acct.room(cid)["occupants"] == 1


def test_a_plain_user_token_cannot_act_on_participants(acct):
    # Acting on a room needs write access to its document; an owner affiliation in the room's
    # chat does not give a priv_level "user" account user that access over Kazoo.
    olga = acct.user("Olga", "olga-pass-1")
    cid = acct.create(name="c", muc={"affiliations": {olga: "owner"}})
    v = acct.joined(cid, name="Caller", number="5550010")
    r = acct.act(cid, v["participant_id"], "mute")
    ok_action(r)
    r = acct.req("PUT", f"{acct.confs}/{cid}/participants/{v['participant_id']}",
                 {"data": {"action": "unmute"}}, token=acct.user_token("olga", "olga-pass-1"))
    assert r.status == 403, r

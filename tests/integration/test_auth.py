"""Authentication and authorization over the Kazoo crossbar API: api_auth, tokens, account
isolation, accounts, users and user_auth, and offline account provisioning."""
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import time

import pytest

from conftest import BIN, Server, create_account_offline, error_data, ok

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
GREGORIAN_OFFSET = 62167219200  # seconds from year 0 to the unix epoch (Kazoo timestamps)




def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def new_user(server, account_id, token, **fields):
    body = {"first_name": "Some", "last_name": "One"}
    body.update(fields)
    r = server.request("PUT", f"/v2/accounts/{account_id}/users", {"data": body}, token=token)
    assert r.status == 201, r
    return r.data


def user_token(server, username, password, account_name):
    r = server.request("PUT", "/v2/user_auth",
                       {"data": {"credentials": md5(f"{username.lower()}:{password}"),
                                 "account_name": account_name}})
    assert r.status == 201, r
    return r.json["auth_token"], r.data


# --- api_auth ----------------------------------------------------------------------------------

def test_api_auth_with_good_key_returns_token_and_account(server):
    r = server.request("PUT", "/v2/api_auth", {"data": {"api_key": server.admin_key}})
    data = ok(r, 201)
    token = r.json["auth_token"]
    assert isinstance(token, str) and len(token) > 20
    assert data["account_id"] == server.admin_account
    assert data["account_name"] == "admin"
    assert data["is_master_account"] is True
    # expires is a Gregorian-seconds timestamp about one default TTL (3600 s) away.
    now_g = time.time() + GREGORIAN_OFFSET
    assert 3600 - 30 <= data["expires"] - now_g <= 3600 + 5
    # The token works.
    r = server.request("GET", f"/v2/accounts/{server.admin_account}", token=token)
    assert ok(r)["id"] == server.admin_account
    assert r.json["auth_token"] == token


def test_api_auth_with_post_method_also_works(server):
    r = server.request("POST", "/v2/api_auth", {"data": {"api_key": server.admin_key}})
    assert ok(r, 201)["account_id"] == server.admin_account


def test_api_auth_with_wrong_key_is_401_kazoo_shape(server):
    r = server.request("PUT", "/v2/api_auth", {"data": {"api_key": "0" * 64}})
    data = error_data(r, 401, "invalid_credentials")
    assert data == {"message": "invalid credentials"}
    assert "auth_token" not in r.json


def test_api_auth_with_key_of_other_length_is_401(server):
    r = server.request("PUT", "/v2/api_auth", {"data": {"api_key": server.admin_key[:-1]}})
    assert error_data(r, 401, "invalid_credentials") == {"message": "invalid credentials"}


@pytest.mark.parametrize("body", [{"data": {}}, {}, {"data": {"api_key": ""}}])
def test_api_auth_without_key_is_400_required(server, body):
    r = server.request("PUT", "/v2/api_auth", body)
    data = error_data(r, 400, "invalid data")
    assert data["api_key"]["required"]["message"] == "Field is required but missing"


def test_request_id_header_is_echoed(server):
    r = server.request("PUT", "/v2/api_auth", {"data": {"api_key": "nope"}},
                       headers={"X-Request-Id": "req-42"})
    assert r.status == 401
    assert r.json["request_id"] == "req-42"


# --- tokens ------------------------------------------------------------------------------------

def _forge_signature(token):
    body, sig = token.split(".")
    flipped = "0" if sig[-1] != "0" else "1"
    return body + "." + sig[:-1] + flipped


def _forge_payload(token, other_account):
    import base64
    body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    parts = raw.split("|")
    assert len(parts) == 4, raw  # account|user|expires|method
    parts[0] = other_account
    forged = base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")
    return forged + "." + sig


@pytest.mark.parametrize("case", ["missing", "garbage", "empty_sig", "forged_signature",
                                  "forged_payload", "very_long"])
def test_bad_tokens_are_401(server, account, case):
    account_id, token = account
    other_id, _ = server.new_account("other")
    r = server.request("PUT", f"/v2/accounts/{account_id}/conferences",
                       {"data": {"name": "secret-room"}}, token=token)
    assert r.status == 201, r
    tokens = {
        "missing": None,
        "garbage": "this-is-not-a-token",
        "empty_sig": token.split(".")[0] + ".",
        "forged_signature": _forge_signature(token),
        "forged_payload": _forge_payload(token, other_id),
        "very_long": "a" * 600 + "." + "b" * 40,
    }
    r = server.request("GET", f"/v2/accounts/{account_id}/conferences", token=tokens[case])
    data = error_data(r, 401, "invalid_credentials")
    assert data["message"] == "invalid credentials"
    assert data["cause"] == ("missing auth token" if case == "missing" else "invalid auth token")
    assert "secret-room" not in r.raw
    # A rejected token is not echoed back as if it were valid.
    assert r.json.get("auth_token") in (None, tokens[case])


def test_token_in_query_string_is_accepted(server, account):
    account_id, token = account
    r = server.request("GET", f"/v2/accounts/{account_id}/conferences?auth_token={token}")
    assert ok(r) == []


def test_expired_token_is_401_with_cause(tmp_path):
    s = Server(tmp_path / "var", extra_args=["--token-ttl", "2"]).start()
    try:
        r = s.request("PUT", "/v2/api_auth", {"data": {"api_key": s.admin_key}})
        token = r.json["auth_token"]
        now_g = time.time() + GREGORIAN_OFFSET
        assert 0 <= r.data["expires"] - now_g <= 3
        # Valid for at least one whole second after issue.
        r = s.request("GET", f"/v2/accounts/{s.admin_account}", token=token)
        assert r.status == 200, r
        time.sleep(3.2)
        r = s.request("GET", f"/v2/accounts/{s.admin_account}", token=token)
        data = error_data(r, 401, "invalid_credentials")
        assert data["message"] == "invalid credentials"
        assert "expired" in data["cause"]
        # A fresh token from the same key works again.
        fresh = s.admin_token()
        assert s.request("GET", f"/v2/accounts/{s.admin_account}", token=fresh).status == 200
    finally:
        assert s.stop() == 0


# --- account isolation ---------------------------------------------------------------------------

def test_other_accounts_token_gets_403_and_no_data(server):
    a_id, a_tok = server.new_account("alpha")
    b_id, b_tok = server.new_account("bravo")
    r = server.request("PUT", f"/v2/accounts/{a_id}/conferences",
                       {"data": {"name": "alpha-private", "member": {"pins": ["4321"]}}},
                       token=a_tok)
    conf = ok(r, 201)
    cid = conf["id"]
    r = server.request("POST", f"/v2/accounts/{a_id}/conferences/{cid}/participants",
                       {"data": {"name": "Ann", "number": "100", "pin": "4321"}}, token=a_tok)
    assert r.status == 201, r

    base = f"/v2/accounts/{a_id}"
    attempts = [
        ("GET", base, None),
        ("PATCH", base, {"data": {"name": "pwned"}}),
        ("GET", f"{base}/users", None),
        ("PUT", f"{base}/users", {"data": {"first_name": "E", "last_name": "V"}}),
        ("GET", f"{base}/conferences", None),
        ("PUT", f"{base}/conferences", {"data": {"name": "intruder"}}),
        ("GET", f"{base}/conferences/{cid}", None),
        ("POST", f"{base}/conferences/{cid}", {"data": {"name": "pwned"}}),
        ("PATCH", f"{base}/conferences/{cid}", {"data": {"name": "pwned"}}),
        ("PUT", f"{base}/conferences/{cid}", {"data": {"action": "lock"}}),
        ("DELETE", f"{base}/conferences/{cid}", None),
        ("GET", f"{base}/conferences/{cid}/participants", None),
        ("PUT", f"{base}/conferences/{cid}/participants", {"data": {"action": "kick"}}),
        ("POST", f"{base}/conferences/{cid}/participants",
         {"data": {"name": "Eve", "number": "666", "pin": "4321"}}),
        ("GET", f"{base}/conferences/{cid}/participants/1", None),
        ("PUT", f"{base}/conferences/{cid}/participants/1", {"data": {"action": "mute"}}),
        ("DELETE", f"{base}/conferences/{cid}/participants/1", None),
    ]
    for method, path, body in attempts:
        r = server.request(method, path, body, token=b_tok)
        data = error_data(r, 403, "forbidden")
        assert data == {"message": "forbidden"}, (method, path, r)
        for leak in ("alpha-private", "4321", "Ann", a_tok):
            assert leak not in r.raw, (method, path, r)

    # Nothing changed in account A.
    r = server.request("GET", f"{base}/conferences/{cid}", token=a_tok)
    doc = ok(r)
    assert doc["name"] == "alpha-private"
    assert r.json["revision"].startswith("1-")
    assert doc["_read_only"]["members"] == 1
    assert doc["_read_only"]["is_locked"] is False
    assert doc["_read_only"]["participants"][0]["speak"] is False  # still join_muted, not touched
    assert [c["name"] for c in ok(server.request("GET", f"{base}/conferences",
                                                           token=a_tok))] == ["alpha-private"]
    assert ok(server.request("GET", f"{base}/users", token=a_tok)) == []
    assert ok(server.request("GET", base, token=a_tok))["name"] == "alpha"
    # B's own account is still fine.
    assert ok(server.request("GET", f"/v2/accounts/{b_id}/conferences",
                                       token=b_tok)) == []


def test_foreign_token_cannot_probe_which_ids_exist(server):
    """403 must not depend on whether the target exists in the other account (Kazoo authorizes
    before it loads the document); otherwise B learns A's conference ids."""
    a_id, a_tok = server.new_account("alpha")
    _, b_tok = server.new_account("bravo")
    cid = ok(server.request("PUT", f"/v2/accounts/{a_id}/conferences",
                                      {"data": {"name": "x"}}, token=a_tok), 201)["id"]
    existing = server.request("GET", f"/v2/accounts/{a_id}/conferences/{cid}", token=b_tok)
    missing = server.request("GET", f"/v2/accounts/{a_id}/conferences/{'f' * 32}", token=b_tok)
    assert existing.status == 403, existing
    assert missing.status == 403, missing
    missing_p = server.request("GET", f"/v2/accounts/{a_id}/conferences/{'f' * 32}/participants",
                               token=b_tok)
    assert missing_p.status == 403, missing_p


def test_admin_token_reaches_other_accounts(server, account):
    account_id, token = account
    ok(server.request("PUT", f"/v2/accounts/{account_id}/conferences",
                                {"data": {"name": "c"}}, token=token), 201)
    r = server.request("GET", f"/v2/accounts/{account_id}/conferences", token=server.admin_token())
    assert [c["name"] for c in ok(r)] == ["c"]


# --- accounts --------------------------------------------------------------------------------------

def test_admin_creates_accounts_and_lists_children(server):
    admin = server.admin_token()
    r = server.request("PUT", "/v2/accounts", {"data": {"name": "Globex", "realm": "globex.example"}},
                       token=admin)
    created = ok(r, 201)
    assert HEX32.match(created["id"])
    assert HEX64.match(created["api_key"])
    assert created["name"] == "Globex"
    assert created["realm"] == "globex.example"
    assert not [k for k in created if k.startswith("pvt_")]
    assert re.match(r"^1-[0-9a-f]{32}$", r.json["revision"])

    r2 = server.request("PUT", "/v2/accounts", {"data": {"name": "Initech"}}, token=admin)
    second = ok(r2, 201)
    assert second["id"] != created["id"] and second["api_key"] != created["api_key"]

    # GET shows the document without the key or any private field.
    r = server.request("GET", f"/v2/accounts/{created['id']}", token=admin)
    got = ok(r)
    assert got["id"] == created["id"] and got["name"] == "Globex"
    assert got["is_master_account"] is False
    assert "api_key" not in got
    assert not [k for k in got if k.startswith("pvt_")]
    assert created["api_key"] not in r.raw

    r = server.request("GET", f"/v2/accounts/{server.admin_account}", token=admin)
    assert ok(r)["is_master_account"] is True

    r = server.request("GET", f"/v2/accounts/{server.admin_account}/children", token=admin)
    children = ok(r)
    assert sorted((c["id"], c["name"]) for c in children) == sorted(
        [(created["id"], "Globex"), (second["id"], "Initech")])
    assert server.admin_account not in [c["id"] for c in children]

    # The returned key is a working key for that account.
    r = server.request("PUT", "/v2/api_auth", {"data": {"api_key": created["api_key"]}})
    assert ok(r, 201)["account_id"] == created["id"]
    assert r.data["account_name"] == "Globex"
    assert r.data["is_master_account"] is False


def test_account_names_are_unique_case_insensitively(server):
    admin = server.admin_token()
    ok(server.request("PUT", "/v2/accounts", {"data": {"name": "Umbrella"}}, token=admin), 201)
    r = server.request("PUT", "/v2/accounts", {"data": {"name": "UMBRELLA"}}, token=admin)
    data = error_data(r, 400, "invalid data")
    assert data["name"]["unique"]["message"] == "Value already in use"
    r = server.request("PUT", "/v2/accounts", {"data": {}}, token=admin)
    assert error_data(r, 400, "invalid data")["name"]["required"]["message"] == \
        "Field is required but missing"
    r = server.request("PUT", "/v2/accounts", {"data": {"name": "x" * 129}}, token=admin)
    assert error_data(r, 400, "invalid data")["name"]["maxLength"]["message"] == \
        "String must not be more than 128 characters"
    children = ok(server.request(
        "GET", f"/v2/accounts/{server.admin_account}/children", token=admin))
    assert [c["name"] for c in children] == ["Umbrella"]


def test_non_admin_cannot_create_or_list_accounts(server, account):
    account_id, token = account
    r = server.request("PUT", "/v2/accounts", {"data": {"name": "sneaky"}}, token=token)
    assert error_data(r, 403, "forbidden") == {"message": "forbidden"}
    r = server.request("GET", f"/v2/accounts/{account_id}/children", token=token)
    error_data(r, 403, "forbidden")
    # The account cannot make itself an admin by writing private fields.
    r = server.request("PATCH", f"/v2/accounts/{account_id}",
                       {"data": {"pvt_superduper_admin": True, "is_master_account": True}},
                       token=token)
    assert r.status == 200, r
    r = server.request("PUT", "/v2/accounts", {"data": {"name": "sneaky"}}, token=token)
    error_data(r, 403, "forbidden")
    r = server.request("GET", f"/v2/accounts/{account_id}", token=token)
    assert ok(r)["is_master_account"] is False
    names = [c["name"] for c in ok(server.request(
        "GET", f"/v2/accounts/{server.admin_account}/children", token=server.admin_token()))]
    assert names == ["acme"]


# --- users -----------------------------------------------------------------------------------------

def test_user_requires_first_and_last_name(server, account):
    account_id, token = account
    r = server.request("PUT", f"/v2/accounts/{account_id}/users",
                       {"data": {"username": "nobody", "password": "x"}}, token=token)
    data = error_data(r, 400, "invalid data")
    assert data["first_name"]["required"]["message"] == "Field is required but missing"
    assert data["last_name"]["required"]["message"] == "Field is required but missing"
    assert set(data) == {"first_name", "last_name"}
    r = server.request("PUT", f"/v2/accounts/{account_id}/users",
                       {"data": {"first_name": "", "last_name": "L", "priv_level": "root",
                                 "extension": "12a"}}, token=token)
    data = error_data(r, 400, "invalid data")
    assert data["first_name"]["minLength"]["message"] == "String must be at least 1 characters"
    assert data["priv_level"]["enum"]["message"] == "Value not found in enumerated list of values"
    assert data["extension"]["pattern"]["message"] == "Failed to match pattern '^[0-9]+$'"
    assert ok(server.request("GET", f"/v2/accounts/{account_id}/users", token=token)) == []


def test_users_crud(server, account):
    account_id, token = account
    base = f"/v2/accounts/{account_id}/users"
    r = server.request("PUT", base, {"data": {"first_name": "Alice", "last_name": "Liddell",
                                              "username": "Alice", "password": "wonderland-1",
                                              "email": "alice@example.com", "extension": "101"}},
                       token=token)
    user = ok(r, 201)
    uid = user["id"]
    assert HEX32.match(uid)
    assert user["username"] == "alice"  # usernames are stored lower-case
    assert user["priv_level"] == "user"  # default
    assert "password" not in user
    assert not [k for k in user if k.startswith("pvt_")]
    assert "wonderland-1" not in r.raw
    assert r.json["revision"].startswith("1-")

    r = server.request("GET", f"{base}/{uid}", token=token)
    got = ok(r)
    assert got == user
    assert "wonderland-1" not in r.raw

    listed = ok(server.request("GET", base, token=token))
    assert listed == [{"id": uid, "username": "alice", "first_name": "Alice",
                       "last_name": "Liddell", "email": "alice@example.com",
                       "priv_level": "user", "extension": "101"}]

    r = server.request("PATCH", f"{base}/{uid}", {"data": {"email": "a@wonder.land"}}, token=token)
    patched = ok(r)
    assert patched["email"] == "a@wonder.land" and patched["first_name"] == "Alice"
    assert patched["extension"] == "101"
    assert r.json["revision"].startswith("2-")

    r = server.request("POST", f"{base}/{uid}", {"data": {"first_name": "Al", "last_name": "L",
                                                          "username": "alice"}}, token=token)
    replaced = ok(r)
    assert replaced["first_name"] == "Al"
    assert "email" not in replaced and "extension" not in replaced
    assert r.json["revision"].startswith("3-")
    # Credentials survive a replace that keeps the username.
    user_token(server, "alice", "wonderland-1", "acme")

    r = server.request("DELETE", f"{base}/{uid}", token=token)
    assert ok(r) == {"id": uid, "_deleted": True}
    r = server.request("GET", f"{base}/{uid}", token=token)
    data = error_data(r, 404, "bad_identifier")
    assert data["cause"] == uid
    assert ok(server.request("GET", base, token=token)) == []
    r = server.request("PUT", "/v2/user_auth", {"data": {"credentials": md5("alice:wonderland-1"),
                                                         "account_name": "acme"}})
    error_data(r, 401, "invalid_credentials")


def test_password_is_never_returned_nor_stored_in_plain_text(server, account):
    account_id, token = account
    password = "Pl41n-Text-Passw0rd!Zq"
    creds = md5("mallory:" + password)
    r = server.request("PUT", f"/v2/accounts/{account_id}/users",
                       {"data": {"first_name": "M", "last_name": "Q", "username": "mallory",
                                 "password": password}}, token=token)
    uid = ok(r, 201)["id"]
    r = server.request("PATCH", f"/v2/accounts/{account_id}/users/{uid}",
                       {"data": {"password": password + "2"}}, token=token)
    assert r.status == 200 and password not in r.raw
    for path in (f"/v2/accounts/{account_id}/users", f"/v2/accounts/{account_id}/users/{uid}"):
        assert password not in server.request("GET", path, token=token).raw

    # Raw bytes of every store file (the WAL holds recent writes) and the parsed rows.
    found = []
    for name in os.listdir(server.data_dir):
        with open(os.path.join(server.data_dir, name), "rb") as f:
            blob = f.read()
        for secret in (password, password + "2", creds, md5("mallory:" + password + "2")):
            if secret.encode() in blob:
                found.append((name, secret))
    assert not found, found
    db = sqlite3.connect(f"file:{os.path.join(server.data_dir, 'confab.db')}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT body FROM docs WHERE kind='user'").fetchall()
    finally:
        db.close()
    assert len(rows) == 1
    body = json.loads(rows[0][0])
    assert "password" not in body
    assert password not in rows[0][0]
    assert "".join(server.log_lines).find(password) == -1


def test_password_change_takes_effect(server, account):
    account_id, token = account
    uid = new_user(server, account_id, token, username="bob", password="old-pass")["id"]
    user_token(server, "bob", "old-pass", "acme")
    r = server.request("PATCH", f"/v2/accounts/{account_id}/users/{uid}",
                       {"data": {"password": "new-pass"}}, token=token)
    assert r.status == 200, r
    # The new password logs in; the old one no longer does.
    r = server.request("PUT", "/v2/user_auth", {"data": {"credentials": md5("bob:new-pass"),
                                                         "account_name": "acme"}})
    assert r.status == 201, r
    r = server.request("PUT", "/v2/user_auth", {"data": {"credentials": md5("bob:old-pass"),
                                                         "account_name": "acme"}})
    error_data(r, 401, "invalid_credentials")


def test_username_change_with_new_password_moves_credentials(server, account):
    account_id, token = account
    uid = new_user(server, account_id, token, username="bob", password="old-pass")["id"]
    r = server.request("PATCH", f"/v2/accounts/{account_id}/users/{uid}",
                       {"data": {"username": "robert", "password": "new-pass"}}, token=token)
    assert ok(r)["username"] == "robert"
    r = server.request("PUT", "/v2/user_auth", {"data": {"credentials": md5("robert:new-pass"),
                                                         "account_name": "acme"}})
    assert r.status == 201, r
    assert r.data["owner_id"] == uid
    r = server.request("PUT", "/v2/user_auth", {"data": {"credentials": md5("bob:old-pass"),
                                                         "account_name": "acme"}})
    error_data(r, 401, "invalid_credentials")


def test_username_and_extension_are_unique_per_account(server, account):
    account_id, token = account
    base = f"/v2/accounts/{account_id}/users"
    new_user(server, account_id, token, username="carol", extension="201")
    r = server.request("PUT", base, {"data": {"first_name": "C", "last_name": "2",
                                              "username": "CAROL"}}, token=token)
    data = error_data(r, 400, "invalid data")
    assert data["username"]["unique"]["message"] == "Value already in use"
    assert data["username"]["unique"]["cause"] == "carol"
    r = server.request("PUT", base, {"data": {"first_name": "C", "last_name": "3",
                                              "extension": "201"}}, token=token)
    assert error_data(r, 400, "invalid data")["extension"]["unique"]["message"] == \
        "Value already in use"
    r = server.request("PUT", base, {"data": {"first_name": "C", "last_name": "4",
                                              "username": "carol", "extension": "201"}},
                       token=token)
    assert set(error_data(r, 400, "invalid data")) == {"username", "extension"}
    assert len(ok(server.request("GET", base, token=token))) == 1
    # Another account may use the same username and extension.
    other_id, other_tok = server.new_account("elsewhere")
    new_user(server, other_id, other_tok, username="carol", extension="201")
    # Renaming a second user onto a taken username is refused too.
    dave = new_user(server, account_id, token, username="dave")
    r = server.request("PATCH", f"{base}/{dave['id']}", {"data": {"username": "carol"}}, token=token)
    assert error_data(r, 400, "invalid data")["username"]["unique"]["message"] == \
        "Value already in use"


def test_user_auth_with_md5_credentials(server, account):
    account_id, token = account
    uid = new_user(server, account_id, token, username="Dave", password="hunter2",
                   priv_level="admin")["id"]
    r = server.request("PUT", "/v2/user_auth",
                       {"data": {"credentials": md5("dave:hunter2"), "account_name": "ACME"}})
    data = ok(r, 201)
    assert data["owner_id"] == uid
    assert data["account_id"] == account_id
    assert data["account_name"] == "acme"
    utok = r.json["auth_token"]
    assert ok(server.request("GET", f"/v2/accounts/{account_id}/conferences",
                                       token=utok)) == []
    # Upper-case hex is the same credential; method md5 is accepted explicitly.
    r = server.request("PUT", "/v2/user_auth",
                       {"data": {"credentials": md5("dave:hunter2").upper(), "method": "md5",
                                 "account_name": "acme"}})
    assert ok(r, 201)["owner_id"] == uid

    for creds, name in ((md5("dave:hunter3"), "acme"), (md5("Dave:hunter2"), "acme"),
                        (md5("dave:hunter2"), "other-account"), ("0" * 32, "acme")):
        r = server.request("PUT", "/v2/user_auth",
                           {"data": {"credentials": creds, "account_name": name}})
        assert error_data(r, 401, "invalid_credentials")["message"] == "invalid credentials", \
            (creds, name)
    r = server.request("PUT", "/v2/user_auth", {"data": {"account_name": "acme"}})
    assert error_data(r, 400, "invalid data")["credentials"]["required"]["message"] == \
        "Field is required but missing"
    r = server.request("PUT", "/v2/user_auth", {"data": {"credentials": md5("dave:hunter2")}})
    assert error_data(r, 400, "invalid data")["account_name"]["required"]
    r = server.request("PUT", "/v2/user_auth",
                       {"data": {"credentials": md5("dave:hunter2"), "method": "sha",
                                 "account_name": "acme"}})
    assert error_data(r, 400, "invalid data")["method"]["enum"]["message"] == \
        "Value not found in enumerated list of values"


def test_user_privilege_levels(server, account):
    account_id, token = account
    base = f"/v2/accounts/{account_id}/conferences"
    boss = new_user(server, account_id, token, username="boss", password="pw-boss",
                    priv_level="admin")
    worker = new_user(server, account_id, token, username="worker", password="pw-worker",
                      priv_level="user")
    other = new_user(server, account_id, token, username="other", password="pw-other")
    assert other["priv_level"] == "user"
    boss_tok, _ = user_token(server, "boss", "pw-boss", "acme")
    worker_tok, wdata = user_token(server, "worker", "pw-worker", "acme")
    assert wdata["owner_id"] == worker["id"]

    others_conf = ok(server.request(
        "PUT", base, {"data": {"name": "others", "owner_id": other["id"]}}, token=token), 201)

    # A plain user reads...
    listed = ok(server.request("GET", base, token=worker_tok))
    assert [c["name"] for c in listed] == ["others"]
    assert ok(server.request("GET", f"{base}/{others_conf['id']}",
                                       token=worker_tok))["owner_id"] == other["id"]
    # ...but cannot create for someone else, nor unowned, nor change others' conferences.
    for data in ({"name": "mine?", "owner_id": other["id"]}, {"name": "unowned"}):
        r = server.request("PUT", base, {"data": data}, token=worker_tok)
        assert error_data(r, 403, "forbidden") == {"message": "forbidden"}
    for method in ("PATCH", "POST"):
        r = server.request(method, f"{base}/{others_conf['id']}", {"data": {"name": "taken"}},
                           token=worker_tok)
        error_data(r, 403, "forbidden")
    error_data(server.request("DELETE", f"{base}/{others_conf['id']}", token=worker_tok),
               403, "forbidden")
    error_data(server.request("PUT", f"/v2/accounts/{account_id}/users",
                              {"data": {"first_name": "N", "last_name": "U"}}, token=worker_tok),
               403, "forbidden")
    # It may create, change and delete its own conference, and join others.
    own = ok(server.request("PUT", base, {"data": {"name": "own",
                                                             "owner_id": worker["id"]}},
                                      token=worker_tok), 201)
    assert ok(server.request("PATCH", f"{base}/{own['id']}", {"data": {"play_name": True}},
                                       token=worker_tok))["play_name"] is True
    r = server.request("POST", f"{base}/{others_conf['id']}/participants",
                       {"data": {"name": "W", "number": "5"}}, token=worker_tok)
    assert ok(r, 201)["participant_id"] == 1
    # An admin user can create a conference owned by someone else.
    r = server.request("PUT", base, {"data": {"name": "for-other", "owner_id": other["id"]}},
                       token=boss_tok)
    assert ok(r, 201)["owner_id"] == other["id"]
    assert ok(server.request("PATCH", f"{base}/{others_conf['id']}",
                                       {"data": {"name": "renamed"}}, token=boss_tok))["name"] == \
        "renamed"
    names = sorted(c["name"] for c in ok(server.request("GET", base, token=token)))
    assert names == ["for-other", "own", "renamed"]


def test_user_cannot_raise_own_priv_level(server, account):
    account_id, token = account
    worker = new_user(server, account_id, token, username="worker", password="pw", priv_level="user")
    other = new_user(server, account_id, token, username="other")
    worker_tok, _ = user_token(server, "worker", "pw", "acme")
    # A user may edit its own document, but not grant itself admin rights.
    r = server.request("PATCH", f"/v2/accounts/{account_id}/users/{worker['id']}",
                       {"data": {"priv_level": "admin"}}, token=worker_tok)
    assert r.status in (400, 403), r
    got = ok(server.request("GET", f"/v2/accounts/{account_id}/users/{worker['id']}",
                                      token=token))
    assert got["priv_level"] == "user"
    r = server.request("PUT", f"/v2/accounts/{account_id}/conferences",
                       {"data": {"name": "x", "owner_id": other["id"]}}, token=worker_tok)
    error_data(r, 403, "forbidden")


def test_user_can_edit_own_document_but_not_others(server, account):
    account_id, token = account
    worker = new_user(server, account_id, token, username="worker", password="pw")
    other = new_user(server, account_id, token, username="other")
    worker_tok, _ = user_token(server, "worker", "pw", "acme")
    r = server.request("PATCH", f"/v2/accounts/{account_id}/users/{worker['id']}",
                       {"data": {"email": "w@example.com"}}, token=worker_tok)
    assert ok(r)["email"] == "w@example.com"
    r = server.request("PATCH", f"/v2/accounts/{account_id}/users/{other['id']}",
                       {"data": {"email": "x@example.com"}}, token=worker_tok)
    error_data(r, 403, "forbidden")
    r = server.request("DELETE", f"/v2/accounts/{account_id}/users/{worker['id']}", token=worker_tok)
    error_data(r, 403, "forbidden")
    # Changing the username without a new password would orphan the credentials.
    r = server.request("PATCH", f"/v2/accounts/{account_id}/users/{worker['id']}",
                       {"data": {"username": "renamed"}}, token=worker_tok)
    assert error_data(r, 400, "invalid data")["password"]["required"]


def test_token_of_deleted_user_is_rejected(server, account):
    account_id, token = account
    u = new_user(server, account_id, token, username="temp", password="pw")
    utok, _ = user_token(server, "temp", "pw", "acme")
    assert server.request("GET", f"/v2/accounts/{account_id}/conferences", token=utok).status == 200
    assert server.request("DELETE", f"/v2/accounts/{account_id}/users/{u['id']}",
                          token=token).status == 200
    r = server.request("GET", f"/v2/accounts/{account_id}/conferences", token=utok)
    assert error_data(r, 401, "invalid_credentials")["message"] == "invalid credentials"


# --- offline provisioning --------------------------------------------------------------------------

def test_offline_account_create_key_works_after_start(tmp_path):
    data_dir = tmp_path / "var"
    out = create_account_offline(data_dir, "Offline Co")
    assert set(out) == {"account_id", "api_key"}
    assert HEX32.match(out["account_id"]) and HEX64.match(out["api_key"])
    s = Server(data_dir).start()
    try:
        # Accounts already exist: no admin account is created on this start.
        assert s.admin_key is None
        assert not any("admin_account_id" in line for line in s.log_lines)
        r = s.request("PUT", "/v2/api_auth", {"data": {"api_key": out["api_key"]}})
        data = ok(r, 201)
        assert data["account_id"] == out["account_id"]
        assert data["account_name"] == "Offline Co"
        assert data["is_master_account"] is False
        tok = r.json["auth_token"]
        r = s.request("PUT", f"/v2/accounts/{out['account_id']}/conferences",
                      {"data": {"name": "offline-room"}}, token=tok)
        assert ok(r, 201)["name"] == "offline-room"
        error_data(s.request("PUT", "/v2/accounts", {"data": {"name": "n"}}, token=tok),
                   403, "forbidden")
    finally:
        assert s.stop() == 0


def test_offline_admin_account_can_create_accounts(tmp_path):
    data_dir = tmp_path / "var"
    out = subprocess.run([BIN, "account", "create", "--name", "root", "--admin",
                          "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout.strip().splitlines()[-1])
    s = Server(data_dir).start()
    try:
        tok = s.token_for_key(created["api_key"])
        r = s.request("PUT", "/v2/accounts", {"data": {"name": "child"}}, token=tok)
        assert ok(r, 201)["name"] == "child"
    finally:
        assert s.stop() == 0


def test_offline_account_create_duplicate_name_fails_naming_the_problem(tmp_path):
    data_dir = tmp_path / "var"
    create_account_offline(data_dir, "Dupe")
    out = subprocess.run([BIN, "account", "create", "--name", "dupe", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "api_key" not in text
    # The message must say what is wrong (the name is taken), not just "invalid data".
    assert "name" in text.lower(), text
    db = sqlite3.connect(str(data_dir / "confab.db"))
    try:
        assert db.execute("SELECT count(*) FROM docs WHERE kind='account'").fetchone()[0] == 1
    finally:
        db.close()

"""Failed logins are throttled per source address and per target, on every face that takes
credentials (Kazoo api_auth and user_auth, XiVO auth/login, Userplane Basic), each answering in
its own terms while throttled; a legitimate user from another address still gets in; lockouts
are logged (client text escaped) and counted in /metrics; a failed api_auth does not make the
store reload the accounts once per failure. Client addresses are loopback ones (127.0.0.x)."""
import base64
import hashlib
import http.client
import json
import threading

from conftest import create_account_offline, error_data, ok, running

# Long waits, so that a refusal cannot be missed on a slow machine; the backoff itself is timed
# in the unit tests (tests/unit/core), with a clock they move.
SLOW = """
[logins]
source_attempts = 3
source_backoff = 600
source_backoff_max = 1200
target_attempts = 1000
reload_interval = 3600
"""

XUC_LOGIN = "/xuc/api/2.0/auth/login"


def request_from(server, addr, method, path, body=None, headers=None):
    """A request whose source address is `addr` (a loopback address): (status, json, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10,
                                      source_address=(addr, 0))
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=dict(headers or {}))
        r = conn.getresponse()
        raw = r.read().decode(errors="replace")
        return r.status, (json.loads(raw) if raw else None), {k.lower(): v for k, v in
                                                                 r.getheaders()}
    finally:
        conn.close()


def api_auth(server, addr, key):
    return request_from(server, addr, "PUT", "/v2/api_auth", {"data": {"api_key": key}})


def basic(site, key):
    return {"Authorization": "Basic " + base64.b64encode(f"{site}:{key}".encode()).decode()}


def metrics(server):
    r = server.request("GET", "/metrics")
    assert r.status == 200, r
    return r.json["logins"]


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def add_user(s, account, token, username, password):
    r = s.request("PUT", f"/v2/accounts/{account}/users", {"data": {
        "username": username, "password": password, "first_name": "A", "last_name": "L"}},
        token=token)
    assert r.status == 201, r


def test_api_auth_from_one_address_is_throttled_not_the_others(tmp_path):
    with running(tmp_path / "var", config=SLOW) as s:
        for _ in range(3):
            status, body, _ = api_auth(s, "127.0.0.2", "0" * 64)
            assert status == 401, body
        # Throttled now: Kazoo's 429, with Retry-After, even for the right key.
        status, body, headers = api_auth(s, "127.0.0.2", s.admin_key)
        assert status == 429, body
        assert body["message"] == "too_many_requests" and body["error"] == "429", body
        assert body["data"]["scope"] == "source", body
        assert 1 <= body["data"]["retry_after"] <= 600, body
        assert headers["retry-after"] == str(body["data"]["retry_after"]), headers
        assert "auth_token" not in body
        # The legitimate client elsewhere is not locked out.
        status, body, _ = api_auth(s, "127.0.0.3", s.admin_key)
        assert status == 201, body
        m = metrics(s)
        assert m["failures"] == 3 and m["refused_source"] == 1 and m["lockouts"] == 1, m
    assert any("logins: source addr:127.0.0.2 waits" in line for line in s.log_lines), \
        s.log_lines[-20:]


def test_every_face_answers_a_throttled_login_in_its_own_terms(tmp_path):
    with running(tmp_path / "var", config=SLOW) as s:
        account, token = s.new_account("acme")
        add_user(s, account, token, "alice", "right-one")
        user_auth = {"data": {"credentials": md5("alice:guess"), "account_name": "acme"}}
        good_user_auth = {"data": {"credentials": md5("alice:right-one"), "account_name": "acme"}}

        # Kazoo user_auth.
        for _ in range(3):
            assert request_from(s, "127.0.0.4", "PUT", "/v2/user_auth", user_auth)[0] == 401
        status, body, headers = request_from(s, "127.0.0.4", "PUT", "/v2/user_auth",
                                              good_user_auth)
        assert status == 429 and body["message"] == "too_many_requests", body
        assert "retry-after" in headers
        assert request_from(s, "127.0.0.5", "PUT", "/v2/user_auth", good_user_auth)[0] == 201

        # XiVO auth/login.
        wrong = {"login": "alice", "password": "guess"}
        right = {"login": "alice", "password": "right-one"}
        for _ in range(3):
            status, body, _ = request_from(s, "127.0.0.6", "POST", XUC_LOGIN, wrong)
            assert status == 401 and body["error"] == "InvalidCredentials", body
        status, body, headers = request_from(s, "127.0.0.6", "POST", XUC_LOGIN, right)
        assert status == 429, body
        assert body["error"] == "TooManyRequests" and "token" not in body, body
        assert headers["retry-after"] == str(body["retryAfter"]), (body, headers)
        status, body, _ = request_from(s, "127.0.0.7", "POST", XUC_LOGIN, right)
        assert status == 200 and body["token"], body

        # Userplane Basic credentials: a wrong key for the site counts, the right one is
        # refused while throttled.
        for _ in range(3):
            status, body, _ = request_from(s, "127.0.0.8", "GET", "/v1/conference.json",
                                           headers=basic(account, "f" * 64))
            assert status == 401 and body["resultCode"] == 401, body
        admin_key = s.admin_key  # the right key of its own site
        status, body, headers = request_from(s, "127.0.0.8", "GET", "/v1/conference.json",
                                             headers=basic(s.admin_account, admin_key))
        assert status == 429 and body["resultCode"] == 429, body
        assert body["result"] == "Failure" and "retry-after" in headers, (body, headers)
        status, body, _ = request_from(s, "127.0.0.9", "GET", "/v1/conference.json",
                                       headers=basic(s.admin_account, admin_key))
        assert status == 200, body

        m = metrics(s)
        assert m["failures"] == 9 and m["refused_source"] == 3 and m["lockouts"] == 3, m
        r = s.request("GET", "/healthz")
        assert r.status == 200


def test_a_target_guessed_from_many_addresses_waits_but_its_known_users_do_not(tmp_path):
    config = """
[logins]
source_attempts = 100
target_attempts = 5
target_refill = 600
target_refill_max = 1200
"""
    with running(tmp_path / "var", config=config) as s:
        account, token = s.new_account("acme")
        add_user(s, account, token, "bob", "bobs-own")
        right = {"login": "bob", "password": "bobs-own"}
        assert request_from(s, "127.0.1.1", "POST", XUC_LOGIN, right)[0] == 200  # bob's address
        # Five addresses, one guess each: the target "bob" runs dry.
        for i in range(5):
            status, body, _ = request_from(s, f"127.0.2.{i + 1}", "POST", XUC_LOGIN,
                                           {"login": "bob", "password": f"guess{i}"})
            assert status == 401, body
        # A login naming bob from a new address waits; from bob's own it does not; other
        # users are not affected; with "@account" it is still bob.
        status, body, _ = request_from(s, "127.0.3.1", "POST", XUC_LOGIN, right)
        assert status == 429 and body["error"] == "TooManyRequests", body
        status, body, _ = request_from(s, "127.0.3.1", "POST", XUC_LOGIN,
                                       {"login": "BOB@acme", "password": "bobs-own"})
        assert status == 429, body
        assert request_from(s, "127.0.1.1", "POST", XUC_LOGIN, right)[0] == 200
        status, body, _ = request_from(s, "127.0.3.1", "POST", XUC_LOGIN,
                                       {"login": "carol", "password": "x"})
        assert status == 401, body
        m = metrics(s)
        assert m["refused_target"] == 2 and m["lockouts"] == 1, m
    assert any("logins: target user:bob throttled" in line for line in s.log_lines), \
        s.log_lines[-20:]


def test_a_login_name_cannot_forge_log_lines(tmp_path):
    # XiVO refuses control characters in a login (400) before any lookup; Kazoo's user_auth
    # takes any account name, and names it in the log when its target is throttled.
    config = ("[logins]\nsource_attempts = 100\ntarget_attempts = 1\ntarget_refill = 600\n"
              "target_refill_max = 600\n")
    with running(tmp_path / "var", config=config) as s:
        name = "Mallory\nconfab FAKE: admin logged in\x1b[2J"
        status, body, _ = request_from(s, "127.0.0.2", "PUT", "/v2/user_auth", {"data": {
            "credentials": md5("mallory:x"), "account_name": name}})
        assert status == 401, body
    lines = [line for line in s.log_lines if "logins: target" in line]
    assert len(lines) == 1, s.log_lines[-20:]
    # Names match case-insensitively: the target is the lower-cased name, escaped.
    assert "account:mallory\\x0aconfab fake: admin logged in\\x1b[2j" in lines[0], lines
    assert not any(line.lower().startswith("confab fake") for line in s.log_lines)


def test_failed_api_auths_do_not_reload_the_accounts_once_each(tmp_path):
    config = "[logins]\nsource_attempts = 10000\nreload_interval = 3600\n"
    data_dir = tmp_path / "var"
    with running(data_dir, config=config) as s:
        assert metrics(s)["account_reloads"] == 0
        # An account created by another process while we run is found by the first reload.
        created = create_account_offline(data_dir, "Later Co")
        status, body, _ = api_auth(s, "127.0.0.2", created["api_key"])
        assert status == 201 and body["data"]["account_id"] == created["account_id"], body
        assert metrics(s)["account_reloads"] == 1
        # Forty failures, twenty at once: none of them reaches the store again.
        results = []

        def guess(i):
            results.append(api_auth(s, f"127.0.4.{i % 250 + 1}", f"{i:064x}")[0])

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i in range(20, 40):
            guess(i)
        assert results == [401] * 40, results
        m = metrics(s)
        assert m["account_reloads"] == 1, m
        assert m["failures"] == 40, m
        assert s.request("GET", "/healthz").status == 200

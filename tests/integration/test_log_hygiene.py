"""What the server writes to its log (stdout and stderr): never a secret (API key, token,
password, md5 credentials, PIN, Authorization header, SDP credentials), even at the most verbose
level, and never a line a client forged through what it claims (a caller number)."""
import base64
import hashlib
import json
import socket
import subprocess

from conftest import BIN, error_data, ok, running, ws_connect
from rtp_peer import offer

PASSWORD = "Hunter2-Zq9!xPw"
MEMBER_PIN = "9081726354"
MODERATOR_PIN = "8172635490"
ICE_PWD = "Ice9Pwd7Secret5Zq3Wx1Vb"


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def log_text(s):
    return "".join(s.log_lines)


def test_secrets_never_reach_the_log(tmp_path):
    data_dir = tmp_path / "var"
    # The admin account made offline: the server itself then prints no key at start-up.
    out = subprocess.run([BIN, "account", "create", "--name", "root", "--admin", "--data-dir",
                          str(data_dir)], check=True, capture_output=True, text=True).stdout
    admin = json.loads(out.strip().splitlines()[-1])
    with running(data_dir, extra_args=["--log-level", "trace"]) as s:
        admin_token = s.token_for_key(admin["api_key"])
        r = s.request("PUT", "/v2/accounts", {"data": {"name": "acme"}}, token=admin_token)
        created = ok(r, 201)
        acct, key = created["id"], created["api_key"]
        token = s.token_for_key(key)
        base = f"/v2/accounts/{acct}"
        ok(s.request("PUT", f"{base}/users",
                     {"data": {"first_name": "Al", "last_name": "Ice", "username": "alice",
                               "password": PASSWORD, "priv_level": "admin"}}, token=token), 201)
        creds = md5("alice:" + PASSWORD)
        r = s.request("PUT", "/v2/user_auth", {"data": {"credentials": creds,
                                                        "account_name": "acme"}})
        ok(r, 201)
        user_token = r.json["auth_token"]
        # A wrong key and wrong credentials: refused, and not logged either.
        wrong_key = "f" * 64
        assert s.request("PUT", "/v2/api_auth", {"data": {"api_key": wrong_key}}).status == 401
        wrong_creds = md5("alice:not-" + PASSWORD)
        assert s.request("PUT", "/v2/user_auth", {"data": {"credentials": wrong_creds,
                                                           "account_name": "acme"}}).status == 401

        # XiVO: login with the password, check with the Bearer token, the CTI socket.
        r = s.request("POST", "/xuc/api/2.0/auth/login",
                      {"login": "alice@acme", "password": PASSWORD})
        assert r.status == 200, r
        xivo_token = r.json["token"]
        r = s.request("GET", "/xuc/api/2.0/auth/check",
                      headers={"Authorization": "Bearer " + xivo_token})
        assert r.status == 200, r
        refreshed = r.json["token"]
        cti = ws_connect(s, f"/xuc/api/2.0/cti?token={xivo_token}")
        cti.send(json.dumps({"claz": "ping"}))  # confab speaks once the client has
        assert json.loads(cti.recv())["msgType"] == "LoggedOn"
        cti.close()

        # Kazoo event socket: a good token and a bad one.
        ev = ws_connect(s)
        bad_token = "bm90LWEtdG9rZW4." + "0" * 40
        ev.send(json.dumps({"action": "ping", "auth_token": bad_token}))
        assert "failed to authenticate" in ev.recv()
        ev.send(json.dumps({"action": "ping", "auth_token": token}))
        assert json.loads(ev.recv())["status"] == "success"
        ev.close()

        # Userplane (Basic siteId:apiKey), Drumee (token header and cookie).
        basic = base64.b64encode(f"{acct}:{key}".encode()).decode()
        r = s.request("GET", "/v1/conference.json", headers={"Authorization": "Basic " + basic})
        assert r.status == 200, r
        wrong_basic = base64.b64encode(f"{acct}:{wrong_key}".encode()).decode()
        r = s.request("GET", "/v1/conference.json",
                      headers={"Authorization": "Basic " + wrong_basic})
        assert r.status == 401, r
        s.request("GET", "/-/svc/conference.attendee", headers={"X-Auth-Token": user_token})
        s.request("GET", "/-/svc/conference.attendee", headers={"Cookie": "regsid=" + user_token})

        # PINs: right ones, wrong ones until the caller is locked out, and an SDP offer whose
        # ICE password must not show either.
        r = s.request("PUT", f"{base}/conferences",
                      {"data": {"name": "Board", "member": {"pins": [MEMBER_PIN]},
                                "moderator": {"pins": [MODERATOR_PIN]}}}, token=token)
        cid = ok(r, 201)["id"]
        joins = f"{base}/conferences/{cid}/participants"
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        try:
            sdp = offer(rtp.getsockname()[1],
                        extra=f"a=ice-ufrag:Zq7Uf\r\na=ice-pwd:{ICE_PWD}\r\n")
            r = s.request("POST", joins, {"data": {"name": "Mo", "number": "100",
                                                   "pin": MODERATOR_PIN, "sdp": sdp}},
                          token=user_token)
            mo = ok(r, 201)["participant_id"]
            ok(s.request("POST", joins, {"data": {"name": "Me", "number": "101",
                                                  "pin": MEMBER_PIN}}, token=token), 201)
            wrong_pins = ["1029384756", "2938475610", "3847561029"]
            for pin in wrong_pins:
                error_data(s.request("POST", joins, {"data": {"name": "Eve", "number": "666",
                                                              "pin": pin}}, token=token),
                           403, "invalid_pin")
            ok(s.request("DELETE", f"{joins}/{mo}", token=token))
        finally:
            rtp.close()

    log = log_text(s)
    # The log did record what it should: the caller's lockout, by number, not by PIN.
    assert any("pins: caller 666 locked out" in line for line in s.log_lines), log[-2000:]
    secrets = {
        "admin API key": admin["api_key"], "API key": key, "wrong API key": wrong_key,
        "admin token": admin_token, "token": token, "user token": user_token,
        "XiVO token": xivo_token, "refreshed XiVO token": refreshed, "bad token": bad_token,
        "password": PASSWORD, "md5 credentials": creds, "wrong credentials": wrong_creds,
        "Basic credentials": basic, "wrong Basic credentials": wrong_basic,
        "member PIN": MEMBER_PIN, "moderator PIN": MODERATOR_PIN, "ICE password": ICE_PWD,
        **{f"wrong PIN {p}": p for p in wrong_pins},
    }
    leaked = {name: value for name, value in secrets.items() if value in log}
    assert not leaked, (leaked, log[-2000:])
    # Whatever form a token takes, its signature part is what would let it be replayed.
    for t in (admin_token, token, user_token, xivo_token, refreshed):
        assert t.split(".")[1] not in log


def test_a_claimed_number_cannot_forge_log_lines(tmp_path):
    forged = "2099-01-01T00:00:00.000 error forged line"
    number = "555\n" + forged + "\n" + "7" * 5000
    with running(tmp_path / "var") as s:
        acct, token = s.new_account("acme")
        r = s.request("PUT", f"/v2/accounts/{acct}/conferences",
                      {"data": {"name": "Board", "member": {"pins": ["4321"]}}}, token=token)
        cid = ok(r, 201)["id"]
        joins = f"/v2/accounts/{acct}/conferences/{cid}/participants"
        statuses = []
        for _ in range(3):
            r = s.request("POST", joins, {"data": {"name": "Eve", "number": number,
                                                   "pin": "0000"}}, token=token)
            statuses.append(r.status)
            if r.status == 400:  # a face that refuses control characters in numbers
                assert "number" in error_data(r, 400, "invalid data"), r
            else:
                error_data(r, 403, "invalid_pin")
    lines = s.log_lines
    assert not any(line.startswith(forged) or line.startswith("7777") for line in lines), lines
    assert all(len(line) < 1000 for line in lines), max(lines, key=len)[:200]
    if statuses == [403] * 3:  # the number reached the PIN check: its lockout is logged, escaped
        lockout = [line for line in lines if "pins: caller" in line]
        assert len(lockout) == 1, lines[-20:]
        assert "555\\x0a2099-01-01" in lockout[0], lockout
        assert f"...({len(number.encode())} bytes)" in lockout[0], lockout
    else:
        assert statuses == [400] * 3, statuses

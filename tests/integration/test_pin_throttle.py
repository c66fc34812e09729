"""PIN guessing is throttled per caller, per source (address and token) and per conference, with
backoff; lockouts are logged and counted in /metrics, and never keep a conference's members out
for long. The real binary, configured with small thresholds so that the tests are quick."""
import time

from conftest import error_data, ok, running

FAST = """
[pins]
source_attempts = {source}
source_backoff = 2
source_backoff_max = 8
conference_attempts = {conference}
conference_refill = 1
conference_refill_max = 2
"""


class Api:
    def __init__(self, server, account, token):
        self.s, self.account, self.token = server, account, token

    def create(self, **doc):
        r = self.s.request("PUT", f"/v2/accounts/{self.account}/conferences", {"data": doc},
                           token=self.token)
        return ok(r, 201)["id"]

    def join(self, cid, number, pin, token=None):
        body = {"data": {"name": "Caller " + number, "number": number, "pin": pin}}
        return self.s.request("POST", f"/v2/accounts/{self.account}/conferences/{cid}/participants",
                              body, token=token or self.token)

    def metrics(self):
        r = self.s.request("GET", "/metrics")
        assert r.status == 200, r
        return r.json["pins"]


def api_of(server):
    account, token = server.new_account("acme")
    return Api(server, account, token)


def test_thirty_numbers_guessing_one_conference_are_throttled(tmp_path):
    # The defect: the lockout counted per claimed number only, so 30 wrong PINs from 30
    # numbers were never throttled.
    with running(tmp_path / "var", config=FAST.format(source=1000, conference=10)) as s:
        api = api_of(s)
        cid = api.create(name="Board", member={"pins": ["4321"]})
        member = api.join(cid, "100", "4321")
        assert member.status == 201, member
        statuses = []
        for i in range(30):
            r = api.join(cid, f"9{i:02d}", "0000")
            statuses.append(r.status)
            if r.status == 429:
                data = error_data(r, 429, "too_many_pin_attempts")
                assert data["scope"] == "conference"
                assert 1 <= data["retry_after"] <= 2
                assert r.headers["Retry-After"] == str(data["retry_after"])
        assert statuses[:10] == [403] * 10
        assert statuses.count(429) >= 19, statuses
        # The known member (same source and number, proved its PIN) is not kept out.
        assert api.join(cid, "100", "4321").status == 201
        # A new, legitimate caller waits one short refill at most.
        r = api.join(cid, "200", "4321")
        if r.status == 429:
            time.sleep(error_data(r, 429, "too_many_pin_attempts")["retry_after"] + 0.2)
            r = api.join(cid, "200", "4321")
        assert r.status == 201, r
        # Another conference of the account is not affected.
        other = api.create(name="Other", member={"pins": ["1111"]})
        assert api.join(other, "300", "1111").status == 201
        m = api.metrics()
        assert m["failures"] >= 10 and m["refused_conference"] >= 19
        assert m["lockouts"] >= 1
    assert any("pins: conference" in line and cid in line for line in s.log_lines), s.log_lines[-20:]


def test_a_source_guessing_across_conferences_backs_off(tmp_path):
    with running(tmp_path / "var", config=FAST.format(source=4, conference=1000)) as s:
        api = api_of(s)
        rooms = [api.create(name=f"Room {i}", member={"pins": ["1234"]}) for i in range(6)]
        for i in range(4):
            error_data(api.join(rooms[i], f"50{i}", "9999"), 403, "invalid_pin")
        # A new number in a new room, from the same address and token: refused before any PIN
        # is looked at, even the right one.
        r = api.join(rooms[4], "599", "1234")
        data = error_data(r, 429, "too_many_pin_attempts")
        first = data["retry_after"]
        assert data["scope"] == "source" and first in (1, 2)  # the clock counts whole seconds
        assert data["message"] == "too many wrong PINs from this source"
        time.sleep(2.2)
        error_data(api.join(rooms[4], "598", "9999"), 403, "invalid_pin")
        r = api.join(rooms[5], "597", "1234")
        assert error_data(r, 429, "too_many_pin_attempts")["retry_after"] in (3, 4)  # doubled
        # Joining without a PIN (a role that needs none) is not held up by the throttle.
        open_room = api.create(name="Open", moderator={"pins": ["7777"]})
        assert api.join(open_room, "596", "").status == 201
        m = api.metrics()
        assert m["refused_source"] == 2 and m["failures"] == 5
    assert any("pins: source addr:127.0.0.1" in line for line in s.log_lines)


def test_the_callers_own_lockout_still_follows_kazoo(tmp_path):
    with running(tmp_path / "var") as s:
        api = api_of(s)
        cid = api.create(name="Pins", member={"pins": ["1111"]})
        for remaining in (2, 1, 0):
            r = api.join(cid, "300", "1234")
            assert error_data(r, 403, "invalid_pin")["attempts_remaining"] == remaining
        data = error_data(api.join(cid, "300", "1111"), 429, "too_many_pin_attempts")
        assert data["scope"] == "caller" and 0 < data["retry_after"] <= 60
        assert api.join(cid, "301", "1111").status == 201
        assert api.metrics()["refused_caller"] == 1


def test_bad_pin_settings_are_refused_at_start(tmp_path):
    import subprocess
    from conftest import BIN
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[pins]\nsource_backoff = 10\nsource_backoff_max = 5\n")
    r = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path / "v"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "pins.source_backoff_max must be at least pins.source_backoff" in r.stdout + r.stderr
    cfg.write_text("[pins]\ncaller_attempts = 0\n")
    r = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path / "v"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "pins.caller_attempts must be between 1 and 100" in r.stdout + r.stderr

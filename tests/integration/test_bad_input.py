"""Bad input of every kind gets its exact 4xx answer, and the server keeps serving afterwards."""
import json
import socket
import time

import pytest

from conftest import Server

BODY_LIMIT = 4096


class Ctx:
    """One server (small body limit) shared by the table, plus one whose tokens expire at once."""

    def __init__(self, tmp):
        self.s = Server(tmp / "main", extra_args=["--body-limit", str(BODY_LIMIT)]).start()
        self.A, self.tok_a = self.s.new_account("alpha")
        self.B, self.tok_b = self.s.new_account("bravo")
        self.admin = self.s.admin_token()
        r = self.s.request("PUT", f"/v2/accounts/{self.A}/conferences",
                           {"data": {"name": "table-room"}}, token=self.tok_a)
        assert r.status == 201, r
        self.C = r.data["id"]
        r = self.s.request("POST", f"/v2/accounts/{self.A}/conferences/{self.C}/participants",
                           {"data": {"name": "p", "number": "1"}}, token=self.tok_a)
        assert r.status == 201, r
        r = self.s.request("PUT", f"/v2/accounts/{self.A}/users",
                           {"data": {"first_name": "U", "last_name": "S"}}, token=self.tok_a)
        assert r.status == 201, r
        self.U = r.data["id"]
        r = self.s.request("PUT", f"/v2/accounts/{self.A}/media", {"data": {"name": "m"}},
                           token=self.tok_a)
        assert r.status == 201, r
        self.M = r.data["id"]
        self.short = Server(tmp / "short", extra_args=["--token-ttl", "1"]).start()
        self.expired_minted = time.time()
        self.expired_token = self.short.admin_token()

    def expand(self, text):
        return text.replace("{A}", self.A).replace("{B}", self.B).replace("{C}", self.C) \
                   .replace("{U}", self.U).replace("{M}", self.M)

    def token(self, who):
        return {"A": self.tok_a, "B": self.tok_b, "admin": self.admin, None: None,
                "garbage": "not.a.token"}[who]

    def close(self):
        codes = (self.s.stop(), self.short.stop())
        assert codes == (0, 0), "".join(self.s.log_lines[-40:])


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    c = Ctx(tmp_path_factory.mktemp("bad_input"))
    yield c
    c.close()


def J(obj):
    return json.dumps(obj).encode()


CONFS = "/v2/accounts/{A}/conferences"
CONF = "/v2/accounts/{A}/conferences/{C}"
MEDIA = "/v2/accounts/{A}/media/{M}"
NESTED = b'{"data":{"name":"x","deep":' + b"[" * 100 + b"]" * 100 + b"}}"

# (id, method, path, raw body, token, extra headers, status, message, data checks)
# data checks: list of key paths that must exist in the error's data, or (path, value) pairs.
CASES = [
    ("malformed_json", "PUT", CONFS, b'{"data": {"name": "x",}', "A", {}, 400, "parse_error",
     [(("json", "invalid", "target"), "body")]),
    ("truncated_json", "PUT", CONFS, b'{"data":', "A", {}, 400, "parse_error",
     [("json", "invalid", "message")]),
    ("not_json_at_all", "PATCH", CONF, b"name=x&y=z", "A", {}, 400, "parse_error",
     [("json", "invalid")]),
    ("json_array_body", "PUT", CONFS, b'[{"data":{"name":"x"}}]', "A", {}, 400, "parse_error",
     [(("json", "type", "message"), "the body must be a JSON object")]),
    ("json_string_body", "PUT", CONFS, b'"hello"', "A", {}, 400, "parse_error", [("json", "type")]),
    ("json_null_body", "POST", CONF, b"null", "A", {}, 400, "parse_error", [("json", "type")]),
    ("json_array_on_auth", "PUT", "/v2/api_auth", b"[]", None, {}, 400, "parse_error",
     [("json", "type")]),
    ("invalid_utf8", "PUT", CONFS, b'{"data":{"name":"\xff\xfe"}}', "A", {}, 400, "parse_error",
     [("json", "invalid")]),
    ("too_deep", "PUT", CONFS, NESTED, "A", {}, 400, "parse_error", [("json", "invalid")]),
    ("number_overflow", "PUT", CONFS, b'{"data":{"name":"x","max_participants":1e999}}', "A", {},
     400, None, []),
    ("data_is_string", "PUT", CONFS, J({"data": "conference"}), "A", {}, 400, "invalid data",
     [(("data", "type", "message"), "Value did not match type(s): object")]),
    ("data_is_array_patch", "PATCH", CONF, J({"data": [1, 2]}), "A", {}, 400, "invalid data",
     [("data", "type")]),
    ("data_is_array_user", "PUT", "/v2/accounts/{A}/users", J({"data": []}), "A", {}, 400,
     "invalid data", [("data", "type")]),
    ("name_wrong_type", "PUT", CONFS, J({"data": {"name": 5}}), "A", {}, 400, "invalid data",
     [(("name", "type", "message"), "Value did not match type(s): string")]),
    ("pins_wrong_type", "PATCH", CONF, J({"data": {"member": {"pins": "1234"}}}), "A", {}, 400,
     "invalid data", [(("member.pins", "type", "message"), "Value did not match type(s): array")]),
    ("bool_wrong_type", "PATCH", CONF, J({"data": {"member": {"join_muted": "false"}}}), "A", {},
     400, "invalid data", [("member.join_muted", "type")]),
    ("api_key_bool", "PUT", "/v2/api_auth", J({"data": {"api_key": True}}), None, {}, 400,
     "invalid data", [(("api_key", "type", "message"), "Value did not match type(s): string")]),
    ("api_key_object", "PUT", "/v2/api_auth", J({"data": {"api_key": {"k": 1}}}), None, {}, 400,
     "invalid data", [("api_key", "type")]),
    ("join_name_list", "POST", CONF + "/participants", J({"data": {"name": ["a"]}}), "A", {}, 400,
     "invalid data", [("name", "type")]),
    ("join_data_string", "POST", CONF + "/participants", J({"data": "me"}), "A", {}, 400,
     "invalid data", [("data", "type")]),
    ("body_over_limit", "PUT", CONFS, J({"data": {"name": "x", "pad": "y" * 10240}}), "A", {}, 413,
     "request_too_large", [(("message",), "request body too large")]),
    ("body_over_limit_no_token", "PUT", "/v2/api_auth", b"{" + b" " * 10240 + b"}", None, {}, 413,
     "request_too_large", []),
    ("unknown_conference", "GET", "/v2/accounts/{A}/conferences/" + "0" * 32, None, "A", {}, 404,
     "bad_identifier", [(("cause",), "0" * 32)]),
    ("unknown_conference_patch", "PATCH", "/v2/accounts/{A}/conferences/nope",
     J({"data": {"name": "x"}}), "A", {}, 404, "bad_identifier", [(("cause",), "nope")]),
    ("unknown_account", "GET", "/v2/accounts/" + "1" * 32 + "/conferences", None, "admin", {}, 404,
     "bad_identifier", [(("cause",), "1" * 32)]),
    ("unknown_user", "GET", "/v2/accounts/{A}/users/" + "2" * 32, None, "A", {}, 404,
     "bad_identifier", []),
    ("conference_id_of_user", "GET", "/v2/accounts/{A}/conferences/{U}", None, "A", {}, 404,
     "bad_identifier", []),
    ("conference_in_wrong_account", "GET", "/v2/accounts/{B}/conferences/{C}", None, "admin", {},
     404, "bad_identifier", []),
    ("dot_dot_id", "GET", "/v2/accounts/{A}/conferences/%2e%2e", None, "A", {}, 404,
     "bad_identifier", [(("cause",), "..")]),
    ("nul_in_id", "GET", "/v2/accounts/{A}/conferences/a%00b", None, "A", {}, 404,
     "bad_identifier", [(("cause",), "a\x00b")]),
    ("unknown_route_v2", "GET", "/v2/nothing-here", None, "A", {}, 404, "not_found", []),
    ("unknown_route_root", "GET", "/", None, None, {}, 404, "not_found", []),
    ("unknown_route_v1", "GET", "/v1/accounts/{A}", None, "A", {}, 404, "not_found", []),
    ("unknown_collection", "GET", "/v2/accounts/{A}/devices", None, "A", {}, 404, "not_found", []),
    ("unknown_subcollection", "GET", CONF + "/recordings", None, "A", {}, 404, "not_found", []),
    ("too_deep_path", "GET", CONF + "/participants/1/extra", None, "A", {}, 404, "not_found", []),
    ("long_path", "GET", "/v2/accounts/{A}/conferences/" + "x" * 8000, None, "A", {}, 404,
     "bad_identifier", []),
    ("method_delete_collection", "DELETE", CONFS, None, "A", {}, 405, "invalid_method",
     [("allow", "GET, PUT")]),
    ("method_get_api_auth", "GET", "/v2/api_auth", None, None, {}, 405, "invalid_method",
     [("allow", "PUT, POST")]),
    ("method_patch_participant", "PATCH", CONF + "/participants/1", J({"data": {}}), "A", {}, 405,
     "invalid_method", [("allow", "GET, PUT, DELETE")]),
    ("method_delete_participants", "DELETE", CONF + "/participants", None, "A", {}, 405,
     "invalid_method", [("allow", "GET, PUT, POST")]),
    ("method_delete_account", "DELETE", "/v2/accounts/{A}", None, "A", {}, 405, "invalid_method",
     [("allow", "GET, POST, PATCH")]),
    ("method_post_accounts", "POST", "/v2/accounts", J({"data": {"name": "x"}}), "admin", {}, 405,
     "invalid_method", [("allow", "PUT")]),
    ("method_put_children", "PUT", "/v2/accounts/{A}/children", None, "admin", {}, 405,
     "invalid_method", [("allow", "GET")]),
    ("method_unknown_verb", "FROB", CONFS, None, "A", {}, 405, "invalid_method",
     [("allow", "GET, PUT")]),
    ("wrong_account", "GET", CONFS, None, "B", {}, 403, "forbidden",
     [(("message",), "forbidden")]),
    ("wrong_account_write", "PUT", CONFS, J({"data": {"name": "x"}}), "B", {}, 403, "forbidden", []),
    ("no_token", "GET", CONFS, None, None, {}, 401, "invalid_credentials",
     [(("cause",), "missing auth token")]),
    ("garbage_token", "GET", CONFS, None, "garbage", {}, 401, "invalid_credentials",
     [(("cause",), "invalid auth token")]),
    ("expired_token", "GET", "expired", None, None, {}, 401, "invalid_credentials",
     [(("cause",), "auth token expired")]),
    ("participant_id_alpha", "GET", CONF + "/participants/abc", None, "A", {}, 404,
     "bad_identifier", [(("cause",), "abc")]),
    ("participant_id_float", "PUT", CONF + "/participants/1.5", J({"action": "mute"}), "A", {},
     404, "bad_identifier", [(("cause",), "1.5")]),
    ("participant_id_negative", "DELETE", CONF + "/participants/-1", None, "A", {}, 404,
     "bad_identifier", [(("cause",), "-1")]),
    ("unknown_conference_action", "PUT", CONF, J({"data": {"action": "nuke"}}), "A", {}, 404,
     "faulty_request", [(("cause",), "nuke")]),
    # The media store: uploads are WAV files of the right type; recordings are read-only.
    ("media_without_name", "PUT", "/v2/accounts/{A}/media", J({"data": {"language": "en"}}), "A",
     {}, 400, "invalid data", [("name", "required")]),
    ("media_source_tts", "PUT", "/v2/accounts/{A}/media",
     J({"data": {"name": "x", "media_source": "tts"}}), "A", {}, 400, "invalid data",
     [("media_source", "enum", "message")]),
    ("media_upload_not_wav", "POST", MEDIA + "/raw", b"<html></html>", "A",
     {"Content-Type": "audio/wav"}, 400, "invalid data",
     [(("file", "format", "message"), "not a RIFF/WAVE file")]),
    ("media_upload_wrong_type", "POST", MEDIA + "/raw", b"RIFF", "A",
     {"Content-Type": "image/png"}, 415, "unsupported_media_type",
     [(("content_type",), "image/png")]),
    ("media_upload_other_account", "POST", MEDIA + "/raw", b"RIFF", "B",
     {"Content-Type": "audio/wav"}, 403, "forbidden", []),
    ("media_nothing_uploaded", "GET", MEDIA + "/raw", None, "A", {}, 404, "bad_identifier",
     [(("message",), "no file has been uploaded for this media yet")]),
    ("method_delete_media_raw", "DELETE", MEDIA + "/raw", None, "A", {}, 405, "invalid_method",
     [("allow", "GET, POST")]),
    ("method_put_recordings", "PUT", "/v2/accounts/{A}/recordings", J({"data": {}}), "A", {}, 405,
     "invalid_method", [("allow", "GET")]),
    ("unknown_recording", "GET", "/v2/accounts/{A}/recordings/" + "3" * 32, None, "A", {}, 404,
     "bad_identifier", [(("cause",), "3" * 32)]),
    # Request headers over the server's limit: RFC 6585's 431, naming the problem.
    ("huge_header", "GET", CONFS, None, "A", {"X-Padding": "p" * 20000}, 431, None, []),
]


def _get_path(data, path):
    cur = data
    for key in path:
        assert isinstance(cur, dict) and key in cur, (path, data)
        cur = cur[key]
    return cur


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request_table(ctx, case):
    name, method, path, body, who, headers, status, message, checks = case
    if path == "expired":
        wait = ctx.expired_minted + 1.3 - time.time()
        if wait > 0:
            time.sleep(wait)
        r = ctx.short.request("GET", f"/v2/accounts/{ctx.short.admin_account}",
                              token=ctx.expired_token)
    else:
        r = ctx.s.request(method, ctx.expand(path), token=ctx.token(who), headers=headers,
                          raw=body)
    assert r.status == status, (name, r)
    assert 400 <= r.status < 500
    j = r.json
    assert j is not None, (name, r)
    assert j["status"] == "error", r
    assert j["error"] == str(status), r
    if message is not None:
        assert j["message"] == message, r
    for check in checks:
        if isinstance(check, tuple) and len(check) == 2 and isinstance(check[0], tuple):
            assert _get_path(j["data"], check[0]) == check[1], (name, r)
        elif isinstance(check, tuple) and len(check) == 2 and check[0] == "allow":
            assert r.headers.get("Allow") == check[1], (name, r.headers)
            assert j["data"]["allow"] == check[1]
        else:
            _get_path(j["data"], check)
    if status != 401:
        assert "request_id" in j


def test_after_the_table_the_server_still_serves(ctx):
    # Runs after the table (file order); also works alone.
    r = ctx.s.request("GET", "/healthz")
    assert (r.status, r.json) == (200, {"status": "ok"})
    r = ctx.s.request("GET", f"/v2/accounts/{ctx.A}/conferences", token=ctx.tok_a)
    assert r.status == 200, r
    rows = r.data
    assert [c["name"] for c in rows] == ["table-room"]
    assert rows[0]["members"] == 1
    r = ctx.s.request("GET", f"/v2/accounts/{ctx.A}/conferences/{ctx.C}", token=ctx.tok_a)
    assert r.status == 200 and r.json["revision"].startswith("1-"), r
    # Nothing from the bad requests was written.
    r = ctx.s.request("GET", f"/v2/accounts/{ctx.B}/conferences", token=ctx.tok_b)
    assert r.data == []
    r = ctx.s.request("GET", f"/v2/accounts/{ctx.A}/users", token=ctx.tok_a)
    assert [u["id"] for u in r.data] == [ctx.U]
    # A body just under the limit is accepted.
    pad = "z" * (BODY_LIMIT - 200)
    r = ctx.s.request("PATCH", f"/v2/accounts/{ctx.A}/conferences/{ctx.C}",
                      {"data": {"pad": pad}}, token=ctx.tok_a)
    assert r.status == 200 and r.data["pad"] == pad, r
    assert ctx.s.proc.poll() is None


def test_healthz_methods(ctx):
    r = ctx.s.request("POST", "/healthz", raw=b"{}")
    assert r.status == 405
    assert r.headers.get("Allow") == "GET"
    assert r.json["status"] == "error"
    r = ctx.s.request("HEAD", "/healthz")
    assert r.status == 200


def test_long_request_id_is_not_echoed(ctx):
    r = ctx.s.request("GET", "/v2/nothing", token=ctx.tok_a, headers={"X-Request-Id": "r" * 200})
    assert r.status == 404
    assert r.json["request_id"] != "r" * 200 and len(r.json["request_id"]) <= 128
    r = ctx.s.request("GET", "/v2/nothing", token=ctx.tok_a, headers={"X-Request-Id": "trace-7"})
    assert r.json["request_id"] == "trace-7"


def _raw_exchange(port, payload, timeout=5.0):
    """Sends raw bytes, half-closes, and reads until the server closes (or times out)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as so:
        so.sendall(payload)
        try:
            so.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                b = so.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                pytest.fail(f"server neither answered nor closed for {payload[:40]!r}")
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)


GARBAGE = [
    ("binary", bytes(range(256)) * 4),
    ("tls_client_hello", bytes.fromhex("160301020001" "0001fc0303") + b"\x00" * 64),
    ("not_http_text", b"HELLO SERVER ARE YOU THERE?\r\n\r\n"),
    ("bad_version", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("no_version", b"GET /healthz\r\n\r\n"),
    ("bad_header_line", b"GET /healthz HTTP/1.1\r\nthis is not a header\r\n\r\n"),
    ("bad_content_length", b"PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}"),
    ("negative_content_length",
     b"PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}"),
    ("two_content_lengths",
     b"PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x"),
    ("bad_chunk_size",
     b"PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    ("huge_chunk",
     b"PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFF\r\n{}"),
    ("lying_content_length",
     b"PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n{}"),
    ("truncated_body", b"PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"da"),
    ("truncated_headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A"),
    ("nul_bytes", b"GET /\x00\x00 HTTP/1.1\r\n\x00\r\n\r\n"),
    ("only_crlf", b"\r\n" * 2000),
]


@pytest.mark.parametrize("name,payload", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_raw_garbage_gets_400_or_close(ctx, name, payload):
    reply = _raw_exchange(ctx.s.port, payload)
    if reply:
        status_line = reply.split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1.1 4"), (name, reply[:200])
        code = int(status_line.split()[1])
        expected = 413 if name in ("huge_chunk", "lying_content_length") else 400
        assert code == expected, (name, reply[:300])
        body = reply.split(b"\r\n\r\n", 1)[1]
        j = json.loads(body)
        assert j["status"] == "error" and j["error"] == str(code)
    r = ctx.s.request("GET", "/healthz")
    assert r.status == 200, (name, r)
    assert ctx.s.proc.poll() is None


def test_pipelined_requests_on_one_connection(ctx):
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    reply = _raw_exchange(ctx.s.port, req * 3 + last)
    assert reply.count(b"HTTP/1.1 200 OK") == 4, reply
    assert reply.count(b'{"status":"ok"}') == 4


def test_many_connections_opened_and_dropped(ctx):
    """Clients that connect and vanish (or send half a request) do not wedge the server."""
    socks = []
    for i in range(50):
        so = socket.create_connection(("127.0.0.1", ctx.s.port), timeout=5)
        if i % 2:
            so.sendall(b"PUT /v2/api_auth HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
        socks.append(so)
    r = ctx.s.request("GET", "/healthz")
    assert r.status == 200
    for so in socks:
        so.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        so.close()
    r = ctx.s.request("GET", f"/v2/accounts/{ctx.A}/conferences", token=ctx.tok_a)
    assert r.status == 200 and len(r.data) == 1

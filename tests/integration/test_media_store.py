"""The media store and the recordings: Kazoo's /media (documents plus raw WAV uploads) and
/recordings, against the real binary: byte-identical downloads, exact refusals that leave the
previous file in place, account isolation, restarts, and recordings placed in the store the way
the server writes them."""
import hashlib
import io
import json
import math
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import tempfile
import wave

import pytest

from conftest import Server, error_data, ok
from media_room import make_wav, new_media, upload

UPLOAD_LIMIT = 400_000
BODY_LIMIT = 65_536  # smaller than the uploads below: the two limits are separate


def float_wav():
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    data = b"\0" * 400
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", 4 + len(chunks) + len(data)) + b"WAVE" + chunks + data


def ffmpeg_wav(*args, streamed=False):
    """A WAV made by ffmpeg from its sine source; `streamed`: written to a pipe, so its size
    fields are never filled in."""
    assert shutil.which("ffmpeg"), "ffmpeg is not installed (scripts/install-deps installs it)"
    cmd = ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1.5"]
    cmd += list(args)
    if streamed:
        return subprocess.run(cmd + ["-f", "wav", "pipe:1"], check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.wav")
        subprocess.run(cmd + ["-y", out], check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


def fetch(server, path, token, headers=None):
    """GET; returns (status, body bytes, headers)."""
    r = server.request("GET", path, token=token, headers=headers)
    return r.status, r.content, r.headers


def media_file(server, account, media):
    return os.path.join(server.data_dir, "media", account, media + ".wav")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("media") / "var",
               extra_args=["--media-upload-limit", str(UPLOAD_LIMIT),
                           "--body-limit", str(BODY_LIMIT)]).start()
    yield s
    assert s.stop() == 0, "".join(s.log_lines[-40:])


@pytest.fixture(scope="module")
def acct(srv):
    return srv.new_account("studio")


def test_create_upload_download_list(srv, acct):
    A, tok = acct
    doc = new_media(srv, A, tok, description="welcome.wav")
    M = doc["id"]
    assert doc["media_source"] == "upload" and doc["streamable"] is True
    assert "content_length" not in doc
    status, body, _ = fetch(srv, f"/v2/accounts/{A}/media/{M}/raw", tok)
    assert status == 404 and json.loads(body)["data"]["message"] == \
        "no file has been uploaded for this media yet"

    wav = make_wav(16000, 1, 1.0)
    d = ok(upload(srv, A, M, tok, wav))
    assert d["id"] == M and d["name"] == "hold music" and d["description"] == "welcome.wav"
    assert (d["content_type"], d["content_length"], d["media_type"]) == ("audio/wav", len(wav), "wav")
    assert (d["sample_rate"], d["channels"], d["duration_ms"]) == (16000, 1, 1000)

    status, body, headers = fetch(srv, f"/v2/accounts/{A}/media/{M}/raw", tok)
    assert status == 200 and body == wav
    assert headers["Content-Type"] == "audio/wav"
    assert int(headers["Content-Length"]) == len(wav)
    assert M in headers["Content-Disposition"]
    # Kazoo's other ways of asking for the file; JSON stays the default.
    for hdrs, q in (({"Accept": "audio/*"}, ""), ({"Accept": "audio/x-wav"}, ""),
                    ({}, "?accept=audio/wav"),
                    ({"Accept": "application/json;q=0.5, audio/wav"}, "")):
        status, body, headers = fetch(srv, f"/v2/accounts/{A}/media/{M}{q}", tok,
                                      headers=hdrs)
        assert (status, body) == (200, wav), (hdrs, q)
    for hdrs in ({}, {"Accept": "application/json"}, {"Accept": "*/*"},
                 {"Accept": "application/json, audio/wav"}):
        r = srv.request("GET", f"/v2/accounts/{A}/media/{M}", token=tok, headers=hdrs)
        assert ok(r)["content_length"] == len(wav), hdrs
    with open(media_file(srv, A, M), "rb") as f:
        assert f.read() == wav

    rows = ok(srv.request("GET", f"/v2/accounts/{A}/media", token=tok))
    row = next(x for x in rows if x["id"] == M)
    assert row["name"] == "hold music" and row["is_prompt"] is False
    assert row["language"] == "en-us" and row["media_type"] == "wav"
    assert (row["content_length"], row["duration_ms"], row["sample_rate"]) == (len(wav), 1000, 16000)


@pytest.mark.parametrize("args,streamed,rate,channels", [
    (["-ar", "8000", "-ac", "2"], False, 8000, 2),
    (["-ar", "48000", "-ac", "1"], True, 48000, 1),  # size fields left unfilled
    (["-ar", "8000", "-ac", "1", "-acodec", "pcm_mulaw"], False, 8000, 1),
    (["-ar", "8000", "-ac", "1", "-acodec", "pcm_u8"], True, 8000, 1),
], ids=["stereo_8k", "streamed_48k", "mulaw", "u8_streamed"])
def test_wavs_made_by_ffmpeg(srv, acct, args, streamed, rate, channels):
    A, tok = acct
    M = new_media(srv, A, tok, name="ffmpeg")["id"]
    wav = ffmpeg_wav(*args, streamed=streamed)
    d = ok(upload(srv, A, M, tok, wav, "audio/x-wav"))
    assert (d["sample_rate"], d["channels"], d["content_length"]) == (rate, channels, len(wav))
    assert d["duration_ms"] == 1500
    status, body, _ = fetch(srv, f"/v2/accounts/{A}/media/{M}/raw", tok)
    assert (status, body) == (200, wav)


def test_bad_uploads_leave_the_previous_file(srv, acct):
    A, tok = acct
    M = new_media(srv, A, tok, name="keep me")["id"]
    good = make_wav(8000, 1, 0.5)
    before = ok(upload(srv, A, M, tok, good))
    rev = srv.request("GET", f"/v2/accounts/{A}/media/{M}", token=tok).json["revision"]
    path = f"/v2/accounts/{A}/media/{M}/raw"

    data = error_data(upload(srv, A, M, tok, b"this is not audio"), 400, "invalid data")
    assert data["file"]["format"]["message"] == "not a RIFF/WAVE file"
    data = error_data(upload(srv, A, M, tok, float_wav()), 415, "unsupported_media_type")
    assert data["message"] == "unsupported WAV format 3 (IEEE float)"
    data = error_data(upload(srv, A, M, tok, good[:30]), 400, "invalid data")
    assert data["file"]["format"]["message"] == "truncated fmt chunk"
    data = error_data(upload(srv, A, M, tok, good, "text/plain"), 415, "unsupported_media_type")
    assert data["content_type"] == "text/plain" and "audio/wav" in data["message"]
    data = error_data(upload(srv, A, M, tok, b""), 400, "invalid data")
    assert "required" in data["file"]
    big = make_wav(16000, 1, 13.0)  # 416 KB: over the upload limit
    assert len(big) > UPLOAD_LIMIT
    data = error_data(upload(srv, A, M, tok, big), 413, "request_too_large")
    assert data["message"] == "request body too large"

    r = srv.request("GET", f"/v2/accounts/{A}/media/{M}", token=tok)
    assert r.json["revision"] == rev and ok(r)["content_length"] == before["content_length"]
    status, body, _ = fetch(srv, path, tok)
    assert (status, body) == (200, good)
    # No temporary file was left behind by the refusals.
    assert os.listdir(os.path.dirname(media_file(srv, A, M))).count(M + ".wav") == 1
    assert not [f for f in os.listdir(os.path.dirname(media_file(srv, A, M))) if f.endswith(".tmp")]

    # A good replacement does replace it.
    again = make_wav(8000, 2, 0.25)
    assert ok(upload(srv, A, M, tok, again, "application/octet-stream"))["channels"] == 2
    assert fetch(srv, path, tok)[1] == again


def test_upload_limit_is_not_the_body_limit(srv, acct):
    A, tok = acct
    M = new_media(srv, A, tok, name="large")["id"]
    wav = make_wav(16000, 1, 10.0)  # 320 KB
    assert BODY_LIMIT < len(wav) < UPLOAD_LIMIT
    assert ok(upload(srv, A, M, tok, wav))["duration_ms"] == 10000
    assert fetch(srv, f"/v2/accounts/{A}/media/{M}/raw", tok)[:2] == (200, wav)
    # Every other request is still held to the body limit, this document's included.
    for method, path in (("PATCH", f"/v2/accounts/{A}/media/{M}"), ("PUT", f"/v2/accounts/{A}/media"),
                         ("PUT", f"/v2/accounts/{A}/media/{M}/raw")):
        r = srv.request(method, path, token=tok,
                        raw=json.dumps({"data": {"pad": "x" * BODY_LIMIT}}).encode())
        error_data(r, 413, "request_too_large")


def test_expect_100_continue_and_early_413(srv, acct):
    A, tok = acct
    M = new_media(srv, A, tok, name="curl style")["id"]
    wav = make_wav(8000, 1, 0.2)
    head = (f"POST /v2/accounts/{A}/media/{M}/raw HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {tok}\r\n"
            f"Content-Type: audio/wav\r\nExpect: 100-continue\r\n")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as so:
        so.sendall((head + f"Content-Length: {len(wav)}\r\n\r\n").encode())
        interim = so.recv(100)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        so.sendall(wav)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = so.recv(65536)
            if not chunk:
                break
            reply += chunk
        assert reply.split(b"\r\n", 1)[0] == b"HTTP/1.1 200 OK", reply[:200]
    # Over the limit: refused on the header alone, before the client sends a byte of the body.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as so:
        so.sendall((head + f"Content-Length: {UPLOAD_LIMIT + 1}\r\n\r\n").encode())
        reply = so.recv(4096)
        assert reply.split(b"\r\n", 1)[0] == b"HTTP/1.1 413 Payload Too Large", reply


def test_edit_and_delete(srv, acct):
    A, tok = acct
    M = new_media(srv, A, tok, name="to delete")["id"]
    wav = make_wav(8000, 1, 0.3)
    ok(upload(srv, A, M, tok, wav))
    # Clients edit the metadata, never the file's facts.
    d = ok(srv.request("PATCH", f"/v2/accounts/{A}/media/{M}",
                       {"data": {"language": "fr-FR", "content_length": 1, "duration_ms": 9}},
                       token=tok))
    assert (d["language"], d["content_length"], d["duration_ms"]) == ("fr-FR", len(wav), 300)
    d = ok(srv.request("POST", f"/v2/accounts/{A}/media/{M}", {"data": {"name": "renamed"}},
                       token=tok))
    assert (d["name"], d["language"], d["content_length"]) == ("renamed", "en-us", len(wav))
    assert os.path.exists(media_file(srv, A, M))

    d = ok(srv.request("DELETE", f"/v2/accounts/{A}/media/{M}", token=tok))
    assert d == {"id": M, "_deleted": True}
    assert not os.path.exists(media_file(srv, A, M))
    error_data(srv.request("GET", f"/v2/accounts/{A}/media/{M}", token=tok), 404, "bad_identifier")
    status, _, _ = fetch(srv, f"/v2/accounts/{A}/media/{M}/raw", tok)
    assert status == 404
    assert M not in [x["id"] for x in ok(srv.request("GET", f"/v2/accounts/{A}/media", token=tok))]
    # A document that never had a file is deleted too.
    M2 = new_media(srv, A, tok, name="empty")["id"]
    ok(srv.request("DELETE", f"/v2/accounts/{A}/media/{M2}", token=tok))


def test_validation_and_methods(srv, acct):
    A, tok = acct
    base = f"/v2/accounts/{A}/media"
    data = error_data(srv.request("PUT", base, {"data": {"description": "x"}}, token=tok), 400,
                      "invalid data")
    assert "required" in data["name"]
    for src in ("tts", "recording"):
        data = error_data(srv.request("PUT", base, {"data": {"name": "x", "media_source": src}},
                                      token=tok), 400, "invalid data")
        assert "only uploaded WAV files" in data["media_source"]["enum"]["message"]
    M = new_media(srv, A, tok, name="methods")["id"]
    r = srv.request("PUT", f"{base}/{M}", {"data": {}}, token=tok)
    error_data(r, 405, "invalid_method")
    assert r.headers["Allow"] == "GET, POST, PATCH, DELETE"
    r = srv.request("DELETE", f"{base}/{M}/raw", token=tok)
    error_data(r, 405, "invalid_method")
    assert r.headers["Allow"] == "GET, POST"
    error_data(srv.request("GET", f"{base}/{M}/other", token=tok), 404, "not_found")


def test_other_accounts_and_plain_users(srv, acct):
    A, tok = acct
    M = new_media(srv, A, tok, name="private")["id"]
    wav = make_wav(8000, 1, 0.2)
    ok(upload(srv, A, M, tok, wav))
    B, tok_b = srv.new_account("elsewhere")
    error_data(srv.request("GET", f"/v2/accounts/{A}/media", token=tok_b), 403, "forbidden")
    error_data(srv.request("GET", f"/v2/accounts/{A}/media/{M}/raw", token=tok_b), 403,
               "forbidden")
    error_data(upload(srv, A, M, tok_b, make_wav()), 403, "forbidden")
    error_data(srv.request("GET", f"/v2/accounts/{B}/media/{M}", token=tok_b), 404,
               "bad_identifier")
    assert ok(srv.request("GET", f"/v2/accounts/{B}/media", token=tok_b)) == []

    # A user with priv_level "user" may read and download, not write.
    ok(srv.request("PUT", f"/v2/accounts/{A}/users",
                   {"data": {"first_name": "P", "last_name": "U", "username": "plain",
                             "password": "secret", "priv_level": "user"}}, token=tok), 201)
    creds = hashlib.md5(b"plain:secret").hexdigest()
    r = srv.request("PUT", "/v2/user_auth",
                    {"data": {"credentials": creds, "account_name": "studio"}})
    ok(r, 201)
    user_tok = r.json["auth_token"]
    assert ok(srv.request("GET", f"/v2/accounts/{A}/media/{M}", token=user_tok))["id"] == M
    assert fetch(srv, f"/v2/accounts/{A}/media/{M}/raw", user_tok)[:2] == (200, wav)
    error_data(upload(srv, A, M, user_tok, make_wav()), 403, "forbidden")
    error_data(srv.request("PUT", f"/v2/accounts/{A}/media", {"data": {"name": "x"}},
                           token=user_tok), 403, "forbidden")
    error_data(srv.request("DELETE", f"/v2/accounts/{A}/media/{M}", token=user_tok), 403,
               "forbidden")


def test_restart_keeps_documents_and_files(tmp_path):
    s = Server(tmp_path / "var").start()
    try:
        A, tok = s.new_account("keeper")
        M = new_media(s, A, tok, name="kept")["id"]
        wav = make_wav(16000, 2, 0.5)
        ok(upload(s, A, M, tok, wav))
    finally:
        assert s.stop() == 0
    s2 = Server(tmp_path / "var")
    s2.start()
    try:
        tok = s2.token_for_key(s.admin_key)
        d = ok(s2.request("GET", f"/v2/accounts/{A}/media/{M}", token=tok))
        assert (d["name"], d["content_length"], d["channels"]) == ("kept", len(wav), 2)
        assert fetch(s2, f"/v2/accounts/{A}/media/{M}/raw", tok)[:2] == (200, wav)
    finally:
        assert s2.stop() == 0


def put_recording(data_dir, account, rid, conference, start, wav, name="Weekly sync"):
    """Writes a recording exactly as the server does: a doc row in confab.db (the store's
    schema) and the WAV at recordings/<account>/<id>.wav. Only while the server is stopped."""
    body = {"conference_id": conference, "name": name, "media_source": "recorded",
            "source_type": "conference", "content_type": "audio/wav", "media_type": "wav",
            "start": start, "duration_ms": 250, "content_length": len(wav),
            "sample_rate": 8000, "channels": 1, "pvt_created": start, "pvt_modified": start}
    db = sqlite3.connect(os.path.join(data_dir, "confab.db"))
    with db:
        db.execute("INSERT INTO docs(kind, id, account_id, revision, body) VALUES(?,?,?,?,?)",
                   ("recording", rid, account, 1, json.dumps(body)))
    db.close()
    d = os.path.join(data_dir, "recordings", account)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, rid + ".wav"), "wb") as f:
        f.write(wav)


def test_recordings_list_get_download_delete(tmp_path):
    s = Server(tmp_path / "var").start()
    try:
        A, tok = s.new_account("recorded")
        B, tok_b = s.new_account("other")
        C = ok(s.request("PUT", f"/v2/accounts/{A}/conferences", {"data": {"name": "Weekly"}},
                         token=tok), 201)["id"]
        key = s.admin_key
    finally:
        assert s.stop() == 0
    old, new = make_wav(8000, 1, 0.25, 300), make_wav(8000, 1, 0.25, 500)
    put_recording(s.data_dir, A, "r" * 32, C, 1_700_000_000, old)
    put_recording(s.data_dir, A, "s" * 32, "another-conference", 1_700_000_500, new)
    s = Server(tmp_path / "var").start()
    try:
        tok = s.token_for_key(key)
        base = f"/v2/accounts/{A}/recordings"
        rows = ok(s.request("GET", base, token=tok))
        assert [r["id"] for r in rows] == ["s" * 32, "r" * 32]  # newest first
        assert all("pvt_created" not in r for r in rows)
        only = ok(s.request("GET", f"{base}?conference_id={C}", token=tok))
        assert [r["id"] for r in only] == ["r" * 32]
        R = "r" * 32
        d = ok(s.request("GET", f"{base}/{R}", token=tok))
        assert (d["conference_id"], d["media_source"], d["content_length"]) == \
            (C, "recorded", len(old))
        for path, hdrs in ((f"{base}/{R}/raw", {}), (f"{base}/{R}", {"Accept": "audio/wav"}),
                           (f"{base}/{R}?accept=audio/wav", {})):
            status, body, headers = fetch(s, path, tok, headers=hdrs)
            assert (status, body, headers["Content-Type"]) == (200, old, "audio/wav"), path
        # Clients never write recordings.
        for method in ("PUT", "POST", "PATCH"):
            r = s.request(method, f"{base}/{R}", {"data": {"name": "x"}}, token=tok)
            error_data(r, 405, "invalid_method")
            assert r.headers["Allow"] == "GET, DELETE"
        r = s.request("PUT", base, {"data": {"name": "x"}}, token=tok)
        error_data(r, 405, "invalid_method")
        assert r.headers["Allow"] == "GET"
        # Another account sees none of it.
        error_data(s.request("GET", base, token=tok_b), 403, "forbidden")
        assert ok(s.request("GET", f"/v2/accounts/{B}/recordings", token=tok_b)) == []
        error_data(s.request("GET", f"/v2/accounts/{B}/recordings/{R}", token=tok_b), 404,
                   "bad_identifier")

        assert ok(s.request("DELETE", f"{base}/{R}", token=tok)) == {"id": R, "_deleted": True}
        assert not os.path.exists(os.path.join(s.data_dir, "recordings", A, R + ".wav"))
        error_data(s.request("GET", f"{base}/{R}", token=tok), 404, "bad_identifier")
        assert [r["id"] for r in ok(s.request("GET", base, token=tok))] == ["s" * 32]
    finally:
        assert s.stop() == 0
    # The deletion was durable: after a restart the recording is still gone.
    s = Server(tmp_path / "var").start()
    try:
        tok = s.token_for_key(key)
        assert [r["id"] for r in ok(s.request("GET", f"/v2/accounts/{A}/recordings", token=tok))] \
            == ["s" * 32]
    finally:
        assert s.stop() == 0


def test_upload_limit_from_the_environment(tmp_path):
    s = Server(tmp_path / "var", env={"CONFAB_MEDIA_UPLOAD_LIMIT": "50000"}).start()
    try:
        A, tok = s.new_account("env")
        M = new_media(s, A, tok)["id"]
        error_data(upload(s, A, M, tok, make_wav(8000, 1, 3.2)), 413, "request_too_large")
        assert ok(upload(s, A, M, tok, make_wav(8000, 1, 3.0)))["duration_ms"] == 3000
    finally:
        assert s.stop() == 0

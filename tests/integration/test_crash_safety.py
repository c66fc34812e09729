"""A write acknowledged to a client survives SIGKILL: the server is killed in the middle of a burst
of creates / updates / deletes, restarted on the same data dir, and every acknowledged change must
be there, every document readable, every stored row valid JSON. The last test does it for every
kind at once (conferences, users, media documents and their WAV files, chat messages, call logs),
many times, and checks that the restart sweeps the temporary files a crash leaves."""
import hashlib
import http.client
import io
import json
import math
import os
import random
import re
import sqlite3
import struct
import threading
import time
import wave

import pytest

from conftest import Server

WORKERS = 4
RUN_BEFORE_KILL = 1.2  # seconds of load before SIGKILL; the workers keep going through the kill


def strip_live(doc):
    return {k: v for k, v in doc.items() if k not in ("_read_only", "focus")}


class Client:
    """One keep-alive connection."""

    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.token = token

    def call(self, method, path, body=None, raw=None, content_type="application/json"):
        payload = raw if raw is not None else json.dumps(body).encode() if body is not None \
            else None
        headers = {"X-Auth-Token": self.token, "Content-Type": content_type}
        self.conn.request(method, path, body=payload, headers=headers)
        r = self.conn.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None

    def close(self):
        self.conn.close()


def run_until_killed(server, workers):
    """Runs worker(i, stop) threads, SIGKILLs the server while they run, then joins them."""
    stop = threading.Event()
    errors = []

    def wrap(i):
        try:
            workers(i, stop)
        except Exception as e:  # noqa: BLE001 - recorded and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(WORKERS)]
    for t in threads:
        t.start()
    time.sleep(RUN_BEFORE_KILL)
    server.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    assert not errors, errors


def check_store_file(data_dir):
    """Every row of the store is valid JSON and the database is intact; returns {(kind,id): row}."""
    db = sqlite3.connect(os.path.join(data_dir, "confab.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT kind, id, account_id, revision, body FROM docs").fetchall()
    finally:
        db.close()
    out = {}
    for kind, id_, account_id, revision, body in rows:
        doc = json.loads(body)  # raises on an unreadable row
        assert isinstance(doc, dict), (kind, id_)
        assert isinstance(revision, int) and revision >= 1
        out[(kind, id_)] = (account_id, revision, doc)
    return out


def is_disconnect(e):
    return isinstance(e, (ConnectionError, http.client.HTTPException, TimeoutError, OSError))


def test_acknowledged_creates_survive_sigkill(tmp_path):
    data_dir = tmp_path / "var"
    s1 = Server(data_dir).start()
    account_id, token = s1.new_account("acme")
    base = f"/v2/accounts/{account_id}/conferences"
    acked = {}  # id -> document as acknowledged
    lock = threading.Lock()
    refused = []

    def worker(i, stop):
        c = Client(s1.port, token)
        n = 0
        try:
            while not stop.is_set():
                n += 1
                body = {"data": {"name": f"w{i}-{n}", "worker": i, "seq": n,
                                 "conference_numbers": [f"{i + 1}{n:06d}"],
                                 "member": {"pins": [str(1000 + n)]},
                                 "ui_metadata": {"note": "x" * (n % 200)}}}
                try:
                    status, j = c.call("PUT", base, body)
                except Exception as e:  # the server died mid-request
                    assert is_disconnect(e), repr(e)
                    return
                if status == 201:
                    with lock:
                        acked[j["data"]["id"]] = j["data"]
                else:
                    refused.append((status, j))
        finally:
            c.close()

    run_until_killed(s1, worker)
    assert not refused, refused[:3]
    assert len(acked) >= 20, f"only {len(acked)} creates acknowledged before the kill"

    rows = check_store_file(str(data_dir))
    for cid, doc in acked.items():
        assert ("conference", cid) in rows, f"acknowledged conference {cid} lost"
        acct, revision, body = rows[("conference", cid)]
        assert acct == account_id and revision == 1
        assert body["name"] == doc["name"]

    s2 = Server(data_dir).start()
    try:
        status_list = s2.request("GET", base, token=token)
        assert status_list.status == 200, status_list
        listed = {c["id"]: c for c in status_list.data}
        assert set(acked) <= set(listed)
        stored = {k[1] for k in rows if k[0] == "conference"}
        assert set(listed) == stored  # the list is exactly what the store holds
        for cid, doc in acked.items():
            r = s2.request("GET", f"{base}/{cid}", token=token)
            assert r.status == 200 and r.json is not None, r
            assert strip_live(r.data) == strip_live(doc)
            assert r.json["revision"].startswith("1-")
            assert listed[cid]["name"] == doc["name"]
        for cid in set(listed) - set(acked):  # committed but unacknowledged: still readable
            r = s2.request("GET", f"{base}/{cid}", token=token)
            assert r.status == 200 and r.json is not None, r
        # The unique-number index was rebuilt from the store.
        some = next(iter(acked.values()))
        r = s2.request("PUT", base, {"data": {"name": "dup",
                                              "conference_numbers": some["conference_numbers"]}},
                       token=token)
        assert r.status == 400, r
        assert r.data["numbers"]["unique"]["message"] == "Numbers already in use"
        # And the restarted server takes new writes.
        r = s2.request("PUT", base, {"data": {"name": "after-restart"}}, token=token)
        assert r.status == 201, r
    finally:
        assert s2.stop() == 0


def test_acknowledged_patches_survive_sigkill(tmp_path):
    data_dir = tmp_path / "var"
    s1 = Server(data_dir).start()
    account_id, token = s1.new_account("acme")
    base = f"/v2/accounts/{account_id}/conferences"
    per_worker = 2
    confs = []
    for i in range(WORKERS * per_worker):
        r = s1.request("PUT", base, {"data": {"name": f"c{i}", "counter": 0}}, token=token)
        assert r.status == 201, r
        confs.append(r.data["id"])
    last = {cid: (1, 0) for cid in confs}  # id -> (acknowledged revision, counter)
    lock = threading.Lock()
    refused = []

    def worker(i, stop):
        mine = confs[i * per_worker:(i + 1) * per_worker]
        c = Client(s1.port, token)
        n = 0
        try:
            while not stop.is_set():
                n += 1
                cid = mine[n % per_worker]
                counter = last[cid][1] + 1
                body = {"data": {"counter": counter, "member": {"pins": [str(counter)]},
                                 "ui_metadata": {"pad": "p" * (counter % 300)}}}
                try:
                    status, j = c.call("PATCH", f"{base}/{cid}", body)
                except Exception as e:
                    assert is_disconnect(e), repr(e)
                    return
                if status != 200:
                    refused.append((status, j))
                    return
                rev = int(re.match(r"^(\d+)-", j["revision"]).group(1))
                assert j["data"]["counter"] == counter
                with lock:
                    last[cid] = (rev, counter)
        finally:
            c.close()

    run_until_killed(s1, worker)
    assert not refused, refused[:3]
    assert sum(c for _, c in last.values()) >= 20, last

    rows = check_store_file(str(data_dir))
    s2 = Server(data_dir).start()
    try:
        for cid, (rev, counter) in last.items():
            r = s2.request("GET", f"{base}/{cid}", token=token)
            assert r.status == 200 and r.json is not None, r
            got_rev = int(r.json["revision"].split("-")[0])
            got = r.data["counter"]
            # Each conference had at most one unacknowledged PATCH in flight at the kill.
            assert (got_rev, got) in ((rev, counter), (rev + 1, counter + 1)), \
                (cid, (rev, counter), (got_rev, got))
            assert got_rev == got + 1  # revision 1 was the create
            assert r.data["member"]["pins"] == ([str(got)] if got else [])
            assert r.data["name"] == f"c{confs.index(cid)}"  # PATCH kept the other keys
            assert rows[("conference", cid)][1] == got_rev
            assert rows[("conference", cid)][2]["counter"] == got
    finally:
        assert s2.stop() == 0


def test_acknowledged_deletes_stay_deleted_after_sigkill(tmp_path):
    data_dir = tmp_path / "var"
    s1 = Server(data_dir).start()
    account_id, token = s1.new_account("acme")
    base = f"/v2/accounts/{account_id}/conferences"
    created, deleted, delete_sent = set(), set(), set()
    lock = threading.Lock()

    def worker(i, stop):
        c = Client(s1.port, token)
        n = 0
        try:
            while not stop.is_set():
                n += 1
                try:
                    status, j = c.call("PUT", base, {"data": {"name": f"d{i}-{n}",
                                                              "conference_numbers": [f"9{i}{n:05d}"]}})
                    if status != 201:
                        return
                    cid = j["data"]["id"]
                    with lock:
                        created.add(cid)
                    if n % 2:
                        continue
                    with lock:
                        delete_sent.add(cid)
                    status, j = c.call("DELETE", f"{base}/{cid}")
                    if status == 200 and j["data"] == {"id": cid, "_deleted": True}:
                        with lock:
                            deleted.add(cid)
                except Exception as e:
                    assert is_disconnect(e), repr(e)
                    return
        finally:
            c.close()

    run_until_killed(s1, worker)
    assert len(deleted) >= 5 and len(created - deleted) >= 5, (len(created), len(deleted))
    rows = check_store_file(str(data_dir))
    stored = {k[1] for k in rows if k[0] == "conference"}
    assert not (deleted & stored), "acknowledged deletes came back"
    s2 = Server(data_dir).start()
    try:
        listed = {c["id"] for c in s2.request("GET", base, token=token).data}
        assert not (deleted & listed)
        # Everything acknowledged as created, and never asked to be deleted, is there.
        assert (created - delete_sent) <= listed
        assert listed == stored
        for cid in list(deleted)[:20]:
            r = s2.request("GET", f"{base}/{cid}", token=token)
            assert r.status == 404 and r.json["message"] == "bad_identifier", r
    finally:
        assert s2.stop() == 0


# --- every kind of write at once, killed at a random moment, many times --------------------------
#
# CONFAB_CRASH_TRIALS sets the number of trials (8 in `make test`; scripts/crash-trials runs 50);
# CONFAB_CRASH_REPORT names a JSON-lines file that gets one line per trial (what was acknowledged,
# what was lost or torn, which temporary files the restart swept).

TRIALS = int(os.environ.get("CONFAB_CRASH_TRIALS", "8"))
REPORT = os.environ.get("CONFAB_CRASH_REPORT")
PASSWORD = "crash-pass-1"


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def tone_wav(seed):
    """A distinct small WAV per upload (its rate, length and tone come from `seed`)."""
    rate = (8000, 16000)[seed % 2]
    n = rate // 20 * (2 + seed % 5)  # 100..300 ms
    hz = 200 + 37 * (seed % 50)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * hz * i / rate)))
                               for i in range(n)))
    return buf.getvalue()


class Acks:
    """What the clients were told, kept under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.confs = {}        # id -> name
        self.patch = {}        # id -> [acknowledged counter, counter in flight or None]
        self.users = {}        # id -> username
        self.media = {}        # id -> name
        self.uploads = {}      # media id -> [bytes sent, in order]
        self.upload_ack = {}   # media id -> index in uploads of the last acknowledged upload
        self.chat = {}         # body -> seq, as acknowledged (alice's copy)
        self.calls = set()     # durations of acknowledged call logs
        self.counts = {k: 0 for k in ("conference", "patch", "user", "media", "upload", "chat",
                                      "call_log")}

    def count(self, kind):
        with self.lock:
            self.counts[kind] += 1


def drumee_ok(status, j):
    return status == 200 and j is not None and j.get("__status__") == "ok"


def all_kinds_workers(port, world, acks):
    A, tok, hub = world["account"], world["token"], world["hub"]
    users = world["users"]

    def conferences(stop):
        c = Client(port, tok)
        base = f"/v2/accounts/{A}/conferences"
        n, mine = 0, None
        while not stop.is_set():
            n += 1
            if mine and n % 3 == 0:
                with acks.lock:
                    counter = acks.patch[mine][0] + 1
                    acks.patch[mine][1] = counter
                status, j = c.call("PATCH", f"{base}/{mine}", {"data": {"counter": counter}})
                assert status == 200 and j["data"]["counter"] == counter, (status, j)
                with acks.lock:
                    acks.patch[mine] = [counter, None]
                acks.count("patch")
                continue
            name = f"conf-{n}"
            status, j = c.call("PUT", base, {"data": {"name": name, "counter": 0,
                                                      "conference_numbers": [f"5{n:06d}"]}})
            assert status == 201, (status, j)
            with acks.lock:
                acks.confs[j["data"]["id"]] = name
                if mine is None:
                    mine = j["data"]["id"]
                    acks.patch[mine] = [0, None]
            acks.count("conference")

    def users_(stop):
        c = Client(port, tok)
        n = 0
        while not stop.is_set():
            n += 1
            name = f"user-{n}"
            status, j = c.call("PUT", f"/v2/accounts/{A}/users",
                               {"data": {"username": name, "password": PASSWORD,
                                         "first_name": "U", "last_name": str(n)}})
            assert status == 201, (status, j)
            with acks.lock:
                acks.users[j["data"]["id"]] = name
            acks.count("user")

    def media(stop):
        c = Client(port, tok)
        n = 0
        while not stop.is_set():
            n += 1
            status, j = c.call("PUT", f"/v2/accounts/{A}/media", {"data": {"name": f"m-{n}"}})
            assert status == 201, (status, j)
            mid = j["data"]["id"]
            with acks.lock:
                acks.media[mid] = f"m-{n}"
                acks.uploads[mid] = []
            acks.count("media")
            for k in range(1 + n % 2):  # every other document gets its file replaced
                wav = tone_wav(n * 2 + k)
                with acks.lock:
                    acks.uploads[mid].append(wav)
                status, j = c.call("POST", f"/v2/accounts/{A}/media/{mid}/raw", raw=wav,
                                   content_type="audio/wav")
                assert status == 200 and j["data"]["content_length"] == len(wav), (status, j)
                with acks.lock:
                    acks.upload_ack[mid] = len(acks.uploads[mid]) - 1
                acks.count("upload")

    def chat(stop):
        c = Client(port, world["tokens"]["alice"])
        n = 0
        while not stop.is_set():
            n += 1
            body = f"chat-{n}-" + "x" * (n % 300)
            status, j = c.call("POST", "/-/svc/chat.post",
                               {"peer_id": users["bob"], "message": body})
            assert drumee_ok(status, j), (status, j)
            with acks.lock:
                acks.chat[body] = j["data"]["seq"]
            acks.count("chat")

    def calls(stop):
        c = Client(port, world["tokens"]["alice"])
        n = 0
        while not stop.is_set():
            n += 1
            status, j = c.call("POST", "/-/svc/conference.logCall",
                               {"callee": {"entity_id": users["carol"]}, "event": "leave",
                                "duration": n, "hub_id": hub})
            assert drumee_ok(status, j), (status, j)
            with acks.lock:
                acks.calls.add(n)
            acks.count("call_log")

    return [conferences, users_, media, chat, calls]


def setup_world(s):
    account_id, token = s.new_account("acme")
    users, tokens = {}, {}
    for name in ("alice", "bob", "carol"):
        r = s.request("PUT", f"/v2/accounts/{account_id}/users",
                      {"data": {"username": name, "password": PASSWORD, "first_name": name,
                                "last_name": "Doe"}}, token=token)
        assert r.status == 201, r
        users[name] = r.data["id"]
        r = s.request("PUT", "/v2/user_auth", {"data": {"credentials": md5(f"{name}:{PASSWORD}"),
                                                        "account_name": "acme"}})
        assert r.status == 201, r
        tokens[name] = r.json["auth_token"]
    r = s.request("PUT", f"/v2/accounts/{account_id}/hubs",
                  {"data": {"name": "Team", "owner_id": users["alice"], "privileges": {}}},
                  token=token)
    assert r.status == 201, r
    return {"account": account_id, "token": token, "users": users, "tokens": tokens,
            "hub": r.data["id"]}


def channel(s, token, room_id):
    """Every message of a channel, oldest first, paging back with `before`."""
    out, before = [], 0
    for _ in range(1000):
        params = {"room_id": room_id, "limit": 200}
        if before:
            params["before"] = before
        r = s.request("POST", "/-/svc/chat.messages", params, token=token)
        assert r.status == 200 and r.json["__status__"] == "ok", r
        page = r.json["data"]["messages"]
        out.extend(page)
        if len(page) < 200:
            return list(reversed(out))
        before = page[-1]["seq"]
    raise AssertionError("more than 200000 messages?")


def stray_temp_files(data_dir):
    found = []
    for area in ("media", "recordings"):
        for root, _, files in os.walk(os.path.join(data_dir, area)):
            found += [os.path.join(root, f) for f in files if f.endswith(".tmp")]
    if os.path.exists(os.path.join(data_dir, "secret.key.tmp")):
        found.append(os.path.join(data_dir, "secret.key.tmp"))
    return found


def verify_all_kinds(s2, data_dir, world, acks, problems):
    """Appends to `problems` each acknowledged write that is missing ("lost ...") and each
    document or message that is not whole ("torn ...")."""
    A, tok, users = world["account"], world["token"], world["users"]
    tokens = world["tokens"]
    rows = check_store_file(data_dir)  # integrity_check, every document row is JSON
    db = sqlite3.connect(os.path.join(data_dir, "confab.db"))
    try:
        for room_id, seq, body in db.execute("SELECT room_id, seq, body FROM messages"):
            if not isinstance(json.loads(body), dict):
                problems.append(f"torn message {room_id}#{seq}")
    finally:
        db.close()

    # Conferences: every acknowledged create, and each PATCH as acknowledged (or the one that
    # was in flight).
    listed = {c["id"] for c in ok_list(s2, f"/v2/accounts/{A}/conferences", tok)}
    for cid, name in acks.confs.items():
        r = s2.request("GET", f"/v2/accounts/{A}/conferences/{cid}", token=tok)
        if r.status != 200 or cid not in listed:
            problems.append(f"lost conference {cid}")
        elif r.data["name"] != name:
            problems.append(f"torn conference {cid}: {r.data}")
        elif cid in acks.patch:
            acked, inflight = acks.patch[cid]
            if r.data["counter"] not in (acked, inflight):
                problems.append(f"lost patch of {cid}: counter {r.data['counter']}, "
                                f"acknowledged {acked}, in flight {inflight}")
    if listed != {k[1] for k in rows if k[0] == "conference"}:
        problems.append("the conference list is not what the store holds")

    # Users: listed, readable, and able to log in (their credential hash was stored whole).
    listed = {u["id"] for u in ok_list(s2, f"/v2/accounts/{A}/users", tok)}
    for uid, name in acks.users.items():
        r = s2.request("GET", f"/v2/accounts/{A}/users/{uid}", token=tok)
        if r.status != 200 or uid not in listed:
            problems.append(f"lost user {uid}")
        elif r.data["username"] != name:
            problems.append(f"torn user {uid}: {r.data}")
    for uid, name in list(acks.users.items())[-3:]:
        r = s2.request("PUT", "/v2/user_auth", {"data": {"credentials": md5(f"{name}:{PASSWORD}"),
                                                         "account_name": "acme"}})
        if r.status != 201:
            problems.append(f"user {name} cannot log in after the restart: {r}")

    # Media: a document's file is exactly one of the uploads sent to it, and at least the last
    # acknowledged one; a document that says it has no file had no acknowledged upload.
    docs = {m["id"]: m for m in ok_list(s2, f"/v2/accounts/{A}/media", tok)}
    for mid in acks.media:
        if mid not in docs:
            problems.append(f"lost media {mid}")
    for mid, sent in acks.uploads.items():
        if mid not in docs:
            continue
        r = s2.request("GET", f"/v2/accounts/{A}/media/{mid}", token=tok)
        doc = r.data if r.status == 200 else {}
        raw = s2.request("GET", f"/v2/accounts/{A}/media/{mid}/raw", token=tok)
        acked = acks.upload_ack.get(mid)
        if "content_length" not in doc:
            if acked is not None:
                problems.append(f"lost upload to {mid}")
            elif raw.status != 404:
                problems.append(f"torn media {mid}: no content_length, raw answers {raw}")
            continue
        if raw.status != 200 or raw.content not in sent:
            problems.append(f"torn upload to {mid}: {len(raw.content)} bytes, not one sent")
        elif doc["content_length"] != len(raw.content):
            problems.append(f"torn media {mid}: content_length {doc['content_length']}, "
                            f"file {len(raw.content)} bytes")
        elif acked is not None and sent.index(raw.content) < acked:
            problems.append(f"lost upload to {mid}: an older file is back")
    if stray_temp_files(data_dir):
        problems.append(f"temporary files after the restart: {stray_temp_files(data_dir)}")

    # Chat: both copies of every direct message (all or none), numbered 1..N without a gap.
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    mine = channel(s2, tokens["alice"], f"dm:{alice}:{bob}")
    theirs = channel(s2, tokens["bob"], f"dm:{bob}:{alice}")
    for msgs, room in ((mine, "alice's"), (theirs, "bob's")):
        if [m["seq"] for m in msgs] != list(range(1, len(msgs) + 1)):
            problems.append(f"torn chat: {room} channel is not numbered 1..N")
    bodies = [m["body"] for m in mine]
    if sorted(bodies) != sorted(m["body"] for m in theirs) or len(set(bodies)) != len(bodies):
        problems.append("torn chat: the two copies of the direct messages differ")
    by_body = {m["body"]: m["seq"] for m in mine}
    for body, seq in acks.chat.items():
        if by_body.get(body) != seq:
            problems.append(f"lost chat message {seq}")
    # Call logs: in the caller's and the callee's channel, or in neither.
    caller = [m for m in channel(s2, tokens["alice"], f"dm:{alice}:{carol}") if m["kind"] == "call"]
    callee = [m for m in channel(s2, tokens["carol"], f"dm:{carol}:{alice}") if m["kind"] == "call"]
    got = [m["metadata"]["duration"] for m in caller]
    if sorted(got) != sorted(m["metadata"]["duration"] for m in callee):
        problems.append("torn call log: the caller's and the callee's channels differ")
    for d in acks.calls - set(got):
        problems.append(f"lost call log {d}")
    return len(mine)


def ok_list(s, path, token):
    r = s.request("GET", path, token=token)
    assert r.status == 200, r
    return r.data


@pytest.mark.parametrize("trial", range(TRIALS))
def test_every_kind_of_acknowledged_write_survives_sigkill(tmp_path, trial):
    data_dir = str(tmp_path / "var")
    s1 = Server(data_dir).start()
    world = setup_world(s1)
    acks = Acks()
    stop = threading.Event()
    errors = []

    def wrap(fn):
        try:
            fn(stop)
        except Exception as e:  # noqa: BLE001
            if not stop.is_set() or not is_disconnect(e):
                errors.append(repr(e))

    threads = [threading.Thread(target=wrap, args=(fn,), daemon=True)
               for fn in all_kinds_workers(s1.port, world, acks)]
    for t in threads:
        t.start()
    # The kill comes at a random moment once every kind has been acknowledged at least once.
    deadline = time.time() + 60
    while time.time() < deadline and not errors:
        with acks.lock:
            if all(acks.counts[k] for k in acks.counts if k != "patch"):
                break
        time.sleep(0.01)
    delay = random.uniform(0, 1.5)
    time.sleep(delay)
    stop.set()
    s1.kill()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    assert not errors, errors
    assert all(acks.counts[k] for k in acks.counts if k != "patch"), acks.counts

    left = stray_temp_files(data_dir)
    # One more, planted, so that every trial proves the sweep (a crash leaves one only when it
    # lands inside an upload).
    planted = os.path.join(data_dir, "media", world["account"], ".planted.wav.1.1.tmp")
    os.makedirs(os.path.dirname(planted), exist_ok=True)
    with open(planted, "wb") as f:
        f.write(b"RIFF half")
    problems = []
    s2 = Server(data_dir).start()
    try:
        swept = [l for l in s2.log_lines if "removed stray temporary file" in l]
        if len(swept) != len(left) + 1 or not any(planted in l for l in swept):
            problems.append(f"sweep: {len(swept)} logged, {len(left) + 1} expected")
        n = verify_all_kinds(s2, data_dir, world, acks, problems)
        # The restarted server numbers on from the stored messages and takes new writes.
        r = s2.request("POST", "/-/svc/chat.post",
                       {"peer_id": world["users"]["bob"], "message": "after"},
                       token=world["tokens"]["alice"])
        if r.status != 200 or r.json["data"]["seq"] != n + 1:
            problems.append(f"chat after the restart: {r}")
    finally:
        code = s2.stop()
        if code != 0:
            problems.append(f"restarted server exited {code}")
        if REPORT:
            with open(REPORT, "a") as f:
                f.write(json.dumps({"trial": trial, "kill_after_s": round(delay, 3),
                                    "acked": acks.counts, "stray_tmp_swept": len(left),
                                    "installs_settled": sum("settled a file install" in l
                                                            for l in s2.log_lines),
                                    "files_restored": sum("previous file restored" in l
                                                          for l in s2.log_lines),
                                    "lost": [p for p in problems if p.startswith("lost")],
                                    "torn": [p for p in problems if p.startswith("torn")],
                                    "problems": problems}) + "\n")
    assert not problems, problems

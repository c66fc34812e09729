"""A write acknowledged to a client survives SIGKILL: the server is killed in the middle of a burst
of creates / updates / deletes, restarted on the same data dir, and every acknowledged change must
be there, every document readable, every stored row valid JSON."""
import http.client
import json
import os
import re
import sqlite3
import threading
import time

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

    def call(self, method, path, body=None):
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"X-Auth-Token": self.token, "Content-Type": "application/json"}
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

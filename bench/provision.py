#!/usr/bin/python3
"""Provision a fresh confab server for bench/run.sh (Debian python3 stdlib only).

Reads the server's first-start line {"admin_account_id":..,"api_key":..} from --first-line,
authenticates, and creates:
  - GET_ACCOUNT / GET_CONF: one conference (in the admin account) for the GET-one scenario;
  - LIST_ACCOUNT: a child account holding --list-count conferences for the list scenario;
  - CREATE_ACCOUNT: an empty child account the PUT-create scenario fills;
  - FANOUT_CONF: a conference (admin account) for the WebSocket fan-out scenario.
Prints shell assignments (KEY=value) on stdout; progress goes to stderr.
"""
import argparse
import http.client
import json
import sys
import threading
import time


class Client:
    def __init__(self, port, token=None):
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, data=None, expect=(200, 201)):
        body = None if data is None else json.dumps({"data": data})
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        self.conn.request(method, path, body=body, headers=headers)
        res = self.conn.getresponse()
        raw = res.read()
        if res.status not in expect:
            raise RuntimeError(f"{method} {path}: HTTP {res.status}: {raw[:300]!r}")
        return json.loads(raw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--first-line", required=True, help="file whose first line is the admin JSON")
    ap.add_argument("--list-count", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()

    with open(a.first_line) as f:
        first = json.loads(f.readline())
    admin, api_key = first["admin_account_id"], first["api_key"]

    c = Client(a.port)
    token = c.call("PUT", "/v2/api_auth", {"api_key": api_key})["auth_token"]
    c.token = token

    def conference(account, name):
        return c.call("PUT", f"/v2/accounts/{account}/conferences", {"name": name})["data"]["id"]

    get_conf = conference(admin, "bench-get-one")
    fanout_conf = conference(admin, "bench-fanout")
    list_account = c.call("PUT", "/v2/accounts", {"name": "bench-list"})["data"]["id"]
    create_account = c.call("PUT", "/v2/accounts", {"name": "bench-create"})["data"]["id"]

    # The list: --list-count conferences, written by a few keep-alive connections in parallel
    # (each write is acknowledged only once durable; parallel writers share group commits).
    t0 = time.monotonic()
    errors = []
    counter = iter(range(a.list_count))
    lock = threading.Lock()

    def writer():
        w = Client(a.port, token)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                w.call("PUT", f"/v2/accounts/{list_account}/conferences", {"name": f"list-{i:04d}"})
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(str(e))

    threads = [threading.Thread(target=writer) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("provisioning the list failed: " + errors[0])
    listed = c.call("GET", f"/v2/accounts/{list_account}/conferences")["data"]
    if len(listed) != a.list_count:
        raise RuntimeError(f"list account holds {len(listed)} conferences, expected {a.list_count}")
    print(f"provision: {a.list_count} conferences in {time.monotonic() - t0:.2f} s "
          f"({a.list_count / (time.monotonic() - t0):.0f}/s, {a.threads} connections)",
          file=sys.stderr)

    for k, v in [("TOKEN", token), ("ADMIN_ACCOUNT", admin), ("GET_CONF", get_conf),
                 ("LIST_ACCOUNT", list_account), ("CREATE_ACCOUNT", create_account),
                 ("FANOUT_CONF", fanout_conf)]:
        print(f"{k}={v}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        print(f"provision: {e}", file=sys.stderr)
        sys.exit(1)

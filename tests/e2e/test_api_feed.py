"""The change feed: GET /v2.0/lepton/watch?since=REV (admin), JSON lines."""
import http.client
import json
import queue
import socket
import threading
import time
import urllib.parse

from conftest import Client, api_create, assert_error

CHANGE_OPS = ("create", "update", "delete")


class Watch:
    """One watch stream read line by line (a socket timeout bounds each read)."""

    def __init__(self, url, since, follow=True, timeout=10, headers=None):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        q = f"since={since}" + ("" if follow else "&follow=false")
        h = {"X-Project-Id": "admin-project", "X-Roles": "admin"}
        h.update(headers or {})
        self.conn.request("GET", f"/v2.0/lepton/watch?{q}", headers=h)
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.content_type = self.resp.getheader("Content-Type", "")

    def next(self):
        """The next JSON line, or None at the end of the stream."""
        while True:
            line = self.resp.readline()
            if not line:
                return None
            if line.strip():
                return json.loads(line)

    def all(self):
        out = []
        while (ev := self.next()) is not None:
            out.append(ev)
        return out

    def close(self):
        self.conn.close()


def read_feed(server, since):
    """All lines of a follow=false stream."""
    w = Watch(server.url, since, follow=False)
    assert w.status == 200, w.resp.read()
    assert w.content_type.startswith("application/x-ndjson"), w.content_type
    try:
        return w.all()
    finally:
        w.close()


def head(server):
    """The current global revision, from an (empty-change) snapshot."""
    lines = read_feed(server, 0)
    assert lines[0]["op"] == "snapshot_begin", lines[:2]
    rev = lines[0]["revision"]
    for ev in lines[1:]:
        if ev["op"] in CHANGE_OPS:
            rev = ev["revision"]
    return rev


def seeded_head(server, api):
    """Create one object (so that the head is past 0, which would ask for a
    snapshot) and return the head revision."""
    api_create(api, "network", {"name": "seed"})
    rev = head(server)
    assert rev > 0
    return rev


def changes(lines):
    return [ev for ev in lines if ev["op"] in CHANGE_OPS]


def check_change_lines(lines):
    """Every change line is complete and revisions strictly increase."""
    last = None
    for ev in changes(lines):
        assert set(ev) >= {"op", "revision", "type", "id", "object"}, ev
        assert isinstance(ev["type"], str) and ev["type"], ev
        assert isinstance(ev["object"], dict) and ev["object"].get("id") == ev["id"], ev
        if last is not None:
            assert ev["revision"] > last, (last, ev)
        last = ev["revision"]


def test_tenant_forbidden(server):
    w = Watch(server.url, 0, follow=False, headers={"X-Project-Id": "p1", "X-Roles": ""})
    assert w.status == 403
    body = json.loads(w.resp.read())
    assert body["NeutronError"]["type"]
    w.close()
    api = Client(server.url, "p1", "member")
    assert_error(api.get("/v2.0/lepton/watch?since=0&follow=false"), 403)


def test_bad_since(admin):
    assert_error(admin.get("/v2.0/lepton/watch?since=abc&follow=false"), 400)
    assert_error(admin.get("/v2.0/lepton/watch?since=-5&follow=false"), 400)


def test_snapshot_from_zero(server, api):
    net = api_create(api, "network", {"name": "n"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4})
    port = api_create(api, "port", {"network_id": net["id"], "name": "p"})
    lines = read_feed(server, 0)
    assert lines[0]["op"] == "snapshot_begin", lines
    rev = lines[0]["revision"]
    assert isinstance(rev, int) and rev >= 3
    end = [i for i, ev in enumerate(lines) if ev["op"] == "snapshot_end"]
    assert len(end) == 1, lines
    assert lines[end[0]]["revision"] == rev
    snap = lines[1:end[0]]
    for ev in snap:
        assert ev["op"] == "snapshot" and ev["revision"] == rev, ev
        assert ev["object"]["id"] == ev["id"]
    got = {(ev["type"], ev["id"]) for ev in snap if ev["type"] in ("network", "subnet", "port")}
    assert got == {("network", net["id"]), ("subnet", sub["id"]), ("port", port["id"])}
    objs = {ev["id"]: ev["object"] for ev in snap}
    assert objs[port["id"]]["mac_address"] == port["mac_address"]
    assert objs[port["id"]]["fixed_ips"] == port["fixed_ips"]
    assert objs[sub["id"]]["cidr"] == "10.0.0.0/24"
    assert objs[net["id"]]["name"] == "n"
    # Nothing changed after the snapshot.
    assert changes(lines) == []


def test_deleted_objects_not_in_snapshot(server, api):
    keep = api_create(api, "network", {"name": "keep"})
    gone = api_create(api, "network", {"name": "gone"})
    assert api.delete(f"/v2.0/networks/{gone['id']}").status == 204
    lines = read_feed(server, 0)
    snap_ids = {ev["id"] for ev in lines if ev["op"] == "snapshot"}
    assert keep["id"] in snap_ids and gone["id"] not in snap_ids


def test_changes_since(server, api):
    r0 = seeded_head(server, api)
    net = api_create(api, "network", {"name": "n"})
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "n2"}})
    assert r.status == 200
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4})
    port = api_create(api, "port", {"network_id": net["id"]})
    assert api.delete(f"/v2.0/ports/{port['id']}").status == 204
    lines = read_feed(server, r0)
    assert not [ev for ev in lines if ev["op"].startswith("snapshot")], lines
    check_change_lines(lines)
    ch = changes(lines)
    assert ch[0]["revision"] > r0
    mine = [(ev["op"], ev["type"], ev["id"]) for ev in ch
            if (ev["op"], ev["type"]) in {("create", "network"), ("update", "network"),
                                          ("create", "subnet"), ("create", "port"),
                                          ("delete", "port")}]
    expected = [("create", "network", net["id"]), ("update", "network", net["id"]),
                ("create", "subnet", sub["id"]), ("create", "port", port["id"]),
                ("delete", "port", port["id"])]
    # Other network updates (its subnets changed) may come in between.
    it = iter(mine)
    assert all(e in it for e in expected), mine
    first_update = next(ev for ev in ch if ev["op"] == "update" and ev["type"] == "network")
    assert first_update["object"]["name"] == "n2"
    deleted = [ev for ev in ch if ev["op"] == "delete"]
    assert deleted[-1]["object"]["mac_address"] == port["mac_address"]  # the last state


def test_one_revision_per_write(server, api):
    r0 = seeded_head(server, api)
    net = api_create(api, "network", {"name": "a"})
    assert api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "b"}}).status == 200
    assert api.delete(f"/v2.0/networks/{net['id']}").status == 204
    every = changes(read_feed(server, r0))
    ch = [ev for ev in every if ev["type"] == "network"]
    assert [ev["op"] for ev in ch] == ["create", "update", "delete"]
    assert [ev["id"] for ev in ch] == [net["id"]] * 3
    # Each change bumps the global revision by one: no gaps, no repeats (a
    # network's own segment may be a change of its own).
    assert [ev["revision"] for ev in every] == list(range(r0 + 1, r0 + 1 + len(every)))
    assert len(every) <= 6
    # A refused write changes nothing and bumps nothing.
    r1 = head(server)
    assert api.post("/v2.0/networks", {"network": {"bogus": 1}}).status == 400
    assert head(server) == r1
    assert changes(read_feed(server, r1)) == []


def test_revisions_are_global_across_projects(server, api):
    r0 = seeded_head(server, api)
    a = api_create(api, "network", {"name": "a"})
    b = api_create(api.as_("p2"), "network", {"name": "b"})
    ch = changes(read_feed(server, r0))
    by_id = {ev["id"]: ev["revision"] for ev in ch if ev["op"] == "create"}
    assert by_id[a["id"]] < by_id[b["id"]]


def test_resume_no_gaps_no_duplicates(server, api):
    r0 = seeded_head(server, api)
    for i in range(6):
        api_create(api, "network", {"name": f"n{i}"})
    first = changes(read_feed(server, r0))
    assert len([ev for ev in first if ev["type"] == "network"]) == 6
    check_change_lines(first)
    # Reconnect from the middle: exactly the tail, in the same order.
    mid = first[2]["revision"]
    tail = changes(read_feed(server, mid))
    assert tail == first[3:]
    # More changes; reconnect from the last revision seen.
    last = first[-1]["revision"]
    n = api_create(api, "network", {"name": "later"})
    assert api.put(f"/v2.0/networks/{n['id']}", {"network": {"name": "later2"}}).status == 200
    more = changes(read_feed(server, last))
    assert [(ev["op"], ev["id"]) for ev in more if ev["type"] == "network"] == [
        ("create", n["id"]), ("update", n["id"])]
    assert more[0]["revision"] > last
    # Caught up: nothing after the head.
    assert changes(read_feed(server, more[-1]["revision"])) == []


def test_since_older_than_retention_gives_snapshot(make_server):
    s = make_server(config="feed_retention = 3\n").start()
    api = Client(s.url, "p1")
    nets = [api_create(api, "network", {"name": f"n{i}"}) for i in range(8)]
    lines = read_feed(s, 1)
    assert lines[0]["op"] == "snapshot_begin", lines[:3]
    rev = lines[0]["revision"]
    snap = {ev["id"] for ev in lines if ev["op"] == "snapshot"}
    assert {n["id"] for n in nets} <= snap
    assert lines[len(snap) + 1] == {"op": "snapshot_end", "revision": rev}
    # Within the retained window: plain changes.
    recent = read_feed(s, rev - 1)
    assert [ev["op"] for ev in recent] == ["create"]
    assert recent[0]["id"] == nets[-1]["id"] and recent[0]["revision"] == rev


class Follower(threading.Thread):
    """Reads a follow stream into a queue until closed."""

    def __init__(self, url, since, timeout=10):
        super().__init__(daemon=True)
        self.w = Watch(url, since, follow=True, timeout=timeout)
        self.q = queue.Queue()

    def run(self):
        try:
            while (ev := self.w.next()) is not None:
                self.q.put(ev)
        except Exception as e:  # noqa: BLE001 - the socket closes at teardown
            self.q.put(e)
        self.q.put(None)

    def wait_for(self, pred, seconds=10):
        deadline = time.time() + seconds
        seen = []
        while time.time() < deadline:
            try:
                ev = self.q.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if ev is None or isinstance(ev, Exception):
                raise AssertionError(f"stream ended: {ev!r} after {seen}")
            seen.append(ev)
            if pred(ev):
                return ev, seen
        raise AssertionError(f"not seen in {seconds}s; got {seen}")

    def stop(self):
        try:
            self.w.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(5)
        self.w.close()


def test_live_follow(server, api):
    r0 = seeded_head(server, api)
    f = Follower(server.url, r0)
    assert f.w.status == 200
    f.start()
    try:
        time.sleep(0.2)
        net = api_create(api, "network", {"name": "live"})
        ev, seen = f.wait_for(lambda e: e.get("op") == "create" and e.get("id") == net["id"])
        assert ev["type"] == "network" and ev["object"]["name"] == "live"
        assert ev["revision"] > r0
        assert not [e for e in seen if e["op"].startswith("snapshot")]
        api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "live2"}})
        ev2, _ = f.wait_for(lambda e: e.get("op") == "update" and e.get("id") == net["id"])
        assert ev2["revision"] > ev["revision"]
        assert ev2["object"]["name"] == "live2"
    finally:
        f.stop()


def test_live_after_snapshot(server, api):
    old = api_create(api, "network", {"name": "old"})
    f = Follower(server.url, 0)
    f.start()
    try:
        end, seen = f.wait_for(lambda e: e.get("op") == "snapshot_end")
        assert seen[0]["op"] == "snapshot_begin"
        assert old["id"] in {e["id"] for e in seen if e["op"] == "snapshot"}
        new = api_create(api, "network", {"name": "new"})
        ev, _ = f.wait_for(lambda e: e.get("op") == "create" and e.get("id") == new["id"])
        assert ev["revision"] > end["revision"]
    finally:
        f.stop()


def test_idle_stream_pings(make_server):
    s = make_server(config="watch_ping_interval = 1\n").start()
    api = Client(s.url, "p1")
    api_create(api, "network", {"name": "n"})
    rev = head(s)
    f = Follower(s.url, rev, timeout=5)
    f.start()
    try:
        t0 = time.time()
        ping, seen = f.wait_for(lambda e: e.get("op") == "ping", seconds=4)
        assert time.time() - t0 < 4
        assert ping["revision"] == rev
        assert [e["op"] for e in seen] == ["ping"]
    finally:
        f.stop()


def test_concurrent_writes_while_following(server, api):
    r0 = seeded_head(server, api)
    f = Follower(server.url, r0)
    f.start()
    try:
        made, errors = [], []

        def worker(i):
            r = api.post("/v2.0/networks", {"network": {"name": f"c{i}"}})
            (made if r.status == 201 else errors).append(r.json["network"]["id"] if r.status == 201 else r)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        want = set(made)
        got, revs = [], []
        while want - set(got):
            ev, _ = f.wait_for(lambda e: e.get("op") == "create" and e.get("type") == "network")
            got.append(ev["id"])
            revs.append(ev["revision"])
        assert sorted(got) == sorted(made)  # each exactly once
        assert revs == sorted(revs) and len(set(revs)) == len(revs)
    finally:
        f.stop()
    # A reconnect from r0 sees the same 16 creates, in the same order.
    again = [ev["id"] for ev in changes(read_feed(server, r0)) if ev["type"] == "network"]
    assert again == got


def test_cascade_delete_reported(server, api, admin):
    """Deleting a network reports the deletion of its subnets and DHCP port too,
    so that a consumer of the feed keeps no stale objects."""
    r0 = seeded_head(server, api)
    net = api_create(api, "network", {"name": "n"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4})
    dhcp = api_create(admin, "port", {"network_id": net["id"], "device_owner": "network:dhcp",
                                      "project_id": "p1"})
    r1 = head(server)
    assert api.delete(f"/v2.0/networks/{net['id']}").status == 204
    ch = changes(read_feed(server, r1))
    check_change_lines(ch)
    deleted = {(ev["type"], ev["id"]) for ev in ch if ev["op"] == "delete"}
    assert {("network", net["id"]), ("subnet", sub["id"]), ("port", dhcp["id"])} <= deleted
    # Replaying the whole feed from r0 leaves none of them alive.
    alive = {}
    for ev in changes(read_feed(server, r0)):
        if ev["op"] == "delete":
            alive.pop(ev["id"], None)
        else:
            alive[ev["id"]] = ev
    assert not {net["id"], sub["id"], dhcp["id"]} & set(alive)


def test_replay_matches_api_state(server, api, admin):
    """Applying snapshot + changes reproduces what the API shows."""
    seeded_head(server, api)
    snap = read_feed(server, 0)
    state = {ev["id"]: ev["object"] for ev in snap if ev["op"] == "snapshot"}
    last = snap[0]["revision"]
    net = api_create(api, "network", {"name": "n"})
    api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    ports_ = [api_create(api, "port", {"network_id": net["id"]}) for _ in range(3)]
    api.put(f"/v2.0/ports/{ports_[0]['id']}", {"port": {"name": "renamed"}})
    api.delete(f"/v2.0/ports/{ports_[1]['id']}")
    for ev in changes(read_feed(server, last)):
        if ev["op"] == "delete":
            state.pop(ev["id"], None)
        else:
            state[ev["id"]] = ev["object"]
    api_ports = {p["id"]: p for p in admin.get("/v2.0/ports").json["ports"]}
    feed_ports = {i: o for i, o in state.items() if "mac_address" in o}
    assert set(feed_ports) == set(api_ports)
    for pid, p in api_ports.items():
        assert feed_ports[pid]["name"] == p["name"]
        assert feed_ports[pid]["fixed_ips"] == p["fixed_ips"]
        assert feed_ports[pid]["revision_number"] == p["revision_number"]

"""The change feed: GET /v2.0/lepton/watch?since=REV (admin), JSON lines."""
import http.client
import json
import os
import queue
import socket
import threading
import time
import urllib.parse

import pytest

from conftest import Client, api_create, assert_error

CHANGE_OPS = ("create", "update", "delete")
# Over etcd (LEPTON_E2E_STORE=etcd, conftest.py) a revision is etcd's: one per
# transaction, shared by the changes one request made. SQLite: one per change.
PER_TXN = os.environ.get("LEPTON_E2E_STORE") == "etcd"


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
    """Every change line is complete and revisions strictly increase (over
    etcd: never decrease)."""
    last = None
    for ev in changes(lines):
        assert set(ev) >= {"op", "revision", "type", "id", "object"}, ev
        assert isinstance(ev["type"], str) and ev["type"], ev
        assert isinstance(ev["object"], dict) and ev["object"].get("id") == ev["id"], ev
        if last is not None:
            assert ev["revision"] > last or (PER_TXN and ev["revision"] == last), (last, ev)
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
    # network's own segment may be a change of its own). Over etcd, each
    # request bumps it once (its changes share it) and other keys' writes
    # may leave gaps.
    if PER_TXN:
        assert ch[0]["revision"] < ch[1]["revision"] < ch[2]["revision"]
        check_change_lines(every)
    else:
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
    assert tail == [ev for ev in first if ev["revision"] > mid]
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
    if PER_TXN:  # the network and what its create made with it
        assert {ev["op"] for ev in recent} == {"create"}
        assert {ev["revision"] for ev in recent} == {rev}
        assert nets[-1]["id"] in [ev["id"] for ev in recent]
        return
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


# ---------------------------------------------------------------------------
# The per-node feed: watch?host=NODE carries only what that node needs.

def node_watch(server, host, follow=False, timeout=10):
    u = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request("GET", f"/v2.0/lepton/watch?since=0&host={host}"
                 + ("" if follow else "&follow=false"),
                 headers={"X-Project-Id": "admin-project", "X-Roles": "admin"})
    return conn


def node_snapshot(server, host):
    """{(type, id): object} of a node's snapshot (follow=false)."""
    conn = node_watch(server, host)
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    lines = [json.loads(x) for x in resp.read().splitlines() if x.strip()]
    conn.close()
    assert lines[0]["op"] == "snapshot_begin" and lines[-1]["op"] == "snapshot_end", lines
    assert all(ev["op"] == "snapshot" for ev in lines[1:-1]), lines
    return {(ev["type"], ev["id"]): ev["object"] for ev in lines[1:-1]}


def full_snapshot(server):
    return {(ev["type"], ev["id"]): ev["object"] for ev in read_feed(server, 0)
            if ev["op"] == "snapshot"}


class NodeFollower(Follower):
    def __init__(self, url, host, timeout=10):
        threading.Thread.__init__(self, daemon=True)
        self.w = Watch(url, f"0&host={host}", follow=True, timeout=timeout)
        assert self.w.status == 200
        self.q = queue.Queue()
        self.state = {}
        self.rev = 0

    def apply(self, seen):
        """Applies lines to self.state as a replica would; checks revisions."""
        for ev in seen:
            if ev["op"] in ("ping", "snapshot_begin"):
                continue
            if ev["op"] == "snapshot_end":
                self.rev = ev["revision"]
                continue
            if ev["op"] == "snapshot":
                self.state[(ev["type"], ev["id"])] = ev["object"]
                continue
            assert ev["revision"] > self.rev, (self.rev, ev)
            self.rev = ev["revision"]
            assert ev["object"]["id"] == ev["id"], ev
            if ev["op"] == "delete":
                assert (ev["type"], ev["id"]) in self.state, ev  # only what it holds
                del self.state[(ev["type"], ev["id"])]
            else:
                assert ev["op"] in ("create", "update"), ev
                assert (ev["op"] == "create") == ((ev["type"], ev["id"]) not in self.state), ev
                self.state[(ev["type"], ev["id"])] = ev["object"]

    def until(self, pred, seconds=10):
        """Reads and applies lines until pred(line); returns the lines."""
        _, seen = self.wait_for(pred, seconds)
        self.apply(seen)
        return seen

    def settle(self, want, seconds=10):
        """Applies lines until the state is `want` (no more changes come)."""
        deadline = time.time() + seconds
        while self.state != want and time.time() < deadline:
            try:
                ev = self.q.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            assert ev is not None and not isinstance(ev, Exception), ev
            self.apply([ev])
        return self.state == want

    def until_all(self, ops_ids, seconds=10):
        """Reads until every (op, id) was seen, in any order."""
        want, seen = set(ops_ids), []
        while want:
            got = self.until(lambda e: (e["op"], e.get("id")) in want, seconds)
            want.discard((got[-1]["op"], got[-1]["id"]))
            seen += got
        return seen


def register(admin, host, tunnel, mode="compute"):
    r = admin.post("/v2.0/lepton/agents/register", {"agent": {
        "host": host, "mode": mode, "tunnel_address": tunnel,
        "physical_networks": {"public": "ext0"}}})
    assert r.status in (200, 201), r
    return r.json["agent"]


def tenant_net(admin, project, cidr):
    c = admin.as_(project)
    net = api_create(c, "network", {"name": f"net-{project}"})
    sub = api_create(c, "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 4})
    return net, sub


def bound_port(admin, net, host, project, **kw):
    return api_create(admin, "port", {"network_id": net["id"], "binding:host_id": host,
                                      "project_id": project, **kw})


def rebind(admin, port, host):
    r = admin.put(f"/v2.0/ports/{port['id']}", {"port": {"binding:host_id": host}})
    assert r.status == 200, r
    return r.json["port"]


def keys(objs, kind):
    return {k[1] for k in objs if k[0] == kind}


def test_node_feed_bad_host(admin):
    for bad in ("", "a%2Fb", "x" * 65, "a%20b"):
        assert_error(admin.get(f"/v2.0/lepton/watch?since=0&follow=false&host={bad}"), 400)
    tenant = Client(admin.url, "p1", "member")
    assert_error(tenant.get("/v2.0/lepton/watch?since=0&follow=false&host=compute-1"), 403)


def test_node_snapshot_holds_its_share(server, admin):
    a1 = register(admin, "compute-1", "192.0.2.1")
    a2 = register(admin, "compute-2", "192.0.2.2")
    a3 = register(admin, "compute-3", "192.0.2.3")
    net_a, sub_a = tenant_net(admin, "pa", "10.1.0.0/24")
    net_b, sub_b = tenant_net(admin, "pb", "10.2.0.0/24")
    pa1 = bound_port(admin, net_a, "compute-1", "pa")
    pa2 = bound_port(admin, net_a, "compute-2", "pa")
    pb1 = bound_port(admin, net_b, "compute-3", "pb")
    unbound = api_create(admin, "port", {"network_id": net_a["id"], "project_id": "pa"})
    snap = node_snapshot(server, "compute-1")
    everything = full_snapshot(server)
    assert set(snap) < set(everything)
    for k, obj in snap.items():
        assert everything[k] == obj, k  # the same documents
    # Its ports, every port of its networks (FDB, ARP), their subnets.
    assert keys(snap, "network") == {net_a["id"]}
    assert keys(snap, "subnet") == {sub_a["id"]}
    assert keys(snap, "port") == {pa1["id"], pa2["id"], unbound["id"]}
    assert keys(snap, "security_group") == set(pa1["security_groups"])
    # Its own agent and the hosts of remote ports on its networks.
    assert keys(snap, "agent") == {a1["id"], a2["id"]}
    # Nothing of the other tenant's network on compute-3.
    for other in (net_b["id"], sub_b["id"], pb1["id"], a3["id"], *pb1["security_groups"]):
        assert other not in {k[1] for k in snap}
    # compute-3 sees only its own.
    snap3 = node_snapshot(server, "compute-3")
    assert keys(snap3, "network") == {net_b["id"]} and keys(snap3, "port") == {pb1["id"]}
    assert keys(snap3, "agent") == {a3["id"]}
    # A node with nothing gets its own registration only; an unknown one nothing.
    assert node_snapshot(server, "compute-9") == {}


def test_node_feed_port_rebound(server, admin):
    register(admin, "compute-1", "192.0.2.1")
    register(admin, "compute-2", "192.0.2.2")
    net_a, _ = tenant_net(admin, "pa", "10.1.0.0/24")
    net_c, sub_c = tenant_net(admin, "pc", "10.3.0.0/24")
    pa1 = bound_port(admin, net_a, "compute-1", "pa")
    f = NodeFollower(server.url, "compute-1")
    f.start()
    try:
        f.until(lambda e: e["op"] == "snapshot_end")
        assert net_c["id"] not in keys(f.state, "network")
        # A port on net C bound elsewhere: nothing reaches compute-1.
        pc = bound_port(admin, net_c, "compute-2", "pc")
        admin.put(f"/v2.0/ports/{pa1['id']}", {"port": {"name": "marker1"}})
        seen = f.until(lambda e: e.get("id") == pa1["id"] and e["op"] == "update")
        assert [(e["op"], e["type"]) for e in seen] == [("update", "port")], seen
        # Bound here: the port, its network, subnet and group enter the view.
        rebind(admin, pc, "compute-1")
        seen = f.until_all({("create", pc["id"]), ("create", sub_c["id"]),
                            ("create", net_c["id"])})
        got = {(e["op"], e["type"], e["id"]) for e in seen}
        assert ("create", "network", net_c["id"]) in got, seen
        assert ("create", "subnet", sub_c["id"]) in got, seen
        assert ("create", "port", pc["id"]) in got, seen
        for sg in pc["security_groups"]:
            assert ("security_group", sg) in f.state
        # The network (made long before) arrives whole, at a new revision.
        ev = next(e for e in seen if e["id"] == net_c["id"])
        assert ev["object"]["name"] == "net-pc" and ev["object"]["mtu"] == net_c["mtu"]
        # Bound elsewhere again: all of them leave compute-1's view.
        rebind(admin, pc, "compute-2")
        seen = f.until_all({("delete", pc["id"]), ("delete", sub_c["id"]),
                            ("delete", net_c["id"])})
        gone = {(e["type"], e["id"]) for e in seen if e["op"] == "delete"}
        assert {("port", pc["id"]), ("subnet", sub_c["id"]),
                ("network", net_c["id"])} <= gone, seen
        assert {k for k in f.state if k[1] in (pc["id"], sub_c["id"], net_c["id"])} == set()
        # What compute-1 holds is its snapshot now.
        admin.put(f"/v2.0/ports/{pa1['id']}", {"port": {"name": "marker2"}})
        f.until(lambda e: e.get("id") == pa1["id"] and e["object"]["name"] == "marker2")
        assert f.state == node_snapshot(server, "compute-1")
    finally:
        f.stop()


def test_node_feed_router_interface(server, admin):
    register(admin, "compute-1", "192.0.2.1")
    register(admin, "compute-2", "192.0.2.2")
    net_a, sub_a = tenant_net(admin, "pa", "10.1.0.0/24")
    c = admin.as_("pa")
    net_d = api_create(c, "network", {"name": "d"})
    sub_d = api_create(c, "subnet", {"network_id": net_d["id"], "cidr": "10.4.0.0/24",
                                     "ip_version": 4})
    pa1 = bound_port(admin, net_a, "compute-1", "pa")
    # Not in pa1's default group (whose members compute-1 gets anyway).
    pd2 = bound_port(admin, net_d, "compute-2", "pa", security_groups=[])
    router = api_create(c, "router", {"name": "r"})
    r = c.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub_a["id"]})
    assert r.status == 200, r
    f = NodeFollower(server.url, "compute-1")
    f.start()
    try:
        f.until(lambda e: e["op"] == "snapshot_end")
        # A distributed router with an interface on a local network.
        assert router["id"] in keys(f.state, "router")
        assert r.json["port_id"] in keys(f.state, "port")
        assert net_d["id"] not in keys(f.state, "network")
        # An interface on net D: its network, subnet and ports (east-west
        # is bridged over VXLAN in D) enter compute-1's view.
        r = c.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                  {"subnet_id": sub_d["id"]})
        assert r.status == 200, r
        iface_d = r.json["port_id"]
        seen = f.until_all({("create", pd2["id"]), ("create", iface_d),
                            ("create", net_d["id"]), ("create", sub_d["id"])})
        got = {(e["op"], e["type"], e["id"]) for e in seen}
        assert {("create", "network", net_d["id"]), ("create", "subnet", sub_d["id"]),
                ("create", "port", pd2["id"]), ("create", "port", iface_d)} <= got, seen
        # compute-2 (a port on D and none on A) gets the router too, and net A.
        snap2 = node_snapshot(server, "compute-2")
        assert router["id"] in keys(snap2, "router")
        assert {net_a["id"], net_d["id"]} <= keys(snap2, "network")
        # Removed: D leaves compute-1's view again, the router stays.
        r = c.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
                  {"subnet_id": sub_d["id"]})
        assert r.status == 200, r
        seen = f.until_all({("delete", pd2["id"]), ("delete", iface_d),
                            ("delete", net_d["id"]), ("delete", sub_d["id"])})
        gone = {(e["type"], e["id"]) for e in seen if e["op"] == "delete"}
        assert {("network", net_d["id"]), ("subnet", sub_d["id"]), ("port", pd2["id"]),
                ("port", iface_d)} <= gone, seen
        assert router["id"] in keys(f.state, "router")
        assert net_d["id"] not in keys(node_snapshot(server, "compute-1"), "network")
        # The router leaves with its last local interface.
        r = c.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
                  {"subnet_id": sub_a["id"]})
        assert r.status == 200, r
        f.until(lambda e: e["op"] == "delete" and e.get("id") == router["id"])
        admin.put(f"/v2.0/ports/{pa1['id']}", {"port": {"name": "marker"}})
        f.until(lambda e: e.get("id") == pa1["id"] and e["object"]["name"] == "marker")
        assert f.state == node_snapshot(server, "compute-1")
    finally:
        f.stop()


def sg_create(c, name):
    r = c.post("/v2.0/security-groups", {"security_group": {"name": name}})
    assert r.status == 201, r
    return r.json["security_group"]


def test_node_feed_remote_group_member(server, admin):
    register(admin, "compute-1", "192.0.2.1")
    register(admin, "compute-2", "192.0.2.2")
    c = admin.as_("pa")
    web, db = sg_create(c, "web"), sg_create(c, "db")
    r = c.post("/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": web["id"], "direction": "ingress", "protocol": "tcp",
        "remote_group_id": db["id"]}})
    assert r.status == 201, r
    net_a, _ = tenant_net(admin, "pa", "10.1.0.0/24")
    net_e, sub_e = tenant_net(admin, "pe", "10.5.0.0/24")
    pa1 = bound_port(admin, net_a, "compute-1", "pa", security_groups=[web["id"]])
    f = NodeFollower(server.url, "compute-1")
    f.start()
    try:
        f.until(lambda e: e["op"] == "snapshot_end")
        assert {web["id"], db["id"]} <= keys(f.state, "security_group")
        # A member of db appears on another node, on a network compute-1
        # does not have: the port comes (its addresses fill the group), its
        # network does not.
        member = bound_port(admin, net_e, "compute-2", "pa", security_groups=[db["id"]])
        seen = f.until(lambda e: e.get("id") == member["id"])
        assert seen[-1]["op"] == "create" and seen[-1]["object"]["fixed_ips"]
        assert net_e["id"] not in keys(f.state, "network")
        assert sub_e["id"] not in keys(f.state, "subnet")
        # It leaves the group: it leaves the view.
        r = admin.put(f"/v2.0/ports/{member['id']}", {"port": {"security_groups": []}})
        assert r.status == 200, r
        seen = f.until(lambda e: e.get("id") == member["id"])
        assert seen[-1]["op"] == "delete", seen
        # The local port drops web: web, db go (nothing references them).
        r = admin.put(f"/v2.0/ports/{pa1['id']}", {"port": {"security_groups": []}})
        assert r.status == 200, r
        # (Both in one batch, in no promised order: wait for the two.)
        gone = {web["id"], db["id"]}
        f.until(lambda e: e["op"] == "delete" and e.get("id") in gone
                and (gone.discard(e["id"]) or not gone))
        assert not {web["id"], db["id"]} & keys(f.state, "security_group")
        assert f.state == node_snapshot(server, "compute-1")
    finally:
        f.stop()


def expected_view(everything, host):
    """The relevance rule (nodeview.c), written again from the documents of
    the whole feed: {(type, id)} node `host` needs."""
    by = {}
    for (kind, i), o in everything.items():
        by.setdefault(kind, {})[i] = o
    ports, routers = by.get("port", {}), by.get("router", {})
    out = set()
    agents = [a for a in by.get("agent", {}).values() if a["host"] == host]
    out |= {("agent", a["id"]) for a in agents}
    network_node = any(a["configurations"]["mode"] == "network" for a in agents)
    phys = agents[0]["configurations"].get("physical_networks", {}) if agents else {}
    lp = {i for i, p in ports.items() if p["binding:host_id"] == host}
    ln = {ports[i]["network_id"] for i in lp
          if not ports[i]["device_owner"].startswith("network:")}
    rt = {i for i, r in routers.items() if r.get("lepton:l3_host") == host}
    rt |= {p["device_id"] for p in ports.values() if p["network_id"] in ln
           and p["device_owner"].startswith("network:router_interface")
           and routers.get(p["device_id"], {}).get("distributed")}
    rp = {i for i, p in ports.items() if p["device_id"] in rt
          and p["device_owner"].startswith("network:router_")}
    net = ln | {ports[i]["network_id"] for i in rp}
    if network_node:
        net |= {i for i, n in by.get("network", {}).items()
                if n.get("lepton:dhcp") == "centralized"}
    out |= {("router", i) for i in rt if i in routers}
    out |= {("port", i) for i in lp | rp}
    out |= {("subnet", ip["subnet_id"]) for i in lp | rp for ip in ports[i]["fixed_ips"]
            if ip["subnet_id"] in by.get("subnet", {})}
    for f in by.get("floatingip", {}).values():
        if f.get("router_id") in rt and (not routers[f["router_id"]].get("distributed")
                                         or f.get("port_id") in lp):
            out.add(("floatingip", f["id"]))
    out |= {("snat_block", i) for i, b in by.get("snat_block", {}).items()
            if b["router_id"] in rt and b["router_id"] in routers}
    hosts = set()
    for n in net:
        doc = by.get("network", {}).get(n)
        if not doc:
            continue
        out.add(("network", n))
        if doc["provider:network_type"] != "vxlan" and \
                doc.get("provider:physical_network") in phys:
            continue
        out |= {("subnet", i) for i, s in by.get("subnet", {}).items() if s["network_id"] == n}
        for i, p in ports.items():
            if p["network_id"] == n:
                out.add(("port", i))
                if p["binding:host_id"]:
                    hosts.add(p["binding:host_id"])
    groups = by.get("security_group", {})
    sg = {g for i in lp for g in ports[i]["security_groups"] if g in groups}
    rg = {r["remote_group_id"] for g in sg for r in groups[g]["security_group_rules"]
          if r.get("remote_group_id")}
    out |= {("security_group", g) for g in sg | (rg & set(groups))}
    out |= {("port", i) for i, p in ports.items() if set(p["security_groups"]) & rg}
    out |= {("agent", a["id"]) for a in by.get("agent", {}).values()
            if a["host"] in hosts or a["configurations"]["mode"] == "network"}
    ifaces = {i for i in rp if ports[i]["device_owner"].startswith("network:router_interface")}
    for g in by.get("firewall_group", {}).values():
        if set(g.get("ports", [])) & ifaces:
            out.add(("firewall_group", g["id"]))
            for d in ("ingress_firewall_policy_id", "egress_firewall_policy_id"):
                pol = by.get("firewall_policy", {}).get(g.get(d))
                if pol:
                    out.add(("firewall_policy", pol["id"]))
                    out |= {("firewall_rule", r) for r in pol["firewall_rules"]
                            if r in by.get("firewall_rule", {})}
    return out


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_node_feed_converges_under_random_changes(make_server, seed):
    """Random changes in any order: each node's stream, applied like a
    replica, equals the node's snapshot, which is the rule applied to the
    whole model, and stays so after a restart (indexes built afresh)."""
    import random
    rnd = random.Random(seed)
    s = make_server().start()
    admin = Client(s.url, "admin-project", "admin")
    hosts = ["h1", "h2", "h3"]
    for i, h in enumerate(hosts):
        register(admin, h, f"192.0.2.{i + 1}")
    register(admin, "net-1", "192.0.2.9", mode="network")
    c = admin.as_("pa")
    public = api_create(admin, "network", {"name": "public", "router:external": True,
                                           "provider:network_type": "flat",
                                           "provider:physical_network": "public"})
    api_create(admin, "subnet", {"network_id": public["id"], "cidr": "100.64.0.0/24",
                                 "ip_version": 4})
    nets, subs = [], []
    for i in range(3):
        n, sb = tenant_net(admin, "pa", f"10.{i}.0.0/24")
        nets.append(n)
        subs.append(sb)
    xn, _ = tenant_net(admin, "pb", "10.9.0.0/24")
    nets.append(xn)
    # Centralized DHCP: the network node needs it, and its ports, wherever.
    cn = api_create(admin, "network", {"name": "central", "project_id": "pa",
                                       "lepton:dhcp": "centralized"})
    subs.append(api_create(admin, "subnet", {"network_id": cn["id"], "project_id": "pa",
                                             "cidr": "10.8.0.0/24", "ip_version": 4}))
    nets.append(cn)
    web, db = sg_create(c, "web"), sg_create(c, "db")
    dvr = api_create(c, "router", {"name": "dvr"})
    legacy = api_create(admin, "router", {"name": "legacy", "project_id": "pa",
                                          "distributed": False})
    for r in (dvr, legacy):
        assert admin.put(f"/v2.0/routers/{r['id']}", {"router": {"external_gateway_info": {
            "network_id": public["id"]}}}).status == 200
    followers = {h: NodeFollower(s.url, h) for h in hosts + ["net-1"]}
    for f in followers.values():
        f.start()
        f.until(lambda e: e["op"] == "snapshot_end")
    ports, ifaces, rule = [], {}, None
    try:
        for step in range(70):
            op = rnd.choice(["port", "port", "rebind", "rebind", "sgs", "delete", "iface",
                             "rule", "fip"])
            if op == "port" or not ports:
                n = rnd.choice(nets)
                proj = "pb" if n is xn else "pa"
                groups = rnd.choice([None, [], [web["id"]], [db["id"]]]) if proj == "pa" else None
                body = {"network_id": n["id"], "project_id": proj,
                        "binding:host_id": rnd.choice(hosts + [""])}
                if groups is not None:
                    body["security_groups"] = groups
                ports.append(api_create(admin, "port", body))
            elif op == "rebind":
                p = rnd.choice(ports)
                rebind(admin, p, rnd.choice(hosts + ["", "net-1"]))
            elif op == "sgs":
                p = rnd.choice(ports)
                if p["project_id"] == "pa":
                    r = admin.put(f"/v2.0/ports/{p['id']}", {"port": {"security_groups": rnd.choice(
                        [[], [web["id"]], [db["id"]], [web["id"], db["id"]]])}})
                    assert r.status == 200, r
            elif op == "delete":
                p = ports.pop(rnd.randrange(len(ports)))
                assert admin.delete(f"/v2.0/ports/{p['id']}").status == 204
            elif op == "iface":
                sb = rnd.choice(subs)
                router = rnd.choice([dvr, legacy])
                key = (router["id"], sb["id"])
                if key in ifaces:
                    r = admin.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
                                  {"subnet_id": sb["id"]})
                    del ifaces[key]
                elif not any(k[1] == sb["id"] for k in ifaces):
                    r = admin.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                                  {"subnet_id": sb["id"]})
                    ifaces[key] = True
                else:
                    continue
                assert r.status == 200, r
            elif op == "rule":
                if rule:
                    assert admin.delete(f"/v2.0/security-group-rules/{rule}").status == 204
                    rule = None
                else:
                    r = c.post("/v2.0/security-group-rules", {"security_group_rule": {
                        "security_group_id": web["id"], "direction": "ingress",
                        "remote_group_id": db["id"]}})
                    assert r.status == 201, r
                    rule = r.json["security_group_rule"]["id"]
            elif op == "fip":
                cand = [p for p in ports if p["project_id"] == "pa"
                        and any((k[1] == p["fixed_ips"][0]["subnet_id"]) for k in ifaces)]
                if cand:
                    p = rnd.choice(cand)
                    r = admin.post("/v2.0/floatingips", {"floatingip": {
                        "floating_network_id": public["id"], "port_id": p["id"],
                        "project_id": "pa"}})
                    assert r.status in (201, 400, 409), r
        everything = full_snapshot(s)
        for h, f in followers.items():
            snap = node_snapshot(s, h)
            assert f.settle(snap), h
            assert set(snap) == expected_view(everything, h), h
            assert set(snap) < set(everything)
        views = {h: node_snapshot(s, h) for h in followers}
        assert ("network", cn["id"]) in views["net-1"]
        assert all(len(v) > 5 for v in views.values())
    finally:
        for f in followers.values():
            f.stop()
    # After a restart the indexes are built from scratch: the same views.
    s.stop()
    s.start()
    for h, v in views.items():
        assert node_snapshot(s, h) == v, h

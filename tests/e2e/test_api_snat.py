"""Distributed SNAT, server side (issue 10, SNAT-CONTRACT.md): port blocks
per (router, node), more blocks on request, a second gateway address when the
first is full, 409 when the gateway subnet is full too, GRACE and expiry, the
SNAT owner and its failover, the per-node feed, concurrency, bad input.

Agents are simulated the way lepton-agent talks to the server: register and
heartbeat with the agents' credential (src/agent/client.c)."""
import calendar
import http.client
import json
import queue
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import Client, api_create, assert_error, cli_binary

TOKEN = {"X-Auth-Token": "s3cret"}
DOWN = 2          # agent_down_time
GRACE = 2         # snat_block_grace
SIZE = 21504      # snat_block_size: three blocks per address
CONFIG = (f"agent_token = s3cret\nagent_down_time = {DOWN}\n"
          f"snat_block_size = {SIZE}\nsnat_block_grace = {GRACE}\n")
BLOCKS = "/v2.0/lepton/snat_blocks"


class Agents:
    """Simulated agents: registered, then heartbeating every 0.3 s until
    stopped (one thread for all)."""

    def __init__(self, url):
        self.c = Client(url, None)
        self.beating = set()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.last = {}
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def add(self, host, mode="compute", physnet="public"):
        r = self.c.post("/v2.0/lepton/agents/register", {"agent": {
            "host": host, "mode": mode, "tunnel_address": "192.0.2.1",
            "physical_networks": {physnet: "ext0"}}}, headers=TOKEN)
        assert r.status in (200, 201), r
        with self.lock:
            self.beating.add(host)
            self.last[host] = time.monotonic()

    def stop(self, host):
        """Stops the host's heartbeats; returns the time of the last one."""
        with self.lock:
            self.beating.discard(host)
            return self.last[host]

    def resume(self, host):
        with self.lock:
            self.beating.add(host)

    def run(self):
        while not self.done.wait(0.3):
            with self.lock:
                hosts = sorted(self.beating)
            for h in hosts:
                t = time.monotonic()
                r = self.c.post("/v2.0/lepton/agents/heartbeat", {"host": h}, headers=TOKEN)
                with self.lock:
                    if r.status == 200 and h in self.beating:
                        self.last[h] = t

    def close(self):
        self.done.set()
        self.t.join()


@pytest.fixture
def srv(make_server):
    return make_server(config=CONFIG).start()


@pytest.fixture
def agents(srv):
    a = Agents(srv.url)
    yield a
    a.close()


@pytest.fixture
def admin(srv):
    return Client(srv.url, "admin-project", "admin")


def cloud(admin, pool=("100.64.0.2", "100.64.0.3"), cidr="10.0.0.0/24"):
    """An external network whose gateway subnet has the pool's addresses, a
    tenant network of p1 and a distributed router (distributed SNAT, the
    default) with a gateway and an interface. Returns (router, subnet, net)."""
    ext = api_create(admin, "network", {"name": "public", "router:external": True,
                                        "provider:network_type": "flat",
                                        "provider:physical_network": "public"})
    api_create(admin, "subnet", {"network_id": ext["id"], "cidr": "100.64.0.0/24",
                                 "ip_version": 4, "allocation_pools": [
                                     {"start": pool[0], "end": pool[1]}]})
    c = admin.as_("p1")
    net = api_create(c, "network", {"name": "n1"})
    sub = api_create(c, "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 4})
    router = api_create(c, "router", {"name": "r1", "external_gateway_info": {
        "network_id": ext["id"]}})
    r = c.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert r.status == 200, r
    router = admin.get(f"/v2.0/routers/{router['id']}").json["router"]
    assert router["distributed"] is True and router["snat_mode"] == "distributed"
    return router, sub, net


def vm(admin, net, host, owner="compute:nova"):
    return api_create(admin, "port", {"network_id": net["id"], "binding:host_id": host,
                                      "device_owner": owner, "project_id": "p1"})


def blocks(admin, query=""):
    r = admin.get(BLOCKS + query)
    assert r.status == 200, r
    return r.json["snat_blocks"]


def router_of(admin, rid):
    return admin.get(f"/v2.0/routers/{rid}").json["router"]


def more(client, router, host, headers=None):
    return client.post(BLOCKS, {"snat_block": {"router_id": router["id"], "host": host}},
                       headers=headers)


def wait_for(pred, timeout=5.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def no_overlap(bs):
    by_ip = {}
    for b in bs:
        by_ip.setdefault(b["ip_address"], []).append((b["port_min"], b["port_max"]))
    for ranges in by_ip.values():
        ranges.sort()
        for (a0, a1), (b0, b1) in zip(ranges, ranges[1:]):
            assert a1 < b0, ranges
        for lo, hi in ranges:
            assert 1024 <= lo <= hi <= 65535
    return by_ip


def test_first_block_on_bind(srv, agents, admin):
    agents.add("c1")
    router, sub, net = cloud(admin)
    gw_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert blocks(admin) == [] and router["lepton:snat_owner"] == ""
    # Ports that are not VMs, or not bound, get nothing.
    vm(admin, net, "", owner="compute:nova")
    vm(admin, net, "c1", owner="")
    assert blocks(admin) == []
    # The first bound VM port: a block in the same request, and the owner.
    vm(admin, net, "c1")
    (b,) = blocks(admin)
    assert {k: b[k] for k in ("router_id", "host", "ip_address", "port_min", "port_max",
                              "status", "expires_at", "project_id")} == {
        "router_id": router["id"], "host": "c1", "ip_address": gw_ip, "port_min": 1024,
        "port_max": 1024 + SIZE - 1, "status": "ACTIVE", "expires_at": None,
        "project_id": "p1"}
    assert set(b) >= {"id", "created_at"}
    assert router_of(admin, router["id"])["lepton:snat_owner"] == "c1"
    # The owner is for admins only.
    tenant = admin.as_("p1")
    assert "lepton:snat_owner" not in tenant.get(f"/v2.0/routers/{router['id']}").json["router"]
    # A second VM on the node: still one block. Show, fields, filters.
    vm(admin, net, "c1")
    assert [x["id"] for x in blocks(admin)] == [b["id"]]
    shown = admin.get(f"{BLOCKS}/{b['id']}").json["snat_block"]
    assert shown == b
    r = admin.get(f"{BLOCKS}/{b['id']}?fields=host&fields=port_min")
    assert r.json["snat_block"] == {"host": "c1", "port_min": 1024}
    assert len(blocks(admin, f"?router_id={router['id']}&host=c1&ip_address={gw_ip}")) == 1
    assert blocks(admin, "?host=c2") == []
    assert blocks(admin, "?status=GRACE") == []
    # A node whose agent never registered gets none (it could not use it).
    vm(admin, net, "c9")
    assert {x["host"] for x in blocks(admin)} == {"c1"}
    # Its agent registers: the sweeper gives it one within a second.
    agents.add("c9")
    t = time.monotonic()
    assert wait_for(lambda: blocks(admin, "?host=c9"), 2)
    assert time.monotonic() - t <= 1.0
    # The agents' credential may read too.
    assert Client(srv.url, None).get(BLOCKS, headers=TOKEN).status == 200


def test_segments_each_rack_snats_on_its_own_address(srv, agents, admin):
    """One external network over two segments (seed case 2): a router with
    VMs in both racks gets an address on each segment; a node's blocks are
    on the address of a segment it reaches, and each address is owned by a
    node that reaches it (lepton:snat_owners), so replies come back where
    the node is."""
    agents.add("r1a", physnet="ext1")
    agents.add("r1b", physnet="ext1")
    agents.add("r2a", physnet="ext2")
    ext = api_create(admin, "network", {"name": "public", "router:external": True,
                                        "provider:network_type": "flat",
                                        "provider:physical_network": "ext1"})
    seg1 = admin.get(f"/v2.0/segments?network_id={ext['id']}").json["segments"][0]
    seg2 = api_create(admin, "segment", {"network_id": ext["id"], "network_type": "flat",
                                         "physical_network": "ext2"})
    for seg, cidr in ((seg1, "100.64.0.0/24"), (seg2, "100.65.0.0/24")):
        api_create(admin, "subnet", {"network_id": ext["id"], "cidr": cidr, "ip_version": 4,
                                     "segment_id": seg["id"],
                                     "service_types": ["network:router_gateway"]})
    c = admin.as_("p1")
    net = api_create(c, "network", {"name": "n1"})
    sub = api_create(c, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                   "ip_version": 4})
    router = api_create(c, "router", {"name": "r1"})
    assert c.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                 {"subnet_id": sub["id"]}).status == 200
    vm(admin, net, "r1a")
    assert c.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {
        "network_id": ext["id"]}}}).status == 200
    r = router_of(admin, router["id"])
    (first,) = [e["ip_address"] for e in r["external_gateway_info"]["external_fixed_ips"]]
    assert first.startswith("100.64.0."), r
    assert r["lepton:snat_owners"] == {first: "r1a"} and r["lepton:snat_owner"] == "r1a"
    # A VM in rack 2: a second address, on segment 2, owned there.
    vm(admin, net, "r2a")
    r = router_of(admin, router["id"])
    ips = [e["ip_address"] for e in r["external_gateway_info"]["external_fixed_ips"]]
    assert len(ips) == 2 and ips[0] == first and ips[1].startswith("100.65.0."), ips
    assert r["lepton:snat_owners"] == {first: "r1a", ips[1]: "r2a"}, r
    assert r["lepton:snat_owner"] == "r1a"
    # Another node of rack 1 shares rack 1's address.
    vm(admin, net, "r1b")
    assert {(b["host"], b["ip_address"]) for b in blocks(admin)} == {
        ("r1a", first), ("r1b", first), ("r2a", ips[1])}
    # The tenant sees neither map.
    assert "lepton:snat_owners" not in c.get(f"/v2.0/routers/{router['id']}").json["router"]
    # Rack 1's owner dies: the other node of rack 1 takes rack 1's address,
    # never the node of rack 2 (it could not forward rack 1's blocks).
    agents.stop("r1a")
    assert wait_for(lambda: router_of(admin, router["id"])["lepton:snat_owners"] == {
        first: "r1b", ips[1]: "r2a"}, DOWN + 3), router_of(admin, router["id"])
    assert router_of(admin, router["id"])["lepton:snat_owner"] == "r1b"
    # Rack 2's only node dies: its address has no owner (nothing announces it).
    agents.stop("r2a")
    assert wait_for(lambda: router_of(admin, router["id"])["lepton:snat_owners"] == {
        first: "r1b"}, DOWN + 3), router_of(admin, router["id"])


def test_more_blocks_second_address_then_409(srv, agents, admin):
    agents.add("c1")
    agents.add("c2")
    router, sub, net = cloud(admin)
    vm(admin, net, "c1")
    agent = Client(srv.url, None)
    # Three blocks per address: two more on the first address.
    for _ in range(2):
        r = more(agent, router, "c1", headers=TOKEN)
        assert r.status == 201, r
        assert r.json["snat_block"]["host"] == "c1"
    first_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert {b["ip_address"] for b in blocks(admin)} == {first_ip}
    # The address is full: the router gets a second gateway address.
    r = more(admin, router, "c1")
    assert r.status == 201, r
    second_ip = r.json["snat_block"]["ip_address"]
    assert second_ip != first_ip and r.json["snat_block"]["port_min"] == 1024
    info = router_of(admin, router["id"])["external_gateway_info"]
    assert [x["ip_address"] for x in info["external_fixed_ips"]] == [first_ip, second_ip]
    gw = admin.get(f"/v2.0/ports?device_id={router['id']}"
                   "&device_owner=network:router_gateway").json["ports"][0]
    assert [x["ip_address"] for x in gw["fixed_ips"]] == [first_ip, second_ip]
    # A new node gets its first block on the second address.
    vm(admin, net, "c2")
    (b2,) = blocks(admin, "?host=c2")
    assert b2["ip_address"] == second_ip
    assert more(admin, router, "c2").status == 201
    # Both addresses full, and the gateway subnet has no address left: 409,
    # and nothing changed.
    before = sorted(x["id"] for x in blocks(admin))
    rev = router_of(admin, router["id"])["revision_number"]
    r = more(agent, router, "c1", headers=TOKEN)
    assert_error(r, 409, "SnatPortBlocksExhausted")
    assert sorted(x["id"] for x in blocks(admin)) == before
    again = router_of(admin, router["id"])
    assert again["revision_number"] == rev
    assert len(again["external_gateway_info"]["external_fixed_ips"]) == 2
    by_ip = no_overlap(blocks(admin))
    assert {ip: len(v) for ip, v in by_ip.items()} == {first_ip: 3, second_ip: 3}
    # A third node finds no room: its VM port is still created (no block).
    agents.add("c3")
    vm(admin, net, "c3")
    assert blocks(admin, "?host=c3") == []
    # Freeing a block (admin) makes room; the sweeper hands it to c3.
    assert admin.delete(f"{BLOCKS}/{b2['id']}").status == 204
    assert admin.get(f"{BLOCKS}/{b2['id']}").status == 404
    got = wait_for(lambda: blocks(admin, "?host=c3"), 3)
    assert got and got[0]["ip_address"] == second_ip
    no_overlap(blocks(admin))


def test_grace_then_active_then_expiry(srv, agents, admin):
    agents.add("c1")
    router, sub, net = cloud(admin)
    p = vm(admin, net, "c1")
    (b,) = blocks(admin)
    # The node's last VM goes: GRACE with an expiry, at once.
    t0 = time.time()
    assert admin.delete(f"/v2.0/ports/{p['id']}").status == 204
    (g,) = blocks(admin)
    assert g["id"] == b["id"] and g["status"] == "GRACE"
    exp = calendar.timegm(time.strptime(g["expires_at"], "%Y-%m-%dT%H:%M:%SZ"))
    assert t0 - 1 <= exp - GRACE <= time.time() + 1
    assert router_of(admin, router["id"])["lepton:snat_owner"] == ""
    # A VM comes back within the grace: the same block, ACTIVE again.
    p = vm(admin, net, "c1")
    (a,) = blocks(admin)
    assert a["id"] == b["id"] and a["status"] == "ACTIVE" and a["expires_at"] is None
    # Moved to another node: GRACE, then freed after the grace.
    r = admin.put(f"/v2.0/ports/{p['id']}", {"port": {"binding:host_id": "c9"}})
    assert r.status == 200, r
    assert blocks(admin)[0]["status"] == "GRACE"
    t1 = time.monotonic()
    assert wait_for(lambda: blocks(admin) == [], GRACE + 3)
    assert time.monotonic() - t1 >= GRACE - 1
    # Its ports are free again: the next block starts at 1024 once more.
    admin.put(f"/v2.0/ports/{p['id']}", {"port": {"binding:host_id": "c1"}})
    (n,) = blocks(admin)
    assert n["id"] != b["id"] and n["port_min"] == 1024 and n["status"] == "ACTIVE"


def test_dead_agent_grace_and_return(srv, agents, admin):
    agents.add("c1")
    agents.add("c2")
    router, sub, net = cloud(admin)
    vm(admin, net, "c1")
    vm(admin, net, "c2")
    agents.stop("c2")
    got = wait_for(lambda: [b for b in blocks(admin, "?host=c2") if b["status"] == "GRACE"],
                   DOWN + 2)
    assert got, blocks(admin)
    assert blocks(admin, "?host=c1")[0]["status"] == "ACTIVE"
    agents.resume("c2")
    assert wait_for(lambda: blocks(admin, "?host=c2")[0]["status"] == "ACTIVE", 2)


def test_owner_failover_timed(srv, agents, admin):
    for h in ("c1", "c2", "c3"):
        agents.add(h)
    router, sub, net = cloud(admin)
    for h in ("c1", "c2", "c3"):
        vm(admin, net, h)
    assert router_of(admin, router["id"])["lepton:snat_owner"] == "c1"
    # The owner's agent stops: another live node takes over within 1 s of
    # its agent counting as dead (agent_down_time after its last heartbeat),
    # and not before.
    last = agents.stop("c1")
    dead_at = last + DOWN
    owner = "c1"
    while owner == "c1" and time.monotonic() < dead_at + 5:
        owner = router_of(admin, router["id"])["lepton:snat_owner"]
        t = time.monotonic()
        time.sleep(0.02)
    assert owner in ("c2", "c3")
    took = t - dead_at
    print(f"\nSNAT owner failover: {took * 1000:.0f} ms after the agent counted as dead")
    assert -0.1 <= took <= 1.0, took
    # Sticky: the old owner coming back does not take it back.
    agents.resume("c1")
    time.sleep(1)
    assert router_of(admin, router["id"])["lepton:snat_owner"] == owner
    # The owner's last VM leaves: re-chosen at once.
    ports = admin.get(f"/v2.0/ports?binding:host_id={owner}&device_owner=compute:nova").json
    for p in ports["ports"]:
        assert admin.delete(f"/v2.0/ports/{p['id']}").status == 204
    new = router_of(admin, router["id"])["lepton:snat_owner"]
    assert new not in ("", owner)


def node_view(srv, host):
    """{(type, id): object} of the node's snapshot."""
    r = Client(srv.url, None).get(f"/v2.0/lepton/watch?since=0&follow=false&host={host}",
                                  headers=TOKEN)
    assert r.status == 200, r
    lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
    return {(e["type"], e["id"]): e["object"] for e in lines if e["op"] == "snapshot"}


class NodeStream(threading.Thread):
    """A live per-node stream, its lines in a queue."""

    def __init__(self, url, host):
        super().__init__(daemon=True)
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.conn.request("GET", f"/v2.0/lepton/watch?since=0&host={host}", headers=TOKEN)
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        self.q = queue.Queue()
        self.state = {}
        self.start()

    def run(self):
        try:
            for line in self.resp:
                if line.strip():
                    self.q.put(json.loads(line))
        except (OSError, ValueError, AttributeError):
            pass  # closed by close()

    def apply(self, e):
        """Applies a line to self.state as a replica would."""
        if e["op"] in ("snapshot", "create", "update"):
            self.state[(e["type"], e["id"])] = e["object"]
        elif e["op"] == "delete":
            assert (e["type"], e["id"]) in self.state, e
            del self.state[(e["type"], e["id"])]

    def until(self, pred, timeout=5):
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                e = self.q.get(timeout=0.1)
            except queue.Empty:
                continue
            self.apply(e)
            seen.append(e)
            if pred(e):
                return seen
        raise AssertionError(f"not seen; got {seen[-5:]}")

    def drain(self, secs):
        out, deadline = [], time.monotonic() + secs
        while time.monotonic() < deadline:
            try:
                e = self.q.get(timeout=0.05)
                self.apply(e)
                out.append(e)
            except queue.Empty:
                pass
        return out

    def close(self):
        self.conn.sock.shutdown(2)
        self.conn.close()


def test_node_feed_carries_all_blocks_to_nodes_of_the_router(srv, agents, admin):
    for h in ("c1", "c2", "c3"):
        agents.add(h)
    router, sub, net = cloud(admin)
    other = api_create(admin.as_("p2"), "network", {"name": "other"})
    api_create(admin.as_("p2"), "subnet", {"network_id": other["id"], "cidr": "10.9.0.0/24",
                                           "ip_version": 4})
    vm(admin, net, "c1")
    vm(admin, net, "c2")
    api_create(admin, "port", {"network_id": other["id"], "binding:host_id": "c3",
                               "device_owner": "compute:nova", "project_id": "p2"})
    ids = {b["id"] for b in blocks(admin)}
    assert len(ids) == 2
    for h in ("c1", "c2"):
        view = node_view(srv, h)
        assert {k[1] for k in view if k[0] == "snat_block"} == ids, h
        assert view[("router", router["id"])]["lepton:snat_owner"] == "c1"
    assert not [k for k in node_view(srv, "c3") if k[0] in ("snat_block", "router")]
    # Live: a new block reaches both nodes of the router, and nothing c3.
    s1, s3 = NodeStream(srv.url, "c1"), NodeStream(srv.url, "c3")
    try:
        s1.until(lambda e: e["op"] == "snapshot_end")
        s3.until(lambda e: e["op"] == "snapshot_end")
        r = more(admin, router, "c2")
        assert r.status == 201
        new = r.json["snat_block"]["id"]
        seen = s1.until(lambda e: e.get("id") == new)
        assert seen[-1]["op"] == "create" and seen[-1]["type"] == "snat_block"
        assert seen[-1]["object"]["host"] == "c2"
        assert not [e for e in s3.drain(0.5) if e.get("type") == "snat_block"]
        # The freed block is a delete; GRACE an update; a new owner an
        # update of the router.
        assert admin.delete(f"{BLOCKS}/{new}").status == 204
        seen = s1.until(lambda e: e.get("id") == new)
        assert seen[-1]["op"] == "delete"
        agents.stop("c1")
        seen = s1.until(lambda e: e.get("type") == "router" and e["op"] == "update"
                        and e["object"]["lepton:snat_owner"] == "c2", DOWN + 3)
        seen += s1.drain(0.5)  # in a batch, blocks come after routers
        assert [e for e in seen if e.get("type") == "snat_block" and e["op"] == "update"
                and e["object"]["host"] == "c1" and e["object"]["status"] == "GRACE"]
        # What the stream built equals the node's snapshot now.
        assert s1.state == node_view(srv, "c1")
        assert not [k for k in s3.drain(0.2) if k.get("type") == "snat_block"]
    finally:
        s1.close()
        s3.close()


def test_parallel_binds_and_requests_never_overlap(make_server):
    s = make_server(config="agent_token = s3cret\nagent_down_time = 30\n").start()
    admin = Client(s.url, "admin-project", "admin")
    ag = Agents(s.url)
    try:
        hosts = [f"n{i}" for i in range(8)]
        for h in hosts:
            ag.add(h)
        router, sub, net = cloud(admin, pool=("100.64.0.2", "100.64.0.9"))
        errors = []

        def node(h):
            try:
                c = Client(s.url, None)
                vm(admin, net, h)
                for _ in range(9):
                    r = more(c, router, h, headers=TOKEN)
                    if r.status != 201:
                        errors.append(r)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=node, args=(h,)) for h in hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        bs = blocks(admin)
        # 8 nodes x 10 blocks of 1024 ports: 80 blocks, 63 per address.
        assert len(bs) == 80
        assert {h: sum(b["host"] == h for b in bs) for h in hosts} == {h: 10 for h in hosts}
        by_ip = no_overlap(bs)
        assert sorted(len(v) for v in by_ip.values()) == [17, 63]
        info = router_of(admin, router["id"])["external_gateway_info"]
        assert sorted(x["ip_address"] for x in info["external_fixed_ips"]) == sorted(by_ip)
    finally:
        ag.close()


def test_bad_input_and_policy(srv, agents, admin):
    agents.add("c1")
    router, sub, net = cloud(admin)
    vm(admin, net, "c1")
    (b,) = blocks(admin)
    agent = Client(srv.url, None)
    bad = [
        {},
        {"snat_block": "x"},
        {"snat_block": {"router_id": router["id"]}},
        {"snat_block": {"host": "c1"}},
        {"snat_block": {"router_id": "not-a-uuid", "host": "c1"}},
        {"snat_block": {"router_id": router["id"], "host": "bad host"}},
        {"snat_block": {"router_id": router["id"], "host": ""}},
        {"snat_block": {"router_id": router["id"], "host": 5}},
        {"snat_block": {"router_id": router["id"], "host": "c1", "port_min": 1}},
        {"snat_block": {"router_id": router["id"], "host": "c1"}, "x": 1},
    ]
    for body in bad:
        assert_error(agent.post(BLOCKS, body, headers=TOKEN), 400)
    assert_error(agent.request("POST", BLOCKS, raw=b"{nope", headers=TOKEN), 400)
    r = more(agent, {"id": "00000000-0000-0000-0000-000000000000"}, "c1", headers=TOKEN)
    assert_error(r, 404, "RouterNotFound")
    assert_error(more(agent, router, "c7", headers=TOKEN), 409, "SnatHostNotOnRouter")
    plain = api_create(admin.as_("p1"), "router", {"name": "no-gw"})
    assert_error(more(agent, plain, "c1", headers=TOKEN), 409, "RouterSnatNotDistributed")
    assert [x["id"] for x in blocks(admin)] == [b["id"]]
    # Tenants: the collection is forbidden, a block is not found.
    tenant = admin.as_("p1")
    assert_error(tenant.get(BLOCKS), 403)
    assert_error(tenant.get(f"{BLOCKS}/{b['id']}"), 404)
    assert_error(tenant.delete(f"{BLOCKS}/{b['id']}"), 404)
    assert_error(more(tenant, router, "c1"), 403)
    assert_error(agent.delete(f"{BLOCKS}/{b['id']}", headers=TOKEN), 404)
    # Admin: unknown ids, bad filters, methods.
    assert_error(admin.get(f"{BLOCKS}/{'0' * 8}-0000-0000-0000-{'0' * 12}"), 404)
    assert_error(admin.get(f"{BLOCKS}/nope"), 404)
    assert_error(admin.delete(f"{BLOCKS}/nope"), 404)
    assert_error(admin.get(f"{BLOCKS}?bogus=1"), 400)
    assert_error(admin.put(f"{BLOCKS}/{b['id']}", {"snat_block": {"host": "x"}}), 405)
    assert [x["id"] for x in blocks(admin)] == [b["id"]]
    assert blocks(admin)[0] == b


def test_router_changes_follow(srv, agents, admin):
    agents.add("c1")
    router, sub, net = cloud(admin)
    vm(admin, net, "c1")
    rid = router["id"]
    ext_id = router["external_gateway_info"]["network_id"]

    def status():
        return [x["status"] for x in blocks(admin)]

    # enable_snat=false: GRACE and no owner; true again: ACTIVE.
    r = admin.put(f"/v2.0/routers/{rid}", {"router": {"external_gateway_info": {
        "network_id": ext_id, "enable_snat": False}}})
    assert r.status == 200, r
    assert status() == ["GRACE"] and router_of(admin, rid)["lepton:snat_owner"] == ""
    admin.put(f"/v2.0/routers/{rid}", {"router": {"external_gateway_info": {
        "network_id": ext_id, "enable_snat": True}}})
    assert status() == ["ACTIVE"] and router_of(admin, rid)["lepton:snat_owner"] == "c1"
    # snat_mode centralized and back.
    assert admin.put(f"/v2.0/routers/{rid}", {"router": {"snat_mode": "centralized"}}).status == 200
    assert status() == ["GRACE"]
    assert admin.put(f"/v2.0/routers/{rid}", {"router": {"snat_mode": "distributed"}}).status == 200
    assert status() == ["ACTIVE"]
    # The interface goes: GRACE; comes back: ACTIVE.
    c = admin.as_("p1")
    assert c.put(f"/v2.0/routers/{rid}/remove_router_interface",
                 {"subnet_id": sub["id"]}).status == 200
    assert status() == ["GRACE"]
    assert c.put(f"/v2.0/routers/{rid}/add_router_interface",
                 {"subnet_id": sub["id"]}).status == 200
    assert status() == ["ACTIVE"]
    # The gateway is cleared: its address is gone, so are its blocks, at once.
    assert admin.put(f"/v2.0/routers/{rid}", {"router": {
        "external_gateway_info": None}}).status == 200
    assert blocks(admin) == [] and router_of(admin, rid)["lepton:snat_owner"] == ""
    # Set again: a block on the new address, and an owner chosen in the same
    # request, which keeps the revision it answered with.
    r = admin.put(f"/v2.0/routers/{rid}", {"router": {"external_gateway_info": {
        "network_id": ext_id}}})
    assert r.status == 200, r
    now = router_of(admin, rid)
    assert now["lepton:snat_owner"] == "c1"
    assert now["revision_number"] == r.json["router"]["revision_number"]
    ip = now["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert [(x["ip_address"], x["status"]) for x in blocks(admin)] == [(ip, "ACTIVE")]
    # The router deleted (interface first): its blocks go with it.
    c.put(f"/v2.0/routers/{rid}/remove_router_interface", {"subnet_id": sub["id"]})
    assert admin.delete(f"/v2.0/routers/{rid}").status == 204
    assert blocks(admin) == []


def test_server_restart_keeps_blocks_active(make_server):
    s = make_server(config=CONFIG.replace(f"agent_down_time = {DOWN}", "agent_down_time = 4"))
    s.start()
    admin = Client(s.url, "admin-project", "admin")
    ag = Agents(s.url)
    try:
        ag.add("c1")
        router, sub, net = cloud(admin)
        vm(admin, net, "c1")
        (b,) = blocks(admin)
        ag.stop("c1")
        s.stop()
        s.start()
        # No heartbeat heard yet: the known node keeps its block...
        time.sleep(1)
        assert blocks(admin)[0]["status"] == "ACTIVE"
        assert router_of(admin, router["id"])["lepton:snat_owner"] == "c1"
        # ...and goes to GRACE once it could have sent one and did not.
        assert wait_for(lambda: blocks(admin)[0]["status"] == "GRACE", 6)
        ag.resume("c1")
        assert wait_for(lambda: blocks(admin)[0]["status"] == "ACTIVE", 3)
        assert blocks(admin)[0]["id"] == b["id"]
    finally:
        ag.close()


@pytest.mark.parametrize("setting", ["snat_block_size = 1000", "snat_block_size = 0",
                                     "snat_block_size = 70000", "snat_block_grace = 0",
                                     "snat_block_grace = x"])
def test_bad_config_refused(make_server, setting):
    s = make_server(config=setting + "\n")
    with pytest.raises(RuntimeError, match="server exited"):
        s.start()


def test_cli_lists_shows_and_frees_blocks(srv, agents, admin):
    agents.add("c1")
    router, sub, net = cloud(admin)
    vm(admin, net, "c1")
    (b,) = blocks(admin)

    def cli(*args, roles="admin"):
        cmd = [str(cli_binary()), "--os-url", srv.url, "--os-project-id", "p1"]
        if roles:
            cmd += ["--os-roles", roles]
        return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60)

    p = cli("snat-block-list", "--host", "c1", "-f", "value", "-c", "host", "-c", "port_min",
            "-c", "status")
    assert p.returncode == 0 and p.stdout.strip() == "c1 1024 ACTIVE", p
    assert cli("snat-block-list", "--host", "c2", "-f", "value").stdout.strip() == ""
    p = cli("snat-block-show", b["id"], "-f", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["ip_address"] == b["ip_address"], p
    p = cli("snat-block-list", roles=None)
    assert p.returncode == 1 and "disallowed" in p.stderr, p
    assert cli("snat-block-delete", b["id"]).returncode == 0
    assert admin.get(f"{BLOCKS}/{b['id']}").status == 404

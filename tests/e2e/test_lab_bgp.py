"""Seed case 2 with real packets (issue 12): one external network `public`
over two physical ones (a segment per rack, each with its upstream router),
Floating IPs and distributed-SNAT addresses announced over BGP by BIRD on
every node (lepton-agent --bgp-dev: a table of /32s that BIRD learns), a
core router joining the upstreams with the internet host behind it.

VMs in either rack are reachable by their Floating IPs and reach the
internet by SNAT; a VM moved to the other rack keeps its Floating IP and is
reachable again within 1 s of its port's rebinding; the upstreams hold
exactly the model's addresses; nothing a tenant writes is announced, and a
stray route in the table is taken back; a node cut off loses its routes
within the stated bound (BFD, 3 x 100 ms).

The mode is per physical network (segment): beside `public`, the external
network `public-arp` (one segment across the racks, the core its upstream)
keeps ARP ownership on the same nodes (lepton-agent --bgp-physnet): its
Floating IPs and SNAT addresses work by ARP, and nothing of it is
announced; a Floating IP moved there is answered again within 1 s (the new
node repeats its gratuitous ARP).

IPv6 (issue 14): `public` carries IPv6 too; a dual-stack VM in each rack
reaches the internet host over IPv6 without NAT, out of and back into its
own node, which announces a /128 for its address over the same sessions
(lepton-agent --bgp-nexthop6); the upstreams hold exactly the model's
/128s, and a VM that moves or a port that goes takes its /128 with it."""
import ipaddress
import json
import re
import subprocess
import time

import pytest

from lab import Lab, allow_ingress, unique_name
from leptonlab import INTERNET6, TENANT6, Topology, logfmt, netns_list
from test_lab_ipv6 import allow_v6, default_sg, global6, ping6, tcp6_ok, v6_of
from leptonlab.snat import INTERNET, SERVERS, mk, wait
from leptonlab.snat import who_am_i as who

POOL = ipaddress.ip_network("203.0.113.0/24")
WITHDRAW_BOUND = 1.0  # seconds: BFD 3 x 100 ms, then one update to the core
MOVE_TARGET = 1.0     # seconds from the port's rebinding to a reply from the VM

def who_am_i(lab, vm):
    """The address the internet host saw for a connection from vm."""
    return who(lab, vm)[0]


def reachable(lab, ip):
    return lab.exec("internet", ["ping", "-c1", "-W1", ip]).returncode == 0


def tenant(lab, proj, cidr, node, ext_name="public"):
    """A project with a distributed router (distributed SNAT), a network,
    a VM with a Floating IP and one without, both on `node`; the gateway
    (on ext_name) is set once the VMs are bound, so its segment is the
    node's."""
    admin = lab.admin()
    ext = admin.get(f"/v2.0/networks?name={ext_name}").json["networks"][0]
    api = lab.client(proj)
    net = mk(api, "network", {"name": f"{proj}-net"})
    sub = mk(api, "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 4})
    router = mk(api, "router", {"name": f"{proj}-r"})
    seen = admin.get(f"/v2.0/routers/{router['id']}").json["router"]
    assert seen["distributed"] is True and seen["snat_mode"] == "distributed", seen
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert r.status == 200, r
    allow_ingress(api, net["id"])
    vms = {}
    for name in ("fip", "snat"):
        port = mk(api, "port", {"network_id": net["id"], "name": f"{proj}-{name}"})
        lab.vm(node, port["id"], f"{proj}-{name}")
        vms[name] = port
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert r.status == 200, r
    gw = r.json["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    fip = mk(api, "floatingip", {"floating_network_id": ext["id"],
                                 "port_id": vms["fip"]["id"]})
    return {"api": api, "router": router["id"], "gw": gw, "fip": fip["floating_ip_address"],
            "fip_id": fip["id"], "ports": vms, "net": net["id"], "vm": f"{proj}-fip",
            "snat_vm": f"{proj}-snat"}


def host_rack(lab, host):
    n = lab.topology.node(host)
    return n.rack if n else None


def model_announced(lab):
    """{rack: {"a.b.c.d/32", ...}}: what the model gives each rack's nodes:
    the Floating IPs of ports bound there, the distributed-SNAT gateway
    addresses of routers owned there."""
    admin = lab.admin()
    public = admin.get("/v2.0/networks?name=public").json["networks"][0]["id"]
    out = {r: set() for r in lab.topology.racks()}
    for f in admin.get("/v2.0/floatingips").json["floatingips"]:
        if not f["port_id"] or f["floating_network_id"] != public:
            continue
        port = admin.get(f"/v2.0/ports/{f['port_id']}").json["port"]
        rack = host_rack(lab, port["binding:host_id"])
        if rack:
            out[rack].add(f"{f['floating_ip_address']}/32")
    for r in admin.get("/v2.0/routers").json["routers"]:
        info = r.get("external_gateway_info") or {}
        if r.get("snat_mode") != "distributed" or info.get("network_id") != public:
            continue
        for ip, host in r.get("lepton:snat_owners", {}).items():
            rack = host_rack(lab, host)
            if rack:
                out[rack].add(f"{ip}/32")
    return out


def family(prefixes, v6):
    return {p for p in prefixes if (":" in p) == v6}


def upstream_tables(lab, v6=False):
    """{rack: set of prefixes its upstream's BIRD holds}, and the core's, of
    one family (None: both)."""
    t = lab.topology

    def of(host):
        routes = set(lab.bgp_routes(host))
        return routes if v6 is None else family(routes, v6)
    return {r: of(u.name) for r, u in zip(t.racks(), t.upstreams)}, of("core")


def model_announced6(lab):
    """{rack: {"addr/128", ...}}: the IPv6 addresses of the VMs bound in
    each rack on subnets of a router whose gateway is on `public`."""
    admin = lab.admin()
    public = admin.get("/v2.0/networks?name=public").json["networks"][0]["id"]
    routed = set()
    ports = admin.get("/v2.0/ports").json["ports"]
    for r in admin.get("/v2.0/routers").json["routers"]:
        if (r.get("external_gateway_info") or {}).get("network_id") != public:
            continue
        for p in ports:
            if p["device_id"] == r["id"] and p["device_owner"].startswith(
                    "network:router_interface"):
                routed |= {ip["subnet_id"] for ip in p["fixed_ips"]}
    out = {r: set() for r in lab.topology.racks()}
    for p in ports:
        rack = host_rack(lab, p["binding:host_id"])
        if rack and p["device_owner"].startswith("compute:"):
            out[rack] |= {f"{ip['ip_address']}/128" for ip in p["fixed_ips"]
                          if ":" in ip["ip_address"] and ip["subnet_id"] in routed}
    return out


def converged(lab):
    want = model_announced(lab)
    ups, core = upstream_tables(lab)
    return ups == want and core == set().union(*want.values())


def converged6(lab):
    want = model_announced6(lab)
    ups, core = upstream_tables(lab, v6=True)
    return ups == want and core == set().union(*want.values())


def node_table(lab, node):
    return {r["dst"] for r in lab.ip_json(node, "route", "show", "table", "76")}


@pytest.fixture(scope="module")
def cloud():
    lab = Lab(unique_name("bgp"), Topology.bgp_racks(2, 1, arp_network=True))
    srv = None
    try:
        lab.up()
        srv = lab.popen("internet", ["python3", "-c", SERVERS], stdout=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "ready"
        a = tenant(lab, "pa", "10.1.0.0/24", "compute-1")
        b = tenant(lab, "pb", "10.2.0.0/24", "compute-2")
        yield {"lab": lab, "a": a, "b": b}
    finally:
        if srv:
            lab.stop(srv)
        lab.down()


def test_sessions_and_gateway_segments(cloud):
    lab = cloud["lab"]
    for h in ["compute-1", "compute-2", "upstream-1", "upstream-2", "core"]:
        st = lab.bgp_sessions(h)
        assert st and all(v == "Established" for v in st.values()), (h, st)
    # Each router's gateway address comes from its rack's segment.
    assert ipaddress.ip_address(cloud["a"]["gw"]) in ipaddress.ip_network("100.64.0.0/24")
    assert ipaddress.ip_network("100.65.0.0/24").supernet_of(
        ipaddress.ip_network(f"{cloud['b']['gw']}/32"))
    # The agents registered their BGP mode, on their rack's segment only.
    for a in lab.admin().get("/v2.0/agents").json["agents"]:
        assert a["configurations"]["bgp"] == {
            "nexthop": lab.topology.bgp_address(a["host"]), "dev": "bgp0", "table": 76,
            "nexthop6": lab.topology.bgp_address6(a["host"]),
            "physnets": [lab.topology.segment_of(a["host"]).physnet]}, a
    # The Floating IPs come from the one pool, whatever the rack.
    for t in (cloud["a"], cloud["b"]):
        assert ipaddress.ip_address(t["fip"]) in POOL


def test_fips_reachable_in_both_racks(cloud):
    lab = cloud["lab"]
    for t in (cloud["a"], cloud["b"]):
        assert wait(20, lambda: reachable(lab, t["fip"])), t["fip"]
        # The VM's own traffic leaves with its Floating IP.
        assert wait(10, lambda: who_am_i(lab, t["vm"]) == t["fip"], 0.5)


def test_snat_in_both_racks(cloud):
    lab = cloud["lab"]
    for t in (cloud["a"], cloud["b"]):
        assert wait(20, lambda: who_am_i(lab, t["snat_vm"]) == t["gw"], 0.5), t


def test_upstream_tables_hold_exactly_the_model(cloud):
    lab = cloud["lab"]
    assert wait(10, lambda: converged(lab)), (model_announced(lab), upstream_tables(lab))
    want = model_announced(lab)
    # Both racks announce something: each its own Floating IP and gateway.
    assert want["rack-1"] == {f"{cloud['a']['fip']}/32", f"{cloud['a']['gw']}/32"}
    assert want["rack-2"] == {f"{cloud['b']['fip']}/32", f"{cloud['b']['gw']}/32"}
    # The upstream learnt them from the node of its rack, next hop its bgp0.
    routes = lab.ip_json("upstream-1", "route", "show", f"{cloud['a']['fip']}/32")
    assert routes and routes[0]["gateway"] == lab.topology.bgp_address("compute-1"), routes


def test_tenant_cannot_make_a_node_announce(cloud):
    lab, a = cloud["lab"], cloud["a"]
    api = a["api"]
    # An allowed address pair that looks like a Floating IP, on a VM that
    # has one; a network of the tenant's own in the pool's range, with a
    # VM on the node.
    r = api.put(f"/v2.0/ports/{a['ports']['fip']['id']}", {"port": {
        "allowed_address_pairs": [{"ip_address": "203.0.113.250"}]}})
    assert r.status == 200, r
    net = mk(api, "network", {"name": "lookalike"})
    mk(api, "subnet", {"network_id": net["id"], "cidr": "203.0.113.224/28", "ip_version": 4})
    port = mk(api, "port", {"network_id": net["id"],
                            "fixed_ips": [{"ip_address": "203.0.113.230"}]})
    lab.vm("compute-1", port["id"], "lookalike")
    assert wait(20, lambda: lab.admin().get(f"/v2.0/ports/{port['id']}").json["port"]["status"]
                == "ACTIVE")
    time.sleep(1)
    for node in ("compute-1", "compute-2"):
        held = node_table(lab, node)
        assert not held & {"203.0.113.250", "203.0.113.230"}, (node, held)
    assert converged(lab), (model_announced(lab), upstream_tables(lab))
    # A route slipped into the table by hand (ours by its protocol) is
    # taken back by the agent, and the upstream never accepts what the
    # prefix filters refuse.
    lab.sh("compute-1", "ip route add 203.0.113.251/32 dev bgp0 table 76 proto 76")
    lab.sh("compute-1", "ip route add 192.0.2.200/32 dev bgp0 table 76 proto 76")
    wait(3, lambda: "203.0.113.251/32" in lab.bgp_routes("upstream-1"), 0.05)
    assert "192.0.2.200/32" not in lab.bgp_routes("upstream-1")
    assert wait(20, lambda: not node_table(lab, "compute-1") & {"203.0.113.251",
                                                                "192.0.2.200"}, 0.5)
    assert wait(5, lambda: converged(lab)), (model_announced(lab), upstream_tables(lab))


def move_time(lab, vm, fip, node):
    """Moves vm to node; seconds from the port's rebinding to the first
    reply from its Floating IP at the internet host (ping every 10 ms),
    None if none came within 3 s."""
    pinger = lab.popen("internet", ["ping", "-D", "-n", "-i", "0.01", "-W", "1", fip],
                       stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        lab.vm_move(vm, node)
        bound = lab.bound_at
        time.sleep(3)
    finally:
        lab.stop(pinger)
    replies = [float(t) for t in re.findall(r"^\[(\d+\.\d+)\] 64 bytes", pinger.stdout.read(),
                                            re.M)]
    after = [t - bound for t in replies if t > bound]
    return after[0] if after else None


def test_arp_network_beside_the_bgp_one(cloud):
    """public-arp keeps ARP ownership on the nodes that announce public's
    addresses over BGP (the mode is per physical network): its Floating IP
    and SNAT work through the core by ARP, nothing of it is announced, and
    its Floating IP answers again within 1 s of each move between nodes
    (the new node repeats its gratuitous ARP; the upstream's entry no longer
    stays on the old node for its reachable time)."""
    lab = cloud["lab"]
    t = tenant(lab, "pd", "10.4.0.0/24", "compute-1", ext_name="public-arp")
    assert ipaddress.ip_address(t["fip"]) in ipaddress.ip_network("192.0.2.128/25"), t
    assert ipaddress.ip_address(t["gw"]) in ipaddress.ip_network("100.66.0.0/24"), t
    assert wait(20, lambda: reachable(lab, t["fip"])), t["fip"]
    assert wait(10, lambda: who_am_i(lab, t["vm"]) == t["fip"], 0.5)
    assert wait(20, lambda: who_am_i(lab, t["snat_vm"]) == t["gw"], 0.5)
    # The core reached them by ARP, on the ARP segment.
    neigh = lab.ip_json("core", "neigh", "show", t["fip"])
    assert neigh and neigh[0]["dev"] == "arp0", neigh

    def announced_anywhere():
        mine = {f"{t['fip']}/32", f"{t['gw']}/32"}
        held = set()
        for node in ("compute-1", "compute-2"):
            held |= {f"{a}/32" for a in node_table(lab, node)}
        for h in ("upstream-1", "upstream-2", "core"):
            held |= set(lab.bgp_routes(h))
        return held & mine

    assert not announced_anywhere()
    assert converged(lab), (model_announced(lab), upstream_tables(lab))
    took = []
    for node in ("compute-2", "compute-1", "compute-2", "compute-1", "compute-2", "compute-1"):
        took.append(move_time(lab, t["vm"], t["fip"], node))
    print(f"\nFloating IP {t['fip']} (ARP) moved 6 times: first replies after "
          + ", ".join("none" if x is None else f"{x * 1000:.0f} ms" for x in took))
    assert all(x is not None and x < MOVE_TARGET for x in took), took
    assert not announced_anywhere()
    assert who_am_i(lab, t["vm"]) == t["fip"]


def move_timeline(lab, marks):
    """What the agents logged since marks ({node: log offset}), one line an
    event, for a move that missed its target."""
    out = []
    for node, mark in marks.items():
        for e in logfmt.events(lab.agent_log(node), offset=mark)[:80]:
            rest = " ".join(f"{k}={v}" for k, v in e.items() if k not in ("ts", "event", "prog"))
            out.append(f"{node} {e.get('ts')} {e['event']} {rest}")
    return "\n".join(out)


def test_fip_follows_a_vm_moved_to_the_other_rack(cloud):
    lab, a = cloud["lab"], cloud["a"]
    fip = a["fip"]
    assert reachable(lab, fip)
    marks = {n: lab.agent_log(n).stat().st_size for n in ("compute-1", "compute-2")}
    took = move_time(lab, a["vm"], fip, "compute-2")
    assert took is not None, "no reply after the move"
    print(f"\nFloating IP {fip} moved from rack-1 to rack-2: first reply "
          f"{took * 1000:.0f} ms after the port's rebinding")
    # (A miss says what the agents did meanwhile: it happened once in a
    # full run, 1,009 ms, and never when the test ran alone.)
    assert took < MOVE_TARGET, (
        f"{took:.3f} s; rebound at {time.strftime('%H:%M:%S', time.gmtime(lab.bound_at))}"
        f".{int(lab.bound_at * 1000) % 1000:03d}Z\n{move_timeline(lab, marks)}")
    # Withdrawn in rack 1, announced in rack 2; the owner of the router's
    # SNAT address stays in rack 1 (its other VM is there).
    assert wait(5, lambda: converged(lab)), (model_announced(lab), upstream_tables(lab))
    ups, _ = upstream_tables(lab)
    assert f"{fip}/32" in ups["rack-2"] and f"{fip}/32" not in ups["rack-1"]
    assert who_am_i(lab, a["vm"]) == fip
    assert who_am_i(lab, a["snat_vm"]) == a["gw"]


INTERNET_HOST6 = str(ipaddress.IPv6Network(INTERNET6).network_address + 10)


@pytest.fixture(scope="module")
def dual(cloud):
    """A dual-stack tenant network (global IPv6 from TENANT6, SLAAC) behind
    a distributed router on `public`, a VM in each rack."""
    lab = cloud["lab"]
    admin = lab.admin()
    ext = admin.get("/v2.0/networks?name=public").json["networks"][0]
    api = lab.client("p6")
    net = mk(api, "network", {"name": "p6-net"})
    subs = [mk(api, "subnet", {"network_id": net["id"], "cidr": "10.6.0.0/24", "ip_version": 4})]
    cidr = str(ipaddress.IPv6Network((int(ipaddress.IPv6Network(TENANT6).network_address)
                                      + (6 << 64), 64)))
    subs.append(mk(api, "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 6,
                                   "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}))
    router = mk(api, "router", {"name": "p6-r"})
    for sub in subs:
        r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                    {"subnet_id": sub["id"]})
        assert r.status == 200, r
    allow_ingress(api, net["id"])
    allow_v6(api, default_sg(api))
    vms = {}
    for name, node in (("v6-1", "compute-1"), ("v6-2", "compute-2")):
        port = mk(api, "port", {"network_id": net["id"], "name": name})
        lab.vm(node, port["id"], name)
        vms[name] = api.get(f"/v2.0/ports/{port['id']}").json["port"]
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert r.status == 200, r
    for vm in vms:
        assert wait(15, lambda: global6(lab, vm) == v6_of(vms[vm])), (vm, global6(lab, vm))
    return {"api": api, "vms": vms, "router": router["id"]}


class SegmentCount:
    """nftables counters on the segment switches (the external namespace):
    IPv6 to and from the internet host on each node's ext0 leg (where its
    router namespaces' fg- legs are)."""

    def __init__(self, lab):
        self.lab = lab
        rules = []
        for n in lab.topology.nodes:
            i = lab.topology.index(n.name)
            rules += [f'iifname "x{i}" ip6 daddr {INTERNET_HOST6} counter comment "out {n.name}"',
                      f'oifname "x{i}" ip6 saddr {INTERNET_HOST6} counter comment "in {n.name}"']
        lab.exec("ext", ["nft", "-f", "-"], check=True, text=True, input=(
            "table bridge v6bgp {\n chain c {\n  type filter hook forward priority 0; "
            "policy accept;\n" + "".join(f"  {r}\n" for r in rules) + " }\n}\n"))

    def read(self):
        doc = json.loads(self.lab.exec(
            "ext", ["nft", "-j", "list", "table", "bridge", "v6bgp"], check=True).stdout)
        return {tuple(r["rule"]["comment"].split()):
                sum(e["counter"]["packets"] for e in r["rule"]["expr"] if "counter" in e)
                for r in doc["nftables"] if "rule" in r and "comment" in r["rule"]}

    def done(self):
        self.lab.exec("ext", ["nft", "delete", "table", "bridge", "v6bgp"])


def north_south6(lab, vm, node, port):
    """vm reaches the internet host over IPv6 and is reached by it at its
    own address (no NAT), through its own node only."""
    me = global6(lab, vm)[0]
    count = SegmentCount(lab)
    try:
        assert wait(10, lambda: ping6(lab, vm, INTERNET_HOST6, count=1)), vm
        assert ping6(lab, vm, INTERNET_HOST6, count=3), vm
        assert tcp6_ok(lab, "internet", vm, INTERNET_HOST6, port, f"out-{vm}"), vm
        assert tcp6_ok(lab, vm, "internet", me, port + 1, f"in-{vm}"), vm
        d = count.read()
        assert d[("out", node)] >= 4 and d[("in", node)] >= 4, d
        assert all(v == 0 for (_, n), v in d.items() if n != node), d
    finally:
        count.done()


def test_ipv6_north_south_over_bgp_from_the_vms_own_node(cloud, dual):
    lab = cloud["lab"]
    for vm, node in (("v6-1", "compute-1"), ("v6-2", "compute-2")):
        north_south6(lab, vm, node, 5900)
    # The upstreams hold exactly the model's /128s, one per VM in its rack,
    # learnt from the VM's node (next hop its IPv6 address on bgp0); the
    # core holds both.
    assert wait(10, lambda: converged6(lab)), (model_announced6(lab),
                                                upstream_tables(lab, v6=True))
    want = model_announced6(lab)
    for rack, vm in (("rack-1", "v6-1"), ("rack-2", "v6-2")):
        assert want[rack] == {f"{v6_of(dual['vms'][vm])[0]}/128"}, want
    me = v6_of(dual["vms"]["v6-1"])[0]
    routes = lab.ip_json("upstream-1", "-6", "route", "show", f"{me}/128")
    assert routes and routes[0]["gateway"] == lab.topology.bgp_address6("compute-1"), routes
    # The IPv4 announcements are as before.
    assert converged(lab), (model_announced(lab), upstream_tables(lab))


def test_ipv6_tenant_cannot_make_a_node_announce(cloud, dual):
    """An IPv6 allowed address pair is not announced; a /128 slipped into
    the table by hand goes; the upstream refuses what is outside the
    tenants' space."""
    lab, api = cloud["lab"], dual["api"]
    port = dual["vms"]["v6-1"]
    pair = str(ipaddress.ip_address(v6_of(port)[0]) + 0x99)
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {
        "allowed_address_pairs": [{"ip_address": pair}]}})
    assert r.status == 200, r
    time.sleep(1)
    assert converged6(lab), (model_announced6(lab), upstream_tables(lab, v6=True))
    assert f"{pair}/128" not in lab.bgp_routes("upstream-1")
    stray = str(ipaddress.ip_address(v6_of(port)[0]) + 0x98)
    lab.sh("compute-1", f"ip -6 route add {stray}/128 dev bgp0 table 76 proto 76")
    lab.sh("compute-1", "ip -6 route add 2001:db8:dead::1/128 dev bgp0 table 76 proto 76")
    wait(3, lambda: f"{stray}/128" in lab.bgp_routes("upstream-1"), 0.05)
    assert "2001:db8:dead::1/128" not in lab.bgp_routes("upstream-1")
    assert wait(20, lambda: not {r["dst"] for r in lab.ip_json(
        "compute-1", "-6", "route", "show", "table", "76")} & {stray, "2001:db8:dead::1"}, 0.5)
    assert wait(5, lambda: converged6(lab)), (model_announced6(lab),
                                               upstream_tables(lab, v6=True))
    assert api.put(f"/v2.0/ports/{port['id']}", {"port": {
        "allowed_address_pairs": []}}).status == 200


def test_ipv6_moved_vm_takes_its_128_and_a_deleted_port_withdraws_it(cloud, dual):
    lab, api = cloud["lab"], dual["api"]
    me = f"{v6_of(dual['vms']['v6-1'])[0]}/128"
    assert wait(10, lambda: converged6(lab))
    assert me in upstream_tables(lab, v6=True)[0]["rack-1"]
    # A live migration to rack 2: the guest keeps its MAC, its kernel takes
    # the same SLAAC address from the new node's advertisement.
    lab.vm_move("v6-1", "compute-2")
    assert wait(20, lambda: global6(lab, "v6-1") == v6_of(dual["vms"]["v6-1"])), \
        global6(lab, "v6-1")
    assert wait(10, lambda: converged6(lab)), (model_announced6(lab),
                                                upstream_tables(lab, v6=True))
    ups, core = upstream_tables(lab, v6=True)
    assert me in ups["rack-2"] and me not in ups["rack-1"] and me in core, (ups, core)
    north_south6(lab, "v6-1", "compute-2", 5910)
    # The port goes (the VM with it): its /128 leaves the upstream and the
    # core.
    gone = f"{v6_of(dual['vms']['v6-2'])[0]}/128"
    assert gone in upstream_tables(lab, v6=True)[0]["rack-2"]
    assert api.delete(f"/v2.0/ports/{dual['vms']['v6-2']['id']}").status == 204
    assert wait(10, lambda: gone not in lab.bgp_routes("upstream-2")
                and gone not in lab.bgp_routes("core"))
    assert wait(10, lambda: converged6(lab)), (model_announced6(lab),
                                                upstream_tables(lab, v6=True))
    assert ping6(lab, "v6-1", INTERNET_HOST6)


def test_agent_restart_keeps_the_announcements(cloud):
    """The table is diffed, never flushed: while compute-1's agent stops and
    starts again, its upstream never loses a route."""
    lab = cloud["lab"]
    assert wait(5, lambda: converged(lab))
    ups, _ = upstream_tables(lab, v6=None)
    held = ups["rack-1"]
    assert held
    lab.stop_agent("compute-1")
    missing = set()
    end = time.monotonic() + 2
    while time.monotonic() < end:
        missing |= held - set(lab.bgp_routes("upstream-1"))
        time.sleep(0.02)
    log = lab.agent_log("compute-1")
    mark = log.stat().st_size
    lab.agent_restart("compute-1")
    # The new agent's first pass.
    assert wait(20, lambda: any(e["kind"] == "full_resync"
                                for e in logfmt.events(log, "agent.pass", mark)))
    end = time.monotonic() + 3
    while time.monotonic() < end:
        missing |= held - set(lab.bgp_routes("upstream-1"))
        time.sleep(0.02)
    assert not missing, missing
    assert converged(lab), (model_announced(lab), upstream_tables(lab))
    assert converged6(lab), (model_announced6(lab), upstream_tables(lab, v6=True))


def test_one_router_over_both_racks_snats_in_each(cloud):
    """Distributed SNAT for a router whose VMs are in both racks: each
    rack's nodes SNAT to an address of their own segment, owned (held and
    announced) by a node of that rack, so replies come back where the VM
    is; the upstreams hold exactly the owners' addresses."""
    lab = cloud["lab"]
    admin = lab.admin()
    ext = admin.get("/v2.0/networks?name=public").json["networks"][0]
    api = lab.client("pc")
    net = mk(api, "network", {"name": "pc-net"})
    sub = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.3.0.0/24", "ip_version": 4})
    router = mk(api, "router", {"name": "pc-r"})
    assert api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                   {"subnet_id": sub["id"]}).status == 200
    allow_ingress(api, net["id"])
    for node in ("compute-1", "compute-2"):
        port = mk(api, "port", {"network_id": net["id"], "name": f"pc-{node}"})
        lab.vm(node, port["id"], f"pc-{node}")
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert r.status == 200, r
    segs = {"compute-1": ipaddress.ip_network("100.64.0.0/24"),
            "compute-2": ipaddress.ip_network("100.65.0.0/24")}

    def owners():
        return admin.get(f"/v2.0/routers/{router['id']}").json["router"]["lepton:snat_owners"]

    # One address per segment, each owned by the node of its rack.
    assert wait(10, lambda: sorted(owners().values()) == ["compute-1", "compute-2"]), owners()
    by_node = {h: ipaddress.ip_address(ip) for ip, h in owners().items()}
    for node, seg in segs.items():
        assert by_node[node] in seg, (node, owners())
    gw = admin.get(f"/v2.0/routers/{router['id']}").json["router"]["external_gateway_info"]
    assert {e["ip_address"] for e in gw["external_fixed_ips"] if ":" not in e["ip_address"]} \
        == {str(a) for a in by_node.values()}, gw
    # Each node's blocks are on its own segment's address.
    blocks = admin.get(f"/v2.0/lepton/snat_blocks?router_id={router['id']}").json["snat_blocks"]
    assert {(b["host"], b["ip_address"]) for b in blocks} == {
        (h, str(a)) for h, a in by_node.items()}, blocks
    # Both VMs reach the internet host by SNAT, each from its rack's address.
    for node in segs:
        assert wait(20, lambda: who_am_i(lab, f"pc-{node}") == str(by_node[node]), 0.5), \
            (node, who(lab, f"pc-{node}"))
    # The upstreams hold exactly the model's addresses (the owners').
    assert wait(10, lambda: converged(lab)), (model_announced(lab), upstream_tables(lab))
    ups, _ = upstream_tables(lab)
    assert f"{by_node['compute-1']}/32" in ups["rack-1"]
    assert f"{by_node['compute-2']}/32" in ups["rack-2"]
    # The rack-2 VM's port goes: rack 2's address has no owner any more and
    # leaves upstream-2; rack 1 keeps SNATing with its own.
    port2 = admin.get(f"/v2.0/ports?name=pc-compute-2").json["ports"][0]
    assert api.delete(f"/v2.0/ports/{port2['id']}").status == 204
    assert wait(10, lambda: list(owners().values()) == ["compute-1"]), owners()
    assert wait(10, lambda: converged(lab)), (model_announced(lab), upstream_tables(lab))
    assert f"{by_node['compute-2']}/32" not in lab.bgp_routes("upstream-2")
    assert who_am_i(lab, "pc-compute-1") == str(by_node["compute-1"])


def test_node_cut_off_withdraws_within_the_bound(cloud):
    """Last: compute-2 loses its wires (a power cut: no session is closed,
    BFD finds it silent)."""
    lab = cloud["lab"]
    assert wait(5, lambda: converged(lab) and converged6(lab))
    ups, core = upstream_tables(lab, v6=None)
    gone = ups["rack-2"]
    # Both families: the moved IPv6 VM's /128 is rack 2's.
    assert family(gone, True) and family(gone, False), gone
    i = lab.topology.index("compute-2")
    lab.sh("ext", f"ip link del x{i}; ip link del b{i}")
    cut = time.monotonic()
    seen = {}
    while time.monotonic() - cut < 10 and len(seen) < 2:
        if "up" not in seen and not set(lab.bgp_routes("upstream-2")) & gone:
            seen["up"] = time.monotonic() - cut
        if "core" not in seen and not set(lab.bgp_routes("core")) & gone:
            seen["core"] = time.monotonic() - cut
        time.sleep(0.02)
    print(f"\ncompute-2 cut off: its routes left upstream-2 after {seen.get('up', -1):.2f} s, "
          f"the core after {seen.get('core', -1):.2f} s")
    assert seen.get("up", 99) < WITHDRAW_BOUND and seen.get("core", 99) < WITHDRAW_BOUND, seen
    # Rack 1's routes stay.
    assert set(lab.bgp_routes("upstream-1")) == ups["rack-1"]


def test_lepton_lab_up_racks_command():
    """The command: `lepton-lab up --racks 2` builds the lab (BIRD in every
    node, upstream and the core, sessions up), `bgp HOST` shows a BIRD,
    `down` removes everything; bad values build nothing."""
    from conftest import BUILD
    name = unique_name("bc")
    cmd = [str(BUILD / "lepton-lab")]
    for bad, why in ((["--racks", "9"], "--racks takes 1 to 4"),
                     (["--racks", "2", "--network-node"], "no network node"),
                     (["--racks", "2", "--computes", "9"], "per rack"),
                     (["--arp-network"], "goes with --racks")):
        p = subprocess.run(cmd + ["up", "--lab", name, *bad], capture_output=True, text=True)
        assert p.returncode == 1 and why in p.stderr, (bad, p.stderr)
        assert not [n for n in netns_list() if n.startswith(f"lp-{name}-")]
    try:
        p = subprocess.run(cmd + ["up", "--lab", name, "--racks", "2"], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        p = subprocess.run(cmd + ["bgp", "--lab", name, "upstream-2"], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0 and re.search(r"n_compute_2 +BGP .* Established", p.stdout), \
            p.stdout
        st = subprocess.run(cmd + ["status", "--lab", name, "--json"], capture_output=True,
                            text=True).stdout
        for h in ("compute-1", "compute-2", "upstream-1", "upstream-2", "core"):
            assert f'"bird-{h}": true' in st, st
    finally:
        subprocess.run(cmd + ["down", "--lab", name], capture_output=True, timeout=120)
    assert not [n for n in netns_list() if n.startswith(f"lp-{name}-")]

"""Distributed SNAT with real packets (issue 10, SNAT-CONTRACT.md): a cloud
with no network node; VMs without a Floating IP on three computes reach the
internet host through SNAT on their own node, all behind the router's one
gateway address, each node within its port blocks; the owner answers ARP
for the address and forwards, statelessly, the return traffic of the other
nodes' blocks (counted by nftables counters, no conntrack entry on the
owner); ICMP errors follow their quoted header; when the owner dies, another
node takes over and the TCP streams of the survivors go on."""
import json
import re
import subprocess
import time

import pytest

from lab import Lab, allow_ingress, unique_name
from leptonlab.snat import (HOLD, INTERNET, OTHER, READER, SERVERS, STREAM, WHO, blocks, mk,
                            owner_of, qrouter, upstream_mac, wait, who_am_i)

PORT = WHO      # answers "address port" of the peer
CLIENT = READER  # a TCP stream reader: "gap G bytes N"


# N connections held open, one every PACE seconds: per connection the
# time it took and the (address, port) the internet host saw.
MANY = r"""
import json, socket, sys, time
n, out, socks = int(sys.argv[3]), [], []
for i in range(n):
    t = time.monotonic()
    try:
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
        line = s.makefile().readline().split()
        out.append([time.monotonic() - t, line[0], int(line[1])]); socks.append(s)
    except OSError as e:
        out.append([time.monotonic() - t, repr(e), 0])
    time.sleep(float(sys.argv[4]))
print(json.dumps(out), flush=True)
"""

# A datagram to a closed port: the ICMP port unreachable must come back.
UDP_REFUSED = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.connect((sys.argv[1], 9)); s.send(b"x")
try:
    s.recv(10); print("data")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
"""


def fg_mac(lab, node, router_id):
    links = lab.ip_json(qrouter(node, router_id), "link", "show")
    macs = [ln["address"] for ln in links if ln["ifname"].startswith("fg-")]
    assert len(macs) == 1, links
    return macs[0]


def fwd_counters(lab, node, router_id):
    """{(lo, hi): packets} of the owner's forwarding rules, by block."""
    out = lab.exec(qrouter(node, router_id), ["nft", "-j", "list", "table", "netdev", "lepton"],
                   check=True).stdout
    counts = {}
    for item in json.loads(out)["nftables"]:
        rule = item.get("rule")
        if not rule:
            continue
        text = json.dumps(rule["expr"])
        rng = re.search(r'"range": \[(\d+), (\d+)\]', text)
        pk = [e["counter"]["packets"] for e in rule["expr"] if "counter" in e]
        if rng and pk:
            key = (int(rng.group(1)), int(rng.group(2)))
            counts[key] = counts.get(key, 0) + pk[0]
    return counts


def conntrack(lab, node, router_id):
    return lab.exec(qrouter(node, router_id), ["cat", "/proc/net/nf_conntrack"],
                    check=True).stdout


def project(lab, proj, n, router_body):
    """One network behind a distributed router with a gateway on `public`,
    a VM on each of compute-1..n, the internet host's servers; returns once
    every node has its block, the router its owner, and every VM reaches
    the internet through the gateway address."""
    admin = lab.admin()
    ext = admin.get("/v2.0/networks?name=public").json["networks"][0]
    api = lab.client(proj)
    net = mk(api, "network", {"name": f"{proj}-net"})
    sub = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    router = mk(admin.as_(proj, "admin"), "router", {"name": f"{proj}-r", **router_body})
    assert router["snat_mode"] == "distributed"
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert r.status == 200, r
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert r.status == 200, r
    gw = r.json["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    vms = {}
    for i in range(1, n + 1):
        port = mk(api, "port", {"network_id": net["id"], "name": f"{proj}-vm{i}"})
        lab.vm(f"compute-{i}", port["id"], f"{proj}-vm{i}")
        vms[f"compute-{i}"] = {"vm": f"{proj}-vm{i}", "ip": port["fixed_ips"][0]["ip_address"]}
    rid = router["id"]
    assert wait(30, lambda: {b["host"] for b in blocks(admin, rid)
                             if b["status"] == "ACTIVE"} == set(vms)), blocks(admin, rid)
    assert wait(30, lambda: owner_of(admin, rid) in vms)
    for v in vms.values():
        assert wait(30, lambda: who_am_i(lab, v["vm"])[0] == gw, 1), v
    return {"lab": lab, "admin": admin, "router": rid, "gw": gw, "vms": vms}


def started(lab):
    """The internet host's servers (who, stream, hold)."""
    srv = lab.popen("internet", ["python3", "-c", SERVERS], stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().strip() == "ready"
    return srv


@pytest.fixture(scope="module")
def cloud():
    # Failover within seconds needs liveness within one: heartbeats every
    # 200 ms, dead after 1 s without one.
    lab = Lab(unique_name("ds"), computes=3, network_node=False, public=True,
              server_config={"agent_down_time": 1},
              agent_args=["--heartbeat-interval", "200"])
    srv = None
    try:
        lab.up()
        srv = started(lab)
        yield project(lab, "pds", 3, {"distributed": True, "snat_mode": "distributed"})
    finally:
        if srv:
            lab.stop(srv)
        lab.down()


def test_every_node_snats_to_the_one_address_within_its_blocks(cloud):
    lab, admin, rid, gw = cloud["lab"], cloud["admin"], cloud["router"], cloud["gw"]
    bl = blocks(admin, rid)
    mine = {}
    for b in bl:
        assert b["ip_address"] == gw
        mine.setdefault(b["host"], []).append((b["port_min"], b["port_max"]))
    ranges = sorted(r for rs in mine.values() for r in rs)
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:])), ranges  # disjoint
    seen = {}
    for node, v in cloud["vms"].items():
        for _ in range(10):
            addr, port = who_am_i(lab, v["vm"])
            assert addr == gw, (node, addr)
            assert any(lo <= port <= hi for lo, hi in mine[node]), (node, port, mine[node])
            seen.setdefault(node, set()).add(port)
    print(f"\nsource ports seen at the internet host: "
          f"{ {n: sorted(p)[:3] for n, p in seen.items()} } (first 3 of 10 per node)")
    # ICMP echo (ids mapped into the node's block) and an ICMP error
    # (port unreachable, back by its quoted header) from every node.
    for node, v in cloud["vms"].items():
        assert lab.sh(v["vm"], f"ping -c 2 -W 2 -i 0.2 {INTERNET}", check=False).returncode == 0
        out = lab.exec(v["vm"], ["python3", "-c", UDP_REFUSED, INTERNET]).stdout.strip()
        assert out == "refused", (node, out)


def test_return_traffic_enters_at_the_owner_and_is_forwarded(cloud):
    lab, admin, rid, gw = cloud["lab"], cloud["admin"], cloud["router"], cloud["gw"]
    owner = owner_of(admin, rid)
    others = [n for n in cloud["vms"] if n != owner]
    # The upstream reaches the address at the owner's fg- MAC; nodes that
    # are not the owner hold no address on their fg- leg.
    assert upstream_mac(lab, gw) == fg_mac(lab, owner, rid)
    for n in others:
        addrs = [a["local"] for ln in lab.ip_json(qrouter(n, rid), "-4", "addr", "show")
                 if ln["ifname"].startswith("fg-") for a in ln["addr_info"]]
        assert gw not in addrs, (n, addrs)
    # A non-owner's SNAT traffic leaves from its own node (its fg- MAC on
    # its own port of the external switch).
    other = others[0]
    leg = f"x{lab.topology.index(other)}"
    cap = lab.popen("ext", ["tcpdump", "-l", "-n", "-e", "-i", leg, "-c", "1",
                            f"tcp dst port {PORT} and src host {gw}"],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(1)
    before = fwd_counters(lab, owner, rid)
    assert who_am_i(lab, cloud["vms"][other]["vm"])[0] == gw
    out, _ = cap.communicate(timeout=10)
    assert out.split()[1] == fg_mac(lab, other, rid), out
    # Its return traffic is counted by the owner's rule for its block.
    after = fwd_counters(lab, owner, rid)
    theirs = [(b["port_min"], b["port_max"]) for b in blocks(admin, rid) if b["host"] == other]
    grew = sum(after.get(r, 0) - before.get(r, 0) for r in theirs)
    print(f"\nowner {owner} forwarded {grew} packets of one connection of {other}; "
          f"counters by block now {after}")
    assert grew >= 2, (before, after)  # SYN-ACK, FIN...
    mine = [(b["port_min"], b["port_max"]) for b in blocks(admin, rid) if b["host"] == owner]
    assert not any(r in after for r in mine)
    # Stateless: a stream of the other node open now has a conntrack entry
    # there, none on the owner.
    ip = cloud["vms"][other]["ip"]
    p = lab.popen(cloud["vms"][other]["vm"], ["python3", "-c", CLIENT, INTERNET, str(STREAM),
                                              "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "connected"
        time.sleep(1)
        assert f"src={ip} " in conntrack(lab, other, rid)
        assert f"src={ip} " not in conntrack(lab, owner, rid)
        assert f"dport={STREAM} " not in conntrack(lab, owner, rid)
        out, _ = p.communicate(timeout=15)
        assert out.startswith("gap"), out
    finally:
        lab.stop(p)


def test_three_nodes_500_connections_each(cloud):
    """3 nodes x 500 concurrent TCP connections to one internet port: all
    made, 1,500 distinct source ports of the one address, each node's in
    its blocks."""
    lab, admin, rid, gw = cloud["lab"], cloud["admin"], cloud["router"], cloud["gw"]
    procs = {n: lab.popen(v["vm"], ["python3", "-c", MANY, INTERNET, str(HOLD), "500", "0.005"],
                          stdout=subprocess.PIPE, text=True)
             for n, v in cloud["vms"].items()}
    conns = {n: json.loads(p.communicate(timeout=180)[0]) for n, p in procs.items()}
    seen = set()
    for n, cs in conns.items():
        ranges = [(b["port_min"], b["port_max"]) for b in blocks(admin, rid) if b["host"] == n]
        assert all(c[1] == gw for c in cs), [c for c in cs if c[1] != gw][:5]
        assert all(any(lo <= c[2] <= hi for lo, hi in ranges) for c in cs), n
        seen |= {c[2] for c in cs}
        print(f"\n{n}: 500 connections, slowest {max(c[0] for c in cs):.3f} s")
    assert len(seen) == 1500


def lost_pings(out, events):
    """What `ping -D` lost, for the failure message: the sequence numbers,
    when (between the replies around them, in seconds after each of
    `events`, (name, time)) and the lines that were no reply (an ICMP
    error names who refused)."""
    got = {int(m.group(2)): float(m.group(1))
           for m in re.finditer(r"^\[([\d.]+)\].*icmp_seq=(\d+) .*time=", out, re.M)}
    lost = [s for s in range(1, max(got, default=0) + 1) if s not in got]
    if not lost:
        return out[-2000:]
    before = max((t for s, t in got.items() if s < lost[0]), default=None)
    after = min((t for s, t in got.items() if s > lost[-1]), default=None)
    return {"lost": lost,
            "between": {n: [round(x - t, 2) if x else None for x in (before, after)]
                        for n, t in events},
            "not replies": [ln for ln in out.splitlines() if "time=" not in ln][1:8]}


def test_agents_restarted_under_snat_traffic(cloud):
    """Every agent restarted, one after the other, while each VM pings the
    internet host every 20 ms and holds a TCP stream through SNAT: nothing
    lost, no reset, no stall."""
    lab = cloud["lab"]
    pingers, clients = {}, {}
    for n, v in cloud["vms"].items():
        pingers[n] = lab.popen(v["vm"], ["ping", "-D", "-i", "0.02", "-c", "400", "-W", "1",
                                         INTERNET], stdout=subprocess.PIPE, text=True)
        clients[n] = lab.popen(v["vm"], ["python3", "-c", CLIENT, INTERNET, str(STREAM), "8"],
                               stdout=subprocess.PIPE, text=True)
    try:
        for n, p in clients.items():
            assert p.stdout.readline().strip() == "connected", n
        restarts = []
        for n in cloud["vms"]:
            restarts.append((n, time.time()))
            lab.agent_restart(n)
            time.sleep(1.5)
        for n, p in pingers.items():
            out, _ = p.communicate(timeout=60)
            m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
            assert m and m.group(1) == m.group(2), (n, lost_pings(out, restarts))
        for n, p in clients.items():
            out, _ = p.communicate(timeout=30)
            m = re.match(r"gap ([\d.]+) bytes", out.strip())
            assert m and float(m.group(1)) < 0.5, (n, out)
        assert wait(20, lambda: all(lab._agent_alive(n) for n in cloud["vms"]))
    finally:
        for p in list(pingers.values()) + list(clients.values()):
            lab.stop(p)


def test_owner_agent_away_longer_than_agent_down_time(cloud):
    """The owner's agent stops for longer than agent_down_time (an agent
    restarted slowly): the server moves the owner away and puts the node's
    block in GRACE. The node keeps SNATing its VM's traffic with that
    block, and when its agent is back and takes the gateway address off
    its fg- leg (the kernel then drops every route through the leg, which
    is left without an address), its VM's pings go on: none lost."""
    lab, admin, rid, gw = cloud["lab"], cloud["admin"], cloud["router"], cloud["gw"]
    owner = owner_of(admin, rid)
    p = lab.popen(cloud["vms"][owner]["vm"], ["ping", "-D", "-i", "0.02", "-c", "600", "-W", "1",
                                              INTERNET], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        events = [("agent stopped", time.time())]
        lab.stop_agent(owner)
        assert wait(10, lambda: owner_of(admin, rid) not in ("", owner), 0.05)
        assert wait(10, lambda: all(b["status"] == "GRACE" for b in blocks(admin, rid)
                                    if b["host"] == owner))
        events.append(("agent started", time.time()))
        lab.agent_restart(owner)
        assert wait(20, lambda: "address" not in snat_state(lab, owner, rid, gw))
        assert wait(20, lambda: lab._agent_alive(owner))
        assert wait(10, lambda: all(b["status"] == "ACTIVE" for b in blocks(admin, rid)
                                    if b["host"] == owner))
        out, _ = p.communicate(timeout=60)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m and m.group(1) == m.group(2), lost_pings(out, events)
        print(f"\n{owner}'s agent away: owner now {owner_of(admin, rid)}, {m.group(2)} of "
              f"{m.group(1)} pings answered")
    finally:
        lab.stop(p)


def test_owner_dies_another_takes_over_streams_go_on(cloud):
    lab, admin, rid, gw = cloud["lab"], cloud["admin"], cloud["router"], cloud["gw"]
    owner = owner_of(admin, rid)
    survivors = [n for n in cloud["vms"] if n != owner]
    clients = {}
    for n in survivors:
        clients[n] = lab.popen(cloud["vms"][n]["vm"], ["python3", "-c", CLIENT, INTERNET,
                                                       str(STREAM), "12"],
                               stdout=subprocess.PIPE, text=True)
    try:
        for n, p in clients.items():
            assert p.stdout.readline().strip() == "connected", n
        time.sleep(2)
        # The node dies: its links cut, its agent stopped.
        i = lab.topology.index(owner)
        t0 = time.monotonic()
        lab.sh("ext", f"ip link set x{i} down")
        lab.sh("ul", f"ip link set n{i} down")
        lab.stop_agent(owner)
        macs = {n: fg_mac(lab, n, rid) for n in survivors}
        assert wait(10, lambda: upstream_mac(lab, gw) in macs.values(), 0.05)
        took = time.monotonic() - t0
        new = owner_of(admin, rid)
        assert new in survivors and upstream_mac(lab, gw) == macs[new]
        print(f"\nowner {owner} cut and stopped: {new} answers for {gw} at the upstream "
              f"after {took * 1000:.0f} ms")
        results = {n: p.communicate(timeout=30)[0].strip() for n, p in clients.items()}
        print(f"streams of the survivors: {results}")
        for n, out in results.items():
            m = re.match(r"gap ([\d.]+) bytes (\d+)", out)
            assert m, (n, out)  # no reset, no end
            assert float(m.group(1)) < 3.0, (n, out)
        assert took < 3.0, took
    finally:
        for p in clients.values():
            lab.stop(p)


@pytest.fixture(scope="module")
def small_blocks():
    """Blocks of 64 ports; VMs on two computes; snat_mode left to its
    default (distributed, for a distributed router). A network node too,
    for the router's turns in centralized SNAT (it hosts no VM, so it is
    never the owner)."""
    lab = Lab(unique_name("dx"), computes=2, network_node=True, public=True,
              server_config={"snat_block_size": 64})
    srv = None
    try:
        lab.up()
        srv = started(lab)
        yield project(lab, "pdx", 2, {"distributed": True})
    finally:
        if srv:
            lab.stop(srv)
        lab.down()


def test_a_node_short_of_ports_gets_more_blocks(small_blocks):
    """200 connections held open from one VM to one internet port, on
    blocks of 64 ports: the node asks for more blocks as it runs short and
    every connection is made, each from a port of that node's blocks (the
    owner forwards the new blocks too)."""
    c = small_blocks
    lab, admin, rid, gw = c["lab"], c["admin"], c["router"], c["gw"]
    node = [n for n in c["vms"] if n != owner_of(admin, rid)][0]
    n = 200
    out = lab.exec(c["vms"][node]["vm"], ["python3", "-c", MANY, INTERNET, str(HOLD), str(n),
                                            "0.05"],
                   timeout=120).stdout
    conns = json.loads(out)
    ranges = [(b["port_min"], b["port_max"]) for b in blocks(admin, rid) if b["host"] == node]
    slow = [round(t, 2) for t, _, _ in conns if t > 0.9]
    print(f"\n{node}: {len(ranges)} blocks of 64 ports after {n} connections; "
          f"connections that took > 0.9 s (a SYN sent again): {len(slow)} {slow[:10]}")
    failed = [x for x in conns if x[1] != gw]
    assert not failed, failed
    assert all(any(lo <= p <= hi for lo, hi in ranges) for _, _, p in conns), (ranges, conns)
    assert len({p for _, _, p in conns}) == n
    assert len(ranges) >= -(-n // 64), ranges


def test_floating_ips_and_enable_snat_beside_distributed_snat(small_blocks):
    """A VM with a Floating IP leaves with it (and is reached on it) while
    the other VM shares the gateway address; enable_snat=false ends SNAT
    and keeps the Floating IP; true brings SNAT back."""
    c = small_blocks
    lab, admin, rid, gw = c["lab"], c["admin"], c["router"], c["gw"]
    api = lab.client("pdx")
    ext = admin.get("/v2.0/networks?name=public").json["networks"][0]
    vm1, vm2 = c["vms"]["compute-1"], c["vms"]["compute-2"]
    port = api.get("/v2.0/ports?name=pdx-vm1").json["ports"][0]
    allow_ingress(api, port["network_id"])
    fip = mk(api, "floatingip", {"floating_network_id": ext["id"], "port_id": port["id"]})
    ip = fip["floating_ip_address"]
    assert wait(15, lambda: who_am_i(lab, vm1["vm"])[0] == ip, 0.5)
    assert who_am_i(lab, vm2["vm"])[0] == gw
    assert lab.sh("internet", f"ping -c 2 -W 2 -i 0.2 {ip}", check=False).returncode == 0
    info = {"network_id": ext["id"], "enable_snat": False}
    adm = admin.as_("pdx", "admin")  # enable_snat is the admin's
    assert adm.put(f"/v2.0/routers/{rid}", {"router": {"external_gateway_info": info}}).status \
        == 200
    assert wait(15, lambda: who_am_i(lab, vm2["vm"])[0] == "", 0.5)
    assert who_am_i(lab, vm1["vm"])[0] == ip
    info["enable_snat"] = True
    assert adm.put(f"/v2.0/routers/{rid}", {"router": {"external_gateway_info": info}}).status \
        == 200
    assert wait(30, lambda: who_am_i(lab, vm2["vm"])[0] == gw, 0.5)
    assert api.delete(f"/v2.0/floatingips/{fip['id']}").status == 204
    assert wait(15, lambda: who_am_i(lab, vm1["vm"])[0] == gw, 0.5)


def test_a_node_that_is_not_the_owner_dies(cloud):
    """After the failover above: the other node that is not the owner dies
    (links cut, agent stopped) while the owner's VM streams; the stream
    does not notice, the dead node's blocks go to GRACE, the owner stays."""
    lab, admin, rid = cloud["lab"], cloud["admin"], cloud["router"]
    owner = owner_of(admin, rid)
    alive = [n for n in cloud["vms"] if n != owner and lab.alive(f"agent-{n}")]
    assert len(alive) == 1, alive
    victim = alive[0]
    p = lab.popen(cloud["vms"][owner]["vm"], ["python3", "-c", CLIENT, INTERNET, str(STREAM),
                                              "6"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "connected"
        time.sleep(1)
        i = lab.topology.index(victim)
        lab.sh("ext", f"ip link set x{i} down")
        lab.sh("ul", f"ip link set n{i} down")
        lab.stop_agent(victim)
        assert wait(10, lambda: all(b["status"] == "GRACE" for b in blocks(admin, rid)
                                    if b["host"] == victim))
        out, _ = p.communicate(timeout=30)
        m = re.match(r"gap ([\d.]+) bytes", out.strip())
        print(f"\n{victim} (not the owner) cut and stopped: the owner's stream {out.strip()}")
        assert m and float(m.group(1)) < 0.5, out
        assert owner_of(admin, rid) == owner
    finally:
        lab.stop(p)


def open_ingress(api, network_id):
    """ICMP and TCP from anywhere into the project's VMs (the rules may
    be there already: 409 is fine)."""
    sg = api.get("/v2.0/security-groups?name=default").json["security_groups"]
    if not sg:
        allow_ingress(api, network_id)
        return
    for proto in ("icmp", "tcp"):
        r = api.post("/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": sg[0]["id"], "direction": "ingress", "protocol": proto}})
        assert r.status in (201, 409), r


def snat_state(lab, node, rid, gw):
    """What SNAT state for the gateway address a node holds: a `snat to`
    rule or the owner's forwarding table in its router namespaces, the
    address on a leg, a snat- namespace."""
    found = set()
    for ns in lab.namespaces():
        prefix = lab.ns(node) + "-"
        if not ns.startswith(prefix) or rid not in ns:
            continue
        host = ns[len(lab.ns("")):]
        if ns.startswith(prefix + "snat-"):
            found.add("snat-namespace")
        rules = lab.exec(host, ["nft", "list", "ruleset"], check=True).stdout
        if re.search(rf"snat (ip )?to {re.escape(gw)}\b", rules):
            found.add("snat-rule")
        if "table netdev lepton" in rules:
            found.add("forwarding")
        addrs = lab.exec(host, ["ip", "-4", "-o", "addr"], check=True).stdout
        if re.search(rf"inet {re.escape(gw)}/", addrs):
            found.add("address")
    return found


def test_snat_mode_changes_on_a_live_router(small_blocks):
    """distributed -> centralized -> distributed on a live router while a
    VM with a Floating IP holds two TCP streams (one it opened to the
    internet host, one the internet host opened to its Floating IP): the
    streams go on with no reset; after each change the VM without a
    Floating IP reaches the internet again through the gateway address
    (from its node, or through the network node), and the state of the
    other mode is gone from every node (SNAT rules, the owner's
    forwarding table and address, the snat- namespace, blocks in GRACE)."""
    c = small_blocks
    lab, admin, rid, gw = c["lab"], c["admin"], c["router"], c["gw"]
    api, adm = lab.client("pdx"), admin.as_("pdx", "admin")
    ext = admin.get("/v2.0/networks?name=public").json["networks"][0]
    vm1, vm2 = c["vms"]["compute-1"], c["vms"]["compute-2"]
    port = api.get("/v2.0/ports?name=pdx-vm1").json["ports"][0]
    open_ingress(api, port["network_id"])
    fip = mk(api, "floatingip", {"floating_network_id": ext["id"], "port_id": port["id"]})
    ip = fip["floating_ip_address"]
    vm_srv = lab.popen(vm1["vm"], ["python3", "-c", SERVERS], stdout=subprocess.PIPE, text=True)
    streams = []
    try:
        assert vm_srv.stdout.readline().strip() == "ready"
        assert wait(15, lambda: who_am_i(lab, vm1["vm"])[0] == ip, 0.5)
        streams = [lab.popen(host, ["python3", "-c", CLIENT, to, str(STREAM), "16"],
                             stdout=subprocess.PIPE, text=True)
                   for host, to in ((vm1["vm"], INTERNET), ("internet", ip))]
        for p in streams:
            assert p.stdout.readline().strip() == "connected"
        nodes = ("compute-1", "compute-2", "network-1")
        took = {}
        for mode in ("centralized", "distributed"):
            time.sleep(1.5)
            t0 = time.monotonic()
            r = adm.put(f"/v2.0/routers/{rid}", {"router": {"snat_mode": mode}})
            assert r.status == 200, r
            assert r.json["router"]["snat_mode"] == mode
            assert wait(20, lambda: who_am_i(lab, vm2["vm"], 1)[0] == gw, 0.1), mode
            took[mode] = time.monotonic() - t0
            if mode == "centralized":
                want = {"compute-1": set(), "compute-2": set(),
                        "network-1": {"snat-namespace", "snat-rule", "address"}}
                assert wait(10, lambda: all(b["status"] == "GRACE"
                                            for b in blocks(admin, rid)))
            else:
                owner = owner_of(admin, rid)
                assert owner in ("compute-1", "compute-2"), owner
                want = {n: {"snat-rule"} for n in ("compute-1", "compute-2")}
                want[owner] |= {"forwarding", "address"}
                want["network-1"] = set()
                assert wait(10, lambda: {b["host"] for b in blocks(admin, rid)
                                         if b["status"] == "ACTIVE"} ==
                            {"compute-1", "compute-2"})
            assert wait(10, lambda: {n: snat_state(lab, n, rid, gw) for n in nodes} == want), \
                ({n: snat_state(lab, n, rid, gw) for n in nodes}, want)
            assert who_am_i(lab, vm1["vm"])[0] == ip
        print(f"\nSNAT from the VM without a Floating IP back after a change to: "
              f"{ {m: round(t, 2) for m, t in took.items()} } s")
        for p in streams:
            out, _ = p.communicate(timeout=30)
            print(f"Floating IP stream across both changes: {out.strip()}")
            m = re.match(r"gap ([\d.]+) bytes", out.strip())
            assert m and float(m.group(1)) < 1.0, out
    finally:
        for p in streams + [vm_srv]:
            lab.stop(p)
        assert api.delete(f"/v2.0/floatingips/{fip['id']}").status == 204


def test_firewall_and_security_groups_with_distributed_snat(small_blocks):
    """FWaaS and security groups apply to SNAT traffic as with centralized
    SNAT, on every node: a firewall group on the router's interface that
    denies TCP to port 8080 from the subnet stops both VMs' SNAT
    connections to that port (the other port still works, through the one
    gateway address); a security group that lets the VM out only to port
    8083 does the same on the VM's port. Removing them brings it back."""
    c = small_blocks
    lab, admin, rid, gw = c["lab"], c["admin"], c["router"], c["gw"]
    api = lab.client("pdx")
    vms = [v["vm"] for v in c["vms"].values()]

    def reach(port):
        return {vm: who_am_i(lab, vm, 2, port)[0] for vm in vms}

    allowed = {vm: gw for vm in vms}
    denied = {vm: "" for vm in vms}
    # The test before removed vm1's Floating IP: its nodes may still be
    # applying that when this starts.
    assert wait(15, lambda: reach(PORT) == allowed and reach(OTHER) == allowed), \
        (reach(PORT), reach(OTHER))
    iface = [p for p in api.get(f"/v2.0/ports?device_id={rid}").json["ports"]
             if p["device_owner"].startswith("network:router_interface")][0]

    def fw(coll, kind, body):
        r = api.post(f"/v2.0/fwaas/{coll}", {kind: body})
        assert r.status == 201, r
        return r.json[kind]["id"]

    rules = [fw("firewall_rules", "firewall_rule", b) for b in (
        {"protocol": "tcp", "destination_port": str(PORT), "action": "deny"},
        {"protocol": "tcp", "action": "allow"}, {"protocol": "icmp", "action": "allow"})]
    pol = fw("firewall_policies", "firewall_policy", {"firewall_rules": rules})
    # Ingress: what enters the router from the subnet.
    group = fw("firewall_groups", "firewall_group", {"ingress_firewall_policy_id": pol,
                                                     "ports": [iface["id"]]})
    try:
        assert wait(10, lambda: reach(PORT) == denied, 0.2)
        assert reach(OTHER) == allowed
    finally:
        r = api.put(f"/v2.0/fwaas/firewall_groups/{group}", {"firewall_group": {"ports": []}})
        assert r.status == 200, r
    assert wait(10, lambda: reach(PORT) == allowed, 0.2)
    # A security group with one egress rule (TCP to 8083) on both VMs.
    r = api.post("/v2.0/security-groups", {"security_group": {"name": "out-8083"}})
    assert r.status == 201, r
    sg = r.json["security_group"]
    for rule in sg["security_group_rules"]:
        if rule["direction"] == "egress":
            assert api.delete(f"/v2.0/security-group-rules/{rule['id']}").status == 204
    r = api.post("/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "egress", "protocol": "tcp",
        "port_range_min": OTHER, "port_range_max": OTHER}})
    assert r.status == 201, r
    ports = [api.get(f"/v2.0/ports?name={vm}").json["ports"][0] for vm in vms]
    try:
        for p in ports:
            r = api.put(f"/v2.0/ports/{p['id']}", {"port": {"security_groups": [sg["id"]]}})
            assert r.status == 200, r
        assert wait(10, lambda: reach(PORT) == denied, 0.2)
        assert reach(OTHER) == allowed
    finally:
        for p in ports:
            r = api.put(f"/v2.0/ports/{p['id']}", {"port": {
                "security_groups": p["security_groups"]}})
            assert r.status == 200, r
    assert wait(10, lambda: reach(PORT) == allowed, 0.2)

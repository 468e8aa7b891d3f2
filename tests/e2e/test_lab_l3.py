"""Virtual routers on the data plane, with real packets: the seven traffic
cases of DESIGN.md in each router mode (legacy, DVR with centralized SNAT),
checking the path as well as the result; Floating IPs from the pool on the
VM's node, moving with the VM; SNAT; overlapping tenants north-south;
cleanup; agents restarted under traffic."""
import re
import subprocess
import time

import pytest

from lab import Lab, allow_ingress, unique_name

NET1 = "100.127.0.13"  # network-1's tunnel address (after compute-1, -2)
INTERNET = "198.51.100.10"


def mk(client, kind, body, status=201):
    r = client.post(f"/v2.0/{kind}s", {kind: body})
    assert r.status == status, r
    return r.json[kind]


def ping(lab, host, ip, count=2):
    return lab.sh(host, f"ping -c {count} -W 1 -i 0.2 {ip}", check=False).returncode == 0


def who_am_i_server(lab, host, port):
    """A TCP server that answers each connection with the peer's address."""
    code = ("import socket\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('0.0.0.0', {port})); s.listen(8); print('ready', flush=True)\n"
            "while True:\n"
            "    c, a = s.accept(); c.sendall((a[0] + '\\n').encode()); c.close()\n")
    p = lab.popen(host, ["python3", "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def tcp_peer(lab, client, ip, port):
    """Connects over TCP; returns the address the server saw, or ''."""
    p = lab.sh(client, f"nc -w 2 {ip} {port} </dev/null", check=False, timeout=10)
    return p.stdout.strip()


class Capture:
    """tcpdump in a namespace on one interface, counting packets."""

    def __init__(self, lab, host, dev, bpf):
        self.p = lab.popen(host, ["tcpdump", "-l", "-n", "-i", dev, bpf],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = ""
        while "listening" not in line:
            line = self.p.stderr.readline()
            assert line, "tcpdump did not start"

    def stop(self):
        time.sleep(0.5)
        self.p.terminate()
        out, _ = self.p.communicate(timeout=10)
        return [ln for ln in out.splitlines() if ln.strip()]


def underlay(lab):
    return Capture(lab, "ul", "ul", "udp port 4789")


def carrying(lines, *ips):
    """VXLAN packets (outer line) whose inner packet (the next line) is IPv4
    to or from one of ips: other traffic (IPv6 router solicitations...)
    never makes a path check pass or fail."""
    out = []
    for outer, inner in zip(lines, lines[1:]):
        if "VXLAN" in outer and inner.startswith("IP ") and any(
                re.search(rf"\b{re.escape(ip)}\b", inner) for ip in ips):
            out.append(outer)
    return out


def build_project(lab, proj, mode, ext):
    """Two subnets behind one router; VMs: a (compute-1, s1), b (compute-2,
    s1), c (compute-2, s2), d (compute-1, s2); a has a Floating IP."""
    api = lab.client(proj)
    admin_as = lab.admin().as_(proj, "admin")
    nets, subs = [], []
    for i, cidr in enumerate(("10.0.0.0/24", "10.0.1.0/24")):
        n = mk(api, "network", {"name": f"{proj}-n{i}"})
        nets.append(n)
        subs.append(mk(api, "subnet", {"network_id": n["id"], "cidr": cidr, "ip_version": 4}))
    body = {"name": f"{proj}-r", "distributed": mode == "dvr"}
    if mode == "dvr":
        body["snat_mode"] = "centralized"
    router = mk(admin_as, "router", body)
    for s in subs:
        r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": s["id"]})
        assert r.status == 200, r
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert r.status == 200, r
    gw_ip = r.json["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    # ICMP and TCP from anywhere into the project's VMs.
    allow_ingress(api, nets[0]["id"])
    vms = {}
    for name, node, k in (("a", 1, 0), ("b", 2, 0), ("c", 2, 1), ("d", 1, 1)):
        port = mk(api, "port", {"network_id": nets[k]["id"], "name": f"{proj}-{name}"})
        lab.vm(f"compute-{node}", port["id"], f"{proj}-{name}")
        vms[name] = {"port": port, "ip": port["fixed_ips"][0]["ip_address"],
                     "vm": f"{proj}-{name}"}
    fip = mk(api, "floatingip", {"floating_network_id": ext["id"],
                                 "port_id": vms["a"]["port"]["id"]})
    return {"api": api, "router": router, "vms": vms, "fip": fip, "gw_ip": gw_ip,
            "subs": subs}


@pytest.fixture(scope="module")
def cloud():
    lab = Lab(unique_name("l3"), computes=2, network_node=True, public=True)
    try:
        lab.up()
        admin = lab.admin()
        ext = admin.get("/v2.0/networks?name=public").json["networks"][0]
        projects = {"legacy": build_project(lab, "pl", "legacy", ext),
                    "dvr": build_project(lab, "pd", "dvr", ext)}
        srv = who_am_i_server(lab, "internet", 8080)
        try:
            yield lab, admin, ext, projects
        finally:
            lab.stop(srv)
    finally:
        lab.down()


def test_floating_ip_from_pool_gateway_from_private_space(cloud):
    lab, admin, ext, projects = cloud
    for p in projects.values():
        assert p["fip"]["floating_ip_address"].startswith("203.0.113.")
        assert p["gw_ip"].startswith("100.64.0.")


def test_bound_router_ports_go_active(cloud):
    """Router ports plugged on the network node (legacy interfaces and
    gateway, centralized SNAT ports) are ACTIVE once their legs are in."""
    lab, admin, ext, projects = cloud
    want = {"legacy": ("network:router_interface", "network:router_gateway"),
            "dvr": ("network:router_centralized_snat", "network:router_gateway")}
    deadline = time.time() + 20
    while True:
        states = {}
        for mode, p in projects.items():
            for port in admin.get(f"/v2.0/ports?device_id={p['router']['id']}").json["ports"]:
                if port["device_owner"] in want[mode]:
                    assert port["binding:host_id"] == "network-1"
                    states[port["id"]] = port["status"]
        if set(states.values()) == {"ACTIVE"} or time.time() > deadline:
            break
        time.sleep(0.5)
    assert len(states) == 2 + 1 + 2 + 1 and set(states.values()) == {"ACTIVE"}, states


@pytest.mark.parametrize("mode", ["legacy", "dvr"])
def test_seven_traffic_cases(cloud, mode):
    lab, admin, ext, projects = cloud
    p = projects[mode]
    vms, fip = p["vms"], p["fip"]["floating_ip_address"]
    a, b, c, d = (vms[k] for k in "abcd")
    # 7. DHCP on the VM's own node: every VM got its port's address.
    for v in vms.values():
        out = lab.sh(v["vm"], "ip -4 -o addr show dev eth0").stdout
        assert f"inet {v['ip']}/24" in out, out
    # 1. Same network, two nodes: bridged over VXLAN between the computes.
    cap = underlay(lab)
    assert ping(lab, a["vm"], b["ip"])
    pkts = carrying(cap.stop(), b["ip"])
    assert any("100.127.0.11" in x and "100.127.0.12" in x for x in pkts)
    assert not any(NET1 in x for x in pkts), pkts
    # 2. Two subnets, same node: DVR routes on the node (nothing on the
    # underlay); legacy goes through the network node.
    cap = underlay(lab)
    assert ping(lab, a["vm"], d["ip"])
    pkts = carrying(cap.stop(), d["ip"])
    if mode == "dvr":
        assert pkts == [], pkts
    else:
        assert any(NET1 in x for x in pkts), pkts
    # 3. Two subnets, two nodes: DVR routes on the source node and bridges
    # to the destination node; the network node never sees it.
    cap = underlay(lab)
    assert ping(lab, a["vm"], c["ip"])
    pkts = carrying(cap.stop(), c["ip"])
    if mode == "dvr":
        assert pkts and not any(NET1 in x for x in pkts), pkts
    else:
        assert any(NET1 in x for x in pkts), pkts
    # 4. Into a Floating IP from the internet (TCP), and 5. out of the VM
    # with a Floating IP: the internet sees the Floating IP. In DVR the
    # flow never touches the network node (its external leg and the
    # underlay stay silent).
    srv = who_am_i_server(lab, a["vm"], 9090)
    try:
        ext_cap = Capture(lab, "ext", "x13", f"ip host {fip} or ip host {a['ip']}")
        ul_cap = underlay(lab)
        assert tcp_peer(lab, "internet", fip, 9090) == INTERNET
        assert tcp_peer(lab, a["vm"], INTERNET, 8080) == fip
        ext_pkts, ul_pkts = ext_cap.stop(), carrying(ul_cap.stop(), a["ip"], INTERNET)
    finally:
        lab.stop(srv)
    if mode == "dvr":
        assert ext_pkts == [] and ul_pkts == [], (ext_pkts, ul_pkts)
    else:
        assert ul_pkts, "legacy: the FIP flow crosses the underlay to network-1"
    # 6. Out of a VM without a Floating IP: SNAT to the router's gateway
    # address, through the network node in both modes.
    cap = underlay(lab)
    assert tcp_peer(lab, c["vm"], INTERNET, 8080) == p["gw_ip"]
    pkts = carrying(cap.stop(), c["ip"])
    assert any(NET1 in x for x in pkts), pkts


@pytest.mark.parametrize("mode", ["legacy", "dvr"])
def test_routed_east_west_is_not_tracked_floating_ips_are(cloud, mode):
    """A router without a firewall group does not track traffic between its
    own subnets (nothing translates it); a flow to or from an address with
    a Floating IP stays tracked there, and a hairpin to a Floating IP is
    translated both ways."""
    lab, admin, ext, projects = cloud
    p = projects[mode]
    vms, router_id = p["vms"], p["router"]["id"]
    a, b, c, d = (vms[k] for k in "abcd")
    fip = p["fip"]["floating_ip_address"]

    def table(node):
        return lab.exec(f"{node}-qrouter-{router_id}", ["cat", "/proc/net/nf_conntrack"],
                        check=True).stdout

    def flows(text, src, dst, port):
        return [ln for ln in text.splitlines()
                if f"src={src} dst={dst}" in ln and f"dport={port} " in ln]

    # c -> b: routed on compute-2 (DVR) or network-1 (legacy), untracked.
    srv = who_am_i_server(lab, b["vm"], 9191)
    try:
        assert tcp_peer(lab, c["vm"], b["ip"], 9191) == c["ip"]
    finally:
        lab.stop(srv)
    node = "compute-2" if mode == "dvr" else "network-1"
    assert not flows(table(node), c["ip"], b["ip"], 9191), table(node)
    # d -> a: a has a Floating IP, the flow is tracked where it is routed.
    srv = who_am_i_server(lab, a["vm"], 9192)
    try:
        assert tcp_peer(lab, d["vm"], a["ip"], 9192) == d["ip"]
        node = "compute-1" if mode == "dvr" else "network-1"
        assert flows(table(node), d["ip"], a["ip"], 9192), table(node)
        # d -> a's Floating IP: a answers, and d sees the answer come from
        # the Floating IP (else its TCP would refuse it).
        assert tcp_peer(lab, d["vm"], fip, 9192) != ""
    finally:
        lab.stop(srv)


def test_disassociate_stops_inbound_and_reassociate(cloud):
    """Disassociating ends inbound traffic at once, established flows
    included (another Floating IP keeps the node's external leg up and the
    upstream router's ARP entry still points there)."""
    lab, admin, ext, projects = cloud
    p = projects["dvr"]
    fip = p["fip"]
    ip = fip["floating_ip_address"]
    other = mk(p["api"], "floatingip", {"floating_network_id": ext["id"],
                                        "port_id": p["vms"]["d"]["port"]["id"]})
    try:
        assert ping(lab, "internet", ip)
        pinger = lab.popen("internet", ["ping", "-D", "-i", "0.05", "-W", "1", ip],
                           stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        t_off = time.time()
        r = p["api"].put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
        assert r.status == 200, r
        time.sleep(3)
        lab.stop(pinger)
        replies = [float(m.group(1)) for m in re.finditer(
            r"^\[(\d+\.\d+)\] \d+ bytes from", pinger.stdout.read(), re.M)]
        assert any(t < t_off for t in replies), "the flow worked before"
        late = [t - t_off for t in replies if t > t_off + 1.0]
        assert not late, f"replies after disassociation: {late}"
        assert not ping(lab, "internet", ip)
        assert ping(lab, "internet", other["floating_ip_address"])
    finally:
        assert p["api"].delete(f"/v2.0/floatingips/{other['id']}").status == 204
    r = p["api"].put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {
        "port_id": p["vms"]["a"]["port"]["id"]}})
    assert r.status == 200, r
    deadline = time.time() + 5
    while not ping(lab, "internet", ip, count=1) and time.time() < deadline:
        pass
    assert ping(lab, "internet", ip)


def first_reply_after(lab, ip, start, limit=5.0):
    """Pings every 20 ms until a reply; returns seconds since start."""
    while time.monotonic() - start < limit:
        if lab.sh("internet", f"ping -c 1 -W 0.1 {ip}", check=False).returncode == 0:
            return time.monotonic() - start
    return None


def fip_holders(lab, router_id, ip, node, other):
    """Whether the router namespaces of node and of other hold ip."""
    held = {node: False, other: False}
    for ns in lab.sh("ul", "ip netns list").stdout.split():
        for n in held:
            if ns.startswith(lab.ns(n) + "-qrouter-" + router_id):
                held[n] = held[n] or ip in lab.sh("ul", f"ip -n {ns} -4 -o addr",
                                                  check=False).stdout
    return held[node], held[other]


def test_floating_ip_follows_its_vm_to_another_node(cloud):
    lab, admin, ext, projects = cloud
    p = projects["dvr"]
    ip = p["fip"]["floating_ip_address"]
    a = p["vms"]["a"]
    assert ping(lab, "internet", ip)
    taken = []
    for node in ("compute-2", "compute-1"):
        start = time.monotonic()
        lab.vm_move(a["vm"], node)
        took = first_reply_after(lab, ip, start)
        assert took is not None, f"FIP unreachable after moving to {node}"
        taken.append(took)
        # The node that owns it answers ARP for it; the other does not.
        # The first reply can come before both agents have finished (the
        # old node's router still holds the address, or the new one's has
        # not yet): both must agree within 3 s of the move.
        other = "compute-1" if node == "compute-2" else "compute-2"
        while True:
            new_has, old_has = fip_holders(lab, p["router"]["id"], ip, node, other)
            if (new_has and not old_has) or time.monotonic() - start > 3.0:
                break
            time.sleep(0.05)
        assert new_has, f"{ip} not on the router on {node}"
        assert not old_has, f"{ip} still on the router on {other}"
    # Within a second of the move (which includes the lab's re-plugging).
    assert max(taken) < 1.0, taken


def test_overlapping_tenants_north_south(cloud):
    """Both projects use 10.0.0.0/24 behind their own routers: each Floating
    IP reaches its own VM, and each VM's SNAT uses its own router."""
    lab, admin, ext, projects = cloud
    servers = []
    try:
        for name, p in projects.items():
            code = f"echo {name} | nc -l -p 9191 -q 1 -w 5"
            servers.append(lab.popen(p["vms"]["a"]["vm"], ["sh", "-c", code],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.3)
        for name, p in projects.items():
            got = lab.sh("internet", f"nc -w 2 {p['fip']['floating_ip_address']} 9191 "
                         "</dev/null", check=False).stdout.strip()
            assert got == name
    finally:
        for s in servers:
            lab.stop(s)
    for p in projects.values():
        assert tcp_peer(lab, p["vms"]["b"]["vm"], INTERNET, 8080) == p["gw_ip"]


def test_enable_snat_false_stops_snat_keeps_fips(cloud):
    lab, admin, ext, projects = cloud
    p = projects["legacy"]
    rid = p["router"]["id"]
    info = {"network_id": ext["id"], "enable_snat": False}
    admin_as = admin.as_(p["router"]["project_id"], "admin")
    assert admin_as.put(f"/v2.0/routers/{rid}", {"router": {
        "external_gateway_info": info}}).status == 200
    time.sleep(1)
    try:
        assert tcp_peer(lab, p["vms"]["b"]["vm"], INTERNET, 8080) == ""
        assert tcp_peer(lab, p["vms"]["a"]["vm"], INTERNET, 8080) == \
            p["fip"]["floating_ip_address"]
    finally:
        info["enable_snat"] = True
        assert admin_as.put(f"/v2.0/routers/{rid}", {"router": {
            "external_gateway_info": info}}).status == 200
    time.sleep(1)
    assert tcp_peer(lab, p["vms"]["b"]["vm"], INTERNET, 8080) == p["gw_ip"]


def test_agent_restart_keeps_north_south_flowing(cloud):
    """A ping every 10 ms from the internet to a Floating IP and a TCP
    stream through SNAT, while every agent restarts: nothing lost."""
    lab, admin, ext, projects = cloud
    p = projects["dvr"]
    ip = p["fip"]["floating_ip_address"]
    pinger = lab.popen("internet", ["ping", "-i", "0.01", "-c", "1000", "-W", "1", ip],
                       stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    for node in ("compute-1", "compute-2", "network-1"):
        lab.agent_restart(node)
        time.sleep(1)
    out, _ = pinger.communicate(timeout=60)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m and m.group(1) == m.group(2), out


def fw(api, kind, body):
    coll = {"firewall_rule": "firewall_rules", "firewall_policy": "firewall_policies",
            "firewall_group": "firewall_groups"}[kind]
    r = api.post(f"/v2.0/fwaas/{coll}", {kind: body})
    assert r.status == 201, r
    return r.json[kind]


def tcp_to(lab, server_vm, client, ip, port):
    srv = lab.popen(server_vm, ["sh", "-c", f"echo hi | nc -l -p {port} -q 1 -w 4"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        return lab.sh(client, f"nc -w 2 {ip} {port} </dev/null", check=False,
                      timeout=10).stdout.strip() == "hi"
    finally:
        lab.stop(srv)


def udp_to(lab, server_vm, client, ip, port):
    srv = lab.popen(server_vm, ["timeout", "3", "nc", "-u", "-l", "-p", str(port)],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.3)
    lab.sh(client, f"echo datagram | nc -u -w 1 -q 1 {ip} {port}", check=False)
    out, _ = srv.communicate(timeout=10)
    return "datagram" in out


@pytest.mark.parametrize("mode", ["legacy", "dvr"])
def test_router_firewall_rules_in_order(cloud, mode):
    """A firewall group on the router's port in subnet 1, egress policy
    (what the router sends into the subnet): deny TCP 9191, allow TCP,
    allow ICMP, implicit deny. Routed east-west and north-south traffic
    obey it in order; inserting a rule on top changes the outcome."""
    lab, admin, ext, projects = cloud
    p = projects[mode]
    api, vms = p["api"], p["vms"]
    a, b, c = vms["a"], vms["b"], vms["c"]
    port = [x for x in api.get(f"/v2.0/ports?device_id={p['router']['id']}").json["ports"]
            if x["fixed_ips"][0]["subnet_id"] == p["subs"][0]["id"] and
            x["device_owner"].startswith("network:router_interface")][0]
    r1 = fw(api, "firewall_rule", {"protocol": "tcp", "destination_port": "9191",
                                   "action": "deny"})
    r2 = fw(api, "firewall_rule", {"protocol": "tcp", "action": "allow"})
    r3 = fw(api, "firewall_rule", {"protocol": "icmp", "action": "allow"})
    pol = fw(api, "firewall_policy", {"firewall_rules": [r1["id"], r2["id"], r3["id"]]})
    group = fw(api, "firewall_group", {"egress_firewall_policy_id": pol["id"],
                                       "ports": [port["id"]]})
    try:
        time.sleep(1)
        fip = p["fip"]["floating_ip_address"]
        assert tcp_to(lab, a["vm"], c["vm"], a["ip"], 9090)        # routed, allowed
        assert not tcp_to(lab, a["vm"], c["vm"], a["ip"], 9191)    # routed, denied
        assert tcp_to(lab, a["vm"], "internet", fip, 9090)         # via FIP, allowed
        assert not tcp_to(lab, a["vm"], "internet", fip, 9191)     # via FIP, denied
        assert ping(lab, c["vm"], a["ip"])
        assert tcp_to(lab, b["vm"], a["vm"], b["ip"], 9191)        # bridged: not routed
        assert not udp_to(lab, a["vm"], c["vm"], a["ip"], 5353)    # no rule: implicit deny
        # A rule inserted on top: ICMP denied first.
        r0 = fw(api, "firewall_rule", {"protocol": "icmp", "action": "deny"})
        r = api.put(f"/v2.0/fwaas/firewall_policies/{pol['id']}/insert_rule",
                    {"firewall_rule_id": r0["id"], "insert_before": r1["id"]})
        assert r.status == 200, r
        time.sleep(1)
        assert not ping(lab, c["vm"], a["ip"])
        assert tcp_to(lab, a["vm"], c["vm"], a["ip"], 9090)
    finally:
        r = api.put(f"/v2.0/fwaas/firewall_groups/{group['id']}", {"firewall_group": {
            "ports": []}})
        assert r.status == 200, r
    time.sleep(1)
    assert ping(lab, c["vm"], a["ip"])
    assert tcp_to(lab, a["vm"], c["vm"], a["ip"], 9191)
    assert udp_to(lab, a["vm"], c["vm"], a["ip"], 5353)


def test_vlan_external_network(cloud):
    """An external network on VLAN 100 of the same physical network: the
    node's VLAN device joins the network's bridge; a distributed router's
    Floating IP (pool 192.0.2.0/24) and SNAT work through it."""
    lab, admin, ext, projects = cloud
    found = admin.get("/v2.0/networks?name=public-vlan").json["networks"]
    if not found:
        pytest.skip("this kernel has no VLAN devices (no 8021q, no bridge VLAN filtering): "
                    "the lab has no VLAN external network")
    vext = found[0]
    assert vext["provider:network_type"] == "vlan"
    api = lab.client("pv")
    net = mk(api, "network", {"name": "pv-n"})
    sub = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    router = mk(admin.as_("pv", "admin"), "router", {"name": "pv-r", "distributed": True,
                                                      "snat_mode": "centralized"})
    assert api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                   {"subnet_id": sub["id"]}).status == 200
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": vext["id"]}}})
    assert r.status == 200, r
    gw = r.json["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert gw.startswith("100.64.1.")
    ports = {}
    for name, node in (("pv-a", "compute-1"), ("pv-b", "compute-2")):
        ports[name] = mk(api, "port", {"network_id": net["id"], "name": name})
        lab.vm(node, ports[name]["id"], name)
    allow_ingress(api, net["id"], ("tcp",))
    fip = mk(api, "floatingip", {"floating_network_id": vext["id"],
                                 "port_id": ports["pv-a"]["id"]})["floating_ip_address"]
    assert fip.startswith("192.0.2.")
    time.sleep(1)
    assert tcp_to(lab, "pv-a", "internet", fip, 9393)
    assert tcp_peer(lab, "pv-a", INTERNET, 8080) == fip
    assert tcp_peer(lab, "pv-b", INTERNET, 8080) == gw
    # The frames on the wire carry VLAN 100.
    cap = Capture(lab, "ext", "ext", f"vlan 100 and ip host {fip}")
    assert tcp_to(lab, "pv-a", "internet", fip, 9394)
    assert cap.stop()
    vlan_dev = lab.sh("compute-1", "ip -o -d link show type vlan").stdout
    assert "ext0.100@ext0" in vlan_dev and "vlan protocol 802.1Q id 100" in vlan_dev, vlan_dev


def test_deleting_routers_and_fips_leaves_nothing(cloud):
    lab, admin, ext, projects = cloud
    p = projects.pop("legacy")
    api, rid = p["api"], p["router"]["id"]
    assert api.delete(f"/v2.0/floatingips/{p['fip']['id']}").status == 204
    r = api.put(f"/v2.0/routers/{rid}", {"router": {"external_gateway_info": None}})
    assert r.status == 200, r
    for s in p["subs"]:
        assert api.put(f"/v2.0/routers/{rid}/remove_router_interface",
                       {"subnet_id": s["id"]}).status == 200
    assert api.delete(f"/v2.0/routers/{rid}").status == 204
    deadline = time.time() + 10
    while time.time() < deadline:
        left = [n for n in lab.sh("ul", "ip netns list").stdout.split() if rid in n]
        if not left:
            break
        time.sleep(0.2)
    assert not left, left
    # The other project's router is untouched and still works.
    q = projects["dvr"]
    assert ping(lab, "internet", q["fip"]["floating_ip_address"])

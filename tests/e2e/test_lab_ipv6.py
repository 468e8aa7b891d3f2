"""IPv6 on the data plane, with real clients (issue 14): router
advertisements from the router's gateway on the VM's own node and the
kernel's SLAAC in the VM; DHCPv6 stateful and stateless answered on the
node from the model (ISC dhclient -6 in the VM); neither crossing the
underlay; IPv6 anti-spoofing and security groups."""
import ipaddress
import json
import subprocess
import time

import pytest

from lab import Lab, UnderlayCount, unique_name
from leptonlab import INTERNET6, TENANT6
from test_lab_l3 import fw, tcp_to


def mk(client, kind, body, status=201):
    path = {"security_group_rule": "security-group-rules",
            "security_group": "security-groups"}.get(kind, kind + "s")
    r = client.post(f"/v2.0/{path}", {kind: body})
    assert r.status == status, r
    return r.json[kind]


def wait_for(seconds, ok, interval=0.2):
    end = time.monotonic() + seconds
    while True:
        v = ok()
        if v or time.monotonic() > end:
            return v
        time.sleep(interval)


def v6_of(port):
    return [ip["ip_address"] for ip in port["fixed_ips"] if ":" in ip["ip_address"]]


def global6(lab, host, dev="eth0"):
    """The VM's global IPv6 addresses (no link-local, none tentative)."""
    out = []
    for link in lab.ip_json(host, "-6", "addr", "show", "dev", dev, "scope", "global"):
        for a in link.get("addr_info", []):
            if "local" in a and not a.get("tentative"):
                out.append(a["local"])
    return out


def default6(lab, host):
    p = lab.sh(host, "ip -6 -j route show default", check=False)
    routes = json.loads(p.stdout or "[]")
    return routes[0] if routes else None


def ping6(lab, host, ip, count=2):
    return lab.sh(host, f"ping -6 -c {count} -W 1 -i 0.2 {ip}", check=False).returncode == 0


def allow_v6(api, sg_id, protocols=("ipv6-icmp", "tcp")):
    for proto in protocols:
        mk(api, "security_group_rule", {"security_group_id": sg_id, "direction": "ingress",
                                        "ethertype": "IPv6", "protocol": proto})


def default_sg(api):
    return api.get("/v2.0/security-groups?name=default").json["security_groups"][0]["id"]


# The inner IPv6 header of a VXLAN frame on the underlay (see lab.py): raw
# payload offsets in bits from the outer network header.
INNER_NEXT = "@nh,448,8"
INNER_SRC = "@nh,464,128"
INNER_ICMP6_TYPE = "@nh,720,8"
INNER_UDP_DPORT = "@nh,736,16"


SCRIPT = """#!/bin/sh
# dhclient -6's script for a lab VM: the address into the VM's namespace,
# what it was told into a file of the lab; never the host's files.
env | grep -E '^(reason|new_)' | sort > "$0.$interface.env"
case "$reason" in
BOUND6|RENEW6|REBIND6|REBOOT6)
    [ -n "$new_ip6_address" ] &&
        ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" nodad ;;
esac
exit 0
"""


def dhclient6(lab, vm, stateless=False):
    """ISC dhclient -6 in the VM, one exchange (-1); returns the process and
    the environment its script was given."""
    d = lab.state_dir
    script = d / f"dhclient6-{vm}.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    args = ["dhclient", "-6", "-1", "-v", "-sf", str(script), "-pf", str(d / f"dhc6-{vm}.pid"),
            "-lf", str(d / f"dhc6-{vm}.leases")]
    if stateless:
        args.append("-S")
    (d / f"dhc6-{vm}.pid").unlink(missing_ok=True)  # a previous run's
    p = lab.exec(vm, args + ["eth0"], timeout=40)
    envf = d / f"dhclient6-{vm}.sh.eth0.env"
    env = dict(ln.split("=", 1) for ln in envf.read_text().splitlines()) if envf.exists() else {}
    pid = d / f"dhc6-{vm}.pid"
    # -1 leaves the client running once bound (its daemon writes the file
    # a moment after the exchange): ours to end.
    if p.returncode == 0:
        wait_for(3, pid.exists, 0.05)
    if pid.exists():
        try:
            lab.exec(vm, ["kill", pid.read_text().strip()])
        except Exception:
            pass
    return p, env


@pytest.fixture(scope="module")
def cloud():
    lab = Lab(unique_name("v6"), computes=2)
    try:
        lab.up()
        api = lab.client("p6")
        subnets = []

        def dual(name, k, mode, **extra):
            """A network with an IPv4 subnet 10.6.k.0/24 (the lab's DHCP
            client) and an IPv6 one fd00:6:<k+1>::/64 in that mode."""
            n = mk(api, "network", {"name": name})
            subnets.append(mk(api, "subnet", {"network_id": n["id"], "cidr": f"10.6.{k}.0/24",
                                              "ip_version": 4}))
            subnets.append(mk(api, "subnet", {
                "network_id": n["id"], "cidr": f"fd00:6:{k + 1}::/64", "ip_version": 6,
                "ipv6_ra_mode": mode, "ipv6_address_mode": mode, **extra}))
            return n, subnets[-1]
        net, slaac = dual("dual", 0, "slaac", dns_nameservers=["fd00:53::53"])
        net2, stateful = dual("stateful", 1, "dhcpv6-stateful")
        net3, _ = dual("stateless", 2, "dhcpv6-stateless", dns_nameservers=["fd00:53::35"])
        router = mk(api, "router", {"name": "r6"})
        for s in subnets:
            r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                        {"subnet_id": s["id"]})
            assert r.status == 200, r
        vms = {}
        for name, node, n in (("a1", "compute-1", net), ("a2", "compute-2", net),
                              ("b1", "compute-1", net2), ("b2", "compute-2", net2),
                              ("c1", "compute-2", net3)):
            port = mk(api, "port", {"network_id": n["id"], "name": name})
            lab.vm(node, port["id"], name)
            vms[name] = api.get(f"/v2.0/ports/{port['id']}").json["port"]
        allow_v6(api, default_sg(api))
        yield lab, api, vms, {"slaac": slaac, "stateful": stateful, "router": router}
    finally:
        lab.down()


def test_slaac_gives_the_models_address(cloud):
    lab, api, vms, subs = cloud
    for vm in ("a1", "a2"):
        want = v6_of(vms[vm])
        assert len(want) == 1
        got = wait_for(15, lambda: global6(lab, vm))
        assert got == want, (vm, got, want)
        # The default route: the router port's link-local address, learnt
        # from the advertisement the VM's own node sent.
        rt = wait_for(5, lambda: default6(lab, vm))
        assert rt and rt["gateway"].startswith("fe80::"), rt


def test_dhcpv6_stateful_gives_the_models_address(cloud):
    lab, api, vms, subs = cloud
    for vm in ("b1", "b2"):
        want = v6_of(vms[vm])
        # The RA says managed: the kernel makes no SLAAC address.
        time.sleep(1)
        assert global6(lab, vm) == []
        p, env = dhclient6(lab, vm)
        assert p.returncode == 0, p.stdout + p.stderr
        assert env.get("new_ip6_address") == want[0], env
        got = wait_for(10, lambda: global6(lab, vm))
        assert got == want, (vm, got, want, p.stderr)


def tcp6_ok(lab, server, client, ip, port, token):
    """A real TCP exchange over IPv6: the server answers its token."""
    srv = lab.popen(server, ["sh", "-c", f"echo {token} | nc -6 -l -p {port} -q 1 -w 5"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Listening before the client comes (however loaded the machine).
        wait_for(5, lambda: f":{port}" in lab.exec(server, ["ss", "-Hltn",
                                                            f"sport = :{port}"]).stdout)
        p = lab.sh(client, f"nc -6 -w 2 {ip} {port} </dev/null", check=False, timeout=10)
        return p.stdout.strip() == token
    finally:
        lab.stop(srv)


def addressed(lab, vms):
    """Every VM holds its model address (the stateful ones ask DHCPv6)."""
    for vm in vms:
        if not global6(lab, vm):
            dhclient6(lab, vm)
        assert wait_for(10, lambda: global6(lab, vm)) == v6_of(vms[vm]), vm


def test_dhcpv6_stateless_gives_the_models_dns_and_slaac_the_address(cloud):
    lab, api, vms, subs = cloud
    want = v6_of(vms["c1"])
    # The RA says other-config and autonomous: SLAAC gives the address.
    assert wait_for(15, lambda: global6(lab, "c1")) == want
    p, env = dhclient6(lab, "c1", stateless=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert env.get("new_dhcp6_name_servers") == "fd00:53::35", env
    assert "new_ip6_address" not in env, env


def test_ping6_and_tcp_across_nodes_and_through_the_router(cloud):
    lab, api, vms, subs = cloud
    addressed(lab, vms)
    a1, a2, b1, b2 = (v6_of(vms[v])[0] for v in ("a1", "a2", "b1", "b2"))
    # Same network, two nodes (bridged over VXLAN).
    assert ping6(lab, "a1", a2)
    assert tcp6_ok(lab, "a2", "a1", a2, 5601, "same-net")
    # Two subnets: routed on the source node (same node, then across).
    assert ping6(lab, "a1", b1)
    assert ping6(lab, "a1", b2)
    assert ping6(lab, "b1", a2)
    assert tcp6_ok(lab, "b2", "a1", b2, 5602, "routed")
    assert tcp6_ok(lab, "a2", "b1", a2, 5603, "routed-back")
    # The gateway address answers on the VM's own node.
    gw = subs["slaac"]["gateway_ip"]
    assert ping6(lab, "a2", gw)


def test_no_dhcpv6_or_router_solicitation_on_the_underlay(cloud):
    lab, api, vms, subs = cloud
    addressed(lab, vms)
    count = UnderlayCount(lab, dhcp6=f"{INNER_NEXT} 17 {INNER_UDP_DPORT} 547",
                          rs=f"{INNER_NEXT} 58 {INNER_ICMP6_TYPE} 133",
                          ra=f"{INNER_NEXT} 58 {INNER_ICMP6_TYPE} 134",
                          echo=f"{INNER_NEXT} 58 {INNER_ICMP6_TYPE} 128")
    try:
        p, env = dhclient6(lab, "b1")
        assert env.get("new_ip6_address") == v6_of(vms["b1"])[0], env
        # A router solicitation from the VM: answered on its node.
        lab.sh("a1", "ip link set eth0 down; ip link set eth0 up")
        assert wait_for(15, lambda: global6(lab, "a1")) == v6_of(vms["a1"])
        # The counters count: an echo across nodes crosses the underlay.
        assert ping6(lab, "a1", v6_of(vms["a2"])[0])
        c = count.read()
    finally:
        count.done()
    assert c["echo"] > 0, c
    assert c["dhcp6"] == 0 and c["rs"] == 0 and c["ra"] == 0, c


def test_spoofed_ipv6_dropped(cloud):
    lab, api, vms, subs = cloud
    addressed(lab, vms)
    a2, own = v6_of(vms["a2"])[0], v6_of(vms["a1"])[0]
    fake = str(ipaddress.IPv6Address(own) + 7)
    hexa = "0x" + ipaddress.IPv6Address(fake).packed.hex()
    hexo = "0x" + ipaddress.IPv6Address(own).packed.hex()
    count = UnderlayCount(lab, fake=f"{INNER_SRC} {hexa}", own=f"{INNER_SRC} {hexo}",
                          fake_tcp=f"{INNER_SRC} {hexa} {INNER_NEXT} 6",
                          own_tcp=f"{INNER_SRC} {hexo} {INNER_NEXT} 6")
    try:
        lab.sh("a1", f"ip -6 addr add {fake}/64 dev eth0 nodad")
        assert not ping6(lab, "a1", f"{a2} -I {fake}")
        assert ping6(lab, "a1", f"{a2} -I {own}")  # its own address still goes
        # TCP too, which the port's chain passes on constants (its own
        # MAC and addresses) before the general checks.
        for src in (fake, own):
            lab.sh("a1", f"nc -6 -s {src} -w 1 {a2} 5711 </dev/null", check=False, timeout=10)
        c = count.read()
    finally:
        lab.sh("a1", f"ip -6 addr del {fake}/64 dev eth0", check=False)
        count.done()
    assert c["own"] > 0 and c["fake"] == 0, c
    assert c["own_tcp"] > 0 and c["fake_tcp"] == 0, c


def test_ipv6_security_group_rules(cloud):
    lab, api, vms, subs = cloud
    addressed(lab, vms)
    a2 = v6_of(vms["a2"])[0]
    # A group that lets in only TCP 5700 over IPv6 (and nothing over IPv4).
    sg = mk(api, "security_group", {"name": "only-5700"})
    mk(api, "security_group_rule", {"security_group_id": sg["id"], "direction": "ingress",
                                    "ethertype": "IPv6", "protocol": "tcp",
                                    "port_range_min": 5700, "port_range_max": 5700})
    old = vms["a2"]["security_groups"]
    r = api.put(f"/v2.0/ports/{vms['a2']['id']}", {"port": {"security_groups": [sg["id"]]}})
    assert r.status == 200, r
    try:
        assert wait_for(10, lambda: not ping6(lab, "a1", a2, count=1))
        assert tcp6_ok(lab, "a2", "a1", a2, 5700, "allowed")
        assert not tcp6_ok(lab, "a2", "a1", a2, 5701, "denied")
        # Neighbour discovery still passes: the address stays reachable.
        assert tcp6_ok(lab, "a2", "b1", a2, 5700, "routed-allowed")
    finally:
        api.put(f"/v2.0/ports/{vms['a2']['id']}", {"port": {"security_groups": old}})
    assert wait_for(10, lambda: ping6(lab, "a1", a2, count=1))


def set_sgs(api, port_id, sgs):
    r = api.put(f"/v2.0/ports/{port_id}", {"port": {"security_groups": sgs}})
    assert r.status == 200, r


def test_ipv6_remote_group_admits_members_only(cloud):
    """An IPv6 rule with remote_group_id: a member's IPv6 address gets in,
    a non-member's does not, and one that joins gets in (the group's IPv6
    set follows its members)."""
    lab, api, vms, subs = cloud
    addressed(lab, vms)
    a2 = v6_of(vms["a2"])[0]
    members = mk(api, "security_group", {"name": "members6"})
    guarded = mk(api, "security_group", {"name": "from-members6"})
    mk(api, "security_group_rule", {"security_group_id": guarded["id"], "direction": "ingress",
                                    "ethertype": "IPv6", "protocol": "tcp",
                                    "port_range_min": 5710, "port_range_max": 5710,
                                    "remote_group_id": members["id"]})
    old = {v: vms[v]["security_groups"] for v in ("a1", "a2", "c1")}
    try:
        set_sgs(api, vms["a2"]["id"], [guarded["id"]])
        set_sgs(api, vms["a1"]["id"], old["a1"] + [members["id"]])
        # a1 (same network, the other node) is a member; c1 (another
        # subnet, routed) is not.
        assert wait_for(10, lambda: tcp6_ok(lab, "a2", "a1", a2, 5710, "member"))
        assert not tcp6_ok(lab, "a2", "c1", a2, 5710, "non-member")
        # Nothing else gets in from the member.
        assert not tcp6_ok(lab, "a2", "a1", a2, 5711, "other-port")
        # c1 joins: now it gets in.
        set_sgs(api, vms["c1"]["id"], old["c1"] + [members["id"]])
        assert wait_for(10, lambda: tcp6_ok(lab, "a2", "c1", a2, 5710, "joined"))
    finally:
        for v, sgs in old.items():
            set_sgs(api, vms[v]["id"], sgs)
    assert wait_for(10, lambda: ping6(lab, "a1", a2, count=1))


def test_ipv6_address_group_rule(cloud):
    """An IPv6 rule with remote_address_group_id: an address in the group
    gets in, one outside does not."""
    lab, api, vms, subs = cloud
    addressed(lab, vms)
    a2, a1 = v6_of(vms["a2"])[0], v6_of(vms["a1"])[0]
    r = api.post("/v2.0/address-groups", {"address_group": {
        "name": "a1-only", "addresses": [f"{a1}/128", "192.0.2.0/24"]}})
    assert r.status == 201, r
    ag = r.json["address_group"]
    guarded = mk(api, "security_group", {"name": "from-a1-only"})
    mk(api, "security_group_rule", {"security_group_id": guarded["id"], "direction": "ingress",
                                    "ethertype": "IPv6", "protocol": "tcp",
                                    "port_range_min": 5715, "port_range_max": 5715,
                                    "remote_address_group_id": ag["id"]})
    old = vms["a2"]["security_groups"]
    try:
        set_sgs(api, vms["a2"]["id"], [guarded["id"]])
        assert wait_for(10, lambda: tcp6_ok(lab, "a2", "a1", a2, 5715, "in-group"))
        assert not tcp6_ok(lab, "a2", "c1", a2, 5715, "outside")
    finally:
        set_sgs(api, vms["a2"]["id"], old)
    assert wait_for(10, lambda: ping6(lab, "a1", a2, count=1))


def test_ipv6_allowed_address_pair(cloud):
    """A VM sends from an IPv6 allowed address pair of its port (a VIP):
    it passes anti-spoofing, the node answers neighbour solicitations for
    it, and replies come back; from another address of its own choosing
    nothing leaves its node."""
    lab, api, vms, subs = cloud
    addressed(lab, vms)
    a2, own = v6_of(vms["a2"])[0], v6_of(vms["a1"])[0]
    vip = str(ipaddress.IPv6Address(own) + 0x1000)
    fake = str(ipaddress.IPv6Address(own) + 0x2000)
    hexv = "0x" + ipaddress.IPv6Address(vip).packed.hex()
    hexf = "0x" + ipaddress.IPv6Address(fake).packed.hex()
    r = api.put(f"/v2.0/ports/{vms['a1']['id']}", {"port": {
        "allowed_address_pairs": [{"ip_address": vip}]}})
    assert r.status == 200, r
    count = UnderlayCount(lab, vip=f"{INNER_SRC} {hexv}", fake=f"{INNER_SRC} {hexf}")
    try:
        # The VIP only (the kernel would choose either as its source).
        lab.sh("a1", f"ip -6 addr add {vip}/64 dev eth0 nodad")
        assert wait_for(10, lambda: ping6(lab, "a1", f"{a2} -I {vip}", count=1))
        assert tcp6_ok(lab, "a2", "a1", a2, 5720, "from-the-vip")
        # a2 reaches the VIP (the node answered its solicitation with
        # a1's MAC).
        assert tcp6_ok(lab, "a1", "a2", vip, 5721, "to-the-vip")
        neigh = json.loads(lab.sh("a2", "ip -6 -j neigh show dev eth0").stdout or "[]")
        assert {n["dst"]: n.get("lladdr") for n in neigh}.get(vip) == \
            vms["a1"]["mac_address"], neigh
        lab.sh("a1", f"ip -6 addr add {fake}/64 dev eth0 nodad")
        assert not ping6(lab, "a1", f"{a2} -I {fake}")
        assert ping6(lab, "a1", f"{a2} -I {vip}")
        c = count.read()
    finally:
        for a in (vip, fake):
            lab.sh("a1", f"ip -6 addr del {a}/64 dev eth0", check=False)
        count.done()
        api.put(f"/v2.0/ports/{vms['a1']['id']}", {"port": {"allowed_address_pairs": []}})
    assert c["vip"] > 0 and c["fake"] == 0, c


def test_router_firewall_ipv6_rules(cloud):
    """FWaaS on the router's ports in the dual-stack network, egress policy
    (what the router sends into it): IPv6 deny TCP 5730, IPv6 allow TCP,
    IPv6 allow ICMP, IPv4 allow ICMP, implicit deny. Routed IPv6 obeys the
    IPv6 rules in order, IPv4 the IPv4 one only (no IPv4 TCP rule: denied),
    and each family's rules never apply to the other."""
    lab, api, vms, subs = cloud
    addressed(lab, vms)
    a2 = v6_of(vms["a2"])[0]
    a2v4 = [ip["ip_address"] for ip in vms["a2"]["fixed_ips"] if ":" not in ip["ip_address"]][0]
    # The router's ports in a2's network (its IPv4 subnet's, its IPv6
    # subnet's: one each, as Neutron's).
    ports = [p["id"] for p in api.get(f"/v2.0/ports?device_id={subs['router']['id']}")
             .json["ports"] if p["network_id"] == vms["a2"]["network_id"]]
    assert len(ports) == 2, ports
    rules = [fw(api, "firewall_rule", body) for body in (
        {"ip_version": 6, "protocol": "tcp", "destination_port": "5730", "action": "deny"},
        {"ip_version": 6, "protocol": "tcp", "action": "allow"},
        {"ip_version": 6, "protocol": "icmp", "action": "allow"},
        {"ip_version": 4, "protocol": "icmp", "action": "allow"})]
    pol = fw(api, "firewall_policy", {"firewall_rules": [r["id"] for r in rules]})
    group = fw(api, "firewall_group", {"egress_firewall_policy_id": pol["id"],
                                       "ports": ports})
    try:
        # b1 (another subnet, the other node) to a2: routed on b1's node.
        assert wait_for(10, lambda: not tcp6_ok(lab, "a2", "b1", a2, 5730, "denied"))
        assert tcp6_ok(lab, "a2", "b1", a2, 5731, "allowed")
        assert ping6(lab, "b1", a2)
        assert lab.sh("b1", f"ping -c1 -W1 {a2v4}", check=False).returncode == 0
        assert not tcp_to(lab, "a2", "b1", a2v4, 5731)
        # Same network: bridged, not routed, not filtered.
        assert tcp6_ok(lab, "a2", "a1", a2, 5730, "bridged")
    finally:
        r = api.put(f"/v2.0/fwaas/firewall_groups/{group['id']}", {"firewall_group": {
            "ports": []}})
        assert r.status == 200, r
    assert wait_for(10, lambda: tcp6_ok(lab, "a2", "b1", a2, 5730, "open-again"))
    assert tcp_to(lab, "a2", "b1", a2v4, 5731)


@pytest.fixture(scope="module")
def public():
    """A lab with the external network (IPv6 on its flat segment) and a
    dual-stack tenant network with global IPv6 (SLAAC) behind a distributed
    router, a VM on each compute node."""
    lab = Lab(unique_name("v6n"), computes=2, public=True)
    try:
        lab.up()
        api = lab.client("p6n")
        admin = lab.admin()
        ext = admin.get("/v2.0/networks?router:external=true").json["networks"][0]
        net = mk(api, "network", {"name": "dual"})
        sub4 = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.7.0.0/24",
                                  "ip_version": 4})
        prefix = ipaddress.IPv6Network(TENANT6)
        cidr = str(ipaddress.IPv6Network((int(prefix.network_address) + (7 << 64), 64)))
        sub6 = mk(api, "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 6,
                                  "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})
        router = mk(api, "router", {"name": "r6n",
                                    "external_gateway_info": {"network_id": ext["id"]}})
        for s in (sub4, sub6):
            r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                        {"subnet_id": s["id"]})
            assert r.status == 200, r
        vms = {}
        for name, node in (("n1", "compute-1"), ("n2", "compute-2")):
            port = mk(api, "port", {"network_id": net["id"], "name": name})
            lab.vm(node, port["id"], name)
            vms[name] = api.get(f"/v2.0/ports/{port['id']}").json["port"]
        allow_v6(api, default_sg(api))
        for vm in vms:
            assert wait_for(15, lambda: global6(lab, vm)) == v6_of(vms[vm]), vm
        yield lab, api, vms, router
    finally:
        lab.down()


def test_north_south_ipv6_from_the_vms_own_node_without_nat(public):
    lab, api, vms, router = public
    internet = str(ipaddress.IPv6Network(INTERNET6).network_address + 10)
    host = lab.topology.upstreams[0].internet
    rules = []
    for n in lab.topology.nodes:
        i = lab.topology.index(n.name)
        rules += [f'iifname "x{i}" ip6 daddr {internet} counter comment "out {n.name}"',
                  f'oifname "x{i}" ip6 saddr {internet} counter comment "in {n.name}"']
    lab.exec("ext", ["nft", "-f", "-"], check=True, input=(
        "table bridge v6ns {\n chain c {\n  type filter hook forward priority 0; "
        "policy accept;\n" + "".join(f"  {r}\n" for r in rules) + " }\n}\n"))

    def counts():
        doc = json.loads(lab.exec("ext", ["nft", "-j", "list", "table", "bridge", "v6ns"],
                                  check=True).stdout)
        return {tuple(r["rule"]["comment"].split()):
                sum(e["counter"]["packets"] for e in r["rule"]["expr"] if "counter" in e)
                for r in doc["nftables"] if "rule" in r and "comment" in r["rule"]}
    try:
        for vm, node in (("n1", "compute-1"), ("n2", "compute-2")):
            me = v6_of(vms[vm])[0]
            before = counts()
            assert wait_for(10, lambda: ping6(lab, vm, internet, count=1)), vm
            assert ping6(lab, vm, internet, count=3)
            # TCP both ways, and the internet host sees the VM's own
            # address (no NAT).
            assert tcp6_ok(lab, host, vm, internet, 5800, f"out-{vm}")
            assert tcp6_ok(lab, vm, host, me, 5801, f"in-{vm}")
            after = counts()
            d = {k: after[k] - before.get(k, 0) for k in after}
            # Out of its own node and back into it, never another node.
            assert d[("out", node)] >= 4 and d[("in", node)] >= 4, d
            assert all(v == 0 for (kind, n), v in d.items() if n != node), d
    finally:
        lab.exec("ext", ["nft", "delete", "table", "bridge", "v6ns"])


def test_neighbour_discovery_answered_on_the_node(cloud):
    lab, api, vms, subs = cloud
    addressed(lab, vms)
    a2, b2 = v6_of(vms["a2"])[0], v6_of(vms["b2"])[0]
    for vm in ("a1", "a2", "b1"):
        lab.sh(vm, "ip -6 neigh flush dev eth0", check=False)
    count = UnderlayCount(lab, ns=f"{INNER_NEXT} 58 {INNER_ICMP6_TYPE} 135",
                          echo=f"{INNER_NEXT} 58 {INNER_ICMP6_TYPE} 128")
    try:
        # Across nodes on the network, and through the router (the VM
        # resolves the router's link-local address).
        assert ping6(lab, "a1", a2)
        assert ping6(lab, "b1", a2)
        assert ping6(lab, "a1", b2)
        c = count.read()
    finally:
        count.done()
    assert c["echo"] > 0 and c["ns"] == 0, c
    # The VM learnt the MACs the model has.
    neigh = json.loads(lab.sh("a1", "ip -6 -j neigh show dev eth0").stdout or "[]")
    macs = {n["dst"]: n.get("lladdr") for n in neigh}
    assert macs.get(a2) == vms["a2"]["mac_address"], neigh

"""Tenant L2 over VXLAN, distributed DHCP, port security and security groups,
on a simulated three-node cloud, with real packets (issue: lepton-agent and
lepton-lab)."""
import ipaddress
import re
import subprocess
import time

import pytest

from lab import INNER4_PROTO, INNER4_SRC, INNER_ETHER_SRC, Lab, UnderlayCount, unique_name


def mk(client, kind, body):
    path = {"security_group": "security-groups",
            "security_group_rule": "security-group-rules",
            "address_group": "address-groups"}.get(kind, kind + "s")
    r = client.post(f"/v2.0/{path}", {kind: body})
    assert r.status == 201, r
    return r.json[kind]


def ping(lab, host, ip, count=2):
    return lab.sh(host, f"ping -c {count} -W 1 -i 0.2 {ip}", check=False).returncode == 0


def tcp_ok(lab, server, client, ip, port, token):
    """A real TCP exchange: the server answers its token to whoever connects."""
    srv = lab.popen(server, ["sh", "-c", f"echo {token} | nc -l -p {port} -q 1 -w 5"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        p = lab.sh(client, f"nc -w 2 {ip} {port} </dev/null", check=False, timeout=10)
        return p.stdout.strip() == token
    finally:
        lab.stop(srv)


# Each test runs with the ports' hooks the kernel allows (netdev chains of
# their taps on Linux 6.16 and later) and with the bridge chains (older
# kernels: Debian 12's).
@pytest.fixture(scope="module", params=["auto", "bridge"])
def cloud(request):
    lab = Lab(unique_name("l2"), computes=3, agent_args=["--port-hooks", request.param])
    try:
        lab.up()
        admin = lab.admin()
        projects = {}
        for proj in ("pa", "pb"):
            api = lab.client(proj)
            net = mk(api, "network", {"name": f"{proj}-net"})
            sub = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4, "dns_nameservers": ["192.0.2.53"]})
            vms = {}
            for i in (1, 2, 3):
                port = mk(api, "port", {"network_id": net["id"], "name": f"{proj}{i}"})
                name = f"{proj}{i}"
                lab.vm(f"compute-{i}", port["id"], name)
                vms[name] = port
            projects[proj] = {"api": api, "net": net, "sub": sub, "vms": vms}
        yield lab, admin, projects
    finally:
        lab.down()


def vm_ip(lab, vm):
    out = lab.sh(vm, "ip -4 -o addr show dev eth0").stdout
    return out.split()[3].split("/")[0]


def test_dhcp_gives_the_ports_address_and_options(cloud):
    lab, admin, projects = cloud
    for proj in projects.values():
        for name, port in proj["vms"].items():
            assert vm_ip(lab, name) == port["fixed_ips"][0]["ip_address"]
            link = lab.sh(name, "ip -o link show dev eth0").stdout
            assert "mtu 1450" in link, link
            route = lab.sh(name, "ip route show default").stdout
            assert "via 10.0.0.1" in route, route
    # The port is ACTIVE once the node wired it.
    for port in projects["pa"]["vms"].values():
        deadline = time.time() + 15
        while time.time() < deadline:
            st = admin.get(f"/v2.0/ports/{port['id']}").json["port"]["status"]
            if st == "ACTIVE":
                break
            time.sleep(0.3)
        assert st == "ACTIVE"


def test_east_west_same_network_across_nodes(cloud):
    lab, admin, projects = cloud
    pa = projects["pa"]["vms"]
    ip2 = pa["pa2"]["fixed_ips"][0]["ip_address"]
    ip3 = pa["pa3"]["fixed_ips"][0]["ip_address"]
    assert ping(lab, "pa1", ip2) and ping(lab, "pa1", ip3)
    assert tcp_ok(lab, "pa2", "pa1", ip2, 5001, "from-pa2")
    assert tcp_ok(lab, "pa3", "pa2", ip3, 5002, "from-pa3")


def test_projects_are_isolated(cloud):
    lab, admin, projects = cloud
    # Both projects use 10.0.0.0/24 with the same addresses: pa1 reaching
    # "pb2's address" must reach pa2, never pb2.
    ip = projects["pb"]["vms"]["pb2"]["fixed_ips"][0]["ip_address"]
    assert ip == projects["pa"]["vms"]["pa2"]["fixed_ips"][0]["ip_address"]
    assert tcp_ok(lab, "pa2", "pa1", ip, 5003, "pa2-here")
    srv = lab.popen("pb2", ["sh", "-c", "echo pb2-here | nc -l -p 5004 -q 1 -w 5"],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.3)
    got = lab.sh("pa1", f"nc -w 2 {ip} 5004 </dev/null", check=False, timeout=10).stdout
    lab.stop(srv)
    assert "pb2-here" not in got


def test_anti_spoofing(cloud):
    """What a VM sends from an address or a MAC not its own never leaves its
    node (counted on the underlay: pa3 is on compute-3, pa2 on compute-2),
    ICMP nor TCP (which the port's chain passes on constants, its own MAC
    and addresses, before the general checks); its own still goes."""
    lab, admin, projects = cloud
    vms = projects["pa"]["vms"]
    ip2, mac2 = vms["pa2"]["fixed_ips"][0]["ip_address"], vms["pa2"]["mac_address"]
    ip3, mac = vms["pa3"]["fixed_ips"][0]["ip_address"], vms["pa3"]["mac_address"]
    own = "0x" + ipaddress.IPv4Address(ip3).packed.hex()
    count = UnderlayCount(
        lab, ethertype="0x0800",
        own_tcp=f"{INNER4_PROTO} 6 {INNER4_SRC} {own} {INNER_ETHER_SRC} 0x{mac.replace(':', '')}",
        fake_ip=f"{INNER4_SRC} 0x0a000063",
        fake_mac=f"{INNER_ETHER_SRC} 0xfa163e666666")
    try:
        assert ping(lab, "pa3", ip2)
        # pa2's MAC known without ARP, which would go from the false
        # address or MAC (and be dropped): the packets below are sent.
        lab.sh("pa3", f"ip neigh replace {ip2} lladdr {mac2} dev eth0 nud permanent")
        lab.sh("pa3", f"nc -w 1 {ip2} 5011 </dev/null", check=False, timeout=10)
        # Another IP on the VM: nothing gets through from it.
        lab.sh("pa3", "ip addr add 10.0.0.99/24 dev eth0")
        try:
            assert not ping(lab, "pa3", f"{ip2} -I 10.0.0.99")
            lab.sh("pa3", f"nc -s 10.0.0.99 -w 1 {ip2} 5011 </dev/null", check=False,
                   timeout=10)
        finally:
            lab.sh("pa3", "ip addr del 10.0.0.99/24 dev eth0")
        # Another MAC: nothing either.
        lab.sh("pa3", "ip link set eth0 address fa:16:3e:66:66:66")
        try:
            assert not ping(lab, "pa3", ip2)
            lab.sh("pa3", f"nc -w 1 {ip2} 5011 </dev/null", check=False, timeout=10)
        finally:
            lab.sh("pa3", f"ip link set eth0 address {mac}")
        c = count.read()
    finally:
        lab.sh("pa3", f"ip neigh del {ip2} dev eth0", check=False)
        count.done()
    assert c["own_tcp"] > 0 and c["fake_ip"] == 0 and c["fake_mac"] == 0, c
    assert ping(lab, "pa3", ip2, count=3)


def test_allowed_address_pairs_pass_the_filter(cloud):
    """An address pair (one address, and a prefix holding the port's own
    address) lets the VM use those sources, for IPv4 and ARP; others stay
    dropped, and removing the pairs closes them again."""
    lab, admin, projects = cloud
    api = projects["pa"]["api"]
    vm = projects["pa"]["vms"]["pa3"]
    ip2 = projects["pa"]["vms"]["pa2"]["fixed_ips"][0]["ip_address"]
    pairs = [{"ip_address": "10.0.0.200"}, {"ip_address": "10.0.0.208/28"}]
    r = api.put(f"/v2.0/ports/{vm['id']}", {"port": {"allowed_address_pairs": pairs}})
    assert r.status == 200, r
    time.sleep(1.5)
    for ip in ("10.0.0.200", "10.0.0.210", "10.0.0.230"):
        lab.sh("pa3", f"ip addr add {ip}/32 dev eth0")
    try:
        assert eventually(lambda: ping(lab, "pa3", f"{ip2} -I 10.0.0.200"))
        assert ping(lab, "pa3", f"{ip2} -I 10.0.0.210")
        assert not ping(lab, "pa3", f"{ip2} -I 10.0.0.230")
        r = api.put(f"/v2.0/ports/{vm['id']}", {"port": {"allowed_address_pairs": []}})
        assert r.status == 200, r
        time.sleep(1.5)
        assert not ping(lab, "pa3", f"{ip2} -I 10.0.0.200")
        assert not ping(lab, "pa3", f"{ip2} -I 10.0.0.210")
    finally:
        for ip in ("10.0.0.200", "10.0.0.210", "10.0.0.230"):
            lab.sh("pa3", f"ip addr del {ip}/32 dev eth0", check=False)
        api.put(f"/v2.0/ports/{vm['id']}", {"port": {"allowed_address_pairs": []}})
    assert ping(lab, "pa3", ip2, count=3)


def test_security_groups_ports_and_remote_groups(cloud):
    lab, admin, projects = cloud
    api = projects["pa"]["api"]
    vms = projects["pa"]["vms"]
    ip3 = vms["pa3"]["fixed_ips"][0]["ip_address"]
    web = mk(api, "security_group", {"name": "web"})
    mk(api, "security_group_rule", {"security_group_id": web["id"], "direction": "ingress",
                                    "protocol": "tcp", "port_range_min": 8080,
                                    "port_range_max": 8080})
    r = api.put(f"/v2.0/ports/{vms['pa3']['id']}",
                {"port": {"security_groups": [web["id"]]}})
    assert r.status == 200, r
    time.sleep(1.5)
    assert tcp_ok(lab, "pa3", "pa1", ip3, 8080, "web-ok")
    assert not tcp_ok(lab, "pa3", "pa1", ip3, 9090, "not-allowed")
    assert not ping(lab, "pa1", ip3)
    # Remote group: pa2 allows ingress from members of the default group
    # (Neutron's default rules); pa3 is no longer a member.
    ip2 = vms["pa2"]["fixed_ips"][0]["ip_address"]
    assert tcp_ok(lab, "pa2", "pa1", ip2, 7001, "member")
    assert not tcp_ok(lab, "pa2", "pa3", ip2, 7002, "not-member")
    # Membership follows the model: pa3 back in default, it gets in.
    default = [g for g in api.get("/v2.0/security-groups?name=default").json["security_groups"]]
    r = api.put(f"/v2.0/ports/{vms['pa3']['id']}",
                {"port": {"security_groups": [web["id"], default[0]["id"]]}})
    assert r.status == 200, r
    time.sleep(1.5)
    assert tcp_ok(lab, "pa2", "pa3", ip2, 7003, "member-again")


def test_rule_removal_keeps_established_stops_new(cloud):
    lab, admin, projects = cloud
    api = projects["pa"]["api"]
    vms = projects["pa"]["vms"]
    ip3 = vms["pa3"]["fixed_ips"][0]["ip_address"]
    g = mk(api, "security_group", {"name": "db"})
    ru = mk(api, "security_group_rule", {"security_group_id": g["id"], "direction": "ingress",
                                         "protocol": "tcp", "port_range_min": 5432,
                                         "port_range_max": 5433})
    assert api.put(f"/v2.0/ports/{vms['pa3']['id']}",
                   {"port": {"security_groups": [g["id"]]}}).status == 200
    time.sleep(1.5)
    # A connection that stays open: 20 lines, 0.25 s apart.
    recv = lab.popen("pa3", ["sh", "-c", "nc -l -p 5432 | wc -l"], stdout=subprocess.PIPE,
                     text=True)
    deadline = time.time() + 5
    while ":5432" not in lab.sh("pa3", "ss -ltn").stdout and time.time() < deadline:
        time.sleep(0.1)
    send = lab.popen("pa1", ["sh", "-c", "for i in $(seq 20); do echo line$i; sleep 0.25; done"
                             f" | nc -q 1 {ip3} 5432"])
    time.sleep(1)
    assert api.delete(f"/v2.0/security-group-rules/{ru['id']}").status == 204
    time.sleep(1.5)
    # New connections are refused by the filter now...
    assert not tcp_ok(lab, "pa3", "pa1", ip3, 5433, "new")
    send.wait(timeout=30)
    got, _ = recv.communicate(timeout=30)
    # ...while the established one carried every line.
    assert int(got.strip()) == 20


def eventually(check, timeout=10):
    deadline = time.time() + timeout
    while True:
        if check():
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.3)


def test_security_group_rule_with_remote_address_group(cloud):
    """A rule naming an address group lets in exactly the group's prefixes,
    and follows add_addresses / remove_addresses."""
    lab, admin, projects = cloud
    api = projects["pb"]["api"]
    vms = projects["pb"]["vms"]
    ip1, ip2, ip3 = (vms[n]["fixed_ips"][0]["ip_address"] for n in ("pb1", "pb2", "pb3"))
    ag = mk(api, "address_group", {"name": "admins", "addresses": [f"{ip1}/32",
                                                                   "2001:db8::/64"]})
    g = mk(api, "security_group", {"name": "ssh-from-admins"})
    mk(api, "security_group_rule", {"security_group_id": g["id"], "direction": "ingress",
                                    "protocol": "tcp", "port_range_min": 2200,
                                    "port_range_max": 2299,
                                    "remote_address_group_id": ag["id"]})
    default = api.get("/v2.0/security-groups?name=default").json["security_groups"][0]
    assert api.put(f"/v2.0/ports/{vms['pb2']['id']}",
                   {"port": {"security_groups": [g["id"]]}}).status == 200
    n = iter(range(2200, 2300))
    try:
        assert eventually(lambda: tcp_ok(lab, "pb2", "pb1", ip2, next(n), "in-group"))
        assert not tcp_ok(lab, "pb2", "pb3", ip2, next(n), "not-in-group")
        assert not tcp_ok(lab, "pb2", "pb1", ip2, 2300, "port-outside-the-rule")
        # pb3's address joins the group: pb3 gets in.
        r = api.put(f"/v2.0/address-groups/{ag['id']}/add_addresses",
                    {"addresses": [f"{ip3}/32"]})
        assert r.status == 200, r
        assert eventually(lambda: tcp_ok(lab, "pb2", "pb3", ip2, next(n), "joined"))
        # pb1's address leaves it: pb1 is refused.
        r = api.put(f"/v2.0/address-groups/{ag['id']}/remove_addresses",
                    {"addresses": [f"{ip1}/32"]})
        assert r.status == 200, r
        assert eventually(lambda: not tcp_ok(lab, "pb2", "pb1", ip2, next(n), "left"))
        assert tcp_ok(lab, "pb2", "pb3", ip2, next(n), "still-in")
        # The nodes hold the group as a set of its IPv4 prefixes.
        out = lab.sh("compute-2", f"nft list set inet lepton ag_{ag['id']}").stdout
        assert re.search(rf"\b{re.escape(ip3)}\b", out), out
        assert not re.search(rf"\b{re.escape(ip1)}\b", out), out
        # A prefix holding both: pb1 is back in, through the /24.
        r = api.put(f"/v2.0/address-groups/{ag['id']}/add_addresses",
                    {"addresses": [ip1.rsplit(".", 1)[0] + ".0/24"]})
        assert r.status == 200, r
        assert eventually(lambda: tcp_ok(lab, "pb2", "pb1", ip2, next(n), "whole-subnet"))
        # A group in use by a rule cannot be deleted.
        r = api.delete(f"/v2.0/address-groups/{ag['id']}")
        assert r.status == 409 and r.json["NeutronError"]["type"] == "AddressGroupInUse", r
    finally:
        assert api.put(f"/v2.0/ports/{vms['pb2']['id']}",
                       {"port": {"security_groups": [default["id"]]}}).status == 200


def dhcp_env(lab, vm, tmp_path, *opts):
    """One DHCP exchange by a real client (busybox udhcpc) in the VM, whose
    script records what the server gave instead of applying it."""
    out = tmp_path / f"dhcp-{vm}.env"
    script = tmp_path / "record.sh"
    script.write_text(f"#!/bin/sh\n[ \"$1\" = bound ] && env > {out}\nexit 0\n")
    script.chmod(0o755)
    args = " ".join(f"-O {o}" for o in opts)
    lab.sh(vm, f"busybox udhcpc -i eth0 -n -q -f -t 5 -T 1 -s {script} {args}", timeout=30)
    env = {}
    for line in out.read_text().splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    return env


def test_extra_dhcp_options_reach_the_vm(cloud, tmp_path):
    """extra_dhcp_opt: a port's options are served by the node's DHCP
    responder to a real client; an option replaces the subnet's (dns-server);
    server-ip-address is the next-server field; removing them stops them."""
    lab, admin, projects = cloud
    api = projects["pa"]["api"]
    port = projects["pa"]["vms"]["pa1"]
    url = f"/v2.0/ports/{port['id']}"
    env = dhcp_env(lab, "pa1", tmp_path, "bootfile", "tftp", "ntpsrv", "search")
    assert "bootfile" not in env and "ntpsrv" not in env, env
    assert env["dns"].split() == ["192.0.2.53"], env
    opts = [{"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
            {"opt_name": "tftp-server", "opt_value": "tftp.example.org"},
            {"opt_name": "server-ip-address", "opt_value": "192.0.2.45"},
            {"opt_name": "ntp-server", "opt_value": "192.0.2.123,192.0.2.124"},
            {"opt_name": "dns-server", "opt_value": "198.51.100.53"},
            {"opt_name": "domain-search", "opt_value": "example.org,lab.example"},
            {"opt_name": "bootfile-name", "opt_value": "ignored.0", "ip_version": 6}]
    r = api.put(url, {"port": {"extra_dhcp_opts": opts}})
    assert r.status == 200, r
    try:
        def served():
            e = dhcp_env(lab, "pa1", tmp_path, "bootfile", "tftp", "ntpsrv", "search")
            return e if e.get("bootfile") == "pxelinux.0" else None
        assert eventually(served)
        env = served()
        assert env["tftp"] == "tftp.example.org", env
        assert env["siaddr"] == "192.0.2.45", env
        assert env["ntpsrv"].split() == ["192.0.2.123", "192.0.2.124"], env
        assert env["dns"].split() == ["198.51.100.53"], env
        assert env["search"].split() == ["example.org", "lab.example"], env
        # The address and the rest of the lease are unchanged.
        assert env["ip"] == port["fixed_ips"][0]["ip_address"] and env["router"] == "10.0.0.1"
    finally:
        r = api.put(url, {"port": {"extra_dhcp_opts": [
            {"opt_name": o["opt_name"], "opt_value": None, "ip_version": o.get("ip_version", 4)}
            for o in opts]}})
        assert r.status == 200 and r.json["port"]["extra_dhcp_opts"] == [], r
    assert eventually(lambda: "bootfile" not in dhcp_env(lab, "pa1", tmp_path, "bootfile"))


def test_dns_name_is_the_vms_dhcp_hostname(cloud, tmp_path):
    """dns-integration: the DHCP responder names the VM by its port's
    dns_name (else host-<address>, as Neutron), in its network's
    dns_domain."""
    lab, admin, projects = cloud
    api = projects["pa"]["api"]
    port = projects["pa"]["vms"]["pa2"]
    net = projects["pa"]["net"]
    ip = port["fixed_ips"][0]["ip_address"]
    env = dhcp_env(lab, "pa2", tmp_path, "hostname", "domain")
    assert env["hostname"] == "host-" + ip.replace(".", "-"), env
    assert "domain" not in env, env
    assert api.put(f"/v2.0/ports/{port['id']}", {"port": {"dns_name": "db-1"}}).status == 200
    assert api.put(f"/v2.0/networks/{net['id']}",
                   {"network": {"dns_domain": "lab.example."}}).status == 200
    try:
        def named():
            e = dhcp_env(lab, "pa2", tmp_path, "hostname", "domain")
            return e.get("hostname") == "db-1" and e.get("domain") == "lab.example"
        assert eventually(named)
    finally:
        api.put(f"/v2.0/ports/{port['id']}", {"port": {"dns_name": ""}})
        api.put(f"/v2.0/networks/{net['id']}", {"network": {"dns_domain": ""}})


def test_underlay_carries_no_dhcp_and_no_arp_for_known_ports(cloud):
    lab, admin, projects = cloud
    api = projects["pa"]["api"]
    stop = lab.capture()
    try:
        port = mk(api, "port", {"network_id": projects["pa"]["net"]["id"], "name": "pa4"})
        lab.vm("compute-2", port["id"], "pa4")
        ip1 = projects["pa"]["vms"]["pa1"]["fixed_ips"][0]["ip_address"]
        lab.sh("pa4", "ip neigh flush dev eth0")
        assert ping(lab, "pa4", ip1)
        time.sleep(0.5)
    finally:
        text = stop()
    assert "VXLAN" in text  # the capture saw the overlay
    assert "BOOTP" not in text and "DHCP" not in text, text
    assert f"who-has {ip1}" not in text, text


def test_agent_restart_loses_nothing(cloud):
    lab, admin, projects = cloud
    ip2 = projects["pa"]["vms"]["pa2"]["fixed_ips"][0]["ip_address"]
    pinger = lab.popen("pa1", ["ping", "-i", "0.01", "-c", "500", "-W", "1", ip2],
                       stdout=subprocess.PIPE, text=True)
    # A TCP stream across the restart, too.
    recv = lab.popen("pa2", ["sh", "-c", "nc -l -p 6000 | wc -c"],
                     stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 5
    while ":6000" not in lab.sh("pa2", "ss -ltn").stdout and time.time() < deadline:
        time.sleep(0.1)
    # 100 chunks of 100 kB, 50 ms apart: the stream spans the restarts.
    send = lab.popen("pa1", ["sh", "-c", "for i in $(seq 100); do head -c 100000 /dev/zero;"
                             f" sleep 0.05; done | nc -q 1 -w 20 {ip2} 6000"])
    time.sleep(1)
    lab.agent_restart("compute-1")
    lab.agent_restart("compute-2")
    out, _ = pinger.communicate(timeout=60)
    send.wait(timeout=60)
    got, _ = recv.communicate(timeout=60)
    assert " 0% packet loss" in out, out
    assert int(got.strip()) == 10000000


def test_agent_repairs_drift(cloud):
    lab, admin, projects = cloud
    net = projects["pa"]["net"]
    vni = admin.get(f"/v2.0/networks/{net['id']}").json["network"]["provider:segmentation_id"]
    vx = f"vxlan-{vni}"
    ip2 = projects["pa"]["vms"]["pa2"]["fixed_ips"][0]["ip_address"]
    mac = projects["pa"]["vms"]["pa1"]["mac_address"]
    # A VXLAN device and the ports' anti-spoofing elements deleted by hand
    # come back.
    # (In the netdev table where the ports' taps have their own chains,
    # else in the bridge table.)
    fam = "netdev" if "netdev lepton" in lab.sh("compute-1", "nft list tables").stdout \
        else "bridge"
    if "bridge" in lab.agent_args:
        assert fam == "bridge"
    lab.sh("compute-1", f"ip link del {vx}")
    lab.sh("compute-1", f"nft flush set {fam} lepton ip_src")
    assert mac not in lab.sh("compute-1", f"nft list set {fam} lepton ip_src").stdout
    deadline = time.time() + 20
    while time.time() < deadline:
        links = lab.sh("compute-1", "ip -o link show").stdout
        elems = lab.sh("compute-1", f"nft list set {fam} lepton ip_src").stdout
        if vx in links and mac in elems:
            break
        time.sleep(0.5)
    assert vx in links
    assert mac in elems
    assert ping(lab, "pa1", ip2)


def test_agents_follow_a_restarted_server(cloud):
    lab, admin, projects = cloud
    pa = projects["pa"]
    ip1 = pa["vms"]["pa1"]["fixed_ips"][0]["ip_address"]
    lab.server_restart()
    # The agents reconnect from their revision: a change made after the
    # restart reaches them, and a new VM on compute-3 gets DHCP and talks.
    port = mk(pa["api"], "port", {"network_id": pa["net"]["id"], "name": "pa5"})
    lab.vm("compute-3", port["id"], "pa5")
    assert ping(lab, "pa5", ip1)


def test_netfilter_only_on_bridges_with_port_security(cloud):
    """The nodes' bridge-nf-call sysctls are 0 (as README recommends): the
    agent turns netfilter on for the bridges of networks with a port that has
    port security, and only those, so security groups still hold there."""
    lab, admin, projects = cloud
    api = projects["pa"]["api"]

    def nf_call(net_id):
        out = lab.sh("compute-1", f"ip -d link show dev brq{net_id[:11]}").stdout
        m = re.search(r"nf_call_iptables (\d) nf_call_ip6tables (\d)", out)
        assert m, out
        return m.group(1) == "1" and m.group(2) == "1"

    assert lab.sh("compute-1", "sysctl -n net.bridge.bridge-nf-call-iptables").stdout.strip() \
        == "0"
    assert nf_call(projects["pa"]["net"]["id"])
    net = mk(api, "network", {"name": "plain"})
    mk(api, "subnet", {"network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4})
    port = mk(api, "port", {"network_id": net["id"], "port_security_enabled": False})
    lab.vm("compute-1", port["id"], "plain1")
    assert eventually(lambda: not nf_call(net["id"]))
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"port_security_enabled": True}})
    assert r.status == 200, r
    assert eventually(lambda: nf_call(net["id"]))
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"port_security_enabled": False,
                                                        "security_groups": []}})
    assert r.status == 200, r
    assert eventually(lambda: not nf_call(net["id"]))
    assert api.delete(f"/v2.0/ports/{port['id']}").status == 204
    assert api.delete(f"/v2.0/networks/{net['id']}").status == 204


def test_vxlan_outer_packets_skip_conntrack(cloud):
    """The nodes track the VMs' flows (stateful security groups) but not
    their own VXLAN packets that carry them (--vxlan-notrack, default on):
    after cross-node TCP, compute-1's conntrack table holds the inner flow
    and no UDP 4789 entry."""
    lab, admin, projects = cloud
    pa = projects["pa"]["vms"]
    ip1 = pa["pa1"]["fixed_ips"][0]["ip_address"]
    ip2 = pa["pa2"]["fixed_ips"][0]["ip_address"]
    assert tcp_ok(lab, "pa2", "pa1", ip2, 5003, "untracked")
    table = lab.sh("compute-1", "cat /proc/net/nf_conntrack").stdout
    # Whole fields: an ephemeral port such as 47896 holds "4789".
    inner = [line for line in table.splitlines()
             if f"src={ip1} dst={ip2} " in line and re.search(r"\bdport=5003\b", line)]
    assert inner, table
    assert not re.search(r"\bdport=4789\b", table), table


def test_flows_without_port_security_are_not_tracked(cloud):
    """Conntrack sees a flow only on the nodes where a port with port
    security is at one end: between two ports without it (on pa's network,
    whose bridges have netfilter on for pa1-pa3) neither node tracks the
    flow; from pa1 to such a port only pa1's node does; and pa2's security
    group still drops new connections from such a port."""
    lab, admin, projects = cloud
    api = projects["pa"]["api"]
    net = projects["pa"]["net"]
    ports = {}
    for i in (1, 2):
        ports[i] = mk(api, "port", {"network_id": net["id"], "port_security_enabled": False})
        lab.vm(f"compute-{i}", ports[i]["id"], f"np{i}")
    ip = {i: ports[i]["fixed_ips"][0]["ip_address"] for i in ports}
    pa = projects["pa"]["vms"]
    ip_pa1 = pa["pa1"]["fixed_ips"][0]["ip_address"]
    ip_pa2 = pa["pa2"]["fixed_ips"][0]["ip_address"]
    try:
        def table(node):
            return lab.sh(node, "cat /proc/net/nf_conntrack").stdout

        def flows(text, src, dst, port):
            return [line for line in text.splitlines()
                    if f"src={src} dst={dst}" in line and f"dport={port} " in line]

        assert eventually(lambda: tcp_ok(lab, "np1", "np2", ip[1], 5011, "open"))
        for node in ("compute-1", "compute-2"):
            assert not flows(table(node), ip[2], ip[1], 5011), table(node)
        assert tcp_ok(lab, "np2", "pa1", ip[2], 5012, "egress")
        assert flows(table("compute-1"), ip_pa1, ip[2], 5012), table("compute-1")
        assert not flows(table("compute-2"), ip_pa1, ip[2], 5012), table("compute-2")
        # pa's default group lets in its members only: np1 is none.
        assert not tcp_ok(lab, "pa2", "np1", ip_pa2, 5013, "closed")
        assert tcp_ok(lab, "pa2", "pa1", ip_pa2, 5014, "member")
    finally:
        for i in ports:
            api.delete(f"/v2.0/ports/{ports[i]['id']}")


def test_vxlan_packets_leave_without_a_mark(cloud):
    """The bridge table's port mark is cleared once read: a VXLAN packet
    whose skb carries a mark skips the tunnel's route cache and pays a full
    route lookup. compute-1 counts its outgoing VXLAN packets (longer than
    an encapsulated ARP) while pa1 (port security) pings pa2 and a port
    without port security pings pa2 too (refused there, but it leaves):
    none carries a mark."""
    lab, admin, projects = cloud
    api = projects["pa"]["api"]
    pa = projects["pa"]["vms"]
    ip_pa2 = pa["pa2"]["fixed_ips"][0]["ip_address"]
    port = mk(api, "port", {"network_id": projects["pa"]["net"]["id"],
                            "port_security_enabled": False})
    lab.vm("compute-1", port["id"], "nomark1")
    table = "lptest_mark"
    lab.sh("compute-1", f"nft add table inet {table}")
    try:
        lab.sh("compute-1", f"nft 'add chain inet {table} out {{ type filter hook output "
                            "priority 0; }'")
        lab.sh("compute-1", f"nft add rule inet {table} out udp dport 4789 meta length gt 200 "
                            "meta mark != 0 counter")
        lab.sh("compute-1", f"nft add rule inet {table} out udp dport 4789 meta length gt 200 "
                            "counter")
        assert lab.sh("pa1", f"ping -c 10 -i 0.05 -W 1 -s 400 {ip_pa2}",
                      check=False).returncode == 0
        lab.sh("nomark1", f"ping -c 10 -i 0.05 -W 1 -s 400 {ip_pa2}", check=False)
        out = lab.sh("compute-1", f"nft list chain inet {table} out").stdout
        counts = [int(n) for n in re.findall(r"counter packets (\d+)", out)]
        assert len(counts) == 2, out
        assert counts[1] >= 20, out
        assert counts[0] == 0, out
    finally:
        lab.sh("compute-1", f"nft delete table inet {table}", check=False)
        api.delete(f"/v2.0/ports/{port['id']}")


GROUP_RECV = """
import json, select, socket, struct, sys, time
socks = {}
for port in (5353, 5354):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack("4s4s", socket.inet_aton("224.0.0.251"), socket.inet_aton("0.0.0.0")))
    socks[s] = port
print("ready", flush=True)
got = {}
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for s in select.select(list(socks), [], [], 0.1)[0]:
        got.setdefault(str(socks[s]), set()).add(s.recv(100).decode())
print(json.dumps({k: sorted(v) for k, v in got.items()}), flush=True)
"""

GROUP_SEND = """
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for i in range(6):
    for dst in ("10.0.0.255", "255.255.255.255", "224.0.0.251"):
        for port in (5353, 5354):
            s.sendto(("%s:%d" % (dst, port)).encode(), (dst, port))
    time.sleep(0.2)
"""


def test_broadcast_and_multicast_meet_each_ports_ingress_rules(cloud):
    """Frames to a group address reach every port of the network: each
    port's copy meets that port's own ingress rules (UDP 5353 allowed,
    5354 not), on the sender's node and on another."""
    import json
    lab, admin, projects = cloud
    api = projects["pa"]["api"]
    sg = mk(api, "security_group", {"name": "mdns-only"})
    mk(api, "security_group_rule", {"security_group_id": sg["id"], "direction": "ingress",
                                    "protocol": "udp", "port_range_min": 5353,
                                    "port_range_max": 5353})
    for node, name in ((1, "grp1"), (2, "grp2")):
        port = mk(api, "port", {"network_id": projects["pa"]["net"]["id"], "name": name,
                                "security_groups": [sg["id"]]})
        lab.vm(f"compute-{node}", port["id"], name)
    time.sleep(1.0)
    recv = {name: lab.popen(name, ["python3", "-c", GROUP_RECV, "4"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True) for name in ("grp1", "grp2")}
    try:
        for p in recv.values():
            assert p.stdout.readline().strip() == "ready"
        lab.sh("pa1", f"python3 -c '{GROUP_SEND}'")
        got = {name: json.loads(p.communicate(timeout=20)[0]) for name, p in recv.items()}
    finally:
        for p in recv.values():
            lab.stop(p)
    for name, ports in got.items():
        assert sorted(ports.get("5353", [])) == [
            "10.0.0.255:5353", "224.0.0.251:5353", "255.255.255.255:5353"], (name, got)
        assert "5354" not in ports, (name, got)


def test_deletes_leave_nothing_behind(cloud):
    lab, admin, projects = cloud
    api = projects["pb"]["api"]
    pb = projects["pb"]
    # Delete one port: its tap leaves the bridge.
    p3 = pb["vms"]["pb3"]
    tap = "tap" + p3["id"][:11]
    log = lab.agent_log("compute-3")
    mark = log.stat().st_size
    assert api.delete(f"/v2.0/ports/{p3['id']}").status == 204
    deadline = time.time() + 10
    while time.time() < deadline:
        out = lab.sh("compute-3", f"ip -o link show dev {tap}").stdout
        if "master" not in out:
            break
        time.sleep(0.2)
    assert "master" not in out, out
    # Its tap's own chains (netdev mode) go with it.
    if "netdev lepton" in lab.sh("compute-3", "nft list tables").stdout:
        deadline = time.time() + 10
        while time.time() < deadline:
            chains = lab.sh("compute-3", "nft list table netdev lepton").stdout
            if f"in_{tap}" not in chains:
                break
            time.sleep(0.2)
        assert f"in_{tap}" not in chains and f"out_{tap}" not in chains, chains
    # Its elements left in one transaction: none refused (nft 1.0.6 refused
    # a bare address deleted from arp_ips, and the agent replaced its
    # tables whole each time a port left).
    time.sleep(1)
    with open(log, "rb") as f:
        f.seek(mark)
        assert b"agent.nft_failed" not in f.read()
    # The node hosts nothing of that network any more: its bridge and VXLAN go.
    br = "brq" + pb["net"]["id"][:11]
    assert lab.sh("compute-3", f"ip link show dev {br}", check=False).returncode != 0
    # A VM that goes away (its tap deleted): its port is reported DOWN.
    p2 = pb["vms"]["pb2"]
    lab.sh("compute-2", f"ip link del tap{p2['id'][:11]}")
    deadline = time.time() + 10
    while time.time() < deadline:
        st = admin.get(f"/v2.0/ports/{p2['id']}").json["port"]["status"]
        if st == "DOWN":
            break
        time.sleep(0.3)
    assert st == "DOWN"
    # Delete the whole network (after its ports): nothing left on any node.
    for name in ("pb1", "pb2"):
        assert api.delete(f"/v2.0/ports/{pb['vms'][name]['id']}").status == 204
    assert api.delete(f"/v2.0/networks/{pb['net']['id']}").status == 204
    time.sleep(2)
    for node in ("compute-1", "compute-2", "compute-3"):
        links = lab.sh(node, "ip -o link show").stdout
        assert br not in links, (node, links)
        rules = lab.sh(node, "nft list ruleset").stdout
        assert tap not in rules

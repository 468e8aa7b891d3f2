"""The demo: the seed's story on a lab (two tenants with the same addresses,
L2 across nodes, DHCP, isolation, routers, Floating IPs, SNAT), told through
the lepton CLI, each claim checked with real packets. First on a cloud with
no network node (distributed routers, distributed SNAT), then on one with a
network node (DVR with centralized SNAT, and a legacy router); in each mode
the seven traffic cases of DESIGN.md section 3 are run and the nodes that
carried each are measured (packet counters on each node's wires and in its
router namespaces), then printed side by side."""
import ipaddress
import json
import subprocess
import sys
import time

from .lab import INTERNET6, TENANT6, Lab, LabError, _wait_for
from .topology import Topology

MODES = {"distributed": "distributed SNAT, no network node",
         "dvr": "DVR + centralized SNAT", "legacy": "legacy router"}
HEADS = {"distributed": "distributed SNAT", "dvr": "DVR+centralized SNAT",
         "legacy": "legacy router"}
ROUTER_ARGS = {"distributed": ["--distributed", "true", "--snat-mode", "distributed"],
               "dvr": ["--distributed", "true", "--snat-mode", "centralized"],
               "legacy": ["--distributed", "false"]}
CASES = ("1 same network, 2 nodes", "2 two subnets, 1 node", "3 two subnets, 2 nodes",
         "4 into a Floating IP", "5 out, with a Floating IP", "6 out, SNAT (no FIP)",
         "7 DHCP")
PINGS = 60           # echo requests per case (and as many replies)
LEASES = 6           # DHCP exchanges in case 7 (4 packets each)
METER = "lepton_lab_meter"


def run_demo(name, computes=3, bin_dir=None, out=print, warn=None):
    """Brings a lab with no network node up, tells the story through out()
    with distributed routers, brings it down; then the same with a network
    node, a DVR router with centralized SNAT and a legacy router. Checks
    each claim, prints the seven cases side by side. Returns the list of
    (claim, passed). Warnings (a segment this kernel cannot carry) go to
    warn (default: stderr)."""
    start = time.monotonic()
    results, paths = [], {}
    parts = ((False, {"alpha": "distributed", "beta": "distributed"}, ("alpha",)),
             (True, {"alpha": "dvr", "beta": "legacy"}, ("alpha", "beta")))
    for network_node, modes, measured in parts:
        lab = Lab(name, Topology.standard(computes, network_node=network_node, public=True),
                  bin_dir=bin_dir)
        if not (lab.bin / "lepton").exists():
            raise LabError("the demo uses the lepton CLI: make")
        info = lab.up()
        for w in lab.warnings:
            (warn or (lambda s: print(f"lepton-lab: {s}", file=sys.stderr)))(w)
        try:
            out("")
            out(f"lab {name} is up: {' '.join(info['nodes'])}"
                f"{'' if network_node else ' (no network node)'}")
            out(f"LEPTON_URL={lab.url}")
            demo = Demo(lab, computes, out, modes, measured)
            results += demo.run()
            paths.update(demo.paths)
        finally:
            lab.down()
    table(out, paths)
    out(f"demo: {time.monotonic() - start:.0f} s")
    return results


def short(node):
    """compute-2 -> c2, network-1 -> n1 (the table's cells)."""
    return node[0] + node.rsplit("-", 1)[-1] if "-" in node else node


def table(out, paths):
    out("")
    out("The seven traffic cases, side by side: the path a round trip took and how many")
    out("nodes it touched, as measured (cN = compute-N, n1 = network-1, inet = the")
    out("internet host; distributed SNAT has no network node):")
    modes = [m for m in MODES if m in paths]
    w = 18
    out("")
    out((f"  {'case':<28}" + "".join(f"{HEADS[m]:<{w + 8}}" for m in modes)).rstrip())
    for i, case in enumerate(CASES):
        cells = []
        for m in modes:
            path, nodes = paths[m][i]
            cells.append(f"{path:<{w}}{len(nodes)} node{'s' if len(nodes) > 1 else ' '} ")
        out((f"  {case:<28}" + "".join(cells)).rstrip())
    out("")


class Meter:
    """Packet counters by node: on each node's legs of the underlay switch
    (VXLAN frames carrying IPv4, each way) and of the external switch
    (IPv4 to and from the internet host: sent out, received, and received
    from the internet but sent by a node, i.e. forwarded), in the lab's own
    switch namespaces; plus the legs of each node's router namespaces and
    the taps of its VMs (read only)."""

    def __init__(self, lab, internet):
        self.lab = lab
        self.nodes = [n.name for n in lab.topology.nodes]
        ul, ext = [], []
        for n in self.nodes:
            i = lab.topology.index(n)
            # Inner ethertype IPv4 (outer IP 20 + UDP 8 + VXLAN 8 + 12 bytes).
            vx = "udp dport 4789 @nh,384,16 0x0800"
            ul += [f'iifname "n{i}" {vx} counter comment "ul {n}"',
                   f'oifname "n{i}" {vx} counter comment "ul {n}"']
            ext += [f'iifname "x{i}" ip daddr {internet} counter comment "out {n}"',
                    f'oifname "x{i}" ip saddr {internet} counter comment "in {n}"',
                    f'iifname "x{i}" ip saddr {internet} counter comment "fwd {n}"']
        for host, rules in (("ul", ul), ("ext", ext)):
            script = (f"table bridge {METER} {{\n chain counted {{\n"
                      "  type filter hook forward priority 0; policy accept;\n"
                      + "".join(f"  {r}\n" for r in rules) + " }\n}\n")
            lab.exec(host, ["nft", "-f", "-"], input=script, check=True)

    def read(self):
        """{(kind, node): packets}; kind ul, out, in, fwd, router, tap."""
        c = {}
        for host in ("ul", "ext"):
            doc = json.loads(self.lab.exec(host, ["nft", "-j", "list", "table", "bridge", METER],
                                           check=True).stdout)
            for item in doc["nftables"]:
                rule = item.get("rule")
                if rule and "comment" in rule:
                    kind, node = rule["comment"].split()
                    n = sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
                    c[(kind, node)] = c.get((kind, node), 0) + n
        mine = self.lab.namespaces()
        for node in self.nodes:
            prefix = self.lab.ns(node) + "-"
            n = 0
            for ns in mine:
                if ns.startswith(prefix):
                    host = ns[len(self.lab.ns("")):]
                    n += sum(ln.get("stats64", {}).get("rx", {}).get("packets", 0)
                             for ln in self.lab.ip_json(host, "-s", "link")
                             if ln["ifname"] != "lo")
            c[("router", node)] = n
            taps = [v.tap for v in self.lab.topology.vms if v.node == node]
            c[("tap", node)] = sum(
                s["rx"]["packets"] + s["tx"]["packets"]
                for ln in self.lab.ip_json(node, "-s", "link") if ln["ifname"] in taps
                for s in [ln.get("stats64", {})])
        return c

    def measure(self, action):
        before = self.read()
        action()
        time.sleep(0.3)
        after = self.read()
        return {k: after[k] - before.get(k, 0) for k in after}


class Demo:
    def __init__(self, lab, computes, out, modes, measured):
        self.lab, self.computes, self.out = lab, computes, out
        self.modes, self.measured = modes, measured
        self.results = []
        self.paths = {}     # mode -> [(path, nodes)] per case
        t = lab.topology
        self.public = t.segments[0]
        up = t.upstream_of(self.public.name)
        inet = ipaddress.IPv4Network(up.internet_cidr)
        self.internet_host = up.internet
        self.internet = str(inet.network_address + 10)

    def cli(self, project, *args, roles=None):
        argv = [str(self.lab.bin / "lepton"), "--os-url", self.lab.url, "--os-project-id",
                project]
        if roles:
            argv += ["--os-roles", roles]
        p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise LabError(f"lepton {' '.join(args)}: {p.stderr.strip()}")
        return p.stdout

    def cli_json(self, project, *args, roles=None):
        return json.loads(self.cli(project, *args, "-f", "json", roles=roles))

    def step(self, what, check):
        try:
            ok = bool(check())
        except Exception:  # a claim that cannot even be checked failed
            ok = False
        self.out(f"  {'ok  ' if ok else 'FAIL'}  {what}")
        self.results.append((what, ok))

    def run(self):
        gws = ipaddress.IPv4Network(self.public.gateways)
        self.out("")
        self.out(f"The operator made the external network '{self.public.name}': router gateways"
                 f" in private\n{gws}, Floating IPs from the pool {self.public.pool}; upstream"
                 f" router at\n{gws.network_address + 1}, an internet host at {self.internet}.")
        self.out("")
        desc = {"distributed": "distributed, SNAT on every node", "dvr":
                "distributed with centralized SNAT on the network node", "legacy":
                "legacy, on the network node"}
        self.out("Two tenants, each with network 10.0.0.0/24 (a VM on every compute node), a\n"
                 "second network 10.0.1.0/24 and a router:\n" +
                 "\n".join(f"  {t}: {desc[m]}" for t, m in self.modes.items()))
        ips, fips, gw = {}, {}, {}
        for t in self.modes:
            self.tenant(t, ips, fips, gw)
        self.out("")
        self.out("What it proves:")
        self.proofs(ips, fips, gw)
        if self.modes.get("alpha") == "distributed" and self.lab._v6_segment():
            self.ipv6()
        meter = Meter(self.lab, self.internet)
        for t in self.measured:
            self.out("")
            self.out(f"The seven traffic cases with {t}-router ({MODES[self.modes[t]]}), "
                     f"{PINGS} pings each; the nodes that carried them, counted:")
            self.cases(t, meter, ips, fips)
        self.out("")
        return self.results

    def tenant(self, t, ips, fips, gw):
        c = self.computes
        self.cli(t, "net-create", f"{t}-net")
        self.cli(t, "subnet-create", f"{t}-net", "10.0.0.0/24", "--name", f"{t}-sub",
                 "--dns-nameserver", "192.0.2.53")
        self.cli(t, "net-create", f"{t}-net2")
        self.cli(t, "subnet-create", f"{t}-net2", "10.0.1.0/24", "--name", f"{t}-sub2")
        mode = ROUTER_ARGS[self.modes[t]]
        self.cli(t, "router-create", f"{t}-router", *mode, roles="admin")
        self.cli(t, "router-interface-add", f"{t}-router", f"{t}-sub")
        self.cli(t, "router-interface-add", f"{t}-router", f"{t}-sub2")
        self.cli(t, "router-gateway-set", f"{t}-router", self.public.name)
        router = self.cli_json(t, "router-show", f"{t}-router")
        gw[t] = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        self.out(f"    router-create {t}-router {' '.join(mode)}: gateway {gw[t]}")
        self.cli(t, "security-group-rule-create", "default", "--direction", "ingress",
                 "--protocol", "icmp")
        self.cli(t, "security-group-rule-create", "default", "--direction", "ingress",
                 "--protocol", "tcp")
        plugs = [(f"{t}{n}", f"{t}-net", f"{t}-vm{n}", f"compute-{n}") for n in range(1, c + 1)]
        plugs.append((f"{t}far", f"{t}-net2", f"{t}-far", f"compute-{c}"))
        for key, net, vm, node in plugs:
            port = self.cli_json(t, "port-create", net, "--name", vm)
            ips[key] = port["fixed_ips"][0]["ip_address"]
            got = self.lab.vm(node, port["id"], vm)
            self.out(f"    VM {vm} on {node}: {got.address}")
        fip = self.cli_json(t, "floatingip-create", self.public.name)["floating_ip_address"]
        self.cli(t, "floatingip-associate", fip, f"{t}-vm1")
        fips[t] = fip
        self.out(f"    floatingip-create {self.public.name} -> {fip}; "
                 f"floatingip-associate {fip} {t}-vm1")

    def proofs(self, ips, fips, gw):
        lab, c = self.lab, self.computes
        for t in self.modes:
            for n in range(1, c + 1):
                self.step(f"{t}-vm{n} got {ips[f'{t}{n}']} by DHCP from its own node",
                          lambda t=t, n=n: lab.address(f"{t}-vm{n}") == f"{ips[f'{t}{n}']}/24")
        self.step("DHCP told the VMs MTU 1450 (VXLAN)",
                  lambda: lab.ip_json("alpha-vm1", "link", "show", "dev", "eth0")[0]["mtu"] == 1450)
        for n in range(2, c + 1):
            self.step(f"alpha-vm1 (compute-1) pings alpha-vm{n} (compute-{n}) over VXLAN",
                      lambda n=n: self.ping("alpha-vm1", ips[f"alpha{n}"]))
        self.step("TCP from alpha-vm1 to alpha-vm2 across nodes",
                  lambda: self.tcp("alpha-vm2", "alpha-vm1", ips["alpha2"], 7777) == "lepton")
        self.step("beta's VMs never reach alpha's (same addresses, isolated)",
                  lambda: self.tcp("alpha-vm2", "beta-vm1", ips["alpha2"], 7778) != "lepton")
        pool = ipaddress.IPv4Network(self.public.pool)
        private = ipaddress.IPv4Network(self.public.gateways)
        for t in self.modes:
            self.step(f"{t}: Floating IP {fips[t]} is from the pool, the gateway {gw[t]} from "
                      "private space",
                      lambda t=t: ipaddress.IPv4Address(fips[t]) in pool and
                      ipaddress.IPv4Address(gw[t]) in private)
            self.step(f"{t}: routed east-west: {t}-vm1 (compute-1) to {t}-far (10.0.1.0/24, "
                      f"compute-{c})", lambda t=t: self.ping(f"{t}-vm1", ips[f"{t}far"]))
            self.step(f"{t}: the internet host reaches {t}-vm1 by its Floating IP over TCP",
                      lambda t=t: self.tcp(f"{t}-vm1", self.internet_host, fips[t],
                                           7777) == "lepton")
            self.step(f"{t}: {t}-vm1 reaches the internet as {fips[t]} (SNAT to its Floating "
                      "IP)", lambda t=t: self.seen_as(f"{t}-vm1") == fips[t])
            self.step(f"{t}: {t}-vm2 (no Floating IP) reaches the internet as {gw[t]} (SNAT)",
                      lambda t=t: self.seen_as(f"{t}-vm2") == gw[t])

    def cases(self, t, meter, ips, fips):
        lab, c = self.lab, self.computes
        mode = self.modes[t]
        router = json.loads(self.cli(t, "router-show", f"{t}-router", "-f", "json",
                                     roles="admin"))
        owner = router.get("lepton:snat_owner") or ""
        l3 = router.get("lepton:l3_host") or ""
        vm_node = {f"{t}{n}": f"compute-{n}" for n in range(1, c + 1)}
        vm_node[f"{t}far"] = f"compute-{c}"
        # Case 6 from a VM without a Floating IP, on a node that is not
        # the owner when there is one (its return traffic is forwarded).
        snat_vm = next(k for k in (f"{t}{n}" for n in range(2, c + 1))
                       if vm_node[k] != owner)
        via = {"distributed": {owner}, "dvr": {l3}, "legacy": {l3}}[mode]
        legacy = {l3} if mode == "legacy" else set()

        def ping(src, ip):
            return lambda: self.ping(src, ip, PINGS)

        def dhcp():
            for _ in range(LEASES):
                lab.exec(f"{t}-vm2", ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f",
                                      "-s", "/bin/true", "-t", "3", "-T", "1"], timeout=20)
            return True

        runs = [  # what, action, source node, destination node, nodes expected
            (f"{t}-vm1 pings {t}-vm2", ping(f"{t}-vm1", ips[f"{t}2"]), vm_node[f"{t}1"],
             vm_node[f"{t}2"], {vm_node[f"{t}1"], vm_node[f"{t}2"]}),
            (f"{t}-vm{c} pings {t}-far", ping(f"{t}-vm{c}", ips[f"{t}far"]),
             vm_node[f"{t}{c}"], vm_node[f"{t}far"], {vm_node[f"{t}far"]} | legacy),
            (f"{t}-vm1 pings {t}-far", ping(f"{t}-vm1", ips[f"{t}far"]), vm_node[f"{t}1"],
             vm_node[f"{t}far"], {vm_node[f"{t}1"], vm_node[f"{t}far"]} | legacy),
            (f"the internet host pings {fips[t]} ({t}-vm1)",
             ping(self.internet_host, fips[t]), "inet", vm_node[f"{t}1"],
             {vm_node[f"{t}1"]} | legacy),
            (f"{t}-vm1 (Floating IP) pings the internet host", ping(f"{t}-vm1", self.internet),
             vm_node[f"{t}1"], "inet", {vm_node[f"{t}1"]} | legacy),
            (f"{snat_vm.replace(t, t + '-vm')} (no Floating IP) pings the internet host",
             ping(snat_vm.replace(t, f"{t}-vm"), self.internet), vm_node[snat_vm], "inet",
             {vm_node[snat_vm]} | via),
            (f"{t}-vm2 asks for a lease, {LEASES} times", dhcp, vm_node[f"{t}2"], vm_node[f"{t}2"],
             {vm_node[f"{t}2"]}),
        ]
        self.paths[mode] = []
        for i, (what, action, src, dst, want) in enumerate(runs):
            ok = [False]
            d = meter.measure(lambda: ok.__setitem__(0, action()))
            # A node counts when it saw at least as many packets as were sent
            # one way (the lab's background: ARP, IPv6, a dozen at most).
            # DHCP never enters a router namespace: their counters stay out.
            thr = 2 * LEASES if i == 6 else PINGS
            per_node = {n: sum(v for (k, m), v in d.items() if m == n and
                               (i != 6 or k != "router")) for n in meter.nodes}
            nodes = {n for n, v in per_node.items() if v >= thr}
            path = self.path(d, src, dst, nodes, thr)
            self.paths[mode].append((path, nodes))
            extra = f", owner {owner}" if i == 5 and owner else ""
            self.step(f"case {CASES[i]}: {what}: {path}; nodes "
                      f"{', '.join(sorted(nodes))} (packets: " +
                      ", ".join(f"{n} {per_node[n]}" for n in sorted(per_node)) + f"){extra}",
                      lambda ok=ok, nodes=nodes, want=want: ok[0] and nodes == want)

    @staticmethod
    def path(d, src, dst, nodes, thr):
        """The nodes a round trip went through, in order, from the counters:
        src, the nodes it crossed, dst; to the internet: the node that sent
        it out, then back: the node that received it (first the one that
        forwarded it on, if any), then the VM's node."""
        def hit(kind, n):
            return d.get((kind, n), 0) >= thr

        if dst == "inet":
            hops = [src] + [n for n in sorted(nodes) if hit("out", n) and n != src] + ["inet"]
            back = sorted((n for n in nodes if hit("in", n)), key=lambda n: not hit("fwd", n))
            hops += back + ([src] if (back[-1:] or [None])[0] != src else [])
        elif src == "inet":
            hops = ["inet"] + [n for n in sorted(nodes) if hit("in", n)]
            hops += [dst] if hops[-1] != dst else []
        else:
            hops = [src] + sorted(nodes - {src, dst}) + [dst]
            if src == dst and len(hops) == 2:
                hops = [src]
        return ">".join(short(h) for h in hops)

    def ping(self, host, ip, count=2):
        return self.lab.exec(host, ["ping", "-c", str(count), "-i", "0.01", "-W", "1",
                                    ip]).returncode == 0

    def tcp(self, server, client, ip, port):
        """What a TCP client gets from a server that says "lepton"."""
        srv = self.lab.popen(server, ["sh", "-c", f"echo lepton | timeout 5 nc -l -p {port} -q 1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Listening before the client comes (a loaded machine may take
            # longer than a fixed pause to start nc).
            _wait_for(5, lambda: f":{port}" in self.lab.exec(
                server, ["ss", "-Hltn", f"sport = :{port}"]).stdout)
            return self.lab.exec(client, ["nc", "-w", "2", ip, str(port)],
                                 stdin=subprocess.DEVNULL).stdout.strip()
        finally:
            self.lab.stop(srv)

    def ipv6(self):
        """alpha-net becomes dual-stack: a global IPv6 subnet (SLAAC) on
        alpha-router; each VM takes its address from the router
        advertisement its own node sends, and reaches the internet host
        over IPv6, without NAT, out of its own node and back into it."""
        lab, c = self.lab, self.computes
        api = lab.client("alpha")
        tenant = ipaddress.IPv6Network(TENANT6)
        cidr = str(ipaddress.IPv6Network((int(tenant.network_address) + (1 << 64), 64)))
        internet6 = str(ipaddress.IPv6Network(INTERNET6).network_address + 10)
        net = api.get("/v2.0/networks?name=alpha-net").json["networks"][0]
        sub = api.post("/v2.0/subnets", {"subnet": {
            "network_id": net["id"], "name": "alpha-v6", "cidr": cidr, "ip_version": 6,
            "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}}).json["subnet"]
        router = api.get("/v2.0/routers?name=alpha-router").json["routers"][0]
        api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
        sg = api.get("/v2.0/security-groups?name=default").json["security_groups"][0]
        for proto in ("ipv6-icmp", "tcp"):
            api.post("/v2.0/security-group-rules", {"security_group_rule": {
                "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv6",
                "protocol": proto}})
        self.out("")
        self.out(f"IPv6: alpha adds the subnet {cidr} (ipv6_ra_mode slaac) to alpha-net and to"
                 f"\nalpha-router; the upstream has the tenants' {TENANT6} on-link on the"
                 f"\nexternal segment, the internet host is {internet6}:")
        for n in range(1, c + 1):
            vm, node = f"alpha-vm{n}", f"compute-{n}"
            port = api.get(f"/v2.0/ports?name={vm}").json["ports"][0]
            want = [a["ip_address"] for a in port["fixed_ips"] if ":" in a["ip_address"]]
            got = []

            def slaac(vm=vm):
                got[:] = [a["local"] for link in lab.ip_json(vm, "-6", "addr", "show", "dev",
                                                            "eth0", "scope", "global")
                          for a in link.get("addr_info", [])
                          if "local" in a and not a.get("tentative")]
                return got == want
            self.step(f"{vm} took {want[0] if want else '?'} by SLAAC from the router "
                      f"advertisement of {node}", lambda slaac=slaac: _wait_for(15, slaac))
            before = self.v6_counts(internet6)
            ok = _wait_for(10, lambda vm=vm: self.ping6(vm, internet6))
            time.sleep(0.3)
            after = self.v6_counts(internet6)
            d = {k: after[k] - before.get(k, 0) for k in after}
            me = want[0] if want else "?"
            on_own = d.get(("out", node), 0) > 0 and d.get(("in", node), 0) > 0
            elsewhere = sum(v for (k, nd), v in d.items() if nd != node)
            why = ("" if ok else "no answer; ") + \
                ("" if on_own else "not both ways on its node; ") + \
                ("" if not elsewhere else f"{elsewhere} packets on other nodes")
            if why:
                self.out(f"        ({why.strip('; ')})")
            self.step(f"{vm} pings the internet host over IPv6 as {me} (no NAT), out of and "
                      f"back into {node} only",
                      lambda ok=ok, on_own=on_own, elsewhere=elsewhere:
                      ok and on_own and not elsewhere)

    def v6_counts(self, internet6):
        """IPv6 to and from the internet host on each node's leg of the
        external switch, counted (nftables counters in the lab's switch
        namespace: exact, whatever the load): {(out|in, node): packets}."""
        lab = self.lab
        if not getattr(self, "_v6_meter", False):
            rules = []
            for n in lab.topology.nodes:
                i = lab.topology.index(n.name)
                rules += [f'iifname "x{i}" ip6 daddr {internet6} counter comment "out {n.name}"',
                          f'oifname "x{i}" ip6 saddr {internet6} counter comment "in {n.name}"']
            script = (f"table bridge {METER}6 {{\n chain counted {{\n"
                      "  type filter hook forward priority 0; policy accept;\n"
                      + "".join(f"  {r}\n" for r in rules) + " }\n}\n")
            lab.exec("ext", ["nft", "-f", "-"], input=script, check=True)
            self._v6_meter = True
        doc = json.loads(lab.exec("ext", ["nft", "-j", "list", "table", "bridge", f"{METER}6"],
                                  check=True).stdout)
        c = {}
        for item in doc["nftables"]:
            rule = item.get("rule")
            if rule and "comment" in rule:
                kind, node = rule["comment"].split()
                c[(kind, node)] = sum(e["counter"]["packets"] for e in rule["expr"]
                                      if "counter" in e)
        return c

    def ping6(self, host, ip, count=2):
        return self.lab.exec(host, ["ping", "-6", "-c", str(count), "-i", "0.2", "-W", "1",
                                    ip]).returncode == 0

    def seen_as(self, vm, port=7780):
        """The address the internet host sees a VM's TCP connection come from."""
        code = ("import socket\n"
                "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                f"s.bind(('0.0.0.0', {port})); s.listen(1); s.settimeout(5)\n"
                "c, a = s.accept(); c.sendall((a[0] + '\\n').encode()); c.close()\n")
        srv = self.lab.popen(self.internet_host, [sys.executable, "-c", code],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(5, lambda: f":{port}" in self.lab.exec(
                self.internet_host, ["ss", "-Hltn", f"sport = :{port}"]).stdout)
            return self.lab.exec(vm, ["nc", "-w", "2", self.internet, str(port)],
                                 stdin=subprocess.DEVNULL).stdout.strip()
        finally:
            self.lab.stop(srv)

#!/usr/bin/python3
"""bench/routed: routed east-west and Floating IP north-south TCP through
Lepton's distributed router, against raw namespace routers built by hand,
measured in the same run.

Cases (iperf3 TCP, one stream):
  - east-west: a VM in subnet A on compute-1 and a VM in subnet B on
    compute-2, both subnets on one distributed router (`distributed: true`);
    the port-security-off pair and the 20-rule pair have subnets of their own
    (four networks on the router), so that the networks of the first have no
    filtered port (their bridges skip netfilter, as the agent does them);
    each direction is routed on the source node by that node's copy of the
    router, then crosses VXLAN in the destination subnet;
  - north-south: a VM with a Floating IP to the lab's internet host
    (198.51.100.10, behind the external switch and the upstream router) and
    from the internet host to the Floating IP.
Each case runs with port security off and with port security on and a
security group of 20 rules (the last one lets iperf3's port in).

Baselines, built by hand in namespaces of this run (no Lepton; the nodes'
bridge-nf-call-* sysctls at 0, as the lab's nodes):
  - east-west: an underlay switch; per node two bridges, each with a VXLAN
    device (VNI per subnet, learning off, flooding to the other node) over the
    underlay, one plain router namespace (ip_forward, no nftables) with a leg
    in each bridge; VMs as veths into namespaces, MTU 1450. To keep it simple
    each node's router has its own gateway addresses and MACs (node 1 .1,
    node 2 .254) and each VM uses its own node's router, so each direction is
    routed on its source node as in Lepton (where the gateway is one anycast
    address and MAC on every node); measured twice: as it is, and with an
    nft NAT table in each router (a gateway's SNAT, the baseline the issue
    names: "a raw namespace router with nft NAT"), whose conntrack then
    tracks the east-west flows too (Lepton's routers do not track traffic
    between their own subnets);
  - north-south: a node with a tenant bridge (MTU 1450) and an external
    bridge, a router namespace between them with nftables DNAT/SNAT for one
    Floating IP (a /32 on its external leg, as Lepton's), the node's external
    veth to a raw external switch, an upstream router namespace with the pool
    on-link, an internet namespace behind it.

Rounds take turns (raw, for east-west also raw with NAT, Lepton with port
security off, Lepton with the 20-rule group, for each case); the figures are
medians of the rounds, with each round's figures printed too, and the ratio
Lepton / raw.

Run as root: bench/routed.py [--rounds 3] [--secs 5] (Debian's /usr/bin/python3,
standard library only; or `make bench-routed BENCH_ARGS=...`)
"""
import argparse
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "lab"))  # the lab library
from leptonlab import Lab, unique_name  # noqa: E402

INTERNET = "198.51.100.10"
PORT = 5201   # iperf3's; the 20th rule of the group lets it in


def sh(*args, check=True):
    p = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=60)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {p.stderr.strip() or p.stdout.strip()}")
    return p


def mk(client, kind, body):
    key = kind.replace("-", "_")
    r = client.post(f"/v2.0/{kind}s", {key: body})
    assert r.status == 201, r
    return r.json[key]


def stop(proc):
    """Ends a process this bench started (its own process group), by PID."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def iperf(client_ns, server_ns, ip, secs):
    """TCP from client_ns to ip (a server in server_ns): received Gbit/s."""
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-p",
                            str(PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not sh("ip", "netns", "exec", server_ns, "ss", "-Hltn", f"sport = :{PORT}",
                     check=False).stdout.strip():
            if time.monotonic() > deadline or srv.poll() is not None:
                raise RuntimeError(f"iperf3 server in {server_ns} did not listen")
            time.sleep(0.05)
        p = subprocess.run(["ip", "netns", "exec", client_ns, "iperf3", "-c", ip, "-p",
                            str(PORT), "-t", str(secs), "-J"], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=secs + 40)
        try:
            out = json.loads(p.stdout)
            return out["end"]["sum_received"]["bits_per_second"] / 1e9
        except (ValueError, KeyError):
            raise RuntimeError(f"iperf3 {client_ns} -> {ip}: "
                               f"{(p.stdout or p.stderr).strip()[-300:]}") from None
    finally:
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        stop(srv)


class Raw:
    """Namespaces built by hand for the baselines; remove() deletes every
    one this object made (also after a failure half way)."""

    def __init__(self, tag):
        self.tag = tag
        self.made = []

    def ns(self, key):
        return f"lp-{self.tag}-{key}"

    def add(self, *keys):
        for k in keys:
            self.made.append(self.ns(k))
            sh("ip", "netns", "add", self.ns(k))
            self.ip(k, "link", "set", "lo", "up")

    def ip(self, key, *args):
        return sh("ip", "-n", self.ns(key), *args)

    def run(self, key, *argv):
        return sh("ip", "netns", "exec", self.ns(key), *argv)

    def nft(self, key, script):
        """Loads an nftables script in namespace key."""
        p = subprocess.run(["ip", "netns", "exec", self.ns(key), "nft", "-f", "-"], input=script,
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"nft in {self.ns(key)}: {p.stderr.strip()}")

    def veth(self, a, a_dev, b, b_dev, mtu=1500, master=None):
        """A veth between namespaces a and b, both ends up; a_dev in bridge
        master (in a) if given."""
        self.ip(a, "link", "add", a_dev, "mtu", str(mtu), "type", "veth", "peer", "name", b_dev,
                "mtu", str(mtu), "netns", self.ns(b))
        if master:
            self.ip(a, "link", "set", a_dev, "master", master)
        self.ip(a, "link", "set", a_dev, "up")
        self.ip(b, "link", "set", b_dev, "up")

    def bridge(self, key, name, mtu=1500):
        self.ip(key, "link", "add", name, "mtu", str(mtu), "type", "bridge")
        self.ip(key, "link", "set", name, "up")

    def node(self, key):
        self.run(key, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0",
                 "net.bridge.bridge-nf-call-ip6tables=0")

    def router(self, key):
        self.run(key, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                 "net.ipv4.conf.default.rp_filter=0")

    def remove(self):
        for n in reversed(self.made):
            sh("ip", "netns", "del", n, check=False)
        self.made = []

    # -- east-west -------------------------------------------------------------
    def east_west(self):
        """Two nodes on an underlay switch; per node bridges brA, brB (MTU
        1450) with VXLAN devices (VNI 100, 101) and a router namespace with a
        leg in each; VM a (10.9.0.10) on node 1, VM b (10.9.1.10) on node 2.
        Returns (a, b, b's address, a's address) as namespace names."""
        self.add("ul", "n1", "n2", "r1", "r2", "a", "b")
        self.bridge("ul", "ul")
        gw = {1: "1", 2: "254"}
        for i in (1, 2):
            node, rtr = f"n{i}", f"r{i}"
            me, other = f"100.127.0.{10 + i}", f"100.127.0.{13 - i}"
            self.node(node)
            self.veth("ul", f"n{i}", node, "ul0", master="ul")
            self.ip(node, "addr", "add", f"{me}/24", "dev", "ul0")
            self.router(rtr)
            for leg, vni, net in (("A", 100, "10.9.0"), ("B", 101, "10.9.1")):
                self.bridge(node, f"br{leg}", 1450)
                self.ip(node, "link", "add", f"vx{leg}", "mtu", "1450", "type", "vxlan", "id",
                        str(vni), "local", me, "dstport", "4789", "nolearning", "dev", "ul0")
                self.ip(node, "link", "set", f"vx{leg}", "master", f"br{leg}", "up")
                sh("bridge", "-n", self.ns(node), "fdb", "append", "00:00:00:00:00:00", "dev",
                   f"vx{leg}", "dst", other)
                self.veth(node, f"t{leg}", rtr, f"q{leg}", 1450, master=f"br{leg}")
                self.ip(rtr, "addr", "add", f"{net}.{gw[i]}/24", "dev", f"q{leg}")
        self.veth("n1", "tapa", "a", "eth0", 1450, master="brA")
        self.ip("a", "addr", "add", "10.9.0.10/24", "dev", "eth0")
        self.ip("a", "route", "add", "default", "via", "10.9.0.1")
        self.veth("n2", "tapb", "b", "eth0", 1450, master="brB")
        self.ip("b", "addr", "add", "10.9.1.10/24", "dev", "eth0")
        self.ip("b", "route", "add", "default", "via", "10.9.1.254")
        return self.ns("a"), self.ns("b"), "10.9.1.10", "10.9.0.10"

    def east_west_nat(self, on):
        """Gives the east-west routers an nft NAT table (a gateway's SNAT on
        a leg they do not have), or takes it away: with it their conntrack
        tracks every flow they route, as any router with NAT does."""
        nat = ("table ip gwnat {\n"
               " chain post { type nat hook postrouting priority srcnat; policy accept;\n"
               "  oifname \"qg\" masquerade\n }\n}\n")
        for rtr in ("r1", "r2"):
            if on:
                self.nft(rtr, nat)
            else:
                self.run(rtr, "nft", "delete", "table", "ip", "gwnat")

    # -- north-south -------------------------------------------------------------
    def north_south(self):
        """VM v (10.9.0.10, MTU 1450) - node f's bridge brA - router fr (nft
        DNAT/SNAT 203.0.113.50 <-> 10.9.0.10 on its leg fg, in node f's
        external bridge brX) - ext0 - external switch (namespace fx) -
        upstream router fu (100.64.0.1, pool on-link) - internet fi
        (198.51.100.10). Returns (v, fi, the Floating IP)."""
        self.add("f", "fr", "v", "fx", "fu", "fi")
        fip = "203.0.113.50"
        self.node("f")
        self.bridge("f", "brA", 1450)
        self.bridge("f", "brX")
        self.router("fr")
        self.veth("f", "tapv", "v", "eth0", 1450, master="brA")
        self.ip("v", "addr", "add", "10.9.0.10/24", "dev", "eth0")
        self.ip("v", "route", "add", "default", "via", "10.9.0.1")
        self.veth("f", "tr", "fr", "qr", 1450, master="brA")
        self.ip("fr", "addr", "add", "10.9.0.1/24", "dev", "qr")
        self.veth("f", "tg", "fr", "fg", master="brX")
        self.ip("fr", "addr", "add", "100.64.0.10/24", "dev", "fg")
        self.ip("fr", "addr", "add", f"{fip}/32", "dev", "fg")
        self.ip("fr", "route", "add", "default", "via", "100.64.0.1")
        nat = (f"table ip fipnat {{\n"
               f" chain pre {{ type nat hook prerouting priority dstnat; policy accept;\n"
               f"  ip daddr {fip} dnat to 10.9.0.10\n }}\n"
               f" chain post {{ type nat hook postrouting priority srcnat; policy accept;\n"
               f"  oifname \"fg\" ip saddr 10.9.0.10 snat to {fip}\n }}\n}}\n")
        self.nft("fr", nat)
        self.bridge("fx", "ext")
        self.veth("fx", "x1", "f", "ext0", master="ext")
        self.ip("f", "link", "set", "ext0", "master", "brX")
        self.veth("fx", "upl", "fu", "up0", master="ext")
        self.router("fu")
        self.ip("fu", "addr", "add", "100.64.0.1/24", "dev", "up0")
        self.ip("fu", "route", "add", "203.0.113.0/24", "dev", "up0")
        self.veth("fu", "up1", "fi", "eth0")
        self.ip("fu", "addr", "add", "198.51.100.1/24", "dev", "up1")
        self.ip("fi", "addr", "add", f"{INTERNET}/24", "dev", "eth0")
        self.ip("fi", "route", "add", "default", "via", "198.51.100.1")
        return self.ns("v"), self.ns("fi"), fip


def lepton_setup(lab):
    """One distributed router with a gateway on `public` and, per
    port-security mode, subnets A and B (off: 10.0.0.0/24 and 10.0.1.0/24,
    on: 10.0.2.0/24 and 10.0.3.0/24), a VM in A on compute-1 (with a
    Floating IP) and a VM in B on compute-2.
    Returns {mode: {"a", "b", "a_ip", "b_ip", "fip"}} (namespace names)."""
    proj = "brt"
    api = lab.client(proj)
    admin_as = lab.admin().as_(proj, "admin")
    ext = lab.admin().get("/v2.0/networks?name=public").json["networks"][0]
    subs = []
    for k in range(4):
        n = mk(api, "network", {"name": f"rt{k}"})
        subs.append(mk(api, "subnet", {"network_id": n["id"], "cidr": f"10.0.{k}.0/24",
                                       "ip_version": 4}))
    rid = mk(admin_as, "router", {"name": "rt", "distributed": True})["id"]
    calls = [(api, f"{rid}/add_router_interface", {"subnet_id": s["id"]}) for s in subs]
    calls.append((admin_as, rid, {"router": {"external_gateway_info": {
        "network_id": ext["id"]}}}))
    for client, path, body in calls:
        r = client.put(f"/v2.0/routers/{path}", body)
        assert r.status == 200, r
    sg = mk(api, "security-group", {"name": "twenty"})
    for k in range(20):
        mk(api, "security-group-rule", {
            "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
            "protocol": "tcp", "port_range_min": PORT - 19 + k, "port_range_max": PORT - 19 + k})
    vms = {}
    for k, (mode, body) in enumerate((("off", {"port_security_enabled": False}),
                                      ("on", {"security_groups": [sg["id"]]}))):
        row = {}
        for side, node, sub in (("a", "compute-1", subs[2 * k]),
                                ("b", "compute-2", subs[2 * k + 1])):
            port = mk(api, "port", {"network_id": sub["network_id"], "name": f"{side}{mode}",
                                    **body})
            lab.vm(node, port["id"], f"{side}{mode}")
            row[side] = lab.ns(f"{side}{mode}")
            row[f"{side}_ip"] = port["fixed_ips"][0]["ip_address"]
            row[f"{side}_port"] = port["id"]
            row[f"{side}_bridge"] = (lab.ns(node), "brq" + sub["network_id"][:11])
        fip = mk(api, "floatingip", {"floating_network_id": ext["id"], "port_id": row["a_port"]})
        row["fip"] = fip["floating_ip_address"]
        vms[mode] = row
    return vms


CASES = (("ew_ab", "E-W  A@compute-1 -> B@compute-2"),
         ("ew_ba", "E-W  B@compute-2 -> A@compute-1"),
         ("ns_out", "N-S  VM -> internet (via FIP)"),
         ("ns_in", "N-S  internet -> FIP -> VM"))


def nf_call(ns, bridge):
    """A bridge's nf_call_iptables (1: its packets go through netfilter)."""
    link = json.loads(sh("ip", "-d", "-j", "-n", ns, "link", "show", "dev", bridge).stdout)[0]
    return link["linkinfo"]["info_data"].get("nf_call_iptables")


def pairs(raw_ew, raw_ns, lep, internet):
    """{case: {"raw"|"off"|"on": (client ns, server ns, address)}}."""
    a, b, b_ip, a_ip = raw_ew
    v, fi, fip = raw_ns
    out = {"ew_ab": {"raw": (a, b, b_ip)}, "ew_ba": {"raw": (b, a, a_ip)},
           "ns_out": {"raw": (v, fi, INTERNET)}, "ns_in": {"raw": (fi, v, fip)}}
    for mode, m in lep.items():
        out["ew_ab"][mode] = (m["a"], m["b"], m["b_ip"])
        out["ew_ba"][mode] = (m["b"], m["a"], m["a_ip"])
        out["ns_out"][mode] = (m["a"], internet, INTERNET)
        out["ns_in"][mode] = (internet, m["a"], m["fip"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=5)
    args = ap.parse_args()
    tag = unique_name("rr")
    lab = Lab(unique_name("brt"), computes=2, public=True)
    raw = Raw(tag)
    try:
        lab.up()
        lep = lepton_setup(lab)
        todo = pairs(raw.east_west(), raw.north_south(), lep, lab.ns("internet"))
        # Every path carries TCP before anything is measured (ARP, routes).
        for case, _ in CASES:
            for kind, (c, s, ip) in todo[case].items():
                iperf(c, s, ip, 1)
        load_before = os.getloadavg()
        rounds = {case: {k: [] for k in ("raw", "rawnat", "off", "on")} for case, _ in CASES}
        for _ in range(args.rounds):
            for case, _ in CASES:
                for kind in ("raw", "rawnat", "off", "on"):
                    if kind == "rawnat" and not case.startswith("ew"):
                        continue  # the north-south baseline has its NAT already
                    if kind == "rawnat":
                        raw.east_west_nat(True)
                    try:
                        path = todo[case]["raw" if kind == "rawnat" else kind]
                        rounds[case][kind].append(iperf(*path, args.secs))
                    finally:
                        if kind == "rawnat":
                            raw.east_west_nat(False)
        load_after = os.getloadavg()
        bridges = {m: (nf_call(*lep[m]["a_bridge"]), nf_call(*lep[m]["b_bridge"]))
                   for m in lep}
        tables = lab.sh("compute-1", "nft list tables").stdout

        print("Routed TCP, Lepton distributed router against raw namespace routers "
              f"(lab, 2 compute nodes; iperf3 {args.secs} s, one stream, median of "
              f"{args.rounds} rounds taking turns)")
        print("  ports' hooks (agent --port-hooks auto): " + (
            "netdev chains of their taps" if "netdev lepton" in tables else "bridge chains"))
        print(f"  load average before {load_before[0]:.2f} {load_before[1]:.2f} "
              f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
              f"{load_after[2]:.2f}")
        print(f"  {'case':34s} {'raw':>7s}  {'PS off':>7s} {'ratio':>5s}  "
              f"{'20 rules':>8s} {'ratio':>5s}   (Gbit/s)")
        for case, label in CASES:
            r = rounds[case]
            base, off, on = (statistics.median(r[k]) for k in ("raw", "off", "on"))
            print(f"  {label:34s} {base:7.2f}  {off:7.2f} {off / base:5.2f}  {on:8.2f} "
                  f"{on / base:5.2f}")
        print("  east-west against the raw routers with an nft NAT table (their conntrack "
              "tracks the flows):")
        for case, label in CASES[:2]:
            r = rounds[case]
            base, off, on = (statistics.median(r[k]) for k in ("rawnat", "off", "on"))
            print(f"  {label:34s} {base:7.2f}  {off:7.2f} {off / base:5.2f}  {on:8.2f} "
                  f"{on / base:5.2f}")
        print("  nf_call_iptables of the VMs' bridges (A@compute-1, B@compute-2): "
              + ", ".join(f"PS {m} {a} {b}" for m, (a, b) in bridges.items()))
        print("  rounds (Gbit/s):")
        for case, label in CASES:
            print(f"    {case:6s} " + "; ".join(
                f"{k} " + " ".join(f"{v:.2f}" for v in rounds[case][k])
                for k in ("raw", "rawnat", "off", "on") if rounds[case][k]))
    finally:
        raw.remove()
        lab.down()


if __name__ == "__main__":
    main()

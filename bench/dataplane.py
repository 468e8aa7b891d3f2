#!/usr/bin/python3
"""bench/dataplane: the L2 data plane and the agent, in a lab, with real packets.

Prints, each measured in the same run:
  - cross-node TCP throughput (iperf3, 5 s, median of --rounds rounds, 3 by
    default, that take turns) between two VMs on two compute nodes, with port security off, and
    with port security on and a security group of 20 rules, against a raw
    veth + bridge + VXLAN path built by hand with the same shape (the
    baseline), as ratios; and that raw path with conntrack on every flow
    (its bridges' netfilter on, one table that accepts new and established
    flows): the floor of any stateful filter on this kernel; and over IPv6 (the VMs' SLAAC addresses from their
    nodes' router advertisements, port security off; the raw path's static
    addresses), against the same raw path in the same rounds;
  - time from port create to the VM's first successful ping (median of N),
    which covers the API, the feed, the agent, DHCP and ARP;
  - the agent's full resync of a node with 1,000 ports (agent restart).

Run as root: bench/dataplane.py [--runs 20] [--ports 1000] [--rounds 3] (Debian's
/usr/bin/python3, standard library only; or `make bench-dataplane BENCH_ARGS=...`)
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "lab"))  # the lab library
from leptonlab import Lab, logfmt, unique_name  # noqa: E402


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def iperf(client_ns, server_ns, ip, port=5201):
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-p",
                            str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        out = sh("ip", "netns", "exec", client_ns, "iperf3", "-c", ip, "-p", str(port), "-t",
                 "5", "-J").stdout
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        srv.wait(timeout=10)


def raw_path(tag):
    """The same shape without Lepton: vm - veth - bridge - vxlan - underlay."""
    ns = {k: f"lp-raw{tag}-{k}" for k in ("ul", "n1", "n2", "v1", "v2")}
    for n in ns.values():
        sh("ip", "netns", "add", n)
    sh("ip", "-n", ns["ul"], "link", "add", "ul", "type", "bridge")
    sh("ip", "-n", ns["ul"], "link", "set", "ul", "up")
    for i in (1, 2):
        node, vm = ns[f"n{i}"], ns[f"v{i}"]
        sh("ip", "-n", ns["ul"], "link", "add", f"n{i}", "type", "veth", "peer", "name", "ul0",
           "netns", node)
        sh("ip", "-n", ns["ul"], "link", "set", f"n{i}", "master", "ul", "up")
        sh("ip", "-n", node, "addr", "add", f"100.127.0.{10 + i}/24", "dev", "ul0")
        sh("ip", "-n", node, "link", "set", "ul0", "up")
        sh("ip", "-n", node, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", node, "link", "add", "vx0", "type", "vxlan", "id", "42", "local",
           f"100.127.0.{10 + i}", "dstport", "4789", "nolearning", "dev", "ul0")
        sh("ip", "-n", node, "link", "set", "vx0", "master", "br0", "mtu", "1450", "up")
        sh("ip", "-n", node, "link", "set", "br0", "up", "mtu", "1450")
        sh("ip", "-n", node, "link", "add", "tap0", "type", "veth", "peer", "name", "eth0",
           "netns", vm)
        sh("ip", "-n", node, "link", "set", "tap0", "master", "br0", "mtu", "1450", "up")
        sh("ip", "-n", vm, "addr", "add", f"10.9.0.{i}/24", "dev", "eth0")
        sh("ip", "-n", vm, "-6", "addr", "add", f"fd09::{i}/64", "dev", "eth0", "nodad")
        sh("ip", "-n", vm, "link", "set", "eth0", "mtu", "1450", "up")
        sh("ip", "-n", vm, "link", "set", "lo", "up")
        other = 12 if i == 1 else 11
        sh("bridge", "-n", node, "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst",
           f"100.127.0.{other}")
    return ns


# The least any stateful filter costs on this kernel: the raw path with its
# bridges' netfilter on and one table that tracks every flow, accepts new
# and established ones, and does not track the VXLAN packets themselves
# (as Lepton does). No anti-spoofing, no ports, no groups.
FLOOR = """table inet floor {
\tchain out { type filter hook output priority raw; policy accept; udp dport 4789 notrack; }
\tchain pre { type filter hook prerouting priority raw; policy accept; udp dport 4789 notrack; }
\tchain forward { type filter hook forward priority filter; policy accept;
\t\tct state established,related accept; ct state new accept; drop; }
}
"""


def floor(raw, on):
    for n in (raw["n1"], raw["n2"]):
        v = "1" if on else "0"
        sh("ip", "-n", n, "link", "set", "br0", "type", "bridge", "nf_call_iptables", v,
           "nf_call_ip6tables", v)
        if on:
            subprocess.run(["ip", "netns", "exec", n, "nft", "-f", "-"], input=FLOOR, text=True,
                           check=True)
        else:
            sh("ip", "netns", "exec", n, "nft", "delete", "table", "inet", "floor", check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3,
                    help="iperf3 rounds, each path in turn (the median is printed)")
    args = ap.parse_args()
    lab = Lab(unique_name("bn"), computes=2)
    raw = None
    try:
        lab.up()
        api = lab.client("bench")
        admin = lab.admin()
        admin.put("/v2.0/quotas/bench", {"quota": {"port": -1}})
        net = api.post("/v2.0/networks", {"network": {"name": "bench"}}).json["network"]
        api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.64.0.0/16",
                                              "ip_version": 4}})
        v6 = api.post("/v2.0/subnets", {"subnet": {
            "network_id": net["id"], "cidr": "fd00:64::/64", "ip_version": 6,
            "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}}).json["subnet"]
        router = api.post("/v2.0/routers", {"router": {"name": "bench"}}).json["router"]
        api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": v6["id"]})
        # A group of 20 rules, the one that lets iperf3 in last.
        sg = api.post("/v2.0/security-groups", {"security_group": {"name": "twenty"}}).json[
            "security_group"]
        for k in range(20):
            r = api.post("/v2.0/security-group-rules", {"security_group_rule": {
                "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
                "protocol": "tcp", "port_range_min": 5182 + k, "port_range_max": 5182 + k}})
            assert r.status == 201, r
        ports, secured = [], []
        for i in (1, 2):
            p = api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                  "port_security_enabled": False}}).json["port"]
            lab.vm(f"compute-{i}", p["id"], f"tp{i}")
            ports.append(p)
            p = api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                  "security_groups": [sg["id"]]}}).json["port"]
            lab.vm(f"compute-{i}", p["id"], f"ts{i}")
            secured.append(p)
        port2 = api.get(f"/v2.0/ports/{ports[1]['id']}").json["port"]
        ip2 = [a["ip_address"] for a in port2["fixed_ips"] if ":" not in a["ip_address"]][0]
        ip2v6 = [a["ip_address"] for a in port2["fixed_ips"] if ":" in a["ip_address"]][0]
        secured2 = api.get(f"/v2.0/ports/{secured[1]['id']}").json["port"]
        ips2 = [a["ip_address"] for a in secured2["fixed_ips"] if ":" not in a["ip_address"]][0]
        deadline = time.monotonic() + 20
        while ip2v6 not in lab.sh("tp2", "ip -6 addr show dev eth0 scope global -tentative",
                                  check=False).stdout:
            if time.monotonic() > deadline:
                raise SystemExit(f"tp2 has no SLAAC address {ip2v6}")
            time.sleep(0.2)
        raw = raw_path(os.getpid() % 10000)
        time.sleep(2)
        rounds = {"raw": [], "floor": [], "off": [], "on": [], "raw6": [], "off6": []}
        for _ in range(args.rounds):
            rounds["raw"].append(iperf(raw["v1"], raw["v2"], "10.9.0.2"))
            floor(raw, True)
            rounds["floor"].append(iperf(raw["v1"], raw["v2"], "10.9.0.2"))
            floor(raw, False)
            rounds["off"].append(iperf(lab.ns("tp1"), lab.ns("tp2"), ip2))
            rounds["on"].append(iperf(lab.ns("ts1"), lab.ns("ts2"), ips2, port=5201))
            rounds["raw6"].append(iperf(raw["v1"], raw["v2"], "fd09::2"))
            rounds["off6"].append(iperf(lab.ns("tp1"), lab.ns("tp2"), ip2v6))
        base, stateful, lepton, filtered, base6, lepton6 = (
            statistics.median(rounds[k]) for k in ("raw", "floor", "off", "on", "raw6", "off6"))

        times = []
        for i in range(args.runs):
            t0 = time.monotonic()
            p = api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                  "port_security_enabled": False}}).json["port"]
            lab.vm("compute-2", p["id"], f"pv{i}")
            while lab.sh(f"pv{i}", f"ping -c1 -W1 {ports[0]['fixed_ips'][0]['ip_address']}",
                         check=False).returncode != 0:
                if time.monotonic() - t0 > 30:
                    raise SystemExit("no ping after 30 s")
            times.append(time.monotonic() - t0)

        # A node with many ports: bind them to compute-1 and restart its agent.
        for _ in range(args.ports):
            api.post("/v2.0/ports", {"port": {"network_id": net["id"]}})
        ids = [p["id"] for p in admin.get(f"/v2.0/ports?network_id={net['id']}").json["ports"]
               if not p["binding:host_id"]]
        for pid in ids:
            admin.put(f"/v2.0/ports/{pid}", {"port": {"binding:host_id": "compute-1",
                                                      "device_owner": "compute:bench"}})
        log = lab.agent_log("compute-1")
        mark = log.stat().st_size
        lab.agent_restart("compute-1")
        deadline = time.time() + 120
        resync = None
        while time.time() < deadline and resync is None:
            found = [(e["ports"], e["ms"]) for e in logfmt.events(log, "agent.pass", mark)
                     if e["kind"] == "full_resync"]
            if found:
                resync = found[-1]
            time.sleep(0.2)

        tables = lab.sh("compute-1", "nft list tables").stdout
        print("Lepton data plane (lab, 2 compute nodes, one run)")
        print("  ports' hooks (agent --port-hooks auto): " + (
            "netdev chains of their taps" if "netdev lepton" in tables else "bridge chains"))
        print(f"  cross-node TCP, raw veth+bridge+VXLAN baseline : {base:6.2f} Gbit/s")
        print(f"  same raw path, conntrack on every flow (floor) : {stateful:6.2f} Gbit/s"
              f"  ratio {stateful / base:.2f}")
        print(f"  cross-node TCP, Lepton VMs, port security off  : {lepton:6.2f} Gbit/s"
              f"  ratio {lepton / base:.2f}")
        print(f"  cross-node TCP, Lepton VMs, 20-rule group      : {filtered:6.2f} Gbit/s"
              f"  ratio {filtered / base:.2f}  (to the floor {filtered / stateful:.2f})")
        print(f"  cross-node TCP over IPv6, raw baseline         : {base6:6.2f} Gbit/s")
        print(f"  cross-node TCP over IPv6, Lepton VMs (SLAAC)   : {lepton6:6.2f} Gbit/s"
              f"  ratio {lepton6 / base6:.2f}  (IPv6/IPv4 on Lepton {lepton6 / lepton:.2f})")
        print("    rounds (Gbit/s): " + "; ".join(
            f"{k} " + " ".join(f"{v:.2f}" for v in rounds[k]) for k in rounds))
        print(f"  port create -> first ping, median of {len(times):3d}      : "
              f"{statistics.median(times) * 1000:6.0f} ms (min {min(times) * 1000:.0f}, "
              f"max {max(times) * 1000:.0f})")
        if resync:
            print(f"  agent full resync, {resync[0]} ports on the node     : {resync[1]:>6} ms")
        else:
            print("  agent full resync: not seen in 120 s")
    finally:
        lab.down()
        if raw:
            for n in raw.values():
                sh("ip", "netns", "del", n, check=False)


if __name__ == "__main__":
    main()

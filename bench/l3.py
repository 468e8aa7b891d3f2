#!/usr/bin/python3
"""bench/l3: routers on the data plane, in a lab, with real packets.

Prints, each measured in the same run:
  - aggregate routed east-west TCP throughput (iperf3) with 1, 2 and 3
    compute nodes sending at once (on each node a VM in subnet 1 sends to a
    VM in subnet 2 on the next node), legacy router against DVR;
  - aggregate north-south TCP throughput (iperf3) from VMs with Floating
    IPs on 1, 2 and 3 nodes to the internet host at once, legacy against
    DVR; (on a 2-core machine the upstream router and the internet host
    share the cores with everything, so expect the ceiling to be the
    machine's: compare the columns, not absolute values);
  - time from floatingip-associate (the API call) to the first ping reply
    from the VM at the internet host, median of N;
  - the agent's resync of a node with R routers and F Floating IPs: built
    from nothing (agent started on an empty node), and after a restart
    (everything in place).

Run as root: bench/l3.py [--runs 20] [--routers 200] [--fips 2000]
[--snat-mode distributed|centralized] [--only-resync] (Debian's
/usr/bin/python3, standard library only; or `make bench-l3 BENCH_ARGS=...`)
"""
import argparse
import json
import pathlib
import re
import select
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "lab"))  # the lab library
from leptonlab import Lab, allow_ingress, logfmt, unique_name  # noqa: E402

INTERNET = "198.51.100.10"


def mk(client, kind, body):
    r = client.post(f"/v2.0/{kind}s", {kind: body})
    assert r.status == 201, r
    return r.json[kind]


def iperf_many(lab, pairs, secs=5):
    """pairs: [(client_host, server_host, server_ip, port)]; all at once.
    Returns the sum of received Gbit/s."""
    servers = [lab.popen(s, ["iperf3", "-s", "-1", "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _, s, _, port in pairs]
    time.sleep(0.7)
    clients = [lab.popen(c, ["iperf3", "-c", ip, "-p", str(port), "-t", str(secs), "-J"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
               for c, _, ip, port in pairs]
    total = 0.0
    for c in clients:
        out, _ = c.communicate(timeout=secs + 30)
        try:
            total += json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
        except (ValueError, KeyError):
            pass
    for s in servers:
        try:
            s.wait(timeout=10)
        except subprocess.TimeoutExpired:
            s.kill()
    return total


def project(lab, proj, distributed, ext, computes):
    api = lab.client(proj)
    admin_as = lab.admin().as_(proj, "admin")
    subs = []
    for i, cidr in enumerate(("10.0.0.0/24", "10.0.1.0/24")):
        n = mk(api, "network", {"name": f"{proj}-n{i}"})
        subs.append(mk(api, "subnet", {"network_id": n["id"], "cidr": cidr, "ip_version": 4}))
    body = {"name": proj, "distributed": distributed}
    if distributed:
        body["snat_mode"] = "centralized"
    router = mk(admin_as, "router", body)
    for s in subs:
        assert api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                       {"subnet_id": s["id"]}).status == 200
    assert api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}}).status == 200
    allow_ingress(api, subs[0]["network_id"])
    vms = []
    for i in range(1, computes + 1):
        row = {}
        for k, s in enumerate(subs):
            port = mk(api, "port", {"network_id": s["network_id"], "name": f"{proj}-{i}-{k}"})
            name = f"{proj}{i}{k}"
            lab.vm(f"compute-{i}", port["id"], name)
            row[k] = {"vm": name, "ip": port["fixed_ips"][0]["ip_address"], "port": port}
        fip = mk(api, "floatingip", {"floating_network_id": ext["id"],
                                     "port_id": row[0]["port"]["id"]})
        row["fip"] = fip
        vms.append(row)
    return {"api": api, "router": router, "vms": vms}


def throughput(lab, projects, computes):
    rows = []
    for n in range(1, computes + 1):
        row = {"nodes": n}
        for mode, p in projects.items():
            vms = p["vms"]
            ew = [(vms[i][0]["vm"], vms[(i + 1) % computes][1]["vm"],
                   vms[(i + 1) % computes][1]["ip"], 5201 + i) for i in range(n)]
            ns = [(vms[i][0]["vm"], "internet", INTERNET, 5301 + i) for i in range(n)]
            row[f"ew_{mode}"] = iperf_many(lab, ew)
            row[f"ns_{mode}"] = iperf_many(lab, ns)
        rows.append(row)
    return rows


def associate_latency(lab, p, runs):
    api = p["api"]
    row = p["vms"][0]
    fip = row["fip"]
    ip = fip["floating_ip_address"]
    times = []
    for _ in range(runs):
        assert api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {
            "port_id": None}}).status == 200
        time.sleep(1.0)
        pinger = lab.popen("internet", ["stdbuf", "-oL", "ping", "-D", "-i", "0.005", "-W",
                                        "0.1", ip], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        t0 = time.time()
        assert api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {
            "port_id": row[0]["port"]["id"]}}).status == 200
        first = None
        deadline = time.time() + 10
        while time.time() < deadline and first is None:
            ready, _, _ = select.select([pinger.stdout], [], [], 0.5)
            if not ready:
                continue
            m = re.match(r"\[(\d+\.\d+)\] \d+ bytes from", pinger.stdout.readline())
            if m:
                first = float(m.group(1))
        lab.stop(pinger)
        if first is not None:
            times.append((first - t0) * 1000)
    return times


SG_PROJECT = "bsg"  # the projects of the first SG_ROUTERS routers are one project


def resync(lab, ext, routers, fips, sg_ports=500, snat_mode="distributed"):
    """A node (compute-3's agent stopped) gets routers x (fips/routers)
    Floating IPs on as many ports bound to it; measures the cold build, a
    warm restart, then one Floating IP associated and one security group
    rule added to the group of sg_ports of those ports (feed-driven passes)."""
    admin = lab.admin()
    per = max(1, fips // routers)
    sg_routers = max(1, sg_ports // per)
    pool = mk(admin, "subnet", {"network_id": ext["id"], "cidr": "100.66.0.0/20",
                                "ip_version": 4, "gateway_ip": None, "enable_dhcp": False,
                                "service_types": ["network:floatingip"]})
    gws = mk(admin, "subnet", {"network_id": ext["id"], "cidr": "100.65.0.0/22",
                               "ip_version": 4, "gateway_ip": "100.65.0.1",
                               "enable_dhcp": False,
                               "service_types": ["network:router_gateway"]})
    assert admin.put(f"/v2.0/quotas/{SG_PROJECT}", {"quota": {
        k: -1 for k in ("network", "subnet", "router", "port", "floatingip")}}).status == 200
    lab.stop_agent("compute-3")
    time.sleep(1)
    log = lab.agent_log("compute-3")
    t_create = time.monotonic()
    last = None
    for i in range(routers):
        proj = SG_PROJECT if i < sg_routers else f"b{i}"
        c = lab.client(proj)
        net = mk(c, "network", {"name": f"b{i}"})
        sub = mk(c, "subnet", {"network_id": net["id"], "cidr": f"10.{i // 250}.{i % 250}.0/24",
                               "ip_version": 4})
        r = mk(admin.as_(proj, "admin"), "router", {"name": f"b{i}", "distributed": True,
                                                      "snat_mode": snat_mode})
        assert c.put(f"/v2.0/routers/{r['id']}/add_router_interface",
                     {"subnet_id": sub["id"]}).status == 200
        assert admin.as_(proj, "admin").put(f"/v2.0/routers/{r['id']}", {"router": {
            "external_gateway_info": {
                "network_id": ext["id"],
                "external_fixed_ips": [{"subnet_id": gws["id"]}]}}}).status == 200
        for k in range(per):
            port = admin.post("/v2.0/ports", {"port": {
                "network_id": net["id"], "project_id": proj, "device_owner": "compute:b",
                "binding:host_id": "compute-3"}}).json["port"]
            f = c.post("/v2.0/floatingips", {"floatingip": {
                "floating_network_id": ext["id"], "subnet_id": pool["id"],
                "port_id": port["id"]}})
            assert f.status == 201, f
            last = (c, f.json["floatingip"], port)
    made = time.monotonic() - t_create
    out = {"made": made}
    mark = log.stat().st_size
    lab.agent_restart("compute-3")  # starts it (it was stopped)
    out["cold"] = wait_pass(log, mark)
    applied = [e for e in logfmt.events(log, "agent.plan_applied", mark)]
    out["cold_kinds"] = applied[0]["by_kind"] if applied else None
    # What came after it until the node was quiet for 3 s (say, SNAT
    # blocks a dead node had not been given): the build is those passes too.
    out["after"] = quiet_after(log, mark)
    mark = log.stat().st_size
    lab.agent_restart("compute-3")
    out["warm"] = wait_pass(log, mark)
    applied = [e for e in logfmt.events(log, "agent.plan_applied", mark)]
    out["warm_kinds"] = applied[0]["by_kind"] if applied else None
    # One Floating IP: disassociated, then associated again (the figure).
    c, fip, port = last
    mark = log.stat().st_size
    assert c.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}}).status == 200
    wait_pass(log, mark, CHANGE)
    mark = log.stat().st_size
    assert c.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {
        "port_id": port["id"]}}).status == 200
    out["fip"] = wait_pass(log, mark, CHANGE)
    # One rule added to the security group of sg_ports ports.
    sc = lab.client(SG_PROJECT)
    sg = sc.get("/v2.0/security-groups?name=default").json["security_groups"][0]
    members = [p for p in admin.get(f"/v2.0/ports?project_id={SG_PROJECT}"
                                    "&device_owner=compute:b").json["ports"]
               if sg["id"] in p["security_groups"]]
    out["sg_members"] = len(members)
    mark = log.stat().st_size
    assert sc.post("/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 8080, "port_range_max": 8080}}).status == 201
    out["sg"] = wait_pass(log, mark, CHANGE)
    return out


PHASES = ("model", "dump", "apply", "nft", "status")


# A change's pass: one of the node level and router namespaces, or of the
# router namespaces alone.
CHANGE = ("sync", "routers", "tables")


def wait_pass(log, mark, kinds=("full_resync",), limit=600):
    """The first agent.pass event of one of those kinds logged after mark: a
    dict of its figures."""
    deadline = time.time() + limit
    while time.time() < deadline:
        for e in logfmt.events(log, "agent.pass", mark):
            if e["kind"] in kinds:
                return {"ports": int(e["ports"]), "routers": int(e["routers"]),
                        "ops": int(e["kernel_ops"]), "ms": int(e["ms"]),
                        "nft": int(e["nft_commands"]),
                        "phases": ", ".join(f"{p} {e[p + '_ms']}" for p in PHASES) + " ms"}
        time.sleep(0.2)
    return None


def quiet_after(log, mark, quiet=3.0, limit=60):
    """The passes after the first one logged after mark, until none came
    for `quiet` seconds: (count, kernel ops, ms)."""
    deadline = time.time() + limit
    seen, last_change = -1, time.time()
    while time.time() < deadline:
        passes = list(logfmt.events(log, "agent.pass", mark))[1:]
        if len(passes) != seen:
            seen, last_change = len(passes), time.time()
        elif time.time() - last_change >= quiet:
            break
        time.sleep(0.2)
    passes = list(logfmt.events(log, "agent.pass", mark))[1:]
    return (len(passes), sum(int(e["kernel_ops"]) for e in passes),
            sum(int(e["ms"]) for e in passes))


def report_resync(lab, ext, args):
    out = resync(lab, ext, args.routers, args.fips, snat_mode=args.snat_mode)
    print(f"resync of a node with {args.routers} routers (DVR, snat_mode {args.snat_mode}), "
          f"{args.fips} Floating IPs on {args.fips} ports (API calls took {out['made']:.1f} s):")

    def line(what, p):
        if not p:
            print(f"  {what}: no pass seen")
            return
        print(f"  {what}: {p['ms']} ms, {p['ops']} kernel ops + {p['nft']} nftables commands "
              f"({p['ports']} ports, {p['routers']} routers; {p['phases']})")
    line("built from nothing", out["cold"])
    if out["cold_kinds"]:
        print(f"    its kernel ops by kind (kind:count:ms): {out['cold_kinds']}")
    print("    then, until quiet for 3 s: {} more passes, {} kernel ops, {} ms".format(
        *out["after"]))
    line("agent restarted, all in place", out["warm"])
    if out["warm_kinds"]:
        print(f"    its kernel ops by kind (kind:count:ms): {out['warm_kinds']}")
    line("one Floating IP associated", out["fip"])
    line(f"one rule added to a security group of {out['sg_members']} ports", out["sg"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--routers", type=int, default=200)
    ap.add_argument("--fips", type=int, default=2000)
    ap.add_argument("--only-resync", action="store_true")
    ap.add_argument("--snat-mode", choices=("distributed", "centralized"),
                    default="distributed", help="of the resync's routers (default: the "
                    "server's default, distributed)")
    args = ap.parse_args()
    computes = 3
    # The resync's node is stopped while its routers are made: a long
    # agent_down_time keeps it alive to the server meanwhile (a node that
    # reboots), so that its SNAT blocks are allocated as for a live node and
    # the build from nothing is the whole node's.
    lab = Lab(unique_name("bl3"), computes=computes, network_node=True, public=True,
              server_config={"agent_down_time": 600})
    try:
        lab.up()
        admin = lab.admin()
        ext = admin.get("/v2.0/networks?name=public").json["networks"][0]
        if args.only_resync:
            report_resync(lab, ext, args)
            return
        projects = {"legacy": project(lab, "bleg", False, ext, computes),
                    "dvr": project(lab, "bdvr", True, ext, computes)}
        time.sleep(2)
        print("Aggregate TCP throughput, Gbit/s (iperf3, 5 s, all senders at once):")
        print(f"{'nodes':>5}  {'E-W legacy':>10}  {'E-W DVR':>8}  {'N-S legacy':>10}  "
              f"{'N-S DVR':>8}")
        for row in throughput(lab, projects, computes):
            print(f"{row['nodes']:>5}  {row['ew_legacy']:>10.2f}  {row['ew_dvr']:>8.2f}  "
                  f"{row['ns_legacy']:>10.2f}  {row['ns_dvr']:>8.2f}")
        for mode in ("dvr", "legacy"):
            t = associate_latency(lab, projects[mode], args.runs)
            if t:
                print(f"floatingip-associate -> first packet from the internet at the VM "
                      f"({mode}): median {statistics.median(t):.0f} ms, min {min(t):.0f}, "
                      f"max {max(t):.0f} ({len(t)}/{args.runs} runs)")
            else:
                print(f"floatingip-associate ({mode}): no reply in any run")
        report_resync(lab, ext, args)
    finally:
        lab.down()


if __name__ == "__main__":
    main()

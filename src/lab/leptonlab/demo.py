"""The demo: the seed's story on a lab (two tenants with the same addresses,
L2 across nodes, DHCP, isolation, a router in each mode, Floating IPs,
SNAT), told through the lepton CLI, each claim checked with real packets."""
import ipaddress
import json
import subprocess
import sys
import time

from .lab import Lab, LabError, _wait_for
from .topology import Topology


def run_demo(name, computes=3, bin_dir=None, out=print, warn=None):
    """Brings a lab up (computes, a network node, the external networks),
    tells the story through out(), checks each claim, brings the lab down.
    Returns the list of (claim, passed). Warnings (a segment this kernel
    cannot carry) go to warn (default: stderr)."""
    lab = Lab(name, Topology.standard(computes, network_node=True, public=True),
              bin_dir=bin_dir)
    if not (lab.bin / "lepton").exists():
        raise LabError("the demo uses the lepton CLI: make")
    info = lab.up()
    for w in lab.warnings:
        (warn or (lambda s: print(f"lepton-lab: {s}", file=sys.stderr)))(w)
    try:
        out(f"lab {name} is up: {' '.join(info['nodes'])}")
        out(f"LEPTON_URL={lab.url}")
        return Demo(lab, computes, out).run()
    finally:
        lab.down()


class Demo:
    def __init__(self, lab, computes, out):
        self.lab, self.computes, self.out = lab, computes, out
        self.results = []
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
        self.out("Two tenants, each with network 10.0.0.0/24 (a VM on every compute node), a\n"
                 "second network 10.0.1.0/24 and a router (alpha: distributed with centralized\n"
                 "SNAT, beta: legacy, both on the network node for SNAT):")
        ips, fips, gw = {}, {}, {}
        for t in ("alpha", "beta"):
            self.tenant(t, ips, fips, gw)
        self.out("")
        self.out("What it proves:")
        self.proofs(ips, fips, gw)
        self.out("")
        return self.results

    def tenant(self, t, ips, fips, gw):
        c = self.computes
        self.cli(t, "net-create", f"{t}-net")
        self.cli(t, "subnet-create", f"{t}-net", "10.0.0.0/24", "--name", f"{t}-sub",
                 "--dns-nameserver", "192.0.2.53")
        self.cli(t, "net-create", f"{t}-net2")
        self.cli(t, "subnet-create", f"{t}-net2", "10.0.1.0/24", "--name", f"{t}-sub2")
        mode = ["true", "--snat-mode", "centralized"] if t == "alpha" else ["false"]
        self.cli(t, "router-create", f"{t}-router", "--distributed", *mode, roles="admin")
        self.cli(t, "router-interface-add", f"{t}-router", f"{t}-sub")
        self.cli(t, "router-interface-add", f"{t}-router", f"{t}-sub2")
        self.cli(t, "router-gateway-set", f"{t}-router", self.public.name)
        router = self.cli_json(t, "router-show", f"{t}-router")
        gw[t] = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        self.out(f"    router {t}-router (distributed {' '.join(mode)}), gateway {gw[t]}")
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
        for t in ("alpha", "beta"):
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
        for t in ("alpha", "beta"):
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

    def ping(self, host, ip):
        return self.lab.exec(host, ["ping", "-c", "2", "-W", "1", ip]).returncode == 0

    def tcp(self, server, client, ip, port):
        """What a TCP client gets from a server that says "lepton"."""
        srv = self.lab.popen(server, ["sh", "-c", f"echo lepton | timeout 5 nc -l -p {port} -q 1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            return self.lab.exec(client, ["nc", "-w", "2", ip, str(port)],
                                 stdin=subprocess.DEVNULL).stdout.strip()
        finally:
            self.lab.stop(srv)

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

"""The real OpenStack clients, unchanged, against a real lepton-server: the
`openstack` CLI (python3-openstackclient) and openstacksdk drive the everyday
tenant workflow (networks, subnets, ports, routers and their gateways and
interfaces, Floating IPs with a chosen address, security groups and rules),
and what they print is checked. The server runs noauth with
`noauth_default_project`, so `--os-auth-type none` callers act as Neutron's
noauth admin in that project."""
import json
import shutil
import subprocess

import pytest

from conftest import Client

pytestmark = pytest.mark.skipif(shutil.which("openstack") is None,
                                reason="python3-openstackclient is not installed")

PROJECT = "demo"


# The `openstack` program's own entry point, run in one long-lived process
# (each command line on stdin as a JSON list, its exit status and output back
# as a JSON line): the same code as the command, without paying Python's
# start-up for each of the ~35 commands.
DRIVER = r"""
import contextlib, io, json, sys
from openstackclient import shell
for line in sys.stdin:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = shell.main(json.loads(line))
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    sys.__stdout__.write(json.dumps({"rc": rc, "out": out.getvalue(),
                                     "err": err.getvalue()}) + "\n")
    sys.__stdout__.flush()
"""


class Osc:
    def __init__(self, url):
        self.url = url
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", DRIVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, *args):
        argv = ["--os-auth-type", "none", "--os-endpoint", self.url] + list(args)
        self.proc.stdin.write(json.dumps(argv) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the openstack driver died on {args}"
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def osrv(make_server):
    srv = make_server(config=f"noauth_default_project = {PROJECT}\n").start()
    srv.osc = Osc(srv.url)
    try:
        yield srv
    finally:
        srv.osc.close()


def osc(srv, *args, check=True):
    """One `openstack` command: its JSON output (or its text when it prints
    no JSON); with check=False the raw {"rc", "out", "err"}."""
    r = srv.osc.run(*args)
    if not check:
        return r
    assert r["rc"] == 0, (args, r)
    out = r["out"].strip()
    return json.loads(out) if out.startswith(("{", "[")) else out


def test_openstack_cli_tenant_workflow(osrv):
    ext = osc(osrv, "network", "create", "public", "--external", "-f", "json")
    assert ext["router:external"] is True and ext["project_id"] == PROJECT
    osc(osrv, "subnet", "create", "--network", "public", "--subnet-range", "203.0.113.0/24",
        "--no-dhcp", "public-v4", "-f", "json")

    net = osc(osrv, "network", "create", "net1", "-f", "json")
    assert net["name"] == "net1" and net["mtu"] == 1450 and net["status"] == "ACTIVE"
    sub = osc(osrv, "subnet", "create", "--network", "net1", "--subnet-range", "10.0.0.0/24",
              "--dns-nameserver", "192.0.2.53", "--allocation-pool",
              "start=10.0.0.10,end=10.0.0.99", "sub1", "-f", "json")
    assert sub["network_id"] == net["id"] and sub["gateway_ip"] == "10.0.0.1"
    assert sub["allocation_pools"] == [{"start": "10.0.0.10", "end": "10.0.0.99"}]
    assert sub["dns_nameservers"] == ["192.0.2.53"]
    listed = osc(osrv, "network", "list", "-f", "json")
    assert sorted(n["Name"] for n in listed) == ["net1", "public"]
    assert osc(osrv, "network", "show", "net1", "-f", "json")["subnets"] == [sub["id"]]

    sg = osc(osrv, "security", "group", "create", "web", "--description", "web tier",
             "-f", "json")
    assert sg["name"] == "web" and sg["description"] == "web tier"
    rule = osc(osrv, "security", "group", "rule", "create", "web", "--protocol", "tcp",
               "--dst-port", "80:81", "--remote-ip", "0.0.0.0/0", "-f", "json")
    assert (rule["port_range_min"], rule["port_range_max"]) == (80, 81)
    assert rule["protocol"] == "tcp" and rule["remote_ip_prefix"] == "0.0.0.0/0"
    rules = osc(osrv, "security", "group", "rule", "list", "web", "-f", "json")
    assert rule["id"] in [r["ID"] for r in rules]

    port = osc(osrv, "port", "create", "--network", "net1", "--fixed-ip",
               "subnet=sub1,ip-address=10.0.0.20", "--security-group", "web", "vm1",
               "-f", "json")
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.20"}]
    assert port["security_group_ids"] == [sg["id"]]
    assert port["mac_address"].startswith("fa:16:3e:")
    # An address outside the subnet: the CLI shows the server's 400 and fails.
    bad = osc(osrv, "port", "create", "--network", "net1", "--fixed-ip",
              "subnet=sub1,ip-address=10.0.1.5", "bad", check=False)
    assert bad["rc"] != 0 and "400" in bad["err"], bad
    ports = osc(osrv, "port", "list", "--network", "net1", "-f", "json")
    assert [p["Name"] for p in ports] == ["vm1"]

    router = osc(osrv, "router", "create", "r1", "-f", "json")
    assert router["name"] == "r1"
    osc(osrv, "router", "set", "r1", "--external-gateway", "public")
    osc(osrv, "router", "add", "subnet", "r1", "sub1")
    shown = osc(osrv, "router", "show", "r1", "-f", "json")
    gw = shown["external_gateway_info"]
    assert gw["network_id"] == ext["id"] and gw["enable_snat"] is True
    assert gw["external_fixed_ips"][0]["ip_address"].startswith("203.0.113.")
    iface = osc(osrv, "port", "list", "--router", "r1", "--network", "net1", "-f", "json")
    assert [p["Fixed IP Addresses"] for p in iface] == [
        [{"subnet_id": sub["id"], "ip_address": "10.0.0.1"}]]

    # A Floating IP with a chosen address, then associated with the port.
    fip = osc(osrv, "floating", "ip", "create", "public", "--floating-ip-address",
              "203.0.113.50", "-f", "json")
    assert fip["floating_ip_address"] == "203.0.113.50"
    assert "name" not in fip or fip["name"] == fip["floating_ip_address"]
    osc(osrv, "floating", "ip", "set", "--port", "vm1", "203.0.113.50")
    fip = osc(osrv, "floating", "ip", "show", "203.0.113.50", "-f", "json")
    assert fip["port_id"] == port["id"] and fip["fixed_ip_address"] == "10.0.0.20"
    assert fip["router_id"] == router["id"]
    fips = osc(osrv, "floating", "ip", "list", "-f", "json")
    assert [(f["Floating IP Address"], f["Fixed IP Address"]) for f in fips] == [
        ("203.0.113.50", "10.0.0.20")]
    osc(osrv, "floating", "ip", "unset", "--port", "203.0.113.50")
    assert osc(osrv, "floating", "ip", "show", "203.0.113.50", "-f", "json")["port_id"] is None

    # Tear down in the everyday order; the server ends up empty.
    osc(osrv, "floating", "ip", "delete", "203.0.113.50")
    osc(osrv, "router", "remove", "subnet", "r1", "sub1")
    osc(osrv, "router", "unset", "--external-gateway", "r1")
    osc(osrv, "router", "delete", "r1")
    osc(osrv, "port", "delete", "vm1")
    osc(osrv, "security", "group", "delete", "web")
    osc(osrv, "subnet", "delete", "sub1")
    osc(osrv, "network", "delete", "net1", "public")
    admin = Client(osrv.url, PROJECT, "admin")
    for coll in ("networks", "subnets", "ports", "routers", "floatingips"):
        assert admin.get(f"/v2.0/{coll}").json[coll] == [], coll


def test_openstacksdk_bulk_ports_and_errors(osrv):
    """openstacksdk in its own process: a network and subnet, two ports made
    in one bulk request, a 404 as the SDK's own exception."""
    script = r"""
import json, sys
import openstack
conn = openstack.connect(auth_type="none", endpoint=sys.argv[1])
net = conn.network.create_network(name="sdknet")
sub = conn.network.create_subnet(network_id=net.id, cidr="10.9.0.0/24", ip_version=4)
from openstack.network.v2.port import Port
ports = list(conn.network._bulk_create(
    Port, [{"network_id": net.id, "name": "a"}, {"network_id": net.id, "name": "b"}]))
try:
    conn.network.get_network("00000000-0000-0000-0000-000000000000")
    nf = None
except openstack.exceptions.ResourceNotFound as e:
    nf = e.status_code
print(json.dumps({"net": net.name, "cidr": sub.cidr, "gw": sub.gateway_ip,
                  "ports": sorted(p.name for p in ports),
                  "ips": sorted(p.fixed_ips[0]["ip_address"] for p in ports),
                  "notfound": nf}))
"""
    p = subprocess.run(["/usr/bin/python3", "-c", script, osrv.url], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out == {"net": "sdknet", "cidr": "10.9.0.0/24", "gw": "10.9.0.1",
                   "ports": ["a", "b"], "ips": ["10.9.0.2", "10.9.0.3"], "notfound": 404}


def test_openstacksdk_tenant_workflow(osrv):
    """openstacksdk in its own process, the everyday workflow: an external
    network, a router with its gateway and an interface, a security group and
    rule on a port, a Floating IP with a chosen address associated with it;
    what the SDK's objects hold is checked, then everything is deleted."""
    script = r"""
import json, sys
import openstack
c = openstack.connect(auth_type="none", endpoint=sys.argv[1]).network
ext = c.create_network(name="public", is_router_external=True)
c.create_subnet(network_id=ext.id, cidr="203.0.113.0/24", ip_version=4, is_dhcp_enabled=False)
net = c.create_network(name="net1")
sub = c.create_subnet(network_id=net.id, cidr="10.0.0.0/24", ip_version=4, name="sub1")
sg = c.create_security_group(name="web", description="web tier")
rule = c.create_security_group_rule(security_group_id=sg.id, direction="ingress",
                                    protocol="tcp", port_range_min=22, port_range_max=22,
                                    remote_ip_prefix="192.0.2.0/24", ether_type="IPv4")
port = c.create_port(network_id=net.id, name="vm1", security_group_ids=[sg.id],
                     fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.0.0.20"}])
router = c.create_router(name="r1", external_gateway_info={"network_id": ext.id})
c.add_interface_to_router(router, subnet_id=sub.id)
router = c.get_router(router.id)
fip = c.create_ip(floating_network_id=ext.id, floating_ip_address="203.0.113.50")
fip = c.update_ip(fip, port_id=port.id)
out = {"gw_net": router.external_gateway_info["network_id"] == ext.id,
       "gw_ip": router.external_gateway_info["external_fixed_ips"][0]["ip_address"]
                .startswith("203.0.113."),
       "iface": [p.fixed_ips for p in c.ports(device_id=router.id, network_id=net.id)],
       "rule": [rule.protocol, rule.port_range_min, rule.remote_ip_prefix,
                rule.security_group_id == sg.id],
       "sg_rules": sorted(r["id"] == rule.id for r in c.get_security_group(sg.id)
                          .security_group_rules),
       "port_sgs": c.get_port(port.id).security_group_ids == [sg.id],
       "fip": [fip.floating_ip_address, fip.fixed_ip_address, fip.port_id == port.id,
               fip.router_id == router.id],
       "fip_list": [f.floating_ip_address for f in c.ips()]}
c.update_ip(fip, port_id=None)
out["unset"] = c.get_ip(fip.id).port_id
c.delete_ip(fip)
c.remove_interface_from_router(router, subnet_id=sub.id)
c.update_router(router, external_gateway_info={})
c.delete_router(router)
c.delete_port(port)
c.delete_security_group(sg)
c.delete_network(net)
c.delete_network(ext)
out["left"] = [n.name for n in c.networks()] + [r.name for r in c.routers()]
print(json.dumps(out))
"""
    p = subprocess.run(["/usr/bin/python3", "-c", script, osrv.url], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert Client(osrv.url, PROJECT, "admin").get("/v2.0/subnets").json["subnets"] == []
    iface = out.pop("iface")
    assert [[ip["ip_address"] for ip in ips] for ips in iface] == [["10.0.0.1"]], iface
    assert out == {"gw_net": True, "gw_ip": True, "rule": ["tcp", 22, "192.0.2.0/24", True],
                   "sg_rules": [False, False, True], "port_sgs": True,
                   "fip": ["203.0.113.50", "10.0.0.20", True, True],
                   "fip_list": ["203.0.113.50"], "unset": None, "left": []}, out

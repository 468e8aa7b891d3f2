"""The lepton CLI against a real server: verbs, names, formats, errors, and
the seed's two scenarios."""
import json
import subprocess

import pytest

from conftest import Client, cli_binary


def run(server, *args, project="p1", roles=None, check=True, url=None):
    cmd = [str(cli_binary()), "--os-url", url or server.url, "--os-project-id", project]
    if roles:
        cmd += ["--os-roles", roles]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def js(server, *args, **kw):
    return json.loads(run(server, *args, "-f", "json", **kw).stdout)


def value(server, *args, **kw):
    return run(server, *args, "-f", "value", **kw).stdout.strip()


def test_net_subnet_port_by_name(server):
    net = js(server, "net-create", "net1")
    assert net["name"] == "net1" and net["mtu"] == 1450
    sub = js(server, "subnet-create", "net1", "10.0.0.0/24", "--name", "sub1",
             "--dns-nameserver", "192.0.2.53", "--allocation-pool",
             "start=10.0.0.10,end=10.0.0.20", "--host-route",
             "destination=172.16.0.0/12,nexthop=10.0.0.254")
    assert sub["network_id"] == net["id"] and sub["gateway_ip"] == "10.0.0.1"
    assert sub["allocation_pools"] == [{"start": "10.0.0.10", "end": "10.0.0.20"}]
    assert sub["host_routes"] == [{"destination": "172.16.0.0/12", "nexthop": "10.0.0.254"}]
    port = js(server, "port-create", "net1", "--name", "vm1", "--fixed-ip",
              "subnet_id=sub1,ip_address=10.0.0.15")
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.15"}]
    # The API agrees.
    api = Client(server.url, "p1")
    assert api.get(f"/v2.0/ports/{port['id']}").json["port"]["name"] == "vm1"
    # Lists, -c and value output.
    assert value(server, "net-list", "-c", "name") == "net1"
    assert value(server, "port-show", "vm1", "-c", "mac_address") == port["mac_address"]
    table = run(server, "subnet-show", "sub1").stdout
    assert "| cidr" in table and "10.0.0.0/24" in table and table.startswith("+")
    # Update and delete by name.
    upd = js(server, "subnet-update", "sub1", "--no-gateway", "--disable-dhcp")
    assert upd["gateway_ip"] is None and upd["enable_dhcp"] is False
    assert "Deleted port" in run(server, "port-delete", "vm1").stdout
    assert value(server, "port-list") == ""


def test_errors_and_ambiguity(server):
    p = run(server, "net-show", "nope", check=False)
    assert p.returncode != 0 and "not found" in p.stderr
    run(server, "net-create", "twin")
    run(server, "net-create", "twin")
    p = run(server, "net-show", "twin", check=False)
    assert p.returncode != 0 and "ambiguous" in p.stderr
    # The server's message, and a non-zero exit.
    net = js(server, "net-create", "n2")
    p = run(server, "subnet-create", net["id"], "10.0.0.5/24", check=False)
    assert p.returncode == 1 and "10.0.0.0/24" in p.stderr
    p = run(server, "net-create", "x", "--bogus", check=False)
    assert p.returncode == 2
    p = run(server, "bogus-verb", check=False)
    assert p.returncode == 2
    p = run(server, "net-list", url="http://127.0.0.1:1", check=False)
    assert p.returncode != 0 and "cannot reach" in p.stderr


def test_unix_socket(make_server, tmp_path):
    sock = tmp_path / "s.sock"
    s = make_server(extra_args=["--unix", str(sock)]).start()
    p = run(s, "net-create", "via-unix", url=f"unix:{sock}")
    assert "via-unix" in p.stdout
    assert value(s, "net-list", "-c", "name") == "via-unix"


def test_admin_only_flags(server):
    net = js(server, "net-create", "ext", "--external", "--provider-network-type", "flat",
             "--provider-physical-network", "physnet1", roles="admin", project="adm")
    assert net["router:external"] is True and net["provider:network_type"] == "flat"
    p = run(server, "net-create", "x", "--shared", check=False)
    assert p.returncode == 1


def test_seed_case_1(server):
    """Admin makes `public` (private gateway subnet, global pool); a tenant
    gets a Floating IP from the pool and associates it."""
    adm = dict(project="admin", roles="admin")
    run(server, "net-create", "public", "--external", "--provider-network-type", "flat",
        "--provider-physical-network", "external", **adm)
    run(server, "subnet-create", "public", "100.64.0.0/24", "--name", "public-gw",
        "--service-type", "network:router_gateway", **adm)
    run(server, "subnet-create", "public", "203.0.113.0/24", "--name", "public-fip",
        "--no-gateway", "--service-type", "network:floatingip", **adm)
    run(server, "net-create", "private")
    run(server, "subnet-create", "private", "10.0.0.0/24", "--name", "private-sub")
    run(server, "router-create", "r1")
    run(server, "router-interface-add", "r1", "private-sub")
    router = js(server, "router-gateway-set", "r1", "public")
    gw = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert gw.startswith("100.64.0."), gw
    port = js(server, "port-create", "private", "--name", "vm1")
    fip = js(server, "floatingip-create", "public")
    assert fip["floating_ip_address"].startswith("203.0.113."), fip
    assoc = js(server, "floatingip-associate", fip["id"], port["id"])
    assert assoc["port_id"] == port["id"] and assoc["router_id"] == router["id"]
    assert assoc["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    pools = run(server, "floatingip-pool-list", "-f", "value", "-c", "subnet_ip_cidr").stdout
    assert pools.split() == ["203.0.113.0/24"]
    dis = js(server, "floatingip-disassociate", fip["floating_ip_address"])
    assert dis["port_id"] is None
    assert value(server, "floatingip-list", "-c", "floating_ip_address") == \
        fip["floating_ip_address"]
    run(server, "floatingip-delete", fip["id"])
    run(server, "router-gateway-clear", "r1")
    run(server, "router-interface-delete", "r1", "private-sub")
    run(server, "router-delete", "r1")


def test_seed_case_2(server):
    """One external network, two physical segments: many tenants' routers get
    gateways spread over both, without naming one; FIPs come from the pool."""
    adm = dict(project="admin", roles="admin")
    run(server, "net-create", "public", "--external", "--provider-network-type", "flat",
        "--provider-physical-network", "ext1", **adm)
    seg1 = json.loads(run(server, "segment-list", "-f", "json", **adm).stdout)[0]
    seg2 = js(server, "segment-create", "public", "--network-type", "flat",
              "--physical-network", "ext2", **adm)
    run(server, "subnet-create", "public", "100.64.0.0/24", "--segment", seg1["id"],
        "--service-type", "network:router_gateway", **adm)
    run(server, "subnet-create", "public", "100.65.0.0/24", "--segment", seg2["id"],
        "--service-type", "network:router_gateway", **adm)
    run(server, "subnet-create", "public", "203.0.113.0/24", "--no-gateway",
        "--service-type", "network:floatingip", **adm)
    seen = set()
    for t in range(8):
        proj = f"tenant{t}"
        run(server, "router-create", "r", project=proj)
        r = js(server, "router-gateway-set", "r", "public", project=proj)
        ip = r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        seen.add(".".join(ip.split(".")[:2]))
        fip = js(server, "floatingip-create", "public", project=proj)
        assert fip["floating_ip_address"].startswith("203.0.113.")
    assert seen == {"100.64", "100.65"}, seen


def test_security_groups_and_rules(server):
    sg = js(server, "security-group-create", "web", "--description", "web servers")
    rule = js(server, "security-group-rule-create", "web", "--direction", "ingress",
              "--protocol", "tcp", "--port-range-min", "80", "--port-range-max", "443",
              "--remote-ip-prefix", "192.0.2.7/24")
    assert rule["security_group_id"] == sg["id"]
    assert rule["remote_ip_prefix"] == "192.0.2.0/24"
    p = run(server, "security-group-rule-create", "web", "--direction", "ingress",
            "--protocol", "tcp", "--port-range-min", "80", "--port-range-max", "443",
            "--remote-ip-prefix", "192.0.2.0/24", check=False)
    assert p.returncode == 1 and "already exists" in p.stderr
    names = value(server, "security-group-list", "-c", "name").split()
    assert sorted(names) == ["default", "web"]
    run(server, "net-create", "n")
    run(server, "subnet-create", "n", "10.1.0.0/24")
    port = js(server, "port-create", "n", "--security-group", "web")
    assert port["security_groups"] == [sg["id"]]
    bare = js(server, "port-create", "n", "--no-security-groups",
              "--port-security-enabled", "false")
    assert bare["security_groups"] == [] and bare["port_security_enabled"] is False
    p = run(server, "security-group-delete", "web", check=False)
    assert p.returncode == 1 and "in use" in p.stderr


def test_agents_and_quotas(make_server):
    s = make_server(config="agent_token = t0k\n").start()
    body = {"agent": {"host": "compute-9", "mode": "compute", "tunnel_address": "100.127.0.9",
                      "physical_networks": {"ext1": "eth1"}}}
    r = Client(s.url, None).post("/v2.0/lepton/agents/register", body,
                                 headers={"X-Auth-Token": "t0k"})
    assert r.status == 201, r
    out = value(s, "agent-list", "-c", "host", "-c", "alive", project="a", roles="admin")
    assert out == "compute-9 True"
    run(s, "quota-update", "--project", "q1", "--network", "1", project="a", roles="admin")
    run(s, "net-create", "one", project="q1")
    p = run(s, "net-create", "two", project="q1", check=False)
    assert p.returncode == 1 and "Quota exceeded" in p.stderr


def test_tags(server):
    run(server, "net-create", "tagged")
    run(server, "tag-add", "net", "tagged", "blue")
    assert json.loads(run(server, "net-show", "tagged", "-f", "json", "-c", "tags").stdout) == \
        {"tags": ["blue"]}
    run(server, "tag-remove", "net", "tagged", "blue")
    assert value(server, "net-list", "--tags", "blue") == ""

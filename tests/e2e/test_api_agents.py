"""Agents: registration, heartbeats, liveness, port status, credentials."""
import time

import pytest

from conftest import Client

TOKEN = {"X-Auth-Token": "s3cret"}


@pytest.fixture
def srv(make_server):
    return make_server(config="agent_token = s3cret\nagent_down_time = 2\n").start()


def register(c, host="compute-1", **kw):
    body = {"agent": {"host": host, "mode": "compute", "tunnel_address": "100.127.0.11",
                      "physical_networks": {"ext1": "eth1"}, **kw}}
    return c.post("/v2.0/lepton/agents/register", body, headers=TOKEN)


def test_register_heartbeat_alive_and_feed(srv):
    agent = Client(srv.url, None)
    admin = Client(srv.url, "admin", "admin")
    r = register(agent)
    assert r.status == 201, r
    a = r.json["agent"]
    assert a["alive"] is True and a["configurations"]["tunnel_address"] == "100.127.0.11"
    rev = admin.get("/v2.0/lepton/watch?since=0&follow=false").text.count("\n")
    # The same registration again changes nothing; heartbeats add no feed lines.
    assert register(agent).status == 200
    for _ in range(3):
        assert agent.post("/v2.0/lepton/agents/heartbeat", {"host": "compute-1"},
                          headers=TOKEN).status == 200
    assert admin.get("/v2.0/lepton/watch?since=0&follow=false").text.count("\n") == rev
    listed = admin.get("/v2.0/agents").json["agents"]
    assert [x["host"] for x in listed] == ["compute-1"] and listed[0]["alive"] is True
    time.sleep(2.5)
    assert admin.get(f"/v2.0/agents/{a['id']}").json["agent"]["alive"] is False
    assert agent.post("/v2.0/lepton/agents/heartbeat", {"host": "nobody"},
                      headers=TOKEN).status == 404


def test_credentials_and_admin_api(srv):
    tenant = Client(srv.url, "p1")
    admin = Client(srv.url, "admin", "admin")
    body = {"agent": {"host": "h", "mode": "compute", "tunnel_address": "100.127.0.11"}}
    # A tenant without the agents' credential is refused.
    assert tenant.post("/v2.0/lepton/agents/register", body).status == 403
    assert tenant.put("/v2.0/lepton/ports/x/status", {"status": "ACTIVE"}).status == 403
    r = Client(srv.url, None).post("/v2.0/lepton/agents/register", {"agent": {}},
                                   headers={"X-Auth-Token": "wrong"})
    assert r.status in (401, 403)
    a = register(Client(srv.url, None)).json["agent"]
    assert tenant.get("/v2.0/agents").json["agents"] == []
    assert tenant.get(f"/v2.0/agents/{a['id']}").status == 404
    r = admin.put(f"/v2.0/agents/{a['id']}", {"agent": {"admin_state_up": False}})
    assert r.status == 200 and r.json["agent"]["admin_state_up"] is False
    assert admin.put(f"/v2.0/agents/{a['id']}", {"agent": {"host": "x"}}).status == 400
    assert admin.post("/v2.0/agents", {"agent": {}}).status in (400, 405)
    assert admin.delete(f"/v2.0/agents/{a['id']}").status == 204
    for bad in ({"host": ""}, {"mode": "router"}, {"tunnel_address": "nope"},
                {"physical_networks": ["x"]}, {"extra": 1}):
        assert register(Client(srv.url, None), **bad).status == 400, bad


def test_port_status_reports(srv):
    agent = Client(srv.url, None)
    admin = Client(srv.url, "admin", "admin")
    register(agent)
    net = admin.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]
    port = admin.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                               "binding:host_id": "compute-1"}}).json["port"]
    assert port["status"] == "DOWN"
    path = f"/v2.0/lepton/ports/{port['id']}/status"
    assert agent.put(path, {"status": "ACTIVE", "host": "compute-1"},
                     headers=TOKEN).status == 204
    assert admin.get(f"/v2.0/ports/{port['id']}").json["port"]["status"] == "ACTIVE"
    # A stale agent on another host cannot flip it.
    r = agent.put(path, {"status": "DOWN", "host": "compute-2"}, headers=TOKEN)
    assert r.status == 409
    assert agent.put(path, {"status": "SIDEWAYS", "host": "compute-1"},
                     headers=TOKEN).status == 400
    assert agent.put(path, {"status": "DOWN", "host": "compute-1"}, headers=TOKEN).status == 204
    feed = admin.get("/v2.0/lepton/watch?since=0&follow=false").text
    assert '"status":"DOWN"' in feed


def _l3_setup(admin, c):
    ext = admin.post("/v2.0/networks", {"network": {
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "ext1"}}).json["network"]
    assert admin.post("/v2.0/subnets", {"subnet": {
        "network_id": ext["id"], "cidr": "100.64.0.0/24", "ip_version": 4}}).status == 201
    net = c.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]
    subs = [c.post("/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "cidr": cidr, "ip_version": 4}}).json["subnet"]
        for cidr in ("10.0.0.0/24", "10.0.1.0/24")]
    return ext, subs


def test_routers_scheduled_to_network_nodes(srv):
    """Legacy routers and the SNAT part of DVR routers run on a live network
    node (the least loaded); their ports are bound there. DVR interfaces are
    on every node (unbound); centralized SNAT gets one port per subnet."""
    agent = Client(srv.url, None)
    admin = Client(srv.url, "admin", "admin")
    c = Client(srv.url, "p1")
    ext, subs = _l3_setup(admin, c)
    # No network node yet: the router waits for one.
    legacy = admin.post("/v2.0/routers", {"router": {
        "name": "legacy", "project_id": "p1", "distributed": False,
        "external_gateway_info": {"network_id": ext["id"]}}}).json["router"]
    assert legacy["lepton:l3_host"] == ""
    assert register(agent, host="net-1", mode="network").status == 201
    assert register(agent, host="net-2", mode="network").status == 201
    legacy = admin.get(f"/v2.0/routers/{legacy['id']}").json["router"]
    assert legacy["lepton:l3_host"] == "net-1"
    r = c.put(f"/v2.0/routers/{legacy['id']}/add_router_interface",
              {"subnet_id": subs[0]["id"]})
    assert r.status == 200, r
    ports = admin.get(f"/v2.0/ports?device_id={legacy['id']}").json["ports"]
    assert {p["device_owner"]: p["binding:host_id"] for p in ports} == {
        "network:router_gateway": "net-1", "network:router_interface": "net-1"}
    # The next router goes to the other node; tenants do not see the field.
    dvr = admin.post("/v2.0/routers", {"router": {
        "name": "dvr", "project_id": "p1", "distributed": True,
        "snat_mode": "centralized"}}).json["router"]
    assert dvr["lepton:l3_host"] == "net-2"
    assert "lepton:l3_host" not in c.get(f"/v2.0/routers/{dvr['id']}").json["router"]
    for s in subs[1:]:
        assert c.put(f"/v2.0/routers/{dvr['id']}/add_router_interface",
                     {"subnet_id": s["id"]}).status == 200
    owners = lambda: sorted((p["device_owner"], p["binding:host_id"]) for p in admin.get(
        f"/v2.0/ports?device_id={dvr['id']}").json["ports"])
    assert owners() == [("network:router_interface_distributed", "")]
    # A gateway brings the SNAT ports, one per subnet, on the SNAT node.
    assert admin.put(f"/v2.0/routers/{dvr['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}}).status == 200
    assert owners() == [("network:router_centralized_snat", "net-2"),
                        ("network:router_gateway", "net-2"),
                        ("network:router_interface_distributed", "")]
    csnat = [p for p in admin.get(f"/v2.0/ports?device_id={dvr['id']}").json["ports"]
             if p["device_owner"] == "network:router_centralized_snat"][0]
    assert csnat["fixed_ips"][0]["subnet_id"] == subs[1]["id"]
    assert csnat["fixed_ips"][0]["ip_address"] != subs[1]["gateway_ip"]
    assert admin.delete(f"/v2.0/ports/{csnat['id']}").status == 409
    # Without a gateway, no SNAT ports; removing the interface removes its.
    assert admin.put(f"/v2.0/routers/{dvr['id']}", {"router": {
        "external_gateway_info": None}}).status == 200
    assert owners() == [("network:router_interface_distributed", "")]
    assert admin.put(f"/v2.0/routers/{dvr['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}}).status == 200
    assert c.put(f"/v2.0/routers/{dvr['id']}/remove_router_interface",
                 {"subnet_id": subs[1]["id"]}).status == 200
    assert owners() == [("network:router_gateway", "net-2")]
    # Fully distributed routers need no network node.
    full = admin.post("/v2.0/routers", {"router": {
        "name": "full", "project_id": "p1", "distributed": True}}).json["router"]
    assert full["snat_mode"] == "distributed" and full["lepton:l3_host"] == ""


def test_register_bgp_mode(srv):
    """An agent in BGP mode (lepton-agent --bgp-dev) says so: its next hop,
    interface and table are in its configurations; a malformed one is
    refused and changes nothing."""
    agent = Client(srv.url, None)
    admin = Client(srv.url, "admin", "admin")
    bgp = {"nexthop": "100.65.0.2", "dev": "bgp0", "table": 76}
    r = register(agent, host="compute-9", bgp=bgp)
    assert r.status == 201, r
    assert r.json["agent"]["configurations"]["bgp"] == bgp
    for bad in ({"nexthop": "100.65.0.300", "dev": "bgp0", "table": 76},
                {"nexthop": "0.0.0.0", "dev": "bgp0", "table": 76},
                {"nexthop": "100.65.0.2", "dev": "a-name-too-long-x", "table": 76},
                {"nexthop": "100.65.0.2", "dev": "bgp0", "table": 0},
                {"nexthop": "100.65.0.2", "dev": "bgp0", "table": "76"},
                {"nexthop": "100.65.0.2", "dev": "bgp0", "table": 76, "x": 1},
                # BGP on named physical networks: each must be one of its own.
                {**bgp, "physnets": ["ext9"]}, {**bgp, "physnets": []},
                {**bgp, "physnets": "ext1"}, {**bgp, "physnets": ["ext1", 7]},
                # IPv6 next hop (--bgp-nexthop6): an IPv6 address.
                {**bgp, "nexthop6": "100.65.0.2"}, {**bgp, "nexthop6": "2001:db8::g"},
                {**bgp, "nexthop6": 6},
                "bgp0"):
        r = register(agent, host="compute-9", bgp=bad)
        assert r.status == 400 and "bgp" in r.json["NeutronError"]["message"], (bad, r)
    a = admin.get("/v2.0/agents?host=compute-9").json["agents"][0]
    assert a["configurations"]["bgp"] == bgp
    # BGP on one physical network (lepton-agent --bgp-physnet), the rest ARP.
    r = register(agent, host="compute-9", bgp={**bgp, "physnets": ["ext1"]})
    assert r.status == 200, r
    assert r.json["agent"]["configurations"]["bgp"] == {**bgp, "physnets": ["ext1"]}
    # With its IPv6 address there (lepton-agent --bgp-nexthop6).
    r = register(agent, host="compute-9", bgp={**bgp, "nexthop6": "2001:db8:e1::2"})
    assert r.status == 200, r
    assert r.json["agent"]["configurations"]["bgp"] == {**bgp, "nexthop6": "2001:db8:e1::2"}

"""Availability zones (availability_zone, router_availability_zone): agents
register their node's zone; /v2.0/availability_zones lists each zone for
networks and routers, available while one of its agents is alive; a
router's availability_zone_hints restrict the network nodes it is
scheduled to, and its availability_zones are its nodes' zones."""
import time

import pytest

from conftest import Client, api_create, assert_error

TOKEN = {"X-Auth-Token": "s3cret"}


@pytest.fixture
def srv(make_server):
    return make_server(config="agent_token = s3cret\nagent_down_time = 2\n"
                              "router_distributed = false\n").start()


def register(c, host, mode, zone=None, tun="100.127.0.11"):
    body = {"agent": {"host": host, "mode": mode, "tunnel_address": tun}}
    if zone:
        body["agent"]["availability_zone"] = zone
    r = c.post("/v2.0/lepton/agents/register", body, headers=TOKEN)
    assert r.status in (200, 201), r
    return r.json["agent"]


def zones(client, query=""):
    r = client.get("/v2.0/availability_zones" + query)
    assert r.status == 200, r
    return sorted((z["name"], z["resource"], z["state"]) for z in r.json["availability_zones"])


def test_zones_and_router_hints(srv):
    agent = Client(srv.url, None)
    admin, p1 = Client(srv.url, "admin", "admin"), Client(srv.url, "p1")
    assert zones(p1) == []
    register(agent, "net-a", "network", "zone-a", "100.127.0.21")
    register(agent, "net-b", "network", "zone-b", "100.127.0.22")
    assert zones(p1) == [("zone-a", "network", "available"), ("zone-a", "router", "available"),
                         ("zone-b", "network", "available"), ("zone-b", "router", "available")]
    assert zones(p1, "?resource=router&name=zone-b") == [("zone-b", "router", "available")]
    listed = {a["host"]: a["availability_zone"] for a in admin.get("/v2.0/agents").json["agents"]}
    assert listed == {"net-a": "zone-a", "net-b": "zone-b"}
    # Hints: the router goes to a network node of the zone hinted.
    for zone, host in (("zone-a", "net-a"), ("zone-b", "net-b")):
        for _ in range(3):
            r = api_create(p1, "router", {"name": "r", "availability_zone_hints": [zone]})
            assert r["availability_zone_hints"] == [zone]
            assert r["availability_zones"] == [zone], r
            shown = admin.get(f"/v2.0/routers/{r['id']}").json["router"]
            assert shown["lepton:l3_host"] == host
            assert shown["availability_zones"] == [zone]
    assert_error(p1.post("/v2.0/routers", {"router": {
        "name": "r", "availability_zone_hints": ["nowhere"]}}), 404, "AvailabilityZoneNotFound")
    assert_error(p1.post("/v2.0/routers", {"router": {
        "name": "r", "availability_zone_hints": [7]}}), 400)
    # Hints are given at creation only (as Neutron).
    assert_error(p1.put(f"/v2.0/routers/{r['id']}", {"router": {
        "availability_zone_hints": ["zone-a"]}}), 400)
    # A zone whose agents stopped heartbeating is unavailable.
    time.sleep(2.5)
    register(agent, "net-a", "network", "zone-a", "100.127.0.21")
    assert zones(p1, "?resource=network") == [("zone-a", "network", "available"),
                                              ("zone-b", "network", "unavailable")]
    # With zone-b's node down, a router hinted to zone-b waits for it.
    r = api_create(p1, "router", {"name": "waits", "availability_zone_hints": ["zone-b"]})
    assert admin.get(f"/v2.0/routers/{r['id']}").json["router"]["lepton:l3_host"] == ""
    assert r["availability_zones"] == []
    register(agent, "net-b", "network", "zone-b", "100.127.0.22")
    assert admin.get(f"/v2.0/routers/{r['id']}").json["router"]["lepton:l3_host"] == "net-b"

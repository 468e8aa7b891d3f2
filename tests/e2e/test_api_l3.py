"""Routers, floating IPs, pools and segments against a real server."""
import pytest

from conftest import Client


def mk(client, kind, body, status=201):
    r = client.post(f"/v2.0/{kind}s", {kind: body})
    assert r.status == status, r
    return r.json[kind] if status == 201 else r


@pytest.fixture
def cloud(server):
    """Seed case 1: `public` with a private gateway subnet and a global pool."""
    admin = Client(server.url, "admin-project", "admin")
    public = mk(admin, "network", {"name": "public", "router:external": True,
                                   "provider:network_type": "flat",
                                   "provider:physical_network": "external"})
    gw = mk(admin, "subnet", {"network_id": public["id"], "cidr": "100.64.0.0/24",
                              "ip_version": 4, "name": "public-gw",
                              "service_types": ["network:router_gateway"]})
    pool = mk(admin, "subnet", {"network_id": public["id"], "cidr": "203.0.113.0/24",
                                "ip_version": 4, "name": "public-fip", "gateway_ip": None,
                                "service_types": ["network:floatingip"]})
    return {"admin": admin, "public": public, "gw": gw, "pool": pool, "url": server.url}


def tenant_setup(api, cidr="10.0.0.0/24", name="t"):
    net = mk(api, "network", {"name": name + "-net"})
    sub = mk(api, "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 4})
    router = mk(api, "router", {"name": name + "-router"})
    return net, sub, router


def test_seed_case_1(cloud):
    api = Client(cloud["url"], "tenant-a")
    net, sub, router = tenant_setup(api)
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert r.status == 200, r
    assert r.json["subnet_id"] == sub["id"] and r.json["port_id"]
    r = api.put(f"/v2.0/routers/{router['id']}",
                {"router": {"external_gateway_info": {"network_id": cloud["public"]["id"]}}})
    assert r.status == 200, r
    info = r.json["router"]["external_gateway_info"]
    assert info["network_id"] == cloud["public"]["id"] and info["enable_snat"] is True
    gw_ip = info["external_fixed_ips"][0]["ip_address"]
    assert gw_ip.startswith("100.64.0."), gw_ip
    assert info["external_fixed_ips"][0]["subnet_id"] == cloud["gw"]["id"]
    port = mk(api, "port", {"network_id": net["id"]})
    fip = mk(api, "floatingip", {"floating_network_id": cloud["public"]["id"]})
    assert fip["floating_ip_address"].startswith("203.0.113."), fip
    assert fip["subnet_id"] == cloud["pool"]["id"]
    assert fip["port_id"] is None and fip["status"] == "DOWN"
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}})
    assert r.status == 200, r
    f = r.json["floatingip"]
    assert f["port_id"] == port["id"] and f["router_id"] == router["id"]
    assert f["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert f["port_details"]["mac_address"] == port["mac_address"]
    pools = api.get("/v2.0/floatingip_pools").json["floatingip_pools"]
    assert [p["subnet_ip_cidr"] for p in pools] == ["203.0.113.0/24"]
    assert [p["cidr"] for p in pools] == ["203.0.113.0/24"]  # Neutron's name
    assert pools[0]["network_id"] == cloud["public"]["id"]


def test_fip_never_from_gateway_subnet(cloud):
    api = Client(cloud["url"], "tenant-a")
    r = api.post("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": cloud["public"]["id"], "subnet_id": cloud["gw"]["id"]}})
    assert r.status == 400, r
    admin = cloud["admin"]
    r = admin.post("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": cloud["public"]["id"], "floating_ip_address": "100.64.0.50"}})
    assert r.status == 400, r
    assert api.get("/v2.0/floatingips").json["floatingips"] == []


def test_fip_pool_exhaustion(server):
    admin = Client(server.url, "admin-project", "admin")
    public = mk(admin, "network", {"name": "tiny", "router:external": True})
    mk(admin, "subnet", {"network_id": public["id"], "cidr": "203.0.113.0/30",
                         "ip_version": 4, "gateway_ip": None,
                         "service_types": ["network:floatingip"]})
    api = Client(server.url, "t")
    ips = {mk(api, "floatingip", {"floating_network_id": public["id"]})["floating_ip_address"]
           for _ in range(2)}
    assert ips == {"203.0.113.1", "203.0.113.2"}
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": public["id"]}})
    assert r.status == 400 and r.json["NeutronError"]["type"] == "ExternalIpAddressExhausted", r
    assert len(api.get("/v2.0/floatingips").json["floatingips"]) == 2


def test_fip_association_rules(cloud):
    api = Client(cloud["url"], "tenant-a")
    net, sub, router = tenant_setup(api)
    port = mk(api, "port", {"network_id": net["id"]})
    fip = mk(api, "floatingip", {"floating_network_id": cloud["public"]["id"]})
    # No router interface/gateway yet: not reachable.
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}})
    assert r.status == 404 and r.json["NeutronError"]["type"] == \
        "ExternalGatewayForFloatingIPNotFound", r
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}})
    assert r.status == 404, r
    api.put(f"/v2.0/routers/{router['id']}",
            {"router": {"external_gateway_info": {"network_id": cloud["public"]["id"]}}})
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}})
    assert r.status == 200, r
    # A second FIP on the same fixed IP.
    fip2 = mk(api, "floatingip", {"floating_network_id": cloud["public"]["id"]})
    r = api.put(f"/v2.0/floatingips/{fip2['id']}", {"floatingip": {"port_id": port["id"]}})
    assert r.status == 409 and r.json["NeutronError"]["type"] == \
        "FloatingIPPortAlreadyAssociated", r
    # The interface and the gateway are needed by the FIP.
    r = api.put(f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    assert r.status == 409, r
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": None}})
    assert r.status == 409, r
    # Disassociate, then both work.
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
    assert r.status == 200 and r.json["floatingip"]["router_id"] is None, r
    # Associate at create time.
    f3 = mk(api, "floatingip", {"floating_network_id": cloud["public"]["id"],
                                "port_id": port["id"]})
    assert f3["router_id"] == router["id"]
    # Deleting the port disassociates.
    assert api.delete(f"/v2.0/ports/{port['id']}").status == 204
    f3 = api.get(f"/v2.0/floatingips/{f3['id']}").json["floatingip"]
    assert f3["port_id"] is None and f3["fixed_ip_address"] is None
    # Another project's port cannot be used: 400, as Neutron answers.
    other = Client(cloud["url"], "tenant-b")
    onet = mk(other, "network", {"name": "o"})
    mk(other, "subnet", {"network_id": onet["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    oport = mk(other, "port", {"network_id": onet["id"]})
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": oport["id"]}})
    assert r.status == 400, r


def test_router_rules(cloud):
    api = Client(cloud["url"], "tenant-a")
    net, sub, router = tenant_setup(api)
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert r.status == 200
    port_id = r.json["port_id"]
    port = api.get(f"/v2.0/ports/{port_id}").json["port"]
    assert port["fixed_ips"][0]["ip_address"] == sub["gateway_ip"]
    assert port["device_id"] == router["id"]
    assert port["device_owner"].startswith("network:router_interface")
    # Twice, and an overlapping subnet on another network.
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert r.status == 400, r
    net2 = mk(api, "network", {"name": "n2"})
    sub2 = mk(api, "subnet", {"network_id": net2["id"], "cidr": "10.0.0.0/25", "ip_version": 4})
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub2["id"]})
    assert r.status == 400, r
    # Router ports cannot be deleted through the port API.
    assert api.delete(f"/v2.0/ports/{port_id}").status == 409
    # A router with interfaces cannot be deleted.
    r = api.delete(f"/v2.0/routers/{router['id']}")
    assert r.status == 409 and r.json["NeutronError"]["type"] == "RouterInUse", r
    # Gateway on a non-external network.
    r = api.put(f"/v2.0/routers/{router['id']}",
                {"router": {"external_gateway_info": {"network_id": net2["id"]}}})
    assert r.status == 400, r
    # Tenants cannot choose enable_snat or addresses (Neutron policy).
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {
        "network_id": cloud["public"]["id"], "enable_snat": False}}})
    assert r.status == 403, r
    admin = cloud["admin"]
    r = admin.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {
        "network_id": cloud["public"]["id"], "enable_snat": False}}})
    assert r.status == 200 and r.json["router"]["external_gateway_info"]["enable_snat"] is False
    assert r.json["router"]["distributed"] is True
    assert r.json["router"]["snat_mode"] == "distributed"
    assert "distributed" not in api.get(f"/v2.0/routers/{router['id']}").json["router"]
    # Remove the interface, then delete: the gateway port goes too.
    r = api.put(f"/v2.0/routers/{router['id']}/remove_router_interface", {"port_id": port_id})
    assert r.status == 200, r
    assert api.get(f"/v2.0/ports/{port_id}").status == 404
    assert api.delete(f"/v2.0/routers/{router['id']}").status == 204
    ports = admin.get(f"/v2.0/ports?network_id={cloud['public']['id']}").json["ports"]
    assert ports == []


def test_snat_mode_admin(cloud):
    admin = cloud["admin"]
    r = mk(admin, "router", {"name": "legacy", "distributed": False})
    assert r["snat_mode"] == "centralized"
    r = admin.post("/v2.0/routers", {"router": {"distributed": False,
                                                "snat_mode": "distributed"}})
    assert r.status == 400
    r = mk(admin, "router", {"name": "dvr-c", "snat_mode": "centralized"})
    assert r["distributed"] is True and r["snat_mode"] == "centralized"
    api = Client(cloud["url"], "tenant-a")
    r = api.post("/v2.0/routers", {"router": {"snat_mode": "centralized"}})
    assert r.status == 403


def test_segments_pick_gateway(server):
    """Seed case 2: one external network with two physical segments."""
    admin = Client(server.url, "admin-project", "admin")
    public = mk(admin, "network", {"name": "public", "router:external": True,
                                   "provider:network_type": "flat",
                                   "provider:physical_network": "rack1"})
    segs = admin.get(f"/v2.0/segments?network_id={public['id']}").json["segments"]
    assert len(segs) == 1 and segs[0]["physical_network"] == "rack1"
    seg2 = mk(admin, "segment", {"network_id": public["id"], "network_type": "flat",
                                 "physical_network": "rack2"})
    s1 = mk(admin, "subnet", {"network_id": public["id"], "cidr": "100.64.0.0/29",
                              "ip_version": 4, "segment_id": segs[0]["id"],
                              "service_types": ["network:router_gateway"]})
    s2 = mk(admin, "subnet", {"network_id": public["id"], "cidr": "100.65.0.0/24",
                              "ip_version": 4, "segment_id": seg2["id"],
                              "service_types": ["network:router_gateway"]})
    pool = mk(admin, "subnet", {"network_id": public["id"], "cidr": "203.0.113.0/24",
                                "ip_version": 4, "gateway_ip": None,
                                "service_types": ["network:floatingip"]})
    assert pool["segment_id"] is None
    api = Client(server.url, "tenant-a")
    # Tenants never see segments.
    assert api.get("/v2.0/segments").json["segments"] == []
    r = api.post("/v2.0/segments", {"segment": {"network_id": public["id"],
                                                "network_type": "flat",
                                                "physical_network": "x"}})
    assert r.status == 403
    # The segment with the most free gateway addresses wins: rack2's /24.
    router = mk(api, "router", {"name": "r", "external_gateway_info":
                                {"network_id": public["id"]}})
    ip = router["external_gateway_info"]["external_fixed_ips"][0]
    assert ip["subnet_id"] == s2["id"], (ip, s1["id"])
    # Segments in use cannot go; the primary segment cannot go.
    r = admin.delete(f"/v2.0/segments/{seg2['id']}")
    assert r.status == 409
    r = admin.delete(f"/v2.0/segments/{segs[0]['id']}")
    assert r.status == 409


def test_quota_enforced(server):
    admin = Client(server.url, "admin-project", "admin")
    r = admin.put("/v2.0/quotas/qp", {"quota": {"network": 2, "router": 0}})
    assert r.status == 200 and r.json["quota"]["network"] == 2, r
    api = Client(server.url, "qp")
    mk(api, "network", {"name": "a"})
    mk(api, "network", {"name": "b"})
    r = api.post("/v2.0/networks", {"network": {"name": "c"}})
    assert r.status == 409 and r.json["NeutronError"]["type"] == "OverQuota", r
    r = api.post("/v2.0/routers", {"router": {"name": "r"}})
    assert r.status == 409
    d = api.get("/v2.0/quotas/qp/details").json["quota"]
    assert d["network"] == {"limit": 2, "used": 2, "reserved": 0}
    assert api.put("/v2.0/quotas/qp", {"quota": {"network": 5}}).status == 403
    assert api.get("/v2.0/quotas/other").status == 403
    assert admin.put("/v2.0/quotas/qp", {"quota": {"network": "x"}}).status == 400
    assert admin.put("/v2.0/quotas/qp", {"quota": {"bogus": 1}}).status == 400
    assert admin.delete("/v2.0/quotas/qp").status == 204
    assert api.get("/v2.0/quotas/qp").json["quota"]["network"] == 100
    mk(api, "network", {"name": "c"})

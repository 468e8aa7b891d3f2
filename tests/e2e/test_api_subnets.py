"""Subnets: defaults, gateway and allocation pools, validation, overlap, deletion."""
import pytest

from conftest import Client, api_create, assert_error


@pytest.fixture
def net(api):
    return api_create(api, "network", {"name": "n"})


def mksub(api, net, cidr, **kw):
    body = {"network_id": net["id"], "cidr": cidr, "ip_version": 4}
    body.update(kw)
    return api.post("/v2.0/subnets", {"subnet": body})


def subnets(client):
    return client.get("/v2.0/subnets").json["subnets"]


def test_subnet_defaults(api, net):
    r = mksub(api, net, "10.0.0.0/24", name="s1")
    assert r.status == 201, r
    s = r.json["subnet"]
    assert s["name"] == "s1" and s["description"] == ""
    assert s["network_id"] == net["id"]
    assert s["cidr"] == "10.0.0.0/24"
    assert s["ip_version"] == 4
    assert s["gateway_ip"] == "10.0.0.1"
    assert s["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert s["enable_dhcp"] is True
    assert s["dns_nameservers"] == []
    assert s["host_routes"] == []
    assert s["service_types"] == []
    assert s["segment_id"] is None
    assert s["tags"] == []
    assert s["project_id"] == "p1" and s["tenant_id"] == "p1"
    assert isinstance(s["revision_number"], int)
    assert s["created_at"] and s["updated_at"]
    assert api.get(f"/v2.0/subnets/{s['id']}").json["subnet"] == s


def test_subnet_without_gateway(api, net):
    r = mksub(api, net, "10.0.0.0/24", gateway_ip=None)
    assert r.status == 201, r
    s = r.json["subnet"]
    assert s["gateway_ip"] is None
    assert s["allocation_pools"] == [{"start": "10.0.0.1", "end": "10.0.0.254"}]


def test_gateway_at_end_of_range(api, net):
    r = mksub(api, net, "10.0.0.0/24", gateway_ip="10.0.0.254")
    assert r.status == 201, r
    s = r.json["subnet"]
    assert s["gateway_ip"] == "10.0.0.254"
    assert s["allocation_pools"] == [{"start": "10.0.0.1", "end": "10.0.0.253"}]


def test_gateway_in_middle_splits_default_pool(api, net):
    r = mksub(api, net, "10.0.0.0/24", gateway_ip="10.0.0.100")
    assert r.status == 201, r
    assert r.json["subnet"]["allocation_pools"] == [
        {"start": "10.0.0.1", "end": "10.0.0.99"}, {"start": "10.0.0.101", "end": "10.0.0.254"}]


def test_small_subnet_defaults(api, net):
    r = mksub(api, net, "192.168.7.16/29")
    assert r.status == 201, r
    s = r.json["subnet"]
    assert s["gateway_ip"] == "192.168.7.17"
    assert s["allocation_pools"] == [{"start": "192.168.7.18", "end": "192.168.7.22"}]


def test_explicit_attributes(api, net):
    r = mksub(api, net, "10.1.0.0/24", gateway_ip="10.1.0.1", enable_dhcp=False,
              dns_nameservers=["8.8.8.8", "1.1.1.1"],
              host_routes=[{"destination": "192.168.0.0/16", "nexthop": "10.1.0.9"}],
              allocation_pools=[{"start": "10.1.0.10", "end": "10.1.0.20"},
                                {"start": "10.1.0.100", "end": "10.1.0.110"}],
              description="d")
    assert r.status == 201, r
    s = r.json["subnet"]
    assert s["enable_dhcp"] is False
    assert s["dns_nameservers"] == ["8.8.8.8", "1.1.1.1"]
    assert s["host_routes"] == [{"destination": "192.168.0.0/16", "nexthop": "10.1.0.9"}]
    assert s["allocation_pools"] == [{"start": "10.1.0.10", "end": "10.1.0.20"},
                                     {"start": "10.1.0.100", "end": "10.1.0.110"}]
    assert s["description"] == "d"
    assert api.get(f"/v2.0/subnets/{s['id']}").json["subnet"] == s


def test_service_types(admin):
    net = api_create(admin, "network", {"name": "pub", "router:external": True})
    s = api_create(admin, "subnet", {"network_id": net["id"], "cidr": "203.0.113.0/24",
                                     "ip_version": 4, "service_types": ["network:floatingip"]})
    assert s["service_types"] == ["network:floatingip"]


@pytest.mark.parametrize("cidr,version", [("2001:db8::/64", 4), ("10.0.0.0/24", 6)])
def test_cidr_of_the_other_ip_version_refused(api, net, cidr, version):
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": cidr,
                                              "ip_version": version}})
    err = assert_error(r, 400)
    assert "ip_version" in err["message"]
    assert subnets(api) == []


@pytest.mark.parametrize("cidr", ["10.0.0.5/24", "10.0.0.1/8", "192.168.1.128/24"])
def test_non_canonical_cidr_refused(api, net, cidr):
    assert_error(mksub(api, net, cidr), 400)
    assert subnets(api) == []


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "300.0.0.0/24", "garbage", "10.0.0.0/",
                                  "10.0.0/24", "", "2001:db8::/64", "10.0.0.0/-1"])
def test_bad_cidr_refused(api, net, cidr):
    assert_error(mksub(api, net, cidr), 400)
    assert subnets(api) == []


@pytest.mark.parametrize("drop,extra", [("cidr", {}), ("ip_version", {}), ("network_id", {}),
                                        (None, {"ip_version": 5}), (None, {"ip_version": "four"})])
def test_required_attributes_and_ip_version(api, net, drop, extra):
    """cidr, ip_version and network_id are required (missing: 400, as Neutron's
    "Failed to parse request. Required attribute ... not specified")."""
    body = {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4}
    body.pop(drop, None)
    body.update(extra)
    assert_error(api.post("/v2.0/subnets", {"subnet": body}), 400)
    assert subnets(api) == []


def test_subnet_on_missing_network(api):
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": "3b1f1d5a-5c60-4a35-a0d7-4a1d7a2a6f01",
                                              "cidr": "10.0.0.0/24", "ip_version": 4}})
    assert_error(r, 404, "NetworkNotFound")


@pytest.mark.parametrize("gw", ["not-an-ip", "10.0.0.256", "10.0.0.0", "10.0.0.255", "2001:db8::1", 5])
def test_bad_gateway_refused(api, net, gw):
    # (Neutron allows a gateway outside the CIDR, but never the network or
    # broadcast address of it.)
    assert_error(mksub(api, net, "10.0.0.0/24", gateway_ip=gw), 400)
    assert subnets(api) == []


@pytest.mark.parametrize("pools", [
    [{"start": "10.0.1.10", "end": "10.0.1.20"}],            # outside the CIDR
    [{"start": "10.0.0.200", "end": "10.0.1.20"}],           # spans beyond it
    [{"start": "10.0.0.20", "end": "10.0.0.10"}],            # start after end
    [{"start": "10.0.0.0", "end": "10.0.0.10"}],             # network address
    [{"start": "10.0.0.250", "end": "10.0.0.255"}],          # broadcast address
    [{"start": "bogus", "end": "10.0.0.10"}],
    [{"start": "10.0.0.10"}],
])
def test_bad_allocation_pool_refused(api, net, pools):
    assert_error(mksub(api, net, "10.0.0.0/24", allocation_pools=pools), 400)
    assert subnets(api) == []


def test_overlapping_allocation_pools_refused(api, net):
    r = mksub(api, net, "10.0.0.0/24", allocation_pools=[
        {"start": "10.0.0.10", "end": "10.0.0.50"}, {"start": "10.0.0.40", "end": "10.0.0.60"}])
    # The issue asks for 400; Neutron's OverlappingAllocationPools is a 409.
    assert r.status in (400, 409), r
    assert_error(r, r.status)
    assert subnets(api) == []


def test_gateway_inside_pool_refused(api, net):
    r = mksub(api, net, "10.0.0.0/24", gateway_ip="10.0.0.15",
              allocation_pools=[{"start": "10.0.0.10", "end": "10.0.0.50"}])
    # The issue asks for 400; Neutron's GatewayConflictWithAllocationPools is a 409.
    assert r.status in (400, 409), r
    assert_error(r, r.status)
    # The default gateway (.1) inside an explicit pool conflicts as well.
    r = mksub(api, net, "10.0.0.0/24",
              allocation_pools=[{"start": "10.0.0.1", "end": "10.0.0.50"}])
    assert r.status in (400, 409), r
    assert subnets(api) == []


def test_bad_dns_and_routes_refused(api, net):
    assert_error(mksub(api, net, "10.0.0.0/24", dns_nameservers=["not-an-ip"]), 400)
    assert_error(mksub(api, net, "10.0.0.0/24", dns_nameservers=["8.8.8.8", "8.8.8.8"]), 400)
    assert_error(mksub(api, net, "10.0.0.0/24", dns_nameservers="8.8.8.8"), 400)
    too_many = [f"10.9.9.{i}" for i in range(1, 7)]
    assert_error(mksub(api, net, "10.0.0.0/24", dns_nameservers=too_many), 400)
    assert_error(mksub(api, net, "10.0.0.0/24",
                       host_routes=[{"destination": "bad", "nexthop": "10.0.0.9"}]), 400)
    assert_error(mksub(api, net, "10.0.0.0/24",
                       host_routes=[{"destination": "192.168.0.0/16", "nexthop": "x"}]), 400)
    assert_error(mksub(api, net, "10.0.0.0/24",
                       host_routes=[{"destination": "192.168.0.0/16"}]), 400)
    assert_error(mksub(api, net, "10.0.0.0/24", enable_dhcp="maybe"), 400)
    assert subnets(api) == []


def test_five_dns_nameservers_allowed(api, net):
    five = [f"10.9.9.{i}" for i in range(1, 6)]
    r = mksub(api, net, "10.0.0.0/24", dns_nameservers=five)
    assert r.status == 201, r
    assert r.json["subnet"]["dns_nameservers"] == five


@pytest.mark.parametrize("second", ["10.0.0.0/24", "10.0.0.128/25", "10.0.0.0/16", "10.0.0.64/26"])
def test_overlapping_subnets_on_one_network_refused(api, net, second):
    assert mksub(api, net, "10.0.0.0/24").status == 201
    assert_error(mksub(api, net, second), 400)
    assert [s["cidr"] for s in subnets(api)] == ["10.0.0.0/24"]


def test_adjacent_subnets_on_one_network_allowed(api, net):
    assert mksub(api, net, "10.0.0.0/24").status == 201
    assert mksub(api, net, "10.0.1.0/24").status == 201
    assert sorted(s["cidr"] for s in subnets(api)) == ["10.0.0.0/24", "10.0.1.0/24"]


def test_different_projects_may_use_same_cidr(server, api, net):
    assert mksub(api, net, "10.0.0.0/24").status == 201
    other = Client(server.url, "p2")
    onet = api_create(other, "network", {"name": "other"})
    r = other.post("/v2.0/subnets", {"subnet": {"network_id": onet["id"], "cidr": "10.0.0.0/24",
                                                "ip_version": 4}})
    assert r.status == 201, r
    assert r.json["subnet"]["gateway_ip"] == "10.0.0.1"


def test_update_subnet(api, net):
    s = mksub(api, net, "10.0.0.0/24").json["subnet"]
    r = api.put(f"/v2.0/subnets/{s['id']}", {"subnet": {
        "name": "renamed", "dns_nameservers": ["9.9.9.9"], "enable_dhcp": False,
        "host_routes": [{"destination": "0.0.0.0/0", "nexthop": "10.0.0.1"}]}})
    assert r.status == 200, r
    u = r.json["subnet"]
    assert u["name"] == "renamed" and u["dns_nameservers"] == ["9.9.9.9"]
    assert u["enable_dhcp"] is False
    assert u["host_routes"] == [{"destination": "0.0.0.0/0", "nexthop": "10.0.0.1"}]
    assert u["revision_number"] == s["revision_number"] + 1
    assert u["cidr"] == s["cidr"] and u["allocation_pools"] == s["allocation_pools"]
    assert api.get(f"/v2.0/subnets/{s['id']}").json["subnet"] == u
    # Gateway can be removed.
    r = api.put(f"/v2.0/subnets/{s['id']}", {"subnet": {"gateway_ip": None}})
    assert r.status == 200, r
    assert r.json["subnet"]["gateway_ip"] is None
    assert r.json["subnet"]["revision_number"] == u["revision_number"] + 1


def test_update_subnet_immutable_attributes(api, net):
    s = mksub(api, net, "10.0.0.0/24").json["subnet"]
    other = api_create(api, "network", {"name": "o"})
    for body in ({"cidr": "10.0.1.0/24"}, {"network_id": other["id"]}, {"ip_version": 4},
                 {"dns_nameservers": ["bad"]}, {"gateway_ip": "10.0.0.255"}):
        assert_error(api.put(f"/v2.0/subnets/{s['id']}", {"subnet": body}), 400)
    assert api.get(f"/v2.0/subnets/{s['id']}").json["subnet"] == s


def test_subnet_not_found(api):
    missing = "3b1f1d5a-5c60-4a35-a0d7-4a1d7a2a6f01"
    assert_error(api.get(f"/v2.0/subnets/{missing}"), 404, "SubnetNotFound")
    assert_error(api.put(f"/v2.0/subnets/{missing}", {"subnet": {"name": "x"}}), 404,
                 "SubnetNotFound")
    assert_error(api.delete(f"/v2.0/subnets/{missing}"), 404, "SubnetNotFound")


def test_delete_subnet_in_use(api, net):
    s = mksub(api, net, "10.0.0.0/24").json["subnet"]
    port = api_create(api, "port", {"network_id": net["id"], "device_owner": "compute:nova"})
    assert port["fixed_ips"][0]["subnet_id"] == s["id"]
    assert_error(api.delete(f"/v2.0/subnets/{s['id']}"), 409, "SubnetInUse")
    assert api.get(f"/v2.0/subnets/{s['id']}").json["subnet"] == s
    assert api.get(f"/v2.0/ports/{port['id']}").json["port"]["fixed_ips"] == port["fixed_ips"]
    assert api.delete(f"/v2.0/ports/{port['id']}").status == 204
    r = api.delete(f"/v2.0/subnets/{s['id']}")
    assert r.status == 204, r
    assert_error(api.get(f"/v2.0/subnets/{s['id']}"), 404, "SubnetNotFound")
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["subnets"] == []


def test_delete_subnet_with_only_dhcp_port(api, admin, net):
    s = mksub(api, net, "10.0.0.0/24").json["subnet"]
    dhcp = api_create(admin, "port", {"network_id": net["id"], "device_owner": "network:dhcp",
                                      "project_id": "p1"})
    assert dhcp["fixed_ips"][0]["subnet_id"] == s["id"]
    r = api.delete(f"/v2.0/subnets/{s['id']}")
    assert r.status == 204, r
    p = admin.get(f"/v2.0/ports/{dhcp['id']}")
    # Neutron drops the DHCP port's address on that subnet (or the port).
    if p.status == 200:
        assert p.json["port"]["fixed_ips"] == []
    else:
        assert_error(p, 404, "PortNotFound")


def test_same_cidr_again_after_delete(api, net):
    s = mksub(api, net, "10.0.0.0/24").json["subnet"]
    assert api.delete(f"/v2.0/subnets/{s['id']}").status == 204
    assert mksub(api, net, "10.0.0.0/24").status == 201


def test_host_routes_limit(api, net):
    routes = [{"destination": f"192.168.{i}.0/24", "nexthop": "10.0.0.9"} for i in range(21)]
    assert_error(mksub(api, net, "10.0.0.0/24", host_routes=routes), 400)
    r = mksub(api, net, "10.0.0.0/24", host_routes=routes[:20])
    assert r.status == 201, r
    assert len(r.json["subnet"]["host_routes"]) == 20


def test_update_allocation_pools(api, net):
    s = mksub(api, net, "10.0.0.0/24").json["subnet"]
    r = api.put(f"/v2.0/subnets/{s['id']}", {"subnet": {
        "allocation_pools": [{"start": "10.0.0.100", "end": "10.0.0.110"}]}})
    assert r.status == 200, r
    assert r.json["subnet"]["allocation_pools"] == [{"start": "10.0.0.100", "end": "10.0.0.110"}]
    p = api_create(api, "port", {"network_id": net["id"]})
    assert p["fixed_ips"][0]["ip_address"].startswith("10.0.0.1")
    assert 100 <= int(p["fixed_ips"][0]["ip_address"].rsplit(".", 1)[1]) <= 110
    for pools in ([{"start": "10.0.1.1", "end": "10.0.1.5"}],
                  [{"start": "10.0.0.1", "end": "10.0.0.5"}]):     # holds the gateway
        r = api.put(f"/v2.0/subnets/{s['id']}", {"subnet": {"allocation_pools": pools}})
        assert r.status in (400, 409), r
    got = api.get(f"/v2.0/subnets/{s['id']}").json["subnet"]
    assert got["allocation_pools"] == [{"start": "10.0.0.100", "end": "10.0.0.110"}]


def test_update_gateway_into_pool_refused(api, net):
    s = mksub(api, net, "10.0.0.0/24").json["subnet"]
    r = api.put(f"/v2.0/subnets/{s['id']}", {"subnet": {"gateway_ip": "10.0.0.50"}})
    assert r.status in (400, 409), r
    assert api.get(f"/v2.0/subnets/{s['id']}").json["subnet"]["gateway_ip"] == "10.0.0.1"


def test_tenant_cannot_add_subnet_to_shared_network(api, admin):
    shared = api_create(admin, "network", {"name": "shared", "shared": True})
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": shared["id"], "cidr": "10.5.0.0/24",
                                              "ip_version": 4}})
    # Neutron: 403 (not allowed to create a subnet on this network).
    assert r.status in (403, 404), r
    assert admin.get("/v2.0/subnets").json["subnets"] == []

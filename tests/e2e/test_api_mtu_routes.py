"""net-mtu-writable (an MTU from 68 up to what the segment carries, 1280 at
least with IPv6 subnets) and extraroute-atomic (add_extraroutes and
remove_extraroutes change a router's routes in one step)."""
import pytest

from conftest import api_create, assert_error


def test_network_mtu_writable(api):
    net = api_create(api, "network", {"name": "n", "mtu": 68})
    assert net["mtu"] == 68
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["mtu"] == 68
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"mtu": 1280}})
    assert r.status == 200 and r.json["network"]["mtu"] == 1280, r
    api_create(api, "subnet", {"network_id": net["id"], "cidr": "2001:db8::/64",
                               "ip_version": 6})
    # Below 1280 with an IPv6 subnet; above the segment's 1450; below 68.
    for mtu, status in ((1279, 409), (1451, 400), (67, 400), ("big", 400)):
        assert_error(api.put(f"/v2.0/networks/{net['id']}", {"network": {"mtu": mtu}}),
                     status)
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["mtu"] == 1280
    small = api_create(api, "network", {"name": "small", "mtu": 1000})
    assert_error(api.post("/v2.0/subnets", {"subnet": {
        "network_id": small["id"], "cidr": "2001:db8:1::/64", "ip_version": 6}}), 409)
    assert_error(api.post("/v2.0/networks", {"network": {"name": "big", "mtu": 9000}}), 400)


@pytest.mark.parametrize("version", [4, 6])
def test_extraroutes_atomic(api, version):
    net = api_create(api, "network", {"name": "n"})
    cidr = "10.0.0.0/24" if version == 4 else "2001:db8::/64"
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": cidr,
                                     "ip_version": version})
    router = api_create(api, "router", {"name": "r"})
    rid = router["id"]
    assert api.put(f"/v2.0/routers/{rid}/add_router_interface",
                   {"subnet_id": sub["id"]}).status == 200
    if version == 4:
        hops, dst = ["10.0.0.2", "10.0.0.3", "10.0.0.4"], "10.9.%d.0/24"
    else:
        hops, dst = ["2001:db8::2", "2001:db8::3", "2001:db8::4"], "2001:db8:%d::/64"
    route = [{"destination": dst % (i + 2), "nexthop": hops[i]} for i in range(3)]

    def act(name, routes):
        return api.put(f"/v2.0/routers/{rid}/{name}", {"router": {"routes": routes}})

    r = act("add_extraroutes", route[:1])
    assert r.status == 200 and r.json["router"]["routes"] == route[:1], r
    r = act("add_extraroutes", route[:2])
    assert r.status == 200 and r.json["router"]["routes"] == route[:2], r
    r = act("remove_extraroutes", route[1:])
    assert r.status == 200 and r.json["router"]["routes"] == route[:1], r
    # A next hop off the router's subnets, a bad body: 400, nothing changed.
    off = {"destination": dst % 9, "nexthop": "192.0.2.1" if version == 4 else "2001:db9::1"}
    assert_error(act("add_extraroutes", [off]), 400)
    assert_error(api.put(f"/v2.0/routers/{rid}/add_extraroutes", {"routes": route}), 400)
    assert api.get(f"/v2.0/routers/{rid}").json["router"]["routes"] == route[:1]


def test_port_filters_ip_substring_and_security_groups(api):
    net = api_create(api, "network", {"name": "n"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4})
    sg = api.post("/v2.0/security-groups", {"security_group": {"name": "g"}}).json[
        "security_group"]
    a = api_create(api, "port", {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "10.0.0.19"}], "security_groups": [sg["id"]]})
    b = api_create(api, "port", {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "10.0.0.20"}]})

    def listed(q):
        r = api.get(f"/v2.0/ports?{q}")
        assert r.status == 200, r
        return sorted(p["id"] for p in r.json["ports"])

    assert listed("fixed_ips=ip_address_substr=10.0.0.1") == [a["id"]]
    assert listed("fixed_ips=ip_address_substr=0.0.") == sorted([a["id"], b["id"]])
    assert listed("fixed_ips=ip_address_substr=10.0.0.3") == []
    assert listed(f"security_groups={sg['id']}") == [a["id"]]
    assert_error(api.get("/v2.0/ports?bogus_filter=1"), 400)


def test_segments_carry_standard_attributes(api, admin):
    net = api_create(api, "network", {"name": "n"})
    segs = admin.get(f"/v2.0/segments?network_id={net['id']}").json["segments"]
    assert len(segs) == 1
    seg = segs[0]
    assert seg["created_at"] and seg["updated_at"] and seg["revision_number"] == 0
    r = admin.put(f"/v2.0/segments/{seg['id']}", {"segment": {"name": "renamed",
                                                              "description": "d"}})
    assert r.status == 200, r
    got = r.json["segment"]
    assert (got["name"], got["description"], got["created_at"]) == (
        "renamed", "d", seg["created_at"])
    assert got["revision_number"] == 1
    assert_error(admin.put(f"/v2.0/segments/{seg['id']}", {"segment": {
        "segmentation_id": 5}}), 400)


def test_service_providers(api):
    r = api.get("/v2.0/service-providers")
    assert r.status == 200, r
    assert sorted((p["service_type"], p["name"], p["default"])
                  for p in r.json["service_providers"]) == [
        ("FIREWALL_V2", "lepton", True), ("L3_ROUTER_NAT", "lepton", True)]
    r = api.get("/v2.0/service-providers?service_type=L3_ROUTER_NAT")
    assert [p["service_type"] for p in r.json["service_providers"]] == ["L3_ROUTER_NAT"]
    assert_error(api.post("/v2.0/service-providers", {"service_provider": {}}), 405)


def test_floatingip_pools_are_ipv4(api, admin):
    ext = api_create(admin, "network", {"name": "ext", "router:external": True})
    v4 = api_create(admin, "subnet", {"network_id": ext["id"], "cidr": "172.16.0.0/24",
                                      "ip_version": 4})
    api_create(admin, "subnet", {"network_id": ext["id"], "cidr": "2001:db8:e::/64",
                                 "ip_version": 6})
    pools = api.get("/v2.0/floatingip_pools").json["floatingip_pools"]
    assert [p["subnet_id"] for p in pools] == [v4["id"]]


def test_empty_string_filtering(api):
    named = api_create(api, "network", {"name": "n", "description": "d"})
    unnamed = api_create(api, "network", {})
    got = api.get("/v2.0/networks?name=").json["networks"]
    assert [n["id"] for n in got] == [unnamed["id"]]
    got = api.get("/v2.0/networks?description=&name=n").json["networks"]
    assert got == []
    got = api.get("/v2.0/networks?description=d").json["networks"]
    assert [n["id"] for n in got] == [named["id"]]


def test_flavors_and_service_profiles(api, admin):
    r = admin.post("/v2.0/service_profiles", {"service_profile": {
        "description": "sp", "driver": "", "metainfo": '{"data": "value"}'}})
    assert r.status == 201, r
    sp = r.json["service_profile"]
    assert sp["enabled"] is True and sp["metainfo"] == '{"data": "value"}' and "name" not in sp
    r = admin.post("/v2.0/flavors", {"flavor": {"name": "gold", "service_type": "L3_ROUTER_NAT",
                                                "service_profiles": [sp["id"]]}})
    assert r.status == 201, r
    fl = r.json["flavor"]
    assert fl["enabled"] is True and fl["service_profiles"] == [sp["id"]]
    # Everyone reads; only admins write; bad types, drivers and profiles.
    assert api.get(f"/v2.0/flavors/{fl['id']}").status == 200
    assert_error(api.post("/v2.0/flavors", {"flavor": {"name": "x",
                                                       "service_type": "FLAVORS"}}), 403)
    assert_error(api.put(f"/v2.0/flavors/{fl['id']}", {"flavor": {"enabled": False}}), 403)
    assert_error(admin.post("/v2.0/flavors", {"flavor": {"name": "x",
                                                         "service_type": "LOADBALANCERV2"}}), 400)
    assert_error(admin.post("/v2.0/service_profiles", {"service_profile": {
        "driver": "neutron.foo.Driver"}}), 404)
    assert_error(admin.post("/v2.0/flavors", {"flavor": {
        "name": "x", "service_type": "FLAVORS",
        "service_profiles": ["9d2b6d51-7b5a-4e1f-9d2f-6a1d3c7b8e90"]}}), 404)
    assert_error(admin.delete(f"/v2.0/service_profiles/{sp['id']}"), 409)
    r = admin.put(f"/v2.0/flavors/{fl['id']}", {"flavor": {"enabled": False,
                                                          "service_profiles": []}})
    assert r.status == 200 and r.json["flavor"]["enabled"] is False, r
    assert admin.delete(f"/v2.0/service_profiles/{sp['id']}").status == 204
    assert admin.delete(f"/v2.0/flavors/{fl['id']}").status == 204
    assert api.get("/v2.0/flavors").json["flavors"] == []

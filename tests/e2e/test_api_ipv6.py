"""IPv6 in the API: subnets with RA and address modes (Neutron's rules for
their combinations), EUI-64 addresses on SLAAC and DHCPv6-stateless subnets,
stateful allocation, dual-stack ports, routers with IPv6 interfaces and
routes, IPv6 subnet pools; every refusal a 4xx that changes nothing."""
import ipaddress

import pytest

from conftest import api_create, assert_error


def mknet(api, name="n6"):
    return api_create(api, "network", {"name": name})


def mksub(api, net, cidr="2001:db8:1::/64", version=6, **kw):
    body = {"network_id": net["id"], "cidr": cidr, "ip_version": version}
    body.update(kw)
    return api.post("/v2.0/subnets", {"subnet": body})


def eui64(prefix, mac):
    """RFC 4291 appendix A, computed independently of the server."""
    b = [int(x, 16) for x in mac.split(":")]
    iid = [b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]]
    net = ipaddress.IPv6Network(prefix + "/64")
    return str(net[int.from_bytes(bytes(iid), "big")])


def subnets(api):
    return api.get("/v2.0/subnets").json["subnets"]


def test_stateful_subnet_defaults_and_allocation(api):
    net = mknet(api)
    r = mksub(api, net, "2001:DB8:0:1::/64", ipv6_ra_mode="dhcpv6-stateful",
              ipv6_address_mode="dhcpv6-stateful", dns_nameservers=["2001:4860:4860::8888"],
              host_routes=[{"destination": "2001:db8:ff::/48", "nexthop": "2001:db8:0:1::fe"}])
    assert r.status == 201, r
    s = r.json["subnet"]
    # RFC 5952's form; gateway ::1; one pool to the last address.
    assert s["cidr"] == "2001:db8:0:1::/64" and s["ip_version"] == 6
    assert s["gateway_ip"] == "2001:db8:0:1::1"
    assert s["allocation_pools"] == [{"start": "2001:db8:0:1::2",
                                      "end": "2001:db8:0:1:ffff:ffff:ffff:ffff"}]
    assert (s["ipv6_ra_mode"], s["ipv6_address_mode"]) == ("dhcpv6-stateful",) * 2
    assert s["dns_nameservers"] == ["2001:4860:4860::8888"]
    p = api_create(api, "port", {"network_id": net["id"]})
    assert [ip["ip_address"] for ip in p["fixed_ips"]] == ["2001:db8:0:1::2"]
    q = api_create(api, "port", {"network_id": net["id"],
                                 "fixed_ips": [{"ip_address": "2001:db8:0:1::abcd"}]})
    assert q["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "2001:db8:0:1::abcd"}]
    # Taken, outside, the subnet-router anycast address: refused.
    for ip, status in (("2001:db8:0:1::abcd", 409), ("2001:db8:0:2::5", 400),
                       ("2001:db8:0:1::", 400)):
        assert_error(api.post("/v2.0/ports", {"port": {
            "network_id": net["id"], "fixed_ips": [{"ip_address": ip}]}}), status)
    assert len(api.get("/v2.0/ports").json["ports"]) == 2
    # Deleting the port frees its address.
    assert api.delete(f"/v2.0/ports/{q['id']}").status == 204
    api_create(api, "port", {"network_id": net["id"],
                             "fixed_ips": [{"ip_address": "2001:db8:0:1::abcd"}]})


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6-stateless"])
def test_auto_address_subnets_give_eui64(api, mode):
    net = mknet(api)
    v4 = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                    "ip_version": 4})
    s = mksub(api, net, "2001:db8:2::/64", ipv6_ra_mode=mode,
              ipv6_address_mode=mode).json["subnet"]
    p = api_create(api, "port", {"network_id": net["id"]})
    # Dual stack: one IPv4 address and the EUI-64 address of the port's MAC.
    assert p["fixed_ips"] == [
        {"subnet_id": v4["id"], "ip_address": "10.0.0.2"},
        {"subnet_id": s["id"], "ip_address": eui64("2001:db8:2::", p["mac_address"])}]
    # Asking for the subnet alone gives the same; any other address is refused.
    q = api_create(api, "port", {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": s["id"]}]})
    assert q["fixed_ips"] == [
        {"subnet_id": s["id"], "ip_address": eui64("2001:db8:2::", q["mac_address"])}]
    assert_error(api.post("/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": s["id"], "ip_address": "2001:db8:2::77"}]}}), 400)
    # An update that names only the IPv4 subnet keeps the automatic address.
    r = api.put(f"/v2.0/ports/{p['id']}", {"port": {"fixed_ips": [
        {"subnet_id": v4["id"], "ip_address": "10.0.0.9"}]}})
    assert r.status == 200, r
    assert sorted(r.json["port"]["fixed_ips"], key=lambda ip: ip["subnet_id"] != v4["id"]) == [
        {"subnet_id": v4["id"], "ip_address": "10.0.0.9"},
        {"subnet_id": s["id"], "ip_address": eui64("2001:db8:2::", p["mac_address"])}]
    # A SLAAC subnet added later gives every port its address; deleting it
    # takes them away again (ports do not hold it).
    later = mksub(api, net, "2001:db8:3::/64", ipv6_address_mode="slaac").json["subnet"]
    got = api.get(f"/v2.0/ports/{p['id']}").json["port"]["fixed_ips"]
    assert {"subnet_id": later["id"],
            "ip_address": eui64("2001:db8:3::", p["mac_address"])} in got
    assert api.delete(f"/v2.0/subnets/{later['id']}").status == 204
    got = api.get(f"/v2.0/ports/{p['id']}").json["port"]["fixed_ips"]
    assert sorted(ip["subnet_id"] for ip in got) == sorted([v4["id"], s["id"]])


@pytest.mark.parametrize("body,status", [
    ({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"}, 400),
    ({"ipv6_ra_mode": "bogus"}, 400),
    ({"ipv6_address_mode": 5}, 400),
    ({"ipv6_address_mode": "slaac", "enable_dhcp": False}, 400),
    ({"ipv6_address_mode": "slaac", "cidr": "2001:db8:1::/80"}, 400),
    ({"cidr": "2001:db8:1::1/64"}, 400),
    ({"cidr": "::/64"}, 400),
    ({"cidr": "ff00::/64"}, 400),
    ({"cidr": "2001:db8:1::/127"}, 400),
    ({"gateway_ip": "10.0.0.1"}, 400),
    ({"gateway_ip": "2001:db8:2::1"}, 400),
    ({"dns_nameservers": ["8.8.8.8"]}, 400),
    ({"host_routes": [{"destination": "10.0.0.0/8", "nexthop": "2001:db8:1::9"}]}, 400),
    ({"allocation_pools": [{"start": "2001:db8:1::", "end": "2001:db8:1::9"}]}, 400),
    ({"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}]}, 400),
])
def test_bad_ipv6_subnets_refused(api, body, status):
    net = mknet(api)
    assert_error(mksub(api, net, **body), status)
    assert subnets(api) == []


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6-stateful"])
def test_ipv6_modes_refused_on_ipv4(api, mode):
    net = mknet(api)
    assert_error(mksub(api, net, "10.0.0.0/24", 4, ipv6_ra_mode=mode), 400)
    assert_error(mksub(api, net, "10.0.0.0/24", 4, ipv6_address_mode=mode), 400)
    assert subnets(api) == []


def test_ipv6_mode_rules_on_update(api):
    net = mknet(api)
    s = mksub(api, net, ipv6_address_mode="dhcpv6-stateless").json["subnet"]
    r = api.put(f"/v2.0/subnets/{s['id']}", {"subnet": {"enable_dhcp": False}})
    assert_error(r, 400)
    assert_error(api.put(f"/v2.0/subnets/{s['id']}", {"subnet": {"ipv6_ra_mode": "slaac"}}),
                 400)
    got = api.get(f"/v2.0/subnets/{s['id']}").json["subnet"]
    assert got["enable_dhcp"] is True and got["revision_number"] == s["revision_number"]
    # Gateway, pools, DNS and routes of IPv6 subnets update like IPv4's.
    r = api.put(f"/v2.0/subnets/{s['id']}", {"subnet": {
        "gateway_ip": "2001:db8:1::fe", "dns_nameservers": ["2001:db8::53"],
        "allocation_pools": [{"start": "2001:db8:1::10", "end": "2001:db8:1::20"}]}})
    assert r.status == 200, r
    assert r.json["subnet"]["gateway_ip"] == "2001:db8:1::fe"
    assert r.json["subnet"]["allocation_pools"] == [{"start": "2001:db8:1::10",
                                                     "end": "2001:db8:1::20"}]


def test_overlap_only_within_one_version(api):
    net = mknet(api)
    assert mksub(api, net, "2001:db8::/48").status == 201
    assert mksub(api, net, "10.0.0.0/24", 4).status == 201
    assert_error(mksub(api, net, "2001:db8:0:5::/64"), 400)
    assert len(subnets(api)) == 2


def test_allowed_address_pairs_ipv6(api):
    net = mknet(api)
    mksub(api, net)
    p = api_create(api, "port", {"network_id": net["id"], "allowed_address_pairs": [
        {"ip_address": "2001:db8:1::/64"}, {"ip_address": "2001:db8:9::5"}]})
    assert [a["ip_address"] for a in p["allowed_address_pairs"]] == [
        "2001:db8:1::/64", "2001:db8:9::5"]
    assert_error(api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                   "allowed_address_pairs": [
                                                       {"ip_address": "2001:db8::/129"}]}}),
                 400)


def test_router_ipv6_interfaces_routes_and_gateway(api, admin):
    net = mknet(api)
    a = mksub(api, net, "2001:db8:a::/64", ipv6_ra_mode="slaac",
              ipv6_address_mode="slaac").json["subnet"]
    b = mksub(api, net, "2001:db8:b::/64").json["subnet"]
    v4 = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.1.0.0/24",
                                    "ip_version": 4})
    router = api_create(api, "router", {"name": "r6"})
    rid = router["id"]
    add = f"/v2.0/routers/{rid}/add_router_interface"
    ia = api.put(add, {"subnet_id": a["id"]})
    assert ia.status == 200 and ia.json["subnet_id"] == a["id"], ia
    # The second IPv6 subnet of the network joins the same port.
    ib = api.put(add, {"subnet_id": b["id"]})
    assert ib.status == 200 and ib.json["port_id"] == ia.json["port_id"], ib
    assert ib.json["subnet_id"] == b["id"]
    port = api.get(f"/v2.0/ports/{ia.json['port_id']}").json["port"]
    assert sorted(ip["ip_address"] for ip in port["fixed_ips"]) == [
        "2001:db8:a::1", "2001:db8:b::1"]
    # IPv4 gets its own interface.
    i4 = api.put(add, {"subnet_id": v4["id"]})
    assert i4.status == 200 and i4.json["port_id"] != ia.json["port_id"], i4
    assert_error(api.put(add, {"subnet_id": b["id"]}), 400)
    # Routes over IPv6 next hops on the interfaces; mixed families refused.
    r = api.put(f"/v2.0/routers/{rid}", {"router": {"routes": [
        {"destination": "2001:db8:77::/48", "nexthop": "2001:db8:b::99"}]}})
    assert r.status == 200 and r.json["router"]["routes"] == [
        {"destination": "2001:db8:77::/48", "nexthop": "2001:db8:b::99"}], r
    assert_error(api.put(f"/v2.0/routers/{rid}", {"router": {"routes": [
        {"destination": "10.9.0.0/16", "nexthop": "2001:db8:b::99"}]}}), 400)
    assert_error(api.put(f"/v2.0/routers/{rid}", {"router": {"routes": [
        {"destination": "2001:db8:78::/48", "nexthop": "2001:db8:c::1"}]}}), 400)
    api.put(f"/v2.0/routers/{rid}", {"router": {"routes": []}})
    # Removing one IPv6 subnet keeps the port for the other.
    rm = api.put(f"/v2.0/routers/{rid}/remove_router_interface", {"subnet_id": a["id"]})
    assert rm.status == 200 and rm.json["subnet_id"] == a["id"], rm
    port = api.get(f"/v2.0/ports/{ia.json['port_id']}").json["port"]
    assert [ip["ip_address"] for ip in port["fixed_ips"]] == ["2001:db8:b::1"]
    rm = api.put(f"/v2.0/routers/{rid}/remove_router_interface", {"subnet_id": b["id"]})
    assert rm.status == 200, rm
    assert api.get(f"/v2.0/ports/{ia.json['port_id']}").status == 404
    # A dual-stack external network: the gateway gets both, floating IPs
    # only IPv4.
    ext = api_create(admin, "network", {"name": "ext", "router:external": True})
    e4 = api_create(admin, "subnet", {"network_id": ext["id"], "cidr": "172.16.0.0/24",
                                      "ip_version": 4})
    e6 = api_create(admin, "subnet", {"network_id": ext["id"], "cidr": "2001:db8:e::/64",
                                      "ip_version": 6})
    r = api.put(f"/v2.0/routers/{rid}", {"router": {"external_gateway_info": {
        "network_id": ext["id"]}}})
    assert r.status == 200, r
    gw = r.json["router"]["external_gateway_info"]["external_fixed_ips"]
    assert sorted(ip["subnet_id"] for ip in gw) == sorted([e4["id"], e6["id"]])
    fip = api_create(api, "floatingip", {"floating_network_id": ext["id"]})
    assert fip["floating_ip_address"].startswith("172.16.0.")
    fport = admin.get(f"/v2.0/ports?device_id={fip['id']}").json["ports"][0]
    assert [ip["subnet_id"] for ip in fport["fixed_ips"]] == [e4["id"]]


def test_ipv6_subnet_pool(api):
    r = api.post("/v2.0/subnetpools", {"subnetpool": {
        "name": "p6", "prefixes": ["2001:db8:100::/48"], "default_prefixlen": 64}})
    assert r.status == 201, r
    pool = r.json["subnetpool"]
    assert pool["ip_version"] == 6 and pool["min_prefixlen"] == "64"
    assert pool["max_prefixlen"] == "128"
    net = mknet(api)
    a = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 6,
                                              "subnetpool_id": pool["id"]}})
    assert a.status == 201 and a.json["subnet"]["cidr"] == "2001:db8:100::/64", a
    b = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 6,
                                              "subnetpool_id": pool["id"]}})
    assert b.status == 201 and b.json["subnet"]["cidr"] == "2001:db8:100:1::/64", b
    # Version mismatches and mixed prefixes are refused.
    assert_error(api.post("/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "ip_version": 4, "subnetpool_id": pool["id"]}}), 400)
    assert_error(api.put(f"/v2.0/subnetpools/{pool['id']}/add_prefixes",
                         {"prefixes": ["10.0.0.0/8"]}), 400)
    assert_error(api.post("/v2.0/subnetpools", {"subnetpool": {
        "name": "mixed", "prefixes": ["2001:db8::/48", "10.0.0.0/8"]}}), 400)
    r = api.put(f"/v2.0/subnetpools/{pool['id']}/add_prefixes",
                {"prefixes": ["2001:db8:200::/48"]})
    assert r.status == 200 and sorted(r.json["prefixes"]) == [
        "2001:db8:100::/48", "2001:db8:200::/48"], r
    assert len(api.get("/v2.0/subnetpools").json["subnetpools"]) == 1

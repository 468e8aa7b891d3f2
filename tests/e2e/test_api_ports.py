"""Ports: attributes and defaults, MAC generation, fixed IPs and IPAM, binding."""
import ipaddress
import re

import pytest

from conftest import Client, api_create, assert_error

MAC = re.compile(r"^fa:16:3e(:[0-9a-f]{2}){3}$")
ADMIN_ONLY = ("binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile")
MISSING = "3b1f1d5a-5c60-4a35-a0d7-4a1d7a2a6f01"


@pytest.fixture
def net(api):
    return api_create(api, "network", {"name": "n"})


@pytest.fixture
def sub(api, net):
    return api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                      "ip_version": 4})


def mkport(api, net, **kw):
    body = {"network_id": net["id"]}
    body.update(kw)
    return api.post("/v2.0/ports", {"port": body})


def ports(client):
    return client.get("/v2.0/ports").json["ports"]


def test_port_defaults(api, net, sub):
    r = mkport(api, net, name="p")
    assert r.status == 201, r
    p = r.json["port"]
    assert p["name"] == "p" and p["description"] == ""
    assert p["network_id"] == net["id"]
    assert MAC.match(p["mac_address"]), p
    assert len(p["fixed_ips"]) == 1
    fip = p["fixed_ips"][0]
    assert fip["subnet_id"] == sub["id"]
    assert ipaddress.ip_address(fip["ip_address"]) in ipaddress.ip_network("10.0.0.0/24")
    assert fip["ip_address"] not in ("10.0.0.0", "10.0.0.1", "10.0.0.255")
    assert p["status"] == "DOWN"
    assert p["admin_state_up"] is True
    assert p["device_id"] == "" and p["device_owner"] == ""
    assert p["port_security_enabled"] is True
    assert p["allowed_address_pairs"] == []
    assert isinstance(p["security_groups"], list)
    assert p["project_id"] == "p1" and p["tenant_id"] == "p1"
    assert p["tags"] == [] and isinstance(p["revision_number"], int)
    assert p["created_at"] and p["updated_at"]
    # Neutron's policy shows binding:vnic_type to the owner, the rest of
    # binding:* to admins only.
    for k in ADMIN_ONLY:
        assert k not in p, p
    assert p.get("binding:vnic_type", "normal") == "normal"
    assert api.get(f"/v2.0/ports/{p['id']}").json["port"] == p


def test_port_binding_attributes_for_admin(api, admin, net, sub):
    p = mkport(api, net).json["port"]
    a = admin.get(f"/v2.0/ports/{p['id']}").json["port"]
    assert a["binding:host_id"] == ""
    assert a["binding:vif_type"] == "unbound"
    assert a["binding:vif_details"] == {}
    assert a["binding:vnic_type"] == "normal"
    r = admin.put(f"/v2.0/ports/{p['id']}", {"port": {"binding:host_id": "node-1"}})
    assert r.status == 200, r
    assert r.json["port"]["binding:host_id"] == "node-1"
    assert admin.get(f"/v2.0/ports/{p['id']}").json["port"]["binding:host_id"] == "node-1"
    # Still hidden from the tenant.
    t = api.get(f"/v2.0/ports/{p['id']}").json["port"]
    assert not [k for k in ADMIN_ONLY if k in t], t


def test_tenant_cannot_set_binding(api, net, sub):
    assert_error(mkport(api, net, **{"binding:host_id": "node-1"}), 403)
    assert ports(api) == []
    p = mkport(api, net).json["port"]
    assert_error(api.put(f"/v2.0/ports/{p['id']}", {"port": {"binding:host_id": "node-1"}}), 403)
    assert_error(api.put(f"/v2.0/ports/{p['id']}",
                         {"port": {"binding:profile": {"a": "b"}}}), 403)


def test_port_without_subnet_has_no_address(api, net):
    p = mkport(api, net).json["port"]
    assert p["fixed_ips"] == []


def test_port_with_empty_fixed_ips_gets_no_address(api, net, sub):
    p = mkport(api, net, fixed_ips=[]).json["port"]
    assert p["fixed_ips"] == []


def test_generated_macs_unique(api, net):
    macs = {mkport(api, net).json["port"]["mac_address"] for _ in range(12)}
    assert len(macs) == 12
    for m in macs:
        assert MAC.match(m), m


def test_base_mac_config(make_server):
    s = make_server(config="base_mac = fa:16:3f\n").start()
    api = Client(s.url, "p1")
    net = api_create(api, "network", {"name": "n"})
    p = api_create(api, "port", {"network_id": net["id"]})
    assert re.match(r"^fa:16:3f(:[0-9a-f]{2}){3}$", p["mac_address"]), p


def test_explicit_mac_and_mac_in_use(api, net):
    p = mkport(api, net, mac_address="fa:16:3e:00:00:01").json["port"]
    assert p["mac_address"] == "fa:16:3e:00:00:01"
    assert_error(mkport(api, net, mac_address="fa:16:3e:00:00:01"), 409, "MacAddressInUse")
    assert_error(mkport(api, net, mac_address="FA:16:3E:00:00:01"), 409, "MacAddressInUse")
    assert len(ports(api)) == 1
    # Another network may reuse it.
    other = api_create(api, "network", {"name": "o"})
    assert mkport(api, other, mac_address="fa:16:3e:00:00:01").status == 201


@pytest.mark.parametrize("mac", ["zz:16:3e:00:00:01", "fa:16:3e:00:00", "fa16.3e00.0001x",
                                 "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", 12])
def test_bad_mac_refused(api, net, mac):
    assert_error(mkport(api, net, mac_address=mac), 400)
    assert ports(api) == []


def test_fixed_ip_by_subnet(api, net, sub):
    p = mkport(api, net, fixed_ips=[{"subnet_id": sub["id"]}]).json["port"]
    assert p["fixed_ips"][0]["subnet_id"] == sub["id"]
    assert p["fixed_ips"][0]["ip_address"].startswith("10.0.0.")


def test_fixed_ip_by_address(api, net, sub):
    p = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.77"}]).json["port"]
    assert p["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.77"}]
    p = mkport(api, net, fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.0.0.78"}]).json["port"]
    assert p["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.78"}]


def test_fixed_ip_outside_pool_but_inside_cidr(api, net):
    """Allocation pools only limit automatic allocation (as in Neutron)."""
    s = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
                                   "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}]})
    p = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.200"}])
    assert p.status == 201, p
    assert p.json["port"]["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "10.0.0.200"}]
    auto = mkport(api, net).json["port"]
    ip = ipaddress.ip_address(auto["fixed_ips"][0]["ip_address"])
    assert ipaddress.ip_address("10.0.0.10") <= ip <= ipaddress.ip_address("10.0.0.20")


def test_two_subnets_choose_by_subnet_or_address(api, net, sub):
    s2 = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.1.0/24",
                                    "ip_version": 4})
    p = mkport(api, net, fixed_ips=[{"subnet_id": s2["id"]}]).json["port"]
    assert p["fixed_ips"][0]["subnet_id"] == s2["id"]
    assert p["fixed_ips"][0]["ip_address"].startswith("10.0.1.")
    p = mkport(api, net, fixed_ips=[{"ip_address": "10.0.1.50"}]).json["port"]
    assert p["fixed_ips"] == [{"subnet_id": s2["id"], "ip_address": "10.0.1.50"}]
    p = mkport(api, net, fixed_ips=[{"subnet_id": sub["id"]}, {"subnet_id": s2["id"]}]).json["port"]
    assert sorted(f["subnet_id"] for f in p["fixed_ips"]) == sorted([sub["id"], s2["id"]])
    p = mkport(api, net).json["port"]
    assert len(p["fixed_ips"]) == 1


def test_address_taken_twice(api, net, sub):
    first = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.50"}])
    assert first.status == 201, first
    r = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.50"}])
    assert_error(r, 409, "IpAddressAlreadyAllocated")
    assert [p["id"] for p in ports(api)] == [first.json["port"]["id"]]
    # Automatic allocation never hands out an explicitly taken address.
    for _ in range(5):
        p = mkport(api, net).json["port"]
        assert p["fixed_ips"][0]["ip_address"] != "10.0.0.50"


def test_same_address_twice_in_one_request(api, net, sub):
    r = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.50"}, {"ip_address": "10.0.0.50"}])
    assert r.status in (400, 409), r
    assert_error(r, r.status)
    assert ports(api) == []


@pytest.mark.parametrize("ip", ["10.0.1.5", "10.0.0.0", "10.0.0.255", "10.0.0.256", "bogus",
                                "2001:db8::5"])
def test_bad_fixed_address_refused(api, net, sub, ip):
    assert_error(mkport(api, net, fixed_ips=[{"ip_address": ip}]), 400)
    assert ports(api) == []


def test_fixed_ip_subnet_of_other_network_refused(api, net, sub):
    other = api_create(api, "network", {"name": "o"})
    osub = api_create(api, "subnet", {"network_id": other["id"], "cidr": "10.9.0.0/24",
                                      "ip_version": 4})
    assert_error(mkport(api, net, fixed_ips=[{"subnet_id": osub["id"]}]), 400)
    r = mkport(api, net, fixed_ips=[{"subnet_id": MISSING}])
    assert r.status in (400, 404), r
    assert_error(r, r.status)
    assert ports(api) == []


def test_port_on_missing_network(api):
    assert_error(api.post("/v2.0/ports", {"port": {"network_id": MISSING}}), 404, "NetworkNotFound")
    assert_error(api.post("/v2.0/ports", {"port": {"name": "no-net"}}), 400)


def test_exhaustion_and_release(api, net):
    s = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/29",
                                   "ip_version": 4})
    got = [mkport(api, net).json["port"] for _ in range(5)]
    addrs = sorted(p["fixed_ips"][0]["ip_address"] for p in got)
    assert addrs == [f"10.0.0.{i}" for i in range(2, 7)]
    r = mkport(api, net)
    assert_error(r, 409, "IpAddressGenerationFailure")
    r = mkport(api, net, fixed_ips=[{"subnet_id": s["id"]}])
    assert_error(r, 409, "IpAddressGenerationFailure")
    assert len(ports(api)) == 5
    # Releasing one makes exactly that address available again.
    victim = got[2]
    assert api.delete(f"/v2.0/ports/{victim['id']}").status == 204
    again = mkport(api, net).json["port"]
    assert again["fixed_ips"][0]["ip_address"] == victim["fixed_ips"][0]["ip_address"]
    assert_error(mkport(api, net), 409, "IpAddressGenerationFailure")


def test_released_address_reusable_explicitly(api, net, sub):
    p = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.9"}]).json["port"]
    assert api.delete(f"/v2.0/ports/{p['id']}").status == 204
    r = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.9"}])
    assert r.status == 201, r


def test_update_fixed_ips_moves_address(api, net, sub):
    p = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.10"}]).json["port"]
    r = api.put(f"/v2.0/ports/{p['id']}", {"port": {"fixed_ips": [{"ip_address": "10.0.0.11"}]}})
    assert r.status == 200, r
    assert r.json["port"]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.11"}]
    assert r.json["port"]["revision_number"] == p["revision_number"] + 1
    # The old address is free, the new one is taken.
    assert mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.10"}]).status == 201
    assert_error(mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.11"}]), 409,
                 "IpAddressAlreadyAllocated")


def test_update_fixed_ips_to_taken_address_changes_nothing(api, net, sub):
    a = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.10"}]).json["port"]
    b = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.11"}]).json["port"]
    r = api.put(f"/v2.0/ports/{b['id']}", {"port": {"fixed_ips": [{"ip_address": "10.0.0.10"}]}})
    assert_error(r, 409, "IpAddressAlreadyAllocated")
    assert api.get(f"/v2.0/ports/{b['id']}").json["port"] == b
    assert api.get(f"/v2.0/ports/{a['id']}").json["port"] == a


def test_update_port_attributes(api, net, sub):
    p = mkport(api, net).json["port"]
    r = api.put(f"/v2.0/ports/{p['id']}", {"port": {
        "name": "vm1-eth0", "device_id": "vm-1", "device_owner": "compute:nova",
        "admin_state_up": False}})
    assert r.status == 200, r
    u = r.json["port"]
    assert u["name"] == "vm1-eth0" and u["device_id"] == "vm-1"
    assert u["device_owner"] == "compute:nova" and u["admin_state_up"] is False
    assert u["mac_address"] == p["mac_address"] and u["fixed_ips"] == p["fixed_ips"]
    assert u["revision_number"] == p["revision_number"] + 1
    assert u["status"] == "DOWN"
    assert api.get(f"/v2.0/ports/{p['id']}").json["port"] == u


def test_port_read_only_and_immutable(api, net, sub):
    assert_error(mkport(api, net, status="ACTIVE"), 400)
    p = mkport(api, net).json["port"]
    other = api_create(api, "network", {"name": "o"})
    for body in ({"network_id": other["id"]}, {"status": "ACTIVE"}, {"id": MISSING}):
        assert_error(api.put(f"/v2.0/ports/{p['id']}", {"port": body}), 400)
    assert api.get(f"/v2.0/ports/{p['id']}").json["port"] == p


def test_allowed_address_pairs(api, net, sub):
    p = mkport(api, net, allowed_address_pairs=[
        {"ip_address": "10.0.0.200"}, {"ip_address": "192.168.5.0/24",
                                       "mac_address": "fa:16:3e:aa:bb:cc"}]).json["port"]
    pairs = p["allowed_address_pairs"]
    assert {"ip_address": "10.0.0.200", "mac_address": p["mac_address"]} in pairs
    assert {"ip_address": "192.168.5.0/24", "mac_address": "fa:16:3e:aa:bb:cc"} in pairs
    assert len(pairs) == 2
    assert_error(mkport(api, net, allowed_address_pairs=[{"ip_address": "nope"}]), 400)
    assert_error(mkport(api, net, allowed_address_pairs=[{"mac_address": "fa:16:3e:aa:bb:cc"}]), 400)
    eleven = [{"ip_address": f"10.1.1.{i}"} for i in range(1, 12)]
    assert_error(mkport(api, net, allowed_address_pairs=eleven), 400)
    assert len(ports(api)) == 1


def test_port_security_disabled(api, net, sub):
    p = mkport(api, net, port_security_enabled=False, security_groups=[]).json["port"]
    assert p["port_security_enabled"] is False
    assert p["security_groups"] == []
    assert_error(mkport(api, net, port_security_enabled="no"), 400)


def test_status_stays_down(api, net, sub):
    p = mkport(api, net, device_owner="compute:nova", device_id="vm").json["port"]
    assert p["status"] == "DOWN"
    assert api.get(f"/v2.0/ports/{p['id']}").json["port"]["status"] == "DOWN"


def test_port_not_found(api):
    assert_error(api.get(f"/v2.0/ports/{MISSING}"), 404, "PortNotFound")
    assert_error(api.put(f"/v2.0/ports/{MISSING}", {"port": {"name": "x"}}), 404, "PortNotFound")
    assert_error(api.delete(f"/v2.0/ports/{MISSING}"), 404, "PortNotFound")


def test_delete_port(api, net, sub):
    p = mkport(api, net).json["port"]
    r = api.delete(f"/v2.0/ports/{p['id']}")
    assert r.status == 204 and r.text == "", r
    assert_error(api.get(f"/v2.0/ports/{p['id']}"), 404, "PortNotFound")
    assert ports(api) == []


def test_mac_freed_on_delete(api, net):
    p = mkport(api, net, mac_address="fa:16:3e:00:00:09").json["port"]
    assert api.delete(f"/v2.0/ports/{p['id']}").status == 204
    assert mkport(api, net, mac_address="fa:16:3e:00:00:09").status == 201


def test_update_fixed_ips_empty_releases(api, net, sub):
    p = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.20"}]).json["port"]
    r = api.put(f"/v2.0/ports/{p['id']}", {"port": {"fixed_ips": []}})
    assert r.status == 200, r
    assert r.json["port"]["fixed_ips"] == []
    assert mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.20"}]).status == 201


def test_fixed_ip_subnet_and_address_mismatch(api, net, sub):
    s2 = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.1.0/24",
                                    "ip_version": 4})
    r = mkport(api, net, fixed_ips=[{"subnet_id": s2["id"], "ip_address": "10.0.0.5"}])
    assert_error(r, 400)
    assert ports(api) == []


def test_two_addresses_from_one_subnet(api, net, sub):
    p = mkport(api, net, fixed_ips=[{"ip_address": "10.0.0.30"}, {"ip_address": "10.0.0.31"}])
    assert p.status == 201, p
    assert sorted(f["ip_address"] for f in p.json["port"]["fixed_ips"]) == ["10.0.0.30", "10.0.0.31"]


def test_same_address_on_overlapping_subnets_of_other_networks(server, api, net, sub):
    """IPAM is per subnet: the same address in another network (or project)
    with the same CIDR is a different address."""
    other = api_create(api, "network", {"name": "o"})
    api_create(api, "subnet", {"network_id": other["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    p2 = Client(server.url, "p2")
    n2 = api_create(p2, "network", {"name": "p2n"})
    api_create(p2, "subnet", {"network_id": n2["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    for client, network in ((api, net), (api, other), (p2, n2)):
        r = client.post("/v2.0/ports", {"port": {"network_id": network["id"],
                                                 "fixed_ips": [{"ip_address": "10.0.0.5"}]}})
        assert r.status == 201, r
    assert_error(mkport(api, other, fixed_ips=[{"ip_address": "10.0.0.5"}]), 409,
                 "IpAddressAlreadyAllocated")


def test_extra_dhcp_opts(api, net, sub):
    """extra_dhcp_opt: options are checked (name known to the DHCP
    responder, value of its type), shown with their ip_version, merged on
    update as Neutron does (same name and version replaced, null removes,
    others kept), and each change bumps the revision."""
    opts = [{"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
            {"opt_name": "tftp-server", "opt_value": "123.123.123.123", "ip_version": 4},
            {"opt_name": "server-ip-address", "opt_value": "123.123.123.45"},
            {"opt_name": "tftp-server", "opt_value": "2015::dead", "ip_version": 6}]
    p = api_create(api, "port", {"network_id": net["id"], "extra_dhcp_opts": opts})
    got = sorted((o["opt_name"], o["opt_value"], o["ip_version"]) for o in p["extra_dhcp_opts"])
    assert got == [("bootfile-name", "pxelinux.0", 4), ("server-ip-address", "123.123.123.45", 4),
                   ("tftp-server", "123.123.123.123", 4), ("tftp-server", "2015::dead", 6)]
    url = f"/v2.0/ports/{p['id']}"
    assert len(api.get(url).json["port"]["extra_dhcp_opts"]) == 4
    listed = [x for x in api.get("/v2.0/ports").json["ports"] if x["id"] == p["id"]]
    assert len(listed[0]["extra_dhcp_opts"]) == 4
    r = api.put(url, {"port": {"extra_dhcp_opts": [
        {"opt_name": "bootfile-name", "opt_value": "grub.efi"},
        {"opt_name": "server-ip-address", "opt_value": None},
        {"opt_name": "ntp-server", "opt_value": "192.0.2.1"}]}})
    assert r.status == 200, r
    port = r.json["port"]
    assert port["revision_number"] > p["revision_number"]
    got = sorted((o["opt_name"], o["opt_value"], o["ip_version"]) for o in port["extra_dhcp_opts"])
    assert got == [("bootfile-name", "grub.efi", 4), ("ntp-server", "192.0.2.1", 4),
                   ("tftp-server", "123.123.123.123", 4), ("tftp-server", "2015::dead", 6)]
    # Refused, changing nothing.
    for bad in ([{"opt_name": "no-such-option", "opt_value": "x"}],
                [{"opt_name": "ntp-server", "opt_value": "ntp.example.org"}],
                [{"opt_name": "51", "opt_value": "60"}],
                [{"opt_name": "mtu", "opt_value": "20"}],
                [{"opt_name": "", "opt_value": "x"}],
                [{"opt_name": "bootfile-name", "opt_value": "x", "ip_version": 5}],
                [{"opt_name": "bootfile-name", "opt_value": "x", "extra": 1}],
                [{"opt_name": "bootfile-name", "opt_value": 7}],
                "bootfile-name"):
        assert_error(api.put(url, {"port": {"extra_dhcp_opts": bad}}), 400)
        assert_error(api.post("/v2.0/ports", {"port": {
            "network_id": net["id"], "extra_dhcp_opts": bad}}), 400)
    assert_error(api.post("/v2.0/ports", {"port": {"network_id": net["id"], "extra_dhcp_opts": [
        {"opt_name": "ntp-server", "opt_value": "192.0.2.1"},
        {"opt_name": "ntp-server", "opt_value": "192.0.2.2"}]}}), 400)
    assert sorted(o["opt_value"] for o in api.get(url).json["port"]["extra_dhcp_opts"]) == [
        "123.123.123.123", "192.0.2.1", "2015::dead", "grub.efi"]
    # An IPv6 address as the value of an option given without ip_version (as
    # Tempest's IPv6 test does) is kept for DHCPv6, not refused.
    r = api.put(url, {"port": {"extra_dhcp_opts": [
        {"opt_name": "server-ip-address", "opt_value": "2015::badd"}]}})
    assert r.status == 200, r
    assert {"opt_name": "server-ip-address", "opt_value": "2015::badd",
            "ip_version": 4} in r.json["port"]["extra_dhcp_opts"]
    # A new port without options has an empty list.
    assert api_create(api, "port", {"network_id": net["id"]})["extra_dhcp_opts"] == []
    assert "extra_dhcp_opt" in [e["alias"] for e in api.get("/v2.0/extensions").json[
        "extensions"]]


def test_dns_name_domain_and_assignment(api, net, sub):
    """dns-integration, dns-domain-ports: dns_name and dns_domain on ports
    (checked as DNS names), dns_domain on networks, dns_assignment from the
    fixed IPs (dns_name, else host-<address>) in the server's domain."""
    p = api_create(api, "port", {"network_id": net["id"]})
    ip = p["fixed_ips"][0]["ip_address"]
    assert p["dns_name"] == "" and p["dns_domain"] == ""
    host = "host-" + ip.replace(".", "-")
    assert p["dns_assignment"] == [{"hostname": host, "ip_address": ip,
                                    "fqdn": f"{host}.openstacklocal."}]
    url = f"/v2.0/ports/{p['id']}"
    r = api.put(url, {"port": {"dns_name": "web-1", "dns_domain": "example.org."}})
    assert r.status == 200, r
    port = r.json["port"]
    assert (port["dns_name"], port["dns_domain"]) == ("web-1", "example.org.")
    assert port["dns_assignment"] == [{"hostname": "web-1", "ip_address": ip,
                                       "fqdn": "web-1.openstacklocal."}]
    listed = api.get(f"/v2.0/ports?id={p['id']}").json["ports"][0]
    assert listed["dns_assignment"][0]["hostname"] == "web-1"
    shown = api.get(url + "?fields=id&fields=dns_name").json["port"]
    assert shown == {"id": p["id"], "dns_name": "web-1"}
    for bad in ({"dns_name": "-web"}, {"dns_name": "a_b"}, {"dns_name": "x" * 64},
                {"dns_name": "a..b"}, {"dns_domain": "example.123"}, {"dns_name": 7}):
        assert_error(api.put(url, {"port": bad}), 400)
        assert_error(api.post("/v2.0/ports", {"port": dict(bad, network_id=net["id"])}), 400)
    assert api.get(url).json["port"]["dns_name"] == "web-1"
    # Networks: dns_domain, set, changed (each change a revision), cleared.
    n = api_create(api, "network", {"name": "d", "dns_domain": "my-domain.org."})
    assert n["dns_domain"] == "my-domain.org."
    r = api.put(f"/v2.0/networks/{n['id']}", {"network": {"dns_domain": "your-domain.org."}})
    assert r.status == 200 and r.json["network"]["dns_domain"] == "your-domain.org."
    assert r.json["network"]["revision_number"] > n["revision_number"]
    assert_error(api.put(f"/v2.0/networks/{n['id']}", {"network": {"dns_domain": "a b"}}), 400)
    r = api.put(f"/v2.0/networks/{n['id']}", {"network": {"dns_domain": ""}})
    assert r.status == 200 and r.json["network"]["dns_domain"] == ""
    aliases = [e["alias"] for e in api.get("/v2.0/extensions").json["extensions"]]
    assert "dns-integration" in aliases and "dns-domain-ports" in aliases


def test_dns_domain_config(make_server):
    server = make_server(config="dns_domain = cloud.example.\n")
    server.start()
    api = Client(server.url, "p1")
    net = api_create(api, "network", {"name": "n"})
    api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4})
    p = api_create(api, "port", {"network_id": net["id"], "dns_name": "db"})
    assert p["dns_assignment"][0]["fqdn"] == "db.cloud.example."

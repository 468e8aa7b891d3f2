"""A refused write leaves no trace: no half-done allocation, no feed change."""
import json

import pytest

from conftest import api_create, assert_error


def feed_head(admin):
    lines = [json.loads(l) for l in admin.get("/v2.0/lepton/watch?since=0&follow=false").text.splitlines()
             if l.strip()]
    return lines[0]["revision"]


@pytest.fixture
def setup(api):
    net = api_create(api, "network", {"name": "n"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    taken = api_create(api, "port", {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.50"}],
                                     "mac_address": "fa:16:3e:00:00:50"})
    return net, sub, taken


def test_failed_port_create_releases_everything(api, admin, setup):
    net, sub, taken = setup
    rev = feed_head(admin)
    # First address free, second taken: nothing may stay allocated.
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:51",
                                          "fixed_ips": [{"ip_address": "10.0.0.60"},
                                                        {"ip_address": "10.0.0.50"}]}})
    assert_error(r, 409, "IpAddressAlreadyAllocated")
    # MAC taken, address free.
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:50",
                                          "fixed_ips": [{"ip_address": "10.0.0.61"}]}})
    assert_error(r, 409, "MacAddressInUse")
    assert feed_head(admin) == rev
    assert [p["id"] for p in api.get("/v2.0/ports").json["ports"]] == [taken["id"]]
    # Everything the failed requests touched is still free.
    p = api_create(api, "port", {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:51",
                                 "fixed_ips": [{"ip_address": "10.0.0.60"}, {"ip_address": "10.0.0.61"}]})
    assert sorted(f["ip_address"] for f in p["fixed_ips"]) == ["10.0.0.60", "10.0.0.61"]


def test_failed_port_update_keeps_old_addresses(api, admin, setup):
    net, sub, taken = setup
    p = api_create(api, "port", {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.70"}]})
    rev = feed_head(admin)
    r = api.put(f"/v2.0/ports/{p['id']}", {"port": {"name": "x", "fixed_ips": [
        {"ip_address": "10.0.0.71"}, {"ip_address": "10.0.0.50"}]}})
    assert_error(r, 409, "IpAddressAlreadyAllocated")
    assert api.get(f"/v2.0/ports/{p['id']}").json["port"] == p
    assert feed_head(admin) == rev
    # 10.0.0.70 is still held by p; 10.0.0.71 was not kept.
    assert_error(api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                   "fixed_ips": [{"ip_address": "10.0.0.70"}]}}),
                 409, "IpAddressAlreadyAllocated")
    assert api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                             "fixed_ips": [{"ip_address": "10.0.0.71"}]}}).status == 201


def test_failed_network_delete_keeps_dhcp_port(api, admin, setup):
    net, sub, taken = setup
    dhcp = api_create(admin, "port", {"network_id": net["id"], "device_owner": "network:dhcp",
                                      "project_id": "p1"})
    rev = feed_head(admin)
    assert_error(api.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    assert admin.get(f"/v2.0/ports/{dhcp['id']}").json["port"]["fixed_ips"] == dhcp["fixed_ips"]
    assert api.get(f"/v2.0/subnets/{sub['id']}").json["subnet"] == sub
    assert feed_head(admin) == rev


def test_failed_subnet_delete_keeps_dhcp_address(api, admin, setup):
    net, sub, taken = setup
    dhcp = api_create(admin, "port", {"network_id": net["id"], "device_owner": "network:dhcp",
                                      "project_id": "p1"})
    rev = feed_head(admin)
    assert_error(api.delete(f"/v2.0/subnets/{sub['id']}"), 409, "SubnetInUse")
    assert admin.get(f"/v2.0/ports/{dhcp['id']}").json["port"]["fixed_ips"] == dhcp["fixed_ips"]
    assert feed_head(admin) == rev


def test_failed_network_create_leaves_no_segment(make_server):
    from conftest import Client
    s = make_server(config="vni_ranges = 7000:7000\n").start()
    admin = Client(s.url, "admin-project", "admin")
    api_create(admin, "network", {"name": "only"})
    rev = feed_head(admin)
    assert admin.post("/v2.0/networks", {"network": {"name": "no-vni"}}).status in (409, 503)
    assert admin.post("/v2.0/networks", {"network": {"provider:network_type": "vxlan",
                                                     "provider:segmentation_id": 7000}}).status == 409
    assert feed_head(admin) == rev
    assert len(admin.get("/v2.0/networks").json["networks"]) == 1
    segs = admin.get("/v2.0/segments")
    if segs.status == 200:
        assert len(segs.json["segments"]) == 1, segs.json


def test_failed_subnet_create_leaves_nothing(api, admin, setup):
    net, sub, taken = setup
    rev = feed_head(admin)
    assert_error(api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/25",
                                                       "ip_version": 4}}), 400)
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["subnets"] == [sub["id"]]
    assert feed_head(admin) == rev

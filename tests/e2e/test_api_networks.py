"""Networks: attributes and defaults, CRUD, VNI allocation, MTU, deletion rules."""
import re

import pytest

from conftest import Client, api_create, assert_error

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PROVIDER = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


def test_create_network_defaults(api):
    r = api.post("/v2.0/networks", {"network": {"name": "net1"}})
    assert r.status == 201, r
    assert r.headers.get("Content-Type", "").startswith("application/json")
    net = r.json["network"]
    assert UUID.match(net["id"]), net
    assert net["name"] == "net1"
    assert net["description"] == ""
    assert net["project_id"] == "p1" and net["tenant_id"] == "p1"
    assert net["admin_state_up"] is True
    assert net["status"] == "ACTIVE"
    assert net["shared"] is False
    assert net["router:external"] is False
    assert net["mtu"] == 1450
    assert net["subnets"] == []
    assert net["tags"] == []
    assert isinstance(net["revision_number"], int)
    assert TIMESTAMP.match(net["created_at"]) and TIMESTAMP.match(net["updated_at"]), net
    for k in PROVIDER:
        assert k not in net, net
    got = api.get(f"/v2.0/networks/{net['id']}")
    assert got.status == 200, got
    assert got.json["network"] == net


def test_create_network_empty_body_object(api):
    """Every network attribute is optional."""
    net = api_create(api, "network", {})
    assert net["name"] == "" and net["admin_state_up"] is True


def test_network_explicit_attributes(api):
    net = api_create(api, "network", {"name": "n", "description": "desc",
                                      "admin_state_up": False})
    assert net["description"] == "desc"
    assert net["admin_state_up"] is False
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["admin_state_up"] is False


def test_admin_sees_provider_attributes_of_tenant_network(api, admin):
    net = api_create(api, "network", {"name": "n"})
    seen = admin.get(f"/v2.0/networks/{net['id']}")
    assert seen.status == 200, seen
    n = seen.json["network"]
    assert n["provider:network_type"] == "vxlan"
    assert n["provider:physical_network"] is None
    assert 1000 <= n["provider:segmentation_id"] <= 99999, n
    assert n["mtu"] == 1450


def test_tenant_networks_get_distinct_vnis(api, admin):
    vnis = set()
    for i in range(6):
        net = api_create(api, "network", {"name": f"n{i}"})
        vnis.add(admin.get(f"/v2.0/networks/{net['id']}").json["network"]["provider:segmentation_id"])
    assert len(vnis) == 6


def test_vni_range_from_config_and_exhaustion(make_server):
    s = make_server(config="vni_ranges = 5000:5002\n").start()
    admin = Client(s.url, "admin-project", "admin")
    api = Client(s.url, "p1")
    nets = [api_create(api, "network", {"name": f"n{i}"}) for i in range(3)]
    vnis = sorted(admin.get(f"/v2.0/networks/{n['id']}").json["network"]["provider:segmentation_id"]
                  for n in nets)
    assert vnis == [5000, 5001, 5002]
    r = api.post("/v2.0/networks", {"network": {"name": "one-too-many"}})
    # Neutron: NoNetworkAvailable (503); a 409 is acceptable, a 201 or 500 is not.
    assert r.status in (409, 503), r
    assert_error(r, r.status)
    assert len(api.get("/v2.0/networks").json["networks"]) == 3
    # Deleting a network frees its VNI for the next one.
    freed = admin.get(f"/v2.0/networks/{nets[1]['id']}").json["network"]["provider:segmentation_id"]
    assert api.delete(f"/v2.0/networks/{nets[1]['id']}").status == 204
    again = api_create(api, "network", {"name": "reuse"})
    assert admin.get(f"/v2.0/networks/{again['id']}").json["network"][
        "provider:segmentation_id"] == freed


def test_admin_explicit_segmentation_id_conflict(api, admin):
    net = api_create(admin, "network", {"name": "a", "provider:network_type": "vxlan",
                                        "provider:segmentation_id": 4242})
    assert net["provider:segmentation_id"] == 4242
    assert net["provider:network_type"] == "vxlan"
    r = admin.post("/v2.0/networks", {"network": {"name": "b", "provider:network_type": "vxlan",
                                                   "provider:segmentation_id": 4242}})
    assert_error(r, 409)
    # A VNI that a tenant network got automatically is taken as well.
    tnet = api_create(api, "network", {"name": "t"})
    vni = admin.get(f"/v2.0/networks/{tnet['id']}").json["network"]["provider:segmentation_id"]
    r = admin.post("/v2.0/networks", {"network": {"name": "c", "provider:network_type": "vxlan",
                                                   "provider:segmentation_id": vni}})
    assert_error(r, 409)
    names = sorted(n["name"] for n in admin.get("/v2.0/networks").json["networks"])
    assert names == ["a", "t"]
    # Once the owner is gone the VNI is free again.
    assert admin.delete(f"/v2.0/networks/{net['id']}").status == 204
    api_create(admin, "network", {"name": "b", "provider:network_type": "vxlan",
                                  "provider:segmentation_id": 4242})


def test_flat_and_vlan_networks_mtu_1500(admin):
    flat = api_create(admin, "network", {"name": "flat", "provider:network_type": "flat",
                                         "provider:physical_network": "physnet1"})
    assert flat["mtu"] == 1500
    assert flat["provider:network_type"] == "flat"
    assert flat["provider:physical_network"] == "physnet1"
    vlan = api_create(admin, "network", {"name": "vlan", "provider:network_type": "vlan",
                                         "provider:physical_network": "physnet1",
                                         "provider:segmentation_id": 100})
    assert vlan["mtu"] == 1500
    assert vlan["provider:segmentation_id"] == 100
    r = admin.post("/v2.0/networks", {"network": {"name": "vlan2",
                                                   "provider:network_type": "vlan",
                                                   "provider:physical_network": "physnet1",
                                                   "provider:segmentation_id": 100}})
    assert_error(r, 409)


def test_global_physnet_mtu_config(make_server):
    s = make_server(config="global_physnet_mtu = 9000\n").start()
    admin = Client(s.url, "admin-project", "admin")
    assert api_create(admin, "network", {"name": "v"})["mtu"] == 8950
    flat = api_create(admin, "network", {"name": "f", "provider:network_type": "flat",
                                         "provider:physical_network": "physnet1"})
    assert flat["mtu"] == 9000


def test_unknown_network_type_refused(admin):
    r = admin.post("/v2.0/networks", {"network": {"provider:network_type": "bogus"}})
    assert_error(r, 400)
    assert admin.get("/v2.0/networks").json["networks"] == []


def test_update_network(api):
    net = api_create(api, "network", {"name": "old"})
    r = api.put(f"/v2.0/networks/{net['id']}",
                {"network": {"name": "new", "description": "d", "admin_state_up": False}})
    assert r.status == 200, r
    n = r.json["network"]
    assert n["name"] == "new" and n["description"] == "d" and n["admin_state_up"] is False
    assert n["revision_number"] == net["revision_number"] + 1
    assert n["created_at"] == net["created_at"]
    assert n["updated_at"] >= net["updated_at"]
    assert n["id"] == net["id"] and n["mtu"] == net["mtu"]
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"] == n


def test_update_read_only_attributes_refused(api):
    net = api_create(api, "network", {"name": "x"})
    for body in ({"status": "DOWN"}, {"id": "11111111-2222-3333-4444-555555555555"},
                 {"subnets": []}, {"project_id": "p2"}):
        r = api.put(f"/v2.0/networks/{net['id']}", {"network": body})
        assert_error(r, 400)
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"] == net


def test_create_read_only_attributes_refused(api):
    for body in ({"status": "DOWN"}, {"subnets": []}, {"revision_number": 7}):
        r = api.post("/v2.0/networks", {"network": body})
        assert_error(r, 400)
    assert api.get("/v2.0/networks").json["networks"] == []


def test_network_not_found(api):
    missing = "3b1f1d5a-5c60-4a35-a0d7-4a1d7a2a6f01"
    assert_error(api.get(f"/v2.0/networks/{missing}"), 404, "NetworkNotFound")
    assert_error(api.put(f"/v2.0/networks/{missing}", {"network": {"name": "x"}}), 404,
                 "NetworkNotFound")
    assert_error(api.delete(f"/v2.0/networks/{missing}"), 404, "NetworkNotFound")
    assert_error(api.get("/v2.0/networks/not-a-uuid"), 404)


def test_delete_network(api):
    net = api_create(api, "network", {"name": "gone"})
    r = api.delete(f"/v2.0/networks/{net['id']}")
    assert r.status == 204, r
    assert r.text == ""
    assert_error(api.get(f"/v2.0/networks/{net['id']}"), 404, "NetworkNotFound")
    assert api.get("/v2.0/networks").json["networks"] == []
    assert_error(api.delete(f"/v2.0/networks/{net['id']}"), 404, "NetworkNotFound")


def test_network_lists_its_subnets(api):
    net = api_create(api, "network", {"name": "n"})
    s1 = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                    "ip_version": 4})
    s2 = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.1.0/24",
                                    "ip_version": 4})
    n = api.get(f"/v2.0/networks/{net['id']}").json["network"]
    assert sorted(n["subnets"]) == sorted([s1["id"], s2["id"]])
    assert api.delete(f"/v2.0/subnets/{s1['id']}").status == 204
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["subnets"] == [s2["id"]]


def test_delete_network_in_use_by_port(api):
    net = api_create(api, "network", {"name": "busy"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4})
    port = api_create(api, "port", {"network_id": net["id"], "device_owner": "compute:nova",
                                    "device_id": "vm-1"})
    assert_error(api.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    # Nothing was deleted.
    assert api.get(f"/v2.0/networks/{net['id']}").status == 200
    assert api.get(f"/v2.0/subnets/{sub['id']}").status == 200
    assert api.get(f"/v2.0/ports/{port['id']}").status == 200
    # A port without device_owner blocks as well.
    p2 = api_create(api, "port", {"network_id": net["id"]})
    assert api.delete(f"/v2.0/ports/{port['id']}").status == 204
    assert_error(api.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    assert api.delete(f"/v2.0/ports/{p2['id']}").status == 204
    assert api.delete(f"/v2.0/networks/{net['id']}").status == 204


def test_delete_network_with_dhcp_port_and_subnets(api, admin):
    net = api_create(api, "network", {"name": "n"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4})
    dhcp = api_create(admin, "port", {"network_id": net["id"], "device_owner": "network:dhcp",
                                      "project_id": "p1"})
    r = api.delete(f"/v2.0/networks/{net['id']}")
    assert r.status == 204, r
    assert_error(api.get(f"/v2.0/subnets/{sub['id']}"), 404, "SubnetNotFound")
    assert_error(admin.get(f"/v2.0/ports/{dhcp['id']}"), 404, "PortNotFound")
    assert admin.get("/v2.0/subnets").json["subnets"] == []
    assert admin.get("/v2.0/ports").json["ports"] == []


def test_auto_vni_skips_admin_chosen_vni(make_server):
    s = make_server(config="vni_ranges = 5000:5002\n").start()
    admin = Client(s.url, "admin-project", "admin")
    api = Client(s.url, "p1")
    api_create(admin, "network", {"name": "pinned", "provider:network_type": "vxlan",
                                  "provider:segmentation_id": 5001})
    got = []
    for i in range(2):
        n = api_create(api, "network", {"name": f"t{i}"})
        got.append(admin.get(f"/v2.0/networks/{n['id']}").json["network"]["provider:segmentation_id"])
    assert sorted(got) == [5000, 5002]
    r = api.post("/v2.0/networks", {"network": {"name": "none-left"}})
    assert r.status in (409, 503), r
    vnis = [n["provider:segmentation_id"] for n in admin.get("/v2.0/networks").json["networks"]]
    assert sorted(vnis) == [5000, 5001, 5002]


def test_admin_vni_outside_tenant_range_allowed(admin):
    n = api_create(admin, "network", {"provider:network_type": "vxlan",
                                      "provider:segmentation_id": 200000})
    assert n["provider:segmentation_id"] == 200000


@pytest.mark.parametrize("body", [
    {"provider:network_type": "vxlan", "provider:segmentation_id": 16777216},
    {"provider:network_type": "vxlan", "provider:segmentation_id": 0},
    {"provider:network_type": "vxlan", "provider:segmentation_id": "abc"},
    {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
     "provider:segmentation_id": 4095},
    {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
     "provider:segmentation_id": 0},
    {"provider:network_type": "flat", "provider:physical_network": "physnet1",
     "provider:segmentation_id": 5},
    {"provider:network_type": "vxlan", "provider:physical_network": "physnet1"},
])
def test_bad_provider_attributes(admin, body):
    assert_error(admin.post("/v2.0/networks", {"network": body}), 400)
    assert admin.get("/v2.0/networks").json["networks"] == []


def test_flat_physnet_used_once(admin):
    api_create(admin, "network", {"provider:network_type": "flat",
                                  "provider:physical_network": "physnet1"})
    r = admin.post("/v2.0/networks", {"network": {"provider:network_type": "flat",
                                                   "provider:physical_network": "physnet1"}})
    # Neutron: FlatNetworkInUse (409).
    assert_error(r, 409)

"""Project isolation, shared and external networks, admin, admin-only attributes."""
import pytest

from conftest import Client, api_create, assert_error, ids

PROVIDER = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


@pytest.fixture
def p2(server):
    return Client(server.url, "p2")


@pytest.fixture
def p1_stack(api):
    net = api_create(api, "network", {"name": "private"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4})
    port = api_create(api, "port", {"network_id": net["id"], "name": "vm"})
    return net, sub, port


def test_other_project_sees_nothing(api, p2, p1_stack):
    net, sub, port = p1_stack
    net = api.get(f"/v2.0/networks/{net['id']}").json["network"]
    for kind, obj in (("network", net), ("subnet", sub), ("port", port)):
        nf = {"network": "NetworkNotFound", "subnet": "SubnetNotFound", "port": "PortNotFound"}[kind]
        assert_error(p2.get(f"/v2.0/{kind}s/{obj['id']}"), 404, nf)
        assert_error(p2.put(f"/v2.0/{kind}s/{obj['id']}", {kind: {"name": "stolen"}}), 404, nf)
        assert_error(p2.delete(f"/v2.0/{kind}s/{obj['id']}"), 404, nf)
        assert p2.get(f"/v2.0/{kind}s").json[kind + "s"] == []
        # Filters do not leak either.
        assert p2.get(f"/v2.0/{kind}s?id={obj['id']}").json[kind + "s"] == []
        # Still intact for the owner.
        assert api.get(f"/v2.0/{kind}s/{obj['id']}").json[kind] == obj
    assert_error(p2.get(f"/v2.0/networks/{net['id']}/tags"), 404, "NetworkNotFound")
    assert_error(p2.put(f"/v2.0/networks/{net['id']}/tags/x"), 404, "NetworkNotFound")


def test_other_project_cannot_use_private_network(api, p2, p1_stack):
    net, sub, _ = p1_stack
    assert_error(p2.post("/v2.0/ports", {"port": {"network_id": net["id"]}}), 404, "NetworkNotFound")
    r = p2.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.9.0.0/24",
                                             "ip_version": 4}})
    assert_error(r, 404, "NetworkNotFound")
    assert len(api.get("/v2.0/ports").json["ports"]) == 1
    assert ids(api.get("/v2.0/subnets").json["subnets"]) == [sub["id"]]


def test_tenant_cannot_create_for_other_project(api):
    r = api.post("/v2.0/networks", {"network": {"name": "x", "project_id": "p2"}})
    assert r.status in (400, 403), r
    assert_error(r, r.status)
    r = api.post("/v2.0/networks", {"network": {"name": "x", "tenant_id": "p2"}})
    assert r.status in (400, 403), r
    assert api.as_("p2").get("/v2.0/networks").json["networks"] == []
    assert api.get("/v2.0/networks").json["networks"] == []
    # Naming one's own project is fine.
    assert api_create(api, "network", {"name": "mine", "project_id": "p1"})["project_id"] == "p1"


def test_admin_sees_and_changes_all(api, admin, p2, p1_stack):
    net, sub, port = p1_stack
    n2 = api_create(p2, "network", {"name": "p2net"})
    all_ids = ids(admin.get("/v2.0/networks").json["networks"])
    assert all_ids == sorted([net["id"], n2["id"]])
    assert ids(admin.get("/v2.0/networks?project_id=p2").json["networks"]) == [n2["id"]]
    assert ids(admin.get("/v2.0/ports").json["ports"]) == [port["id"]]
    assert ids(admin.get("/v2.0/subnets").json["subnets"]) == [sub["id"]]
    r = admin.put(f"/v2.0/networks/{n2['id']}", {"network": {"name": "renamed-by-admin"}})
    assert r.status == 200, r
    assert p2.get(f"/v2.0/networks/{n2['id']}").json["network"]["name"] == "renamed-by-admin"
    assert admin.delete(f"/v2.0/networks/{n2['id']}").status == 204
    assert p2.get("/v2.0/networks").json["networks"] == []


def test_admin_creates_for_a_project(admin):
    net = api_create(admin, "network", {"name": "for-p9", "project_id": "p9"})
    assert net["project_id"] == "p9" and net["tenant_id"] == "p9"
    p9 = admin.as_("p9")
    assert ids(p9.get("/v2.0/networks").json["networks"]) == [net["id"]]
    assert p9.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "mine"}}).status == 200


@pytest.fixture
def shared_net(admin):
    net = api_create(admin, "network", {"name": "shared", "shared": True})
    sub = api_create(admin, "subnet", {"network_id": net["id"], "cidr": "172.16.0.0/24",
                                       "ip_version": 4})
    return net, sub


def test_shared_network_visible_read_only(api, shared_net):
    net, sub = shared_net
    assert net["shared"] is True
    r = api.get(f"/v2.0/networks/{net['id']}")
    assert r.status == 200, r
    assert r.json["network"]["shared"] is True
    assert net["id"] in ids(api.get("/v2.0/networks").json["networks"])
    assert ids(api.get("/v2.0/networks?shared=true").json["networks"]) == [net["id"]]
    assert api.get(f"/v2.0/subnets/{sub['id']}").status == 200
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "mine now"}})
    assert r.status in (403, 404), r
    assert_error(r, r.status)
    r = api.delete(f"/v2.0/networks/{net['id']}")
    assert r.status in (403, 404), r
    r = api.put(f"/v2.0/subnets/{sub['id']}", {"subnet": {"name": "mine now"}})
    assert r.status in (403, 404), r
    r = api.delete(f"/v2.0/subnets/{sub['id']}")
    assert r.status in (403, 404), r
    got = api.get(f"/v2.0/networks/{net['id']}").json["network"]
    assert got["name"] == "shared"
    assert api.get(f"/v2.0/subnets/{sub['id']}").json["subnet"]["name"] == sub["name"]


def test_tenant_port_on_shared_network(api, p2, admin, shared_net):
    net, sub = shared_net
    port = api_create(api, "port", {"network_id": net["id"]})
    assert port["project_id"] == "p1"
    assert port["fixed_ips"][0]["subnet_id"] == sub["id"]
    # Other tenants do not see p1's port on the shared network.
    assert_error(p2.get(f"/v2.0/ports/{port['id']}"), 404, "PortNotFound")
    assert p2.get("/v2.0/ports").json["ports"] == []
    # The port keeps the shared network in use.
    assert_error(admin.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")


def test_unsharing_network_in_use_by_others(api, admin, shared_net):
    net, _ = shared_net
    api_create(api, "port", {"network_id": net["id"]})
    r = admin.put(f"/v2.0/networks/{net['id']}", {"network": {"shared": False}})
    # Neutron: InvalidSharedSetting (409) while other projects use it.
    assert_error(r, 409)
    assert admin.get(f"/v2.0/networks/{net['id']}").json["network"]["shared"] is True


def test_external_network_visible_read_only(api, admin):
    net = api_create(admin, "network", {"name": "public", "router:external": True})
    assert net["router:external"] is True and net["shared"] is False
    r = api.get(f"/v2.0/networks/{net['id']}")
    assert r.status == 200, r
    assert r.json["network"]["router:external"] is True
    assert ids(api.get("/v2.0/networks?router:external=true").json["networks"]) == [net["id"]]
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "x"}})
    assert r.status in (403, 404), r
    r = api.delete(f"/v2.0/networks/{net['id']}")
    assert r.status in (403, 404), r
    assert admin.get(f"/v2.0/networks/{net['id']}").json["network"]["name"] == "public"


@pytest.mark.parametrize("attr,value", [("shared", True), ("router:external", True),
                                        ("provider:network_type", "vxlan"),
                                        ("provider:segmentation_id", 4000),
                                        ("provider:physical_network", "physnet1")])
def test_admin_only_network_attributes_on_create(api, attr, value):
    r = api.post("/v2.0/networks", {"network": {"name": "x", attr: value}})
    assert_error(r, 403)
    assert api.get("/v2.0/networks").json["networks"] == []


@pytest.mark.parametrize("attr,value", [("shared", True), ("router:external", True),
                                        ("provider:segmentation_id", 4000)])
def test_admin_only_network_attributes_on_update(api, attr, value):
    net = api_create(api, "network", {"name": "x"})
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {attr: value}})
    if attr.startswith("provider:"):
        # A server that does not update provider attributes at all may say 400.
        assert r.status in (400, 403), r
        assert_error(r, r.status)
    else:
        assert_error(r, 403)
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"] == net


def test_provider_attributes_hidden_from_tenants(api, admin):
    flat = api_create(admin, "network", {"name": "flat", "shared": True,
                                         "provider:network_type": "flat",
                                         "provider:physical_network": "physnet1"})
    own = api_create(api, "network", {"name": "own"})
    for n in api.get("/v2.0/networks").json["networks"]:
        for k in PROVIDER:
            assert k not in n, n
    for nid in (flat["id"], own["id"]):
        n = api.get(f"/v2.0/networks/{nid}").json["network"]
        assert not [k for k in PROVIDER if k in n], n
        r = api.get(f"/v2.0/networks/{nid}?fields=provider:network_type&fields=id")
        assert r.status == 200, r
        assert "provider:network_type" not in r.json["network"], r
    # ...and admins see them on every network.
    for n in admin.get("/v2.0/networks").json["networks"]:
        assert n["provider:network_type"] in ("flat", "vxlan"), n


def test_admin_port_attributes_for_tenant_port(api, admin):
    net = api_create(api, "network", {"name": "n"})
    p = api_create(api, "port", {"network_id": net["id"]})
    a = admin.get(f"/v2.0/ports/{p['id']}").json["port"]
    assert "binding:host_id" in a and "binding:vif_type" in a
    assert "binding:host_id" not in api.get(f"/v2.0/ports/{p['id']}").json["port"]


def test_roles_header_other_than_admin_is_tenant(server):
    t = Client(server.url, "p1", "member,reader")
    assert_error(t.post("/v2.0/networks", {"network": {"shared": True}}), 403)
    a = Client(server.url, "p1", "member, admin")
    assert api_create(a, "network", {"shared": True})["shared"] is True


def test_tenant_cannot_attach_to_external_network(api, admin):
    """Neutron answers 404 for a port or subnet of a tenant on a network that is
    neither its own nor shared (external networks included)."""
    net = api_create(admin, "network", {"name": "public", "router:external": True})
    api_create(admin, "subnet", {"network_id": net["id"], "cidr": "203.0.113.0/24", "ip_version": 4})
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}})
    assert r.status in (403, 404), r
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "198.51.100.0/24",
                                              "ip_version": 4}})
    assert r.status in (403, 404), r
    assert admin.get("/v2.0/ports").json["ports"] == []
    assert len(admin.get("/v2.0/subnets").json["subnets"]) == 1


def test_tenant_cannot_update_own_port_onto_foreign_data(api, p2, p1_stack):
    """p2 cannot move a port onto p1's subnet through fixed_ips."""
    net, sub, _ = p1_stack
    n2 = api_create(p2, "network", {"name": "n2"})
    api_create(p2, "subnet", {"network_id": n2["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    port = api_create(p2, "port", {"network_id": n2["id"]})
    r = p2.put(f"/v2.0/ports/{port['id']}", {"port": {"fixed_ips": [{"subnet_id": sub["id"]}]}})
    assert r.status in (400, 404), r
    assert p2.get(f"/v2.0/ports/{port['id']}").json["port"]["fixed_ips"] == port["fixed_ips"]

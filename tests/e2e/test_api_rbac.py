"""RBAC policies (rbac-policies): networks shared with chosen projects or
usable by them as external networks, the wildcard policies behind `shared`
and `router:external`, who may create, see and change policies, and the
refusal to drop a policy a project still relies on."""
import uuid

import pytest

from conftest import Client, api_create, assert_error


def policy(client, net_id, target, action="access_as_shared", status=201):
    r = client.post("/v2.0/rbac-policies", {"rbac_policy": {
        "object_type": "network", "object_id": net_id, "action": action,
        "target_tenant": target}})
    assert r.status == status, r
    return r.json["rbac_policy"] if status == 201 else r


def policies(client, **filters):
    q = "&".join(f"{k}={v}" for k, v in filters.items())
    r = client.get("/v2.0/rbac-policies" + (f"?{q}" if q else ""))
    assert r.status == 200, r
    return r.json["rbac_policies"]


def test_share_with_one_project(server):
    p1, p2, p3 = (Client(server.url, p) for p in ("p1", "p2", "p3"))
    net = api_create(p1, "network", {"name": "n"})
    sub = api_create(p1, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                    "ip_version": 4})
    assert p2.get(f"/v2.0/networks/{net['id']}").status == 404
    pol = policy(p1, net["id"], "p2")
    assert set(pol) == {"id", "object_type", "object_id", "action", "target_tenant",
                        "project_id", "tenant_id"}
    assert pol["project_id"] == "p1" and pol["target_tenant"] == "p2"
    # The target sees the network and its subnet and may plug a port; a third
    # project does not; `shared` (the wildcard) stays false.
    got = p2.get(f"/v2.0/networks/{net['id']}")
    assert got.status == 200 and got.json["network"]["shared"] is False, got
    assert p2.get(f"/v2.0/subnets/{sub['id']}").status == 200
    assert p3.get(f"/v2.0/networks/{net['id']}").status == 404
    assert p3.get(f"/v2.0/subnets/{sub['id']}").status == 404
    port = api_create(p2, "port", {"network_id": net["id"]})
    assert_error(p3.post("/v2.0/ports", {"port": {"network_id": net["id"]}}), 404)
    # Policies are their owner's: the target does not see them.
    assert [p["id"] for p in policies(p1)] == [pol["id"]]
    assert policies(p2) == [] and p2.get(f"/v2.0/rbac-policies/{pol['id']}").status == 404
    # In use: neither deleted nor moved to another project.
    assert_error(p1.delete(f"/v2.0/rbac-policies/{pol['id']}"), 409, "RbacPolicyInUse")
    assert_error(p1.put(f"/v2.0/rbac-policies/{pol['id']}", {"rbac_policy": {
        "target_tenant": "p3"}}), 409, "RbacPolicyInUse")
    # The network's owner may delete the tenant's port on its network.
    assert p1.delete(f"/v2.0/ports/{port['id']}").status == 204
    r = p1.put(f"/v2.0/rbac-policies/{pol['id']}", {"rbac_policy": {"target_tenant": "p3"}})
    assert r.status == 200 and r.json["rbac_policy"]["target_tenant"] == "p3", r
    assert p3.get(f"/v2.0/networks/{net['id']}").status == 200
    assert p2.get(f"/v2.0/networks/{net['id']}").status == 404
    assert p1.delete(f"/v2.0/rbac-policies/{pol['id']}").status == 204
    assert p3.get(f"/v2.0/networks/{net['id']}").status == 404


def test_bad_policies_refused(server):
    p1, p2 = Client(server.url, "p1"), Client(server.url, "p2")
    admin = Client(server.url, "admin-project", "admin")
    net = api_create(p1, "network", {"name": "n"})
    theirs = api_create(p2, "network", {"name": "theirs"})
    base = {"object_type": "network", "object_id": net["id"], "action": "access_as_shared",
            "target_tenant": "p2"}
    for change, status in (({"target_tenant": None}, 400), ({"target_tenant": "x" * 400}, 400),
                           ({"object_type": "qos_policy"}, 400), ({"action": "bogus"}, 400),
                           ({"object_id": theirs["id"]}, 400),
                           ({"object_id": str(uuid.uuid4())}, 400),
                           ({"target_tenant": "*"}, 403),
                           ({"action": "access_as_external", "target_tenant": "*"}, 403)):
        body = dict(base, **change)
        assert_error(p1.post("/v2.0/rbac-policies", {"rbac_policy": body}), status)
    body = dict(base)
    del body["target_tenant"]
    assert_error(p1.post("/v2.0/rbac-policies", {"rbac_policy": body}), 400)
    assert policies(admin) == []
    pol = policy(p1, net["id"], "p2")
    assert_error(policy(p1, net["id"], "p2", status=409), 409, "DuplicateRbacPolicy")
    # The target sees the network but may not share it further (not even
    # with the same values: it is not the owner's duplicate but a 400).
    assert_error(policy(p2, net["id"], "p2", status=400), 400)
    assert_error(policy(p2, net["id"], "p3", status=400), 400)
    assert_error(p1.put(f"/v2.0/rbac-policies/{pol['id']}", {"rbac_policy": {
        "target_tenant": "*"}}), 403)
    assert_error(p1.put(f"/v2.0/rbac-policies/{pol['id']}", {"rbac_policy": {
        "action": "access_as_external"}}), 400)
    assert [(p["target_tenant"], p["action"]) for p in policies(p1)] == [
        ("p2", "access_as_shared")]
    # The quota (10 by default) counts policies.
    for i in range(9):
        policy(p1, net["id"], f"t{i}")
    assert_error(policy(p1, net["id"], "t10", status=409), 409)


def test_wildcards_are_shared_and_external(server):
    p2 = Client(server.url, "p2")
    admin = Client(server.url, "admin-project", "admin")
    net = api_create(admin, "network", {"name": "n", "shared": True})
    wild = policies(admin, object_id=net["id"])
    assert [(p["action"], p["target_tenant"]) for p in wild] == [("access_as_shared", "*")]
    rev = admin.get(f"/v2.0/networks/{net['id']}").json["network"]["revision_number"]
    # Deleting the wildcard unshares the network; making one shares it again.
    assert admin.delete(f"/v2.0/rbac-policies/{wild[0]['id']}").status == 204
    got = admin.get(f"/v2.0/networks/{net['id']}").json["network"]
    assert got["shared"] is False and got["revision_number"] > rev
    assert p2.get(f"/v2.0/networks/{net['id']}").status == 404
    policy(admin, net["id"], "*")
    assert admin.get(f"/v2.0/networks/{net['id']}").json["network"]["shared"] is True
    ids = [n["id"] for n in admin.get("/v2.0/networks?shared=false").json["networks"]]
    assert net["id"] not in ids
    r = admin.put(f"/v2.0/networks/{net['id']}", {"network": {"shared": False}})
    assert r.status == 200, r
    assert policies(admin, object_id=net["id"]) == []
    # router:external is any access_as_external policy.
    r = admin.put(f"/v2.0/networks/{net['id']}", {"network": {"router:external": True}})
    assert r.status == 200, r
    assert [p["target_tenant"] for p in policies(
        admin, object_id=net["id"], action="access_as_external")] == ["*"]
    admin.put(f"/v2.0/networks/{net['id']}", {"network": {"router:external": False}})
    assert policies(admin, object_id=net["id"]) == []
    one = policy(admin, net["id"], "p2", "access_as_external")
    assert admin.get(f"/v2.0/networks/{net['id']}").json["network"]["router:external"] is True
    assert admin.delete(f"/v2.0/rbac-policies/{one['id']}").status == 204
    assert admin.get(f"/v2.0/networks/{net['id']}").json["network"]["router:external"] is False
    # Deleting the network takes its policies.
    policy(admin, net["id"], "p2")
    assert admin.delete(f"/v2.0/networks/{net['id']}").status == 204
    assert policies(admin) == []


def test_external_for_chosen_projects(server):
    p2, p3 = Client(server.url, "p2"), Client(server.url, "p3")
    admin = Client(server.url, "admin-project", "admin")
    net = api_create(admin, "network", {"name": "ext"})
    api_create(admin, "subnet", {"network_id": net["id"], "cidr": "172.16.0.0/24",
                                 "ip_version": 4, "enable_dhcp": False})
    policy(admin, net["id"], "admin-project", "access_as_external")
    assert_error(p2.post("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": net["id"]}}), 404)
    policy(admin, net["id"], "p2", "access_as_external")
    fip = api_create(p2, "floatingip", {"floating_network_id": net["id"]})
    router = api_create(p2, "router", {"name": "r", "external_gateway_info": {
        "network_id": net["id"]}})
    assert_error(p3.post("/v2.0/routers", {"router": {"name": "r", "external_gateway_info": {
        "network_id": net["id"]}}}), 404)
    # p2's router and floating IP hold its policy.
    mine = policies(admin, object_id=net["id"], target_tenant="p2")[0]
    assert_error(admin.delete(f"/v2.0/rbac-policies/{mine['id']}"), 409, "RbacPolicyInUse")
    wild = policy(admin, net["id"], "*", "access_as_external")
    assert admin.delete(f"/v2.0/rbac-policies/{mine['id']}").status == 204
    assert_error(admin.delete(f"/v2.0/rbac-policies/{wild['id']}"), 409, "RbacPolicyInUse")
    assert p2.delete(f"/v2.0/routers/{router['id']}").status == 204
    assert p2.delete(f"/v2.0/floatingips/{fip['id']}").status == 204
    assert admin.delete(f"/v2.0/rbac-policies/{wild['id']}").status == 204
    # A default external network keeps its wildcard.
    wild = policy(admin, net["id"], "*", "access_as_external")
    admin.put(f"/v2.0/networks/{net['id']}", {"network": {"is_default": True}})
    assert_error(admin.delete(f"/v2.0/rbac-policies/{wild['id']}"), 409)


@pytest.mark.parametrize("fields", [("id",), ("id", "action"), ("project_id", "target_tenant")])
def test_policy_fields(server, fields):
    p1 = Client(server.url, "p1")
    net = api_create(p1, "network", {"name": "n"})
    policy(p1, net["id"], "p2")
    q = "&".join(f"fields={f}" for f in fields)
    got = p1.get(f"/v2.0/rbac-policies?{q}").json["rbac_policies"]
    assert [set(p) for p in got] == [set(fields)]


def test_security_group_and_subnet_pool_shared(server):
    p1, p2 = Client(server.url, "p1"), Client(server.url, "p2")
    admin = Client(server.url, "admin-project", "admin")
    sg = admin.post("/v2.0/security-groups", {"security_group": {"name": "shared-sg"}})
    assert sg.status == 201, sg
    sg = sg.json["security_group"]
    net = api_create(p2, "network", {"name": "n"})
    api_create(p2, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    assert p2.get(f"/v2.0/security-groups/{sg['id']}").status == 404
    assert_error(p2.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                  "security_groups": [sg["id"]]}}), 404)
    r = admin.post("/v2.0/rbac-policies", {"rbac_policy": {
        "object_type": "security_group", "object_id": sg["id"],
        "action": "access_as_shared", "target_tenant": "p2"}})
    assert r.status == 201, r
    pol = r.json["rbac_policy"]
    assert p2.get(f"/v2.0/security-groups/{sg['id']}").status == 200
    assert p1.get(f"/v2.0/security-groups/{sg['id']}").status == 404
    port = api_create(p2, "port", {"network_id": net["id"], "security_groups": [sg["id"]]})
    assert port["security_groups"] == [sg["id"]]
    assert_error(admin.delete(f"/v2.0/rbac-policies/{pol['id']}"), 409, "RbacPolicyInUse")
    # Only the owner shares; external is for networks only.
    assert_error(p2.post("/v2.0/rbac-policies", {"rbac_policy": {
        "object_type": "security_group", "object_id": sg["id"],
        "action": "access_as_shared", "target_tenant": "p1"}}), 400)
    assert_error(admin.post("/v2.0/rbac-policies", {"rbac_policy": {
        "object_type": "security_group", "object_id": sg["id"],
        "action": "access_as_external", "target_tenant": "p1"}}), 400)
    assert p2.delete(f"/v2.0/ports/{port['id']}").status == 204
    assert admin.delete(f"/v2.0/rbac-policies/{pol['id']}").status == 204
    assert p2.get(f"/v2.0/security-groups/{sg['id']}").status == 404

    pool = api_create(admin, "subnetpool", {"name": "sp", "prefixes": ["10.50.0.0/16"],
                                            "default_prefixlen": 24})
    body = {"network_id": net["id"], "ip_version": 4, "subnetpool_id": pool["id"]}
    assert_error(p2.post("/v2.0/subnets", {"subnet": body}), 404)
    pol = admin.post("/v2.0/rbac-policies", {"rbac_policy": {
        "object_type": "subnetpool", "object_id": pool["id"],
        "action": "access_as_shared", "target_tenant": "p2"}}).json["rbac_policy"]
    assert p2.get(f"/v2.0/subnetpools/{pool['id']}").status == 200
    net2 = api_create(p2, "network", {"name": "n2"})
    sub = api_create(p2, "subnet", dict(body, network_id=net2["id"]))
    assert sub["cidr"] == "10.50.0.0/24"
    assert_error(admin.delete(f"/v2.0/rbac-policies/{pol['id']}"), 409, "RbacPolicyInUse")
    assert p2.delete(f"/v2.0/subnets/{sub['id']}").status == 204
    assert admin.delete(f"/v2.0/rbac-policies/{pol['id']}").status == 204
    # Deleting the object takes its policies.
    admin.post("/v2.0/rbac-policies", {"rbac_policy": {
        "object_type": "security_group", "object_id": sg["id"],
        "action": "access_as_shared", "target_tenant": "p2"}})
    assert admin.delete(f"/v2.0/security-groups/{sg['id']}").status == 204
    assert policies(admin) == []


def test_gateway_on_external_network_without_subnets(server):
    p2 = Client(server.url, "p2")
    admin = Client(server.url, "admin-project", "admin")
    net = api_create(admin, "network", {"name": "bare"})
    policy(admin, net["id"], "p2", "access_as_external")
    r = p2.post("/v2.0/routers", {"router": {"name": "r", "external_gateway_info": {
        "network_id": net["id"]}}})
    assert r.status == 201, r
    assert r.json["router"]["external_gateway_info"]["external_fixed_ips"] == []
    # With a subnet that serves floating IPs only, the gateway has none: 400.
    api_create(admin, "subnet", {"network_id": net["id"], "cidr": "203.0.113.0/24",
                                 "ip_version": 4, "service_types": ["network:floatingip"]})
    assert_error(p2.post("/v2.0/routers", {"router": {"name": "r2", "external_gateway_info": {
        "network_id": net["id"]}}}), 400)
    assert len(p2.get("/v2.0/routers").json["routers"]) == 1

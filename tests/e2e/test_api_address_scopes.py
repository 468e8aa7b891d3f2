"""Address scopes (address-scope, rbac-address-scope): create, share (admin,
never unshare), pools joining a scope of their IP version with prefixes
unique in it, RBAC sharing, no delete while pools are in a scope."""
import uuid

from conftest import Client, assert_error


def scope(client, status=201, **kw):
    r = client.post("/v2.0/address-scopes", {"address_scope": dict({"name": "s"}, **kw)})
    assert r.status == status, r
    return r.json["address_scope"] if status == 201 else r


def pool(client, status=201, **kw):
    r = client.post("/v2.0/subnetpools", {"subnetpool": dict(
        {"name": "p", "prefixes": ["10.10.0.0/16"]}, **kw)})
    assert r.status == status, r
    return r.json["subnetpool"] if status == 201 else r


def test_scope_lifecycle_and_sharing(server):
    p1, p2 = Client(server.url, "p1"), Client(server.url, "p2")
    admin = Client(server.url, "admin-project", "admin")
    s = scope(p1, ip_version=4)
    assert (s["ip_version"], s["shared"], s["project_id"]) == (4, False, "p1")
    assert p2.get(f"/v2.0/address-scopes/{s['id']}").status == 404
    r = p1.put(f"/v2.0/address-scopes/{s['id']}", {"address_scope": {"name": "renamed"}})
    assert r.status == 200 and r.json["address_scope"]["name"] == "renamed", r
    # Refusals: sharing by a tenant, bad versions, unsharing.
    assert_error(scope(p1, 403, ip_version=4, shared=True), 403)
    assert_error(p1.put(f"/v2.0/address-scopes/{s['id']}", {"address_scope": {
        "shared": False}}), 403)
    for v in (5, "x", None):
        assert_error(scope(p1, 400, ip_version=v), 400)
    shared = scope(admin, ip_version=6, shared=True)
    assert p2.get(f"/v2.0/address-scopes/{shared['id']}").json["address_scope"]["shared"]
    assert_error(admin.put(f"/v2.0/address-scopes/{shared['id']}", {"address_scope": {
        "shared": False}}), 400)
    assert len(p1.get("/v2.0/address-scopes").json["address_scopes"]) == 2
    # RBAC shares one scope with one project.
    mine = scope(admin, ip_version=4)
    r = admin.post("/v2.0/rbac-policies", {"rbac_policy": {
        "object_type": "address_scope", "object_id": mine["id"],
        "action": "access_as_shared", "target_tenant": "p2"}})
    assert r.status == 201, r
    assert p2.get(f"/v2.0/address-scopes/{mine['id']}").status == 200
    assert p1.get(f"/v2.0/address-scopes/{mine['id']}").status == 404
    sp = pool(p2, address_scope_id=mine["id"])
    assert_error(admin.delete(f"/v2.0/rbac-policies/{r.json['rbac_policy']['id']}"), 409)
    # A pool in a scope p1 cannot use is not shared with p1.
    assert_error(p2.post("/v2.0/rbac-policies", {"rbac_policy": {
        "object_type": "subnetpool", "object_id": sp["id"],
        "action": "access_as_shared", "target_tenant": "p1"}}), 400)
    assert_error(admin.delete(f"/v2.0/address-scopes/{mine['id']}"), 409, "AddressScopeInUse")
    assert p2.delete(f"/v2.0/subnetpools/{sp['id']}").status == 204
    assert admin.delete(f"/v2.0/address-scopes/{mine['id']}").status == 204
    assert admin.get("/v2.0/rbac-policies").json["rbac_policies"] == []


def test_pools_in_a_scope(server):
    p1 = Client(server.url, "p1")
    admin = Client(server.url, "admin-project", "admin")
    s4 = scope(p1, ip_version=4)
    s6 = scope(p1, ip_version=6)
    a = pool(p1, address_scope_id=s4["id"])
    assert a["address_scope_id"] == s4["id"]
    # Overlapping prefixes in one scope: 409; another version: 400; unknown,
    # malformed or another project's scope: 404 / 400.
    assert_error(pool(p1, 409, prefixes=["10.10.5.0/24"], address_scope_id=s4["id"]), 409)
    assert_error(pool(p1, 400, address_scope_id=s6["id"]), 400)
    assert_error(pool(p1, 404, address_scope_id=str(uuid.uuid4())), 404)
    assert_error(pool(p1, 400, address_scope_id="foo-addr-scope"), 400)
    theirs = scope(admin, ip_version=4)
    assert_error(pool(p1, 404, prefixes=["10.20.0.0/16"], address_scope_id=theirs["id"]), 404)
    b = pool(p1, prefixes=["10.20.0.0/16"])
    assert_error(p1.put(f"/v2.0/subnetpools/{b['id']}", {"subnetpool": {
        "address_scope_id": s6["id"]}}), 400)
    r = p1.put(f"/v2.0/subnetpools/{b['id']}", {"subnetpool": {"address_scope_id": s4["id"]}})
    assert r.status == 200 and r.json["subnetpool"]["address_scope_id"] == s4["id"], r
    # Widening into another pool's prefix of the scope is refused.
    assert_error(p1.put(f"/v2.0/subnetpools/{b['id']}", {"subnetpool": {
        "prefixes": ["10.0.0.0/8"]}}), 409)
    r = p1.put(f"/v2.0/subnetpools/{b['id']}", {"subnetpool": {"address_scope_id": None}})
    assert r.status == 200 and r.json["subnetpool"]["address_scope_id"] is None, r
    assert len(p1.get("/v2.0/subnetpools").json["subnetpools"]) == 2


def test_address_groups(server):
    p1, p2 = Client(server.url, "p1"), Client(server.url, "p2")
    admin = Client(server.url, "admin-project", "admin")
    r = p1.post("/v2.0/address-groups", {"address_group": {
        "name": "ag", "addresses": ["10.10.10.3/32", "192.168.0.10/24", "2001:db8::f00/64"]}})
    assert r.status == 201, r
    ag = r.json["address_group"]
    assert sorted(ag["addresses"]) == ["10.10.10.3/32", "192.168.0.0/24", "2001:db8::/64"]
    url = f"/v2.0/address-groups/{ag['id']}"
    for bad in (["10.20.30.40"], ["this is bad IP address"], "10.0.0.0/8"):
        assert_error(p1.post("/v2.0/address-groups", {"address_group": {
            "name": "x", "addresses": bad}}), 400)
    r = p1.put(url + "/add_addresses", {"addresses": ["10.20.30.40/32", "10.10.10.3/32"]})
    assert r.status == 200 and len(r.json["address_group"]["addresses"]) == 4, r
    assert_error(p1.put(url + "/add_addresses", {"addresses": ["bad"]}), 400)
    assert_error(p1.put(url + "/remove_addresses", {"addresses": ["10.200.200.200"]}), 404)
    assert_error(p1.put(url + "/remove_addresses", {"addresses": ["bad"]}), 400)
    r = p1.put(url + "/remove_addresses", {"addresses": ["10.10.10.3"]})
    assert r.status == 200 and sorted(r.json["address_group"]["addresses"]) == [
        "10.20.30.40/32", "192.168.0.0/24", "2001:db8::/64"], r
    assert sorted(p1.get(url).json["address_group"]["addresses"]) == [
        "10.20.30.40/32", "192.168.0.0/24", "2001:db8::/64"]
    # Addresses change only through the two actions.
    assert_error(p1.put(url, {"address_group": {"addresses": []}}), 400)
    r = p1.put(url, {"address_group": {"description": "d"}})
    assert r.status == 200 and r.json["address_group"]["description"] == "d", r
    # Shared through RBAC.
    assert p2.get(url).status == 404
    pol = p1.post("/v2.0/rbac-policies", {"rbac_policy": {
        "object_type": "address_group", "object_id": ag["id"],
        "action": "access_as_shared", "target_tenant": "p2"}})
    assert pol.status == 201, pol
    assert p2.get(url).status == 200
    # A project that sees it but does not own it changes nothing, and is
    # answered 404 as by Neutron.
    assert_error(p2.put(url, {"address_group": {"name": "mine"}}), 404)
    assert_error(p2.put(url + "/add_addresses", {"addresses": ["10.1.1.1/32"]}), 404)
    assert_error(p2.delete(url), 404)
    assert p1.get(url).json["address_group"]["name"] == "ag"
    # Security-group rules may name it as their remote.
    sg = p2.post("/v2.0/security-groups", {"security_group": {"name": "g"}}).json[
        "security_group"]
    body = {"security_group_id": sg["id"], "direction": "ingress",
            "remote_address_group_id": ag["id"]}
    r = p2.post("/v2.0/security-group-rules", {"security_group_rule": body})
    assert r.status == 201, r
    rule = r.json["security_group_rule"]
    assert rule["remote_address_group_id"] == ag["id"]
    assert rule["remote_ip_prefix"] is None and rule["remote_group_id"] is None
    shown = p2.get(f"/v2.0/security-groups/{sg['id']}").json["security_group"]
    assert rule["id"] in [x["id"] for x in shown["security_group_rules"]
                          if x["remote_address_group_id"] == ag["id"]]
    assert_error(p2.post("/v2.0/security-group-rules", {"security_group_rule": body}), 409)
    for extra in ({"remote_ip_prefix": "10.0.0.0/8"}, {"remote_group_id": sg["id"]}):
        assert_error(p2.post("/v2.0/security-group-rules", {"security_group_rule": dict(
            body, protocol="tcp", **extra)}), 400)
    assert_error(p2.post("/v2.0/security-group-rules", {"security_group_rule": dict(
        body, remote_address_group_id=str(uuid.uuid4()))}), 404)
    # A project that does not see the group cannot name it.
    p3 = Client(server.url, "p3")
    sg3 = p3.post("/v2.0/security-groups", {"security_group": {"name": "g"}}).json[
        "security_group"]
    assert_error(p3.post("/v2.0/security-group-rules", {"security_group_rule": dict(
        body, security_group_id=sg3["id"])}), 404)
    # In use: neither the group nor the policy that shares it goes.
    assert_error(p1.delete(url), 409)
    assert_error(p1.delete(f"/v2.0/rbac-policies/{pol.json['rbac_policy']['id']}"), 409)
    assert p2.delete(f"/v2.0/security-group-rules/{rule['id']}").status == 204
    assert p1.delete(url).status == 204
    assert p1.get("/v2.0/rbac-policies").json["rbac_policies"] == []


def test_default_subnet_pools(server):
    p1 = Client(server.url, "p1")
    admin = Client(server.url, "admin-project", "admin")
    net = p1.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]
    body = {"network_id": net["id"], "ip_version": 4, "use_default_subnetpool": True}
    assert_error(p1.post("/v2.0/subnets", {"subnet": body}), 400)
    assert_error(pool(p1, 403, is_default=True), 403)
    assert pool(p1)["is_default"] is False
    d = pool(admin, prefixes=["10.60.0.0/16"], default_prefixlen=26, is_default=True,
             shared=True)
    assert_error(pool(admin, 400, prefixes=["10.70.0.0/16"], is_default=True), 400)
    r = p1.post("/v2.0/subnets", {"subnet": body})
    assert r.status == 201, r
    s = r.json["subnet"]
    assert s["subnetpool_id"] == d["id"] and s["cidr"] == "10.60.0.0/26"
    assert "use_default_subnetpool" not in s
    assert_error(p1.post("/v2.0/subnets", {"subnet": dict(body, ip_version=6)}), 400)
    assert_error(p1.post("/v2.0/subnets", {"subnet": dict(body, subnetpool_id=d["id"])}), 400)
    assert len(p1.get("/v2.0/subnets").json["subnets"]) == 1


def test_prefixes_in_another_projects_scope(server):
    p1 = Client(server.url, "p1")
    admin = Client(server.url, "admin-project", "admin")
    s = scope(admin, ip_version=4, shared=True)
    sp = pool(p1, prefixes=["20.0.0.0/18", "30.0.0.0/18"])
    r = admin.put(f"/v2.0/subnetpools/{sp['id']}", {"subnetpool": {"address_scope_id": s["id"]}})
    assert r.status == 200, r
    wider = ["20.0.0.0/18", "30.0.0.0/18", "40.0.0.0/18"]
    assert_error(p1.put(f"/v2.0/subnetpools/{sp['id']}", {"subnetpool": {"prefixes": wider}}),
                 400)
    r = p1.put(f"/v2.0/subnetpools/{sp['id']}", {"subnetpool": {"name": "renamed"}})
    assert r.status == 200, r
    r = admin.put(f"/v2.0/subnetpools/{sp['id']}", {"subnetpool": {"prefixes": wider}})
    assert r.status == 200 and r.json["subnetpool"]["prefixes"] == wider, r

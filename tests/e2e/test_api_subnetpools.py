"""Subnet pools: create, bounds, prefixes that only grow, subnets carved by
CIDR or prefix length, the per-project quota, sharing and deletion rules."""
from conftest import Client


def test_subnetpool_lifecycle_and_allocation(server):
    api = Client(server.url, "p1")
    r = api.post("/v2.0/subnetpools", {"subnetpool": {
        "name": "pool", "prefixes": ["10.11.12.0/24"], "min_prefixlen": "28",
        "max_prefixlen": 30}})
    assert r.status == 201, r
    pool = r.json["subnetpool"]
    # Neutron answers the prefix lengths as strings.
    assert (pool["min_prefixlen"], pool["max_prefixlen"], pool["default_prefixlen"]) == (
        "28", "30", "28")
    assert pool["prefixes"] == ["10.11.12.0/24"] and pool["ip_version"] == 4
    assert pool["shared"] is False and pool["is_default"] is False
    assert pool["project_id"] == "p1" and pool["revision_number"] == 0
    net = api.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]

    def subnet(**kw):
        return api.post("/v2.0/subnets", {"subnet": dict(
            network_id=net["id"], ip_version=4, subnetpool_id=pool["id"], **kw)})

    a = subnet()
    assert a.status == 201 and a.json["subnet"]["cidr"] == "10.11.12.0/28", a
    assert "prefixlen" not in a.json["subnet"]
    b = subnet(prefixlen=30)
    assert b.status == 201 and b.json["subnet"]["cidr"] == "10.11.12.16/30", b
    assert b.json["subnet"]["subnetpool_id"] == pool["id"]
    c = subnet(cidr="10.11.12.64/29")
    assert c.status == 201 and c.json["subnet"]["gateway_ip"] == "10.11.12.65", c
    assert subnet(cidr="10.11.12.64/29").status == 400        # taken
    assert subnet(cidr="10.11.13.0/29").status == 400         # outside the pool
    assert subnet(prefixlen=24).status == 400                 # shorter than min
    assert subnet(prefixlen=31).status == 400                 # longer than max
    # A network's subnets all come from one pool (or none).
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                              "cidr": "192.168.0.0/24"}})
    assert r.status == 400, r
    assert api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"],
                                                 "ip_version": 4}}).status == 400

    # Prefixes grow (append, widen), never shrink.
    pid = pool["id"]
    r = api.put(f"/v2.0/subnetpools/{pid}", {"subnetpool": {
        "prefixes": ["10.11.12.0/24", "10.11.15.0/24"]}})
    assert r.status == 200 and sorted(r.json["subnetpool"]["prefixes"]) == [
        "10.11.12.0/24", "10.11.15.0/24"], r
    r = api.put(f"/v2.0/subnetpools/{pid}", {"subnetpool": {"prefixes": ["10.11.0.0/16"]}})
    assert r.status == 200 and r.json["subnetpool"]["prefixes"] == ["10.11.0.0/16"], r
    r = api.put(f"/v2.0/subnetpools/{pid}", {"subnetpool": {"prefixes": ["10.11.0.0/24"]}})
    assert r.status == 400, r
    assert api.put(f"/v2.0/subnetpools/{pid}", {"subnetpool": {"shared": True}}).status == 400
    assert api.put(f"/v2.0/subnetpools/{pid}", {"subnetpool": {
        "min_prefixlen": 31, "max_prefixlen": 30}}).status == 400

    # In use: no delete; another project does not see it.
    assert api.delete(f"/v2.0/subnetpools/{pid}").status == 409
    assert Client(server.url, "p2").get(f"/v2.0/subnetpools/{pid}").status == 404
    for s in (a, b, c):
        assert api.delete(f"/v2.0/subnets/{s.json['subnet']['id']}").status == 204
    assert api.delete(f"/v2.0/subnetpools/{pid}").status == 204


def test_subnetpool_quota_sharing_and_checks(server):
    api = Client(server.url, "p1")
    admin = Client(server.url, "admin", "admin")
    assert api.post("/v2.0/subnetpools", {"subnetpool": {
        "name": "s", "prefixes": ["10.0.0.0/8"], "shared": True}}).status == 403
    r = admin.post("/v2.0/subnetpools", {"subnetpool": {
        "name": "s", "prefixes": ["10.0.0.0/8"], "shared": True, "default_prefixlen": 30,
        "default_quota": 4}})
    assert r.status == 201, r
    pool = r.json["subnetpool"]
    assert [p["id"] for p in api.get("/v2.0/subnetpools").json["subnetpools"]] == [pool["id"]]
    net = api.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]
    body = {"subnet": {"network_id": net["id"], "ip_version": 4, "subnetpool_id": pool["id"]}}
    r = api.post("/v2.0/subnets", body)
    assert r.status == 201 and r.json["subnet"]["cidr"] == "10.0.0.0/30", r
    r = api.post("/v2.0/subnets", body)                      # 4 more addresses: over quota
    assert r.status == 409 and r.json["NeutronError"]["type"] == "SubnetPoolQuotaExceeded", r
    for bad in ({"prefixes": ["10.0.0.0/33"]}, {"prefixes": []},
                {"prefixes": ["10.0.0.0/8"], "min_prefixlen": "x"},
                {"prefixes": ["10.0.0.0/8"], "address_scope_id":
                 "6f1e3a52-1c4e-4b0e-9a37-1b2c3d4e5f60"}):
        r = api.post("/v2.0/subnetpools", {"subnetpool": bad})
        assert r.status in (400, 404), (bad, r)
    assert "subnet_allocation" in [
        e["alias"] for e in api.get("/v2.0/extensions").json["extensions"]]


def test_subnetpool_prefix_ops(server):
    api = Client(server.url, "p1")
    pool = api.post("/v2.0/subnetpools", {"subnetpool": {
        "name": "p", "prefixes": ["192.168.1.0/24", "10.10.10.0/24"],
        "min_prefixlen": 16}}).json["subnetpool"]
    url = f"/v2.0/subnetpools/{pool['id']}"
    r = api.put(url + "/add_prefixes", {"prefixes": ["192.168.2.0/24"]})
    assert r.status == 200 and sorted(r.json["prefixes"]) == [
        "10.10.10.0/24", "192.168.1.0/24", "192.168.2.0/24"], r
    r = api.put(url + "/remove_prefixes", {"prefixes": ["192.168.2.0/24"]})
    assert r.status == 200 and sorted(r.json["prefixes"]) == [
        "10.10.10.0/24", "192.168.1.0/24"], r
    r = api.put(url + "/add_prefixes", {"prefixes": ["10.10.0.0/16"]})
    assert r.status == 200 and sorted(r.json["prefixes"]) == [
        "10.10.0.0/16", "192.168.1.0/24"], r
    net = api.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]
    assert api.post("/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "ip_version": 4, "subnetpool_id": pool["id"],
        "cidr": "192.168.1.0/28"}}).status == 201
    assert api.put(url + "/remove_prefixes", {"prefixes": ["192.168.1.0/24"]}).status == 409
    assert api.put(url + "/remove_prefixes", {"prefixes": ["nope"]}).status == 400
    assert api.put(url + "/bogus", {"prefixes": []}).status == 404
    assert sorted(api.get(url).json["subnetpool"]["prefixes"]) == [
        "10.10.0.0/16", "192.168.1.0/24"]

"""Bulk create ({"ports": [...]}), all or nothing, and Floating IPs without a
`name` (as Neutron: clients map `name` onto the address)."""
from conftest import Client


def test_bulk_create_all_or_nothing(server):
    api = Client(server.url, "p1")
    r = api.post("/v2.0/networks", {"networks": [{"name": "a"}, {"name": "b"}]})
    assert r.status == 201, r
    nets = r.json["networks"]
    assert [n["name"] for n in nets] == ["a", "b"] and nets[0]["id"] != nets[1]["id"]
    assert all(n["project_id"] == "p1" for n in nets)
    r = api.post("/v2.0/subnets", {"subnets": [
        {"network_id": nets[0]["id"], "cidr": "10.0.0.0/24", "ip_version": 4},
        {"network_id": nets[1]["id"], "cidr": "10.1.0.0/24", "ip_version": 4}]})
    assert r.status == 201, r
    assert [s["gateway_ip"] for s in r.json["subnets"]] == ["10.0.0.1", "10.1.0.1"]
    r = api.post("/v2.0/ports", {"ports": [{"network_id": nets[0]["id"], "name": f"p{i}"}
                                           for i in range(3)]})
    assert r.status == 201, r
    ips = [p["fixed_ips"][0]["ip_address"] for p in r.json["ports"]]
    assert len(set(ips)) == 3

    # The second item fails (its address is taken): nothing of the request stays.
    before = api.get("/v2.0/ports").json["ports"]
    r = api.post("/v2.0/ports", {"ports": [
        {"network_id": nets[0]["id"], "name": "ok"},
        {"network_id": nets[0]["id"], "name": "dup",
         "fixed_ips": [{"ip_address": ips[0]}]}]})
    assert r.status == 409, r
    assert api.get("/v2.0/ports").json["ports"] == before
    # A bad attribute in any item: 400, nothing made.
    r = api.post("/v2.0/networks", {"networks": [{"name": "c"}, {"bogus": 1}]})
    assert r.status == 400 and "bogus" in r.json["NeutronError"]["message"], r
    r = api.post("/v2.0/networks", {"networks": []})
    assert r.status == 400, r
    r = api.post("/v2.0/networks", {"networks": [{"name": "c"}], "network": {"name": "d"}})
    assert r.status == 400, r
    assert sorted(n["name"] for n in api.get("/v2.0/networks").json["networks"]) == ["a", "b"]


def test_bulk_create_counts_quota(make_server):
    srv = make_server(config="quota_network = 2\n").start()
    api = Client(srv.url, "p1")
    r = api.post("/v2.0/networks", {"networks": [{"name": n} for n in "abc"]})
    assert r.status == 409 and "Quota" in r.json["NeutronError"]["message"], r
    assert api.get("/v2.0/networks").json["networks"] == []
    assert api.post("/v2.0/networks", {"networks": [{"name": "a"}, {"name": "b"}]}).status == 201


def test_floatingip_has_no_name(server):
    admin = Client(server.url, "admin", "admin")
    ext = admin.post("/v2.0/networks", {"network": {"name": "public",
                                                     "router:external": True}}).json["network"]
    admin.post("/v2.0/subnets", {"subnet": {"network_id": ext["id"], "cidr": "203.0.113.0/24",
                                            "ip_version": 4}})
    api = Client(server.url, "p1")
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": ext["id"]}})
    assert r.status == 201 and "name" not in r.json["floatingip"], r
    fid = r.json["floatingip"]["id"]
    assert "name" not in api.get(f"/v2.0/floatingips/{fid}").json["floatingip"]
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": ext["id"],
                                                      "name": "x"}})
    assert r.status == 400, r
    r = api.put(f"/v2.0/floatingips/{fid}", {"floatingip": {"name": "x"}})
    assert r.status == 400, r

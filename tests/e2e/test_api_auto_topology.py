"""Auto-allocated topology (auto-allocated-topology, "get me a network"): a
project's network, subnets from the default pools, a router with its gateway
on the default external network and an interface on each subnet, made once,
answered by id after, removed whole; the deployment's requirements checked
(dry-run, 409 without a default external network or default pool)."""
from conftest import Client, api_create, assert_error


def names(client, kind):
    return sorted(x["name"] for x in client.get(f"/v2.0/{kind}s").json[f"{kind}s"]
                  if x["name"].startswith("auto_allocated_"))


def deployment(admin, v6=False):
    ext = api_create(admin, "network", {"name": "public", "router:external": True,
                                        "is_default": True})
    api_create(admin, "subnet", {"network_id": ext["id"], "cidr": "203.0.113.0/24",
                                 "ip_version": 4})
    api_create(admin, "subnetpool", {"name": "v4", "prefixes": ["10.90.0.0/16"],
                                     "default_prefixlen": 26, "shared": True,
                                     "is_default": True})
    if v6:
        api_create(admin, "subnetpool", {"name": "v6", "prefixes": ["2001:db8:90::/48"],
                                         "default_prefixlen": 64, "shared": True,
                                         "is_default": True})
    return ext


def test_requirements_and_dry_run(server, api, admin):
    url = "/v2.0/auto-allocated-topology/p1"
    assert_error(api.get(url), 409, "AutoAllocationFailure")
    assert_error(api.get(url + "?fields=dry-run"), 409, "AutoAllocationFailure")
    ext = api_create(admin, "network", {"name": "public", "router:external": True,
                                        "is_default": True})
    api_create(admin, "subnet", {"network_id": ext["id"], "cidr": "203.0.113.0/24",
                                 "ip_version": 4})
    r = api.get(url)
    assert_error(r, 409, "AutoAllocationFailure")
    assert "subnetpool" in r.json["NeutronError"]["message"]
    api_create(admin, "subnetpool", {"name": "v4", "prefixes": ["10.90.0.0/16"],
                                     "default_prefixlen": 26, "shared": True,
                                     "is_default": True})
    r = api.get(url + "?fields=dry-run")
    assert r.status == 200 and r.json["auto_allocated_topology"]["id"] == "dry-run=pass", r
    assert names(api, "network") == []  # a dry run makes nothing
    # Another project's topology is not the caller's to make.
    assert_error(api.get("/v2.0/auto-allocated-topology/p2"), 403)


def test_get_makes_once_and_delete_removes(server, api, admin):
    ext = deployment(admin, v6=True)
    url = "/v2.0/auto-allocated-topology/p1"
    r = api.get(url)
    assert r.status == 200, r
    topo = r.json["auto_allocated_topology"]
    assert topo["project_id"] == "p1" and topo["tenant_id"] == "p1"
    net = api.get(f"/v2.0/networks/{topo['id']}").json["network"]
    assert net["name"] == "auto_allocated_network" and net["admin_state_up"] is True
    assert names(api, "network") == ["auto_allocated_network"]
    assert names(api, "subnet") == ["auto_allocated_subnet_v4", "auto_allocated_subnet_v6"]
    assert names(api, "router") == ["auto_allocated_router"]
    subnets = api.get(f"/v2.0/subnets?network_id={topo['id']}").json["subnets"]
    assert sorted(s["cidr"].split("/")[1] for s in subnets) == ["26", "64"]
    router = api.get("/v2.0/routers?name=auto_allocated_router").json["routers"][0]
    assert router["external_gateway_info"]["network_id"] == ext["id"]
    ifaces = api.get(f"/v2.0/ports?device_id={router['id']}"
                     "&device_owner=network:router_interface").json["ports"]
    if not ifaces:
        ifaces = [p for p in api.get(f"/v2.0/ports?device_id={router['id']}").json["ports"]
                  if p["device_owner"].startswith("network:router_interface")]
    assert sorted(ip["subnet_id"] for p in ifaces for ip in p["fixed_ips"]) == sorted(
        s["id"] for s in subnets)
    # Idempotent: the same network, nothing more ("None": the caller's, as
    # clients that name no project send it).
    r = api.get("/v2.0/auto-allocated-topology/None")
    assert r.status == 200 and r.json["auto_allocated_topology"]["id"] == topo["id"]
    r = api.get(url)
    assert r.status == 200 and r.json["auto_allocated_topology"]["id"] == topo["id"]
    assert names(api, "network") == ["auto_allocated_network"]
    assert names(api, "router") == ["auto_allocated_router"]
    # Another project gets its own; the admin may ask for any project.
    r = admin.get("/v2.0/auto-allocated-topology/p2")
    assert r.status == 200 and r.json["auto_allocated_topology"]["id"] != topo["id"]
    assert names(Client(server.url, "p2"), "network") == ["auto_allocated_network"]
    # DELETE removes it all (and again: nothing to remove).
    assert api.delete(url).status == 204
    for kind in ("network", "subnet", "router"):
        assert names(api, kind) == []
    assert api.get("/v2.0/ports").json["ports"] == []
    assert api.delete(url).status == 204
    # A new GET makes a new one.
    r = api.get(url)
    assert r.status == 200 and r.json["auto_allocated_topology"]["id"] != topo["id"]


def test_failure_half_way_leaves_nothing(make_server):
    """The router quota is exhausted: the network and subnet made before are
    removed, and the error is the quota's."""
    server = make_server(config="quota_router = 0\n").start()
    api, admin = Client(server.url, "p1"), Client(server.url, "admin-project", "admin")
    deployment(admin)
    r = api.get("/v2.0/auto-allocated-topology/p1")
    assert_error(r, 409)
    assert r.json["NeutronError"]["type"] == "OverQuota", r
    for kind in ("network", "subnet", "router"):
        assert names(api, kind) == []

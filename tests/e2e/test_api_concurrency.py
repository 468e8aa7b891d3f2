"""Concurrent requests: IPAM and VNI allocation stay exact under load."""
import collections
import threading

from conftest import Client, api_create


def _parallel(n, fn):
    results = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_forty_ports_on_a_slash_27(server, api):
    net = api_create(api, "network", {"name": "n"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/27",
                                     "ip_version": 4})
    results = _parallel(40, lambda i: Client(server.url, "p1").post(
        "/v2.0/ports", {"port": {"network_id": net["id"], "name": f"p{i}"}}))
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    by_status = collections.Counter(r.status for r in results)
    assert by_status == {201: 29, 409: 11}, by_status
    for r in results:
        if r.status == 409:
            assert r.json["NeutronError"]["type"] == "IpAddressGenerationFailure", r
    made = [r.json["port"] for r in results if r.status == 201]
    addrs = [p["fixed_ips"][0]["ip_address"] for p in made]
    assert len(set(addrs)) == 29
    assert set(addrs) == {f"10.0.0.{i}" for i in range(2, 31)}
    assert all(p["fixed_ips"][0]["subnet_id"] == sub["id"] for p in made)
    assert len({p["mac_address"] for p in made}) == 29
    listed = api.get("/v2.0/ports").json["ports"]
    assert sorted(p["id"] for p in listed) == sorted(p["id"] for p in made)


def test_concurrent_same_address(server, api):
    net = api_create(api, "network", {"name": "n"})
    api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    results = _parallel(12, lambda i: Client(server.url, "p1").post(
        "/v2.0/ports", {"port": {"network_id": net["id"],
                                 "fixed_ips": [{"ip_address": "10.0.0.42"}]}}))
    by_status = collections.Counter(getattr(r, "status", r) for r in results)
    assert by_status == {201: 1, 409: 11}, by_status
    for r in results:
        if r.status == 409:
            assert r.json["NeutronError"]["type"] == "IpAddressAlreadyAllocated", r
    assert len(api.get("/v2.0/ports").json["ports"]) == 1


def test_concurrent_networks_get_distinct_vnis(server, admin):
    results = _parallel(20, lambda i: Client(server.url, "p1").post(
        "/v2.0/networks", {"network": {"name": f"n{i}"}}))
    assert all(getattr(r, "status", None) == 201 for r in results), results
    nets = admin.get("/v2.0/networks").json["networks"]
    assert len(nets) == 20
    assert len({n["provider:segmentation_id"] for n in nets}) == 20


def test_concurrent_create_and_delete_release(server, api):
    """Creates and deletes racing on a tiny subnet never leak or double-book."""
    net = api_create(api, "network", {"name": "n"})
    api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/29", "ip_version": 4})
    first = [api_create(api, "port", {"network_id": net["id"]}) for _ in range(5)]

    def work(i):
        c = Client(server.url, "p1")
        if i < 5:
            return c.delete(f"/v2.0/ports/{first[i]['id']}")
        return c.post("/v2.0/ports", {"port": {"network_id": net["id"]}})

    results = _parallel(15, work)
    assert all(r.status == 204 for r in results[:5]), results[:5]
    assert {r.status for r in results[5:]} <= {201, 409}, results[5:]
    listed = api.get("/v2.0/ports").json["ports"]
    addrs = [p["fixed_ips"][0]["ip_address"] for p in listed]
    assert len(addrs) == len(set(addrs)) == sum(r.status == 201 for r in results[5:])
    # Whatever is free now can still be allocated: no leaked allocations.
    while True:
        r = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}})
        if r.status != 201:
            assert r.status == 409
            break
    assert len(api.get("/v2.0/ports").json["ports"]) == 5


def test_concurrent_overlapping_subnets(server, api):
    net = api_create(api, "network", {"name": "n"})
    cidrs = ["10.0.0.0/24", "10.0.0.0/25", "10.0.0.128/25", "10.0.0.0/16", "10.0.0.64/26"] * 2
    results = _parallel(len(cidrs), lambda i: Client(server.url, "p1").post(
        "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": cidrs[i], "ip_version": 4}}))
    statuses = collections.Counter(getattr(r, "status", r) for r in results)
    subs = api.get("/v2.0/subnets").json["subnets"]
    # No two of the created subnets overlap; /25 halves may both win.
    import ipaddress
    nets_ = [ipaddress.ip_network(s["cidr"]) for s in subs]
    for i, a in enumerate(nets_):
        for b in nets_[i + 1:]:
            assert not a.overlaps(b), (a, b)
    assert statuses[201] == len(subs) >= 1, statuses
    assert set(statuses) <= {201, 400}, statuses


def test_concurrent_same_mac(server, api):
    net = api_create(api, "network", {"name": "n"})
    results = _parallel(10, lambda i: Client(server.url, "p1").post(
        "/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:12:34:56"}}))
    statuses = collections.Counter(getattr(r, "status", r) for r in results)
    assert statuses == {201: 1, 409: 9}, statuses
    assert len(api.get("/v2.0/ports").json["ports"]) == 1


def test_concurrent_same_segmentation_id(server, admin):
    results = _parallel(10, lambda i: Client(server.url, "admin-project", "admin").post(
        "/v2.0/networks", {"network": {"provider:network_type": "vxlan",
                                       "provider:segmentation_id": 777}}))
    statuses = collections.Counter(getattr(r, "status", r) for r in results)
    assert statuses == {201: 1, 409: 9}, statuses
    assert len(admin.get("/v2.0/networks").json["networks"]) == 1

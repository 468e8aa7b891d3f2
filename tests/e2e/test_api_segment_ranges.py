"""Network segment ranges (network-segment-range): admin-only ranges of VNIs
that tenant networks take theirs from: a project's own ranges first (kept
for it), then the shared ones, then the server's vni_ranges; a range in use
cannot be deleted nor narrowed where Neutron refuses it."""
from conftest import Client, api_create, assert_error


def rng(admin, status=201, **kw):
    body = dict({"name": "r", "network_type": "vxlan", "minimum": 1100, "maximum": 1105,
                 "shared": False, "project_id": "p1"}, **kw)
    r = admin.post("/v2.0/network-segment-ranges", {"network_segment_range": body})
    assert r.status == status, r
    return r.json["network_segment_range"] if status == 201 else r


def vni(admin, net):
    return admin.get(f"/v2.0/networks/{net['id']}").json["network"]["provider:segmentation_id"]


def test_project_range_feeds_its_networks(make_server):
    server = make_server(config="vni_ranges = 1000:1200\nquota_network = -1\n").start()
    admin = Client(server.url, "admin-project", "admin")
    p1, p2 = Client(server.url, "p1"), Client(server.url, "p2")
    r = rng(admin)
    assert (r["default"], r["shared"], r["project_id"], r["network_type"]) == (
        False, False, "p1", "vxlan")
    assert (r["minimum"], r["maximum"]) == (1100, 1105)
    # Admin only: tenants neither see nor make ranges.
    assert p1.get("/v2.0/network-segment-ranges").json["network_segment_ranges"] == []
    assert p1.get(f"/v2.0/network-segment-ranges/{r['id']}").status == 404
    assert_error(rng(p1, 403), 403)
    listed = admin.get(f"/v2.0/network-segment-ranges?id={r['id']}").json[
        "network_segment_ranges"]
    assert [x["id"] for x in listed] == [r["id"]]
    assert admin.get("/v2.0/network-segment-ranges?id=33").json["network_segment_ranges"] == []
    # p1's networks take the range's VNIs; p2's never do.
    nets = [api_create(p1, "network", {"name": f"n{i}"}) for i in range(6)]
    assert sorted(vni(admin, n) for n in nets) == list(range(1100, 1106))
    others = [api_create(p2, "network", {"name": f"o{i}"}) for i in range(150)]
    assert all(not 1100 <= vni(admin, n) <= 1105 for n in others)
    # Full: p1's next network comes from the rest.
    extra = api_create(p1, "network", {"name": "extra"})
    assert not 1100 <= vni(admin, extra) <= 1105
    # In use: no delete; narrowing as Neutron refuses it.
    url = f"/v2.0/network-segment-ranges/{r['id']}"
    assert_error(admin.delete(url), 409)
    assert_error(admin.put(url, {"network_segment_range": {"minimum": 1100,
                                                            "maximum": 1150}}), 409)
    r2 = admin.put(url, {"network_segment_range": {"name": "wider", "minimum": 1050,
                                                    "maximum": 1155}})
    assert r2.status == 200, r2
    assert r2.json["network_segment_range"]["minimum"] == 1050
    # Any network in the range holds it.
    for n in nets + [extra] + others:
        assert admin.delete(f"/v2.0/networks/{n['id']}").status == 204
    assert admin.delete(url).status == 204


def test_shared_range_and_bad_ranges(make_server):
    server = make_server(config="vni_ranges = 5000:5010\n").start()
    admin = Client(server.url, "admin-project", "admin")
    p1 = Client(server.url, "p3")
    s = rng(admin, shared=True, project_id="", minimum=7000, maximum=7001)
    assert s["shared"] is True and s["project_id"] == ""
    a, b, c = (api_create(p1, "network", {"name": f"n{i}"}) for i in range(3))
    assert [vni(admin, a), vni(admin, b)] == [7000, 7001]
    assert vni(admin, c) == 5000  # the server's own range after the shared ones
    for bad in ({"minimum": 0}, {"maximum": 16777216}, {"minimum": 10, "maximum": 9},
                {"network_type": "vlan", "physical_network": "physnet1"},
                {"network_type": "vxlan", "physical_network": "physnet1"},
                {"shared": True}, {"shared": False, "project_id": ""}):
        assert_error(rng(admin, 400, **bad), 400)

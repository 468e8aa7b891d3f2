"""Lists: filtering, fields, sorting, pagination with *_links."""
import urllib.parse

import pytest

from conftest import api_create, assert_error, ids


@pytest.fixture
def nets(api):
    """Five networks of p1, names e, c, a, d, b (not in id order)."""
    out = []
    for name, up in (("e", True), ("c", False), ("a", True), ("d", False), ("b", True)):
        out.append(api_create(api, "network", {"name": name, "admin_state_up": up,
                                               "description": "grp1" if name in "abc" else "grp2"}))
    return out


def names(resp, coll="networks"):
    assert resp.status == 200, resp
    return [o["name"] for o in resp.json[coll]]


def links(resp, coll="networks"):
    return {lk["rel"]: lk["href"] for lk in resp.json.get(coll + "_links", [])}


def follow(api, href):
    """GET an absolute link from a *_links entry (path and query only)."""
    u = urllib.parse.urlsplit(href)
    assert u.path.startswith("/v2.0/"), href
    return api.get(u.path + ("?" + u.query if u.query else ""))


def test_filter_by_name(api, nets):
    assert names(api.get("/v2.0/networks?name=c")) == ["c"]
    assert sorted(names(api.get("/v2.0/networks?name=a&name=d"))) == ["a", "d"]
    assert names(api.get("/v2.0/networks?name=zzz")) == []


def test_filter_by_boolean_and_combined(api, nets):
    assert sorted(names(api.get("/v2.0/networks?admin_state_up=False"))) == ["c", "d"]
    assert sorted(names(api.get("/v2.0/networks?admin_state_up=true"))) == ["a", "b", "e"]
    assert sorted(names(api.get("/v2.0/networks?admin_state_up=True&description=grp1"))) == ["a", "b"]
    assert names(api.get("/v2.0/networks?admin_state_up=False&name=a")) == []


def test_filter_by_id_and_shared(api, nets):
    r = api.get(f"/v2.0/networks?id={nets[0]['id']}&id={nets[2]['id']}")
    assert ids(r.json["networks"]) == sorted([nets[0]["id"], nets[2]["id"]])
    assert len(api.get("/v2.0/networks?shared=false").json["networks"]) == 5
    assert api.get("/v2.0/networks?shared=true").json["networks"] == []


def test_filter_unknown_attribute_refused(api, nets):
    # The server advertises filter-validation: unknown filters answer 400.
    assert_error(api.get("/v2.0/networks?bogus=1"), 400)


def test_filter_subnets_and_ports(api, nets):
    n1, n2 = nets[0], nets[1]
    s1 = api_create(api, "subnet", {"network_id": n1["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    s2 = api_create(api, "subnet", {"network_id": n2["id"], "cidr": "10.1.0.0/24", "ip_version": 4,
                                    "enable_dhcp": False})
    r = api.get(f"/v2.0/subnets?network_id={n2['id']}")
    assert ids(r.json["subnets"]) == [s2["id"]]
    r = api.get("/v2.0/subnets?cidr=10.0.0.0/24")
    assert ids(r.json["subnets"]) == [s1["id"]]
    r = api.get("/v2.0/subnets?enable_dhcp=false")
    assert ids(r.json["subnets"]) == [s2["id"]]
    r = api.get("/v2.0/subnets?ip_version=4")
    assert ids(r.json["subnets"]) == sorted([s1["id"], s2["id"]])
    p1 = api_create(api, "port", {"network_id": n1["id"], "device_id": "vm-1",
                                  "device_owner": "compute:nova"})
    p2 = api_create(api, "port", {"network_id": n2["id"], "device_id": "vm-2"})
    assert ids(api.get(f"/v2.0/ports?network_id={n1['id']}").json["ports"]) == [p1["id"]]
    assert ids(api.get("/v2.0/ports?device_id=vm-2").json["ports"]) == [p2["id"]]
    assert ids(api.get("/v2.0/ports?device_owner=compute:nova").json["ports"]) == [p1["id"]]
    mac = urllib.parse.quote(p2["mac_address"])
    assert ids(api.get(f"/v2.0/ports?mac_address={mac}").json["ports"]) == [p2["id"]]
    ip = p1["fixed_ips"][0]["ip_address"]
    q = urllib.parse.quote(f"ip_address={ip}")
    assert ids(api.get(f"/v2.0/ports?fixed_ips={q}").json["ports"]) == [p1["id"]]
    q = urllib.parse.quote(f"subnet_id={s2['id']}")
    assert ids(api.get(f"/v2.0/ports?fixed_ips={q}").json["ports"]) == [p2["id"]]


def test_fields_on_list(api, nets):
    r = api.get("/v2.0/networks?fields=id&fields=name")
    assert r.status == 200, r
    assert len(r.json["networks"]) == 5
    for n in r.json["networks"]:
        assert set(n) == {"id", "name"}, n
    r = api.get("/v2.0/networks?fields=name&name=b")
    assert r.json["networks"] == [{"name": "b"}]


def test_fields_on_show(api, nets):
    r = api.get(f"/v2.0/networks/{nets[0]['id']}?fields=name&fields=mtu")
    assert r.status == 200, r
    assert r.json["network"] == {"name": "e", "mtu": 1450}


def test_fields_with_sort_and_page_still_only_requested(api, nets):
    r = api.get("/v2.0/networks?fields=name&sort_key=name&sort_dir=asc&limit=2")
    assert r.status == 200, r
    assert r.json["networks"] == [{"name": "a"}, {"name": "b"}]


def test_sorting(api, nets):
    assert names(api.get("/v2.0/networks?sort_key=name&sort_dir=asc")) == ["a", "b", "c", "d", "e"]
    assert names(api.get("/v2.0/networks?sort_key=name&sort_dir=desc")) == ["e", "d", "c", "b", "a"]
    r = api.get("/v2.0/networks?sort_key=admin_state_up&sort_dir=asc&sort_key=name&sort_dir=desc")
    assert names(r) == ["d", "c", "e", "b", "a"]


def test_sorting_bad_parameters(api, nets):
    assert_error(api.get("/v2.0/networks?sort_key=bogus&sort_dir=asc"), 400)
    assert_error(api.get("/v2.0/networks?sort_key=name&sort_dir=sideways"), 400)
    assert_error(api.get("/v2.0/networks?sort_key=name&sort_key=id&sort_dir=asc"), 400)


def test_pagination_walk_forward(api, nets):
    everything = api.get("/v2.0/networks?sort_key=name&sort_dir=asc")
    assert names(everything) == ["a", "b", "c", "d", "e"]
    r = api.get("/v2.0/networks?limit=2&sort_key=name&sort_dir=asc")
    assert names(r) == ["a", "b"]
    lk = links(r)
    assert "next" in lk, r.json
    nxt = urllib.parse.parse_qs(urllib.parse.urlsplit(lk["next"]).query)
    assert nxt["limit"] == ["2"]
    assert nxt["marker"] == [r.json["networks"][-1]["id"]]
    r2 = follow(api, lk["next"])
    assert names(r2) == ["c", "d"]
    lk2 = links(r2)
    assert "next" in lk2 and "previous" in lk2, r2.json
    r3 = follow(api, lk2["next"])
    assert names(r3) == ["e"]
    assert "next" not in links(r3), r3.json
    assert "previous" in links(r3), r3.json
    # previous from page 2 gives page 1
    back = follow(api, lk2["previous"])
    assert names(back) == ["a", "b"]


def test_pagination_default_order_is_complete(api, nets):
    """Without sort_key, walking the next links yields every network once."""
    seen, page = [], api.get("/v2.0/networks?limit=2")
    for _ in range(10):
        assert page.status == 200, page
        seen += [n["id"] for n in page.json["networks"]]
        if "next" not in links(page):
            break
        page = follow(api, links(page)["next"])
    assert sorted(seen) == ids(nets)
    assert len(seen) == 5


def test_pagination_marker_and_page_reverse(api, nets):
    by_name = {n["name"]: n["id"] for n in nets}
    r = api.get(f"/v2.0/networks?limit=2&sort_key=name&sort_dir=asc&marker={by_name['b']}")
    assert names(r) == ["c", "d"]
    r = api.get(f"/v2.0/networks?limit=2&sort_key=name&sort_dir=asc&marker={by_name['d']}"
                "&page_reverse=True")
    assert names(r) == ["b", "c"]
    lk = links(r)
    assert "previous" in lk and "next" in lk, r.json
    prev = follow(api, lk["previous"])
    assert names(prev) == ["a"]
    assert "previous" not in links(prev), prev.json
    assert "next" in links(prev)
    assert names(follow(api, links(prev)["next"])) == ["b", "c"]


def test_pagination_bad_limit(api, nets):
    assert_error(api.get("/v2.0/networks?limit=-1"), 400)
    assert_error(api.get("/v2.0/networks?limit=abc"), 400)
    assert len(api.get("/v2.0/networks?limit=0").json["networks"]) == 5


def test_subnet_and_port_links(api, nets):
    n = nets[0]
    for i in range(3):
        api_create(api, "subnet", {"network_id": n["id"], "cidr": f"10.{i}.0.0/24", "ip_version": 4})
        api_create(api, "port", {"network_id": n["id"]})
    for coll in ("subnets", "ports"):
        r = api.get(f"/v2.0/{coll}?limit=2")
        assert r.status == 200, r
        assert len(r.json[coll]) == 2
        lk = links(r, coll)
        assert "next" in lk, r.json
        rest = follow(api, lk["next"])
        assert len(rest.json[coll]) == 1
        assert not set(ids(rest.json[coll])) & set(ids(r.json[coll]))
        assert "next" not in links(rest, coll)


def test_more_attribute_filters(api, nets):
    assert len(api.get("/v2.0/networks?status=ACTIVE").json["networks"]) == 5
    assert len(api.get("/v2.0/networks?mtu=1450").json["networks"]) == 5
    assert api.get("/v2.0/networks?mtu=1500").json["networks"] == []
    assert len(api.get("/v2.0/networks?router:external=false").json["networks"]) == 5
    assert sorted(names(api.get("/v2.0/networks?description=grp2"))) == ["d", "e"]
    assert len(api.get("/v2.0/networks?tenant_id=p1").json["networks"]) == 5
    assert api.get("/v2.0/networks?project_id=p2").json["networks"] == []
    n = nets[0]
    api_create(api, "subnet", {"network_id": n["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
                               "gateway_ip": "10.0.0.254"})
    assert len(api.get("/v2.0/subnets?gateway_ip=10.0.0.254").json["subnets"]) == 1
    assert api.get("/v2.0/subnets?gateway_ip=10.0.0.1").json["subnets"] == []
    p = api_create(api, "port", {"network_id": n["id"], "name": "pp"})
    assert ids(api.get("/v2.0/ports?status=DOWN").json["ports"]) == [p["id"]]
    assert api.get("/v2.0/ports?status=ACTIVE").json["ports"] == []
    assert_error(api.get("/v2.0/ports?bogus=1"), 400)


def test_pagination_stable_on_non_unique_sort_key(api, nets):
    for i in range(3):
        api_create(api, "network", {"name": "dup", "admin_state_up": True})
    seen = []
    page = api.get("/v2.0/networks?limit=2&sort_key=admin_state_up&sort_dir=asc")
    for _ in range(10):
        assert page.status == 200, page
        seen += [n["id"] for n in page.json["networks"]]
        if "next" not in links(page):
            break
        page = follow(api, links(page)["next"])
    assert len(seen) == 8 and len(set(seen)) == 8, seen
    r = api.get("/v2.0/networks?limit=3&sort_key=name&sort_dir=desc")
    assert names(r) == ["e", "dup", "dup"]
    r2 = follow(api, links(r)["next"])
    r3 = follow(api, links(r2)["next"])
    got = names(r) + names(r2) + names(r3)
    assert got == ["e", "dup", "dup", "dup", "d", "c", "b", "a"]


def test_pagination_with_filter_and_desc(api, nets):
    r = api.get("/v2.0/networks?limit=1&admin_state_up=True&sort_key=name&sort_dir=desc")
    assert names(r) == ["e"]
    r = follow(api, links(r)["next"])
    assert names(r) == ["b"]
    r = follow(api, links(r)["next"])
    assert names(r) == ["a"]
    nxt = links(r).get("next")
    if nxt:  # a full last page may link to an empty one
        assert names(follow(api, nxt)) == []


def test_limit_larger_than_count(api, nets):
    r = api.get("/v2.0/networks?limit=50")
    assert len(r.json["networks"]) == 5
    assert "next" not in links(r)


def test_fields_on_subnets_and_ports(api, nets):
    n = nets[0]
    api_create(api, "subnet", {"network_id": n["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    api_create(api, "port", {"network_id": n["id"]})
    assert [set(s) for s in api.get("/v2.0/subnets?fields=cidr").json["subnets"]] == [{"cidr"}]
    r = api.get("/v2.0/ports?fields=fixed_ips&fields=mac_address")
    assert [set(p) for p in r.json["ports"]] == [{"fixed_ips", "mac_address"}]

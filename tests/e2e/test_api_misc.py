"""Version documents, extensions, tags, standard attributes and bad input."""
import http.client
import json
import urllib.parse

import pytest

from conftest import api_create, assert_error, ids


# --- documents --------------------------------------------------------------

def test_versions_document(api):
    r = api.get("/")
    assert r.status == 200, r
    versions = r.json["versions"]
    v2 = [v for v in versions if v["id"] == "v2.0"]
    assert len(v2) == 1, versions
    assert v2[0]["status"] == "CURRENT"
    assert any(lk["rel"] == "self" and lk["href"].rstrip("/").endswith("/v2.0")
               for lk in v2[0]["links"]), v2


def test_versions_document_without_identity(server):
    import urllib.request
    with urllib.request.urlopen(server.url + "/", timeout=10) as r:
        assert r.status == 200
        assert "v2.0" in [v["id"] for v in json.loads(r.read())["versions"]]


def test_v2_resources_document(api):
    r = api.get("/v2.0")
    assert r.status == 200, r
    res = {x["name"]: x for x in r.json["resources"]}
    for name, coll in (("network", "networks"), ("subnet", "subnets"), ("port", "ports")):
        assert res[name]["collection"] == coll
        assert any(lk["href"].endswith("/v2.0/" + coll) for lk in res[name]["links"]), res[name]
    assert api.get("/v2.0/").status == 200


REQUIRED_ALIASES = {"external-net", "provider", "binding", "port-security", "allowed-address-pairs",
                    "net-mtu", "standard-attr-revisions", "standard-attr-timestamp",
                    "standard-attr-description", "project-id", "pagination", "sorting"}

# Extensions that add a collection: advertised => that collection answers.
COLLECTION_OF = {
    "security-group": "/v2.0/security-groups", "router": "/v2.0/routers",
    "segment": "/v2.0/segments", "quotas": "/v2.0/quotas",
    "floatingip-pools": "/v2.0/floatingip_pools",
    "network-ip-availability": "/v2.0/network-ip-availabilities",
    "subnet_allocation": "/v2.0/subnetpools", "address-scope": "/v2.0/address-scopes",
    "rbac-policies": "/v2.0/rbac-policies", "agent": "/v2.0/agents",
    "availability_zone": "/v2.0/availability_zones", "trunk": "/v2.0/trunks",
    "qos": "/v2.0/qos/policies", "metering": "/v2.0/metering/metering-labels",
    "flavors": "/v2.0/flavors", "service-type": "/v2.0/service-providers",
    "fwaas_v2": "/v2.0/fwaas/firewall_groups", "network-segment-range": "/v2.0/network-segment-ranges",
    "logging": "/v2.0/log/logs", "bgpvpn": "/v2.0/bgpvpn/bgpvpns",
}
# Extensions that add an attribute: advertised => the attribute is there.
NETWORK_ATTR_OF = {"net-mtu": "mtu", "external-net": "router:external",
                   "provider": "provider:network_type", "standard-attr-revisions": "revision_number",
                   "standard-attr-timestamp": "created_at", "project-id": "project_id",
                   "standard-attr-description": "description", "qos": "qos_policy_id",
                   "dns-integration": "dns_domain", "port-security": "port_security_enabled",
                   "network_availability_zone": "availability_zones", "standard-attr-tag": "tags",
                   "tag": "tags"}
PORT_ATTR_OF = {"binding": "binding:host_id", "allowed-address-pairs": "allowed_address_pairs",
                "port-security": "port_security_enabled", "extra_dhcp_opt": "extra_dhcp_opts",
                "dns-integration": "dns_name", "security-group": "security_groups",
                "qos": "qos_policy_id", "port-mac-address-regenerate": "mac_address"}


def test_extensions_list_real_aliases(admin):
    r = admin.get("/v2.0/extensions")
    assert r.status == 200, r
    exts = r.json["extensions"]
    aliases = [e["alias"] for e in exts]
    assert len(aliases) == len(set(aliases)), aliases
    for e in exts:
        assert {"alias", "name", "description", "updated", "links"} <= set(e), e
    missing = REQUIRED_ALIASES - set(aliases)
    assert not missing, missing
    assert {"standard-attr-tag", "tag"} & set(aliases), aliases
    # Whatever is advertised is real.
    for alias in aliases:
        if alias in COLLECTION_OF:
            got = admin.get(COLLECTION_OF[alias])
            assert got.status == 200, (alias, got)
    net = api_create(admin, "network", {"name": "n"})
    api_create(admin, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    port = api_create(admin, "port", {"network_id": net["id"]})
    net = admin.get(f"/v2.0/networks/{net['id']}").json["network"]
    for alias in aliases:
        if alias in NETWORK_ATTR_OF:
            assert NETWORK_ATTR_OF[alias] in net, (alias, net)
        if alias in PORT_ATTR_OF:
            assert PORT_ATTR_OF[alias] in port, (alias, port)


def test_show_extension(api):
    r = api.get("/v2.0/extensions/external-net")
    assert r.status == 200, r
    assert r.json["extension"]["alias"] == "external-net"
    assert_error(api.get("/v2.0/extensions/no-such-extension"), 404)


def test_unknown_paths_and_methods(api):
    assert_error(api.get("/v2.0/bogus"), 404)
    assert_error(api.get("/v3/networks"), 404)
    r = api.delete("/v2.0/networks")
    assert r.status in (404, 405), r
    net = api_create(api, "network", {"name": "n"})
    r = api.post(f"/v2.0/networks/{net['id']}", {"network": {"name": "x"}})
    assert r.status in (404, 405), r
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["name"] == "n"


# --- tags -------------------------------------------------------------------

def test_tags_subresource(api):
    net = api_create(api, "network", {"name": "n"})
    base = f"/v2.0/networks/{net['id']}/tags"
    r = api.put(base, {"tags": ["red", "blue"]})
    assert r.status == 200, r
    assert sorted(r.json["tags"]) == ["blue", "red"]
    r = api.get(base)
    assert r.status == 200, r
    assert sorted(r.json["tags"]) == ["blue", "red"]
    assert sorted(api.get(f"/v2.0/networks/{net['id']}").json["network"]["tags"]) == ["blue", "red"]
    assert api.get(base + "/red").status == 204
    assert_error(api.get(base + "/green"), 404)
    r = api.put(base + "/green")
    assert r.status == 201, r
    assert api.put(base + "/green").status == 201  # idempotent
    assert sorted(api.get(base).json["tags"]) == ["blue", "green", "red"]
    assert api.delete(base + "/red").status == 204
    assert_error(api.delete(base + "/red"), 404)
    assert sorted(api.get(base).json["tags"]) == ["blue", "green"]
    # PUT replaces the whole set.
    assert sorted(api.put(base, {"tags": ["x"]}).json["tags"]) == ["x"]
    assert api.get(base).json["tags"] == ["x"]
    assert api.delete(base).status == 204
    assert api.get(base).json["tags"] == []
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["tags"] == []


def test_tags_on_subnets_and_ports(api):
    net = api_create(api, "network", {"name": "n"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    port = api_create(api, "port", {"network_id": net["id"]})
    assert api.put(f"/v2.0/subnets/{sub['id']}/tags/s1").status == 201
    assert api.put(f"/v2.0/ports/{port['id']}/tags", {"tags": ["p1", "p2"]}).status == 200
    assert api.get(f"/v2.0/subnets/{sub['id']}").json["subnet"]["tags"] == ["s1"]
    assert sorted(api.get(f"/v2.0/ports/{port['id']}").json["port"]["tags"]) == ["p1", "p2"]
    assert ids(api.get("/v2.0/ports?tags=p2").json["ports"]) == [port["id"]]
    assert api.get("/v2.0/subnets?tags=nope").json["subnets"] == []


def test_tags_bad_input(api):
    net = api_create(api, "network", {"name": "n"})
    base = f"/v2.0/networks/{net['id']}/tags"
    assert_error(api.put(base, {"tags": "not-a-list"}), 400)
    assert_error(api.put(base, {"tags": [1, 2]}), 400)
    assert_error(api.put(base, {"tags": ["x" * 61]}), 400)
    assert_error(api.put(base + "/" + "y" * 61), 400)
    assert_error(api.put(base, {"wrong": ["a"]}), 400)
    assert api.get(base).json["tags"] == []
    missing = "3b1f1d5a-5c60-4a35-a0d7-4a1d7a2a6f01"
    assert_error(api.get(f"/v2.0/networks/{missing}/tags"), 404, "NetworkNotFound")
    assert_error(api.put(f"/v2.0/networks/{missing}/tags/a"), 404, "NetworkNotFound")
    assert_error(api.put(f"/v2.0/ports/{missing}/tags", {"tags": ["a"]}), 404, "PortNotFound")


@pytest.fixture
def tagged(api):
    out = {}
    for name, tags in (("A", ["a", "b"]), ("B", ["a"]), ("C", ["b"]), ("D", [])):
        n = api_create(api, "network", {"name": name})
        if tags:
            assert api.put(f"/v2.0/networks/{n['id']}/tags", {"tags": tags}).status == 200
        out[name] = n
    return out


def _names(api, query):
    r = api.get("/v2.0/networks?" + query)
    assert r.status == 200, r
    return sorted(n["name"] for n in r.json["networks"])


@pytest.mark.parametrize("query,expected", [
    ("tags=a,b", ["A"]),
    ("tags=a", ["A", "B"]),
    ("tags-any=a,b", ["A", "B", "C"]),
    ("tags-any=b", ["A", "C"]),
    ("not-tags=a,b", ["B", "C", "D"]),
    ("not-tags=a", ["C", "D"]),
    ("not-tags-any=a,b", ["D"]),
    ("not-tags-any=b", ["B", "D"]),
    ("tags=a&not-tags=b", ["B"]),
    ("tags-any=a,b&not-tags-any=a", ["C"]),
    ("tags=zzz", []),
])
def test_tag_filters(api, tagged, query, expected):
    assert _names(api, query) == expected


# --- standard attributes ------------------------------------------------------

@pytest.mark.parametrize("kind", ["network", "subnet", "port"])
def test_revision_number_bumped_on_each_update(api, kind):
    net = api_create(api, "network", {"name": "n"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4})
    port = api_create(api, "port", {"network_id": net["id"]})
    obj = {"network": net, "subnet": sub, "port": port}[kind]
    obj = api.get(f"/v2.0/{kind}s/{obj['id']}").json[kind]
    rev = obj["revision_number"]
    assert obj["project_id"] == obj["tenant_id"] == "p1"
    for i in range(3):
        r = api.put(f"/v2.0/{kind}s/{obj['id']}", {kind: {"name": f"v{i}"}})
        assert r.status == 200, r
        assert r.json[kind]["revision_number"] == rev + i + 1
        assert r.json[kind]["created_at"] == obj["created_at"]
        assert r.json[kind]["updated_at"] >= obj["updated_at"]
    # A refused update does not bump it.
    assert api.put(f"/v2.0/{kind}s/{obj['id']}", {kind: {"bogus": 1}}).status == 400
    assert api.get(f"/v2.0/{kind}s/{obj['id']}").json[kind]["revision_number"] == rev + 3


def test_project_id_equals_tenant_id_in_lists(api, admin):
    net = api_create(api, "network", {"name": "n"})
    api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    api_create(api, "port", {"network_id": net["id"]})
    for coll in ("networks", "subnets", "ports"):
        for client in (api, admin):
            items = client.get(f"/v2.0/{coll}").json[coll]
            assert items
            for o in items:
                assert o["project_id"] == o["tenant_id"] == "p1", o
    assert ids(api.get("/v2.0/networks?tenant_id=p1").json["networks"]) == [net["id"]]
    assert ids(api.get("/v2.0/networks?project_id=p1").json["networks"]) == [net["id"]]


# --- bad input ----------------------------------------------------------------

def _networks(api):
    return api.get("/v2.0/networks").json["networks"]


@pytest.mark.parametrize("raw", [b"{", b"not json", b"[]", b'"network"', b"{\"network\": [1]}",
                                 b"{\"network\": null}", b"", b"{}", b"{\"netwerk\": {}}",
                                 b"\xff\xfe{}"])
def test_malformed_bodies(api, raw):
    r = api.post("/v2.0/networks", raw=raw)
    assert_error(r, 400)
    assert _networks(api) == []


@pytest.mark.parametrize("body", [
    {"name": 123}, {"name": ["x"]}, {"admin_state_up": "yes"}, {"admin_state_up": 2},
    {"description": {"a": 1}}, {"name": "x" * 256}, {"description": "d" * 256},
    {"bogus_attribute": 1}, {"mtu": "big"},
])
def test_bad_network_attributes(api, body):
    assert_error(api.post("/v2.0/networks", {"network": body}), 400)
    assert _networks(api) == []


def test_bad_update_changes_nothing(api):
    net = api_create(api, "network", {"name": "n"})
    for body in ({"name": 5}, {"bogus": True}, {"admin_state_up": "perhaps"}):
        assert_error(api.put(f"/v2.0/networks/{net['id']}", {"network": body}), 400)
    assert_error(api.put(f"/v2.0/networks/{net['id']}", raw=b"{oops"), 400)
    # A valid attribute next to an invalid one is not applied either.
    assert_error(api.put(f"/v2.0/networks/{net['id']}",
                         {"network": {"name": "changed", "bogus": 1}}), 400)
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"] == net


@pytest.mark.parametrize("body", [
    {"fixed_ips": "10.0.0.5"}, {"fixed_ips": ["10.0.0.5"]},
    {"fixed_ips": [{"ip_address": "10.0.0.300"}]}, {"fixed_ips": [{"ip_address": "10.0.0"}]},
    {"fixed_ips": [{"subnet_id": "not-a-uuid"}]}, {"admin_state_up": "x"},
    {"allowed_address_pairs": [{"ip_address": "10.0.0.0/33"}]},
    {"device_id": 7}, {"unknown": "x"},
])
def test_bad_port_attributes(api, body):
    net = api_create(api, "network", {"name": "n"})
    api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    b = {"network_id": net["id"]}
    b.update(body)
    assert_error(api.post("/v2.0/ports", {"port": b}), 400)
    assert api.get("/v2.0/ports").json["ports"] == []


def _raw_post(server, path, data, headers):
    u = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.putrequest("POST", path)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders()
        try:
            conn.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before reading all of it
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_two_mib_body_refused(server, api):
    body = json.dumps({"network": {"name": "big"}}).encode() + b" " * (2 * 1024 * 1024)
    status, text = _raw_post(server, "/v2.0/networks", body,
                             {"Content-Type": "application/json", "X-Project-Id": "p1"})
    assert status == 400, (status, text[:300])
    assert json.loads(text)["NeutronError"]["type"]
    assert _networks(api) == []
    # The server still works.
    api_create(api, "network", {"name": "small"})
    assert [n["name"] for n in _networks(api)] == ["small"]


def test_two_mib_body_in_description(server, api):
    body = json.dumps({"network": {"name": "big", "description": "d" * (2 * 1024 * 1024)}}).encode()
    status, _ = _raw_post(server, "/v2.0/networks", body,
                          {"Content-Type": "application/json", "X-Project-Id": "p1"})
    assert status == 400
    assert _networks(api) == []


def test_body_just_under_limit_accepted(make_server):
    s = make_server(config="max_body_size = 4096\n").start()
    from conftest import Client
    api = Client(s.url, "p1")
    ok = json.dumps({"network": {"name": "ok"}}).encode() + b" " * 3000
    assert api.post("/v2.0/networks", raw=ok).status == 201
    big = json.dumps({"network": {"name": "big"}}).encode() + b" " * 5000
    status, _ = _raw_post(s, "/v2.0/networks", big,
                          {"Content-Type": "application/json", "X-Project-Id": "p1"})
    assert status == 400
    assert [n["name"] for n in _networks(api)] == ["ok"]


def test_missing_identity_refused(server):
    from conftest import Client
    anon = Client(server.url, None)
    r = anon.post("/v2.0/networks", {"network": {"name": "x"}})
    assert r.status in (400, 401, 403), r
    assert Client(server.url, "admin", "admin").get("/v2.0/networks").json["networks"] == []


# --- transport ----------------------------------------------------------------

def test_unix_socket(make_server):
    import os
    import socket
    s = make_server()
    path = os.path.join(str(s.data_dir), "api.sock")
    s.extra_args = ["--unix", path]
    s.start()
    from conftest import Client
    net = api_create(Client(s.url, "p1"), "network", {"name": "via-tcp"})

    class UnixConn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(path)

    c = UnixConn("localhost")
    c.request("GET", "/v2.0/networks", headers={"X-Project-Id": "p1"})
    r = c.getresponse()
    assert r.status == 200
    assert [n["id"] for n in json.loads(r.read())["networks"]] == [net["id"]]
    c.request("POST", "/v2.0/networks", body=json.dumps({"network": {"name": "via-unix"}}),
              headers={"X-Project-Id": "p1", "Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 201
    r.read()
    c.close()
    names = sorted(n["name"] for n in Client(s.url, "p1").get("/v2.0/networks").json["networks"])
    assert names == ["via-tcp", "via-unix"]


def test_keep_alive_several_requests(server):
    u = urllib.parse.urlsplit(server.url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    h = {"X-Project-Id": "p1", "Content-Type": "application/json"}
    for i in range(3):
        c.request("POST", "/v2.0/networks", body=json.dumps({"network": {"name": f"k{i}"}}), headers=h)
        r = c.getresponse()
        assert r.status == 201
        r.read()
    c.request("POST", "/v2.0/networks", body=b"{bad", headers=h)
    r = c.getresponse()
    assert r.status == 400
    r.read()
    c.request("GET", "/v2.0/networks?sort_key=name&sort_dir=asc", headers=h)
    r = c.getresponse()
    assert [n["name"] for n in json.loads(r.read())["networks"]] == ["k0", "k1", "k2"]
    c.close()


def test_unicode_and_special_names(api):
    for name in ("héllo wörld", "quote\"back\\slash", "a&b=c", "日本語", "tab\there"):
        net = api_create(api, "network", {"name": name})
        assert net["name"] == name
        got = api.get("/v2.0/networks?name=" + urllib.parse.quote(name))
        assert got.status == 200, got
        assert [n["id"] for n in got.json["networks"]] == [net["id"]], name


def test_mac_normalized_to_lower_case(api):
    net = api_create(api, "network", {"name": "n"})
    p = api_create(api, "port", {"network_id": net["id"], "mac_address": "FA:16:3E:AA:BB:01"})
    assert p["mac_address"] == "fa:16:3e:aa:bb:01"


@pytest.mark.parametrize("ip", ["10.0.0.05", "10.0.5", "10.0.0.5 ", " 10.0.0.5", "10.0.0.5/24"])
def test_non_canonical_addresses_refused(api, ip):
    net = api_create(api, "network", {"name": "n"})
    api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": ip}]}})
    assert_error(r, 400)
    assert api.get("/v2.0/ports").json["ports"] == []


def test_slash_30_subnet(api):
    net = api_create(api, "network", {"name": "n"})
    s = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.4/30", "ip_version": 4})
    assert s["gateway_ip"] == "10.0.0.5"
    assert s["allocation_pools"] == [{"start": "10.0.0.6", "end": "10.0.0.6"}]
    p = api_create(api, "port", {"network_id": net["id"]})
    assert p["fixed_ips"][0]["ip_address"] == "10.0.0.6"
    assert_error(api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}), 409,
                 "IpAddressGenerationFailure")

"""Neutron's behaviour where Tempest found Lepton differing: messages and
codes of security-group rules, policies on shared networks, Floating IP
updates, router routes, filters and pagination links."""
from conftest import Client


def mk(api, kind, body, status=201):
    r = api.post(f"/v2.0/{kind.replace('_', '-')}s", {kind: body})
    assert r.status == status, r
    return r.json[kind] if status == 201 else r


def test_secgroup_rule_messages(server):
    api = Client(server.url, "p1")
    sg = mk(api, "security_group", {"name": "web"})
    cases = [("tcp", -16, 80, "Invalid value for port -16"),
             ("tcp", 80, 79, "port_range_min must be <= port_range_max"),
             ("tcp", 80, 65536, "Invalid value for port 65536"),
             ("tcp", None, 6, "port_range_min must be <= port_range_max"),
             ("icmp", 1, 256, "Invalid value for ICMP code"),
             ("icmp", -1, 25, "Invalid value"),
             ("icmp", None, 6, "ICMP type (port-range-min) is missing"),
             ("icmp", 300, 1, "Invalid value for ICMP type")]
    for proto, lo, hi, msg in cases:
        r = api.post("/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": sg["id"], "direction": "ingress", "protocol": proto,
            "port_range_min": lo, "port_range_max": hi}})
        assert r.status == 400 and msg in r.json["NeutronError"]["message"], (proto, lo, hi, r)
    for bad in ("bad_group_id", "6f1e3a52-1c4e-4b0e-9a37-1b2c3d4e5f60"):
        r = api.post("/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp",
            "remote_group_id": bad}})
        assert r.status == 404, r
    r = api.put(f"/v2.0/security-groups/{sg['id']}", {"security_group": {"name": "default"}})
    assert r.status == 409, r
    assert api.get(f"/v2.0/security-groups/{sg['id']}").json["security_group"]["name"] == "web"


def test_secgroup_rule_quota_at_group_create(make_server):
    srv = make_server(config="quota_security_group_rule = 5\n").start()
    api = Client(srv.url, "p1")
    # The default group's rules (4) are made first; a new group needs 2 more.
    api.get("/v2.0/security-groups")
    r = api.post("/v2.0/security-groups", {"security_group": {"name": "a"}})
    assert r.status == 409 and "Quota" in r.json["NeutronError"]["message"], r
    assert [g["name"] for g in api.get("/v2.0/security-groups").json["security_groups"]] == [
        "default"]


def test_ports_on_shared_network_and_duplicates(server):
    admin = Client(server.url, "admin", "admin")
    net = mk(admin, "network", {"name": "shared", "shared": True})
    mk(admin, "subnet", {"network_id": net["id"], "cidr": "10.5.0.0/24", "ip_version": 4})
    api = Client(server.url, "p1")
    r = mk(api, "port", {"network_id": net["id"], "port_security_enabled": False}, 403)
    r = mk(api, "port", {"network_id": net["id"], "allowed_address_pairs": [
        {"ip_address": "10.5.0.99"}]}, 403)
    port = mk(api, "port", {"network_id": net["id"]})
    for body in ({"port_security_enabled": False},
                 {"allowed_address_pairs": [{"ip_address": "10.5.0.99"}]}):
        assert api.put(f"/v2.0/ports/{port['id']}", {"port": body}).status == 403
    sg = port["security_groups"][0]
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"security_groups": [sg, sg]}})
    assert r.status == 400 and "Duplicate" in r.json["NeutronError"]["message"], r
    # mac_address: admin may change it, the owner may not.
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"mac_address": "12:34:56:78:be:6d"}})
    assert r.status == 403, r
    r = admin.put(f"/v2.0/ports/{port['id']}", {"port": {"mac_address": "12:34:56:78:be:6d"}})
    assert r.status == 200 and r.json["port"]["mac_address"] == "12:34:56:78:be:6d", r
    other = mk(admin, "port", {"network_id": net["id"], "mac_address": port["mac_address"]})
    assert other["mac_address"] == port["mac_address"]  # the old MAC was released
    # ?shared= on subnets follows the network.
    own = mk(api, "network", {"name": "own"})
    mk(api, "subnet", {"network_id": own["id"], "cidr": "10.6.0.0/24", "ip_version": 4})
    for who in (api, admin):
        shared = {s["network_id"] for s in who.get("/v2.0/subnets?shared=true").json["subnets"]}
        unshared = {s["network_id"]
                    for s in who.get("/v2.0/subnets?shared=false").json["subnets"]}
        assert shared == {net["id"]} and unshared == {own["id"]}
    assert api.post("/v2.0/subnets", {"subnet": {
        "network_id": own["id"], "cidr": "10.7.0.0/24", "ip_version": 4,
        "shared": True}}).status == 400


def test_external_network_subnets_fips_and_routes(server):
    admin = Client(server.url, "admin", "admin")
    ext = mk(admin, "network", {"name": "public", "router:external": True})
    mk(admin, "subnet", {"network_id": ext["id"], "cidr": "203.0.113.0/24", "ip_version": 4,
                         "service_types": ["test:type_1"]}, 201)
    mk(admin, "subnet", {"network_id": ext["id"], "cidr": "198.51.100.0/24", "ip_version": 4})
    api = Client(server.url, "p1")
    # The network is visible, its subnets are not (it is not shared).
    assert [n["id"] for n in api.get("/v2.0/networks").json["networks"]] == [ext["id"]]
    assert api.get(f"/v2.0/subnets?network_id={ext['id']}").json["subnets"] == []
    assert mk(admin, "subnet", {"network_id": ext["id"], "cidr": "192.0.2.0/24",
                                "ip_version": 4, "service_types": ["nocolon"]},
              400).status == 400

    net = mk(api, "network", {"name": "n"})
    sub = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    router = mk(api, "router", {"name": "r", "routes": None,
                                "external_gateway_info": {"network_id": ext["id"]}})
    assert router["routes"] == []
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"port_id": "port-x"})
    assert r.status == 400, r
    assert api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                   {"subnet_id": sub["id"]}).status == 200
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"routes": None}})
    assert r.status == 200 and r.json["router"]["routes"] == [], r
    port = mk(api, "port", {"network_id": net["id"]})
    fip = mk(api, "floatingip", {"floating_network_id": ext["id"], "port_id": port["id"]})
    assert fip["port_id"] == port["id"]
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {}})
    assert r.status == 200 and r.json["floatingip"]["port_id"] is None, r
    # Another project's port: 400 (as Neutron), for the admin and the owner.
    p2 = mk(Client(server.url, "p2"), "network", {"name": "n2"})
    mk(Client(server.url, "p2"), "subnet", {"network_id": p2["id"], "cidr": "10.9.0.0/24",
                                            "ip_version": 4})
    port2 = mk(Client(server.url, "p2"), "port", {"network_id": p2["id"]})
    r = admin.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": port2["id"]}})
    assert r.status == 400, r
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": port2["id"]}})
    assert r.status == 400, r
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {
        "port_id": "6f1e3a52-1c4e-4b0e-9a37-1b2c3d4e5f60"}})
    assert r.status == 404, r

    # Deleting the external network takes its unassociated Floating IPs.
    api.put(f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    api.delete(f"/v2.0/routers/{router['id']}")
    assert admin.delete(f"/v2.0/networks/{ext['id']}").status == 204
    assert admin.get("/v2.0/floatingips").json["floatingips"] == []


def test_next_link_on_every_full_page(server):
    api = Client(server.url, "p1")
    for n in ("a", "b"):
        mk(api, "network", {"name": n})
    r = api.get("/v2.0/networks?limit=2&sort_key=name")
    assert [n["name"] for n in r.json["networks"]] == ["a", "b"]
    assert [link["rel"] for link in r.json["networks_links"]] == ["next"]
    nxt = r.json["networks_links"][0]["href"].split("/v2.0", 1)[1]
    r = api.get("/v2.0" + nxt)
    assert r.json["networks"] == [] and [x["rel"] for x in r.json["networks_links"]] == [
        "previous"]
    # Back from the empty page: the far end first.
    prev = r.json["networks_links"][0]["href"].split("/v2.0", 1)[1]
    assert "marker" not in prev and "page_reverse=True" in prev
    assert [n["name"] for n in api.get("/v2.0" + prev).json["networks"]] == ["a", "b"]
    # Bulk items may come wrapped in their resource's key.
    r = api.post("/v2.0/security-groups", {"security_groups": [
        {"security_group": {"name": "x"}}, {"name": "y"}]})
    assert r.status == 201 and [g["name"] for g in r.json["security_groups"]] == ["x", "y"]


def test_revision_if_match(server):
    api = Client(server.url, "p1")
    net = mk(api, "network", {"name": "a"})
    rev = net["revision_number"]
    stale = {"If-Match": f"revision_number={rev - 1}"}
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "b"}}, headers=stale)
    assert r.status == 412, r
    assert api.delete(f"/v2.0/networks/{net['id']}", headers=stale).status == 412
    assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["name"] == "a"
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "b"}},
                headers={"If-Match": f"revision_number={rev}"})
    assert r.status == 200 and r.json["network"]["revision_number"] == rev + 1, r
    assert api.delete(f"/v2.0/networks/{net['id']}",
                      headers={"If-Match": f"revision_number={rev + 1}"}).status == 204
    exts = [e["alias"] for e in api.get("/v2.0/extensions").json["extensions"]]
    assert "revision-if-match" in exts


def test_network_ip_availability(server):
    admin = Client(server.url, "admin", "admin")
    api = Client(server.url, "p1")
    net = mk(api, "network", {"name": "n"})
    url = f"/v2.0/network-ip-availabilities/{net['id']}"
    r = admin.get(url)
    assert r.status == 200, r
    assert (r.json["network_ip_availability"]["total_ips"],
            r.json["network_ip_availability"]["used_ips"]) == (0, 0)
    sub = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/28", "ip_version": 4})
    for _ in range(3):
        mk(api, "port", {"network_id": net["id"]})
    avail = admin.get(url).json["network_ip_availability"]
    assert (avail["total_ips"], avail["used_ips"]) == (13, 3), avail
    assert avail["subnet_ip_availability"] == [{
        "subnet_id": sub["id"], "subnet_name": "", "cidr": "10.0.0.0/28", "ip_version": 4,
        "total_ips": 13, "used_ips": 3}]
    listed = admin.get("/v2.0/network-ip-availabilities").json["network_ip_availabilities"]
    assert [a["network_id"] for a in listed] == [net["id"]]
    assert admin.get("/v2.0/network-ip-availabilities/"
                     "6f1e3a52-1c4e-4b0e-9a37-1b2c3d4e5f60").status == 404
    assert api.get("/v2.0/network-ip-availabilities?network_id=" + net["id"]).status == 200
    assert Client(server.url, "p2").get(url).status == 404


def test_network_ip_availability_beyond_int64(server):
    """An IPv6 /64's pool holds 2^64-2 addresses: answered as an exact JSON
    integer (as Neutron does), not saturated; strings that look like the
    renderer's marker stay strings."""
    admin = Client(server.url, "admin", "admin")
    api = Client(server.url, "p1")
    net = mk(api, "network", {"name": "n6"})
    mk(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/28", "ip_version": 4})
    v6 = mk(api, "subnet", {"network_id": net["id"], "cidr": "2001:db8::/64", "ip_version": 6})
    mk(api, "port", {"network_id": net["id"]})
    r = admin.get(f"/v2.0/network-ip-availabilities/{net['id']}")
    assert r.status == 200, r
    avail = r.json["network_ip_availability"]
    assert (avail["total_ips"], avail["used_ips"]) == (2 ** 64 - 2 + 13, 2), avail
    per = {a["subnet_id"]: a for a in avail["subnet_ip_availability"]}
    assert (per[v6["id"]]["total_ips"], per[v6["id"]]["used_ips"]) == (2 ** 64 - 2, 1)
    listed = admin.get("/v2.0/network-ip-availabilities").json["network_ip_availabilities"]
    assert [a["total_ips"] for a in listed if a["network_id"] == net["id"]] == [2 ** 64 + 11]
    # A name spelled like the marker, backslash included, is echoed as written;
    # a NUL in a string is refused by the decoder.
    odd = mk(api, "network", {"name": "\\u0000int:5"})
    assert api.get(f"/v2.0/networks/{odd['id']}").json["network"]["name"] == "\\u0000int:5"
    r = api.post("/v2.0/networks", {"network": {"name": "\u0000int:5"}})
    assert r.status == 400, r


def test_mac_address_regenerate(server):
    admin = Client(server.url, "admin", "admin")
    net = mk(admin, "network", {"name": "n"})
    port = mk(admin, "port", {"network_id": net["id"], "mac_address": None})
    r = admin.put(f"/v2.0/ports/{port['id']}", {"port": {"mac_address": None}})
    assert r.status == 200, r
    new = r.json["port"]["mac_address"]
    assert new != port["mac_address"] and new.startswith("fa:16:3e:")

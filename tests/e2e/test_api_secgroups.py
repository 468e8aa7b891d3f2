"""Security groups and rules through the API."""
import pytest

from conftest import Client


def sg(api, name, status=201):
    r = api.post("/v2.0/security-groups", {"security_group": {"name": name}})
    assert r.status == status, r
    return r.json["security_group"] if status == 201 else r


def rule(api, body, status=201):
    r = api.post("/v2.0/security-group-rules", {"security_group_rule": body})
    assert r.status == status, r
    return r.json["security_group_rule"] if status == 201 else r


def test_default_group_on_first_use(api):
    groups = api.get("/v2.0/security-groups").json["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    rules = groups[0]["security_group_rules"]
    got = sorted((r["direction"], r["ethertype"], r["remote_group_id"]) for r in rules)
    assert got == [("egress", "IPv4", None), ("egress", "IPv6", None),
                   ("ingress", "IPv4", groups[0]["id"]), ("ingress", "IPv6", groups[0]["id"])]
    # Listing again makes no second one.
    assert len(api.get("/v2.0/security-groups").json["security_groups"]) == 1


def test_ports_get_the_default_group(api):
    net = api.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]
    port = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).json["port"]
    default = api.get("/v2.0/security-groups?name=default").json["security_groups"][0]
    assert port["security_groups"] == [default["id"]]
    off = api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                            "port_security_enabled": False}}).json["port"]
    assert off["security_groups"] == []
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                          "security_groups": ["0" * 8 + "-0000-0000-0000-" +
                                                              "0" * 12]}})
    assert r.status == 404 and r.json["NeutronError"]["type"] == "SecurityGroupNotFound"


def test_new_group_has_egress_rules_and_rules_validate(api):
    g = sg(api, "web")
    assert sorted(r["ethertype"] for r in g["security_group_rules"]) == ["IPv4", "IPv6"]
    r = rule(api, {"security_group_id": g["id"], "direction": "ingress", "protocol": "tcp",
                   "port_range_min": 22, "port_range_max": 22,
                   "remote_ip_prefix": "192.0.2.9/24"})
    assert r["remote_ip_prefix"] == "192.0.2.0/24" and r["normalized_cidr"] == "192.0.2.0/24"
    # The group embeds it, and its revision moved.
    g2 = api.get(f"/v2.0/security-groups/{g['id']}").json["security_group"]
    assert r["id"] in [x["id"] for x in g2["security_group_rules"]]
    assert g2["revision_number"] > g["revision_number"]
    # Duplicate.
    dup = rule(api, {"security_group_id": g["id"], "direction": "ingress", "protocol": "tcp",
                     "port_range_min": 22, "port_range_max": 22,
                     "remote_ip_prefix": "192.0.2.0/24"}, 409)
    assert dup.json["NeutronError"]["type"] == "SecurityGroupRuleExists"
    bad = [
        {"direction": "sideways"},
        {"direction": "ingress", "ethertype": "IPv5"},
        {"direction": "ingress", "protocol": "bogus"},
        {"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
        {"direction": "ingress", "protocol": "tcp", "port_range_min": 0, "port_range_max": 80},
        {"direction": "ingress", "protocol": "gre", "port_range_min": 1, "port_range_max": 2},
        {"direction": "ingress", "protocol": "icmp", "port_range_max": 0},
        {"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": g["id"]},
        {"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"},
        {"direction": "ingress", "remote_ip_prefix": "not-a-cidr"},
        {"direction": "ingress", "protocol": "icmpv6"},
    ]
    before = len(api.get("/v2.0/security-group-rules").json["security_group_rules"])
    for b in bad:
        b["security_group_id"] = g["id"]
        r = api.post("/v2.0/security-group-rules", {"security_group_rule": b})
        assert r.status == 400, (b, r)
    assert len(api.get("/v2.0/security-group-rules").json["security_group_rules"]) == before
    # Protocols by number, and IPv6 prefixes normalised.
    r = rule(api, {"security_group_id": g["id"], "direction": "ingress", "protocol": "47"})
    assert r["protocol"] == "47"
    r = rule(api, {"security_group_id": g["id"], "direction": "ingress", "ethertype": "IPv6",
                   "remote_ip_prefix": "2001:db8::1/64"})
    assert r["remote_ip_prefix"] == "2001:db8::/64"
    # Rules are not updated in place.
    r2 = api.put(f"/v2.0/security-group-rules/{r['id']}",
                 {"security_group_rule": {"direction": "egress"}})
    assert r2.status == 400


def test_delete_rules_in_use_and_default(api, admin):
    g = sg(api, "g")
    net = api.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]
    port = api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                             "security_groups": [g["id"]]}}).json["port"]
    r = api.delete(f"/v2.0/security-groups/{g['id']}")
    assert r.status == 409 and r.json["NeutronError"]["type"] == "SecurityGroupInUse"
    assert api.delete(f"/v2.0/ports/{port['id']}").status == 204
    # Referenced as a remote group by another group's rule: that rule goes too.
    other = sg(api, "other")
    ref = rule(api, {"security_group_id": other["id"], "direction": "ingress",
                     "remote_group_id": g["id"]})
    assert api.delete(f"/v2.0/security-groups/{g['id']}").status == 204
    assert api.get(f"/v2.0/security-group-rules/{ref['id']}").status == 404
    own_rules = api.get(f"/v2.0/security-group-rules?security_group_id={g['id']}").json
    assert own_rules["security_group_rules"] == []
    default = api.get("/v2.0/security-groups?name=default").json["security_groups"][0]
    r = api.delete(f"/v2.0/security-groups/{default['id']}")
    assert r.status == 409 and r.json["NeutronError"]["type"] == \
        "SecurityGroupCannotRemoveDefault"
    r = api.put(f"/v2.0/security-groups/{default['id']}",
                {"security_group": {"name": "renamed"}})
    assert r.status == 409
    assert sg(api, "default", 409).json["NeutronError"]["type"] == \
        "SecurityGroupDefaultAlreadyExists"


def test_isolation(api, server):
    g = sg(api, "mine")
    other = Client(server.url, "p2")
    assert other.get(f"/v2.0/security-groups/{g['id']}").status == 404
    r = other.post("/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": g["id"], "direction": "ingress"}})
    assert r.status == 404
    assert g["id"] not in [x["id"] for x in
                           other.get("/v2.0/security-groups").json["security_groups"]]


def test_quota_for_groups(make_server):
    s = make_server(config="quota_security_group = 2\n").start()
    api = Client(s.url, "q")
    sg(api, "one")  # the default group is made first: two in all
    r = api.post("/v2.0/security-groups", {"security_group": {"name": "two"}})
    assert r.status == 409 and r.json["NeutronError"]["type"] == "OverQuota"

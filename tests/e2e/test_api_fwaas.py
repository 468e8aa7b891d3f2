"""The router firewall API (FWaaS v2 under /v2.0/fwaas): rules, ordered
policies with insert_rule/remove_rule, groups on router ports, sharing and
project isolation, and the change feed."""
import json

import pytest

from conftest import Client, api_create, assert_error

FW = "/v2.0/fwaas"
COLLECTION = {"firewall_rule": "firewall_rules", "firewall_policy": "firewall_policies",
              "firewall_group": "firewall_groups"}
MISSING = "3b1f1d5a-5c60-4a35-a0d7-4a1d7a2a6f01"


def url(kind, id=None, action=None):
    u = f"{FW}/{COLLECTION[kind]}"
    if id:
        u += f"/{id}"
    if action:
        u += f"/{action}"
    return u


def mk(client, kind, status=201, **body):
    r = client.post(url(kind), {kind: body})
    assert r.status == status, r
    return r.json[kind] if status == 201 else r


def get(client, kind, id):
    r = client.get(url(kind, id))
    assert r.status == 200, r
    return r.json[kind]


def listing(client, kind, query=""):
    r = client.get(url(kind) + query)
    assert r.status == 200, r
    return r.json[COLLECTION[kind]]


def update(client, kind, id, status=200, **body):
    r = client.put(url(kind, id), {kind: body})
    assert r.status == status, r
    return r.json[kind] if status == 200 else r


def insert(client, policy, rule, status=200, **where):
    body = {"firewall_rule_id": rule}
    body.update(where)
    r = client.put(url("firewall_policy", policy, "insert_rule"), body)
    assert r.status == status, r
    return r.json if status == 200 else r


def remove(client, policy, rule, status=200):
    r = client.put(url("firewall_policy", policy, "remove_rule"), {"firewall_rule_id": rule})
    assert r.status == status, r
    return r.json if status == 200 else r


def rules_of(client, policy):
    return get(client, "firewall_policy", policy)["firewall_rules"]


@pytest.fixture
def net(api):
    n = api_create(api, "network", {"name": "fw-net"})
    api_create(api, "subnet", {"network_id": n["id"], "cidr": "10.9.0.0/24", "ip_version": 4})
    return n


def mkport(client, net, device_owner="network:router_interface", **kw):
    body = {"network_id": net["id"], "device_owner": device_owner}
    body.update(kw)
    r = client.post("/v2.0/ports", {"port": body})
    assert r.status == 201, r
    return r.json["port"]


# --- rules -----------------------------------------------------------------

def test_extension_and_collections(api):
    r = api.get("/v2.0/extensions/fwaas_v2")
    assert r.status == 200, r
    assert r.json["extension"]["alias"] == "fwaas_v2"
    for kind in COLLECTION:
        assert listing(api, kind) == []
    names = {x["collection"] for x in api.get("/v2.0").json["resources"]}
    assert set(COLLECTION.values()) <= names
    # Not served outside the prefix.
    assert api.get("/v2.0/firewall_rules").status == 404


def test_rule_defaults(api):
    r = mk(api, "firewall_rule", name="r")
    assert r["name"] == "r" and r["description"] == ""
    assert r["protocol"] is None and r["ip_version"] == 4
    assert r["source_ip_address"] is None and r["destination_ip_address"] is None
    assert r["source_port"] is None and r["destination_port"] is None
    assert r["action"] == "deny" and r["enabled"] is True and r["shared"] is False
    assert r["firewall_policy_id"] == []
    assert r["project_id"] == "p1" and r["tenant_id"] == "p1"
    assert r["tags"] == [] and r["revision_number"] == 0 and r["created_at"]
    assert get(api, "firewall_rule", r["id"]) == r
    assert [x["id"] for x in listing(api, "firewall_rule")] == [r["id"]]


def test_rule_values_normalized(api):
    r = mk(api, "firewall_rule", protocol="TCP", action="ALLOW", destination_port=80,
           source_port="1024:65535", source_ip_address="10.0.0.0/8",
           destination_ip_address="192.168.1.10", enabled="false")
    assert r["protocol"] == "tcp" and r["action"] == "allow"
    assert r["destination_port"] == "80" and r["source_port"] == "1024:65535"
    assert r["source_ip_address"] == "10.0.0.0/8"
    assert r["destination_ip_address"] == "192.168.1.10"
    assert r["enabled"] is False
    r = mk(api, "firewall_rule", protocol="udp", ip_version=6, destination_port="53:53",
           source_ip_address="2001:DB8::/32", destination_ip_address="2001:db8:0::1",
           action="reject")
    assert r["ip_version"] == 6 and r["destination_port"] == "53"
    assert r["source_ip_address"] == "2001:db8::/32"
    assert r["destination_ip_address"] == "2001:db8::1"
    r = mk(api, "firewall_rule", protocol="icmp", action="allow")
    assert r["protocol"] == "icmp" and r["source_port"] is None


@pytest.mark.parametrize("body,types", [
    ({"protocol": "gre"}, ()),
    ({"action": "drop"}, ()),
    ({"ip_version": 5}, ()),
    ({"ip_version": "four"}, ()),
    ({"source_ip_address": "10.0.0.300"}, ()),
    ({"source_ip_address": "10.0.0.1/8"}, ()),
    ({"destination_ip_address": "not-an-ip"}, ()),
    ({"destination_ip_address": "2001:db8::1/32"}, ()),
    ({"destination_ip_address": "2001:db8::1"}, ("FirewallIpAddressConflict",)),
    ({"ip_version": 6, "source_ip_address": "10.0.0.0/8"}, ("FirewallIpAddressConflict",)),
    ({"destination_port": "80"}, ("FirewallRuleWithPortWithoutProtocolInvalid",)),
    ({"protocol": "icmp", "source_port": "80"}, ("FirewallRuleInvalidICMPParameter",)),
    ({"protocol": "tcp", "destination_port": "0"}, ("FirewallRuleInvalidPortValue",)),
    ({"protocol": "tcp", "destination_port": "70000"}, ("FirewallRuleInvalidPortValue",)),
    ({"protocol": "tcp", "destination_port": "90:80"}, ("FirewallRuleInvalidPortValue",)),
    ({"protocol": "tcp", "destination_port": "80:"}, ("FirewallRuleInvalidPortValue",)),
    ({"protocol": "tcp", "destination_port": "http"}, ("FirewallRuleInvalidPortValue",)),
    ({"protocol": "tcp", "destination_port": -1}, ("FirewallRuleInvalidPortValue",)),
    ({"protocol": "tcp", "destination_port": ["80"]}, ("FirewallRuleInvalidPortValue",)),
    ({"firewall_policy_id": [MISSING]}, ()),
    ({"bogus": 1}, ()),
    ({"enabled": "maybe"}, ()),
])
def test_rule_bad_input(api, body, types):
    r = api.post(url("firewall_rule"), {"firewall_rule": body})
    assert_error(r, 400, *types)
    assert listing(api, "firewall_rule") == []


def test_rule_shared_is_admin_only(api, admin):
    assert_error(api.post(url("firewall_rule"), {"firewall_rule": {"shared": True}}), 403)
    r = mk(api, "firewall_rule")
    assert_error(api.put(url("firewall_rule", r["id"]), {"firewall_rule": {"shared": True}}),
                 403)
    assert mk(admin, "firewall_rule", shared=True)["shared"] is True
    assert listing(api, "firewall_rule", "?shared=true")[0]["shared"] is True


def test_rule_update_checks_the_whole_rule(api):
    r = mk(api, "firewall_rule", protocol="tcp", destination_port="22",
           source_ip_address="10.0.0.0/8")
    # Changing one attribute must keep the rule consistent as a whole.
    assert_error(api.put(url("firewall_rule", r["id"]),
                         {"firewall_rule": {"protocol": "icmp"}}),
                 400, "FirewallRuleInvalidICMPParameter")
    assert_error(api.put(url("firewall_rule", r["id"]),
                         {"firewall_rule": {"protocol": None}}),
                 400, "FirewallRuleWithPortWithoutProtocolInvalid")
    assert_error(api.put(url("firewall_rule", r["id"]), {"firewall_rule": {"ip_version": 6}}),
                 400, "FirewallIpAddressConflict")
    assert_error(api.put(url("firewall_rule", r["id"]),
                         {"firewall_rule": {"firewall_policy_id": []}}), 400)
    assert get(api, "firewall_rule", r["id"]) == r
    u = update(api, "firewall_rule", r["id"], protocol="icmp", destination_port=None,
               action="Reject", name="ping")
    assert u["protocol"] == "icmp" and u["destination_port"] is None
    assert u["action"] == "reject" and u["name"] == "ping"
    assert u["revision_number"] == r["revision_number"] + 1
    assert get(api, "firewall_rule", r["id"]) == u


# --- policies --------------------------------------------------------------

def test_policy_defaults_and_rule_order(api):
    p = mk(api, "firewall_policy", name="p")
    assert p["firewall_rules"] == [] and p["audited"] is False and p["shared"] is False
    assert p["project_id"] == "p1" and p["name"] == "p"
    r1, r2, r3 = (mk(api, "firewall_rule", name=f"r{i}")["id"] for i in range(3))
    p = mk(api, "firewall_policy", firewall_rules=[r3, r1, r2.upper()])
    assert p["firewall_rules"] == [r3, r1, r2]
    for r in (r1, r2, r3):
        assert get(api, "firewall_rule", r)["firewall_policy_id"] == [p["id"]]
    p = update(api, "firewall_policy", p["id"], firewall_rules=[r2, r3])
    assert p["firewall_rules"] == [r2, r3]
    assert get(api, "firewall_rule", r1)["firewall_policy_id"] == []
    p = update(api, "firewall_policy", p["id"], firewall_rules=None)
    assert p["firewall_rules"] == []
    assert get(api, "firewall_rule", r2)["firewall_policy_id"] == []
    assert mk(api, "firewall_policy", firewall_rules=None)["firewall_rules"] == []


def test_policy_bad_rule_lists(api):
    r1 = mk(api, "firewall_rule")["id"]
    other = mk(api.as_("p2"), "firewall_rule")["id"]
    for rules, status, types in (
            ([MISSING], 404, ("FirewallRuleNotFound",)),
            ([r1, other], 404, ("FirewallRuleNotFound",)),
            (["not-a-uuid"], 400, ()),
            ([r1, r1], 400, ()),
            ("x", 400, ()),
            ([7], 400, ())):
        r = api.post(url("firewall_policy"), {"firewall_policy": {"firewall_rules": rules}})
        assert_error(r, status, *types)
    assert listing(api, "firewall_policy") == []
    assert get(api, "firewall_rule", r1)["firewall_policy_id"] == []
    # On update: nothing changes either.
    p = mk(api, "firewall_policy", firewall_rules=[r1])
    assert_error(api.put(url("firewall_policy", p["id"]),
                         {"firewall_policy": {"firewall_rules": [r1, MISSING]}}),
                 404, "FirewallRuleNotFound")
    assert get(api, "firewall_policy", p["id"]) == p
    assert get(api, "firewall_rule", r1)["firewall_policy_id"] == [p["id"]]


def test_insert_and_remove_rule_ordering(api):
    r1, r2, r3, r4, r5 = (mk(api, "firewall_rule", name=f"r{i}")["id"] for i in range(1, 6))
    p = mk(api, "firewall_policy", firewall_rules=[r1])
    pid = p["id"]
    # Without a position: at the top. The answer is the policy, not wrapped.
    body = insert(api, pid, r2)
    assert "firewall_policy" not in body
    assert body["id"] == pid and body["firewall_rules"] == [r2, r1]
    assert body["revision_number"] == p["revision_number"] + 1
    assert insert(api, pid, r3, insert_after=r2)["firewall_rules"] == [r2, r3, r1]
    assert insert(api, pid, r4, insert_before=r1)["firewall_rules"] == [r2, r3, r4, r1]
    # insert_before wins over insert_after; "" counts as not given.
    got = insert(api, pid, r5, insert_before=r3, insert_after=r1)
    assert got["firewall_rules"] == [r2, r5, r3, r4, r1]
    assert rules_of(api, pid) == [r2, r5, r3, r4, r1]
    assert get(api, "firewall_rule", r5)["firewall_policy_id"] == [pid]
    assert remove(api, pid, r3)["firewall_rules"] == [r2, r5, r4, r1]
    assert get(api, "firewall_rule", r3)["firewall_policy_id"] == []
    assert insert(api, pid, r3, insert_before="", insert_after=r1)["firewall_rules"] == \
        [r2, r5, r4, r1, r3]
    for r in (r2, r5, r4, r1, r3):
        remove(api, pid, r)
    assert rules_of(api, pid) == []


def test_insert_remove_rule_errors_change_nothing(api):
    r1, r2, r3 = (mk(api, "firewall_rule")["id"] for _ in range(3))
    foreign = mk(api.as_("p2"), "firewall_rule")["id"]
    p = mk(api, "firewall_policy", firewall_rules=[r1, r2])
    pid = p["id"]
    assert_error(insert(api, pid, r1, status=409), 409, "FirewallRuleAlreadyAssociated")
    assert_error(insert(api, pid, MISSING, status=404), 404, "FirewallRuleNotFound")
    assert_error(insert(api, pid, foreign, status=404), 404, "FirewallRuleNotFound")
    assert_error(insert(api, pid, r3, status=400, insert_before=MISSING), 400,
                 "FirewallRuleNotAssociatedWithPolicy")
    assert_error(insert(api, pid, r3, status=400, insert_after=foreign), 400,
                 "FirewallRuleNotAssociatedWithPolicy")
    assert_error(remove(api, pid, r3, status=400), 400, "FirewallRuleNotAssociatedWithPolicy")
    assert_error(remove(api, pid, MISSING, status=404), 404, "FirewallRuleNotFound")
    for body in ({}, {"insert_before": r1}, {"firewall_rule_id": None}):
        r = api.put(url("firewall_policy", pid, "insert_rule"), body)
        assert_error(r, 400, "FirewallRuleInfoMissing")
    r = api.put(url("firewall_policy", pid, "remove_rule"), raw=b"")
    assert_error(r, 400, "FirewallRuleInfoMissing")
    r = api.put(url("firewall_policy", pid, "insert_rule"),
                {"firewall_rule_id": r3, "position": 1})
    assert_error(r, 400)
    r = api.put(url("firewall_policy", pid, "insert_rule"), {"firewall_rule_id": 5})
    assert_error(r, 400)
    assert_error(api.put(url("firewall_policy", pid, "shuffle"), {"firewall_rule_id": r3}),
                 404)
    assert_error(insert(api, MISSING, r3, status=404), 404, "FirewallPolicyNotFound")
    # Another project cannot touch the policy.
    assert_error(insert(api.as_("p2"), pid, foreign, status=404), 404, "FirewallPolicyNotFound")
    assert get(api, "firewall_policy", pid) == p
    assert get(api, "firewall_rule", r3)["firewall_policy_id"] == []


def test_audited_is_reset_by_changes(api):
    r1, r2 = (mk(api, "firewall_rule")["id"] for _ in range(2))
    p = mk(api, "firewall_policy", audited=True, firewall_rules=[r1])
    pid = p["id"]
    assert p["audited"] is True
    assert update(api, "firewall_policy", pid, name="renamed")["audited"] is False
    assert update(api, "firewall_policy", pid, audited=True)["audited"] is True
    assert insert(api, pid, r2)["audited"] is False
    update(api, "firewall_policy", pid, audited=True)
    assert remove(api, pid, r2)["audited"] is False
    update(api, "firewall_policy", pid, audited=True)
    assert update(api, "firewall_policy", pid, firewall_rules=[r2, r1])["audited"] is False
    # Setting both keeps the audit the caller asserts.
    got = update(api, "firewall_policy", pid, firewall_rules=[r1, r2], audited=True)
    assert got["audited"] is True and got["firewall_rules"] == [r1, r2]
    # A change to one of its rules also clears it.
    update(api, "firewall_rule", r1, action="allow")
    assert get(api, "firewall_policy", pid)["audited"] is False


def test_rule_in_several_policies_and_in_use(api):
    r = mk(api, "firewall_rule")["id"]
    p1 = mk(api, "firewall_policy", firewall_rules=[r])["id"]
    p2 = mk(api, "firewall_policy")["id"]
    insert(api, p2, r)
    assert get(api, "firewall_rule", r)["firewall_policy_id"] == [p1, p2]
    assert listing(api, "firewall_policy", f"?firewall_rules={r}") != []
    assert_error(api.delete(url("firewall_rule", r)), 409, "FirewallRuleInUse")
    assert api.delete(url("firewall_policy", p1)).status == 204
    assert get(api, "firewall_rule", r)["firewall_policy_id"] == [p2]
    assert_error(api.delete(url("firewall_rule", r)), 409, "FirewallRuleInUse")
    remove(api, p2, r)
    assert api.delete(url("firewall_rule", r)).status == 204
    assert_error(api.get(url("firewall_rule", r)), 404, "FirewallRuleNotFound")
    assert_error(api.delete(url("firewall_rule", r)), 404, "FirewallRuleNotFound")


# --- groups ----------------------------------------------------------------

def test_group_defaults_and_status(api, net):
    g = mk(api, "firewall_group", name="g")
    assert g["ports"] == [] and g["status"] == "INACTIVE"
    assert g["ingress_firewall_policy_id"] is None and g["egress_firewall_policy_id"] is None
    assert g["admin_state_up"] is True and g["shared"] is False and g["project_id"] == "p1"
    ip = mk(api, "firewall_policy")["id"]
    ep = mk(api, "firewall_policy")["id"]
    port = mkport(api, net)
    gw = mkport(api, net, device_owner="network:router_gateway")
    g = update(api, "firewall_group", g["id"], ports=[port["id"]],
               ingress_firewall_policy_id=ip, egress_firewall_policy_id=ep)
    assert g["ports"] == [port["id"]] and g["status"] == "ACTIVE"
    assert g["ingress_firewall_policy_id"] == ip and g["egress_firewall_policy_id"] == ep
    g = update(api, "firewall_group", g["id"], ports=[port["id"], gw["id"]])
    assert g["ports"] == [port["id"], gw["id"]]
    assert listing(api, "firewall_group", f"?ports={gw['id']}")[0]["id"] == g["id"]
    g = update(api, "firewall_group", g["id"], ports=[])
    assert g["ports"] == [] and g["status"] == "INACTIVE"
    g = update(api, "firewall_group", g["id"], ports=None, ingress_firewall_policy_id=None)
    assert g["ports"] == [] and g["ingress_firewall_policy_id"] is None
    g2 = mk(api, "firewall_group", ports=[port["id"]], egress_firewall_policy_id=ep)
    assert g2["status"] == "ACTIVE"
    assert get(api, "firewall_group", g2["id"]) == g2
    assert_error(api.put(url("firewall_group", g2["id"]), {"firewall_group": {"status": "X"}}),
                 400)


def test_group_port_checks(api, admin, net):
    router_port = mkport(api, net)
    dist = mkport(api, net, device_owner="network:router_interface_distributed")
    vm = mkport(api, net, device_owner="compute:nova")
    plain = mkport(api, net, device_owner="")
    dhcp_like = mkport(api, net, device_owner="network:floatingip_agent_gateway")
    for p in (vm, plain, dhcp_like):
        r = api.post(url("firewall_group"), {"firewall_group": {"ports": [p["id"]]}})
        err = assert_error(r, 400, "FirewallGroupPortInvalid")
        assert "router" in err["message"] and p["id"] in err["message"]
    assert_error(api.post(url("firewall_group"), {"firewall_group": {"ports": [MISSING]}}),
                 404, "PortNotFound")
    assert_error(api.post(url("firewall_group"), {"firewall_group": {"ports": ["nope"]}}), 400)
    assert_error(api.post(url("firewall_group"),
                          {"firewall_group": {"ports": [router_port["id"]] * 2}}), 400)
    # A port of another project on the caller's network: visible, not usable.
    theirs = admin.post("/v2.0/ports", {"port": {
        "network_id": net["id"], "project_id": "p2",
        "device_owner": "network:router_interface"}}).json["port"]
    assert_error(api.post(url("firewall_group"), {"firewall_group": {"ports": [theirs["id"]]}}),
                 409, "FirewallGroupPortInvalidProject")
    assert listing(api, "firewall_group") == []
    g = mk(api, "firewall_group", ports=[router_port["id"], dist["id"]])
    # One group per port.
    r = api.post(url("firewall_group"), {"firewall_group": {"ports": [router_port["id"]]}})
    assert_error(r, 409, "FirewallGroupPortInUse")
    other = mk(api, "firewall_group")
    r = api.put(url("firewall_group", other["id"]),
                {"firewall_group": {"ports": [dist["id"]], "name": "x"}})
    assert_error(r, 409, "FirewallGroupPortInUse")
    assert get(api, "firewall_group", other["id"]) == other
    assert len(listing(api, "firewall_group")) == 2
    # The group itself may keep its ports on update.
    g = update(api, "firewall_group", g["id"], ports=[dist["id"], router_port["id"]])
    assert g["ports"] == [dist["id"], router_port["id"]]
    # Another project cannot even see these ports.
    r = api.as_("p2").post(url("firewall_group"),
                           {"firewall_group": {"ports": [router_port["id"]]}})
    assert_error(r, 404, "PortNotFound")


def test_group_policy_checks_and_in_use(api):
    p = mk(api, "firewall_policy")["id"]
    foreign = mk(api.as_("p2"), "firewall_policy")["id"]
    for key in ("ingress_firewall_policy_id", "egress_firewall_policy_id"):
        for pid, status in ((MISSING, 404), (foreign, 404), ("bad", 400)):
            r = api.post(url("firewall_group"), {"firewall_group": {key: pid}})
            if status == 404:
                assert_error(r, 404, "FirewallPolicyNotFound")
            else:
                assert_error(r, 400)
    assert listing(api, "firewall_group") == []
    g = mk(api, "firewall_group", ingress_firewall_policy_id=p)
    assert_error(api.put(url("firewall_group", g["id"]),
                         {"firewall_group": {"egress_firewall_policy_id": foreign}}),
                 404, "FirewallPolicyNotFound")
    assert get(api, "firewall_group", g["id"]) == g
    assert_error(api.delete(url("firewall_policy", p)), 409, "FirewallPolicyInUse")
    update(api, "firewall_group", g["id"], ingress_firewall_policy_id=None,
           egress_firewall_policy_id=p)
    assert_error(api.delete(url("firewall_policy", p)), 409, "FirewallPolicyInUse")
    assert api.delete(url("firewall_group", g["id"])).status == 204
    assert api.delete(url("firewall_policy", p)).status == 204
    assert_error(api.get(url("firewall_policy", p)), 404, "FirewallPolicyNotFound")


def test_group_with_ports_is_in_use(api, net):
    port = mkport(api, net)
    g = mk(api, "firewall_group", ports=[port["id"]])
    assert_error(api.delete(url("firewall_group", g["id"])), 409, "FirewallGroupInUse")
    update(api, "firewall_group", g["id"], ports=[])
    assert api.delete(url("firewall_group", g["id"])).status == 204
    assert_error(api.get(url("firewall_group", g["id"])), 404, "FirewallGroupNotFound")
    # The port is free again.
    assert mk(api, "firewall_group", ports=[port["id"]])["status"] == "ACTIVE"


# --- isolation and sharing -------------------------------------------------

def test_project_isolation(api, net):
    p2 = api.as_("p2")
    rule = mk(api, "firewall_rule")["id"]
    pol = mk(api, "firewall_policy", firewall_rules=[rule])["id"]
    grp = mk(api, "firewall_group", ingress_firewall_policy_id=pol)["id"]
    for kind, id, nf in (("firewall_rule", rule, "FirewallRuleNotFound"),
                         ("firewall_policy", pol, "FirewallPolicyNotFound"),
                         ("firewall_group", grp, "FirewallGroupNotFound")):
        assert listing(p2, kind) == []
        assert_error(p2.get(url(kind, id)), 404, nf)
        assert_error(p2.put(url(kind, id), {kind: {"name": "x"}}), 404, nf)
        assert_error(p2.delete(url(kind, id)), 404, nf)
        assert get(api, kind, id)["name"] == ""
    # p2 cannot borrow p1's rule or policy.
    assert_error(p2.post(url("firewall_policy"), {"firewall_policy": {"firewall_rules": [rule]}}),
                 404, "FirewallRuleNotFound")
    assert_error(p2.post(url("firewall_group"),
                         {"firewall_group": {"egress_firewall_policy_id": pol}}),
                 404, "FirewallPolicyNotFound")
    assert listing(p2, "firewall_policy") == [] and listing(p2, "firewall_group") == []


def test_shared_objects(api, admin):
    p2 = api.as_("p2")
    srule = mk(admin, "firewall_rule", shared=True, protocol="tcp", destination_port="443")
    spol = mk(admin, "firewall_policy", shared=True, firewall_rules=[srule["id"]])
    # Visible to everyone, changeable by the owner only.
    assert get(p2, "firewall_rule", srule["id"])["id"] == srule["id"]
    assert get(p2, "firewall_policy", spol["id"])["firewall_rules"] == [srule["id"]]
    assert_error(p2.put(url("firewall_rule", srule["id"]), {"firewall_rule": {"name": "x"}}),
                 403)
    assert_error(p2.delete(url("firewall_policy", spol["id"])), 403)
    assert_error(insert(p2, spol["id"], srule["id"], status=403), 403)
    # Others build on them.
    mine = mk(p2, "firewall_rule")["id"]
    pol = mk(p2, "firewall_policy", firewall_rules=[srule["id"], mine])["id"]
    g = mk(p2, "firewall_group", ingress_firewall_policy_id=spol["id"],
           egress_firewall_policy_id=pol)
    assert g["ingress_firewall_policy_id"] == spol["id"]
    assert sorted(get(admin, "firewall_rule", srule["id"])["firewall_policy_id"]) == \
        sorted([spol["id"], pol])
    # Sharing stays while others use it.
    assert_error(admin.put(url("firewall_policy", spol["id"]),
                           {"firewall_policy": {"shared": False}}), 409, "FirewallPolicyInUse")
    assert_error(admin.put(url("firewall_rule", srule["id"]),
                           {"firewall_rule": {"shared": False}}), 409, "FirewallRuleInUse")
    assert get(admin, "firewall_policy", spol["id"])["shared"] is True
    assert get(admin, "firewall_rule", srule["id"])["shared"] is True
    # A shared policy holds shared rules only.
    private = mk(admin, "firewall_rule")["id"]
    assert_error(admin.put(url("firewall_policy", spol["id"]),
                           {"firewall_policy": {"firewall_rules": [private]}}),
                 409, "FirewallPolicySharingConflict")
    assert_error(insert(admin, spol["id"], private, status=409), 409,
                 "FirewallPolicySharingConflict")
    unshared = mk(admin, "firewall_policy", firewall_rules=[private])["id"]
    assert_error(admin.put(url("firewall_policy", unshared),
                           {"firewall_policy": {"shared": True}}),
                 409, "FirewallPolicySharingConflict")
    assert rules_of(admin, spol["id"]) == [srule["id"]]
    # An admin cannot put another project's private rule into its policy.
    assert_error(admin.post(url("firewall_policy"),
                            {"firewall_policy": {"firewall_rules": [mine]}}),
                 409, "FirewallRuleConflict")
    # Tenants may not share.
    assert_error(p2.post(url("firewall_policy"), {"firewall_policy": {"shared": True}}), 403)
    assert_error(p2.post(url("firewall_group"), {"firewall_group": {"shared": True}}), 403)


def test_admin_sees_all_and_acts_for_projects(api, admin, net):
    rule = mk(api, "firewall_rule")["id"]
    assert rule in [r["id"] for r in listing(admin, "firewall_rule")]
    pol = mk(admin, "firewall_policy", project_id="p1", firewall_rules=[rule])
    assert pol["project_id"] == "p1"
    port = mkport(api, net)
    g = mk(admin, "firewall_group", project_id="p1", ports=[port["id"]],
           ingress_firewall_policy_id=pol["id"])
    assert g["status"] == "ACTIVE" and get(api, "firewall_group", g["id"])["ports"] == [port["id"]]
    # The admin's own group cannot take p1's port or p1's private policy.
    assert_error(admin.post(url("firewall_group"),
                            {"firewall_group": {"ingress_firewall_policy_id": pol["id"]}}),
                 404, "FirewallPolicyNotFound")


# --- the feed --------------------------------------------------------------

def feed(admin, since):
    r = admin.get(f"/v2.0/lepton/watch?since={since}&follow=false")
    assert r.status == 200, r
    return [json.loads(x) for x in r.text.splitlines() if x.strip()]


def test_changes_reach_the_feed(api, admin, net):
    port = mkport(api, net)
    head = feed(admin, 0)[0]["revision"]  # snapshot_begin carries the head
    r1 = mk(api, "firewall_rule", protocol="tcp", destination_port="22")["id"]
    r2 = mk(api, "firewall_rule")["id"]
    pol = mk(api, "firewall_policy", firewall_rules=[r1])["id"]
    insert(api, pol, r2, insert_after=r1)
    g = mk(api, "firewall_group", ports=[port["id"]], ingress_firewall_policy_id=pol)["id"]
    update(api, "firewall_group", g, ports=[])
    api.delete(url("firewall_group", g))
    events = [e for e in feed(admin, head) if e.get("type", "").startswith("firewall_")]
    assert events and all(e["op"] in ("create", "update", "delete") for e in events)
    seen = {(e["type"], e["op"]) for e in events}
    for t in ("firewall_rule", "firewall_policy", "firewall_group"):
        assert (t, "create") in seen, seen
    assert ("firewall_group", "delete") in seen
    last_policy = [e for e in events if e["type"] == "firewall_policy"][-1]
    assert last_policy["object"]["firewall_rules"] == [r1, r2]
    last_r2 = [e for e in events if e["type"] == "firewall_rule" and e["id"] == r2][-1]
    assert last_r2["object"]["firewall_policy_id"] == [pol]
    group_events = [e for e in events if e["type"] == "firewall_group"]
    assert group_events[0]["object"]["ports"] == [port["id"]]
    assert group_events[0]["object"]["status"] == "ACTIVE"
    assert group_events[1]["object"]["status"] == "INACTIVE"

"""The lab's topology as data (leptonlab.Topology): the wiring it derives,
what it refuses, and a lab with two racks (a routed underlay) carrying a
tenant network across them with real packets."""
import subprocess
import time

import pytest

from lab import Lab, unique_name
from leptonlab import Node, Segment, Topology, TopologyError, Upstream, netns_list


def test_standard_topology_wiring():
    t = Topology.standard(2, network_node=True, public=True).validate()
    assert [(n.name, n.role) for n in t.nodes] == [
        ("compute-1", "compute"), ("compute-2", "compute"), ("network-1", "network")]
    assert [t.tunnel_ip(n.name) for n in t.nodes] == [
        "100.127.0.11", "100.127.0.12", "100.127.0.13"]
    assert t.rack_switch(t.nodes[0].rack) == "ul"
    assert [s.name for s in t.segments] == ["public", "public-vlan"]
    assert t.upstream_of("public").internet == "internet"
    again = Topology.from_json(t.to_json())
    assert again == t


def test_racks_get_their_own_switch_and_subnet():
    t = Topology(nodes=[Node("a1", rack="r1"), Node("b1", rack="r2"),
                        Node("a2", rack="r1")]).validate()
    assert t.racks() == ["r1", "r2"]
    assert [t.tunnel_ip(n) for n in ("a1", "b1", "a2")] == [
        "100.127.0.11", "100.127.1.12", "100.127.0.13"]
    assert [t.rack_switch(r) for r in t.racks()] == ["ul", "ul1"]
    assert t.rack_gateway("r2") == "100.127.1.1"


@pytest.mark.parametrize("bad, why", [
    (dict(nodes=[]), "at least one node"),
    (dict(nodes=[Node("c1"), Node("c1")]), "used twice"),
    (dict(nodes=[Node("ul")]), "used twice"),
    (dict(nodes=[Node("C_1")]), "node names"),
    (dict(nodes=[Node("c1", role="storage")]), "role"),
    (dict(nodes=[Node("c1")], segments=[Segment("public", "100.64.0.0/24", "10.0.0.0/33")],
          upstreams=[Upstream(segments=["public"])]), "pool"),
    (dict(nodes=[Node("c1")], segments=[Segment("public", "100.64.0.0/24", "100.64.0.0/25")],
          upstreams=[Upstream(segments=["public"])]), "overlap"),
    (dict(nodes=[Node("c1")], segments=[Segment("public", "100.127.5.0/24", "203.0.113.0/24")],
          upstreams=[Upstream(segments=["public"])]), "underlay"),
    (dict(nodes=[Node("c1")], segments=[Segment("public", "100.64.0.0/24", "203.0.113.0/24")],
          upstreams=[Upstream(segments=["public", "nowhere"])]), "no segment"),
    (dict(nodes=[Node("c1")], segments=[Segment("public", "100.64.0.0/24", "203.0.113.0/24",
                                                vlan=5000)],
          upstreams=[Upstream(segments=["public"])]), "VLAN"),
    (dict(nodes=[Node("c1")], segments=[Segment("public", "100.64.0.0/24", "203.0.113.0/24")],
          upstreams=[]), "no upstream"),
])
def test_bad_topologies_are_refused(bad, why):
    with pytest.raises(TopologyError, match=why):
        Topology(**bad).validate()


def test_not_a_topology():
    with pytest.raises(TopologyError):
        Topology.from_json("{")
    with pytest.raises(TopologyError):
        Topology.from_json('{"nodes": [{"nom": "x"}]}')


def test_a_refused_topology_builds_nothing():
    name = unique_name("tb")
    lab = Lab(name, Topology(nodes=[Node("c1"), Node("c1")]))
    with pytest.raises(Exception, match="used twice"):
        lab.up()
    assert not [n for n in netns_list() if n.startswith(f"lp-{name}-")]
    assert not lab.state_dir.exists()


def test_two_racks_carry_a_network_across_the_routed_underlay():
    name = unique_name("tr")
    lab = Lab(name, Topology(nodes=[Node("compute-1", rack="r1"),
                                    Node("compute-2", rack="r2")]))
    try:
        info = lab.up()
        assert info["nodes"] == ["compute-1", "compute-2"]
        api = lab.client("pr")
        net = api.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]
        assert api.post("/v2.0/subnets", {"subnet": {
            "network_id": net["id"], "cidr": "10.5.0.0/24", "ip_version": 4}}).status == 201
        vms = []
        for i in (1, 2):
            port = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).json["port"]
            vm = lab.vm(f"compute-{i}", port["id"], f"v{i}")
            assert vm.address == port["fixed_ips"][0]["ip_address"] + "/24"
            assert vm.node == f"compute-{i}" and vm.tap == "tap" + port["id"][:11]
            vms.append(vm)
        # The second rack's switch sees VXLAN between the racks' addresses.
        stop = lab.capture(dev="ul1")
        try:
            ip2 = vms[1].address.split("/")[0]
            assert lab.sh("v1", f"ping -c 2 -W 1 {ip2}", check=False).returncode == 0
            time.sleep(0.3)
        finally:
            text = stop()
        assert "100.127.0.11" in text and "100.127.1.12" in text, text
        st = lab.status()
        assert st["processes"]["dhcp-v1"] and st["processes"]["server"]
        assert {a["host"] for a in st["agents"]} == {"compute-1", "compute-2"}
        assert lab.ns("v2") in st["namespaces"]
    finally:
        lab.down()
    assert not [n for n in netns_list() if n.startswith(f"lp-{name}-")]


def test_bgp_racks_wiring():
    """Seed case 2's lab (lepton-lab up --racks 2): a segment, physical
    network and upstream per rack, one pool, nodes' own addresses on their
    segment, the core's /30s; and the BIRD configurations it derives."""
    from leptonlab import bird
    t = Topology.bgp_racks(2, 2).validate()
    assert t.bgp and t.racks() == ["rack-1", "rack-2"]
    assert [(s.name, s.physnet, s.gateways, s.pool) for s in t.segments] == [
        ("ext1", "ext1", "100.64.0.0/24", "203.0.113.0/24"),
        ("ext2", "ext2", "100.65.0.0/24", "203.0.113.0/24")]
    assert [t.segment_of(n.name).name for n in t.nodes] == ["ext1", "ext1", "ext2", "ext2"]
    assert [t.bgp_address(n.name) for n in t.nodes] == [
        "100.64.0.2", "100.64.0.3", "100.65.0.2", "100.65.0.3"]
    assert t.upstream_address("ext2") == "100.65.0.1" and t.upstream_as("upstream-2") == 65002
    assert t.core_link("upstream-2") == ("192.0.2.5", "192.0.2.6")
    assert {"core", "internet", "upstream-1", "upstream-2"} <= set(t.hosts())
    assert Topology.from_json(t.to_json()) == t
    up = bird.upstream_config(t, "upstream-2", "/tmp/x.log")
    # Only its rack's nodes, only /32s in the pool and gateway prefixes.
    assert "neighbor 100.65.0.2 as 65100" in up and "neighbor 100.64.0.2" not in up
    assert ("define ANNOUNCED = [ 100.64.0.0/24{32,32}, 100.65.0.0/24{32,32}, "
            "203.0.113.0/24{32,32} ]") in up
    node = bird.node_config(t, "compute-3", "/tmp/x.log")
    assert "kernel table 76" in node and "learn" in node and "bfd on" in node
    assert "neighbor 100.65.0.1 as 65002" in node
    routes = bird.parse_routes(
        "Table master4:\n203.0.113.5/32       unicast [n_compute_1 01:02:03.456] * (100) "
        "[AS65100i]\n\tvia 100.64.0.2 on up0\n                     unicast [other 01:02:03] "
        "(100)\n100.64.0.10/32       unicast [n_compute_2 01:02:03.456] * (100)\n")
    assert routes == {"203.0.113.5/32": ["n_compute_1", "other"],
                      "100.64.0.10/32": ["n_compute_2"]}
    with pytest.raises(TopologyError, match="racks"):
        Topology.bgp_racks(5)
    with pytest.raises(TopologyError, match="per rack"):
        Topology.bgp_racks(2, 9)
    bad = Topology.bgp_racks(2)
    bad.segments[1].vlan = 7
    with pytest.raises(TopologyError, match="flat"):
        bad.validate()


def test_down_ends_what_still_runs_in_its_namespaces():
    """A process a test left running in a lab namespace (a daemonized DHCP
    client, say) is ended with the lab, not left in a deleted namespace."""
    lab = Lab(unique_name("dn"), computes=1)
    left = None
    try:
        lab.up()
        left = subprocess.Popen(["ip", "netns", "exec", lab.ns("compute-1"), "sleep", "300"])
        time.sleep(0.3)
        assert left.poll() is None
    finally:
        lab.down()
    try:
        assert left.wait(timeout=10) is not None
    finally:
        if left.poll() is None:
            left.kill()


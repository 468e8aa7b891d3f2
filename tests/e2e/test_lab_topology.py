"""The lab's topology as data (leptonlab.Topology): the wiring it derives,
what it refuses, and a lab with two racks (a routed underlay) carrying a
tenant network across them with real packets."""
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

"""leptonlab: a simulated cloud on one machine, made of network namespaces,
as a library (tests and benchmarks) and the command lepton-lab.

    from leptonlab import Lab, Topology, Node
    with Lab("mylab", Topology(nodes=[Node("compute-1"), Node("network-1", "network")],
                               public=True)) as lab:
        lab.up()
        vm = lab.vm("compute-1", port_id, "vm1")      # -> VM(address=...)
        lab.sh("vm1", "ping -c1 198.51.100.10")

Standard library only (Debian 12's python3)."""
from .api import Client, Response, allow_ingress
from .lab import EXT6, INTERNET6, TENANT6, Lab, LabError, netns_list, unique_name
from .topology import VM, Node, Segment, Topology, TopologyError, Upstream

__all__ = ["EXT6", "INTERNET6", "TENANT6", "Client", "Response", "allow_ingress", "Lab",
           "LabError", "netns_list",
           "unique_name", "VM", "Node", "Segment", "Topology", "TopologyError", "Upstream"]

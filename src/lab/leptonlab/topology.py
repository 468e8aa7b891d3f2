"""A lab's topology as data: nodes in racks, external segments, upstream
routers (each with an "internet" host behind it), and the VMs plugged so far.

Pure: nothing here touches the kernel. Addresses and interface names are
derived from the order of the lists, so a topology always gives the same
wiring:

- node i (1-based, in list order) has the underlay address 100.127.<r>.<10+i>
  where r is its rack's index (first rack 0), its leg n<10+i> on the rack's
  switch (bridge ul, ul1, ul2... in the underlay namespace; with more than one
  rack that namespace routes between them, each switch holding 100.127.<r>.1)
  and x<10+i> on the external switch;
- a segment is the external network of that name on the physical network
  `public` (every node's ext0): flat, or a VLAN on the same wire; its first
  gateway address belongs to the upstream router that serves it, and its
  Floating IP pool is on-link there.

A BGP topology (Topology.bgp_racks, `lepton-lab up --racks N`) is seed case
2 instead: one external network `public` over one segment per rack (rack k
has ext<k>, physical network ext<k>, gateways 100.<63+k>.0.0/24 on its own
switch), a Floating IP pool of no segment (203.0.113.0/24), an upstream
router per segment (upstream-<k>, AS 65000+k, the segment's first address)
peering over eBGP with its rack's nodes (AS 65100; node j of a rack has the
address .<1+j> on its segment, on bgp0), and a core router (AS 65000,
192.0.2.4(k-1)+1/30 towards upstream-k) with the internet host behind it.
BIRD runs in every node, upstream and the core.

With arp_network (bgp_racks(..., arp_network=True)), a second external
network `public-arp` keeps ARP ownership beside it (the mode is per
physical network: the agents run with --bgp-physnet of their rack's
segment): one flat segment on physical network `arp` across the racks
(every node's arp0), gateways 100.66.0.0/24 with the core on .1, Floating
IPs from 192.0.2.128/25 on-link at the core. Nothing of it is announced.
"""
import dataclasses
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import List, Optional

LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
ROLES = ("compute", "network")
PHYSNET = "public"        # the physical network of every segment
NODE_EXT_DEV = "ext0"     # the node's interface on it
UNDERLAY = "100.127.0.0/16"
# BGP topologies (seed case 2).
BGP_POOL = "203.0.113.0/24"
BGP_NODE_AS = 65100
BGP_CORE_AS = 65000
BGP_TABLE = 76          # the agents' table of announced /32s (lepton-agent --bgp-table)
BGP_DEV = "bgp0"        # a node's own interface on its rack's segment
BGP_MAX_PER_RACK = 8
CORE = "core"
INTERNET = "internet"
INTERNET_CIDR = "198.51.100.0/24"   # the core has .1, the internet host .10
# IPv6 (documentation space). Every lab: the tenants' global prefixes come
# from TENANT6; the internet host's network is INTERNET6 (its router ::1,
# the host ::10). A BGP topology (issue 14): segment k also has
# 2001:db8:e<k>::/64 (its upstream ::1, the rack's node j ::<2+j> on bgp0,
# --bgp-nexthop6), the core and upstream-k 2001:db8:c<k>::/64 (::1, ::2);
# the external network `public` has the IPv6 subnet BGP_EXT6 of no segment
# and no gateway (each rack's way out is its own upstream, through the
# node); the VMs' addresses are announced as /128s inside TENANT6 over the
# same sessions as the /32s (an ipv6 channel: multiprotocol BGP).
TENANT6 = "2001:db8:100::/40"
INTERNET6 = "2001:db8:ee::/64"
BGP_EXT6 = "2001:db8:e0::/64"
# The ARP network beside a BGP one (Topology.bgp_racks(arp_network=True)).
ARP_NETWORK = "public-arp"
ARP_PHYSNET = "arp"
ARP_GATEWAYS = "100.66.0.0/24"   # the core has .1
ARP_POOL = "192.0.2.128/25"
NODE_ARP_DEV = "arp0"            # a node's interface on it
ARP_SWITCH = "arpsw"             # its switch, in the external namespace
# Namespaces the lab itself names: no node, VM or internet host may take them.
RESERVED = ("ul", "ext")


class TopologyError(ValueError):
    """A topology that cannot be built (names, addresses, references)."""


@dataclass
class Node:
    name: str
    role: str = "compute"   # compute | network (the agent's --mode)
    rack: str = "rack-1"


@dataclass
class Segment:
    name: str                  # the external network's name in the API
    gateways: str              # router gateways' CIDR; the upstream has its first address
    pool: str                  # the Floating IP pool's CIDR (on-link at the upstream)
    vlan: Optional[int] = None  # None: flat
    physnet: str = PHYSNET      # the physical network it is on


@dataclass
class Upstream:
    name: str = "upstream"
    segments: List[str] = field(default_factory=lambda: ["public", "public-vlan"])
    internet: str = "internet"             # the host behind it
    internet_cidr: str = "198.51.100.0/24"  # the upstream has .1, the host .10


@dataclass
class VM:
    name: str
    node: str
    port: str = ""       # the Neutron port's id
    network: str = ""    # its network's id
    mac: str = ""
    address: str = ""    # CIDR, as DHCP gave it (or as it kept it through a move)

    @property
    def tap(self):
        return "tap" + self.port[:11]


def default_segments():
    return [Segment("public", "100.64.0.0/24", "203.0.113.0/24"),
            Segment("public-vlan", "100.64.1.0/24", "192.0.2.0/24", vlan=100)]


@dataclass
class Topology:
    nodes: List[Node]
    segments: List[Segment] = field(default_factory=default_segments)
    upstreams: List[Upstream] = field(default_factory=lambda: [Upstream()])
    public: bool = False   # create the external networks in the API at `up`
    vms: List[VM] = field(default_factory=list)
    bgp: bool = False      # seed case 2: rack k on segment k, BIRD, a core router
    arp_network: bool = False  # with bgp: public-arp beside, ARP ownership (see above)

    @classmethod
    def standard(cls, computes=2, network_node=False, public=False):
        """The classic lab: compute-1..N (and network-1) in one rack, the
        segments public (flat) and public-vlan (VLAN 100), one upstream."""
        if not isinstance(computes, int) or not 1 <= computes <= 99:
            raise TopologyError("--computes takes 1 to 99")
        nodes = [Node(f"compute-{i}") for i in range(1, computes + 1)]
        if network_node:
            nodes.append(Node("network-1", role="network"))
        return cls(nodes=nodes, public=public)

    @classmethod
    def bgp_racks(cls, racks=2, per_rack=1, pool=BGP_POOL, arp_network=False):
        """Seed case 2: `racks` racks of `per_rack` computes (compute-1..),
        rack k on segment ext<k> with upstream-<k>, one external network
        `public` over them, Floating IPs (from pool) announced over BGP;
        arp_network: public-arp beside it, with ARP ownership."""
        if not isinstance(racks, int) or not 1 <= racks <= 4:
            raise TopologyError("--racks takes 1 to 4")
        if not isinstance(per_rack, int) or not 1 <= per_rack <= BGP_MAX_PER_RACK:
            raise TopologyError(f"--computes takes 1 to {BGP_MAX_PER_RACK} per rack with --racks")
        nodes = [Node(f"compute-{k * per_rack + j + 1}", rack=f"rack-{k + 1}")
                 for k in range(racks) for j in range(per_rack)]
        segments = [Segment(f"ext{k + 1}", f"100.{64 + k}.0.0/24", pool,
                            physnet=f"ext{k + 1}") for k in range(racks)]
        upstreams = [Upstream(f"upstream-{k + 1}", [f"ext{k + 1}"], internet="",
                              internet_cidr="") for k in range(racks)]
        return cls(nodes=nodes, segments=segments, upstreams=upstreams, public=True, bgp=True,
                   arp_network=bool(arp_network))

    # -- BGP wiring ---------------------------------------------------------------
    def segment_of(self, node):
        """The segment of a node's rack (BGP topologies)."""
        return self.segments[self.racks().index(self.node(node).rack)]

    def bgp_address(self, node):
        """A node's address on its rack's segment (on bgp0)."""
        rack = self.node(node).rack
        j = [n.name for n in self.nodes if n.rack == rack].index(node)
        return str(ipaddress.ip_network(self.segment_of(node).gateways).network_address + 2 + j)

    def segment6(self, segment):
        """A BGP segment's own IPv6 network (its upstream and nodes)."""
        k = [s.name for s in self.segments].index(segment)
        return ipaddress.ip_network(f"2001:db8:e{k + 1}::/64")

    def bgp_address6(self, node):
        """A node's IPv6 address on its rack's segment (on bgp0)."""
        rack = self.node(node).rack
        j = [n.name for n in self.nodes if n.rack == rack].index(node)
        return str(self.segment6(self.segment_of(node).name).network_address + 2 + j)

    def upstream_address6(self, segment):
        return str(self.segment6(segment).network_address + 1)

    def core_link6(self, upstream):
        """(core's IPv6 address, upstream's) on their link."""
        k = [u.name for u in self.upstreams].index(upstream)
        net = ipaddress.ip_network(f"2001:db8:c{k}::/64")
        return str(net.network_address + 1), str(net.network_address + 2)

    def upstream_address(self, segment):
        return str(ipaddress.ip_network(self.segment(segment).gateways).network_address + 1)

    def upstream_as(self, upstream):
        return BGP_CORE_AS + 1 + [u.name for u in self.upstreams].index(upstream)

    def core_link(self, upstream):
        """(core's address, upstream's address) on their /30."""
        k = [u.name for u in self.upstreams].index(upstream)
        net = ipaddress.ip_network(f"192.0.2.{4 * k}/30")
        return str(net.network_address + 1), str(net.network_address + 2)

    def rack_nodes(self, rack):
        return [n.name for n in self.nodes if n.rack == rack]

    def announced_prefixes(self):
        """What an upstream accepts from nodes: /32s in the pool and the
        gateway prefixes."""
        return sorted({s.pool for s in self.segments} | {s.gateways for s in self.segments})

    # -- derived wiring ----------------------------------------------------
    def node(self, name):
        for n in self.nodes:
            if n.name == name:
                return n
        return None

    def vm(self, name):
        for v in self.vms:
            if v.name == name:
                return v
        return None

    def segment(self, name):
        for s in self.segments:
            if s.name == name:
                return s
        return None

    def racks(self):
        """Rack names in order of first appearance."""
        out = []
        for n in self.nodes:
            if n.rack not in out:
                out.append(n.rack)
        return out

    def rack_switch(self, rack):
        k = self.racks().index(rack)
        return "ul" if k == 0 else f"ul{k}"

    def rack_net(self, rack):
        k = self.racks().index(rack)
        return ipaddress.ip_network(f"100.127.{k}.0/24")

    def index(self, node):
        """10 + the node's 1-based position: its legs' and address's number."""
        return 10 + 1 + [n.name for n in self.nodes].index(node)

    def tunnel_ip(self, node):
        rack = self.node(node).rack
        return str(self.rack_net(rack).network_address + self.index(node))

    def rack_gateway(self, rack):
        return str(self.rack_net(rack).network_address + 1)

    def upstream_of(self, segment):
        for u in self.upstreams:
            if segment in u.segments:
                return u
        return None

    def hosts(self):
        """Every namespace host name of the topology (nodes, outside, VMs)."""
        out = list(RESERVED) + [n.name for n in self.nodes]
        for u in self.upstreams:
            out += [u.name] + ([u.internet] if u.internet else [])
        if self.bgp:
            out += [CORE, INTERNET]
        return out + [v.name for v in self.vms]

    # -- checks ----------------------------------------------------------------
    def validate(self):
        if not self.nodes:
            raise TopologyError("a topology needs at least one node")
        if len(self.nodes) > 200:
            raise TopologyError("at most 200 nodes")
        if len(self.racks()) > 100:
            raise TopologyError("at most 100 racks")
        for n in self.nodes:
            if not HOST_NAME.match(n.name):
                raise TopologyError(f"node names are 1-31 of [a-z0-9-]: {n.name!r}")
            if n.role not in ROLES:
                raise TopologyError(f"node {n.name}: role is compute or network, not {n.role!r}")
            if not HOST_NAME.match(n.rack):
                raise TopologyError(f"rack names are 1-31 of [a-z0-9-]: {n.rack!r}")
        if self.arp_network and not self.bgp:
            raise TopologyError("arp_network goes with a BGP topology")
        if self.bgp:
            self._validate_bgp()
        for s in self.segments:
            if not HOST_NAME.match(s.name):
                raise TopologyError(f"segment names are 1-31 of [a-z0-9-]: {s.name!r}")
            for what in ("gateways", "pool"):
                try:
                    net = ipaddress.IPv4Network(getattr(s, what))
                except ValueError as e:
                    raise TopologyError(f"segment {s.name}: {what}: {e}") from None
                if net.prefixlen > 29:
                    raise TopologyError(f"segment {s.name}: {what} {net} is too small")
                if net.overlaps(ipaddress.ip_network(UNDERLAY)):
                    raise TopologyError(f"segment {s.name}: {what} {net} overlaps the underlay")
            if s.vlan is not None and not (isinstance(s.vlan, int) and 1 <= s.vlan <= 4094):
                raise TopologyError(f"segment {s.name}: VLAN ids are 1 to 4094")
            if self.upstream_of(s.name) is None:
                raise TopologyError(f"segment {s.name}: no upstream router serves it")
        vlans = [(s.physnet, s.vlan) for s in self.segments]
        if len(set(vlans)) != len(vlans):
            raise TopologyError("two segments on the same VLAN (or two flat ones)")
        nets = [ipaddress.IPv4Network(c) for s in self.segments for c in (s.gateways, s.pool)]
        if self.bgp:  # one pool shared by the segments
            nets = [ipaddress.IPv4Network(c) for c in
                    [s.gateways for s in self.segments] + [self.segments[0].pool]]
        for u in self.upstreams:
            for what in (u.name, u.internet):
                if not HOST_NAME.match(what) and not (self.bgp and what == u.internet == ""):
                    raise TopologyError(f"host names are 1-31 of [a-z0-9-]: {what!r}")
            for s in u.segments:
                if self.segment(s) is None:
                    raise TopologyError(f"upstream {u.name}: no segment {s}")
            if self.bgp:
                continue
            try:
                net = ipaddress.IPv4Network(u.internet_cidr)
            except ValueError as e:
                raise TopologyError(f"upstream {u.name}: internet_cidr: {e}") from None
            if net.prefixlen > 28:
                raise TopologyError(f"upstream {u.name}: internet_cidr {net} is too small")
            nets.append(net)
        for i, a in enumerate(nets):
            for b in nets[i + 1:]:
                if a.overlaps(b):
                    raise TopologyError(f"the address ranges {a} and {b} overlap")
        served = [s for u in self.upstreams for s in u.segments]
        if len(set(served)) != len(served):
            raise TopologyError("a segment is served by two upstream routers")
        for v in self.vms:
            if not HOST_NAME.match(v.name):
                raise TopologyError(f"VM names are 1-31 of [a-z0-9-]: {v.name!r}")
            if self.node(v.node) is None:
                raise TopologyError(f"VM {v.name}: no node {v.node}")
        hosts = self.hosts()
        for h in hosts:
            if hosts.count(h) > 1:
                raise TopologyError(f"the name {h} is used twice")
        return self

    def _validate_bgp(self):
        racks = self.racks()
        if self.arp_network and any(s.physnet == ARP_PHYSNET for s in self.segments):
            raise TopologyError(f"physnet {ARP_PHYSNET} is the ARP network's")
        if len(racks) != len(self.segments) or len(self.upstreams) != len(self.segments):
            raise TopologyError("a BGP topology has one segment and one upstream per rack")
        if len({s.pool for s in self.segments}) != 1:
            raise TopologyError("a BGP topology has one Floating IP pool")
        for s in self.segments:
            if s.vlan is not None:
                raise TopologyError(f"segment {s.name}: BGP segments are flat")
            if not HOST_NAME.match(s.physnet):
                raise TopologyError(f"segment {s.name}: physnet {s.physnet!r}")
        for u, s in zip(self.upstreams, self.segments):
            if u.segments != [s.name]:
                raise TopologyError(f"upstream {u.name} serves exactly segment {s.name}")
        for r in racks:
            if len(self.rack_nodes(r)) > BGP_MAX_PER_RACK:
                raise TopologyError(f"rack {r}: at most {BGP_MAX_PER_RACK} nodes with BGP")

    # -- data --------------------------------------------------------------------
    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        try:
            return cls(nodes=[Node(**n) for n in d["nodes"]],
                       segments=[Segment(**s) for s in d.get("segments", [])]
                       if "segments" in d else default_segments(),
                       upstreams=[Upstream(**u) for u in d["upstreams"]]
                       if "upstreams" in d else [Upstream()],
                       public=bool(d.get("public", False)),
                       vms=[VM(**v) for v in d.get("vms", [])],
                       bgp=bool(d.get("bgp", False)),
                       arp_network=bool(d.get("arp_network", False)))
        except (KeyError, TypeError) as e:
            raise TopologyError(f"not a topology: {e}") from None

    def to_json(self):
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text):
        try:
            return cls.from_dict(json.loads(text))
        except ValueError as e:
            if isinstance(e, TopologyError):
                raise
            raise TopologyError(f"not JSON: {e}") from None

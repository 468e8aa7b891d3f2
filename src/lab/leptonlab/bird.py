"""BIRD (Debian's bird2) configurations of a BGP lab (Topology.bgp_racks),
pure: text from the topology.

- node: learns the agent's table of announced /32s (lepton-agent
  --bgp-table) and exports, to its rack's upstream only, /32s inside the
  Floating IP pool and the gateway prefixes; BFD on the session.
- upstream: accepts from its nodes only those /32s (prefix filter, as a
  provider would), installs them in its kernel, passes them to the core;
  BFD towards the nodes (3 x 100 ms) and a 3 s hold timer.
- core: learns every upstream's routes, installs them.

IPv6 (issue 14): the /128s of the VMs' addresses (inside TENANT6) take the
same sessions, in an ipv6 channel beside the ipv4 one (multiprotocol BGP,
RFC 4760, over the IPv4 session): one session per peer, so BFD, the hold
timer and a stopping BIRD end both families at once and a node's IPv6
routes go with its IPv4 ones, within the same bound. The next hop of an
IPv6 route over an IPv4 session must be IPv6: each speaker gives its own
address on the link (next hop address), which its peer has on-link (the
segment's and the core links' IPv6 networks). The kernel protocols have one
channel each: an IPv6 one beside each IPv4 one.

A dead node's routes go once BFD finds it silent (3 x 100 ms, then one
update to the core); a BIRD that stops closes its sessions (at once); if BFD
were not there, the 3 s hold timer would end the session.
"""
from .topology import BGP_CORE_AS, BGP_DEV, BGP_NODE_AS, BGP_TABLE, TENANT6

BFD_MS = 100
BFD_MULT = 3
HOLD_S = 3
KEEPALIVE_S = 1


def proto_name(host):
    return "n_" + host.replace("-", "_")


def _prefix_set(topology):
    return ", ".join(f"{p}{{32,32}}" for p in topology.announced_prefixes())


def _head(topology, router_id, log):
    return (f'log "{log}" all;\n'
            f"router id {router_id};\n"
            "protocol device { scan time 10; }\n"
            f"define ANNOUNCED = [ {_prefix_set(topology)} ];\n"
            f"define ANNOUNCED6 = [ {TENANT6}{{128,128}} ];\n")


def _ipv6(imports, exports, nexthop=None):
    return (f"\tipv6 {{ import {imports}; export {exports};"
            + (f" next hop address {nexthop};" if nexthop else "") + " };\n")


def _kernel6():
    return "protocol kernel { ipv6 { import none; export all; }; }\n"


def _bfd(dev):
    return (f'protocol bfd {{ interface "{dev}" {{ min rx interval {BFD_MS} ms; '
            f"min tx interval {BFD_MS} ms; multiplier {BFD_MULT}; }}; }}\n")


def _timers():
    return (f"\thold time {HOLD_S};\n\tkeepalive time {KEEPALIVE_S};\n"
            "\tconnect retry time 1;\n\terror wait time 1, 2;\n")


def node_config(topology, node, log):
    seg = topology.segment_of(node)
    me = topology.bgp_address(node)
    up = topology.upstream_of(seg.name)
    return (_head(topology, me, log)
            + "protocol kernel announced {\n"
            f"\tkernel table {BGP_TABLE};\n\tlearn;\n\tscan time 5;\n"
            "\tipv4 { import where net ~ ANNOUNCED; export none; };\n}\n"
            + "protocol kernel announced6 {\n"
            f"\tkernel table {BGP_TABLE};\n\tlearn;\n\tscan time 5;\n"
            "\tipv6 { import where net ~ ANNOUNCED6; export none; };\n}\n"
            + _bfd(BGP_DEV)
            + "protocol bgp upstream {\n"
            f"\tlocal {me} as {BGP_NODE_AS};\n"
            f"\tneighbor {topology.upstream_address(seg.name)} as {topology.upstream_as(up.name)};\n"
            "\tdirect;\n\tbfd on;\n" + _timers()
            + "\tipv4 { import none; export where net ~ ANNOUNCED; next hop self; };\n"
            + _ipv6("none", "where net ~ ANNOUNCED6", topology.bgp_address6(node)) + "}\n")


def upstream_config(topology, upstream, log):
    u = next(x for x in topology.upstreams if x.name == upstream)
    seg = topology.segment(u.segments[0])
    me = topology.upstream_address(seg.name)
    my_as = topology.upstream_as(upstream)
    core_ip, my_core_ip = topology.core_link(upstream)
    rack = topology.racks()[topology.segments.index(seg)]
    out = (_head(topology, me, log)
           + "protocol kernel { ipv4 { import none; export all; }; }\n"
           + _kernel6()
           + _bfd("up0"))
    for n in topology.rack_nodes(rack):
        out += (f"protocol bgp {proto_name(n)} {{\n"
                f"\tlocal {me} as {my_as};\n"
                f"\tneighbor {topology.bgp_address(n)} as {BGP_NODE_AS};\n"
                "\tdirect;\n\tbfd on;\n" + _timers()
                + "\tipv4 { import where net ~ ANNOUNCED; export none; };\n"
                + _ipv6("where net ~ ANNOUNCED6", "none") + "}\n")
    out += ("protocol bgp core {\n"
            f"\tlocal {my_core_ip} as {my_as};\n"
            f"\tneighbor {core_ip} as {BGP_CORE_AS};\n"
            "\tdirect;\n" + _timers()
            + "\tipv4 { import none; export where net ~ ANNOUNCED; };\n"
            + _ipv6("none", "where net ~ ANNOUNCED6", topology.core_link6(upstream)[1]) + "}\n")
    return out


def core_config(topology, log):
    first, _ = topology.core_link(topology.upstreams[0].name)
    out = (_head(topology, first, log)
           + "protocol kernel { ipv4 { import none; export all; }; }\n"
           + _kernel6())
    for u in topology.upstreams:
        core_ip, up_ip = topology.core_link(u.name)
        out += (f"protocol bgp {proto_name(u.name)} {{\n"
                f"\tlocal {core_ip} as {BGP_CORE_AS};\n"
                f"\tneighbor {up_ip} as {topology.upstream_as(u.name)};\n"
                "\tdirect;\n" + _timers()
                + "\tipv4 { import where net ~ ANNOUNCED; export none; };\n"
                + _ipv6("where net ~ ANNOUNCED6", "none") + "}\n")
    return out


def parse_routes(text):
    """{prefix: [protocol, ...]} from `birdc show route` (bird 2): a line
    starting with a prefix opens it; following route lines (indented) add
    their protocol."""
    out, cur = {}, None
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if "/" in parts[0] and parts[0][0].isdigit():
            cur = parts[0]
            rest = parts[1:]
        elif line[0].isspace() and cur and parts[0] in ("unicast", "unreachable", "blackhole"):
            rest = parts
        else:
            continue
        proto = next((p[1:] for p in rest if p.startswith("[")), "")
        out.setdefault(cur, []).append(proto)
    return out


__all__ = ["node_config", "upstream_config", "core_config", "parse_routes", "proto_name"]

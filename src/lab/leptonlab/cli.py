"""lepton-lab: a simulated cloud on one machine, made of network namespaces.

  lepton-lab up     [--lab NAME] [--computes N] [--network-node] [--public]
                    [--topology FILE]   (a Topology as JSON instead of the options)
  lepton-lab up     [--lab NAME] --racks R [--computes N] [--arp-network]
                    (seed case 2: R racks of N computes, one external network
                    over a segment per rack, Floating IPs and SNAT addresses
                    announced over BGP by BIRD; --arp-network: public-arp
                    beside it, one segment across the racks, ARP ownership)
  lepton-lab bgp    [--lab NAME] HOST   (HOST's BGP routes and sessions, birdc)
  lepton-lab vm     [--lab NAME] --node NODE --port PORT [--name VM]
  lepton-lab vm-move [--lab NAME] --name VM --node NODE   (live migration)
  lepton-lab exec   [--lab NAME] HOST -- CMD...
  lepton-lab agent-restart [--lab NAME] --node NODE
  lepton-lab server-restart [--lab NAME]
  lepton-lab demo   [--lab NAME] [--computes N]   (up, the story, down)
  lepton-lab status [--lab NAME] [--json]
  lepton-lab topology [--lab NAME]   (the lab's topology as JSON)
  lepton-lab down   [--lab NAME]

The lab itself is the Python module leptonlab (this directory): see lab.py
for what `up` builds and topology.py for the topology's data.
"""
import json
import os
import sys

from .demo import run_demo
from .lab import Lab, LabError
from .topology import Topology, TopologyError

COMMANDS = ("up", "vm", "vm-move", "exec", "agent-restart", "server-restart", "demo",
            "status", "topology", "bgp", "down")
WITH_VALUE = ("--lab", "--computes", "--node", "--port", "--name", "--topology", "--racks")
FLAGS = ("--network-node", "--public", "--json", "--arp-network")


class Usage(Exception):
    pass


def parse(argv):
    """Options anywhere after the command (as the shell version took them);
    everything after `--` and the bare words are the command's arguments."""
    if not argv:
        raise Usage("usage: lepton-lab " + "|".join(COMMANDS) + " [options] (lepton-lab --help)")
    if argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        sys.exit(0)
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        raise Usage(f"unknown command {cmd}")
    opts, words = {"--lab": "lab"}, []
    while rest:
        a = rest.pop(0)
        if a == "--":
            words += rest
            break
        if a in WITH_VALUE:
            if not rest:
                raise Usage(f"{a} takes a value")
            opts[a] = rest.pop(0)
        elif a in FLAGS:
            opts[a] = True
        elif a.startswith("-"):
            raise Usage(f"unknown option {a}")
        else:
            words.append(a)
    return cmd, opts, words


def computes_of(opts, default):
    c = opts.get("--computes")
    if c is None:
        return default
    if not (c.isdigit() and 1 <= int(c) <= 99 and c[0] != "0"):
        raise Usage("--computes takes 1 to 99")
    return int(c)


def bin_dir():
    """The programs: LEPTON_BIN, else the directory the command was run
    from (build/lepton-lab finds build/lepton-server)."""
    return os.environ.get("LEPTON_BIN") or os.path.dirname(os.path.abspath(sys.argv[0]))


def need(opts, *names):
    return all(opts.get(n) for n in names)


def main(argv=None):
    try:
        cmd, opts, words = parse(sys.argv[1:] if argv is None else argv)
        return COMMAND[cmd](opts, words)
    except (Usage, LabError, TopologyError) as e:
        print(f"lepton-lab: {e}", file=sys.stderr)
        return 1


def cmd_up(opts, words):
    name = opts["--lab"]
    if opts.get("--topology"):
        with open(opts["--topology"]) as f:
            topo = Topology.from_json(f.read())
        if topo.vms:
            print("lepton-lab: up plugs no VMs (lepton-lab vm): leaving out "
                  + " ".join(v.name for v in topo.vms), file=sys.stderr)
            topo.vms = []
    elif opts.get("--racks"):
        r = opts["--racks"]
        if not (r.isdigit() and 1 <= int(r) <= 4):
            raise Usage("--racks takes 1 to 4")
        if opts.get("--network-node"):
            raise Usage("--racks has no network node (distributed routers only)")
        topo = Topology.bgp_racks(int(r), computes_of(opts, 1),
                                  arp_network=bool(opts.get("--arp-network")))
    elif opts.get("--arp-network"):
        raise Usage("--arp-network goes with --racks")
    else:
        topo = Topology.standard(computes_of(opts, 2), bool(opts.get("--network-node")),
                                 bool(opts.get("--public")))
    lab = Lab(name, topo, bin_dir=bin_dir())
    try:
        info = lab.up()
    except LabError:
        print("lepton-lab: up failed; removed what it made", file=sys.stderr)
        raise
    for w in lab.warnings:
        print(f"lepton-lab: {w}", file=sys.stderr)
    print(f"lab {name} is up: {' '.join(info['nodes'])}")
    print(f"LEPTON_URL={info['url']}")
    return 0


def load(opts):
    return Lab.load(opts["--lab"], bin_dir=bin_dir())


def cmd_vm(opts, words):
    if not need(opts, "--node", "--port"):
        raise Usage("vm needs --node NODE --port PORT")
    vm = load(opts).vm(opts["--node"], opts["--port"], opts.get("--name"))
    print(f"VM {vm.name} on {vm.node}: {vm.address}")
    return 0


def cmd_vm_move(opts, words):
    if not need(opts, "--name", "--node"):
        raise Usage("vm-move needs --name VM --node NODE")
    lab = load(opts)
    vm = lab.topology.vm(opts["--name"])
    old = vm.node if vm else None
    vm = lab.vm_move(opts["--name"], opts["--node"])
    print(f"VM {vm.name} moved from {old} to {vm.node}")
    return 0


def cmd_exec(opts, words):
    lab = load(opts)
    if len(words) < 2:
        raise Usage("exec HOST -- CMD...")
    host = words[0]
    if lab.ns(host) not in lab.namespaces():
        raise Usage(f"no host {host} in lab {lab.name}")
    os.execvp("ip", ["ip", "netns", "exec", lab.ns(host), *words[1:]])


def cmd_agent_restart(opts, words):
    node = opts.get("--node")
    if not node:
        raise Usage("agent-restart needs --node NODE")
    load(opts).agent_restart(node)
    print(f"agent on {node} restarted")
    return 0


def cmd_server_restart(opts, words):
    load(opts).server_restart()
    print("server restarted")
    return 0


def cmd_demo(opts, words):
    results = run_demo(opts["--lab"], computes_of(opts, 3), bin_dir=bin_dir(),
                       out=lambda s: print(s, flush=True))
    if all(ok for _, ok in results):
        print("demo: every step passed")
        return 0
    print("demo: a step failed")
    return 1


def cmd_status(opts, words):
    st = load(opts).status()
    if opts.get("--json"):
        print(json.dumps(st, indent=1))
        return 0
    print(f"lab {st['lab']}: {st['url']}")
    for k, running in st["processes"].items():
        print(f"  {k}: {'running' if running else 'dead'}")
    for a in st["agents"]:
        print(f"  agent {a['host']:<12} alive={a['alive']}")
    for ns in st["namespaces"]:
        print(f"  namespace {ns}")
    return 0


def cmd_topology(opts, words):
    print(load(opts).topology.to_json())
    return 0


def cmd_bgp(opts, words):
    lab = load(opts)
    if len(words) != 1 or not lab.topology.bgp:
        raise Usage("bgp HOST (a node, upstream or core of a lab made with --racks)")
    if not lab.alive(f"bird-{words[0]}"):
        raise Usage(f"no BIRD runs in {words[0]}")
    for args in (("show", "protocols"), ("show", "route")):
        print(lab.birdc(words[0], *args).stdout, end="")
    return 0


def cmd_down(opts, words):
    try:
        lab = load(opts)
    except LabError:
        lab = Lab(opts["--lab"], bin_dir=bin_dir())  # no state: its namespaces by name
    lab.down()
    print(f"lab {lab.name} is down")
    return 0


COMMAND = {"up": cmd_up, "vm": cmd_vm, "vm-move": cmd_vm_move, "exec": cmd_exec,
           "agent-restart": cmd_agent_restart, "server-restart": cmd_server_restart,
           "demo": cmd_demo, "status": cmd_status, "topology": cmd_topology, "bgp": cmd_bgp,
           "down": cmd_down}

"""Ownership (issue 9): the agent changes and deletes only the kernel objects
it made, recognised by its marker (link group 76 on links and on a router
namespace's loopback), never by name alone. Neutron's linuxbridge agent
names its bridges brq* and VXLAN devices vxlan-*, and its L3 agent names
namespaces qrouter-*: such objects next to Lepton's must survive the agent's
full passes and restarts, while Lepton's own stale objects go."""
import subprocess
import time

import pytest

from lab import Lab, unique_name


@pytest.fixture(scope="module")
def lab():
    lab = Lab(unique_name("own"), computes=1)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def links(lab, node):
    return lab.sh(node, "ip -o link show").stdout


def test_foreign_objects_with_our_names_survive(lab):
    node = "compute-1"
    foreign_ns = f"{lab.ns(node)}-qrouter-00000000-0000-4000-8000-00000000f0f0"
    # Made by "someone else": no marker.
    lab.sh(node, "ip link add brqforeign0001 type bridge && "
                 "ip link add vxlan-4242 type vxlan id 4242 dstport 4789 nolearning && "
                 "ip link add dev tapforeign01 type veth peer name tapforeign02 && "
                 "ip link set tapforeign01 master brqforeign0001")

    subprocess.run(["ip", "netns", "add", foreign_ns], check=True)
    try:
        # Ours, made by hand with the marker, wanted by nobody: must go.
        lab.sh(node, "ip link add brqstale00001 group 76 type bridge")
        # A restart is a full pass from nothing known; then a periodic pass.
        lab.agent_restart(node)
        deadline = time.time() + 30
        while time.time() < deadline and "brqstale00001" in links(lab, node):
            time.sleep(0.5)
        out = links(lab, node)
        assert "brqstale00001" not in out, out
        assert "brqforeign0001" in out and "vxlan-4242" in out, out
        assert "tapforeign01@" in out and "master brqforeign0001" in out, out
        time.sleep(11)  # one periodic full pass (10 s)
        out = links(lab, node)
        assert "brqforeign0001" in out and "vxlan-4242" in out, out
        assert foreign_ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                            text=True).stdout
    finally:
        subprocess.run(["ip", "netns", "del", foreign_ns], check=False)
        lab.sh(node, "ip link del brqforeign0001; ip link del vxlan-4242; "
                     "ip link del tapforeign01", check=False)

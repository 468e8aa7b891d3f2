"""An agent whose link events overflowed its netlink socket (it was stopped
while its node made and removed many devices) does not miss a tap made
meanwhile: a lost event makes it look at the whole node at once
(agent.link_events_lost, then a full pass), and the VM's tap joins its
bridge. In a one-node lab."""
import os
import signal
import subprocess
import time

from lab import Lab, unique_name
from leptonlab import logfmt
from test_ops_agent import wait


def test_lost_link_events_make_the_agent_look_again():
    lab = Lab(unique_name("lnk"), computes=1)
    stopped = None
    try:
        lab.up()
        api = lab.client("lnk")
        net = api.post("/v2.0/networks", {"network": {"name": "lnk"}}).json["network"]
        r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                                  "cidr": "10.44.0.0/24"}})
        assert r.status == 201, r
        first = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).json["port"]
        lab.vm("compute-1", first["id"], "lnk1")  # the bridge exists, the agent is caught up
        port = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).json["port"]
        lab.admin().put(f"/v2.0/ports/{port['id']}", {"port": {
            "binding:host_id": "compute-1", "device_owner": "compute:lab"}})
        log = lab.agent_log("compute-1")
        mark = log.stat().st_size
        node = lab.ns("compute-1")
        tap = "tap" + port["id"][:11]
        bridge = "brq" + net["id"][:11]

        pid = lab.pid("agent-compute-1")
        os.kill(pid, signal.SIGSTOP)
        stopped = pid
        # Far more link events than the agent's socket holds, then the tap:
        # its own event is lost with the others.
        batch = "".join(f"link add lnkd{i} type bridge\n" for i in range(400))
        batch += "".join(f"link del lnkd{i}\n" for i in range(400))
        subprocess.run(["ip", "-n", node, "-batch", "-"], input=batch, text=True, check=True,
                       timeout=60)
        subprocess.run(["ip", "-n", node, "link", "add", tap, "type", "veth", "peer", "name",
                        tap + "p"], check=True, timeout=30)
        subprocess.run(["ip", "-n", node, "link", "set", tap, "up"], check=True, timeout=30)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGCONT)
        stopped = None

        assert wait(10, lambda: logfmt.events(log, "agent.link_events_lost", mark)), \
            log.read_text()[-2000:]
        # The pass that follows puts the tap in its network's bridge.

        def enslaved():
            p = subprocess.run(["ip", "-n", node, "-o", "link", "show", "dev", tap],
                               capture_output=True, text=True, timeout=30)
            return f"master {bridge}" in p.stdout

        assert wait(10, enslaved), log.read_text()[-2000:]
        print(f"\ntap in its bridge {time.monotonic() - t0:.2f} s after the agent resumed")
    finally:
        if stopped:
            os.kill(stopped, signal.SIGCONT)
        lab.down()

"""An agent whose watch stream the server cut (it took none of its lines for
watch_send_timeout) reconnects, starts over from a snapshot, catches up with
the server's revision and keeps serving its node. In a one-node lab; the
agent is stopped (SIGSTOP) while its port changes, so that its socket fills."""
import os
import signal
import time
import uuid

from conftest import free_port
from lab import Lab, unique_name
from promtext import value
from test_ops_agent import AGENT_METRICS, scrape_agent, scrape_server, wait


def test_an_agent_whose_stream_was_cut_resumes(tmp_path):
    conf = tmp_path / "lepton-agent.conf"
    conf.write_text(f"metrics_listen = {AGENT_METRICS}\nnetns_prefix =\n")
    mport = free_port()
    murl = f"http://127.0.0.1:{mport}"
    lab = Lab(unique_name("cut"), computes=1,
              server_config={"metrics_listen": f"127.0.0.1:{mport}", "watch_send_timeout": 1},
              agent_args=["--config", str(conf)])
    stopped = None
    try:
        lab.up()
        admin, api = lab.admin(), lab.client("cut")
        net = api.post("/v2.0/networks", {"network": {"name": "cut"}}).json["network"]
        r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                                  "cidr": "10.43.0.0/24"}})
        assert r.status == 201, r
        port = admin.post("/v2.0/ports", {"port": {
            "network_id": net["id"], "binding:host_id": "compute-1", "project_id": "cut",
            "device_owner": "compute:lab", "device_id": str(uuid.uuid4())}}).json["port"]

        def caught_up():
            a = scrape_agent(lab, "compute-1")
            head = value(scrape_server(murl), "lepton_feed_revision")
            return (value(a, "lepton_agent_feed_connected") == 1 and
                    value(a, "lepton_agent_feed_revision") >= head and
                    value(a, "lepton_agent_pass_revision") == value(a, "lepton_agent_feed_revision"))

        assert wait(20, caught_up), lab.agent_log("compute-1").read_text()[-2000:]
        before = scrape_agent(lab, "compute-1")
        assert value(scrape_server(murl), "lepton_feed_watchers", kind="node") == 1

        pid = lab.pid("agent-compute-1")
        os.kill(pid, signal.SIGSTOP)
        stopped = pid
        # Changes for the node while its agent reads nothing, until its
        # socket is full and the server cuts the stream.
        cut = False
        t0 = time.time()
        for i in range(6000):
            r = admin.put(f"/v2.0/ports/{port['id']}", {"port": {
                "name": f"cut-{i}", "description": "d" * 255}})
            assert r.status == 200, r
            if i % 100 == 99:
                if value(scrape_server(murl), "lepton_feed_watchers", kind="node") == 0:
                    cut = True
                    break
                assert time.time() - t0 < 12, "the stream was not cut (the agent is down soon)"
        if not cut:
            cut = wait(5, lambda: value(scrape_server(murl), "lepton_feed_watchers",
                                        kind="node") == 0)
        assert cut, "the server kept the stalled agent's stream"
        os.kill(pid, signal.SIGCONT)
        stopped = None

        # The agent reconnects, gets a new snapshot and catches up.
        assert wait(30, caught_up), lab.agent_log("compute-1").read_text()[-2000:]
        after = scrape_agent(lab, "compute-1")
        assert (value(after, "lepton_agent_feed_lines_total", op="snapshot_begin") >
                value(before, "lepton_agent_feed_lines_total", op="snapshot_begin"))
        assert value(scrape_server(murl), "lepton_feed_watchers", kind="node") == 1
        # And it serves its node: a new VM gets its address by DHCP.
        p2 = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).json["port"]
        vm = lab.vm("compute-1", p2["id"], "cutvm")
        assert vm.address.split("/")[0] == p2["fixed_ips"][0]["ip_address"]
        assert value(after, "lepton_agent_errors_total") == 0, \
            lab.agent_log("compute-1").read_text()[-2000:]
    finally:
        if stopped:
            os.kill(stopped, signal.SIGCONT)
        lab.down()

"""Operating the agents: each lepton-agent serves GET /metrics in its node's
network namespace (--metrics-listen); the scrape is strictly well formed and
its values move with passes, kernel ops, DHCP answers and the feed; the
server's metrics see the agents' watch streams. In a two-node lab."""
import subprocess
import time
import urllib.request

import pytest

from conftest import BUILD, free_port
from lab import Lab, unique_name
from leptonlab import logfmt
from promtext import parse, value

AGENT_METRICS = "127.0.0.1:9464"


def scrape_agent(lab, node):
    p = lab.exec(node, ["curl", "-sS", "-f", "-D", "-", f"http://{AGENT_METRICS}/metrics"],
                 timeout=20, text=False)
    assert p.returncode == 0, p.stderr
    head, _, body = p.stdout.decode().partition("\r\n\r\n")
    assert body.startswith("# HELP "), body[:200]
    assert "Content-Type: text/plain; version=0.0.4" in head, head
    return parse(body)[0]


def scrape_server(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        return parse(r.read().decode())[0]


def wait(seconds, ok):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if ok():
            return True
        time.sleep(0.3)
    return ok()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    port = free_port()
    # The agents take their metrics address from a config file (--config),
    # as the packaged unit runs them.
    conf = tmp_path_factory.mktemp("ops") / "lepton-agent.conf"
    conf.write_text(f"# the lab's agents\nmetrics_listen = {AGENT_METRICS}\nnetns_prefix =\n"
                    "debug = false\n")
    lab = Lab(unique_name("ops"), computes=2,
              server_config={"metrics_listen": f"127.0.0.1:{port}"},
              agent_args=["--config", str(conf)])
    try:
        lab.up()
        yield lab, f"http://127.0.0.1:{port}"
    finally:
        lab.down()


def test_agent_metrics_move_with_passes_ops_dhcp_and_feed(cloud):
    lab, _ = cloud
    before = {n: scrape_agent(lab, n) for n in ("compute-1", "compute-2")}
    for s in before.values():
        assert value(s, "lepton_agent_passes_total", kind="full_resync") == 1
        assert value(s, "lepton_agent_feed_connected") == 1
        assert value(s, "lepton_agent_feed_lines_total", op="snapshot_begin") >= 1
        assert value(s, "lepton_agent_pass_duration_seconds_count", phase="total") >= 1
        assert value(s, "lepton_agent_feed_last_line_timestamp_seconds") > time.time() - 120

    api = lab.client("pops")
    net = api.post("/v2.0/networks", {"network": {"name": "ops"}}).json["network"]
    assert api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                                 "cidr": "10.42.0.0/24"}}).status == 201
    port = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).json["port"]
    vm = lab.vm("compute-1", port["id"], "opsvm")
    assert vm.address

    def moved(after, node, name, **labels):
        return value(after, name, **labels) - value(before[node], name, **labels)

    # DHCP: the VM's discover and request were answered on its own node.
    assert wait(10, lambda: moved(scrape_agent(lab, "compute-1"), "compute-1",
                                  "lepton_agent_dhcp_requests_total", result="replied") >= 2)
    a1 = scrape_agent(lab, "compute-1")
    assert moved(a1, "compute-1", "lepton_agent_passes_total", kind="sync") >= 1
    assert moved(a1, "compute-1", "lepton_agent_pass_duration_seconds_count", phase="apply") >= 1
    ops_ok = sum(v for (n, labels), v in a1.items()
                 if n == "lepton_agent_kernel_ops_total" and ("result", "ok") in labels)
    ops_ok0 = sum(v for (n, labels), v in before["compute-1"].items()
                  if n == "lepton_agent_kernel_ops_total" and ("result", "ok") in labels)
    assert ops_ok > ops_ok0  # the bridge, the VXLAN device, the tap's enslaving...
    assert moved(a1, "compute-1", "lepton_agent_nft_commands_total") > 0  # the port's chains
    assert moved(a1, "compute-1", "lepton_agent_feed_revision") > 0
    # The data plane caught up with the feed: a pass followed the last change.
    assert wait(10, lambda: (lambda s: value(s, "lepton_agent_pass_revision")
                             == value(s, "lepton_agent_feed_revision"))(
        scrape_agent(lab, "compute-1")))
    assert moved(a1, "compute-1", "lepton_agent_feed_lines_total", op="create") >= 3
    # compute-2 hosts nothing of it: no DHCP there.
    a2 = scrape_agent(lab, "compute-2")
    assert moved(a2, "compute-2", "lepton_agent_dhcp_requests_total", result="replied") == 0
    assert value(a1, "lepton_agent_errors_total") == 0, lab.agent_log("compute-1").read_text()


def test_server_sees_the_agents_streams_and_heartbeats(cloud):
    lab, url = cloud
    s0 = scrape_server(url)
    assert value(s0, "lepton_feed_watchers", kind="node") >= 2
    for node in ("compute-1", "compute-2"):
        assert ("lepton_feed_watcher_lag_revisions", frozenset({("host", node)})) in s0
    assert wait(15, lambda: value(scrape_server(url), "lepton_api_requests_total",
                                  resource="lepton/agents", method="POST", status="200")
                > value(s0, "lepton_api_requests_total", resource="lepton/agents",
                        method="POST", status="200"))
    assert value(s0, "lepton_feed_revision") > 0


PASS_KEYS = {"kind", "ports", "networks", "routers", "kernel_ops", "ms", "revision",
             "nft_commands", "ns_ops", "model_ms", "dump_ms", "apply_ms", "nft_ms", "status_ms"}


def test_agent_and_server_log_lines_are_key_value_events_without_secrets(cloud):
    lab, _ = cloud
    admin = lab.admin()
    log2 = lab.agent_log("compute-2")
    mark = log2.stat().st_size
    # The server forgets compute-2's agent: its next heartbeat is refused, it
    # warns and registers again.
    agent = admin.get("/v2.0/agents?host=compute-2").json["agents"][0]
    assert admin.delete(f"/v2.0/agents/{agent['id']}").status == 204
    assert wait(30, lambda: logfmt.events(log2, "agent.registered", mark))
    warn = logfmt.events(log2, "agent.unknown_host", mark)
    assert warn, log2.read_text()
    assert warn[0]["level"] == "warn" and warn[0]["prog"] == "lepton-agent"
    assert set(warn[0]) == {"ts", "level", "prog", "event", "host", "action"}, warn[0]
    assert (warn[0]["host"], warn[0]["action"]) == ("compute-2", "register")

    for node in ("compute-1", "compute-2"):
        text = lab.agent_log(node).read_text()
        lines = text.splitlines()
        events = [logfmt.parse(line) for line in lines]
        bad = [line for line, e in zip(lines, events) if e is None]
        assert not bad, bad[:5]
        assert events[0]["event"] == "agent.start" and events[0]["host"] == node
        passes = [e for e in events if e["event"] == "agent.pass"]
        assert passes[0]["kind"] == "full_resync", passes[0]
        for e in passes:
            assert set(e) == PASS_KEYS | {"ts", "level", "prog", "event"}, e
            assert e["kind"] in ("full_resync", "sync", "routers", "tables") and e["level"] == "info"
            assert all(e[k].isdigit() for k in PASS_KEYS - {"kind"}), e
        # The agents' credential (--token) never reaches the log.
        assert lab.token not in text
    # compute-1 hosts the VM of the first test: a sync pass with kernel ops.
    assert any(e["kind"] == "sync" and int(e["kernel_ops"]) > 0
               for e in logfmt.events(lab.agent_log("compute-1"), "agent.pass"))

    server_log = (lab.state_dir / "server.log").read_text()
    bad = [line for line in server_log.splitlines() if logfmt.parse(line) is None]
    assert not bad, bad[:5]
    assert lab.token not in server_log
    assert logfmt.events(lab.state_dir / "server.log", "server.request")


def test_agent_metrics_listener_answers_only_metrics(cloud):
    lab, _ = cloud
    p = lab.exec("compute-1", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               f"http://{AGENT_METRICS}/other"])
    assert p.stdout == "404"
    p = lab.exec("compute-1", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               "-X", "POST", "-d", "x", f"http://{AGENT_METRICS}/metrics"])
    assert p.stdout == "405"


def test_agent_refuses_a_bad_metrics_address():
    p = subprocess.run([str(BUILD / "lepton-agent"), "--host", "x", "--server",
                        "http://127.0.0.1:1", "--tunnel-ip", "192.0.2.1", "--tunnel-dev", "none",
                        "--metrics-listen", "nonsense"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 2
    assert "--metrics-listen wants HOST:PORT" in p.stderr


def test_agent_refuses_a_bad_bgp_ipv6_next_hop():
    """--bgp-nexthop6 takes a global IPv6 address (not IPv4, link-local,
    multicast or ::), and goes with --bgp-dev; nothing starts otherwise."""
    base = [str(BUILD / "lepton-agent"), "--host", "x", "--server", "http://127.0.0.1:1",
            "--tunnel-ip", "192.0.2.1", "--tunnel-dev", "none"]
    bgp = ["--bgp-dev", "bgp0", "--bgp-nexthop", "100.64.0.2"]
    for bad in ("100.64.0.2", "fe80::1", "ff02::1", "::", "2001:db8::g"):
        p = subprocess.run(base + bgp + ["--bgp-nexthop6", bad], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 2 and f"bad --bgp-nexthop6 {bad}" in p.stderr, (bad, p.stderr)
    p = subprocess.run(base + ["--bgp-nexthop6", "2001:db8:e1::2"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2 and "--bgp-nexthop6 needs --bgp-dev" in p.stderr, p.stderr

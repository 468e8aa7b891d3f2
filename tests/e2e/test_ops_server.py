"""Operating lepton-server: GET /metrics on the metrics listener (strictly
well-formed text, values that move with API calls, feed and watchers), and
the request log (one key=value line per request, no secrets)."""
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import Client, free_port, server_binary
from leptonlab import logfmt
from promtext import FormatError, parse, value


def scrape(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(r.read().decode())


@pytest.fixture
def msrv(make_server):
    port = free_port()
    s = make_server(config=f"metrics_listen = 127.0.0.1:{port}\n").start()
    s.metrics_url = f"http://127.0.0.1:{port}"
    return s


def test_parser_refuses_what_prometheus_refuses():
    good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n"
    assert parse(good)[0] == {("a_total", frozenset({("x", "1")})): 2.0}
    for bad in [
        good.replace("a_total{", "a-total{"),                  # bad name
        good.replace('x="1"', 'x="\\q"'),                      # bad escape
        good.replace('x="1"', 'x=1'),                          # unquoted
        good + "b 1\n",                                        # no TYPE block
        good + 'a_total{x="1"} 3\n',                           # repeated series
        good.rstrip("\n"),                                     # no final newline
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 1\nh_count 1\n",                                # not cumulative
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
    ]:
        with pytest.raises(FormatError):
            parse(bad)


def test_metrics_move_with_api_calls(msrv):
    api = Client(msrv.url, "p1")
    s0, types = scrape(msrv.metrics_url)
    assert types["lepton_api_requests_total"] == "counter"
    assert types["lepton_api_request_duration_seconds"] == "histogram"
    assert types["lepton_store_commit_seconds"] == "histogram"
    assert types["lepton_feed_revision"] == "gauge"

    r = api.post("/v2.0/networks", {"network": {"name": "m1"}})
    assert r.status == 201, r
    net = r.json["network"]["id"]
    assert api.get("/v2.0/networks").status == 200
    assert api.get(f"/v2.0/networks/{net}.json").status == 200
    assert api.get("/v2.0/networks/nope").status == 404
    assert api.post("/v2.0/subnets", {"subnet": {"network_id": net, "cidr": "10.9.0.0/24",
                                                 "ip_version": 4}}).status == 201
    assert api.get("/v2.0/fwaas/firewall_groups").status == 200
    assert api.get("/v2.0/no/such/thing/at/all").status == 404
    s1, _ = scrape(msrv.metrics_url)

    def moved(name, **labels):
        return value(s1, name, **labels) - value(s0, name, **labels)

    req = "lepton_api_requests_total"
    assert moved(req, resource="networks", method="POST", status="201") == 1
    assert moved(req, resource="networks", method="GET", status="200") == 2
    assert moved(req, resource="networks", method="GET", status="404") == 1
    assert moved(req, resource="subnets", method="POST", status="201") == 1
    assert moved(req, resource="firewall_groups", method="GET", status="200") == 1
    assert moved(req, resource="other", method="GET", status="404") == 1
    dur = "lepton_api_request_duration_seconds"
    assert moved(dur + "_count", resource="networks", method="GET") == 3
    assert moved(dur + "_bucket", resource="networks", method="GET", le="+Inf") == 3
    assert moved(dur + "_sum", resource="networks", method="GET") > 0
    assert moved("lepton_feed_revision") >= 2  # the network, the subnet
    assert moved("lepton_store_commit_seconds_count") >= 2
    # Every series label set is one of the bounded resources: no ids leak in.
    for (name, labels) in s1:
        if name == req:
            assert not re.search(r"[0-9a-f]{8}-", dict(labels)["resource"])


def test_metrics_listener_serves_metrics_only_and_api_port_has_none(msrv):
    for path, code in [("/", 404), ("/v2.0/networks", 404), ("/metricsx", 404)]:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(msrv.metrics_url + path, timeout=5)
        assert e.value.code == code
    req = urllib.request.Request(msrv.metrics_url + "/metrics", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405
    # The API port does not serve metrics (they may name projects' activity).
    r = Client(msrv.url, "p1").get("/metrics")
    assert r.status == 404


def open_node_stream(msrv, host):
    """A node's watch stream on a raw socket, read up to its snapshot's end."""
    stream = socket.create_connection(("127.0.0.1", msrv.port), timeout=30)
    stream.sendall(f"GET /v2.0/lepton/watch?since=0&host={host} HTTP/1.1\r\n"
                   "Host: x\r\nX-Project-Id: adm\r\nX-Roles: admin\r\n\r\n".encode())
    got = b""
    while b"snapshot_end" not in got:
        chunk = stream.recv(4096)
        assert chunk, got
        got += chunk
    return stream


def test_watchers_and_their_lag(make_server):
    port = free_port()
    msrv = make_server(config=f"metrics_listen = 127.0.0.1:{port}\nwatch_ping_interval = 1\n")
    msrv.start()
    msrv.metrics_url = f"http://127.0.0.1:{port}"
    admin = Client(msrv.url, "adm", "admin")
    s0, _ = scrape(msrv.metrics_url)
    assert value(s0, "lepton_feed_watchers", kind="node") == 0
    stream = open_node_stream(msrv, "node-m1")
    try:
        s1, _ = scrape(msrv.metrics_url)
        assert value(s1, "lepton_feed_watchers", kind="node") == 1
        assert ("lepton_feed_watcher_lag_revisions", frozenset({("host", "node-m1")})) in s1
        assert value(s1, "lepton_api_requests_total", resource="lepton/watch", method="GET",
                     status="200") == 1
        assert admin.post("/v2.0/networks", {"network": {"name": "w"}}).status == 201
    finally:
        stream.close()
    # The server notices the closed stream when it next writes to it (the
    # idle ping, every second here).
    deadline = time.time() + 30
    while time.time() < deadline:
        s2, _ = scrape(msrv.metrics_url)
        if value(s2, "lepton_feed_watchers", kind="node") == 0:
            break
        time.sleep(0.5)
    assert value(s2, "lepton_feed_watchers", kind="node") == 0
    assert ("lepton_feed_watcher_lag_revisions", frozenset({("host", "node-m1")})) not in s2


def test_watcher_lag_grows_while_it_does_not_read_and_drops_when_it_catches_up(make_server):
    """A whole-feed watcher that stops reading: once the socket buffers
    between it and the server are full, the server can no longer turn the
    changes into lines and lepton_feed_watcher_lag_revisions{host="*"}
    grows with every change; it drops to 0 once the watcher reads again,
    and the series goes when the watcher leaves."""
    port = free_port()
    msrv = make_server(config=f"metrics_listen = 127.0.0.1:{port}\nwatch_ping_interval = 1\n")
    msrv.start()
    metrics = f"http://127.0.0.1:{port}"
    admin = Client(msrv.url, "adm", "admin")
    net = admin.post("/v2.0/networks", {"network": {"name": "lag"}}).json["network"]
    series = ("lepton_feed_watcher_lag_revisions", frozenset({("host", "*")}))

    def lag():
        return scrape(metrics)[0].get(series)

    assert lag() is None  # no whole-feed watcher yet
    stream = socket.socket()
    # A small receive buffer: fewer changes fill the way to the watcher.
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stream.connect(("127.0.0.1", msrv.port))
    try:
        stream.sendall(b"GET /v2.0/lepton/watch?since=0 HTTP/1.1\r\nHost: x\r\n"
                       b"X-Project-Id: adm\r\nX-Roles: admin\r\n\r\n")
        # Open, and caught up (its snapshot fits the buffers).
        deadline = time.time() + 10
        while time.time() < deadline and lag() != 0:
            time.sleep(0.1)
        assert lag() == 0
        # Changes of about 300 bytes of JSON each, never read.
        samples, t0, i = [], time.time(), 0
        while time.time() - t0 < 120 and (len(samples) < 2 or samples[-1] <= samples[0]):
            for _ in range(50):
                assert admin.put(f"/v2.0/networks/{net['id']}", {"network": {
                    "description": f"{i:08d}" + "x" * 200}}).status == 200
                i += 1
            n = lag()
            if n and n > 0:
                samples.append(n)
        assert len(samples) >= 2 and samples[-1] > samples[0] > 0, (samples, i)
        print(f"\nlag {samples[0]:.0f} -> {samples[-1]:.0f} revisions after {i} unread changes")
        # It reads again: the lag drops to 0.
        stream.settimeout(0.2)
        got, t0, caught_up = b"", time.time(), False
        last = f'"description":"{i - 1:08d}'.encode()
        while time.time() - t0 < 30 and not (caught_up and last in got[-4096:]):
            try:
                got += stream.recv(1 << 20)
            except socket.timeout:
                pass
            caught_up = caught_up or lag() == 0
        assert caught_up and lag() == 0
        # ... and what it read ends with the last change.
        assert last in got[-4096:]
    finally:
        stream.close()
    # It leaves: the series goes (found at the next ping, every second here).
    deadline = time.time() + 30
    while time.time() < deadline and lag() is not None:
        time.sleep(0.3)
    assert lag() is None


def test_closed_node_stream_found_while_commits_keep_coming(make_server):
    """A node's stream whose client went away is found even while commits
    the node does not see keep coming, faster than the ping interval: the
    ping is due a second after the last line, not after the last commit."""
    port = free_port()
    msrv = make_server(config=f"metrics_listen = 127.0.0.1:{port}\nwatch_ping_interval = 1\n")
    msrv.start()
    msrv.metrics_url = f"http://127.0.0.1:{port}"
    api = Client(msrv.url, "other-project")
    stream = open_node_stream(msrv, "node-m2")
    try:
        s1, _ = scrape(msrv.metrics_url)
        assert value(s1, "lepton_feed_watchers", kind="node") == 1
    finally:
        stream.close()
    gone, t0, i = None, time.time(), 0
    while time.time() < t0 + 15:
        assert api.post("/v2.0/networks", {"network": {"name": f"n{i}"}}).status == 201
        i += 1
        s2, _ = scrape(msrv.metrics_url)
        if value(s2, "lepton_feed_watchers", kind="node") == 0:
            gone = time.time() - t0
            break
        time.sleep(0.2)
    assert gone is not None and gone < 5, (gone, i)


def test_scrapes_while_requests_run_stay_well_formed(msrv):
    api = Client(msrv.url, "p1")
    errors = []

    def load():
        for i in range(40):
            if api.post("/v2.0/networks", {"network": {"name": f"c{i}"}}).status != 201:
                errors.append(i)

    t = threading.Thread(target=load)
    t.start()
    n = 0
    while t.is_alive():
        scrape(msrv.metrics_url)
        n += 1
    t.join()
    assert not errors
    s, _ = scrape(msrv.metrics_url)
    assert value(s, "lepton_api_requests_total", resource="networks", method="POST",
                 status="201") == 40
    assert n >= 1


def test_request_log_lines_without_secrets(make_server):
    s = make_server(config="agent_token = sekrit-agent-token\n"
                    "keystone_password = sekrit-password\n").start()
    api = Client(s.url, "proj-log")
    assert api.post("/v2.0/networks", {"network": {"name": "l1"}},
                    headers={"X-Auth-Token": "sekrit-user-token"}).status == 201
    assert api.get("/v2.0/ports?name=a%20b").status == 200
    s.stop()
    log = s.log.read_text()
    assert re.search(r" level=info prog=lepton-server event=server.request method=POST "
                     r"path=/v2.0/networks status=201 duration_ms=[0-9]+\.[0-9]{3} "
                     r"project=proj-log\n", log), log
    # Every line is one event of key=value fields.
    events = [logfmt.parse(line) for line in log.splitlines()]
    assert None not in events, log
    assert [e["event"] for e in events][0] == "server.start"
    assert events[-1]["event"] == "server.stop" and events[-1]["signal"] == "TERM"
    reqs = [e for e in events if e["event"] == "server.request"]
    # (GET / is the fixture's readiness probe.)
    assert {(e["method"], e["path"], e["status"]) for e in reqs} == {
        ("POST", "/v2.0/networks", "201"), ("GET", "/v2.0/ports", "200"), ("GET", "/", "200")}
    for e in (e for e in reqs if e["path"] != "/"):
        assert set(e) == {"ts", "level", "prog", "event", "method", "path", "status",
                          "duration_ms", "project"}, e
    assert "sekrit" not in log


def test_request_log_can_be_turned_off(make_server):
    s = make_server(config="request_log = false\n").start()
    assert Client(s.url, "p1").get("/v2.0/networks").status == 200
    s.stop()
    assert "event=server.request" not in s.log.read_text()
    assert "event=server.start" in s.log.read_text()


@pytest.mark.parametrize("line", ["metrics_listen = nonsense", "request_log = maybe"])
def test_bad_operations_settings_are_refused(tmp_path, line):
    cfg = tmp_path / "bad.conf"
    cfg.write_text(line + "\n")
    p = subprocess.run([str(server_binary()), "--config", str(cfg), "--data-dir",
                        str(tmp_path), "--listen", f"127.0.0.1:{free_port()}"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2
    e = logfmt.parse(p.stderr)
    assert e and e["event"] == "server.config_error" and e["level"] == "error", p.stderr
    assert e["file"] == str(cfg) and e["line"] == "1", e


def test_metrics_port_taken_is_an_error(make_server, tmp_path):
    s = make_server().start()
    p = subprocess.run([str(server_binary()), "--data-dir", str(tmp_path), "--listen",
                        f"127.0.0.1:{free_port()}", "--metrics-listen", f"127.0.0.1:{s.port}"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    e = logfmt.parse(p.stderr)
    assert e and e["event"] == "server.listen_failed", p.stderr
    assert e["metrics_listen"] == f"127.0.0.1:{s.port}" and e["err"] == "Address already in use"

"""Several lepton-servers over one etcd cluster (--store etcd://...): a
3-member cluster on loopback, real servers, real clients. Allocation is
transactional across servers, every acknowledged write survives a server's
kill -9, one member may die, and without a quorum writes answer 503 while
reads go on."""
import concurrent.futures
import os
import shutil
import signal
import tempfile
import time

import pytest

from conftest import Client, Server, api_create, assert_error
from leptonlab import logfmt
from leptonlab.etcd import etcd_binary, temporary_cluster

pytestmark = pytest.mark.skipif(etcd_binary() is None,
                                reason="etcd is not installed (scripts/install-deps.sh)")


@pytest.fixture
def cluster():
    with temporary_cluster(members=3) as c:
        yield c


@pytest.fixture
def servers(cluster):
    """make(n): n servers on the cluster, under one key prefix of their own."""
    made = []
    prefix = f"t{os.getpid()}x{int(time.time() * 1000) % 100000}"

    def make(n, prefix=prefix, config=None):
        out = []
        for _ in range(n):
            s = Server(tempfile.mkdtemp(prefix="lepton-e2e-"), config=config,
                       extra_args=["--store", cluster.url(prefix)])
            made.append(s)
            out.append(s.start())
        return out

    yield make
    for s in made:
        s.stop()
        shutil.rmtree(s.data_dir, ignore_errors=True)


def small_subnet(api, cidr="10.77.0.0/27"):
    net = api_create(api, "network", {"name": "race"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 4})
    return net, sub


def wait_until(ok, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if ok():
            return True
        time.sleep(0.05)
    return ok()


def port_names(client):
    r = client.get("/v2.0/ports")
    assert r.status == 200, r
    return sorted(p["name"] for p in r.json["ports"])


def test_two_servers_race_80_port_creates_on_a_27(servers):
    a, b = servers(2)
    api_a, api_b = Client(a.url, "p1"), Client(b.url, "p1")
    net, sub = small_subnet(api_a)
    assert wait_until(lambda: api_b.get(f"/v2.0/subnets/{sub['id']}").status == 200)

    def create(i):
        api = api_a if i % 2 else api_b
        return api.post("/v2.0/ports", {"port": {"network_id": net["id"], "name": f"r{i}"}})

    with concurrent.futures.ThreadPoolExecutor(80) as pool:
        results = list(pool.map(create, range(80)))
    made = [r for r in results if r.status == 201]
    refused = [r for r in results if r.status == 409]
    assert len(made) == 29, [r for r in results if r.status not in (201, 409)][:3]
    assert len(refused) == 51
    for r in refused:
        assert_error(r, 409, "IpAddressGenerationFailure")
    ips = [p["port"]["fixed_ips"][0]["ip_address"] for p in (r.json for r in made)]
    assert len(set(ips)) == 29
    macs = [r.json["port"]["mac_address"] for r in made]
    assert len(set(macs)) == 29
    # Both servers see the same 29 ports.
    want = sorted(r.json["port"]["name"] for r in made)
    assert wait_until(lambda: port_names(api_a) == want and port_names(api_b) == want)


def test_feed_revisions_are_etcds_on_every_server(servers):
    a, b = servers(2)
    admin_a = Client(a.url, "admin-project", "admin")
    admin_b = Client(b.url, "admin-project", "admin")
    net = api_create(admin_a, "network", {"name": "f1"})

    def feed(server, since):
        from test_api_feed import read_feed
        return read_feed(server, since)

    assert wait_until(lambda: any(e.get("id") == net["id"] for e in feed(b, 1)))
    on_a = [e for e in feed(a, 1) if e.get("id") == net["id"]]
    on_b = [e for e in feed(b, 1) if e.get("id") == net["id"]]
    assert on_a and on_a[0]["revision"] == on_b[0]["revision"], (on_a, on_b)
    rev = on_a[0]["revision"]
    # An agent that saw rev on a resumes on b with what came after it.
    net2 = api_create(admin_b, "network", {"name": "f2"})
    assert wait_until(lambda: any(e.get("id") == net2["id"] for e in feed(a, rev)))
    after = feed(a, rev)
    assert all(e["revision"] > rev for e in after if e.get("op") in ("create", "update",
                                                                    "delete"))
    assert not any(e.get("id") == net["id"] for e in after)


def test_a_server_started_later_loads_a_store_of_many_pages_and_follows_it(servers):
    """A server reads the store 1,000 keys at a time at one revision: one
    started over 1,199 ports (and their address and MAC allocations) holds
    them all, allocates around them and follows what comes next, with each
    change of a port in its feed as it was then."""
    from test_api_feed import read_feed

    (a,) = servers(1, config="quota_port = -1\n")
    admin_a = Client(a.url, "admin-project", "admin")
    net = api_create(admin_a, "network", {"name": "big"})
    api_create(admin_a, "subnet", {"network_id": net["id"], "cidr": "10.78.0.0/20",
                                   "ip_version": 4})
    for k in range(12):
        r = admin_a.post("/v2.0/ports", {"ports": [
            {"network_id": net["id"], "name": f"b{k}-{i}"} for i in range(100)]})
        assert r.status == 201, r
    listed = admin_a.get(f"/v2.0/ports?network_id={net['id']}").json["ports"]
    assert admin_a.delete(f"/v2.0/ports/{listed[0]['id']}").status == 204
    assert admin_a.put(f"/v2.0/ports/{listed[1]['id']}",
                       {"port": {"name": "renamed"}}).status == 200

    def ports(api):
        r = api.get(f"/v2.0/ports?network_id={net['id']}")
        assert r.status == 200, r
        return sorted((p["id"], p["name"], p["mac_address"], p["fixed_ips"][0]["ip_address"])
                      for p in r.json["ports"])

    (b,) = servers(1, config="quota_port = -1\n")
    loaded = logfmt.events(b.log, "server.etcd_loaded")
    assert len(loaded) == 1 and int(loaded[0]["keys"]) > 3000, loaded
    assert int(loaded[0]["pages"]) > 1, loaded
    admin_b = Client(b.url, "admin-project", "admin")
    on_a = ports(admin_a)
    assert len(on_a) == 1199 and ports(admin_b) == on_a
    # b writes from the head it loaded, around every address and MAC taken.
    made = api_create(admin_b, "port", {"network_id": net["id"], "name": "from-b"})
    assert made["fixed_ips"][0]["ip_address"] not in {p[3] for p in on_a}
    assert made["mac_address"] not in {p[2] for p in on_a}
    assert wait_until(lambda: len(ports(admin_a)) == 1200)
    # A port made and renamed on a: b's feed has both changes, each with the
    # port as it was then.
    rev = int(loaded[0]["revision"])
    p = api_create(admin_a, "port", {"network_id": net["id"], "name": "first"})
    assert admin_a.put(f"/v2.0/ports/{p['id']}", {"port": {"name": "second"}}).status == 200
    assert wait_until(lambda: admin_b.get(f"/v2.0/ports/{p['id']}").json["port"]["name"]
                      == "second")
    seen = [(e["op"], e["object"]["name"]) for e in read_feed(b, rev)
            if e.get("id") == p["id"]]
    assert seen == [("create", "first"), ("update", "second")], seen


def test_agents_and_heartbeats_are_the_same_on_every_server(servers):
    a, b = servers(2)
    agent = Client(a.url, "admin-project", "admin")
    r = agent.post("/v2.0/lepton/agents/register", {"agent": {
        "host": "node-x", "mode": "compute", "tunnel_address": "192.0.2.10"}})
    assert r.status in (200, 201), r
    admin_b = Client(b.url, "admin-project", "admin")

    def alive_on_b():
        agents = admin_b.get("/v2.0/agents").json["agents"]
        return [x["alive"] for x in agents if x["host"] == "node-x"] == [True]

    assert wait_until(alive_on_b)
    beat_a = Client(a.url, "admin-project", "admin").get("/v2.0/agents").json["agents"][0]
    beat_b = admin_b.get("/v2.0/agents").json["agents"][0]
    assert beat_a["heartbeat_timestamp"] == beat_b["heartbeat_timestamp"]
    # Heartbeats do not reach the change feed.
    from test_api_feed import read_feed
    before = [e for e in read_feed(b, 1) if e.get("op") != "ping"]
    for _ in range(5):
        assert agent.post("/v2.0/lepton/agents/heartbeat", {"host": "node-x"}).status == 200
    after = [e for e in read_feed(b, 1) if e.get("op") != "ping"]
    assert [e["revision"] for e in after] == [e["revision"] for e in before]


def test_kill9_a_server_under_create_load_loses_no_acknowledged_write(servers):
    a, b = servers(2)
    api_a, api_b = Client(a.url, "p1", timeout=10), Client(b.url, "p1", timeout=10)
    net = api_create(api_a, "network", {"name": "load"})
    acked, stop = [], [False]

    def load(worker):
        i = 0
        while not stop[0]:
            i += 1
            try:
                r = api_a.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                        "name": f"w{worker}-{i}"}})
            except OSError:
                continue  # the server died mid-request: not acknowledged
            if r.status == 201:
                acked.append(r.json["port"]["id"])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(load, w) for w in range(4)]
        assert wait_until(lambda: len(acked) >= 20, 30)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        time.sleep(0.5)
        stop[0] = True
        for f in futures:
            f.result()
    assert len(acked) >= 20
    # b goes on, and holds every write a acknowledged.
    assert api_b.post("/v2.0/ports", {"port": {"network_id": net["id"], "name": "after"}}).status == 201
    have = {p["id"] for p in api_b.get("/v2.0/ports").json["ports"]}
    assert set(acked) <= have, set(acked) - have
    # A server started afresh loads the same.
    (c,) = servers(1)
    have_c = {p["id"] for p in Client(c.url, "p1").get("/v2.0/ports").json["ports"]}
    assert have_c == have | {p["id"] for p in api_b.get("/v2.0/ports?name=after").json["ports"]}


def test_one_member_dies_writes_continue(cluster, servers):
    a, b = servers(2)
    api_a, api_b = Client(a.url, "p1"), Client(b.url, "p1")
    net = api_create(api_a, "network", {"name": "m"})
    # m0 is every server's first endpoint: the one they talk to.
    cluster.kill_member(0)
    for i in range(5):
        api = api_a if i % 2 else api_b
        api_create(api, "port", {"network_id": net["id"], "name": f"p{i}"})
    want = [f"p{i}" for i in range(5)]
    assert wait_until(lambda: port_names(api_a) == want and port_names(api_b) == want)
    # It comes back and catches up.
    cluster.start_member(0)
    api_create(api_a, "port", {"network_id": net["id"], "name": "p5"})
    assert wait_until(lambda: port_names(api_b) == want + ["p5"])


def test_without_quorum_writes_answer_503_and_reads_go_on(cluster, servers):
    a, b = servers(2)
    api_a, api_b = Client(a.url, "p1", timeout=20), Client(b.url, "p1", timeout=20)
    net, sub = small_subnet(api_a, "10.78.0.0/24")
    api_create(api_a, "port", {"network_id": net["id"], "name": "before"})
    assert wait_until(lambda: port_names(api_b) == ["before"])
    cluster.kill_member(1)
    cluster.kill_member(2)
    # A request a member timed out on may still land, whole, once the
    # quorum is back (the answer says so); one refused at once never does.
    may_land, names = set(), set()
    for n, api in enumerate((api_a, api_b, api_a, api_b)):
        start = time.monotonic()
        r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "name": f"lost{n}"}})
        err = assert_error(r, 503, "ServiceUnavailable")
        assert "store is unavailable" in err["message"] and "etcd" in err["message"], err
        assert time.monotonic() - start < 15
        if "may yet apply" in err["message"]:
            may_land.add(f"lost{n}")
        else:
            assert "nothing was applied" in err["message"], err
        r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": f"renamed{n}"}})
        err = assert_error(r, 503, "ServiceUnavailable")
        if "may yet apply" in err["message"]:
            names.add(f"renamed{n}")
        # Reads come from the model every server holds.
        assert port_names(api) == ["before"]
        assert api.get(f"/v2.0/networks/{net['id']}").json["network"]["name"] == "race"
    # Once etcd noticed it has no leader, refusals are immediate.
    start = time.monotonic()
    err = assert_error(api_b.post("/v2.0/networks", {"network": {}}), 503)
    assert "nothing was applied" in err["message"] and time.monotonic() - start < 2, err
    # The quorum comes back: writes work again, and nothing is half-written.
    cluster.start_member(1)
    cluster.start_member(2)
    cluster.wait_writable(30)
    made = []

    def create_after():
        r = api_a.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                "name": f"after{len(made)}"}})
        made.append(r)
        return r.status == 201

    assert wait_until(create_after, 30)
    after = {r.json["port"]["name"] for r in made if r.status == 201}
    assert wait_until(lambda: after <= set(port_names(api_b)))
    time.sleep(1)
    ports = api_b.get("/v2.0/ports").json["ports"]
    extra = {p["name"] for p in ports} - after - {"before"}
    assert extra <= may_land | {f"after{i}" for i in range(len(made))}, extra
    assert port_names(api_a) == port_names(api_b)
    # Every port that exists holds its address: whole, distinct, taken.
    ips = [p["fixed_ips"][0]["ip_address"] for p in ports]
    assert len(set(ips)) == len(ports)
    for ip in ips:
        r = api_b.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                "fixed_ips": [{"ip_address": ip}]}})
        assert_error(r, 409)
    assert api_b.get(f"/v2.0/networks/{net['id']}").json["network"]["name"] in {"race"} | names


def test_bad_store_url_is_refused():
    d = tempfile.mkdtemp(prefix="lepton-e2e-")
    try:
        s = Server(d, extra_args=["--store", "etcd:/nohost"])
        with pytest.raises(RuntimeError, match="event=server.bad_option option=--store"):
            s.start()
        s.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_lab_three_servers_agents_move_on_when_theirs_dies():
    """lepton-lab's --servers 3 --store etcd: agents on server 0 until it is
    killed, then on another one, from where they keep wiring new ports."""
    from lab import Lab, unique_name
    lab = Lab(unique_name("et"), computes=2, servers=3, store="etcd")
    try:
        lab.up()
        assert len(lab.urls) == 3 and all(lab.pid(f"etcd-{i}") for i in range(3))
        api = lab.client("p1")
        net = api_create(api, "network", {"name": "n"})
        api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                   "ip_version": 4})
        from leptonlab import allow_ingress
        allow_ingress(api, net["id"], ("icmp",))
        p1 = api_create(api, "port", {"network_id": net["id"], "name": "v1"})
        lab.vm("compute-1", p1["id"], "v1")
        # Every server answers /v2.0/agents the same.
        for url in lab.urls:
            agents = Client(url, "admin", "admin").get("/v2.0/agents").json["agents"]
            assert sorted((a["host"], a["alive"]) for a in agents) == [
                ("compute-1", True), ("compute-2", True)], url
        # Server 0 dies under a create load: every acknowledged create
        # stays; the agents move on.
        acked, stop = [], [False]
        load_api = Client(lab.urls[0], "p1", timeout=10)

        def load():
            i = 0
            while not stop[0]:
                i += 1
                try:
                    r = load_api.post("/v2.0/networks", {"network": {"name": f"l{i}"}})
                except OSError:
                    continue
                if r.status == 201:
                    acked.append(r.json["network"]["id"])

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(load) for _ in range(2)]
            assert wait_until(lambda: len(acked) >= 10, 30)
            lab.kill_server(0)
            stop[0] = True
            for f in futures:
                f.result()
        lab.url = lab.urls[1]
        api = lab.client("p1")
        have = {n["id"] for n in api.get("/v2.0/networks").json["networks"]}
        assert set(acked) <= have, set(acked) - have
        # And one etcd member dies too: the rest carry on.
        lab.etcd_kill(0)
        p2 = api_create(api, "port", {"network_id": net["id"], "name": "v2"})
        lab.vm("compute-2", p2["id"], "v2")  # DHCP answers: the agent has the port
        ip1 = p1["fixed_ips"][0]["ip_address"]
        assert lab.sh("v2", f"ping -c 2 -W 1 -i 0.2 {ip1}", check=False).returncode == 0
        logs = lab.agent_log("compute-1").read_text() + lab.agent_log("compute-2").read_text()
        assert "server_switch" in logs
        # Their heartbeats land through the servers left.
        killed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))

        def beating():
            agents = Client(lab.urls[2], "admin", "admin").get("/v2.0/agents").json["agents"]
            return all(a["alive"] and a["heartbeat_timestamp"] > killed_at for a in agents)

        assert wait_until(beating, 20)
        etcd_pids = [lab.pid(f"etcd-{i}") for i in (1, 2)]
    finally:
        lab.down()
    for pid in etcd_pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                assert f.read().split(") ")[1][0] == "Z", f"etcd {pid} outlived lab.down()"
        except FileNotFoundError:
            pass


API_SUITES_ON_ETCD = ("test_api_ports.py", "test_api_networks.py", "test_api_feed.py",
                      "test_api_concurrency.py", "test_api_durability.py",
                      "test_api_agents.py")


def test_api_suites_pass_over_etcd():
    """The API suites, every server over etcd (conftest.py's
    LEPTON_E2E_STORE=etcd): the backend changes nothing the API promises."""
    import subprocess
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, LEPTON_E2E_STORE="etcd")
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        *[os.path.join(here, f) for f in API_SUITES_ON_ETCD]],
                       cwd=here, env=env, capture_output=True, text=True, timeout=900)
    summary = p.stdout.strip().splitlines()[-1:] or [p.stderr[-2000:]]
    assert p.returncode == 0, p.stdout[-6000:]
    assert " passed" in summary[0] and "skipped" not in summary[0], summary

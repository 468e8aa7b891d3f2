#!/usr/bin/python3
"""Tempest against lepton-server (see scripts/tempest.sh, which installs the
packages and runs this).

Starts a throw-away Keystone (SQLite, fernet tokens, uwsgi on 127.0.0.1)
and lepton-server with `auth_strategy = keystone` on 127.0.0.1 with a network
node and a compute node (real lepton-agents, each in a namespace of its own),
registers the
network endpoint, writes tempest.conf (only neutron available; the
api_extensions the server lists under /v2.0/extensions), runs the network API
suites, prints passed/failed/skipped per module and judges the run against
tests/tempest/known-failures.txt and tests/tempest/expected-skips.txt.
Every process it starts is stopped by PID, the work directory removed
(unless --keep). The last line is the verdict: "tempest: OK ..." or
"tempest: FAIL ..." (exit status 0 / 1)."""
import argparse
import collections
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
LISTS = ROOT / "tests" / "tempest"
REGEX = r"^(tempest\.api\.network|neutron_tempest_plugin\.api)\."
PASSWORD = "lepton-tempest-secret"
SERVICE_PASSWORD = "lepton-service-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url}")


def read_list(name):
    """Test ids (first word of each line) -> reason (the rest)."""
    out = {}
    path = LISTS / name
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tid, _, reason = line.partition(" ")
        out[tid] = reason.strip()
    return out


def bare_id(tid):
    """tempest.api...test_x[id-...,smoke] -> tempest.api...test_x;
    "setUpClass (pkg.mod.Class)" -> pkg.mod.Class.setUpClass (one word, as
    the lists want)."""
    m = re.match(r"^(setUpClass|tearDownClass) \((.*)\)$", tid)
    if m:
        return f"{m.group(2)}.{m.group(1)}"
    return re.sub(r"\[.*\]$", "", tid)


def module_of(tid):
    parts = bare_id(tid).split(".")
    # package.module.Class.test: the module is everything before the class
    for i, p in enumerate(parts):
        if p[:1].isupper():
            return ".".join(parts[:i])
    return ".".join(parts[:-1])


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, args, log, env=None, cwd=None):
        f = open(log, "ab")
        p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                             start_new_session=True)
        self.procs.append((p, f))
        return p

    def stop_all(self):
        for p, f in reversed(self.procs):
            if p.poll() is None:
                # uwsgi's workers are children of its master: the master's
                # process group (its own session) holds only them.
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            f.close()
        self.procs = []


def run(args, env=None, **kw):
    r = subprocess.run(args, env=env, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def start_keystone(work, procs):
    kdir = work / "keystone"
    kdir.mkdir()
    port = free_port()
    conf = kdir / "keystone.conf"
    conf.write_text(f"""[DEFAULT]
log_file = {kdir}/keystone.log
[database]
connection = sqlite:///{kdir}/keystone.db
[identity]
# bcrypt's minimum cost: Tempest makes a user per test class.
password_hash_rounds = 4
[token]
provider = fernet
expiration = 7200
[fernet_tokens]
key_repository = {kdir}/fernet-keys
[fernet_receipts]
key_repository = {kdir}/fernet-keys
[credential]
key_repository = {kdir}/credential-keys
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
""")
    env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=str(conf))
    user = os.environ.get("USER") or "root"
    km = ["keystone-manage", "--config-file", str(conf)]
    run(km + ["db_sync"], env)
    grp = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    uid = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip() or user
    run(km + ["fernet_setup", "--keystone-user", uid, "--keystone-group", grp], env)
    run(km + ["credential_setup", "--keystone-user", uid, "--keystone-group", grp], env)
    url = f"http://127.0.0.1:{port}"
    run(km + ["bootstrap", "--bootstrap-password", PASSWORD,
              "--bootstrap-admin-url", f"{url}/v3", "--bootstrap-internal-url", f"{url}/v3",
              "--bootstrap-public-url", f"{url}/v3", "--bootstrap-region-id", "RegionOne"], env)
    sqlite_wal(kdir / "keystone.db")
    # uwsgi's http-socket closes each connection after its response without
    # saying so: a client that sends its next request on it before the close
    # arrives gets "Remote end closed connection without response" (seen in
    # a setUpClass). "Connection: close" keeps clients from reusing them.
    p = procs.start(["uwsgi", "--plugin", "python3", "--http-socket", f"127.0.0.1:{port}",
                     "--wsgi-file", shutil.which("keystone-wsgi-public"), "--master",
                     "--processes", "1", "--threads", "1", "--die-on-term", "--lazy-apps",
                     "--buffer-size", "65535", "--add-header", "Connection: close"],
                    kdir / "uwsgi.log", env=env)
    wait_http(f"{url}/v3", p, "keystone")
    return url


def sqlite_wal(path):
    """Keystone's SQLite database in WAL mode (kept in the file, for every
    connection opened after). Keystone 22 leaves read transactions open:
    federation's get_enabled_service_providers() returns a lazy query out of
    its session_for_read(), and iterating it later begins a transaction
    (oslo.db emits BEGIN for reads too) on a session nobody closes; it ends
    only when Python's cycle collector frees that session. This runs on
    every token rendered (the auth middleware, each token issued). Most
    often the collector frees it within the request; when it does not, the
    next write's COMMIT, in SQLite's default rollback journal, waits for
    that reader's lock: the single uwsgi worker sleeps out the 5 s busy
    timeout (nothing in it can run the collector meanwhile) and fails with
    "database is locked"; the exception leaves the WSGI app and uwsgi
    closes the connection without a response. The client sees
    RemoteDisconnected, which urllib3 does not retry for a POST: a random
    setUpClass failed in most runs. In WAL mode a reader never blocks a
    commit. Deployments run Keystone on MySQL or PostgreSQL, where reads do
    not block commits either."""
    db = sqlite3.connect(path)
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    finally:
        db.close()
    if mode != "wal":
        raise RuntimeError(f"{path}: journal_mode is {mode}, not wal")


def http_json(method, url, token=None, body=None, extra=None):
    """One JSON request: (status, headers, document or None)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(extra or {})
    if token:
        headers["X-Auth-Token"] = token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, r.headers, json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        raise RuntimeError(f"{method} {url}: {e.code} {raw[:500]!r}") from None


def keystone_setup(kurl, lurl):
    """The service project, the neutron service user (admin there), the
    network service and its endpoints, through Keystone's API."""
    token = admin_token(kurl)
    k = f"{kurl}/v3"
    project = http_json("POST", f"{k}/projects", token, {"project": {
        "name": "service", "domain_id": "default"}})[2]["project"]
    user = http_json("POST", f"{k}/users", token, {"user": {
        "name": "neutron", "domain_id": "default", "password": SERVICE_PASSWORD,
        "default_project_id": project["id"]}})[2]["user"]
    roles = http_json("GET", f"{k}/roles?name=admin", token)[2]["roles"]
    http_json("PUT", f"{k}/projects/{project['id']}/users/{user['id']}/roles/{roles[0]['id']}",
              token)
    service = http_json("POST", f"{k}/services", token, {"service": {
        "name": "neutron", "type": "network"}})[2]["service"]
    for iface in ("public", "internal", "admin"):
        http_json("POST", f"{k}/endpoints", token, {"endpoint": {
            "service_id": service["id"], "interface": iface, "region_id": "RegionOne",
            "url": lurl}})


def start_lepton(work, procs, server, kurl, agent_token):
    ldir = work / "lepton"
    ldir.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    keystone_setup(kurl, url)
    conf = ldir / "lepton.conf"
    # Legacy routers (Neutron's default) run on the network node, whose
    # agent wires their interfaces.
    conf.write_text(f"""auth_strategy = keystone
keystone_url = {kurl}
keystone_username = neutron
keystone_password = {SERVICE_PASSWORD}
keystone_project_name = service
public_url = {url}
agent_token = {agent_token}
router_distributed = false
""")
    # LEPTON_CHECK_SHARED: the server stops if a value its documents share
    # was changed in place (see src/server/store.c).
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", LEPTON_CHECK_SHARED="1")
    p = procs.start([str(server), "--listen", f"127.0.0.1:{port}", "--data-dir", str(ldir),
                     "--unix", str(ldir / "server.sock"), "--config", str(conf)],
                    ldir / "server.log", env=env)
    wait_http(url + "/", p, "lepton-server")
    return url


class Node:
    """A node for the run: its own network namespace (an underlay address on
    a veth inside it, nothing in the host's namespace) and a real lepton-agent
    in it (mode network or compute), reaching the server over its UNIX
    socket. The agent's router namespaces carry the node's name as prefix;
    stop() removes them all."""

    def __init__(self, work, procs, agent, token, mode, index):
        self.ns = f"lp-tempest-{os.getpid()}-{index}"
        self.work, self.procs, self.agent, self.token = work, procs, agent, token
        self.mode, self.host = mode, f"tempest-{mode}-{index}"
        self.tunnel_ip = f"100.127.250.{index}"
        self.log = work / f"agent-{self.host}.log"

    def ip(self, *args):
        run(["ip", "-n", self.ns, *args])

    def start(self, kurl, lurl):
        if os.geteuid() != 0:
            raise RuntimeError("the network node needs root (namespaces); or --no-agent")
        run(["ip", "netns", "add", self.ns])
        self.ip("link", "set", "lo", "up")
        # The underlay: a veth pair whose both ends stay in the namespace.
        self.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul1")
        self.ip("addr", "add", f"{self.tunnel_ip}/24", "dev", "ul0")
        self.ip("link", "set", "ul1", "up")
        self.ip("link", "set", "ul0", "up")
        sock = self.work / "lepton" / "server.sock"
        p = self.procs.start(["nsenter", f"--net=/run/netns/{self.ns}", str(self.agent),
                              "--host", self.host, "--server", f"unix:{sock}",
                              "--token", self.token, "--tunnel-ip", self.tunnel_ip,
                              "--tunnel-dev", "ul0", "--mode", self.mode,
                              "--netns-prefix", f"{self.ns}-"], self.log)
        token = None
        deadline = time.time() + 30
        while time.time() < deadline:
            if p.poll() is not None:
                break
            token = token or admin_token(kurl)
            agents = lepton_get(lurl, token, f"/v2.0/agents?host={self.host}")["agents"]
            if agents and agents[0].get("alive"):
                return
            time.sleep(0.5)
        raise RuntimeError("lepton-agent did not register: " + self.log.read_text()[-2000:])

    def stop(self):
        """After the agent stopped: every namespace of the node goes."""
        if not pathlib.Path("/run/netns").is_dir():
            return
        for name in sorted(os.listdir("/run/netns")):
            if name == self.ns or name.startswith(self.ns + "-"):
                subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def admin_token(kurl):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    req = urllib.request.Request(f"{kurl}/v3/auth/tokens", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers["X-Subject-Token"]


def lepton_get(url, token, path):
    req = urllib.request.Request(url + path, headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def lepton_post(url, token, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"X-Auth-Token": token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


REQUEST_NOTE = "request: "

# Imported first by every Python process of the run (PYTHONPATH): Debian's
# tempest package sleeps 10 s before each subnet delete (a wait for agents
# that tear ports down late); upstream Tempest deletes at once, and so does
# this. lepton-server deletes a subnet's ports within the request.
SITECUSTOMIZE = """
try:
    from tempest.lib.services.network import subnets_client as _sc

    def _delete_subnet(self, subnet_id):
        return self.delete_resource('/subnets/%s' % subnet_id)

    _sc.SubnetsClient.delete_subnet = _delete_subnet
except ImportError:
    pass

# A request that gets no response (the connection closed, refused, timed
# out) raises from urllib3 with neither the method nor the URL: a note on
# the exception names them (and so the server) in the test's traceback.
try:
    from tempest.lib.common import rest_client as _rc

    _raw_request = _rc.RestClient.raw_request

    def _raw_request_noted(self, url, method, *args, **kwargs):
        try:
            return _raw_request(self, url, method, *args, **kwargs)
        except Exception as e:
            if hasattr(e, "add_note"):
                e.add_note("%s%s %s" % (REQUEST_NOTE, method, url))
            raise

    _rc.RestClient.raw_request = _raw_request_noted
except ImportError:
    pass
""".replace("REQUEST_NOTE", repr(REQUEST_NOTE))


def tempest_env(work):
    site = work / "site"
    if not site.is_dir():
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return dict(os.environ, HOME=str(work), PYTHONPATH=str(site))


def check_auth(kurl, lurl):
    """lepton-server behind Keystone: no token, a made-up token and a token
    for an unknown project answer 401; a real token 200, whatever
    X-Project-Id and X-Roles claim."""
    def status(headers):
        req = urllib.request.Request(lurl + "/v2.0/networks", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    token = admin_token(kurl)
    got = {
        "none": status({"X-Project-Id": "p1", "X-Roles": "admin"})[0],
        "bogus": status({"X-Auth-Token": "gAAAAAB-not-a-token"})[0],
        "valid": status({"X-Auth-Token": token, "X-Project-Id": "p1"})[0],
    }
    want = {"none": 401, "bogus": 401, "valid": 200}
    if got != want:
        raise RuntimeError(f"Keystone auth: got {got}, want {want}")
    # The cache answers the second time; the token's project is the project.
    net = lepton_post(lurl, token, "/v2.0/networks", {"network": {"name": "auth-check"}})
    me = http_json("GET", f"{kurl}/v3/auth/tokens", token, None,
                   {"X-Subject-Token": token})[2]["token"]
    if net["network"]["project_id"] != me["project"]["id"]:
        raise RuntimeError(f"network made in {net['network']['project_id']}, "
                           f"token's project {me['project']['id']}")
    http_json("DELETE", f"{lurl}/v2.0/networks/{net['network']['id']}", token)


def write_tempest_conf(work, kurl, lurl):
    token = admin_token(kurl)
    exts = [e["alias"] for e in lepton_get(lurl, token, "/v2.0/extensions")["extensions"]]
    net = lepton_post(lurl, token, "/v2.0/networks", {"network": {
        "name": "public", "router:external": True}})["network"]
    lepton_post(lurl, token, "/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "172.24.4.0/24", "ip_version": 4, "name": "public"}})
    # As devstack: a shared default IPv4 subnet pool (auto-allocated-topology
    # takes its subnets from it).
    lepton_post(lurl, token, "/v2.0/subnetpools", {"subnetpool": {
        "name": "shared-default-subnetpool-v4", "prefixes": ["10.200.0.0/16"],
        "default_prefixlen": 26, "shared": True, "is_default": True}})
    tdir = work / "tempest"
    # tempest init records workspaces in ~/.tempest: a HOME of our own keeps
    # the user's untouched and runs independent.
    run(["tempest", "init", str(tdir)], tempest_env(work), cwd=work)
    (tdir / "etc" / "tempest.conf").write_text(f"""[DEFAULT]
log_dir = {tdir}/logs
log_file = tempest.log
[oslo_concurrency]
lock_path = {tdir}/lock
[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = admin
admin_password = {PASSWORD}
admin_project_name = admin
admin_domain_name = Default
[identity]
uri_v3 = {kurl}/v3
auth_version = v3
region = RegionOne
disable_ssl_certificate_validation = true
[identity-feature-enabled]
api_v2 = false
[service_available]
neutron = true
nova = false
glance = false
cinder = false
swift = false
horizon = false
[validation]
run_validation = false
[network]
public_network_id = {net["id"]}
floating_network_name = public
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_network_v6_cidr = 2001:db8::/48
project_network_v6_mask_bits = 64
[network-feature-enabled]
api_extensions = {",".join(exts)}
ipv6 = true
ipv6_subnet_attributes = true
[neutron_plugin_options]
available_type_drivers = vxlan
""")
    return tdir, exts


def run_tempest(tdir, regex, concurrency):
    t0 = time.time()
    r = subprocess.run(["tempest", "run", "--regex", regex, "--concurrency", str(concurrency)],
                       cwd=tdir, capture_output=True, text=True, env=tempest_env(tdir.parent))
    (tdir / "run.log").write_text(r.stdout + r.stderr)
    elapsed = time.time() - t0
    sub = subprocess.run(["stestr", "last", "--subunit"], cwd=tdir, capture_output=True,
                         env=tempest_env(tdir.parent))
    return sub.stdout, elapsed


def parse_subunit(data):
    """test id -> (status, reason) from a subunit v2 stream."""
    import subunit
    import testtools
    import io

    results = {}

    class Collect(testtools.StreamResult):
        def __init__(self):
            super().__init__()
            self.attach = collections.defaultdict(str)

        def status(self, test_id=None, test_status=None, file_name=None, file_bytes=None,
                   **kw):
            if test_id is None:
                return
            if file_bytes and file_name in ("reason", "traceback"):
                self.attach[test_id] += file_bytes.decode("utf-8", "replace")
            if test_status in ("success", "fail", "skip", "xfail", "uxsuccess"):
                results[test_id] = (test_status, self.attach.pop(test_id, ""))

    stream = subunit.ByteStreamToStreamResult(io.BytesIO(data), non_subunit_name="stdout")
    c = Collect()
    c.startTestRun()
    stream.run(c)
    c.stopTestRun()
    return results


def report(results, known, skips):
    per = collections.OrderedDict()
    for tid in sorted(results):
        st = results[tid][0]
        mod = module_of(bare_id(tid))
        c = per.setdefault(mod, collections.Counter())
        c[{"success": "passed", "fail": "failed", "skip": "skipped"}.get(st, st)] += 1
    total = collections.Counter()
    print(f"{'module':70} {'passed':>6} {'failed':>6} {'skipped':>7}")
    for mod, c in per.items():
        print(f"{mod:70} {c['passed']:6} {c['failed']:6} {c['skipped']:7}")
        total.update(c)
    print(f"{'TOTAL':70} {total['passed']:6} {total['failed']:6} {total['skipped']:7}")

    new_fail, new_skip, fixed = [], [], []
    for tid, (st, reason) in sorted(results.items()):
        b = bare_id(tid)
        if st == "fail" and b not in known:
            first = [ln for ln in reason.splitlines()
                     if ln.strip() and not ln.startswith(REQUEST_NOTE)][-1:] or [""]
            new_fail.append(f"{b}  {first[0][:200]}")
        elif st == "skip" and b not in skips:
            new_skip.append(f"{b}  {reason.strip()[:200]}")
        elif st == "success" and b in known:
            fixed.append(b)
    for title, items in (("FAILED, not in known-failures.txt", new_fail),
                         ("SKIPPED, not in expected-skips.txt", new_skip),
                         ("PASSED, remove from known-failures.txt", fixed)):
        if items:
            print(f"\n{title} ({len(items)}):")
            for i in items:
                print("  " + i)
    for tid, (st, reason) in sorted(results.items()):
        if st == "fail" and bare_id(tid) not in known:
            print(f"\ntraceback of {bare_id(tid)} (its tail):")
            for ln in traceback_tail(reason):
                print("  " + ln)
    return total, new_fail, new_skip, fixed


def traceback_tail(reason, frames=5):
    """The lines of a failure that name the server and the request: the
    request (method and URL, noted on the exception by SITECUSTOMIZE), the
    last `frames` frames of Tempest or the plugin in the last traceback
    (which client: identity = Keystone, network = lepton-server, and its
    call) and the exception."""
    lines = [ln.rstrip() for ln in reason.splitlines() if ln.strip()]
    start = max((i for i, ln in enumerate(lines) if ln.startswith("Traceback")), default=0)
    lines = lines[start:]
    notes = [ln for ln in lines if ln.startswith(REQUEST_NOTE)]
    calls = []
    for i, ln in enumerate(lines):
        if ln.lstrip().startswith("File ") and re.search(r"/(tempest|neutron_tempest_plugin)/",
                                                          ln):
            code = lines[i + 1].strip() if i + 1 < len(lines) else ""
            calls.append(ln.strip() + (f": {code}" if code and not code.startswith("File ")
                                       else ""))
    exc = [ln for ln in lines[1:] if not ln.startswith((" ", REQUEST_NOTE))]
    return notes[-1:] + calls[-frames:] + exc[-1:]


def show_service_trouble(work):
    """After an unexpected failure: what lepton-server logged above info,
    what uwsgi (Keystone) logged besides its request lines and its requests
    that answered 5xx (uwsgi closes the connection without a response when
    the app raises), and the errors Keystone did not handle, so that a
    connection one of them closed can be told apart."""
    for name, path, what, keep in (
            ("lepton-server", work / "lepton" / "server.log", "lines besides requests",
             lambda ln: " level=info " not in ln),
            ("keystone uwsgi", work / "keystone" / "uwsgi.log", "lines besides requests",
             lambda ln: not ln.startswith("[pid: ")),
            ("keystone uwsgi", work / "keystone" / "uwsgi.log", "requests answered 5xx",
             lambda ln: ln.startswith("[pid: ") and re.search(r"\(HTTP/1\.[01] 5\d\d\)", ln)),
            ("keystone", work / "keystone" / "keystone.log", "unhandled errors",
             lambda ln: " CRITICAL " in ln)):
        try:
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if keep(ln)]
        except OSError:
            continue
        print(f"\n{name} log, {len(lines)} {what} (the last 30):")
        for ln in lines[-30:]:
            print("  " + ln)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=str(ROOT / "build" / "lepton-server"))
    ap.add_argument("--agent", default=str(ROOT / "build" / "lepton-agent"))
    ap.add_argument("--no-agent", dest="agent_node", action="store_false",
                    help="run no nodes (the agent tests then fail)")
    ap.add_argument("--regex", default=REGEX)
    # Debian's tempest sleeps 10 s before every subnet delete: workers
    # mostly wait, so more of them than cores shortens the run.
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--write-lists", action="store_true",
                    help="rewrite known-failures.txt and expected-skips.txt from this run")
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="lepton-tempest-"))
    procs = Procs()
    nodes = []
    # SIGTERM (a CI timeout) ends the run through `finally`: every process we
    # started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        # Our own copy: a rebuild during the run does not change the server.
        server, agent = work / "lepton-server", work / "lepton-agent"
        shutil.copy2(a.server, server)
        shutil.copy2(a.agent, agent)
        kurl = start_keystone(work, procs)
        token = os.urandom(16).hex()
        lurl = start_lepton(work, procs, server, kurl, token)
        # A network node (legacy routers) and a compute node.
        for i, mode in enumerate(("network", "compute") if a.agent_node else ()):
            nodes.append(Node(work, procs, agent, token, mode, i + 1))
            nodes[-1].start(kurl, lurl)
        check_auth(kurl, lurl)
        tdir, exts = write_tempest_conf(work, kurl, lurl)
        print(f"keystone {kurl}, lepton-server {lurl}, {len(exts)} extensions", flush=True)
        data, elapsed = run_tempest(tdir, a.regex, a.concurrency)
        results = parse_subunit(data)
        if not results:
            print((tdir / "run.log").read_text()[-3000:])
            print("tempest: FAIL no test ran")
            return 1
        known, skips = read_list("known-failures.txt"), read_list("expected-skips.txt")
        if a.write_lists:
            write_lists(results, known, skips)
            known, skips = read_list("known-failures.txt"), read_list("expected-skips.txt")
        total, new_fail, new_skip, fixed = report(results, known, skips)
        ok = not new_fail and not new_skip
        if new_fail:
            show_service_trouble(work)
        print(f"\ntempest: {'OK' if ok else 'FAIL'} {total['passed']} passed, "
              f"{total['failed']} failed ({len(new_fail)} unexpected), "
              f"{total['skipped']} skipped ({len(new_skip)} unexpected), "
              f"{len(fixed)} known failures now pass, {elapsed:.0f} s")
        return 0 if ok else 1
    finally:
        procs.stop_all()
        for n in nodes:
            n.stop()
        if a.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def write_lists(results, known, skips):
    """Seeds the lists from a run: failures keep their old reason or get the
    last line of their traceback, skips their skip reason."""
    kf, es = [], []
    for tid, (st, reason) in sorted(results.items()):
        b = bare_id(tid)
        lines = [ln.strip() for ln in reason.splitlines() if ln.strip()]
        if st == "fail":
            kf.append(f"{b} {known.get(b) or (lines[-1][:160] if lines else 'failed')}")
        elif st == "skip":
            es.append(f"{b} {skips.get(b) or (' '.join(lines)[:160] or 'skipped')}")
    hdr = ("# Tempest tests that fail against lepton-server today: test id, then why.\n"
           "# scripts/tempest.sh fails on a failure not listed here and reports listed\n"
           "# ones that pass (remove them). This list only shrinks.\n")
    (LISTS / "known-failures.txt").write_text(hdr + "\n".join(kf) + "\n")
    hdr = ("# Tempest tests expected to skip: test id, then the reason. A skip not\n"
           "# listed here fails scripts/tempest.sh.\n")
    (LISTS / "expected-skips.txt").write_text(hdr + "\n".join(es) + "\n")


if __name__ == "__main__":
    sys.exit(main())

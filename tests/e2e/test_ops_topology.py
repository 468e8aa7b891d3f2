"""The topology page (/topology) in a real headless browser (Debian's
chromium driven by selenium): it loads from the server, draws what the API
holds for a tenant (networks, routers, VMs, Floating IPs), follows changes
live, and shows admins which node hosts what (VMs, router instances, the
SNAT owner)."""
import http.client
import json
import shutil
import socket
import threading
import time
import urllib.parse

import pytest

from conftest import Client, api_create
from test_api_snat import CONFIG, Agents, cloud, vm

# python3-selenium, chromium and chromium-driver come with `make deps`.
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


@pytest.fixture
def srv(make_server):
    return make_server(config=CONFIG).start()


@pytest.fixture
def browser():
    assert shutil.which("chromium") and shutil.which("chromedriver"), \
        "chromium and chromium-driver missing: make deps installs them"
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-extensions", "--window-size=1400,1000"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        yield d
    finally:
        d.quit()


def wait(pred, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            v = pred()
        except Exception:  # the page is between two renderings
            v = None
        if v:
            return v
        time.sleep(0.1)
    return pred()


# The page redraws as the API changes: each query reads the DOM in one
# script run, so that it sees one drawing.
QUERY = """return [...document.querySelectorAll(arguments[0])].map(e => ({
    id: e.getAttribute("data-id"), host: e.getAttribute("data-host"),
    network: e.getAttribute("data-network"), networks: e.getAttribute("data-networks"),
    text: e.textContent, shown: !e.closest("[hidden]")}));"""


def find(d, css):
    return d.execute_script(QUERY, css)


def text(d, css):
    els = find(d, css)
    return els[0]["text"] if els else None


# The page's safety poll: an hour. Every change below shows within seconds,
# so it came by the changes stream and not by a poll.
POLL_MS = 3600 * 1000


def body(d, attr):
    return d.find_element(By.TAG_NAME, "body").get_attribute(attr)


def open_page(d, url, query):
    d.get(f"{url}/topology?{query}&interval={POLL_MS}")
    assert wait(lambda: int(body(d, "data-loaded") or 0) >= 1), text(d, "#status")
    assert wait(lambda: body(d, "data-live") == "1"), text(d, "#status")


def live(d, pred, before):
    """pred() came true within 10 s through change events (more of them than
    `before`), the poll being an hour away."""
    t0 = time.time()
    assert wait(pred, 10)
    assert time.time() - t0 < 10 < POLL_MS / 1000
    assert int(body(d, "data-changes") or 0) > before
    return int(body(d, "data-changes") or 0)


def test_page_is_served_from_the_tree(srv):
    c = Client(srv.url, None)
    for path, kind in (("/topology", "text/html"), ("/topology/", "text/html"),
                       ("/topology/app.js", "text/javascript"),
                       ("/topology/style.css", "text/css")):
        r = c.get(path)
        assert r.status == 200 and r.headers["Content-Type"].startswith(kind), (path, r)
    assert "<script src=\"/topology/app.js\">" in c.get("/topology").text
    assert c.get("/topology/nope.js").status == 404
    assert c.get("/topologyx").status == 401  # not the page's: the API's auth
    assert c.post("/topology", {}).status == 405


class Changes:
    """GET /v2.0/lepton/changes read in a thread: the events as (name, data)."""

    def __init__(self, url, project, roles=""):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        h = {"X-Project-Id": project, "Accept": "text/event-stream"}
        if roles:
            h["X-Roles"] = roles
        self.conn.request("GET", "/v2.0/lepton/changes", headers=h)
        self.resp = self.conn.getresponse()
        self.events = []
        if self.resp.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        name, data = None, None
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif not line and name:
                    self.events.append((name, data))
                    name, data = None, None
        except (OSError, ValueError, AttributeError):
            pass  # closed (http.client drops its file under the reader)

    def ids(self):
        return [d["id"] for n, d in self.events if n == "change"]

    def close(self):
        # Wakes the reader (closing alone would wait for its read to end).
        if self.conn.sock:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


def test_changes_stream_carries_only_what_the_caller_may_see(srv):
    admin = Client(srv.url, "admin-project", "admin")
    r = Client(srv.url, None).get("/v2.0/lepton/changes")
    assert r.status == 401
    assert Client(srv.url, "p1").post("/v2.0/lepton/changes", {}).status == 405
    p1, p2, adm = (Changes(srv.url, "p1"), Changes(srv.url, "p2"),
                   Changes(srv.url, "admin-project", "admin"))
    try:
        for c in (p1, p2, adm):
            assert c.resp.status == 200
            assert c.resp.getheader("Content-Type") == "text/event-stream"
            assert wait(lambda: c.events and c.events[0][0] == "ready"), c.events
        mine = api_create(admin.as_("p1"), "network", {"name": "secret-name-1"})
        theirs = api_create(admin.as_("p2"), "network", {"name": "secret-name-2"})
        shared = api_create(admin, "network", {"name": "everyone", "shared": True})
        assert admin.put(f"/v2.0/networks/{mine['id']}",
                         {"network": {"name": "secret-name-3"}}).status == 200
        assert admin.as_("p2").delete(f"/v2.0/networks/{theirs['id']}").status == 204
        last = admin.get(f"/v2.0/networks/{shared['id']}").json["network"]
        assert wait(lambda: shared["id"] in p1.ids() and shared["id"] in p2.ids()
                    and len([i for i in adm.ids() if i == theirs["id"]]) == 2)
        # p1: its network (created, renamed) and the shared one; never p2's.
        assert [i for i in p1.ids() if i in (mine["id"], theirs["id"], shared["id"])] \
            == [mine["id"], shared["id"], mine["id"]]
        assert theirs["id"] not in p1.ids() and mine["id"] not in p2.ids()
        assert p2.ids().count(theirs["id"]) == 2  # created, deleted
        ops = [(d["op"], d["type"]) for n, d in p1.events if n == "change" and
               d["id"] == mine["id"]]
        assert ops == [("create", "network"), ("update", "network")]
        # Ids and revisions only: never a document (its name, its project).
        for c in (p1, p2, adm):
            for n, d in c.events:
                assert set(d) <= {"revision", "op", "type", "id"}, d
                assert "secret-name" not in json.dumps(d)
        # Unshared: an event for those who saw it, then none for a rename.
        n1, n2 = len(p1.events), len(p2.events)
        assert admin.put(f"/v2.0/networks/{shared['id']}",
                         {"network": {"shared": False}}).status == 200
        assert wait(lambda: p1.ids()[-1:] == [shared["id"]] and p2.ids()[-1:] == [shared["id"]])
        seen = adm.ids().count(shared["id"])
        assert admin.put(f"/v2.0/networks/{shared['id']}",
                         {"network": {"name": "admins-only"}}).status == 200
        # The admin's stream has the rename; the tenants' had their chance.
        assert wait(lambda: adm.ids().count(shared["id"]) == seen + 1)
        time.sleep(0.5)
        assert [d["op"] for n, d in p1.events[n1:]] == ["update"], p1.events[n1:]
        assert [d["op"] for n, d in p2.events[n2:]] == ["update"], p2.events[n2:]
        revs = [d["revision"] for n, d in adm.events if n == "change"]
        assert revs == sorted(revs) and len(set(revs)) == len(revs)
        assert revs[-1] >= last["revision_number"]
    finally:
        for c in (p1, p2, adm):
            c.close()


def test_tenant_view_draws_the_api_and_follows_changes(srv, browser):
    agents = Agents(srv.url)
    try:
        agents.add("c1")
        agents.add("c2")
        admin = Client(srv.url, "admin-project", "admin")
        router, sub, net = cloud(admin)
        ext_id = router["external_gateway_info"]["network_id"]
        vm1 = vm(admin, net, "c1")
        tenant = admin.as_("p1")
        fip = api_create(tenant, "floatingip", {"floating_network_id": ext_id,
                                                "port_id": vm1["id"]})

        open_page(browser, srv.url, "project=p1")
        d = browser
        assert text(d, f'[data-kind=network][data-id="{net["id"]}"] [data-field=name]') == "n1"
        assert text(d, f'[data-kind=network][data-id="{net["id"]}"] [data-field=cidrs]') \
            == "10.0.0.0/24"
        assert text(d, f'[data-kind=network][data-id="{ext_id}"] [data-field=name]') == "public"
        r = find(d, f'[data-kind=router][data-id="{router["id"]}"]')[0]
        assert set(r["networks"].split()) == {net["id"], ext_id}
        assert r["text"] == "r1"  # a tenant is not told how it is distributed
        g = find(d, f'[data-kind=vm][data-id="{vm1["id"]}"]')[0]
        assert g["network"] == net["id"]
        assert vm1["fixed_ips"][0]["ip_address"] in g["text"]
        assert text(d, f'[data-kind=fip][data-id="{fip["id"]}"]') \
            == f"FIP {fip['floating_ip_address']}"
        assert len(find(d, "[data-kind=vm]")) == 1
        # A tenant sees no nodes.
        assert not find(d, "#nodes-section")[0]["shown"]
        assert not find(d, "[data-kind=node]")

        # Live: a new VM appears, the Floating IP goes, a network is renamed.
        seen = int(body(d, "data-changes") or 0)
        vm2 = vm(admin, net, "c2")
        seen = live(d, lambda: find(d, f'[data-kind=vm][data-id="{vm2["id"]}"]'), seen)
        assert tenant.delete(f"/v2.0/floatingips/{fip['id']}").status == 204
        seen = live(d, lambda: not find(d, "[data-kind=fip]"), seen)
        assert tenant.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "renamed"}}).status \
            == 200
        live(d, lambda: text(d, f'[data-kind=network][data-id="{net["id"]}"] '
                                '[data-field=name]') == "renamed", seen)
        # Another project sees none of it.
        open_page(d, srv.url, "project=other")
        assert not find(d, "[data-kind=vm]") and not find(d, "[data-kind=router]")
    finally:
        agents.close()


def test_admin_view_shows_which_node_hosts_what(srv, browser):
    agents = Agents(srv.url)
    try:
        agents.add("c1")
        agents.add("c2")
        agents.add("c3")
        admin = Client(srv.url, "admin-project", "admin")
        router, sub, net = cloud(admin)
        vm1 = vm(admin, net, "c1")
        vm2 = vm(admin, net, "c2")
        owner = admin.get(f"/v2.0/routers/{router['id']}").json["router"]["lepton:snat_owner"]
        assert owner == "c1"

        open_page(browser, srv.url, "project=admin-project&roles=admin")
        d = browser
        assert find(d, "#nodes-section")[0]["shown"]
        assert text(d, f'[data-kind=router][data-id="{router["id"]}"]') == "r1 (distributed)"
        assert sorted(e["host"] for e in find(d, "[data-kind=node]")) \
            == ["c1", "c2", "c3"]

        def node(h, what):
            return [e["id"]
                    for e in find(d, f'[data-kind=node][data-host="{h}"] [data-kind={what}]')]

        assert node("c1", "node-vm") == [vm1["id"]] and node("c2", "node-vm") == [vm2["id"]]
        # DVR: an instance of the router on every node with a VM on its network.
        assert node("c1", "node-router") == [router["id"]]
        assert node("c2", "node-router") == [router["id"]]
        assert node("c3", "node-router") == [] and node("c3", "node-vm") == []
        assert len(find(d, '[data-kind=node][data-host="c1"] [data-kind=snat-owner]')) == 1
        assert not find(d, '[data-kind=node][data-host="c2"] [data-kind=snat-owner]')

        # Live: a VM on c3 brings the router there.
        seen = int(body(d, "data-changes") or 0)
        vm3 = vm(admin, net, "c3")
        live(d, lambda: node("c3", "node-router") == [router["id"]]
             and node("c3", "node-vm") == [vm3["id"]], seen)
    finally:
        agents.close()

"""The topology page (/topology) in a real headless browser (Debian's
chromium driven by selenium): it loads from the server, draws what the API
holds for a tenant (networks, routers, VMs, Floating IPs), follows changes
live, and shows admins which node hosts what (VMs, router instances, the
SNAT owner)."""
import shutil
import time

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


def open_page(d, url, query):
    d.get(f"{url}/topology?{query}&interval=300")
    assert wait(lambda: int(d.find_element(By.TAG_NAME, "body").get_attribute(
        "data-loaded") or 0) >= 1), text(d, "#status")


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
        vm2 = vm(admin, net, "c2")
        assert wait(lambda: find(d, f'[data-kind=vm][data-id="{vm2["id"]}"]'))
        assert tenant.delete(f"/v2.0/floatingips/{fip['id']}").status == 204
        assert wait(lambda: not find(d, "[data-kind=fip]"))
        assert tenant.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "renamed"}}).status \
            == 200
        assert wait(lambda: text(d, f'[data-kind=network][data-id="{net["id"]}"] '
                                    '[data-field=name]') == "renamed")
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
        vm3 = vm(admin, net, "c3")
        assert wait(lambda: node("c3", "node-router") == [router["id"]]
                    and node("c3", "node-vm") == [vm3["id"]])
    finally:
        agents.close()

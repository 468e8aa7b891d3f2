"""A write that was answered survives kill -9 of the server."""
import signal

from conftest import Client, api_create


def _restart(make_server, old):
    old.stop(signal.SIGKILL)
    return make_server(data_dir=old.data_dir).start()


def test_create_survives_sigkill(make_server):
    s = make_server().start()
    api = Client(s.url, "p1")
    admin = Client(s.url, "admin-project", "admin")
    net = api_create(api, "network", {"name": "durable"})
    sub = api_create(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                     "ip_version": 4})
    port = api_create(api, "port", {"network_id": net["id"], "name": "p"})
    vni = admin.get(f"/v2.0/networks/{net['id']}").json["network"]["provider:segmentation_id"]
    s2 = _restart(make_server, s)
    api, admin = Client(s2.url, "p1"), Client(s2.url, "admin-project", "admin")
    got = api.get(f"/v2.0/networks/{net['id']}")
    assert got.status == 200, got
    n = got.json["network"]
    assert n["name"] == "durable" and n["subnets"] == [sub["id"]]
    assert admin.get(f"/v2.0/networks/{net['id']}").json["network"]["provider:segmentation_id"] == vni
    assert api.get(f"/v2.0/subnets/{sub['id']}").json["subnet"] == sub
    p = api.get(f"/v2.0/ports/{port['id']}").json["port"]
    assert p["mac_address"] == port["mac_address"] and p["fixed_ips"] == port["fixed_ips"]
    # Allocations survived too: the address and the VNI are not handed out again.
    ip = port["fixed_ips"][0]["ip_address"]
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": ip}]}})
    assert r.status == 409, r
    other = api_create(api, "network", {"name": "other"})
    assert admin.get(f"/v2.0/networks/{other['id']}").json["network"][
        "provider:segmentation_id"] != vni


def test_update_and_delete_survive_sigkill(make_server):
    s = make_server().start()
    api = Client(s.url, "p1")
    a = api_create(api, "network", {"name": "a"})
    b = api_create(api, "network", {"name": "b"})
    r = api.put(f"/v2.0/networks/{a['id']}", {"network": {"name": "a2"}})
    assert r.status == 200
    assert api.delete(f"/v2.0/networks/{b['id']}").status == 204
    s2 = _restart(make_server, s)
    api = Client(s2.url, "p1")
    nets = api.get("/v2.0/networks").json["networks"]
    assert [(n["id"], n["name"], n["revision_number"]) for n in nets] == [
        (a["id"], "a2", r.json["network"]["revision_number"])]


def test_many_creates_survive_sigkill(make_server):
    s = make_server().start()
    api = Client(s.url, "p1")
    made = [api_create(api, "network", {"name": f"n{i}"})["id"] for i in range(25)]
    s2 = _restart(make_server, s)
    got = Client(s2.url, "p1").get("/v2.0/networks").json["networks"]
    assert sorted(n["id"] for n in got) == sorted(made)


def test_feed_revision_continues_after_sigkill(make_server):
    s = make_server().start()
    api = Client(s.url, "p1")
    admin = Client(s.url, "admin-project", "admin")
    api_create(api, "network", {"name": "before"})
    lines = [l for l in admin.get("/v2.0/lepton/watch?since=0&follow=false").text.splitlines() if l]
    import json
    rev = json.loads(lines[0])["revision"]
    assert rev > 0
    s2 = _restart(make_server, s)
    api = Client(s2.url, "p1")
    admin = Client(s2.url, "admin-project", "admin")
    after = api_create(api, "network", {"name": "after"})
    text = admin.get(f"/v2.0/lepton/watch?since={rev}&follow=false").text
    evs = [json.loads(l) for l in text.splitlines() if l.strip()]
    assert not [e for e in evs if e["op"].startswith("snapshot")], evs
    creates = [e for e in evs if e["op"] == "create" and e["type"] == "network"]
    assert [e["id"] for e in creates] == [after["id"]]
    assert creates[0]["revision"] > rev


def test_concurrent_creates_survive_sigkill(make_server):
    import threading
    s = make_server().start()
    net = api_create(Client(s.url, "p1"), "network", {"name": "n"})
    api_create(Client(s.url, "p1"), "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                               "ip_version": 4})
    answered = []
    lock = threading.Lock()

    def work(i):
        r = Client(s.url, "p1").post("/v2.0/ports", {"port": {"network_id": net["id"]}})
        if r.status == 201:
            with lock:
                answered.append(r.json["port"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answered) == 30
    s2 = _restart(make_server, s)
    got = {p["id"]: p for p in Client(s2.url, "p1").get("/v2.0/ports").json["ports"]}
    for p in answered:
        assert p["id"] in got
        assert got[p["id"]]["fixed_ips"] == p["fixed_ips"]

"""Agents: registration, heartbeats, liveness, port status, credentials."""
import time

import pytest

from conftest import Client

TOKEN = {"X-Auth-Token": "s3cret"}


@pytest.fixture
def srv(make_server):
    return make_server(config="agent_token = s3cret\nagent_down_time = 2\n").start()


def register(c, host="compute-1", **kw):
    body = {"agent": {"host": host, "mode": "compute", "tunnel_address": "100.127.0.11",
                      "physical_networks": {"ext1": "eth1"}, **kw}}
    return c.post("/v2.0/lepton/agents/register", body, headers=TOKEN)


def test_register_heartbeat_alive_and_feed(srv):
    agent = Client(srv.url, None)
    admin = Client(srv.url, "admin", "admin")
    r = register(agent)
    assert r.status == 201, r
    a = r.json["agent"]
    assert a["alive"] is True and a["configurations"]["tunnel_address"] == "100.127.0.11"
    rev = admin.get("/v2.0/lepton/watch?since=0&follow=false").text.count("\n")
    # The same registration again changes nothing; heartbeats add no feed lines.
    assert register(agent).status == 200
    for _ in range(3):
        assert agent.post("/v2.0/lepton/agents/heartbeat", {"host": "compute-1"},
                          headers=TOKEN).status == 200
    assert admin.get("/v2.0/lepton/watch?since=0&follow=false").text.count("\n") == rev
    listed = admin.get("/v2.0/agents").json["agents"]
    assert [x["host"] for x in listed] == ["compute-1"] and listed[0]["alive"] is True
    time.sleep(2.5)
    assert admin.get(f"/v2.0/agents/{a['id']}").json["agent"]["alive"] is False
    assert agent.post("/v2.0/lepton/agents/heartbeat", {"host": "nobody"},
                      headers=TOKEN).status == 404


def test_credentials_and_admin_api(srv):
    tenant = Client(srv.url, "p1")
    admin = Client(srv.url, "admin", "admin")
    body = {"agent": {"host": "h", "mode": "compute", "tunnel_address": "100.127.0.11"}}
    # A tenant without the agents' credential is refused.
    assert tenant.post("/v2.0/lepton/agents/register", body).status == 403
    assert tenant.put("/v2.0/lepton/ports/x/status", {"status": "ACTIVE"}).status == 403
    r = Client(srv.url, None).post("/v2.0/lepton/agents/register", {"agent": {}},
                                   headers={"X-Auth-Token": "wrong"})
    assert r.status in (401, 403)
    a = register(Client(srv.url, None)).json["agent"]
    assert tenant.get("/v2.0/agents").json["agents"] == []
    assert tenant.get(f"/v2.0/agents/{a['id']}").status == 404
    r = admin.put(f"/v2.0/agents/{a['id']}", {"agent": {"admin_state_up": False}})
    assert r.status == 200 and r.json["agent"]["admin_state_up"] is False
    assert admin.put(f"/v2.0/agents/{a['id']}", {"agent": {"host": "x"}}).status == 400
    assert admin.post("/v2.0/agents", {"agent": {}}).status in (400, 405)
    assert admin.delete(f"/v2.0/agents/{a['id']}").status == 204
    for bad in ({"host": ""}, {"mode": "router"}, {"tunnel_address": "nope"},
                {"physical_networks": ["x"]}, {"extra": 1}):
        assert register(Client(srv.url, None), **bad).status == 400, bad


def test_port_status_reports(srv):
    agent = Client(srv.url, None)
    admin = Client(srv.url, "admin", "admin")
    register(agent)
    net = admin.post("/v2.0/networks", {"network": {"name": "n"}}).json["network"]
    port = admin.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                               "binding:host_id": "compute-1"}}).json["port"]
    assert port["status"] == "DOWN"
    path = f"/v2.0/lepton/ports/{port['id']}/status"
    assert agent.put(path, {"status": "ACTIVE", "host": "compute-1"},
                     headers=TOKEN).status == 204
    assert admin.get(f"/v2.0/ports/{port['id']}").json["port"]["status"] == "ACTIVE"
    # A stale agent on another host cannot flip it.
    r = agent.put(path, {"status": "DOWN", "host": "compute-2"}, headers=TOKEN)
    assert r.status == 409
    assert agent.put(path, {"status": "SIDEWAYS", "host": "compute-1"},
                     headers=TOKEN).status == 400
    assert agent.put(path, {"status": "DOWN", "host": "compute-1"}, headers=TOKEN).status == 204
    feed = admin.get("/v2.0/lepton/watch?since=0&follow=false").text
    assert '"status":"DOWN"' in feed

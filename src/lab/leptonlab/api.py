"""A small HTTP client for the Neutron API with noauth identity headers
(project and roles), on Python's standard library only."""
import json
import urllib.error
import urllib.request


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.text = body
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.text[:300]}>"


class Client:
    """HTTP client with noauth identity headers: project and roles."""

    def __init__(self, url, project="p1", roles="", timeout=30):
        self.url = url
        self.project = project
        self.roles = roles
        self.timeout = timeout

    def as_(self, project=None, roles=""):
        return Client(self.url, project, roles, self.timeout)

    def request(self, method, path, body=None, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.project:
            h["X-Project-Id"] = self.project
        if self.roles:
            h["X-Roles"] = self.roles
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return Response(r.status, r.read().decode(), dict(r.headers))
        except urllib.error.HTTPError as e:
            return Response(e.code, e.read().decode(), dict(e.headers))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def allow_ingress(api, network_id, protocols=("icmp", "tcp")):
    """Opens the project's default security group to the protocols from
    anywhere (the group exists once the project has a port: one is made on
    network_id if needed)."""
    def default():
        return api.get("/v2.0/security-groups?name=default").json["security_groups"]

    sg = default()
    if not sg:
        r = api.post("/v2.0/ports", {"port": {"network_id": network_id, "name": "sg-trigger"}})
        assert r.status == 201, r
        sg = default()
    for proto in protocols:
        r = api.post("/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": sg[0]["id"], "direction": "ingress", "protocol": proto}})
        assert r.status == 201, r

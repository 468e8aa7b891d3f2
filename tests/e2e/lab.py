"""A lepton-lab for end-to-end tests: brought up with a unique name, always
brought down (namespaces and processes) even when the test fails."""
import os
import pathlib
import re
import select
import signal
import subprocess
import time

from conftest import BUILD, Client

LAB_BIN = BUILD / "lepton-lab"


def unique_name(prefix):
    return f"{prefix}{os.getpid() % 100000}{int(time.time() * 1000) % 1000}"


class Lab:
    def __init__(self, name, computes=3, network_node=False, public=False):
        self.name = name
        self.computes = computes
        self.network_node = network_node
        self.public = public
        self.url = None
        self.env = dict(os.environ, LEPTON_BIN=str(BUILD))

    def run(self, *args, check=True, timeout=120, input=None):
        p = subprocess.run([str(LAB_BIN), *args, "--lab", self.name], env=self.env,
                           capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"lepton-lab {' '.join(args)}: {p.stdout}{p.stderr}")
        return p

    def up(self):
        args = ["up", "--computes", str(self.computes)]
        if self.network_node:
            args.append("--network-node")
        if self.public:
            args.append("--public")
        out = self.run(*args, timeout=180).stdout
        m = re.search(r"^LEPTON_URL=(\S+)$", out, re.M)
        assert m, out
        self.url = m.group(1)
        return self

    def down(self):
        self.run("down", check=False, timeout=120)

    def admin(self):
        return Client(self.url, "admin", "admin")

    def client(self, project):
        return Client(self.url, project)

    def vm(self, node, port_id, name):
        out = self.run("vm", "--node", node, "--port", port_id, "--name", name,
                       timeout=90).stdout
        return out

    def vm_move(self, name, node):
        return self.run("vm-move", "--name", name, "--node", node, timeout=60).stdout

    def sh(self, host, script, check=True, timeout=60):
        p = subprocess.run([str(LAB_BIN), "exec", "--lab", self.name, host, "--", "sh", "-c",
                            script], env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{host}: {script}: {p.stdout}{p.stderr}")
        return p

    def ns(self, host):
        return f"lp-{self.name}-{host}"

    def popen(self, host, args, **kw):
        """A process in a host's namespace, in its own process group, so
        that stop() ends it with all its children (a shell's pipeline)."""
        return subprocess.Popen(["ip", "netns", "exec", self.ns(host), *args],
                                start_new_session=True, **kw)

    @staticmethod
    def stop(proc):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def state(self):
        return pathlib.Path(os.environ.get("LEPTON_LAB_DIR", "/run/lepton-lab")) / self.name

    def capture(self, bpf="udp port 4789"):
        """tcpdump on the underlay switch into a file, once it is listening.
        Returns a function that stops it and gives the decoded text."""
        path = f"/tmp/lepton-cap-{self.name}-{time.monotonic_ns()}.pcap"
        cap = subprocess.Popen(["ip", "netns", "exec", self.ns("ul"), "tcpdump", "-U", "-n",
                                "-i", "ul", "-w", path, bpf], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        ready, _, _ = select.select([cap.stderr], [], [], 15)
        assert ready and b"listening" in cap.stderr.readline()

        def stop():
            time.sleep(0.5)
            cap.terminate()
            cap.wait(timeout=10)
            text = subprocess.run(["tcpdump", "-n", "-r", path], capture_output=True,
                                  text=True, errors="replace").stdout
            os.unlink(path)
            return text
        return stop


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

"""The agent never waits on the server (issue 9, item 5): with lepton-server
stopped (SIGSTOP) for 30 s, a new VM on an existing network gets its address
by DHCP and pings, a VM unplugged meanwhile is noticed, and an agent stops
promptly on SIGTERM; after SIGCONT the queued statuses reach the server."""
import os
import signal
import subprocess
import time
import uuid

from lab import Lab, unique_name
from leptonlab import logfmt
from leptonlab.lab import UDHCPC_SCRIPT

STOP_SECS = 30


def mk(api, kind, body):
    r = api.post(f"/v2.0/{kind}s", {kind: body})
    assert r.status == 201, r
    return r.json[kind]


def proc_state(pid):
    """The state letter of /proc/PID/stat (R, S, T, Z...), None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def read_pid(lab, name):
    pid = lab.pid(name)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmd = f.read().split(b"\0")
    return pid, cmd


def wait_status(admin, port_id, want, timeout):
    deadline = time.monotonic() + timeout
    while True:
        st = admin.get(f"/v2.0/ports/{port_id}").json["port"]["status"]
        if st == want or time.monotonic() > deadline:
            return st
        time.sleep(0.1)


def ping(lab, host, ip):
    return lab.sh(host, f"ping -c 2 -W 1 -i 0.2 {ip}", check=False).returncode == 0


def plug_vm(lab, node, port, name):
    """What `lepton-lab vm` does on the node, without its API call (the
    port is bound beforehand): a namespace with the port's MAC on a veth
    whose other end is the port's tap, and a real DHCP client."""
    vmns, tap = lab.ns(name), "tap" + port["id"][:11]
    script = UDHCPC_SCRIPT
    for cmd in (["ip", "netns", "add", vmns],
                ["ip", "-n", vmns, "link", "set", "lo", "up"],
                ["ip", "-n", lab.ns(node), "link", "add", tap, "type", "veth", "peer", "name",
                 "eth0", "netns", vmns],
                ["ip", "-n", vmns, "link", "set", "eth0", "address", port["mac_address"]],
                ["ip", "-n", vmns, "link", "set", "eth0", "up"],
                ["ip", "-n", lab.ns(node), "link", "set", tap, "up"]):
        subprocess.run(cmd, check=True, capture_output=True)
    return lab.popen(name, ["busybox", "udhcpc", "-f", "-i", "eth0", "-s", str(script),
                            "-O", "mtu", "-t", "30", "-T", "1", "-A", "1"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def vm_addr(lab, name):
    out = lab.sh(name, "ip -4 -o addr show dev eth0", check=False).stdout.split()
    return out[3].split("/")[0] if len(out) > 3 else None


def test_agents_carry_on_while_the_server_is_stopped():
    lab = Lab(unique_name("st"), computes=2)
    server = dhcp = None
    try:
        lab.up()
        admin, api = lab.admin(), lab.client("stall")
        net = mk(api, "network", {"name": "stall-net"})
        mk(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
        ports = {n: mk(api, "port", {"network_id": net["id"], "name": n})
                 for n in ("sta", "stb", "stc")}
        ip = {n: p["fixed_ips"][0]["ip_address"] for n, p in ports.items()}
        lab.vm("compute-2", ports["sta"]["id"], "sta")
        lab.vm("compute-1", ports["stc"]["id"], "stc")
        for n in ("sta", "stc"):
            assert wait_status(admin, ports[n]["id"], "ACTIVE", 15) == "ACTIVE"
        # The new VM's port is bound to compute-1 (as Nova does) before the
        # server stops; its VIF is plugged only while it is stopped.
        r = admin.put(f"/v2.0/ports/{ports['stb']['id']}", {"port": {
            "binding:host_id": "compute-1", "device_owner": "compute:lab",
            "device_id": str(uuid.uuid4())}})
        assert r.status == 200, r
        # compute-1's agent has the port once its rules name the tap.
        tap_b = "tap" + ports["stb"]["id"][:11]
        deadline = time.monotonic() + 15
        while lab.sh("compute-1", f"nft list ruleset | grep -q {tap_b}",
                     check=False).returncode != 0:
            assert time.monotonic() < deadline, "compute-1's agent never took the port"
            time.sleep(0.2)

        pid, cmd = read_pid(lab, "server")
        assert cmd[0].endswith(b"lepton-server") and str(lab.state_dir).encode() in b" ".join(
            cmd), cmd
        agent_log = lab.state_dir / "agent-compute-1.log"
        log_mark = agent_log.stat().st_size
        os.kill(pid, signal.SIGSTOP)
        server = pid
        t_stop = time.monotonic()
        while proc_state(pid) != "T":
            assert time.monotonic() - t_stop < 2, "the server did not stop"
            time.sleep(0.01)

        # DHCP and a ping across nodes, from the agents alone.
        dhcp = plug_vm(lab, "compute-1", ports["stb"], "stb")
        while vm_addr(lab, "stb") is None:
            assert time.monotonic() - t_stop < 10, "no DHCP lease while the server is stopped"
            time.sleep(0.05)
        t_dhcp = time.monotonic() - t_stop
        assert vm_addr(lab, "stb") == ip["stb"]
        assert ping(lab, "stb", ip["sta"]) and ping(lab, "sta", ip["stb"])
        t_ping = time.monotonic() - t_stop
        # A VM unplugged meanwhile: its port goes DOWN once the server is back.
        lab.sh("compute-1", "ip link del tap" + ports["stc"]["id"][:11])

        # SIGTERM ends an agent promptly even with its calls hanging.
        apid, acmd = read_pid(lab, "agent-compute-2")
        assert acmd[0].endswith(b"lepton-agent"), acmd
        t_term = time.monotonic()
        os.kill(apid, signal.SIGTERM)
        while proc_state(apid) not in (None, "Z"):
            assert time.monotonic() - t_term < 5, "the agent did not stop on SIGTERM"
            time.sleep(0.02)
        t_shutdown = time.monotonic() - t_term
        lab.agent_restart("compute-2")

        assert proc_state(pid) == "T" and time.monotonic() - t_stop < STOP_SECS, \
            "the checks outlasted the stop"
        time.sleep(STOP_SECS - (time.monotonic() - t_stop))
        # The reports waited: the reporter saw a server that did not answer.
        assert logfmt.events(agent_log, "agent.server_unreachable", log_mark)

        os.kill(pid, signal.SIGCONT)
        server = None
        t_cont = time.monotonic()
        assert wait_status(admin, ports["stb"]["id"], "ACTIVE", 15) == "ACTIVE"
        t_active = time.monotonic() - t_cont
        assert wait_status(admin, ports["stc"]["id"], "DOWN", 15) == "DOWN"
        t_down = time.monotonic() - t_cont
        # The restarted agent registered and beats.
        deadline = time.monotonic() + 15
        while not admin.get("/v2.0/agents?host=compute-2").json["agents"][0]["alive"]:
            assert time.monotonic() < deadline, "compute-2's agent is not alive again"
            time.sleep(0.2)
        assert ping(lab, "stb", ip["sta"])
        print(f"\nserver stopped {STOP_SECS} s: DHCP lease {t_dhcp:.2f} s after SIGSTOP, "
              f"pings at {t_ping:.2f} s, agent SIGTERM to exit {t_shutdown * 1000:.0f} ms; "
              f"after SIGCONT: new port ACTIVE in {t_active:.2f} s, unplugged port DOWN "
              f"in {t_down:.2f} s")
    finally:
        if server:
            os.kill(server, signal.SIGCONT)
        if dhcp:
            lab.stop(dhcp)
        lab.down()
        # The VM namespace plug_vm made by hand is not in the lab's topology.
        subprocess.run(["ip", "netns", "del", lab.ns("stb")], capture_output=True)

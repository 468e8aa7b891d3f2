"""What the distributed-SNAT tests (tests/e2e/test_lab_dsnat.py) and
benchmark (bench/snat.py) share: the internet host's TCP servers, a stream
reader for the VMs, and the lookups of a router's SNAT state (owner, blocks,
router namespace, the upstream's ARP entry)."""
import time

INTERNET = "198.51.100.10"
WHO = 8080      # answers "address port" of the peer
STREAM = 8081   # sends 100 bytes every 10 ms
HOLD = 8082     # answers "address port" and keeps the connection open
OTHER = 8083    # as WHO

# The internet host's servers: python3 -c SERVERS; prints "ready".
SERVERS = r"""
import socket, sys, threading, time
def who(c, a):
    c.sendall(f"{a[0]} {a[1]}\n".encode()); c.close()
def stream(c, a):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            c.sendall(b"x" * 100); time.sleep(0.01)
    except OSError:
        c.close()
def hold(c, a):
    c.sendall(f"{a[0]} {a[1]}\n".encode())
    try:
        while c.recv(100):
            pass
    except OSError:
        pass
    c.close()
def serve(port, fn):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, a = s.accept(); threading.Thread(target=fn, args=(c, a), daemon=True).start()
threading.Thread(target=serve, args=(%d, who), daemon=True).start()
threading.Thread(target=serve, args=(%d, stream), daemon=True).start()
threading.Thread(target=serve, args=(%d, hold), daemon=True).start()
threading.Thread(target=serve, args=(%d, who), daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(60)
""" % (WHO, STREAM, HOLD, OTHER)

# A TCP stream reader: python3 -c READER HOST PORT SECS prints "connected",
# then "gap G bytes N" (the longest time between two reads) or how it ended.
READER = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.settimeout(20)
print("connected", flush=True)
end = time.monotonic() + float(sys.argv[3]); last = time.monotonic(); gap = 0.0; n = 0
try:
    while time.monotonic() < end:
        d = s.recv(65536)
        if not d:
            print("eof", flush=True); sys.exit(1)
        now = time.monotonic(); gap = max(gap, now - last); last = now; n += len(d)
except OSError as e:
    print(f"error {e!r} gap {max(gap, time.monotonic() - last):.3f}", flush=True); sys.exit(1)
print(f"gap {gap:.3f} bytes {n}", flush=True)
"""


def mk(client, kind, body, status=201):
    """POST /v2.0/<kind>s; the new resource (asserting the status)."""
    r = client.post(f"/v2.0/{kind}s", {kind: body})
    assert r.status == status, r
    return r.json[kind]


def wait(seconds, ok, interval=0.2):
    """Whether ok() became true within seconds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if ok():
            return True
        time.sleep(interval)
    return ok()


def qrouter(node, router_id):
    """The lab host name of a node's router namespace (Lab.ns adds lp-<lab>-)."""
    return f"{node}-qrouter-{router_id}"


def owner_of(admin, router_id):
    return admin.get(f"/v2.0/routers/{router_id}").json["router"].get("lepton:snat_owner", "")


def blocks(admin, router_id):
    r = admin.get(f"/v2.0/lepton/snat_blocks?router_id={router_id}")
    assert r.status == 200, r
    return r.json["snat_blocks"]


def upstream_mac(lab, ip):
    """The MAC the upstream router sends ip's traffic to ("" if none)."""
    for n in lab.ip_json("upstream", "neigh", "show", ip):
        if n.get("lladdr") and "FAILED" not in n.get("state", []):
            return n["lladdr"]
    return ""


def who_am_i(lab, vm, patience=3, port=WHO):
    """(address, port) the internet host saw for a connection from vm to
    port, ("", 0) when none came within patience seconds."""
    out = lab.sh(vm, f"nc -w {patience} {INTERNET} {port} </dev/null", check=False,
                 timeout=10).stdout
    parts = out.split()
    return (parts[0], int(parts[1])) if len(parts) == 2 else ("", 0)

"""An etcd v3 cluster on loopback for the lab and the tests: N members with
ports and data directories of their own, started and stopped by PID."""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from .lab import LabError, free_port


def etcd_binary():
    """The etcd server binary (Debian's etcd-server), or None."""
    for d in os.environ.get("PATH", "/usr/bin").split(":") + ["/usr/bin", "/usr/sbin"]:
        p = os.path.join(d, "etcd")
        if os.access(p, os.X_OK):
            return p
    return None


class EtcdCluster:
    """members: how many; state_dir: where their data and logs go (made,
    and removed by stop()). Member names are m0, m1, ..."""

    def __init__(self, state_dir, members=3, token=None):
        self.state_dir = str(state_dir)
        self.n = members
        self.token = token or f"lepton-{os.getpid()}-{int(time.time() * 1000)}"
        self.client_ports = [free_port() for _ in range(members)]
        self.peer_ports = [free_port() for _ in range(members)]
        self.procs = {}

    @property
    def endpoints(self):
        return [f"127.0.0.1:{p}" for p in self.client_ports]

    def url(self, prefix="lepton"):
        """The lepton-server --store URL for every member."""
        return "etcd://" + ",".join(self.endpoints) + (f"/{prefix}" if prefix else "")

    def argv(self, i):
        cluster = ",".join(f"m{k}=http://127.0.0.1:{self.peer_ports[k]}" for k in range(self.n))
        return [etcd_binary(), "--name", f"m{i}",
                "--data-dir", os.path.join(self.state_dir, f"m{i}"),
                "--listen-client-urls", f"http://127.0.0.1:{self.client_ports[i]}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.client_ports[i]}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                "--initial-cluster", cluster, "--initial-cluster-token", self.token,
                "--initial-cluster-state", "new",
                # Lepton commits a request as one txn: many keys at once.
                "--max-txn-ops", "100000", "--max-request-bytes", "16777216",
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000000"]

    def start_member(self, i):
        if etcd_binary() is None:
            raise LabError("etcd is not installed (apt-get install etcd-server etcd-client)")
        os.makedirs(self.state_dir, exist_ok=True)
        log = open(os.path.join(self.state_dir, f"m{i}.log"), "ab")
        self.procs[i] = subprocess.Popen(self.argv(i), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def start(self, timeout=30):
        """Starts every member and waits until the cluster commits writes;
        on failure stops what it started and raises LabError."""
        try:
            for i in range(self.n):
                self.start_member(i)
            self.wait_writable(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def pid(self, i):
        p = self.procs.get(i)
        return p.pid if p is not None and p.poll() is None else None

    def kill_member(self, i, sig=signal.SIGKILL):
        """Kills member i by its PID and reaps it."""
        p = self.procs.pop(i, None)
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            p.wait(10)

    def _call(self, i, path, body, timeout=2):
        req = urllib.request.Request(f"http://{self.endpoints[i]}{path}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Grpc-Metadata-hasleader": "true"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"{}")

    def writable(self):
        """Whether some member commits a write now."""
        for i in range(self.n):
            try:
                self._call(i, "/v3/kv/put", {"key": "X19wcm9iZV9f", "value": ""})
                return True
            except (urllib.error.URLError, OSError, ValueError):
                continue
        return False

    def db_size(self):
        """The largest member's database size in bytes (etcd's quota,
        --quota-backend-bytes, is on it), over members that answer."""
        sizes = []
        for i in range(self.n):
            try:
                sizes.append(int(self._call(i, "/v3/maintenance/status", {}).get("dbSize", 0)))
            except (urllib.error.URLError, OSError, ValueError):
                continue
        return max(sizes, default=0)

    def wait_writable(self, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.writable():
                return
            for i, p in self.procs.items():
                if p.poll() is not None:
                    raise LabError(f"etcd member m{i} exited: " + self.log_tail(i))
            time.sleep(0.1)
        raise LabError("the etcd cluster did not elect a leader in time: " + self.log_tail(0))

    def log_tail(self, i, lines=5):
        try:
            with open(os.path.join(self.state_dir, f"m{i}.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, remove=True):
        """Stops every member (SIGTERM, then SIGKILL) by PID; removes the
        state directory unless told not to."""
        for i, p in list(self.procs.items()):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i, p in list(self.procs.items()):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()
        if remove:
            shutil.rmtree(self.state_dir, ignore_errors=True)


@contextlib.contextmanager
def temporary_cluster(members=3):
    """A cluster in a fresh temporary directory, stopped and removed after."""
    d = tempfile.mkdtemp(prefix="lepton-etcd-")
    try:
        c = EtcdCluster(os.path.join(d, "etcd"), members=members).start()
        try:
            yield c
        finally:
            c.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)

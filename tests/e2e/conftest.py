"""Fixtures for end-to-end tests: a real lepton-server on a real socket with a
fresh SQLite data dir, and a small HTTP client speaking Neutron's headers.

LEPTON_E2E_STORE=etcd runs the same servers over etcd instead (one etcd member
for the session, a key prefix of their own per server): test_lab_etcd.py runs
the API suites so."""
import hashlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
BUILD = pathlib.Path(os.environ.get("LEPTON_BUILD", ROOT / "build"))
SAN_BUILD = pathlib.Path(os.environ.get("LEPTON_SAN_BUILD", ROOT / "build" / "san"))

# The lab library (src/lab/leptonlab) and its API client, shared with bench/.
sys.path.insert(0, str(ROOT / "src" / "lab"))
from leptonlab.api import Client, Response  # noqa: E402,F401
from leptonlab.lab import free_port  # noqa: E402,F401


ETCD_STORE = None  # the session's etcd member with LEPTON_E2E_STORE=etcd

# Every server the tests start (their own, the labs') checks on each write
# that no value its documents share was changed in place, and stops if one
# was (store_cache_doc in src/server/store.c).
os.environ.setdefault("LEPTON_CHECK_SHARED", "1")


@pytest.fixture(scope="session", autouse=True)
def etcd_store():
    global ETCD_STORE
    if os.environ.get("LEPTON_E2E_STORE") != "etcd":
        yield None
        return
    from leptonlab.etcd import temporary_cluster
    with temporary_cluster(members=1) as c:
        ETCD_STORE = c
        try:
            yield c
        finally:
            ETCD_STORE = None


def server_binary():
    """The sanitizer build when present (it catches memory errors the API
    tests provoke), else the plain build."""
    san = SAN_BUILD / "lepton-server"
    return san if san.exists() else BUILD / "lepton-server"


def cli_binary():
    san = SAN_BUILD / "lepton"
    return san if san.exists() else BUILD / "lepton"


class Server:
    """One lepton-server process. start() waits until it answers; stop()
    terminates it by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, data_dir, config=None, extra_args=()):
        self.data_dir = pathlib.Path(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.extra_args = list(extra_args)
        if ETCD_STORE and "--store" not in self.extra_args:
            # A prefix per data dir: a restart on the same dir finds its data.
            tag = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:12]
            self.extra_args += ["--store", ETCD_STORE.url(f"e2e-{tag}")]
        self.proc = None
        self.log = self.data_dir / "server.log"

    def start(self):
        args = [str(server_binary()), "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir)]
        if self.config:
            cfg = self.data_dir / "lepton.conf"
            cfg.write_text(self.config)
            args += ["--config", str(cfg)]
        args += self.extra_args
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=self.logf, env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.log.read_text()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1):
                    return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise RuntimeError("server did not answer in time")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        self.proc = None


@pytest.fixture
def server():
    d = tempfile.mkdtemp(prefix="lepton-e2e-")
    s = Server(d).start()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_server():
    """Factory for tests that need their own config or restarts."""
    made = []

    def make(config=None, extra_args=(), data_dir=None):
        d = data_dir or tempfile.mkdtemp(prefix="lepton-e2e-")
        s = Server(d, config=config, extra_args=extra_args)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
        shutil.rmtree(s.data_dir, ignore_errors=True)


@pytest.fixture
def api(server):
    """A tenant of project p1."""
    return Client(server.url, "p1")


@pytest.fixture
def admin(server):
    return Client(server.url, "admin-project", "admin")


# ---------------------------------------------------------------------------
# Helpers for the API tests (tests/e2e/test_api_*.py).

def api_create(client, kind, body=None, status=201):
    """POST /v2.0/{kind}s {kind: body}; asserts the status and returns the
    object (on 201) or the Response."""
    r = client.post(f"/v2.0/{kind}s", {kind: body or {}})
    assert r.status == status, r
    return r.json[kind] if status == 201 else r


def assert_error(r, status, *types):
    """A NeutronError body with the status and (if given) one of the types."""
    assert r.status == status, r
    assert r.json is not None, r
    err = r.json.get("NeutronError")
    assert isinstance(err, dict), r
    assert {"type", "message", "detail"} <= set(err), r
    assert isinstance(err["message"], str) and err["message"], r
    if types:
        assert err["type"] in types, r
    return err


def ids(items):
    return sorted(o["id"] for o in items)

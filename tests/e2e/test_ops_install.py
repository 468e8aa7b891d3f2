"""Installing Lepton: `make install` into a staging root (DESTDIR) and into a
scratch prefix, the systemd units (systemd-analyze verify, exposure), the
documented config files (every key the programs know is documented and the
shipped files load), complete --help and man pages, and the Debian package
built from the tree (dpkg-buildpackage -b, lintian clean, its files)."""
import os
import pathlib
import re
import shutil
import stat
import subprocess
import time

import pytest

from conftest import ROOT, free_port

SERVER_KEYS_SRC = ROOT / "src" / "server" / "config.c"
QUOTA_KEYS = ["network", "subnet", "port", "router", "floatingip", "security_group",
              "security_group_rule", "rbac_policy"]


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(argv, **kw)


def install(**make_vars):
    p = run(["make", "-s", "-C", str(ROOT), "install"] + [f"{k}={v}" for k, v in make_vars.items()])
    assert p.returncode == 0, p.stdout + p.stderr


def server_keys():
    """Every key config_set() accepts, read from its source."""
    src = SERVER_KEYS_SRC.read_text()
    keys = set(re.findall(r'strcmp\(key, "([a-z_]+)"\) == 0', src))
    keys |= {f"quota_{q}" for q in QUOTA_KEYS}
    assert "listen" in keys and "metrics_listen" in keys and len(keys) > 30
    return keys


def documented(conf_text):
    """Keys written in a config file, set or commented out ("#key = ...")."""
    return set(re.findall(r"^#?([a-z_]+) =", conf_text, re.M))


def agent_options():
    help_text = run([str(ROOT / "build" / "lepton-agent"), "--help"]).stdout
    src = (ROOT / "src" / "agent" / "main.c").read_text()
    table = src[src.index("static const struct option opts[]"):]
    table = table[:table.index("};")]
    return set(re.findall(r'\{"([a-z-]+)",', table)), help_text


@pytest.fixture
def staged(tmp_path):
    root = tmp_path / "stage"
    install(DESTDIR=root, PREFIX="/usr")
    return root


def test_make_install_stages_every_file_with_its_mode(staged):
    want = {
        "usr/bin/lepton": 0o755,
        "usr/sbin/lepton-server": 0o755,
        "usr/sbin/lepton-agent": 0o755,
        "usr/share/man/man1/lepton.1": 0o644,
        "usr/share/man/man8/lepton-server.8": 0o644,
        "usr/share/man/man8/lepton-agent.8": 0o644,
        "usr/lib/systemd/system/lepton-server.service": 0o644,
        "usr/lib/systemd/system/lepton-agent.service": 0o644,
        "etc/lepton/lepton-server.conf": 0o600,
        "etc/lepton/lepton-agent.conf": 0o600,
    }
    found = {str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file()}
    assert found == set(want)
    for rel, mode in want.items():
        assert stat.S_IMODE((staged / rel).stat().st_mode) == mode, rel
    for prog in ("usr/sbin/lepton-server", "usr/sbin/lepton-agent", "usr/bin/lepton"):
        p = run([str(staged / prog), "--help"])
        assert p.returncode == 0 and p.stdout.startswith("usage:"), p
    unit = (staged / "usr/lib/systemd/system/lepton-agent.service").read_text()
    assert "ExecStart=/usr/sbin/lepton-agent --config %d/lepton-agent.conf" in unit
    assert "LoadCredential=lepton-agent.conf:/etc/lepton/lepton-agent.conf" in unit


def test_install_keeps_an_operators_config(staged):
    conf = staged / "etc/lepton/lepton-server.conf"
    conf.write_text("listen = 127.0.0.1:1\n")
    install(DESTDIR=staged, PREFIX="/usr")
    assert conf.read_text() == "listen = 127.0.0.1:1\n"


def test_units_verify_and_are_hardened(tmp_path):
    prefix = tmp_path / "usr"
    install(PREFIX=prefix)  # ExecStart= then names binaries that exist here
    units = prefix / "lib/systemd/system"
    server, agent = units / "lepton-server.service", units / "lepton-agent.service"
    p = run(["systemd-analyze", "verify", "--man=no", str(server), str(agent)])
    assert p.returncode == 0, p.stderr
    s, a = server.read_text(), agent.read_text()
    assert re.search(r"^CapabilityBoundingSet=$", s, re.M)
    assert "ProtectSystem=strict" in s and "DynamicUser=yes" in s
    assert "Restart=on-failure" in s and "Restart=on-failure" in a
    assert re.search(r"^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_ADMIN$", a, re.M)
    assert "NoNewPrivileges=yes" in a
    # systemd's own exposure scores (0 best .. 10): the server is locked down,
    # the agent as far as a root data-plane daemon sharing /run/netns can be.
    for unit, limit in ((server, 20), (agent, 60)):
        p = run(["systemd-analyze", "security", "--offline=yes", f"--threshold={limit}",
                 str(unit)])
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr


def test_server_config_documents_every_key_and_loads(staged, tmp_path):
    conf = (staged / "etc/lepton/lepton-server.conf").read_text()
    assert server_keys() <= documented(conf), server_keys() - documented(conf)
    assert documented(conf) <= server_keys(), documented(conf) - server_keys()
    man = (staged / "usr/share/man/man8/lepton-server.8").read_text()
    help_text = run([str(staged / "usr/sbin/lepton-server"), "--help"]).stdout
    for opt in ("listen", "data-dir", "unix", "metrics-listen", "config", "debug", "help"):
        assert f"--{opt}" in help_text, opt
        assert f"\\-\\-{opt.replace('-', chr(92) + '-')}" in man, opt
    # The shipped file as it is (command line overriding its paths), and with
    # every commented default uncommented, starts the server.
    full = re.sub(r"^#([a-z_]+ =)", r"\1", conf, flags=re.M)
    full = re.sub(r"^(keystone_password|agent_token) =.*$", r"\1 = x", full, flags=re.M)
    for i, text in enumerate((conf, full)):
        cfg = tmp_path / f"s{i}.conf"
        cfg.write_text(text)
        port = free_port()
        proc = subprocess.Popen([str(staged / "usr/sbin/lepton-server"), "--config", str(cfg),
                                 "--listen", f"127.0.0.1:{port}", "--data-dir",
                                 str(tmp_path / f"d{i}"), "--unix", str(tmp_path / f"s{i}.sock"),
                                 "--metrics-listen", f"127.0.0.1:{free_port()}"],
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 20
            ok = False
            while not ok and proc.poll() is None and time.time() < deadline:
                p = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                         f"http://127.0.0.1:{port}/"], timeout=5)
                ok = p.stdout == "200"
            assert ok, proc.stderr.read() if proc.poll() is not None else "no answer"
        finally:
            proc.terminate()
            proc.wait(10)


def test_agent_config_documents_every_option(staged, tmp_path):
    conf = (staged / "etc/lepton/lepton-agent.conf").read_text()
    options, help_text = agent_options()
    keys = {o.replace("-", "_") for o in options} - {"config", "help"}
    assert keys == documented(conf), keys ^ documented(conf)
    man = (staged / "usr/share/man/man8/lepton-agent.8").read_text()
    for o in options:
        assert f"--{o}" in help_text, o
        assert "\\-\\-" + o.replace("-", "\\-") in man, o
    # A bad line stops the agent before it touches anything, naming the line.
    bad = tmp_path / "bad.conf"
    bad.write_text("# comment\nhost = n1\nno_such_setting = 1\n")
    p = run([str(staged / "usr/sbin/lepton-agent"), "--config", str(bad)], timeout=10)
    assert p.returncode == 2 and f"{bad}:3: unknown setting" in p.stderr, p
    bad.write_text("debug = maybe\n")
    p = run([str(staged / "usr/sbin/lepton-agent"), "--config", str(bad)], timeout=10)
    assert p.returncode == 2 and f"{bad}:1: unknown setting or bad value" in p.stderr, p
    # The shipped file with its required settings missing: the usage, exit 2.
    p = run([str(staged / "usr/sbin/lepton-agent"), "--config",
             str(staged / "etc/lepton/lepton-agent.conf")], timeout=10)
    assert p.returncode == 2 and p.stderr.startswith("usage:"), p


def tree_copy(dest):
    """The source tree as git sees it (tracked and new files), no build/."""
    p = run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"])
    files = [f for f in p.stdout.split("\0") if f and not f.startswith("build/")] \
        if p.returncode == 0 else None
    if not files:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns("build", ".git"))
        return
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def test_debian_package_builds_lintian_clean(tmp_path):
    for tool in ("dpkg-buildpackage", "dh", "lintian"):
        assert shutil.which(tool), f"{tool} missing: make deps installs it"
    src = tmp_path / "lepton"
    src.mkdir()
    tree_copy(src)
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2")
    p = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, timeout=1200)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    deb = tmp_path / "lepton_0.1.0_amd64.deb"
    assert deb.exists(), sorted(os.listdir(tmp_path))
    p = run(["lintian", "--fail-on", "error,warning", str(tmp_path / "lepton_0.1.0_amd64.changes")])
    tags = [line for line in p.stdout.splitlines() if re.match(r"^[EW]: ", line)]
    assert p.returncode == 0 and not tags, p.stdout + p.stderr

    info = run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    for lib in ("libmicrohttpd12", "libjansson4", "libsqlite3-0", "libcurl4", "libmnl0",
                "libnftables1"):
        assert lib in info, info
    root = tmp_path / "root"
    assert run(["dpkg-deb", "-x", str(deb), str(root)]).returncode == 0
    for rel in ("usr/bin/lepton", "usr/sbin/lepton-server", "usr/sbin/lepton-agent",
                "lib/systemd/system/lepton-server.service",
                "lib/systemd/system/lepton-agent.service", "etc/lepton/lepton-server.conf",
                "etc/lepton/lepton-agent.conf", "usr/share/man/man8/lepton-server.8.gz",
                "usr/share/man/man8/lepton-agent.8.gz", "usr/share/man/man1/lepton.1.gz",
                "usr/share/doc/lepton/copyright"):
        assert (root / rel).is_file(), rel
    p = run([str(root / "usr/sbin/lepton-server"), "--help"])
    assert p.returncode == 0 and "--metrics-listen" in p.stdout
    ctl = tmp_path / "control"
    assert run(["dpkg-deb", "-e", str(deb), str(ctl)]).returncode == 0
    conffiles = (ctl / "conffiles").read_text().split()
    assert {"/etc/lepton/lepton-server.conf", "/etc/lepton/lepton-agent.conf"} <= set(conffiles)
    # Installed but neither enabled nor started: both need configuring first.
    postinst = (ctl / "postinst").read_text()
    assert "chmod 0600 /etc/lepton/lepton-server.conf" in postinst
    assert "deb-systemd-helper update-state 'lepton-server.service'" in postinst
    assert "deb-systemd-invoke" not in postinst
    assert postinst.count("deb-systemd-helper enable") == postinst.count("was-enabled")

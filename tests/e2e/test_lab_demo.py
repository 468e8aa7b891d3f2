"""The main job: `lepton-lab demo` runs the seed's story end to end (L2,
DHCP, isolation, routers, Floating IPs, SNAT) on a cloud with no network
node, then with one (DVR with centralized SNAT, legacy), measures the nodes
each of the seven traffic cases crossed in each mode, prints them side by
side, and exits 0 only when every step passed; it leaves no namespace
behind."""
import os
import re
import subprocess

from conftest import BUILD
from lab import unique_name


def test_demo_runs_the_story_and_cleans_up():
    name = unique_name("demo")
    env = dict(os.environ, LEPTON_BIN=str(BUILD))
    try:
        p = subprocess.run([str(BUILD / "lepton-lab"), "demo", "--lab", name], env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "demo: every step passed" in p.stdout
        assert "FAIL" not in p.stdout
        for what in ("by its Floating IP over TCP", "(SNAT to its Floating IP)",
                     "routed east-west", "isolated", "(no network node)",
                     "by SLAAC from the router advertisement of compute-2",
                     "pings the internet host over IPv6"):
            assert what in p.stdout, what
        # Seven cases measured in each of the three modes (each a step that
        # passed: the nodes counted are the ones the mode must use).
        cases = [ln for ln in p.stdout.splitlines() if ln.startswith("  ok    case ")]
        assert len(cases) == 3 * 7, cases
        # The table: distributed SNAT leaves from the VM's node and comes
        # back through the owner; both classic modes go through network-1.
        row = [ln for ln in p.stdout.splitlines() if ln.startswith("  6 out, SNAT")]
        assert len(row) == 1, p.stdout
        cells = row[0].split()
        m = re.fullmatch(r"c(\d)>inet>c(\d)>c(\d)", cells[5])
        assert m and m.group(1) == m.group(3) != m.group(2), row
        assert cells[8] == cells[11] == f"c{m.group(1)}>n1>inet>n1>c{m.group(1)}", row
    finally:
        subprocess.run([str(BUILD / "lepton-lab"), "down", "--lab", name], env=env,
                       capture_output=True, timeout=120)
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"lp-{name}-" not in left

"""The main job: `lepton-lab demo` runs the seed's story end to end (L2,
DHCP, isolation, routers in both modes, Floating IPs, SNAT) and exits 0
only when every step passed; it leaves no namespace behind."""
import os
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
                     "routed east-west", "isolated"):
            assert what in p.stdout, what
    finally:
        subprocess.run([str(BUILD / "lepton-lab"), "down", "--lab", name], env=env,
                       capture_output=True, timeout=120)
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"lp-{name}-" not in left

"""Runs each C unit test (built with ASan and UBSan) as its own pytest case."""
import os
import subprocess

import pytest

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAN_BUILD = pathlib.Path(os.environ.get("LEPTON_SAN_BUILD", ROOT / "build" / "san"))

UNIT = SAN_BUILD / "unit-tests"


def _names():
    out = subprocess.run([str(UNIT), "--list"], check=True, capture_output=True, text=True)
    return [n for n in out.stdout.split() if n]


@pytest.mark.parametrize("name", _names())
def test_unit(name):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    p = subprocess.run([str(UNIT), "--run", name], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr

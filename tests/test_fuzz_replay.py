"""Replays each fuzz target's checked-in corpus under ASan and UBSan."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAN_BUILD = pathlib.Path(os.environ.get("LEPTON_SAN_BUILD", ROOT / "build" / "san"))


@pytest.mark.parametrize("target", ["dhcp"])
def test_corpus_replays_clean(target):
    corpus = ROOT / "tests" / "fuzz" / "corpus" / target
    files = sorted(corpus.iterdir())
    assert files, "empty corpus"
    p = subprocess.run([str(SAN_BUILD / "fuzz" / f"replay-{target}"), str(corpus)],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, UBSAN_OPTIONS="halt_on_error=1"))
    assert p.returncode == 0, p.stdout + p.stderr

"""The lab for end-to-end tests: leptonlab's Lab (src/lab/leptonlab) running
the build's programs. Tests name their lab with unique_name and bring it
down in a finally: down() ends the processes it started (by PID) and
removes every namespace, even when the test failed."""
from conftest import BUILD
from leptonlab import Lab as _Lab
from leptonlab import allow_ingress, unique_name  # noqa: F401 (for the tests)


class Lab(_Lab):
    def __init__(self, name, topology=None, **kw):
        kw.setdefault("bin_dir", BUILD)
        super().__init__(name, topology, **kw)

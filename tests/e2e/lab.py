"""The lab for end-to-end tests: leptonlab's Lab (src/lab/leptonlab) running
the build's programs. Tests name their lab with unique_name and bring it
down in a finally: down() ends the processes it started (by PID) and
removes every namespace, even when the test failed."""
import json

from conftest import BUILD
from leptonlab import Lab as _Lab
from leptonlab import allow_ingress, unique_name  # noqa: F401 (for the tests)


class Lab(_Lab):
    def __init__(self, name, topology=None, **kw):
        kw.setdefault("bin_dir", BUILD)
        super().__init__(name, topology, **kw)


# A VXLAN frame on the underlay: offsets in bits from the outer network
# header (outer IPv4 20 + UDP 8 + VXLAN 8 bytes, then the inner Ethernet
# header, then the inner IPv4 or IPv6 header at bit 400).
INNER_ETHER_SRC = "@nh,336,48"
INNER_ETHERTYPE = "@nh,384,16"
INNER4_PROTO = "@nh,472,8"
INNER4_SRC = "@nh,496,32"


class UnderlayCount:
    """nftables counters on the underlay switch (a namespace of the lab):
    VXLAN frames whose inner packet is of `ethertype` and matches, whatever
    the load (a capture may miss packets when tcpdump is starved; a counter
    does not)."""

    def __init__(self, lab, ethertype="0x86dd", **matches):
        self.lab = lab
        self.table = f"ulcount{len(matches)}{abs(hash(tuple(matches))) % 10000}"
        rules = []
        for name, expr in matches.items():
            rules.append(f"udp dport 4789 {INNER_ETHERTYPE} {ethertype} {expr} counter "
                         f'comment "{name}"')
        script = (f"table bridge {self.table} {{\n chain c {{\n"
                  "  type filter hook forward priority 0; policy accept;\n"
                  + "".join(f"  {r}\n" for r in rules) + " }\n}\n")
        lab.exec("ul", ["nft", "-f", "-"], input=script, check=True, text=True)

    def read(self):
        doc = json.loads(self.lab.exec("ul", ["nft", "-j", "list", "table", "bridge", self.table],
                                       check=True).stdout)
        return {r["rule"]["comment"]: sum(e["counter"]["packets"] for e in r["rule"]["expr"]
                                          if "counter" in e)
                for r in doc["nftables"] if "rule" in r and "comment" in r["rule"]}

    def done(self):
        self.lab.exec("ul", ["nft", "delete", "table", "bridge", self.table])

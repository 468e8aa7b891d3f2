"""Centralized DHCP, for comparison: a network node serves DHCP for a whole
network (lepton:dhcp centralized), as classic Neutron does."""
import subprocess
import time

from lab import Lab, unique_name


def test_network_node_serves_dhcp_for_the_network():
    lab = Lab(unique_name("dc"), computes=2, network_node=True)
    try:
        lab.up()
        api, admin = lab.client("pc"), lab.admin()
        net = api.post("/v2.0/networks", {"network": {"name": "central"}}).json["network"]
        # Tenants cannot choose; the admin can.
        assert api.put(f"/v2.0/networks/{net['id']}",
                       {"network": {"lepton:dhcp": "centralized"}}).status == 403
        r = admin.put(f"/v2.0/networks/{net['id']}", {"network": {"lepton:dhcp": "sideways"}})
        assert r.status == 400
        r = admin.put(f"/v2.0/networks/{net['id']}", {"network": {"lepton:dhcp": "centralized"}})
        assert r.status == 200 and r.json["network"]["lepton:dhcp"] == "centralized"
        api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.7.0.0/24",
                                              "ip_version": 4}})
        port = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).json["port"]
        stop = lab.capture()
        try:
            lab.vm("compute-1", port["id"], "c1")
            addr = lab.sh("c1", "ip -4 -o addr show dev eth0").stdout.split()[3]
            assert addr == port["fixed_ips"][0]["ip_address"] + "/24"
            time.sleep(0.3)
        finally:
            text = stop()
        # The exchange crossed the underlay between compute-1 and network-1.
        assert "BOOTP/DHCP" in text, text
        assert "100.127.0.11" in text and "100.127.0.13" in text
        # Only the network node listens for it.
        def packet_sockets(host):
            return len(lab.sh(host, "cat /proc/net/packet").stdout.strip().splitlines()) - 1
        assert packet_sockets("compute-1") == 0
        assert packet_sockets("network-1") == 1
    finally:
        lab.down()

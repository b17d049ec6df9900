"""Spellings of non-routable addresses that the harvester and the simulator must both refuse."""

from __future__ import annotations

__all__ = ["SPELLINGS"]

# the spellings issue 9 names, each for 127.0.0.1 unless it says otherwise
SPELLINGS = [
    "http://127.0.0.1/", "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://0x7f.1/",
    "http://0X7F.0.0.1/", "http://127.1/", "http://127.0.1/", "http://0x7f000001/", "http://017700000001/",
    "http://127.0.0.1./", "http://[::ffff:127.0.0.1]/", "http://[::FFFF:7F00:1]/", "http://[::1]:8080/x",
    "https://user:pw@127.0.0.1/", "http://%31%32%37.0.0.1/", "http://\uff11\uff12\uff17.0.0.1/",
    "http://127\u30020\u30020\u30021/", "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/",
    "http://172.31.255.255/", "http://192.168.1.1/", "http://100.64.0.1/", "http://[fe80::1]/", "http://[fd12::1]/",
    "http://0.0.0.0/", "http://0/", "http://[::]/", "http://224.0.0.1/", "http://255.255.255.255/",
    "http://LOCALHOST/", "http://api.localhost/",
]

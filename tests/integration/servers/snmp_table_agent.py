#!/usr/bin/env python3
"""snmpd pass_persist helper serving fixed table rows (test code only).

Usage (in snmpd.conf):  pass_persist ROOT /usr/bin/python3 snmp_table_agent.py ROOT DATA.json

DATA.json is a list of [oid, type, value] with type one of the pass_persist
types (integer, gauge, counter, timeticks, ipaddress, objectid, string,
octet; octet values are hex bytes separated by spaces).  Only rows under
ROOT are served.  Protocol (Net-SNMP snmpd.conf(5), pass_persist): PING ->
PONG; get/getnext OID -> OID TYPE VALUE or NONE; set -> not-writable.
"""

from __future__ import annotations

import json
import sys


def key(oid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in oid.strip(".").split(".") if x)


def main() -> int:
    root = key(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        rows = [r for r in json.load(f) if key(r[0])[: len(root)] == root]
    rows.sort(key=lambda r: key(r[0]))
    by_oid = {key(r[0]): r for r in rows}
    out = sys.stdout
    lines = 0
    for line in sys.stdin:
        lines += 1
        if lines > 1_000_000:  # bounded, even if snmpd misbehaves
            break
        cmd = line.strip()
        if cmd == "PING":
            out.write("PONG\n")
        elif cmd in ("get", "getnext"):
            oid = key(sys.stdin.readline())
            row = None
            if cmd == "get":
                row = by_oid.get(oid)
            else:
                for r in rows:
                    if key(r[0]) > oid:
                        row = r
                        break
            if row is None:
                out.write("NONE\n")
            else:
                out.write("." + ".".join(str(x) for x in key(row[0])) + "\n")
                out.write(row[1] + "\n" + str(row[2]) + "\n")
        elif cmd == "set":
            sys.stdin.readline()
            sys.stdin.readline()
            out.write("not-writable\n")
        elif cmd == "":
            break
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

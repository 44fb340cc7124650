# Writes tests/snmp/lldp-*.snmprec (run: python3 tests/snmp/lldp/generate.py tests/snmp) from LLDP-MIB / CISCO-CDP-MIB / BRIDGE-MIB / IF-MIB.
import sys, os
out = sys.argv[1]
LLDP = "1.0.8802.1.1.2.1"
CDP = "1.3.6.1.4.1.9.9.23.1.2.1.1"

def hexs(b): return "".join(f"{x:02x}" for x in b)
def mac(s): return bytes(int(x, 16) for x in s.split(":"))
def ip(s): return bytes(int(x) for x in s.split("."))

def device(name, descr, uptime, ifs, loc_chassis, loc_ports, rem, cdp=(), bridge=()):
    rec = []
    rec += [("1.3.6.1.2.1.1.1.0", 4, descr), ("1.3.6.1.2.1.1.3.0", 67, str(uptime)),
            ("1.3.6.1.2.1.1.5.0", 4, name)]
    for idx, d, n in ifs:
        rec += [(f"1.3.6.1.2.1.2.2.1.2.{idx}", 4, d), (f"1.3.6.1.2.1.2.2.1.7.{idx}", 2, "1"),
                (f"1.3.6.1.2.1.2.2.1.8.{idx}", 2, "1"), (f"1.3.6.1.2.1.31.1.1.1.1.{idx}", 4, n)]
    if loc_chassis:
        sub, val = loc_chassis
        rec += [(f"{LLDP}.3.1.0", 2, str(sub)),
                (f"{LLDP}.3.2.0", "4x", hexs(val) ) if isinstance(val, bytes) else (f"{LLDP}.3.2.0", 4, val),
                (f"{LLDP}.3.3.0", 4, name)]
    for num, sub, pid in loc_ports:
        rec += [(f"{LLDP}.3.7.1.2.{num}", 2, str(sub)), (f"{LLDP}.3.7.1.3.{num}", "4x", hexs(pid)) if isinstance(pid, bytes) else (f"{LLDP}.3.7.1.3.{num}", 4, pid)]
    for (port, ri, csub, cid, psub, pid, sysname, addrs) in rem:
        i = f"0.{port}.{ri}"
        rec += [(f"{LLDP}.4.1.1.4.{i}", 2, str(csub)),
                (f"{LLDP}.4.1.1.5.{i}", "4x", hexs(cid)) if isinstance(cid, bytes) else (f"{LLDP}.4.1.1.5.{i}", 4, cid),
                (f"{LLDP}.4.1.1.6.{i}", 2, str(psub)), (f"{LLDP}.4.1.1.7.{i}", "4x", hexs(pid)) if isinstance(pid, bytes) else (f"{LLDP}.4.1.1.7.{i}", 4, pid)]
        if sysname:
            rec.append((f"{LLDP}.4.1.1.9.{i}", 4, sysname))
        for a in addrs:
            b = ip(a)
            rec.append((f"{LLDP}.4.2.1.3.{i}.1.4.{'.'.join(map(str, b))}", 2, "2"))
    for (ifi, di, dev_id, dport, addr) in cdp:
        i = f"{ifi}.{di}"
        rec += [(f"{CDP}.3.{i}", 2, "1"), (f"{CDP}.4.{i}", "4x", hexs(ip(addr))),
                (f"{CDP}.6.{i}", 4, dev_id), (f"{CDP}.7.{i}", 4, dport)]
    for bp, ifi in bridge:
        rec.append((f"1.3.6.1.2.1.17.1.4.1.2.{bp}", 2, str(ifi)))
    rec.sort(key=lambda r: tuple(int(x) for x in r[0].split(".")))
    with open(os.path.join(out, f"lldp-{name.split('.')[0]}.snmprec"), "w") as f:
        for o, t, v in rec:
            f.write(f"{o}|{t}|{v}\n")

CORE_MAC = "00:1b:54:00:00:01"; DIST_MAC = "00:1b:54:00:00:02"; ACC_MAC = "00:1b:54:00:00:03"
DIST2_MAC = "00:1b:54:00:00:04"
# core: Cisco, LLDP to dist-1 on Te1/1/1, CDP to dist-2 on Te1/1/2 (dist-2 speaks only CDP).
device("core-1", "Cisco IOS Software, C9500", 900000,
       [(1, "TenGigabitEthernet1/1/1", "Te1/1/1"), (2, "TenGigabitEthernet1/1/2", "Te1/1/2")],
       (4, mac(CORE_MAC)), [(1, 5, "Te1/1/1"), (2, 5, "Te1/1/2")],
       [(1, 1, 4, mac(DIST_MAC), 5, "Te1/0/1", "dist-1.kommun.example", ["10.0.1.2"])],
       cdp=[(2, 1, "dist-2", "TenGigabitEthernet1/0/1", "10.0.1.4")])
# dist: lldpLocPortNum are bridge ports 1..3 (Cisco-style ifIndex 10101..), port ids are MACs.
device("dist-1.kommun.example", "Cisco IOS Software, C9300", 800000,
       [(10101, "TenGigabitEthernet1/0/1", "Te1/0/1"), (10102, "GigabitEthernet1/0/2", "Gi1/0/2"),
        (10103, "GigabitEthernet1/0/3", "Gi1/0/3")],
       (4, mac(DIST_MAC)), [(1, 3, mac("00:1b:54:00:01:01")), (2, 3, mac("00:1b:54:00:01:02")), (3, 3, mac("00:1b:54:00:01:03"))],
       [(1, 1, 4, mac(CORE_MAC), 5, "Te1/1/1", "core-1", ["10.0.1.1"]),
        (2, 2, 4, mac(ACC_MAC), 5, "Gi0/1", "access-1", ["10.0.2.3"]),
        (3, 3, 7, "SG12AB345C", 7, "24", "", [])],
       bridge=[(1, 10101), (2, 10102), (3, 10103)])
# access: uplink Gi0/1 to dist-1, AP on Gi0/5, two neighbours on Gi0/10 (an unmanaged switch).
device("access-1", "Cisco IOS Software, C2960", 700000,
       [(1, "GigabitEthernet0/1", "Gi0/1"), (5, "GigabitEthernet0/5", "Gi0/5"), (10, "GigabitEthernet0/10", "Gi0/10")],
       (4, mac(ACC_MAC)), [(1, 5, "Gi0/1"), (5, 5, "Gi0/5"), (10, 5, "Gi0/10")],
       [(1, 1, 4, mac(DIST_MAC), 5, "Gi1/0/2", "dist-1.kommun.example", ["10.0.1.2"]),
        (5, 2, 4, mac("24:a4:3c:00:00:05"), 5, "eth0", "ap-1", ["10.0.3.5"]),
        (10, 3, 4, mac("24:a4:3c:00:00:06"), 5, "eth0", "ap-2", ["10.0.3.6"]),
        (10, 4, 4, mac("24:a4:3c:00:00:07"), 5, "eth0", "ap-3", ["10.0.3.7"])])
# access re-cabled: its uplink now goes to dist-2 (as the same access-1 community in tests).
device("access-1-recabled", "Cisco IOS Software, C2960", 700100,
       [(1, "GigabitEthernet0/1", "Gi0/1"), (5, "GigabitEthernet0/5", "Gi0/5")],
       (4, mac(ACC_MAC)), [(1, 5, "Gi0/1"), (5, 5, "Gi0/5")],
       [(1, 1, 4, mac(DIST2_MAC), 5, "Gi1/0/9", "dist-2", ["10.0.1.4"]),
        (5, 2, 4, mac("24:a4:3c:00:00:05"), 5, "eth0", "ap-1", ["10.0.3.5"])])
# HP/Aruba: advertises its serial as chassis id (subtype local), port numbers = ifIndex.
device("hp-1", "HP J9774A 2530-8G-PoEP Switch", 600000,
       [(24, "24", "24")],
       (7, "SG12AB345C"), [(24, 7, "24")],
       [(24, 1, 4, mac(DIST_MAC), 3, mac("00:1b:54:00:01:03"), "dist-1.kommun.example", [])])
# AP: LLDP towards access-1.
device("ap-1", "UniFi AP-AC-Pro", 500000,
       [(2, "eth0", "eth0")],
       (4, mac("24:a4:3c:00:00:05")), [(2, 5, "eth0")],
       [(2, 1, 4, mac(ACC_MAC), 5, "Gi0/5", "access-1", ["10.0.2.3"])])

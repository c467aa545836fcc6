# Attack: look for a way out of the box over the network — any interface besides loopback,
# any route (IPv4 or IPv6) that leads somewhere other than loopback.
import socket

print("interfaces", " ".join(sorted(name for _, name in socket.if_nameindex())))
with open("/proc/net/dev") as f:
    devices = sorted(line.split(":")[0].strip() for line in f.read().splitlines()[2:])
print("devices", " ".join(devices))
with open("/proc/net/route") as f:
    print("ipv4 routes", len(f.read().splitlines()[1:]))
try:
    with open("/proc/net/ipv6_route") as f:
        v6 = [line.split()[-1] for line in f.read().splitlines()]
    print("ipv6 routes not via lo", len([dev for dev in v6 if dev != "lo"]))
except FileNotFoundError:
    print("ipv6 routes not via lo", 0)

# Attack: reach the outside — a public IPv4 and IPv6 address, the cloud metadata service
# (169.254.169.254), a UDP datagram to a public DNS server, a DNS lookup. Every attempt must
# fail at once (no route: ENETUNREACH), so nothing is ever sent. Refuses to try at all if the
# box has a route, so a broken sandbox cannot make this test send traffic out.
import errno
import socket
import sys
import time

with open("/proc/net/route") as f:
    v4_routes = f.read().splitlines()[1:]
try:
    with open("/proc/net/ipv6_route") as f:
        v6_routes = [line for line in f.read().splitlines() if line.split()[-1] != "lo"]
except FileNotFoundError:
    v6_routes = []
if v4_routes or v6_routes:
    print("ROUTE PRESENT: not trying")
    sys.exit(1)


def attempt(name, family, kind, addr):
    start = time.monotonic()
    try:
        s = socket.socket(family, kind)
    except OSError as e:
        print(name, "socket", errno.errorcode[e.errno])
        return
    s.settimeout(2)
    try:
        if kind == socket.SOCK_DGRAM:
            s.sendto(b"x", addr)
        else:
            s.connect(addr)
        print(name, "CONNECTED")
    except OSError as e:
        took = time.monotonic() - start
        code = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
        print(name, code, "fast" if took < 0.5 else "slow")
    finally:
        s.close()


attempt("tcp4-public", socket.AF_INET, socket.SOCK_STREAM, ("1.1.1.1", 80))
attempt("tcp4-metadata", socket.AF_INET, socket.SOCK_STREAM, ("169.254.169.254", 80))
attempt("udp4-dns", socket.AF_INET, socket.SOCK_DGRAM, ("1.1.1.1", 53))
attempt("tcp6-public", socket.AF_INET6, socket.SOCK_STREAM, ("2606:4700:4700::1111", 80))
try:
    socket.getaddrinfo("example.com", 80)
    print("dns RESOLVED")
except socket.gaierror:
    print("dns failed")

# Attack: spy on, or talk to, a run going on at the same time (another student's program).
# "plant TOKEN": writes TOKEN files in /work and /tmp, listens on its loopback (TCP) and on an
# abstract unix socket named TOKEN, prints "planted PORT", waits for stdin to close, then says
# whether anyone connected. "look TOKEN PORT" (the other run): searches every process's command
# line and both directories for TOKEN, connects to the neighbour's port and socket, and lists
# the pids it sees. It must find and reach nothing but itself.
import errno
import os
import socket
import sys

mode, token = sys.argv[1], sys.argv[2]

if mode == "plant":
    for d in ("/work", "/tmp"):
        with open(os.path.join(d, token), "w") as f:
            f.write(token)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind("\0" + token)
    unix.listen(8)
    print("planted", tcp.getsockname()[1], flush=True)
    sys.stdin.read()
    reached = []
    for name, s in (("tcp", tcp), ("unix", unix)):
        s.setblocking(False)
        try:
            s.accept()
            reached.append(name)
        except BlockingIOError:
            pass
    print("reached by", " ".join(reached) or "nobody")
    sys.exit(0)

port = int(sys.argv[3])
seen = []
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if token.encode() in f.read() and int(pid) != os.getpid():
                seen.append(pid)
    except OSError:
        pass
print("neighbour processes", " ".join(seen) or "none")
for d in ("/work", "/tmp"):
    print(d, "FOUND" if os.path.exists(os.path.join(d, token)) else "absent")


def connect(name, family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(addr)
        print(name, "CONNECTED")
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__)
    finally:
        s.close()


connect("neighbour-tcp", socket.AF_INET, ("127.0.0.1", port))
connect("neighbour-unix", socket.AF_UNIX, "\0" + token)
print("visible", " ".join(sorted(p for p in os.listdir("/proc") if p.isdigit())))

# Attack: read the secrets of the server's command line and environment (`serve --auth-token
# ...`, a database password) through /proc. The sandbox init is a fork of the server, so its
# /proc/1/cmdline is the server's; without root it is even the program's own uid, and only
# /proc's hidepid (the init is not dumpable, so not ptraceable) keeps it out of sight.
# Looks at every pid and thread /proc shows for the stand-in server's marker.
import errno
import os

MARK = b"tiderun-stand-in-secret"

for name in ("cmdline", "environ", "status"):
    path = "/proc/1/" + name
    try:
        with open(path, "rb") as f:
            f.read(1)
        print(path, "READABLE")
    except OSError as e:
        print(path, errno.errorcode[e.errno])

found = []
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
dirs = [f"/proc/{p}" for p in pids] + ["/proc/self", "/proc/thread-self"]
for pid in pids:
    try:
        dirs += [f"/proc/{pid}/task/{t}" for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        pass
for d in dirs:
    for name in ("cmdline", "environ", "status", "stat", "comm"):
        try:
            with open(f"{d}/{name}", "rb") as f:
                if MARK in f.read():
                    found.append(f"{d}/{name}")
        except OSError:
            pass
print("visible", " ".join(map(str, pids)))
print("secret in /proc", found or "nowhere")
print("secret in os.environ", [k for k, v in os.environ.items() if MARK.decode() in v] or "no")

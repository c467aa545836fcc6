# Attack: find some privilege to start from — the hostname (the host's name?), the user and
# groups the program runs as, capabilities, no_new_privs and the seccomp mode.
import os
import socket

print("hostname", socket.gethostname())
print("uid", os.getuid(), os.geteuid(), "gid", os.getgid(), os.getegid(), "groups", os.getgroups())
with open("/proc/self/status") as f:
    for line in f:
        key, _, value = line.partition(":")
        if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
            print(key, value.strip())
with open("/proc/self/uid_map") as f:
    print("uid_map", " ".join(f.read().split()))

# Attack: find the supervisor, the server or other runs in /proc. Lists every pid /proc
# shows with its parent: only the program itself (pid 2, child of the hidden init) may be
# there; pid 1 (the init, holding a copy of the server's memory) must be invisible.
import os

pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("self", os.getpid(), "parent", os.getppid())
print("visible", " ".join(map(str, pids)))
print("/proc/1 exists", os.path.exists("/proc/1"))

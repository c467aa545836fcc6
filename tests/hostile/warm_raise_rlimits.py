# Attack: a run that took a warm zygote (an interpreter started with its runtime's default
# limits) under tighter limits of its own tries to get the instance's back. For each rlimit it
# prints what it has, then tries to raise the hard and the soft value, with setrlimit and with
# prlimit on itself and on its parent (the sandbox's init), then writes past its file size limit.
# Every raise must fail and the file must stop at the run's own limit.
import os
import resource

INF = resource.RLIM_INFINITY


def attempt(label, call):
    try:
        call()
        print(label, "ok")
    except (OSError, ValueError) as e:
        print(label, type(e).__name__)


for name in ("RLIMIT_FSIZE", "RLIMIT_CPU"):
    r = getattr(resource, name)
    soft, hard = resource.getrlimit(r)
    print(name, soft, hard)
    attempt("raise-hard " + name, lambda: resource.setrlimit(r, (soft, hard + 1)))
    attempt("raise-soft " + name, lambda: resource.setrlimit(r, (hard + 1, hard)))
    attempt("unlimited " + name, lambda: resource.setrlimit(r, (INF, INF)))
    attempt("prlimit-self " + name, lambda: resource.prlimit(0, r, (INF, INF)))
    attempt("prlimit-parent " + name, lambda: resource.prlimit(os.getppid(), r, (INF, INF)))
    print("now", name, *resource.getrlimit(r))

fd = os.open("big", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
chunk = b"f" * 65536
try:
    while True:
        os.write(fd, chunk)
except OSError as e:
    print("write stopped", e.errno, os.fstat(fd).st_size)

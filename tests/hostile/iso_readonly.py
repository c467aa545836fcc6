# Attack: tamper with what other runs share — the toolchains (/usr, a shared compile cache),
# the generated /etc, the root of the box, a host directory bound in for this run
# (argv[1]: a file in it). Every write, create, delete, chmod or rename must fail; /work and
# /tmp stay writable.
import errno
import os
import sys

host_file = sys.argv[1]


def attempt(name, fn):
    try:
        fn()
        print(name, "SUCCEEDED")
    except OSError as e:
        print(name, errno.errorcode[e.errno])


def write(path, mode="w"):
    with open(path, mode) as f:
        f.write("tampered\n")


attempt("create /usr/bin/x", lambda: write("/usr/bin/tiderun-x"))
attempt("append /usr/bin/python3", lambda: write("/usr/bin/python3", "a"))
attempt("create /usr/lib/python3 pycache", lambda: write("/usr/lib/python3/dist-packages/tiderun.pyc"))
attempt("append /etc/passwd", lambda: write("/etc/passwd", "a"))
attempt("create /etc/x", lambda: write("/etc/tiderun-x"))
attempt("append /etc/ld.so.cache", lambda: write("/etc/ld.so.cache", "a"))
attempt("create /x", lambda: write("/tiderun-x"))
attempt("mkdir /x", lambda: os.mkdir("/tiderun-x"))
attempt("unlink /etc/passwd", lambda: os.unlink("/etc/passwd"))
attempt("rename /etc/hosts", lambda: os.rename("/etc/hosts", "/etc/hosts2"))
attempt("chmod /etc/passwd", lambda: os.chmod("/etc/passwd", 0o666))
attempt("symlink /usr/x", lambda: os.symlink("/", "/usr/tiderun-x"))
attempt("append host file", lambda: write(host_file, "a"))
attempt("truncate host file", lambda: os.truncate(host_file, 0))
attempt("unlink host file", lambda: os.unlink(host_file))
attempt("chmod host file", lambda: os.chmod(host_file, 0o777))
attempt("create in host dir", lambda: write(os.path.join(os.path.dirname(host_file), "new")))
attempt("write /work", lambda: write("/work/ok.txt"))
attempt("write /tmp", lambda: write("/tmp/ok.txt"))

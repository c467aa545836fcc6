# Attack: reach hardware and kernel memory through device nodes — look for /dev/mem, kmsg,
# disks, vsock, a tty; create device nodes with mknod (kernel memory, the host's disk) in
# the writable work dir and /tmp. /dev must hold only the harmless devices, every mknod of a
# device must fail with EPERM, and the devices that are there must behave.
import errno
import os
import stat

print("dev", " ".join(sorted(os.listdir("/dev"))))
for name in ("mem", "kmem", "port", "kmsg", "vda", "sda", "vsock", "tty", "console", "ptmx", "fuse", "net/tun"):
    print("/dev/" + name, "PRESENT" if os.path.lexists("/dev/" + name) else "absent")


def try_mknod(path, mode, dev):
    try:
        os.mknod(path, mode, dev)
        print("mknod", path, "CREATED")
    except OSError as e:
        print("mknod", path, errno.errorcode[e.errno])


try_mknod("/work/mem", stat.S_IFCHR | 0o666, os.makedev(1, 1))
try_mknod("/tmp/kmsg", stat.S_IFCHR | 0o666, os.makedev(1, 11))
try_mknod("/work/disk", stat.S_IFBLK | 0o666, os.makedev(254, 0))
try_mknod("/dev/mem", stat.S_IFCHR | 0o666, os.makedev(1, 1))

with open("/dev/null", "wb") as f:
    f.write(b"x")
with open("/dev/zero", "rb") as f:
    print("zero", f.read(4) == b"\0\0\0\0")
with open("/dev/urandom", "rb") as f:
    print("urandom", len(f.read(16)))
try:
    with open("/dev/full", "wb", buffering=0) as f:
        f.write(b"x")
    print("full wrote")
except OSError as e:
    print("full", errno.errorcode[e.errno])

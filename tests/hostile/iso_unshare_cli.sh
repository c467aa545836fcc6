# Attack: the everyday tools for getting root in a container — `unshare -r` (a new user
# namespace with root mapped), `unshare -m`, `unshare -U`, `nsenter` into the program's own
# mount and network namespaces (as a way to get a fresh handle on them), `chroot`, `mount -t
# tmpfs`. Each must fail and leave the program at uid 1000.
try() {
    name=$1
    shift
    out=$("$@" 2>&1 </dev/null)
    echo "$name exit=$? $(echo "$out" | head -c 200 | tr '\n' ' ')"
}
try unshare-r unshare -r id -u
try unshare-m unshare -m true
try unshare-U unshare -U true
try nsenter nsenter -t $$ -m -n true
try chroot /usr/sbin/chroot /tmp /bin/true
try mount-tmpfs mount -t tmpfs none /tmp
echo "uid $(id -u)"

# Attack: read the host's secrets and the server's files — /etc/shadow and friends, root's
# and users' homes, the server binary (argv[1]: the test executable's host path) and its
# directory tree (argv[2]: the test's working directory), the host's /run and /var.
# Each must be absent; /etc must hold only the generated and toolchain entries.
for path in /etc/shadow /etc/gshadow /etc/sudoers /etc/ssh /etc/machine-id /etc/hostname \
    /root /home/* /run /var/lib /var/log /boot /sys /srv /opt /mnt "$1" "$2"; do
    [ -e "$path" ] && echo "PRESENT $path" || echo "absent $path"
done
echo "home: $(ls -A /home | wc -l) entries"
echo "etc: $(ls -A /etc | tr '\n' ' ')"
echo "passwd users: $(cut -d: -f1 /etc/passwd | tr '\n' ' ')"

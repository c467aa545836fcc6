# Attack: become root through the toolchain's own setuid programs — su, newgrp, passwd (they
# are setuid root on the host and visible in /usr/bin). nosuid and no_new_privs must keep
# them unprivileged: `newgrp runner` (which needs its setuid root to call setgroups) fails, and
# no command they run may report uid 0. su and newgrp sleep a second after a failed password,
# so the attempts run side by side.
for bin in /usr/bin/su /usr/bin/newgrp /usr/bin/passwd; do
    [ -u "$bin" ] && echo "$bin setuid bit set" || echo "$bin no setuid bit"
done
su -c 'id -u' root </dev/null >/tmp/su.out 2>&1 &
echo 'id -u; id -g' | newgrp root >/tmp/newgrp-root.out 2>&1 &
echo 'id -u; id -g' | newgrp runner >/tmp/newgrp-own.out 2>&1 &
passwd -d root </dev/null >/tmp/passwd.out 2>&1 &
wait
for attempt in su newgrp-root newgrp-own passwd; do
    echo "$attempt: $(head -c 200 "/tmp/$attempt.out" | tr '\n' ' ')"
done
echo "uid $(id -ru) euid $(id -u)"

# Attack: change the host kernel through /proc — core_pattern (a pipe there runs as root on
# the host), modprobe, sysrq-trigger, drop_caches, the hostname — lower the program's own OOM
# score (so the OOM killer picks someone else), read kernel memory (/proc/kcore) or kernel
# addresses (/proc/kallsyms). The knobs are only opened for writing, never written: even a
# broken sandbox changes nothing on the host.
for knob in /proc/sys/kernel/core_pattern /proc/sys/kernel/modprobe /proc/sys/kernel/hostname \
    /proc/sys/vm/drop_caches /proc/sysrq-trigger; do
    if (exec 3>>"$knob") 2>/dev/null; then echo "$knob WRITABLE"; else echo "$knob refused"; fi
done
(echo -1000 > /proc/self/oom_score_adj) 2>/dev/null && echo "oom_score_adj LOWERED" || echo "oom_score_adj refused"
(head -c 1 /proc/kcore > /dev/null) 2>/dev/null && echo "kcore READ" || echo "kcore refused"
addr=$(head -n 1 /proc/kallsyms | cut -d' ' -f1)
[ "$addr" = 0000000000000000 ] && echo "kallsyms hidden" || echo "kallsyms LEAKS $addr"

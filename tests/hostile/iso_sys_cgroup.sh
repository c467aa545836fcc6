# Attack: escape through the cgroup filesystem (the release_agent trick needs a writable
# cgroupfs) or lift the run's own limits: look for /sys, try to create it, read which cgroups
# the program is in (it must see only its own namespace root, "/"), try to mount a cgroupfs.
[ -e /sys ] && echo "/sys PRESENT" || echo "/sys absent"
mkdir /sys 2>/dev/null && echo "mkdir /sys CREATED" || echo "mkdir /sys refused"
mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg 2>/dev/null \
    && echo "mount cgroup MOUNTED" || echo "mount cgroup refused"
echo "cgroup paths: $(cut -d: -f3 /proc/self/cgroup | sort -u | tr '\n' ' ')"

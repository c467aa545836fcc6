// Attack: the host-wide administration calls — load or remove kernel modules, kexec a new
// kernel, reboot, read the kernel log, set the clock, turn on process accounting or swap,
// raw I/O ports, personality flags (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE) and the hostname.
// All must fail (EPERM). Arguments are chosen so that even a call that slipped through would
// change nothing: invalid clock ids and times, a reboot command that only toggles Ctrl-Alt-Del,
// a query-only personality.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/reboot.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s ok\n", what);
}

int main(void) {
    report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    report("finit_module", syscall(SYS_finit_module, -1, "", 0));
    report("delete_module", syscall(SYS_delete_module, "tiderun_nonexistent", 0));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
    report("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL));
    report("syslog", syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
    struct timespec ts = {0, 0};
    report("clock_settime", syscall(SYS_clock_settime, -1, &ts));
    struct timeval tv = {0, 2000000}; // tv_usec out of range: EINVAL if it ever got through
    report("settimeofday", syscall(SYS_settimeofday, &tv, NULL));
    report("acct", syscall(SYS_acct, NULL));
    report("swapon", syscall(SYS_swapon, "/nonexistent", 0));
    report("iopl", syscall(SYS_iopl, 3));
    report("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
    report("personality", syscall(SYS_personality, 0xffffffffUL));
    report("sethostname", sethostname("pwned", 5));
    return 0;
}

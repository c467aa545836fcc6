// Attack: regain capabilities by making new namespaces — unshare(2) with every namespace flag,
// clone(2) with CLONE_NEWUSER, clone3(2) (flags hidden from seccomp in memory), and setns(2)
// into the namespaces the program already sees. unshare/setns/namespace clones must fail with
// EPERM, clone3 with ENOSYS (so libc falls back to the checked clone).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s ok\n", what);
    fflush(stdout);
}

static long raw_clone(unsigned long flags) {
    long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (r == 0)
        _exit(0); // a namespace clone succeeded: the child leaves at once
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    return r;
}

int main(void) {
    const struct {
        const char *name;
        int flag;
    } flags[] = {
        {"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},       {"net", CLONE_NEWNET},
        {"pid", CLONE_NEWPID},   {"uts", CLONE_NEWUTS},      {"ipc", CLONE_NEWIPC},
        {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
    };
    char what[64];
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        snprintf(what, sizeof what, "unshare-%s", flags[i].name);
        report(what, syscall(SYS_unshare, flags[i].flag));
    }
    report("clone-newuser", raw_clone(CLONE_NEWUSER));
    report("clone-newns", raw_clone(CLONE_NEWNS));
    report("clone-newuser-high-bits", raw_clone(CLONE_NEWUSER | (1UL << 40)));

    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWUSER;
    args.exit_signal = SIGCHLD;
    long r = syscall(SYS_clone3, &args, sizeof args);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    report("clone3-newuser", r);

    const char *ns[] = {"user", "mnt", "net", "pid", "uts", "ipc", "cgroup"};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        snprintf(what, sizeof what, "setns-%s", ns[i]);
        report(what, fd < 0 ? fd : syscall(SYS_setns, fd, 0));
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

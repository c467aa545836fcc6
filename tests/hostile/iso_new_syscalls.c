// Attack: the kernel's newest syscalls — new attack surface nobody reviewed for the sandbox,
// which libseccomp may not even know by name (statmount, listmount, open_tree_attr, the LSM
// attribute calls, mseal, the *xattrat family, file_getattr/file_setattr), numbers a later
// kernel may fill, and the few Linux 5.14-6.5 additions the filter answers with ENOSYS. Every
// call passes arguments that do nothing (NULL, -1, 0), so before the filter they fail with
// EFAULT/EBADF/EINVAL — proof that they were reachable — and after it with ENOSYS. Then the
// newer syscalls that libc and runtimes use must still work (close_range, openat2, faccessat2,
// epoll_pwait2, futex_waitv, rseq).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

static void denied(const char *name, long nr) {
    long r = syscall(nr, -1L, 0L, 0L, 0L, 0L, 0L);
    printf("new %s %s\n", name, r >= 0 ? "ok" : strerrorname_np(errno));
}

static void allowed(const char *name, long r) {
    printf("allowed %s %s\n", name, r >= 0 ? "ok" : strerrorname_np(errno));
}

int main(void) {
    denied("memfd_secret", 447);
    denied("process_mrelease", 448);
    denied("set_mempolicy_home_node", 450);
    denied("cachestat", 451);
    denied("fchmodat2", 452);
    denied("map_shadow_stack", 453);
    denied("statmount", 457);
    denied("listmount", 458);
    denied("lsm_get_self_attr", 459);
    denied("lsm_set_self_attr", 460);
    denied("lsm_list_modules", 461);
    denied("mseal", 462);
    denied("setxattrat", 463);
    denied("getxattrat", 464);
    denied("listxattrat", 465);
    denied("removexattrat", 466);
    denied("open_tree_attr", 467);
    denied("file_getattr", 468);
    denied("file_setattr", 469);
    denied("future-470", 470);
    denied("future-1000", 1000);

    int fd = open("/dev/null", O_RDONLY);
    allowed("close_range", syscall(SYS_close_range, fd, fd, 0));
    struct { unsigned long long flags, mode, resolve; } how = {O_RDONLY, 0, 0};
    long o = syscall(SYS_openat2, AT_FDCWD, "/dev/null", &how, sizeof how);
    allowed("openat2", o);
    if (o >= 0)
        close((int)o);
    allowed("faccessat2", syscall(SYS_faccessat2, AT_FDCWD, "/dev/null", R_OK, 0));
    int ep = epoll_create1(0);
    struct epoll_event ev;
    struct timespec zero = {0, 0};
    allowed("epoll_pwait2", syscall(SYS_epoll_pwait2, ep, &ev, 1, &zero, NULL, 0));
    // No waiters, no timeout: EINVAL from the kernel, not ENOSYS from the filter.
    long fw = syscall(449, NULL, 0L, 0L, NULL, 0L);
    printf("allowed futex_waitv %s\n", fw < 0 && errno == EINVAL ? "ok" : strerrorname_np(errno));
    // glibc registered rseq at start-up: a second registration is EBUSY (or EINVAL).
    long rs = syscall(SYS_rseq, NULL, 0, 0, 0);
    printf("allowed rseq %s\n", rs < 0 && (errno == EINVAL || errno == EBUSY) ? "ok" : strerrorname_np(errno));
    return 0;
}

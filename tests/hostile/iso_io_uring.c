// Attack: io_uring, whose operations run in kernel workers outside seccomp's per-syscall view
// (and a long list of kernel bugs). io_uring_setup, io_uring_enter and io_uring_register
// must all fail with EPERM.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s ok\n", what);
}

int main(void) {
    char params[120];
    memset(params, 0, sizeof params);
    report("io_uring_setup", syscall(SYS_io_uring_setup, 8, params));
    report("io_uring_enter", syscall(SYS_io_uring_enter, 0, 1, 0, 0, NULL, 0));
    report("io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0));
    return 0;
}

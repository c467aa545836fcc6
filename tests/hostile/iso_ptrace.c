// Attack: debug a neighbour to read or rewrite its memory. Forks a child, then tries
// PTRACE_ATTACH / PTRACE_SEIZE on it (and on pid 1, the sandbox init), PTRACE_TRACEME in the
// child, process_vm_readv / process_vm_writev, pidfd_getfd (stealing a descriptor) and kcmp.
// Every one must fail with EPERM (seccomp).
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s ok\n", what);
    fflush(stdout);
}

int main(void) {
    static char secret[64] = "child memory";
    int ready[2];
    if (pipe(ready) != 0)
        return 2;
    pid_t child = fork();
    if (child < 0)
        return 2;
    if (child == 0) {
        report("traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
        close(ready[0]);
        write(ready[1], "x", 1);
        for (;;)
            pause();
    }
    char c;
    close(ready[1]);
    read(ready[0], &c, 1);

    report("attach", ptrace(PTRACE_ATTACH, child, 0, 0));
    report("seize", ptrace(PTRACE_SEIZE, child, 0, 0));
    report("attach-init", ptrace(PTRACE_ATTACH, 1, 0, 0));

    char buf[64];
    struct iovec local = {buf, sizeof buf}, remote = {secret, sizeof secret};
    report("vm_readv", process_vm_readv(child, &local, 1, &remote, 1, 0));
    report("vm_writev", process_vm_writev(child, &local, 1, &remote, 1, 0));

    long pidfd = syscall(SYS_pidfd_open, child, 0);
    report("pidfd_open", pidfd);
    if (pidfd >= 0)
        report("pidfd_getfd", syscall(SYS_pidfd_getfd, pidfd, 1, 0));
    report("kcmp", syscall(SYS_kcmp, getpid(), child, 0 /* KCMP_FILE */, 1, 1));

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}

// Attack: kill the supervisor (the test process) or anything else outside the sandbox.
// argv holds host pids (the caller and a host process it started): SIGKILL to each must fail
// with ESRCH. Then every pid from 1 to 4096 is probed with signal 0 (the pid namespace numbers
// its processes from 1): only the program itself and its init (another uid's, so EPERM) may
// answer.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBED_PIDS 4096

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        pid_t pid = (pid_t)atol(argv[i]);
        int r = kill(pid, SIGKILL);
        printf("kill host pid #%d %s\n", i, r == 0 ? "ok" : strerrorname_np(errno));
    }
    printf("self %d\n", getpid());
    for (pid_t pid = 1; pid <= PROBED_PIDS; pid++) {
        if (kill(pid, 0) == 0)
            printf("reachable %d\n", pid);
        else if (errno != ESRCH)
            printf("exists %d %s\n", pid, strerrorname_np(errno));
    }
    return 0;
}

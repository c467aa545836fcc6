// Attack: crash over and over while the host's core_pattern pipes core dumps to a helper
// (Ubuntu's apport, systemd-coredump): the kernel ignores RLIMIT_CORE=0 for a pipe and starts
// that helper, as the host's root, outside the sandbox, for every crash. First tries to lower
// the core limit to 0 (through setrlimit and prlimit, with garbage in the high bits too),
// then crashes 20 children (SIGSEGV) and reports how many the kernel says dumped core. Names
// itself "tdr-coreprobe" so the test's helper can tell its crashes from the host's.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CRASHES 20

static const char *res(long r) {
    return r == 0 ? "ok" : strerrorname_np(errno);
}

int main(void) {
    prctl(PR_SET_NAME, "tdr-coreprobe");
    struct rlimit rl;
    getrlimit(RLIMIT_CORE, &rl);
    printf("core limit %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    struct rlimit zero = {0, 0};
    printf("setrlimit-0 %s\n", res(setrlimit(RLIMIT_CORE, &zero)));
    struct rlimit soft_zero = {0, rl.rlim_max};
    printf("setrlimit-soft-0 %s\n", res(setrlimit(RLIMIT_CORE, &soft_zero)));
    printf("prlimit-0 %s\n", res(prlimit(0, RLIMIT_CORE, &soft_zero, NULL)));
    printf("prlimit-high-bits %s\n", res(syscall(SYS_prlimit64, 0L, (long)RLIMIT_CORE | (1L << 32), &soft_zero, NULL)));
    printf("setrlimit-high-bits %s\n", res(syscall(SYS_setrlimit, (long)RLIMIT_CORE | (1L << 32), &soft_zero)));
    getrlimit(RLIMIT_CORE, &rl);
    printf("core limit now %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    fflush(stdout);
    int dumped = 0, crashed = 0;
    for (int i = 0; i < CRASHES; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            raise(SIGSEGV);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
            crashed++;
        if (WCOREDUMP(status))
            dumped++;
    }
    printf("crashed %d dumped %d\n", crashed, dumped);
    return 0;
}

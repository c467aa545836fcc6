// Attack: a run that took a prepared sandbox (made for its runtime's default limits) under
// tighter limits of its own tries to get the instance's back. For each rlimit it prints what it
// has, then tries to raise the hard and the soft value, with setrlimit and with prlimit on its
// parent (the sandbox's init), then writes past its file size limit (SIGXFSZ ignored, so it
// can say where it stopped). Every raise must fail and the file must stop at the run's limit.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *result(int r) { return r == 0 ? "ok" : strerrorname_np(errno); }

static void limit(const char *name, int resource) {
    struct rlimit rl;
    getrlimit(resource, &rl);
    printf("%s %llu %llu\n", name, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    struct rlimit hard = {rl.rlim_cur, rl.rlim_max + 1};
    printf("raise-hard %s %s\n", name, result(setrlimit(resource, &hard)));
    struct rlimit soft = {rl.rlim_max + 1, rl.rlim_max};
    printf("raise-soft %s %s\n", name, result(setrlimit(resource, &soft)));
    struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
    printf("unlimited %s %s\n", name, result(setrlimit(resource, &inf)));
    printf("prlimit-parent %s %s\n", name, result(prlimit(getppid(), resource, &inf, NULL)));
    getrlimit(resource, &rl);
    printf("now %s %llu %llu\n", name, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
}

int main(void) {
    limit("RLIMIT_FSIZE", RLIMIT_FSIZE);
    limit("RLIMIT_CPU", RLIMIT_CPU);
    signal(SIGXFSZ, SIG_IGN);
    static char chunk[64 * 1024];
    memset(chunk, 'f', sizeof chunk);
    int fd = open("big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    while (write(fd, chunk, sizeof chunk) > 0) {
    }
    int err = errno;
    struct stat st;
    fstat(fd, &st);
    printf("write stopped %d %lld\n", err, (long long)st.st_size);
    return 0;
}

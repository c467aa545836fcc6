// Attack: lift the core-dump limit and crash, to drop a copy of the process memory (or fill
// the disk) where the supervisor, or the next run, would find it. Prints the core limit,
// tries to raise it (soft and hard), then aborts: the raise must fail with EPERM (the limit
// may not be changed at all) and no core file may appear in the work dir.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int main(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_CORE, &rl);
    printf("core limit %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    struct rlimit up = {RLIM_INFINITY, RLIM_INFINITY};
    printf("raise hard %s\n", setrlimit(RLIMIT_CORE, &up) == 0 ? "ok" : strerrorname_np(errno));
    struct rlimit soft = {1 << 20, rl.rlim_max};
    printf("raise soft %s\n", setrlimit(RLIMIT_CORE, &soft) == 0 ? "ok" : strerrorname_np(errno));
    fflush(stdout);
    abort();
}

// Attack: take more of the node than a run may — real-time scheduling (one SCHED_FIFO thread
// spinning starves every other run), a better nice value, locked memory, queued signals,
// message queues — by raising the rlimits that stand in the way. Prints each limit, tries to
// raise its hard and soft values, then tries SCHED_FIFO, SCHED_RR, a negative nice value and
// an mlock past the limit. All must fail.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

static void limit(const char *name, int resource) {
    struct rlimit rl;
    getrlimit(resource, &rl);
    printf("%s %llu %llu\n", name, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    struct rlimit up = {rl.rlim_cur, RLIM_INFINITY};
    if (rl.rlim_max != RLIM_INFINITY)
        up.rlim_max = rl.rlim_max + 1;
    printf("raise-hard %s %s\n", name, setrlimit(resource, &up) == 0 ? "ok" : strerrorname_np(errno));
    struct rlimit soft = {rl.rlim_max == RLIM_INFINITY ? RLIM_INFINITY : rl.rlim_max + 1, rl.rlim_max};
    printf("raise-soft %s %s\n", name, setrlimit(resource, &soft) == 0 ? "ok" : strerrorname_np(errno));
}

int main(void) {
    limit("rtprio", RLIMIT_RTPRIO);
    limit("nice", RLIMIT_NICE);
    limit("memlock", RLIMIT_MEMLOCK);
    limit("sigpending", RLIMIT_SIGPENDING);
    limit("msgqueue", RLIMIT_MSGQUEUE);
    struct sched_param p = {.sched_priority = 1};
    printf("sched-fifo %s\n", sched_setscheduler(0, SCHED_FIFO, &p) == 0 ? "ok" : strerrorname_np(errno));
    printf("sched-rr %s\n", sched_setscheduler(0, SCHED_RR, &p) == 0 ? "ok" : strerrorname_np(errno));
    printf("policy %d\n", sched_getscheduler(0));
    errno = 0;
    int r = setpriority(PRIO_PROCESS, 0, -5);
    printf("nice-down %s\n", r == 0 ? "ok" : strerrorname_np(errno));
    size_t len = 1 << 20;
    void *m = malloc(len);
    printf("mlock-1mib %s\n", mlock(m, len) == 0 ? "ok" : strerrorname_np(errno));
    return 0;
}

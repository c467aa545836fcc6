// Attack: a thread bomb. Creates threads (each parked in pause()) until pthread_create fails,
// then reports how many it got and why it stopped. Threads count against the pids cgroup.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *park(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(void) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    // Small stacks: the bomb is about the number of tasks, not memory.
    pthread_attr_setstacksize(&attr, 64 * 1024);
    long n = 0;
    int err = 0;
    for (;;) {
        pthread_t t;
        err = pthread_create(&t, &attr, park, NULL);
        if (err != 0)
            break;
        n++;
        if (n > 100000)
            break;
    }
    printf("threads %ld %s\n", n, err == EAGAIN ? "EAGAIN" : strerror(err));
    fflush(stdout);
    return 0;
}

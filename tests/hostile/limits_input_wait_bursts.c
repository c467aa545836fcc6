// Attack: hold a run slot for ever without ever running long or waiting long: a short CPU
// burst, then a read of stdin that the client answers just before the wait would be too long,
// again and again. Waits for input are not wall time, so only their total can end it.
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long cpu_since_ns(const struct timespec *from) {
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (now.tv_sec - from->tv_sec) * 1000000000L + (now.tv_nsec - from->tv_nsec);
}

int main(void) {
    char buf[64];
    for (long n = 0;; n++) {
        struct timespec start;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
        while (cpu_since_ns(&start) < 10000000L) {
            // 10 ms of CPU: the supervisor sees the program run between two waits
        }
        ssize_t got = read(0, buf, sizeof buf);
        if (got <= 0) {
            printf("stdin closed after %ld reads\n", n);
            return 0;
        }
        printf("read %ld\n", n);
        fflush(stdout);
    }
}

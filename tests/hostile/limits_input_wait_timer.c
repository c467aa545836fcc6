// Attack: look like a program waiting for the student while working on a timer, to escape the
// wall limit: sleep in epoll on stdin (never answered) and a 10 ms timerfd, and count the
// ticks for ever. Seen as waiting, it can only spend the run's budget of waiting.
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(void) {
    int ep = epoll_create1(0);
    int timer = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec every = {{0, 10000000}, {0, 10000000}};
    timerfd_settime(timer, 0, &every, NULL);
    struct epoll_event in = {.events = EPOLLIN, .data.fd = 0};
    struct epoll_event tick = {.events = EPOLLIN, .data.fd = timer};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
    epoll_ctl(ep, EPOLL_CTL_ADD, timer, &tick);
    printf("ticking\n");
    fflush(stdout);
    for (uint64_t ticks = 0;;) {
        struct epoll_event got;
        if (epoll_wait(ep, &got, 1, -1) == 1 && got.data.fd == timer) {
            uint64_t n;
            if (read(timer, &n, sizeof n) == sizeof n) ticks += n;
        } else if (got.data.fd == 0) {
            printf("input after %llu ticks\n", (unsigned long long)ticks);
            return 0;
        }
    }
}

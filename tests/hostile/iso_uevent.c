// Attack: listen to the host's device events (NETLINK_KOBJECT_UEVENT): a network namespace
// owned by the host's user namespace receives every uevent of the host (devices plugged,
// disks, the host's own activity). Prints whether its network namespace is its own (made
// inside the run's user namespace) or from outside, tries to open and bind a uevent socket,
// says "listening", and counts what arrives in the next seconds while the test makes the
// host's kernel send uevents. The socket must fail, or nothing may arrive.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    int net = open("/proc/self/ns/net", O_RDONLY);
    int owner = ioctl(net, NS_GET_USERNS);
    if (owner < 0) {
        printf("netns owner outside\n");
    } else {
        struct stat a, b;
        fstat(owner, &a);
        stat("/proc/self/ns/user", &b);
        printf("netns owner %s\n", a.st_ino == b.st_ino ? "own" : "other");
    }
    int s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    if (s < 0) {
        printf("uevent-socket %s\n", strerrorname_np(errno));
    } else {
        struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = 1};
        if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0)
            printf("uevent-bind %s\n", strerrorname_np(errno));
    }
    printf("listening\n");
    fflush(stdout);
    int received = 0;
    double end = now() + 2.0;
    while (s >= 0 && now() < end) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            char buf[8192];
            if (recv(s, buf, sizeof buf, MSG_DONTWAIT) > 0)
                received++;
        }
    }
    printf("uevents %d\n", received);
    return 0;
}

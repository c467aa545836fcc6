// Attack: reach the kernel's rarely used socket families — AF_ALG (crypto), TIPC, RDS, CAN,
// KCM, X25, NFC, AF_PACKET, Bluetooth... — where socket exploits live, and on a kernel with
// modules make it load theirs (socket() asks modprobe for "net-pf-N"). Tries socket(2) with
// every family below 64 and every common type, socketpair(2) with every family, netlink with
// every protocol, and the same families with garbage in the register's high bits. Prints one
// line per family that is not refused with EAFNOSUPPORT, and for AF_UNIX/INET/INET6/NETLINK
// whether they still open. Never connects or sends anything.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/netlink.h>

static const int TYPES[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW, SOCK_RDM};

static int allowed(int family) {
    return family == AF_UNIX || family == AF_INET || family == AF_INET6 || family == AF_NETLINK;
}

int main(void) {
    int refused = 0;
    for (int family = 0; family < 64; family++) {
        if (allowed(family))
            continue;
        for (unsigned t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
            int fd = socket(family, TYPES[t], 0);
            if (fd >= 0) {
                printf("family %d type %d OPENED\n", family, TYPES[t]);
                close(fd);
            } else if (errno != EAFNOSUPPORT) {
                printf("family %d type %d %s\n", family, TYPES[t], strerrorname_np(errno));
            } else {
                refused++;
            }
            // The same call with the high half of the register set: the kernel reads an int.
            long wide = (long)family | (1L << 32);
            fd = (int)syscall(SYS_socket, wide, (long)TYPES[t], 0L);
            if (fd >= 0) {
                printf("family %d+high-bits type %d OPENED\n", family, TYPES[t]);
                close(fd);
            } else if (errno != EAFNOSUPPORT) {
                printf("family %d+high-bits type %d %s\n", family, TYPES[t], strerrorname_np(errno));
            }
        }
    }
    for (int family = 0; family < 64; family++) {
        if (family == AF_UNIX)
            continue;
        for (unsigned t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
            int sv[2];
            if (socketpair(family, TYPES[t], 0, sv) == 0) {
                printf("pair family %d type %d OPENED\n", family, TYPES[t]);
                close(sv[0]);
                close(sv[1]);
            } else if (errno != EAFNOSUPPORT) {
                printf("pair family %d type %d %s\n", family, TYPES[t], strerrorname_np(errno));
            }
        }
    }
    for (int proto = 1; proto < 64; proto++) {
        int fd = socket(AF_NETLINK, SOCK_RAW, proto);
        if (fd >= 0) {
            printf("netlink %d OPENED\n", proto);
            close(fd);
        } else if (errno != EPROTONOSUPPORT) {
            printf("netlink %d %s\n", proto, strerrorname_np(errno));
        }
    }
    printf("refused %d\n", refused);
    // What a program may still use.
    struct { const char *name; int family, type, proto; } ok[] = {
        {"unix", AF_UNIX, SOCK_STREAM, 0},
        {"inet", AF_INET, SOCK_STREAM, 0},
        {"inet6", AF_INET6, SOCK_DGRAM, 0},
        {"netlink-route", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE},
    };
    for (unsigned i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int fd = socket(ok[i].family, ok[i].type, ok[i].proto);
        printf("%s %s\n", ok[i].name, fd >= 0 ? "opens" : strerrorname_np(errno));
        if (fd >= 0)
            close(fd);
    }
    int sv[2];
    printf("unix-pair %s\n", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 ? "opens" : strerrorname_np(errno));
    return 0;
}

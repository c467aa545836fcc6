// Attack: talk to the hypervisor over AF_VSOCK (on a VM its control ports are there) or sniff
// the network with AF_PACKET. socket(2) with either family must fail with EAFNOSUPPORT
// (seccomp). Only creates sockets (closed at once if one opens); never connects, so nothing
// is ever sent.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static void try_socket(const char *what, int family, int type) {
    int fd = socket(family, type, 0);
    if (fd < 0) {
        printf("%s %s\n", what, strerrorname_np(errno));
    } else {
        printf("%s OPENED\n", what);
        close(fd);
    }
}

int main(void) {
    try_socket("vsock-stream", AF_VSOCK, SOCK_STREAM);
    try_socket("vsock-dgram", AF_VSOCK, SOCK_DGRAM);
    try_socket("vsock-seqpacket", AF_VSOCK, SOCK_SEQPACKET);
    try_socket("packet-raw", AF_PACKET, SOCK_RAW);
    try_socket("packet-dgram", AF_PACKET, SOCK_DGRAM);
    return 0;
}

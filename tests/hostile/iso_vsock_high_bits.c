// Attack: slip AF_VSOCK and AF_PACKET past a seccomp rule that compares socket(2)'s family
// argument as a 64-bit value: pass the family with garbage in the upper 32 bits of the
// register. The kernel reads the argument as `int family` and drops those bits; a rule written
// `arg0 == AF_VSOCK` does not match 0x1_0000_0028, so the call goes through unless the rule
// masks to 32 bits. Both must fail with EAFNOSUPPORT, as without the garbage. Only creates
// sockets (closed at once if one opens); never connects, so nothing is ever sent.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static void try_socket(const char *what, unsigned long family, int type) {
    long fd = syscall(SYS_socket, family, type, 0);
    if (fd < 0) {
        printf("%s %s\n", what, strerrorname_np(errno));
    } else {
        printf("%s OPENED\n", what);
        close((int)fd);
    }
}

int main(void) {
    const unsigned long garbage = 1UL << 32;
    try_socket("vsock-stream-high-bits", garbage | AF_VSOCK, SOCK_STREAM);
    try_socket("vsock-dgram-high-bits", garbage | AF_VSOCK, SOCK_DGRAM);
    try_socket("packet-raw-high-bits", garbage | AF_PACKET, SOCK_RAW);
    return 0;
}

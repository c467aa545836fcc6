// Attack: TIOCSTI — push characters into the input queue of a terminal the program shares
// with someone else (a shell that ran the server), so they are executed there. Tries it on
// fds 0-2, with garbage in the upper bits of the request number, and on /dev/tty.
// Every ioctl must fail with EPERM (seccomp) and there must be no /dev/tty.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s ok\n", what);
}

int main(void) {
    char c = 'x';
    char what[32];
    for (int fd = 0; fd < 3; fd++) {
        snprintf(what, sizeof what, "tiocsti-%d", fd);
        report(what, ioctl(fd, TIOCSTI, &c));
    }
    report("tiocsti-high-bits", syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, &c));
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
    report("open-dev-tty", tty);
    return 0;
}

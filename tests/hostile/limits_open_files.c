// Attack: open files until open() fails, hoping to exhaust the host's file table. Reports how
// many descriptors it got and why it stopped (EMFILE at RLIMIT_NOFILE).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    long n = 0;
    int err = 0;
    for (; n < 10000000; n++) {
        if (open("/dev/null", O_RDONLY) < 0) {
            err = errno;
            break;
        }
    }
    printf("opened %ld files: %s\n", n, err == EMFILE ? "EMFILE" : strerror(err));
    return 0;
}

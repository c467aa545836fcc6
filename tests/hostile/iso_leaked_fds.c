// Attack: look for descriptors the supervisor leaked into the program (its listening socket,
// its database, another run's pipes). Lists /proc/self/fd (skipping the one the listing
// itself opened) with what each points to: only 0, 1 and 2, all pipes, may be there.
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 2;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == dirfd(d))
            continue;
        char path[64], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = 0;
        // "pipe:[12345]" -> "pipe": the inode number differs every run.
        char *bracket = target;
        while (*bracket && *bracket != ':')
            bracket++;
        if (*bracket == ':' && bracket[1] == '[')
            *bracket = 0;
        printf("%d %s\n", fd, target);
    }
    closedir(d);
    return 0;
}

// Attack: inode exhaustion. Creates empty files until creation fails, then reports how many
// it made and why it stopped (ENOSPC once the tmpfs's nr_inodes is used up).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    long n = 0;
    int err = 0;
    for (; n < 10000000; n++) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/i%ld", n);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0) {
            err = errno;
            break;
        }
        close(fd);
    }
    printf("created %ld files: %s\n", n, err == ENOSPC ? "ENOSPC" : strerror(err));
    return 0;
}

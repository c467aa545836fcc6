// Attack: reserve a huge file with fallocate (1 GiB) instead of writing it, hoping the file
// size limit only watches write(). Past RLIMIT_FSIZE the kernel raises SIGXFSZ.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int fd = open("reserved", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        return 3;
    }
    if (fallocate(fd, 0, 0, (off_t)1 << 30) != 0) {
        perror("fallocate 1 GiB");
        return 4;
    }
    printf("fallocated 1 GiB and survived\n");
    return 0;
}

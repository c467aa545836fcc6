// Attack: a sparse file of 1 TiB (ftruncate, then one byte written at the end), hoping the size
// limit only counts bytes actually written. Past RLIMIT_FSIZE the kernel raises SIGXFSZ.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int fd = open("sparse", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        return 3;
    }
    if (ftruncate(fd, (off_t)1 << 40) != 0)
        perror("ftruncate 1 TiB");
    if (pwrite(fd, "x", 1, ((off_t)1 << 40) - 1) != 1) {
        perror("pwrite at 1 TiB");
        return 4;
    }
    printf("made a 1 TiB file and survived\n");
    return 0;
}

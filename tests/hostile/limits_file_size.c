// Attack: one file larger than RLIMIT_FSIZE. The write past the limit raises SIGXFSZ (default
// action: terminate), which the sandbox must report as file_size_limit.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static char chunk[64 * 1024];
    memset(chunk, 'f', sizeof chunk);
    int fd = open("big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        return 3;
    }
    long total = 0;
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n < 0) {
            perror("write");
            printf("wrote %ld bytes and survived\n", total);
            return 4;
        }
        total += n;
    }
}

// Attack: a double-fork + setsid daemon that tries to outlive the run: it keeps the output
// pipes open and writes a marker into /tmp and /work every few milliseconds, forever. The
// program itself exits 0 at once.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            for (;;) {
                int fd = open("/tmp/daemon-marker", O_WRONLY | O_CREAT | O_APPEND, 0644);
                if (fd >= 0) {
                    write(fd, "still here\n", 11);
                    close(fd);
                }
                fd = open("/work/daemon-marker", O_WRONLY | O_CREAT | O_APPEND, 0644);
                if (fd >= 0) {
                    write(fd, "still here\n", 11);
                    close(fd);
                }
                usleep(5000);
            }
        }
        _exit(0);
    }
    printf("daemon started\n");
    return 0;
}

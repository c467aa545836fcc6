// Attack: a zombie pile-up. Forks children that exit at once and are never waited for, until
// fork fails; then reports how many zombies it holds, keeps them a moment and exits 0 without
// reaping them.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    long n = 0;
    int err = 0;
    for (; n < 100000; n++) {
        pid_t pid = fork();
        if (pid < 0) {
            err = errno;
            break;
        }
        if (pid == 0)
            _exit(0);
    }
    printf("zombies %ld: %s\n", n, err == EAGAIN ? "EAGAIN" : strerror(err));
    fflush(stdout);
    usleep(100000);
    return 0;
}

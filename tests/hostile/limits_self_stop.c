// Attack: stop instead of exiting. A child stops itself with SIGSTOP, then the program stops
// itself too, hoping a stopped process escapes the wall clock or the final kill.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    if (fork() == 0) {
        raise(SIGSTOP);
        return 0;
    }
    printf("stopping\n");
    fflush(stdout);
    raise(SIGSTOP);
    printf("resumed\n");
    return 0;
}

// Attack: burn CPU in four child processes and wait for them, hoping CPU time is only counted
// for the parent (per-process RLIMIT_CPU, rusage of the parent).
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    for (int i = 0; i < 4; i++) {
        if (fork() == 0) {
            volatile unsigned long n = 0;
            for (;;)
                n++;
        }
    }
    while (wait(NULL) > 0)
        ;
    return 0;
}

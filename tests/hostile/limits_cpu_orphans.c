// Attack: burn CPU in orphaned (double-forked) children the program never waits for, hoping
// the CPU is not counted or the spinners outlive the run.
//   ./prog exit  - the program exits 0 right after starting the spinners
//   ./prog stay  - the program sleeps (using no CPU itself) while the orphans spin
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int stay = argc > 1 && strcmp(argv[1], "stay") == 0;
    for (int i = 0; i < 4; i++) {
        pid_t child = fork();
        if (child == 0) {
            if (fork() == 0) {
                volatile unsigned long n = 0;
                for (;;)
                    n++;
            }
            _exit(0); // the spinner is now an orphan
        }
    }
    if (stay)
        for (;;)
            pause();
    return 0;
}

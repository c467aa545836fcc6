// Attack: block forever reading stdin (an interactive pipe whose writer never closes it).
// Echoes whatever arrives, so the test can see the pipe works before the program blocks.
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char buf[4096];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n <= 0) {
            printf("stdin closed (%zd)\n", n);
            return 0;
        }
        printf("got: %.*s", (int)n, buf);
        fflush(stdout);
    }
}

// Attack: a memory bomb. malloc + memset 1 MiB at a time, forever, so every page is really
// used (not just reserved). With an argument N it stops after N MiB, prints and exits 0 (a
// well-behaved program, used to check the sandbox still works after a bomb).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    long limit_mib = argc > 1 ? atol(argv[1]) : -1;
    long mib = 0;
    while (limit_mib < 0 || mib < limit_mib) {
        char *p = malloc(1 << 20);
        if (!p) {
            printf("malloc failed after %ld MiB\n", mib);
            return 3;
        }
        memset(p, 0xa5, 1 << 20);
        mib++;
    }
    printf("allocated %ld MiB\n", mib);
    return 0;
}

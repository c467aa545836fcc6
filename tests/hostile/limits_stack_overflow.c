// Attack: unbounded recursion until the stack (RLIMIT_STACK) runs out: SIGSEGV.
#include <stdio.h>

static int recurse(volatile int depth) {
    volatile char frame[1024];
    frame[0] = (char)depth;
    return recurse(depth + 1) + frame[0];
}

int main(void) {
    printf("%d\n", recurse(0));
    return 0;
}

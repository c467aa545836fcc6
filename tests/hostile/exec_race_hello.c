/* A compiled program that prints its argument: the exec race test runs many of these. */
#include <stdio.h>

int main(int argc, char **argv) {
    printf("hello %s\n", argc > 1 ? argv[1] : "");
    return 0;
}

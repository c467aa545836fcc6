// Attack: bypass a filter written for x86_64 by making the same call through the x32 ABI
// (syscall number | 0x40000000). The process must be killed (SIGSYS) before "survived".
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    printf("before\n");
    fflush(stdout);
    syscall(0x40000000L | SYS_getpid);
    printf("survived\n");
    return 0;
}

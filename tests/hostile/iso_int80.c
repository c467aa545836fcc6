// Attack: bypass a filter written for x86_64 through the i386 ABI: `int $0x80` with eax = 20
// (getpid on i386; number 20 is writev on x86_64, so a filter that forgot the architecture
// would judge the wrong call). The process must be killed (SIGSYS) before "survived".
#include <stdio.h>

int main(void) {
    printf("before\n");
    fflush(stdout);
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
    printf("survived %ld\n", ret);
    return 0;
}

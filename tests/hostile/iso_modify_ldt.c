// Attack: install a segment in the process's local descriptor table (modify_ldt), the old
// door to 16-bit code and segment tricks through which kernel bugs were reached. Writing and
// reading the LDT must both fail with EPERM (seccomp).
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    struct user_desc d;
    memset(&d, 0, sizeof d);
    d.entry_number = 0;
    d.limit = 0xfffff;
    d.seg_32bit = 1;
    d.limit_in_pages = 1;
    d.useable = 1;
    long r = syscall(SYS_modify_ldt, 1, &d, sizeof d);
    printf("modify_ldt-write %s\n", r == 0 ? "ok" : strerrorname_np(errno));
    char buf[64];
    r = syscall(SYS_modify_ldt, 0, buf, sizeof buf);
    printf("modify_ldt-read %s\n", r >= 0 ? "ok" : strerrorname_np(errno));
    return 0;
}

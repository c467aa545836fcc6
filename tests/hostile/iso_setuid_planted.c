// Attack: run a setuid/setgid program owned by the sandbox's own root (the id its init runs
// as) to become that root. The test plants this binary, mode 6755, in a directory bound
// read-only into the sandbox; the program prints its own mode and owner, its real/effective/
// saved ids, and tries setuid(0). nosuid and no_new_privs must keep every id at 1000.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    struct stat st;
    if (stat("/proc/self/exe", &st) != 0)
        return 2;
    printf("mode %o owner %u:%u\n", st.st_mode & 07777, st.st_uid, st.st_gid);
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    printf("uid %u %u %u\n", ru, eu, su);
    printf("gid %u %u %u\n", rg, eg, sg);
    if (setuid(0) == 0)
        printf("setuid(0) ok\n");
    else
        printf("setuid(0) %s\n", strerrorname_np(errno));
    return 0;
}

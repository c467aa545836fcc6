// Attack: read the server's secrets from the environment — the program's own environment and
// /proc/self/environ. Prints both, one variable per line: only the sandbox's defaults (PATH,
// HOME, TMPDIR, LANG, USER) may be there.
#include <stdio.h>
#include <string.h>

extern char **environ;

int main(void) {
    for (char **e = environ; *e; e++)
        printf("env %s\n", *e);
    FILE *f = fopen("/proc/self/environ", "r");
    if (!f)
        return 2;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        printf("proc %s\n", buf + i);
    return 0;
}

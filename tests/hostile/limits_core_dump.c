// Attack: dump core (abort) to fill the disk with core files. A child aborts first and the
// parent reports whether the kernel says it dumped core and whether a core file appeared;
// then the program aborts itself. Also shows its core limit from /proc/self/limits.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    FILE *f = fopen("/proc/self/limits", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Max core file size", 18) == 0)
            fputs(line, stdout);
    if (f)
        fclose(f);
    pid_t pid = fork();
    if (pid == 0)
        abort();
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child signal %d, core dumped %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0,
           WCOREDUMP(status) ? 1 : 0);
    int cores = 0;
    DIR *d = opendir(".");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, "core", 4) == 0)
            cores++;
    if (d)
        closedir(d);
    printf("core files %d\n", cores);
    fflush(stdout);
    abort();
}

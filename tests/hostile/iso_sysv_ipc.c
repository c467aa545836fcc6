// Attack: reach the host's (or another run's) System V shared memory, message queues and
// semaphores. argv[1] is the key of a shared memory segment the test created on the host:
// shmget must not find it (ENOENT), and /proc/sysvipc must list nothing.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

static int entries(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int n = -1; // the header line
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    key_t key = (key_t)strtol(argv[1], NULL, 0);
    int id = shmget(key, 0, 0);
    printf("shmget host key %s\n", id >= 0 ? "FOUND" : strerrorname_np(errno));
    if (id >= 0) {
        void *p = shmat(id, NULL, SHM_RDONLY);
        printf("shmat %s\n", p == (void *)-1 ? strerrorname_np(errno) : "ATTACHED");
    }
    printf("shm entries %d\n", entries("/proc/sysvipc/shm"));
    printf("msg entries %d\n", entries("/proc/sysvipc/msg"));
    printf("sem entries %d\n", entries("/proc/sysvipc/sem"));
    return 0;
}

// Attack: System V shared memory. A 1 GiB segment outlives the processes that use it (until
// IPC_RMID or the end of its IPC namespace); touching it hopes to escape the memory limit.
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(void) {
    size_t size = (size_t)1 << 30;
    int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
    if (id < 0) {
        perror("shmget 1 GiB");
        return 3;
    }
    char *p = shmat(id, NULL, 0);
    if (p == (void *)-1) {
        perror("shmat");
        return 4;
    }
    printf("attached 1 GiB\n");
    fflush(stdout);
    for (size_t i = 0; i < size; i += 4096)
        p[i] = 1;
    printf("touched all 1 GiB\n");
    return 0;
}

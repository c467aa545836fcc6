// Attack: reserve a huge region (8 GiB, MAP_NORESERVE, so the reservation itself succeeds),
// then touch it page by page: the memory is only charged when touched.
#include <stdio.h>
#include <sys/mman.h>

int main(void) {
    size_t size = (size_t)8 << 30;
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap 8 GiB");
        return 3;
    }
    printf("mapped 8 GiB\n");
    fflush(stdout);
    for (size_t i = 0; i < size; i += 4096)
        p[i] = 1;
    printf("touched all 8 GiB\n");
    return 0;
}

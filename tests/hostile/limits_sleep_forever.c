// Attack: sleep forever without using any CPU, holding a sandbox slot.
#include <unistd.h>

int main(void) {
    for (;;)
        pause();
}

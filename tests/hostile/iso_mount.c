// Attack: change the filesystem view to reach host files — mount a tmpfs over /tmp, bind
// /proc elsewhere, unmount /proc, pivot_root, chroot, the new mount API (fsopen, fspick,
// open_tree, move_mount, mount_setattr) and file handles (open_by_handle_at, the "shocker"
// container escape). Every call must fail with EPERM (seccomp).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s ok\n", what);
    fflush(stdout);
}

int main(void) {
    report("mount-tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
    report("mount-bind", mount("/proc", "/tmp", NULL, MS_BIND, NULL));
    report("mount-remount-rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
    report("umount-proc", umount2("/proc", MNT_DETACH));
    report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    report("chroot", chroot("/tmp"));
    report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    report("fspick", syscall(SYS_fspick, AT_FDCWD, "/", 0));
    report("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/proc", 1 /* OPEN_TREE_CLONE */));
    report("move_mount", syscall(SYS_move_mount, AT_FDCWD, "/proc", AT_FDCWD, "/tmp", 0));
    char attr[32] = {0};
    report("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, attr, sizeof attr));

    struct file_handle *h = malloc(sizeof *h + 128);
    h->handle_bytes = 128;
    int mount_id;
    report("name_to_handle_at", name_to_handle_at(AT_FDCWD, "/work", h, &mount_id, 0));
    // The shocker escape: a handle guessed for the host's root inode (ext4: inode 2).
    h->handle_bytes = 8;
    h->handle_type = 1;
    memset(h->f_handle, 0, 8);
    h->f_handle[0] = 2;
    report("open_by_handle_at", open_by_handle_at(AT_FDCWD, h, O_RDONLY));
    return 0;
}

// Attack: the kernel's most-exploited interfaces for local privilege escalation and side
// channels — bpf(2) (map and program creation), perf_event_open(2) and userfaultfd(2) (used
// to win kernel races). Each must fail with EPERM (seccomp).
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s %s\n", what, strerrorname_np(errno));
    else
        printf("%s ok\n", what);
}

int main(void) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    report("bpf-map-create", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
    struct bpf_insn prog[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = (unsigned long)prog;
    attr.insn_cnt = 2;
    attr.license = (unsigned long)"GPL";
    report("bpf-prog-load", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));

    struct perf_event_attr pe;
    memset(&pe, 0, sizeof pe);
    pe.type = PERF_TYPE_SOFTWARE;
    pe.size = sizeof pe;
    pe.config = PERF_COUNT_SW_CPU_CLOCK;
    pe.disabled = 1;
    pe.exclude_kernel = 1;
    report("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));

    report("userfaultfd", syscall(SYS_userfaultfd, 0));
    return 0;
}

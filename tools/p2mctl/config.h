/*
 * Scenario files for `p2mctl run`, in xl's style: one `key = value` per
 * line, strings in double quotes, numbers bare, '#' comments.
 *
 * The guest (xl's keys):
 *   name = "g1"            memory = 8192 (MiB, required)
 *   maxmem = 16384         (MiB, default memory; above memory: PoD)
 *   vcpus = 4              hap = "npt" | "ept"
 *   superpages = "1g" | "2m" | "4k"   (the largest extent; default 1g)
 *   cpu_1g = 1 | 0         (0: the CPU cannot map 1G pages)
 *   mmio_hole = 256        (MiB below 4 GiB)
 * The host:
 *   host = "64G"           (top of machine memory; default 64G)
 *   host_ram = "0-3G,4G-64G"          (RAM ranges; default all of host)
 *   dom0_mem = 2048        (MiB other domains hold)
 *   fragment = "none" | "no1g" | "no2m" | "30%" (share of the free 1G
 *              blocks broken: those dom0_mem and the host's own tables
 *              leave whole)
 * The run:
 *   workload = "windows-boot" | "linux-boot" | "random" | "trace:<file>"
 *              (a valgrind lackey trace, relative to the scenario file)
 *   target = 8192          (MiB the balloon driver goes to; default memory)
 *   accesses = 20000       (random: accesses per vCPU)
 *   seed = 1               dirty = 1024 (pages the log-dirty round writes)
 *   oom_step = 256         (MiB the toolstack adds to the PoD target when a
 *                           vCPU is paused for PoD exhaustion)
 */
#ifndef P2MCTL_CONFIG_H
#define P2MCTL_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <asm-x86/p2m.h>

enum cfg_workload {
    WL_WINDOWS_BOOT,    /* every vCPU zeroes its share of RAM, then works */
    WL_LINUX_BOOT,      /* touches a little, works in a small set */
    WL_RANDOM,          /* random page reads and writes */
    WL_TRACE,           /* replays a valgrind lackey trace */
};

enum cfg_fragment {
    CFG_FRAG_NONE,
    CFG_FRAG_NO1G,      /* no free 1 GiB block left (heap_fragment) */
    CFG_FRAG_NO2M,      /* no free 2 MiB block left */
    CFG_FRAG_PERCENT,   /* frag_pct % of the free 1 GiB blocks broken */
};

struct run_config {
    char path[PATH_MAX];            /* the file, for messages */
    char name[64];
    uint64_t memory, maxmem;        /* MiB; PoD when memory < maxmem */
    uint64_t target;                /* MiB the balloon driver goes to */
    uint64_t mmio_hole;             /* MiB */
    enum p2m_format fmt;
    unsigned int max_order;         /* superpages: 18, 9 or 0 */
    bool cpu_1g;                    /* the CPU can map 1G pages */
    unsigned int vcpus;
    uint64_t host_top;              /* bytes of machine address space */
    unsigned int nr_ram;
    struct machine_range ram[MACHINE_MAX_RANGES];
    uint64_t host_ram_pages;
    uint64_t dom0_mem;              /* MiB other domains hold on the host */
    enum cfg_fragment fragment;
    unsigned int frag_pct;
    enum cfg_workload workload;
    char trace[PATH_MAX];           /* WL_TRACE: the file (resolved) */
    uint64_t accesses;              /* WL_RANDOM: accesses per vCPU */
    uint64_t seed;
    uint64_t dirty;                 /* pages the log-dirty round writes */
    uint64_t oom_step;              /* MiB added to the target on a pause */
};

/*
 * Read and check the whole file.  Every problem is reported on stderr as
 * "<path>:<line>: <key>: <what is wrong>" (problems with no line, such as a
 * missing key, as "<path>: <key>: ...").  Returns 0, or -1 when the file
 * is not valid as a whole; nothing else happens until it is.
 */
int config_load(const char *path, struct run_config *cfg);

const char *cfg_workload_name(enum cfg_workload w);
const char *cfg_fragment_name(const struct run_config *cfg, char *buf,
                              unsigned int len);

#endif /* P2MCTL_CONFIG_H */

/*
 * `p2mctl run`: the main job.  On a hosted machine built from a scenario
 * file it builds an HVM guest, runs a workload on its vCPUs, balloons it
 * to its target, sweeps, does a log-dirty round, audits, destroys it and
 * checks that the host got every page back.  run.c drives the phases,
 * report.c prints the table, the JSON document, the dump and the plot.
 */
#ifndef P2MCTL_RUN_H
#define P2MCTL_RUN_H

#include <pthread.h>
#include <stdio.h>

#include <xen/mm.h>

#include "config.h"
#include "workload.h"
#include "xc_hvm_build.h"

#define RUN_GUEST_ID 1      /* the guest */
#define RUN_FILLER_ID 0     /* holds the frames that fragment the host */
#define RUN_MAX_SNAPS 12
#define RUN_MAX_OOM 32

/*
 * p2mctl run <scenario.cfg> [--json] [--plot out.png] [--dump file]
 *            [--build-only]
 * argv[0] is "run".  Returns the exit status: 0 all checks passed, 1 a
 * check failed (audit, leak, lost data, crash), 2 bad usage, a bad
 * scenario file or a failed build.
 */
int p2mctl_run(int argc, char **argv);

struct run_opts {
    const char *cfg;
    bool json;
    const char *plot;
    const char *dump;
    FILE *dump_file;        /* opened before anything is built */
    bool build_only;
};

/* The guest and the host at the end of a phase. */
struct run_snap {
    const char *phase;
    double start, seconds;
    bool guest;                     /* the fields below describe a guest */
    uint64_t leaves[P2M_LEAF_LEVELS]; /* P2M leaves, by p2m_level_idx */
    uint64_t filled[POD_ORDERS], swept[POD_ORDERS]; /* PoD fills, reclaims */
    uint64_t populated, pod_cache, pod_entries, tot_pages, target;
    uint64_t splits, merges, table_pages;
    uint64_t host_free;
};

/* One point of the time series behind the plot (pages). */
struct run_sample {
    double t;
    /* mapped: pages in leaves of each size, by p2m_level_idx */
    uint64_t populated, cache, entries, mapped[P2M_LEAF_LEVELS], host_free;
};

/* A vCPU paused for PoD exhaustion, and what the toolstack did. */
struct run_oom {
    double t;
    unsigned int vcpu;
    uint64_t gfn, target_before, target_after;
};

struct run {
    struct run_opts opt;
    struct run_config cfg;
    double t0;

    /* host */
    bool have_host;                     /* the machine is built */
    struct domain *filler;
    uint64_t frag_blocks, frag_broken;  /* free 1G blocks / broken */
    uint8_t *frag_held;                 /* 1G blocks the filler holds */
    struct heap_stats host;             /* after fragmentation */
    uint64_t free_before, free_after, host_leak;
    int host_heap_bad;

    /* guest */
    struct domain *d;
    struct xc_hvm_build_report build;
    int build_rc;                       /* 0, or why the build failed */
    uint64_t target_pages;
    struct workload wl;
    bool have_wl;
    struct wl_vcpu boot, dirty, verify;

    unsigned int nr_snaps;
    struct run_snap snap[RUN_MAX_SNAPS];
    struct run_sample *series;
    size_t nr_series, cap_series;

    unsigned int nr_oom;
    struct run_oom oom[RUN_MAX_OOM];
    uint64_t oom_total;
    const char *oom_failed;             /* why the toolstack gave up */

    /* balloon_chunks: chunks given back, by p2m_level_idx of their size */
    uint64_t balloon_released, balloon_chunks[P2M_LEAF_LEVELS];
    uint64_t balloon_floor;
    uint64_t held_after;
    int64_t swept;
    int64_t dirty_found;
    uint64_t dirty_expected, dirty_missing, dirty_splits, dirty_merges;
    uint64_t dirty_pod_pages;           /* populated on demand meanwhile */
    unsigned int audit_errors;
    int pod_bad, heap_bad;
    bool crashed, leak, ran_balloon, ran_logdirty, ran_sweep;
    int status;                         /* the exit status */

    /* progress, printed by the ticker thread */
    pthread_mutex_t lock;
    const char *phase;
    double phase_start;
    char detail[96];
    bool ticker_stop, have_ticker;
    pthread_t ticker;
};

double run_now(const struct run *r);
/* Add a point to the time series (at most one per 50 ms unless force). */
void run_sample(struct run *r, bool force);

void report_table(FILE *f, const struct run *r);
void report_json(FILE *f, const struct run *r);
/* Write the P2M of the guest to f (opened on path), close it; 0 or -1. */
int report_dump(const struct run *r, FILE *f, const char *path);
/* Write the series, run tools/plot.py.  0, or -1 after a message. */
int report_plot(const struct run *r, const char *png);
/* Human size of a number of 4K pages ("8.00 GiB"). */
const char *report_size(char *buf, size_t len, uint64_t pages);

#endif /* P2MCTL_RUN_H */

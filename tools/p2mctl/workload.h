/*
 * Guest workloads for `p2mctl run`: one thread per vCPU of the domain,
 * each touching guest memory only through hosted_guest_* (its software
 * TLB, the P2M and the fault handler, PoD faults included).
 *
 * A vCPU paused for PoD exhaustion waits until the toolstack resumes it
 * (p2m_pod_resume) and retries the access.  What the guest writes is a
 * value derived from the gfn, so later phases can check that no write was
 * lost (wl_value).
 */
#ifndef P2MCTL_WORKLOAD_H
#define P2MCTL_WORKLOAD_H

#include <pthread.h>

#include "config.h"
#include "xc_hvm_build.h"

enum wl_phase {
    WL_PHASE_BOOT,      /* the scenario's workload */
    WL_PHASE_DIRTY,     /* write the log-dirty round's pages */
    WL_PHASE_VERIFY,    /* read back every page written */
};

struct wl_vcpu {
    struct workload *w;
    unsigned int id;
    uint64_t done, total;       /* accesses, for progress */
    uint64_t reads, writes, fills;
    uint64_t pauses;            /* accesses that found the vCPU paused */
    uint64_t bad;               /* values that were not what was written */
    int error;                  /* -EFAULT: the domain crashed */
};

struct wl_trace_rec { uint64_t page; bool write; };

struct workload {
    const struct run_config *cfg;
    struct domain *d;
    struct xc_hvm_layout ram;   /* guest RAM, less what was ballooned */
    uint64_t ram_pages;
    uint64_t wset;              /* pages of the data set at the bottom */
    uint8_t *written;           /* gfn bitmaps: word wl_value was written */
    uint8_t *filled;            /* ... the whole page holds wl_value */
    uint64_t top;               /* bitmaps cover [0, top) */
    struct wl_trace_rec *trace;
    size_t nr_trace;
    enum wl_phase phase;
    unsigned int running;       /* threads not finished */
    unsigned int arrived;       /* threads at the windows-boot barrier */
    pthread_t th[MAX_VCPUS];
    struct wl_vcpu vc[MAX_VCPUS];
    bool stop;
};

/*
 * Read what the workload of cfg needs from files (the trace), before
 * anything is built.  0, or -1 after a message naming the bad line.
 */
int workload_load(struct workload *w, const struct run_config *cfg);
/*
 * Prepare the loaded workload w for guest d of layout l.  target_pages
 * sizes the data set.  0, or -1 after a message (w is then finished).
 */
int workload_init(struct workload *w, const struct run_config *cfg,
                  struct domain *d, const struct xc_hvm_layout *l,
                  uint64_t target_pages);
void workload_fini(struct workload *w);

/* The guest gave back every RAM page at or above gfn floor. */
void workload_set_floor(struct workload *w, uint64_t floor);

/* Start one thread per vCPU running phase ph.  0 or -errno. */
int workload_start(struct workload *w, enum wl_phase ph);
/* Accesses done and planned so far; false once every thread finished. */
bool workload_progress(struct workload *w, uint64_t *done, uint64_t *total);
/* Wait for the threads (after they finished or after workload_stop). */
void workload_join(struct workload *w);
void workload_stop(struct workload *w);

/* Totals over the vCPUs of the last phase. */
void workload_totals(const struct workload *w, struct wl_vcpu *sum);

/* The i-th of n gfns the log-dirty round writes (spread over the RAM). */
uint64_t workload_dirty_gfn(const struct workload *w, uint64_t i);

/* The value the guest stores at gfn, and the byte offset of its word. */
static inline uint64_t wl_value(uint64_t gfn)
{
    return (gfn * 0x9e3779b97f4a7c15ull) | 1;
}

static inline unsigned int wl_offset(uint64_t gfn)
{
    return (gfn % 512) * 8;
}

#endif /* P2MCTL_WORKLOAD_H */

/* Domains and vCPUs. */
#ifndef XEN_SCHED_H
#define XEN_SCHED_H

#include <asm-x86/p2m.h>
#include <xen/list.h>
#include <xen/types.h>

#define MAX_DOMAINS 16
#define MAX_VCPUS 8
#define DOMAIN_MAX_IOMEM 8

struct vcpu {
    unsigned int vcpu_id;
    struct domain *domain;
    void *plat;                 /* platform state (hosted: software TLB) */
    bool paused;                /* waiting for memory (PoD exhaustion) */
    uint64_t pod_inflight;      /* gfn << 2 | level filled for an access
                                 * this vCPU has not done yet, or 0 */
    uint64_t pod_working;       /* the same once done, until the next fault:
                                 * the leaf this vCPU is working in */
    /* p2m_fault_progress: the last fault's gfn and P2M generation. */
    uint64_t fault_gfn, fault_gen;
    unsigned int fault_repeats;
    /* The PoD sweep policy at this vCPU's faults: passes, pages reclaimed. */
    uint64_t fault_sweeps, fault_swept;
};

struct domain {
    domid_t domain_id;
    bool in_use;
    bool is_dying;
    bool crashed;

    /* Under the heap lock: the chunks this domain owns, and their sum. */
    struct list_head page_list;
    uint64_t tot_pages;         /* guest memory (PGU_DOMAIN frames) */
    uint64_t p2m_pages;         /* table pages, pool included (PGU_P2M) */
    uint64_t max_pages;

    struct p2m_domain p2m;

    /* MMIO the toolstack let this domain map (under the P2M lock). */
    unsigned int nr_iomem;
    struct machine_range iomem[DOMAIN_MAX_IOMEM];

    unsigned int nr_vcpus;
    struct vcpu vcpu[MAX_VCPUS];
};

/* Create domain domid with a P2M of format fmt.  NULL and *err on failure. */
struct domain *domain_create(domid_t domid, enum p2m_format fmt,
                             uint64_t max_pages, unsigned int nr_vcpus,
                             int *err);
/* Free everything the domain holds. */
void domain_destroy(struct domain *d);
struct domain *domain_lookup(domid_t domid);
/*
 * Let d map the machine's MMIO frames [mfn, mfn + nr) (Xen's iomem
 * permission).  -EINVAL unless the range lies inside one range the machine
 * declared as MMIO; -ENOSPC when d holds DOMAIN_MAX_IOMEM ranges.
 */
int domain_iomem_permit(struct domain *d, mfn_t mfn, uint64_t nr);
/* P2M lock held: 0 when d may map [mfn, mfn + 2^order) as MMIO, else
 * -EPERM. */
int domain_iomem_allowed(const struct domain *d, mfn_t mfn,
                         unsigned int order);

/* Stop the domain: it can no longer run; its memory stays until destroy.
 * gfn is the access it stopped on, or INVALID_GFN when there is none. */
void domain_crash(struct domain *d, const char *why, gfn_t gfn);

/*
 * Every memory figure of d (P2M leaves per level, tables, splits, PoD
 * cache and counters, pages held, host free pages) as name/value pairs,
 * in a fixed order; boolean figures have is_bool set.
 */
typedef void (*domain_stat_fn)(void *ctx, const char *name, uint64_t value,
                               bool is_bool);
void domain_stats_each(struct domain *d, domain_stat_fn fn, void *ctx);

/* Platform: invalidate cached guest translations of every vCPU of d. */
void plat_flush_guest_tlb(struct domain *d);

#endif /* XEN_SCHED_H */

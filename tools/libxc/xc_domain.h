/*
 * Toolstack view of a domain and its memory: thin wrappers over domain
 * creation and the memory ops of xen/memory.h, addressed by domain id the
 * way a toolstack calls the hypervisor.  Each call on a domain returns
 * -ESRCH when no such domain exists.
 */
#ifndef XC_DOMAIN_H
#define XC_DOMAIN_H

#include <asm-x86/p2m-pod.h>
#include <xen/memory.h>
#include <xen/sched.h>

/*
 * Create domain domid: a P2M of format fmt, at most max_pages of memory,
 * nr_vcpus vCPUs.  0 and *out (the hosted toolstack's handle of the
 * domain), or -EINVAL (bad arguments) or -EEXIST (domid in use), or
 * -ENOMEM.
 */
int xc_domain_create(domid_t domid, enum p2m_format fmt, uint64_t max_pages,
                     unsigned int nr_vcpus, struct domain **out);
/* Destroy the domain and give back everything it holds.  0 or -ESRCH. */
int xc_domain_destroy(domid_t domid);

/*
 * Cap the domain's P2M leaves at order (0, 9 or 18: the superpage setting
 * or a CPU without 1G pages).  0, -EDOM for another order, -EBUSY while
 * larger leaves exist, -ESRCH.
 */
int xc_domain_set_max_order(domid_t domid, unsigned int order);

/*
 * What a range memory op did (the convention of xen/memory.h): extents
 * done from the first, the 4K pages they changed, and how many times the
 * op was called (once plus once per continuation).
 */
struct xc_memop_result {
    uint64_t nr_done;
    uint64_t pages;
    unsigned int calls;
};

/*
 * populate_physmap: nr extents of 2^order pages from gfn (MEMOP_POD in
 * flags marks them populate-on-demand instead of allocating).  Returns 0
 * when all nr are done, else the error that stopped extent out->nr_done:
 * -ENOMEM when the heap had no extent of that size (the caller can fall
 * back to smaller ones), argument errors (-EDOM, -EINVAL, -ERANGE,
 * -ENOSPC, nothing done), -ESRCH.  out is always filled in.
 */
int xc_domain_populate_physmap(domid_t domid, uint64_t gfn, uint64_t nr,
                               unsigned int order, unsigned int flags,
                               struct xc_memop_result *out);

/*
 * decrease_reservation: give back nr extents of 2^order pages from gfn
 * (the balloon driver's call).  The op is re-issued at each continuation
 * (-ERESTART), so the P2M lock is never held for the whole of a large
 * request.  Returns 0 when all nr are done, else the error that stopped
 * extent out->nr_done (which changed nothing; the extents before it stay
 * given back and out->pages says how many pages they released).
 */
int xc_domain_decrease_reservation(domid_t domid, uint64_t gfn, uint64_t nr,
                                   unsigned int order,
                                   struct xc_memop_result *out);

/* Set the PoD memory target, in pages.  0, -EINVAL or -ENOMEM. */
int xc_domain_set_pod_target(domid_t domid, uint64_t target_pages);
/* The target and what backs it (pages).  0 or -ESRCH. */
int xc_domain_get_pod_target(domid_t domid, struct memory_pod_info *info);

struct xc_domain_pages {
    uint64_t tot_pages;         /* guest memory held (PoD cache included) */
    uint64_t max_pages;
    uint64_t p2m_pages;         /* table pages, pool included */
    uint64_t pod_cache;         /* pages in the PoD cache */
    uint64_t pod_entries;       /* 4K pages under PoD entries */
};
/* What the domain holds.  0 or -ESRCH. */
int xc_domain_get_pages(domid_t domid, struct xc_domain_pages *out);

/* The PoD cache per order and the PoD counters.  0 or -ESRCH. */
int xc_domain_get_pod_stats(domid_t domid, struct pod_stats *out);

#endif /* XC_DOMAIN_H */

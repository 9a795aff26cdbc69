/*
 * Toolstack view of a domain's memory: thin wrappers over the memory ops
 * of xen/memory.h, addressed by domain id the way a toolstack calls the
 * hypervisor.  Each returns -ESRCH when no such domain exists.
 */
#ifndef XC_DOMAIN_H
#define XC_DOMAIN_H

#include <xen/memory.h>
#include <xen/sched.h>

/*
 * populate_physmap: nr extents of 2^order pages from gfn (MEMOP_POD in
 * flags marks them populate-on-demand instead of allocating).  Returns the
 * number of extents done; fewer than nr (0 included) only when the heap ran
 * out of extents of that size, so the caller can fall back to smaller ones.
 * Argument errors (nothing done): -EDOM, -EINVAL, -ERANGE, -ENOSPC, ...
 */
int64_t xc_domain_populate_physmap(domid_t domid, uint64_t gfn, uint64_t nr,
                                   unsigned int order, unsigned int flags);

/*
 * decrease_reservation: give back nr extents of 2^order pages from gfn
 * (the balloon driver's call).  Returns the pages released, or -errno.
 */
int64_t xc_domain_decrease_reservation(domid_t domid, uint64_t gfn,
                                       uint64_t nr, unsigned int order);

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

#endif /* XC_DOMAIN_H */

/*
 * Memory operations, the hypercall-style interface a toolstack or guest
 * uses.  Each validates its arguments and changes nothing on error.
 */
#ifndef XEN_MEMORY_H
#define XEN_MEMORY_H

#include <asm-x86/p2m.h>

struct domain;

/*
 * Allocate a zeroed 2^order extent for d and map it at gfn.  *mfn gets the
 * frame.  -ENOSPC beyond max_pages, -ENOMEM when the heap has no such
 * extent, or any p2m_set_entry error.
 */
int memory_populate(struct domain *d, gfn_t gfn, unsigned int order,
                    p2m_type_t t, p2m_access_t a, mfn_t *mfn);

/*
 * Map frames the caller names: free frames become d's first; frames d owns
 * already are remapped.  p2m_set_entry errors, or -EBUSY when some are held
 * by the heap in a way that cannot be claimed.
 */
int memory_map_frames(struct domain *d, gfn_t gfn, mfn_t mfn,
                      unsigned int order, p2m_type_t t, p2m_access_t a);

#define MEMOP_POD (1u << 0)     /* populate_physmap: mark PoD, no memory */

/*
 * populate_physmap: nr extents of 2^order pages at gfn, gfn + 2^order, ...
 * Arguments are all checked first (-EDOM, -EINVAL, -ERANGE, -ENOSPC beyond
 * max_pages); then extents are filled in order.  Returns the number of
 * extents done, which is less than nr only when the heap ran out (as Xen's
 * hypercall does, so the caller can fall back to smaller extents).
 */
int64_t memory_populate_physmap(struct domain *d, gfn_t gfn, uint64_t nr,
                                unsigned int order, unsigned int flags);

/*
 * decrease_reservation: the guest gives back nr extents of 2^order pages
 * from gfn (need not be aligned).  Returns the pages released, or -errno.
 */
int64_t memory_decrease_reservation(struct domain *d, gfn_t gfn, uint64_t nr,
                                    unsigned int order);

/* Set the PoD memory target in pages; runs the bounded steps to the end. */
int memory_set_pod_target(struct domain *d, uint64_t target);

struct memory_pod_info {
    uint64_t target, tot_pages, pod_cache, pod_entries, max_pages;
};
int memory_get_pod_target(struct domain *d, struct memory_pod_info *info);

#endif /* XEN_MEMORY_H */

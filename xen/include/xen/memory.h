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
 * A range memory op: nr extents of 2^order pages at gfn, gfn + 2^order, ...
 * and how far it got.  The one convention of every range op, from here up
 * through libxc to the CLI: the op does extents in order, each all or
 * nothing, and says exactly what it did:
 *   - nr_done: extents done (Xen's nr_done); a call starts at this one, so
 *     a caller continues a request by calling again with the same struct;
 *   - pages: 4K pages the done extents changed (released, populated);
 *   - the return value: 0 when all nr extents are done; -ERESTART when the
 *     op stopped after a bounded amount of work (a continuation: call
 *     again); else the error that stopped it at extent nr_done, which
 *     changed nothing.  Argument errors come before any extent is done.
 */
struct memop_range {
    gfn_t gfn;
    uint64_t nr;
    unsigned int order;
    unsigned int flags;         /* MEMOP_* */
    uint64_t nr_done;           /* in/out */
    uint64_t pages;             /* in/out: accumulates */
};

/*
 * populate_physmap: MEMOP_POD marks the extents populate-on-demand, else
 * each gets a fresh zeroed extent.  The remaining extents are checked as
 * a whole first (-EDOM, -EINVAL, -ERANGE, -ENOSPC beyond max_pages).  An
 * extent fails with -ENOMEM when the heap has no extent of that size or
 * no table page is left (a toolstack then falls back to smaller extents).
 * No continuation: bounded by max_pages.
 */
int memory_populate_physmap_op(struct domain *d, struct memop_range *r);

/*
 * decrease_reservation: the guest gives back the extents (gfn need not be
 * aligned).  Bounded work per call under one P2M lock hold and one flush
 * (p2m_pod_decrease_reservation): a request of 2^32 extents comes back
 * with -ERESTART many times.  -EDOM for an order above 18, -ERANGE.
 */
int memory_decrease_reservation_op(struct domain *d, struct memop_range *r);

/*
 * The same ops in the form of a guest hypercall that returns one register
 * (hvm.c; the fuzzer): the op runs to the end, continuations included,
 * and returns what was done -- extents for populate_physmap, pages for
 * decrease_reservation -- or the error when nothing was done (Xen's
 * rule: a caller that gets less than it asked for looks at what it has).
 */
int64_t memory_populate_physmap(struct domain *d, gfn_t gfn, uint64_t nr,
                                unsigned int order, unsigned int flags);
int64_t memory_decrease_reservation(struct domain *d, gfn_t gfn, uint64_t nr,
                                    unsigned int order);

/* Set the PoD memory target in pages; runs the bounded steps to the end. */
int memory_set_pod_target(struct domain *d, uint64_t target);

struct memory_pod_info {
    uint64_t target, tot_pages, pod_cache, pod_entries, max_pages;
};
int memory_get_pod_target(struct domain *d, struct memory_pod_info *info);

#endif /* XEN_MEMORY_H */

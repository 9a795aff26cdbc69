/*
 * Populate-on-demand: guest memory marked PoD is backed by a per-domain cache
 * of zeroed pages (1G, 2M and 4K lists) on first access, and reclaimed by a
 * zero-check sweeper.  Accounting, with M = max_pages, B = pages the guest
 * believes it has, T = tot_pages (pages held), P = populated pages,
 * count = pages in the cache and entry_count = 4K pages under PoD entries:
 *
 *     0 <= P <= T <= B <= M,   entry_count = B - P,   T = P + count.
 *
 * The cache never holds more than the PoD entries need (T <= B).
 * Lock order: P2M lock, PoD lock, heap lock.
 */
#ifndef ASM_X86_P2M_POD_H
#define ASM_X86_P2M_POD_H

#include <asm-x86/p2m.h>

struct domain;
struct vcpu;

void p2m_pod_init(struct p2m_domain *p2m);
/* Give every cache page back to the heap (domain destruction). */
void p2m_pod_teardown(struct p2m_domain *p2m);

/*
 * Mark [gfn, gfn + nr) populate-on-demand, in the largest aligned entries
 * (1G at L3, 2M at L2).  The range must hold no RAM mappings (-EBUSY) and
 * B may not exceed max_pages (-ENOSPC).  All or nothing.
 */
int p2m_pod_mark(struct domain *d, gfn_t gfn, uint64_t nr);
/*
 * Mark nr extents of 2^order pages from gfn (aligned), one PoD entry of
 * that order each, as populate_physmap does.  Checked as a whole first
 * (nothing done on error); then *done counts the extents marked.  0 when
 * all are, else the error that stopped extent *done (-ENOMEM: table pages
 * ran out), which changed nothing.
 */
int p2m_pod_mark_extents(struct domain *d, gfn_t gfn, uint64_t nr,
                         unsigned int order, uint64_t *done);

/*
 * Set the memory target (pages).  The cache grows (1G, then 2M, then 4K
 * allocations) or shrinks (1G list first) towards target - P, capped at
 * entry_count.  Bounded work: -EAGAIN means call again to continue.
 * -EINVAL above max_pages, -ENOMEM when the host has no memory left.
 */
int p2m_pod_set_target(struct domain *d, uint64_t target);

/* Put an owned chunk into the cache / take one of this order (tests). */
void p2m_pod_cache_add(struct domain *d, struct page_info *pg);
struct page_info *p2m_pod_cache_get(struct domain *d, unsigned int order);

/*
 * decrease_reservation, one call's share: the guest gives back extents
 * *done, *done + 1, ... of nr extents of 2^order pages from gfn (gfn need
 * not be aligned: each extent is cut into aligned chunks).  PoD entries are
 * dropped; populated pages go to the cache while PoD entries outnumber
 * cache pages, else to the heap.  Each extent is all or nothing, and the
 * call holds the P2M lock once and flushes once.  *done counts the extents
 * done and *pages adds the pages they released, so the caller always
 * knows what happened.  Returns 0 when all nr are done; -ERESTART when the
 * call stopped after a bounded amount of work (call again with the same
 * arguments to go on); or the error of extent *done, which changed
 * nothing (-ENOMEM: no table page for a split).  Arguments are checked
 * first: -EDOM (order above 18), -ERANGE, -EINVAL (*done > nr).
 */
int p2m_pod_decrease_reservation(struct domain *d, gfn_t gfn, uint64_t nr,
                                 unsigned int order, uint64_t *done,
                                 uint64_t *pages);

enum pod_sweep_mode { POD_SWEEP_ALL, POD_SWEEP_EAGER, POD_SWEEP_EMERGENCY };
/* Reclaim guest pages that are all zero; returns pages reclaimed. */
int64_t p2m_pod_sweep(struct domain *d, enum pod_sweep_mode mode);

/*
 * The sweep policy, the same on every platform.  A sweep runs only while
 * the PoD entries outnumber the cache and, in a domain with the low-water
 * policy, once the cache is down to an eighth of the target.  At a PoD
 * fault, inside the fault's own P2M lock hold and before the fill (so that
 * the page the guest is about to touch is not taken back before it could
 * write it): the eager pass over recently populated pages; the vCPU's
 * fault_sweeps and fault_swept count it.  At every POD_SWEEP_EVERY-th exit
 * of a vCPU (exits counts them; platforms with exits besides faults): a
 * budgeted emergency pass over all leaves; true when it ran, and *pages
 * gets the pages it reclaimed.
 */
#define POD_SWEEP_EVERY 64
bool p2m_pod_sweep_at_exit(struct domain *d, uint64_t exits,
                           uint64_t *pages);
/*
 * Low-water policy for a guest that believes far more memory than its
 * target from the start (that is what PoD is for): sweep only once its
 * cache runs low, or every fill would scan populated memory.
 */
void p2m_pod_set_sweep_low_water(struct domain *d, bool on);

/*
 * A guest access to gfn hit the PoD entry the fault's walk `it` stands at
 * (P2M lock held).  The fill goes on from that walk: a remap splits on down
 * from it, and only a sweep that unlinked tables or a 2M or 1G fill that
 * zeroes its chunk with the lock dropped walks again from the root (so the
 * caller must not rely on what it looked up before).  0: retry the access
 * (populated, or a sweep probe is under way and the next fault goes on with
 * it); -EAGAIN: the vCPU is paused for memory; -ENOMEM: no table page for a
 * split (the caller crashes the domain).
 */
struct p2m_iter;
int p2m_pod_demand_populate(struct p2m_domain *p2m, struct vcpu *v,
                            gfn_t gfn, struct p2m_iter *it);

/*
 * The platform: v completed the access that its last PoD fill was for (the
 * next fault or exit of v implies it).  Until then that page is never
 * swept, so a sweeper on another CPU cannot make v fault on it for ever.
 */
void p2m_pod_access_done(struct vcpu *v);

/*
 * The platform: v did the access its last fill was for, and may go on in
 * that leaf without faulting (a guest zeroing a 2M page writes its other
 * 511 pages).  Until v's next fault the eager sweeps leave the leaf alone;
 * a sweep for memory that has run out may still take it.
 */
void p2m_pod_access_used(struct vcpu *v);

/* Number of broken accounting invariants (0 when all hold). */
int p2m_pod_check(struct domain *d);

struct pod_stats {
    uint64_t cache_chunks[POD_ORDERS];
    uint64_t count, entry_count, tot_pages, target, max_pages, populated;
    uint64_t filled[POD_ORDERS], swept[POD_ORDERS], remap_retries;
    uint64_t scanned;           /* 4K pages read by zero checks, probes too */
    uint64_t probed;            /* of those, read by probes of 1G leaves */
    uint64_t probe_splits;      /* 1G leaves split after a clean probe */
    uint64_t unlocked_zeroes;   /* fills zeroed with the P2M lock dropped */
    uint64_t fill_backouts;     /* of those, given up: the entry changed */
};
void p2m_pod_get_stats(struct domain *d, struct pod_stats *s);

void p2m_pod_set_policy(struct domain *d, bool crash);
/* Let paused vCPUs run again (after the target was raised). */
int p2m_pod_resume(struct domain *d);
/* Copy out (and drop) up to max pending events; returns how many. */
unsigned int p2m_pod_events(struct domain *d, struct pod_event *out,
                            unsigned int max);

#endif /* ASM_X86_P2M_POD_H */

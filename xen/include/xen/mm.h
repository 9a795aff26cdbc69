/*
 * The buddy heap of machine frames, chunk ownership and memory accounting.
 * Lock: heap_lock (innermost).  Callers may hold the P2M and PoD locks.
 */
#ifndef XEN_MM_H
#define XEN_MM_H

#include <asm-x86/page.h>
#include <xen/types.h>

struct domain;

#define MEMF_zero (1u << 0)    /* hand out only zeroed frames */
#define MEMF_keep_zeroed (1u << 1) /* keep PGF_zeroed on the chunk (PoD) */
#define MEMF_reserve (1u << 2) /* PGF_reserved: held unmapped by the caller */

#define DOMID_XEN 0x7ff0       /* owner of fragmentation pins */

/* Set up the heap from machine.range[]; frame table must be zero. */
void heap_init(void);

/*
 * Allocate a 2^order chunk for d (use PGU_DOMAIN), or for d's P2M
 * (alloc_p2m_chunk, use PGU_P2M).  NULL when no free chunk is large enough.
 * Charges d->tot_pages / d->p2m_pages.
 */
struct page_info *alloc_domheap_pages(struct domain *d, unsigned int order,
                                      unsigned int memflags);
struct page_info *alloc_p2m_page(struct domain *d);
/* A zeroed 2^order chunk for d's P2M (PGU_P2M); free with free_p2m_page. */
struct page_info *alloc_p2m_chunk(struct domain *d, unsigned int order);

/*
 * Free [mfn, mfn + 2^order) owned by d.  The range may be part of a larger
 * chunk, which is split first.  Returns -EPERM when d does not own it.
 */
int free_domheap_range(struct domain *d, mfn_t mfn, unsigned int order);
void free_p2m_page(struct domain *d, struct page_info *pg);

/* Take the free frames [mfn, mfn + 2^order) for d. -EBUSY if not all free. */
int claim_domheap_range(struct domain *d, mfn_t mfn, unsigned int order);

/*
 * Check that d may map [mfn, mfn + 2^order) as guest RAM:
 * 0, -EFAULT (beyond machine memory), -ENXIO (a hole), -EPERM (not d's).
 */
int mfn_range_owned_by(const struct domain *d, mfn_t mfn, unsigned int order);
/* The same for an extent of nr frames (nr > 0), any length. */
int mfn_extent_owned_by(const struct domain *d, mfn_t mfn, uint64_t nr);

/*
 * The platform declares [mfn, mfn + nr) device memory (MMIO): 0, -EINVAL
 * (empty, overlapping RAM or another MMIO range, or past the
 * physical-address width) or -ENOSPC (too many ranges).
 */
int machine_declare_mmio(mfn_t mfn, uint64_t nr);
/* True when [mfn, mfn + nr) lies inside one declared MMIO range. */
bool machine_range_is_mmio(mfn_t mfn, uint64_t nr);

/* Head of the chunk containing mfn, or NULL for a hole. Heap lock held. */
struct page_info *mfn_chunk_head(mfn_t mfn);

/* Owner domid of the chunk containing mfn, -1 if free or a hole. */
int mfn_owner(mfn_t mfn);

/*
 * Make [mfn, mfn + 2^order), all d's guest memory, one chunk: split the
 * chunk around it, or fold the smaller chunks inside it into one (then on
 * d->page_list).  NULL when d does not own all of it.
 */
struct page_info *heap_make_chunk(struct domain *d, mfn_t mfn,
                                  unsigned int order);
/* Split owned chunk pg into chunks of order, kept on pg's list after it. */
void heap_split_chunk(struct page_info *pg, unsigned int order);
/* Move owned chunk pg to list to (a domain list or a PoD cache list). */
void heap_move_chunk(struct page_info *pg, struct list_head *to);
/* The same and heap_set_chunk_flags, in one hold of the heap lock. */
void heap_move_chunk_flags(struct page_info *pg, struct list_head *to,
                           uint8_t set, uint8_t clear);
void heap_set_chunk_flags(struct page_info *pg, uint8_t set, uint8_t clear);
/* All of the range is d's, unpinned, unreferenced and not in a cache. */
bool mfn_range_reclaimable(const struct domain *d, mfn_t mfn,
                           unsigned int order);
/* Mark d's frames PGF_reserved (held by the toolstack, may be unmapped). */
int heap_reserve_range(struct domain *d, mfn_t mfn, unsigned int order);
/* Pages of d's chunks whose flags include all of flags (heap lock taken). */
uint64_t heap_domain_pages_with(struct domain *d, uint8_t flags);
/* Pages of [mfn, mfn + 2^order), all d's, in chunks with all of flags. */
uint64_t heap_range_pages_with(mfn_t mfn, unsigned int order, uint8_t flags);
/* Mark d's frames special (never reclaimed by a sweep), or unmark them. */
int heap_pin_range(struct domain *d, mfn_t mfn, unsigned int order, bool pin);

/* Release every chunk d owns (domain destruction). */
void free_domain_memory(struct domain *d);

enum heap_fragment_mode { FRAG_NONE, FRAG_NO1G, FRAG_NO2M };

/*
 * Pin one 4K frame in every free block of 1 GiB (or 2 MiB) so that no free
 * chunk of that size remains.  The pins belong to DOMID_XEN.
 */
int heap_fragment(enum heap_fragment_mode mode);
void heap_unfragment(void);

struct heap_stats {
    uint64_t total_pages;          /* RAM frames */
    uint64_t free_pages;
    uint64_t xen_pages;            /* fragmentation pins */
    uint64_t free_chunks[MAX_ORDER + 1];
};
void heap_get_stats(struct heap_stats *s);

/*
 * Walk every chunk of machine memory and prove that each frame is free,
 * owned by exactly one domain, a P2M page, or a hypervisor pin, and that the
 * counters agree (free lists, d->tot_pages, d->p2m_pages).
 * Returns 0 or the number of discrepancies (reported by printk).
 */
int heap_check_accounting(void);

/* Test hook: make the n-th later allocation fail (0 = never). */
void heap_fail_nth(uint64_t n);

#endif /* XEN_MM_H */

/*
 * Internal to xen/arch/x86/mm: the one walker over P2M tables, the split,
 * the entry-change hook and the table page pool.  Those that read or
 * change the tables assert that the caller holds p2m->lock.
 */
#ifndef P2M_WALK_H
#define P2M_WALK_H

#include <asm-x86/p2m-format.h>

/* Entry pointer and context of one entry the walker stopped at. */
struct p2m_iter {
    uint64_t gfn;              /* first gfn the entry covers */
    unsigned int level;
    p2m_pte_t *ptep;
};

static inline p2m_pte_t *p2m_table(mfn_t mfn)
{
    return plat_map_mfn(mfn);
}

static inline unsigned int p2m_index(uint64_t gfn, unsigned int level)
{
    return (gfn >> p2m_level_order(level)) & 511;
}

/*
 * Descend towards gfn and stop at the entry of level `target`, or earlier at
 * the first entry that is not a table.  With build, entries above target that
 * are not tables are split (an empty entry becomes an empty table), which
 * needs table pages reserved beforehand.  Returns 0 or -ENOMEM.
 */
int p2m_descend(struct p2m_domain *p2m, uint64_t gfn, unsigned int target,
                bool build, struct p2m_iter *it);

/* Table pages p2m_descend(build) would need for these ascending targets. */
struct p2m_need { uint64_t last[P2M_LEVELS + 1]; uint64_t pages; };
void p2m_need_init(struct p2m_need *n);
void p2m_need_add(struct p2m_domain *p2m, struct p2m_need *n, uint64_t gfn,
                  unsigned int target);

/* Make sure the pool holds n pages (counts each for fault injection). */
int p2m_pool_reserve(struct p2m_domain *p2m, uint64_t n);

/* Replace the entry at it with new, keeping every count and the m2p right. */
void p2m_write_entry(struct p2m_domain *p2m, const struct p2m_iter *it,
                     p2m_pte_t new);

/* Did going from old to new take away a translation the TLB may hold? */
bool p2m_needs_flush(const struct p2m_domain *p2m, p2m_pte_t old,
                     p2m_pte_t new, unsigned int level);

/* Flush guest TLBs (unless a test suppresses it), then recycle tables. */
void p2m_flush_and_release(struct p2m_domain *p2m, bool flush);

/* Visit every terminal entry (leaf or empty) overlapping [start, end). */
typedef int (*p2m_visit_fn)(struct p2m_domain *p2m, struct p2m_iter *it,
                            void *ctx);
int p2m_visit(struct p2m_domain *p2m, uint64_t start, uint64_t end,
              p2m_visit_fn fn, void *ctx);

void p2m_pool_drain(struct p2m_domain *p2m);

/*
 * p2m_set_range for a frameless type (PoD) with a check that runs under
 * the same P2M lock hold as the commit, so nothing can slip in between.
 */
typedef int (*p2m_range_check_fn)(struct p2m_domain *p2m, uint64_t gfn,
                                  uint64_t nr);
int p2m_set_range_checked(struct p2m_domain *p2m, gfn_t gfn, uint64_t nr,
                          p2m_type_t t, p2m_access_t a,
                          p2m_range_check_fn check);

/*
 * After a range's flush: each chunk on p2m->released (RAM a map or unmap
 * replaced) goes into the PoD cache while entries outnumber it, else back
 * to the heap; then the cache is trimmed to the entries (T <= B).
 */
void p2m_pod_release_frames(struct p2m_domain *p2m);
/* 4K pages on the cache lists, counted by walking them. */
uint64_t p2m_pod_cache_listed(struct p2m_domain *p2m);

/*
 * The log-dirty map of gfns whose dirty ram_rw entry went away (p2m-type.c).
 * dirty_mark: gfn < dirty_top.  dirty_cover: make the map
 * reach top (0 or -ENOMEM, nothing changed).  dirty_free: drop it.
 */
void p2m_dirty_mark(struct p2m_domain *p2m, uint64_t gfn, unsigned int order);
int p2m_dirty_cover(struct p2m_domain *p2m, uint64_t top);
void p2m_dirty_free(struct p2m_domain *p2m);

/* Fold split superpages back inside [start, end); see p2m_merge_range. */
int64_t p2m_merge_tables(struct p2m_domain *p2m, uint64_t start,
                         uint64_t end);
/* Remove every entry below the root (teardown). */
void p2m_clear_all(struct p2m_domain *p2m);

/* Debug builds audit the whole tree after every change (panic on error). */
#ifdef P2M_DEBUG
void p2m_debug_audit(struct p2m_domain *p2m, const char *op);
#else
static inline void p2m_debug_audit(struct p2m_domain *p2m, const char *op)
{
    (void)p2m;
    (void)op;
}
#endif

#endif /* P2M_WALK_H */

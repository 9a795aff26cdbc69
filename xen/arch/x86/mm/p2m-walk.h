/*
 * Internal to xen/arch/x86/mm: the one walker over P2M tables, the split,
 * the entry-change hook and the table page pool.  Those that read or
 * change the tables assert that the caller holds p2m->lock.
 */
#ifndef P2M_WALK_H
#define P2M_WALK_H

#include <asm-x86/p2m-format.h>

static inline p2m_pte_t *p2m_table(mfn_t mfn)
{
    return directmap_mfn(mfn);
}

static inline unsigned int p2m_index(uint64_t gfn, unsigned int level)
{
    return (gfn >> p2m_level_order(level)) & 511;
}

/*
 * The one walk over the tables.  An iterator stands at one entry: the
 * level-`level` entry at ptep, which covers the 2^order(level) gfns from
 * gfn; old is its value when the iterator got there or when p2m_iter_set
 * last wrote it.  Stepping goes in gfn order, top-down: a table entry above
 * min_level is followed by its children, any other entry by the next one of
 * its level (up a level at the end of a table).  A leaf walk stops only at
 * terminal entries (leaves, empty entries) and at min_level.  Only the
 * iterator's first five fields are for its users; every walk runs under
 * p2m->lock.
 */
struct p2m_iter {
    gfn_t gfn;
    unsigned int level;
    p2m_pte_t *ptep;
    p2m_pte_t old;
    bool done;                 /* stepped past the end */

    struct p2m_domain *p2m;
    p2m_pte_t *path[P2M_LEVELS + 1];   /* path[l]: the table of level l */
    uint64_t want, end;        /* the gfn walked towards; stop before end */
    unsigned int top, min_level;
    uint64_t unlinks;          /* p2m->table_unlinks when it started */
    bool leaves;               /* stop only at terminal entries */
    bool skip;                 /* the next step does not enter this table */
};

/* Start a walk over the entries overlapping [start, end). */
void p2m_iter_start(struct p2m_iter *it, struct p2m_domain *p2m, gfn_t start,
                    uint64_t end, unsigned int min_level, bool leaves);
void p2m_iter_next(struct p2m_iter *it);

/* Do not enter the table it stands at (the audit's untrusted tables). */
static inline void p2m_iter_skip(struct p2m_iter *it)
{
    it->skip = true;
}

/* Every entry overlapping [start, end), tables before their children, down
 * to min_level; and only the terminal entries (leaves and empty entries). */
#define for_each_p2m_entry(it, p2m, start, end, min_level)                   \
    for ( p2m_iter_start(&(it), p2m, start, end, min_level, false);          \
          !(it).done; p2m_iter_next(&(it)) )
#define for_each_p2m_leaf(it, p2m, start, end)                               \
    for ( p2m_iter_start(&(it), p2m, start, end, P2M_L1, true);              \
          !(it).done; p2m_iter_next(&(it)) )

/*
 * The entry of level `target` on gfn's path, or the first terminal entry
 * above it: one descent from the root.
 */
void p2m_iter_find(struct p2m_iter *it, struct p2m_domain *p2m, gfn_t gfn,
                   unsigned int target);

/*
 * Go on down from it to the entry of level `target` on the same path,
 * splitting every terminal entry on the way (an empty entry becomes an
 * empty table).  The table pages must be reserved beforehand (0, or
 * -ENOMEM having split what it could).
 */
int p2m_iter_build(struct p2m_domain *p2m, struct p2m_iter *it,
                   unsigned int target);

/*
 * After the tables may have changed under it (the lock held throughout):
 * read the entry again, and walk again from the root only if some table
 * was unlinked meanwhile (its path may be gone).
 */
void p2m_iter_refresh(struct p2m_iter *it);

/*
 * Replace the terminal entry at it by a table of 512 entries that inherit
 * everything from it (an empty entry gives an empty table), filled first
 * and published with the one store; it stays at the new table entry.
 * Needs a reserved table page (0 or -ENOMEM).
 */
int p2m_iter_split(struct p2m_domain *p2m, struct p2m_iter *it);
/* The same, the children retyped to nt (RAM to RAM: log-dirty's eager
 * split write-protects them as it makes them). */
int p2m_iter_split_as(struct p2m_domain *p2m, struct p2m_iter *it,
                      p2m_type_t nt);

/* The rights the tables above it grant (a walk grants the AND of all). */
p2m_access_t p2m_iter_path_rights(const struct p2m_iter *it);

/*
 * The one store: the only code that writes an entry.  It keeps every count
 * right (leaves per level, table pages, PoD entries, splits, folds), the
 * m2p and the log-dirty map, and the entry digest the audit recounts; a
 * table it replaces waits with its whole subtree on p2m->deferred until
 * the flush.  A new table must hold only terminal entries.  P2M_SET_FOLD
 * says a table becomes the superpage its entries were split from.
 * P2M_SET_M2P_LATER: a new 4K RAM leaf whose m2p record the caller writes
 * itself, with the run it belongs to (m2p_set_4k_run), before it drops
 * the lock; the entry it replaces must map no RAM.
 */
enum p2m_set_how { P2M_SET_PLAIN, P2M_SET_FOLD, P2M_SET_M2P_LATER };
void p2m_iter_set(struct p2m_domain *p2m, struct p2m_iter *it, p2m_pte_t new,
                  enum p2m_set_how how);

/*
 * The one store for a run of new 4K RAM leaves over empty entries, as
 * P2M_SET_M2P_LATER: from the L1 entry at it, the leaves of frames mfn,
 * mfn + 1, ... for up to n entries of its table, stopping before the first
 * entry that is not empty.  Counted as p2m_iter_set counts each, once for
 * the run; it stands on the last leaf written.  Returns how many (0 if the
 * entry at it is not empty).
 */
uint64_t p2m_iter_set_run(struct p2m_domain *p2m, struct p2m_iter *it,
                          mfn_t mfn, p2m_type_t t, p2m_access_t a,
                          uint64_t n);
/* The audit's recount of the digest: what one entry contributes. */
uint64_t p2m_entry_digest(const struct p2m_format_ops *ops, gfn_t gfn,
                          unsigned int level, p2m_pte_t e);

/* Table pages p2m_iter_build would need for these ascending targets. */
struct p2m_need { uint64_t last[P2M_LEVELS + 1]; uint64_t pages; };
void p2m_need_init(struct p2m_need *n);
void p2m_need_add(struct p2m_domain *p2m, struct p2m_need *n, gfn_t gfn,
                  unsigned int target);

/* Make sure the pool holds n pages (counts each for fault injection). */
int p2m_pool_reserve(struct p2m_domain *p2m, uint64_t n);

/* Did going from old to new take away a translation the TLB may hold? */
bool p2m_needs_flush(const struct p2m_domain *p2m, p2m_pte_t old,
                     p2m_pte_t new, unsigned int level);

/* Flush guest TLBs (unless a test suppresses it), then recycle tables. */
void p2m_flush_and_release(struct p2m_domain *p2m, bool flush);

void p2m_pool_drain(struct p2m_domain *p2m);
/* Give back what a failed large reservation left in the pool. */
void p2m_pool_trim(struct p2m_domain *p2m);

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

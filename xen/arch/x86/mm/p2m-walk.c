/*
 * The generic P2M walker: the iterator, the one store, splits and folds,
 * teardown and the table page pool.  Nothing here knows the entry format;
 * it asks p2m->ops.  Each function that reads or changes the tables asserts
 * that its caller holds p2m->lock.
 */
#include "p2m-walk.h"

#include <asm-x86/m2p.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/sched.h>

#define POOL_KEEP 64   /* free table pages kept for reuse beyond that: freed */

static struct page_info *pool_take(struct p2m_domain *p2m)
{
    struct page_info *pg = list_first(&p2m->pool, struct page_info, list);

    list_del(&pg->list);
    p2m->pool_pages--;
    return pg;
}

int p2m_pool_reserve(struct p2m_domain *p2m, uint64_t n)
{
    struct domain *d = p2m->domain;

    ASSERT_LOCKED(&p2m->lock);
    if ( p2m->pool_fail_at && p2m->pool_allocs + n >= p2m->pool_fail_at )
    {
        p2m->pool_allocs = p2m->pool_fail_at;
        return -ENOMEM;
    }
    p2m->pool_allocs += n;
    while ( p2m->pool_pages < n )
    {
        struct page_info *pg;

        if ( p2m->pool_limit && d->p2m_pages >= p2m->pool_limit )
            return -ENOMEM;
        pg = alloc_p2m_page(d);
        if ( !pg )
            return -ENOMEM;
        list_add(&pg->list, &p2m->pool);
        p2m->pool_pages++;
    }
    return 0;
}

void p2m_pool_trim(struct p2m_domain *p2m)
{
    ASSERT_LOCKED(&p2m->lock);
    while ( p2m->pool_pages > POOL_KEEP )
        free_p2m_page(p2m->domain, pool_take(p2m));
}

void p2m_pool_drain(struct p2m_domain *p2m)
{
    ASSERT_LOCKED(&p2m->lock);
    while ( !list_empty(&p2m->pool) )
        free_p2m_page(p2m->domain, pool_take(p2m));
}

/* --- the iterator --- */

/* Stand at the entry of it->level on the path to it->want. */
static void iter_at(struct p2m_iter *it)
{
    it->ptep = it->path[it->level] + p2m_index(it->want, it->level);
    /* Acquire: a table published by the one store is seen filled, by the
     * lock-free lookups too. */
    it->old = __atomic_load_n(it->ptep, __ATOMIC_ACQUIRE);
    it->gfn = _gfn(align_down(it->want, p2m_level_order(it->level)));
}

static bool iter_enters(const struct p2m_iter *it)
{
    return it->level > it->min_level &&
           it->p2m->ops->is_table(it->old, it->level);
}

static void iter_down(struct p2m_iter *it)
{
    mfn_t table = it->p2m->ops->mfn(it->old, it->level);

    it->level--;
    it->path[it->level] = p2m_table(table);
    iter_at(it);
}

/* Past the entry: the next of its level, up a level at a table's end. */
static void iter_side(struct p2m_iter *it)
{
    uint64_t next = gfn_x(it->gfn) + (1ull << p2m_level_order(it->level));

    if ( next >= it->end )
    {
        it->done = true;
        return;
    }
    it->want = next;
    while ( it->level < it->top && !p2m_index(next, it->level) )
        it->level++;
    iter_at(it);
}

static void iter_settle(struct p2m_iter *it)
{
    while ( it->leaves && iter_enters(it) )
        iter_down(it);
}

static void iter_begin(struct p2m_iter *it, struct p2m_domain *p2m,
                       gfn_t start, uint64_t end, unsigned int min_level,
                       bool leaves)
{
    ASSERT(min_level >= P2M_L1 && min_level <= P2M_LEVELS);
    it->p2m = p2m;
    it->top = it->level = P2M_LEVELS;
    it->path[P2M_LEVELS] = p2m_table(p2m->root);
    it->want = gfn_x(start);
    it->end = MIN(end, P2M_MAX_GFN);
    it->min_level = min_level;
    it->leaves = leaves;
    it->skip = false;
    it->done = it->want >= it->end;
    if ( it->done )
        return;
    iter_at(it);
    iter_settle(it);
}

void p2m_iter_start(struct p2m_iter *it, struct p2m_domain *p2m, gfn_t start,
                    uint64_t end, unsigned int min_level, bool leaves)
{
    ASSERT_LOCKED(&p2m->lock);
    p2m->walks++;
    it->unlinks = p2m->table_unlinks;
    iter_begin(it, p2m, start, end, min_level, leaves);
}

void p2m_iter_next(struct p2m_iter *it)
{
    ASSERT_LOCKED(&it->p2m->lock);
    it->old = *it->ptep;        /* what the loop's body left there */
    if ( !it->skip && iter_enters(it) )
        iter_down(it);
    else
        iter_side(it);
    it->skip = false;
    if ( !it->done )
        iter_settle(it);
}

/* A walk of the subtree below the table entry at it (not a descent). */
static void iter_below(struct p2m_iter *sub, const struct p2m_iter *it)
{
    sub->p2m = it->p2m;
    sub->top = sub->level = it->level - 1;
    sub->path[sub->level] = p2m_table(it->p2m->ops->mfn(it->old, it->level));
    sub->want = gfn_x(it->gfn);
    sub->end = sub->want + (1ull << p2m_level_order(it->level));
    sub->min_level = P2M_L1;
    sub->leaves = false;
    sub->skip = false;
    sub->done = false;
    iter_at(sub);
}

void p2m_iter_find(struct p2m_iter *it, struct p2m_domain *p2m, gfn_t gfn,
                   unsigned int target)
{
    p2m_iter_start(it, p2m, gfn, gfn_x(gfn) + 1, target, true);
}

void p2m_iter_refresh(struct p2m_iter *it)
{
    ASSERT_LOCKED(&it->p2m->lock);
    if ( it->unlinks != it->p2m->table_unlinks )
        p2m_iter_find(it, it->p2m, _gfn(it->want), it->min_level);
    else
        it->old = *it->ptep;
}

p2m_access_t p2m_iter_path_rights(const struct p2m_iter *it)
{
    const struct p2m_format_ops *ops = it->p2m->ops;
    p2m_access_t r = P2M_ACCESS_RWX;
    unsigned int l;

    for ( l = it->top; l > it->level; l-- )
        r &= ops->rights(__atomic_load_n(&it->path[l][p2m_index(
                             gfn_x(it->gfn), l)], __ATOMIC_ACQUIRE));
    return r;
}

/* --- the one store --- */

uint64_t p2m_entry_digest(const struct p2m_format_ops *ops, gfn_t gfn,
                          unsigned int level, p2m_pte_t e)
{
    uint64_t x;

    e &= ~ops->hw_owned;
    x = e ^ (gfn_x(gfn) * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)level << 58);

    /* A 64-bit finaliser: the sum over entries then tells trees apart. */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return e ? x ^ (x >> 31) : 0;
}

/* Account for a terminal entry appearing (dir 1) or going away (dir -1). */
static void account_leaf(struct p2m_domain *p2m, p2m_pte_t e,
                         unsigned int level, uint64_t gfn, int dir,
                         bool m2p_later)
{
    const struct p2m_format_ops *ops = p2m->ops;
    p2m_type_t t = ops->type(e);
    unsigned int order = p2m_level_order(level);

    ASSERT_LOCKED(&p2m->lock);
    p2m->entry_digest += dir * p2m_entry_digest(ops, _gfn(gfn), level, e);
    /* A dirty page going away must stay dirty for the next read. */
    if ( dir < 0 && t == p2m_ram_rw && p2m->logdirty )
        p2m_dirty_mark(p2m, gfn, order);
    if ( p2m_type_has_mfn(t) )
    {
        p2m->stats.pages[p2m_level_idx(level)] += dir;
        if ( !p2m_type_is_ram(t) || m2p_later )
            return;
        if ( dir > 0 )
            m2p_set(ops->mfn(e, level), _gfn(gfn), order);
        else
            m2p_clear(ops->mfn(e, level), order);
    }
    else if ( t == p2m_populate_on_demand )
        p2m->stats.pod_entries += dir * (int64_t)(1ull << order);
}

/* A table entry appears (dir 1: its entries with it) or goes (dir -1). */
static void account_table(struct p2m_domain *p2m, p2m_pte_t e,
                          unsigned int level, uint64_t gfn, int dir)
{
    ASSERT_LOCKED(&p2m->lock);
    p2m->entry_digest += dir * p2m_entry_digest(p2m->ops, _gfn(gfn), level, e);
    p2m->stats.table_pages += dir;
    /* Only after the flush can no vCPU still walk through it. */
    if ( dir < 0 )
    {
        p2m->table_unlinks++;
        list_add(&mfn_to_page(p2m->ops->mfn(e, level))->list,
                 &p2m->deferred);
    }
}

/* The table entry at it goes away, and its whole subtree with it. */
static void subtree_removed(struct p2m_domain *p2m, const struct p2m_iter *it)
{
    const struct p2m_format_ops *ops = p2m->ops;
    struct m2p_run gone = { .n = 0, .clear = true };
    struct p2m_iter sub;

    for ( iter_below(&sub, it); !sub.done; p2m_iter_next(&sub) )
    {
        bool run;

        if ( !sub.old )
            continue;
        if ( ops->is_table(sub.old, sub.level) )
        {
            account_table(p2m, sub.old, sub.level, gfn_x(sub.gfn), -1);
            continue;
        }
        /* 4K RAM leaves: their m2p records go a run at a time. */
        run = sub.level == P2M_L1 && p2m_type_is_ram(ops->type(sub.old));
        account_leaf(p2m, sub.old, sub.level, gfn_x(sub.gfn), -1, run);
        if ( run )
            m2p_run_add(&gone, ops->mfn(sub.old, P2M_L1), sub.gfn, 1);
    }
    m2p_run_flush(&gone);
    account_table(p2m, it->old, it->level, gfn_x(it->gfn), -1);
}

/* The new table entry at it comes in with its terminal entries. */
static void table_added(struct p2m_domain *p2m, const struct p2m_iter *it,
                        p2m_pte_t new)
{
    const struct p2m_format_ops *ops = p2m->ops;
    const p2m_pte_t *t = p2m_table(ops->mfn(new, it->level));
    unsigned int i, child = it->level - 1;

    account_table(p2m, new, it->level, gfn_x(it->gfn), 1);
    for ( i = 0; i < 512; i++ )
    {
        ASSERT(!ops->is_table(t[i], child));
        if ( t[i] )
            account_leaf(p2m, t[i], child, gfn_x(it->gfn) +
                         ((uint64_t)i << p2m_level_order(child)), 1, false);
    }
}

/*
 * A RAM leaf that stays a RAM leaf of the same frames (a retype, an access
 * change): the leaf counts and the m2p record stay as they are, so only
 * the digest and the dirty mark move.  Log-dirty's clean and stop retype
 * every 4K leaf of a guest, and this keeps them off the m2p.
 */
static bool leaf_keeps_frames(const struct p2m_format_ops *ops, p2m_pte_t old,
                              p2m_pte_t new, unsigned int level)
{
    return p2m_type_is_ram(ops->type(old)) &&
           p2m_type_is_ram(ops->type(new)) &&
           mfn_eq(ops->mfn(old, level), ops->mfn(new, level));
}

static void leaf_retyped(struct p2m_domain *p2m, const struct p2m_iter *it,
                         p2m_pte_t new)
{
    const struct p2m_format_ops *ops = p2m->ops;
    uint64_t gfn = gfn_x(it->gfn);

    p2m->entry_digest += p2m_entry_digest(ops, it->gfn, it->level, new) -
                         p2m_entry_digest(ops, it->gfn, it->level, it->old);
    if ( ops->type(it->old) == p2m_ram_rw && p2m->logdirty )
        p2m_dirty_mark(p2m, gfn, p2m_level_order(it->level));
}

void p2m_iter_set(struct p2m_domain *p2m, struct p2m_iter *it, p2m_pte_t new,
                  enum p2m_set_how how)
{
    const struct p2m_format_ops *ops = p2m->ops;
    bool was_table, is_table = ops->is_table(new, it->level);

    ASSERT_LOCKED(&p2m->lock);
    it->old = *it->ptep;
    was_table = ops->is_table(it->old, it->level);
    ASSERT(!(was_table && is_table));
    ASSERT(how != P2M_SET_FOLD || (was_table && new));
    ASSERT(how != P2M_SET_M2P_LATER ||
           (it->level == P2M_L1 && p2m_type_is_ram(ops->type(new)) &&
            !p2m_type_is_ram(ops->type(it->old))));
    if ( !was_table && !is_table &&
         leaf_keeps_frames(ops, it->old, new, it->level) )
        leaf_retyped(p2m, it, new);
    else
    {
        if ( was_table )
            subtree_removed(p2m, it);
        else
            account_leaf(p2m, it->old, it->level, gfn_x(it->gfn), -1, false);
        if ( is_table )
            table_added(p2m, it, new);
        else
            account_leaf(p2m, new, it->level, gfn_x(it->gfn), 1,
                         how == P2M_SET_M2P_LATER);
    }
    if ( is_table && it->old )
        p2m->stats.splits++;
    if ( how == P2M_SET_FOLD )
        p2m->stats.merges++;
    __atomic_store_n(it->ptep, new, __ATOMIC_RELEASE);
    p2m_generation_bump(p2m);
    it->old = new;
}

uint64_t p2m_iter_set_run(struct p2m_domain *p2m, struct p2m_iter *it,
                          mfn_t mfn, p2m_type_t t, p2m_access_t a, uint64_t n)
{
    const struct p2m_format_ops *ops = p2m->ops;
    uint64_t gfn = gfn_x(it->gfn), digest = 0, i;
    p2m_pte_t *ptep = it->ptep, e = 0;

    ASSERT_LOCKED(&p2m->lock);
    ASSERT(it->level == P2M_L1 && p2m_type_is_ram(t));
    n = MIN(n, MIN(512u - p2m_index(gfn, P2M_L1), it->end - gfn));
    for ( i = 0; i < n && !ptep[i]; i++ )
    {
        e = i ? e + ops->frame_step : ops->make_leaf(P2M_L1, mfn, t, a);
        digest += p2m_entry_digest(ops, _gfn(gfn + i), P2M_L1, e);
        __atomic_store_n(&ptep[i], e, __ATOMIC_RELEASE);
    }
    if ( !i )
        return 0;
    ASSERT(e == ops->make_leaf(P2M_L1, mfn_add(mfn, i - 1), t, a));
    /* What account_leaf does for each, once: an empty entry had none. */
    p2m->entry_digest += digest;
    p2m->stats.pages[p2m_level_idx(P2M_L1)] += i;
    p2m_generation_bump(p2m);
    it->ptep = ptep + i - 1;
    it->want = gfn + i - 1;
    it->gfn = _gfn(it->want);
    it->old = e;
    return i;
}

int p2m_iter_split_as(struct p2m_domain *p2m, struct p2m_iter *it,
                      p2m_type_t nt)
{
    const struct p2m_format_ops *ops = p2m->ops;
    p2m_pte_t e = *it->ptep;
    bool retype = ops->type(e) != nt;
    struct page_info *pg;
    p2m_pte_t *t;
    unsigned int i;

    ASSERT_LOCKED(&p2m->lock);
    ASSERT(!retype || (p2m_type_is_ram(ops->type(e)) &&
                       p2m_type_is_ram(nt)));
    if ( list_empty(&p2m->pool) )
        return -ENOMEM;         /* the caller did not reserve: refuse */
    pg = pool_take(p2m);
    t = p2m_table(page_to_mfn(pg));
    /* An empty entry splits into empty ones (a pool page may hold old
     * entries): the common case when a map builds its tables. */
    if ( !e )
        memset(t, 0, 512 * sizeof(*t));
    for ( i = 0; e && i < 512; i++ )
    {
        t[i] = ops->split_child(e, it->level, i);
        if ( retype )
            t[i] = ops->retype(t[i], it->level - 1, nt);
    }
    p2m_iter_set(p2m, it, ops->make_table(page_to_mfn(pg)), P2M_SET_PLAIN);
    return 0;
}

int p2m_iter_split(struct p2m_domain *p2m, struct p2m_iter *it)
{
    return p2m_iter_split_as(p2m, it, p2m->ops->type(*it->ptep));
}

int p2m_iter_build(struct p2m_domain *p2m, struct p2m_iter *it,
                   unsigned int target)
{
    int rc;

    ASSERT_LOCKED(&p2m->lock);
    while ( it->level > target )
    {
        if ( !p2m->ops->is_table(it->old, it->level) )
        {
            rc = p2m_iter_split(p2m, it);
            if ( rc )
                return rc;
        }
        iter_down(it);
    }
    return 0;
}

void p2m_need_init(struct p2m_need *n)
{
    unsigned int i;

    for ( i = 0; i <= P2M_LEVELS; i++ )
        n->last[i] = ~0ull;
    n->pages = 0;
}

void p2m_need_add(struct p2m_domain *p2m, struct p2m_need *n, gfn_t gfn,
                  unsigned int target)
{
    struct p2m_iter it;
    unsigned int level;

    p2m_iter_find(&it, p2m, gfn, target);
    for ( level = it.level; level > target; level-- )
    {
        uint64_t id = gfn_x(gfn) >> p2m_level_order(level);

        if ( n->last[level] != id )
        {
            n->last[level] = id;
            n->pages++;
        }
    }
}

bool p2m_needs_flush(const struct p2m_domain *p2m, p2m_pte_t old,
                     p2m_pte_t new, unsigned int level)
{
    const struct p2m_format_ops *ops = p2m->ops;
    p2m_access_t was, now;

    if ( ops->is_table(old, level) )
        return true;
    was = ops->rights(old);
    if ( !was || ops->is_table(new, level) )
        return false;
    now = ops->rights(new);
    if ( !now || !mfn_eq(ops->mfn(old, level), ops->mfn(new, level)) )
        return true;
    return (was & ~now) != 0;
}

void p2m_flush_and_release(struct p2m_domain *p2m, bool flush)
{
    ASSERT_LOCKED(&p2m->lock);
    ASSERT(flush || list_empty(&p2m->deferred));
    /* A lock-free lookup may still be inside an unlinked table: let every
     * one that started before the unlink finish first. */
    if ( !list_empty(&p2m->deferred) )
        plat_read_sync();
    if ( flush )
    {
        if ( !p2m->test_skip_flush )
            plat_flush_guest_tlb(p2m->domain);
        p2m->stats.flushes++;
    }
    /* Only now can no vCPU still be walking through the unlinked tables. */
    while ( !list_empty(&p2m->deferred) )
    {
        struct page_info *pg = list_first(&p2m->deferred, struct page_info,
                                          list);

        list_del(&pg->list);
        if ( p2m->pool_pages >= POOL_KEEP )
            free_p2m_page(p2m->domain, pg);
        else
        {
            list_add(&pg->list, &p2m->pool);
            p2m->pool_pages++;
        }
    }
}

/* Remove every entry (teardown): m2p records and counters go with them. */
void p2m_clear_all(struct p2m_domain *p2m)
{
    struct p2m_iter it;

    for_each_p2m_entry(it, p2m, _gfn(0), P2M_MAX_GFN, P2M_L4)
        if ( it.old )
            p2m_iter_set(p2m, &it, 0, P2M_SET_PLAIN);
}

/*
 * The superpage the table at it (level >= 2) folds into, if its 512
 * entries are exactly what splitting that superpage gives; 0 if not.
 */
static p2m_pte_t fold_candidate(struct p2m_domain *p2m,
                                const struct p2m_iter *it)
{
    const struct p2m_format_ops *ops = p2m->ops;
    const p2m_pte_t *t = p2m_table(ops->mfn(it->old, it->level));
    unsigned int i, level = it->level, child = level - 1;
    p2m_type_t type = ops->type(t[0]);
    p2m_pte_t parent;

    ASSERT_LOCKED(&p2m->lock);
    if ( !t[0] || ops->is_table(t[0], child) )
        return 0;
    if ( p2m_type_has_mfn(type) && p2m_level_order(level) > p2m->max_order )
        return 0;               /* the hardware takes no leaf this large */
    if ( p2m_type_has_mfn(type) &&
         !is_aligned(mfn_x(ops->mfn(t[0], child)), p2m_level_order(level)) )
        return 0;
    parent = ops->make_leaf(level, ops->mfn(t[0], child), type,
                            ops->access(t[0]));
    for ( i = 0; i < 512; i++ )
        if ( ops->split_child(parent, level, i) != t[i] )
            return 0;
    return parent;
}

/*
 * Fold split superpages back inside [start, end), the 2M level first, so
 * that a 1G table whose 2M tables folded can fold in the next pass.
 */
int64_t p2m_merge_tables(struct p2m_domain *p2m, uint64_t start, uint64_t end)
{
    struct p2m_iter it;
    unsigned int level;
    int64_t n = 0;

    ASSERT_LOCKED(&p2m->lock);
    for ( level = P2M_L2; level <= P2M_LEAF_LEVELS; level++ )
        for_each_p2m_entry(it, p2m, _gfn(start), end, level)
        {
            uint64_t g = gfn_x(it.gfn), span = 1ull << p2m_level_order(level);
            p2m_pte_t folded;

            if ( it.level != level || g < start || g + span > end ||
                 !p2m->ops->is_table(it.old, level) )
                continue;
            folded = fold_candidate(p2m, &it);
            if ( !folded )
                continue;
            p2m_iter_set(p2m, &it, folded, P2M_SET_FOLD);
            n++;
        }
    /* The old tables go after the flush. */
    p2m_flush_and_release(p2m, n > 0);
    return n;
}

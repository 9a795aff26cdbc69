/*
 * The generic P2M walker: descend, split, the entry-change hook, range
 * visits and the table page pool.  Nothing here knows the entry format; it
 * asks p2m->ops.  Each function that reads or changes the tables asserts
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

void p2m_pool_drain(struct p2m_domain *p2m)
{
    ASSERT_LOCKED(&p2m->lock);
    while ( !list_empty(&p2m->pool) )
        free_p2m_page(p2m->domain, pool_take(p2m));
}

/* Account for a terminal entry appearing (dir 1) or going away (dir -1). */
static void account_leaf(struct p2m_domain *p2m, p2m_pte_t e,
                         unsigned int level, uint64_t gfn, int dir)
{
    const struct p2m_format_ops *ops = p2m->ops;
    p2m_type_t t = ops->type(e);
    unsigned int order = p2m_level_order(level);

    ASSERT_LOCKED(&p2m->lock);
    /* A dirty page going away must stay dirty for the next read. */
    if ( dir < 0 && t == p2m_ram_rw && p2m->logdirty )
        p2m_dirty_mark(p2m, gfn, order);
    if ( p2m_type_has_mfn(t) )
    {
        p2m->stats.pages[p2m_level_idx(level)] += dir;
        if ( !p2m_type_is_ram(t) )
            return;
        if ( dir > 0 )
            m2p_set(ops->mfn(e, level), _gfn(gfn), order);
        else
            m2p_clear(ops->mfn(e, level), order);
    }
    else if ( t == p2m_populate_on_demand )
        p2m->stats.pod_entries += dir * (int64_t)(1ull << order);
}

/*
 * Entry e at level goes away.  A table takes its whole subtree with it; its
 * pages wait on the deferred list until the TLBs are flushed.
 */
static void entry_removed(struct p2m_domain *p2m, p2m_pte_t e,
                          unsigned int level, uint64_t gfn)
{
    const struct p2m_format_ops *ops = p2m->ops;
    unsigned int i, child = level - 1;
    p2m_pte_t *t;
    mfn_t mfn;

    ASSERT_LOCKED(&p2m->lock);
    if ( !ops->is_table(e, level) )
    {
        account_leaf(p2m, e, level, gfn, -1);
        return;
    }
    mfn = ops->mfn(e, level);
    t = p2m_table(mfn);
    for ( i = 0; i < 512; i++ )
        if ( t[i] )
            entry_removed(p2m, t[i], child,
                          gfn + ((uint64_t)i << p2m_level_order(child)));
    list_add(&mfn_to_page(mfn)->list, &p2m->deferred);
    p2m->stats.table_pages--;
}

void p2m_write_entry(struct p2m_domain *p2m, const struct p2m_iter *it,
                     p2m_pte_t new)
{
    p2m_pte_t old = *it->ptep;

    ASSERT_LOCKED(&p2m->lock);
    ASSERT(!p2m->ops->is_table(new, it->level));
    entry_removed(p2m, old, it->level, it->gfn);
    account_leaf(p2m, new, it->level, it->gfn, 1);
    __atomic_store_n(it->ptep, new, __ATOMIC_RELEASE);
    __atomic_add_fetch(&p2m->generation, 1, __ATOMIC_RELEASE);
}

/*
 * Replace the terminal entry at it by a table of 512 children that inherit
 * everything from it (an empty entry gives an empty table).  The table is
 * filled first and published with one store.
 */
static int p2m_split(struct p2m_domain *p2m, const struct p2m_iter *it)
{
    const struct p2m_format_ops *ops = p2m->ops;
    p2m_pte_t old = *it->ptep, *t;
    unsigned int i, child = it->level - 1;
    struct page_info *pg;

    ASSERT_LOCKED(&p2m->lock);
    if ( list_empty(&p2m->pool) )
        return -ENOMEM;         /* the caller did not reserve: refuse */
    pg = pool_take(p2m);
    t = p2m_table(page_to_mfn(pg));
    entry_removed(p2m, old, it->level, it->gfn);
    for ( i = 0; i < 512; i++ )
    {
        t[i] = ops->split_child(old, it->level, i);
        if ( t[i] )
            account_leaf(p2m, t[i], child,
                         it->gfn + ((uint64_t)i << p2m_level_order(child)), 1);
    }
    p2m->stats.table_pages++;
    if ( old )
        p2m->stats.splits++;
    __atomic_store_n(it->ptep, ops->make_table(page_to_mfn(pg)),
                     __ATOMIC_RELEASE);
    __atomic_add_fetch(&p2m->generation, 1, __ATOMIC_RELEASE);
    return 0;
}

int p2m_descend(struct p2m_domain *p2m, uint64_t gfn, unsigned int target,
                bool build, struct p2m_iter *it)
{
    const struct p2m_format_ops *ops = p2m->ops;
    mfn_t table = p2m->root;
    unsigned int level;
    int rc;

    ASSERT_LOCKED(&p2m->lock);
    for ( level = P2M_LEVELS; ; level-- )
    {
        it->level = level;
        it->gfn = align_down(gfn, p2m_level_order(level));
        it->ptep = p2m_table(table) + p2m_index(gfn, level);
        if ( level == target )
            return 0;
        if ( !ops->is_table(*it->ptep, level) )
        {
            if ( !build )
                return 0;
            rc = p2m_split(p2m, it);
            if ( rc )
                return rc;
        }
        table = ops->mfn(*it->ptep, level);
    }
}

void p2m_need_init(struct p2m_need *n)
{
    unsigned int i;

    for ( i = 0; i <= P2M_LEVELS; i++ )
        n->last[i] = ~0ull;
    n->pages = 0;
}

void p2m_need_add(struct p2m_domain *p2m, struct p2m_need *n, uint64_t gfn,
                  unsigned int target)
{
    struct p2m_iter it;
    unsigned int level;

    ASSERT_LOCKED(&p2m->lock);
    p2m_descend(p2m, gfn, target, false, &it);
    for ( level = it.level; level > target; level-- )
    {
        uint64_t id = gfn >> p2m_level_order(level);

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

static int visit(struct p2m_domain *p2m, mfn_t table, unsigned int level,
                 uint64_t base, uint64_t start, uint64_t end,
                 p2m_visit_fn fn, void *ctx)
{
    uint64_t span = 1ull << p2m_level_order(level), gfn;
    unsigned int i = start > base ? (start - base) / span : 0;
    int rc = 0;

    for ( ; i < 512 && !rc; i++ )
    {
        struct p2m_iter it = { base + i * span, level, p2m_table(table) + i };

        gfn = it.gfn;
        if ( gfn >= end )
            break;
        if ( p2m->ops->is_table(*it.ptep, level) )
            rc = visit(p2m, p2m->ops->mfn(*it.ptep, level), level - 1, gfn,
                       start, end, fn, ctx);
        else
            rc = fn(p2m, &it, ctx);
    }
    return rc;
}

int p2m_visit(struct p2m_domain *p2m, uint64_t start, uint64_t end,
              p2m_visit_fn fn, void *ctx)
{
    ASSERT_LOCKED(&p2m->lock);
    return visit(p2m, p2m->root, P2M_LEVELS, 0, start, end, fn, ctx);
}

/* Remove every entry (teardown): m2p records and counters go with them. */
void p2m_clear_all(struct p2m_domain *p2m)
{
    p2m_pte_t *root = p2m_table(p2m->root);
    unsigned int i;

    ASSERT_LOCKED(&p2m->lock);
    for ( i = 0; i < 512; i++ )
    {
        entry_removed(p2m, root[i], P2M_LEVELS,
                      (uint64_t)i << p2m_level_order(P2M_LEVELS));
        root[i] = 0;
    }
}

/*
 * The entry a table at level - 1 would fold into, if its 512 children are
 * exactly what splitting that entry gives; 0 when they are not.
 */
static p2m_pte_t fold_candidate(struct p2m_domain *p2m, const p2m_pte_t *t,
                                unsigned int level)
{
    const struct p2m_format_ops *ops = p2m->ops;
    p2m_type_t type = ops->type(t[0]);
    p2m_pte_t parent;
    unsigned int i;

    ASSERT_LOCKED(&p2m->lock);
    if ( !t[0] || ops->is_table(t[0], level - 1) )
        return 0;
    if ( p2m_type_has_mfn(type) && p2m_level_order(level) > p2m->max_order )
        return 0;               /* the hardware takes no leaf this large */
    if ( p2m_type_has_mfn(type) &&
         !is_aligned(mfn_x(ops->mfn(t[0], level - 1)),
                     p2m_level_order(level)) )
        return 0;
    parent = ops->make_leaf(level, ops->mfn(t[0], level - 1), type,
                            ops->access(t[0]));
    for ( i = 0; i < 512; i++ )
        if ( ops->split_child(parent, level, i) != t[i] )
            return 0;
    return parent;
}

static int64_t merge(struct p2m_domain *p2m, mfn_t table, unsigned int level,
                     uint64_t base, uint64_t start, uint64_t end, bool *flush)
{
    uint64_t span = 1ull << p2m_level_order(level);
    unsigned int i = start > base ? (start - base) / span : 0;
    int64_t n = 0;

    for ( ; i < 512 && base + i * span < end; i++ )
    {
        struct p2m_iter it = { base + i * span, level, p2m_table(table) + i };
        p2m_pte_t folded;

        if ( !p2m->ops->is_table(*it.ptep, level) )
            continue;
        n += merge(p2m, p2m->ops->mfn(*it.ptep, level), level - 1, it.gfn,
                   start, end, flush);
        if ( level > P2M_LEAF_LEVELS || it.gfn < start || it.gfn + span > end )
            continue;           /* L4 never holds leaves; stay in range */
        folded = fold_candidate(p2m, p2m_table(p2m->ops->mfn(*it.ptep, level)),
                                level);
        if ( !folded )
            continue;
        p2m_write_entry(p2m, &it, folded);
        p2m->stats.merges++;
        *flush = true;          /* the old table goes after the flush */
        n++;
    }
    return n;
}

int64_t p2m_merge_tables(struct p2m_domain *p2m, uint64_t start, uint64_t end)
{
    bool flush = false;
    int64_t n = merge(p2m, p2m->root, P2M_LEVELS, 0, start, end, &flush);

    ASSERT_LOCKED(&p2m->lock);
    p2m_flush_and_release(p2m, flush);
    return n;
}

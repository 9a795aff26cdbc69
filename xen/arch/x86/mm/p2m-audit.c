/*
 * audit_p2m: walk the real tables of either format and report every
 * discrepancy: format rules, alignment, types, rights at every level, frame
 * bits beyond the physical-address width, m2p (both ways), ownership, the
 * per-level counters and the table page accounting.
 */
#include "p2m-walk.h"

#include <asm-x86/m2p.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/sched.h>

struct audit {
    struct p2m_domain *p2m;
    struct p2m_audit_report *r;
    struct p2m_stats seen;
    uint64_t ram_pages;        /* 4K pages under RAM leaves: P, counted */
    uint64_t ram_reserved;     /* of those, in PGF_reserved chunks */
    uint64_t reserved;         /* pages of the domain's PGF_reserved chunks */
    uint64_t digest;           /* p2m_entry_digest over the entries seen */
};

static void report(struct audit *a, enum p2m_audit_code code,
                   unsigned int level, uint64_t gfn, uint64_t entry,
                   uint64_t detail)
{
    struct p2m_audit_report *r = a->r;

    if ( r->nr_recorded < P2M_AUDIT_MAX_RECORDED )
        r->err[r->nr_recorded++] = (struct p2m_audit_error){
            code, level, gfn, entry, detail };
    r->nr_errors++;
}

static void check_format(struct audit *a, p2m_pte_t e, unsigned int level,
                         uint64_t gfn)
{
    unsigned int bad = a->p2m->ops->check(e, level);
    bool leaf = !a->p2m->ops->is_table(e, level) && level < P2M_LEVELS;

    if ( bad & P2M_CHECK_RESERVED )
        report(a, leaf ? AUDIT_MISALIGNED : AUDIT_RESERVED_BITS, level, gfn,
               e, 0);
    if ( bad & P2M_CHECK_FORMAT )
        report(a, AUDIT_FORMAT, level, gfn, e, 0);
    if ( bad & P2M_CHECK_PS_L4 )
        report(a, AUDIT_PS_AT_L4, level, gfn, e, 0);
    if ( bad & P2M_CHECK_TYPE )
        report(a, AUDIT_BAD_TYPE, level, gfn, e, 0);
}

/* A leaf with a frame: range, ownership and the m2p record.  True when
 * the frames are RAM the domain may map. */
static bool check_frames(struct audit *a, p2m_pte_t e, unsigned int level,
                         uint64_t gfn)
{
    const struct p2m_format_ops *ops = a->p2m->ops;
    p2m_type_t t = ops->type(e);
    unsigned int order = p2m_level_order(level);
    mfn_t mfn = ops->mfn(e, level);
    int rc;

    if ( t == p2m_mmio_direct )
        return false;
    rc = mfn_range_owned_by(a->p2m->domain, mfn, order);
    if ( rc == -EFAULT || rc == -ENXIO )
    {
        report(a, AUDIT_MFN_RANGE, level, gfn, e, mfn_x(mfn));
        return false;
    }
    if ( rc )
        report(a, AUDIT_OWNER, level, gfn, e, (uint64_t)mfn_owner(mfn));
    if ( !m2p_record_is(mfn, _gfn(gfn), order) )
        report(a, AUDIT_M2P, level, gfn, e, gfn_x(m2p_lookup(mfn)));
    return rc == 0;
}

/* The hardware rights must be exactly what type and access allow. */
static void check_rights(struct audit *a, p2m_pte_t e, unsigned int level,
                         uint64_t gfn)
{
    const struct p2m_format_ops *ops = a->p2m->ops;
    p2m_type_t t = ops->type(e);
    p2m_pte_t want = ops->make_leaf(level, ops->mfn(e, level), t,
                                    ops->access(e));

    if ( ops->rights(e) != ops->rights(want) )
        report(a, AUDIT_RIGHTS, level, gfn, e, ops->rights(want));
}

/* Hardware ANDs the rights of every level: a table entry must grant all. */
static void check_table_rights(struct audit *a, p2m_pte_t e,
                               unsigned int level, uint64_t gfn)
{
    if ( a->p2m->ops->rights(e) != P2M_ACCESS_RWX )
        report(a, AUDIT_RIGHTS, level, gfn, e, P2M_ACCESS_RWX);
}

/* Frame bits at or above the physical-address width are reserved. */
static void check_paddr(struct audit *a, p2m_pte_t e, unsigned int level,
                        uint64_t gfn, bool table)
{
    const struct p2m_format_ops *ops = a->p2m->ops;
    uint64_t limit = machine_mfn_limit(), m = mfn_x(ops->mfn(e, level));
    uint64_t n = table ? 1 : 1ull << p2m_level_order(level);

    if ( !table && (level == P2M_LEVELS || !ops->rights(e)) )
        return;                 /* not present: the hardware ignores it */
    if ( m >= limit || limit - m < n )
        report(a, AUDIT_PADDR, level, gfn, e, machine.paddr_bits);
}

/* Does table entry e point at one of this P2M's own table pages? */
static bool table_page_ok(struct audit *a, p2m_pte_t e, unsigned int level)
{
    mfn_t m = a->p2m->ops->mfn(e, level);
    struct page_info *pg = mfn_x(m) < machine.max_mfn ? mfn_chunk_head(m)
                                                      : NULL;

    return pg && pg->use == PGU_P2M &&
           pg->owner == a->p2m->domain->domain_id + 1u &&
           mfn_eq(page_to_mfn(pg), m);
}

static void check_leaf(struct audit *a, p2m_pte_t e, unsigned int level,
                       uint64_t gfn)
{
    p2m_type_t t = a->p2m->ops->type(e);

    if ( (unsigned int)t >= p2m_nr_types || level == P2M_LEVELS )
        return;                 /* reported by check_format */
    check_rights(a, e, level, gfn);
    if ( t == p2m_populate_on_demand )
        a->seen.pod_entries += 1ull << p2m_level_order(level);
    if ( !p2m_type_has_mfn(t) )
        return;
    a->seen.pages[p2m_level_idx(level)]++;
    if ( check_frames(a, e, level, gfn) && p2m_type_is_ram(t) )
    {
        /* Only frames the domain owns count as held (others are reported
         * by check_frames already). */
        a->ram_pages += 1ull << p2m_level_order(level);
        if ( a->reserved )      /* none in product domains: no lookup */
            a->ram_reserved +=
                heap_range_pages_with(a->p2m->ops->mfn(e, level),
                                      p2m_level_order(level), PGF_reserved);
    }
}

/*
 * Lookups take their own descent (ops->lookup, lock-free): at the leaf the
 * walk stands on, it must find the same entry and grant what the walk's
 * path grants.  detail: the lookup's mfn.
 */
static void check_lookup(struct audit *a, const struct p2m_iter *it)
{
    const struct p2m_format_ops *ops = a->p2m->ops;
    p2m_type_t t = ops->type(it->old);
    struct p2m_lookup l;

    ops->lookup(p2m_table(a->p2m->root), gfn_x(it->gfn), &l);
    if ( l.type != t || l.order != p2m_level_order(it->level) ||
         l.access != ops->access(it->old) ||
         l.rights != (ops->rights(it->old) & p2m_iter_path_rights(it)) ||
         !mfn_eq(l.mfn, p2m_type_has_mfn(t) ? ops->mfn(it->old, it->level)
                                            : INVALID_MFN) )
        report(a, AUDIT_LOOKUP, it->level, gfn_x(it->gfn), it->old,
               mfn_x(l.mfn));
}

/* Every entry of the tree, entering only tables of this P2M's own pages. */
static void audit_tables(struct audit *a)
{
    const struct p2m_format_ops *ops = a->p2m->ops;
    struct p2m_iter it;

    a->seen.table_pages++;      /* the root */
    for_each_p2m_entry(it, a->p2m, _gfn(0), P2M_MAX_GFN, P2M_L1)
    {
        uint64_t gfn = gfn_x(it.gfn);
        p2m_pte_t e = it.old;

        if ( !e )
            continue;
        a->digest += p2m_entry_digest(ops, it.gfn, it.level, e);
        check_format(a, e, it.level, gfn);
        check_paddr(a, e, it.level, gfn, ops->is_table(e, it.level));
        if ( !ops->is_table(e, it.level) )
        {
            check_leaf(a, e, it.level, gfn);
            check_lookup(a, &it);
            continue;
        }
        check_table_rights(a, e, it.level, gfn);
        if ( !table_page_ok(a, e, it.level) )
        {
            report(a, AUDIT_TABLE_PAGE, it.level, gfn, e, 0);
            p2m_iter_skip(&it);
            continue;
        }
        a->seen.table_pages++;
    }
}

/*
 * The entry for gfn at level, reached only through this P2M's own table
 * pages; *found is the level the walk stopped at.
 */
static p2m_pte_t lookup_at(struct audit *a, uint64_t gfn, unsigned int level,
                           unsigned int *found)
{
    const struct p2m_format_ops *ops = a->p2m->ops;
    struct p2m_iter it;

    p2m_iter_start(&it, a->p2m, _gfn(gfn), gfn + 1, level, false);
    while ( it.level > level && ops->is_table(it.old, it.level) &&
            table_page_ok(a, it.old, it.level) )
        p2m_iter_next(&it);
    *found = it.level;
    return it.old;
}

/* The reverse direction: an m2p record of one of the domain's frames must
 * be matched by a RAM leaf at its gfn, of its order, mapping that frame. */
static void check_record(void *ctx, mfn_t mfn, gfn_t gfn, unsigned int order)
{
    struct audit *a = ctx;
    const struct p2m_format_ops *ops = a->p2m->ops;
    unsigned int level = p2m_order_level(order), found = P2M_NO_LEVEL;
    uint64_t g = gfn_x(gfn);
    p2m_pte_t e = 0;

    if ( (order == PAGE_ORDER_4K || order == PAGE_ORDER_2M ||
          order == PAGE_ORDER_1G) && g < P2M_MAX_GFN && is_aligned(g, order) )
        e = lookup_at(a, g, level, &found);
    if ( found == level && !ops->is_table(e, level) &&
         p2m_type_is_ram(ops->type(e)) && mfn_eq(ops->mfn(e, level), mfn) )
        return;
    /* Only now the owner (it takes the heap lock): most records match. */
    if ( mfn_owner(mfn) != (int)a->p2m->domain->domain_id )
        return;                 /* another domain's record */
    report(a, AUDIT_M2P_STALE, level, g, e, mfn_x(mfn));
}

static void check_counter(struct audit *a, uint64_t seen, uint64_t kept,
                          uint64_t which)
{
    if ( seen != kept )
        report(a, AUDIT_COUNTER, P2M_NO_LEVEL, seen, kept, which);
}

/*
 * PoD accounting from what the tables and the cache lists hold, not from
 * the counters: every page the domain owns is mapped once as RAM or sits in
 * the cache (T = P + count; a page that is neither is a leak), and
 * T <= B <= M with B = P + entry_count (see asm-x86/p2m-pod.h).
 */
static void check_pod(struct audit *a)
{
    struct p2m_domain *p2m = a->p2m;
    struct domain *d = p2m->domain;
    uint64_t t, count, listed, p = a->ram_pages, b;

    spin_lock(&p2m->pod.lock);
    t = d->tot_pages;
    count = p2m->pod.count;
    listed = p2m_pod_cache_listed(p2m);
    spin_unlock(&p2m->pod.lock);
    /* Toolstack-held (PGF_reserved) pages may sit unmapped: not held. */
    t = t - a->reserved + a->ram_reserved;
    b = p + a->seen.pod_entries;
    if ( listed != count )
        report(a, AUDIT_POD, P2M_NO_LEVEL, listed, count, 0);
    if ( p + listed != t )
        report(a, AUDIT_LEAK, P2M_NO_LEVEL, t, p, listed);
    if ( t > b || b > d->max_pages )
        report(a, AUDIT_POD, P2M_NO_LEVEL, t, b, d->max_pages);
}

unsigned int p2m_audit(struct p2m_domain *p2m, struct p2m_audit_report *r)
{
    struct audit a = { .p2m = p2m, .r = r };
    unsigned int i;

    r->nr_errors = r->nr_recorded = 0;
    spin_lock(&p2m->lock);
    a.reserved = heap_domain_pages_with(p2m->domain, PGF_reserved);
    audit_tables(&a);
    m2p_for_each_record(check_record, &a);
    for ( i = 0; i < P2M_LEAF_LEVELS; i++ )
        check_counter(&a, a.seen.pages[i], p2m->stats.pages[i], i);
    check_counter(&a, a.seen.table_pages, p2m->stats.table_pages,
                  AUDIT_CTR_TABLE_PAGES);
    check_counter(&a, a.seen.pod_entries, p2m->stats.pod_entries,
                  AUDIT_CTR_POD_ENTRIES);
    check_pod(&a);
    if ( p2m->domain->p2m_pages != p2m->stats.table_pages + p2m->pool_pages +
         (p2m->dirty_map ? 1ull << p2m->dirty_map->order : 0) ||
         !list_empty(&p2m->deferred) )
        report(&a, AUDIT_POOL, P2M_NO_LEVEL, 0, p2m->domain->p2m_pages,
               p2m->stats.table_pages + p2m->pool_pages);
    /* Only a tree that is otherwise right can tell that some entry was
     * written past p2m_iter_set (any other damage is reported as such). */
    if ( !r->nr_errors )
        check_counter(&a, a.digest, p2m->entry_digest, AUDIT_CTR_DIGEST);
    spin_unlock(&p2m->lock);
    return r->nr_errors;
}

const char *p2m_audit_code_name(enum p2m_audit_code c)
{
    static const char *const names[] = {
        [AUDIT_RESERVED_BITS] = "reserved_bits",
        [AUDIT_FORMAT] = "format",
        [AUDIT_PS_AT_L4] = "ps_at_l4",
        [AUDIT_MISALIGNED] = "misaligned",
        [AUDIT_BAD_TYPE] = "bad_type",
        [AUDIT_M2P] = "m2p",
        [AUDIT_OWNER] = "owner",
        [AUDIT_TABLE_PAGE] = "table_page",
        [AUDIT_COUNTER] = "counter",
        [AUDIT_MFN_RANGE] = "mfn_range",
        [AUDIT_POOL] = "pool",
        [AUDIT_POD] = "pod",
        [AUDIT_RIGHTS] = "rights",
        [AUDIT_LEAK] = "leak",
        [AUDIT_PADDR] = "paddr_bits",
        [AUDIT_M2P_STALE] = "m2p_stale",
        [AUDIT_LOOKUP] = "lookup",
    };

    if ( (unsigned int)c < ARRAY_SIZE(names) && names[c] )
        return names[c];
    return "unknown";
}

/*
 * audit_p2m: walk the real tables of either format and report every
 * discrepancy: format rules, alignment, types, m2p, ownership, the
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

/* A leaf with a frame: range, ownership and the m2p record. */
static void check_frames(struct audit *a, p2m_pte_t e, unsigned int level,
                         uint64_t gfn)
{
    const struct p2m_format_ops *ops = a->p2m->ops;
    p2m_type_t t = ops->type(e);
    unsigned int order = p2m_level_order(level);
    mfn_t mfn = ops->mfn(e, level);
    int rc;

    if ( t == p2m_mmio_direct )
        return;
    rc = mfn_range_owned_by(a->p2m->domain, mfn, order);
    if ( rc == -EFAULT || rc == -ENXIO )
    {
        report(a, AUDIT_MFN_RANGE, level, gfn, e, mfn_x(mfn));
        return;
    }
    if ( rc )
        report(a, AUDIT_OWNER, level, gfn, e, (uint64_t)mfn_owner(mfn));
    if ( !m2p_record_is(mfn, _gfn(gfn), order) )
        report(a, AUDIT_M2P, level, gfn, e, gfn_x(m2p_lookup(mfn)));
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
    a->seen.pages[level - 1]++;
    check_frames(a, e, level, gfn);
}

static void audit_table(struct audit *a, mfn_t table, unsigned int level,
                        uint64_t base)
{
    const struct p2m_format_ops *ops = a->p2m->ops;
    const p2m_pte_t *t = p2m_table(table);
    unsigned int i;

    a->seen.table_pages++;
    for ( i = 0; i < 512; i++ )
    {
        uint64_t gfn = base + ((uint64_t)i << p2m_level_order(level));
        p2m_pte_t e = t[i];
        struct page_info *pg;

        if ( !e )
            continue;
        check_format(a, e, level, gfn);
        if ( !ops->is_table(e, level) )
        {
            check_leaf(a, e, level, gfn);
            continue;
        }
        pg = mfn_x(ops->mfn(e, level)) < machine.max_mfn
                 ? mfn_chunk_head(ops->mfn(e, level)) : NULL;
        if ( !pg || pg->use != PGU_P2M ||
             pg->owner != a->p2m->domain->domain_id + 1u ||
             !mfn_eq(page_to_mfn(pg), ops->mfn(e, level)) )
        {
            report(a, AUDIT_TABLE_PAGE, level, gfn, e, 0);
            continue;
        }
        audit_table(a, ops->mfn(e, level), level - 1, gfn);
    }
}

static void check_counter(struct audit *a, uint64_t seen, uint64_t kept,
                          uint64_t which)
{
    if ( seen != kept )
        report(a, AUDIT_COUNTER, 0, seen, kept, which);
}

/* PoD accounting: T = P + count, T <= B <= M (see asm-x86/p2m-pod.h). */
static void check_pod(struct audit *a)
{
    struct p2m_domain *p2m = a->p2m;
    struct domain *d = p2m->domain;
    uint64_t t, count, b;

    spin_lock(&p2m->pod.lock);
    t = d->tot_pages;
    count = p2m->pod.count;
    spin_unlock(&p2m->pod.lock);
    b = t - count + a->seen.pod_entries;
    if ( count > t || count > a->seen.pod_entries || b > d->max_pages )
        report(a, AUDIT_POD, 0, count, t, b);
}

unsigned int p2m_audit(struct p2m_domain *p2m, struct p2m_audit_report *r)
{
    struct audit a = { .p2m = p2m, .r = r };
    unsigned int i;

    r->nr_errors = r->nr_recorded = 0;
    spin_lock(&p2m->lock);
    audit_table(&a, p2m->root, P2M_LEVELS, 0);
    for ( i = 0; i < 3; i++ )
        check_counter(&a, a.seen.pages[i], p2m->stats.pages[i], i);
    check_counter(&a, a.seen.table_pages, p2m->stats.table_pages, 3);
    check_counter(&a, a.seen.pod_entries, p2m->stats.pod_entries, 4);
    check_pod(&a);
    if ( p2m->domain->p2m_pages != p2m->stats.table_pages + p2m->pool_pages ||
         !list_empty(&p2m->deferred) )
        report(&a, AUDIT_POOL, 0, 0, p2m->domain->p2m_pages,
               p2m->stats.table_pages + p2m->pool_pages);
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
    };

    if ( (unsigned int)c < ARRAY_SIZE(names) && names[c] )
        return names[c];
    return "unknown";
}

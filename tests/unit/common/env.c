/*
 * Shared helpers for the P2M unit tests (see env.h).
 */
#include "env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const enum p2m_format env_npt = P2M_FORMAT_NPT;
const enum p2m_format env_ept = P2M_FORMAT_EPT;

static bool machine_up;

const char *env_fmt_name(enum p2m_format fmt)
{
    return p2m_format_to_name(fmt);
}

void env_machine(const char *layout)
{
    struct machine_range r[MACHINE_MAX_RANGES];
    const char *why = "";
    unsigned int n;

    if ( machine_up )
        env_cleanup(NULL);
    if ( hosted_parse_layout(layout, r, MACHINE_MAX_RANGES, &n, &why) )
        fail_msg("layout %s: %s", layout, why);
    assert_int_equal(hosted_machine_init(r, n), 0);
    machine_up = true;
    heap_fail_nth(0);
}

struct domain *env_domain(domid_t id, enum p2m_format fmt)
{
    int err = 0;
    struct domain *d = domain_create(id, fmt, ~0ull, 2, &err);

    assert_int_equal(err, 0);
    assert_non_null(d);
    return d;
}

static void destroy_all(void)
{
    unsigned int i;

    for ( i = 0; i < MAX_DOMAINS; i++ )
    {
        struct domain *d = domain_lookup(i);

        if ( d )
            domain_destroy(d);
    }
}

void env_finish(void)
{
    struct heap_stats s;

    heap_fail_nth(0);
    destroy_all();
    assert_int_equal(heap_check_accounting(), 0);
    heap_unfragment();
    heap_get_stats(&s);
    assert_int_equal(s.free_pages, s.total_pages);
    assert_int_equal(heap_check_accounting(), 0);
    hosted_machine_fini();
    machine_up = false;
}

int env_cleanup(void **state)
{
    (void)state;
    if ( !machine_up )
        return 0;
    heap_fail_nth(0);
    destroy_all();
    hosted_machine_fini();
    machine_up = false;
    return 0;
}

mfn_t env_alloc(struct domain *d, unsigned int order)
{
    struct page_info *pg = alloc_domheap_pages(d, order, MEMF_reserve);

    assert_non_null(pg);
    return page_to_mfn(pg);
}

void env_claim(struct domain *d, uint64_t mfn, unsigned int order)
{
    assert_int_equal(claim_domheap_range(d, _mfn(mfn), order), 0);
    assert_int_equal(heap_reserve_range(d, _mfn(mfn), order), 0);
}

uint64_t env_claim_gibs(struct domain *d, unsigned int n)
{
    uint64_t b;
    unsigned int i;

    for ( b = 0; b + n * GIB_FRAMES <= machine.max_mfn; b += GIB_FRAMES )
    {
        for ( i = 0; i < n; i++ )
            if ( claim_domheap_range(d, _mfn(b + i * GIB_FRAMES), 18) )
                break;
        if ( i == n )
        {
            for ( i = 0; i < n; i++ )
                assert_int_equal(heap_reserve_range(d, _mfn(b + i * GIB_FRAMES),
                                                    18), 0);
            return b;
        }
        while ( i-- > 0 )
            assert_int_equal(free_domheap_range(d, _mfn(b + i * GIB_FRAMES),
                                                18), 0);
    }
    fail_msg("no %u free GiB in a row", n);
    return 0;
}

p2m_access_t env_rights(enum p2m_format fmt, p2m_type_t t, p2m_access_t a)
{
    p2m_access_t r = a & p2m_type_rights(t);

    if ( !p2m_type_has_mfn(t) || (r & P2M_ACCESS_R) )
        return r;
    /* No read: NPT has no present bit to give; EPT may still execute, on
     * CPUs with execute-only support. */
    if ( fmt == P2M_FORMAT_NPT || !machine.ept_exec_only )
        return 0;
    return r & ~P2M_ACCESS_W;
}

void env_expect(struct domain *d, uint64_t gfn, uint64_t mfn, p2m_type_t t,
                p2m_access_t a, unsigned int order)
{
    enum p2m_format fmt = p2m_format_of(&d->p2m);
    struct p2m_lookup l;

    assert_int_equal(p2m_get_entry(&d->p2m, _gfn(gfn), &l), 0);
    if ( mfn_x(l.mfn) != mfn || l.type != t || l.order != order ||
         (p2m_type_has_mfn(t) && l.access != a) ||
         l.rights != env_rights(fmt, t, a) )
        fail_msg("%s gfn %#llx: mfn %#llx type %s access %u rights %u "
                 "order %u; expected mfn %#llx type %s access %u rights %u "
                 "order %u", env_fmt_name(fmt), (unsigned long long)gfn,
                 (unsigned long long)mfn_x(l.mfn), p2m_type_name(l.type),
                 l.access, l.rights, l.order, (unsigned long long)mfn,
                 p2m_type_name(t), a, env_rights(fmt, t, a), order);
}

void env_expect_stats(struct domain *d, uint64_t p4k, uint64_t p2m,
                      uint64_t p1g, uint64_t table_pages, uint64_t splits)
{
    struct p2m_stats s;

    p2m_get_stats(&d->p2m, &s);
    if ( s.pages[p2m_level_idx(P2M_L1)] != p4k ||
         s.pages[p2m_level_idx(P2M_L2)] != p2m ||
         s.pages[p2m_level_idx(P2M_L3)] != p1g ||
         s.table_pages != table_pages || s.splits != splits )
        fail_msg("stats 4K/2M/1G %llu/%llu/%llu tables %llu splits %llu; "
                 "expected %llu/%llu/%llu tables %llu splits %llu",
                 (unsigned long long)s.pages[p2m_level_idx(P2M_L1)],
                 (unsigned long long)s.pages[p2m_level_idx(P2M_L2)],
                 (unsigned long long)s.pages[p2m_level_idx(P2M_L3)],
                 (unsigned long long)s.table_pages,
                 (unsigned long long)s.splits, (unsigned long long)p4k,
                 (unsigned long long)p2m, (unsigned long long)p1g,
                 (unsigned long long)table_pages, (unsigned long long)splits);
}

void env_expect_audit_clean(struct domain *d)
{
    static struct p2m_audit_report r;
    unsigned int i;

    if ( !p2m_audit(&d->p2m, &r) )
        return;
    for ( i = 0; i < r.nr_recorded; i++ )
        print_message("audit: %s level %u gfn %#llx entry %#llx\n",
                      p2m_audit_code_name(r.err[i].code), r.err[i].level,
                      (unsigned long long)r.err[i].gfn,
                      (unsigned long long)r.err[i].entry);
    fail_msg("p2m_audit of d%u found %u errors", d->domain_id, r.nr_errors);
}

void env_expect_clean(struct domain *d)
{
    env_expect_audit_clean(d);
    assert_int_equal(heap_check_accounting(), 0);
}

p2m_pte_t *env_entry(struct p2m_domain *p2m, uint64_t gfn, unsigned int level)
{
    mfn_t table = p2m->root;
    unsigned int l;

    for ( l = P2M_LEVELS; ; l-- )
    {
        p2m_pte_t *e = (p2m_pte_t *)plat_map_mfn(table) +
                       ((gfn >> p2m_level_order(l)) & 511);

        if ( l == level )
            return e;
        if ( !p2m->ops->is_table(*e, l) )
            return NULL;
        table = p2m->ops->mfn(*e, l);
    }
}

static int dump_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    struct env_snap *s = ctx;

    if ( s->nr == s->cap )
    {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->leaf = realloc(s->leaf, s->cap * sizeof(*s->leaf));
        if ( !s->leaf )
            return -ENOMEM;
    }
    s->leaf[s->nr++] = (struct env_leaf){ gfn_x(gfn), mfn_x(l->mfn), l->type,
                                          l->access, l->rights, l->order };
    return 0;
}

void env_dump(struct domain *d, struct env_snap *s)
{
    s->nr = 0;
    assert_int_equal(p2m_for_each_leaf(&d->p2m, dump_leaf, s), 0);
}

void env_snap_take(struct domain *d, struct env_snap *s)
{
    env_dump(d, s);
    p2m_get_stats(&d->p2m, &s->stats);
    s->tot_pages = d->tot_pages;
    s->p2m_pages = d->p2m_pages;
    heap_get_stats(&s->heap);
}

static void expect_leaves_equal(const struct env_snap *a,
                                const struct env_snap *b)
{
    size_t i;

    if ( a->nr != b->nr )
        fail_msg("%zu leaves before, %zu after", a->nr, b->nr);
    for ( i = 0; i < a->nr; i++ )
    {
        const struct env_leaf *x = &a->leaf[i], *y = &b->leaf[i];

        if ( x->gfn != y->gfn || x->mfn != y->mfn || x->type != y->type ||
             x->access != y->access || x->rights != y->rights ||
             x->order != y->order )
            fail_msg("leaf %zu changed: gfn %#llx mfn %#llx %s/%u order %u "
                     "became gfn %#llx mfn %#llx %s/%u order %u", i,
                     (unsigned long long)x->gfn, (unsigned long long)x->mfn,
                     p2m_type_name(x->type), x->rights, x->order,
                     (unsigned long long)y->gfn, (unsigned long long)y->mfn,
                     p2m_type_name(y->type), y->rights, y->order);
    }
}

void env_snap_expect_equal(const struct env_snap *a, const struct env_snap *b,
                           bool heap)
{
    unsigned int k;

    expect_leaves_equal(a, b);
    assert_memory_equal(&a->stats, &b->stats, sizeof(a->stats));
    if ( !heap )
        return;
    assert_int_equal(a->tot_pages, b->tot_pages);
    assert_int_equal(a->p2m_pages, b->p2m_pages);
    assert_int_equal(a->heap.free_pages, b->heap.free_pages);
    assert_int_equal(a->heap.xen_pages, b->heap.xen_pages);
    for ( k = 0; k <= MAX_ORDER; k++ )
        assert_int_equal(a->heap.free_chunks[k], b->heap.free_chunks[k]);
}

void env_snap_free(struct env_snap *s)
{
    free(s->leaf);
    memset(s, 0, sizeof(*s));
}

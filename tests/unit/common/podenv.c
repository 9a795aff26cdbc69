/*
 * Helpers for the populate-on-demand tests (see podenv.h).
 */
#include "podenv.h"

struct domain *podenv_domain(domid_t id, enum p2m_format fmt,
                             uint64_t max_pages, unsigned int nr_vcpus)
{
    int err = 0;
    struct domain *d = domain_create(id, fmt, max_pages, nr_vcpus, &err);

    assert_int_equal(err, 0);
    assert_non_null(d);
    return d;
}

struct pod_stats podenv_stats(struct domain *d)
{
    struct pod_stats s;

    p2m_pod_get_stats(d, &s);
    return s;
}

void podenv_expect_chunks(struct domain *d, uint64_t c4k, uint64_t c2m,
                          uint64_t c1g)
{
    struct pod_stats s = podenv_stats(d);

    if ( s.cache_chunks[POD_4K] != c4k || s.cache_chunks[POD_2M] != c2m ||
         s.cache_chunks[POD_1G] != c1g )
        fail_msg("cache chunks 4K/2M/1G %llu/%llu/%llu, expected "
                 "%llu/%llu/%llu", (unsigned long long)s.cache_chunks[POD_4K],
                 (unsigned long long)s.cache_chunks[POD_2M],
                 (unsigned long long)s.cache_chunks[POD_1G],
                 (unsigned long long)c4k, (unsigned long long)c2m,
                 (unsigned long long)c1g);
    assert_int_equal(s.count, c4k + (c2m << PAGE_ORDER_2M) +
                              (c1g << PAGE_ORDER_1G));
}

void podenv_check(struct domain *d, bool heap)
{
    struct pod_stats s = podenv_stats(d);

    assert_int_equal(p2m_pod_check(d), 0);
    /* The contract, from the outside: T = P + count <= B <= M. */
    assert_int_equal(s.tot_pages, s.populated + s.count);
    assert_true(s.count <= s.entry_count);
    assert_true(s.populated + s.entry_count <= s.max_pages);
    env_expect_audit_clean(d);
    if ( heap )
        assert_int_equal(heap_check_accounting(), 0);
}

int podenv_set_target(struct domain *d, uint64_t target)
{
    int rc;

    while ( (rc = p2m_pod_set_target(d, target)) == -EAGAIN )
        ;
    return rc;
}

void podenv_mark(struct domain *d, uint64_t gfn, uint64_t nr)
{
    int rc = p2m_pod_mark(d, _gfn(gfn), nr);

    if ( rc )
        fail_msg("p2m_pod_mark(%#llx, %#llx) = %d", (unsigned long long)gfn,
                 (unsigned long long)nr, rc);
}

struct p2m_lookup podenv_lookup(struct domain *d, uint64_t gfn)
{
    struct p2m_lookup l;

    assert_int_equal(p2m_get_entry(&d->p2m, _gfn(gfn), &l), 0);
    return l;
}

void podenv_expect_type(struct domain *d, uint64_t gfn, p2m_type_t t,
                        unsigned int order)
{
    struct p2m_lookup l = podenv_lookup(d, gfn);

    if ( l.type != t || l.order != order )
        fail_msg("gfn %#llx: %s order %u, expected %s order %u",
                 (unsigned long long)gfn, p2m_type_name(l.type), l.order,
                 p2m_type_name(t), order);
}

void podenv_write(struct vcpu *v, uint64_t gfn, unsigned int off,
                  uint64_t val)
{
    int rc = hosted_guest_write(v, _gfn(gfn), off, val);

    if ( rc )
        fail_msg("d%uv%u write gfn %#llx: %d", v->domain->domain_id,
                 v->vcpu_id, (unsigned long long)gfn, rc);
}

uint64_t podenv_read(struct vcpu *v, uint64_t gfn, unsigned int off)
{
    uint64_t val = 0;
    int rc = hosted_guest_read(v, _gfn(gfn), off, &val);

    if ( rc )
        fail_msg("d%uv%u read gfn %#llx: %d", v->domain->domain_id,
                 v->vcpu_id, (unsigned long long)gfn, rc);
    return val;
}

static int count_pod_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    uint64_t *n = ctx;

    (void)gfn;
    if ( l->type == p2m_populate_on_demand )
        n[p2m_level_idx(p2m_order_level(l->order))]++;
    return 0;
}

void podenv_count_pod(struct domain *d, uint64_t out[POD_ORDERS])
{
    unsigned int i;

    for ( i = 0; i < POD_ORDERS; i++ )
        out[i] = 0;
    assert_int_equal(p2m_for_each_leaf(&d->p2m, count_pod_leaf, out), 0);
}

int64_t podenv_balloon(struct domain *d, gfn_t gfn, unsigned int order)
{
    uint64_t done = 0, pages = 0;
    int rc = p2m_pod_decrease_reservation(d, gfn, 1, order, &done, &pages);

    return rc ? rc : (int64_t)pages;
}

/*
 * Populate-on-demand: marking, the 1G/2M/4K cache, the memory target,
 * demand populate with remap-and-retry, the zero-check sweeper, ballooning,
 * out-of-memory (pause or crash) and a randomized test against a model of
 * guest memory.  Every test runs for NPT and EPT.
 */
#include "podenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G GIB_FRAMES
#define M2 MIB2_FRAMES
#define MACHINE "0-8G"
#define TAG(g) (0x7a6700000000ull ^ ((g) * 0x9e3779b97f4a7c15ull) ^ 1)

/* --- marking --- */

struct mark_case {
    uint64_t gfn, nr;
    uint64_t pod[POD_ORDERS];      /* PoD entries per order after it */
    struct { uint64_t gfn; p2m_type_t t; unsigned int order; } probe[4];
};

/* Each case adds to the marks of the ones before it. */
static const struct mark_case mark_cases[] = {
    /* 1G-aligned: one L3 entry. */
    { G, G, { 0, 0, 1 },
      { { G, p2m_populate_on_demand, 18 },
        { 2 * G - 1, p2m_populate_on_demand, 18 },
        { G - 1, p2m_invalid, 18 } } },
    /* 2M-aligned: L2 entries only. */
    { 2 * G + M2, 3 * M2, { 0, 3, 1 },
      { { 2 * G + M2 + 7, p2m_populate_on_demand, 9 },
        { 2 * G + 4 * M2 - 1, p2m_populate_on_demand, 9 },
        { 2 * G, p2m_invalid, 9 },
        { 2 * G + 4 * M2, p2m_invalid, 9 } } },
    /* Odd ends: 507 x 4K, 1 x 2M, 7 x 4K. */
    { 3 * G + 5, 2 * M2 + 2, { 514, 4, 1 },
      { { 3 * G + 5, p2m_populate_on_demand, 0 },
        { 3 * G + 4, p2m_invalid, 0 },
        { 3 * G + M2 + 100, p2m_populate_on_demand, 9 },
        { 3 * G + 2 * M2 + 7, p2m_invalid, 0 } } },
    /* Marking part of a PoD entry again adds no pages (the 1G entry is
     * split, as any smaller p2m_set_entry over a superpage would). */
    { G + M2, M2, { 514, 516, 0 },
      { { G + M2, p2m_populate_on_demand, 9 },
        { G, p2m_populate_on_demand, 9 } } },
    /* Across a 1G boundary, not 1G-aligned: 2M entries. */
    { 5 * G - 2 * M2, 4 * M2, { 514, 520, 0 },
      { { 5 * G - 1, p2m_populate_on_demand, 9 },
        { 5 * G, p2m_populate_on_demand, 9 } } },
};

/* The per-size counter index (POD_4K..POD_1G) of a leaf order. */
static unsigned int order_idx(unsigned int order)
{
    return p2m_level_idx(p2m_order_level(order));
}

static void expect_pod_counts(struct domain *d, const uint64_t want[])
{
    uint64_t n[POD_ORDERS];
    unsigned int i;

    podenv_count_pod(d, n);
    for ( i = 0; i < POD_ORDERS; i++ )
        if ( n[i] != want[i] )
            fail_msg("PoD entries 4K/2M/1G %llu/%llu/%llu, expected "
                     "%llu/%llu/%llu", (unsigned long long)n[POD_4K],
                     (unsigned long long)n[POD_2M],
                     (unsigned long long)n[POD_1G],
                     (unsigned long long)want[POD_4K],
                     (unsigned long long)want[POD_2M],
                     (unsigned long long)want[POD_1G]);
}

static uint64_t pod_pages(const uint64_t n[POD_ORDERS])
{
    return n[POD_4K] + (n[POD_2M] << PAGE_ORDER_2M) +
           (n[POD_1G] << PAGE_ORDER_1G);
}

static void test_mark(void **state)
{
    struct domain *d;
    unsigned int i, k;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 8 * G, 2);
    for ( i = 0; i < ARRAY_SIZE(mark_cases); i++ )
    {
        const struct mark_case *c = &mark_cases[i];
        struct p2m_stats ps;

        podenv_mark(d, c->gfn, c->nr);
        expect_pod_counts(d, c->pod);
        for ( k = 0; k < ARRAY_SIZE(c->probe) && c->probe[k].gfn; k++ )
            podenv_expect_type(d, c->probe[k].gfn, c->probe[k].t,
                               c->probe[k].order);
        p2m_get_stats(&d->p2m, &ps);
        assert_int_equal(ps.pod_entries, pod_pages(c->pod));
        assert_int_equal(podenv_stats(d).entry_count, pod_pages(c->pod));
        assert_int_equal(d->tot_pages, 0);
        podenv_check(d, true);
    }
    env_finish();
}

/* Expect mark to fail with rc and to have changed nothing at all. */
static void expect_mark_fails(struct domain *d, uint64_t gfn, uint64_t nr,
                              int rc)
{
    struct env_snap a = { 0 }, b = { 0 };

    env_snap_take(d, &a);
    assert_int_equal(p2m_pod_mark(d, _gfn(gfn), nr), rc);
    env_snap_take(d, &b);
    env_snap_expect_equal(&a, &b, true);
    env_snap_free(&a);
    env_snap_free(&b);
    podenv_check(d, true);
}

static void test_mark_errors(void **state)
{
    uint64_t max = 2 * G, used;
    struct domain *d;
    mfn_t mfn;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), max, 2);
    podenv_mark(d, 0, G);
    assert_int_equal(memory_populate(d, _gfn(G + 10), 0, p2m_ram_rw,
                                     P2M_ACCESS_RWX, &mfn), 0);
    /* RAM anywhere in the range: -EBUSY, also at its last page. */
    expect_mark_fails(d, G, M2, -EBUSY);
    expect_mark_fails(d, G + 3, 8, -EBUSY);
    expect_mark_fails(d, G + 10, 1, -EBUSY);
    /* B may reach max_pages exactly, not one page more. */
    used = G + 1;
    expect_mark_fails(d, 4 * G, max - used + 1, -ENOSPC);
    expect_mark_fails(d, 8 * G - 3, 2 * G, -ENOSPC);
    expect_mark_fails(d, P2M_MAX_GFN - 1, 2, -ERANGE);
    podenv_mark(d, 4 * G, max - used);
    assert_int_equal(podenv_stats(d).entry_count, max - 1);
    expect_mark_fails(d, 6 * G, 1, -ENOSPC);
    /* Re-marking PoD pages needs no room. */
    podenv_mark(d, 0, G);
    podenv_check(d, true);
    env_finish();
}

/* --- the cache --- */

static struct page_info *owned_chunk(struct domain *d, unsigned int order)
{
    struct page_info *pg = alloc_domheap_pages(d, order, 0);

    assert_non_null(pg);
    return pg;
}

static bool chunk_within(struct page_info *pg, unsigned int order,
                         struct page_info *in, unsigned int in_order)
{
    uint64_t m = mfn_x(page_to_mfn(pg)), s = mfn_x(page_to_mfn(in));

    return pg->order == order && m >= s && m + (1ull << order) <=
           s + (1ull << in_order);
}

/* Take a chunk of order; it must come from within `from`. */
static struct page_info *take(struct domain *d, unsigned int order,
                              struct page_info *from, unsigned int from_order)
{
    struct page_info *pg = p2m_pod_cache_get(d, order);

    assert_non_null(pg);
    if ( !chunk_within(pg, order, from, from_order) )
        fail_msg("cache_get(%u) gave mfn %#llx order %u, not from the "
                 "order-%u chunk at %#llx", order,
                 (unsigned long long)mfn_x(page_to_mfn(pg)), pg->order,
                 from_order, (unsigned long long)mfn_x(page_to_mfn(from)));
    assert_false(pg->flags & PGF_pod);
    return pg;
}

static void test_cache_split_order(void **state)
{
    struct page_info *g1, *m2, *pg[4];
    struct domain *d;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 8 * G, 2);
    podenv_mark(d, 0, 2 * G);
    g1 = owned_chunk(d, PAGE_ORDER_1G);
    m2 = owned_chunk(d, PAGE_ORDER_2M);
    p2m_pod_cache_add(d, g1);
    p2m_pod_cache_add(d, m2);
    podenv_expect_chunks(d, 0, 1, 1);
    podenv_check(d, true);

    /* 4K: the 2M page is broken, the 1G page kept whole. */
    pg[0] = take(d, 0, m2, PAGE_ORDER_2M);
    podenv_expect_chunks(d, 511, 0, 1);
    /* 4K again: from the 4K list. */
    pg[1] = take(d, 0, m2, PAGE_ORDER_2M);
    podenv_expect_chunks(d, 510, 0, 1);
    /* 2M with no 2M left: the 1G page is broken. */
    pg[2] = take(d, PAGE_ORDER_2M, g1, PAGE_ORDER_1G);
    podenv_expect_chunks(d, 510, 511, 0);
    podenv_check(d, true);
    /* Nothing of 1G: NULL, and the cache is untouched. */
    assert_null(p2m_pod_cache_get(d, PAGE_ORDER_1G));
    podenv_expect_chunks(d, 510, 511, 0);
    /* Taken chunks belong to the domain (populated, not cached). */
    assert_int_equal(podenv_stats(d).populated, 2 + M2);
    p2m_pod_cache_add(d, pg[0]);
    p2m_pod_cache_add(d, pg[1]);
    p2m_pod_cache_add(d, pg[2]);
    podenv_expect_chunks(d, 512, 512, 0);
    podenv_check(d, true);

    /* A cache of one 1G page: a 4K request breaks it twice. */
    podenv_set_target(d, 0);
    podenv_expect_chunks(d, 0, 0, 0);
    g1 = owned_chunk(d, PAGE_ORDER_1G);
    p2m_pod_cache_add(d, g1);
    pg[3] = take(d, 0, g1, PAGE_ORDER_1G);
    podenv_expect_chunks(d, 511, 511, 0);
    p2m_pod_cache_add(d, pg[3]);
    podenv_check(d, true);
    env_finish();
}

/* --- the target --- */

struct grow_case {
    enum heap_fragment_mode frag;
    uint64_t target;
    uint64_t chunks[POD_ORDERS];     /* 4K, 2M, 1G */
};

static const struct grow_case grow_cases[] = {
    { FRAG_NONE, G + 2 * M2 + 3, { 3, 2, 1 } },
    { FRAG_NONE, 2 * G, { 0, 0, 2 } },
    { FRAG_NO1G, G + 3, { 3, 512, 0 } },
    { FRAG_NO1G, 2 * M2 + 1, { 1, 2, 0 } },
    { FRAG_NO2M, M2 + 3, { 515, 0, 0 } },
};

static void test_target_grow(void **state)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(grow_cases); i++ )
    {
        const struct grow_case *c = &grow_cases[i];
        struct heap_stats h0, h1;
        struct domain *d;

        env_machine(MACHINE);
        d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
        podenv_mark(d, 0, 4 * G);
        assert_int_equal(heap_fragment(c->frag), 0);
        heap_get_stats(&h0);
        assert_int_equal(p2m_pod_set_target(d, c->target), 0);
        podenv_expect_chunks(d, c->chunks[POD_4K], c->chunks[POD_2M],
                             c->chunks[POD_1G]);
        assert_int_equal(podenv_stats(d).target, c->target);
        assert_int_equal(d->tot_pages, c->target);
        heap_get_stats(&h1);
        assert_int_equal(h0.free_pages - h1.free_pages, c->target);
        podenv_check(d, true);
        env_finish();
    }
}

static void test_target_shrink(void **state)
{
    struct heap_stats h0, h1;
    struct domain *d;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    podenv_mark(d, 0, 4 * G);
    heap_get_stats(&h0);
    assert_int_equal(p2m_pod_set_target(d, G + 2 * M2 + 3), 0);
    podenv_expect_chunks(d, 3, 2, 1);

    /* 1G + 2M less: the 1G page and one 2M page go, no 4K page. */
    assert_int_equal(p2m_pod_set_target(d, M2 + 3), 0);
    podenv_expect_chunks(d, 3, 1, 0);
    podenv_check(d, true);
    /* 1G more, then 5 pages less than that: a 4K shrink breaks 2M, not 1G. */
    assert_int_equal(p2m_pod_set_target(d, G + M2 + 3), 0);
    podenv_expect_chunks(d, 3, 1, 1);
    assert_int_equal(p2m_pod_set_target(d, G + M2 - 2), 0);
    podenv_expect_chunks(d, 510, 0, 1);
    podenv_check(d, true);
    /* 2M less with no 2M page: the 1G page is broken for it. */
    assert_int_equal(p2m_pod_set_target(d, G - 2), 0);
    podenv_expect_chunks(d, 510, 511, 0);
    assert_int_equal(p2m_pod_set_target(d, 0), 0);
    podenv_expect_chunks(d, 0, 0, 0);
    assert_int_equal(d->tot_pages, 0);
    heap_get_stats(&h1);
    assert_int_equal(h1.free_pages, h0.free_pages);
    podenv_check(d, true);
    env_finish();
}

/* The cache never holds more than the PoD entries need; T <= M. */
static void test_target_limits(void **state)
{
    struct domain *d;
    mfn_t mfn;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    podenv_mark(d, 0, G + M2);
    assert_int_equal(p2m_pod_set_target(d, 3 * G), 0);
    podenv_expect_chunks(d, 0, 1, 1);
    assert_int_equal(d->tot_pages, G + M2);
    assert_int_equal(p2m_pod_set_target(d, 4 * G + 1), -EINVAL);
    assert_int_equal(podenv_stats(d).target, 3 * G);
    /* Populated pages count against the target. */
    assert_int_equal(memory_populate(d, _gfn(2 * G), PAGE_ORDER_2M,
                                     p2m_ram_rw, P2M_ACCESS_RWX, &mfn), 0);
    assert_int_equal(p2m_pod_set_target(d, G + 2), 0);
    assert_int_equal(podenv_stats(d).count, G + 2 - M2);
    assert_int_equal(p2m_pod_set_target(d, M2 - 1), 0);
    assert_int_equal(podenv_stats(d).count, 0);
    podenv_check(d, true);
    env_finish();
}

/*
 * Bounded work: on a host without free 2M blocks a target of 2 GiB takes
 * 512K allocations, which p2m_pod_set_target does over many -EAGAIN calls.
 */
static void run_bounded(struct domain *d, uint64_t target, unsigned int *calls)
{
    uint64_t prev = podenv_stats(d).count, want = target, now;
    int rc;

    *calls = 0;
    do {
        rc = p2m_pod_set_target(d, target);
        assert_true(rc == 0 || rc == -EAGAIN);
        now = podenv_stats(d).count;
        /* Each call moves the cache, by at most its budget of steps. */
        assert_true(now != prev);
        assert_true(now > prev ? now - prev <= 4096 : prev - now <= 4096);
        prev = now;
        assert_int_equal(p2m_pod_check(d), 0);
        env_expect_audit_clean(d);
        if ( ++*calls % 32 == 0 )
            assert_int_equal(heap_check_accounting(), 0);
        assert_true(*calls < 1000);
    } while ( rc == -EAGAIN );
    assert_int_equal(podenv_stats(d).count, want);
}

static void test_target_bounded(void **state)
{
    struct heap_stats h0, h1;
    unsigned int calls;
    struct domain *d;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    podenv_mark(d, 0, 4 * G);
    assert_int_equal(heap_fragment(FRAG_NO2M), 0);
    heap_get_stats(&h0);
    run_bounded(d, 2 * G, &calls);
    assert_true(calls >= 2 * G / 4096);
    podenv_expect_chunks(d, 2 * G, 0, 0);
    podenv_check(d, true);
    run_bounded(d, G / 2, &calls);
    assert_true(calls >= (3 * G / 2) / 4096);
    podenv_expect_chunks(d, G / 2, 0, 0);
    run_bounded(d, 0, &calls);
    heap_get_stats(&h1);
    assert_int_equal(h1.free_pages, h0.free_pages);
    podenv_check(d, true);
    env_finish();
}

/* --- demand populate --- */

struct fill_case {
    enum heap_fragment_mode frag;
    uint64_t mark_gfn;
    unsigned int mark_order;        /* one PoD entry of this order */
    uint64_t target;                /* cache of this many pages */
    uint64_t gfn;                   /* the access */
    bool read;
    unsigned int leaf_order;        /* the leaf that must result */
    uint64_t filled[POD_ORDERS];
    uint64_t remaps;
};

static const struct fill_case fill_cases[] = {
    { FRAG_NONE, G, 18, G, G + 777, false, 18, { 0, 0, 1 }, 0 },
    { FRAG_NONE, G, 18, G, 2 * G - 1, true, 18, { 0, 0, 1 }, 0 },
    { FRAG_NONE, G + M2, 9, M2, G + M2 + 5, false, 9, { 0, 1, 0 }, 0 },
    { FRAG_NONE, G + 8, 0, 8, G + 8, false, 0, { 1, 0, 0 }, 0 },
    /* Remap and retry: a cache without pages that large. */
    { FRAG_NO1G, G, 18, M2, G + 777, false, 9, { 0, 1, 0 }, 1 },
    { FRAG_NO2M, G, 18, 16, G + 777, false, 0, { 1, 0, 0 }, 2 },
    { FRAG_NO2M, G + M2, 9, 4, G + M2 + 511, true, 0, { 1, 0, 0 }, 1 },
};

/* Around the new leaf, the split left PoD entries of every smaller order. */
static void expect_remap_siblings(struct domain *d, const struct fill_case *c)
{
    unsigned int o;

    for ( o = c->leaf_order; o < c->mark_order; o += 9 )
    {
        uint64_t sib = align_down(c->gfn, o) ^ (1ull << o);

        podenv_expect_type(d, sib, p2m_populate_on_demand, o);
    }
}

static void run_fill_case(const struct fill_case *c, enum p2m_format fmt)
{
    uint64_t pages = 1ull << c->leaf_order, val;
    struct pod_stats s0, s1;
    struct p2m_lookup l;
    struct p2m_stats ps;
    struct domain *d;
    unsigned int i;

    env_machine(MACHINE);
    d = podenv_domain(1, fmt, 4 * G, 2);
    podenv_mark(d, c->mark_gfn, 1ull << c->mark_order);
    assert_int_equal(heap_fragment(c->frag), 0);
    assert_int_equal(p2m_pod_set_target(d, c->target), 0);
    s0 = podenv_stats(d);
    if ( c->read )
        assert_int_equal(podenv_read(&d->vcpu[0], c->gfn, 8), 0);
    else
        podenv_write(&d->vcpu[0], c->gfn, 8, TAG(c->gfn));
    l = podenv_lookup(d, c->gfn);
    assert_int_equal(l.type, p2m_ram_rw);
    assert_int_equal(l.order, c->leaf_order);
    assert_int_equal(mfn_owner(l.mfn), d->domain_id);
    s1 = podenv_stats(d);
    for ( i = 0; i < POD_ORDERS; i++ )
        assert_int_equal(s1.filled[i], c->filled[i]);
    assert_int_equal(s1.remap_retries, c->remaps);
    assert_int_equal(s1.entry_count, s0.entry_count - pages);
    assert_int_equal(s1.count, s0.count - pages);
    assert_int_equal(s1.populated, pages);
    p2m_get_stats(&d->p2m, &ps);
    assert_int_equal(ps.pages[order_idx(c->leaf_order)], 1);
    expect_remap_siblings(d, c);
    val = podenv_read(&d->vcpu[1], c->gfn, 8);
    assert_int_equal(val, c->read ? 0 : TAG(c->gfn));
    podenv_check(d, true);
    env_finish();
}

static void test_demand_populate(void **state)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(fill_cases); i++ )
        run_fill_case(&fill_cases[i], ENV_FMT(state));
}

/* Every word of every page of the leaf mapping gfn reads zero. */
static void expect_leaf_zero(struct domain *d, struct vcpu *v, uint64_t gfn)
{
    struct p2m_lookup l = podenv_lookup(d, gfn);
    uint64_t base = align_down(gfn, l.order), i;

    for ( i = 0; i < (1ull << l.order); i++ )
        if ( hosted_guest_check_page(v, _gfn(base + i), 0) != 0 )
            fail_msg("gfn %#llx of a new order-%u leaf is not zero",
                     (unsigned long long)(base + i), l.order);
}

/*
 * A page the guest dirtied and ballooned back into the cache, and a dirty
 * chunk added to the cache, both reach the guest zeroed.
 */
static void test_populate_zeroes(void **state)
{
    static const unsigned int dirty[] = { 0, 1, 255, 511 };
    struct vcpu *v;
    struct domain *d;
    struct page_info *pg;
    mfn_t old;
    unsigned int i;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v = &d->vcpu[0];
    podenv_mark(d, 0, 2 * M2);
    assert_int_equal(p2m_pod_set_target(d, M2), 0);
    for ( i = 0; i < ARRAY_SIZE(dirty); i++ )
        assert_int_equal(hosted_guest_fill_page(v, _gfn(dirty[i]), ~0ull), 0);
    old = podenv_lookup(d, 0).mfn;
    /* PoD entries (512) outnumber cache pages (0): it goes to the cache. */
    assert_int_equal(podenv_balloon(d, _gfn(0), 9), M2);
    podenv_expect_chunks(d, 0, 1, 0);
    podenv_check(d, true);
    assert_int_equal(podenv_read(v, M2 + 3, 0), 0);
    assert_int_equal(mfn_x(podenv_lookup(d, M2).mfn), mfn_x(old));
    expect_leaf_zero(d, v, M2);

    /* A chunk with garbage, added to the cache directly. */
    podenv_mark(d, 5 * M2 + 7, 1);
    pg = owned_chunk(d, 0);
    memset(plat_map_mfn(page_to_mfn(pg)), 0xa5, PAGE_SIZE);
    p2m_pod_cache_add(d, pg);
    podenv_write(v, 5 * M2 + 7, 64, 1);
    assert_int_equal(mfn_x(podenv_lookup(d, 5 * M2 + 7).mfn),
                     mfn_x(page_to_mfn(pg)));
    assert_int_equal(podenv_read(v, 5 * M2 + 7, 0), 0);
    assert_int_equal(podenv_read(v, 5 * M2 + 7, 4088), 0);
    podenv_check(d, true);
    env_finish();
}

/* --- what one fault costs --- */

struct fault_cost { uint64_t walks, p2m_takes; };

/* Walks from the root and P2M lock takes of one write fault at gfn. */
static struct fault_cost fault_cost(struct vcpu *v, uint64_t gfn)
{
    struct p2m_domain *p2m = &v->domain->p2m;
    uint64_t walks = p2m->walks, takes = spin_lock_takes(&p2m->lock);

    p2m->debug_skip = 1;        /* debug builds: the audit after it is not
                                   the fault's own work */
    assert_int_equal(p2m_handle_fault(v, _gfn(gfn), P2M_ACCESS_W), 0);
    p2m_pod_access_done(v);
    return (struct fault_cost){ p2m->walks - walks,
                                spin_lock_takes(&p2m->lock) - takes };
}

/*
 * A PoD fault walks from the root once and takes the P2M lock once: the
 * fill goes on from the fault's own walk, and a remap splits on down from
 * where it stopped.  A 2M fill that must zero its chunk drops the lock for
 * the zeroing and walks again when it takes it back (the one exception).
 */
static void test_fault_walks_once(void **state)
{
    struct domain *d;
    struct vcpu *v;
    struct fault_cost c;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v = &d->vcpu[0];
    /* No sweep first (its lookups of the recent fills are its own cost). */
    p2m_pod_set_sweep_low_water(d, true);
    /* A 4K entry and a 4K page cached. */
    podenv_mark(d, 3, 1);
    assert_int_equal(podenv_set_target(d, 1), 0);
    podenv_expect_chunks(d, 1, 0, 0);
    c = fault_cost(v, 3);
    assert_int_equal(c.walks, 1);
    assert_int_equal(c.p2m_takes, 1);
    podenv_expect_type(d, 3, p2m_ram_rw, PAGE_ORDER_4K);
    podenv_check(d, true);

    /* A 2M entry and only 4K pages cached: remapped to 4K, then filled. */
    podenv_mark(d, 2 * M2, M2);
    assert_int_equal(podenv_set_target(d, 1 + 8), 0);
    podenv_expect_chunks(d, 8, 0, 0);
    c = fault_cost(v, 2 * M2 + 77);
    assert_int_equal(c.walks, 1);
    assert_int_equal(c.p2m_takes, 1);
    assert_int_equal(podenv_stats(d).remap_retries, 1);
    podenv_expect_type(d, 2 * M2 + 77, p2m_ram_rw, PAGE_ORDER_4K);
    podenv_expect_type(d, 2 * M2 + 78, p2m_populate_on_demand, PAGE_ORDER_4K);
    podenv_check(d, true);

    /* A 2M entry and a 2M chunk not known zero: zeroed with the lock
     * dropped, so the lock is taken twice and the entry found again. */
    podenv_mark(d, 4 * M2, M2);
    p2m_pod_cache_add(d, owned_chunk(d, PAGE_ORDER_2M));
    c = fault_cost(v, 4 * M2 + 5);
    assert_int_equal(c.walks, 2);
    assert_int_equal(c.p2m_takes, 2);
    assert_int_equal(podenv_stats(d).unlocked_zeroes, 1);
    podenv_expect_type(d, 4 * M2, p2m_ram_rw, PAGE_ORDER_2M);
    podenv_check(d, true);
    assert_int_equal(v->fault_sweeps, 0);

    /* The eager sweep runs inside the fault's one lock hold: it looks up
     * the three zero pages filled above, and reclaims the one that is not
     * among the domain's last nr_vcpus (2) fills.  Those two, which vCPUs
     * are likely still working in, wait in the ring. */
    p2m_pod_set_sweep_low_water(d, false);
    podenv_mark(d, 6 * M2, 1);
    c = fault_cost(v, 6 * M2);
    assert_int_equal(c.p2m_takes, 1);
    assert_int_equal(v->fault_sweeps, 1);
    assert_int_equal(v->fault_swept, 1);
    assert_int_equal(c.walks, 1 + 3);
    podenv_expect_type(d, 3, p2m_populate_on_demand, PAGE_ORDER_4K);
    podenv_expect_type(d, 2 * M2 + 77, p2m_ram_rw, PAGE_ORDER_4K);
    podenv_expect_type(d, 4 * M2, p2m_ram_rw, PAGE_ORDER_2M);
    podenv_expect_type(d, 6 * M2, p2m_ram_rw, PAGE_ORDER_4K);
    podenv_check(d, true);
    env_finish();
}

/* --- the sweeper --- */

/* One PoD entry of each size, a cache for all of them. */
#define SW_1G G
#define SW_2M (2 * G)
#define SW_4K (2 * G + 3 * M2 + 1)

static struct domain *sweep_domain(enum p2m_format fmt)
{
    struct domain *d;

    env_machine(MACHINE);
    d = podenv_domain(1, fmt, 4 * G, 2);
    podenv_mark(d, SW_1G, G);
    podenv_mark(d, SW_2M, M2);
    podenv_mark(d, SW_4K, 1);
    assert_int_equal(p2m_pod_set_target(d, G + M2 + 1), 0);
    podenv_expect_chunks(d, 1, 1, 1);
    return d;
}

static const uint64_t sweep_gfn[POD_ORDERS] = { SW_4K, SW_2M, SW_1G };

/* Guest-zeroed pages of every size are reclaimed into the cache. */
static void test_sweep_zeroed(void **state)
{
    struct domain *d = sweep_domain(ENV_FMT(state));
    struct vcpu *v = &d->vcpu[0];
    struct pod_stats s;
    unsigned int i;

    for ( i = 0; i < POD_ORDERS; i++ )
    {
        uint64_t g = sweep_gfn[i] + (i ? 5 : 0);

        podenv_write(v, g, 0, TAG(g));
        podenv_write(v, g, 2048, TAG(g));
        podenv_expect_type(d, g, p2m_ram_rw, 9 * i);
    }
    podenv_expect_chunks(d, 0, 0, 0);
    /* Non-zero pages are not reclaimed. */
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_ALL), 0);
    podenv_expect_chunks(d, 0, 0, 0);
    for ( i = 0; i < POD_ORDERS; i++ )
        assert_int_equal(hosted_guest_fill_page(v, _gfn(sweep_gfn[i] +
                                                       (i ? 5 : 0)), 0), 0);
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_ALL), G + M2 + 1);
    s = podenv_stats(d);
    for ( i = 0; i < POD_ORDERS; i++ )
    {
        assert_int_equal(s.swept[i], 1);
        podenv_expect_type(d, sweep_gfn[i], p2m_populate_on_demand, 9 * i);
    }
    podenv_expect_chunks(d, 1, 1, 1);
    assert_int_equal(s.entry_count, G + M2 + 1);
    assert_int_equal(s.populated, 0);
    podenv_check(d, true);
    /* The reclaimed pages serve the next faults, still zero. */
    for ( i = 0; i < POD_ORDERS; i++ )
        assert_int_equal(podenv_read(v, sweep_gfn[i] + (i ? 5 : 0), 0), 0);
    podenv_expect_chunks(d, 0, 0, 0);
    podenv_check(d, true);
    env_finish();
}

struct keep_case {
    unsigned int order;             /* leaf */
    uint64_t frame, word;           /* the one non-zero word */
    bool quick_sees_it;             /* the sampled words include it */
};

static const struct keep_case keep_cases[] = {
    { 0, 0, 0, true },
    { 0, 0, 100, false },           /* only the full check sees it */
    { 0, 0, 510, false },
    { 9, 0, 256, true },
    { 9, 1, 0, false },
    { 9, 511, 300, false },
    { 18, 5, 3, false },
    { 18, 262143, 511, false },
};

/* Non-zero leaves stay mapped, with their data, and are not swept. */
static void test_sweep_keeps_data(void **state)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(keep_cases); i++ )
    {
        const struct keep_case *c = &keep_cases[i];
        struct domain *d = sweep_domain(ENV_FMT(state));
        uint64_t g = sweep_gfn[order_idx(c->order)] + c->frame;
        struct vcpu *v = &d->vcpu[0];
        struct p2m_stats p0, p1;
        struct p2m_lookup l0, l1;
        enum pod_sweep_mode mode;

        podenv_write(v, g, c->word * 8, TAG(g));
        l0 = podenv_lookup(d, g);
        assert_int_equal(l0.order, c->order);
        for ( mode = POD_SWEEP_ALL; mode <= POD_SWEEP_EMERGENCY; mode++ )
        {
            p2m_get_stats(&d->p2m, &p0);
            assert_int_equal(p2m_pod_sweep(d, mode), 0);
            p2m_get_stats(&d->p2m, &p1);
            l1 = podenv_lookup(d, g);
            assert_int_equal(l1.type, p2m_ram_rw);
            assert_int_equal(l1.order, c->order);
            assert_int_equal(mfn_x(l1.mfn), mfn_x(l0.mfn));
            assert_int_equal(podenv_read(&d->vcpu[1], g, c->word * 8), TAG(g));
            /* A sampled word spares the page; else it was checked fully. */
            if ( mode == POD_SWEEP_ALL )
                assert_int_equal(p1.flushes > p0.flushes, !c->quick_sees_it);
            podenv_write(v, g, c->word * 8, TAG(g));
        }
        assert_int_equal(podenv_stats(d).swept[order_idx(c->order)], 0);
        podenv_check(d, true);
        env_finish();
    }
}

/* Eager sweeps look at recently populated leaves only. */
static void test_sweep_eager(void **state)
{
    struct domain *d;
    struct vcpu *v;
    uint64_t g;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v = &d->vcpu[0];
    podenv_mark(d, 0, 64);                  /* 4K entries from gfn 0 */
    podenv_mark(d, G, G);
    podenv_mark(d, 2 * G, M2);
    assert_int_equal(p2m_pod_set_target(d, G + M2 + 64), 0);

    /* Populated and zeroed again at once, as guests do at boot. */
    podenv_write(v, 0, 0, 1);
    assert_int_equal(hosted_guest_fill_page(v, _gfn(0), 0), 0);
    assert_int_equal(podenv_read(v, G + 9, 0), 0);
    assert_int_equal(podenv_read(v, 2 * G + 1, 0), 0);
    /* An eager sweep runs in a fault: a 1G check is beyond its budget
     * (2 MiB and a 4K batch), and waits for a full sweep. */
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_EAGER), M2 + 1);
    assert_int_equal(podenv_stats(d).swept[POD_4K], 1);
    assert_int_equal(podenv_stats(d).swept[POD_2M], 1);
    assert_int_equal(podenv_stats(d).swept[POD_1G], 0);
    podenv_expect_type(d, 0, p2m_populate_on_demand, 0);
    podenv_expect_type(d, G, p2m_ram_rw, 18);
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_ALL), G);
    assert_int_equal(podenv_stats(d).swept[POD_1G], 1);
    podenv_expect_type(d, G, p2m_populate_on_demand, 18);
    podenv_check(d, true);

    /* A zero page pushed out of the recent list by 32 later fills. */
    assert_int_equal(podenv_read(v, 1, 0), 0);
    for ( g = 16; g < 16 + POD_RING; g++ )
        podenv_write(v, g, 0, TAG(g));
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_EAGER), 0);
    podenv_expect_type(d, 1, p2m_ram_rw, 0);
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_ALL), 1);
    podenv_expect_type(d, 1, p2m_populate_on_demand, 0);
    for ( g = 16; g < 16 + POD_RING; g++ )
        assert_int_equal(podenv_read(v, g, 0), TAG(g));
    podenv_check(d, true);
    env_finish();
}

/*
 * A page filled for a vCPU is not swept before that vCPU did the access it
 * faulted on: a sweeper on another CPU could otherwise make it fault on the
 * same zero page for ever.
 */
static void test_sweep_spares_inflight_fill(void **state)
{
    struct domain *d;
    struct vcpu *v;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v = &d->vcpu[1];
    podenv_mark(d, 0, M2);
    assert_int_equal(p2m_pod_set_target(d, M2), 0);
    /* The fault is fixed, the guest has not yet retried its access. */
    assert_int_equal(p2m_handle_fault(v, _gfn(5), P2M_ACCESS_W), 0);
    podenv_expect_type(d, 5, p2m_ram_rw, 9);
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_EAGER), 0);
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_ALL), 0);
    podenv_expect_type(d, 5, p2m_ram_rw, 9);
    /* Once the access is done the zero page may go back to the cache. */
    p2m_pod_access_done(v);
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_EAGER), M2);
    podenv_expect_type(d, 5, p2m_populate_on_demand, 9);
    podenv_check(d, true);
    env_finish();
}

/*
 * A fault's sweeps leave alone the leaves vCPUs are likely still working
 * in: the domain's last nr_vcpus fills.  A guest's vCPUs zeroing memory
 * together would otherwise fault on them again at once.  When nothing
 * else is to be had, the fault still takes one rather than pause.
 */
static void test_fault_sweep_spares_last_fills(void **state)
{
    const uint64_t a = 3 * M2, b = 0, c = M2, dd = 2 * M2;
    struct domain *d;
    struct vcpu *v0;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v0 = &d->vcpu[0];
    p2m_pod_set_sweep_low_water(d, false);
    podenv_mark(d, 0, 4 * M2);
    assert_int_equal(p2m_pod_set_target(d, 3 * M2), 0);
    podenv_write(v0, a, 0, TAG(a));
    /* B's fault looks at A in the ring (dirty: dropped from it). */
    assert_int_equal(podenv_read(v0, b, 0), 0);
    assert_int_equal(hosted_guest_fill_page(v0, _gfn(a), 0), 0);
    assert_int_equal(podenv_read(v0, c, 0), 0);
    /* D's fault: B and C are the last two fills, A is zero again; the
     * sweep passes over B and C (the ring's first) and takes A. */
    assert_int_equal(podenv_read(v0, dd, 0), 0);
    podenv_expect_type(d, a, p2m_populate_on_demand, PAGE_ORDER_2M);
    podenv_expect_type(d, b, p2m_ram_rw, PAGE_ORDER_2M);
    podenv_expect_type(d, c, p2m_ram_rw, PAGE_ORDER_2M);
    podenv_expect_type(d, dd, p2m_ram_rw, PAGE_ORDER_2M);
    podenv_check(d, true);
    env_finish();

    /* One 2M page for the guest, in the leaf v0 works in: taken anyway. */
    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v0 = &d->vcpu[0];
    p2m_pod_set_sweep_low_water(d, false);
    podenv_mark(d, 0, 2 * M2);
    assert_int_equal(p2m_pod_set_target(d, M2), 0);
    assert_int_equal(podenv_read(v0, 0, 0), 0);
    assert_int_equal(podenv_read(v0, M2, 0), 0);
    assert_false(v0->paused);
    podenv_expect_type(d, 0, p2m_populate_on_demand, PAGE_ORDER_2M);
    podenv_expect_type(d, M2, p2m_ram_rw, PAGE_ORDER_2M);
    podenv_check(d, true);
    env_finish();

    /* A 1G leaf v0 works in is too big to spare: no fault's budget checks
     * it whole, so v1's faults probe it (a budget each) and take its
     * pieces, instead of pausing v1 with zero memory to be had. */
    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v0 = &d->vcpu[0];
    p2m_pod_set_sweep_low_water(d, false);
    podenv_mark(d, G, G);
    podenv_mark(d, 3 * G, 1);
    assert_int_equal(p2m_pod_set_target(d, G), 0);
    assert_int_equal(podenv_read(v0, G + 5, 0), 0);
    podenv_expect_type(d, G, p2m_ram_rw, PAGE_ORDER_1G);
    assert_int_equal(podenv_read(&d->vcpu[1], 3 * G, 0), 0);
    assert_false(d->vcpu[1].paused);
    podenv_expect_type(d, 3 * G, p2m_ram_rw, PAGE_ORDER_4K);
    podenv_check(d, true);
    env_finish();
}

/*
 * An emergency sweep reads a bounded number of pages and goes on from
 * there next time: each call reclaims some zero pages, none all.
 */
static void test_sweep_emergency_bounded(void **state)
{
    /* At most 2 MiB + 64 KiB read: 33 batches of 16 4K pages. */
    const uint64_t n = 5 * M2 + 100, budget = M2 + 16;
    uint64_t g, total, r;
    unsigned int calls = 0;
    struct domain *d;
    struct vcpu *v;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v = &d->vcpu[0];
    podenv_mark(d, 0, n);
    assert_int_equal(heap_fragment(FRAG_NO2M), 0);
    assert_int_equal(p2m_pod_set_target(d, n), 0);
    for ( g = 0; g < n; g++ )
        assert_int_equal(podenv_read(v, g, 0), 0);
    assert_int_equal(podenv_stats(d).count, 0);
    /* Drain the recent list first, so that every call is an order pass. */
    total = (uint64_t)p2m_pod_sweep(d, POD_SWEEP_EAGER);
    assert_true(total <= POD_RING);
    while ( total < n )
    {
        r = (uint64_t)p2m_pod_sweep(d, POD_SWEEP_EMERGENCY);
        assert_true(r > 0);
        assert_true(r <= budget);
        total += r;
        assert_int_equal(podenv_stats(d).swept[POD_4K], total);
        assert_true(++calls <= n / budget + 2);
        podenv_check(d, false);
    }
    assert_true(calls >= n / budget);
    assert_int_equal(podenv_stats(d).count, n);
    podenv_check(d, true);
    env_finish();
}

/* Pinned (special) pages are never reclaimed, even when zero. */
static void test_sweep_pinned(void **state)
{
    struct domain *d = sweep_domain(ENV_FMT(state));
    struct vcpu *v = &d->vcpu[0];
    static const struct { unsigned int i; uint64_t off; unsigned int order; }
    pins[] = {
        { POD_4K, 0, 0 },           /* the whole 4K leaf */
        { POD_2M, 3, 0 },           /* one frame inside a 2M leaf */
        { POD_1G, M2, 9 },          /* 2M inside a 1G leaf */
    };
    enum pod_sweep_mode mode;
    unsigned int k;

    for ( k = 0; k < ARRAY_SIZE(pins); k++ )
    {
        uint64_t g = sweep_gfn[pins[k].i];
        mfn_t m;

        assert_int_equal(podenv_read(v, g, 0), 0);
        m = mfn_add(podenv_lookup(d, g).mfn, pins[k].off);
        assert_int_equal(heap_pin_range(d, m, pins[k].order, true), 0);
    }
    podenv_check(d, true);
    for ( mode = POD_SWEEP_ALL; mode <= POD_SWEEP_EMERGENCY; mode++ )
        assert_int_equal(p2m_pod_sweep(d, mode), 0);
    for ( k = 0; k < ARRAY_SIZE(pins); k++ )
        podenv_expect_type(d, sweep_gfn[pins[k].i], p2m_ram_rw,
                           9 * pins[k].i);
    podenv_check(d, true);
    /* Unpinned, the same pages go. */
    for ( k = 0; k < ARRAY_SIZE(pins); k++ )
    {
        mfn_t m = mfn_add(podenv_lookup(d, sweep_gfn[pins[k].i]).mfn,
                          pins[k].off);

        assert_int_equal(heap_pin_range(d, m, pins[k].order, false), 0);
    }
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_ALL), G + M2 + 1);
    podenv_expect_chunks(d, 1, 1, 1);
    podenv_check(d, true);
    env_finish();
}

/* --- ballooning --- */

struct balloon_case {
    uint64_t gfn;
    unsigned int order;
    int64_t pages;                  /* expected return */
    uint64_t pod[POD_ORDERS];       /* PoD entries per order after it */
    struct { uint64_t gfn; p2m_type_t t; unsigned int order; } probe[4];
};

/* On a guest that is PoD over [0, 2G), applied in turn. */
static const struct balloon_case pod_balloons[] = {
    { G, 18, G, { 0, 0, 1 },
      { { G, p2m_invalid, 18 }, { 2 * G - 1, p2m_invalid, 18 },
        { G - 1, p2m_populate_on_demand, 18 } } },
    /* Misaligned 2M: 509 + 3 single pages; the 1G entry is split. */
    { 3, 9, M2, { 512, 510, 0 },
      { { 2, p2m_populate_on_demand, 0 }, { 3, p2m_invalid, 0 },
        { M2 + 2, p2m_invalid, 0 }, { M2 + 3, p2m_populate_on_demand, 0 } } },
    { 777, 0, 1, { 511, 510, 0 },
      { { 776, p2m_populate_on_demand, 0 }, { 777, p2m_invalid, 0 },
        { 778, p2m_populate_on_demand, 0 },
        { 2 * M2, p2m_populate_on_demand, 9 } } },
    /* Again: nothing left to give. */
    { 777, 0, 0, { 511, 510, 0 }, { { 777, p2m_invalid, 0 } } },
    /* A misaligned 1G that runs into the hole ballooned above. */
    { 5 * M2 + 100, 18, G - (5 * M2 + 100), { 611, 3, 0 },
      { { 5 * M2 + 99, p2m_populate_on_demand, 0 },
        { 5 * M2 + 100, p2m_invalid, 0 },
        { 6 * M2, p2m_invalid, 9 }, { G - 1, p2m_invalid, 9 } } },
};

static void test_balloon_pod(void **state)
{
    struct heap_stats h0, h1;
    uint64_t entries = 2 * G, tables;
    struct domain *d;
    unsigned int i, k;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    podenv_mark(d, 0, 2 * G);
    for ( i = 0; i < ARRAY_SIZE(pod_balloons); i++ )
    {
        const struct balloon_case *c = &pod_balloons[i];

        heap_get_stats(&h0);
        tables = d->p2m_pages;
        assert_int_equal(podenv_balloon(d, _gfn(c->gfn),
                                                      c->order), c->pages);
        entries -= c->pages;
        assert_int_equal(podenv_stats(d).entry_count, entries);
        expect_pod_counts(d, c->pod);
        for ( k = 0; k < ARRAY_SIZE(c->probe) && c->probe[k].gfn; k++ )
            podenv_expect_type(d, c->probe[k].gfn, c->probe[k].t,
                               c->probe[k].order);
        /* Dropping PoD entries moves no guest memory; only tables. */
        heap_get_stats(&h1);
        assert_int_equal(d->tot_pages, 0);
        assert_int_equal(h0.free_pages - h1.free_pages,
                         d->p2m_pages - tables);
        podenv_check(d, true);
    }
    assert_int_equal(podenv_balloon(d, _gfn(0), 19), -EDOM);
    assert_int_equal(podenv_balloon(d, _gfn(P2M_MAX_GFN - 1),
                                                  9), -ERANGE);
    env_finish();
}

/* Release the populated 2M leaf at gfn; returns the heap's free pages gain. */
static uint64_t balloon_2m(struct domain *d, uint64_t gfn, mfn_t *mfn)
{
    struct heap_stats h0, h1;

    *mfn = podenv_lookup(d, gfn).mfn;
    heap_get_stats(&h0);
    assert_int_equal(podenv_balloon(d, _gfn(gfn), 9), M2);
    heap_get_stats(&h1);
    podenv_expect_type(d, gfn, p2m_invalid, 9);
    podenv_check(d, true);
    return h1.free_pages - h0.free_pages;
}

/* A populated 1G page given back in part: only that part goes. */
static void balloon_part_of_1g(struct domain *d, struct vcpu *v)
{
    static const uint64_t kept[] = { 5, 776, 778 };
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(kept); i++ )
        podenv_write(v, kept[i], 0, TAG(kept[i]));
    podenv_expect_type(d, 0, p2m_ram_rw, 18);
    assert_int_equal(podenv_balloon(d, _gfn(777), 0), 1);
    podenv_expect_type(d, 777, p2m_invalid, 0);
    podenv_expect_type(d, 776, p2m_ram_rw, 0);
    podenv_expect_type(d, M2, p2m_ram_rw, 0);
    podenv_expect_type(d, 2 * M2, p2m_ram_rw, 9);
    podenv_expect_type(d, G - 1, p2m_ram_rw, 9);
    for ( i = 0; i < ARRAY_SIZE(kept); i++ )
        assert_int_equal(podenv_read(v, kept[i], 0), TAG(kept[i]));
}

/*
 * Populated pages go back to the cache while PoD entries outnumber cache
 * pages, else to the heap.
 */
static void test_balloon_populated(void **state)
{
    struct domain *d;
    struct vcpu *v;
    mfn_t mfn;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v = &d->vcpu[0];
    podenv_mark(d, 0, G);
    podenv_mark(d, G, 2 * M2);
    assert_int_equal(p2m_pod_set_target(d, M2), 0);
    podenv_write(v, G + 1, 0, 1);
    podenv_expect_chunks(d, 0, 0, 0);

    /* Entries G + 512 > cache 0: into the cache, the heap sees nothing. */
    assert_int_equal(balloon_2m(d, G, &mfn), 0);
    podenv_expect_chunks(d, 0, 1, 0);
    assert_int_equal(mfn_owner(mfn), d->domain_id);
    assert_true(mfn_to_page(mfn)->flags & PGF_pod);
    assert_int_equal(podenv_stats(d).tot_pages, M2);
    assert_int_equal(podenv_stats(d).entry_count, G + M2);

    /* Cache as large as the entries: the released page itself goes to the
     * heap (the cache keeps its other 2M page). */
    podenv_mark(d, G + 2 * M2, M2);
    assert_int_equal(p2m_pod_set_target(d, G + 2 * M2), 0);
    podenv_expect_chunks(d, 0, 2, 1);
    podenv_write(v, G + M2, 0, 1);          /* takes a 2M page */
    assert_int_equal(podenv_stats(d).count, G + M2);
    assert_int_equal(podenv_stats(d).entry_count, G + M2);
    assert_int_equal(balloon_2m(d, G + M2, &mfn), M2);
    assert_int_equal(mfn_owner(mfn), -1);
    podenv_expect_chunks(d, 0, 1, 1);
    assert_int_equal(d->tot_pages, G + M2);

    balloon_part_of_1g(d, v);
    assert_int_equal(d->tot_pages, G + M2 - 1);
    assert_int_equal(podenv_stats(d).count, M2);
    podenv_check(d, true);
    env_finish();
}

/*
 * A misaligned request over RAM and PoD is cut into aligned chunks and
 * releases exactly the pages it covers.
 */
static void test_balloon_misaligned(void **state)
{
    struct domain *d;
    struct vcpu *v;
    uint64_t before;
    mfn_t base;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * G, 2);
    v = &d->vcpu[0];
    podenv_mark(d, 0, G);
    assert_int_equal(heap_fragment(FRAG_NO1G), 0);
    assert_int_equal(p2m_pod_set_target(d, 2 * M2), 0);
    podenv_write(v, 5, 0, TAG(5));          /* [0, 512) becomes a 2M leaf */
    podenv_write(v, 299, 0, TAG(299));
    base = podenv_lookup(d, 0).mfn;
    before = podenv_stats(d).entry_count;
    /* [300, 812): 212 pages of RAM, 300 pages of PoD. */
    assert_int_equal(podenv_balloon(d, _gfn(300), 9), M2);
    assert_int_equal(podenv_stats(d).entry_count, before - 300);
    podenv_expect_type(d, 299, p2m_ram_rw, 0);
    assert_int_equal(mfn_x(podenv_lookup(d, 299).mfn), mfn_x(base) + 299);
    podenv_expect_type(d, 300, p2m_invalid, 0);
    podenv_expect_type(d, 511, p2m_invalid, 0);
    podenv_expect_type(d, 811, p2m_invalid, 0);
    podenv_expect_type(d, 812, p2m_populate_on_demand, 0);
    podenv_expect_type(d, 2 * M2, p2m_populate_on_demand, 9);
    assert_int_equal(podenv_read(v, 5, 0), TAG(5));
    assert_int_equal(podenv_read(v, 299, 0), TAG(299));
    /* The 212 pages: all in the cache (entries still outnumber it). */
    assert_int_equal(podenv_stats(d).count, M2 + 212);
    assert_int_equal(d->tot_pages, 2 * M2);
    podenv_check(d, true);
    /* And a 1G request from a 2M-aligned gfn: exactly G pages. */
    before = podenv_stats(d).entry_count;
    assert_int_equal(podenv_balloon(d, _gfn(2 * M2), 18),
                     G - 2 * M2);
    assert_int_equal(podenv_stats(d).entry_count, before - (G - 2 * M2));
    podenv_check(d, true);
    env_finish();
}

/* --- out of memory --- */

static unsigned int events(struct domain *d, struct pod_event *ev,
                           unsigned int max)
{
    return p2m_pod_events(d, ev, max);
}

/* Write tags from gfn *g on until an access fails; returns its rc. */
static int write_until_fail(struct vcpu *v, uint64_t *g, uint64_t limit)
{
    int rc = 0;

    for ( ; *g < limit; ++*g )
        if ( (rc = hosted_guest_write(v, _gfn(*g), 16, TAG(*g))) )
            break;
    return rc;
}

static void expect_tags(struct vcpu *v, uint64_t from, uint64_t to)
{
    uint64_t g;

    for ( g = from; g < to; g++ )
        if ( podenv_read(v, g, 16) != TAG(g) )
            fail_msg("gfn %#llx lost its data", (unsigned long long)g);
}

/*
 * Policy pause: the vCPU that finds no memory stops with -EAGAIN; once the
 * target is raised and the domain resumed it goes on, its data intact.
 */
static void test_oom_pause(void **state)
{
    struct pod_event ev[8];
    struct domain *d;
    struct vcpu *v;
    uint64_t g = 0;
    unsigned int n;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 2 * G, 2);
    v = &d->vcpu[0];
    podenv_mark(d, 0, G);
    assert_int_equal(p2m_pod_set_target(d, 64), 0);
    assert_int_equal(write_until_fail(v, &g, G), -EAGAIN);
    assert_int_equal(g, 64);
    assert_true(v->paused);
    assert_false(d->crashed);
    n = events(d, ev, ARRAY_SIZE(ev));
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].kind, POD_EV_OOM);
    assert_int_equal(ev[1].kind, POD_EV_PAUSED);
    assert_int_equal(ev[1].vcpu, 0);
    assert_int_equal(ev[1].gfn, 64);
    assert_int_equal(ev[1].count, 0);
    assert_int_equal(ev[1].entry_count, G - 64);
    assert_int_equal(ev[1].tot_pages, 64);
    assert_int_equal(ev[1].target, 64);
    assert_int_equal(events(d, ev, ARRAY_SIZE(ev)), 0);
    /* The paused vCPU does nothing; the other one runs. */
    assert_int_equal(hosted_guest_write(v, _gfn(0), 16, 1), -EAGAIN);
    assert_int_equal(podenv_read(&d->vcpu[1], 63, 16), TAG(63));
    podenv_check(d, true);

    assert_int_equal(p2m_pod_set_target(d, 128), 0);
    assert_int_equal(p2m_pod_resume(d), 1);
    assert_false(v->paused);
    assert_int_equal(events(d, ev, ARRAY_SIZE(ev)), 1);
    assert_int_equal(ev[0].kind, POD_EV_RESUMED);
    assert_int_equal(write_until_fail(v, &g, G), -EAGAIN);
    assert_int_equal(g, 128);
    assert_int_equal(p2m_pod_set_target(d, 2 * G), 0);
    assert_int_equal(p2m_pod_resume(d), 1);
    expect_tags(v, 0, 128);
    assert_int_equal(p2m_pod_resume(d), 0);
    podenv_check(d, true);
    env_finish();
}

/* Zero pages are reclaimed by the emergency sweep before anyone pauses. */
static void test_oom_sweeps_first(void **state)
{
    struct pod_event ev[8];
    struct domain *d;
    struct vcpu *v;
    uint64_t g = 0;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 2 * G, 2);
    v = &d->vcpu[0];
    podenv_mark(d, 0, G);
    assert_int_equal(p2m_pod_set_target(d, 64), 0);
    assert_int_equal(write_until_fail(v, &g, 64), 0);
    /* The guest frees four pages by zeroing them. */
    for ( g = 10; g < 14; g++ )
        assert_int_equal(hosted_guest_fill_page(v, _gfn(g), 0), 0);
    g = 64;
    assert_int_equal(write_until_fail(v, &g, G), -EAGAIN);
    assert_int_equal(g, 68);
    assert_int_equal(podenv_stats(d).swept[POD_4K], 4);
    assert_int_equal(events(d, ev, ARRAY_SIZE(ev)), 2);
    assert_int_equal(ev[1].gfn, 68);
    podenv_expect_type(d, 10, p2m_populate_on_demand, 0);
    podenv_check(d, true);
    env_finish();
}

/* Policy crash: the domain is crashed, and its memory all comes back. */
static void test_oom_crash(void **state)
{
    struct pod_event ev[8];
    struct heap_stats h;
    struct domain *d;
    struct vcpu *v;
    uint64_t g = 0;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 2 * G, 2);
    v = &d->vcpu[0];
    podenv_mark(d, 0, G);
    p2m_pod_set_policy(d, true);
    assert_int_equal(p2m_pod_set_target(d, 64), 0);
    assert_int_equal(write_until_fail(v, &g, G), -EFAULT);
    assert_int_equal(g, 64);
    assert_true(d->crashed);
    assert_false(v->paused);
    assert_int_equal(events(d, ev, ARRAY_SIZE(ev)), 2);
    assert_int_equal(ev[0].kind, POD_EV_OOM);
    assert_int_equal(ev[1].kind, POD_EV_CRASHED);
    assert_int_equal(ev[1].gfn, 64);
    assert_int_equal(hosted_guest_write(&d->vcpu[1], _gfn(0), 16, 1),
                     -EFAULT);
    podenv_check(d, true);
    domain_destroy(d);
    assert_int_equal(heap_check_accounting(), 0);
    heap_get_stats(&h);
    assert_int_equal(h.free_pages, h.total_pages);
    env_finish();
}

/* --- randomized, against a model of guest memory --- */

#define RND_SPACE (2 * G)               /* gfns the test uses */
#define RND_MAX (3 * G / 2)             /* max_pages */
#define RND_SAMPLE 4096

struct model {
    struct domain *d;
    uint64_t rng;
    uint8_t *valid;                     /* gfn is PoD or RAM */
    uint64_t *tag;                      /* last value written, 0 = zero page */
    uint64_t nvalid;
    uint64_t written[RND_SAMPLE];       /* gfns written (maybe stale) */
    unsigned int nwritten;
    unsigned long ooms, step;
};

static uint64_t rnd(struct model *m)
{
    m->rng ^= m->rng >> 12;
    m->rng ^= m->rng << 25;
    m->rng ^= m->rng >> 27;
    return m->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(struct model *m, uint64_t n)
{
    return n ? rnd(m) % n : 0;
}

/* Each gfn keeps its tag in its own word, so pages are rarely all zero. */
static unsigned int tag_off(uint64_t gfn)
{
    return (unsigned int)((gfn * 7) % 512) * 8;
}

/*
 * A guest access that may find the cache empty: the vCPU pauses, the
 * toolstack raises the target to max_pages and resumes it.
 */
static int guest_op(struct model *m, struct vcpu *v, uint64_t gfn,
                    int (*op)(struct model *, struct vcpu *, uint64_t,
                              uint64_t), uint64_t arg)
{
    int rc = op(m, v, gfn, arg);

    if ( rc != -EAGAIN )
        return rc;
    assert_true(v->paused);
    m->ooms++;
    assert_int_equal(podenv_set_target(m->d, RND_MAX), 0);
    assert_int_equal(p2m_pod_resume(m->d), 1);
    return op(m, v, gfn, arg);
}

static int op_write(struct model *m, struct vcpu *v, uint64_t gfn,
                    uint64_t val)
{
    return hosted_guest_write(v, _gfn(gfn), tag_off(gfn), val);
}

static int op_zero(struct model *m, struct vcpu *v, uint64_t gfn, uint64_t a)
{
    return hosted_guest_fill_page(v, _gfn(gfn), 0);
}

static int op_check_zero(struct model *m, struct vcpu *v, uint64_t gfn,
                         uint64_t a)
{
    return hosted_guest_check_page(v, _gfn(gfn), 0);
}

static uint64_t read_tag(struct model *m, struct vcpu *v, uint64_t gfn)
{
    uint64_t val = 0;
    int rc = hosted_guest_read(v, _gfn(gfn), tag_off(gfn), &val);

    if ( rc == -EAGAIN )
    {
        m->ooms++;
        assert_int_equal(podenv_set_target(m->d, RND_MAX), 0);
        assert_int_equal(p2m_pod_resume(m->d), 1);
        rc = hosted_guest_read(v, _gfn(gfn), tag_off(gfn), &val);
    }
    assert_int_equal(rc, 0);
    return val;
}

static struct vcpu *any_vcpu(struct model *m)
{
    return &m->d->vcpu[rnd_below(m, m->d->nr_vcpus)];
}

/* A random valid gfn, or ~0 when a few tries find none. */
static uint64_t any_valid(struct model *m)
{
    unsigned int i;

    for ( i = 0; i < 64; i++ )
    {
        uint64_t g = rnd_below(m, RND_SPACE);

        if ( m->valid[g] )
            return g;
    }
    return ~0ull;
}

/* Does [gfn, gfn + nr) hold any RAM, by the P2M? */
static bool range_has_ram(struct model *m, uint64_t gfn, uint64_t nr)
{
    uint64_t g = gfn;

    while ( g < gfn + nr )
    {
        struct p2m_lookup l = podenv_lookup(m->d, g);

        if ( p2m_type_has_mfn(l.type) )
            return true;
        g = align_down(g, l.order) + (1ull << l.order);
    }
    return false;
}

static void step_mark(struct model *m)
{
    static const uint64_t sizes[] = { G, G, M2, 1 };
    uint64_t unit = sizes[rnd_below(m, 4)], gfn, nr, g, fresh = 0;
    int rc, want;

    gfn = align_down(rnd_below(m, RND_SPACE), unit == 1 ? 0 : 9);
    if ( unit == G )
        gfn = align_down(gfn, 18);
    nr = unit == 1 ? 1 + rnd_below(m, 3000) : unit * (1 + rnd_below(m, 2));
    if ( rnd_below(m, 4) == 0 )
        gfn += rnd_below(m, 512);       /* cut ends */
    nr = MIN(nr, RND_SPACE - gfn);
    for ( g = gfn; g < gfn + nr; g++ )
        fresh += !m->valid[g];
    if ( range_has_ram(m, gfn, nr) )
        want = -EBUSY;
    else
        want = m->nvalid + fresh > RND_MAX ? -ENOSPC : 0;
    rc = p2m_pod_mark(m->d, _gfn(gfn), nr);
    if ( rc != want )
        fail_msg("step %lu: mark %#llx+%#llx = %d, expected %d", m->step,
                 (unsigned long long)gfn, (unsigned long long)nr, rc, want);
    if ( rc )
        return;
    for ( g = gfn; g < gfn + nr; g++ )
        m->valid[g] = 1;
    m->nvalid += fresh;
}

static void step_target(struct model *m)
{
    uint64_t target = rnd_below(m, RND_MAX + 1), want;
    struct pod_stats s;

    assert_int_equal(podenv_set_target(m->d, target), 0);
    s = podenv_stats(m->d);
    want = target > s.populated ? MIN(target - s.populated, s.entry_count) : 0;
    assert_int_equal(s.count, want);
}

static void remember_written(struct model *m, uint64_t gfn)
{
    if ( m->nwritten < RND_SAMPLE )
        m->written[m->nwritten++] = gfn;
    else
        m->written[rnd_below(m, RND_SAMPLE)] = gfn;
}

/* A gfn written earlier (still valid), or a random valid one. */
static uint64_t pick_gfn(struct model *m, bool written)
{
    if ( written && m->nwritten )
    {
        uint64_t g = m->written[rnd_below(m, m->nwritten)];

        if ( m->valid[g] )
            return g;
    }
    return any_valid(m);
}

static void step_write(struct model *m)
{
    uint64_t g = pick_gfn(m, rnd_below(m, 2)), val = rnd(m) | 1;

    if ( g == ~0ull )
        return;
    assert_int_equal(guest_op(m, any_vcpu(m), g, op_write, val), 0);
    m->tag[g] = val;
    remember_written(m, g);
}

static void step_zero(struct model *m)
{
    uint64_t g = pick_gfn(m, true);

    if ( g == ~0ull )
        return;
    assert_int_equal(guest_op(m, any_vcpu(m), g, op_zero, 0), 0);
    m->tag[g] = 0;
}

/* The guest zeroes every page it wrote in the leaf holding some gfn. */
static void step_zero_leaf(struct model *m)
{
    uint64_t g = pick_gfn(m, true), base, end;
    struct p2m_lookup l;

    if ( g == ~0ull )
        return;
    l = podenv_lookup(m->d, g);
    base = align_down(g, l.order);
    end = MIN(base + (1ull << l.order), RND_SPACE);
    for ( g = base; g < end; g++ )
        if ( m->valid[g] && m->tag[g] )
        {
            assert_int_equal(guest_op(m, any_vcpu(m), g, op_zero, 0), 0);
            m->tag[g] = 0;
        }
}

static void step_sweep(struct model *m)
{
    static const enum pod_sweep_mode modes[] = {
        POD_SWEEP_ALL, POD_SWEEP_EAGER, POD_SWEEP_EMERGENCY
    };

    assert_true(p2m_pod_sweep(m->d, modes[rnd_below(m, 3)]) >= 0);
}

static void step_balloon(struct model *m)
{
    static const unsigned int orders[] = { 0, 0, 0, 9, 9, 18 };
    unsigned int order = orders[rnd_below(m, ARRAY_SIZE(orders))];
    uint64_t gfn = rnd_below(m, RND_SPACE), end, g, gone = 0;

    if ( rnd_below(m, 2) )
        gfn = align_down(gfn, order);
    end = MIN(gfn + (1ull << order), RND_SPACE);
    for ( g = gfn; g < end; g++ )
    {
        gone += m->valid[g];
        m->valid[g] = 0;
        m->tag[g] = 0;
    }
    m->nvalid -= gone;
    assert_int_equal(podenv_balloon(m->d, _gfn(gfn), order),
                     (int64_t)gone);
}

/* Written pages hold their tags; some never-written pages read zero. */
static void step_verify(struct model *m)
{
    unsigned int i;

    for ( i = 0; i < 32 && m->nwritten; i++ )
    {
        uint64_t g = m->written[rnd_below(m, m->nwritten)];

        if ( m->valid[g] && read_tag(m, any_vcpu(m), g) != m->tag[g] )
            fail_msg("step %lu: gfn %#llx reads %#llx, expected %#llx",
                     m->step, (unsigned long long)g,
                     (unsigned long long)read_tag(m, any_vcpu(m), g),
                     (unsigned long long)m->tag[g]);
    }
    for ( i = 0; i < 4; i++ )
    {
        uint64_t g = any_valid(m);

        if ( g != ~0ull && !m->tag[g] )
            assert_int_equal(guest_op(m, any_vcpu(m), g, op_check_zero, 0),
                             0);
    }
}

struct coverage { struct model *m; uint64_t pages; bool bad; };

static int cover_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    struct coverage *c = ctx;
    uint64_t g;

    for ( g = gfn_x(gfn); g < gfn_x(gfn) + (1ull << l->order); g++ )
        if ( g >= RND_SPACE || !c->m->valid[g] )
            c->bad = true;
    c->pages += 1ull << l->order;
    return 0;
}

/* The P2M maps exactly the gfns the model holds valid. */
static void check_model(struct model *m, bool full)
{
    struct pod_stats s = podenv_stats(m->d);
    struct coverage c = { m, 0, false };

    podenv_check(m->d, true);
    assert_int_equal(s.populated + s.entry_count, m->nvalid);
    if ( !full )
        return;
    assert_int_equal(p2m_for_each_leaf(&m->d->p2m, cover_leaf, &c), 0);
    assert_false(c.bad);
    assert_int_equal(c.pages, m->nvalid);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);

    return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static void test_random_model(void **state)
{
    static void (*const steps[])(struct model *) = {
        step_mark, step_mark, step_target, step_write, step_write,
        step_write, step_write, step_write, step_zero, step_zero,
        step_zero_leaf, step_sweep, step_sweep, step_balloon, step_balloon,
        step_verify,
    };
    uint64_t seed = env_u64("P2M_SEED", 0x5eed2026), nsteps;
    struct model *m = calloc(1, sizeof(*m));
    struct pod_stats s;
    unsigned int i;

    nsteps = env_u64("P2M_STEPS", 1000);
    print_message("# random model: P2M_SEED=%#llx P2M_STEPS=%llu (%s)\n",
                  (unsigned long long)seed, (unsigned long long)nsteps,
                  env_fmt_name(ENV_FMT(state)));
    assert_non_null(m);
    m->valid = calloc(RND_SPACE, 1);
    m->tag = calloc(RND_SPACE, sizeof(*m->tag));
    assert_non_null(m->valid);
    assert_non_null(m->tag);
    m->rng = seed ? seed : 1;
    env_machine(MACHINE);
    m->d = podenv_domain(1, ENV_FMT(state), RND_MAX, 2);
    for ( m->step = 0; m->step < nsteps; m->step++ )
    {
        steps[rnd_below(m, ARRAY_SIZE(steps))](m);
        check_model(m, m->step % 25 == 0);
    }
    for ( i = 0; i < m->nwritten; i++ )
        if ( m->valid[m->written[i]] )
            assert_int_equal(read_tag(m, &m->d->vcpu[0], m->written[i]),
                             m->tag[m->written[i]]);
    check_model(m, true);
    s = podenv_stats(m->d);
    print_message("# random model: %lu pauses, %llu valid, filled "
                  "%llu/%llu/%llu, swept %llu/%llu/%llu, remaps %llu\n",
                  m->ooms, (unsigned long long)m->nvalid,
                  (unsigned long long)s.filled[POD_4K],
                  (unsigned long long)s.filled[POD_2M],
                  (unsigned long long)s.filled[POD_1G],
                  (unsigned long long)s.swept[POD_4K],
                  (unsigned long long)s.swept[POD_2M],
                  (unsigned long long)s.swept[POD_1G],
                  (unsigned long long)s.remap_retries);
    env_finish();
    free(m->valid);
    free(m->tag);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_mark),
        ENV_TEST(test_mark_errors),
        ENV_TEST(test_cache_split_order),
        ENV_TEST(test_target_grow),
        ENV_TEST(test_target_shrink),
        ENV_TEST(test_target_limits),
        ENV_TEST(test_target_bounded),
        ENV_TEST(test_demand_populate),
        ENV_TEST(test_populate_zeroes),
        ENV_TEST(test_sweep_zeroed),
        ENV_TEST(test_sweep_keeps_data),
        ENV_TEST(test_sweep_eager),
        ENV_TEST(test_sweep_spares_inflight_fill),
        ENV_TEST(test_fault_walks_once),
        ENV_TEST(test_fault_sweep_spares_last_fills),
        ENV_TEST(test_sweep_emergency_bounded),
        ENV_TEST(test_sweep_pinned),
        ENV_TEST(test_balloon_pod),
        ENV_TEST(test_balloon_populated),
        ENV_TEST(test_balloon_misaligned),
        ENV_TEST(test_oom_pause),
        ENV_TEST(test_oom_sweeps_first),
        ENV_TEST(test_oom_crash),
        ENV_TEST(test_random_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

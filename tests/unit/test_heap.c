/*
 * Buddy heap: allocation at every order, merging on free, zeroing, the
 * fragmentation pins, claims and partial frees, the accounting check and
 * the failure hook, on machines with holes.
 */
#include "env.h"

#include <stdlib.h>
#include <string.h>

/* 3 + 60 + 16 GiB of RAM around a 1 GiB and a ~960 GiB hole. */
#define HOLEY "0-3G,4G-64G,1T-1T+16G"
#define HOLEY_GIB 79

static void expect_ram_of(struct domain *d, mfn_t mfn, unsigned int order)
{
    uint64_t last = mfn_x(mfn) + (1ull << order) - 1;

    if ( !is_aligned(mfn_x(mfn), order) || !mfn_range_is_ram(mfn, order) )
        fail_msg("order %u chunk at %#llx is misaligned or not RAM", order,
                 (unsigned long long)mfn_x(mfn));
    assert_int_equal(mfn_owner(mfn), d->domain_id);
    assert_int_equal(mfn_owner(_mfn(last)), d->domain_id);
}

static void expect_counts(const struct heap_stats *want)
{
    struct heap_stats s;
    unsigned int k;

    heap_get_stats(&s);
    for ( k = 0; k <= MAX_ORDER; k++ )
        if ( s.free_chunks[k] != want->free_chunks[k] )
            fail_msg("order %u: %llu free chunks, expected %llu", k,
                     (unsigned long long)s.free_chunks[k],
                     (unsigned long long)want->free_chunks[k]);
    assert_int_equal(s.free_pages, want->free_pages);
    assert_int_equal(s.xen_pages, want->xen_pages);
}

/* Every order from 0 to 18: aligned RAM of d, charged, and merged back. */
static void test_alloc_free_each_order(void **state)
{
    struct domain *d;
    struct heap_stats base, s;
    unsigned int k;

    env_machine(HOLEY);
    d = env_domain(1, ENV_FMT(state));
    heap_get_stats(&base);
    for ( k = 0; k <= MAX_ORDER; k++ )
    {
        uint64_t tot = d->tot_pages;
        mfn_t mfn = env_alloc(d, k);

        expect_ram_of(d, mfn, k);
        assert_int_equal(d->tot_pages, tot + (1ull << k));
        heap_get_stats(&s);
        assert_int_equal(s.free_pages, base.free_pages - (1ull << k));
        assert_int_equal(heap_check_accounting(), 0);
        assert_int_equal(free_domheap_range(d, mfn, k), 0);
        assert_int_equal(d->tot_pages, tot);
        assert_int_equal(mfn_owner(mfn), -1);
        expect_counts(&base);
    }
    env_finish();
}

/* Exact free counts per order while chunks are split off and merged. */
static void test_free_counts(void **state)
{
    static const struct { unsigned int order; int delta[MAX_ORDER + 1]; }
    steps[] = {
        /* After the P2M root: one free chunk of each order 0..17. */
        { 0,  { [0] = -1 } },
        { 0,  { [0] = +1, [1] = -1 } },          /* splits an order-1 */
        { 2,  { [2] = -1 } },
        { 18, { [18] = -1 } },
        { 17, { [17] = -1 } },
        { 17, { [17] = +1, [18] = -1 } },        /* splits a 1 GiB chunk */
        { 5,  { [5] = -1 } },
        { 5,  { [5] = +1, [6] = -1 } },
    };
    struct heap_stats base, want;
    mfn_t mfn[ARRAY_SIZE(steps)];
    struct domain *d;
    unsigned int i, k;

    env_machine(HOLEY);
    d = env_domain(1, ENV_FMT(state));
    heap_get_stats(&base);
    for ( k = 0; k < MAX_ORDER; k++ )
        assert_int_equal(base.free_chunks[k], 1);
    assert_int_equal(base.free_chunks[MAX_ORDER], HOLEY_GIB - 1);
    want = base;
    for ( i = 0; i < ARRAY_SIZE(steps); i++ )
    {
        mfn[i] = env_alloc(d, steps[i].order);
        expect_ram_of(d, mfn[i], steps[i].order);
        for ( k = 0; k <= MAX_ORDER; k++ )
            want.free_chunks[k] += steps[i].delta[k];
        want.free_pages -= 1ull << steps[i].order;
        expect_counts(&want);
    }
    for ( i = ARRAY_SIZE(steps); i-- > 0; )
        assert_int_equal(free_domheap_range(d, mfn[i], steps[i].order), 0);
    expect_counts(&base);
    env_finish();
}

/* Thousands of 4K frames freed in random order merge back into 1 GiB. */
static void test_buddies_merge(void **state)
{
    enum { N = 4096 };
    static mfn_t mfn[N];
    struct heap_stats base, s;
    struct domain *d;
    unsigned int i;

    env_machine(HOLEY);
    d = env_domain(1, ENV_FMT(state));
    heap_get_stats(&base);
    for ( i = 0; i < N; i++ )
        mfn[i] = env_alloc(d, 0);
    srand(7);
    for ( i = N - 1; i > 0; i-- )
    {
        unsigned int j = rand() % (i + 1);
        mfn_t t = mfn[i];

        mfn[i] = mfn[j];
        mfn[j] = t;
    }
    for ( i = 0; i < N; i++ )
    {
        assert_int_equal(free_domheap_range(d, mfn[i], 0), 0);
        if ( i == N / 2 )
        {
            heap_get_stats(&s);
            assert_true(s.free_chunks[0] > base.free_chunks[0]);
            assert_int_equal(heap_check_accounting(), 0);
        }
    }
    expect_counts(&base);
    env_finish();
}

/* Mark the units of [mfn, mfn + 2^order) used; false if one was already. */
static bool mark(uint8_t *bits, mfn_t mfn, unsigned int order,
                 unsigned int unit)
{
    uint64_t u = mfn_x(mfn) >> unit, n = 1ull << (order - unit);
    bool fresh = true;

    for ( ; n--; u++ )
    {
        fresh = fresh && !(bits[u / 8] & (1u << (u % 8)));
        bits[u / 8] |= 1u << (u % 8);
    }
    return fresh;
}

/*
 * Exhaust a small machine with holes at 4K, and a large one at 1G then
 * 2M: everything handed out is RAM, nothing twice, nothing from a hole.
 */
static void test_nothing_from_holes(void **state)
{
    static const struct {
        const char *layout;
        unsigned int orders[2];
        uint64_t left;          /* free frames after exhausting orders */
    } cases[] = {
        { "0-6M,8M-12M,1G-1G+4M", { 0, 0 }, 0 },
        { HOLEY, { PAGE_ORDER_1G, PAGE_ORDER_2M }, 511 },
    };
    unsigned int c, o;

    for ( c = 0; c < ARRAY_SIZE(cases); c++ )
    {
        unsigned int unit = cases[c].orders[1];
        size_t cap = 1 << 16, n = 0, i;
        struct { mfn_t mfn; unsigned int order; } *got;
        struct heap_stats base, s;
        struct domain *d;
        struct page_info *pg;
        uint8_t *used;

        env_machine(cases[c].layout);
        d = env_domain(1, ENV_FMT(state));
        heap_get_stats(&base);
        used = calloc((machine.max_mfn >> unit) / 8 + 1, 1);
        got = malloc(cap * sizeof(*got));
        assert_true(used && got);
        for ( o = 0; o < 2; o++ )
        {
            unsigned int k = cases[c].orders[o];

            while ( (pg = alloc_domheap_pages(d, k, 0)) != NULL )
            {
                mfn_t m = page_to_mfn(pg);

                expect_ram_of(d, m, k);
                if ( !mark(used, m, k, unit) )
                    fail_msg("order %u chunk %#llx handed out twice", k,
                             (unsigned long long)mfn_x(m));
                assert_true(n < cap);
                got[n].mfn = m;
                got[n++].order = k;
            }
        }
        heap_get_stats(&s);
        assert_int_equal(s.free_pages, cases[c].left);
        assert_int_equal(heap_check_accounting(), 0);
        for ( i = 0; i < n; i++ )
            assert_int_equal(free_domheap_range(d, got[i].mfn, got[i].order),
                             0);
        expect_counts(&base);
        free(used);
        free(got);
        env_finish();
    }
}

static void alloc_all(struct domain *d, mfn_t *m, unsigned int *order,
                      size_t cap, size_t *n, unsigned int memflags)
{
    static const unsigned int orders[] = { PAGE_ORDER_2M, 0 };
    unsigned int i;

    *n = 0;
    for ( i = 0; i < ARRAY_SIZE(orders); i++ )
    {
        struct page_info *pg;

        while ( (pg = alloc_domheap_pages(d, orders[i], memflags)) != NULL )
        {
            assert_true(*n < cap);
            m[*n] = page_to_mfn(pg);
            order[(*n)++] = orders[i];
        }
    }
}

static bool frames_are(mfn_t mfn, unsigned int order, int byte)
{
    static uint8_t ref[PAGE_SIZE];
    uint64_t i;

    memset(ref, byte, sizeof(ref));
    for ( i = 0; i < (1ull << order); i++ )
        if ( memcmp(plat_map_mfn(mfn_add(mfn, i)), ref, PAGE_SIZE) )
            return false;
    return true;
}

/* Dirty every frame of a machine, free them all: MEMF_zero gives zeroes. */
static void test_memf_zero(void **state)
{
    enum { CAP = 8192 };
    static mfn_t m[CAP];
    static unsigned int order[CAP];
    struct domain *d;
    size_t n, n2, i;
    uint64_t j;

    env_machine("0-64M");
    d = env_domain(1, ENV_FMT(state));
    alloc_all(d, m, order, CAP, &n, 0);
    assert_true(n > 32);
    for ( i = 0; i < n; i++ )
        for ( j = 0; j < (1ull << order[i]); j++ )
            memset(plat_map_mfn(mfn_add(m[i], j)), 0xa5, PAGE_SIZE);
    for ( i = 0; i < n; i++ )
        assert_int_equal(free_domheap_range(d, m[i], order[i]), 0);
    /* The heap does not scrub on free: the frames are still dirty. */
    for ( i = 0; i < n; i++ )
        assert_true(frames_are(m[i], order[i], 0xa5));
    alloc_all(d, m, order, CAP, &n2, MEMF_zero);
    assert_int_equal(n2, n);
    for ( i = 0; i < n2; i++ )
        if ( !frames_are(m[i], order[i], 0) )
            fail_msg("MEMF_zero order %u chunk at %#llx is not zero",
                     order[i], (unsigned long long)mfn_x(m[i]));
    env_finish();
}

/* FRAG_NO1G / FRAG_NO2M leave no free chunk that large; unfragment undoes. */
static void test_fragment(void **state)
{
    static const struct { enum heap_fragment_mode mode; unsigned int min; }
    cases[] = {
        { FRAG_NO1G, PAGE_ORDER_1G },
        { FRAG_NO2M, PAGE_ORDER_2M },
    };
    unsigned int c, k;

    for ( c = 0; c < ARRAY_SIZE(cases); c++ )
    {
        unsigned int min = cases[c].min;
        struct heap_stats base, s;
        struct domain *d;
        uint64_t big = 0;
        mfn_t m;

        env_machine(HOLEY);
        d = env_domain(1, ENV_FMT(state));
        heap_get_stats(&base);
        for ( k = min; k <= MAX_ORDER; k++ )
            big += base.free_chunks[k];
        assert_int_equal(mfn_owner(_mfn(4 * GIB_FRAMES)), -1);
        assert_int_equal(heap_fragment(cases[c].mode), 0);
        heap_get_stats(&s);
        for ( k = min; k <= MAX_ORDER; k++ )
            assert_int_equal(s.free_chunks[k], 0);
        if ( cases[c].mode == FRAG_NO1G )
            assert_int_equal(s.xen_pages, big);
        assert_true(s.xen_pages >= big);
        assert_int_equal(s.free_pages + s.xen_pages, base.free_pages);
        /* The first frame of a free 1G chunk is one of the pins. */
        assert_int_equal(mfn_owner(_mfn(4 * GIB_FRAMES)), DOMID_XEN);
        assert_int_equal(heap_check_accounting(), 0);
        assert_null(alloc_domheap_pages(d, min, 0));
        m = env_alloc(d, min - 9);
        expect_ram_of(d, m, min - 9);
        assert_int_equal(free_domheap_range(d, m, min - 9), 0);
        heap_unfragment();
        expect_counts(&base);
        assert_int_equal(mfn_owner(_mfn(4 * GIB_FRAMES)), -1);
        env_finish();
    }
}

/* Claims of free frames, busy frames, holes and frames beyond RAM. */
static void test_claim(void **state)
{
    static const struct { uint64_t mfn; unsigned int order; int rc; }
    cases[] = {
        { 4 * GIB_FRAMES + 512, 9, 0 },            /* free 2M: now d's */
        { 4 * GIB_FRAMES + 512, 9, -EBUSY },       /* d's already */
        { 4 * GIB_FRAMES + 512 + 7, 0, -EBUSY },   /* inside d's 2M */
        { 4 * GIB_FRAMES, 18, -EBUSY },            /* 1G, partly d's */
        { 3 * GIB_FRAMES, 9, -ENXIO },             /* the 3G-4G hole */
        { 3 * GIB_FRAMES - 512, 10, -ENXIO },      /* RAM, then the hole */
        { 1ull << 30, 0, -EFAULT },                /* beyond the machine */
        { 5 * GIB_FRAMES + 3, 0, 0 },              /* a lone free 4K */
    };
    struct heap_stats base, before;
    struct domain *d, *d2;
    unsigned int i;

    env_machine(HOLEY);
    d = env_domain(1, ENV_FMT(state));
    d2 = env_domain(2, ENV_FMT(state));
    heap_get_stats(&base);
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        uint64_t tot = d->tot_pages;

        heap_get_stats(&before);
        assert_int_equal(claim_domheap_range(d, _mfn(cases[i].mfn),
                                             cases[i].order), cases[i].rc);
        if ( cases[i].rc )
        {
            expect_counts(&before);
            assert_int_equal(d->tot_pages, tot);
            continue;
        }
        expect_ram_of(d, _mfn(cases[i].mfn), cases[i].order);
        assert_int_equal(d->tot_pages, tot + (1ull << cases[i].order));
        assert_int_equal(heap_check_accounting(), 0);
    }
    /* Another domain cannot take d's frames either. */
    assert_int_equal(claim_domheap_range(d2, _mfn(4 * GIB_FRAMES + 512), 9),
                     -EBUSY);
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
        if ( cases[i].rc == 0 )
            assert_int_equal(free_domheap_range(d, _mfn(cases[i].mfn),
                                                cases[i].order), 0);
    expect_counts(&base);
    env_finish();
}

/* Free 2M out of the middle of a 1 GiB chunk (a split), then the rest. */
static void test_free_part_of_1g(void **state)
{
    struct heap_stats base;
    struct domain *d, *d2;
    uint64_t tot;
    unsigned int k;
    mfn_t m;

    env_machine(HOLEY);
    d = env_domain(1, ENV_FMT(state));
    d2 = env_domain(2, ENV_FMT(state));
    heap_get_stats(&base);
    tot = d->tot_pages;
    m = env_alloc(d, PAGE_ORDER_1G);
    assert_int_equal(free_domheap_range(d2, mfn_add(m, 512), 9), -EPERM);
    assert_int_equal(free_domheap_range(d, mfn_add(m, 1), 9), -EINVAL);
    assert_int_equal(free_domheap_range(d, mfn_add(m, 512), 9), 0);
    assert_int_equal(d->tot_pages, tot + GIB_FRAMES - 512);
    assert_int_equal(mfn_owner(mfn_add(m, 512)), -1);
    assert_int_equal(mfn_owner(mfn_add(m, 1023)), -1);
    assert_int_equal(mfn_owner(mfn_add(m, 511)), d->domain_id);
    assert_int_equal(mfn_owner(mfn_add(m, 1024)), d->domain_id);
    assert_int_equal(heap_check_accounting(), 0);
    /* The freed 2M is free now: freeing it again, or all 1G, is refused. */
    assert_int_equal(free_domheap_range(d, mfn_add(m, 512), 9), -EPERM);
    assert_int_equal(free_domheap_range(d, m, PAGE_ORDER_1G), -EPERM);
    assert_int_equal(free_domheap_range(d, m, 9), 0);
    for ( k = 10; k < PAGE_ORDER_1G; k++ )
    {
        assert_int_equal(free_domheap_range(d, mfn_add(m, 1ull << k), k), 0);
        assert_int_equal(heap_check_accounting(), 0);
    }
    assert_int_equal(d->tot_pages, tot);
    expect_counts(&base);
    env_finish();
}

/* The accounting check notices each counter that is off by one. */
static void test_accounting_detects(void **state)
{
    static const size_t counters[] = {
        offsetof(struct domain, tot_pages),
        offsetof(struct domain, p2m_pages),
    };
    struct domain *d;
    unsigned int i;

    env_machine(HOLEY);
    d = env_domain(1, ENV_FMT(state));
    env_alloc(d, 9);
    assert_int_equal(heap_check_accounting(), 0);
    for ( i = 0; i < ARRAY_SIZE(counters); i++ )
    {
        uint64_t *c = (uint64_t *)((char *)d + counters[i]);

        (*c)++;
        assert_true(heap_check_accounting() > 0);
        (*c) -= 2;
        assert_true(heap_check_accounting() > 0);
        (*c)++;
        assert_int_equal(heap_check_accounting(), 0);
    }
    env_finish();
}

/* heap_fail_nth(n) fails exactly the n-th allocation after it. */
static void test_fail_nth(void **state)
{
    struct domain *d;
    struct heap_stats before;
    mfn_t mfn;
    unsigned int i;

    env_machine(HOLEY);
    d = env_domain(1, ENV_FMT(state));
    heap_fail_nth(3);
    for ( i = 1; i <= 5; i++ )
    {
        struct page_info *pg = alloc_domheap_pages(d, i % 2 ? 0 : 9,
                                                    MEMF_reserve);

        if ( i == 3 )
            assert_null(pg);
        else
            assert_non_null(pg);
    }
    heap_fail_nth(1);
    heap_get_stats(&before);
    assert_int_equal(memory_populate(d, _gfn(0), 9, p2m_ram_rw,
                                     P2M_ACCESS_RWX, &mfn), -ENOMEM);
    expect_counts(&before);
    heap_fail_nth(0);
    for ( i = 0; i < 4; i++ )
        assert_non_null(alloc_domheap_pages(d, 0, MEMF_reserve));
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_alloc_free_each_order),
        ENV_TEST(test_free_counts),
        ENV_TEST(test_buddies_merge),
        ENV_TEST(test_nothing_from_holes),
        ENV_TEST(test_memf_zero),
        ENV_TEST(test_fragment),
        ENV_TEST(test_claim),
        ENV_TEST(test_free_part_of_1g),
        ENV_TEST(test_accounting_detects),
        ENV_TEST(test_fail_nth),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

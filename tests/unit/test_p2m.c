/*
 * P2M mapping: map, look up, overwrite and unmap at 4K, 2M and 1G; splits at
 * every level and at the edges of superpages; subtrees replaced by larger
 * leaves; p2m_set_range cutting; types across splits; the m2p in step.
 */
#include "env.h"

#include <asm-x86/m2p.h>
#include <asm-x86/p2m-pod.h>

#define LAYOUT "0-3G,4G-16G"
#define RWX P2M_ACCESS_RWX
#define RW (P2M_ACCESS_R | P2M_ACCESS_W)
#define RX (P2M_ACCESS_R | P2M_ACCESS_X)

/* Table pages (root included) that one leaf of order needs. */
static uint64_t tables_for(unsigned int order)
{
    return 1 + P2M_LEVELS - p2m_order_level(order);
}

static void stats_one_leaf(struct domain *d, unsigned int order, uint64_t n,
                           uint64_t tables)
{
    uint64_t p[P2M_LEAF_LEVELS] = { 0 };

    p[p2m_level_idx(p2m_order_level(order))] = n;
    env_expect_stats(d, p[p2m_level_idx(P2M_L1)], p[p2m_level_idx(P2M_L2)],
                     p[p2m_level_idx(P2M_L3)], tables, 0);
}

static void expect_m2p(uint64_t mfn, uint64_t gfn)
{
    gfn_t g = m2p_lookup(_mfn(mfn));

    if ( gfn_x(g) != gfn )
        fail_msg("m2p of mfn %#llx is %#llx, expected %#llx",
                 (unsigned long long)mfn, (unsigned long long)gfn_x(g),
                 (unsigned long long)gfn);
}

/* Map, look up, overwrite (frame, type, access) and unmap at one order. */
static void test_map_each_order(void **state)
{
    static const unsigned int orders[] = {
        PAGE_ORDER_4K, PAGE_ORDER_2M, PAGE_ORDER_1G
    };
    static const struct { p2m_type_t t; p2m_access_t a; } steps[] = {
        { p2m_ram_rw, RWX },
        { p2m_ram_ro, RX },       /* other frame, type and access */
        { p2m_ram_rw, RW },       /* same frame, rights go up */
        { p2m_invalid, 0 },       /* unmap */
    };
    unsigned int i, s;

    for ( i = 0; i < ARRAY_SIZE(orders); i++ )
    {
        unsigned int o = orders[i];
        uint64_t n = 1ull << o, g = 2 * GIB_FRAMES + (o < 18 ? 5 * n : 0);
        uint64_t tables = tables_for(o), m[2];
        struct domain *d;

        env_machine(LAYOUT);
        d = env_domain(1, ENV_FMT(state));
        m[0] = mfn_x(env_alloc(d, o));
        m[1] = mfn_x(env_alloc(d, o));
        env_expect(d, g, INVALID_MFN_RAW, p2m_invalid, 0, 27);
        env_expect_stats(d, 0, 0, 0, 1, 0);
        for ( s = 0; s < ARRAY_SIZE(steps); s++ )
        {
            p2m_type_t t = steps[s].t;
            uint64_t mfn = s == 0 ? m[0] : m[1];
            int rc = t == p2m_invalid
                     ? p2m_remove(&d->p2m, _gfn(g), o)
                     : p2m_set_entry(&d->p2m, _gfn(g), _mfn(mfn), o, t,
                                     steps[s].a);

            assert_int_equal(rc, 0);
            if ( t == p2m_invalid )
            {
                env_expect(d, g, INVALID_MFN_RAW, t, 0, o);
                env_expect(d, g + n - 1, INVALID_MFN_RAW, t, 0, o);
                stats_one_leaf(d, o, 0, tables);
                expect_m2p(m[1], INVALID_GFN_RAW);
            }
            else
            {
                env_expect(d, g, mfn, t, steps[s].a, o);
                env_expect(d, g + n - 1, mfn + n - 1, t, steps[s].a, o);
                stats_one_leaf(d, o, 1, tables);
                expect_m2p(mfn, g);
                expect_m2p(mfn + n - 1, g + n - 1);
                expect_m2p(m[s == 0], INVALID_GFN_RAW);
            }
            /* The neighbours on both sides stay empty. */
            env_expect(d, g - 1, INVALID_MFN_RAW, p2m_invalid, 0, o);
            env_expect(d, g + n, INVALID_MFN_RAW, p2m_invalid, 0, o);
            env_expect_clean(d);
        }
        env_finish();
    }
}

/* Order of the leaf that holds neighbour gfn after the small map at s. */
static unsigned int neighbour_order(uint64_t gfn, uint64_t s,
                                    unsigned int small)
{
    return small == 0 && (gfn >> 9) == (s >> 9) ? 0 : 9;
}

/*
 * A small leaf mapped inside a superpage splits it down to its level, at
 * the first, last and some middle position; neighbours keep contiguous
 * frames, the type and the access; the replaced frame leaves the m2p.
 */
static void test_split_levels_and_edges(void **state)
{
    static const struct {
        unsigned int big, small;
        uint64_t off;
        uint64_t splits, pages[P2M_LEAF_LEVELS], tables; /* 4K, 2M, 1G */
    } cases[] = {
        { 18, 0, 0,                 2, { 512, 511, 0 }, 2 },
        { 18, 0, GIB_FRAMES - 1,    2, { 512, 511, 0 }, 2 },
        { 18, 0, 0x12345,           2, { 512, 511, 0 }, 2 },
        { 18, 9, 0,                 1, { 0, 512, 0 },   1 },
        { 18, 9, GIB_FRAMES - 512,  1, { 0, 512, 0 },   1 },
        { 9,  0, 0,                 1, { 512, 0, 0 },   1 },
        { 9,  0, 511,               1, { 512, 0, 0 },   1 },
        { 9,  0, 0x100,             1, { 512, 0, 0 },   1 },
    };
    unsigned int i, j;

    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        unsigned int big = cases[i].big, small = cases[i].small;
        uint64_t nb = 1ull << big, g = GIB_FRAMES + (big == 9 ? 3 * nb : 0);
        uint64_t s = g + cases[i].off, m, sm, t0;
        uint64_t near[] = { s - 1, s + (1ull << small), g, g + nb - 1 };
        struct domain *d;

        env_machine(LAYOUT);
        d = env_domain(1, ENV_FMT(state));
        m = mfn_x(env_alloc(d, big));
        sm = mfn_x(env_alloc(d, small));
        assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g), _mfn(m), big,
                                       p2m_ram_rw, RW), 0);
        t0 = tables_for(big);
        assert_int_equal(p2m_set_entry(&d->p2m, _gfn(s), _mfn(sm), small,
                                       p2m_ram_rw, RWX), 0);
        env_expect_stats(d, cases[i].pages[p2m_level_idx(P2M_L1)],
                         cases[i].pages[p2m_level_idx(P2M_L2)],
                         cases[i].pages[p2m_level_idx(P2M_L3)],
                         t0 + cases[i].tables, cases[i].splits);
        env_expect(d, s, sm, p2m_ram_rw, RWX, small);
        expect_m2p(sm, s);
        expect_m2p(m + cases[i].off, INVALID_GFN_RAW);
        for ( j = 0; j < ARRAY_SIZE(near); j++ )
        {
            uint64_t n = near[j];

            if ( n < g || n >= g + nb || (n >= s && n < s + (1ull << small)) )
                continue;       /* outside the superpage, or the new leaf */
            env_expect(d, n, m + (n - g), p2m_ram_rw, RW,
                       neighbour_order(n, s, small));
            expect_m2p(m + (n - g), n);
        }
        env_expect_clean(d);
        env_finish();
    }
}

static int count_table(void *ctx, mfn_t mfn, const uint64_t *entries)
{
    (*(uint64_t *)ctx)++;
    return 0;
}

static void expect_tables(struct domain *d, uint64_t want)
{
    struct p2m_stats s;
    uint64_t n = 0;

    assert_int_equal(p2m_for_each_table(&d->p2m, count_table, &n), 0);
    assert_int_equal(n, want);
    p2m_get_stats(&d->p2m, &s);
    assert_int_equal(s.table_pages, want);
    assert_int_equal(d->p2m_pages, s.table_pages + d->p2m.pool_pages);
}

/* A larger leaf over a subtree frees the subtree's table pages. */
static void test_replace_subtree(void **state)
{
    uint64_t g = 3 * GIB_FRAMES, m4[2], m2, m1;
    struct domain *d;

    env_machine(LAYOUT);
    d = env_domain(1, ENV_FMT(state));
    m4[0] = mfn_x(env_alloc(d, 0));
    m4[1] = mfn_x(env_alloc(d, 0));
    m2 = mfn_x(env_alloc(d, 9));
    m1 = mfn_x(env_alloc(d, 18));
    /* Two L1 tables and a 2M leaf under one L2 table. */
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g), _mfn(m4[0]), 0,
                                   p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g + 512 + 7), _mfn(m4[1]),
                                   0, p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g + 1024), _mfn(m2), 9,
                                   p2m_ram_rw, RWX), 0);
    env_expect_stats(d, 2, 1, 0, 5, 0);
    expect_tables(d, 5);
    /* A 2M leaf over one L1 table frees that table. */
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g + 512), _mfn(m2), 9,
                                   p2m_ram_rw, RWX), -EBUSY);
    assert_int_equal(p2m_remove(&d->p2m, _gfn(g + 1024), 9), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g + 512), _mfn(m2), 9,
                                   p2m_ram_rw, RWX), 0);
    env_expect_stats(d, 1, 1, 0, 4, 0);
    expect_tables(d, 4);
    expect_m2p(m4[1], INVALID_GFN_RAW);
    expect_m2p(m2 + 7, g + 512 + 7);
    /* A 1G leaf over the whole L2 subtree frees the rest. */
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g), _mfn(m1), 18,
                                   p2m_ram_ro, RX), 0);
    env_expect_stats(d, 0, 0, 1, 2, 0);
    expect_tables(d, 2);
    expect_m2p(m4[0], INVALID_GFN_RAW);
    expect_m2p(m2, INVALID_GFN_RAW);
    expect_m2p(m1 + 513, g + 513);
    env_expect(d, g + 1024, m1 + 1024, p2m_ram_ro, RX, 18);
    env_expect_clean(d);
    env_finish();
}

static void expect_unmapped(struct domain *d, uint64_t gfn)
{
    struct p2m_lookup l;

    assert_int_equal(p2m_get_entry(&d->p2m, _gfn(gfn), &l), 0);
    assert_int_equal(l.type, p2m_invalid);
    assert_int_equal(mfn_x(l.mfn), INVALID_MFN_RAW);
    assert_int_equal(l.rights, 0);
}

/* [g, g + nr) maps [m, m + nr) as ram_rw, and the m2p agrees. */
static void expect_linear(struct domain *d, uint64_t g, uint64_t m,
                          uint64_t nr)
{
    uint64_t probe[] = { g, g + 1, g + nr / 2, g + nr - 2, g + nr - 1 };
    unsigned int k;

    for ( k = 0; k < ARRAY_SIZE(probe); k++ )
    {
        struct p2m_lookup l;

        assert_int_equal(p2m_get_entry(&d->p2m, _gfn(probe[k]), &l), 0);
        assert_int_equal(mfn_x(l.mfn), m + probe[k] - g);
        assert_int_equal(l.type, p2m_ram_rw);
        expect_m2p(m + probe[k] - g, probe[k]);
    }
}

/* p2m_set_range cuts a range into the largest orders gfn and mfn allow. */
static void test_set_range_orders(void **state)
{
    static const struct {
        uint64_t gfn, nr, skew;          /* mfn = base + gfn + skew */
        uint64_t pages[P2M_LEAF_LEVELS]; /* 4K, 2M, 1G */
    } cases[] = {
        { 0x1ff, 0x80002, 0,        { 2, 512, 1 } },
        { 0x1ff, 0x80002, 0x200,    { 2, 1024, 0 } },  /* mfn 2M-aligned */
        { 0x200, 0x400, 1,          { 0x400, 0, 0 } }, /* mfn 4K-aligned */
        { 0x40000, 0x40000, 0,      { 0, 0, 1 } },
        { 0, 0x40200, 0x40000,      { 0, 1, 1 } },
        { 0x3fe00, 0x400, 0,        { 0, 2, 0 } },     /* across a 1G line */
    };
    struct domain *d;
    unsigned int i, k;
    uint64_t base;

    env_machine(LAYOUT);
    d = env_domain(1, ENV_FMT(state));
    base = env_claim_gibs(d, 3);
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        uint64_t g = cases[i].gfn, nr = cases[i].nr;
        uint64_t m = base + g + cases[i].skew;
        struct p2m_stats s;

        assert_int_equal(p2m_set_range(&d->p2m, _gfn(g), _mfn(m), nr,
                                       p2m_ram_rw, RWX), 0);
        p2m_get_stats(&d->p2m, &s);
        for ( k = 0; k < P2M_LEAF_LEVELS; k++ )
            if ( s.pages[k] != cases[i].pages[k] )
                fail_msg("case %u: %llu leaves of order %u, expected %llu",
                         i, (unsigned long long)s.pages[k],
                         p2m_level_order(p2m_idx_level(k)),
                         (unsigned long long)cases[i].pages[k]);
        assert_int_equal(s.splits, 0);
        expect_linear(d, g, m, nr);
        if ( g )
            expect_unmapped(d, g - 1);
        expect_unmapped(d, g + nr);
        env_expect_clean(d);
        assert_int_equal(p2m_set_range(&d->p2m, _gfn(g), INVALID_MFN, nr,
                                       p2m_invalid, 0), 0);
        p2m_get_stats(&d->p2m, &s);
        for ( k = 0; k < P2M_LEAF_LEVELS; k++ )
            assert_int_equal(s.pages[k], 0);
        expect_unmapped(d, g);
        expect_unmapped(d, g + nr - 1);
        expect_m2p(m, INVALID_GFN_RAW);
        expect_m2p(m + nr - 1, INVALID_GFN_RAW);
        env_expect_clean(d);
    }
    env_finish();
}

/* The children of a split keep the parent's type, access and frames. */
static void test_split_keeps_type(void **state)
{
    static const struct { p2m_type_t t; p2m_access_t a; uint64_t mfn; }
    cases[] = {
        { p2m_ram_ro, RWX, 0 },
        { p2m_ram_ro, P2M_ACCESS_R, 0 },
        { p2m_ram_logdirty, RWX, 0 },
        { p2m_ram_rw, RX, 0 },
        { p2m_mmio_direct, RW, 3 * GIB_FRAMES },    /* the 3G-4G hole */
    };
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        uint64_t g = 2 * GIB_FRAMES, m, s = g + 0x2345, sm;
        p2m_type_t t = cases[i].t;
        p2m_access_t a = cases[i].a;
        struct domain *d;

        env_machine(LAYOUT);
        d = env_domain(1, ENV_FMT(state));
        m = cases[i].mfn ? cases[i].mfn : mfn_x(env_alloc(d, 18));
        if ( t == p2m_mmio_direct )
            assert_int_equal(domain_iomem_permit(d, _mfn(m), GIB_FRAMES), 0);
        sm = mfn_x(env_alloc(d, 0));
        assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g), _mfn(m), 18, t, a),
                         0);
        assert_int_equal(p2m_set_entry(&d->p2m, _gfn(s), _mfn(sm), 0,
                                       p2m_ram_rw, RWX), 0);
        env_expect_stats(d, 512, 511, 0, 4, 2);
        env_expect(d, s, sm, p2m_ram_rw, RWX, 0);
        env_expect(d, s - 1, m + (s - 1 - g), t, a, 0);
        env_expect(d, s + 1, m + (s + 1 - g), t, a, 0);
        env_expect(d, g, m, t, a, 9);
        env_expect(d, g + GIB_FRAMES - 1, m + GIB_FRAMES - 1, t, a, 9);
        if ( p2m_type_is_ram(t) )
            expect_m2p(m + GIB_FRAMES - 1, g + GIB_FRAMES - 1);
        env_expect_clean(d);
        env_finish();
    }
}

/* Frames of removed leaves leave the m2p; the others keep their record. */
static void test_m2p_follows_unmap(void **state)
{
    uint64_t g = GIB_FRAMES, m;
    struct domain *d;

    env_machine(LAYOUT);
    d = env_domain(1, ENV_FMT(state));
    m = mfn_x(env_alloc(d, 18));
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g), _mfn(m), 18,
                                   p2m_ram_rw, RWX), 0);
    expect_m2p(m + 0x777, g + 0x777);
    assert_int_equal(p2m_remove(&d->p2m, _gfn(g + 0x400), 9), 0);
    assert_int_equal(p2m_remove(&d->p2m, _gfn(g + 0x3), 0), 0);
    expect_m2p(m + 0x400, INVALID_GFN_RAW);
    expect_m2p(m + 0x5ff, INVALID_GFN_RAW);
    expect_m2p(m + 0x3, INVALID_GFN_RAW);
    expect_m2p(m + 0x2, g + 0x2);
    expect_m2p(m + 0x3ff, g + 0x3ff);
    expect_m2p(m + 0x600, g + 0x600);
    /* The unmapped frames can go to another gfn; mapped ones cannot. */
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x400), _mfn(m + 0x400), 9,
                                   p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x600), _mfn(m + 0x600), 9,
                                   p2m_ram_rw, RWX), -EBUSY);
    expect_m2p(m + 0x401, 0x401);
    assert_int_equal(p2m_remove(&d->p2m, _gfn(g), 18), 0);
    expect_m2p(m + 0x2, INVALID_GFN_RAW);
    expect_m2p(m + 0x600, INVALID_GFN_RAW);
    expect_m2p(m + 0x401, 0x401);
    env_expect_clean(d);
    env_finish();
}

/* Every gfn of [g, g + nr) maps m + (gfn - g) as ram_rw, m2p included. */
static void expect_linear_all(struct domain *d, uint64_t g, uint64_t m,
                              uint64_t nr)
{
    uint64_t i;

    for ( i = 0; i < nr; i++ )
    {
        struct p2m_lookup l;

        assert_int_equal(p2m_get_entry(&d->p2m, _gfn(g + i), &l), 0);
        if ( mfn_x(l.mfn) != m + i || l.type != p2m_ram_rw )
            fail_msg("gfn %#llx: mfn %#llx type %u, expected %#llx",
                     (unsigned long long)(g + i),
                     (unsigned long long)mfn_x(l.mfn), l.type,
                     (unsigned long long)(m + i));
        expect_m2p(m + i, g + i);
    }
}

/*
 * p2m_set_range writes a run of 4K leaves table by table: a few walks from
 * the root per table it fills (validate, prepare and commit), never one
 * per entry.  Over an old 2M leaf the run splits it once, keeps the rest,
 * and gives back just the frames it replaced.
 */
static void test_range_walks_per_table(void **state)
{
    const uint64_t g = 0x1000, nr = 4 * 512 + 7;   /* 5 L1 tables */
    const uint64_t walks_per_table = 4;
    struct domain *d;
    uint64_t base, walks, old;

    env_machine(LAYOUT);
    d = env_domain(1, ENV_FMT(state));
    base = env_claim_gibs(d, 3);
    /* mfn only 4K-aligned: every chunk is a 4K leaf.  (Debug builds: the
     * audit after the map is not the map's own walking.) */
    d->p2m.debug_skip = 1;
    walks = d->p2m.walks;
    assert_int_equal(p2m_set_range(&d->p2m, _gfn(g), _mfn(base + g + 1), nr,
                                   p2m_ram_rw, RWX), 0);
    walks = d->p2m.walks - walks;
    print_message("# %llu 4K leaves in 5 tables: %llu walks\n",
                  (unsigned long long)nr, (unsigned long long)walks);
    assert_true(walks <= 5 * walks_per_table);
    expect_linear_all(d, g, base + g + 1, nr);
    stats_one_leaf(d, 0, nr, 1 + 2 + 5);
    /* The run's m2p block counters (written once per 2M block): every
     * 2M block of its frames, and the 1G block, count records. */
    for ( old = align_down(base + g + 1, PAGE_ORDER_2M);
          old < base + g + 1 + nr; old += 512 )
        assert_true(m2p_range_mapped(_mfn(old), PAGE_ORDER_2M));
    assert_true(m2p_range_mapped(_mfn(base), PAGE_ORDER_1G));
    env_expect_clean(d);

    /* The same gfns again, to other frames: the old ones are released. */
    old = base + g + 1;
    d->p2m.debug_skip = 1;
    walks = d->p2m.walks;
    assert_int_equal(p2m_set_range(&d->p2m, _gfn(g), _mfn(base + GIB_FRAMES +
                                   g + 3), nr, p2m_ram_rw, RWX), 0);
    assert_true(d->p2m.walks - walks <= 5 * walks_per_table);
    expect_linear_all(d, g, base + GIB_FRAMES + g + 3, nr);
    expect_m2p(old, INVALID_GFN_RAW);
    expect_m2p(old + nr - 1, INVALID_GFN_RAW);
    /* The old frames' blocks count nothing now, so they may be freed. */
    for ( walks = align_down(old, PAGE_ORDER_2M); walks < old + nr;
          walks += 512 )
        assert_false(m2p_range_mapped(_mfn(walks), PAGE_ORDER_2M));
    env_expect_clean(d);

    /* Across an old 2M leaf: split once, its other frames stay. */
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x40000), _mfn(base),
                                   PAGE_ORDER_2M, p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_range(&d->p2m, _gfn(0x40000 + 5),
                                   _mfn(base + 2 * GIB_FRAMES + 1), 600,
                                   p2m_ram_rw, RWX), 0);
    expect_linear_all(d, 0x40000, base, 5);
    expect_linear_all(d, 0x40000 + 5, base + 2 * GIB_FRAMES + 1, 600);
    expect_m2p(base + 5, INVALID_GFN_RAW);
    expect_m2p(base + 511, INVALID_GFN_RAW);
    expect_unmapped(d, 0x40000 + 605);
    env_expect_clean(d);
    env_finish();
}

/*
 * A 4K range over tables that already hold entries here and there: the
 * run of empty entries is written in one go up to each of them, and each
 * is replaced on its own (RAM of other frames released, the same frame
 * kept, a PoD entry counted out), then the empty ones after it again.
 */
static void test_range_over_scattered_entries(void **state)
{
    const uint64_t g = 0x3000, nr = 1024;       /* two L1 tables */
    static const uint64_t probe[] = { 0, 9, 10, 11, 510, 511, 512, 513,
                                      699, 700, 701, 1023 };
    struct domain *d;
    struct p2m_stats s;
    uint64_t base, m, other;
    unsigned int i;

    env_machine(LAYOUT);
    d = env_domain(1, ENV_FMT(state));
    base = env_claim_gibs(d, 3);
    m = base + g + 1;                   /* only 4K-aligned: 4K leaves */
    other = base + 2 * GIB_FRAMES;
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g + 10), _mfn(other + 50),
                                   PAGE_ORDER_4K, p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g + 511), _mfn(other + 60),
                                   PAGE_ORDER_4K, p2m_ram_ro, RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g + 512), _mfn(m + 512),
                                   PAGE_ORDER_4K, p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_pod_mark(d, _gfn(g + 700), 1), 0);
    env_expect_clean(d);

    assert_int_equal(p2m_set_range(&d->p2m, _gfn(g), _mfn(m), nr,
                                   p2m_ram_rw, RWX), 0);
    expect_linear_all(d, g, m, nr);
    for ( i = 0; i < ARRAY_SIZE(probe); i++ )
        expect_m2p(m + probe[i], g + probe[i]);
    expect_m2p(other + 50, INVALID_GFN_RAW);
    expect_m2p(other + 60, INVALID_GFN_RAW);
    expect_unmapped(d, g - 1);
    expect_unmapped(d, g + nr);
    p2m_get_stats(&d->p2m, &s);
    assert_int_equal(s.pages[p2m_level_idx(P2M_L1)], nr);
    assert_int_equal(s.pod_entries, 0);
    env_expect_clean(d);

    /* Unmapping the whole GiB drops its subtree: the records go a run at
     * a time, and the frames' 2M blocks count none, so they may be freed. */
    assert_int_equal(p2m_set_range(&d->p2m, _gfn(0), INVALID_MFN,
                                   GIB_FRAMES, p2m_invalid, 0), 0);
    for ( i = 0; i < ARRAY_SIZE(probe); i++ )
        expect_m2p(m + probe[i], INVALID_GFN_RAW);
    for ( other = align_down(m, PAGE_ORDER_2M); other < m + nr;
          other += 512 )
        assert_false(m2p_range_mapped(_mfn(other), PAGE_ORDER_2M));
    p2m_get_stats(&d->p2m, &s);
    assert_int_equal(s.pages[p2m_level_idx(P2M_L1)], 0);
    env_expect_clean(d);
    env_finish();
}

/* The per-frame answer m2p_run_conflicts must give for the whole run. */
static bool run_conflicts_by_frame(uint64_t m, uint64_t g, uint64_t n)
{
    uint64_t i;

    for ( i = 0; i < n; i++ )
        if ( m2p_range_conflicts(_mfn(m + i), PAGE_ORDER_4K, _gfn(g + i)) )
            return true;
    return false;
}

/*
 * m2p_run_conflicts reads the 1G and 2M records once per block and the 4K
 * records only where a block counts some: it answers as the frames one by
 * one do, for runs across records of every order and across block lines.
 */
static void test_run_conflicts_matches_frames(void **state)
{
    static const uint64_t starts[] = {
        0, GIB_FRAMES - 3, GIB_FRAMES + 0x1fc, GIB_FRAMES + 0x1fe,
        GIB_FRAMES + 0x3fe, GIB_FRAMES + 0x40f, GIB_FRAMES + 0x5ff,
        GIB_FRAMES + 0x600, GIB_FRAMES + 0x60f, GIB_FRAMES + 0x610,
        2 * GIB_FRAMES - 3, 2 * GIB_FRAMES + 5, 2 * GIB_FRAMES + 0x1ff };
    static const uint64_t lens[] = { 1, 3, 512, 700, 1500 };
    unsigned int i, k, hits = 0, misses = 0;
    struct domain *d;
    uint64_t base, g1 = GIB_FRAMES;

    env_machine(LAYOUT);
    d = env_domain(1, ENV_FMT(state));
    base = env_claim_gibs(d, 3);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g1),
                                   _mfn(base + 2 * GIB_FRAMES),
                                   PAGE_ORDER_1G, p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x200),
                                   _mfn(base + GIB_FRAMES + 0x400),
                                   PAGE_ORDER_2M, p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_range(&d->p2m, _gfn(0x1005),
                                   _mfn(base + GIB_FRAMES + 0x1fe), 3,
                                   p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x2000),
                                   _mfn(base + GIB_FRAMES + 0x610),
                                   PAGE_ORDER_4K, p2m_ram_rw, RWX), 0);
    for ( i = 0; i < ARRAY_SIZE(starts); i++ )
        for ( k = 0; k < ARRAY_SIZE(lens) * 2; k++ )
        {
            uint64_t m = base + starts[i], n = lens[k / 2];
            gfn_t at = m2p_lookup(_mfn(m));
            /* Where the first frame is mapped (or gfn 0x1000 if it is
             * not), and one gfn off. */
            uint64_t g = (gfn_eq(at, INVALID_GFN) ? 0x1000 : gfn_x(at)) +
                         (k & 1);
            bool want = run_conflicts_by_frame(m, g, n);

            if ( m2p_run_conflicts(_mfn(m), _gfn(g), n) != want )
                fail_msg("mfn %#llx gfn %#llx n %llu: expected %d",
                         (unsigned long long)m, (unsigned long long)g,
                         (unsigned long long)n, want);
            want ? hits++ : misses++;
        }
    print_message("# %u runs conflict, %u do not\n", hits, misses);
    assert_true(hits > 10 && misses > 10);
    env_expect_clean(d);
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_map_each_order),
        ENV_TEST(test_split_levels_and_edges),
        ENV_TEST(test_replace_subtree),
        ENV_TEST(test_set_range_orders),
        ENV_TEST(test_split_keeps_type),
        ENV_TEST(test_m2p_follows_unmap),
        ENV_TEST(test_range_walks_per_table),
        ENV_TEST(test_range_over_scattered_entries),
        ENV_TEST(test_run_conflicts_matches_frames),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

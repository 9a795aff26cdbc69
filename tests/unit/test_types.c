/*
 * Type changes: global and ranged changes keep superpages whole and split
 * only at the ends of a range; log-dirty write faults split down to the one
 * page written, the dirty bitmap reports exactly it, clean re-protects it.
 */
#include "env.h"

#define LAYOUT "0-3G,4G-12G"
#define RWX P2M_ACCESS_RWX
#define G1 GIB_FRAMES                   /* gfn of the 1G leaf */
#define G2 (3 * GIB_FRAMES + 0x800)     /* gfn of the 2M leaf */
#define G4 (3 * GIB_FRAMES + 0x1005)    /* gfn of a 4K leaf */

struct world { struct domain *d; uint64_t m1, m2, m4; };

static void world_up(struct world *w, enum p2m_format fmt)
{
    struct p2m_domain *p2m;

    env_machine(LAYOUT);
    hosted_tlb_set_check(true);
    hosted_tlb_reset_counters();
    w->d = env_domain(1, fmt);
    p2m = &w->d->p2m;
    w->m1 = mfn_x(env_alloc(w->d, 18));
    w->m2 = mfn_x(env_alloc(w->d, 9));
    w->m4 = mfn_x(env_alloc(w->d, 0));
    assert_int_equal(p2m_set_entry(p2m, _gfn(G1), _mfn(w->m1), 18,
                                   p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(G2), _mfn(w->m2), 9,
                                   p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(G4), _mfn(w->m4), 0,
                                   p2m_ram_rw, RWX), 0);
}

static void world_down(struct world *w)
{
    assert_int_equal(hosted_tlb_stale_hits(), 0);
    env_expect_clean(w->d);
    env_finish();
}

static void expect_all(struct world *w, p2m_type_t t)
{
    env_expect(w->d, G1, w->m1, t, RWX, 18);
    env_expect(w->d, G1 + GIB_FRAMES - 1, w->m1 + GIB_FRAMES - 1, t, RWX, 18);
    env_expect(w->d, G2 + 3, w->m2 + 3, t, RWX, 9);
    env_expect(w->d, G4, w->m4, t, RWX, 0);
}

static int retype_global(struct domain *d, p2m_type_t ot, p2m_type_t nt)
{
    return p2m_change_type_global(&d->p2m, ot, nt);
}

static int retype_logdirty(struct domain *d, p2m_type_t ot, p2m_type_t nt)
{
    return p2m_logdirty_enable(&d->p2m, nt == p2m_ram_logdirty);
}

/* ram_rw <-> ram_logdirty over 1G, 2M and 4K leaves: no split, W goes. */
static void test_global_change_keeps_superpages(void **state)
{
    static int (*const ops[])(struct domain *, p2m_type_t, p2m_type_t) = {
        retype_global, retype_logdirty,
    };
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(ops); i++ )
    {
        struct tlb_counters tc0, tc1;
        struct p2m_stats s0, s1;
        struct world w;

        world_up(&w, ENV_FMT(state));
        p2m_get_stats(&w.d->p2m, &s0);
        hosted_tlb_counters(&tc0);
        assert_int_equal(ops[i](w.d, p2m_ram_rw, p2m_ram_logdirty), 0);
        p2m_get_stats(&w.d->p2m, &s1);
        hosted_tlb_counters(&tc1);
        assert_memory_equal(s0.pages, s1.pages, sizeof(s0.pages));
        assert_int_equal(s1.splits, s0.splits);
        assert_int_equal(s1.table_pages, s0.table_pages);
        /* Write access went away: one flush, counted and done. */
        assert_int_equal(s1.flushes, s0.flushes + 1);
        assert_true(tc1.flushes > tc0.flushes);
        expect_all(&w, p2m_ram_logdirty);
        env_expect_clean(w.d);
        assert_int_equal(ops[i](w.d, p2m_ram_logdirty, p2m_ram_rw), 0);
        p2m_get_stats(&w.d->p2m, &s1);
        assert_memory_equal(s0.pages, s1.pages, sizeof(s0.pages));
        assert_int_equal(s1.splits, s0.splits);
        expect_all(&w, p2m_ram_rw);
        world_down(&w);
    }
}

/*
 * A range change over [G1 + off, G1 + off + nr) of the 1G leaf splits only
 * where the range ends cut a leaf.
 */
static void test_range_change_splits_at_ends(void **state)
{
    static const struct {
        uint64_t off, nr;
        p2m_type_t nt;
        uint64_t splits, pages[P2M_LEAF_LEVELS]; /* 4K, 2M, 1G */
    } cases[] = {
        { 0, GIB_FRAMES, p2m_ram_logdirty,          0, { 0, 0, 1 } },
        { 0x200, GIB_FRAMES - 0x200, p2m_ram_ro,    1, { 0, 512, 0 } },
        { 0, 0x400, p2m_ram_logdirty,               1, { 0, 512, 0 } },
        { 0x200, 0x200, p2m_ram_ro,                 1, { 0, 512, 0 } },
        { 1, GIB_FRAMES - 2, p2m_ram_logdirty,      3, { 1024, 510, 0 } },
        { 3, 2, p2m_ram_ro,                         2, { 512, 511, 0 } },
        { 0x1ff, 2, p2m_ram_logdirty,               3, { 1024, 510, 0 } },
    };
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        uint64_t s = G1 + cases[i].off, e = s + cases[i].nr;
        p2m_type_t nt = cases[i].nt;
        struct p2m_stats s0;
        struct p2m_lookup l;
        struct world w;

        world_up(&w, ENV_FMT(state));
        p2m_get_stats(&w.d->p2m, &s0);
        assert_int_equal(p2m_change_type_range(&w.d->p2m, _gfn(s),
                                               cases[i].nr, p2m_ram_rw, nt),
                         0);
        /* The 2M and 4K leaves elsewhere are not touched. */
        env_expect_stats(w.d, cases[i].pages[p2m_level_idx(P2M_L1)] + 1,
                         cases[i].pages[p2m_level_idx(P2M_L2)] + 1,
                         cases[i].pages[p2m_level_idx(P2M_L3)],
                         s0.table_pages + cases[i].splits, cases[i].splits);
        env_expect(w.d, G2, w.m2, p2m_ram_rw, RWX, 9);
        assert_int_equal(p2m_get_entry(&w.d->p2m, _gfn(s), &l), 0);
        assert_int_equal(l.type, nt);
        assert_int_equal(mfn_x(l.mfn), w.m1 + cases[i].off);
        assert_int_equal(p2m_get_entry(&w.d->p2m, _gfn(e - 1), &l), 0);
        assert_int_equal(l.type, nt);
        if ( s > G1 )
        {
            assert_int_equal(p2m_get_entry(&w.d->p2m, _gfn(s - 1), &l), 0);
            assert_int_equal(l.type, p2m_ram_rw);
        }
        if ( e < G1 + GIB_FRAMES )
        {
            assert_int_equal(p2m_get_entry(&w.d->p2m, _gfn(e), &l), 0);
            assert_int_equal(l.type, p2m_ram_rw);
            assert_int_equal(l.rights, RWX);
        }
        world_down(&w);
    }
}

struct tally { uint64_t pages[p2m_nr_types]; };

static int tally_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    struct tally *t = ctx;

    if ( gfn_x(gfn) >= G1 && gfn_x(gfn) < G1 + GIB_FRAMES )
        t->pages[l->type] += 1ull << l->order;
    return 0;
}

static void expect_1g_types(struct domain *d, uint64_t rw, uint64_t ld)
{
    struct tally t = { { 0 } };

    assert_int_equal(p2m_for_each_leaf(&d->p2m, tally_leaf, &t), 0);
    assert_int_equal(t.pages[p2m_ram_rw], rw);
    assert_int_equal(t.pages[p2m_ram_logdirty], ld);
}

/* bitmap has exactly the bits of want[] set. */
static void expect_dirty(const uint8_t *bitmap, const uint64_t *want,
                         unsigned int n)
{
    uint64_t i, set = 0;
    unsigned int j;

    for ( i = 0; i < GIB_FRAMES; i++ )
        set += (bitmap[i / 8] >> (i % 8)) & 1;
    assert_int_equal(set, n);
    for ( j = 0; j < n; j++ )
        assert_true(bitmap[want[j] / 8] & (1u << (want[j] % 8)));
}

#define OFF 0x1234                      /* the page written, in the 1G */
#define VAL 0x1122334455667788ull

static uint8_t bitmap[GIB_FRAMES / 8];

static int64_t dirty_in_1g(struct world *w, bool clean)
{
    return p2m_logdirty_read(&w->d->p2m, _gfn(G1), GIB_FRAMES, bitmap,
                             clean);
}

/* Clean reports the page once more, then protects it; it stays 4K. */
static void clean_then_write_again(struct world *w, struct vcpu *v)
{
    static const uint64_t dirty[] = { OFF };

    assert_int_equal(dirty_in_1g(w, true), 1);
    expect_dirty(bitmap, dirty, 1);
    env_expect(w->d, G1 + OFF, w->m1 + OFF, p2m_ram_logdirty, RWX, 0);
    expect_1g_types(w->d, 0, GIB_FRAMES);
    assert_int_equal(dirty_in_1g(w, false), 0);
    expect_dirty(bitmap, NULL, 0);
    /* The next write faults again, without another split. */
    assert_int_equal(hosted_guest_write(v, _gfn(G1 + OFF), 24, ~VAL), 0);
    env_expect_stats(w->d, 1 + 512, 1 + 511, 0, 6, 2);
    assert_int_equal(dirty_in_1g(w, false), 1);
    expect_dirty(bitmap, dirty, 1);
}

/* Off: all ram_rw and writable, the 1G leaf folded back, data intact. */
static void logdirty_off(struct world *w, struct vcpu *v)
{
    struct p2m_stats st;
    uint64_t got;

    assert_int_equal(p2m_logdirty_enable(&w->d->p2m, false), 0);
    expect_1g_types(w->d, GIB_FRAMES, 0);
    env_expect(w->d, G1 + OFF, w->m1 + OFF, p2m_ram_rw, RWX, 18);
    env_expect(w->d, G1 + 0x20000, w->m1 + 0x20000, p2m_ram_rw, RWX, 18);
    env_expect(w->d, G2, w->m2, p2m_ram_rw, RWX, 9);
    env_expect_stats(w->d, 1, 1, 1, 4, 2);
    p2m_get_stats(&w->d->p2m, &st);
    assert_int_equal(st.merges, 2);
    assert_int_equal(hosted_guest_read(v, _gfn(G1 + OFF), 16, &got), 0);
    assert_int_equal(got, VAL);
    assert_int_equal(dirty_in_1g(w, false), -EINVAL);
}

/*
 * A guest write into a log-dirty 1G leaf splits it down to the one 4K page
 * written, which becomes dirty and writable; clean protects it again.
 */
static void test_logdirty_write_fault(void **state)
{
    static const uint64_t dirty[] = { OFF };
    struct vcpu *v;
    struct world w;
    uint64_t got;

    world_up(&w, ENV_FMT(state));
    v = &w.d->vcpu[1];
    assert_int_equal(hosted_guest_read(v, _gfn(G1 + OFF), 16, &got), 0);
    assert_int_equal(p2m_logdirty_enable(&w.d->p2m, true), 0);
    assert_int_equal(dirty_in_1g(&w, false), 0);
    env_expect_stats(w.d, 1, 1, 1, 4, 0);
    assert_int_equal(hosted_guest_write(v, _gfn(G1 + OFF), 16, VAL), 0);
    env_expect_stats(w.d, 1 + 512, 1 + 511, 0, 6, 2);
    env_expect(w.d, G1 + OFF, w.m1 + OFF, p2m_ram_rw, RWX, 0);
    env_expect(w.d, G1 + OFF - 1, w.m1 + OFF - 1, p2m_ram_logdirty, RWX, 0);
    env_expect(w.d, G1 + OFF + 1, w.m1 + OFF + 1, p2m_ram_logdirty, RWX, 0);
    env_expect(w.d, G1, w.m1, p2m_ram_logdirty, RWX, 9);
    expect_1g_types(w.d, 1, GIB_FRAMES - 1);
    assert_int_equal(hosted_guest_read(v, _gfn(G1 + OFF), 16, &got), 0);
    assert_int_equal(got, VAL);
    assert_int_equal(*(uint64_t *)((char *)plat_map_mfn(_mfn(w.m1 + OFF)) +
                                   16), VAL);
    assert_int_equal(dirty_in_1g(&w, false), 1);
    expect_dirty(bitmap, dirty, 1);
    clean_then_write_again(&w, v);
    logdirty_off(&w, v);
    assert_false(w.d->crashed);
    world_down(&w);
}

#define GRO (3 * GIB_FRAMES + 0x2000)   /* a ram_ro 2M leaf: never split */

/*
 * Eager split: log-dirty on splits every writable RAM superpage to 4K
 * leaves, write-protected, at once; a ram_ro superpage stays whole.  A
 * write then faults without splitting, and log-dirty off folds it all back.
 */
static void test_logdirty_eager_split(void **state)
{
    static const uint64_t dirty[] = { OFF };
    struct p2m_stats st;
    struct vcpu *v;
    struct world w;
    uint64_t mro;

    world_up(&w, ENV_FMT(state));
    v = &w.d->vcpu[1];
    mro = mfn_x(env_alloc(w.d, 9));
    assert_int_equal(p2m_set_entry(&w.d->p2m, _gfn(GRO), _mfn(mro), 9,
                                   p2m_ram_ro, RWX), 0);
    /* The vCPU holds the writable translation: enabling must flush it. */
    assert_int_equal(hosted_guest_write(v, _gfn(G1 + OFF), 8, 1), 0);
    assert_int_equal(p2m_logdirty_set_split(&w.d->p2m, 7), -EINVAL);
    assert_int_equal(p2m_logdirty_set_split(&w.d->p2m, P2M_SPLIT_EAGER), 0);
    assert_int_equal(p2m_logdirty_enable(&w.d->p2m, true), 0);
    assert_int_equal(p2m_logdirty_set_split(&w.d->p2m, P2M_SPLIT_ON_WRITE),
                     -EBUSY);
    /* 1G -> 512 2M -> 512 x 512 4K; the 2M -> 512 4K; 514 splits. */
    env_expect_stats(w.d, GIB_FRAMES + 512 + 1, 1, 0, 4 + 1 + 512 + 1,
                     1 + 512 + 1);
    env_expect(w.d, G1, w.m1, p2m_ram_logdirty, RWX, 0);
    env_expect(w.d, G1 + OFF, w.m1 + OFF, p2m_ram_logdirty, RWX, 0);
    env_expect(w.d, G1 + GIB_FRAMES - 1, w.m1 + GIB_FRAMES - 1,
               p2m_ram_logdirty, RWX, 0);
    env_expect(w.d, G2 + 3, w.m2 + 3, p2m_ram_logdirty, RWX, 0);
    env_expect(w.d, G4, w.m4, p2m_ram_logdirty, RWX, 0);
    env_expect(w.d, GRO + 7, mro + 7, p2m_ram_ro, RWX, 9);
    expect_1g_types(w.d, 0, GIB_FRAMES);
    assert_int_equal(dirty_in_1g(&w, false), 0);
    /* The write fault only retypes: no split left to do. */
    assert_int_equal(hosted_guest_write(v, _gfn(G1 + OFF), 16, VAL), 0);
    p2m_get_stats(&w.d->p2m, &st);
    assert_int_equal(st.splits, 1 + 512 + 1);
    env_expect(w.d, G1 + OFF, w.m1 + OFF, p2m_ram_rw, RWX, 0);
    assert_int_equal(dirty_in_1g(&w, false), 1);
    expect_dirty(bitmap, dirty, 1);
    /* Off: every split folds back (513 tables into the 1G, one 2M). */
    assert_int_equal(p2m_logdirty_enable(&w.d->p2m, false), 0);
    env_expect_stats(w.d, 1, 2, 1, 4, 1 + 512 + 1);
    p2m_get_stats(&w.d->p2m, &st);
    assert_int_equal(st.merges, 1 + 512 + 1);
    env_expect(w.d, G1 + OFF, w.m1 + OFF, p2m_ram_rw, RWX, 18);
    env_expect(w.d, G2, w.m2, p2m_ram_rw, RWX, 9);
    assert_false(w.d->crashed);
    world_down(&w);
}

/* Eager split without the table pages: -ENOMEM, and nothing changed. */
static void test_logdirty_eager_no_memory(void **state)
{
    struct p2m_domain *p2m;
    struct world w;
    uint64_t pages;

    world_up(&w, ENV_FMT(state));
    p2m = &w.d->p2m;
    assert_int_equal(p2m_logdirty_set_split(p2m, P2M_SPLIT_EAGER), 0);
    pages = w.d->p2m_pages;
    p2m->pool_limit = pages + 100;      /* 515 needed */
    assert_int_equal(p2m_logdirty_enable(p2m, true), -ENOMEM);
    assert_false(p2m->logdirty);
    assert_null(p2m->dirty_map);
    assert_true(p2m->pool_pages <= 64);
    env_expect_stats(w.d, 1, 1, 1, 4, 0);
    expect_all(&w, p2m_ram_rw);
    env_expect_clean(w.d);
    p2m->pool_limit = 0;
    assert_int_equal(p2m_logdirty_enable(p2m, true), 0);
    env_expect_stats(w.d, GIB_FRAMES + 512 + 1, 0, 0, 4 + 1 + 512 + 1,
                     1 + 512 + 1);
    assert_int_equal(p2m_logdirty_enable(p2m, false), 0);
    expect_all(&w, p2m_ram_rw);
    world_down(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_global_change_keeps_superpages),
        ENV_TEST(test_range_change_splits_at_ends),
        ENV_TEST(test_logdirty_write_fault),
        ENV_TEST(test_logdirty_eager_split),
        ENV_TEST(test_logdirty_eager_no_memory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

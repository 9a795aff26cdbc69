/*
 * TLB discipline.  Every change that takes a translation away (another
 * frame, fewer rights, no mapping) must flush the vCPUs' TLBs before the
 * guest can use the old translation.  With the flush in place the stale-hit
 * checker sees nothing; with the flush deliberately skipped
 * (p2m->test_skip_flush) the guest really uses the stale translation and
 * the checker reports it, which proves a missing flush is caught.
 */
#include "env.h"

#define LAYOUT "0-8G"
#define RWX P2M_ACCESS_RWX
#define RX (P2M_ACCESS_R | P2M_ACCESS_X)
#define X_GFN (0x1000 + 5)              /* the gfn the vCPU uses */
#define MARK_A 0xaaaaaaaa00000001ull    /* in the frame mapped first */
#define MARK_B 0xbbbbbbbb00000002ull    /* in the frame mapped later */

struct world {
    struct domain *d;
    struct vcpu *v;
    uint64_t a2m;                       /* 2M chunk; X maps a2m + 5 */
    uint64_t b;                         /* another 4K frame of d */
};

static uint64_t *word(uint64_t mfn)
{
    return plat_map_mfn(_mfn(mfn));
}

/* X_GFN mapped by a leaf of order (0 or 9) and cached in v's TLB. */
static void world_up(struct world *w, enum p2m_format fmt,
                     unsigned int order)
{
    uint64_t val;

    env_machine(LAYOUT);
    hosted_tlb_set_check(true);
    hosted_tlb_reset_counters();
    w->d = env_domain(1, fmt);
    w->v = &w->d->vcpu[0];
    w->a2m = mfn_x(env_alloc(w->d, 9));
    w->b = mfn_x(env_alloc(w->d, 0));
    *word(w->a2m + 5) = MARK_A;
    *word(w->b) = MARK_B;
    if ( order )
        assert_int_equal(p2m_set_entry(&w->d->p2m, _gfn(X_GFN - 5),
                                       _mfn(w->a2m), 9, p2m_ram_rw, RWX), 0);
    else
        assert_int_equal(p2m_set_entry(&w->d->p2m, _gfn(X_GFN),
                                       _mfn(w->a2m + 5), 0, p2m_ram_rw, RWX),
                         0);
    assert_int_equal(hosted_guest_read(w->v, _gfn(X_GFN), 0, &val), 0);
    assert_int_equal(val, MARK_A);
    assert_int_equal(hosted_guest_read(w->v, _gfn(X_GFN), 0, &val), 0);
    assert_int_equal(hosted_tlb_stale_hits(), 0);
}

static int remap(struct world *w)
{
    return p2m_set_entry(&w->d->p2m, _gfn(X_GFN), _mfn(w->b), 0, p2m_ram_rw,
                         RWX);
}

static int write_protect(struct world *w)
{
    return p2m_set_entry(&w->d->p2m, _gfn(X_GFN), _mfn(w->a2m + 5), 0,
                         p2m_ram_ro, RWX);
}

static int unmap(struct world *w)
{
    return p2m_remove(&w->d->p2m, _gfn(X_GFN), 0);
}

static int logdirty_on(struct world *w)
{
    return p2m_logdirty_enable(&w->d->p2m, true);
}

static int64_t dirty_pages(struct world *w)
{
    uint8_t bitmap[1];

    return p2m_logdirty_read(&w->d->p2m, _gfn(X_GFN), 1, bitmap, false);
}

/* With the flush: what the guest sees is what the P2M says now. */
static void probe_remap(struct world *w)
{
    uint64_t val;

    assert_int_equal(hosted_guest_read(w->v, _gfn(X_GFN), 0, &val), 0);
    assert_int_equal(val, MARK_B);
}

static void probe_write_protect(struct world *w)
{
    struct p2m_lookup l;

    assert_int_equal(hosted_gfn_to_mfn(w->v, _gfn(X_GFN), &l), 0);
    assert_int_equal(l.rights, RX);
    assert_int_equal(l.type, p2m_ram_ro);
}

static void probe_unmap(struct world *w)
{
    struct p2m_lookup l;

    assert_int_equal(hosted_gfn_to_mfn(w->v, _gfn(X_GFN), &l), 0);
    assert_int_equal(l.type, p2m_invalid);
    assert_int_equal(mfn_x(l.mfn), INVALID_MFN_RAW);
}

static void probe_logdirty(struct world *w)
{
    assert_int_equal(hosted_guest_write(w->v, _gfn(X_GFN), 8, 42), 0);
    assert_int_equal(dirty_pages(w), 1);
}

/* Without the flush: the guest uses the translation it had cached. */
static void stale_remap(struct world *w)
{
    uint64_t val;

    assert_int_equal(hosted_guest_read(w->v, _gfn(X_GFN), 0, &val), 0);
    assert_int_equal(val, MARK_A);              /* the old frame's data */
}

static void stale_write_protect(struct world *w)
{
    assert_int_equal(hosted_guest_write(w->v, _gfn(X_GFN), 0, 7), 0);
    assert_int_equal(*word(w->a2m + 5), 7);     /* wrote a read-only page */
    assert_false(w->d->crashed);
}

static void stale_unmap(struct world *w)
{
    stale_remap(w);                             /* read an unmapped gfn */
    assert_false(w->d->crashed);
}

static void stale_logdirty(struct world *w)
{
    assert_int_equal(hosted_guest_write(w->v, _gfn(X_GFN), 8, 42), 0);
    assert_int_equal(dirty_pages(w), 0);        /* a write went unlogged */
}

static const struct {
    const char *name;
    unsigned int order;                         /* leaf that maps X_GFN */
    int (*change)(struct world *w);
    void (*probe)(struct world *w);
    void (*stale)(struct world *w);
} changes[] = {
    { "remap 4K", 0, remap, probe_remap, stale_remap },
    { "remap 4K inside a 2M leaf", 9, remap, probe_remap, stale_remap },
    { "write-protect 4K", 0, write_protect, probe_write_protect,
      stale_write_protect },
    { "write-protect inside a 2M leaf", 9, write_protect,
      probe_write_protect, stale_write_protect },
    { "unmap 4K", 0, unmap, probe_unmap, stale_unmap },
    { "unmap inside a 2M leaf", 9, unmap, probe_unmap, stale_unmap },
    { "log-dirty on, 4K", 0, logdirty_on, probe_logdirty, stale_logdirty },
    { "log-dirty on, 2M", 9, logdirty_on, probe_logdirty, stale_logdirty },
};

static void test_flush_prevents_stale_hits(void **state)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(changes); i++ )
    {
        struct world w;

        print_message("# %s\n", changes[i].name);
        world_up(&w, ENV_FMT(state), changes[i].order);
        assert_int_equal(changes[i].change(&w), 0);
        changes[i].probe(&w);
        assert_int_equal(hosted_tlb_stale_hits(), 0);
        assert_false(w.d->crashed);
        env_expect_clean(w.d);
        env_finish();
    }
}

static void test_skipped_flush_is_caught(void **state)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(changes); i++ )
    {
        struct p2m_stats s0, s1;
        struct world w;

        print_message("# %s\n", changes[i].name);
        world_up(&w, ENV_FMT(state), changes[i].order);
        p2m_get_stats(&w.d->p2m, &s0);
        w.d->p2m.test_skip_flush = true;
        assert_int_equal(changes[i].change(&w), 0);
        p2m_get_stats(&w.d->p2m, &s1);
        /* The module asked for a flush; the hook swallowed it. */
        assert_true(s1.flushes > s0.flushes);
        changes[i].stale(&w);
        assert_true(hosted_tlb_stale_hits() > 0);
        w.d->p2m.test_skip_flush = false;
        env_expect_clean(w.d);
        env_finish();
    }
}

/* hosted_gfn_to_mfn: TLB hits for cached gfns, walks for the rest. */
static void test_current_lookup_uses_tlb(void **state)
{
    struct tlb_counters c0, c1;
    struct p2m_lookup l;
    struct world w;

    world_up(&w, ENV_FMT(state), 0);
    hosted_tlb_counters(&c0);
    assert_int_equal(hosted_gfn_to_mfn(w.v, _gfn(X_GFN), &l), 0);
    hosted_tlb_counters(&c1);
    assert_int_equal(c1.hits, c0.hits + 1);
    assert_int_equal(c1.misses, c0.misses);
    assert_int_equal(mfn_x(l.mfn), w.a2m + 5);
    /* Another vCPU has a TLB of its own: a miss, then a hit. */
    assert_int_equal(hosted_gfn_to_mfn(&w.d->vcpu[1], _gfn(X_GFN), &l), 0);
    assert_int_equal(hosted_gfn_to_mfn(&w.d->vcpu[1], _gfn(X_GFN), &l), 0);
    hosted_tlb_counters(&c0);
    assert_int_equal(c0.hits, c1.hits + 1);
    assert_int_equal(c0.misses, c1.misses + 1);
    /* An unmapped gfn is not cached: every lookup walks. */
    assert_int_equal(hosted_gfn_to_mfn(w.v, _gfn(X_GFN + 1), &l), 0);
    assert_int_equal(hosted_gfn_to_mfn(w.v, _gfn(X_GFN + 1), &l), 0);
    assert_int_equal(l.type, p2m_invalid);
    hosted_tlb_counters(&c1);
    assert_int_equal(c1.hits, c0.hits);
    assert_int_equal(c1.misses, c0.misses + 2);
    /* After a flush the walk answers again, with the new frame. */
    assert_int_equal(remap(&w), 0);
    assert_int_equal(hosted_gfn_to_mfn(w.v, _gfn(X_GFN), &l), 0);
    assert_int_equal(mfn_x(l.mfn), w.b);
    assert_int_equal(hosted_gfn_to_mfn(w.v, _gfn(X_GFN), &l), 0);
    hosted_tlb_counters(&c0);
    assert_int_equal(c0.misses, c1.misses + 1);
    assert_int_equal(c0.hits, c1.hits + 1);
    assert_true(c0.flushes > c1.flushes);
    /* The cache really answers: behind its back it still says b. */
    *word(w.b) = MARK_B;
    w.d->p2m.test_skip_flush = true;
    assert_int_equal(write_protect(&w), 0);
    assert_int_equal(hosted_gfn_to_mfn(w.v, _gfn(X_GFN), &l), 0);
    assert_int_equal(mfn_x(l.mfn), w.b);
    assert_int_equal(l.type, p2m_ram_rw);
    w.d->p2m.test_skip_flush = false;
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_flush_prevents_stale_hits),
        ENV_TEST(test_skipped_flush_is_caught),
        ENV_TEST(test_current_lookup_uses_tlb),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

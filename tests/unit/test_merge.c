/*
 * Superpage recovery: tables whose 512 entries are exactly a split of one
 * entry fold back into it (p2m_merge_range, and log-dirty off).
 */
#include "env.h"

static uint64_t stat_merges(struct domain *d)
{
    struct p2m_stats s;

    p2m_get_stats(&d->p2m, &s);
    return s.merges;
}

/* Dirty writes split a 1G leaf down to 4K; log-dirty off rebuilds it. */
static void logdirty_off_rebuilds_1g(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct domain *d;
    uint64_t g = GIB_FRAMES, v, i;
    mfn_t m;

    env_machine("0-8G");
    d = env_domain(1, fmt);
    m = env_alloc(d, PAGE_ORDER_1G);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g), m, 18, p2m_ram_rw,
                                   P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_logdirty_enable(&d->p2m, true), 0);
    for ( i = 0; i < 3; i++ )
        assert_int_equal(hosted_guest_write(&d->vcpu[0],
                                            _gfn(g + i * 100000 + 7), 8,
                                            i + 1), 0);
    env_expect_stats(d, 3 * 512, 512 - 3, 0, 2 + 1 + 3, 4);
    assert_int_equal(p2m_logdirty_enable(&d->p2m, false), 0);
    env_expect_stats(d, 0, 0, 1, 2, 4);
    assert_int_equal(stat_merges(d), 4);
    env_expect(d, g + 100007, mfn_x(m) + 100007, p2m_ram_rw, P2M_ACCESS_RWX,
               18);
    assert_int_equal(hosted_guest_read(&d->vcpu[0], _gfn(g + 100007), 8, &v),
                     0);
    assert_int_equal(v, 2);
    env_expect_clean(d);
    env_finish();
}

/* A 4K page of another frame inside the 1G blocks both folds above it. */
static void foreign_frame_blocks_fold(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct domain *d;
    uint64_t g = GIB_FRAMES;
    mfn_t m, other;

    env_machine("0-8G");
    d = env_domain(1, fmt);
    m = env_alloc(d, PAGE_ORDER_1G);
    other = env_alloc(d, 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g), m, 18, p2m_ram_rw,
                                   P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g + 5), other, 0,
                                   p2m_ram_rw, P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(0), 4 * GIB_FRAMES), 0);
    env_expect_stats(d, 512, 511, 0, 4, 2);
    /* Putting the original frame back makes both folds possible again. */
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(g + 5), mfn_add(m, 5), 0,
                                   p2m_ram_rw, P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(0), 4 * GIB_FRAMES), 2);
    env_expect_stats(d, 0, 0, 1, 2, 2);
    env_expect_clean(d);
    env_finish();
}

/* Children that differ in type or access never fold. */
static void mixed_attributes_do_not_fold(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct domain *d;
    mfn_t m;

    env_machine("0-8G");
    d = env_domain(1, fmt);
    m = env_alloc(d, PAGE_ORDER_2M);
    assert_int_equal(p2m_set_range(&d->p2m, _gfn(0x200), m, 511,
                                   p2m_ram_rw, P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x3ff), mfn_add(m, 511), 0,
                                   p2m_ram_ro, P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(0), GIB_FRAMES), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x3ff), mfn_add(m, 511), 0,
                                   p2m_ram_rw, P2M_ACCESS_R | P2M_ACCESS_X), 0);
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(0), GIB_FRAMES), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x3ff), mfn_add(m, 511), 0,
                                   p2m_ram_rw, P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(0), GIB_FRAMES), 1);
    env_expect(d, 0x3ff, mfn_x(m) + 511, p2m_ram_rw, P2M_ACCESS_RWX, 9);
    env_expect_clean(d);
    env_finish();
}

/* A frame run that is contiguous but not aligned to 2M never folds. */
static void misaligned_frames_do_not_fold(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct domain *d;
    mfn_t m;

    env_machine("0-8G");
    d = env_domain(1, fmt);
    m = env_alloc(d, PAGE_ORDER_1G);
    assert_int_equal(p2m_set_range(&d->p2m, _gfn(0x200), mfn_add(m, 1), 512,
                                   p2m_ram_rw, P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(0), GIB_FRAMES), 0);
    env_expect(d, 0x200, mfn_x(m) + 1, p2m_ram_rw, P2M_ACCESS_RWX, 0);
    env_expect_clean(d);
    env_finish();
}

/* 512 2M PoD entries fold into one 1G PoD entry; the count is unchanged. */
static void pod_children_fold(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct domain *d;
    struct p2m_stats s;

    env_machine("0-8G");
    d = env_domain(1, fmt);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(GIB_FRAMES), INVALID_MFN,
                                   18, p2m_populate_on_demand,
                                   P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(GIB_FRAMES + 512),
                                   INVALID_MFN, 9, p2m_populate_on_demand,
                                   P2M_ACCESS_RWX), 0);
    env_expect(d, GIB_FRAMES + 3, INVALID_MFN_RAW, p2m_populate_on_demand,
               P2M_ACCESS_RWX, 9);
    /* A range that does not cover the whole 1G leaves it split. */
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(GIB_FRAMES), 1024), 0);
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(GIB_FRAMES), GIB_FRAMES),
                     1);
    env_expect(d, GIB_FRAMES + 3, INVALID_MFN_RAW, p2m_populate_on_demand,
               P2M_ACCESS_RWX, 18);
    p2m_get_stats(&d->p2m, &s);
    assert_int_equal(s.pod_entries, GIB_FRAMES);
    assert_int_equal(s.table_pages, 2);
    env_expect_clean(d);
    env_finish();
}

static void bad_range(void **state)
{
    struct domain *d;

    (void)state;
    env_machine("0-1G");
    d = env_domain(1, P2M_FORMAT_NPT);
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(P2M_MAX_GFN), 1), -ERANGE);
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(1), P2M_MAX_GFN), -ERANGE);
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(logdirty_off_rebuilds_1g),
        ENV_TEST(foreign_frame_blocks_fold),
        ENV_TEST(mixed_attributes_do_not_fold),
        ENV_TEST(misaligned_frames_do_not_fold),
        ENV_TEST(pod_children_fold),
        ENV_TEST1(bad_range),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Hardware without 1 GiB leaves (EPT without VPID_CAP bit 17): with
 * p2m_set_max_order(9) no present 1G leaf is ever written.
 */
#include "env.h"

#include <asm-x86/p2m-pod.h>

static void no_1g_leaves(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct domain *d;
    struct p2m_stats s;
    mfn_t m;

    env_machine("0-8G");
    d = env_domain(1, fmt);
    m = env_alloc(d, PAGE_ORDER_1G);
    assert_int_equal(p2m_set_max_order(&d->p2m, 5), -EDOM);
    assert_int_equal(p2m_set_max_order(&d->p2m, PAGE_ORDER_2M), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(GIB_FRAMES), m, 18,
                                   p2m_ram_rw, P2M_ACCESS_RWX), -EOPNOTSUPP);
    env_expect(d, GIB_FRAMES, INVALID_MFN_RAW, p2m_invalid, 0, 27);
    /* A 1G-aligned range is cut into 2M leaves instead. */
    assert_int_equal(p2m_set_range(&d->p2m, _gfn(GIB_FRAMES), m, GIB_FRAMES,
                                   p2m_ram_rw, P2M_ACCESS_RWX), 0);
    env_expect_stats(d, 0, 512, 0, 3, 0);
    /* Folding stops at 2M. */
    assert_int_equal(p2m_merge_range(&d->p2m, _gfn(0), 4 * GIB_FRAMES), 0);
    p2m_get_stats(&d->p2m, &s);
    assert_int_equal(s.pages[p2m_level_idx(P2M_L3)], 0);
    env_expect_clean(d);
    env_finish();
}

/* A 1G PoD entry is filled with a 2M page after one remap. */
static void pod_1g_fills_2m(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct domain *d;
    struct pod_stats ps;

    env_machine("0-8G");
    d = env_domain(1, fmt);
    assert_int_equal(p2m_set_max_order(&d->p2m, PAGE_ORDER_2M), 0);
    assert_int_equal(p2m_pod_mark(d, _gfn(GIB_FRAMES), GIB_FRAMES), 0);
    env_expect(d, GIB_FRAMES, INVALID_MFN_RAW, p2m_populate_on_demand,
               P2M_ACCESS_RWX, 18);
    assert_int_equal(memory_set_pod_target(d, GIB_FRAMES), 0);
    assert_int_equal(hosted_guest_write(&d->vcpu[0], _gfn(GIB_FRAMES + 9), 0,
                                        42), 0);
    p2m_pod_get_stats(d, &ps);
    assert_int_equal(ps.remap_retries, 1);
    assert_int_equal(ps.filled[POD_1G], 0);
    assert_int_equal(ps.filled[POD_2M], 1);
    env_expect_stats(d, 0, 1, 0, 3, 1);
    env_expect_clean(d);
    env_finish();
}

/* The limit cannot be set while 1G leaves exist. */
static void busy_with_1g_leaves(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct domain *d;
    mfn_t m;

    env_machine("0-8G");
    d = env_domain(1, fmt);
    m = env_alloc(d, PAGE_ORDER_1G);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0), m, 18, p2m_ram_rw,
                                   P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_set_max_order(&d->p2m, PAGE_ORDER_2M), -EBUSY);
    assert_int_equal(p2m_remove(&d->p2m, _gfn(0), 18), 0);
    assert_int_equal(p2m_set_max_order(&d->p2m, PAGE_ORDER_2M), 0);
    env_expect_clean(d);
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(no_1g_leaves),
        ENV_TEST(pod_1g_fills_2m),
        ENV_TEST(busy_with_1g_leaves),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

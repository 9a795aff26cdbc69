/*
 * The frame table is sparse: a machine whose RAM tops out at 16 TiB costs
 * memory in proportion to its RAM in use, not to its highest address, and
 * holes cost nothing at all.
 */
#include "env.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* What a frame table that backs every frame up to max_mfn would cost. */
static uint64_t dense_cost(void)
{
    return sizeof(struct page_info) * machine.max_mfn;
}

/* Claim the highest free GiB of RAM for d; returns its first frame. */
static uint64_t claim_top_gib(struct domain *d)
{
    uint64_t m = machine.max_mfn;

    while ( m >= GIB_FRAMES )
    {
        m -= GIB_FRAMES;
        if ( claim_domheap_range(d, _mfn(m), PAGE_ORDER_1G) == 0 )
        {
            /* Held by the test until it maps it: not a leak meanwhile. */
            assert_int_equal(heap_reserve_range(d, _mfn(m), PAGE_ORDER_1G),
                             0);
            return m;
        }
    }
    fail_msg("no free GiB");
    return 0;
}

/*
 * Bring the machine up, give a domain a 1 GiB leaf from the top and bottom
 * of RAM, and return the RSS growth that cost.
 */
static uint64_t bring_up(const char *layout, enum p2m_format fmt,
                         uint64_t *dense)
{
    uint64_t before = hosted_rss_bytes(), after, top;
    struct domain *d;

    env_machine(layout);
    *dense = dense_cost();
    d = env_domain(1, fmt);
    top = claim_top_gib(d);
    assert_true(top >= machine.max_mfn - 4 * GIB_FRAMES);
    env_claim(d, 0, PAGE_ORDER_1G);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0), _mfn(0), PAGE_ORDER_1G,
                                   p2m_ram_rw, P2M_ACCESS_RWX), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(GIB_FRAMES), _mfn(top),
                                   PAGE_ORDER_1G, p2m_ram_rw,
                                   P2M_ACCESS_RWX), 0);
    assert_int_equal(heap_check_accounting(), 0);
    env_expect_audit_clean(d);
    after = hosted_rss_bytes();
    assert_true(before > 0);
    return after > before ? after - before : 0;
}

/* A 16 TiB machine with 8 GiB of RAM grows the RSS by far less than 64 MiB. */
static void test_16t_machine_is_cheap(void **state)
{
    static const char *const layouts[] = {
        "0-4G,16380G-16T",
        "0-1G,4G-8G,16368G-16T",
    };
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(layouts); i++ )
    {
        uint64_t dense, grew = bring_up(layouts[i], ENV_FMT(state), &dense);

        print_message("# %s: max_mfn %#llx, dense frame table %llu GiB, "
                      "RSS grew %llu KiB\n", layouts[i],
                      (unsigned long long)machine.max_mfn,
                      (unsigned long long)(dense / GIB),
                      (unsigned long long)(grew >> 10));
        assert_int_equal(machine.max_mfn, 1ull << 32);
        assert_true(dense >= 128 * GIB);
        assert_true(grew < 64 * MIB);
        env_finish();
    }
}

/* The same RAM with and without a 1 TiB hole costs the same. */
static void test_holes_cost_nothing(void **state)
{
    uint64_t dense_flat, dense_holey, flat, holey, diff;

    flat = bring_up("0-8G", ENV_FMT(state), &dense_flat);
    env_finish();
    holey = bring_up("0-4G,1T-1T+4G", ENV_FMT(state), &dense_holey);
    env_finish();
    diff = holey > flat ? holey - flat : flat - holey;
    print_message("# no hole: RSS grew %llu KiB; 1 TiB hole: %llu KiB "
                  "(its dense frame table: %llu MiB more)\n",
                  (unsigned long long)(flat >> 10),
                  (unsigned long long)(holey >> 10),
                  (unsigned long long)((dense_holey - dense_flat) / MIB));
    assert_true(dense_holey - dense_flat >= 8 * GIB);
    assert_true(diff < 8 * MIB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_16t_machine_is_cheap),
        ENV_TEST(test_holes_cost_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

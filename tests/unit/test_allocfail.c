/*
 * Table page allocation failure at every point.  An operation that needs k
 * table pages is run with the n-th page failing, for n = 1 .. k + 1, with
 * three injectors (the P2M pool hook, the heap hook and a pool limit).  It
 * must fail cleanly, leaving every mapping as it was and the audit clean,
 * while n <= k, and succeed once n > k.  A watchdog catches endless loops.
 */
#include "env.h"

#include <unistd.h>

#define LAYOUT "0-16G"
#define G GIB_FRAMES                  /* the gfn of the 1 GiB leaf */
#define RWX P2M_ACCESS_RWX

struct ctx { uint64_t m, s; };     /* 1G frame (or base), 4K frame */

struct op_case {
    const char *name;
    void (*setup)(struct domain *d, struct ctx *c);
    int (*op)(struct domain *d, struct ctx *c);
    void (*check)(struct domain *d, struct ctx *c);   /* after success */
    unsigned int k;                   /* table pages the op needs */
    int fail_rc;
};

static void setup_1g(struct domain *d, struct ctx *c)
{
    c->m = mfn_x(env_alloc(d, 18));
    c->s = mfn_x(env_alloc(d, 0));
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(G), _mfn(c->m), 18,
                                   p2m_ram_rw, RWX), 0);
}

static void setup_empty(struct domain *d, struct ctx *c)
{
    c->s = mfn_x(env_alloc(d, 0));
}

/* Four free GiB in a row for d; c->m is the first frame. */
static void setup_frames(struct domain *d, struct ctx *c)
{
    c->m = env_claim_gibs(d, 4);
}

static void setup_logdirty_1g(struct domain *d, struct ctx *c)
{
    setup_1g(d, c);
    assert_int_equal(p2m_logdirty_enable(&d->p2m, true), 0);
}

/* In log-dirty mode a newly mapped ram_rw 1G leaf is all dirty. */
static void setup_dirty_1g(struct domain *d, struct ctx *c)
{
    assert_int_equal(p2m_logdirty_enable(&d->p2m, true), 0);
    setup_1g(d, c);
}

static int op_4k_into_1g(struct domain *d, struct ctx *c)
{
    return p2m_set_entry(&d->p2m, _gfn(G + 0x1234), _mfn(c->s), 0,
                         p2m_ram_rw, RWX);
}

static void check_4k_into_1g(struct domain *d, struct ctx *c)
{
    env_expect(d, G + 0x1234, c->s, p2m_ram_rw, RWX, 0);
    env_expect(d, G + 0x1235, c->m + 0x1235, p2m_ram_rw, RWX, 0);
}

static int op_2m_into_1g(struct domain *d, struct ctx *c)
{
    return p2m_remove(&d->p2m, _gfn(G + 0x400), 9);
}

static void check_2m_into_1g(struct domain *d, struct ctx *c)
{
    env_expect(d, G + 0x400, INVALID_MFN_RAW, p2m_invalid, 0, 9);
    env_expect(d, G + 0x600, c->m + 0x600, p2m_ram_rw, RWX, 9);
}

static int op_4k_into_empty(struct domain *d, struct ctx *c)
{
    return p2m_set_entry(&d->p2m, _gfn(0x12345), _mfn(c->s), 0, p2m_ram_rw,
                         RWX);
}

static void check_4k_into_empty(struct domain *d, struct ctx *c)
{
    env_expect(d, 0x12345, c->s, p2m_ram_rw, RWX, 0);
}

/* 4K, 1G, 1G, 4K: an L3 table, and an L2 + L1 at each end. */
static int op_set_range(struct domain *d, struct ctx *c)
{
    return p2m_set_range(&d->p2m, _gfn(G - 1), _mfn(c->m + G - 1),
                         2 * G + 2, p2m_ram_rw, RWX);
}

static void check_set_range(struct domain *d, struct ctx *c)
{
    env_expect(d, G - 1, c->m + G - 1, p2m_ram_rw, RWX, 0);
    env_expect(d, G, c->m + G, p2m_ram_rw, RWX, 18);
    env_expect(d, 2 * G + 7, c->m + 2 * G + 7, p2m_ram_rw, RWX, 18);
    env_expect(d, 3 * G, c->m + 3 * G, p2m_ram_rw, RWX, 0);
    env_expect_stats(d, 2, 0, 2, 6, 0);
}

static int op_logdirty_write(struct domain *d, struct ctx *c)
{
    return hosted_guest_write(&d->vcpu[0], _gfn(G + 0x99), 8, 0x5a5a);
}

static void check_logdirty_write(struct domain *d, struct ctx *c)
{
    uint64_t *p = (uint64_t *)plat_map_mfn(_mfn(c->m + 0x99)) + 1;

    assert_int_equal(*p, 0x5a5a);
    env_expect(d, G + 0x99, c->m + 0x99, p2m_ram_rw, RWX, 0);
    env_expect(d, G + 0x98, c->m + 0x98, p2m_ram_logdirty, RWX, 0);
    assert_false(d->crashed);
}

static int op_retype_cut(struct domain *d, struct ctx *c)
{
    return p2m_change_type_range(&d->p2m, _gfn(G + 1), G - 2, p2m_ram_rw,
                                 p2m_ram_logdirty);
}

static void check_retype_cut(struct domain *d, struct ctx *c)
{
    env_expect(d, G, c->m, p2m_ram_rw, RWX, 0);
    env_expect(d, G + 1, c->m + 1, p2m_ram_logdirty, RWX, 0);
    env_expect(d, G + 0x777, c->m + 0x777, p2m_ram_logdirty, RWX, 9);
    env_expect(d, 2 * G - 2, c->m + G - 2, p2m_ram_logdirty, RWX, 0);
    env_expect(d, 2 * G - 1, c->m + G - 1, p2m_ram_rw, RWX, 0);
}

static int op_clean_cut(struct domain *d, struct ctx *c)
{
    static uint8_t bitmap[GIB_FRAMES / 8];
    int64_t n = p2m_logdirty_read(&d->p2m, _gfn(G + 1), G - 2, bitmap, true);

    return n < 0 ? (int)n : n == (int64_t)G - 2 ? 0 : -E2BIG;
}

static const struct op_case cases[] = {
    { "4K into a 1G leaf", setup_1g, op_4k_into_1g, check_4k_into_1g,
      2, -ENOMEM },
    { "2M hole in a 1G leaf", setup_1g, op_2m_into_1g, check_2m_into_1g,
      1, -ENOMEM },
    { "4K into an empty tree", setup_empty, op_4k_into_empty,
      check_4k_into_empty, 3, -ENOMEM },
    { "set_range over 1G regions", setup_frames, op_set_range,
      check_set_range, 5, -ENOMEM },
    /* The fault handler crashes the domain when it cannot split. */
    { "log-dirty write into a 1G leaf", setup_logdirty_1g, op_logdirty_write,
      check_logdirty_write, 2, -EFAULT },
    { "type change cutting a 1G leaf", setup_1g, op_retype_cut,
      check_retype_cut, 3, -ENOMEM },
    { "log-dirty clean cutting a 1G leaf", setup_dirty_1g, op_clean_cut,
      check_retype_cut, 3, -ENOMEM },
};

enum injector { INJ_POOL_FAIL_AT, INJ_HEAP_FAIL_NTH, INJ_POOL_LIMIT };

static const char *const inj_name[] = { "pool_fail_at", "heap_fail_nth",
                                        "pool_limit" };

/* Make the n-th table page the op takes fail (heap: the pool is empty). */
static void inject(struct domain *d, enum injector inj, uint64_t n)
{
    switch ( inj )
    {
    case INJ_POOL_FAIL_AT:
        d->p2m.pool_allocs = 0;
        d->p2m.pool_fail_at = n;
        break;
    case INJ_HEAP_FAIL_NTH:
        assert_int_equal(d->p2m.pool_pages, 0);
        heap_fail_nth(n);
        break;
    case INJ_POOL_LIMIT:
        d->p2m.pool_limit = d->p2m_pages + n - 1;
        break;
    }
}

static void uninject(struct domain *d)
{
    d->p2m.pool_fail_at = 0;
    d->p2m.pool_limit = 0;
    heap_fail_nth(0);
}

static void run_once(const struct op_case *oc, enum p2m_format fmt,
                     enum injector inj, uint64_t n)
{
    struct env_snap before = { 0 }, after = { 0 };
    struct domain *d = env_domain(1, fmt);
    struct ctx c = { 0 };
    int rc;

    oc->setup(d, &c);
    env_expect_clean(d);
    env_snap_take(d, &before);
    inject(d, inj, n);
    rc = oc->op(d, &c);
    uninject(d);
    env_snap_take(d, &after);
    if ( n <= oc->k )
    {
        if ( rc != oc->fail_rc )
            fail_msg("%s, %s %llu: rc %d, expected %d", oc->name,
                     inj_name[inj], (unsigned long long)n, rc, oc->fail_rc);
        env_snap_expect_equal(&before, &after, inj == INJ_POOL_FAIL_AT);
    }
    else
    {
        if ( rc != 0 )
            fail_msg("%s, %s %llu: rc %d", oc->name, inj_name[inj],
                     (unsigned long long)n, rc);
        assert_int_equal(after.stats.table_pages,
                         before.stats.table_pages + oc->k);
        if ( inj == INJ_POOL_FAIL_AT )
            assert_int_equal(d->p2m.pool_allocs, oc->k);
        oc->check(d, &c);
    }
    env_expect_clean(d);
    env_snap_free(&before);
    env_snap_free(&after);
    domain_destroy(d);
    assert_int_equal(heap_check_accounting(), 0);
}

static void test_fail_every_table_page(void **state)
{
    enum injector inj;
    unsigned int i;
    uint64_t n;

    alarm(120);
    env_machine(LAYOUT);
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
        for ( inj = INJ_POOL_FAIL_AT; inj <= INJ_POOL_LIMIT; inj++ )
            for ( n = 1; n <= cases[i].k + 1; n++ )
                run_once(&cases[i], ENV_FMT(state), inj, n);
    env_finish();
    alarm(0);
}

/* A pool limit below what a mapping needs fails it; raising it is enough. */
static void test_pool_limit(void **state)
{
    struct env_snap before = { 0 }, after = { 0 };
    struct domain *d;
    struct ctx c;

    alarm(60);
    env_machine(LAYOUT);
    d = env_domain(1, ENV_FMT(state));
    setup_empty(d, &c);
    d->p2m.pool_limit = d->p2m_pages + 2;
    env_snap_take(d, &before);
    assert_int_equal(op_4k_into_empty(d, &c), -ENOMEM);
    env_snap_take(d, &after);
    env_snap_expect_equal(&before, &after, false);
    /* What was taken waits in the pool and counts against the limit. */
    assert_int_equal(d->p2m_pages, d->p2m.pool_limit);
    env_expect_clean(d);
    d->p2m.pool_limit++;
    assert_int_equal(op_4k_into_empty(d, &c), 0);
    check_4k_into_empty(d, &c);
    assert_int_equal(d->p2m_pages, 4);
    /* At the limit: a 4K in another 1 GiB region needs two more tables. */
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(G), env_alloc(d, 0), 0,
                                   p2m_ram_rw, RWX), -ENOMEM);
    env_expect_clean(d);
    env_snap_free(&before);
    env_snap_free(&after);
    env_finish();
    alarm(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_fail_every_table_page),
        ENV_TEST(test_pool_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

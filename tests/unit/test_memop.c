/*
 * The range memory ops' one convention (issue 8, findings 7 and 13): an op
 * that stops half-way says exactly what it did (nr_done, pages) and what
 * stopped it, through the memory op, libxc and the one-register form; a
 * balloon call flushes once; a request of 2^32 extents comes back with
 * continuations instead of holding the P2M lock for the whole range.
 * Failures are injected with the table pool's and the heap's hooks, and
 * every count is checked against what the tables and the audit show.
 * Both formats.
 */
#include "env.h"
#include "podenv.h"

#include <asm-x86/p2m-pod.h>
#include <xc_domain.h>

#define MACHINE "0-8G"
#define RWX P2M_ACCESS_RWX

static uint64_t believed(struct domain *d)
{
    struct pod_stats s = podenv_stats(d);

    return s.populated + s.entry_count;
}

/* 256 4K leaves at [0, 0x100) and one 2M leaf at 0x200. */
static struct domain *half_way_domain(enum p2m_format fmt)
{
    struct domain *d = env_domain(1, fmt);
    uint64_t g;
    mfn_t m;

    for ( g = 0; g < 0x100; g++ )
        assert_int_equal(memory_populate(d, _gfn(g), 0, p2m_ram_rw, RWX, &m),
                         0);
    assert_int_equal(memory_populate(d, _gfn(0x200), 9, p2m_ram_rw, RWX, &m),
                     0);
    return d;
}

/* The next table page the domain's P2M takes fails (and all after it). */
static void fail_next_table(struct domain *d)
{
    d->p2m.pool_fail_at = d->p2m.pool_allocs + 1;
}

/*
 * Three extents of 256 pages from gfn 0: the first gives back the 4K
 * leaves, the second is empty, the third needs the 2M leaf split and no
 * table page comes.  The op says 2 done, 256 pages, -ENOMEM, and that is
 * what the tables and the accounting show; going on from there finishes.
 */
static void test_decrease_half_way_reports_what_it_did(void **state)
{
    struct memop_range r = { _gfn(0), 3, 8, 0, 0, 0 };
    struct domain *d;
    uint64_t b0, t0;

    env_machine(MACHINE);
    d = half_way_domain(ENV_FMT(state));
    b0 = believed(d);
    t0 = d->tot_pages;
    fail_next_table(d);
    assert_int_equal(memory_decrease_reservation_op(d, &r), -ENOMEM);
    assert_int_equal(r.nr_done, 2);
    assert_int_equal(r.pages, 256);
    assert_int_equal(b0 - believed(d), r.pages);
    assert_int_equal(t0 - d->tot_pages, r.pages);
    env_expect(d, 0xff, INVALID_MFN_RAW, p2m_invalid, 0, 0);
    assert_int_equal(podenv_lookup(d, 0x200).order, 9);    /* untouched */
    env_expect_clean(d);
    /* The caller goes on from nr_done once the pool can give again. */
    d->p2m.pool_fail_at = 0;
    assert_int_equal(memory_decrease_reservation_op(d, &r), 0);
    assert_int_equal(r.nr_done, 3);
    assert_int_equal(r.pages, 512);
    assert_int_equal(b0 - believed(d), r.pages);
    podenv_expect_type(d, 0x2ff, p2m_invalid, 0);
    podenv_expect_type(d, 0x300, p2m_ram_rw, 0);
    /* A continuation that claims more than the request is refused. */
    r.nr_done = 4;
    assert_int_equal(memory_decrease_reservation_op(d, &r), -EINVAL);
    env_expect_clean(d);
    env_finish();
}

/* libxc passes both through; the one-register form keeps Xen's rule. */
static void test_decrease_half_way_through_libxc(void **state)
{
    struct xc_memop_result res;
    struct domain *d;
    uint64_t b0;

    env_machine(MACHINE);
    d = half_way_domain(ENV_FMT(state));
    b0 = believed(d);
    fail_next_table(d);
    assert_int_equal(xc_domain_decrease_reservation(d->domain_id, 0, 3, 8,
                                                    &res), -ENOMEM);
    assert_int_equal(res.nr_done, 2);
    assert_int_equal(res.pages, 256);
    assert_int_equal(res.calls, 1);
    assert_int_equal(b0 - believed(d), res.pages);
    env_expect_clean(d);
    /* Nothing left that can be done: the error, nothing changed. */
    assert_int_equal(memory_decrease_reservation(d, _gfn(0x200), 1, 8),
                     -ENOMEM);
    assert_int_equal(b0 - believed(d), 256);
    assert_int_equal(xc_domain_decrease_reservation(77, 0, 1, 0, &res),
                     -ESRCH);
    assert_int_equal(res.nr_done, 0);
    env_expect_clean(d);
    env_finish();

    /* Something done, then the error: one register gives what was done. */
    env_machine(MACHINE);
    d = half_way_domain(ENV_FMT(state));
    fail_next_table(d);
    assert_int_equal(memory_decrease_reservation(d, _gfn(0), 3, 8), 256);
    env_expect_clean(d);
    env_finish();
}

/*
 * populate_physmap with the heap failing on the third extent: two done,
 * 1024 pages, -ENOMEM; the third gfn maps nothing and no page leaked.
 */
static void test_populate_half_way_reports_what_it_did(void **state)
{
    const uint64_t g = GIB_FRAMES;
    struct memop_range r = { _gfn(g), 4, 9, 0, 0, 0 };
    struct xc_memop_result res;
    struct domain *d;
    uint64_t t0;
    mfn_t m;

    env_machine(MACHINE);
    d = env_domain(1, ENV_FMT(state));
    /* The tables of that GiB first, so each extent takes one allocation. */
    assert_int_equal(memory_populate(d, _gfn(g + 0x1000), 9, p2m_ram_rw, RWX,
                                     &m), 0);
    t0 = d->tot_pages;
    heap_fail_nth(3);
    assert_int_equal(memory_populate_physmap_op(d, &r), -ENOMEM);
    heap_fail_nth(0);
    assert_int_equal(r.nr_done, 2);
    assert_int_equal(r.pages, 1024);
    assert_int_equal(d->tot_pages - t0, r.pages);
    podenv_expect_type(d, g + 0x3ff, p2m_ram_rw, 9);
    podenv_expect_type(d, g + 0x400, p2m_invalid, 9);
    env_expect_clean(d);
    /* From there on, through libxc: the last two. */
    assert_int_equal(memory_populate_physmap_op(d, &r), 0);
    assert_int_equal(r.nr_done, 4);
    assert_int_equal(d->tot_pages - t0, 2048);
    heap_fail_nth(1);
    assert_int_equal(xc_domain_populate_physmap(d->domain_id, 0, 2, 9, 0,
                                                &res), -ENOMEM);
    heap_fail_nth(0);
    assert_int_equal(res.nr_done, 0);
    assert_int_equal(res.pages, 0);
    assert_int_equal(d->tot_pages - t0, 2048);
    env_expect_clean(d);
    env_finish();
}

/* Finding 13: one balloon call of 64 extents flushes once, not 64 times. */
static void test_decrease_flushes_once_per_call(void **state)
{
    struct memop_range r = { _gfn(0x1000), 64, 0, 0, 0, 0 };
    struct p2m_stats a, b;
    struct domain *d;
    unsigned int i;
    mfn_t m;

    env_machine(MACHINE);
    d = env_domain(1, ENV_FMT(state));
    for ( i = 0; i < 64; i++ )
        assert_int_equal(memory_populate(d, _gfn(0x1000 + i), 0, p2m_ram_rw,
                                         RWX, &m), 0);
    p2m_get_stats(&d->p2m, &a);
    assert_int_equal(memory_decrease_reservation_op(d, &r), 0);
    p2m_get_stats(&d->p2m, &b);
    assert_int_equal(r.pages, 64);
    assert_int_equal(b.flushes - a.flushes, 1);
    assert_int_equal(d->tot_pages, 0);
    env_expect_clean(d);
    env_finish();
}

/*
 * Finding 13: a guest asks to give back 2^32 extents of 4K (16 TiB of
 * guest-physical space, valid).  Each call does a bounded share under one
 * lock hold and returns -ERESTART with nr_done; calling again from there
 * finishes the request, every page in it released, none beyond it.
 */
static void test_decrease_2_32_extents_continues(void **state)
{
    const uint64_t nr = 1ull << 32, leaves = 5000;
    struct memop_range r = { _gfn(0), nr, 0, 0, 0, 0 };
    struct xc_memop_result res;
    uint64_t last = 0, g;
    unsigned int calls = 0;
    struct domain *d;
    int rc;
    mfn_t m;

    env_machine(MACHINE);
    d = env_domain(1, ENV_FMT(state));
    for ( g = 0; g < leaves; g++ )
        assert_int_equal(memory_populate(d, _gfn(g), 0, p2m_ram_rw, RWX, &m),
                         0);
    assert_int_equal(memory_populate(d, _gfn(nr - 1), 0, p2m_ram_rw, RWX,
                                     &m), 0);
    assert_int_equal(memory_populate(d, _gfn(nr), 0, p2m_ram_rw, RWX, &m),
                     0);
    do
    {
        rc = memory_decrease_reservation_op(d, &r);
        calls++;
        assert_false(spin_is_locked(&d->p2m.lock));
        assert_true(r.nr_done > last || rc != -ERESTART);
        assert_true(r.nr_done < nr || rc != -ERESTART);
        last = r.nr_done;
        assert_true(calls < 1000);
    } while ( rc == -ERESTART );
    assert_int_equal(rc, 0);
    assert_true(calls >= 2);
    assert_int_equal(r.nr_done, nr);
    assert_int_equal(r.pages, leaves + 1);
    podenv_expect_type(d, nr - 1, p2m_invalid, 0);
    podenv_expect_type(d, nr, p2m_ram_rw, 0);
    env_expect_clean(d);

    /* libxc issues the continuations itself and says how many it took. */
    for ( g = 0; g < leaves; g++ )
        assert_int_equal(memory_populate(d, _gfn(g), 0, p2m_ram_rw, RWX, &m),
                         0);
    assert_int_equal(xc_domain_decrease_reservation(d->domain_id, 0, nr, 0,
                                                    &res), 0);
    assert_int_equal(res.nr_done, nr);
    assert_int_equal(res.pages, leaves);
    assert_true(res.calls >= 2);
    assert_int_equal(d->tot_pages, 1);
    env_expect_clean(d);
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_decrease_half_way_reports_what_it_did),
        ENV_TEST(test_decrease_half_way_through_libxc),
        ENV_TEST(test_populate_half_way_reports_what_it_did),
        ENV_TEST(test_decrease_flushes_once_per_call),
        ENV_TEST(test_decrease_2_32_extents_continues),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

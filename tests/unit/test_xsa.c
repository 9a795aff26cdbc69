/*
 * One test per Xen security advisory class this P2M must not repeat
 * (prior-art.md): each names the advisory and checks the property whose
 * absence it was.  Both formats.
 */
#include "env.h"
#include "podenv.h"

#include <asm-x86/m2p.h>
#include <asm-x86/p2m-pod.h>

#define MACHINE "0-8G"
#define RWX P2M_ACCESS_RWX

/* Every RAM leaf maps frames its domain owns (none free, none foreign). */
static int owned_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    struct domain *d = ctx;
    uint64_t i;

    if ( !p2m_type_is_ram(l->type) )
        return 0;
    for ( i = 0; i < (1ull << l->order); i += 1 + (i & 63) * 7 )
        if ( mfn_owner(mfn_add(l->mfn, i)) != d->domain_id )
            return -1;
    return 0;
}

/* XSA-388: a misaligned balloon request is cut into aligned chunks and
 * takes exactly its own pages, out of a 1G leaf. */
static void test_xsa388_misaligned_balloon(void **state)
{
    struct domain *d;
    mfn_t m;

    env_machine(MACHINE);
    d = env_domain(1, ENV_FMT(state));
    assert_int_equal(memory_populate(d, _gfn(0), 18, p2m_ram_rw, RWX, &m), 0);
    /* 2^9 pages from gfn 0x101: 0x101..0x300, neither end aligned. */
    assert_int_equal(podenv_balloon(d, _gfn(0x101), 9), 512);
    env_expect(d, 0x100, mfn_x(m) + 0x100, p2m_ram_rw, RWX, 0);
    env_expect(d, 0x101, INVALID_MFN_RAW, p2m_invalid, 0, 0);
    env_expect(d, 0x300, INVALID_MFN_RAW, p2m_invalid, 0, 0);
    env_expect(d, 0x301, mfn_x(m) + 0x301, p2m_ram_rw, RWX, 0);
    assert_int_equal(d->tot_pages, (1ull << 18) - 512);
    assert_int_equal(p2m_for_each_leaf(&d->p2m, owned_leaf, d), 0);
    env_expect_clean(d);
    env_finish();
}

/* XSA-389: a set_entry that cannot finish (no table page) leaves the
 * leaves, the m2p and the PoD figures exactly as they were. */
static void test_xsa389_partial_set_entry(void **state)
{
    struct env_snap a = { 0 }, b = { 0 };
    struct domain *d;
    struct pod_stats s0, s1;
    mfn_t m, m4;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * GIB_FRAMES, 1);
    assert_int_equal(memory_populate(d, _gfn(0), 18, p2m_ram_rw, RWX, &m), 0);
    podenv_mark(d, GIB_FRAMES, MIB2_FRAMES);
    m4 = mfn_add(m, 0x345);
    d->p2m.pool_limit = d->p2m_pages;       /* the split needs two pages */
    env_snap_take(d, &a);
    p2m_pod_get_stats(d, &s0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x345), m4, 0, p2m_ram_ro,
                                   P2M_ACCESS_R), -ENOMEM);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(GIB_FRAMES + 3),
                                   INVALID_MFN, 0, p2m_invalid, 0), -ENOMEM);
    env_snap_take(d, &b);
    p2m_pod_get_stats(d, &s1);
    env_snap_expect_equal(&a, &b, true);
    assert_memory_equal(&s0, &s1, sizeof(s0));
    assert_true(m2p_record_is(m, _gfn(0), 18));
    env_snap_free(&a);
    env_snap_free(&b);
    d->p2m.pool_limit = 0;
    podenv_check(d, true);
    env_finish();
}

/* XSA-480: a table a change unlinks is not reused before the flush: it is
 * on the deferred list during the flush and in the pool only after it. */
static void test_xsa480_tables_after_flush(void **state)
{
    struct p2m_stats a, b;
    struct domain *d;
    mfn_t m, big;
    p2m_pte_t *l2e;
    mfn_t l1;

    env_machine(MACHINE);
    d = env_domain(1, ENV_FMT(state));
    assert_int_equal(memory_populate(d, _gfn(0x200), 0, p2m_ram_rw, RWX, &m),
                     0);
    l2e = env_entry(&d->p2m, 0x200, P2M_L2);
    assert_non_null(l2e);
    l1 = d->p2m.ops->mfn(*l2e, P2M_L2);
    p2m_get_stats(&d->p2m, &a);
    /* A 2M leaf over the L1 table: the table goes, after one flush. */
    assert_int_equal(memory_populate(d, _gfn(0x200), 9, p2m_ram_rw, RWX,
                                     &big), 0);
    p2m_get_stats(&d->p2m, &b);
    assert_int_equal(b.flushes, a.flushes + 1);
    assert_int_equal(b.table_pages, a.table_pages - 1);
    assert_true(list_empty(&d->p2m.deferred));
    assert_int_equal(mfn_chunk_head(l1)->use, PGU_P2M);   /* pool, not heap */
    assert_int_equal(mfn_owner(m), -1);     /* the 4K frame, after it too */
    env_expect_clean(d);
    env_finish();
}

/* XSA-486: no entry points at a frame that was freed, after any of the
 * paths that give frames up; a mapped frame refuses to be freed. */
static void test_xsa486_no_entry_to_freed_frame(void **state)
{
    struct domain *d;
    mfn_t m, k;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * GIB_FRAMES, 1);
    assert_int_equal(memory_populate(d, _gfn(0), 9, p2m_ram_rw, RWX, &m), 0);
    assert_int_equal(memory_populate(d, _gfn(0x400), 0, p2m_ram_rw, RWX, &k),
                     0);
    assert_int_equal(free_domheap_range(d, m, 9), -EBUSY);
    assert_int_equal(free_domheap_range(d, k, 0), -EBUSY);
    assert_int_equal(p2m_remove(&d->p2m, _gfn(0x10), 0), 0);
    assert_int_equal(mfn_owner(mfn_add(m, 0x10)), -1);
    assert_int_equal(podenv_balloon(d, _gfn(0x20), 4), 16);
    podenv_mark(d, GIB_FRAMES, MIB2_FRAMES);
    assert_int_equal(podenv_set_target(d, 600), 0);
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_ALL) > 0, 1);
    assert_int_equal(podenv_set_target(d, 0), 0);
    assert_int_equal(p2m_for_each_leaf(&d->p2m, owned_leaf, d), 0);
    podenv_check(d, true);
    env_finish();
}

/* XSA-507: a sweep never reclaims pinned (special) or referenced frames,
 * even when they are all zero. */
static void test_xsa507_reclaim_spares_special(void **state)
{
    struct domain *d;
    struct page_info *h;
    mfn_t pin, ref, plain;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 4 * GIB_FRAMES, 1);
    assert_int_equal(memory_populate(d, _gfn(1), 0, p2m_ram_rw, RWX, &pin),
                     0);
    assert_int_equal(memory_populate(d, _gfn(2), 0, p2m_ram_rw, RWX, &ref),
                     0);
    assert_int_equal(memory_populate(d, _gfn(3), 0, p2m_ram_rw, RWX, &plain),
                     0);
    assert_int_equal(heap_pin_range(d, pin, 0, true), 0);
    h = heap_make_chunk(d, ref, 0);
    assert_non_null(h);
    h->count = 1;                           /* a reference beyond ownership */
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_ALL), 1);
    podenv_expect_type(d, 1, p2m_ram_rw, 0);
    podenv_expect_type(d, 2, p2m_ram_rw, 0);
    podenv_expect_type(d, 3, p2m_populate_on_demand, 0);
    h->count = 0;
    assert_int_equal(heap_pin_range(d, pin, 0, false), 0);
    podenv_check(d, true);
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_xsa388_misaligned_balloon),
        ENV_TEST(test_xsa389_partial_set_entry),
        ENV_TEST(test_xsa480_tables_after_flush),
        ENV_TEST(test_xsa486_no_entry_to_freed_frame),
        ENV_TEST(test_xsa507_reclaim_spares_special),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

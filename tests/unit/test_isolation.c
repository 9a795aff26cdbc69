/*
 * Issue 8 findings at the API level: a balloon that cannot finish changes
 * nothing (finding 7), cache pages are never mappable and never freed while
 * mapped (finding 1, XSA-486), the audit sees a leaked page (finding 8), and
 * claimed frames are scrubbed (finding 3).  Both formats.
 */
#include "env.h"
#include "podenv.h"

#include <asm-x86/m2p.h>
#include <asm-x86/p2m-pod.h>

#define MACHINE "0-8G"
#define RWX P2M_ACCESS_RWX

/* Finding 7: the second chunk needs a table page that is not there; the
 * first (a whole 2M leaf) must not have been released meanwhile. */
static void test_balloon_all_or_nothing(void **state)
{
    struct env_snap before = { 0 }, after = { 0 }, again = { 0 };
    struct domain *d;
    mfn_t m1, m2;

    env_machine(MACHINE);
    d = env_domain(1, ENV_FMT(state));
    assert_int_equal(memory_populate(d, _gfn(0), 9, p2m_ram_rw, RWX, &m1), 0);
    assert_int_equal(memory_populate(d, _gfn(0x200), 9, p2m_ram_rw, RWX,
                                     &m2), 0);
    d->p2m.pool_limit = d->p2m_pages;       /* no table page for a split */
    env_snap_take(d, &before);
    /* [0, 0x201): the 2M leaf at 0, then 4K out of the leaf at 0x200. */
    assert_int_equal(memory_decrease_reservation(d, _gfn(0), 0x201, 0),
                     -ENOMEM);
    assert_int_equal(podenv_balloon(d, _gfn(0x100), 19),
                     -EDOM);
    assert_int_equal(podenv_balloon(d, _gfn(0x100), 10),
                     -ENOMEM);
    env_snap_take(d, &after);
    env_snap_expect_equal(&before, &after, true);
    env_snap_free(&after);
    /* 2^9 from 0x100 is misaligned: [0x100, 0x200) from the first leaf and
     * [0x200, 0x300) from the second; still no table page: nothing. */
    assert_int_equal(podenv_balloon(d, _gfn(0x100), 9),
                     -ENOMEM);
    env_snap_take(d, &again);
    env_snap_expect_equal(&before, &again, true);
    env_snap_free(&again);
    env_snap_free(&before);
    d->p2m.pool_limit = 0;
    assert_int_equal(podenv_balloon(d, _gfn(0x100), 9), 512);
    env_expect_clean(d);
    env_finish();
}

/* Finding 1: a frame on the PoD cache cannot be mapped, and no path puts a
 * mapped frame into the cache or back on the heap (XSA-486). */
static void test_cache_frames_never_mapped(void **state)
{
    struct domain *d;
    struct page_info *pg;
    mfn_t m;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 64 * MIB2_FRAMES, 1);
    podenv_mark(d, 0, MIB2_FRAMES);
    assert_int_equal(podenv_set_target(d, 1), 0);
    assert_int_equal(podenv_stats(d).count, 1);
    pg = list_first(&d->p2m.pod.cache[POD_4K], struct page_info, list);
    m = page_to_mfn(pg);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0x5000), m, 0, p2m_ram_rw,
                                   RWX), -EPERM);
    assert_int_equal(memory_map_frames(d, _gfn(0x5000), m, 0, p2m_ram_rw,
                                       RWX), -EPERM);
    assert_int_equal(podenv_set_target(d, 0), 0);
    assert_int_equal(mfn_owner(m), -1);

    /* A mapped frame refuses to be freed. */
    assert_int_equal(memory_populate(d, _gfn(0x9000), 0, p2m_ram_rw, RWX,
                                     &m), 0);
    assert_int_equal(free_domheap_range(d, m, 0), -EBUSY);
    assert_int_equal(mfn_owner(m), 1);
    env_expect_clean(d);
    env_finish();
}

/* Finding 8: a page that is owned but neither mapped nor cached is a leak
 * the audit reports (here: a leaf wiped behind the P2M's back). */
static void test_audit_reports_leak(void **state)
{
    struct p2m_audit_report r;
    struct domain *d;
    p2m_pte_t *e, saved;
    unsigned int i;
    bool leak = false;
    mfn_t m;

    env_machine(MACHINE);
    d = env_domain(1, ENV_FMT(state));
    assert_int_equal(memory_populate(d, _gfn(7), 0, p2m_ram_rw, RWX, &m), 0);
    assert_int_equal(p2m_audit(&d->p2m, &r), 0);
    e = env_entry(&d->p2m, 7, 1);
    assert_non_null(e);
    saved = *e;
    *e = 0;
    d->p2m.stats.pages[0]--;                /* keep the counters quiet */
    m2p_clear(m, 0);
    assert_true(p2m_audit(&d->p2m, &r) > 0);
    for ( i = 0; i < r.nr_recorded; i++ )
        leak |= r.err[i].code == AUDIT_LEAK;
    assert_true(leak);
    *e = saved;
    d->p2m.stats.pages[0]++;
    m2p_set(m, _gfn(7), 0);
    env_expect_clean(d);
    env_finish();
}

/* Finding 3: frames claimed by an explicit map are scrubbed first, even if
 * another domain or a P2M table left data there. */
static void test_claim_scrubs(void **state)
{
    struct domain *d1, *d2;
    uint64_t *w;
    mfn_t m;

    env_machine(MACHINE);
    d1 = env_domain(1, ENV_FMT(state));
    d2 = env_domain(2, ENV_FMT(state));
    assert_int_equal(memory_populate(d1, _gfn(0), 0, p2m_ram_rw, RWX, &m), 0);
    w = plat_map_mfn(m);
    w[5] = 0x5ec7e7;
    assert_int_equal(p2m_remove(&d1->p2m, _gfn(0), 0), 0);
    assert_int_equal(mfn_owner(m), -1);     /* unmapped: given back */
    assert_int_equal(memory_map_frames(d2, _gfn(0x10), m, 0, p2m_ram_rw,
                                       RWX), 0);
    assert_int_equal(w[5], 0);
    env_expect_clean(d2);
    env_finish();
}

/* Finding 3, the table variant: a P2M table page of a destroyed domain,
 * claimed by another domain's explicit map, reads zero, not an entry. */
static void test_claim_scrubs_freed_table_page(void **state)
{
    struct domain *d1, *d2;
    p2m_pte_t *e;
    mfn_t t;

    env_machine(MACHINE);
    d1 = env_domain(1, ENV_FMT(state));
    d2 = env_domain(2, ENV_FMT(state));
    /* Tables first (4K PoD entries), data far from them: a freed table
     * page then merges only with clean free frames or sits beside d2's
     * tables, and nothing but its own scrub cleans it. */
    podenv_mark(d1, 0, 1);
    podenv_mark(d2, 0, 1);
    assert_int_equal(memory_map_frames(d2, _gfn(0), _mfn(0x90000), 0,
                                       p2m_ram_rw, RWX), 0);
    assert_int_equal(memory_map_frames(d1, _gfn(0), _mfn(0x80000), 0,
                                       p2m_ram_rw, RWX), 0);
    e = env_entry(&d1->p2m, 0, 2);          /* points at d1's L1 table */
    assert_non_null(e);
    t = d1->p2m.ops->mfn(*e, 2);
    assert_true(*(uint64_t *)plat_map_mfn(t) != 0);
    domain_destroy(d1);
    assert_int_equal(mfn_owner(t), -1);
    assert_int_equal(memory_map_frames(d2, _gfn(0x10), t, 0, p2m_ram_rw,
                                       RWX), 0);
    assert_int_equal(podenv_read(&d2->vcpu[0], 0x10, 0), 0);
    env_expect_clean(d2);
    env_finish();
}

/*
 * Finding 13: 1G leaves that look zero to the quick check but are not (one
 * word where it does not sample).  One emergency sweep, as a fault that
 * ran out of PoD memory does under the P2M lock, reads at most 1 GiB and
 * 4 MiB of them; it used to read every one of them, twice.
 */
static void test_emergency_sweep_reads_bounded(void **state)
{
    const uint64_t n = 4, budget = (1ull << 18) + (1ull << 10);
    struct domain *d;
    struct vcpu *v;
    uint64_t before, i;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), 8 * GIB_FRAMES, 2);
    v = &d->vcpu[0];
    podenv_mark(d, 0, n * GIB_FRAMES);
    assert_int_equal(podenv_set_target(d, n * GIB_FRAMES), 0);
    for ( i = 0; i < n; i++ )
        podenv_write(v, i * GIB_FRAMES + 1, 8, 0xd1e7);
    assert_int_equal(podenv_stats(d).filled[POD_1G], n);
    p2m_pod_access_done(v);
    before = podenv_stats(d).scanned;
    assert_int_equal(p2m_pod_sweep(d, POD_SWEEP_EMERGENCY), 0);
    assert_true(podenv_stats(d).scanned - before <= budget);
    assert_true(podenv_stats(d).scanned - before >= GIB_FRAMES);
    for ( i = 0; i < n; i++ )
        assert_int_equal(podenv_read(v, i * GIB_FRAMES + 1, 8), 0xd1e7);
    podenv_check(d, true);
    env_finish();
}

/* Finding 13: a balloon of many 4K leaves flushes once, not per leaf. */
static void test_balloon_flushes_once(void **state)
{
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
    assert_int_equal(memory_decrease_reservation(d, _gfn(0x1000), 1, 6), 64);
    p2m_get_stats(&d->p2m, &b);
    assert_int_equal(b.flushes - a.flushes, 1);
    assert_int_equal(d->tot_pages, 0);
    env_expect_clean(d);
    env_finish();
}

/*
 * Finding 14: a hot page re-dirtied every log-dirty round faults once per
 * round on the same gfn; it used to be taken for a fault loop after 17
 * rounds.  Only faults with no P2M change in between count.
 */
static void test_fault_loop_needs_no_progress(void **state)
{
    struct domain *d;
    struct vcpu *v;
    unsigned int i;
    mfn_t m;

    env_machine(MACHINE);
    d = env_domain(1, ENV_FMT(state));
    v = &d->vcpu[0];
    assert_int_equal(memory_populate(d, _gfn(0x42), 0, p2m_ram_rw, RWX, &m),
                     0);
    assert_int_equal(p2m_logdirty_enable(&d->p2m, true), 0);
    for ( i = 0; i < 100; i++ )
    {
        uint8_t bm[1];

        assert_true(p2m_fault_progress(v, _gfn(0x42)));
        assert_int_equal(p2m_handle_fault(v, _gfn(0x42), P2M_ACCESS_W), 0);
        assert_int_equal(p2m_logdirty_read(&d->p2m, _gfn(0x42), 1, bm, true),
                         1);
    }
    assert_false(d->crashed);
    /* The same fault again and again with nothing changing is a loop. */
    for ( i = 0; i < P2M_FAULT_LOOP_MAX; i++ )
        assert_true(p2m_fault_progress(v, _gfn(0x42)));
    assert_false(p2m_fault_progress(v, _gfn(0x42)));
    /* Another gfn starts afresh. */
    assert_true(p2m_fault_progress(v, _gfn(0x43)));
    assert_int_equal(p2m_logdirty_enable(&d->p2m, false), 0);
    env_expect_clean(d);
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_balloon_all_or_nothing),
        ENV_TEST(test_cache_frames_never_mapped),
        ENV_TEST(test_audit_reports_leak),
        ENV_TEST(test_claim_scrubs),
        ENV_TEST(test_claim_scrubs_freed_table_page),
        ENV_TEST(test_emergency_sweep_reads_bounded),
        ENV_TEST(test_balloon_flushes_once),
        ENV_TEST(test_fault_loop_needs_no_progress),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

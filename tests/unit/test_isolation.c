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
#define M2_PAGES MIB2_FRAMES
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
    e = env_entry(&d->p2m, 7, P2M_L1);
    assert_non_null(e);
    saved = *e;
    *e = 0;
    /* keep the counters quiet */
    d->p2m.stats.pages[p2m_level_idx(P2M_L1)]--;
    m2p_clear(m, 0);
    assert_true(p2m_audit(&d->p2m, &r) > 0);
    for ( i = 0; i < r.nr_recorded; i++ )
        leak |= r.err[i].code == AUDIT_LEAK;
    assert_true(leak);
    *e = saved;
    d->p2m.stats.pages[p2m_level_idx(P2M_L1)]++;
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
    e = env_entry(&d1->p2m, 0, P2M_L2);     /* points at d1's L1 table */
    assert_non_null(e);
    t = d1->p2m.ops->mfn(*e, P2M_L2);
    assert_true(*(uint64_t *)plat_map_mfn(t) != 0);
    domain_destroy(d1);
    assert_int_equal(mfn_owner(t), -1);
    assert_int_equal(memory_map_frames(d2, _gfn(0x10), t, 0, p2m_ram_rw,
                                       RWX), 0);
    assert_int_equal(podenv_read(&d2->vcpu[0], 0x10, 0), 0);
    env_expect_clean(d2);
    env_finish();
}

/* What one sweep inside a fault may read: 2 MiB and one 4K batch. */
#define FAULT_READ_MAX ((1ull << 9) + 16)

/*
 * Drive vCPU v's access to gfn as the platform does (progress check, then
 * the fault handler) until it is mapped or v pauses.  Each call reads at
 * most FAULT_READ_MAX pages; returns the last handler result and the
 * calls made.
 */
static int fault_until_done(struct domain *d, struct vcpu *v, uint64_t gfn,
                            unsigned int *calls)
{
    struct p2m_lookup l;
    int rc;

    for ( *calls = 0;; )
    {
        uint64_t before = podenv_stats(d).scanned;

        assert_true(p2m_fault_progress(v, _gfn(gfn)));
        rc = p2m_handle_fault(v, _gfn(gfn), P2M_ACCESS_W);
        ++*calls;
        if ( podenv_stats(d).scanned - before > FAULT_READ_MAX )
            fail_msg("fault %u read %llu pages", *calls,
                     (unsigned long long)(podenv_stats(d).scanned - before));
        assert_false(spin_is_locked(&d->p2m.lock));
        if ( rc )
            return rc;
        l = podenv_lookup(d, gfn);
        if ( l.type == p2m_ram_rw )
            return 0;
        assert_true(*calls < 100000);
    }
}

/* n 1G PoD pages filled, and one 4K PoD page at n GiB to fault on. */
static struct domain *gib_domain(enum p2m_format fmt, uint64_t n)
{
    struct domain *d = podenv_domain(1, fmt, n * GIB_FRAMES + 1, 2);

    podenv_mark(d, 0, n * GIB_FRAMES + 1);
    assert_int_equal(podenv_set_target(d, n * GIB_FRAMES), 0);
    return d;
}

/*
 * Finding 13: 1G leaves that look zero to the quick check but are not (one
 * word in the last page, where it does not sample).  A 4K fault that finds
 * the cache empty used to read every one of them in full, twice, under the
 * P2M lock.  Now each fault's sweep reads at most 2 MiB + 64 KiB and the
 * next fault goes on where it stopped: the leaves are read once, a budget
 * per lock hold, and then the vCPU pauses for memory; nothing was lost.
 */
static void test_fault_sweep_reads_bounded(void **state)
{
    const uint64_t n = 4;
    struct pod_stats s0, s1;
    unsigned int calls;
    struct domain *d;
    struct vcpu *v;
    uint64_t i;

    env_machine(MACHINE);
    d = gib_domain(ENV_FMT(state), n);
    v = &d->vcpu[0];
    for ( i = 0; i < n; i++ )
        podenv_write(v, (i + 1) * GIB_FRAMES - 1, 8, 0xd1e7);
    assert_int_equal(podenv_stats(d).filled[POD_1G], n);
    p2m_pod_access_done(v);
    s0 = podenv_stats(d);
    assert_int_equal(fault_until_done(d, v, n * GIB_FRAMES, &calls),
                     -EAGAIN);
    s1 = podenv_stats(d);
    assert_true(v->paused);
    assert_true(calls >= n * GIB_FRAMES / FAULT_READ_MAX);
    assert_int_equal(s1.probed - s0.probed, n * GIB_FRAMES);   /* once */
    assert_int_equal(s1.scanned - s0.scanned, n * GIB_FRAMES);
    assert_int_equal(s1.probe_splits, 0);
    for ( i = 0; i < n; i++ )
    {
        podenv_expect_type(d, i * GIB_FRAMES, p2m_ram_rw, 18);
        assert_int_equal(podenv_read(&d->vcpu[1], (i + 1) * GIB_FRAMES - 1,
                                     8), 0xd1e7);
    }
    podenv_check(d, true);
    env_finish();
}

/*
 * A 1G page the guest never wrote is zero: the faults' probes read it a
 * budget at a time, then split it, and the 2M pieces are reclaimed (each
 * remapped, flushed and checked within one fault's budget): the 4K fault
 * is filled from them, with no fault reading more than its budget.
 */
static void test_fault_sweep_reclaims_zero_1g(void **state)
{
    unsigned int calls;
    struct domain *d;
    struct vcpu *v;

    env_machine(MACHINE);
    d = gib_domain(ENV_FMT(state), 1);
    v = &d->vcpu[0];
    assert_int_equal(podenv_read(v, 5, 0), 0);
    p2m_pod_access_done(v);
    assert_int_equal(fault_until_done(d, v, GIB_FRAMES, &calls), 0);
    assert_false(v->paused);
    assert_true(calls >= GIB_FRAMES / FAULT_READ_MAX);
    assert_int_equal(podenv_stats(d).probe_splits, 1);
    assert_true(podenv_stats(d).swept[POD_2M] >= 1);
    podenv_expect_type(d, GIB_FRAMES, p2m_ram_rw, 0);
    assert_int_equal(podenv_lookup(d, 0).order, 9);
    podenv_check(d, true);
    env_finish();
}

/*
 * A probe whose leaf the guest writes before the probe ends: the sweeps
 * skip that leaf now (the quick check sees the write), so the probe never
 * advances again.  A fault that finds the cache empty used to retry for
 * ever on the stale probe, with no P2M change, until the fault-loop check
 * crashed the domain ("fault loop without progress", seen in the TSan
 * stress run).  Now the vCPU pauses for memory, its data intact.
 */
static void test_fault_stale_probe_pauses(void **state)
{
    uint64_t probed, gfn = GIB_FRAMES;
    unsigned int calls, k;
    struct domain *d;
    struct vcpu *v;

    env_machine(MACHINE);
    d = gib_domain(ENV_FMT(state), 1);
    v = &d->vcpu[0];
    assert_int_equal(podenv_read(v, 5, 0), 0);   /* a zero 1G fill */
    p2m_pod_access_done(v);
    for ( k = 0; k < 3; k++ )                     /* the probe under way */
    {
        probed = podenv_stats(d).probed;
        assert_true(p2m_fault_progress(v, _gfn(gfn)));
        assert_int_equal(p2m_handle_fault(v, _gfn(gfn), P2M_ACCESS_W), 0);
        assert_true(podenv_stats(d).probed > probed);
    }
    podenv_write(&d->vcpu[1], 0, 0, 0xd1e7);      /* word 0: sampled */
    probed = podenv_stats(d).probed;
    assert_int_equal(fault_until_done(d, v, gfn, &calls), -EAGAIN);
    assert_true(v->paused);
    assert_false(d->crashed);
    assert_int_equal(podenv_stats(d).probed, probed);
    podenv_expect_type(d, 0, p2m_ram_rw, 18);
    assert_int_equal(podenv_read(&d->vcpu[1], 0, 0), 0xd1e7);
    podenv_check(d, true);
    env_finish();
}

/* A 2M chunk that is not known zero (marker at word 9), into d's cache. */
static mfn_t cache_dirty_2m(struct domain *d)
{
    struct page_info *pg = alloc_domheap_pages(d, PAGE_ORDER_2M, 0);
    uint64_t *w;

    assert_non_null(pg);
    assert_false(pg->flags & PGF_zeroed);
    w = plat_map_mfn(page_to_mfn(pg));
    w[9] = 0xd1;
    p2m_pod_cache_add(d, pg);
    return page_to_mfn(pg);
}

static int hook_calls;
static mfn_t hook_chunk;

/* While the fill zeroes: no P2M lock held, and the chunk already zero. */
static void hook_check(struct p2m_domain *p2m, uint64_t gfn)
{
    hook_calls++;
    if ( spin_is_locked(&p2m->lock) )
        fail_msg("the P2M lock is held while a fill zeroes");
    assert_int_equal(((uint64_t *)plat_map_mfn(hook_chunk))[9], 0);
}

/* ... and meanwhile the guest gives the range back. */
static void hook_balloon(struct p2m_domain *p2m, uint64_t gfn)
{
    hook_check(p2m, gfn);
    assert_int_equal(podenv_balloon(p2m->domain, _gfn(gfn), 9), M2_PAGES);
}

/* ... or another vCPU fills the same entry, and writes to it. */
static void hook_other_vcpu(struct p2m_domain *p2m, uint64_t gfn)
{
    struct domain *d = p2m->domain;

    hook_check(p2m, gfn);
    p2m->pod.test_unlocked = NULL;          /* its fill: no hook */
    podenv_write(&d->vcpu[1], gfn + 3, 0, 0x7a9);
}

/*
 * Finding 13 (and issue 12): a 2M or 1G fill zeroes its chunk with the
 * P2M lock dropped (the chunk reserved on the busy list, still counted in
 * the cache), then publishes; if the entry changed meanwhile it backs out
 * and the chunk goes back to the cache, zeroed.  The accounting holds
 * throughout, and nothing another vCPU wrote meanwhile is lost.
 */
static void test_fill_zeroes_outside_lock(void **state)
{
    static void (*const hooks[])(struct p2m_domain *, uint64_t) = {
        hook_check, hook_balloon, hook_other_vcpu };
    unsigned int k;

    for ( k = 0; k < ARRAY_SIZE(hooks); k++ )
    {
        struct domain *d;
        struct pod_stats ps;

        env_machine(MACHINE);
        d = podenv_domain(1, ENV_FMT(state), 4 * M2_PAGES, 2);
        podenv_mark(d, 0, 2 * M2_PAGES);
        hook_chunk = cache_dirty_2m(d);         /* the first one taken */
        if ( hooks[k] == hook_other_vcpu )
            cache_dirty_2m(d);                  /* the other vCPU's */
        hook_calls = 0;
        d->p2m.pod.test_unlocked = hooks[k];
        assert_int_equal(p2m_handle_fault(&d->vcpu[0], _gfn(5),
                                          P2M_ACCESS_R), 0);
        d->p2m.pod.test_unlocked = NULL;
        assert_int_equal(hook_calls, 1);
        ps = podenv_stats(d);
        assert_int_equal(ps.unlocked_zeroes, hooks[k] == hook_other_vcpu ?
                                             2 : 1);
        assert_int_equal(ps.fill_backouts, hooks[k] != hook_check);
        if ( hooks[k] == hook_check )
        {
            podenv_expect_type(d, 5, p2m_ram_rw, 9);
            assert_int_equal(mfn_x(podenv_lookup(d, 0).mfn),
                             mfn_x(hook_chunk));
            assert_int_equal(podenv_read(&d->vcpu[0], 0, 72), 0);
        }
        else if ( hooks[k] == hook_balloon )
            podenv_expect_type(d, 5, p2m_invalid, 9);
        else
            assert_int_equal(podenv_read(&d->vcpu[0], 3, 0), 0x7a9);
        podenv_check(d, true);
        env_finish();
    }
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
        ENV_TEST(test_fault_sweep_reads_bounded),
        ENV_TEST(test_fault_sweep_reclaims_zero_1g),
        ENV_TEST(test_fault_stale_probe_pauses),
        ENV_TEST(test_fill_zeroes_outside_lock),
        ENV_TEST(test_balloon_flushes_once),
        ENV_TEST(test_fault_loop_needs_no_progress),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The guest scenarios (touch, zero, balloon, log-dirty, and on EPT the 1G
 * probe): their memory layouts, sized for the machine (1 GiB leaves only
 * where the hardware has them and the heap has a free 1 GiB chunk), the
 * hypervisor's side of their phases, and what their final P2M and PoD
 * counters must show.
 */
#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/mm.h>

#include "../../xen/arch/x86/hvm/scenario.h"

#define MB(x) ((uint64_t)(x) << 8)      /* pages in x MiB */
#define GB(x) ((uint64_t)(x) << 18)     /* pages in x GiB */
#define ALL GR_TOUCH_ALL

extern const uint8_t guest_touch_start[], guest_touch_end[];
extern const uint8_t guest_zero_start[], guest_zero_end[];
extern const uint8_t guest_balloon_start[], guest_balloon_end[];
extern const uint8_t guest_logdirty_start[], guest_logdirty_end[];
extern const uint8_t guest_probe_start[], guest_probe_end[];

/* Is a machine 1G chunk there for the PoD cache (after `used` others)? */
static bool pod_1g_ok(const struct scenario_run *run, unsigned int used)
{
    return run->hw->leaf_1g && run->free_1g > used;
}

/* --- touch and verify --- */

/*
 * RAM in 4K, 2M and (where the hardware and the heap allow) 1G leaves,
 * and PoD entries of each order.  The PoD 1G entry is filled whole when a
 * free 1G chunk is left for the cache, else it is remapped to 2M entries.
 * A small machine (one free 1G chunk) with 1G pages gives that chunk to
 * the PoD entry and maps 256 MiB of RAM with 2M leaves.
 */
static void touch_layout(struct scenario_run *run)
{
    struct hvm_guest *g = &run->g;
    /* A small machine with 1G pages gives its one 1G chunk to the PoD
     * entry; without 1G pages the builder falls back to 2M leaves. */
    bool ram1g = run->free_1g && !(run->small && run->hw->leaf_1g);
    bool full = pod_1g_ok(run, ram1g);
    uint64_t pod1g = full ? GB(1) : MB(32);

    hvm_guest_add(g, GR_BASE, 0, MB(2), 0, 0);
    hvm_guest_add(g, GR_RAM, MB(2), MB(62), PAGE_ORDER_2M, ALL);
    if ( ram1g )                /* the builder falls back to 2M leaves */
        hvm_guest_add(g, GR_RAM, GB(1), GB(1), PAGE_ORDER_1G, ALL);
    else
        hvm_guest_add(g, GR_RAM, GB(1), MB(256), PAGE_ORDER_2M, ALL);
    hvm_guest_add(g, GR_POD, MB(64), MB(32), PAGE_ORDER_2M, ALL);
    hvm_guest_add(g, GR_POD, MB(96), MB(1), PAGE_ORDER_4K, ALL);
    hvm_guest_add(g, GR_POD, GB(2), GB(1), PAGE_ORDER_1G, pod1g);
    hvm_guest_add(g, GR_POD_IDLE, GB(3), MB(256), PAGE_ORDER_2M, 0);
    g->target = hvm_guest_pages(g, true) + MB(32) + MB(1) + pod1g;
    run->state[0] = full;
    run->state[1] = ram1g && run->hw->leaf_1g;
}

static void touch_check(struct scenario_run *run)
{
    bool full = run->state[0], ram1g = run->state[1];
    struct p2m_stats st;
    struct pod_stats ps;
    uint64_t n4k, n2m, n1g;

    p2m_get_stats(&run->d->p2m, &st);
    p2m_pod_get_stats(run->d, &ps);
    n4k = st.pages[p2m_level_idx(P2M_L1)];
    n2m = st.pages[p2m_level_idx(P2M_L2)];
    n1g = st.pages[p2m_level_idx(P2M_L3)];
    expect(run, ps.filled[POD_4K] == 256, "populated_4k %llu, want 256",
           (unsigned long long)ps.filled[POD_4K]);
    expect(run, ps.filled[POD_2M] == 16 + (full ? 0 : 16),
           "populated_2m %llu", (unsigned long long)ps.filled[POD_2M]);
    expect(run, ps.filled[POD_1G] == full, "populated_1g %llu",
           (unsigned long long)ps.filled[POD_1G]);
    expect(run, full || ps.remap_retries >= 1, "no remap of the 1G PoD entry");
    expect(run, n1g == (uint64_t)ram1g + full, "pages_1g %llu",
           (unsigned long long)n1g);
    expect(run, n2m >= 31u + 16 + (ram1g ? 0 : 128) + (full ? 0 : 16),
           "pages_2m %llu", (unsigned long long)n2m);
    expect(run, n4k >= 512 + 256, "pages_4k %llu", (unsigned long long)n4k);
}

/* --- Windows-like boot: zero everything --- */

/*
 * Memory the guest zeroes: 1.5 GiB (a 1G PoD entry included) with a
 * 32 MiB cache on a 6 GiB machine; 128 MiB with a 16 MiB cache on a 2 GiB
 * one (Bochs zeroes and scans memory at only ~100-300 MB/s).
 */
static void zero_layout(struct scenario_run *run)
{
    struct hvm_guest *g = &run->g;

    hvm_guest_add(g, GR_BASE, 0, MB(2), 0, 0);
    if ( run->small )
        hvm_guest_add(g, GR_POD, MB(2), MB(126), PAGE_ORDER_2M, ALL);
    else
    {
        hvm_guest_add(g, GR_POD, MB(2), MB(510), PAGE_ORDER_2M, ALL);
        hvm_guest_add(g, GR_POD, GB(1), GB(1), PAGE_ORDER_1G, ALL);
    }
    g->target = MB(2) + (run->small ? MB(16) : MB(32));
}

static void zero_check(struct scenario_run *run)
{
    struct pod_stats ps;
    uint64_t swept;

    p2m_pod_get_stats(run->d, &ps);
    swept = ps.swept[POD_4K] + (ps.swept[POD_2M] << PAGE_ORDER_2M) +
            (ps.swept[POD_1G] << PAGE_ORDER_1G);
    /* The guest zeroed far more than the cache: it ran on swept pages. */
    expect(run, swept + run->g.target >=
                hvm_guest_pages(&run->g, false) - MB(2),
           "swept %llu pages only", (unsigned long long)swept);
    expect(run, ps.filled[POD_2M] > run->g.target >> PAGE_ORDER_2M,
           "populated_2m %llu", (unsigned long long)ps.filled[POD_2M]);
}

/* --- balloon --- */

/*
 * The guest believes it has 160 MiB more than the target and balloons it
 * out of its PoD regions (4K, 2M entries, and a populated 2M page).  Its
 * 1 GiB PoD entry is filled whole on a large machine; a small one gets
 * 128 MiB of 2M entries instead (its only 1G chunk, dirtied by the touch
 * scenario, would have to be zeroed: seconds in Bochs).
 */
static void balloon_layout(struct scenario_run *run)
{
    struct hvm_guest *g = &run->g;
    bool full = pod_1g_ok(run, 0) && !run->small;

    hvm_guest_add(g, GR_BASE, 0, MB(2), 0, 0);
    hvm_guest_add(g, GR_RAM, MB(2), MB(62), PAGE_ORDER_2M, ALL);
    hvm_guest_add(g, GR_POD, GB(1), full ? GB(1) : MB(128),
                  full ? PAGE_ORDER_1G : PAGE_ORDER_2M, ALL);
    hvm_guest_add(g, GR_POD, MB(64), MB(256), PAGE_ORDER_2M, ALL);
    hvm_guest_add(g, GR_POD, MB(320), MB(1), PAGE_ORDER_4K, ALL);
    g->target = hvm_guest_pages(g, false) - MB(160);
    run->state[0] = full;
}

static void balloon_check(struct scenario_run *run)
{
    struct pod_stats ps;

    p2m_pod_get_stats(run->d, &ps);
    expect(run, ps.populated + ps.entry_count == run->g.target,
           "believes %llu pages, target %llu",
           (unsigned long long)(ps.populated + ps.entry_count),
           (unsigned long long)run->g.target);
    expect(run, ps.filled[POD_1G] == run->state[0], "populated_1g %llu",
           (unsigned long long)ps.filled[POD_1G]);
    expect(run, run->d->max_pages - run->g.target == MB(160),
           "max_pages %llu", (unsigned long long)run->d->max_pages);
}

/* --- log-dirty --- */

#define LD_MAX_GFN GB(2)
static uint8_t dirty_bitmap[LD_MAX_GFN / 8];

/*
 * RAM in superpages: 2M leaves, and a 1G leaf on a large machine (a small
 * one spends its 1G chunk in the touch scenario, and zeroing another GiB
 * would cost Bochs seconds).  Every page is tagged before log-dirty is on,
 * so no sweep reclaims any of it.
 */
static void logdirty_layout(struct scenario_run *run)
{
    struct hvm_guest *g = &run->g;
    bool big = !run->small;

    hvm_guest_add(g, GR_BASE, 0, MB(2), 0, 0);
    hvm_guest_add(g, GR_RAM, MB(2), MB(62), PAGE_ORDER_2M, ALL);
    hvm_guest_add(g, GR_RAM, GB(1), big ? GB(1) : MB(256),
                  big ? PAGE_ORDER_1G : PAGE_ORDER_2M, ALL);
    hvm_guest_add(g, GR_POD_IDLE, MB(64), MB(64), PAGE_ORDER_2M, 0);
    g->target = hvm_guest_pages(g, true) + MB(8);
    run->state[4] = big && run->hw->leaf_1g;
    run->state[5] = big;
}

static void print_leaves(const char *when, struct p2m_domain *p2m)
{
    struct p2m_stats st;

    p2m_get_stats(p2m, &st);
    printk("logdirty: %s: pages_1g %llu pages_2m %llu pages_4k %llu "
           "splits %llu\n", when,
           (unsigned long long)st.pages[p2m_level_idx(P2M_L3)],
           (unsigned long long)st.pages[p2m_level_idx(P2M_L2)],
           (unsigned long long)st.pages[p2m_level_idx(P2M_L1)],
           (unsigned long long)st.splits);
}

/* Phase 2 and 3: the dirty bitmap above the base region must be exactly
 * the n pages the guest lists. */
static int logdirty_compare(struct hvm_vcpu *hv, uint32_t n)
{
    struct domain *d = hv->v->domain;
    const uint32_t *list = hvm_guest_ptr(d, GUEST_LIST_GPA, n * 4);
    uint64_t base = GUEST_BASE_PAGES;
    int64_t dirty, base_dirty;
    struct p2m_lookup l;
    uint32_t i, bad = 0;

    if ( !list || !n )
        return -EINVAL;
    base_dirty = p2m_logdirty_read(&d->p2m, _gfn(0), base, dirty_bitmap, true);
    dirty = p2m_logdirty_read(&d->p2m, _gfn(base), LD_MAX_GFN - base,
                              dirty_bitmap, true);
    for ( i = 0; i < n; i++ )
    {
        uint64_t g = list[i] - base;
        bool set = list[i] >= base && list[i] < LD_MAX_GFN &&
                   (dirty_bitmap[g / 8] >> (g % 8)) & 1;

        p2m_get_entry(&d->p2m, _gfn(list[i]), &l);
        printk("logdirty:   gfn %#x dirty %s, now a %s leaf\n", list[i],
               set ? "yes" : "NO", l.order ? "superpage" : "4K");
        bad += !set || l.order != 0;
    }
    printk("logdirty: %lld dirty pages (guest wrote %u), %lld in the base "
           "region (its stack)\n", (long long)dirty, n, (long long)base_dirty);
    print_leaves("after the writes", &d->p2m);
    return bad || dirty != n ? -EINVAL : 0;
}

static int logdirty_phase(struct hvm_vcpu *hv, uint32_t phase, uint32_t arg)
{
    struct p2m_domain *p2m = &hv->v->domain->p2m;
    struct scenario_run *run = hv->ctx;
    struct p2m_stats st;
    int rc;

    switch ( phase )
    {
    case 1:
        print_leaves("before log-dirty", p2m);
        p2m_get_stats(p2m, &st);
        run->state[0] = st.splits;
        return p2m_logdirty_enable(p2m, true);
    case 2:
    case 3:
        rc = logdirty_compare(hv, arg);
        p2m_get_stats(p2m, &st);
        run->state[phase] = st.splits;
        return rc;
    case 4:
        return p2m_logdirty_enable(p2m, false);
    }
    return -EINVAL;
}

static void logdirty_check(struct scenario_run *run)
{
    uint64_t g1 = run->state[4], big = run->state[5];
    uint64_t want = big ? 8 + g1 : 6;

    /*
     * Round 1 wrote into 3 leaves of the 2M region and into 5 of the 2M
     * parts of the 1G region (whose 1G leaf, if it is one, splits first);
     * with 256 MiB instead of 1 GiB, into 3 (its two highest offsets lie
     * beyond).  Round 2 wrote into 2 new 2M parts of each region.  Every
     * write splits down to 4K.
     */
    expect(run, run->state[2] - run->state[0] == want,
           "round 1 split %llu superpages, want %llu",
           (unsigned long long)(run->state[2] - run->state[0]),
           (unsigned long long)want);
    expect(run, run->state[3] - run->state[2] == 4,
           "round 2 split %llu superpages, want 4",
           (unsigned long long)(run->state[3] - run->state[2]));
    expect(run, !run->d->p2m.logdirty, "log-dirty still on");
}

/* --- EPT 1G probe --- */

/*
 * Does this CPU walk a 1G EPT leaf?  The scenario maps one (MMIO above
 * RAM, so no GiB needs zeroing) without the builder's check and the guest
 * reads through it: without 1G pages (IA32_VMX_EPT_VPID_CAP bit 17 clear)
 * the CPU must report an EPT misconfiguration, which is why the builder
 * falls back to 2M there; with them, the read must simply work.
 */
static bool probe_applies(const struct hvm_vendor *hw)
{
    return hw->format == P2M_FORMAT_EPT;
}

static void probe_layout(struct scenario_run *run)
{
    struct hvm_guest *g = &run->g;

    hvm_guest_add(g, GR_BASE, 0, MB(2), 0, 0);
    hvm_guest_add(g, GR_MMIO, GB(1), GB(1), PAGE_ORDER_1G, 1);
    g->target = MB(2);
}

static int probe_prepare(struct scenario_run *run)
{
    uint64_t mfn = (machine.max_mfn + GB(1) - 1) & ~(GB(1) - 1);
    struct p2m_domain *p2m = &run->d->p2m;
    int rc;

    /* The GiB above RAM is no device, but the CPU never reaches it (the
     * walk is refused, or the guest reads it once): declared MMIO and
     * granted to this domain, as device memory for a guest would be. */
    rc = machine_declare_mmio(_mfn(mfn), GB(1));
    if ( !rc )
        rc = domain_iomem_permit(run->d, _mfn(mfn), GB(1));
    if ( rc )
        return rc;

    if ( !run->hw->leaf_1g )
    {
        /* The P2M refuses the leaf on this CPU; lift that on purpose to
         * show what the hardware does with one. */
        rc = p2m_set_entry(p2m, _gfn(GB(1)), _mfn(mfn), PAGE_ORDER_1G,
                           p2m_mmio_direct, P2M_ACCESS_R | P2M_ACCESS_W);
        if ( rc != -EOPNOTSUPP )
            return rc ? rc : -EINVAL;
        rc = p2m_set_max_order(p2m, PAGE_ORDER_1G);
        if ( rc )
            return rc;
    }
    return p2m_set_entry(p2m, _gfn(GB(1)), _mfn(mfn), PAGE_ORDER_1G,
                         p2m_mmio_direct, P2M_ACCESS_R | P2M_ACCESS_W);
}

static void probe_check(struct scenario_run *run)
{
    struct hvm_vcpu *hv = run->hv;

    if ( run->hw->leaf_1g )
    {
        expect(run, hv->done && !hv->misconfig && !run->d->crashed,
               "the read through a 1G leaf failed on a CPU with 1G pages");
        return;
    }
    expect(run, hv->misconfig && hv->misconfig_gpa >> 30 == 1,
           "no EPT misconfiguration for a 1G leaf on a CPU without 1G pages");
    expect(run, !hv->done, "the guest read through the 1G leaf");
    if ( hv->misconfig )
        printk("probe: 1G EPT leaf rejected as the CPU announced: the "
               "builder's 2M fallback is needed here\n");
}

const struct scenario scenarios[] = {
    { .name = "touch", .image = guest_touch_start,
      .image_end = guest_touch_end, .layout = touch_layout,
      .check = touch_check },
    { .name = "zero", .image = guest_zero_start, .image_end = guest_zero_end,
      .layout = zero_layout, .check = zero_check },
    { .name = "balloon", .image = guest_balloon_start,
      .image_end = guest_balloon_end, .layout = balloon_layout,
      .check = balloon_check },
    { .name = "logdirty", .image = guest_logdirty_start,
      .image_end = guest_logdirty_end, .layout = logdirty_layout,
      .phase = logdirty_phase, .check = logdirty_check },
    { .name = "probe-1g", .image = guest_probe_start,
      .image_end = guest_probe_end, .applies = probe_applies,
      .layout = probe_layout, .prepare = probe_prepare, .check = probe_check,
      .may_crash = true },
};
const unsigned int nr_scenarios = ARRAY_SIZE(scenarios);

/*
 * One list of a domain's memory figures, under the names `p2mctl stats`
 * and the bare-metal HV-STATS report both print, so the two cannot drift.
 */
#include <asm-x86/p2m-pod.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/sched.h>

void domain_stats_each(struct domain *d, domain_stat_fn fn, void *ctx)
{
    static const char *const cache[POD_ORDERS] = {
        "pod_cache_4k", "pod_cache_2m", "pod_cache_1g" };
    static const char *const filled[POD_ORDERS] = {
        "populated_4k", "populated_2m", "populated_1g" };
    static const char *const swept[POD_ORDERS] = {
        "swept_4k", "swept_2m", "swept_1g" };
    struct p2m_stats st;
    struct pod_stats ps;
    struct heap_stats hs;
    unsigned int i;

    p2m_get_stats(&d->p2m, &st);
    p2m_pod_get_stats(d, &ps);
    heap_get_stats(&hs);
    fn(ctx, "pages_1g", st.pages[p2m_level_idx(P2M_L3)], false);
    fn(ctx, "pages_2m", st.pages[p2m_level_idx(P2M_L2)], false);
    fn(ctx, "pages_4k", st.pages[p2m_level_idx(P2M_L1)], false);
    fn(ctx, "table_pages", st.table_pages, false);
    fn(ctx, "splits", st.splits, false);
    fn(ctx, "merges", st.merges, false);
    fn(ctx, "flushes", st.flushes, false);
    fn(ctx, "pod_entries", st.pod_entries, false);
    fn(ctx, "tot_pages", d->tot_pages, false);
    fn(ctx, "p2m_pages", d->p2m_pages, false);
    fn(ctx, "max_pages", d->max_pages, false);
    fn(ctx, "host_free_pages", hs.free_pages, false);
    fn(ctx, "logdirty", d->p2m.logdirty, true);
    fn(ctx, "crashed", __atomic_load_n(&d->crashed, __ATOMIC_ACQUIRE), true);
    for ( i = 0; i < POD_ORDERS; i++ )
    {
        fn(ctx, cache[i], ps.cache_chunks[i], false);
        fn(ctx, filled[i], ps.filled[i], false);
        fn(ctx, swept[i], ps.swept[i], false);
    }
    fn(ctx, "pod_count", ps.count, false);
    fn(ctx, "target_pages", ps.target, false);
    fn(ctx, "populated_pages", ps.populated, false);
    fn(ctx, "believed_pages", ps.populated + ps.entry_count, false);
    fn(ctx, "remap_retries", ps.remap_retries, false);
    fn(ctx, "sweep_scanned_pages", ps.scanned, false);
    fn(ctx, "sweep_probed_pages", ps.probed, false);
    fn(ctx, "sweep_probe_splits", ps.probe_splits, false);
    fn(ctx, "fill_unlocked_zeroes", ps.unlocked_zeroes, false);
    fn(ctx, "fill_backouts", ps.fill_backouts, false);
}

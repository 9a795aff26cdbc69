/*
 * `p2mctl run`: the phases of the main job (see run.h).  Everything the
 * guest does goes through the toolstack calls (xc_*.h) or through its vCPUs
 * (workload.c); the module is only looked at directly to take statistics
 * and to audit.
 */
#include "run.h"
#include "hosted.h"
#include "p2mctl.h"
#include "xc_domain.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <asm-x86/p2m-pod.h>

#define GIB_PAGES (1ull << PAGE_ORDER_1G)
#define VGA_PAGES (XC_VGA_HOLE_END - XC_VGA_HOLE_START)

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

double run_now(const struct run *r)
{
    return mono() - r->t0;
}

/* --- progress: any phase running over a second is reported on stderr --- */

static void *ticker_main(void *arg)
{
    struct run *r = arg;
    double next = 1.0;

    for ( ;; )
    {
        usleep(50000);
        pthread_mutex_lock(&r->lock);
        if ( r->ticker_stop )
            break;
        if ( r->phase && run_now(r) - r->phase_start >= next )
        {
            fprintf(stderr, "p2mctl: %s: %.0f s%s%s\n", r->phase,
                    run_now(r) - r->phase_start, r->detail[0] ? ", " : "",
                    r->detail);
            next += 1.0;
        }
        else if ( !r->phase )
            next = 1.0;
        pthread_mutex_unlock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void phase_detail(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void phase_detail(struct run *r, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&r->lock);
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&r->lock);
}

static void phase_begin(struct run *r, const char *name)
{
    pthread_mutex_lock(&r->lock);
    r->phase = name;
    r->phase_start = run_now(r);
    r->detail[0] = '\0';
    pthread_mutex_unlock(&r->lock);
    run_sample(r, true);
}

/* The phase is over: record the guest and the host as it left them. */
static void phase_end(struct run *r)
{
    struct run_snap *s = &r->snap[r->nr_snaps];
    struct heap_stats h;
    struct p2m_stats p;
    struct pod_stats ps;
    unsigned int i;

    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&r->lock);
    s->phase = r->phase;
    s->start = r->phase_start;
    s->seconds = run_now(r) - r->phase_start;
    r->phase = NULL;
    pthread_mutex_unlock(&r->lock);
    heap_get_stats(&h);
    s->host_free = h.free_pages;
    if ( (s->guest = r->d != NULL) )
    {
        p2m_get_stats(&r->d->p2m, &p);
        p2m_pod_get_stats(r->d, &ps);
        for ( i = 0; i < P2M_LEAF_LEVELS; i++ )
            s->leaves[i] = p.pages[i];
        for ( i = 0; i < POD_ORDERS; i++ )
        {
            s->filled[i] = ps.filled[i];
            s->swept[i] = ps.swept[i];
        }
        s->populated = ps.populated;
        s->pod_cache = ps.count;
        s->pod_entries = ps.entry_count;
        s->tot_pages = ps.tot_pages;
        s->target = ps.target;
        s->splits = p.splits;
        s->merges = p.merges;
        s->table_pages = p.table_pages;
    }
    if ( r->nr_snaps + 1 < RUN_MAX_SNAPS )
        r->nr_snaps++;
    run_sample(r, true);
}

void run_sample(struct run *r, bool force)
{
    struct run_sample *s;
    struct heap_stats h;
    struct pod_stats ps;
    struct p2m_stats p;
    unsigned int i;
    double t = run_now(r);

    if ( !r->opt.plot ||
         (!force && r->nr_series && t - r->series[r->nr_series - 1].t < 0.05) )
        return;
    if ( r->nr_series == r->cap_series )
    {
        size_t cap = r->cap_series * 2 + 256;

        if ( !(s = realloc(r->series, cap * sizeof(*s))) )
            return;             /* the plot loses points, the run goes on */
        r->series = s;
        r->cap_series = cap;
    }
    s = &r->series[r->nr_series++];
    memset(s, 0, sizeof(*s));
    s->t = t;
    heap_get_stats(&h);
    s->host_free = h.free_pages;
    if ( !r->d )
        return;
    p2m_pod_get_stats(r->d, &ps);
    p2m_get_stats(&r->d->p2m, &p);
    s->populated = ps.populated;
    s->cache = ps.count;
    s->entries = ps.entry_count;
    for ( i = 0; i < P2M_LEAF_LEVELS; i++ )
        s->mapped[i] = p.pages[i] << p2m_level_order(p2m_idx_level(i));
}

/* --- the host --- */

/* Each 1G block that holds a frame of the filler (its P2M root, dom0_mem). */
static void mark_block(struct run *r, mfn_t mfn)
{
    uint64_t b = mfn_x(mfn) >> PAGE_ORDER_1G;

    r->frag_held[b / 8] |= 1u << (b % 8);
}

static bool block_held(const struct run *r, uint64_t m)
{
    uint64_t b = m >> PAGE_ORDER_1G;

    return r->frag_held[b / 8] & (1u << (b % 8));
}

/*
 * Count the free 1G blocks of RAM (nr); with pct, break the pct % of them
 * that an even spread selects: the filler domain takes the first 4K frame
 * of each (the rest stays free, and stays known-zero).
 */
static int walk_free_blocks(struct run *r, unsigned int pct, uint64_t *nr)
{
    const struct run_config *c = &r->cfg;
    uint64_t m, i = 0;
    unsigned int k;
    int rc;

    for ( k = 0; k < c->nr_ram; k++ )
        for ( m = align_down(c->ram[k].start + GIB_PAGES - 1, PAGE_ORDER_1G);
              m + GIB_PAGES <= c->ram[k].end; m += GIB_PAGES )
        {
            if ( block_held(r, m) )
                continue;
            i++;
            if ( i * pct / 100 == (i - 1) * pct / 100 )
                continue;
            rc = claim_domheap_range(r->filler, _mfn(m), PAGE_ORDER_4K);
            if ( rc )
                return rc;
            r->frag_broken++;
        }
    *nr = i;
    return 0;
}

/*
 * Break pct % of the free 1 GiB blocks, the way long-lived allocations of
 * other domains do.  The blocks the filler already holds frames of (its
 * P2M root, dom0_mem) are not free: the heap hands out the first frame of
 * its most recently freed 1G block when no smaller chunk is left, so on a
 * host without holes the root table sits at the start of the top block,
 * and claiming that frame would fail with EBUSY.  Those blocks are broken
 * already and are skipped; the heap's own count of free 1G chunks must
 * agree with the blocks found free.
 */
static int fragment_partial(struct run *r, unsigned int pct)
{
    struct heap_stats h;
    uint64_t nr;
    int rc;

    heap_get_stats(&h);
    walk_free_blocks(r, 0, &nr);
    if ( nr != h.free_chunks[PAGE_ORDER_1G] )
        return -EBUSY;          /* a frame is held that the filler does not */
    rc = walk_free_blocks(r, pct, &nr);
    r->frag_blocks = nr;
    return rc;
}

/* dom0_mem: memory other domains hold, in 2M chunks. */
static int hold_dom0_mem(struct run *r)
{
    uint64_t pages = r->cfg.dom0_mem << 8, n;
    struct page_info *pg;
    unsigned int order;

    for ( n = 0; n < pages; n += 1ull << order )
    {
        order = pages - n >= 512 ? PAGE_ORDER_2M : PAGE_ORDER_4K;
        if ( !(pg = alloc_domheap_pages(r->filler, order, 0)) )
            return -ENOMEM;
        mark_block(r, page_to_mfn(pg));
    }
    return 0;
}

static int host_setup(struct run *r)
{
    const struct run_config *c = &r->cfg;
    int rc = hosted_machine_init(c->ram, c->nr_ram);

    if ( rc )
        return fprintf(stderr, "p2mctl: %s: cannot build the host: %s\n",
                       c->path, strerror(-rc)), -1;
    r->have_host = true;
    heap_get_stats(&r->host);
    r->frag_held = calloc((c->ram[c->nr_ram - 1].end >> PAGE_ORDER_1G) / 8 + 1,
                          1);
    if ( !r->frag_held )
        return fprintf(stderr, "p2mctl: out of memory\n"), -1;
    /* The filler stands for the other domains of the host (dom0...). */
    r->filler = domain_create(RUN_FILLER_ID, P2M_FORMAT_NPT,
                              r->host.total_pages, 1, &rc);
    if ( r->filler )
    {
        mark_block(r, r->filler->p2m.root);
        rc = hold_dom0_mem(r);
    }
    if ( rc )
        return fprintf(stderr, "p2mctl: %s: cannot set up dom0 with %llu "
                       "MiB: %s\n", c->path, (unsigned long long)c->dom0_mem,
                       strerror(-rc)), -1;
    if ( c->fragment == CFG_FRAG_PERCENT )
        rc = fragment_partial(r, c->frag_pct);
    else
        rc = heap_fragment(c->fragment == CFG_FRAG_NO1G ? FRAG_NO1G :
                           c->fragment == CFG_FRAG_NO2M ? FRAG_NO2M :
                           FRAG_NONE);
    if ( rc )
        return fprintf(stderr, "p2mctl: %s: cannot fragment the host: %s\n",
                       c->path, strerror(-rc)), -1;
    heap_get_stats(&r->host);
    return 0;
}

/* Undo what host_setup did, however far it got; every frame must be free. */
static void host_teardown(struct run *r)
{
    struct heap_stats h;

    free(r->frag_held);
    r->frag_held = NULL;
    if ( !r->have_host )
        return;
    r->have_host = false;
    if ( r->filler )
        domain_destroy(r->filler);
    heap_unfragment();
    r->host_heap_bad = heap_check_accounting();
    heap_get_stats(&h);
    r->host_leak = h.total_pages - h.free_pages;
    hosted_machine_fini();
}

/* --- build --- */

static void build_progress(void *ctx, struct domain *d, uint64_t done,
                          uint64_t total)
{
    struct run *r = ctx;

    phase_detail(r, "%.0f%% of %llu pages", total ? 100.0 * done / total : 0,
                 (unsigned long long)total);
    r->d = d;                   /* sampled while the builder holds it */
    run_sample(r, false);
    r->d = NULL;
}

static int build_phase(struct run *r)
{
    const struct run_config *c = &r->cfg;
    struct xc_hvm_build_args a = {
        .domid = RUN_GUEST_ID, .fmt = c->fmt, .vcpus = c->vcpus,
        .mem_mib = c->memory, .maxmem_mib = c->maxmem,
        .mmio_hole_mib = c->mmio_hole, .max_order = c->max_order,
        .cpu_1g = c->cpu_1g, .progress = build_progress, .progress_ctx = r,
    };
    struct heap_stats h;
    int rc;

    phase_begin(r, "build");
    rc = xc_hvm_build(&a, &r->build, &r->d);
    r->build_rc = rc;
    if ( rc )
    {
        heap_get_stats(&h);
        r->free_after = h.free_pages;
        r->leak = h.free_pages != r->free_before;
        fprintf(stderr, "p2mctl: %s: building the guest failed: %s (%s); "
                "%s\n", c->path, errno_name(rc) ? errno_name(rc) : "?",
                strerror(-rc), h.free_pages == r->free_before ?
                "nothing was left behind" : "HOST PAGES WERE NOT RETURNED");
        phase_end(r);
        return -1;
    }
    r->target_pages = (c->target << 8) - VGA_PAGES;
    phase_end(r);
    return 0;
}

/* --- the workload, and the toolstack's answer to PoD exhaustion --- */

static void give_up(struct run *r, const char *why)
{
    r->oom_failed = why;
    domain_crash(r->d, why, INVALID_GFN);
    workload_stop(&r->wl);
}

/*
 * Some vCPU is paused for memory: raise the PoD target by oom_step (as a
 * toolstack does on the out-of-memory event) and let the vCPUs run again.
 */
static void handle_oom(struct run *r)
{
    struct pod_event ev[POD_EVENTS];
    struct memory_pod_info pi;
    unsigned int n = p2m_pod_events(r->d, ev, POD_EVENTS), i;
    uint64_t gfn = 0, vcpu = 0, next;
    bool paused = false;

    for ( i = 0; i < n; i++ )
        if ( ev[i].kind == POD_EV_PAUSED )
            gfn = ev[i].gfn, vcpu = ev[i].vcpu;
    for ( i = 0; i < r->d->nr_vcpus; i++ )
        paused |= __atomic_load_n(&r->d->vcpu[i].paused, __ATOMIC_ACQUIRE);
    if ( !paused || r->oom_failed )
        return;
    xc_domain_get_pod_target(RUN_GUEST_ID, &pi);
    next = MIN(pi.max_pages, pi.target + (r->cfg.oom_step << 8));
    if ( next == pi.target )
        return give_up(r, "out of PoD memory with the target at maxmem");
    if ( xc_domain_set_pod_target(RUN_GUEST_ID, next) )
        return give_up(r, "the host has no memory to raise the PoD target");
    if ( r->nr_oom < RUN_MAX_OOM )
        r->oom[r->nr_oom++] = (struct run_oom){ run_now(r), vcpu, gfn,
                                                pi.target, next };
    r->oom_total++;
    p2m_pod_resume(r->d);
}

static int run_workload(struct run *r, enum wl_phase ph, struct wl_vcpu *sum)
{
    uint64_t done, total;
    int rc = workload_start(&r->wl, ph);

    if ( rc )
        return fprintf(stderr, "p2mctl: cannot start the vCPU threads: %s\n",
                       strerror(-rc)), -1;
    while ( workload_progress(&r->wl, &done, &total) )
    {
        handle_oom(r);
        phase_detail(r, "%llu of %llu guest accesses",
                     (unsigned long long)done, (unsigned long long)total);
        run_sample(r, false);
        usleep(10000);
    }
    workload_join(&r->wl);
    handle_oom(r);
    workload_totals(&r->wl, sum);
    r->crashed |= r->d->crashed;
    return 0;
}

static int workload_phase(struct run *r, const char *name, enum wl_phase ph,
                          struct wl_vcpu *sum)
{
    int rc;

    phase_begin(r, name);
    rc = run_workload(r, ph, sum);
    phase_end(r);
    return rc;
}

/* --- balloon, sweep, log-dirty --- */

/* Pages the guest believes it has: populated plus PoD entries. */
static uint64_t believed(struct domain *d)
{
    struct pod_stats s;

    p2m_pod_get_stats(d, &s);
    return s.populated + s.entry_count;
}

/* The largest aligned chunk ending at g, above start, of at most need. */
static unsigned int chunk_order(uint64_t g, uint64_t start, uint64_t need)
{
    unsigned int o;

    for ( o = PAGE_ORDER_1G; o; o -= PAGE_ORDER_2M )
        if ( is_aligned(g, o) && g - start >= (1ull << o) &&
             (1ull << o) <= need )
            break;
    return o;
}

/*
 * The guest's balloon driver: give RAM back from the top down, in the
 * largest aligned chunks, until the guest holds its target.  Then the
 * toolstack puts the PoD target back where the scenario wants it.
 */
static int balloon_phase(struct run *r)
{
    const struct xc_hvm_layout *l = &r->build.layout;
    uint64_t held = believed(r->d), g, floor = l->top;
    struct xc_memop_result res;
    unsigned int i, o;
    int rc = 0;

    phase_begin(r, "balloon");
    for ( i = l->nr_ram; i-- > 0 && held > r->target_pages && !rc; )
        for ( g = l->ram[i].end; g > l->ram[i].start &&
              held > r->target_pages; g -= 1ull << o )
        {
            o = chunk_order(g, l->ram[i].start, held - r->target_pages);
            rc = xc_domain_decrease_reservation(RUN_GUEST_ID,
                                                g - (1ull << o), 1, o, &res);
            held -= MIN(held, res.pages);
            r->balloon_released += res.pages;
            if ( rc )
            {
                fprintf(stderr, "p2mctl: balloon: %llu pages released, "
                        "then decrease_reservation failed: %s\n",
                        (unsigned long long)r->balloon_released,
                        strerror(-rc));
                rc = -1;
                break;
            }
            r->balloon_chunks[p2m_level_idx(p2m_order_level(o))]++;
            floor = g - (1ull << o);
            run_sample(r, false);
        }
    r->balloon_floor = floor;
    workload_set_floor(&r->wl, floor);
    if ( !rc && r->build.pod )
        rc = xc_domain_set_pod_target(RUN_GUEST_ID, r->target_pages);
    r->held_after = believed(r->d);
    r->ran_balloon = true;
    phase_end(r);
    return rc;
}

static void sweep_phase(struct run *r)
{
    phase_begin(r, "sweep");
    r->swept = p2m_pod_sweep(r->d, POD_SWEEP_ALL);
    r->ran_sweep = true;
    phase_end(r);
}

/* PoD fills so far, in pages. */
static uint64_t pod_filled_pages(struct domain *d)
{
    struct pod_stats s;

    p2m_pod_get_stats(d, &s);
    return s.filled[POD_4K] + (s.filled[POD_2M] << PAGE_ORDER_2M) +
           (s.filled[POD_1G] << PAGE_ORDER_1G);
}

/* Check the dirty bitmap of [0, top) against the pages the vCPUs wrote. */
static int logdirty_collect(struct run *r)
{
    uint64_t top = r->build.layout.top, n = MIN(r->cfg.dirty, r->wl.ram_pages);
    uint8_t *bm = calloc(top / 8 + 1, 1);
    uint64_t i, g;

    if ( !bm )
        return fprintf(stderr, "p2mctl: out of memory\n"), -1;
    r->dirty_found = p2m_logdirty_read(&r->d->p2m, _gfn(0), top, bm, true);
    r->dirty_expected = n;
    for ( i = 0; i < n; i++ )
    {
        g = workload_dirty_gfn(&r->wl, i);
        r->dirty_missing += !(bm[g / 8] & (1u << (g % 8)));
    }
    free(bm);
    return r->dirty_found < 0 ? -1 : 0;
}

/*
 * Log-dirty round: the vCPUs write a spread of pages (splitting the
 * superpages they hit), the toolstack reads and cleans the bitmap, and
 * turning log-dirty off folds the split superpages back.
 */
static int logdirty_phase(struct run *r)
{
    struct p2m_stats p0, p1;
    uint64_t filled0 = pod_filled_pages(r->d);
    int rc;

    phase_begin(r, "log-dirty");
    p2m_get_stats(&r->d->p2m, &p0);
    rc = p2m_logdirty_enable(&r->d->p2m, true);
    if ( !rc )
        rc = run_workload(r, WL_PHASE_DIRTY, &r->dirty);
    if ( !rc )
        rc = logdirty_collect(r);
    r->dirty_pod_pages = pod_filled_pages(r->d) - filled0;
    p2m_get_stats(&r->d->p2m, &p1);
    r->dirty_splits = p1.splits - p0.splits;
    p2m_logdirty_enable(&r->d->p2m, false);
    p2m_get_stats(&r->d->p2m, &p1);
    r->dirty_merges = p1.merges - p0.merges;
    r->ran_logdirty = true;
    phase_end(r);
    return rc;
}

/* --- audit and destroy --- */

static void audit_phase(struct run *r)
{
    static struct p2m_audit_report rep;
    unsigned int i;

    phase_begin(r, "audit");
    r->audit_errors = p2m_audit(&r->d->p2m, &rep);
    for ( i = 0; i < rep.nr_recorded; i++ )
        fprintf(stderr, "p2mctl: audit: %s at level %u gfn %#llx entry "
                "%#llx (%#llx)\n", p2m_audit_code_name(rep.err[i].code),
                rep.err[i].level, (unsigned long long)rep.err[i].gfn,
                (unsigned long long)rep.err[i].entry,
                (unsigned long long)rep.err[i].detail);
    r->pod_bad = p2m_pod_check(r->d);
    r->heap_bad = heap_check_accounting();
    phase_end(r);
}

static void destroy_phase(struct run *r)
{
    struct heap_stats h;

    phase_begin(r, "destroy");
    domain_destroy(r->d);
    r->d = NULL;
    heap_get_stats(&h);
    r->free_after = h.free_pages;
    r->leak = r->free_after != r->free_before;
    phase_end(r);
}

/* --- the job --- */

static int usage(void)
{
    fprintf(stderr, "usage: p2mctl run <scenario.cfg> [--json] "
            "[--plot out.png] [--dump file] [--build-only]\n");
    return P2MCTL_BAD;
}

static int parse_args(struct run_opts *o, int argc, char **argv)
{
    int i;

    memset(o, 0, sizeof(*o));
    for ( i = 1; i < argc; i++ )
    {
        if ( !strcmp(argv[i], "--json") )
            o->json = true;
        else if ( !strcmp(argv[i], "--build-only") )
            o->build_only = true;
        else if ( !strcmp(argv[i], "--plot") && i + 1 < argc && !o->plot )
            o->plot = argv[++i];
        else if ( !strcmp(argv[i], "--dump") && i + 1 < argc && !o->dump )
            o->dump = argv[++i];
        else if ( argv[i][0] == '-' || o->cfg )
            return -1;
        else
            o->cfg = argv[i];
    }
    return o->cfg ? 0 : -1;
}

/* The guest's life after the build; stops early if it crashed. */
static int guest_phases(struct run *r)
{
    if ( workload_init(&r->wl, &r->cfg, r->d, &r->build.layout,
                       r->target_pages) )
        return -1;
    r->have_wl = true;
    if ( workload_phase(r, "boot", WL_PHASE_BOOT, &r->boot) || r->crashed )
        return 0;
    if ( balloon_phase(r) )
        return -1;
    if ( r->build.pod )
        sweep_phase(r);
    if ( logdirty_phase(r) || r->crashed )
        return 0;
    return workload_phase(r, "verify", WL_PHASE_VERIFY, &r->verify);
}

static bool run_ok(const struct run *r)
{
    return !r->crashed && !r->oom_failed && !r->boot.bad && !r->dirty.bad &&
           !r->verify.bad && !r->boot.error && !r->dirty.error &&
           !r->verify.error && !r->dirty_missing && !r->audit_errors &&
           !r->pod_bad && !r->heap_bad && !r->leak && !r->host_leak &&
           !r->host_heap_bad;
}

/* Build, run and destroy the guest: once built, every path destroys it. */
static int run_job(struct run *r)
{
    struct heap_stats h;
    FILE *dump = r->opt.dump_file;
    int rc;

    heap_get_stats(&h);
    r->free_before = h.free_pages;
    r->opt.dump_file = NULL;
    if ( build_phase(r) )
    {
        if ( dump )
            fclose(dump);
        return -1;
    }
    if ( !r->opt.json )
        xc_hvm_build_print(stdout, &r->build);
    rc = dump ? report_dump(r, dump, r->opt.dump) : 0;
    if ( !rc && !r->opt.build_only )
        rc = guest_phases(r);
    audit_phase(r);
    destroy_phase(r);
    return rc;
}

/*
 * The output files, checked before anything is built: the dump is opened
 * now, and the plot must not name a directory.
 */
static int open_outputs(struct run_opts *o)
{
    const char *slash = o->plot ? strrchr(o->plot, '/') : NULL;
    char dir[PATH_MAX];
    struct stat st;

    if ( o->plot && !stat(o->plot, &st) && S_ISDIR(st.st_mode) )
        return fprintf(stderr, "p2mctl: --plot %s: %s; nothing was built\n",
                       o->plot, strerror(EISDIR)), -1;
    /* The plot and its series are written at the end, into its directory. */
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - o->plot) + 1 : 1,
             slash ? o->plot : ".");
    if ( o->plot && access(dir, W_OK | X_OK) )
        return fprintf(stderr, "p2mctl: --plot %s: %s: %s; nothing was "
                       "built\n", o->plot, dir, strerror(errno)), -1;
    if ( o->dump && !(o->dump_file = fopen(o->dump, "w")) )
        return fprintf(stderr, "p2mctl: --dump %s: %s; nothing was built\n",
                       o->dump, strerror(errno)), -1;
    return 0;
}

static void ticker_stop(struct run *r)
{
    pthread_mutex_lock(&r->lock);
    r->ticker_stop = true;
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->ticker, NULL);
}

int p2mctl_run(int argc, char **argv)
{
    static struct run run;
    struct run *r = &run;
    int rc, status;

    if ( parse_args(&r->opt, argc, argv) )
        return usage();
    if ( config_load(r->opt.cfg, &r->cfg) )
        return fprintf(stderr, "p2mctl: %s: not valid; nothing was built\n",
                       r->opt.cfg), P2MCTL_BAD;
    if ( workload_load(&r->wl, &r->cfg) )
        return fprintf(stderr, "p2mctl: %s: nothing was built\n",
                       r->opt.cfg), P2MCTL_BAD;
    if ( open_outputs(&r->opt) )
    {
        workload_fini(&r->wl);
        return P2MCTL_BAD;
    }
    pthread_mutex_init(&r->lock, NULL);
    r->t0 = mono();
    if ( host_setup(r) )
    {
        if ( r->opt.dump_file )
            fclose(r->opt.dump_file);
        host_teardown(r);
        workload_fini(&r->wl);
        return P2MCTL_BAD;
    }
    r->have_ticker = !pthread_create(&r->ticker, NULL, ticker_main, r);
    rc = run_job(r);
    if ( r->have_ticker )
        ticker_stop(r);
    workload_fini(&r->wl);     /* the trace, even if init never ran */
    host_teardown(r);
    status = rc ? P2MCTL_BAD : run_ok(r) ? P2MCTL_OK : P2MCTL_NOT_OK;
    r->status = status;
    if ( r->opt.json )
        report_json(stdout, r);
    else if ( !rc || r->nr_snaps > 1 )
        report_table(stdout, r);
    if ( r->opt.plot && report_plot(r, r->opt.plot) && status == P2MCTL_OK )
        status = P2MCTL_NOT_OK;
    free(r->series);
    return status;
}

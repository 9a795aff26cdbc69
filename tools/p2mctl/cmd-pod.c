/*
 * p2mctl commands for populate-on-demand: mark ranges PoD, set the memory
 * target, balloon, sweep, let the guest's vCPUs touch memory (one thread
 * per vCPU), resume them after an out-of-memory pause, set the policy and
 * read the events.  Each parses every argument before its first call into
 * the module.
 */
#include "p2mctl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <asm-x86/p2m-pod.h>
#include <xc_domain.h>
#include <xen/errno.h>
#include <xen/memory.h>

/* What `touch ... write` puts in every word: as `write`'s default value. */
#define TOUCH_TAG 0x5a5a5a5a5a5a5a5aull

static uint64_t touch_tag(uint64_t gfn)
{
    return gfn ^ TOUCH_TAG;
}

/* A size in bytes that must be whole pages; *pages gets the page count. */
static int arg_pages(struct cli *c, const char *what, const char *s,
                     uint64_t *pages)
{
    uint64_t bytes;

    if ( arg_size(c, what, s, &bytes) )
        return -1;
    if ( bytes & (PAGE_SIZE - 1) )
        return cli_err(c, "bad %s '%s': not a multiple of 4K", what, s);
    *pages = bytes >> PAGE_SHIFT;
    return 0;
}

/* B: the pages the guest believes it has, P + entry_count. */
static uint64_t believed_pages(const struct pod_stats *s)
{
    return s->populated + s->entry_count;
}

/* pod: [gfn, gfn + 2^order) becomes one PoD entry of that order. */
int cmd_pod(struct cli *c, unsigned int argc, char **argv)
{
    struct xc_memop_result res;
    unsigned int order;
    struct domain *d;
    uint64_t gfn;
    int64_t rc;

    if ( arg_domain(c, argv[1], &d) || arg_u64(c, "gfn", argv[2], &gfn) ||
         arg_order(c, argv[3], &order) )
        return -1;
    rc = xc_domain_populate_physmap(d->domain_id, gfn, 1, order, MEMOP_POD,
                                    &res);
    if ( rc == -EBUSY )
        return cli_errno(c, rc, "the range holds RAM mappings");
    return rc < 0 ? cli_errno(c, (int)rc, NULL) : 0;
}

/*
 * target: set the PoD memory target; the cache grows (1G, then 2M, then 4K
 * chunks) or shrinks towards it.  Above maxmem: EINVAL, nothing changes.
 */
int cmd_target(struct cli *c, unsigned int argc, char **argv)
{
    struct domain *d;
    uint64_t pages = 0;
    int rc;

    if ( arg_domain(c, argv[1], &d) ||
         arg_pages(c, "size", argv[2], &pages) )
        return -1;
    rc = memory_set_pod_target(d, pages);
    if ( rc == -EINVAL )
        return cli_errno(c, rc, "the target is above the domain's maxmem");
    return rc ? cli_errno(c, rc, NULL) : 0;
}

/* --- balloon --- */

/* The guest's memory (RAM leaves and PoD entries) as ascending ranges. */
struct guest_ram {
    struct { uint64_t s, e; } *r;
    size_t n, cap;
    uint64_t pages;
};

/* p2m_for_each_leaf callback (P2M lock held: no calls into the P2M). */
static int note_guest_ram(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    struct guest_ram *g = ctx;
    uint64_t s = gfn_x(gfn), e = s + (1ull << l->order);

    if ( !p2m_type_is_ram(l->type) && l->type != p2m_populate_on_demand )
        return 0;
    g->pages += e - s;
    if ( g->n && g->r[g->n - 1].e == s )
    {
        g->r[g->n - 1].e = e;
        return 0;
    }
    if ( g->n == g->cap )
    {
        size_t cap = g->cap * 2 + 16;
        void *r = realloc(g->r, cap * sizeof(*g->r));

        if ( !r )
            return -ENOMEM;
        g->r = r;
        g->cap = cap;
    }
    g->r[g->n].s = s;
    g->r[g->n++].e = e;
    return 0;
}

/* The largest order of an aligned chunk that ends at b and starts >= a. */
static unsigned int top_chunk_order(uint64_t a, uint64_t b)
{
    unsigned int order;

    for ( order = PAGE_ORDER_1G; order; order -= PAGE_ORDER_2M )
        if ( is_aligned(b, order) && b - a >= (1ull << order) )
            break;
    return order;
}

/* What a balloon gave back so far, and the error that stopped it. */
struct balloon {
    domid_t id;
    uint64_t pages;
    unsigned int calls;
    int rc;
};

/*
 * Give back [a, b) from the top down, in the largest aligned chunks; each
 * run of chunks of one order is one decrease_reservation.  Stops at the
 * first error (b->rc), with b->pages what was released before it.
 */
static void release_range(struct balloon *bl, uint64_t a, uint64_t b)
{
    struct xc_memop_result res;

    while ( b > a && !bl->rc )
    {
        unsigned int order = top_chunk_order(a, b);
        uint64_t n = 0;

        do
        {
            b -= 1ull << order;
            n++;
        } while ( b > a && top_chunk_order(a, b) == order );
        bl->rc = xc_domain_decrease_reservation(bl->id, b, n, order, &res);
        bl->pages += res.pages;
        bl->calls += res.calls;
    }
}

/* Release need pages from the top of the guest's memory downward. */
static void balloon_release(struct balloon *bl, const struct guest_ram *g,
                            uint64_t need)
{
    size_t i;

    for ( i = g->n; i-- > 0 && need && !bl->rc; )
    {
        uint64_t take = MIN(need, g->r[i].e - g->r[i].s);

        release_range(bl, g->r[i].e - take, g->r[i].e);
        need -= take;
    }
}

/* "d1: 256 of 512 pages released, then: ENOMEM (errno 12): ..." */
static int report_stopped(struct cli *c, domid_t id, uint64_t done,
                          uint64_t asked, const char *what, int rc)
{
    const char *name = errno_name(rc);

    return cli_err(c, "d%u: %llu of %llu %s, then: %s (errno %d): %s", id,
                   (unsigned long long)done, (unsigned long long)asked, what,
                   name ? name : "error", rc < 0 ? -rc : rc,
                   errno_meaning(rc));
}

/*
 * balloon: the guest's balloon driver gives pages back until it holds
 * <size> (B = P + entry_count); prints what was released and the new B.
 * A balloon that fails half-way prints the same line (what it did) and
 * then the error that stopped it.
 */
int cmd_balloon(struct cli *c, unsigned int argc, char **argv)
{
    struct guest_ram g = { NULL, 0, 0, 0 };
    struct balloon bl = { 0, 0, 0, 0 };
    struct pod_stats s;
    struct domain *d;
    uint64_t want = 0, have;
    int64_t rc;

    if ( arg_domain(c, argv[1], &d) ||
         arg_pages(c, "size", argv[2], &want) )
        return -1;
    p2m_pod_get_stats(d, &s);
    have = believed_pages(&s);
    if ( want > have )
        return cli_errno(c, -EINVAL, "the balloon can only give pages back: "
                         "the guest has fewer pages than that");
    rc = p2m_for_each_leaf(&d->p2m, note_guest_ram, &g);
    if ( !rc && have - want > g.pages )
    {
        free(g.r);
        return cli_errno(c, -EINVAL, "the guest holds pages it has not "
                         "mapped: the balloon cannot give them back");
    }
    bl.id = d->domain_id;
    if ( !rc )
        balloon_release(&bl, &g, have - want);
    free(g.r);
    if ( rc < 0 )
        return cli_errno(c, (int)rc, NULL);
    p2m_pod_get_stats(d, &s);
    printf("{\"released\": %llu, \"asked\": %llu, \"calls\": %u, "
           "\"believed_pages\": %llu, \"tot_pages\": %llu, "
           "\"pod_entries\": %llu}\n", (unsigned long long)bl.pages,
           (unsigned long long)(have - want), bl.calls,
           (unsigned long long)believed_pages(&s),
           (unsigned long long)s.tot_pages,
           (unsigned long long)s.entry_count);
    if ( bl.rc )
        return report_stopped(c, d->domain_id, bl.pages, have - want,
                              "pages released", bl.rc);
    if ( bl.pages != have - want )
        return cli_err(c, "released %llu of the %llu pages asked for",
                       (unsigned long long)bl.pages,
                       (unsigned long long)(have - want));
    return 0;
}

/*
 * decrease: one decrease_reservation request as a guest issues it, nr
 * extents of 2^order pages from gfn, continuations included.  Prints the
 * extents done, the pages released and the calls it took; a request that
 * stopped on an error prints the same and then the error.
 */
int cmd_decrease(struct cli *c, unsigned int argc, char **argv)
{
    struct xc_memop_result res;
    uint64_t gfn, nr, order;
    struct domain *d;
    int rc;

    if ( arg_domain(c, argv[1], &d) || arg_u64(c, "gfn", argv[2], &gfn) ||
         arg_u64(c, "nr", argv[3], &nr) ||
         arg_u64(c, "order", argv[4], &order) )
        return -1;
    if ( order > PAGE_ORDER_1G )
        return cli_errno(c, -EDOM, "an extent's order is 0 to 18");
    rc = xc_domain_decrease_reservation(d->domain_id, gfn, nr,
                                        (unsigned int)order, &res);
    if ( rc == -ERANGE || rc == -EDOM || rc == -EINVAL )
        return cli_errno(c, rc, NULL);      /* refused: nothing done */
    printf("{\"nr\": %llu, \"nr_done\": %llu, \"released\": %llu, "
           "\"calls\": %u}\n", (unsigned long long)nr,
           (unsigned long long)res.nr_done, (unsigned long long)res.pages,
           res.calls);
    if ( rc )
        return report_stopped(c, d->domain_id, res.nr_done, nr,
                              "extents done", rc);
    return 0;
}

/* sweep: reclaim all-zero guest pages into the cache (default mode all). */
int cmd_sweep(struct cli *c, unsigned int argc, char **argv)
{
    static const struct { const char *name; enum pod_sweep_mode mode; }
        modes[] = { { "all", POD_SWEEP_ALL }, { "eager", POD_SWEEP_EAGER },
                    { "emergency", POD_SWEEP_EMERGENCY } };
    const char *m = argc > 2 ? argv[2] : "all";
    struct domain *d;
    unsigned int i;
    int64_t rc;

    if ( arg_domain(c, argv[1], &d) )
        return -1;
    for ( i = 0; i < ARRAY_SIZE(modes) && strcmp(m, modes[i].name); i++ )
        ;
    if ( i == ARRAY_SIZE(modes) )
        return cli_err(c, "bad mode '%s': expected all, eager or emergency",
                       m);
    rc = p2m_pod_sweep(d, modes[i].mode);
    if ( rc < 0 )
        return cli_errno(c, (int)rc, NULL);
    printf("{\"reclaimed\": %lld}\n", (long long)rc);
    return 0;
}

/* --- touch and resume: the guest's vCPUs at work --- */

enum touch_mode { TOUCH_READ, TOUCH_WRITE, TOUCH_ZERO, TOUCH_VERIFY };

static const char *const touch_modes[] = {
    [TOUCH_READ] = "read", [TOUCH_WRITE] = "write", [TOUCH_ZERO] = "zero",
    [TOUCH_VERIFY] = "verify",
};

/*
 * The unfinished part of a domain's last touch: vCPU i (of nr) does the
 * gfns next[i], next[i] + nr, ... up to last.  A new touch replaces it.
 */
struct touch_work {
    bool pending;
    enum touch_mode mode;
    unsigned int nr;
    uint64_t last;
    uint64_t next[MAX_VCPUS];
};

static struct touch_work works[MAX_DOMAINS];

/* A new domain with this id has no unfinished work. */
void pod_touch_forget(domid_t id)
{
    works[id].pending = false;
}

/* One vCPU's share, run by its own thread. */
struct touch_share {
    pthread_t th;
    struct vcpu *v;
    enum touch_mode mode;
    uint64_t next, last, stride;
    uint64_t done, tagged, zero, other, sum;
    int rc;                     /* 0, -EAGAIN (paused), -EFAULT, ... */
};

/* What a read found: the page's tag, zero, or something else. */
enum { FOUND_TAG, FOUND_ZERO, FOUND_OTHER };

/* read: the first word only; verify: every word of the page. */
static int touch_classify(struct touch_share *s, uint64_t g)
{
    uint64_t w;
    int rc;

    if ( s->mode == TOUCH_READ )
    {
        rc = hosted_guest_read(s->v, _gfn(g), 0, &w);
        if ( rc )
            return rc;
        s->sum += w;
        return w == touch_tag(g) ? FOUND_TAG : w ? FOUND_OTHER : FOUND_ZERO;
    }
    rc = hosted_guest_check_page(s->v, _gfn(g), touch_tag(g));
    if ( rc <= 0 )
        return rc ? rc : FOUND_TAG;
    rc = hosted_guest_check_page(s->v, _gfn(g), 0);
    if ( rc < 0 )
        return rc;
    return rc ? FOUND_OTHER : FOUND_ZERO;
}

static int touch_page(struct touch_share *s, uint64_t g)
{
    int rc;

    switch ( s->mode )
    {
    case TOUCH_WRITE:
        return hosted_guest_fill_page(s->v, _gfn(g), touch_tag(g));
    case TOUCH_ZERO:
        return hosted_guest_fill_page(s->v, _gfn(g), 0);
    default:
        rc = touch_classify(s, g);
        if ( rc < 0 )
            return rc;
        s->tagged += rc == FOUND_TAG;
        s->zero += rc == FOUND_ZERO;
        s->other += rc == FOUND_OTHER;
        return 0;
    }
}

static void *touch_thread(void *arg)
{
    struct touch_share *s = arg;

    for ( ; s->next <= s->last; s->next += s->stride )
    {
        s->rc = touch_page(s, s->next);
        if ( s->rc )
            break;
        s->done++;
    }
    return NULL;
}

/* Run every share, one thread per vCPU when there are several. */
static int touch_run(struct cli *c, struct touch_share *sh, unsigned int nr)
{
    unsigned int i, started;
    int rc = 0;

    if ( nr == 1 )
    {
        touch_thread(&sh[0]);
        return 0;
    }
    for ( started = 0; started < nr; started++ )
        if ( pthread_create(&sh[started].th, NULL, touch_thread,
                            &sh[started]) )
            break;
    for ( i = 0; i < started; i++ )
        pthread_join(sh[i].th, NULL);
    if ( started < nr )
        rc = cli_err(c, "cannot start the thread of vCPU %u", started);
    return rc;
}

static uint64_t share_left(const struct touch_work *w, unsigned int i)
{
    return w->next[i] <= w->last ? (w->last - w->next[i]) / w->nr + 1 : 0;
}

/* The JSON line of a touch or resume. */
static void touch_report(struct domain *d, const struct touch_work *w,
                         const struct touch_share *sh)
{
    uint64_t done = 0, left = 0, tagged = 0, zero = 0, other = 0, sum = 0;
    const struct touch_share *stop = NULL;
    bool paused = false;
    unsigned int i;

    for ( i = 0; i < w->nr; i++ )
    {
        done += sh[i].done;
        left += share_left(w, i);
        tagged += sh[i].tagged, zero += sh[i].zero, other += sh[i].other;
        sum += sh[i].sum;
        if ( sh[i].rc && (!stop || sh[i].next < stop->next) )
            stop = &sh[i];
    }
    for ( i = 0; i < d->nr_vcpus; i++ )
        paused |= __atomic_load_n(&d->vcpu[i].paused, __ATOMIC_ACQUIRE);
    printf("{\"done\": %llu, \"remaining\": %llu, \"stopped\": ",
           (unsigned long long)done, (unsigned long long)left);
    if ( stop )
        printf("{\"vcpu\": %u, \"gfn\": %llu}", stop->v->vcpu_id,
               (unsigned long long)stop->next);
    else
        printf("null");
    printf(", \"paused\": %s, \"crashed\": %s", paused ? "true" : "false",
           d->crashed ? "true" : "false");
    if ( w->mode == TOUCH_READ || w->mode == TOUCH_VERIFY )
        printf(", \"tagged\": %llu, \"zero\": %llu, \"other\": %llu",
               (unsigned long long)tagged, (unsigned long long)zero,
               (unsigned long long)other);
    if ( w->mode == TOUCH_READ )
        printf(", \"checksum\": %llu", (unsigned long long)sum);
    printf("}\n");
}

/*
 * Run the pending work of d until it is done or every vCPU with work left
 * has stopped (paused for memory, or the domain crashed); remember what is
 * left and print the JSON line.
 */
static int touch_work_run(struct cli *c, struct domain *d,
                          struct touch_work *w)
{
    struct touch_share sh[MAX_VCPUS];
    unsigned int i, nr = w->pending ? w->nr : 0;
    int rc;

    memset(sh, 0, sizeof(sh));
    for ( i = 0; i < nr; i++ )
        sh[i] = (struct touch_share){ .v = &d->vcpu[i], .mode = w->mode,
                                      .next = w->next[i], .last = w->last,
                                      .stride = w->nr };
    rc = nr ? touch_run(c, sh, nr) : 0;
    for ( i = 0; i < nr; i++ )
        w->next[i] = sh[i].next;
    w->nr = nr;
    w->pending = false;
    for ( i = 0; i < nr; i++ )
        w->pending |= share_left(w, i) != 0;
    if ( rc )
        return rc;
    for ( i = 0; i < nr; i++ )
        if ( sh[i].rc && sh[i].rc != -EAGAIN &&
             !(sh[i].rc == -EFAULT && d->crashed) )
            return cli_errno(c, sh[i].rc, NULL);
    touch_report(d, w, sh);
    return 0;
}

static int touch_vcpus(struct cli *c, struct domain *d, const char *s,
                       unsigned int *nr)
{
    uint64_t v = 1;

    if ( s && arg_u64(c, "vcpus", s, &v) )
        return -1;
    if ( v == 0 || v > d->nr_vcpus )
        return cli_err(c, "bad vcpus=%s: the domain has %u vCPU(s) (create "
                       "it with vcpus=N, at most %u)", s, d->nr_vcpus,
                       MAX_VCPUS);
    *nr = (unsigned int)v;
    return 0;
}

/*
 * touch: the guest's vCPUs access every page of [first, last]; vCPU i of
 * N takes first + i, first + i + N, ...  A pause or crash ends the touch
 * (it is not an error); resume continues what is left.
 */
int cmd_touch(struct cli *c, unsigned int argc, char **argv)
{
    static const char *const keys[] = { "vcpus" };
    struct touch_work w = { .pending = true };
    uint64_t first;
    struct domain *d;
    const char *opt[1];
    unsigned int i;

    if ( arg_domain(c, argv[1], &d) ||
         arg_u64(c, "gfn-first", argv[2], &first) ||
         arg_u64(c, "gfn-last", argv[3], &w.last) ||
         arg_options(c, argc, argv, 5, keys, opt, 1) ||
         touch_vcpus(c, d, opt[0], &w.nr) )
        return -1;
    for ( w.mode = 0; w.mode < ARRAY_SIZE(touch_modes) &&
                      strcmp(argv[4], touch_modes[w.mode]); w.mode++ )
        ;
    if ( w.mode == ARRAY_SIZE(touch_modes) )
        return cli_err(c, "bad mode '%s': expected read, write, zero or "
                       "verify", argv[4]);
    if ( first > w.last )
        return cli_err(c, "gfn-first %#llx is above gfn-last %#llx",
                       (unsigned long long)first,
                       (unsigned long long)w.last);
    if ( w.last >= P2M_MAX_GFN )
        return cli_errno(c, -ERANGE, NULL);
    for ( i = 0; i < w.nr; i++ )
        w.next[i] = first + i;
    works[d->domain_id] = w;
    return touch_work_run(c, d, &works[d->domain_id]);
}

/* resume: let paused vCPUs run, then finish the domain's last touch. */
int cmd_resume(struct cli *c, unsigned int argc, char **argv)
{
    struct domain *d;

    if ( arg_domain(c, argv[1], &d) )
        return -1;
    p2m_pod_resume(d);
    return touch_work_run(c, d, &works[d->domain_id]);
}

/* --- policy and events --- */

/* policy: what exhaustion does to the faulting vCPU: pause or crash. */
int cmd_policy(struct cli *c, unsigned int argc, char **argv)
{
    static const char *const keys[] = { "oom" };
    struct domain *d;
    const char *opt[1];

    if ( arg_domain(c, argv[1], &d) ||
         arg_options(c, argc, argv, 2, keys, opt, 1) )
        return -1;
    if ( !opt[0] || (strcmp(opt[0], "pause") && strcmp(opt[0], "crash")) )
        return cli_err(c, "bad policy: expected oom=pause or oom=crash");
    p2m_pod_set_policy(d, !strcmp(opt[0], "crash"));
    return 0;
}

static const char *event_name(enum pod_event_kind k)
{
    switch ( k )
    {
    case POD_EV_OOM:     return "out_of_memory";
    case POD_EV_PAUSED:  return "paused";
    case POD_EV_RESUMED: return "resumed";
    case POD_EV_CRASHED: return "crashed";
    }
    return "unknown";
}

/* events: one JSON line per pending event, oldest first (drains them). */
int cmd_events(struct cli *c, unsigned int argc, char **argv)
{
    struct pod_event ev[POD_EVENTS];
    struct domain *d;
    unsigned int n, i;

    if ( arg_domain(c, argv[1], &d) )
        return -1;
    n = p2m_pod_events(d, ev, POD_EVENTS);
    for ( i = 0; i < n; i++ )
        printf("{\"kind\": \"%s\", \"vcpu\": %u, \"gfn\": %llu, "
               "\"count\": %llu, \"entry_count\": %llu, \"tot_pages\": %llu, "
               "\"target\": %llu}\n", event_name(ev[i].kind), ev[i].vcpu,
               (unsigned long long)ev[i].gfn,
               (unsigned long long)ev[i].count,
               (unsigned long long)ev[i].entry_count,
               (unsigned long long)ev[i].tot_pages,
               (unsigned long long)ev[i].target);
    return 0;
}

/*
 * The HVM domain builder (layout and extent policy in xc_hvm_build.h).
 * It only uses the toolstack calls of xc_domain.h, as a real builder would
 * use hypercalls, so what it does is what any toolstack could do.
 */
#include "xc_hvm_build.h"
#include "xc_domain.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <xen/lib.h>

#define GIB_PAGES (1ull << PAGE_ORDER_1G)
#define MB2_PAGES (1ull << PAGE_ORDER_2M)

static void add_range(struct xc_gfn_range *r, unsigned int *n, uint64_t s,
                      uint64_t e)
{
    if ( s >= e )
        return;
    if ( *n && r[*n - 1].end == s )
        r[*n - 1].end = e;              /* no hole in between: one range */
    else
        r[(*n)++] = (struct xc_gfn_range){ s, e };
}

int xc_hvm_layout(uint64_t mib, uint64_t hole_mib, struct xc_hvm_layout *l)
{
    uint64_t pages = mib << 8, hole = hole_mib << 8, mmio, low;
    unsigned int i;

    if ( hole_mib > XC_MAX_MMIO_HOLE_MIB || pages <= XC_VGA_HOLE_END ||
         mib > (P2M_MAX_GFN >> 8) / 2 )
        return -EINVAL;
    memset(l, 0, sizeof(*l));
    mmio = XC_4G_GFN - hole;
    low = MIN(pages, mmio);
    add_range(l->ram, &l->nr_ram, 0, XC_VGA_HOLE_START);
    add_range(l->ram, &l->nr_ram, XC_VGA_HOLE_END, low);
    l->hole[l->nr_holes++] = (struct xc_gfn_range){ XC_VGA_HOLE_START,
                                                    XC_VGA_HOLE_END };
    if ( pages > low )
    {
        if ( hole )
            l->hole[l->nr_holes++] = (struct xc_gfn_range){ mmio,
                                                            XC_4G_GFN };
        add_range(l->ram, &l->nr_ram, XC_4G_GFN, XC_4G_GFN + pages - low);
    }
    for ( i = 0; i < l->nr_ram; i++ )
        l->pages += l->ram[i].end - l->ram[i].start;
    l->top = l->ram[l->nr_ram - 1].end;
    return 0;
}

const char *xc_fallback_name(enum xc_fallback fb)
{
    static const char *const names[XC_FB_NR] = {
        [XC_FB_FRAG] = "heap fragmentation",
        [XC_FB_ALIGN] = "alignment",
        [XC_FB_HOLE] = "hole",
    };

    return fb < XC_FB_NR ? names[fb] : "?";
}

/* --- the extent walk --- */

struct build {
    const struct xc_hvm_build_args *a;
    struct xc_hvm_build_report *r;
    struct domain *d;
    unsigned int flags;         /* MEMOP_POD, or 0 to allocate */
    uint64_t done;              /* pages done, for progress */
};

/* The RAM pieces of window [w, w + 1G); at most one per range. */
static unsigned int window_pieces(const struct xc_hvm_layout *l, uint64_t w,
                                  struct xc_gfn_range *p)
{
    unsigned int i, n = 0;

    for ( i = 0; i < l->nr_ram; i++ )
    {
        uint64_t s = MAX(l->ram[i].start, w);
        uint64_t e = MIN(l->ram[i].end, w + GIB_PAGES);

        if ( s < e )
            p[n++] = (struct xc_gfn_range){ s, e };
    }
    return n;
}

static bool window_hits_hole(const struct xc_hvm_layout *l, uint64_t w)
{
    unsigned int i;

    for ( i = 0; i < l->nr_holes; i++ )
        if ( l->hole[i].start < w + GIB_PAGES && l->hole[i].end > w )
            return true;
    return false;
}

/*
 * The extents one call may ask for.  PoD marking covers a run with the
 * largest entries that fit, whatever the extent order: a run of 512
 * aligned extents would become one entry of the next size, which the cap
 * (or the CPU) may not allow.  Runs of at most 511 cannot.
 */
static uint64_t call_extents(const struct build *b, uint64_t n,
                             unsigned int order)
{
    return (b->flags & MEMOP_POD) && order < PAGE_ORDER_1G ? MIN(n, 511) : n;
}

/*
 * n extents of order at g: the extents done (fewer than n when the heap
 * ran out of extents that size), or the -errno of any other failure.
 */
static int64_t put(struct build *b, uint64_t g, uint64_t n,
                   unsigned int order)
{
    struct xc_memop_result res;
    uint64_t done = 0, m;
    int rc;

    do
    {
        m = call_extents(b, n - done, order);
        rc = xc_domain_populate_physmap(b->a->domid, g + (done << order), m,
                                        order, b->flags, &res);
        done += res.nr_done;
    } while ( !rc && done < n );
    b->r->extents[p2m_level_idx(p2m_order_level(order))] += done;
    b->done += done << order;
    return rc && rc != -ENOMEM ? rc : (int64_t)done;
}

/* [g, e) in 4K extents: all of it, or -ENOMEM (the host is full). */
static int put_4k(struct build *b, uint64_t g, uint64_t e)
{
    int64_t done = put(b, g, e - g, PAGE_ORDER_4K);

    if ( done < 0 )
        return (int)done;
    return (uint64_t)done == e - g ? 0 : -ENOMEM;
}

/* [g, e), inside one window: 2M extents where aligned, 4K for the rest. */
static int fill_small(struct build *b, uint64_t g, uint64_t e)
{
    bool use_2m = b->r->max_order >= PAGE_ORDER_2M;
    int rc;

    while ( g < e )
    {
        uint64_t h = use_2m ? MIN(e, align_down(g, PAGE_ORDER_2M) + MB2_PAGES) : e;

        if ( use_2m && h - g == MB2_PAGES )
        {
            uint64_t n = (align_down(e, PAGE_ORDER_2M) - g) >> PAGE_ORDER_2M;
            int64_t done = put(b, g, n, PAGE_ORDER_2M);

            if ( done < 0 )
                return (int)done;
            g += (uint64_t)done << PAGE_ORDER_2M;
            if ( (uint64_t)done == n )
                continue;
            b->r->fallback_2m++;        /* this one 2M extent in 4K pages */
            h = g + MB2_PAGES;
        }
        rc = put_4k(b, g, h);
        if ( rc )
            return rc;
        g = h;
    }
    return 0;
}

/* One 1 GiB window: a 1G extent if it can be, else smaller extents. */
static int build_window(struct build *b, uint64_t w)
{
    const struct xc_hvm_layout *l = &b->r->layout;
    struct xc_hvm_build_report *r = b->r;
    struct xc_gfn_range p[3];
    unsigned int n = window_pieces(l, w, p), i;
    int64_t done;
    int rc;

    if ( n && r->max_order == PAGE_ORDER_1G )
    {
        r->want_1g++;
        if ( n == 1 && p[0].start == w && p[0].end == w + GIB_PAGES )
        {
            done = put(b, w, 1, PAGE_ORDER_1G);
            if ( done != 0 )
                return done < 0 ? (int)done : 0;
            r->fallback_1g[XC_FB_FRAG]++;
        }
        else
            r->fallback_1g[window_hits_hole(l, w) ? XC_FB_HOLE
                                                  : XC_FB_ALIGN]++;
    }
    for ( i = 0; i < n; i++ )
        if ( (rc = fill_small(b, p[i].start, p[i].end)) != 0 )
            return rc;
    return 0;
}

static int walk_layout(struct build *b)
{
    const struct xc_hvm_layout *l = &b->r->layout;
    uint64_t w;
    int rc;

    for ( w = 0; w < l->top; w += GIB_PAGES )
    {
        rc = build_window(b, w);
        if ( rc )
            return rc;
        if ( b->a->progress )
            b->a->progress(b->a->progress_ctx, b->d, b->done, l->pages);
    }
    return 0;
}

/*
 * PoD: the target goes in first (so an impossible one fails before any
 * work), then the RAM of the maxmem layout is marked PoD, then the target
 * is applied again: the cache is capped at the PoD entries, so it can only
 * be filled once they exist.
 */
static int setup_pod(struct build *b)
{
    domid_t id = b->a->domid;
    struct pod_stats s;
    unsigned int i;
    int rc;

    b->r->target_pages = (b->a->mem_mib << 8) -
                         (XC_VGA_HOLE_END - XC_VGA_HOLE_START);
    rc = xc_domain_set_pod_target(id, b->r->target_pages);
    if ( rc )
        return rc;
    b->flags = MEMOP_POD;
    rc = walk_layout(b);
    if ( !rc )
        rc = xc_domain_set_pod_target(id, b->r->target_pages);
    if ( !rc )
        rc = xc_domain_get_pod_stats(id, &s);
    if ( rc )
        return rc;
    for ( i = 0; i < POD_ORDERS; i++ )
        b->r->pod_cache[i] = s.cache_chunks[i];
    return 0;
}

static int check_args(const struct xc_hvm_build_args *a)
{
    if ( a->mem_mib == 0 || a->mem_mib > a->maxmem_mib ||
         (a->max_order != PAGE_ORDER_4K && a->max_order != PAGE_ORDER_2M &&
          a->max_order != PAGE_ORDER_1G) ||
         a->vcpus == 0 || a->vcpus > MAX_VCPUS )
        return -EINVAL;
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int xc_hvm_build(const struct xc_hvm_build_args *a,
                 struct xc_hvm_build_report *r, struct domain **out)
{
    struct build b = { a, r, NULL, 0, 0 };
    double t0 = now_seconds();
    int rc = check_args(a);

    memset(r, 0, sizeof(*r));
    r->pod = a->mem_mib < a->maxmem_mib;
    if ( !rc )
        rc = xc_hvm_layout(r->pod ? a->maxmem_mib : a->mem_mib,
                           a->mmio_hole_mib, &r->layout);
    if ( rc )
        return rc;
    r->max_order = a->cpu_1g ? a->max_order : MIN(a->max_order,
                                                  PAGE_ORDER_2M);
    rc = xc_domain_create(a->domid, a->fmt, a->maxmem_mib << 8, a->vcpus,
                          &b.d);
    if ( rc )
        return rc;
    /* The P2M itself never makes larger leaves (PoD fills, folding). */
    rc = xc_domain_set_max_order(a->domid, r->max_order);
    if ( !rc && r->pod )
        rc = setup_pod(&b);
    else if ( !rc )
    {
        r->target_pages = r->layout.pages;
        rc = walk_layout(&b);
    }
    if ( rc )
    {
        xc_domain_destroy(a->domid);    /* no half-built domain is left */
        return rc;
    }
    r->seconds = now_seconds() - t0;
    *out = b.d;
    return 0;
}

void xc_hvm_build_print(FILE *f, const struct xc_hvm_build_report *r)
{
    const struct xc_hvm_layout *l = &r->layout;
    unsigned int i;

    fprintf(f, "builder: %s, %llu RAM pages in", r->pod ?
            "populate-on-demand" : "populated",
            (unsigned long long)l->pages);
    for ( i = 0; i < l->nr_ram; i++ )
        fprintf(f, " [%#llx, %#llx)", (unsigned long long)l->ram[i].start,
                (unsigned long long)l->ram[i].end);
    fprintf(f, "\n  %s extents: 4K %llu, 2M %llu, 1G %llu (largest asked: "
            "%s)\n", r->pod ? "PoD" : "memory",
            (unsigned long long)r->extents[p2m_level_idx(P2M_L1)],
            (unsigned long long)r->extents[p2m_level_idx(P2M_L2)],
            (unsigned long long)r->extents[p2m_level_idx(P2M_L3)],
            r->max_order == PAGE_ORDER_1G ? "1G" :
            r->max_order == PAGE_ORDER_2M ? "2M" : "4K");
    fprintf(f, "  1G extents wanted %llu, got %llu; fell back:",
            (unsigned long long)r->want_1g,
            (unsigned long long)r->extents[p2m_level_idx(P2M_L3)]);
    for ( i = 0; i < XC_FB_NR; i++ )
        fprintf(f, "%s %s %llu", i ? "," : "", xc_fallback_name(i),
                (unsigned long long)r->fallback_1g[i]);
    fprintf(f, "\n  2M extents the heap could not give: %llu\n",
            (unsigned long long)r->fallback_2m);
    if ( r->pod )
        fprintf(f, "  PoD target %llu pages; cache 1G x%llu, 2M x%llu, "
                "4K x%llu\n", (unsigned long long)r->target_pages,
                (unsigned long long)r->pod_cache[POD_1G],
                (unsigned long long)r->pod_cache[POD_2M],
                (unsigned long long)r->pod_cache[POD_4K]);
    fprintf(f, "  built in %.3f s\n", r->seconds);
}

/*
 * P2M benchmarks, on the hosted platform:
 *   1. ns per random-gfn lookup (p2m_get_entry, hosted_gfn_to_mfn) in
 *      a guest mapped all-1G, all-2M and all-4K, NPT and EPT;
 *   2. p2m_set_entry throughput per order;
 *   3. time to map a 1 TiB guest (1G and 2M leaves) and a 64 GiB guest
 *      (4K leaves);
 *   4. table pages per GiB at each order.
 * Every figure is printed next to a baseline measured in the same run: a
 * flat array with one 8-byte entry per gfn.  Figures only: nothing here
 * fails on timing.  The lookup results are checked against the flat array,
 * and a wrong answer does fail.
 *
 * Usage: bench_p2m [--quick]   (--quick: 4 GiB / 16 GiB guests, for trials)
 */
#define _GNU_SOURCE
#include "hosted.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <xen/mm.h>

#include "results.h"

#define GIB_PAGES (1ull << PAGE_ORDER_1G)
#define NR_ORDERS 3
#define HOT_SET 256             /* gfns in the "hot" set: one per TLB slot */
#define VERIFY_LOOKUPS 65536

static const unsigned int orders[NR_ORDERS] = {
    PAGE_ORDER_1G, PAGE_ORDER_2M, PAGE_ORDER_4K
};
static const char *const order_names[NR_ORDERS] = { "1G", "2M", "4K" };
static const enum p2m_format formats[] = { P2M_FORMAT_NPT, P2M_FORMAT_EPT };
static const char *const order_tags[NR_ORDERS] = { "1g", "2m", "4k" };

/* Format f's name in capitals, for the printed tables ("NPT"). */
static const char *format_label(unsigned int f)
{
    static char labels[ARRAY_SIZE(formats)][8];
    const char *name = p2m_format_to_name(formats[f]);
    unsigned int i;

    for ( i = 0; name[i] && i + 1 < sizeof(labels[f]); i++ )
        labels[f][i] = toupper((unsigned char)name[i]);
    labels[f][i] = '\0';
    return labels[f];
}

struct config {
    uint64_t guest_gib;         /* lookup, set_entry and 4K-map guest */
    uint64_t big_gib;           /* the large 1G / 2M map */
    uint64_t nr_lookups;        /* random gfns per pass */
    unsigned int reps;          /* lookup passes; the best one counts */
    uint64_t set_entries[NR_ORDERS];  /* p2m_set_entry calls per rep */
    unsigned int set_reps[NR_ORDERS];
    unsigned int big_reps;      /* maps of the big guest with 1G leaves */
};

static const struct config full_config = {
    .guest_gib = 64, .big_gib = 1024, .nr_lookups = 4u << 20, .reps = 5,
    .set_entries = { 64, 32768, 1u << 20 }, .set_reps = { 200, 7, 3 },
    .big_reps = 5,
};

static const struct config quick_config = {
    .guest_gib = 4, .big_gib = 16, .nr_lookups = 1u << 20, .reps = 3,
    .set_entries = { 4, 2048, 1u << 18 }, .set_reps = { 50, 5, 3 },
    .big_reps = 3,
};

static const struct config *cfg = &full_config;

/* Results land here so that the compiler must compute them. */
static volatile uint64_t sink;
/* Always 0, but the compiler cannot know: it chains dependent lookups. */
static volatile uint64_t zero_mask;

/* --- helpers --- */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void die(const char *what, long rc)
{
    fprintf(stderr, "bench_p2m: %s failed (%ld)\n", what, rc);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);

    if ( !p )
        die("malloc", 0);
    return p;
}

static double ms(uint64_t ns)
{
    return ns / 1e6;
}

static uint64_t peak_rss_mib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss >> 10;
}

static void machine_up(uint64_t gib)
{
    /* The guest's 1G chunks plus room for table pages. */
    struct machine_range r = { 0, (gib + 2) * GIB_PAGES };
    int rc = hosted_machine_init(&r, 1);

    if ( rc )
        die("hosted_machine_init", rc);
}

/* --- a guest: a domain owning gib 1G chunks, gfn 0 upwards --- */

struct guest {
    struct domain *d;
    uint64_t gib;
    uint64_t *chunk;            /* mfn of the chunk behind gfn i << 18 */
    uint64_t alloc_ns;          /* time taken by the heap allocations */
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The guest's 1G chunks, from the heap, sorted by mfn. */
static void guest_alloc(struct guest *g)
{
    uint64_t i;

    for ( i = 0; i < g->gib; i++ )
    {
        struct page_info *pg = alloc_domheap_pages(g->d, PAGE_ORDER_1G, 0);

        if ( !pg )
            die("alloc_domheap_pages", (long)i);
        g->chunk[i] = mfn_x(page_to_mfn(pg));
    }
    qsort(g->chunk, g->gib, sizeof(*g->chunk), cmp_u64);
}

static void guest_create(struct guest *g, enum p2m_format fmt, uint64_t gib)
{
    uint64_t t0;
    int rc;

    g->gib = gib;
    g->chunk = xmalloc(gib * sizeof(*g->chunk));
    g->d = domain_create(1, fmt, gib * GIB_PAGES, 1, &rc);
    if ( !g->d )
        die("domain_create", rc);
    t0 = now_ns();
    guest_alloc(g);
    g->alloc_ns = now_ns() - t0;
}

static void guest_destroy(struct guest *g)
{
    domain_destroy(g->d);
    free(g->chunk);
}

static uint64_t guest_mfn(const struct guest *g, uint64_t gfn)
{
    return g->chunk[gfn >> PAGE_ORDER_1G] + (gfn & (GIB_PAGES - 1));
}

/* Map gfns [0, nr) with one p2m_set_entry per order-o leaf; returns ns. */
static uint64_t map_entries(struct guest *g, uint64_t nr, unsigned int o)
{
    struct p2m_domain *p2m = &g->d->p2m;
    uint64_t gfn, t0 = now_ns();
    int rc;

    for ( gfn = 0; gfn < nr; gfn += 1ull << o )
    {
        rc = p2m_set_entry(p2m, _gfn(gfn), _mfn(guest_mfn(g, gfn)), o,
                           p2m_ram_rw, P2M_ACCESS_RWX);
        if ( rc )
            die("p2m_set_entry", rc);
    }
    return now_ns() - t0;
}

/* Map the whole guest with p2m_set_range, one call per run of adjacent
 * chunks (1G leaves); returns ns, *calls gets the number of calls. */
static uint64_t map_ranges(struct guest *g, unsigned int *calls)
{
    uint64_t i = 0, j, t0 = now_ns();
    int rc;

    *calls = 0;
    for ( ; i < g->gib; i = j, ++*calls )
    {
        for ( j = i + 1; j < g->gib; j++ )
            if ( g->chunk[j] != g->chunk[j - 1] + GIB_PAGES )
                break;
        rc = p2m_set_range(&g->d->p2m, _gfn(i << PAGE_ORDER_1G),
                           _mfn(g->chunk[i]), (j - i) << PAGE_ORDER_1G,
                           p2m_ram_rw, P2M_ACCESS_RWX);
        if ( rc )
            die("p2m_set_range", rc);
    }
    return now_ns() - t0;
}

/*
 * Start again from an empty P2M.  Unmapped RAM goes back to the heap (the
 * P2M frees what it no longer maps), so a new domain with new chunks is
 * the way back to "all chunks owned, nothing mapped".
 */
static void start_empty(struct guest *g)
{
    enum p2m_format fmt = p2m_format_of(&g->d->p2m);
    uint64_t gib = g->gib;

    guest_destroy(g);
    guest_create(g, fmt, gib);
}

static uint64_t table_pages(struct guest *g)
{
    struct p2m_stats s;

    p2m_get_stats(&g->d->p2m, &s);
    return s.table_pages;
}

/* Table pages for a guest of gib GiB at gfn 0 mapped with order-o leaves. */
static uint64_t theory_tables(uint64_t gib, unsigned int o)
{
    uint64_t n = 1 + (gib + 511) / 512;          /* root + L3 tables */

    if ( o <= PAGE_ORDER_2M )
        n += gib;                                /* one L2 per GiB */
    if ( o == PAGE_ORDER_4K )
        n += gib * 512;                          /* one L1 per 2 MiB */
    return n;
}

/* --- lookup passes --- */

struct lookup_ctx {
    const uint32_t *gfn;        /* the gfn sequence */
    uint64_t n;
    const uint64_t *flat;       /* baseline: flat[gfn] = mfn */
    struct p2m_domain *p2m;
    struct vcpu *v;
};

/*
 * With chain, each gfn depends on the previous answer (through a mask the
 * compiler cannot see is 0): the pass measures latency.  Without, lookups
 * are independent and the CPU may overlap them: it measures throughput.
 */
#define NEXT_GFN(c, i, prev, z, chain) \
    ((chain) ? (c)->gfn[i] ^ ((prev) & (z)) : (c)->gfn[i])

static inline __attribute__((always_inline))
uint64_t flat_loop(const struct lookup_ctx *c, bool chain)
{
    uint64_t i, acc = 0, prev = 0, z = zero_mask;

    for ( i = 0; i < c->n; i++ )
    {
        prev = c->flat[NEXT_GFN(c, i, prev, z, chain)];
        acc += prev;
    }
    return acc;
}

static inline __attribute__((always_inline))
uint64_t get_entry_loop(const struct lookup_ctx *c, bool chain)
{
    uint64_t i, acc = 0, prev = 0, z = zero_mask;
    struct p2m_lookup l;

    for ( i = 0; i < c->n; i++ )
    {
        acc += p2m_get_entry(c->p2m, _gfn(NEXT_GFN(c, i, prev, z, chain)),
                             &l);
        prev = mfn_x(l.mfn);
        acc += prev;
    }
    return acc;
}

static inline __attribute__((always_inline))
uint64_t current_loop(const struct lookup_ctx *c, bool chain)
{
    uint64_t i, acc = 0, prev = 0, z = zero_mask;
    struct p2m_lookup l;

    for ( i = 0; i < c->n; i++ )
    {
        acc += hosted_gfn_to_mfn(c->v, _gfn(NEXT_GFN(c, i, prev, z, chain)),
                                 &l);
        prev = mfn_x(l.mfn);
        acc += prev;
    }
    return acc;
}

/* One function per (loop, mode): the mode is a constant in each. */
static uint64_t flat_ind(const struct lookup_ctx *c)
{
    return flat_loop(c, false);
}

static uint64_t flat_dep(const struct lookup_ctx *c)
{
    return flat_loop(c, true);
}

static uint64_t get_ind(const struct lookup_ctx *c)
{
    return get_entry_loop(c, false);
}

static uint64_t get_dep(const struct lookup_ctx *c)
{
    return get_entry_loop(c, true);
}

static uint64_t cur_ind(const struct lookup_ctx *c)
{
    return current_loop(c, false);
}

typedef uint64_t (*pass_fn)(const struct lookup_ctx *c);

/* Best of cfg->reps passes, in ns per lookup. */
static double best_pass(pass_fn fn, const struct lookup_ctx *c)
{
    uint64_t best = UINT64_MAX, t0, dt;
    unsigned int r;

    for ( r = 0; r < cfg->reps; r++ )
    {
        t0 = now_ns();
        sink += fn(c);
        dt = now_ns() - t0;
        if ( dt < best )
            best = dt;
    }
    return (double)best / c->n;
}

/*
 * The P2M must give the same answers as the flat array (untimed), through
 * p2m_get_entry or, with v, through the vCPU's TLB.
 */
static void verify_lookups(const struct lookup_ctx *c, struct vcpu *v,
                           unsigned int o)
{
    uint64_t i, n = c->n < VERIFY_LOOKUPS ? c->n : VERIFY_LOOKUPS;
    struct p2m_lookup l;
    int rc;

    for ( i = 0; i < n; i++ )
    {
        rc = v ? hosted_gfn_to_mfn(v, _gfn(c->gfn[i]), &l)
               : p2m_get_entry(c->p2m, _gfn(c->gfn[i]), &l);
        if ( rc || mfn_x(l.mfn) != c->flat[c->gfn[i]] || l.order != o ||
             l.type != p2m_ram_rw )
        {
            fprintf(stderr, "bench_p2m: gfn %#x: mfn %#llx order %u, "
                    "expected mfn %#llx order %u\n", c->gfn[i],
                    (unsigned long long)mfn_x(l.mfn), l.order,
                    (unsigned long long)c->flat[c->gfn[i]], o);
            exit(1);
        }
    }
}

/* --- results --- */

struct lookup_res {
    double flat, flat_dep, get, get_dep;
    double cur, cur_hit;        /* random gfns through the vCPU TLB */
    double flat_hot, cur_hot, cur_hot_hit;
};

struct set_res { uint64_t n; double ns, flat_ns; };

struct fmt_res {
    uint64_t alloc_ns, big_alloc_ns;
    struct lookup_res look[NR_ORDERS];
    struct set_res set[NR_ORDERS];
    uint64_t map_ns[NR_ORDERS];         /* guest_gib, first map */
    uint64_t map4k_again_ns;            /* guest_gib 4K, mapped again */
    uint64_t map4k_range_ns;            /* the same by p2m_set_range */
    unsigned int map4k_range_calls;
    uint64_t tables[NR_ORDERS];         /* guest_gib */
    uint64_t big1g_first_ns, big1g_best_ns, big2m_ns, big2m_again_ns;
    unsigned int big1g_calls;
    uint64_t big_tables[2];             /* 1G, 2M */
    uint64_t rss_mib[2];                /* peak after phase 1, phase 2 */
};

struct flat_res { uint64_t fill_ns; double write_ns[NR_ORDERS]; };

static struct fmt_res res[2];
static struct flat_res flat_res;

/* --- phase 1: the guest_gib guest --- */

static double tlb_hit_rate(void)
{
    struct tlb_counters t;

    hosted_tlb_counters(&t);
    return t.hits + t.misses ? 100.0 * t.hits / (t.hits + t.misses) : 0;
}

static void measure_lookups(struct lookup_ctx *c, const uint32_t *hot,
                            unsigned int o, struct lookup_res *r)
{
    const uint32_t *rnd = c->gfn;

    verify_lookups(c, NULL, o);
    r->flat = best_pass(flat_ind, c);
    r->get = best_pass(get_ind, c);
    r->flat_dep = best_pass(flat_dep, c);
    r->get_dep = best_pass(get_dep, c);
    hosted_tlb_reset_counters();
    r->cur = best_pass(cur_ind, c);
    r->cur_hit = tlb_hit_rate();
    c->gfn = hot;
    r->flat_hot = best_pass(flat_ind, c);
    hosted_tlb_reset_counters();
    r->cur_hot = best_pass(cur_ind, c);
    r->cur_hot_hit = tlb_hit_rate();
    verify_lookups(c, c->v, o);
    c->gfn = rnd;
}

/* Best time of reps maps of n order-o entries into an empty P2M. */
static void measure_set(struct guest *g, uint64_t *flat, unsigned int k,
                        struct set_res *r)
{
    unsigned int o = orders[k], rep;
    uint64_t n = cfg->set_entries[k], best = UINT64_MAX, fbest = UINT64_MAX;
    uint64_t i, t0, dt;

    for ( rep = 0; rep < cfg->set_reps[k]; rep++ )
    {
        dt = map_entries(g, n << o, o);
        best = dt < best ? dt : best;
        start_empty(g);
        t0 = now_ns();
        for ( i = 0; i < n; i++ )
            flat[i] = guest_mfn(g, i);
        __asm__ volatile("" : : "r"(flat) : "memory");
        dt = now_ns() - t0;
        fbest = dt < fbest ? dt : fbest;
    }
    r->n = n;
    r->ns = (double)best / n;
    r->flat_ns = (double)fbest / n;
}

static uint64_t fill_flat(const struct guest *g, uint64_t *flat)
{
    uint64_t i, nr = g->gib << PAGE_ORDER_1G, t0 = now_ns();

    for ( i = 0; i < nr; i++ )
        flat[i] = guest_mfn(g, i);
    __asm__ volatile("" : : "r"(flat) : "memory");
    return now_ns() - t0;
}

/*
 * The bulk path with 4K leaves: the domain takes no superpages, and the
 * guest is mapped by p2m_set_range, one call per run of adjacent chunks.
 * Warm, like the "again" loop: a first map, then the best of three, each
 * into a fresh domain (one map alone varied 64-109 ms between runs).
 */
#define MAP4K_TIMED 3

static uint64_t map_ranges_4k(struct guest *g, unsigned int *calls)
{
    unsigned int rep;
    uint64_t ns = UINT64_MAX, dt;

    for ( rep = 0; rep <= MAP4K_TIMED; rep++ )
    {
        if ( rep )
            start_empty(g);
        if ( p2m_set_max_order(&g->d->p2m, PAGE_ORDER_4K) )
            die("p2m_set_max_order", -1);
        dt = map_ranges(g, calls);
        if ( rep )
            ns = dt < ns ? dt : ns;
        if ( g->d->p2m.stats.pages[p2m_level_idx(P2M_L1)] !=
             g->gib << PAGE_ORDER_1G )
            die("4K range map: not all 4K leaves", -1);
    }
    return ns;
}

static uint64_t map_guest(struct guest *g, unsigned int o)
{
    unsigned int calls;

    if ( o == PAGE_ORDER_1G )
        return map_ranges(g, &calls);
    return map_entries(g, g->gib << PAGE_ORDER_1G, o);
}

static void phase_guest(unsigned int f, struct lookup_ctx *c,
                        const uint32_t *hot, uint64_t *flat)
{
    struct fmt_res *r = &res[f];
    struct guest g;
    uint64_t fill;
    unsigned int k;

    machine_up(cfg->guest_gib);
    guest_create(&g, formats[f], cfg->guest_gib);
    r->alloc_ns = g.alloc_ns;
    fill = fill_flat(&g, flat);
    if ( !flat_res.fill_ns || fill < flat_res.fill_ns )
        flat_res.fill_ns = fill;
    c->p2m = &g.d->p2m;
    c->v = &g.d->vcpu[0];
    for ( k = 0; k < NR_ORDERS; k++ )
    {
        r->map_ns[k] = map_guest(&g, orders[k]);
        r->tables[k] = table_pages(&g);
        measure_lookups(c, hot, orders[k], &r->look[k]);
        start_empty(&g);
        fill_flat(&g, flat);            /* the new chunks' mfns */
    }
    r->map4k_again_ns = map_guest(&g, PAGE_ORDER_4K);
    start_empty(&g);
    r->map4k_range_ns = map_ranges_4k(&g, &r->map4k_range_calls);
    start_empty(&g);
    for ( k = 0; k < NR_ORDERS; k++ )
        measure_set(&g, flat, k, &r->set[k]);
    guest_destroy(&g);
    hosted_machine_fini();
    r->rss_mib[0] = peak_rss_mib();
}

/* --- phase 2: the big guest --- */

static void phase_big(unsigned int f)
{
    struct fmt_res *r = &res[f];
    uint64_t dt;
    struct guest g;
    unsigned int rep;

    machine_up(cfg->big_gib);
    guest_create(&g, formats[f], cfg->big_gib);
    r->big_alloc_ns = g.alloc_ns;
    r->big1g_best_ns = UINT64_MAX;
    for ( rep = 0; rep < cfg->big_reps; rep++ )
    {
        dt = map_ranges(&g, &r->big1g_calls);
        if ( rep == 0 )
        {
            r->big1g_first_ns = dt;
            r->big_tables[0] = table_pages(&g);
        }
        r->big1g_best_ns = dt < r->big1g_best_ns ? dt : r->big1g_best_ns;
        start_empty(&g);
    }
    r->big2m_ns = map_guest(&g, PAGE_ORDER_2M);
    r->big_tables[1] = table_pages(&g);
    start_empty(&g);
    r->big2m_again_ns = map_guest(&g, PAGE_ORDER_2M);
    start_empty(&g);
    guest_destroy(&g);
    hosted_machine_fini();
    r->rss_mib[1] = peak_rss_mib();
}

/* --- report --- */

static const char *met(bool ok)
{
    return ok ? "target: met" : "target: NOT met";
}

/* lookup_<order>_<dep|indep>_<format>: ns per lookup next to the array. */
static void result_lookup(unsigned int f, unsigned int k, const char *kind,
                          double ns, double flat_ns)
{
    char name[64];

    snprintf(name, sizeof(name), "lookup_%s_%s_%s", order_tags[k], kind,
             p2m_format_to_name(formats[f]));
    result(name, ns, "ns", flat_ns);
}

static void print_lookups(void)
{
    unsigned int f, k;

    printf("\n1. Lookup, ns per random gfn (%llu GiB guest, %llu gfns, best "
           "of %u passes)\n", (unsigned long long)cfg->guest_gib,
           (unsigned long long)cfg->nr_lookups, cfg->reps);
    printf("   independent = back-to-back lookups (throughput); dependent = "
           "each gfn depends on the last answer (latency)\n");
    for ( f = 0; f < 2; f++ )
        for ( k = 0; k < NR_ORDERS; k++ )
        {
            const struct lookup_res *l = &res[f].look[k];
            double lim = orders[k] == PAGE_ORDER_1G ? 1.0 : 1.5;
            bool target = orders[k] != PAGE_ORDER_2M;

            printf("   %s all-%s p2m_get_entry  independent %6.1f  flat "
                   "array %6.1f  (x%.2f)", format_label(f), order_names[k],
                   l->get, l->flat, l->get / l->flat);
            if ( target )
                printf("  %s (%s %.1fx flat)", met(l->get <= lim * l->flat),
                       lim == 1.0 ? "<" : "<=", lim);
            printf("\n   %s all-%s p2m_get_entry  dependent   %6.1f  flat "
                   "array %6.1f  (x%.2f)", format_label(f), order_names[k],
                   l->get_dep, l->flat_dep, l->get_dep / l->flat_dep);
            if ( target )
                printf("  %s", met(l->get_dep <= lim * l->flat_dep));
            result_lookup(f, k, "indep", l->get, l->flat);
            result_lookup(f, k, "dep", l->get_dep, l->flat_dep);
            printf("\n   %s all-%s gfn_to_mfn_current random %6.1f (TLB "
                   "hits %4.1f%%)  hot %u-gfn set %6.1f (hits %5.1f%%)  "
                   "flat array hot %5.1f\n", format_label(f), order_names[k],
                   l->cur, l->cur_hit, HOT_SET, l->cur_hot, l->cur_hot_hit,
                   l->flat_hot);
        }
}

static void print_set(void)
{
    unsigned int f, k;

    printf("\n2. p2m_set_entry into an empty P2M (best of several reps), "
           "next to writing as many entries into a flat array\n");
    for ( f = 0; f < 2; f++ )
        for ( k = 0; k < NR_ORDERS; k++ )
        {
            const struct set_res *s = &res[f].set[k];

            printf("   %s order %2u (%s): %8llu entries  %6.1f ns/entry  "
                   "%6.2f M entries/s  %10.3f us per GiB mapped   flat "
                   "array %5.2f ns/entry\n", format_label(f), orders[k],
                   order_names[k], (unsigned long long)s->n, s->ns,
                   1e3 / s->ns,
                   s->ns / 1e3 * (double)(GIB_PAGES >> orders[k]),
                   s->flat_ns);
        }
}

static void print_big(void)
{
    double fill = ms(flat_res.fill_ns);
    double scale = (double)cfg->big_gib / cfg->guest_gib;
    unsigned int f;

    printf("\n3. Time to map (frames allocated first; heap time separate)\n");
    for ( f = 0; f < 2; f++ )
    {
        const struct fmt_res *r = &res[f];

        printf("   %s %4llu GiB, 1G leaves, p2m_set_range (%u call%s): "
               "first %.3f ms, best of %u %.3f ms  %s (< 1 ms)   heap alloc "
               "%.3f ms\n", format_label(f),
               (unsigned long long)cfg->big_gib, r->big1g_calls,
               r->big1g_calls == 1 ? "" : "s", ms(r->big1g_first_ns),
               cfg->big_reps, ms(r->big1g_best_ns),
               met(r->big1g_best_ns < 1000000), ms(r->big_alloc_ns));
        printf("   %s %4llu GiB, 2M leaves, p2m_set_entry loop: first %.1f "
               "ms, again %.1f ms   flat array fill (x%.0f of %llu GiB) "
               "%.1f ms\n", format_label(f),
               (unsigned long long)cfg->big_gib, ms(r->big2m_ns),
               ms(r->big2m_again_ns), scale,
               (unsigned long long)cfg->guest_gib, fill * scale);
        printf("   %s %4llu GiB, 4K leaves, p2m_set_entry loop: first %.1f "
               "ms, again %.1f ms   flat array fill %.1f ms   heap alloc "
               "%.3f ms\n", format_label(f),
               (unsigned long long)cfg->guest_gib, ms(r->map_ns[2]),
               ms(r->map4k_again_ns), fill, ms(r->alloc_ns));
        printf("   %s %4llu GiB, 4K leaves, p2m_set_range (%u call%s): "
               "%.1f ms   flat array fill %.1f ms   x%.1f\n",
               format_label(f), (unsigned long long)cfg->guest_gib,
               r->map4k_range_calls, r->map4k_range_calls == 1 ? "" : "s",
               ms(r->map4k_range_ns), fill, ms(r->map4k_range_ns) / fill);
        /* All warm: the tables' pages and the array were touched before. */
        result(f ? "map_64g_4k_ept" : "map_64g_4k", ms(r->map4k_range_ns),
               "ms", fill);
        result(f ? "map_64g_4k_set_entry_ept" : "map_64g_4k_set_entry",
               ms(r->map4k_again_ns), "ms", fill);
    }
    printf("   (\"first\" includes the host's page faults on fresh table "
           "pages and frame-table entries; \"again\" reuses them)\n");
}

static void print_tables_line(const char *fmt, uint64_t gib, unsigned int o,
                              uint64_t got)
{
    uint64_t want = theory_tables(gib, o);

    printf("   %s %4llu GiB all-%s: %8llu table pages = %9.3f per GiB   "
           "theory %8llu = %9.3f per GiB%s\n", fmt, (unsigned long long)gib,
           o == PAGE_ORDER_1G ? "1G" : o == PAGE_ORDER_2M ? "2M" : "4K",
           (unsigned long long)got, (double)got / gib,
           (unsigned long long)want, (double)want / gib,
           got == want ? "" : "  (differs)");
}

static void print_tables(void)
{
    unsigned int f, k;

    printf("\n4. Table pages (p2m_get_stats, root included) next to the "
           "count for a guest at gfn 0\n");
    for ( f = 0; f < 2; f++ )
    {
        for ( k = 0; k < NR_ORDERS; k++ )
            print_tables_line(format_label(f), cfg->guest_gib, orders[k],
                              res[f].tables[k]);
        print_tables_line(format_label(f), cfg->big_gib, PAGE_ORDER_1G,
                          res[f].big_tables[0]);
        print_tables_line(format_label(f), cfg->big_gib, PAGE_ORDER_2M,
                          res[f].big_tables[1]);
    }
    printf("   asymptotic per GiB: 1G %.4f, 2M %.4f, 4K %.4f\n", 1 / 512.0,
           1 + 1 / 512.0, 513 + 1 / 512.0);
}

/* --- main --- */

static void print_host(void)
{
    char line[256], *model = NULL;
    FILE *f = fopen("/proc/cpuinfo", "r");

    while ( f && !model && fgets(line, sizeof(line), f) )
        if ( !strncmp(line, "model name", 10) && strchr(line, ':') )
            model = strchr(line, ':') + 2;
    if ( model )
        model[strcspn(model, "\n")] = 0;
    printf("host: %s, %ld CPUs; release build (-O2)%s\n",
           model ? model : "unknown CPU", sysconf(_SC_NPROCESSORS_ONLN),
           cfg == &quick_config ? "; --quick sizes" : "");
    if ( f )
        fclose(f);
}

static void make_gfns(uint32_t *rnd, uint32_t *hot, uint64_t nr_gfns)
{
    uint32_t set[HOT_SET];
    uint64_t i;

    for ( i = 0; i < HOT_SET; i++ )     /* one gfn per TLB slot */
        set[i] = (uint32_t)((rng() % nr_gfns) & ~(uint64_t)(HOT_SET - 1)) | i;
    for ( i = 0; i < cfg->nr_lookups; i++ )
    {
        rnd[i] = (uint32_t)(rng() % nr_gfns);
        hot[i] = set[rng() % HOT_SET];
    }
}

int main(int argc, char **argv)
{
    uint64_t nr_gfns, t0 = now_ns();
    struct lookup_ctx c;
    uint32_t *rnd, *hot;
    uint64_t *flat;
    unsigned int f;

#ifdef P2M_DEBUG
    printf("bench_p2m: this is a debug build (ASSERTs, an audit after every "
           "P2M operation); its figures mean nothing.  Use `make bench`.\n");
    return 0;
#endif
    if ( argc > 1 && !strcmp(argv[1], "--quick") )
        cfg = &quick_config;
    results_open("bench_p2m");
    nr_gfns = cfg->guest_gib << PAGE_ORDER_1G;
    rnd = xmalloc(cfg->nr_lookups * sizeof(*rnd));
    hot = xmalloc(cfg->nr_lookups * sizeof(*hot));
    flat = xmalloc(nr_gfns * sizeof(*flat));
    make_gfns(rnd, hot, nr_gfns);
    c = (struct lookup_ctx){ .gfn = rnd, .n = cfg->nr_lookups, .flat = flat };
    printf("bench_p2m: P2M figures next to a flat 8-byte-per-gfn array "
           "(%llu MiB for %llu GiB), same run\n",
           (unsigned long long)(nr_gfns * 8 >> 20),
           (unsigned long long)cfg->guest_gib);
    print_host();
    for ( f = 0; f < 2; f++ )
        phase_guest(f, &c, hot, flat);
    free(flat);
    free(rnd);
    free(hot);
    for ( f = 0; f < 2; f++ )
        phase_big(f);
    print_lookups();
    print_set();
    print_big();
    print_tables();
    printf("\npeak RSS %llu MiB (after the %llu GiB phase %llu MiB); total "
           "%.1f s\n", (unsigned long long)res[1].rss_mib[1],
           (unsigned long long)cfg->guest_gib,
           (unsigned long long)res[1].rss_mib[0], (now_ns() - t0) / 1e9);
    return 0;
}

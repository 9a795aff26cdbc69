/*
 * Issue 8 finding 13: how long one guest fault holds the P2M lock when the
 * PoD cache is empty and the guest has N populated 1G pages that each hold
 * one non-zero word where the sweeper's quick check does not sample.
 *
 * The vCPU's access loop is driven by hand (p2m_fault_progress, then
 * p2m_handle_fault, until the page is mapped or the vCPU is paused), so
 * each call is timed on its own: the longest call is the longest lock
 * hold.  A second thread looks gfn 0 up all the while; its slowest lookup
 * is what another vCPU waits.  The same-run baseline is a plain read of
 * the N GiB, i.e. what a sweep that reads every 1G leaf in full costs.
 *
 * Then one 1G PoD fill whose chunk must be zeroed, with the same prober:
 * how long another vCPU waits for the lock while the GiB is zeroed; and
 * the same fill while another vCPU takes 4K PoD faults: its worst fault
 * next to its worst fault with no fill running (fault_latency_max_us in
 * build/bench/bench_fault.jsonl).
 *
 *   bench_fault [N ...]      default: 4 32; --quick: 1
 */
#include "hosted.h"

#include <asm-x86/p2m-pod.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xen/errno.h>
#include <xen/memory.h>
#include <xen/mm.h>

#include "results.h"

#define GIB_PAGES (1ull << PAGE_ORDER_1G)

static volatile uint64_t sink;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, long rc)
{
    fprintf(stderr, "bench_fault: %s failed: %ld\n", what, rc);
    exit(1);
}

/* Read [mfn, +pages) once, word by word: the baseline. */
static double read_frames(mfn_t mfn, uint64_t pages)
{
    const uint64_t *w = plat_map_mfns(mfn, pages);
    uint64_t i, n = pages * (PAGE_SIZE / 8), acc = 0;
    double t = now();

    for ( i = 0; i < n; i++ )
        acc |= w[i];
    sink = acc;
    return now() - t;
}

struct prober {
    pthread_t th;
    struct domain *d;
    volatile bool stop;
    double worst;
    uint64_t lookups;
};

static void *probe(void *arg)
{
    struct prober *p = arg;
    struct p2m_lookup l;

    while ( !p->stop )
    {
        double t = now();

        p2m_get_entry(&p->d->p2m, _gfn(0), &l);
        t = now() - t;
        if ( t > p->worst )
            p->worst = t;
        __atomic_store_n(&p->lookups, p->lookups + 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void run(uint64_t n)
{
    int err;
    /* N GiB of 1G PoD memory, and one more 4K PoD page to fault on. */
    uint64_t g4k = n * GIB_PAGES, i, faults = 0, scanned;
    struct domain *d = domain_create(1, P2M_FORMAT_NPT, g4k + 1, 2, &err);
    struct vcpu *v;
    struct prober pr = { .stop = false, .worst = 0, .lookups = 0 };
    struct pod_stats s0, s1;
    struct p2m_lookup l;
    double longest = 0, total, base = 0;
    int rc;

    if ( !d )
        die("domain_create", err);
    v = &d->vcpu[0];
    pr.d = d;
    if ( (rc = p2m_pod_mark(d, _gfn(0), g4k + 1)) )
        die("pod mark", rc);
    if ( (rc = memory_set_pod_target(d, g4k)) )
        die("target", rc);
    /* The last page of each GiB, word 1: the quick check reads pages 0,
     * n/8, ..., 7n/8 and words 0, 256 and 511 of them, and a full check
     * must read the whole GiB to find it. */
    for ( i = 0; i < n; i++ )
        if ( (rc = hosted_guest_write(v, _gfn((i + 1) * GIB_PAGES - 1), 8,
                                      0xd1e7)) )
            die("fill", rc);
    p2m_pod_access_done(v);
    /* Warm: every frame read once (the host maps its zero page), so
     * neither figure pays the host kernel's first-touch faults. */
    for ( i = 0; i < n; i++ )
    {
        p2m_get_entry(&d->p2m, _gfn(i * GIB_PAGES), &l);
        read_frames(l.mfn, GIB_PAGES);
    }
    for ( i = 0; i < n; i++ )
    {
        p2m_get_entry(&d->p2m, _gfn(i * GIB_PAGES), &l);
        base += read_frames(l.mfn, GIB_PAGES);
    }
    p2m_pod_get_stats(d, &s0);
    pthread_create(&pr.th, NULL, probe, &pr);
    total = now();
    for ( ;; )
    {
        double t;

#ifndef BENCH_OLD_TREE              /* the tree before p2m_fault_progress */
        if ( !p2m_fault_progress(v, _gfn(g4k)) )
            die("fault loop without progress", 0);
#endif
        t = now();
        rc = p2m_handle_fault(v, _gfn(g4k), P2M_ACCESS_W);
        t = now() - t;
        faults++;
        if ( t > longest )
            longest = t;
        if ( rc )
            break;
        p2m_get_entry(&d->p2m, _gfn(g4k), &l);
        if ( l.type == p2m_ram_rw )
            break;
    }
    total = now() - total;
    pr.stop = true;
    pthread_join(pr.th, NULL);
    p2m_pod_get_stats(d, &s1);
#ifndef BENCH_OLD_TREE              /* no scanned counter there */
    scanned = s1.scanned - s0.scanned;
#else
    scanned = 0;
#endif
    printf("N=%-3llu fault: %s after %llu call%s, %.3f s in all, longest "
           "call (lock hold) %.3f ms; %.1f GiB read by the sweeps\n"
           "       another vCPU's lookup: worst %.3f ms (%llu lookups)\n"
           "       baseline, same run: one plain read of the %llu GiB "
           "%.3f s\n",
           (unsigned long long)n,
           rc == -EAGAIN ? "paused (out of PoD memory)" :
           rc ? "failed" : "populated",
           (unsigned long long)faults, faults == 1 ? "" : "s", total,
           longest * 1e3, scanned / (double)GIB_PAGES, pr.worst * 1e3,
           (unsigned long long)pr.lookups, (unsigned long long)n, base);
    domain_destroy(d);
}

/*
 * A 1G fill that has to zero its chunk (a GiB another guest dirtied): how
 * long the faulting vCPU holds the P2M lock, and how long another vCPU's
 * lookup waits meanwhile.  Baseline, same run: memset of that GiB.
 */
static void run_fill(void)
{
    int err;
    struct domain *d = domain_create(2, P2M_FORMAT_NPT, GIB_PAGES, 2, &err);
    struct prober pr = { .stop = false, .worst = 0, .lookups = 0 };
    struct page_info *pg;
    struct p2m_lookup l;
    double t, longest = 0, base, total;
    unsigned int calls = 0;
    int rc;

    if ( !d )
        die("domain_create", err);
    pr.d = d;
    if ( (rc = p2m_pod_mark(d, _gfn(0), GIB_PAGES)) )
        die("pod mark", rc);
    pg = alloc_domheap_pages(d, PAGE_ORDER_1G, 0);
    if ( !pg )
        die("alloc 1G", -1);
    base = now();
    memset(plat_map_mfn(page_to_mfn(pg)), 0x5a, PAGE_SIZE << PAGE_ORDER_1G);
    base = now() - base;            /* first touch: warm it once more */
    base = now();
    memset(plat_map_mfn(page_to_mfn(pg)), 0x5b, PAGE_SIZE << PAGE_ORDER_1G);
    base = now() - base;
    p2m_pod_cache_add(d, pg);
    pthread_create(&pr.th, NULL, probe, &pr);
    while ( !__atomic_load_n(&pr.lookups, __ATOMIC_RELAXED) )
        ;                           /* the prober runs before the fault */
    total = now();
    do
    {
        t = now();
        rc = p2m_handle_fault(&d->vcpu[0], _gfn(7), P2M_ACCESS_W);
        t = now() - t;
        calls++;
        longest = t > longest ? t : longest;
        p2m_get_entry(&d->p2m, _gfn(7), &l);
    } while ( !rc && l.type != p2m_ram_rw );
    total = now() - total;
    pr.stop = true;
    pthread_join(pr.th, NULL);
    printf("1G fill that zeroes: %s in %.1f ms (%u call%s); another vCPU's "
           "lookup: worst %.3f ms (%llu lookups)\n"
           "       baseline, same run: memset of the GiB %.1f ms\n",
           rc ? "failed" : "populated", total * 1e3, calls,
           calls == 1 ? "" : "s", pr.worst * 1e3,
           (unsigned long long)pr.lookups, base * 1e3);
    (void)longest;
    domain_destroy(d);
}

/* 4K PoD entries above the GiB for the faulting vCPU (512 MiB). */
#define FAULT_PAGES (1ull << 17)
#define ALONE_FAULTS 4096

struct faulter {
    pthread_t th;
    struct domain *d;
    volatile bool stop;
    uint64_t next, end;         /* the next gfn to fault on, the limit */
    double worst;
    uint64_t faults;
    double *took;               /* each fault's time, FAULT_PAGES of room */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The median of the faults timed since f->faults was last reset. */
static double median_fault(struct faulter *f)
{
    if ( !f->faults )
        return 0;
    qsort(f->took, f->faults, sizeof(*f->took), cmp_double);
    return f->took[f->faults / 2];
}

/* One 4K fault to the end (mapped), timed; false when none are left. */
static bool fault_one(struct faulter *f)
{
    struct vcpu *v = &f->d->vcpu[1];
    struct p2m_lookup l;
    gfn_t gfn = _gfn(f->next++);
    double t = now();
    int rc;

    if ( gfn_x(gfn) >= f->end )
        return false;
    do
        rc = p2m_handle_fault(v, gfn, P2M_ACCESS_W);
    while ( !rc && (p2m_get_entry(&f->d->p2m, gfn, &l), l.type != p2m_ram_rw) );
    if ( rc )
        die("4K fault", rc);
    t = now() - t;
    f->worst = t > f->worst ? t : f->worst;
    f->took[f->faults] = t;
    __atomic_store_n(&f->faults, f->faults + 1, __ATOMIC_RELEASE);
    return true;
}

static void *faulter_run(void *arg)
{
    struct faulter *f = arg;

    while ( !f->stop && fault_one(f) )
        ;
    return NULL;
}

/*
 * The figure of issue 12: the worst 4K fault one vCPU sees while another
 * vCPU's 1G fill zeroes its GiB.  Baseline, same run: that vCPU's worst
 * fault over ALONE_FAULTS faults with nothing else running.
 */
static void run_fill_faults(void)
{
    int err;
    struct domain *d = domain_create(3, P2M_FORMAT_NPT,
                                     GIB_PAGES + FAULT_PAGES, 2, &err);
    struct faulter f = { .d = d, .next = GIB_PAGES,
                         .end = GIB_PAGES + FAULT_PAGES,
                         .took = malloc(FAULT_PAGES * sizeof(double)) };
    struct page_info *pg;
    struct p2m_lookup l;
    double alone, alone_median, median, t;
    uint64_t i;
    int rc;

    if ( !d )
        die("domain_create", err);
    if ( !f.took )
        die("malloc", -1);
    if ( (rc = p2m_pod_mark(d, _gfn(0), GIB_PAGES)) )
        die("pod mark", rc);
    for ( i = GIB_PAGES; i < GIB_PAGES + FAULT_PAGES; i++ )
        if ( (rc = p2m_set_entry(&d->p2m, _gfn(i), INVALID_MFN,
                                 PAGE_ORDER_4K, p2m_populate_on_demand,
                                 P2M_ACCESS_RWX)) )
            die("4K pod mark", rc);
    for ( i = 0; i < FAULT_PAGES >> PAGE_ORDER_2M; i++ )
    {
        if ( !(pg = alloc_domheap_pages(d, PAGE_ORDER_2M, 0)) )
            die("alloc 2M", -1);
        memset(plat_map_mfn(page_to_mfn(pg)), 0x5a, PAGE_SIZE << PAGE_ORDER_2M);
        p2m_pod_cache_add(d, pg);
    }
    if ( !(pg = alloc_domheap_pages(d, PAGE_ORDER_1G, 0)) )
        die("alloc 1G", -1);
    memset(plat_map_mfn(page_to_mfn(pg)), 0x5a, PAGE_SIZE << PAGE_ORDER_1G);
    p2m_pod_cache_add(d, pg);

    for ( i = 0; i < ALONE_FAULTS; i++ )
        fault_one(&f);
    alone = f.worst;
    alone_median = median_fault(&f);
    f.worst = 0;
    f.faults = 0;
    pthread_create(&f.th, NULL, faulter_run, &f);
    while ( !__atomic_load_n(&f.faults, __ATOMIC_RELAXED) )
        ;                           /* the faulter runs before the fill */
    t = now();
    do
        rc = p2m_handle_fault(&d->vcpu[0], _gfn(7), P2M_ACCESS_W);
    while ( !rc && (p2m_get_entry(&d->p2m, _gfn(7), &l),
                    l.type != p2m_ram_rw) );
    t = now() - t;
    f.stop = true;
    pthread_join(f.th, NULL);
    if ( rc )
        die("1G fill", rc);
    median = median_fault(&f);
    printf("1G fill that zeroes (%.1f ms) while another vCPU takes 4K PoD "
           "faults: worst fault %.3f ms, median %.1f us (%llu faults)\n"
           "       baseline, same run: %u faults with no fill: worst "
           "%.3f ms (x%.0f), median %.1f us (x%.2f)\n", t * 1e3,
           f.worst * 1e3, median * 1e6, (unsigned long long)f.faults,
           ALONE_FAULTS, alone * 1e3, f.worst / alone, alone_median * 1e6,
           median / alone_median);
    result("fault_latency_max_us", f.worst * 1e6, "us", alone * 1e6);
    result("fault_latency_median_us", median * 1e6, "us",
           alone_median * 1e6);
    domain_destroy(d);
    free(f.took);
}

int main(int argc, char **argv)
{
    static const uint64_t dflt[] = { 4, 32 };
    struct machine_range r[2];
    unsigned int nr, k;
    const char *why;
    uint64_t max = 0, ns[16];
    unsigned int count = 0;
    char layout[32];

    results_open("bench_fault");
    if ( argc > 1 && !strcmp(argv[1], "--quick") )
        ns[count++] = 1;
    for ( k = count + 1; k < (unsigned int)argc && count < 16; k++ )
        ns[count++] = strtoull(argv[k], NULL, 0);
    if ( !count )
        for ( ; count < 2; count++ )
            ns[count] = dflt[count];
    for ( k = 0; k < count; k++ )
        max = ns[k] > max ? ns[k] : max;
    snprintf(layout, sizeof(layout), "0-%lluG", (unsigned long long)max + 2);
    if ( hosted_parse_layout(layout, r, 2, &nr, &why) ||
         hosted_machine_init(r, nr) )
        die("machine", -1);
    printf("host: %s machine; N populated 1G PoD pages, each non-zero where "
           "the quick check does not look; one 4K fault with the cache "
           "empty\n", layout);
    for ( k = 0; k < count; k++ )
        run(ns[k]);
    run_fill();
    run_fill_faults();
    if ( heap_check_accounting() )
        die("accounting", -1);
    hosted_machine_fini();
    return 0;
}

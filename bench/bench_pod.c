/*
 * PoD benchmarks, each figure next to a baseline measured in the same run:
 *  - demand fills per second at each order, zeroing included, next to
 *    memset bandwidth on the same (already resident) host memory;
 *  - sweeper throughput on guest-zeroed memory next to a plain read scan;
 *  - ballooning a 64 GiB PoD guest down to 4 GiB.
 * Figures, not pass/fail.
 */
#include "hosted.h"

#include <asm-x86/p2m-pod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xen/memory.h>
#include <xen/mm.h>

#define GIB (1ull << 30)
#define PAGES_PER_GIB (1ull << 18)

static volatile uint64_t sink;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, long rc)
{
    fprintf(stderr, "bench_pod: %s failed: %ld\n", what, rc);
    exit(1);
}

static struct domain *make_domain(uint64_t maxmem_pages)
{
    int err;
    struct domain *d = domain_create(1, P2M_FORMAT_NPT, maxmem_pages, 1, &err);

    if ( !d )
        die("domain_create", err);
    return d;
}

/*
 * Make the host's 1 GiB chunks resident and non-zero, as on a host that has
 * run guests: fills must then really zero, and no figure includes the host
 * kernel's first-touch page faults.  Returns the first dirty chunk.
 */
static mfn_t dirty_host(void)
{
    struct domain *d = make_domain(~0ull);
    struct page_info *pg;
    mfn_t first = INVALID_MFN;

    int order;

    for ( order = PAGE_ORDER_1G; order >= 0; order-- )
        while ( (pg = alloc_domheap_pages(d, order, 0)) )
        {
            memset(plat_map_mfn(page_to_mfn(pg)), 0x5a, PAGE_SIZE << order);
            if ( order == PAGE_ORDER_1G )
                first = page_to_mfn(pg);
        }
    domain_destroy(d);
    return first;
}

/*
 * memset bandwidth (GB/s) zeroing one resident GiB in blocks of 2^order
 * pages: the same work a fill of that order does, without the P2M.
 */
static double memset_bw(mfn_t chunk, unsigned int order)
{
    uint8_t *p = plat_map_mfn(chunk);
    uint64_t block = PAGE_SIZE << order, off;
    double best = 0, t;
    int r;

    for ( r = 0; r < 3; r++ )
    {
        t = now();
        for ( off = 0; off < GIB; off += block )
            memset(p + off, 0, block);
        t = now() - t;
        best = best > GIB / t ? best : GIB / t;
    }
    return best / 1e9;
}

/* A plain read scan (GB/s) of one resident GiB, best of three. */
static double read_bw(mfn_t chunk)
{
    const uint64_t *w = plat_map_mfn(chunk);
    uint64_t acc = 0, i, n = GIB / 8;
    double best = 0, t;
    int r;

    for ( r = 0; r < 3; r++ )
    {
        t = now();
        for ( i = 0; i < n; i++ )
            acc |= w[i];
        t = now() - t;
        best = best > GIB / t ? best : GIB / t;
    }
    sink = acc;
    return best / 1e9;
}

/* Time demand fills of one order over `gib` GiB of PoD guest memory. */
static void bench_fills(unsigned int order, uint64_t gib, mfn_t chunk)
{
    double memset_gbs = memset_bw(chunk, order);
    uint64_t pages = gib * PAGES_PER_GIB, n = pages >> order, i;
    struct domain *d = make_domain(pages);
    struct vcpu *v = &d->vcpu[0];
    double t;
    long rc;

    /* PoD entries of this order: mark in 2^order steps. */
    for ( i = 0; i < n; i++ )
        if ( (rc = p2m_set_entry(&d->p2m, _gfn(i << order), INVALID_MFN,
                                 order, p2m_populate_on_demand,
                                 P2M_ACCESS_RWX)) )
            die("mark", rc);
    if ( (rc = memory_set_pod_target(d, pages)) )
        die("target", rc);
    t = now();
    for ( i = 0; i < n; i++ )
        if ( (rc = hosted_guest_write(v, _gfn(i << order), 0, i + 1)) )
            die("fill", rc);
    t = now() - t;
    printf("pod fill %-3s %8.0f fills/s %7.2f GB/s zeroed   baseline memset "
           "in same-size blocks %6.2f GB/s  (%.0f%%)\n",
           order == 18 ? "1G" : order == 9 ? "2M" : "4K", n / t,
           pages * 4096.0 / t / 1e9, memset_gbs,
           100.0 * pages * 4096.0 / t / 1e9 / memset_gbs);
    domain_destroy(d);
}

static void bench_sweep(uint64_t gib, double read_gbs)
{
    uint64_t pages = gib * PAGES_PER_GIB, i;
    struct domain *d = make_domain(pages);
    struct vcpu *v = &d->vcpu[0];
    double t;
    int64_t got;

    if ( p2m_pod_mark(d, _gfn(0), pages) || memory_set_pod_target(d, pages) )
        die("pod setup", -1);
    for ( i = 0; i < gib; i++ )        /* one 1G fill each, zeroed */
        if ( hosted_guest_write(v, _gfn(i * PAGES_PER_GIB), 0, 0) )
            die("fill", -1);
    t = now();
    got = p2m_pod_sweep(d, POD_SWEEP_ALL);
    t = now() - t;
    printf("sweep zeroed 1G leaves  %7.2f GB/s (%lld pages)   baseline read "
           "scan %6.2f GB/s  (%.0f%%)\n", got * 4096.0 / t / 1e9,
           (long long)got, read_gbs, 100.0 * got * 4096.0 / t / 1e9 / read_gbs);
    domain_destroy(d);
}

/* The guest's balloon driver: give back from the top in chunks of order. */
static void bench_balloon(unsigned int order)
{
    uint64_t max = 64 * PAGES_PER_GIB, keep = 4 * PAGES_PER_GIB, g;
    struct domain *d = make_domain(max);
    double t;
    int64_t r, freed = 0;

    if ( p2m_pod_mark(d, _gfn(0), max) || memory_set_pod_target(d, keep) )
        die("pod setup", -1);
    t = now();
    for ( g = max; g > keep; g -= 1ull << order )
    {
        r = memory_decrease_reservation(d, _gfn(g - (1ull << order)), 1,
                                        order);
        if ( r < 0 )
            die("decrease_reservation", r);
        freed += r;
    }
    t = now() - t;
    printf("balloon 64G->4G PoD guest in %s chunks: %9.3f ms (%lld pages; "
           "target < 100 ms; a Xen user reported 79 s)  check %d\n",
           order == 18 ? "1G" : "2M", t * 1e3, (long long)freed,
           p2m_pod_check(d));
    domain_destroy(d);
}

int main(void)
{
    struct machine_range r[2];
    unsigned int n;
    const char *why;
    double rs;
    mfn_t chunk;

    if ( hosted_parse_layout("0-5G", r, 2, &n, &why) ||
         hosted_machine_init(r, n) )
        die("machine", -1);
    chunk = dirty_host();
    rs = read_bw(chunk);
    printf("host: 5 GiB machine, 1 GiB chunks made resident and dirty first\n");
    bench_fills(PAGE_ORDER_1G, 2, chunk);
    bench_fills(PAGE_ORDER_2M, 2, chunk);
    bench_fills(PAGE_ORDER_4K, 1, chunk);
    bench_sweep(2, rs);
    bench_balloon(PAGE_ORDER_1G);
    bench_balloon(PAGE_ORDER_2M);
    if ( heap_check_accounting() )
        die("accounting", -1);
    hosted_machine_fini();
    return 0;
}

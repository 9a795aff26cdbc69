/*
 * Domain builder benchmark, on the hosted platform: the time xc_hvm_build
 * takes for
 *   1. a 1 TiB guest with 1G extents,
 *   2. a 64 GiB guest forced to 4K extents (superpages = "4k"),
 *   3. a 64 GiB PoD guest (maxmem 64 GiB, memory 32 GiB),
 * each next to the time the heap needs for the same allocations alone (the
 * extents the builder used, or the PoD cache it filled).  Every case runs
 * on a fresh machine, so that no frame has to be zeroed in either
 * measurement.  Figures only; a failed build does fail.
 *
 * Usage: bench_builder [--quick]   (--quick: 16 GiB and 4 GiB guests)
 */
#include "hosted.h"
#include "xc_hvm_build.h"

#include <asm-x86/p2m-pod.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <xen/mm.h>

struct bench_case {
    const char *what;
    uint64_t host_gib;
    uint64_t mem_mib, maxmem_mib;
    unsigned int max_order;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int machine_up(uint64_t gib)
{
    struct machine_range r = { 0, gib << (30 - PAGE_SHIFT) };
    int rc = hosted_machine_init(&r, 1);

    if ( rc )
        fprintf(stderr, "bench_builder: no %llu GiB machine: %d\n",
                (unsigned long long)gib, rc);
    return rc;
}

/* Build the guest; *seconds is the build's time. */
static int time_build(const struct bench_case *c,
                      struct xc_hvm_build_report *r, double *seconds)
{
    struct xc_hvm_build_args a = {
        .domid = 1, .fmt = P2M_FORMAT_EPT, .vcpus = 1,
        .mem_mib = c->mem_mib, .maxmem_mib = c->maxmem_mib,
        .mmio_hole_mib = XC_DEFAULT_MMIO_HOLE_MIB, .max_order = c->max_order,
        .cpu_1g = true,
    };
    struct domain *d;
    double t0;
    int rc;

    if ( machine_up(c->host_gib) )
        return -1;
    t0 = now();
    rc = xc_hvm_build(&a, r, &d);
    *seconds = now() - t0;
    if ( rc )
        fprintf(stderr, "bench_builder: %s: build failed: %d\n", c->what, rc);
    else
        domain_destroy(d);
    hosted_machine_fini();
    return rc;
}

/* The same allocations straight from the heap: extents, or PoD cache. */
static int time_heap(const struct bench_case *c,
                     const struct xc_hvm_build_report *r, double *seconds)
{
    const uint64_t *n = r->pod ? r->pod_cache : r->extents;
    unsigned int memflags = r->pod ? MEMF_keep_zeroed : MEMF_zero, i;
    struct domain *d;
    uint64_t k;
    double t0;
    int rc;

    if ( machine_up(c->host_gib) )
        return -1;
    d = domain_create(1, P2M_FORMAT_EPT, c->maxmem_mib << 8, 1, &rc);
    t0 = now();
    for ( i = P2M_LEAF_LEVELS; d && i-- > 0; )
        for ( k = 0; k < n[i]; k++ )
            if ( !alloc_domheap_pages(d, p2m_level_order(p2m_idx_level(i)),
                                      memflags) )
            {
                rc = -1;
                break;
            }
    *seconds = now() - t0;
    if ( d )
        domain_destroy(d);
    hosted_machine_fini();
    if ( rc )
        fprintf(stderr, "bench_builder: %s: heap ran out\n", c->what);
    return rc;
}

static int run_case(const struct bench_case *c)
{
    struct xc_hvm_build_report r;
    double build, heap;
    char ext[64];

    if ( time_build(c, &r, &build) || time_heap(c, &r, &heap) )
        return -1;
    snprintf(ext, sizeof(ext), "%llu/%llu/%llu%s",
             (unsigned long long)r.extents[p2m_level_idx(P2M_L3)],
             (unsigned long long)r.extents[p2m_level_idx(P2M_L2)],
             (unsigned long long)r.extents[p2m_level_idx(P2M_L1)],
             r.pod ? " PoD" : "");
    printf("%-34s %-22s %10.4f s %10.4f s %8.1fx %8.3f ns/page\n", c->what,
           ext, build, heap, heap > 0 ? build / heap : 0.0,
           build * 1e9 / (double)r.layout.pages);
    return 0;
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    uint64_t big = quick ? 16 : 1024, small = quick ? 4 : 64;
    char w1[64], w2[64], w3[64];
    const struct bench_case cases[] = {
        { w1, big + 16, big << 10, big << 10, PAGE_ORDER_1G },
        { w2, small + 8, small << 10, small << 10, PAGE_ORDER_4K },
        { w3, small + 8, small << 9, small << 10, PAGE_ORDER_1G },
    };
    unsigned int i;

    snprintf(w1, sizeof(w1), "%llu GiB guest, 1G extents",
             (unsigned long long)big);
    snprintf(w2, sizeof(w2), "%llu GiB guest, superpages=4k",
             (unsigned long long)small);
    snprintf(w3, sizeof(w3), "%llu GiB PoD guest (memory %llu GiB)",
             (unsigned long long)small, (unsigned long long)small / 2);
    printf("bench_builder: xc_hvm_build vs the heap doing the same "
           "allocations alone\n");
    printf("%-34s %-22s %12s %12s %9s %16s\n", "guest", "extents 1G/2M/4K",
           "build", "heap alone", "ratio", "build per page");
    for ( i = 0; i < sizeof(cases) / sizeof(cases[0]); i++ )
        if ( run_case(&cases[i]) )
            return 1;
    return 0;
}

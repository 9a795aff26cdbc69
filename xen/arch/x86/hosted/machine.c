/*
 * Hosted machine memory: RAM and the frame table are MAP_NORESERVE
 * mappings, so only touched pages cost memory, and holes cost nothing.
 */
#define _GNU_SOURCE
#include "hosted.h"

#include <ctype.h>
#include <sched.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xen/mm.h>

static uint8_t *ram_base;
static size_t ram_len, ft_len;

void *plat_map_mfn(mfn_t mfn)
{
    return directmap_mfn(mfn);
}

void *plat_map_mfns(mfn_t mfn, uint64_t nr)
{
    (void)nr;                   /* machine memory is one mapping */
    return plat_map_mfn(mfn);
}

/*
 * Every wait loop spins here: on the lock word, on a flush, on readers.
 * A hosted vCPU is a thread that the host may deschedule while it holds
 * what the others wait for; with more threads than cores, pure spinning
 * burns the holder's time slice.  So a waiter pauses a while (256 pauses,
 * some ten microseconds: longer than the P2M lock is held but for a
 * sweep), then gives its CPU away.  A yield can cost the waiter a host
 * tick when a third thread wants the CPU, so it is not the first resort.
 */
#define RELAX_SPINS_PER_YIELD 256

void plat_cpu_relax(void)
{
    static __thread unsigned int spins;

    if ( ++spins % RELAX_SPINS_PER_YIELD )
        __builtin_ia32_pause();
    else
        sched_yield();
}

#ifdef P2M_DEBUG
/* Locks are owned by threads here: each has its own record. */
struct lock_owner *plat_lock_self(void)
{
    static __thread struct lock_owner self;

    return &self;
}
#endif

void printk(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void panic(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "PANIC: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static void *reserve(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

int hosted_machine_init(const struct machine_range *ranges, unsigned int n)
{
    uint64_t max = 0;
    unsigned int i;

    if ( n == 0 || n > MACHINE_MAX_RANGES || ram_base )
        return -EINVAL;
    for ( i = 0; i < n; i++ )
    {
        if ( ranges[i].start >= ranges[i].end ||
             (i && ranges[i].start < ranges[i - 1].end) )
            return -EINVAL;
        max = ranges[i].end;
    }
    ram_len = max << PAGE_SHIFT;
    ft_len = max * sizeof(struct page_info);
    ram_base = reserve(ram_len);
    machine.frame_table = reserve(ft_len);
    if ( !ram_base || !machine.frame_table )
    {
        hosted_machine_fini();
        return -ENOMEM;
    }
    machine.nr_ranges = n;
    memcpy(machine.range, ranges, n * sizeof(*ranges));
    machine.max_mfn = max;
    machine.directmap = (uintptr_t)ram_base;
    /* The hosted CPU: its address width is the machine's size, and it has
     * every EPT feature (tests clear ept_exec_only to model older CPUs). */
    machine.paddr_bits = PAGE_SHIFT + 64 - __builtin_clzll((max - 1) | 1);
    machine.ept_exec_only = true;
    heap_init();
    /* The holes between RAM ranges are the machine's device memory. */
    for ( i = 0; i < n; i++ )
        if ( ranges[i].start > (i ? ranges[i - 1].end : 0) )
            machine_declare_mmio(_mfn(i ? ranges[i - 1].end : 0),
                                 ranges[i].start -
                                 (i ? ranges[i - 1].end : 0));
    return 0;
}

void hosted_machine_fini(void)
{
    if ( ram_base )
        munmap(ram_base, ram_len);
    if ( machine.frame_table )
        munmap(machine.frame_table, ft_len);
    ram_base = NULL;
    memset(&machine, 0, sizeof(machine));
}

static int parse_one(const char *s, const char **end, uint64_t *v)
{
    char *e;
    unsigned long long n;
    unsigned int shift = 0;

    if ( !isdigit((unsigned char)*s) )
        return -EINVAL;
    errno = 0;
    n = strtoull(s, &e, 0);
    if ( errno )
        return -EINVAL;
    switch ( toupper((unsigned char)*e) )
    {
    case 'K': shift = 10; e++; break;
    case 'M': shift = 20; e++; break;
    case 'G': shift = 30; e++; break;
    case 'T': shift = 40; e++; break;
    }
    if ( shift && (n >> (64 - shift)) )
        return -EINVAL;
    *v = (uint64_t)n << shift;
    *end = e;
    return 0;
}

/* A sum of sizes, ending at '\0' or at one of stop. */
static int parse_sum(const char *s, const char *stop, const char **end,
                     uint64_t *v)
{
    uint64_t total = 0, x;
    int rc;

    for ( ;; )
    {
        rc = parse_one(s, &s, &x);
        if ( rc || total + x < total )
            return -EINVAL;
        total += x;
        if ( *s != '+' )
            break;
        s++;
    }
    if ( *s && !strchr(stop, *s) )
        return -EINVAL;
    *end = s;
    *v = total;
    return 0;
}

int hosted_parse_size(const char *s, uint64_t *bytes)
{
    const char *end;

    return parse_sum(s, "", &end, bytes);
}

int hosted_parse_layout(const char *s, struct machine_range *r,
                        unsigned int max, unsigned int *n, const char **why)
{
    uint64_t a, b;

    *n = 0;
    while ( *s )
    {
        if ( parse_sum(s, "-", &s, &a) || *s != '-' ||
             parse_sum(s + 1, ",", &s, &b) )
            return *why = "range must be <start>-<end>", -EINVAL;
        if ( (a | b) & (PAGE_SIZE - 1) )
            return *why = "range not 4K aligned", -EINVAL;
        if ( b <= a )
            return *why = "range end not above its start", -EINVAL;
        if ( *n && (a >> PAGE_SHIFT) < r[*n - 1].end )
            return *why = "ranges overlap or are not ascending", -EINVAL;
        if ( *n == max )
            return *why = "too many ranges", -EINVAL;
        if ( *n && (a >> PAGE_SHIFT) == r[*n - 1].end )
            r[*n - 1].end = b >> PAGE_SHIFT;   /* touching: one range */
        else
            r[(*n)++] = (struct machine_range){ a >> PAGE_SHIFT,
                                                b >> PAGE_SHIFT };
        if ( *s == ',' )
            s++;
    }
    if ( *n == 0 )
        return *why = "no RAM ranges", -EINVAL;
    return 0;
}

uint64_t hosted_rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if ( !f )
        return 0;
    if ( fscanf(f, "%lu %lu", &size, &resident) != 2 )
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

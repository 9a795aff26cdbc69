/*
 * The Linux guest's memory workload (tests/hv/linux.py builds it with
 * gcc -static and puts it in the initramfs as /workload).
 *
 * Parameters come from the kernel command line (/proc/cmdline):
 *   p2m_mib=<N>          MiB per round (default 32)
 *   p2m_rounds=<R>       rounds (default 2)
 *   p2m_inject=<i>       self-check: corrupt one word in round i (1-based)
 * Each round maps N MiB of fresh anonymous memory, writes a pattern that
 * depends on the round, the page and the offset into every 8 bytes, reads
 * it all back, and unmaps it, so that the pages go back to the kernel (and,
 * with init_on_free=1, come back zeroed for the hypervisor's sweeper).
 * One line per round goes to /dev/kmsg, written with one write() so the
 * kernel logs it as one record, which its polled console prints:
 *   P2M: workload <N> MiB <rate> MiB/s round <i> ok
 *   P2M: workload <N> MiB <rate> MiB/s round <i> FAIL <why>
 * rate is MiB written per second of the write pass.  Exit status 1 when a
 * round failed.
 *
 * Balloon runs (xen/arch/x86/hvm/linux-abi.h) add, before the rounds:
 *   p2m_balloon=<maxmem>:<t0>[,<t1>...]   targets in MiB: t0 is the one
 *                        the domain starts with, t1... the steps it asks for
 *   p2m_hold=<MiB>       data held (and checked) across every step
 *   p2m_report=<MiB>     after the steps: map, fill, check and unmap this
 *                        much, say "freed", wait p2m_report_wait seconds
 *                        (default 6) for free page reporting
 *   p2m_settle=<s>       how long the balloon must stand still to have
 *                        settled (default 2; slower machines want more)
 * The balloon's size in pages is balloon_inflate - balloon_deflate in
 * /proc/vmstat (each page the driver takes or gives back; MemTotal does
 * not follow it once DEFLATE_ON_OOM is negotiated).  So it shows when the
 * balloon reached a target: after step k it holds B0 - (tk - t0) MiB,
 * with B0 what it settled at for t0 (no change for p2m_settle s after it
 * first held a page), or, if it deflated on OOM on its way up, where it
 * then stood still for p2m_settle s (the toolstack raised tk for it).
 * Lines:
 *   P2M: balloon settled <pages> pages after <s> s
 *   P2M: balloon step <k>                  (the hypervisor sets tk)
 *   P2M: balloon step <k> reached <pages> pages after <s> s[ (short:
 *        deflated on OOM)], hold <MiB> MiB ok
 *   P2M: balloon freed <MiB> MiB
 *   P2M: balloon waited <s> s           (only slept since "freed")
 *   P2M: balloon FAIL <why>
 *
 * On a host, for tests: workload "<command line>" reads its parameters from
 * the argument, and P2M_OUT=<path> sends the lines there instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096UL
#define WORDS_PER_PAGE (PAGE_SIZE / sizeof(uint64_t))

static int out_fd = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if ( n < 0 )
        return;
    if ( n > (int)sizeof(line) - 2 )
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write(): /dev/kmsg makes each write one log record. */
    if ( out_fd < 0 || write(out_fd, line, n) != n )
        fwrite(line, 1, n, stderr);
}

/* The value of word w of page p in round r: every word differs from its
 * neighbours, from the same word of other pages, and from the same word in
 * other rounds, and none is zero (a page the hypervisor handed back zeroed
 * by mistake shows up). */
static inline uint64_t pattern(unsigned int r, uint64_t p, uint64_t w)
{
    uint64_t x = ((uint64_t)r << 56) ^ (p << 9) ^ w;

    x *= 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 29) ^ 0x5a5a000000000001ULL;
}

static unsigned long param(const char *cmdline, const char *key,
                           unsigned long dflt)
{
    size_t len = strlen(key);
    const char *s = cmdline;

    while ( (s = strstr(s, key)) != NULL )
    {
        /* Whole words only: "p2m_mib=" must not match "xp2m_mib=". */
        if ( (s == cmdline || s[-1] == ' ') && s[len] == '=' )
            return strtoul(s + len + 1, NULL, 0);
        s += len;
    }
    return dflt;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Fill pages [0, pages) of mem with round r's pattern. */
static void fill(uint64_t *mem, size_t pages, unsigned int r)
{
    size_t p, w;

    for ( p = 0; p < pages; p++ )
        for ( w = 0; w < WORDS_PER_PAGE; w++ )
            mem[p * WORDS_PER_PAGE + w] = pattern(r, p, w);
}

/* The first word that is not round r's pattern, or NULL. */
static uint64_t *check(uint64_t *mem, size_t pages, unsigned int r)
{
    size_t p, w;

    for ( p = 0; p < pages; p++ )
        for ( w = 0; w < WORDS_PER_PAGE; w++ )
            if ( mem[p * WORDS_PER_PAGE + w] != pattern(r, p, w) )
                return &mem[p * WORDS_PER_PAGE + w];
    return NULL;
}

/* One round; returns 0 when every word read back as written. */
static int round_one(unsigned long mib, unsigned int r, unsigned int inject)
{
    size_t size = mib << 20, pages = size / PAGE_SIZE;
    double t0, t1, rate;
    uint64_t *mem, *bad;

    mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if ( mem == MAP_FAILED )
    {
        say("P2M: workload %lu MiB 0.0 MiB/s round %u FAIL mmap: %s",
            mib, r, strerror(errno));
        return 1;
    }

    t0 = now();
    fill(mem, pages, r);
    t1 = now();

    if ( inject == r )
        mem[pages / 2 * WORDS_PER_PAGE + 3] ^= 1;     /* the self-check */

    rate = t1 > t0 ? mib / (t1 - t0) : 0.0;
    bad = check(mem, pages, r);
    if ( bad )
    {
        size_t i = bad - mem;

        say("P2M: workload %lu MiB %.1f MiB/s round %u FAIL at %p "
            "(offset 0x%zx, page %zu word %zu): read 0x%016llx, "
            "wrote 0x%016llx", mib, rate, r, (void *)bad, i * sizeof(*bad),
            i / WORDS_PER_PAGE, i % WORDS_PER_PAGE, (unsigned long long)*bad,
            (unsigned long long)pattern(r, i / WORDS_PER_PAGE,
                                        i % WORDS_PER_PAGE));
        munmap(mem, size);
        return 1;
    }

    if ( munmap(mem, size) )
    {
        say("P2M: workload %lu MiB 0.0 MiB/s round %u FAIL munmap: %s",
            mib, r, strerror(errno));
        return 1;
    }
    /* Exactly the ABI's line (linux-abi.h): the hypervisor matches it. */
    say("P2M: workload %lu MiB %.1f MiB/s round %u ok", mib, rate, r);
    return 0;
}

/* --- balloon runs --- */

#define BALLOON_TARGETS 8
#define POLL_US 50000               /* MemTotal is read every 50 ms */
#define SETTLE_S 2                 /* default p2m_settle= */
#define WAIT_S 300.0                /* guest time before a step fails */
#define HOLD_ROUND 200              /* the held data's pattern */
#define REPORT_ROUND 201

/* Pages in the guest's balloon, or -1 (no balloon counters); *deflated
 * (if asked for) the pages it ever gave back. */
static long balloon_count(long *deflated)
{
    char buf[256];
    long in = -1, out = -1, v;
    FILE *f = fopen("/proc/vmstat", "r");

    if ( !f )
        return -1;
    while ( fgets(buf, sizeof(buf), f) )
        if ( sscanf(buf, "balloon_inflate %ld", &v) == 1 )
            in = v;
        else if ( sscanf(buf, "balloon_deflate %ld", &v) == 1 )
            out = v;
    fclose(f);
    if ( deflated )
        *deflated = out;
    return in < 0 || out < 0 ? -1 : in - out;
}

static long balloon_pages(void)
{
    return balloon_count(NULL);
}

/* p2m_balloon=<maxmem>:<t0>,<t1>,...: the number of targets, or 0. */
static unsigned int balloon_param(const char *cmdline, unsigned long *maxmem,
                                  unsigned long t[BALLOON_TARGETS])
{
    const char *s = strstr(cmdline, "p2m_balloon=");
    unsigned int n = 0;
    char *end;

    if ( !s || (s != cmdline && s[-1] != ' ') )
        return 0;
    *maxmem = strtoul(s + 12, &end, 0);
    if ( *end != ':' )
        return 0;
    do
    {
        t[n++] = strtoul(end + 1, &end, 0);
    } while ( *end == ',' && n < BALLOON_TARGETS );
    return (*end == ' ' || *end == '\0') ? n : 0;
}

/*
 * Wait for the balloon: until it holds want pages (want >= 0), or, want
 * < 0, until it holds some and then stood still for settle s.  Returns
 * its pages, or -1 after WAIT_S.  *oom is set when the driver deflated
 * while it was to inflate (DEFLATE_ON_OOM: the guest needed the memory,
 * and the toolstack raises the target for it); then a balloon that stood
 * still for settle s short of want is where the raised target is.
 */
static long balloon_wait(long want, double settle, double *took, bool *oom)
{
    double t0 = now(), still = t0;
    long d0 = 0, d = 0, n = balloon_count(&d0), last = n;
    bool inflating = want > n;

    *oom = false;
    for ( ;; )
    {
        double t = now();
        bool stood = t - still >= settle;

        if ( want >= 0 ? n == want || (*oom && stood && n < want)
                       : n > 0 && stood )
            break;
        if ( t - t0 > WAIT_S || n < 0 )
            return -1;
        usleep(POLL_US);
        n = balloon_count(&d);
        *oom = inflating && d != d0;
        if ( n != last )
        {
            last = n;
            still = now();
        }
    }
    *took = (want >= 0 && n == want ? now() : still) - t0;
    return n;
}

static uint64_t *map_filled(unsigned long mib, unsigned int r)
{
    uint64_t *mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if ( mem == MAP_FAILED )
        return NULL;
    fill(mem, (mib << 20) / PAGE_SIZE, r);
    return mem;
}

static int balloon_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int balloon_fail(const char *fmt, ...)
{
    char why[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    say("P2M: balloon FAIL %s", why);
    return 1;
}

/* The balloon program: 0 when every target was reached with the held data
 * intact (and the report phase, if asked for, ran). */
static int balloon_run(const char *cmdline)
{
    unsigned long maxmem = 0, t[BALLOON_TARGETS];
    unsigned int n = balloon_param(cmdline, &maxmem, t), k;
    unsigned long hold = param(cmdline, "p2m_hold", 0);
    unsigned long report = param(cmdline, "p2m_report", 0);
    unsigned long wait = param(cmdline, "p2m_report_wait", 6);
    double settle = param(cmdline, "p2m_settle", SETTLE_S);
    long b0, pages;
    uint64_t *held = NULL, *bad;
    double took = 0;
    bool oom;

    if ( !n || balloon_pages() < 0 )
        return balloon_fail("bad p2m_balloon= or no balloon counters in "
                            "/proc/vmstat");
    /* The first target: the balloon inflates from the driver's start. */
    b0 = t[0] < maxmem ? balloon_wait(-1, settle, &took, &oom)
                       : balloon_pages();
    if ( b0 < 0 )
        return balloon_fail("the balloon did not settle for target %lu MiB "
                            "(%ld pages)", t[0], balloon_pages());
    say("P2M: balloon settled %ld pages after %.2f s", b0, took);
    if ( hold && !(held = map_filled(hold, HOLD_ROUND)) )
        return balloon_fail("mmap %lu MiB: %s", hold, strerror(errno));
    for ( k = 1; k < n; k++ )
    {
        long want = b0 - ((long)t[k] - (long)t[0]) * 256;

        say("P2M: balloon step %u", k);
        pages = want >= 0 ? balloon_wait(want, settle, &took, &oom) : -1;
        if ( pages < 0 )
            return balloon_fail("step %u: the balloon holds %ld pages, want "
                                "%ld (target %lu MiB)", k, balloon_pages(),
                                want, t[k]);
        bad = held ? check(held, (hold << 20) / PAGE_SIZE, HOLD_ROUND) : NULL;
        if ( bad )
            return balloon_fail("step %u: held data changed at offset "
                                "0x%zx", k, (size_t)(bad - held) * 8);
        say("P2M: balloon step %u reached %ld pages after %.2f s%s, "
            "hold %lu MiB ok", k, pages, took,
            pages != want ? " (short: deflated on OOM)" : "", hold);
    }
    if ( report )
    {
        uint64_t *mem = map_filled(report, REPORT_ROUND);

        if ( !mem )
            return balloon_fail("mmap %lu MiB: %s", report, strerror(errno));
        bad = check(mem, (report << 20) / PAGE_SIZE, REPORT_ROUND);
        munmap(mem, report << 20);
        if ( bad )
            return balloon_fail("report: data changed");
        say("P2M: balloon freed %lu MiB", report);
        sleep(wait);
        say("P2M: balloon waited %lu s", wait);
    }
    if ( held )
        munmap(held, hold << 20);
    return 0;
}

int main(int argc, char **argv)
{
    char cmdline[4096] = "";
    const char *out = getenv("P2M_OUT");
    unsigned long mib, rounds, inject;
    unsigned int r;
    int failed = 0;

    if ( argc > 1 )
        snprintf(cmdline, sizeof(cmdline), "%s", argv[1]);
    else
    {
        int fd = open("/proc/cmdline", O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof(cmdline) - 1) : -1;

        if ( n > 0 )
            cmdline[n] = '\0';
        if ( fd >= 0 )
            close(fd);
    }
    cmdline[strcspn(cmdline, "\n")] = '\0';

    out_fd = open(out ? out : "/dev/kmsg", O_WRONLY | O_APPEND | O_CREAT,
                  0644);
    mib = param(cmdline, "p2m_mib", 32);
    rounds = param(cmdline, "p2m_rounds", 2);
    inject = param(cmdline, "p2m_inject", 0);
    if ( mib == 0 || mib > (1UL << 20) || rounds == 0 )
    {
        say("P2M: workload %lu MiB 0.0 MiB/s round 1 FAIL bad parameters "
            "p2m_mib=%lu p2m_rounds=%lu", mib, mib, rounds);
        return 1;
    }

    if ( strstr(cmdline, "p2m_balloon=") )
        failed = balloon_run(cmdline);
    for ( r = 1; r <= rounds && !failed; r++ )
        failed = round_one(mib, r, inject);
    return failed;
}

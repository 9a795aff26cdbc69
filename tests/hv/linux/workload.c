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
 * On a host, for tests: workload "<command line>" reads its parameters from
 * the argument, and P2M_OUT=<path> sends the lines there instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

/* One round; returns 0 when every word read back as written. */
static int round_one(unsigned long mib, unsigned int r, unsigned int inject)
{
    size_t size = mib << 20, pages = size / PAGE_SIZE;
    double t0, t1, rate;
    uint64_t *mem;
    size_t p, w;

    mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if ( mem == MAP_FAILED )
    {
        say("P2M: workload %lu MiB 0.0 MiB/s round %u FAIL mmap: %s",
            mib, r, strerror(errno));
        return 1;
    }

    t0 = now();
    for ( p = 0; p < pages; p++ )
        for ( w = 0; w < WORDS_PER_PAGE; w++ )
            mem[p * WORDS_PER_PAGE + w] = pattern(r, p, w);
    t1 = now();

    if ( inject == r )
        mem[pages / 2 * WORDS_PER_PAGE + 3] ^= 1;     /* the self-check */

    for ( p = 0; p < pages; p++ )
        for ( w = 0; w < WORDS_PER_PAGE; w++ )
        {
            uint64_t *a = &mem[p * WORDS_PER_PAGE + w];

            if ( *a != pattern(r, p, w) )
            {
                rate = t1 > t0 ? mib / (t1 - t0) : 0.0;
                say("P2M: workload %lu MiB %.1f MiB/s round %u FAIL at %p "
                    "(offset 0x%zx, page %zu word %zu): read 0x%016llx, "
                    "wrote 0x%016llx", mib, rate, r, (void *)a,
                    (p * WORDS_PER_PAGE + w) * sizeof(*a), p, w,
                    (unsigned long long)*a,
                    (unsigned long long)pattern(r, p, w));
                munmap(mem, size);
                return 1;
            }
        }

    if ( munmap(mem, size) )
    {
        say("P2M: workload %lu MiB 0.0 MiB/s round %u FAIL munmap: %s",
            mib, r, strerror(errno));
        return 1;
    }
    rate = t1 > t0 ? mib / (t1 - t0) : 0.0;
    /* Exactly the ABI's line (linux-abi.h): the hypervisor matches it. */
    say("P2M: workload %lu MiB %.1f MiB/s round %u ok", mib, rate, r);
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

    for ( r = 1; r <= rounds && !failed; r++ )
        failed = round_one(mib, r, inject);
    return failed;
}

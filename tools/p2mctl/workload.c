/*
 * The guest workloads (see workload.h).  Each vCPU thread works on its own
 * share of guest RAM where a phase changes pages, so that no two vCPUs race
 * on one page and every value read can be checked against what was written.
 */
#include "workload.h"
#include "hosted.h"
#include "io.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xen/lib.h>

#define BAD_REPORTS 5           /* bad values printed per phase */
#define LINUX_TOUCHES 64        /* pages a linux-boot vCPU reads at random */

enum op { OP_READ, OP_WRITE, OP_FILL, OP_CHECK };

static uint64_t ram_gfn(const struct xc_hvm_layout *l, uint64_t idx)
{
    unsigned int i;

    for ( i = 0; i < l->nr_ram; i++ )
    {
        uint64_t n = l->ram[i].end - l->ram[i].start;

        if ( idx < n )
            return l->ram[i].start + idx;
        idx -= n;
    }
    return INVALID_GFN_RAW;
}

static void bit_set(uint8_t *bm, uint64_t g)
{
    __atomic_fetch_or(&bm[g / 8], (uint8_t)(1u << (g % 8)), __ATOMIC_RELEASE);
}

static bool bit_test(const uint8_t *bm, uint64_t g)
{
    return __atomic_load_n(&bm[g / 8], __ATOMIC_ACQUIRE) & (1u << (g % 8));
}

static bool stopped(const struct workload *w)
{
    return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&w->d->crashed, __ATOMIC_ACQUIRE);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The accesses this vCPU plans, for the progress of the toolstack. */
static void set_total(struct wl_vcpu *c, uint64_t n)
{
    __atomic_store_n(&c->total, n, __ATOMIC_RELAXED);
}

/* One guest access, waiting out PoD pauses.  0, 1 (check: differs), -errno. */
static int guest_op(struct wl_vcpu *c, enum op op, uint64_t gfn, uint64_t *val)
{
    struct vcpu *v = &c->w->d->vcpu[c->id];
    int rc;

    for ( ;; )
    {
        if ( op == OP_READ )
            rc = hosted_guest_read(v, _gfn(gfn), wl_offset(gfn), val);
        else if ( op == OP_WRITE )
            rc = hosted_guest_write(v, _gfn(gfn), wl_offset(gfn), *val);
        else if ( op == OP_FILL )
            rc = hosted_guest_fill_page(v, _gfn(gfn), *val);
        else
            rc = hosted_guest_check_page(v, _gfn(gfn), *val);
        if ( rc != -EAGAIN )
            break;
        c->pauses++;
        while ( __atomic_load_n(&v->paused, __ATOMIC_ACQUIRE) &&
                !stopped(c->w) )
            usleep(100);
        if ( stopped(c->w) )
        {
            rc = -EINTR;
            break;
        }
    }
    __atomic_store_n(&c->done, c->done + 1, __ATOMIC_RELAXED);
    if ( rc < 0 )
        c->error = rc;
    return rc;
}

static void report_bad(struct wl_vcpu *c, uint64_t gfn, uint64_t got)
{
    if ( c->bad++ < BAD_REPORTS )
        fprintf(stderr, "p2mctl: d%uv%u: gfn %#llx holds %#llx, expected "
                "%#llx\n", c->w->d->domain_id, c->id,
                (unsigned long long)gfn, (unsigned long long)got,
                (unsigned long long)wl_value(gfn));
}

/* Store gfn's value in its word, or in every word (whole). */
static int put_data(struct wl_vcpu *c, uint64_t gfn, bool whole)
{
    uint64_t v = wl_value(gfn);
    int rc = guest_op(c, whole ? OP_FILL : OP_WRITE, gfn, &v);

    if ( rc )
        return rc;
    if ( whole )
        c->fills++, bit_set(c->w->filled, gfn);
    else
        c->writes++;
    bit_set(c->w->written, gfn);
    return 0;
}

/* Read gfn's word: its value once written, else zero or its value. */
static int get_data(struct wl_vcpu *c, uint64_t gfn)
{
    bool was = bit_test(c->w->written, gfn);
    uint64_t v = 0;
    int rc = guest_op(c, OP_READ, gfn, &v);

    if ( rc )
        return rc;
    c->reads++;
    if ( (v && v != wl_value(gfn)) || (was && !v) )
        report_bad(c, gfn, v);
    return 0;
}

static int zero_page(struct wl_vcpu *c, uint64_t gfn)
{
    uint64_t zero = 0;
    int rc = guest_op(c, OP_FILL, gfn, &zero);

    c->fills += !rc;
    return rc;
}

/* --- phases, run by each vCPU thread --- */

/* vCPU k's share of the RAM pages: indexes [*s, *e). */
static void share(const struct workload *w, unsigned int k, uint64_t *s,
                  uint64_t *e)
{
    unsigned int n = w->d->nr_vcpus;

    *s = w->ram_pages * k / n;
    *e = w->ram_pages * (k + 1) / n;
}

/* Indexes i < n with i % nr_vcpus == k. */
static uint64_t strided(const struct wl_vcpu *c, uint64_t n)
{
    unsigned int nr = c->w->d->nr_vcpus;

    return n > c->id ? (n - c->id + nr - 1) / nr : 0;
}

/* Wait for every vCPU (or a stop); vCPUs that failed arrive too. */
static void barrier(struct workload *w)
{
    __atomic_add_fetch(&w->arrived, 1, __ATOMIC_ACQ_REL);
    while ( __atomic_load_n(&w->arrived, __ATOMIC_ACQUIRE) <
            w->d->nr_vcpus && !stopped(w) )
        usleep(100);
}

/* Zero the whole share (as Windows does at boot), then load the data. */
static int windows_boot(struct wl_vcpu *c)
{
    struct workload *w = c->w;
    unsigned int nr = w->d->nr_vcpus;
    uint64_t s, e, i;
    int rc = 0;

    share(w, c->id, &s, &e);
    set_total(c, (e - s) + strided(c, w->wset));
    for ( i = s; i < e && !rc; i++ )
        rc = zero_page(c, ram_gfn(&w->ram, i));
    barrier(w);
    for ( i = c->id; i < w->wset && !rc; i += nr )
        rc = put_data(c, ram_gfn(&w->ram, i), true);
    return rc;
}

/* Load the data set and read a few pages of the share. */
static int linux_boot(struct wl_vcpu *c)
{
    struct workload *w = c->w;
    unsigned int nr = w->d->nr_vcpus, k;
    uint64_t s, e, i, rng = w->cfg->seed * 7919 + c->id + 1;
    int rc = 0;

    share(w, c->id, &s, &e);
    set_total(c, strided(c, w->wset) + LINUX_TOUCHES);
    for ( i = c->id; i < w->wset && !rc; i += nr )
        rc = put_data(c, ram_gfn(&w->ram, i), true);
    for ( k = 0; k < LINUX_TOUCHES && !rc && e > s; k++ )
        rc = get_data(c, ram_gfn(&w->ram, s + rng_next(&rng) % (e - s)));
    return rc;
}

static int random_access(struct wl_vcpu *c)
{
    struct workload *w = c->w;
    uint64_t a, r, rng = w->cfg->seed * 104729 + c->id + 1;
    int rc = 0;

    set_total(c, w->cfg->accesses);
    for ( a = 0; a < w->cfg->accesses && !rc; a++ )
    {
        r = rng_next(&rng);
        if ( (r >> 40) & 1 )
            rc = put_data(c, ram_gfn(&w->ram, r % w->ram_pages), false);
        else
            rc = get_data(c, ram_gfn(&w->ram, r % w->ram_pages));
    }
    return rc;
}

/* Replay records id, id + nr, ...: addresses wrap around guest RAM. */
static int trace_replay(struct wl_vcpu *c)
{
    struct workload *w = c->w;
    unsigned int nr = w->d->nr_vcpus;
    uint64_t i, gfn;
    int rc = 0;

    set_total(c, strided(c, w->nr_trace));
    for ( i = c->id; i < w->nr_trace && !rc; i += nr )
    {
        gfn = ram_gfn(&w->ram, w->trace[i].page % w->ram_pages);
        rc = w->trace[i].write ? put_data(c, gfn, false) : get_data(c, gfn);
    }
    return rc;
}

uint64_t workload_dirty_gfn(const struct workload *w, uint64_t i)
{
    uint64_t n = MIN(w->cfg->dirty, w->ram_pages);

    return ram_gfn(&w->ram, i * w->ram_pages / n);
}

static int dirty_pages(struct wl_vcpu *c)
{
    struct workload *w = c->w;
    uint64_t n = MIN(w->cfg->dirty, w->ram_pages), i;
    int rc = 0;

    set_total(c, strided(c, n));
    for ( i = c->id; i < n && !rc; i += w->d->nr_vcpus )
        rc = put_data(c, workload_dirty_gfn(w, i), false);
    return rc;
}

/* Is gfn, written before, this vCPU's to check (2M slices, round robin)? */
static bool verify_mine(const struct wl_vcpu *c, uint64_t gfn)
{
    return bit_test(c->w->written, gfn) &&
           (gfn >> PAGE_ORDER_2M) % c->w->d->nr_vcpus == c->id;
}

static int verify_one(struct wl_vcpu *c, uint64_t gfn)
{
    uint64_t v = wl_value(gfn);
    int rc;

    if ( !bit_test(c->w->filled, gfn) )
        return get_data(c, gfn);
    rc = guest_op(c, OP_CHECK, gfn, &v);
    if ( rc == 1 && !guest_op(c, OP_READ, gfn, &v) )
        report_bad(c, gfn, v);
    return rc < 0 ? rc : 0;
}

static int verify(struct wl_vcpu *c)
{
    const struct xc_hvm_layout *l = &c->w->ram;
    uint64_t g, total = 0;
    unsigned int i;
    int rc = 0;

    for ( i = 0; i < l->nr_ram; i++ )
        for ( g = l->ram[i].start; g < l->ram[i].end; g++ )
            total += verify_mine(c, g);
    set_total(c, total);
    for ( i = 0; i < l->nr_ram && !rc; i++ )
        for ( g = l->ram[i].start; g < l->ram[i].end && !rc; g++ )
            if ( verify_mine(c, g) )
                rc = verify_one(c, g);
    return rc;
}

static void *vcpu_main(void *arg)
{
    struct wl_vcpu *c = arg;
    struct workload *w = c->w;
    static int (*const boot[])(struct wl_vcpu *) = {
        [WL_WINDOWS_BOOT] = windows_boot, [WL_LINUX_BOOT] = linux_boot,
        [WL_RANDOM] = random_access, [WL_TRACE] = trace_replay,
    };

    if ( w->phase == WL_PHASE_BOOT )
        boot[w->cfg->workload](c);
    else if ( w->phase == WL_PHASE_DIRTY )
        dirty_pages(c);
    else
        verify(c);
    __atomic_sub_fetch(&w->running, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

/* --- control, from the toolstack thread --- */

int workload_start(struct workload *w, enum wl_phase ph)
{
    unsigned int n = w->d->nr_vcpus, k;
    int rc;

    w->phase = ph;
    w->stop = false;
    w->arrived = 0;
    w->running = n;
    for ( k = 0; k < n; k++ )
        w->vc[k] = (struct wl_vcpu){ .w = w, .id = k };
    for ( k = 0; k < n; k++ )
    {
        rc = pthread_create(&w->th[k], NULL, vcpu_main, &w->vc[k]);
        if ( rc )
        {
            __atomic_sub_fetch(&w->running, n - k, __ATOMIC_ACQ_REL);
            workload_stop(w);
            while ( k-- )
                pthread_join(w->th[k], NULL);
            return -rc;
        }
    }
    return 0;
}

bool workload_progress(struct workload *w, uint64_t *done, uint64_t *total)
{
    unsigned int k;

    *done = *total = 0;
    for ( k = 0; k < w->d->nr_vcpus; k++ )
    {
        *done += __atomic_load_n(&w->vc[k].done, __ATOMIC_RELAXED);
        *total += __atomic_load_n(&w->vc[k].total, __ATOMIC_RELAXED);
    }
    return __atomic_load_n(&w->running, __ATOMIC_ACQUIRE) != 0;
}

void workload_join(struct workload *w)
{
    unsigned int k;

    for ( k = 0; k < w->d->nr_vcpus; k++ )
        pthread_join(w->th[k], NULL);
}

void workload_stop(struct workload *w)
{
    __atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
}

void workload_totals(const struct workload *w, struct wl_vcpu *sum)
{
    unsigned int k;

    memset(sum, 0, sizeof(*sum));
    for ( k = 0; k < w->d->nr_vcpus; k++ )
    {
        const struct wl_vcpu *c = &w->vc[k];

        sum->done += c->done;
        sum->total += c->total;
        sum->reads += c->reads;
        sum->writes += c->writes;
        sum->fills += c->fills;
        sum->pauses += c->pauses;
        sum->bad += c->bad;
        if ( c->error && c->error != -EINTR )
            sum->error = c->error;
    }
}

void workload_set_floor(struct workload *w, uint64_t floor)
{
    struct xc_hvm_layout *l = &w->ram;
    unsigned int i;

    w->ram_pages = 0;
    for ( i = 0; i < l->nr_ram; i++ )
    {
        l->ram[i].end = MIN(l->ram[i].end, floor);
        l->ram[i].start = MIN(l->ram[i].start, l->ram[i].end);
        w->ram_pages += l->ram[i].end - l->ram[i].start;
    }
}

/* --- setup --- */

enum { LK_OTHER, LK_RECORD, LK_BAD };

/* Hex digits, then ','; the text after the ',' or NULL (> 64 bits: NULL). */
static const char *lackey_addr(const char *s, uint64_t *addr)
{
    const char *first = s;
    uint64_t a = 0;
    int d;

    for ( ; isxdigit((unsigned char)*s); s++ )
    {
        d = isdigit((unsigned char)*s) ? *s - '0' :
            tolower((unsigned char)*s) - 'a' + 10;
        if ( a >> 60 )
            return NULL;
        a = a << 4 | (unsigned int)d;
    }
    if ( s == first || *s != ',' )
        return NULL;
    *addr = a;
    return s + 1;
}

/*
 * One lackey line: "I  04222cac,3" (instruction fetch), " L addr,size",
 * " S addr,size" or " M addr,size" (modify).  Lines that do not start as
 * a record does are not records (valgrind's "==pid==" lines); one that
 * does must be a whole record: hex address, ',', decimal size, nothing
 * after, or the trace is corrupt.
 */
static int parse_lackey(const char *s, struct wl_trace_rec *r)
{
    uint64_t addr;
    size_t n;

    if ( s[0] == 'I' && s[1] == ' ' )
        r->write = false;
    else if ( s[0] == ' ' && s[1] && strchr("LSM", s[1]) && s[2] == ' ' )
        r->write = s[1] != 'L';
    else
        return LK_OTHER;
    s += 3;
    s += strspn(s, " ");
    if ( !(s = lackey_addr(s, &addr)) || !(n = strspn(s, "0123456789")) ||
         n > 19 || s[strspn(s + n, " \t\r\n") + n] )
        return LK_BAD;
    r->page = addr >> PAGE_SHIFT;
    return LK_RECORD;
}

/* Append r to the trace; -1 after a message. */
static int add_record(struct workload *w, size_t *cap, const char *path,
                      const struct wl_trace_rec *r)
{
    struct wl_trace_rec *t;

    if ( w->nr_trace == *cap )
    {
        *cap = *cap * 2 + 4096;
        if ( (t = realloc(w->trace, *cap * sizeof(*t))) == NULL )
            return fprintf(stderr, "p2mctl: %s: out of memory\n", path), -1;
        w->trace = t;
    }
    w->trace[w->nr_trace++] = *r;
    return 0;
}

/* Line nr of the trace (len bytes): its kind, LK_BAD after a message. */
static int trace_line(const char *path, unsigned long nr, const char *line,
                      long len, struct wl_trace_rec *r)
{
    int kind;

    if ( len == IO_TOO_LONG )
        fprintf(stderr, "p2mctl: %s:%lu: line longer than %u bytes\n", path,
                nr, IO_MAX_LINE);
    else if ( strlen(line) != (size_t)len )
        fprintf(stderr, "p2mctl: %s:%lu: NUL byte at column %zu\n", path, nr,
                strlen(line) + 1);
    else if ( (kind = parse_lackey(line, r)) == LK_BAD )
        fprintf(stderr, "p2mctl: %s:%lu: not a lackey record (such as "
                "\" L 04222cac,4\"): \"%.*s\"\n", path, nr,
                (int)strcspn(line, "\r\n"), line);
    else
        return kind;
    return LK_BAD;
}

static int load_trace(struct workload *w, const char *path)
{
    FILE *f = open_input(path);
    size_t cap = 0;
    unsigned long line_nr = 0;
    struct wl_trace_rec r;
    char line[IO_MAX_LINE + 1];
    long len;
    int rc = 0, kind;

    if ( !f )
        return fprintf(stderr, "p2mctl: %s: %s\n", path, strerror(errno)), -1;
    while ( !rc && (len = read_line(f, line)) != -1 )
    {
        kind = trace_line(path, ++line_nr, line, len, &r);
        if ( kind == LK_BAD )
            rc = -1;
        else if ( kind == LK_RECORD )
            rc = add_record(w, &cap, path, &r);
    }
    if ( !rc && ferror(f) )
    {
        fprintf(stderr, "p2mctl: %s: reading failed: %s\n", path,
                strerror(errno));
        rc = -1;
    }
    fclose(f);
    if ( !rc && w->nr_trace == 0 )
    {
        fprintf(stderr, "p2mctl: %s: no lackey records (lines such as "
                "\" L 04222cac,4\")\n", path);
        rc = -1;
    }
    return rc;
}

int workload_load(struct workload *w, const struct run_config *cfg)
{
    memset(w, 0, sizeof(*w));
    if ( cfg->workload == WL_TRACE && load_trace(w, cfg->trace) )
    {
        workload_fini(w);
        return -1;
    }
    return 0;
}

int workload_init(struct workload *w, const struct run_config *cfg,
                  struct domain *d, const struct xc_hvm_layout *l,
                  uint64_t target_pages)
{
    struct wl_trace_rec *trace = w->trace;
    size_t nr_trace = w->nr_trace;

    memset(w, 0, sizeof(*w));
    w->trace = trace;
    w->nr_trace = nr_trace;
    w->cfg = cfg;
    w->d = d;
    w->ram = *l;
    w->ram_pages = l->pages;
    w->top = l->top;
    w->wset = MIN(target_pages / 8, l->pages / 2);
    w->written = calloc(w->top / 8 + 1, 1);
    w->filled = calloc(w->top / 8 + 1, 1);
    if ( !w->written || !w->filled )
    {
        workload_fini(w);
        return fprintf(stderr, "p2mctl: out of memory\n"), -1;
    }
    return 0;
}

void workload_fini(struct workload *w)
{
    free(w->written);
    free(w->filled);
    free(w->trace);
    w->written = w->filled = NULL;
    w->trace = NULL;
}

/*
 * The P2M/PoD API fuzzer (see fuzz.h): decodes an input into operations on
 * up to three domains of one hosted machine and checks the oracle after
 * every operation.
 *
 * Input: an 8-byte header, then 8-byte operations (at most MAX_OPS).
 *   header[s], s < 3: bit 7 domain s exists at the start, bit 6 EPT,
 *                     bits 0-2 its maxmem (maxmem_pages[]);
 *   header[3]: bits 0-1 heap fragmentation (none, no1g, no2m), bit 2 the
 *              PoD out-of-memory policy of the first domains is crash.
 *   op[0] operation, op[1] domain slot (bits 0-3 % 3; bits 4-7 all set:
 *   "force", do a guest access the P2M does not allow, which must crash
 *   the domain), op[2..3]
 *   the gfn (gfn_of), op[4] order (bits 0-1) and count (bits 2-3), op[5..7]
 *   per operation (see the op_* functions).
 *
 * The machine: RAM [0, 1.5G) and [2G, 3G), a hole [1.5G, 2G) for MMIO.
 * Domain slot s is domain s + 1.  Guests use gfns below 4 GiB.
 *
 * The oracle, after every operation:
 *   - p2m_audit() of every domain is clean, p2m_pod_check() is 0 and
 *     heap_check_accounting() is 0; no stale software-TLB hit;
 *   - every page the fuzzer wrote holds what it wrote (a written page may
 *     change only by a later write, by being unmapped, remapped or
 *     ballooned away, or by being reclaimed while all zero); a page never
 *     written reads 0; no domain ever sees a value another domain wrote
 *     (every value written is a tag naming its writer);
 *   - API contracts that state can show: a successful map maps what was
 *     asked, a failed balloon changes nothing and a successful one reports
 *     exactly the pages the guest lost, log-dirty reports every page
 *     written since the last clean, a frame of another domain is never
 *     mapped, an access the P2M does not allow never succeeds;
 *   - with no domain left, every frame is free.
 */
#include "fuzz.h"
#include "model.h"

#include "hosted.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/memory.h>
#include <xen/mm.h>
#include <xen/sched.h>

#define SLOTS 3
#define RAM_LO_END 0x60000ull       /* RAM [0, 1.5G) */
#define HOLE_END 0x80000ull         /* hole [1.5G, 2G) */
#define RAM_HI_END 0xc0000ull       /* RAM [2G, 3G) */
#define GUEST_GFNS (1ull << 20)
#define MAX_OPS 400
#define BIG_OPS 2                   /* order-18 operations per input */
#define TAG_MAGIC 0xa5ull
#define K(n) (1u << (n))

static const uint64_t maxmem_pages[8] = {
    1024, 4096, 65536, (1ull << 18) + 1024, 0 /* all */, 512, 2048, 300,
};

struct slot {
    struct domain *d;               /* NULL: no domain in this slot */
    uint32_t inc;                   /* incarnation (per domain_create) */
    bool logdirty;
    struct page_set pages;          /* expected content of written gfns */
    struct gfn_list dirty;          /* written since the last clean */
    unsigned int nr_iomem;          /* MMIO ranges granted (as asked) */
    struct machine_range iomem[8];
    unsigned int nr_pins;           /* pinned frames and where they map */
    struct pin { uint64_t gfn, mfn; unsigned int order; } pin[16];
};

static struct {
    struct slot s[SLOTS];
    struct page_set shadow;         /* frames: what was last written there */
    const struct fuzz_opts *o;
    uint32_t next_inc, seq;
    unsigned int op, big;
    uint64_t stale0;
    char line[240];
    uint8_t bitmap[GUEST_GFNS / 8];
} fz;

/* --- reporting --- */

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "FUZZ ORACLE FAILED at op %u (%s): ", fz.op, fz.line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

static void __attribute__((format(printf, 1, 2))) note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(fz.line, sizeof(fz.line), fmt, ap);
    va_end(ap);
    if ( fz.o->trace )
        fprintf(stderr, "%s\n", fz.line);
}

/* Trace the result of an API call; returns rc. */
static int64_t result(int64_t rc)
{
    if ( fz.o->trace )
        fprintf(stderr, "#   = %lld\n", (long long)rc);
    return rc;
}

/* A skipped operation (it would trigger an open known finding). */
static bool avoid(unsigned int finding, bool cond)
{
    if ( !cond || !(fz.o->avoid & K(finding)) )
        return false;
    if ( fz.o->trace )
        fprintf(stderr, "#   skipped: would trigger known finding %u\n",
                finding);
    return true;
}

static const char *who(uint64_t v)
{
    static char buf[64];
    unsigned int i;

    if ( v >> 56 != TAG_MAGIC )
        return v ? "not a tag" : "zero";
    for ( i = 0; i < SLOTS; i++ )
        if ( fz.s[i].d && fz.s[i].inc == ((v >> 32) & 0xffffff) )
        {
            snprintf(buf, sizeof(buf), "written by d%u", i + 1);
            return buf;
        }
    snprintf(buf, sizeof(buf), "written by incarnation %llu",
             (unsigned long long)((v >> 32) & 0xffffff));
    return buf;
}

/* --- small helpers --- */

static uint64_t new_tag(const struct slot *s)
{
    return TAG_MAGIC << 56 | (uint64_t)(s->inc & 0xffffff) << 32 | ++fz.seq;
}

static unsigned int slot_id(const struct slot *s)
{
    return (unsigned int)(s - fz.s) + 1;
}

static struct p2m_lookup lookup(struct slot *s, uint64_t g)
{
    struct p2m_lookup l;

    if ( p2m_get_entry(&s->d->p2m, _gfn(g), &l) )
        fail("p2m_get_entry(d%u, %#llx) failed", slot_id(s),
             (unsigned long long)g);
    return l;
}

static const uint64_t *frame_at(uint64_t mfn)
{
    return plat_map_mfn(_mfn(mfn));
}

static bool frame_is_zero(uint64_t mfn)
{
    const uint64_t *f = frame_at(mfn);
    uint64_t acc = 0;
    unsigned int i;

    for ( i = 0; i < 512; i++ )
        acc |= f[i];
    return acc == 0;
}

static struct pod_stats pod_stats(struct slot *s)
{
    struct pod_stats st;

    p2m_pod_get_stats(s->d, &st);
    return st;
}

/* B: what the guest believes it has. */
static uint64_t believed(struct slot *s)
{
    struct pod_stats st = pod_stats(s);

    return st.populated + st.entry_count;
}

/* PoD pages in [g, g + n), by lookups from leaf to leaf. */
static uint64_t pod_pages_in(struct slot *s, uint64_t g, uint64_t n)
{
    uint64_t end = g + n, pages = 0;

    while ( g < end )
    {
        struct p2m_lookup l = lookup(s, g);
        uint64_t next = (g | ((1ull << l.order) - 1)) + 1;

        if ( next > end )
            next = end;
        if ( l.type == p2m_populate_on_demand )
            pages += next - g;
        g = next;
    }
    return pages;
}

/* Known finding 4: replacing PoD entries while the cache holds pages. */
static bool replaces_pod_with_cache(struct slot *s, uint64_t g, uint64_t n)
{
    if ( !(fz.o->avoid & K(4)) || g >= P2M_MAX_GFN || n > P2M_MAX_GFN - g )
        return false;
    return pod_stats(s).count && pod_pages_in(s, g, n);
}

/*
 * The gfn of an operation: one of four 1G regions, 32 2M blocks each; or,
 * with op[4] bits 4-5 set, a bad one (at or near the top of the guest
 * space, or beyond it).
 */
static uint64_t gfn_of(const uint8_t *op, unsigned int order)
{
    static const uint64_t wild[8] = {
        P2M_MAX_GFN - 1, P2M_MAX_GFN - 512, P2M_MAX_GFN - (1ull << 18),
        P2M_MAX_GFN, ~0ull - 511, 1ull << 40, P2M_MAX_GFN - 3,
        (1ull << 63) + 512,
    };
    uint64_t v = op[2] | (uint64_t)op[3] << 8;
    uint64_t g = (v >> 14) << 18 | ((v >> 9) & 31) << 9 | (v & 511);

    if ( (op[4] & 0x30) == 0x30 )
        g = wild[op[2] & 7];
    return order < 64 ? align_down(g, order) : g;
}

/* Orders 0, 9, 18; with op[4] bits 6-7 set, op[3] & 31 (bad ones too). */
static unsigned int order_of(const uint8_t *op)
{
    static const unsigned int orders[4] = { 0, 0, 9, 18 };
    unsigned int o = orders[op[4] & 3];

    if ( (op[4] & 0xc0) == 0xc0 )
        return op[3] & 31;

    if ( o == 18 && fz.big++ >= BIG_OPS )
        o = 9;                      /* 1G operations are slow: a few only */
    return o;
}

static unsigned int count_of(const uint8_t *op)
{
    return 1 + ((op[4] >> 2) & 3);
}

/* --- the oracle --- */

static void audit(struct slot *s)
{
    static struct p2m_audit_report r;
    unsigned int i;

    if ( !p2m_audit(&s->d->p2m, &r) )
        return;
    for ( i = 0; i < r.nr_recorded; i++ )
        fprintf(stderr, "audit d%u: %s level %u gfn %#llx entry %#llx "
                "detail %#llx\n", slot_id(s),
                p2m_audit_code_name(r.err[i].code), r.err[i].level,
                (unsigned long long)r.err[i].gfn,
                (unsigned long long)r.err[i].entry,
                (unsigned long long)r.err[i].detail);
    fail("p2m_audit of d%u: %u errors", slot_id(s), r.nr_errors);
}

static void report_mismatch(struct slot *s, uint64_t g, uint64_t mfn,
                            const struct content *c)
{
    const uint64_t *f = frame_at(mfn);
    unsigned int i;

    for ( i = 0; i < 512; i++ )
        if ( f[i] != content_word(c, i * 8) )
            fail("d%u gfn %#llx (mfn %#llx) word +%u holds %#llx (%s), "
                 "expected %#llx", slot_id(s), (unsigned long long)g,
                 (unsigned long long)mfn, i * 8, (unsigned long long)f[i],
                 who(f[i]), (unsigned long long)content_word(c, i * 8));
    fail("d%u gfn %#llx: content mismatch", slot_id(s),
         (unsigned long long)g);
}

/* One written page: still mapped, with what was written (or zero PoD). */
static void check_page(struct slot *s, struct page_model *p, bool full)
{
    struct p2m_lookup l = lookup(s, p->key);

    if ( p2m_type_is_ram(l.type) )
    {
        const uint64_t *f = frame_at(mfn_x(l.mfn));

        struct page_model *sh = set_find(&fz.shadow, mfn_x(l.mfn));

        if ( content_matches(&p->c, f, full) )
            p->has_alt = false;
        else if ( p->has_alt && content_matches(&p->alt, f, full) )
        {
            p->c = p->alt;
            p->has_alt = false;
        }
        else
            report_mismatch(s, p->key, mfn_x(l.mfn), &p->c);
        /* The frame holds what the page does: keep its record in step. */
        if ( sh && sh->inc == s->inc )
        {
            sh->c = p->c;
            sh->has_alt = false;
        }
        return;
    }
    if ( l.type == p2m_populate_on_demand )
    {
        if ( !content_is_zero(&p->c) &&
             !(p->has_alt && content_is_zero(&p->alt)) )
        {
            unsigned int i = 0;
            uint64_t v = p->c.base;

            while ( !v && i < MODEL_WORDS )
                v = p->c.w[i++];
            fail("d%u gfn %#llx became PoD but held %#llx (%s): a non-zero "
                 "page was reclaimed", slot_id(s),
                 (unsigned long long)p->key, (unsigned long long)v, who(v));
        }
        content_fill(&p->c, 0);
        p->has_alt = false;
        return;
    }
    fail("d%u gfn %#llx lost its mapping (now %s) without an unmap",
         slot_id(s), (unsigned long long)p->key, p2m_type_name(l.type));
}

static void check_range(struct slot *s, uint64_t start, uint64_t end,
                        bool full)
{
    unsigned int i;

    for ( i = 0; i < s->pages.n; i++ )
        if ( s->pages.p[i].key >= start && s->pages.p[i].key < end )
            check_page(s, &s->pages.p[i], full);
}

/* Pinned frames stay where they are mapped (a sweep never takes them). */
static void check_pins(struct slot *s)
{
    unsigned int i;

    for ( i = 0; i < s->nr_pins; i++ )
    {
        struct p2m_lookup l = lookup(s, s->pin[i].gfn);

        if ( !p2m_type_is_ram(l.type) || mfn_x(l.mfn) != s->pin[i].mfn )
            fail("d%u gfn %#llx maps pinned frame %#llx, but is now %s "
                 "mfn %#llx", slot_id(s), (unsigned long long)s->pin[i].gfn,
                 (unsigned long long)s->pin[i].mfn, p2m_type_name(l.type),
                 (unsigned long long)mfn_x(l.mfn));
    }
}

struct unwritten { struct slot *s; unsigned int left; };

/* A RAM leaf's first, middle and last frames: modelled, or zero. */
static int unwritten_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    struct unwritten *u = ctx;
    uint64_t n = 1ull << l->order, off[3] = { 0, n / 2, n - 1 };
    unsigned int i;

    if ( !p2m_type_is_ram(l->type) )
        return 0;
    for ( i = 0; i < 3; i++ )
    {
        uint64_t g = gfn_x(gfn) + off[i], m = mfn_x(l->mfn) + off[i];

        if ( !set_find(&u->s->pages, g) && !frame_is_zero(m) )
            fail("d%u gfn %#llx (mfn %#llx) was never written but holds "
                 "%#llx (%s)", slot_id(u->s), (unsigned long long)g,
                 (unsigned long long)m, (unsigned long long)*frame_at(m),
                 who(*frame_at(m)));
    }
    return --u->left == 0;
}

/* Pages never written read zero (up to 128 leaves looked at). */
static void check_unwritten(struct slot *s)
{
    struct unwritten u = { s, 128 };

    p2m_for_each_leaf(&s->d->p2m, unwritten_leaf, &u);
}

static bool any_domain(void)
{
    unsigned int i;

    for ( i = 0; i < SLOTS; i++ )
        if ( fz.s[i].d )
            return true;
    return false;
}

static void check_all(bool full)
{
    struct heap_stats hs;
    unsigned int i;

    for ( i = 0; i < SLOTS; i++ )
    {
        struct slot *s = &fz.s[i];

        if ( !s->d )
            continue;
        audit(s);
        if ( p2m_pod_check(s->d) )
            fail("p2m_pod_check(d%u) failed", slot_id(s));
        /* Few pages: compare them whole (cheap), else the samples. */
        check_range(s, 0, ~0ull, full || s->pages.n <= 32);
        check_pins(s);
        check_unwritten(s);
    }
    if ( heap_check_accounting() )
        fail("heap_check_accounting failed");
    if ( hosted_tlb_stale_hits() != fz.stale0 )
        fail("a vCPU used a stale TLB entry (missing flush)");
    heap_get_stats(&hs);
    if ( !any_domain() && hs.free_pages + hs.xen_pages != hs.total_pages )
        fail("no domain left, but %llu of %llu frames are not free",
             (unsigned long long)(hs.total_pages - hs.free_pages -
                                  hs.xen_pages),
             (unsigned long long)hs.total_pages);
}

/* --- all or nothing: what a failed operation must leave as it was --- */

struct snap {
    uint64_t hash, leaves, tot, count, entries;
};

static int hash_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    struct snap *sn = ctx;
    uint64_t v[5] = { gfn_x(gfn), mfn_x(l->mfn), l->type, l->access,
                      l->order };
    unsigned int i;

    for ( i = 0; i < 5; i++ )
        sn->hash = (sn->hash ^ v[i]) * 0x100000001b3ull;
    sn->leaves++;
    return 0;
}

static struct snap snap_take(struct slot *s)
{
    struct snap sn = { 0xcbf29ce484222325ull, 0, 0, 0, 0 };
    struct pod_stats st;

    p2m_for_each_leaf(&s->d->p2m, hash_leaf, &sn);
    p2m_pod_get_stats(s->d, &st);
    sn.tot = st.tot_pages;
    sn.count = st.count;
    sn.entries = st.entry_count;
    return sn;
}

/* After an operation failed with rc: nothing of s changed. */
static void snap_expect(struct slot *s, const struct snap *before,
                        int64_t rc)
{
    struct snap now;

    if ( rc >= 0 )
        return;
    now = snap_take(s);
    if ( now.hash != before->hash || now.leaves != before->leaves )
        fail("failed (%lld) but d%u's P2M changed (%llu leaves before, "
             "%llu after)", (long long)rc, slot_id(s),
             (unsigned long long)before->leaves,
             (unsigned long long)now.leaves);
    if ( now.tot != before->tot || now.count != before->count ||
         now.entries != before->entries )
        fail("failed (%lld) but d%u's pages changed: tot %llu -> %llu, "
             "cache %llu -> %llu, PoD entries %llu -> %llu", (long long)rc,
             slot_id(s), (unsigned long long)before->tot,
             (unsigned long long)now.tot, (unsigned long long)before->count,
             (unsigned long long)now.count,
             (unsigned long long)before->entries,
             (unsigned long long)now.entries);
}

/* Forget what the model expects of [g, g + n): it was unmapped/replaced. */
static void drop_pins(struct slot *s, uint64_t g, uint64_t n)
{
    unsigned int i = 0;

    while ( i < s->nr_pins )
        if ( s->pin[i].gfn < g + n &&
             s->pin[i].gfn + (1ull << s->pin[i].order) > g )
            s->pin[i] = s->pin[--s->nr_pins];
        else
            i++;
}

static void forget(struct slot *s, uint64_t g, uint64_t n)
{
    set_del_range(&s->pages, g, g + n);
    gl_del_range(&s->dirty, g, g + n);
    drop_pins(s, g, n);
}


/*
 * Frames [m, m + n) were just handed to a guest as fresh memory (populate
 * or PoD fill): any the fuzzer wrote before must be zero now, except
 * frame keep (the one a faulting write has just written).
 */
static void expect_scrubbed(struct slot *s, uint64_t m, uint64_t n,
                            uint64_t keep, const char *how)
{
    unsigned int i;

    for ( i = 0; i < fz.shadow.n; i++ )
    {
        uint64_t f = fz.shadow.p[i].key;

        if ( f >= m && f < m + n && f != keep && !frame_is_zero(f) )
            fail("%s gave d%u frame %#llx that still holds data (%s)", how,
                 slot_id(s), (unsigned long long)f,
                 who(fz.shadow.p[i].c.w[0]));
    }
    if ( keep >= m && keep < m + n )
    {
        set_del_range(&fz.shadow, m, keep);
        set_del_range(&fz.shadow, keep + 1, m + n);
    }
    else
        set_del_range(&fz.shadow, m, m + n);
}

/* --- domains --- */

static void destroy_slot(struct slot *s)
{
    domain_destroy(s->d);
    s->d = NULL;
    set_clear(&s->pages);
    s->dirty.n = 0;
}

static void create_slot(struct slot *s, bool ept, unsigned int maxsel,
                        bool crash)
{
    enum p2m_format fmt = ept ? P2M_FORMAT_EPT : P2M_FORMAT_NPT;
    uint64_t max = maxmem_pages[maxsel & 7];
    struct heap_stats hs;
    int err = 0;

    heap_get_stats(&hs);
    if ( !max )
        max = hs.total_pages;
    note("create d%u hap=%s maxmem=%lluK vcpus=2", slot_id(s),
         p2m_format_to_name(fmt), (unsigned long long)max * 4);
    if ( s->d )
        destroy_slot(s);
    s->d = domain_create(slot_id(s), fmt, max, 2, &err);
    if ( !s->d )
    {
        if ( err != -ENOMEM )
            fail("domain_create: %d", err);
        return;
    }
    s->inc = ++fz.next_inc;
    s->logdirty = false;
    s->nr_iomem = 0;
    s->nr_pins = 0;
    set_clear(&s->pages);
    s->dirty.n = 0;
    if ( crash )
        p2m_pod_set_policy(s->d, true);
}

static void op_create(struct slot *s, const uint8_t *op)
{
    create_slot(s, op[5] & 1, op[6], op[7] & 1);
}

static void op_destroy(struct slot *s, const uint8_t *op)
{
    (void)op;
    note("destroy d%u", slot_id(s));
    destroy_slot(s);
}

/* --- picking frames for explicit maps --- */

static uint64_t nth_chunk(struct list_head *h, unsigned int idx,
                          unsigned int order, bool *found)
{
    struct list_head *p, *tmp;
    unsigned int n = 0, k;

    list_for_each_safe(p, tmp, h)
        n++;
    if ( !n )
        return 0;
    k = idx % n;
    list_for_each_safe(p, tmp, h)
        if ( !k-- )
        {
            struct page_info *pg = list_entry(p, struct page_info, list);
            uint64_t base = mfn_x(page_to_mfn(pg));
            uint64_t off = pg->order > order ?
                           ((uint64_t)(idx >> 4) << order) &
                           ((1ull << pg->order) - 1) : 0;

            *found = true;
            return align_down(base + off, order);
        }
    return 0;
}

struct nth_table { unsigned int k; uint64_t mfn; bool found; };

static int nth_table_fn(void *ctx, mfn_t mfn, const uint64_t *entries)
{
    struct nth_table *t = ctx;

    (void)entries;
    t->mfn = mfn_x(mfn);
    t->found = true;
    return t->k-- == 0;
}

static uint64_t random_ram(uint32_t idx, unsigned int order)
{
    uint64_t r = ((uint64_t)idx * 2654435761u) %
                 (RAM_LO_END + RAM_HI_END - HOLE_END);

    r = r < RAM_LO_END ? r : r - RAM_LO_END + HOLE_END;
    return align_down(r, order);
}

static struct slot *other_slot(struct slot *s, unsigned int idx)
{
    unsigned int i, k = slot_id(s) - 1;

    for ( i = 1; i < SLOTS; i++ )
    {
        struct slot *o = &fz.s[(k + i + (idx & 1)) % SLOTS];

        if ( o != s && o->d )
            return o;
    }
    return NULL;
}

/* The frame an explicit map names: kind 0-7 (see the cases). */
static uint64_t pick_mfn(struct slot *s, unsigned int kind, uint32_t idx,
                         unsigned int order)
{
    struct nth_table t = { idx % 64, 0, false };
    struct slot *o;
    bool found = false;
    uint64_t m = 0;
    unsigned int i;

    switch ( kind )
    {
    case 0:                         /* one of the domain's own frames */
        m = nth_chunk(&s->d->page_list, idx, order, &found);
        break;
    case 1:                         /* a frame of another domain */
        o = other_slot(s, idx);
        if ( o )
            m = nth_chunk(&o->d->page_list, idx, order, &found);
        break;
    case 2:                         /* a page of the domain's PoD cache */
        for ( i = 0; i < POD_ORDERS && !found; i++ )
            m = nth_chunk(&s->d->p2m.pod.cache[(i + idx) % POD_ORDERS],
                          idx, order, &found);
        break;
    case 4:                         /* the MMIO hole */
        return align_down(RAM_LO_END + (idx % (HOLE_END - RAM_LO_END)),
                          order);
    case 5:                         /* beyond the top of RAM */
        return align_down(RAM_HI_END + (idx & 0xfff), order);
    case 6:                         /* a P2M table page of some domain */
        o = &fz.s[idx % SLOTS];
        if ( o->d )
            p2m_for_each_table(&o->d->p2m, nth_table_fn, &t);
        found = t.found;
        m = t.mfn;
        break;
    case 7:                         /* a frame the fuzzer wrote */
        if ( fz.shadow.n )
        {
            found = true;
            m = align_down(fz.shadow.p[idx % fz.shadow.n].key, order);
        }
        break;
    }
    return found ? m : random_ram(idx, order);
}

/* Chunks of [m, m + n): free, in a PoD cache, not this domain's RAM. */
struct frames_info { bool in_ram, free, pod, other, dirty_free; };

static struct frames_info frames_info(struct slot *s, uint64_t m, uint64_t n)
{
    struct frames_info fi = { false, false, false, false, false };
    uint64_t pos = m, i;

    if ( m + n > machine.max_mfn || !mfn_range_is_ram(_mfn(m), 0) ||
         !mfn_range_is_ram(_mfn(m + n - 1), 0) )
        return fi;
    fi.in_ram = true;
    while ( pos < m + n )
    {
        struct page_info *h = mfn_chunk_head(_mfn(pos));
        uint64_t end;

        if ( !h )
            return fi;
        end = mfn_x(page_to_mfn(h)) + (1ull << h->order);
        fi.free |= h->use == PGU_FREE;
        fi.pod |= (h->use == PGU_DOMAIN) && (h->flags & PGF_pod);
        fi.other |= h->use != PGU_FREE &&
                    (h->use != PGU_DOMAIN ||
                     h->owner != s->d->domain_id + 1u);
        /* A free chunk flagged zeroed is trusted (reading it costs). */
        if ( h->use == PGU_FREE && !(h->flags & PGF_zeroed) &&
             (fz.o->avoid & K(3)) )
            for ( i = pos; i < MIN(end, m + n) && !fi.dirty_free; i++ )
                fi.dirty_free = !frame_is_zero(i);
        pos = end;
    }
    return fi;
}

/* --- mapping operations --- */

static p2m_type_t ram_type_of(unsigned int v)
{
    static const p2m_type_t t[8] = {
        p2m_ram_rw, p2m_ram_rw, p2m_ram_rw, p2m_ram_rw, p2m_ram_rw,
        p2m_ram_ro, p2m_ram_logdirty, p2m_ram_rw,
    };

    return t[v & 7];
}

static p2m_access_t access_of(unsigned int v)
{
    return (v & 0x80) ? (p2m_access_t)(v & 7) : P2M_ACCESS_RWX;
}

static void expect_mapped(struct slot *s, uint64_t g, p2m_type_t t,
                          uint64_t mfn)
{
    struct p2m_lookup l = lookup(s, g);
    /* In log-dirty mode a new ram_rw page may start write-protected. */
    bool ok = l.type == t ||
              (s->logdirty && t == p2m_ram_rw && l.type == p2m_ram_logdirty);

    if ( !ok || (p2m_type_has_mfn(t) && mfn_x(l.mfn) != mfn) )
        fail("map succeeded but gfn %#llx is %s mfn %#llx, not %s mfn %#llx",
             (unsigned long long)g, p2m_type_name(l.type),
             (unsigned long long)mfn_x(l.mfn), p2m_type_name(t),
             (unsigned long long)mfn);
}

/*
 * op[5]: type (bits 0-2), op[6]: access (bit 7: not rwx); op[5] bits 6-7
 * set: type op[6] & 15 and access op[7], bad ones included.
 */
static void op_map_auto(struct slot *s, const uint8_t *op)
{
    unsigned int order = order_of(op);
    uint64_t g = gfn_of(op, order), n = 1ull << order;
    bool raw = (op[5] & 0xc0) == 0xc0;
    p2m_type_t t = raw ? (p2m_type_t)(op[6] & 15) : ram_type_of(op[5]);
    p2m_access_t a = raw ? op[7] : access_of(op[6]);
    struct snap sn;
    char acc[4];
    mfn_t mfn;
    int rc;

    p2m_access_str(a, acc);
    note("map d%u %#llx auto %u type=%s access=%s", slot_id(s),
         (unsigned long long)g, order, p2m_type_name(t), acc);
    if ( avoid(5, believed(s) + n > s->d->max_pages) ||
         avoid(4, replaces_pod_with_cache(s, g, n)) )
        return;
    sn = snap_take(s);
    rc = (int)result(memory_populate(s->d, _gfn(g), order, t, a, &mfn));
    snap_expect(s, &sn, rc);
    if ( rc )
        return;
    if ( !p2m_type_is_ram(t) || a > P2M_ACCESS_RWX )
        fail("populate accepted type %u access %#x", t, a);
    expect_mapped(s, g, t, mfn_x(mfn));
    forget(s, g, n);
    expect_scrubbed(s, mfn_x(mfn), n, ~0ull, "populate");
    if ( !frame_is_zero(mfn_x(mfn)) )
        fail("populate gave d%u a frame %#llx that is not zero", slot_id(s),
             (unsigned long long)mfn_x(mfn));
}

/*
 * After an explicit map of [m, m + n) at g: frames the fuzzer wrote keep
 * their content if this domain wrote them (or zero, had it given them
 * up); anything another domain wrote must have been scrubbed.
 */
static void inherit_frames(struct slot *s, uint64_t g, uint64_t m,
                           uint64_t n, const bool *was_free)
{
    unsigned int i;

    for ( i = 0; i < fz.shadow.n; i++ )
    {
        struct page_model *sh = &fz.shadow.p[i], *p;

        if ( sh->key < m || sh->key >= m + n )
            continue;
        p = set_get(&s->pages, g + (sh->key - m));
        if ( !p )
            continue;
        if ( sh->inc == s->inc )
        {
            p->c = sh->c;
            p->has_alt = sh->has_alt || was_free[i];
            p->alt = sh->has_alt ? sh->alt : p->alt;
            if ( was_free[i] )
                content_fill(&p->alt, 0);
        }
        else
        {
            content_fill(&p->c, 0);
            p->has_alt = false;
            sh->inc = s->inc;
            sh->c = p->c;
            sh->has_alt = false;
        }
    }
}

/* Frames of [m, m + n) not written by the fuzzer read zero (sampled). */
static void expect_zero_frames(struct slot *s, uint64_t g, uint64_t m,
                               uint64_t n)
{
    uint64_t step = n > 64 ? n / 64 : 1, i;

    for ( i = 0; i < n; i += step )
        if ( !set_find(&fz.shadow, m + i) && !frame_is_zero(m + i) )
            fail("explicit map gave d%u gfn %#llx frame %#llx holding "
                 "%#llx (%s): not scrubbed", slot_id(s),
                 (unsigned long long)(g + i), (unsigned long long)(m + i),
                 (unsigned long long)*frame_at(m + i), who(*frame_at(m + i)));
}

/* Is [m, m + n) inside one range granted to s (or within the 8 kept)? */
static bool iomem_granted(const struct slot *s, uint64_t m, uint64_t n)
{
    unsigned int i;

    if ( s->nr_iomem > 8 )
        return true;                /* more than the model keeps */
    for ( i = 0; i < s->nr_iomem; i++ )
        if ( m >= s->iomem[i].start && m + n <= s->iomem[i].end )
            return true;
    return false;
}

static bool map_mfn_avoided(struct slot *s, uint64_t g, uint64_t m,
                            unsigned int order, p2m_type_t t,
                            const struct frames_info *fi)
{
    uint64_t n = 1ull << order;
    bool ram = p2m_type_is_ram(t);

    return avoid(1, ram && fi->pod) ||
           avoid(2, t == p2m_mmio_direct && m + n > machine.max_mfn) ||
           avoid(3, ram && fi->dirty_free) ||
           avoid(5, ram && believed(s) + n > s->d->max_pages) ||
           avoid(4, replaces_pod_with_cache(s, g, n));
}

/*
 * op[5]: frame kind (bits 0-2, pick_mfn) and type (bits 3-5: 6 is MMIO);
 * op[6..7]: which frame; op[7] bit 7: access op[7] & 7.
 */
static void op_map_mfn(struct slot *s, const uint8_t *op)
{
    static bool was_free[MODEL_MAX];
    unsigned int order = order_of(op), i;
    uint64_t g = gfn_of(op, order), n = 1ull << order, m;
    uint32_t idx = op[6] | (uint32_t)op[7] << 8;
    p2m_type_t t = ((op[5] >> 3) & 7) == 6 ? p2m_mmio_direct
                                           : ram_type_of(op[5] >> 3);
    p2m_access_t a = access_of(op[7]);
    struct frames_info fi;
    struct snap sn;
    char acc[4];
    int rc;

    m = pick_mfn(s, op[5] & 7, idx, order);
    p2m_access_str(a, acc);
    note("map d%u %#llx %#llx %u type=%s access=%s", slot_id(s),
         (unsigned long long)g, (unsigned long long)m, order,
         p2m_type_name(t), acc);
    fi = frames_info(s, m, n);
    if ( map_mfn_avoided(s, g, m, order, t, &fi) )
        return;
    for ( i = 0; i < fz.shadow.n; i++ )
        was_free[i] = mfn_owner(_mfn(fz.shadow.p[i].key)) < 0;
    sn = snap_take(s);
    rc = (int)result(memory_map_frames(s->d, _gfn(g), _mfn(m), order, t,
                                       a));
    snap_expect(s, &sn, rc);
    if ( rc )
        return;
    if ( p2m_type_is_ram(t) && fi.other )
        fail("d%u mapped frame(s) of [%#llx, +%#llx) that are not its "
             "guest memory (another domain's, a table page or a pin)",
             slot_id(s), (unsigned long long)m,
             (unsigned long long)n);
    if ( t == p2m_mmio_direct && fi.in_ram )
        fail("MMIO mapping of RAM frame %#llx accepted",
             (unsigned long long)m);
    if ( t == p2m_mmio_direct && m + n > machine.max_mfn )
        fail("MMIO mapping of [%#llx, +%#llx) beyond the machine accepted",
             (unsigned long long)m, (unsigned long long)n);
    if ( t == p2m_mmio_direct && !iomem_granted(s, m, n) )
        fail("MMIO mapping of [%#llx, +%#llx) without an iomem permission "
             "accepted", (unsigned long long)m, (unsigned long long)n);
    expect_mapped(s, g, t, m);
    forget(s, g, n);
    if ( !p2m_type_is_ram(t) )
        return;
    inherit_frames(s, g, m, n, was_free);
    expect_zero_frames(s, g, m, n);
    check_range(s, g, g + n, true);
}

/*
 * domain_iomem_permit of 2^order frames (op[4]) from kind op[5] & 7
 * frames (pick_mfn: 4 is the hole, 5 beyond RAM) or, with op[5] bit 3,
 * a range reaching out of the hole.
 */
static void op_iomem(struct slot *s, const uint8_t *op)
{
    unsigned int order = order_of(op);
    uint64_t n = (uint64_t)count_of(op) << order;
    uint32_t idx = op[6] | (uint32_t)op[7] << 8;
    uint64_t m = (op[5] & 8) ? HOLE_END - (idx & 0x3ff)
                             : pick_mfn(s, op[5] & 7, idx, order);
    int rc;

    note("iomem d%u %#llx %#llx", slot_id(s), (unsigned long long)m,
         (unsigned long long)n);
    rc = (int)result(domain_iomem_permit(s->d, _mfn(m), n));
    if ( rc )
        return;
    if ( m < RAM_LO_END || m + n > HOLE_END )
        fail("iomem permission for [%#llx, +%#llx) outside the machine's "
             "MMIO accepted", (unsigned long long)m, (unsigned long long)n);
    if ( s->nr_iomem < 8 )
        s->iomem[s->nr_iomem] = (struct machine_range){ m, m + n };
    s->nr_iomem++;
}

/* op[5] bit 0: populate_on_demand, else invalid (an unmap by set_entry). */
static void op_map_none(struct slot *s, const uint8_t *op)
{
    unsigned int order = order_of(op);
    uint64_t g = gfn_of(op, order), n = 1ull << order;
    p2m_type_t t = (op[5] & 1) ? p2m_populate_on_demand : p2m_invalid;
    struct snap sn;
    int rc;

    note("map d%u %#llx none %u type=%s", slot_id(s), (unsigned long long)g,
         order, p2m_type_name(t));
    if ( avoid(5, t == p2m_populate_on_demand) ||
         avoid(4, replaces_pod_with_cache(s, g, n)) )
        return;
    sn = snap_take(s);
    rc = (int)result(memory_map_frames(s->d, _gfn(g), INVALID_MFN, order,
                                       t, P2M_ACCESS_RWX));
    snap_expect(s, &sn, rc);
    if ( rc )
        return;
    expect_mapped(s, g, t, 0);
    forget(s, g, n);
}

static void op_unmap(struct slot *s, const uint8_t *op)
{
    unsigned int order = order_of(op);
    uint64_t g = gfn_of(op, order), n = 1ull << order;
    struct snap sn;
    int rc;

    note("unmap d%u %#llx %u", slot_id(s), (unsigned long long)g, order);
    if ( avoid(4, replaces_pod_with_cache(s, g, n)) )
        return;
    sn = snap_take(s);
    rc = (int)result(p2m_remove(&s->d->p2m, _gfn(g), order));
    snap_expect(s, &sn, rc);
    if ( rc )
        return;
    expect_mapped(s, g, p2m_invalid, 0);
    forget(s, g, n);
}

/* As p2mctl's settype: every RAM entry of the range becomes type op[5]. */
static void op_settype(struct slot *s, const uint8_t *op)
{
    static const p2m_type_t ram[] = { p2m_ram_rw, p2m_ram_ro,
                                      p2m_ram_logdirty };
    unsigned int order = order_of(op), i;
    uint64_t g = gfn_of(op, order), n = 1ull << order;
    p2m_type_t t = ram[op[5] % 3];
    int rc = 0;

    note("settype d%u %#llx %u %s", slot_id(s), (unsigned long long)g,
         order, p2m_type_name(t));
    if ( avoid(6, s->logdirty) ||
         avoid(4, replaces_pod_with_cache(s, g, n)) )
        return;
    for ( i = 0; i < 3 && !rc; i++ )
        if ( ram[i] != t )
        {
            struct snap sn = snap_take(s);

            rc = (int)result(p2m_change_type_range(&s->d->p2m, _gfn(g), n,
                                                   ram[i], t));
            snap_expect(s, &sn, rc);
        }
}

static void op_merge(struct slot *s, const uint8_t *op)
{
    unsigned int order = order_of(op);
    uint64_t g = gfn_of(op, order);

    note("# merge d%u %#llx %u", slot_id(s), (unsigned long long)g, order);
    result(p2m_merge_range(&s->d->p2m, _gfn(g), 1ull << order));
}

static void op_max_order(struct slot *s, const uint8_t *op)
{
    static const unsigned int orders[3] = { 18, 9, 0 };
    unsigned int o = orders[op[5] % 3];

    note("# p2m_set_max_order d%u %u", slot_id(s), o);
    result(p2m_set_max_order(&s->d->p2m, o));
}

/*
 * p2m_set_range of count_of * 2^order pages at gfn (any alignment) to
 * frames of kind op[5] & 7 (pick_mfn) or, with op[5] bit 3, to PoD.
 */
static void op_set_range(struct slot *s, const uint8_t *op)
{
    unsigned int order = order_of(op), nr = count_of(op), i;
    uint64_t g = gfn_of(op, 0), n = (uint64_t)nr << order, m;
    bool pod = op[5] & 8;
    p2m_type_t t = pod ? p2m_populate_on_demand : p2m_ram_rw;
    struct frames_info fi;
    struct snap sn;
    int rc;

    m = pod ? INVALID_MFN_RAW
            : pick_mfn(s, op[5] & 7, op[6] | (uint32_t)op[7] << 8, 0);
    note("# p2m_set_range d%u %#llx %#llx nr=%#llx %s", slot_id(s),
         (unsigned long long)g, (unsigned long long)m,
         (unsigned long long)n, p2m_type_name(t));
    fi = pod ? (struct frames_info){ 0 } : frames_info(s, m, n);
    if ( avoid(5, pod) || (!pod && map_mfn_avoided(s, g, m, 0, t, &fi)) ||
         (!pod && n > 1 && avoid(5, believed(s) + n > s->d->max_pages)) ||
         avoid(4, replaces_pod_with_cache(s, g, n)) )
        return;
    /* p2m_set_range maps frames the domain owns: no claim, no scrub. */
    for ( i = 0; i < fz.shadow.n; i++ )
        if ( !pod && fz.shadow.p[i].key >= m && fz.shadow.p[i].key < m + n &&
             fz.shadow.p[i].inc != s->inc )
            return;
    sn = snap_take(s);
    rc = (int)result(p2m_set_range(&s->d->p2m, _gfn(g), _mfn(m), n, t,
                                   P2M_ACCESS_RWX));
    snap_expect(s, &sn, rc);
    if ( rc )
        return;
    if ( !pod && fi.other )
        fail("p2m_set_range mapped frames of [%#llx, +%#llx) that are not "
             "d%u's", (unsigned long long)m, (unsigned long long)n,
             slot_id(s));
    expect_mapped(s, g, t, m);
    forget(s, g, n);
    if ( !pod )
    {
        static bool own[MODEL_MAX];

        memset(own, 0, sizeof(own));
        inherit_frames(s, g, m, n, own);
        check_range(s, g, g + n, true);
    }
}

/* p2m_change_type_global between ram_rw and ram_logdirty (op[5] bit 0). */
static void op_type_global(struct slot *s, const uint8_t *op)
{
    bool to_ld = op[5] & 1;
    p2m_type_t ot = to_ld ? p2m_ram_rw : p2m_ram_logdirty;
    p2m_type_t nt = to_ld ? p2m_ram_logdirty : p2m_ram_rw;
    struct snap sn;

    note("# p2m_change_type_global d%u %s -> %s", slot_id(s),
         p2m_type_name(ot), p2m_type_name(nt));
    if ( avoid(6, s->logdirty) )
        return;
    sn = snap_take(s);
    snap_expect(s, &sn, result(p2m_change_type_global(&s->d->p2m, ot, nt)));
}

/*
 * Allocation failure injection: op[5] bits 0-1 pick heap_fail_nth, the
 * P2M's pool_fail_at or pool_limit (3: all off); op[6] & 15 the count.
 */
static void op_fail(struct slot *s, const uint8_t *op)
{
    unsigned int n = 1 + (op[6] & 15);
    struct p2m_domain *p2m = &s->d->p2m;

    switch ( op[5] & 3 )
    {
    case 0:
        note("# heap_fail_nth %u", n);
        heap_fail_nth(n);
        break;
    case 1:
        note("# d%u pool_fail_at = allocs + %u", slot_id(s), n);
        p2m->pool_fail_at = p2m->pool_allocs + n;
        break;
    case 2:
        note("# d%u pool_limit = p2m_pages + %u", slot_id(s), n - 1);
        p2m->pool_limit = s->d->p2m_pages + n - 1;
        break;
    default:
        note("# allocation failures off");
        heap_fail_nth(0);
        p2m->pool_fail_at = 0;
        p2m->pool_limit = 0;
        break;
    }
}

/*
 * The frames of the RAM leaf at gfn (the 2^order block of it, order_of):
 * op[5] % 3: pin them (never reclaimed), unpin, or reserve them (held for
 * the domain: an unmap keeps them owned, with their content).
 */
static void op_pin(struct slot *s, const uint8_t *op)
{
    static const char *const names[3] = { "pin", "unpin", "reserve" };
    unsigned int order = order_of(op), k = op[5] % 3;
    uint64_t g = gfn_of(op, order), m;
    struct p2m_lookup l;
    int rc;

    note("# %s d%u gfn %#llx order %u", names[k], slot_id(s),
         (unsigned long long)g, order);
    if ( g >= P2M_MAX_GFN || order > 18 )
        return;
    l = lookup(s, g);
    if ( !p2m_type_is_ram(l.type) || l.order < order )
        return;
    m = mfn_x(l.mfn);
    rc = (int)result(k == 2 ? heap_reserve_range(s->d, _mfn(m), order)
                            : heap_pin_range(s->d, _mfn(m), order, k == 0));
    if ( rc )
        return;
    drop_pins(s, g, 1ull << order);
    if ( k == 0 && s->nr_pins < 16 )
        s->pin[s->nr_pins++] = (struct pin){ g, m, order };
}

/* --- log-dirty --- */

static void logdirty_read(struct slot *s, bool clean)
{
    struct snap sn = snap_take(s);
    int64_t rc = result(p2m_logdirty_read(&s->d->p2m, _gfn(0), GUEST_GFNS,
                                          fz.bitmap, clean));
    uint64_t bits = 0, i;

    snap_expect(s, &sn, rc);
    if ( !s->logdirty )
    {
        if ( rc != -EINVAL )
            fail("log-dirty read with log-dirty off gave %lld",
                 (long long)rc);
        return;
    }
    if ( rc < 0 )
        return;
    for ( i = 0; i < s->dirty.n; i++ )
    {
        uint64_t g = s->dirty.g[i];

        if ( !(fz.bitmap[g / 8] & (1u << (g % 8))) )
            fail("d%u gfn %#llx was written since the last clean but is not "
                 "reported dirty", slot_id(s), (unsigned long long)g);
    }
    for ( i = 0; i < sizeof(fz.bitmap); i++ )
        bits += (uint64_t)__builtin_popcount(fz.bitmap[i]);
    if ( bits != (uint64_t)rc )
        fail("log-dirty read returned %lld but set %llu bits",
             (long long)rc, (unsigned long long)bits);
    if ( clean )
        s->dirty.n = 0;
}

/* op[5] % 4: on, off, peek, clean. */
static void op_logdirty(struct slot *s, const uint8_t *op)
{
    static const char *const names[4] = { "on", "off", "peek", "clean" };
    unsigned int k = op[5] % 4;
    struct snap sn;
    int rc;

    note("logdirty d%u %s", slot_id(s), names[k]);
    if ( k >= 2 )
    {
        logdirty_read(s, k == 3);
        return;
    }
    sn = snap_take(s);
    rc = (int)result(p2m_logdirty_enable(&s->d->p2m, k == 0));
    snap_expect(s, &sn, rc);
    if ( rc )
        return;                     /* no memory for the dirty state */
    if ( s->logdirty != (k == 0) )
        s->dirty.n = 0;
    s->logdirty = k == 0;
}

/* --- populate-on-demand --- */

/* op[5] bit 0: p2m_pod_mark of the pages, else populate_physmap(PoD). */
static void op_pod(struct slot *s, const uint8_t *op)
{
    unsigned int order = order_of(op), nr = count_of(op);
    uint64_t g = gfn_of(op, order);
    struct snap sn;

    if ( op[5] & 1 )
    {
        g = gfn_of(op, 0);
        note("# p2m_pod_mark d%u %#llx %llu", slot_id(s),
             (unsigned long long)g, (unsigned long long)nr << order);
        sn = snap_take(s);
        snap_expect(s, &sn, result(p2m_pod_mark(s->d, _gfn(g),
                                                (uint64_t)nr << order)));
        return;
    }
    if ( nr == 1 )
        note("pod d%u %#llx %u", slot_id(s), (unsigned long long)g, order);
    else
        note("# populate_physmap(PoD) d%u %#llx nr=%u order=%u", slot_id(s),
             (unsigned long long)g, nr, order);
    sn = snap_take(s);
    snap_expect(s, &sn, result(memory_populate_physmap(s->d, _gfn(g), nr,
                                                       order, MEMOP_POD)));
}

/* op[5] % 8 picks the target (see the cases); op[6] a raw size. */
static void op_target(struct slot *s, const uint8_t *op)
{
    struct pod_stats st = pod_stats(s);
    uint64_t b = st.populated + st.entry_count, t;
    int rc;

    switch ( op[5] % 8 )
    {
    case 0: t = 0; break;
    case 1: t = st.populated + st.entry_count / 2; break;
    case 2: t = b; break;
    case 3: t = st.max_pages; break;
    case 4: t = (uint64_t)op[6] * 8; break;
    case 5: t = b + 1; break;
    case 6: t = st.populated + st.entry_count / 4; break;
    default: t = st.max_pages + 1; break;
    }
    note("target d%u %lluK", slot_id(s), (unsigned long long)t * 4);
    rc = (int)result(memory_set_pod_target(s->d, t));
    if ( t > st.max_pages && rc != -EINVAL )
        fail("target above maxmem gave %d", rc);
}

/* After a balloon: gfns it released are no longer modelled. */
static void balloon_forget(struct slot *s, uint64_t g, uint64_t end,
                           bool all)
{
    unsigned int i = 0;

    while ( i < s->pages.n )
    {
        struct page_model *p = &s->pages.p[i];
        struct p2m_lookup l;

        if ( p->key < g || p->key >= end )
        {
            i++;
            continue;
        }
        l = lookup(s, p->key);
        if ( all && l.type != p2m_invalid )
            fail("balloon of [%#llx, %#llx) succeeded but gfn %#llx is "
                 "still %s", (unsigned long long)g, (unsigned long long)end,
                 (unsigned long long)p->key, p2m_type_name(l.type));
        if ( l.type != p2m_invalid )
        {
            i++;
            continue;
        }
        gl_del_range(&s->dirty, p->key, p->key + 1);
        *p = s->pages.p[--s->pages.n];
    }
}

/*
 * decrease_reservation of count_of extents of order_of from gfn, plus
 * op[6] & 0x1ff pages when op[6] bit 7 is set (misaligned).
 */
static void op_balloon(struct slot *s, const uint8_t *op)
{
    unsigned int order = order_of(op), nr = count_of(op);
    uint64_t g = gfn_of(op, order) + ((op[6] & 0x80) ? (op[6] & 0x7f) : 0);
    uint64_t end = g + ((uint64_t)nr << order), b0, b1;
    struct heap_stats hs;
    struct snap sn;
    int64_t rc;

    note("# decrease_reservation d%u %#llx nr=%u order=%u", slot_id(s),
         (unsigned long long)g, nr, order);
    heap_get_stats(&hs);
    if ( avoid(7, hs.free_pages < 256) )
        return;
    b0 = believed(s);
    sn = snap_take(s);
    rc = result(memory_decrease_reservation(s->d, _gfn(g), nr, order));
    snap_expect(s, &sn, rc);
    b1 = believed(s);
    if ( rc >= 0 && b0 - b1 != (uint64_t)rc )
        fail("balloon reported %lld pages released but B fell by %lld",
             (long long)rc, (long long)(b0 - b1));
    if ( rc < 0 && b0 != b1 )
        fail("balloon failed (%lld) but B fell by %lld", (long long)rc,
             (long long)(b0 - b1));
    balloon_forget(s, g, end, rc >= 0);
    drop_pins(s, g, end - g);
}

/* op[5] % 3: all, eager, emergency. */
static void op_sweep(struct slot *s, const uint8_t *op)
{
    static const char *const names[3] = { "all", "eager", "emergency" };
    static const enum pod_sweep_mode modes[3] = {
        POD_SWEEP_ALL, POD_SWEEP_EAGER, POD_SWEEP_EMERGENCY,
    };
    unsigned int k = op[5] % 3;

    note("sweep d%u %s", slot_id(s), names[k]);
    if ( avoid(6, s->logdirty) )
        return;
    if ( result(p2m_pod_sweep(s->d, modes[k])) < 0 )
        fail("p2m_pod_sweep failed");
}

static void op_resume(struct slot *s, const uint8_t *op)
{
    (void)op;
    note("resume d%u", slot_id(s));
    result(p2m_pod_resume(s->d));
}

static void op_policy(struct slot *s, const uint8_t *op)
{
    note("policy d%u oom=%s", slot_id(s), (op[5] & 1) ? "crash" : "pause");
    p2m_pod_set_policy(s->d, op[5] & 1);
}

/* populate_physmap (no PoD) of count_of extents of order_of. */
static void op_physmap(struct slot *s, const uint8_t *op)
{
    unsigned int order = order_of(op), nr = count_of(op);
    uint64_t g = gfn_of(op, order), n = 1ull << order;
    struct snap sn;
    int64_t rc, i;

    note("# populate_physmap d%u %#llx nr=%u order=%u", slot_id(s),
         (unsigned long long)g, nr, order);
    if ( avoid(5, believed(s) + nr * n > s->d->max_pages) ||
         avoid(4, replaces_pod_with_cache(s, g, nr * n)) )
        return;
    sn = snap_take(s);
    rc = result(memory_populate_physmap(s->d, _gfn(g), nr, order, 0));
    snap_expect(s, &sn, rc);
    for ( i = 0; i < rc; i++ )
    {
        uint64_t gi = g + (uint64_t)i * n;
        struct p2m_lookup l = lookup(s, gi);

        if ( l.type != p2m_ram_rw )
            fail("populate_physmap extent at %#llx is %s",
                 (unsigned long long)gi, p2m_type_name(l.type));
        forget(s, gi, n);
        expect_scrubbed(s, mfn_x(l.mfn), n, ~0ull, "populate_physmap");
    }
}

/* --- guest accesses --- */

enum access_plan { GO, SKIP, MUST_FAULT };

static bool forced(const uint8_t *op)
{
    return (op[1] & 0xf0) == 0xf0;
}

/*
 * May the access go (and may it fault)?  force: try what must fault.  A
 * paused vCPU does not run: its accesses only return -EAGAIN.
 */
static enum access_plan plan_access(struct slot *s, uint64_t g, bool write,
                                    bool force, struct p2m_lookup *l,
                                    const struct vcpu *v)
{
    p2m_access_t need = write ? P2M_ACCESS_W : P2M_ACCESS_R;

    l->type = p2m_invalid;
    if ( g >= P2M_MAX_GFN && avoid(16 + 1, force) )
        return SKIP;
    if ( s->d->crashed )
        return force ? MUST_FAULT : SKIP;
    /* A vCPU paused for memory runs nothing, wherever it would access:
     * the platform says -EAGAIN before it looks at the gfn. */
    if ( v->paused )
        return SKIP;
    if ( g >= P2M_MAX_GFN )
        return force ? MUST_FAULT : SKIP;
    *l = lookup(s, g);
    if ( l->type == p2m_mmio_direct )
        return SKIP;                /* device memory: not modelled */
    if ( p2m_type_is_ram(l->type) && (l->rights & need) == need )
        return GO;
    if ( (l->type == p2m_ram_logdirty || l->type == p2m_populate_on_demand)
         && (l->access & need) == need )
        return GO;
    return force ? MUST_FAULT : SKIP;
}

/* After an access that went: did it do what it had to? */
static bool access_done(struct slot *s, uint64_t g, int rc,
                        const struct p2m_lookup *before, struct vcpu *v)
{
    if ( rc == 0 )
        return true;
    if ( rc == -EAGAIN && v->paused )
        return false;               /* paused for memory */
    if ( rc == -EFAULT && s->d->crashed &&
         (before->type == p2m_populate_on_demand ||
          before->type == p2m_ram_logdirty) )
        return false;               /* out of memory: crash policy */
    fail("guest access to d%u gfn %#llx (%s) failed: %d", slot_id(s),
         (unsigned long long)g, p2m_type_name(before->type), rc);
}

/* A PoD fill just happened at g: the new frames must have been zero. */
static void after_fill(struct slot *s, uint64_t g, uint64_t keep_word_frame)
{
    struct p2m_lookup l = lookup(s, g);
    uint64_t off = g & ((1ull << l.order) - 1);

    if ( !p2m_type_is_ram(l.type) )
        fail("d%u gfn %#llx still %s after a successful access",
             slot_id(s), (unsigned long long)g, p2m_type_name(l.type));
    expect_scrubbed(s, mfn_x(l.mfn) - off, 1ull << l.order,
                    keep_word_frame, "PoD fill");
}

static struct page_model *page_for_write(struct slot *s, uint64_t g)
{
    struct page_model *p = set_get(&s->pages, g);

    if ( !p )
        fail("model full");
    return p;
}

/* The page at g was written as p says: record it at its frame. */
static void record_write(struct slot *s, uint64_t g, struct page_model *p,
                         unsigned int off, uint64_t v)
{
    struct p2m_lookup l = lookup(s, g);
    struct page_model *sh;

    if ( !p2m_type_is_ram(l.type) )
        fail("d%u gfn %#llx is %s right after a write", slot_id(s),
             (unsigned long long)g, p2m_type_name(l.type));
    if ( frame_at(mfn_x(l.mfn))[off / 8] != v )
        fail("d%u write of %#llx to gfn %#llx did not reach mfn %#llx "
             "(holds %#llx)", slot_id(s), (unsigned long long)v,
             (unsigned long long)g, (unsigned long long)mfn_x(l.mfn),
             (unsigned long long)frame_at(mfn_x(l.mfn))[off / 8]);
    sh = set_get(&fz.shadow, mfn_x(l.mfn));
    if ( sh )
    {
        uint64_t key = sh->key;

        *sh = *p;
        sh->key = key;
        sh->inc = s->inc;
    }
    if ( s->logdirty )
        gl_add(&s->dirty, g);
}

static void must_fault(struct slot *s, uint64_t g, int rc)
{
    if ( rc != -EFAULT || !s->d->crashed )
        fail("an access the P2M does not allow to d%u gfn %#llx gave %d "
             "(crashed %d)", slot_id(s), (unsigned long long)g, rc,
             s->d->crashed);
}

/*
 * write: op[6] bits 0-2 the word, bit 7 write zero; op[7] bit 0 the vCPU.
 * fill: the whole page (op[6] bit 7: zero, else a tag).
 */
static void guest_write(struct slot *s, const uint8_t *op, bool page)
{
    uint64_t g = gfn_of(op, 0), v = (op[6] & 0x80) ? 0 : new_tag(s);
    unsigned int off = page ? 0 : model_word_off[op[6] & 7];
    struct vcpu *vc = &s->d->vcpu[op[7] & 1];
    enum access_plan plan;
    struct page_model *p;
    struct p2m_lookup l;
    int rc;

    if ( page )
        note("# fill d%u %#llx %#llx (touch %s)", slot_id(s),
             (unsigned long long)g, (unsigned long long)v, v ? "" : "zero");
    else
        note("write d%u %#llx %#llx # +%u vcpu %u", slot_id(s),
             (unsigned long long)g, (unsigned long long)v, off, op[7] & 1);
    plan = plan_access(s, g, true, forced(op), &l, vc);
    if ( plan == SKIP && fz.o->trace )
        fprintf(stderr, "#   skipped: %s\n", s->d->crashed ? "crashed"
                : vc->paused ? "vCPU paused" : p2m_type_name(l.type));
    if ( plan == SKIP )
        return;
    rc = (int)result(page ? hosted_guest_fill_page(vc, _gfn(g), v)
                          : hosted_guest_write(vc, _gfn(g), off, v));
    if ( plan == MUST_FAULT )
    {
        must_fault(s, g, rc);
        return;
    }
    if ( !access_done(s, g, rc, &l, vc) )
        return;
    if ( l.type == p2m_populate_on_demand )
        after_fill(s, g, mfn_x(lookup(s, g).mfn));
    p = page_for_write(s, g);
    if ( page )
        content_fill(&p->c, v), p->has_alt = false;
    else
    {
        p->c.w[op[6] & 7] = v;
        p->alt.w[op[6] & 7] = v;
    }
    record_write(s, g, p, off, v);
    check_page(s, p, true);
}

static void op_write(struct slot *s, const uint8_t *op)
{
    guest_write(s, op, false);
}

static void op_fill(struct slot *s, const uint8_t *op)
{
    guest_write(s, op, true);
}

/* Read every modelled word of the page through vCPU op[7] & 1. */
static void op_read(struct slot *s, const uint8_t *op)
{
    uint64_t g = gfn_of(op, 0), v;
    struct vcpu *vc = &s->d->vcpu[op[7] & 1];
    enum access_plan plan;
    struct page_model *p;
    struct p2m_lookup l;
    unsigned int i;
    int rc;

    note("read d%u %#llx # vcpu %u", slot_id(s), (unsigned long long)g,
         op[7] & 1);
    plan = plan_access(s, g, false, forced(op), &l, vc);
    if ( plan == SKIP && fz.o->trace )
        fprintf(stderr, "#   skipped: %s\n", s->d->crashed ? "crashed"
                : vc->paused ? "vCPU paused" : p2m_type_name(l.type));
    if ( plan == SKIP )
        return;
    for ( i = 0; i < MODEL_WORDS; i++ )
    {
        rc = hosted_guest_read(vc, _gfn(g), model_word_off[i], &v);
        if ( plan == MUST_FAULT )
        {
            must_fault(s, g, rc);
            return;
        }
        if ( !access_done(s, g, rc, &l, vc) )
            return;
        if ( i == 0 && l.type == p2m_populate_on_demand )
            after_fill(s, g, ~0ull);
        p = set_find(&s->pages, g);
        if ( p ? (v != p->c.w[i] && !(p->has_alt && v == p->alt.w[i]))
               : v != 0 )
            fail("d%u read gfn %#llx +%u: %#llx (%s), expected %#llx",
                 slot_id(s), (unsigned long long)g, model_word_off[i],
                 (unsigned long long)v, who(v),
                 (unsigned long long)(p ? p->c.w[i] : 0));
    }
}

/* --- the input --- */

typedef void (*op_fn)(struct slot *s, const uint8_t *op);

/* Guest accesses and maps come more often than the rest. */
static const op_fn ops[] = {
    op_create, op_destroy, op_map_auto, op_map_mfn, op_map_none, op_unmap,
    op_settype, op_logdirty, op_pod, op_target, op_balloon, op_sweep,
    op_write, op_fill, op_read, op_resume, op_policy, op_merge,
    op_max_order, op_physmap, op_write, op_read, op_map_auto, op_pod,
    op_set_range, op_type_global, op_fail, op_iomem, op_pin,
};
#define NR_OPS (sizeof(ops) / sizeof(ops[0]))

static void machine_up(const uint8_t *hdr)
{
    static const enum heap_fragment_mode frag[4] = {
        FRAG_NONE, FRAG_NO1G, FRAG_NO2M, FRAG_NONE,
    };
    struct machine_range r[2] = { { 0, RAM_LO_END },
                                  { HOLE_END, RAM_HI_END } };
    unsigned int i;

    if ( hosted_machine_init(r, 2) )
        fail("hosted_machine_init failed");
    note("host 3G ram=0-1536M,2G-3G fragment=%s",
         (const char *[]){ "none", "no1g", "no2m", "none" }[hdr[3] & 3]);
    if ( heap_fragment(frag[hdr[3] & 3]) )
        fail("heap_fragment failed");
    for ( i = 0; i < SLOTS; i++ )
        if ( hdr[i] & 0x80 )
            create_slot(&fz.s[i], hdr[i] & 0x40, hdr[i] & 7, hdr[3] & 4);
}

static void machine_down(void)
{
    struct heap_stats hs;
    unsigned int i;

    fz.op++;
    note("# end: destroy every domain");
    check_all(true);
    for ( i = 0; i < SLOTS; i++ )
        if ( fz.s[i].d )
            destroy_slot(&fz.s[i]);
    check_all(true);
    heap_unfragment();
    heap_get_stats(&hs);
    if ( hs.free_pages != hs.total_pages || heap_check_accounting() )
        fail("after destroying every domain %llu of %llu frames are free",
             (unsigned long long)hs.free_pages,
             (unsigned long long)hs.total_pages);
    hosted_machine_fini();
}

int fuzz_run(const uint8_t *data, size_t size, const struct fuzz_opts *o)
{
    uint8_t hdr[8] = { 0 };
    size_t pos;

    memcpy(hdr, data, MIN(size, sizeof(hdr)));
    memset(fz.s, 0, sizeof(fz.s));
    set_clear(&fz.shadow);
    fz.o = o;
    fz.op = fz.big = 0;
    hosted_tlb_set_check(true);
    fz.stale0 = hosted_tlb_stale_hits();
    machine_up(hdr);
    check_all(false);
    for ( pos = 8; pos + 8 <= size && fz.op < MAX_OPS; pos += 8 )
    {
        const uint8_t *op = data + pos;
        struct slot *s = &fz.s[(op[1] & 0x0f) % SLOTS];
        op_fn fn = ops[op[0] % NR_OPS];

        fz.op++;
        if ( !s->d && fn != op_create )
            continue;
        fn(s, op);
        check_all(false);
    }
    machine_down();
    return 0;
}

/* --- options --- */

uint32_t fuzz_parse_known(const char *list)
{
    uint32_t bits = 0;

    while ( list && *list )
    {
        bool f = *list == 'F' || *list == 'f';
        char *end;
        unsigned long n = strtoul(list + f, &end, 10);

        if ( end == list + f )
        {
            list++;
            continue;
        }
        if ( n < 16 )
            bits |= K(f ? 16 + n : n);
        list = end;
    }
    return bits;
}

uint32_t fuzz_known_bit(const char *name)
{
    const char *base = strrchr(name, '/');
    char tag[8];
    size_t n;

    base = base ? base + 1 : name;
    n = strcspn(base, "-");
    if ( n == 0 || n >= sizeof(tag) || !base[n] )
        return 0;
    memcpy(tag, base, n);
    tag[n] = 0;
    return fuzz_parse_known(tag);
}

void fuzz_opts_from_env(struct fuzz_opts *o)
{
    const char *t = getenv("FUZZ_TRACE");

    o->avoid = fuzz_parse_known(getenv("FUZZ_AVOID"));
    o->trace = t && *t && strcmp(t, "0");
}

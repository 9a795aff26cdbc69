/*
 * P2M type changes: global and ranged (ram_rw <-> ram_logdirty and the other
 * RAM types), log-dirty mode with its dirty bitmap, and type names.
 * Superpages keep their size when a change covers them whole.
 */
#include "p2m-walk.h"

#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/sched.h>

/* Retype the leaves of type ot in [start, end); true if that needs a flush. */
static bool retype_leaves(struct p2m_domain *p2m, uint64_t start, uint64_t end,
                          p2m_type_t ot, p2m_type_t nt)
{
    struct p2m_iter it;
    bool flush = false;
    p2m_pte_t new;

    ASSERT_LOCKED(&p2m->lock);
    for_each_p2m_leaf(it, p2m, _gfn(start), end)
    {
        if ( p2m->ops->type(it.old) != ot )
            continue;
        new = p2m->ops->retype(it.old, it.level, nt);
        flush |= p2m_needs_flush(p2m, it.old, new, it.level);
        p2m_iter_set(p2m, &it, new, P2M_SET_PLAIN);
    }
    return flush;
}

/*
 * Does a leaf of type ot straddle boundary b?  Sets *target to the level
 * the leaf must be split down to so that b starts an entry.
 */
static bool boundary_cut(struct p2m_domain *p2m, uint64_t b, p2m_type_t ot,
                         unsigned int *target)
{
    struct p2m_iter it;

    ASSERT_LOCKED(&p2m->lock);
    if ( b == 0 || b >= P2M_MAX_GFN )
        return false;
    p2m_iter_find(&it, p2m, _gfn(b), P2M_L1);
    if ( gfn_x(it.gfn) == b || p2m->ops->type(it.old) != ot )
        return false;
    for ( *target = it.level - 1; !is_aligned(b, p2m_level_order(*target)); )
        (*target)--;
    return true;
}

/* Reserve the table pages that splitting at start and end will take. */
static int range_prepare(struct p2m_domain *p2m, uint64_t start, uint64_t end,
                         p2m_type_t ot)
{
    uint64_t b[2] = { start, end };
    struct p2m_need need;
    unsigned int i, target;

    ASSERT_LOCKED(&p2m->lock);
    p2m_need_init(&need);
    for ( i = 0; i < 2; i++ )
        if ( boundary_cut(p2m, b[i], ot, &target) )
            p2m_need_add(p2m, &need, _gfn(b[i]), target);
    return p2m_pool_reserve(p2m, need.pages);
}

/* After range_prepare: split at both ends, then retype whole leaves. */
static void range_commit(struct p2m_domain *p2m, uint64_t start, uint64_t end,
                         p2m_type_t ot, p2m_type_t nt)
{
    uint64_t b[2] = { start, end };
    struct p2m_iter it;
    unsigned int i, target;

    ASSERT_LOCKED(&p2m->lock);
    for ( i = 0; i < 2; i++ )
        if ( boundary_cut(p2m, b[i], ot, &target) )
        {
            p2m_iter_find(&it, p2m, _gfn(b[i]), target);
            p2m_iter_build(p2m, &it, target);   /* reserved: cannot fail */
        }
    p2m_flush_and_release(p2m, retype_leaves(p2m, start, end, ot, nt));
}

static bool retypeable(p2m_type_t t)
{
    return (unsigned int)t < p2m_nr_types && p2m_type_is_ram(t);
}

int p2m_change_type_range(struct p2m_domain *p2m, gfn_t gfn, uint64_t nr,
                          p2m_type_t ot, p2m_type_t nt)
{
    uint64_t start = gfn_x(gfn), end = start + nr;
    int rc;

    if ( !retypeable(ot) || !retypeable(nt) )
        return -EBADR;
    if ( start >= P2M_MAX_GFN || P2M_MAX_GFN - start < nr )
        return -ERANGE;
    if ( nr == 0 || ot == nt )
        return 0;
    spin_lock(&p2m->lock);
    rc = range_prepare(p2m, start, end, ot);
    if ( !rc )
        range_commit(p2m, start, end, ot, nt);
    spin_unlock(&p2m->lock);
    p2m_debug_audit(p2m, "change_type_range");
    return rc;
}

static void change_global(struct p2m_domain *p2m, p2m_type_t ot,
                          p2m_type_t nt)
{
    ASSERT_LOCKED(&p2m->lock);
    p2m_flush_and_release(p2m, retype_leaves(p2m, 0, P2M_MAX_GFN, ot, nt));
}

int p2m_change_type_global(struct p2m_domain *p2m, p2m_type_t ot,
                           p2m_type_t nt)
{
    if ( !retypeable(ot) || !retypeable(nt) )
        return -EBADR;
    spin_lock(&p2m->lock);
    change_global(p2m, ot, nt);
    spin_unlock(&p2m->lock);
    p2m_debug_audit(p2m, "change_type_global");
    return 0;
}

/* --- the log-dirty map --- */

#define DIRTY_BITS_PER_PAGE (PAGE_SIZE * 8)

static uint8_t *dirty_bits(const struct p2m_domain *p2m)
{
    return plat_map_mfns(page_to_mfn(p2m->dirty_map),
                         1ull << p2m->dirty_map->order);
}

void p2m_dirty_mark(struct p2m_domain *p2m, uint64_t gfn, unsigned int order)
{
    uint64_t g, end = gfn + (1ull << order);
    uint8_t *b;

    ASSERT_LOCKED(&p2m->lock);
    ASSERT(p2m->dirty_map && end <= p2m->dirty_top);
    if ( !p2m->dirty_map )
        return;
    b = dirty_bits(p2m);
    end = MIN(end, p2m->dirty_top);
    for ( g = gfn; g < end && (g & 7); g++ )
        b[g / 8] |= 1u << (g % 8);
    if ( end - g >= 8 )
    {
        memset(b + g / 8, 0xff, (end - g) / 8);
        g += (end - g) & ~7ull;
    }
    for ( ; g < end; g++ )
        b[g / 8] |= 1u << (g % 8);
}

static bool dirty_test(const struct p2m_domain *p2m, uint64_t gfn)
{
    ASSERT_LOCKED(&p2m->lock);
    return p2m->dirty_map && gfn < p2m->dirty_top &&
           (dirty_bits(p2m)[gfn / 8] & (1u << (gfn % 8)));
}

static void dirty_clear(struct p2m_domain *p2m, uint64_t start, uint64_t end)
{
    uint8_t *b = dirty_bits(p2m);
    uint64_t g;

    ASSERT_LOCKED(&p2m->lock);
    for ( g = start; g < MIN(end, p2m->dirty_top); g++ )
        b[g / 8] &= ~(1u << (g % 8));
}

int p2m_dirty_cover(struct p2m_domain *p2m, uint64_t top)
{
    uint64_t pages = (top + DIRTY_BITS_PER_PAGE - 1) / DIRTY_BITS_PER_PAGE;
    unsigned int order = 0;
    struct page_info *pg;

    ASSERT_LOCKED(&p2m->lock);
    if ( p2m->dirty_map && top <= p2m->dirty_top )
        return 0;
    while ( (1ull << order) < MAX(pages, 1) )
        order++;
    if ( order > MAX_ORDER )
        return -ENOMEM;
    pg = alloc_p2m_chunk(p2m->domain, order);
    if ( !pg )
        return -ENOMEM;
    if ( p2m->dirty_map )
    {
        memcpy(plat_map_mfns(page_to_mfn(pg), 1ull << order), dirty_bits(p2m),
               PAGE_SIZE << p2m->dirty_map->order);
        free_p2m_page(p2m->domain, p2m->dirty_map);
    }
    p2m->dirty_map = pg;
    p2m->dirty_top = (1ull << order) * DIRTY_BITS_PER_PAGE;
    return 0;
}

void p2m_dirty_free(struct p2m_domain *p2m)
{
    ASSERT_LOCKED(&p2m->lock);
    if ( p2m->dirty_map )
        free_p2m_page(p2m->domain, p2m->dirty_map);
    p2m->dirty_map = NULL;
    p2m->dirty_top = 0;
}

/* One past the last gfn any entry covers. */
static uint64_t p2m_top_gfn(struct p2m_domain *p2m)
{
    struct p2m_iter it;
    uint64_t top = 0;

    ASSERT_LOCKED(&p2m->lock);
    for_each_p2m_leaf(it, p2m, _gfn(0), P2M_MAX_GFN)
        if ( it.old )
            top = gfn_x(it.gfn) + (1ull << p2m_level_order(it.level));
    return top;
}

uint64_t p2m_logdirty_reach(struct p2m_domain *p2m)
{
    uint64_t top;

    spin_lock(&p2m->lock);
    top = p2m->dirty_top;
    spin_unlock(&p2m->lock);
    return top;
}

int p2m_logdirty_set_split(struct p2m_domain *p2m,
                           enum p2m_logdirty_split how)
{
    int rc = 0;

    if ( how != P2M_SPLIT_ON_WRITE && how != P2M_SPLIT_EAGER )
        return -EINVAL;
    spin_lock(&p2m->lock);
    if ( p2m->logdirty )
        rc = -EBUSY;
    else
        p2m->logdirty_eager = how == P2M_SPLIT_EAGER;
    spin_unlock(&p2m->lock);
    return rc;
}

/* Eager split: a RAM superpage that logging write-protects (ram_rw, or
 * one this split already write-protected on its way down). */
static bool eager_splits(p2m_type_t t, unsigned int level)
{
    return level > P2M_L1 && (t == p2m_ram_rw || t == p2m_ram_logdirty);
}

/* Table pages that splitting every such superpage to 4K takes. */
static uint64_t eager_tables(struct p2m_domain *p2m)
{
    struct p2m_iter it;
    uint64_t n = 0;

    ASSERT_LOCKED(&p2m->lock);
    for_each_p2m_leaf(it, p2m, _gfn(0), P2M_MAX_GFN)
        if ( eager_splits(p2m->ops->type(it.old), it.level) )
            n += it.level == P2M_L3 ? 1 + 512 : 1;
    return n;
}

/*
 * Write-protect all RAM, splitting each superpage to 4K on the way: a 1G
 * leaf becomes 2M children already write-protected, which the walk then
 * enters and splits in turn.  The pages were reserved; cannot fail.
 */
static void eager_protect(struct p2m_domain *p2m)
{
    const struct p2m_format_ops *ops = p2m->ops;
    struct p2m_iter it;
    bool flush = false;
    p2m_pte_t new;

    ASSERT_LOCKED(&p2m->lock);
    for_each_p2m_leaf(it, p2m, _gfn(0), P2M_MAX_GFN)
    {
        p2m_type_t t = ops->type(it.old);

        if ( eager_splits(t, it.level) )
        {
            flush |= t == p2m_ram_rw;
            p2m_iter_split_as(p2m, &it, p2m_ram_logdirty);
            continue;           /* the walk goes on into the new table */
        }
        if ( t != p2m_ram_rw )
            continue;
        new = ops->retype(it.old, it.level, p2m_ram_logdirty);
        flush |= p2m_needs_flush(p2m, it.old, new, it.level);
        p2m_iter_set(p2m, &it, new, P2M_SET_PLAIN);
    }
    p2m_flush_and_release(p2m, flush);
}

/* Log-dirty on: the map first, then the tables; -ENOMEM leaves it off. */
static int logdirty_start(struct p2m_domain *p2m)
{
    int rc = p2m_dirty_cover(p2m, p2m_top_gfn(p2m));

    ASSERT_LOCKED(&p2m->lock);
    if ( !rc && p2m->logdirty_eager )
    {
        rc = p2m_pool_reserve(p2m, eager_tables(p2m));
        if ( rc )
        {
            p2m_pool_trim(p2m);
            p2m_dirty_free(p2m);
        }
    }
    if ( rc )
        return rc;
    if ( p2m->logdirty_eager )
        eager_protect(p2m);
    else
        change_global(p2m, p2m_ram_rw, p2m_ram_logdirty);
    p2m->logdirty = true;
    return 0;
}

int p2m_logdirty_enable(struct p2m_domain *p2m, bool on)
{
    int rc = 0;

    spin_lock(&p2m->lock);
    if ( p2m->logdirty != on && on )
        rc = logdirty_start(p2m);
    else if ( p2m->logdirty != on )
    {
        p2m->logdirty = false;
        change_global(p2m, p2m_ram_logdirty, p2m_ram_rw);
        p2m_merge_tables(p2m, 0, P2M_MAX_GFN);
        p2m_dirty_free(p2m);
    }
    spin_unlock(&p2m->lock);
    p2m_debug_audit(p2m, "logdirty_enable");
    return rc;
}

int64_t p2m_merge_range(struct p2m_domain *p2m, gfn_t gfn, uint64_t nr)
{
    uint64_t start = gfn_x(gfn);
    int64_t n;

    if ( start >= P2M_MAX_GFN || P2M_MAX_GFN - start < nr )
        return -ERANGE;
    spin_lock(&p2m->lock);
    n = p2m_merge_tables(p2m, start, start + nr);
    spin_unlock(&p2m->lock);
    p2m_debug_audit(p2m, "merge_range");
    return n;
}

struct dirty_scan { uint64_t start, end; uint8_t *bitmap; int64_t count; };

static void report_dirty(struct dirty_scan *s, uint64_t g)
{
    uint8_t *byte = &s->bitmap[(g - s->start) / 8];
    uint8_t bit = 1u << ((g - s->start) % 8);

    if ( !(*byte & bit) )
        s->count++;
    *byte |= bit;
}

/*
 * In log-dirty mode a page was written since the clean when its entry is
 * writable RAM, or when the log-dirty map kept it (its dirty entry went).
 */
static void mark_dirty(struct p2m_domain *p2m, const struct p2m_iter *it,
                       struct dirty_scan *s)
{
    uint64_t g = MAX(gfn_x(it->gfn), s->start);
    uint64_t e = MIN(gfn_x(it->gfn) + (1ull << p2m_level_order(it->level)),
                     s->end);
    bool rw = p2m->ops->type(it->old) == p2m_ram_rw;

    ASSERT_LOCKED(&p2m->lock);
    if ( !rw )
        e = MIN(e, p2m->dirty_top);     /* only the map can say more */
    for ( ; g < e; g++ )
        if ( rw || dirty_test(p2m, g) )
            report_dirty(s, g);
}

int64_t p2m_logdirty_read(struct p2m_domain *p2m, gfn_t gfn, uint64_t nr,
                          uint8_t *bitmap, bool clean)
{
    struct dirty_scan s = { gfn_x(gfn), gfn_x(gfn) + nr, bitmap, 0 };
    struct p2m_iter it;
    int rc = 0;

    if ( s.start >= P2M_MAX_GFN || P2M_MAX_GFN - s.start < nr )
        return -ERANGE;
    memset(bitmap, 0, (nr + 7) / 8);
    spin_lock(&p2m->lock);
    if ( !p2m->logdirty )
        rc = -EINVAL;
    else if ( clean )
        rc = range_prepare(p2m, s.start, s.end, p2m_ram_rw);
    if ( !rc )
    {
        for_each_p2m_leaf(it, p2m, gfn, s.end)
            mark_dirty(p2m, &it, &s);
        if ( clean )
        {
            range_commit(p2m, s.start, s.end, p2m_ram_rw, p2m_ram_logdirty);
            dirty_clear(p2m, s.start, s.end);
        }
    }
    spin_unlock(&p2m->lock);
    p2m_debug_audit(p2m, "logdirty_read");
    return rc ? rc : s.count;
}

static const char *const type_names[p2m_nr_types] = {
    [p2m_invalid] = "invalid",
    [p2m_ram_rw] = "ram_rw",
    [p2m_ram_ro] = "ram_ro",
    [p2m_ram_logdirty] = "ram_logdirty",
    [p2m_mmio_direct] = "mmio_direct",
    [p2m_populate_on_demand] = "populate_on_demand",
};

static bool str_eq(const char *a, const char *b)
{
    while ( *a && *a == *b )
        a++, b++;
    return *a == *b;
}

const char *p2m_type_name(p2m_type_t t)
{
    return (unsigned int)t < p2m_nr_types ? type_names[t] : "unknown";
}

int p2m_type_from_name(const char *s)
{
    unsigned int t;

    for ( t = 0; t < p2m_nr_types; t++ )
        if ( str_eq(s, type_names[t]) )
            return (int)t;
    if ( str_eq(s, "pod") )
        return p2m_populate_on_demand;
    return -EBADR;
}

void p2m_access_str(p2m_access_t a, char out[4])
{
    unsigned int n = 0;

    if ( a & P2M_ACCESS_R )
        out[n++] = 'r';
    if ( a & P2M_ACCESS_W )
        out[n++] = 'w';
    if ( a & P2M_ACCESS_X )
        out[n++] = 'x';
    if ( !n )
        out[n++] = 'n';
    out[n] = '\0';
}

int p2m_access_from_str(const char *s)
{
    unsigned int a = 0, bit;

    if ( str_eq(s, "n") )
        return 0;
    if ( !*s )
        return -EBADR;
    for ( ; *s; s++ )
    {
        bit = *s == 'r' ? P2M_ACCESS_R : *s == 'w' ? P2M_ACCESS_W
              : *s == 'x' ? P2M_ACCESS_X : 0;
        if ( !bit || (a & bit) )
            return -EBADR;
        a |= bit;
    }
    return (int)a;
}

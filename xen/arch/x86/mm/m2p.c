/*
 * Machine-to-guest records, one per P2M leaf (see asm-x86/m2p.h).
 */
#include <asm-x86/m2p.h>
#include <asm-x86/p2m.h>
#include <xen/lib.h>

static struct page_info *frame(uint64_t mfn)
{
    return machine.frame_table + mfn;
}

static void count_inside(uint64_t mfn, unsigned int order, int delta)
{
    if ( order < PAGE_ORDER_1G )
        __atomic_add_fetch(&frame(align_down(mfn, PAGE_ORDER_1G))->m2p_sub1g,
                           (uint32_t)delta, __ATOMIC_RELAXED);
    if ( order < PAGE_ORDER_2M )
        __atomic_add_fetch(&frame(align_down(mfn, PAGE_ORDER_2M))->m2p_sub2m,
                           (uint16_t)delta, __ATOMIC_RELAXED);
}

/* The record itself, at a frame that has none; the counters are apart. */
static void record_set(uint64_t mfn, uint64_t gfn, unsigned int order)
{
    struct page_info *pg = frame(mfn);

    ASSERT(pg->m2p_order == 0);
    /* Atomic: m2p_for_each_record reads other domains' records too. */
    __atomic_store_n(&pg->m2p_gfn, gfn, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->m2p_order, order + 1, __ATOMIC_RELAXED);
}

/* The record of this order at mfn goes; the counters are apart. */
static void record_clear(uint64_t mfn, unsigned int order)
{
    struct page_info *pg = frame(mfn);

    ASSERT(pg->m2p_order == order + 1);
    __atomic_store_n(&pg->m2p_order, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->m2p_gfn, 0, __ATOMIC_RELAXED);
}

void m2p_set(mfn_t mfn, gfn_t gfn, unsigned int order)
{
    ASSERT(is_aligned(mfn_x(mfn), order));
    record_set(mfn_x(mfn), gfn_x(gfn), order);
    count_inside(mfn_x(mfn), order, 1);
}

/* count_inside for n 4K records from m on: once per 2M block. */
static void count_4k_run(uint64_t m, uint64_t n, int dir)
{
    uint64_t end = m + n, next;

    for ( ; m < end; m = next )
    {
        int64_t k;

        next = MIN(end, align_down(m, PAGE_ORDER_2M) +
                        (1ull << PAGE_ORDER_2M));
        k = dir * (int64_t)(next - m);
        __atomic_add_fetch(&frame(align_down(m, PAGE_ORDER_2M))->m2p_sub2m,
                           (uint16_t)k, __ATOMIC_RELAXED);
        __atomic_add_fetch(&frame(align_down(m, PAGE_ORDER_1G))->m2p_sub1g,
                           (uint32_t)k, __ATOMIC_RELAXED);
    }
}

void m2p_set_4k_run(mfn_t mfn, gfn_t gfn, uint64_t n)
{
    uint64_t i;

    for ( i = 0; i < n; i++ )
        record_set(mfn_x(mfn) + i, gfn_x(gfn) + i, 0);
    count_4k_run(mfn_x(mfn), n, 1);
}

void m2p_clear_4k_run(mfn_t mfn, uint64_t n)
{
    uint64_t i;

    for ( i = 0; i < n; i++ )
        record_clear(mfn_x(mfn) + i, 0);
    count_4k_run(mfn_x(mfn), n, -1);
}

void m2p_run_flush(struct m2p_run *p)
{
    if ( p->n && p->clear )
        m2p_clear_4k_run(p->mfn, p->n);
    else if ( p->n )
        m2p_set_4k_run(p->mfn, p->gfn, p->n);
    p->n = 0;
}

void m2p_run_add(struct m2p_run *p, mfn_t mfn, gfn_t gfn, uint64_t n)
{
    if ( p->n && mfn_eq(mfn, mfn_add(p->mfn, p->n)) &&
         gfn_eq(gfn, gfn_add(p->gfn, p->n)) )
    {
        p->n += n;
        return;
    }
    m2p_run_flush(p);
    p->mfn = mfn;
    p->gfn = gfn;
    p->n = n;
}

void m2p_clear(mfn_t mfn, unsigned int order)
{
    record_clear(mfn_x(mfn), order);
    count_inside(mfn_x(mfn), order, -1);
}

bool m2p_record_is(mfn_t mfn, gfn_t gfn, unsigned int order)
{
    const struct page_info *pg = frame(mfn_x(mfn));

    return pg->m2p_order == order + 1 && pg->m2p_gfn == gfn_x(gfn);
}

/* The record covering mfn at exactly this order, if any. */
static bool record_at(uint64_t mfn, unsigned int order, uint64_t *gfn)
{
    uint64_t head = align_down(mfn, order);
    const struct page_info *pg = frame(head);

    if ( pg->m2p_order != order + 1 )
        return false;
    *gfn = pg->m2p_gfn + (mfn - head);
    return true;
}

gfn_t m2p_lookup(mfn_t mfn)
{
    static const unsigned int orders[] = { 0, PAGE_ORDER_2M, PAGE_ORDER_1G };
    uint64_t g;
    unsigned int i;

    if ( mfn_x(mfn) >= machine.max_mfn )
        return INVALID_GFN;
    for ( i = 0; i < ARRAY_SIZE(orders); i++ )
        if ( record_at(mfn_x(mfn), orders[i], &g) )
            return _gfn(g);
    return INVALID_GFN;
}

/* Does frame mfn have a record at order that maps it elsewhere than want? */
static bool record_conflicts(uint64_t mfn, unsigned int order, uint64_t want)
{
    uint64_t g;

    return record_at(mfn, order, &g) && g != want;
}

/* Scan the 4K records of a 2 MiB block that has some. */
static bool block2m_conflicts(uint64_t mfn, uint64_t gfn)
{
    uint64_t i;

    if ( record_conflicts(mfn, PAGE_ORDER_2M, gfn) )
        return true;
    if ( frame(mfn)->m2p_sub2m == 0 )
        return false;
    for ( i = 0; i < (1u << PAGE_ORDER_2M); i++ )
        if ( record_conflicts(mfn + i, 0, gfn + i) )
            return true;
    return false;
}

bool m2p_range_conflicts(mfn_t mfn, unsigned int order, gfn_t gfn)
{
    uint64_t m = mfn_x(mfn), g = gfn_x(gfn), i;

    if ( record_conflicts(m, PAGE_ORDER_1G, g) )
        return true;
    if ( order == 0 )
        return record_conflicts(m, PAGE_ORDER_2M, g) ||
               record_conflicts(m, 0, g);
    if ( order == PAGE_ORDER_2M )
        return block2m_conflicts(m, g);
    if ( frame(m)->m2p_sub1g == 0 )
        return false;
    for ( i = 0; i < (1u << order); i += 1u << PAGE_ORDER_2M )
        if ( block2m_conflicts(m + i, g + i) )
            return true;
    return false;
}

bool m2p_run_conflicts(mfn_t mfn, gfn_t gfn, uint64_t n)
{
    uint64_t m = mfn_x(mfn), g = gfn_x(gfn), end = m + n, next, i;

    for ( ; m < end; g += next - m, m = next )
    {
        uint64_t block = align_down(m, PAGE_ORDER_2M);

        next = MIN(end, block + (1ull << PAGE_ORDER_2M));
        if ( (m == mfn_x(mfn) || is_aligned(m, PAGE_ORDER_1G)) &&
             record_conflicts(m, PAGE_ORDER_1G, g) )
            return true;
        if ( record_conflicts(m, PAGE_ORDER_2M, g) )
            return true;
        if ( frame(block)->m2p_sub2m == 0 )
            continue;
        for ( i = m; i < next; i++ )
            if ( record_conflicts(i, 0, g + (i - m)) )
                return true;
    }
    return false;
}

/* Is any frame of the 2^order-aligned block at mfn (order 0, 9 or 18), or
 * a block containing it, the start of a record? */
static bool block_mapped(uint64_t mfn, unsigned int order)
{
    if ( frame(align_down(mfn, PAGE_ORDER_1G))->m2p_order ==
         PAGE_ORDER_1G + 1 )
        return true;
    if ( order == PAGE_ORDER_1G )
        return frame(mfn)->m2p_sub1g != 0;
    if ( frame(align_down(mfn, PAGE_ORDER_2M))->m2p_order ==
         PAGE_ORDER_2M + 1 )
        return true;
    if ( order == PAGE_ORDER_2M )
        return frame(mfn)->m2p_sub2m != 0;
    return frame(mfn)->m2p_order == 1;
}

bool m2p_range_mapped(mfn_t mfn, unsigned int order)
{
    uint64_t m = mfn_x(mfn), end = m + (1ull << order);
    unsigned int step = order >= PAGE_ORDER_1G ? PAGE_ORDER_1G
                        : order >= PAGE_ORDER_2M ? PAGE_ORDER_2M : 0;

    for ( ; m < end; m += 1ull << step )
        if ( block_mapped(m, step) )
            return true;
    return false;
}

/* Call fn for the record starting at frame m, if there is one. */
static void visit_record(uint64_t m, m2p_record_fn fn, void *ctx)
{
    const struct page_info *pg = frame(m);
    uint8_t o = __atomic_load_n(&pg->m2p_order, __ATOMIC_RELAXED);

    if ( o )
        fn(ctx, _mfn(m), _gfn(__atomic_load_n(&pg->m2p_gfn, __ATOMIC_RELAXED)),
           o - 1u);
}

/* The 4K frames after the head of the 2M block at b, if it counts some. */
static void scan_2m(uint64_t b, m2p_record_fn fn, void *ctx)
{
    uint64_t m, end = MIN(b + (1ull << PAGE_ORDER_2M), machine.max_mfn);

    if ( !__atomic_load_n(&frame(b)->m2p_sub2m, __ATOMIC_RELAXED) )
        return;
    for ( m = b + 1; m < end; m++ )
        visit_record(m, fn, ctx);
}

/* Every record in the 1G block at h: its head, then the blocks it counts. */
static void scan_1g(uint64_t h, m2p_record_fn fn, void *ctx)
{
    uint64_t b, end = MIN(h + (1ull << PAGE_ORDER_1G), machine.max_mfn);

    visit_record(h, fn, ctx);
    if ( !__atomic_load_n(&frame(h)->m2p_sub1g, __ATOMIC_RELAXED) )
        return;
    for ( b = h; b < end; b += 1ull << PAGE_ORDER_2M )
    {
        if ( b != h )
            visit_record(b, fn, ctx);
        scan_2m(b, fn, ctx);
    }
}

void m2p_for_each_record(m2p_record_fn fn, void *ctx)
{
    uint64_t next = 0, h;
    unsigned int i;

    for ( i = 0; i < machine.nr_ranges; i++ )
        for ( h = MAX(next, align_down(machine.range[i].start, PAGE_ORDER_1G));
              h < machine.range[i].end; h += 1ull << PAGE_ORDER_1G )
        {
            scan_1g(h, fn, ctx);
            next = h + (1ull << PAGE_ORDER_1G);
        }
}

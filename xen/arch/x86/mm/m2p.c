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

void m2p_set(mfn_t mfn, gfn_t gfn, unsigned int order)
{
    struct page_info *pg = frame(mfn_x(mfn));

    ASSERT(pg->m2p_order == 0);
    ASSERT(is_aligned(mfn_x(mfn), order));
    pg->m2p_gfn = gfn_x(gfn);
    pg->m2p_order = order + 1;
    count_inside(mfn_x(mfn), order, 1);
}

void m2p_clear(mfn_t mfn, unsigned int order)
{
    struct page_info *pg = frame(mfn_x(mfn));

    ASSERT(pg->m2p_order == order + 1);
    pg->m2p_order = 0;
    pg->m2p_gfn = 0;
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

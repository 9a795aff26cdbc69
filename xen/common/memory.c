/*
 * Memory operations on a domain: populate and map.  They sit above the P2M
 * and the heap and keep the two consistent when either fails.
 */
#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/memory.h>
#include <xen/mm.h>
#include <xen/sched.h>

int memory_populate(struct domain *d, gfn_t gfn, unsigned int order,
                    p2m_type_t t, p2m_access_t a, mfn_t *mfn)
{
    struct page_info *pg;
    int rc;

    if ( order != PAGE_ORDER_4K && order != PAGE_ORDER_2M &&
         order != PAGE_ORDER_1G )
        return -EDOM;
    if ( !p2m_type_is_ram(t) || a > P2M_ACCESS_RWX )
        return -EBADR;
    if ( gfn_x(gfn) >= P2M_MAX_GFN ||
         P2M_MAX_GFN - gfn_x(gfn) < (1ull << order) )
        return -ERANGE;
    if ( !is_aligned(gfn_x(gfn), order) )
        return -EINVAL;
    if ( d->tot_pages + (1ull << order) > d->max_pages )
        return -ENOSPC;
    pg = alloc_domheap_pages(d, order, MEMF_zero);
    if ( !pg )
        return -ENOMEM;
    rc = p2m_set_entry(&d->p2m, gfn, page_to_mfn(pg), order, t, a);
    if ( rc )
    {
        free_domheap_range(d, page_to_mfn(pg), order);
        return rc;
    }
    *mfn = page_to_mfn(pg);
    return 0;
}

int memory_map_frames(struct domain *d, gfn_t gfn, mfn_t mfn,
                      unsigned int order, p2m_type_t t, p2m_access_t a)
{
    bool claimed = false;
    int rc;

    if ( order > MAX_ORDER )
        return -EDOM;
    if ( p2m_type_is_ram(t) && is_aligned(mfn_x(mfn), order) &&
         mfn_range_owned_by(d, mfn, order) == -EPERM )
    {
        if ( d->tot_pages + (1ull << order) > d->max_pages )
            return -ENOSPC;
        claimed = claim_domheap_range(d, mfn, order) == 0;
    }
    rc = p2m_set_entry(&d->p2m, gfn, mfn, order, t, a);
    if ( rc && claimed )
        free_domheap_range(d, mfn, order);
    return rc;
}

/* Validate a populate_physmap request before doing any of it. */
static int check_physmap(struct domain *d, uint64_t g, uint64_t nr,
                         unsigned int order, unsigned int flags)
{
    uint64_t pages = nr << order;

    if ( order != PAGE_ORDER_4K && order != PAGE_ORDER_2M &&
         order != PAGE_ORDER_1G )
        return -EDOM;
    if ( flags & ~MEMOP_POD )
        return -EINVAL;
    if ( !is_aligned(g, order) )
        return -EINVAL;
    if ( nr > P2M_MAX_GFN || g >= P2M_MAX_GFN || pages > P2M_MAX_GFN - g )
        return -ERANGE;
    if ( !(flags & MEMOP_POD) && d->tot_pages + pages > d->max_pages )
        return -ENOSPC;
    return 0;
}

int64_t memory_populate_physmap(struct domain *d, gfn_t gfn, uint64_t nr,
                                unsigned int order, unsigned int flags)
{
    uint64_t g = gfn_x(gfn), i;
    mfn_t mfn;
    int rc = check_physmap(d, g, nr, order, flags);

    if ( rc )
        return rc;
    if ( flags & MEMOP_POD )
        return p2m_pod_mark_extents(d, gfn, nr, order);
    for ( i = 0; i < nr; i++ )
    {
        rc = memory_populate(d, _gfn(g + (i << order)), order, p2m_ram_rw,
                             P2M_ACCESS_RWX, &mfn);
        if ( rc )
            break;
    }
    if ( i == 0 && rc )
        return rc;
    return (int64_t)i;
}

int64_t memory_decrease_reservation(struct domain *d, gfn_t gfn, uint64_t nr,
                                    unsigned int order)
{
    uint64_t g = gfn_x(gfn), i;
    int64_t pages = 0, r;

    if ( order > PAGE_ORDER_1G )
        return -EDOM;
    if ( nr > P2M_MAX_GFN || g >= P2M_MAX_GFN ||
         (nr << order) > P2M_MAX_GFN - g )
        return -ERANGE;
    for ( i = 0; i < nr; i++ )
    {
        r = p2m_pod_decrease_reservation(d, _gfn(g + (i << order)), order);
        if ( r < 0 )
            return pages ? pages : r;
        pages += r;
    }
    return pages;
}

int memory_set_pod_target(struct domain *d, uint64_t target)
{
    int rc;

    do
        rc = p2m_pod_set_target(d, target);
    while ( rc == -EAGAIN );
    return rc;
}

int memory_get_pod_target(struct domain *d, struct memory_pod_info *info)
{
    struct pod_stats s;

    p2m_pod_get_stats(d, &s);
    info->target = s.target;
    info->tot_pages = s.tot_pages;
    info->pod_cache = s.count;
    info->pod_entries = s.entry_count;
    info->max_pages = s.max_pages;
    return 0;
}

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
    if ( order != PAGE_ORDER_4K && order != PAGE_ORDER_2M &&
         order != PAGE_ORDER_1G )
        return -EDOM;
    if ( !p2m_type_is_ram(t) || a > P2M_ACCESS_RWX )
        return -EBADR;
    return p2m_populate_entry(&d->p2m, gfn, order, t, a, mfn);
}

int memory_map_frames(struct domain *d, gfn_t gfn, mfn_t mfn,
                      unsigned int order, p2m_type_t t, p2m_access_t a)
{
    if ( order > MAX_ORDER )
        return -EDOM;
    return p2m_map_frames(&d->p2m, gfn, mfn, order, t, a);
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

/*
 * Memory operations on a domain: populate and map.  They sit above the P2M
 * and the heap and keep the two consistent when either fails.
 */
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
    if ( !p2m_type_is_ram(t) )
        return -EBADR;
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

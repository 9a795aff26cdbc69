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

/* Validate what is left of a populate_physmap request before doing it. */
static int check_physmap(struct domain *d, const struct memop_range *r)
{
    uint64_t g = gfn_x(r->gfn), nr = r->nr, pages;
    unsigned int order = r->order;

    if ( order != PAGE_ORDER_4K && order != PAGE_ORDER_2M &&
         order != PAGE_ORDER_1G )
        return -EDOM;
    if ( r->flags & ~MEMOP_POD )
        return -EINVAL;
    if ( !is_aligned(g, order) || r->nr_done > nr )
        return -EINVAL;
    if ( nr > P2M_MAX_GFN || g >= P2M_MAX_GFN ||
         (nr << order) > P2M_MAX_GFN - g )
        return -ERANGE;
    pages = (nr - r->nr_done) << order;
    if ( !(r->flags & MEMOP_POD) && d->tot_pages + pages > d->max_pages )
        return -ENOSPC;
    return 0;
}

int memory_populate_physmap_op(struct domain *d, struct memop_range *r)
{
    uint64_t g = gfn_x(r->gfn), done = 0;
    mfn_t mfn;
    int rc = check_physmap(d, r);

    if ( rc )
        return rc;
    if ( r->flags & MEMOP_POD )
    {
        g += r->nr_done << r->order;
        rc = p2m_pod_mark_extents(d, _gfn(g), r->nr - r->nr_done, r->order,
                                  &done);
        r->nr_done += done;
        r->pages += done << r->order;
        return rc;
    }
    for ( ; r->nr_done < r->nr; r->nr_done++ )
    {
        rc = memory_populate(d, _gfn(g + (r->nr_done << r->order)), r->order,
                             p2m_ram_rw, P2M_ACCESS_RWX, &mfn);
        if ( rc )
            return rc;
        r->pages += 1ull << r->order;
    }
    return 0;
}

int memory_decrease_reservation_op(struct domain *d, struct memop_range *r)
{
    return p2m_pod_decrease_reservation(d, r->gfn, r->nr, r->order,
                                        &r->nr_done, &r->pages);
}

int64_t memory_populate_physmap(struct domain *d, gfn_t gfn, uint64_t nr,
                                unsigned int order, unsigned int flags)
{
    struct memop_range r = { gfn, nr, order, flags, 0, 0 };
    int rc = memory_populate_physmap_op(d, &r);

    return rc && !r.nr_done ? rc : (int64_t)r.nr_done;
}

int64_t memory_decrease_reservation(struct domain *d, gfn_t gfn, uint64_t nr,
                                    unsigned int order)
{
    struct memop_range r = { gfn, nr, order, 0, 0, 0 };
    int rc;

    do
        rc = memory_decrease_reservation_op(d, &r);
    while ( rc == -ERESTART );
    return rc && !r.pages ? rc : (int64_t)r.pages;
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

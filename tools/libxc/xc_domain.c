/*
 * Toolstack wrappers over the memory ops: look the domain up, call the op,
 * and give its result the meaning a toolstack expects (see xc_domain.h).
 */
#include "xc_domain.h"

#include <xen/errno.h>

int64_t xc_domain_populate_physmap(domid_t domid, uint64_t gfn, uint64_t nr,
                                   unsigned int order, unsigned int flags)
{
    struct domain *d = domain_lookup(domid);
    int64_t done;

    if ( !d )
        return -ESRCH;
    done = memory_populate_physmap(d, _gfn(gfn), nr, order, flags);
    /*
     * The op reports a heap that could not give even the first extent as
     * -ENOMEM; as a count of extents done (Xen's convention) that is 0.
     */
    return done == -ENOMEM ? 0 : done;
}

int64_t xc_domain_decrease_reservation(domid_t domid, uint64_t gfn,
                                       uint64_t nr, unsigned int order)
{
    struct domain *d = domain_lookup(domid);

    return d ? memory_decrease_reservation(d, _gfn(gfn), nr, order) : -ESRCH;
}

int xc_domain_set_pod_target(domid_t domid, uint64_t target_pages)
{
    struct domain *d = domain_lookup(domid);

    return d ? memory_set_pod_target(d, target_pages) : -ESRCH;
}

int xc_domain_get_pod_target(domid_t domid, struct memory_pod_info *info)
{
    struct domain *d = domain_lookup(domid);

    return d ? memory_get_pod_target(d, info) : -ESRCH;
}

int xc_domain_get_pages(domid_t domid, struct xc_domain_pages *out)
{
    struct domain *d = domain_lookup(domid);
    struct memory_pod_info pi;

    if ( !d )
        return -ESRCH;
    memory_get_pod_target(d, &pi);
    out->tot_pages = pi.tot_pages;
    out->max_pages = pi.max_pages;
    out->p2m_pages = __atomic_load_n(&d->p2m_pages, __ATOMIC_RELAXED);
    out->pod_cache = pi.pod_cache;
    out->pod_entries = pi.pod_entries;
    return 0;
}

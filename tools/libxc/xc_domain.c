/*
 * Toolstack wrappers over domain creation and the memory ops: look the
 * domain up, call the op, and give its result the meaning a toolstack
 * expects (see xc_domain.h).
 */
#include "xc_domain.h"

#include <xen/errno.h>

int xc_domain_create(domid_t domid, enum p2m_format fmt, uint64_t max_pages,
                     unsigned int nr_vcpus, struct domain **out)
{
    int rc = 0;

    *out = domain_create(domid, fmt, max_pages, nr_vcpus, &rc);
    return *out ? 0 : rc;
}

int xc_domain_destroy(domid_t domid)
{
    struct domain *d = domain_lookup(domid);

    if ( !d )
        return -ESRCH;
    domain_destroy(d);
    return 0;
}

int xc_domain_set_max_order(domid_t domid, unsigned int order)
{
    struct domain *d = domain_lookup(domid);

    return d ? p2m_set_max_order(&d->p2m, order) : -ESRCH;
}

/* Issue op until it stops asking to be called again; fill out. */
static int memop(domid_t domid, int (*op)(struct domain *,
                                          struct memop_range *),
                 struct memop_range *r, struct xc_memop_result *out)
{
    struct domain *d = domain_lookup(domid);
    int rc = -ESRCH;

    out->calls = 0;
    if ( d )
        do
        {
            rc = op(d, r);
            out->calls++;
        } while ( rc == -ERESTART );
    out->nr_done = r->nr_done;
    out->pages = r->pages;
    return rc;
}

int xc_domain_populate_physmap(domid_t domid, uint64_t gfn, uint64_t nr,
                               unsigned int order, unsigned int flags,
                               struct xc_memop_result *out)
{
    struct memop_range r = { _gfn(gfn), nr, order, flags, 0, 0 };

    return memop(domid, memory_populate_physmap_op, &r, out);
}

int xc_domain_decrease_reservation(domid_t domid, uint64_t gfn, uint64_t nr,
                                   unsigned int order,
                                   struct xc_memop_result *out)
{
    struct memop_range r = { _gfn(gfn), nr, order, 0, 0, 0 };

    return memop(domid, memory_decrease_reservation_op, &r, out);
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

int xc_domain_get_pod_stats(domid_t domid, struct pod_stats *out)
{
    struct domain *d = domain_lookup(domid);

    if ( !d )
        return -ESRCH;
    p2m_pod_get_stats(d, out);
    return 0;
}

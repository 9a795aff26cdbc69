/*
 * Domains: creation, lookup, crash and destruction.  Domain structures are
 * static so that the module needs no allocator beyond the frame heap.
 */
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/sched.h>

static struct domain domains[MAX_DOMAINS];

struct domain *domain_create(domid_t domid, enum p2m_format fmt,
                             uint64_t max_pages, unsigned int nr_vcpus,
                             int *err)
{
    struct domain *d;
    unsigned int i;
    int rc;

    if ( domid >= MAX_DOMAINS || nr_vcpus == 0 || nr_vcpus > MAX_VCPUS ||
         (fmt != P2M_FORMAT_NPT && fmt != P2M_FORMAT_EPT) )
    {
        *err = -EINVAL;
        return NULL;
    }
    d = &domains[domid];
    if ( d->in_use )
    {
        *err = -EEXIST;
        return NULL;
    }
    memset(d, 0, sizeof(*d));
    d->domain_id = domid;
    d->max_pages = max_pages;
    d->nr_vcpus = nr_vcpus;
    list_init(&d->page_list);
    for ( i = 0; i < nr_vcpus; i++ )
    {
        d->vcpu[i].vcpu_id = i;
        d->vcpu[i].domain = d;
    }
    d->in_use = true;   /* before p2m_init, so its pages have an owner */
    rc = p2m_init(&d->p2m, d, fmt);
    if ( rc )
    {
        d->in_use = false;
        *err = rc;
        return NULL;
    }
    plat_flush_guest_tlb(d);
    *err = 0;
    return d;
}

void domain_destroy(struct domain *d)
{
    d->is_dying = true;
    p2m_teardown(&d->p2m);
    free_domain_memory(d);
    plat_flush_guest_tlb(d);
    d->in_use = false;
}

struct domain *domain_lookup(domid_t domid)
{
    if ( domid >= MAX_DOMAINS || !domains[domid].in_use )
        return NULL;
    return &domains[domid];
}

int domain_iomem_permit(struct domain *d, mfn_t mfn, uint64_t nr)
{
    int rc = 0;

    if ( !machine_range_is_mmio(mfn, nr) )
        return -EINVAL;
    spin_lock(&d->p2m.lock);
    if ( d->nr_iomem == DOMAIN_MAX_IOMEM )
        rc = -ENOSPC;
    else
        d->iomem[d->nr_iomem++] = (struct machine_range){ mfn_x(mfn),
                                                          mfn_x(mfn) + nr };
    spin_unlock(&d->p2m.lock);
    return rc;
}

int domain_iomem_allowed(const struct domain *d, mfn_t mfn,
                         unsigned int order)
{
    uint64_t s = mfn_x(mfn), e = s + (1ull << order);
    unsigned int i;

    ASSERT_LOCKED(&d->p2m.lock);
    for ( i = 0; i < d->nr_iomem; i++ )
        if ( s >= d->iomem[i].start && e <= d->iomem[i].end )
            return 0;
    return -EPERM;
}

void domain_crash(struct domain *d, const char *why, gfn_t gfn)
{
    if ( __atomic_exchange_n(&d->crashed, true, __ATOMIC_ACQ_REL) )
        return;
    if ( gfn_eq(gfn, INVALID_GFN) )
        printk("d%u crashed: %s\n", d->domain_id, why);
    else
        printk("d%u crashed: %s (gfn %#llx)\n", d->domain_id, why,
               (unsigned long long)gfn_x(gfn));
}

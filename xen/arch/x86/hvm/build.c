/*
 * The domain builder: a domain whose memory is laid out region by region
 * (RAM in leaves of a chosen order, populate-on-demand entries), the guest
 * binary and its struct guest_info loaded, the PoD target set and the vCPU
 * ready to enter.
 */
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/memory.h>
#include <xen/mm.h>

#include "../boot/boot.h"
#include "build.h"

void hvm_guest_add(struct hvm_guest *g, enum guest_region_kind kind,
                   uint64_t gfn, uint64_t nr, unsigned int order,
                   uint64_t touch)
{
    struct guest_region *r;

    if ( g->nr == GUEST_MAX_REGIONS )
        panic("guest %s: more than %u regions", g->name, GUEST_MAX_REGIONS);
    r = &g->region[g->nr++];
    *r = (struct guest_region){ gfn, nr, kind, order,
                                touch == GR_TOUCH_ALL ? nr : touch, 0 };
}

uint64_t hvm_guest_pages(const struct hvm_guest *g, bool populated)
{
    uint64_t n = 0;
    unsigned int i;

    for ( i = 0; i < g->nr; i++ )
        if ( g->region[i].kind != GR_MMIO &&
             (!populated || g->region[i].kind == GR_BASE ||
              g->region[i].kind == GR_RAM) )
            n += g->region[i].nr;
    return n;
}

/*
 * Map one region: RAM now, or PoD entries of the region's order.  Without
 * 1G pages a RAM region asked for in 1G leaves gets 2M leaves (recorded
 * in r, so the guest sees what it got); PoD regions keep 1G entries, and
 * the P2M's max leaf order makes their fills 2M.
 */
static int build_region(const struct hvm_vendor *hw, struct domain *d,
                        struct guest_region *r)
{
    unsigned int flags = r->kind == GR_POD || r->kind == GR_POD_IDLE ?
                         MEMOP_POD : 0;
    uint64_t extents;
    int64_t done;

    if ( r->kind == GR_MMIO )
        return 0;               /* the scenario maps it */
    if ( r->kind == GR_BASE )
        r->order = PAGE_ORDER_4K;
    if ( r->order == PAGE_ORDER_1G && !hw->leaf_1g && !flags )
    {
        /* PoD entries are not present: a 1G one is fine on any CPU. */
        printk("build: no 1G pages: gfn %#x mapped with 2M leaves\n", r->gfn);
        r->order = PAGE_ORDER_2M;
    }
    if ( r->nr & ((1u << r->order) - 1) )
        return -EINVAL;
    extents = (uint64_t)r->nr >> r->order;
    done = memory_populate_physmap(d, _gfn(r->gfn), extents, r->order, flags);
    if ( done < 0 )
        return (int)done;
    return (uint64_t)done == extents ? 0 : -ENOMEM;
}

/*
 * The base region holds the image, the info page and the stack: pinned,
 * as a toolstack pins a guest's special pages, so no sweep takes them.
 */
static int pin_region(struct domain *d, const struct guest_region *r)
{
    struct p2m_lookup l;
    uint32_t i;
    int rc = 0;

    for ( i = 0; i < r->nr && !rc; i++ )
    {
        rc = p2m_get_entry(&d->p2m, _gfn(r->gfn + i), &l);
        if ( !rc )
            rc = heap_pin_range(d, l.mfn, 0, true);
    }
    return rc;
}

/*
 * The page at gpa for the builder to write: RAM, or a PoD entry filled
 * now from the cache (as a toolstack's foreign mapping populates it).
 */
static void *builder_page(struct domain *d, uint64_t gpa, size_t n)
{
    struct p2m_lookup l;
    void *p = hvm_guest_ptr(d, gpa, n);

    if ( p || p2m_get_entry(&d->p2m, _gfn(gpa >> PAGE_SHIFT), &l) ||
         l.type != p2m_populate_on_demand )
        return p;
    if ( p2m_handle_fault(&d->vcpu[0], _gfn(gpa >> PAGE_SHIFT),
                          P2M_ACCESS_W) )
        return NULL;
    return hvm_guest_ptr(d, gpa, n);
}

int hvm_copy_to_guest(struct domain *d, uint64_t gpa, const void *src,
                      size_t len)
{
    const uint8_t *s = src;

    while ( len )
    {
        size_t n = MIN(len, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));
        void *p = builder_page(d, gpa, n);

        if ( !p )
            return -EFAULT;
        memcpy(p, s, n);
        gpa += n;
        s += n;
        len -= n;
    }
    return 0;
}

static int load_guest(const struct hvm_vendor *hw, struct domain *d,
                      const struct hvm_guest *g, uint32_t seed)
{
    static struct guest_info info;
    int rc;

    if ( g->image_size > (GUEST_BASE_PAGES << PAGE_SHIFT) - GUEST_LOAD_GPA )
        return -E2BIG;
    rc = hvm_copy_to_guest(d, GUEST_LOAD_GPA, g->image, g->image_size);
    if ( rc )
        return rc;
    memset(&info, 0, sizeof(info));
    info.magic = GUEST_INFO_MAGIC;
    info.vmx = hw->format == P2M_FORMAT_EPT;
    info.nr_regions = g->nr;
    info.seed = seed;
    info.test = g->test;
    memcpy(info.region, g->region, g->nr * sizeof(g->region[0]));
    return hvm_copy_to_guest(d, GUEST_INFO_GPA, &info, sizeof(info));
}

struct domain *hvm_build_memory(const struct hvm_vendor *hw, domid_t domid,
                                struct hvm_guest *g, int *err)
{
    struct domain *d;
    struct hvm_vcpu *hv;
    unsigned int i;
    int rc = 0;

    d = domain_create(domid, hw->format, hvm_guest_pages(g, false), 1, err);
    if ( !d )
        return NULL;
    /* Without 1G pages the P2M never writes a present 1G leaf: PoD fills
     * of 1G entries remap to 2M, and nothing folds back to 1G. */
    if ( !hw->leaf_1g )
        rc = p2m_set_max_order(&d->p2m, PAGE_ORDER_2M);
    for ( i = 0; i < g->nr && !rc; i++ )
    {
        rc = build_region(hw, d, &g->region[i]);
        if ( !rc && g->region[i].kind == GR_BASE )
            rc = pin_region(d, &g->region[i]);
    }
    if ( !rc )
        rc = memory_set_pod_target(d, g->target);
    hv = hvm_vcpu_of(&d->vcpu[0]);
    hvm_vcpu_reset(hv, &d->vcpu[0]);
    hv->exc_crash = g->own_exceptions ? 0 : ~0u;
    hv->time_limit = (g->time_limit_ms ? g->time_limit_ms
                                       : HVM_TIME_LIMIT_DEFAULT_MS) * tsc_khz;
    if ( rc )
    {
        printk("build %s: region %u of %u: error %d\n", g->name, i, g->nr,
               rc);
        domain_destroy(d);
        *err = rc;
        return NULL;
    }
    return d;
}

struct domain *hvm_build(const struct hvm_vendor *hw, domid_t domid,
                         struct hvm_guest *g, uint32_t seed, int *err)
{
    struct domain *d = hvm_build_memory(hw, domid, g, err);
    struct hvm_entry e = {
        .rip = GUEST_LOAD_GPA, .rsp = GUEST_STACK_TOP,
        .cs = 0x08, .ds = 0x10,
    };
    int rc;

    if ( !d )
        return NULL;
    rc = load_guest(hw, d, g, seed);
    if ( !rc )
        rc = hw->vcpu_init(hvm_vcpu_of(&d->vcpu[0]), &e);
    if ( rc )
    {
        printk("build %s: loading the guest: error %d\n", g->name, rc);
        domain_destroy(d);
        *err = rc;
        return NULL;
    }
    return d;
}

/*
 * A balloon driver: read the PoD target, give pages back with
 * decrease_reservation until the memory the guest believes it has equals
 * the target, then keep working (tag and check everything it kept).
 * Some pages are touched before ballooning, so populated pages are given
 * back too, not only PoD entries.  Returns the number of failed checks.
 */
#include "guest.h"

static uint32_t kept[GUEST_MAX_REGIONS];    /* pages kept per region */

static bool pod(const struct guest_region *r)
{
    return r->kind == GR_POD;
}

/* Give back pages from the end of region i; returns pages released. */
static uint32_t balloon_region(struct guest_region *r, uint32_t i,
                               uint32_t need)
{
    uint32_t released = 0;

    while ( need && kept[i] )
    {
        /* The largest aligned extent that ends where the kept part ends. */
        uint32_t end = r->gfn + kept[i], order = 18, gfn;
        struct hc_result res;

        while ( order && ((end & ((1u << order) - 1)) ||
                          kept[i] < (1u << order) || need < (1u << order)) )
            order -= 9;
        gfn = end - (1u << order);
        res = hypercall(HC_DECREASE, gfn, 1, order);
        if ( (int32_t)res.a != (int32_t)(1u << order) )
        {
            gprintf("balloon: decrease gfn %x order %u gave %d\n", gfn, order,
                    (int32_t)res.a);
            return released;
        }
        kept[i] -= 1u << order;
        released += 1u << order;
        need -= 1u << order;
    }
    return released;
}

int guest_main(struct guest_info *info);
int guest_main(struct guest_info *info)
{
    uint32_t i, believed = 0, need, bad = 0;
    struct hc_result q;

    port_puts("balloon: hello through port 0xe9\n");
    for ( i = 0; i < info->nr_regions; i++ )
    {
        struct guest_region *r = &info->region[i];

        kept[i] = r->nr;
        believed += r->nr;
        /* Touch the first and the last 2 MiB of each PoD region now. */
        if ( pod(r) && r->nr >= 1024 )
        {
            tag_range(r->gfn, 512, 1);
            tag_range(r->gfn + r->nr - 512, 512, 1);
        }
    }
    q = hypercall(HC_POD_TARGET, 0, 0, 0);
    gprintf("balloon: target %u pages, believed %u, holding %u, cache %u, "
            "PoD entries %u\n", q.a, believed, q.b, q.c, q.d);
    if ( q.a > believed )
        return 1;
    need = believed - q.a;
    for ( i = info->nr_regions; i-- > 0 && need; )
        if ( pod(&info->region[i]) )
            need -= balloon_region(&info->region[i], i, need);
    q = hypercall(HC_POD_TARGET, 0, 0, 0);
    gprintf("balloon: %u pages still to give back; now populated %u + "
            "PoD entries %u = %u (target %u)\n", need, q.b - q.c, q.d,
            q.b - q.c + q.d, q.a);
    if ( need || q.b - q.c + q.d != q.a )
        return 1;
    /* Keep working: every page kept is usable, at target. */
    for ( i = 0; i < info->nr_regions; i++ )
        if ( pod(&info->region[i]) || info->region[i].kind == GR_RAM )
            tag_range(info->region[i].gfn, kept[i], 2);
    for ( i = 0; i < info->nr_regions; i++ )
        if ( pod(&info->region[i]) || info->region[i].kind == GR_RAM )
        {
            uint32_t b = check_range(info->region[i].gfn, kept[i], 2);

            gprintf("balloon: region gfn %x: kept %u of %u pages, %u bad\n",
                    info->region[i].gfn, kept[i], info->region[i].nr, b);
            bad += b;
        }
    return (int)bad;
}

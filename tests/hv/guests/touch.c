/*
 * Touch and verify: tag every page the guest may touch in every region
 * (RAM the builder mapped with 1G, 2M and 4K leaves, and PoD regions of
 * each entry order), then read every tag back, twice (a second round of
 * tags overwrites the first).  Returns the number of bad pages.
 */
#include "guest.h"

static const char *kind_name(uint32_t k)
{
    switch ( k )
    {
    case GR_BASE: return "base";
    case GR_RAM: return "ram";
    case GR_POD: return "pod";
    default: return "pod-idle";
    }
}

static bool touchable(const struct guest_region *r)
{
    return r->kind == GR_RAM || r->kind == GR_POD;
}

int guest_main(struct guest_info *info);
int guest_main(struct guest_info *info)
{
    uint32_t i, round, bad = 0;

    port_puts("touch: hello through port 0xe9\n");
    for ( round = 1; round <= 2; round++ )
    {
        for ( i = 0; i < info->nr_regions; i++ )
        {
            const struct guest_region *r = &info->region[i];

            if ( touchable(r) )
            {
                tag_range(r->gfn, r->touch, round);
                gprintf("touch: round %u %s order %u gfn %x: %u pages "
                        "tagged\n", round, kind_name(r->kind), r->order,
                        r->gfn, r->touch);
            }
        }
        for ( i = 0; i < info->nr_regions; i++ )
        {
            const struct guest_region *r = &info->region[i];
            uint32_t b;

            if ( !touchable(r) )
                continue;
            b = check_range(r->gfn, r->touch, round);
            gprintf("touch: round %u %s order %u gfn %x: %u pages checked, "
                    "%u bad\n",
                    round, kind_name(r->kind), r->order, r->gfn, r->touch, b);
            bad += b;
        }
    }
    return (int)bad;
}

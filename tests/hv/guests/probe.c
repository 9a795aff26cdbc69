/*
 * The 1G probe: read the first word of each region the scenario mapped
 * itself (a 1G EPT leaf).  On a CPU without 1G EPT pages the read never
 * completes: the hypervisor gets an EPT misconfiguration and stops us.
 */
#include "guest.h"

int guest_main(struct guest_info *info);
int guest_main(struct guest_info *info)
{
    for ( uint32_t i = 0; i < info->nr_regions; i++ )
    {
        const struct guest_region *r = &info->region[i];

        if ( r->kind != GR_MMIO )
            continue;
        gprintf("probe: reading gfn %x through a 1G leaf\n", r->gfn);
        gprintf("probe: read %x\n", page_ptr(r->gfn)[0]);
    }
    return 0;
}

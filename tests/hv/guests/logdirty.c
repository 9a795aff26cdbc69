/*
 * Log-dirty: the guest tags all of its RAM, asks the hypervisor to turn
 * log-dirty on (phase 1), writes a few pages inside superpages (a 1G leaf
 * and 2M leaves), then hands the list of pages it wrote to the hypervisor,
 * which compares it with the dirty bitmap (phase 2, cleaning it).  A second
 * round with another list (phase 3) must show only the new writes; phase 4
 * turns log-dirty off.  Returns the number of failed checks.
 */
#include "guest.h"

static uint32_t *const list = (uint32_t *)GUEST_LIST_GPA;

/* Pages written while log-dirty is on: offsets into RAM regions. */
static const uint32_t round1[] = { 0, 1, 513, 5 * 512 + 7, 300 * 512 + 100,
                                   511 * 512 + 511 };
static const uint32_t round2[] = { 1, 2 * 512 + 3, 20 * 512 };

/* Write round-r tags into each listed offset of each RAM region. */
static uint32_t write_round(const struct guest_info *info,
                            const uint32_t *offs, uint32_t n, uint32_t r)
{
    uint32_t i, k, nr = 0;

    for ( i = 0; i < info->nr_regions; i++ )
    {
        const struct guest_region *g = &info->region[i];

        if ( g->kind != GR_RAM )
            continue;
        for ( k = 0; k < n; k++ )
            if ( offs[k] < g->nr )
            {
                tag_page(g->gfn + offs[k], r);
                list[nr++] = g->gfn + offs[k];
            }
    }
    return nr;
}

static uint32_t phase(uint32_t p, uint32_t arg)
{
    struct hc_result res = hypercall(HC_PHASE, p, arg, 0);

    if ( res.a )
        gprintf("logdirty: phase %u failed (%d)\n", p, (int32_t)res.a);
    return res.a != 0;
}

int guest_main(struct guest_info *info);
int guest_main(struct guest_info *info)
{
    uint32_t i, bad = 0, n;

    port_puts("logdirty: hello through port 0xe9\n");
    for ( i = 0; i < info->nr_regions; i++ )
        if ( info->region[i].kind == GR_RAM )
            tag_range(info->region[i].gfn, info->region[i].nr, 1);
    bad += phase(1, 0);
    n = write_round(info, round1, sizeof(round1) / sizeof(round1[0]), 2);
    gprintf("logdirty: wrote %u pages inside superpages\n", n);
    bad += phase(2, n);
    n = write_round(info, round2, sizeof(round2) / sizeof(round2[0]), 3);
    gprintf("logdirty: wrote %u more pages\n", n);
    bad += phase(3, n);
    bad += phase(4, 0);
    /* Every page holds the tag of the last round that wrote it. */
    for ( i = 0; i < info->nr_regions; i++ )
    {
        const struct guest_region *g = &info->region[i];

        if ( g->kind != GR_RAM )
            continue;
        for ( uint32_t k = 0; k < g->nr; k++ )
        {
            uint32_t r = 1;

            for ( uint32_t j = 0; j < sizeof(round1) / sizeof(round1[0]); j++ )
                r = round1[j] == k ? 2 : r;
            for ( uint32_t j = 0; j < sizeof(round2) / sizeof(round2[0]); j++ )
                r = round2[j] == k ? 3 : r;
            bad += check_page(g->gfn + k, r);
        }
    }
    return (int)bad;
}

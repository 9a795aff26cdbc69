/*
 * A Windows-like boot: the guest zeroes all of its memory first (as
 * Windows does with every page it believes it has), although the PoD
 * cache is far smaller; the sweeper must hand the zeroed pages back to the
 * cache as fast as the guest fills new ones.  Then it keeps a small
 * working set of tagged pages, and checks zeroed pages still read zero.
 * Returns the number of failed checks.
 */
#include "guest.h"

#define WORKING_SET 2048        /* pages tagged after the zeroing */

static bool zeroable(const struct guest_region *r)
{
    return r->kind == GR_RAM || r->kind == GR_POD;
}

/* Zero [gfn, gfn + nr) a 2 MiB step at a time, reporting progress. */
static void zero_pages(uint32_t gfn, uint32_t nr)
{
    while ( nr )
    {
        uint32_t n = nr < 512 ? nr : 512;

        memset((void *)(uintptr_t)(gfn * PAGE_SIZE), 0, n * PAGE_SIZE);
        gfn += n;
        nr -= n;
    }
}

/*
 * Pages zeroed before must still read zero, wherever the sweeper put them:
 * one page every 4 MiB (each read populates 2 MiB again, from the cache).
 */
static uint32_t check_zero(const struct guest_region *r, uint32_t skip)
{
    uint32_t bad = 0;

    for ( uint32_t i = skip; i < r->touch; i += 1024 )
    {
        volatile uint32_t *p = page_ptr(r->gfn + i);

        if ( p[0] | p[1023] )
        {
            gprintf("  page %x not zero\n", r->gfn + i);
            bad++;
        }
    }
    return bad;
}

int guest_main(struct guest_info *info);
int guest_main(struct guest_info *info)
{
    const struct guest_region *ws = NULL;
    uint32_t i, bad = 0, total = 0;
    struct hc_result q;

    port_puts("zero: hello through port 0xe9\n");
    for ( i = 0; i < info->nr_regions; i++ )
    {
        const struct guest_region *r = &info->region[i];

        if ( !zeroable(r) )
            continue;
        zero_pages(r->gfn, r->touch);
        total += r->touch;
        if ( !ws && r->touch >= WORKING_SET )
            ws = r;
        q = hypercall(HC_POD_TARGET, 0, 0, 0);
        gprintf("zero: region gfn %x: %u pages zeroed; holding %u pages "
                "(target %u, cache %u)\n", r->gfn, r->touch, q.b, q.a, q.c);
    }
    gprintf("zero: %u MiB zeroed\n", total >> 8);
    if ( !ws )
        return 1;
    tag_range(ws->gfn, WORKING_SET, 1);
    bad += check_range(ws->gfn, WORKING_SET, 1);
    for ( i = 0; i < info->nr_regions; i++ )
        if ( zeroable(&info->region[i]) )
            bad += check_zero(&info->region[i],
                              &info->region[i] == ws ? WORKING_SET : 0);
    q = hypercall(HC_POD_TARGET, 0, 0, 0);
    gprintf("zero: working set of %u pages checked, %u bad; holding %u "
            "pages of %u believed\n", WORKING_SET, bad, q.b, q.s);
    return (int)bad;
}

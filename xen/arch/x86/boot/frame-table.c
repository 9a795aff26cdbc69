/*
 * The frame table: one struct page_info per machine frame, virtually
 * contiguous over [0, machine.max_mfn) at FT_VIRT, backed by memory only
 * where it describes RAM.
 *
 * FT_VIRT is slot FT_PDPT_SLOT of the boot PDPT (head.S), past the 16 GiB
 * identity map: one L2 table maps up to 1 GiB of frame table.  A 4 KiB
 * page of it is backed by its own zeroed page when it holds the page_info
 * of a frame that is written: a RAM frame, or the 2 MiB- or 1 GiB-aligned
 * frame a RAM range starts in (m2p.c counts records there).  Every other
 * page, all of a hole, maps one shared zero page read-only, through one
 * shared L1 table for each 2 MiB of table that is hole only: a hole reads as
 * frames no one uses (page_alloc.c and m2p.c read buddies and chunk heads
 * there), costs no memory, and a write to it faults (CR0.WP, head.S).
 */
#include <xen/lib.h>
#include <xen/mm.h>

#include "boot.h"
#include "memmap.h"

#define FT_PDPT_SLOT     256
#define FT_VIRT          ((uint64_t)FT_PDPT_SLOT << 30)
#define PT_ENTRIES       512
#define PTE_RO           0x1            /* present, read-only */

BUILD_BUG_ON(IDMAP_GB > FT_PDPT_SLOT);
/* One L2 table is enough for the frames of the whole identity map. */
BUILD_BUG_ON((IDMAP_LIMIT >> PAGE_SHIFT) * sizeof(struct page_info) >
             (1ull << 30));

extern uint64_t boot_pdpt[];

uint64_t frame_table_taken_start, frame_table_taken_end;

/* The RAM ranges as they were before the table took its pages. */
static struct machine_range ram[MACHINE_MAX_RANGES];
static unsigned int nr_ram;

/* Does frame-table page p hold a page_info that is written? */
static bool page_backed(uint64_t p)
{
    uint64_t f0 = p * PAGE_SIZE / sizeof(struct page_info);
    uint64_t f1 = ((p + 1) * PAGE_SIZE - 1) / sizeof(struct page_info);
    unsigned int i;

    for ( i = 0; i < nr_ram; i++ )
    {
        uint64_t s = ram[i].start, h2 = align_down(s, PAGE_ORDER_2M),
                 h1 = align_down(s, PAGE_ORDER_1G);

        if ( (f0 < ram[i].end && s <= f1) || (h2 >= f0 && h2 <= f1) ||
             (h1 >= f0 && h1 <= f1) )
            return true;
    }
    return false;
}

/* Pages for the tables, bumped from the range frame_table_init took;
 * NULL while counting. */
struct ft_pages {
    uint64_t next, end;
};

static uint64_t take(struct ft_pages *a)
{
    uint64_t pa = a->next;

    if ( pa >= a->end )
        panic("frame table: takes more pages than counted");
    a->next += PAGE_SIZE;
    memset((void *)(uintptr_t)pa, 0, PAGE_SIZE);
    return pa;
}

/*
 * Frame-table pages [first, end) (one 2 MiB chunk): fill l2e with an L1
 * table for them, or with zero_l1 when none is backed.  Returns the pages
 * it takes (with a NULL: would take).
 */
static uint64_t map_chunk(uint64_t first, uint64_t end, struct ft_pages *a,
                          uint64_t *l2e, uint64_t zero_l1, uint64_t zero_pg)
{
    uint64_t p, n = 0, *l1;

    for ( p = first; p < end; p++ )
        n += page_backed(p);
    if ( !n )
    {
        if ( a )
            *l2e = zero_l1 | PTE_TABLE;
        return 0;
    }
    if ( !a )
        return n + 1;
    l1 = (uint64_t *)(uintptr_t)take(a);
    for ( p = first; p < end; p++ )
        l1[p % PT_ENTRIES] = page_backed(p) ? take(a) | PTE_TABLE
                                            : zero_pg | PTE_RO;
    *l2e = (uintptr_t)l1 | PTE_TABLE;
    return n + 1;
}

/* The whole table of nft pages; returns the pages it takes (would take,
 * with a NULL): the L2 table, the zero page, the zero L1 table and the
 * chunks'. */
static uint64_t map_table(uint64_t nft, struct ft_pages *a)
{
    uint64_t *l2 = NULL, zero_pg = 0, zero_l1 = 0, n = 3, c;
    unsigned int i;

    if ( a )
    {
        l2 = (uint64_t *)(uintptr_t)take(a);
        zero_pg = take(a);
        zero_l1 = take(a);
        for ( i = 0; i < PT_ENTRIES; i++ )
            ((uint64_t *)(uintptr_t)zero_l1)[i] = zero_pg | PTE_RO;
    }
    for ( c = 0; c * PT_ENTRIES < nft; c++ )
        n += map_chunk(c * PT_ENTRIES, MIN(nft, (c + 1) * PT_ENTRIES), a,
                       a ? &l2[c] : NULL, zero_l1, zero_pg);
    if ( a )
        boot_pdpt[FT_PDPT_SLOT] = (uintptr_t)l2 | PTE_TABLE;
    return n;
}

/* Take n pages from the start of the first RAM range that holds them. */
static uint64_t take_ram(uint64_t n)
{
    unsigned int i;

    for ( i = 0; i < machine.nr_ranges; i++ )
    {
        struct machine_range *r = &machine.range[i];
        uint64_t s = r->start;

        if ( r->end - r->start < n )
            continue;
        r->start += n;
        if ( r->start == r->end )
        {
            for ( ; i + 1 < machine.nr_ranges; i++ )
                machine.range[i] = machine.range[i + 1];
            machine.nr_ranges--;
        }
        return s << PAGE_SHIFT;
    }
    panic("frame table: no RAM range holds %llu pages",
          (unsigned long long)n);
}

void frame_table_init(void)
{
    uint64_t nft = (machine.max_mfn * sizeof(struct page_info) + PAGE_SIZE -
                    1) >> PAGE_SHIFT;
    uint64_t n;
    struct ft_pages a;

    if ( boot_pdpt[FT_PDPT_SLOT] )
        panic("frame table: PDPT slot %u is in use", FT_PDPT_SLOT);
    nr_ram = machine.nr_ranges;
    memcpy(ram, machine.range, sizeof(ram));
    n = map_table(nft, NULL);
    a.next = take_ram(n);
    a.end = a.next + (n << PAGE_SHIFT);
    frame_table_taken_start = a.next;
    frame_table_taken_end = a.end;
    map_table(nft, &a);
    if ( a.next != a.end )
        panic("frame table: took %llu of %llu pages",
              (unsigned long long)((a.next - frame_table_taken_start) >>
                                   PAGE_SHIFT), (unsigned long long)n);
    write_cr(3, read_cr(3));
    machine.frame_table = (struct page_info *)FT_VIRT;
    printk("memory: frame table at %#llx for %llu frames: %llu KiB at "
           "%#llx-%#llx (flat it would be %llu KiB)\n",
           (unsigned long long)FT_VIRT, (unsigned long long)machine.max_mfn,
           (unsigned long long)(n << 2),
           (unsigned long long)frame_table_taken_start,
           (unsigned long long)frame_table_taken_end,
           (unsigned long long)(nft << 2));
}

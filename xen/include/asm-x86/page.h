/*
 * Machine memory: geometry, the frame table and the machine layout.
 *
 * Every machine frame has a struct page_info in the frame table, which is
 * virtually contiguous over [0, max_mfn).  Frames are grouped into naturally
 * aligned power-of-two chunks.  Only the first frame of a chunk (its head)
 * records use, order and owner; every other frame's chunk fields are zero.
 * That keeps a 1 GiB allocation to one page_info write, and leaves the frame
 * table of holes untouched (so it costs no memory on the hosted platform).
 */
#ifndef ASM_X86_PAGE_H
#define ASM_X86_PAGE_H

#include <xen/list.h>
#include <xen/types.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ul << PAGE_SHIFT)
#define PAGE_ORDER_4K 0
#define PAGE_ORDER_2M 9
#define PAGE_ORDER_1G 18
#define MAX_ORDER PAGE_ORDER_1G

/* page_info.use, on chunk heads. */
enum page_use {
    PGU_NONE = 0,   /* not a chunk head (inside a chunk, or a hole) */
    PGU_FREE,       /* on a heap free list */
    PGU_DOMAIN,     /* guest memory owned by page_info.owner */
    PGU_P2M,        /* P2M table page (in use or in the pool) of owner */
    PGU_XEN,        /* held by the hypervisor (heap fragmentation pins) */
};

/* page_info.flags */
#define PGF_zeroed  (1u << 0)   /* free chunk known to hold only zeroes */
#define PGF_pinned  (1u << 1)   /* special page: never reclaimed by a sweep */
#define PGF_pod     (1u << 2)   /* chunk sits in its owner's PoD cache */
#define PGF_reserved (1u << 3)  /* held for its owner by the toolstack: may
                                 * stay unmapped (not a leak), and an unmap
                                 * leaves it owned instead of freeing it */

struct page_info {
    struct list_head list;  /* free list, domain chunk list, pool, PoD cache */
    uint64_t m2p_gfn;       /* m2p record starting at this frame: its gfn */
    uint32_t count;         /* references held beyond ownership */
    uint32_t m2p_sub1g;     /* 1G-aligned frame: m2p records < 1G inside */
    uint16_t owner;         /* chunk head: domid + 1, 0 = none */
    uint16_t m2p_sub2m;     /* 2M-aligned frame: 4K m2p records inside */
    uint8_t use;            /* chunk head: enum page_use */
    uint8_t order;          /* chunk head: log2 of the chunk's frames */
    uint8_t flags;          /* chunk head: PGF_* */
    uint8_t m2p_order;      /* 0 = no m2p record here, else order + 1 */
};

#define MACHINE_MAX_RANGES 16

/* A RAM range of machine frames, [start, end). */
struct machine_range { uint64_t start, end; };

struct machine {
    unsigned int nr_ranges;
    struct machine_range range[MACHINE_MAX_RANGES];
    uint64_t max_mfn;               /* one past the highest RAM frame */
    struct page_info *frame_table;  /* covers [0, max_mfn) */
    /* Device memory the machine declares (machine_declare_mmio): the only
     * frames an mmio_direct entry may point at.  Never RAM. */
    unsigned int nr_mmio;
    struct machine_range mmio[MACHINE_MAX_RANGES];
    /* CPU properties the platform sets once, before heap_init: */
    unsigned int paddr_bits;        /* physical-address width (MAXPHYADDR) */
    bool ept_exec_only;             /* EPT takes X-only entries (VPID_CAP 0) */
    /* Where the platform maps RAM: frame mfn at directmap + mfn * PAGE_SIZE
     * (plat_map_mfn), so that table walks need no call per level. */
    uintptr_t directmap;
};

extern struct machine machine;

/*
 * One past the highest frame the physical-address width reaches.  Frame
 * bits at or above it are reserved in the entries of both formats.
 */
static inline uint64_t machine_mfn_limit(void)
{
    return 1ull << (machine.paddr_bits - PAGE_SHIFT);
}

static inline struct page_info *mfn_to_page(mfn_t mfn)
{
    return machine.frame_table + mfn_x(mfn);
}

static inline mfn_t page_to_mfn(const struct page_info *pg)
{
    return _mfn((uint64_t)(pg - machine.frame_table));
}

/* A RAM frame through the platform's linear map (what plat_map_mfn gives). */
static inline void *directmap_mfn(mfn_t mfn)
{
    return (void *)(machine.directmap + (mfn_x(mfn) << PAGE_SHIFT));
}

/* True when every frame of [mfn, mfn + 2^order) is RAM. */
bool mfn_range_is_ram(mfn_t mfn, unsigned int order);

/* Platform: a pointer through which the hypervisor reads and writes a frame. */
void *plat_map_mfn(mfn_t mfn);
/* Platform: one contiguous mapping of the RAM frames [mfn, mfn + nr). */
void *plat_map_mfns(mfn_t mfn, uint64_t nr);

static inline uint64_t align_down(uint64_t x, unsigned int order)
{
    return x & ~((1ull << order) - 1);
}

static inline bool is_aligned(uint64_t x, unsigned int order)
{
    return (x & ((1ull << order) - 1)) == 0;
}

#endif /* ASM_X86_PAGE_H */

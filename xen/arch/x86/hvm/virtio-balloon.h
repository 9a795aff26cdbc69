/*
 * virtio-balloon (virtio 1.2, 5.5) on the virtio-mmio transport, for a
 * populate-on-demand guest: the toolstack sets how many pages the guest
 * should hold, the guest's own balloon driver gives pages back and takes
 * them again, and free page reporting turns free 2 MiB blocks back into
 * 2M PoD entries with their backing returned whole.
 *
 * Offered: VIRTIO_F_VERSION_1, VIRTIO_BALLOON_F_STATS_VQ,
 * VIRTIO_BALLOON_F_DEFLATE_ON_OOM (the driver may take pages back under
 * memory pressure: deflate works whatever the target; the toolstack sees
 * it in counters.deflated), VIRTIO_BALLOON_F_PAGE_POISON (Linux clears
 * REPORTING without it when init_on_free or page poisoning is on) and
 * VIRTIO_BALLOON_F_REPORTING.  Queues, numbered as Linux's find_vqs
 * numbers the ones it creates (an absent queue takes no number):
 *     0 inflateq, 1 deflateq, then statsq (if STATS_VQ was negotiated),
 *     then reporting_vq (if REPORTING was).
 * Config space: le32 num_pages (device: pages it wants in the balloon),
 * le32 actual (driver: pages in the balloon now), le32
 * free_page_hint_cmd_id (reads 0: FREE_PAGE_HINT is not offered), le32
 * poison_val (driver: what its free pages hold).
 *
 * Requests (everything in them is hostile input; validate, then commit):
 *   - inflate/deflate: device-readable buffers holding le32 guest PFNs in
 *     4 KiB units, at most VBALLOON_PFNS_MAX per request.  Inflate gives
 *     each page back (decrease_reservation: a PoD entry is dropped, a
 *     populated page goes to the PoD cache or the heap); deflate makes
 *     each ballooned page a PoD entry again and refreshes the PoD target
 *     so the cache may grow into the new entries.  A page already in the
 *     state asked for is left alone (not counted).
 *   - stats: 10-byte (le16 tag, le64 value) records; the last set is kept
 *     and the buffer held until vballoon_request_stats returns it.
 *   - reporting: buffers that are each 2 MiB-aligned and a multiple of
 *     2 MiB (Linux reports free buddy blocks of order >= pageblock_order:
 *     2 or 4 MiB on x86), at most VBALLOON_REPORT_MAX blocks of 2 MiB per
 *     request.  Each 2 MiB block becomes one 2M PoD entry again: its
 *     populated pages are released (a 2M leaf as one 2M chunk) and the
 *     block is marked PoD; a block that is already PoD is left alone.
 *     A PoD entry reads as zeros, so with PAGE_POISON negotiated and a
 *     poison_val other than 0 the blocks are kept as they are (a report
 *     is a hint: counted in reported_2m, not restored).
 * A request with a PFN or block outside the guest's RAM ranges, the same
 * page (or overlapping blocks) twice, a misaligned or wrongly sized
 * buffer, too many PFNs or blocks, or (reporting) a block holding a
 * ballooned page is refused whole: nothing is done, the buffer is given
 * back, counters.refused counts it and counters.why says why; the domain
 * goes on.  A broken ring crashes the domain (virtio-mmio.h).  A host
 * failure part-way (no memory for a table split) stops the request with
 * what was done so far, each page or block all or nothing; counted in
 * counters.host_errors (the guest sees nothing: the pages not given back
 * stay mapped, which is safe).
 *
 * Serialization: the owner serializes every call on one balloon (the
 * MMIO accesses through b->dev and the toolstack's calls below).
 */
#ifndef HVM_VIRTIO_BALLOON_H
#define HVM_VIRTIO_BALLOON_H

#include "virtio-mmio.h"

struct domain;

#define VIRTIO_ID_BALLOON               5
#define VIRTIO_BALLOON_F_MUST_TELL_HOST (1ull << 0)
#define VIRTIO_BALLOON_F_STATS_VQ       (1ull << 1)
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM (1ull << 2)
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT (1ull << 3)
#define VIRTIO_BALLOON_F_PAGE_POISON    (1ull << 4)
#define VIRTIO_BALLOON_F_REPORTING      (1ull << 5)

#define VBALLOON_CFG_NUM_PAGES  0       /* config space offsets */
#define VBALLOON_CFG_ACTUAL     4
#define VBALLOON_CFG_HINT_ID    8
#define VBALLOON_CFG_POISON     12
#define VBALLOON_CFG_SIZE       16

#define VBALLOON_PFNS_MAX       1024    /* PFNs per inflate/deflate request
                                         * (Linux sends at most 256) */
#define VBALLOON_REPORT_MAX     256     /* 2 MiB blocks per report (Linux:
                                         * 32 blocks of 2 or 4 MiB) */
#define VBALLOON_STAT_TAGS      16      /* tags kept: 0..15 (Linux 6.1
                                         * sends 0..9); others ignored */
#define VBALLOON_STATS_MAX      64      /* records per stats buffer */
#define VBALLOON_RAM_RANGES     8

/* Stat tags (5.5.6.3). */
#define VIRTIO_BALLOON_S_SWAP_IN    0
#define VIRTIO_BALLOON_S_SWAP_OUT   1
#define VIRTIO_BALLOON_S_MAJFLT     2
#define VIRTIO_BALLOON_S_MINFLT     3
#define VIRTIO_BALLOON_S_MEMFREE    4
#define VIRTIO_BALLOON_S_MEMTOT     5
#define VIRTIO_BALLOON_S_AVAIL      6
#define VIRTIO_BALLOON_S_CACHES     7
#define VIRTIO_BALLOON_S_HTLB_PGALLOC 8
#define VIRTIO_BALLOON_S_HTLB_PGFAIL  9

/* A range of guest RAM as the guest's memory map says: [gfn, gfn + nr). */
struct vballoon_ram {
    uint64_t gfn, nr;
};

struct vballoon;

/*
 * The memory effects; vballoon_default_ops does them with the real
 * memory operations (xen/memory.h, asm-x86/p2m-pod.h) on b->d.  Tests
 * or a caller may supply their own.  Ranges are inside the RAM ranges.
 */
struct vballoon_ops {
    /* Inflate: give back [gfn, gfn + nr).  0, or a negative errno; in
     * both cases *pages says how many pages changed. */
    int (*release)(struct vballoon *b, uint64_t gfn, uint64_t nr,
                   uint64_t *pages);
    /* Deflate: make [gfn, gfn + nr) PoD entries (all ballooned). */
    int (*reclaim)(struct vballoon *b, uint64_t gfn, uint64_t nr);
    /* Is gfn ballooned (no entry at all)? */
    bool (*ballooned)(struct vballoon *b, uint64_t gfn);
    /* May the 2 MiB block at gfn (aligned) be reported?  0 yes; 1 it is
     * one PoD entry of 2M or more already (nothing to do); -EBUSY it
     * holds a ballooned page or something that is not RAM. */
    int (*report_check)(struct vballoon *b, uint64_t gfn);
    /* Report: the block (checked) becomes one 2M PoD entry again, its
     * populated pages released.  0, or a negative errno: nothing
     * changed (the release failed), or, the release done, the mark
     * failed and the block is left ballooned (never seen: the release
     * leaves the tables the mark needs). */
    int (*report_2m)(struct vballoon *b, uint64_t gfn);
    /* The PoD target (pages the domain should hold). */
    int (*set_pod_target)(struct vballoon *b, uint64_t pages);
};
extern const struct vballoon_ops vballoon_default_ops;

struct vballoon_stats {
    uint64_t val[VBALLOON_STAT_TAGS];
    uint32_t valid;             /* bit per tag present in the last set */
    uint64_t sets;              /* stats sets received */
};

struct vballoon_counters {
    uint64_t inflated, deflated;    /* pages that changed state */
    uint64_t inflate_reqs, deflate_reqs, report_reqs;
    uint64_t reported_2m;       /* 2 MiB blocks reported */
    uint64_t restored_2m;       /* of those, turned into a 2M PoD entry */
    uint64_t refused;           /* requests refused whole */
    uint64_t host_errors;       /* requests stopped by a host failure */
    const char *why;            /* the last refusal or host failure */
    int host_rc;                /* the last host failure's errno */
};

struct vballoon {
    struct vmmio_dev dev;       /* the transport: vmmio_read(&b->dev, ..) */
    struct domain *d;
    const struct vballoon_ops *ops;
    struct vballoon_ram ram[VBALLOON_RAM_RANGES];
    unsigned int nr_ram;
    uint64_t ram_pages;         /* sum of the RAM ranges */
    uint64_t target;            /* pages to hold (0: never set) */
    uint32_t num_pages, actual; /* config space */
    uint32_t poison;            /* config space: poison_val */
    bool stats_held;            /* a stats buffer is held ... */
    uint16_t stats_head;        /* ... with this head */
    struct vballoon_stats stats;
    struct vballoon_counters c;
    /* Scratch for one request (too big for a hypervisor stack). */
    struct virtq_chain chain;
    uint32_t raw[VBALLOON_PFNS_MAX];    /* a request's bytes */
    uint64_t gfns[VBALLOON_PFNS_MAX];   /* its PFNs or 2 MiB blocks */
};

/*
 * Set up b for domain d: its guest memory accessors (mem), its RAM ranges
 * as the guest's memory map gives them (nr_ram of them, at most
 * VBALLOON_RAM_RANGES, disjoint, each inside the guest-physical space),
 * the memory effects (ops; NULL: vballoon_default_ops) and the interrupt
 * line (irq, irq_ctx; see struct vmmio_dev).  num_pages starts at 0 (no
 * ballooning until a target is set).  0, or -EINVAL for bad ranges.
 */
int vballoon_init(struct vballoon *b, struct domain *d,
                  const struct virtq_mem *mem, const struct vballoon_ram *ram,
                  unsigned int nr_ram, const struct vballoon_ops *ops,
                  void (*irq)(void *ctx, bool level), void *irq_ctx);

/*
 * The toolstack's target: the domain should hold pages pages.  Sets the
 * PoD target (ops->set_pod_target) and num_pages = max_pages - pages
 * (capped at the RAM the balloon can take), so that when the balloon
 * holds num_pages, B (what the guest believes it has) equals the target;
 * a change raises the config interrupt.  0, -EINVAL (pages above
 * max_pages), or the PoD target's error (num_pages is set anyway:
 * -ENOMEM means the host could not fill the cache yet).
 */
int vballoon_set_target(struct vballoon *b, uint64_t pages);

/* num_pages: pages the device asks the balloon to hold. */
uint64_t vballoon_num_pages(const struct vballoon *b);
/* actual: pages in the balloon, as the driver last wrote it. */
uint64_t vballoon_actual(const struct vballoon *b);
/* Has the driver caught up with the target (actual == num_pages)? */
bool vballoon_at_target(const struct vballoon *b);

/* The last stats set the driver sent (valid == 0: none yet). */
void vballoon_get_stats(const struct vballoon *b, struct vballoon_stats *s);
/*
 * Ask the driver for fresh stats: give back the held stats buffer (the
 * driver refills it and offers it again).  0; -EAGAIN when no buffer is
 * held (none offered yet, or a request is outstanding); -EFAULT as
 * vmmio_push (crash the domain).
 */
int vballoon_request_stats(struct vballoon *b);

void vballoon_get_counters(const struct vballoon *b,
                           struct vballoon_counters *c);

#endif /* HVM_VIRTIO_BALLOON_H */

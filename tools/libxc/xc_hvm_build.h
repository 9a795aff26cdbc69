/*
 * The HVM domain builder: creates a domain and lays out its RAM the way a
 * PC guest expects it, in the largest extents the heap and the hardware
 * allow, or marks it populate-on-demand when memory < maxmem.
 *
 * Guest-physical layout (gfns):
 *
 *   [0, 0xa0)            low RAM
 *   [0xa0, 0xc0)         VGA hole: never mapped
 *   [0xc0, low_end)      RAM up to the MMIO hole (low_end = 4G - hole when
 *                        the guest has more memory than fits below it)
 *   [4G - hole, 4G)      MMIO hole: never mapped
 *   [4G, 4G + rest)      the rest of RAM
 *
 * Each 1 GiB window of the layout is one 1G extent when the window is all
 * RAM, superpages and the CPU allow 1G and the heap has one; otherwise its
 * pieces get 2M extents where aligned and 4K extents for the rest.  Every
 * window that did not become a 1G extent is counted under its reason.
 */
#ifndef XC_HVM_BUILD_H
#define XC_HVM_BUILD_H

#include <stdio.h>

#include <xen/sched.h>

#define XC_VGA_HOLE_START 0xa0ull
#define XC_VGA_HOLE_END   0xc0ull
#define XC_4G_GFN         (1ull << 20)
#define XC_DEFAULT_MMIO_HOLE_MIB 256
#define XC_MAX_MMIO_HOLE_MIB 3840

struct xc_gfn_range { uint64_t start, end; };     /* gfns [start, end) */

struct xc_hvm_layout {
    unsigned int nr_ram, nr_holes;
    struct xc_gfn_range ram[3];     /* ascending, disjoint */
    struct xc_gfn_range hole[2];    /* holes that cut RAM (VGA, MMIO) */
    uint64_t pages;                 /* RAM pages in ram[] */
    uint64_t top;                   /* end of the highest RAM range */
};

/* Why a 1 GiB window did not become a 1G extent. */
enum xc_fallback {
    XC_FB_FRAG,                     /* the heap had no free 1 GiB block */
    XC_FB_ALIGN,                    /* RAM starts or ends inside the window */
    XC_FB_HOLE,                     /* a hole (VGA, MMIO) cuts the window */
    XC_FB_NR
};

struct xc_hvm_build_args {
    domid_t domid;
    enum p2m_format fmt;
    unsigned int vcpus;
    uint64_t mem_mib, maxmem_mib;   /* PoD mode when mem_mib < maxmem_mib */
    uint64_t mmio_hole_mib;
    unsigned int max_order;         /* superpages cap: 0, 9 or 18 */
    bool cpu_1g;                    /* the hardware can map 1G leaves */
    /* Optional: called after each window with pages done of total. */
    void (*progress)(void *ctx, struct domain *d, uint64_t done,
                     uint64_t total);
    void *progress_ctx;
};

struct xc_hvm_build_report {
    bool pod;
    struct xc_hvm_layout layout;    /* of maxmem in PoD mode, else memory */
    unsigned int max_order;         /* largest extent it asked for */
    uint64_t extents[P2M_LEAF_LEVELS]; /* extents used, by p2m_level_idx */
    uint64_t want_1g;               /* windows it wanted as a 1G extent */
    uint64_t fallback_1g[XC_FB_NR];
    uint64_t fallback_2m;           /* 2M extents the heap could not give */
    uint64_t target_pages;          /* PoD target (else the RAM pages) */
    uint64_t pod_cache[POD_ORDERS]; /* PoD cache chunks, POD_4K.. */
    double seconds;
};

/*
 * Lay out mib MiB of guest RAM around the holes.  0, or -EINVAL when the
 * hole does not fit under 4 GiB or the memory does not reach past the VGA
 * hole.
 */
int xc_hvm_layout(uint64_t mib, uint64_t hole_mib, struct xc_hvm_layout *l);

/*
 * Create domain a->domid and populate its RAM (or mark it PoD and set the
 * PoD target to memory).  On success *out is the domain and r says what
 * was done.  On failure no domain is left behind and -errno is returned:
 * -EINVAL bad arguments, -EEXIST domain id in use, -ENOMEM host memory ran
 * out, or an error of the memory ops.
 */
int xc_hvm_build(const struct xc_hvm_build_args *a,
                 struct xc_hvm_build_report *r, struct domain **out);

/* Print the report, like Xen's builder does after a build. */
void xc_hvm_build_print(FILE *f, const struct xc_hvm_build_report *r);

const char *xc_fallback_name(enum xc_fallback fb);

#endif /* XC_HVM_BUILD_H */

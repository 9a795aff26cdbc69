/*
 * The interface between the hypervisor and its test guests: where a guest
 * is loaded, the description of its memory it finds at GUEST_INFO_GPA,
 * and the hypercalls (VMMCALL on AMD, VMCALL on Intel; number in EAX,
 * arguments in EBX, ECX, EDX; result in EAX).
 * Included by the 32-bit guests and by the 64-bit hypervisor alike.
 */
#ifndef GUEST_ABI_H
#define GUEST_ABI_H

#define GUEST_LOAD_GPA   0x00100000    /* entry point, 32-bit flat */
#define GUEST_INFO_GPA   0x00001000    /* struct guest_info */
#define GUEST_LIST_GPA   0x00002000    /* scratch pages for lists */
#define GUEST_LIST_PAGES 16
#define GUEST_STACK_TOP  0x000f0000
#define GUEST_BASE_PAGES 512            /* [0, 2 MiB): code, data, stack */

#define GUEST_INFO_MAGIC 0x50324d47u    /* "GM2P" */

#define HC_CONSOLE       1  /* EBX = gpa, ECX = length: print it */
#define HC_EXIT          2  /* EBX = 0 when every check passed, else a code */
#define HC_POD_TARGET    3  /* -> EAX target, EBX pages held, ECX PoD cache,
                               EDX PoD entries, ESI max pages */
#define HC_DECREASE      4  /* EBX = gfn, ECX = extents, EDX = order
                               -> EAX pages released or -errno */
#define HC_PHASE         5  /* EBX = phase, ECX = argument: the scenario acts
                               (log-dirty on, read the bitmap...);
                               EAX = 0 when its checks passed */

#ifndef __ASSEMBLER__
#include <stdint.h>

/* What a region is; the guest decides what to do with each. */
enum guest_region_kind {
    GR_BASE = 1,        /* RAM in 4K leaves: the guest's own code, stack */
    GR_RAM,             /* RAM mapped by the builder (leaf order below) */
    GR_POD,             /* populate-on-demand, filled when touched */
    GR_POD_IDLE,        /* populate-on-demand the guest must not touch */
    GR_MMIO,            /* mapped by the scenario itself, not RAM */
};

#define GR_TOUCH_ALL 0xffffffffu

struct guest_region {
    uint32_t gfn, nr;           /* pages [gfn, gfn + nr) */
    uint32_t kind;              /* enum guest_region_kind */
    uint32_t order;             /* leaf (RAM) or entry (PoD) order */
    uint32_t touch;             /* pages from gfn the guest may touch */
    uint32_t pad;
};

#define GUEST_MAX_REGIONS 16

struct guest_info {
    uint32_t magic;
    uint32_t vmx;               /* 1: use VMCALL, 0: VMMCALL */
    uint32_t nr_regions;
    uint32_t seed;              /* varies the tags from run to run */
    struct guest_region region[GUEST_MAX_REGIONS];
    uint32_t test;              /* which test a multi-test guest runs */
};

#endif /* __ASSEMBLER__ */

#endif /* GUEST_ABI_H */

/*
 * The domain builder for the test guests: a memory layout (regions of
 * struct guest_region, shared with the guests), an image and a PoD target.
 */
#ifndef HVM_BUILD_H
#define HVM_BUILD_H

#include "guest-abi.h"
#include "hvm.h"

struct hvm_guest {
    const char *name;
    const uint8_t *image;
    size_t image_size;
    struct guest_region region[GUEST_MAX_REGIONS];
    unsigned int nr;
    uint64_t target;            /* PoD target in pages */
    uint32_t test;              /* guest_info.test: what the guest runs */
    uint64_t time_limit_ms;     /* guest CPU time; 0: the default */
    bool own_exceptions;        /* the guest handles its exceptions (else
                                   each one crashes the domain) */
};

/* Append a region; touch = pages the guest may touch (GR_TOUCH_ALL). */
void hvm_guest_add(struct hvm_guest *g, enum guest_region_kind kind,
                   uint64_t gfn, uint64_t nr, unsigned int order,
                   uint64_t touch);
/* Pages of all regions but MMIO (what the guest believes it has, =
 * max_pages), or of the RAM regions only (populated). */
uint64_t hvm_guest_pages(const struct hvm_guest *g, bool populated);

/*
 * Create domain domid with one vCPU and g's memory, load the image and
 * the guest_info (with seed), set the PoD target.  On a CPU without 1G
 * leaves, regions of order 18 get order 9 (g is updated), and a target
 * that would put a 1G chunk in the PoD cache is refused (-EINVAL): a PoD
 * fill would map it as a 1G leaf.  NULL and *err on failure, with nothing
 * left behind.
 */
struct domain *hvm_build(const struct hvm_vendor *hw, domid_t domid,
                         struct hvm_guest *g, uint32_t seed, int *err);

/*
 * The memory part of hvm_build, for any guest: the domain, its regions
 * and its PoD target (set before anything is loaded, so that loading into
 * PoD memory fills it from the cache), and the vCPU reset, not yet
 * initialised by the vendor.
 */
struct domain *hvm_build_memory(const struct hvm_vendor *hw, domid_t domid,
                                struct hvm_guest *g, int *err);

/* Copy len bytes to guest-physical gpa: RAM, or PoD entries the copy
 * fills.  -EFAULT for anything else (or when the cache is empty). */
int hvm_copy_to_guest(struct domain *d, uint64_t gpa, const void *src,
                      size_t len);

#endif /* HVM_BUILD_H */

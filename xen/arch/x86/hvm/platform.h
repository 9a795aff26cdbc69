/*
 * The platform devices of a real guest that hvm.h does not list: the
 * virtio-mmio window (one device per domain, at PLAT_VIRTIO_MMIO_GPA) with
 * its interrupt on an I/O APIC pin, and the guest-memory accessors device
 * models use (struct virtq_mem).  Everything runs on the domain's one
 * vCPU, in its exits: that serializes every call on a device.
 */
#ifndef HVM_PLATFORM_H
#define HVM_PLATFORM_H

#include "hvm.h"
#include "virtio-mmio.h"

/* Guest memory of d for a device model (ctx is d): reads of PoD entries
 * give zeros without populating; writes populate them; is_ram says RAM
 * or PoD for every page. */
void hvm_platform_guest_mem(struct domain *d, struct virtq_mem *m);

/* Put dev behind the virtio-mmio window of hv's domain (after
 * hvm_platform_init), its interrupt on I/O APIC pin gsi. */
void hvm_platform_set_virtio(struct hvm_vcpu *hv, struct vmmio_dev *dev,
                             uint32_t gsi);

/* The interrupt line for vmmio_init (ctx: the hvm_vcpu): a rise is an
 * edge on the device's GSI; a refused delivery crashes the domain. */
void hvm_platform_virtio_irq(void *ctx, bool level);

#endif /* HVM_PLATFORM_H */

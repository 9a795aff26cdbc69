/*
 * The ACPI tables of a real guest's machine (acpi.c), pure logic: the
 * caller gives a buffer and the guest-physical address it will be copied
 * to, and gets back the tables with every pointer and checksum set.
 *
 * The machine they describe is hardware-reduced ACPI (FADT flag
 * HW_REDUCED_ACPI): no SCI, no PM timer, no fixed-feature registers, no
 * 8259 PIC (the MADT has no PCAT_COMPAT flag), no _S5 (so Linux halts on
 * power-off, with interrupts off).  One CPU with its local APIC, one I/O
 * APIC, and the virtio-mmio devices of the configuration as ACPI devices
 * "LNRO0005" under \_SB, each with its register window and interrupt in
 * _CRS (the Linux driver virtio_mmio binds to that _HID).
 *
 * Layout, from the buffer's start (each table 16-byte aligned):
 *     RSDP (revision 2)  -> XSDT -> FADT, MADT;  FADT -> DSDT
 */
#ifndef HVM_ACPI_H
#define HVM_ACPI_H

#include <xen/types.h>

/* The platform's MMIO map (all in the hole below 4 GiB, 4 KiB pages). */
#define PLAT_IOAPIC_GPA         0xfec00000ull   /* one I/O APIC, GSI 0.. */
#define PLAT_IOAPIC_ID          1
#define PLAT_VIRTIO_MMIO_GPA    0xfeb00000ull   /* virtio-mmio device 0 */
#define PLAT_VIRTIO_MMIO_SIZE   0x200
#define PLAT_VIRTIO_BALLOON_GSI 5               /* its interrupt (edge) */

#define ACPI_MAX_VIRTIO         4

struct acpi_virtio_dev {
    uint32_t base;              /* register window, 4 KiB-aligned */
    uint32_t size;              /* its length (0x200 for version 2) */
    uint32_t gsi;               /* edge-triggered, active high */
};

struct acpi_config {
    uint32_t lapic_gpa;         /* the local APIC's page */
    uint8_t lapic_id;           /* of the only CPU */
    uint8_t ioapic_id;
    uint32_t ioapic_gpa;
    uint32_t ioapic_gsi_base;
    unsigned int nr_virtio;     /* at most ACPI_MAX_VIRTIO */
    struct acpi_virtio_dev virtio[ACPI_MAX_VIRTIO];
};

/* Table sizes the tests and the loader know. */
#define ACPI_RSDP_LEN           36
#define ACPI_HDR_LEN            36
#define ACPI_FADT_LEN           276     /* revision 6 */
#define ACPI_BUF_MAX            1024    /* enough for ACPI_MAX_VIRTIO */

/* Offsets the tests read. */
#define ACPI_RSDP_XSDT          24      /* XsdtAddress (64-bit) */
#define ACPI_FADT_FLAGS         112
#define ACPI_FADT_BOOT_ARCH     109     /* IAPC_BOOT_ARCH */
#define ACPI_FADT_DSDT          40
#define ACPI_FADT_X_DSDT        140
#define ACPI_FADT_HW_REDUCED    (1u << 20)
#define ACPI_MADT_PCAT_COMPAT   1u

/*
 * Write the tables for cfg into buf (cap bytes), to be copied to
 * guest-physical gpa (16-byte aligned, below 4 GiB).  Returns the number
 * of bytes written (the RSDP is at buf[0], so at gpa), or -EINVAL (a bad
 * configuration: too many devices, an address that is not 4 KiB-aligned
 * or not below 4 GiB) or -ENOSPC (cap too small).
 */
int acpi_build(uint8_t *buf, uint32_t cap, uint64_t gpa,
               const struct acpi_config *cfg);

#endif /* HVM_ACPI_H */

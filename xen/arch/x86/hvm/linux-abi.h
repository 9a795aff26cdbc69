/*
 * The Linux guest run: how its payload reaches the hypervisor and how the
 * guest and the hypervisor talk about it.
 *
 * Payload.  One blob, built by tests/hv/linux.py: a 4 KiB header, then the
 * kernel (a bzImage as Debian ships it) and the initramfs, each at an offset
 * that is a multiple of 4 KiB.  QEMU hands it over as multiboot module 0
 * (`-initrd payload.bin`); on Bochs it lives on the boot disk from sector
 * LINUX_PAYLOAD_LBA on, and the hypervisor reads it with ATA PIO.
 *
 * Markers.  The guest's init and workload write lines containing "P2M: "
 * to /dev/kmsg, so they reach the emulated 8250 by the kernel's polled
 * console.  The hypervisor forwards every guest console line as
 * "HV-GUEST <line>" and notes when the marker lines arrive:
 *   P2M: init                         init is running (boot-to-init)
 *   P2M: workload <MiB> MiB <rate> MiB/s round <i> ok|FAIL <why>
 *   P2M: done                         init is about to power off
 * The guest ends with `poweroff -f`: Linux halts with interrupts off.
 */
#ifndef LINUX_ABI_H
#define LINUX_ABI_H

#define LINUX_PAYLOAD_MAGIC   "P2MLNX01"
#define LINUX_PAYLOAD_HDR     4096          /* header size; data after it */
#define LINUX_PAYLOAD_LBA     2048          /* Bochs: first sector on disk */
#define LINUX_CMDLINE_MAX     2048

#ifndef __ASSEMBLER__
#include <stdint.h>

/* Little-endian, at offset 0 of the blob; the rest of the 4 KiB is zero. */
struct linux_payload_hdr {
    char     magic[8];                  /* LINUX_PAYLOAD_MAGIC, no NUL */
    uint32_t hdr_size;                  /* LINUX_PAYLOAD_HDR */
    uint32_t total_size;                /* header + kernel + initrd, bytes */
    uint32_t kernel_off, kernel_size;   /* bzImage, from the blob's start */
    uint32_t initrd_off, initrd_size;   /* initramfs (cpio, maybe gzip) */
    uint32_t memory_mib;                /* PoD target */
    uint32_t maxmem_mib;                /* what the e820 map says */
    uint32_t timeout_s;                 /* guest time before the run fails */
    uint32_t reserved[7];
    char     cmdline[LINUX_CMDLINE_MAX]; /* guest command line, NUL-ended */
};

#endif /* __ASSEMBLER__ */

#endif /* LINUX_ABI_H */

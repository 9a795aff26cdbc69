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
 *
 * Balloon runs (balloon = 1).  The hypervisor plays the toolstack: it sets
 * the virtio-balloon target to memory_mib before the guest runs (num_pages
 * = max_pages - target), and changes it when the guest asks for the next
 * step of the schedule, so that the guest can check its data across each
 * change (the values are the toolstack's, from this header):
 *   P2M: balloon step <k>             set the target to step_mib[k - 1]
 *   P2M: balloon freed                the workload gave its memory back
 *                                     (free page reporting counts from here)
 * A vCPU paused for memory (PoD exhausted before the balloon caught up)
 * makes the toolstack raise the target by grow_mib and resume it; with
 * grow_mib 0 a pause ends the run.  The hypervisor reports each target,
 * when the balloon reached it and the pauses (HV-LINUX-BALLOON-STEP).
 */
#ifndef LINUX_ABI_H
#define LINUX_ABI_H

#define LINUX_PAYLOAD_MAGIC   "P2MLNX01"
#define LINUX_PAYLOAD_HDR     4096          /* header size; data after it */
#define LINUX_PAYLOAD_LBA     2048          /* Bochs: first sector on disk */
#define LINUX_CMDLINE_MAX     2048
#define LINUX_BALLOON_STEPS   4             /* step_mib[] */

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
    uint32_t balloon;                   /* 1: the toolstack sets targets */
    uint32_t grow_mib;                  /* target raise per pause (0: end) */
    uint32_t nr_steps;                  /* of step_mib[] */
    uint32_t step_mib[LINUX_BALLOON_STEPS]; /* targets the guest asks for */
    char     cmdline[LINUX_CMDLINE_MAX]; /* guest command line, NUL-ended */
};

#endif /* __ASSEMBLER__ */

#endif /* LINUX_ABI_H */

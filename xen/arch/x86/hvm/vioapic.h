/*
 * Virtual I/O APIC (82093AA register set, version 0x11), pure logic: no
 * hardware access, no locking (the one vCPU of the domain owns it, with
 * its local APIC).  The caller turns guest MMIO on the I/O APIC page into
 * vioapic_read/vioapic_write and a device's interrupt into vioapic_raise.
 *
 * Registers: IOREGSEL at offset 0x00 selects, IOWIN at 0x10 reads and
 * writes the selected register: 0x00 ID (bits 27:24), 0x01 version (0x11,
 * maximum redirection entry VIOAPIC_PINS - 1 in bits 23:16), 0x02
 * arbitration ID, 0x10 + 2n / 0x11 + 2n the low and high halves of pin
 * n's redirection entry.  Nothing else is a register (no EOI register:
 * that came with version 0x20).
 *
 * Hostile input, defined outcomes:
 *  - an access that is not 32 bits wide and aligned, or at an offset
 *    other than 0x00 and 0x10: -EINVAL with a reason (crash the domain);
 *  - IOWIN with IOREGSEL naming no register: reads 0, writes are ignored
 *    (counted in bad_index);
 *  - read-only bits (version, arbitration, delivery status, remote IRR)
 *    ignore writes.
 *
 * Delivery (vioapic_raise): an edge on a pin whose entry is unmasked sends
 * its vector to the local APIC when the destination includes it (physical
 * ID or 0xff broadcast; logical flat or cluster against LDR).  Only fixed
 * and lowest-priority delivery of edge-triggered entries is modelled; a
 * raise on an unmasked entry programmed otherwise is refused (-EOPNOTSUPP
 * with a reason: the guest ignored what the firmware told it).
 */
#ifndef HVM_VIOAPIC_H
#define HVM_VIOAPIC_H

#include <xen/types.h>

struct vlapic;

#define VIOAPIC_PINS        24
#define VIOAPIC_VERSION     0x11

#define VIOAPIC_REGSEL      0x00    /* MMIO offsets */
#define VIOAPIC_WIN         0x10

#define VIOAPIC_REG_ID      0x00    /* IOREGSEL values */
#define VIOAPIC_REG_VER     0x01
#define VIOAPIC_REG_ARB     0x02
#define VIOAPIC_REG_REDIR   0x10

/* Redirection entry, low half. */
#define VIOAPIC_VECTOR      0x000000ffu
#define VIOAPIC_DELIV_MODE  0x00000700u     /* 000 fixed, 001 lowest */
#define VIOAPIC_DEST_LOGICAL (1u << 11)
#define VIOAPIC_DELIV_STATUS (1u << 12)     /* read-only */
#define VIOAPIC_ACTIVE_LOW  (1u << 13)
#define VIOAPIC_REMOTE_IRR  (1u << 14)      /* read-only */
#define VIOAPIC_LEVEL       (1u << 15)
#define VIOAPIC_MASKED      (1u << 16)

struct vioapic_counters {
    uint64_t delivered;         /* vectors sent to the local APIC */
    uint64_t masked;            /* raises on a masked pin (lost, as edges
                                 * on a masked pin are) */
    uint64_t missed;            /* destination not this CPU */
    uint64_t bad_index;         /* IOWIN accesses with no register */
};

/* All fields are private to vioapic.c; tests and callers use the API. */
struct vioapic {
    uint32_t id;                /* bits 27:24 as the ID register reads */
    uint32_t sel;               /* IOREGSEL (8 bits kept) */
    uint32_t gsi_base;
    uint64_t redir[VIOAPIC_PINS];
    struct vlapic *lapic;
    struct vioapic_counters n;
};

/* The state after reset: every pin masked, edge, fixed, vector 0; the ID
 * register says id (what firmware would have programmed).  Interrupts go
 * to lapic; GSIs gsi_base .. gsi_base + VIOAPIC_PINS - 1 are its pins. */
void vioapic_init(struct vioapic *io, uint8_t id, uint32_t gsi_base,
                  struct vlapic *lapic);

/*
 * A guest access of size bytes at offset (0..0xfff) of the I/O APIC page.
 * Returns 0, or -EINVAL with *why set (the caller crashes the domain).
 */
int vioapic_read(struct vioapic *io, uint32_t offset, unsigned int size,
                 uint32_t *val, const char **why);
int vioapic_write(struct vioapic *io, uint32_t offset, unsigned int size,
                  uint32_t val, const char **why);

/*
 * A device raised (an edge on) global system interrupt gsi.  now_tsc is
 * the guest's TSC, for the local APIC (it must not go backwards).
 * Returns 1 when a vector was sent, 0 when none was (masked, or not for
 * this CPU; counted), -EINVAL (gsi is no pin of this I/O APIC) or
 * -EOPNOTSUPP (an unmasked entry that is level-triggered or has a delivery
 * mode other than fixed or lowest priority), with *why set.
 */
int vioapic_raise(struct vioapic *io, uint32_t gsi, uint64_t now_tsc,
                  const char **why);

/* The redirection entry of pin (for tests and reports); 0 if no pin. */
uint64_t vioapic_entry(const struct vioapic *io, unsigned int pin);

#endif /* HVM_VIOAPIC_H */

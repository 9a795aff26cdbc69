/*
 * The machine's memory map as a loader reported it, and what setup.c makes
 * of it.  Shared by setup.c (multiboot, the heap), efi.c (UEFI) and
 * frame-table.c; nothing else includes it.
 */
#ifndef BOOT_MEMMAP_H
#define BOOT_MEMMAP_H

#include <xen/types.h>

#include "efi-abi.h"

#define IDMAP_LIMIT      ((uint64_t)IDMAP_GB << 30)

/* What a map entry becomes above the boot floor.  RAM is heap once the
 * pages a firmware wrote are zeroed (SeaBIOS leaves its relocated init code
 * near the top of low RAM, OVMF its boot-services memory). */
enum map_kind {
    MAP_HOLE,           /* never heap */
    MAP_RAM,            /* heap, after zero_dirty */
};

/* setup.c: one entry of the map, [start, end) in bytes. */
void map_add(uint64_t start, uint64_t end, enum map_kind kind);

/* setup.c: payload [addr, addr + size) if it is a guest payload (from
 * names where it came from); says which. */
void payload_offer(uint64_t addr, uint64_t size, const char *from);

/* efi.c: the UEFI loader's map into map_add; returns the boot floor (no
 * heap below it). */
uint64_t efi_map(const struct efi_handoff *h);
/* efi.c: the map against the heap made of it (HV-EFI-MAP lines). */
void efi_report(const struct efi_handoff *h, uint64_t floor);

/* frame-table.c: map machine.frame_table over [0, machine.max_mfn), its
 * pages taken from machine.range (which shrinks by them). */
void frame_table_init(void);
/* The RAM frame_table_init took, [start, end) in bytes. */
extern uint64_t frame_table_taken_start, frame_table_taken_end;

/* setup.c: 1 GiB-aligned GiBs wholly inside heap ranges; the first max
 * of their addresses go to at[]. */
unsigned int heap_1g_extents(uint64_t *at, unsigned int max);

#endif /* BOOT_MEMMAP_H */

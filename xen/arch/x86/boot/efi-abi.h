/*
 * What the UEFI loader (efi/boot.c, a PE32+ application) hands to the
 * hypervisor image after ExitBootServices.
 *
 * The loader copies the image to HV_LOAD_ADDR (memory it allocated as
 * EfiLoaderCode), reads the optional guest payload EFI_PAYLOAD_PATH from
 * its own FAT volume into EfiLoaderData, takes the final memory map and
 * leaves boot services.  It then calls efi_start64 (head.S) in long mode, on
 * the firmware's page tables and stack, with RDI = the address of a struct
 * efi_handoff (EfiLoaderData, below 4 GiB).  efi_start64 enters boot_main
 * with EFI_BOOT_MAGIC in place of the multiboot magic.
 *
 * Everything the loader allocated is EfiLoaderCode or EfiLoaderData in the
 * map, so none of it becomes heap.
 */
#ifndef EFI_ABI_H
#define EFI_ABI_H

#define EFI_PAYLOAD_PATH  "\\EFI\\P2M\\LINUX.BIN"

#ifndef __ASSEMBLER__
#include <stdint.h>

struct efi_handoff {
    uint64_t mmap;              /* the map ExitBootServices accepted */
    uint64_t mmap_size;         /* bytes */
    uint64_t desc_size;         /* bytes per descriptor (>= 40) */
    uint32_t desc_version;
    uint32_t exit_calls;        /* tries until ExitBootServices took */
    uint64_t payload;           /* EFI_PAYLOAD_PATH's contents; 0: none */
    uint64_t payload_size;
};

/* One descriptor of the map (UEFI 2.x, version 1); descriptors are
 * desc_size bytes apart, which may be more than this. */
struct efi_mem_desc {
    uint32_t type;              /* enum efi_mem_type */
    uint32_t pad;
    uint64_t phys;              /* 4 KiB aligned */
    uint64_t virt;
    uint64_t pages;             /* 4 KiB pages */
    uint64_t attr;
};

/* EFI_MEMORY_TYPE, as the UEFI specification numbers them. */
enum efi_mem_type {
    EFI_MEM_RESERVED, EFI_MEM_LOADER_CODE, EFI_MEM_LOADER_DATA,
    EFI_MEM_BS_CODE, EFI_MEM_BS_DATA, EFI_MEM_RT_CODE, EFI_MEM_RT_DATA,
    EFI_MEM_CONVENTIONAL, EFI_MEM_UNUSABLE, EFI_MEM_ACPI_RECLAIM,
    EFI_MEM_ACPI_NVS, EFI_MEM_MMIO, EFI_MEM_MMIO_PORT, EFI_MEM_PAL_CODE,
    EFI_MEM_PERSISTENT, EFI_MEM_UNACCEPTED,
    EFI_MEM_NR_TYPES
};

#endif /* __ASSEMBLER__ */

#endif /* EFI_ABI_H */

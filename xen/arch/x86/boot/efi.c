/*
 * The UEFI memory map, as the loader (efi/boot.c) took it when it left boot
 * services (efi-abi.h), turned into map entries for setup.c, and the report
 * of what became of it (HV-EFI-MAP lines, which tests/hv/run.py checks).
 *
 * Heap: conventional memory and, since boot services are gone, their code
 * and data; the pages firmware wrote are zeroed (setup.c).  Holes: our loader's
 * code and data (the image, the handoff, the map, the payload), runtime
 * services, ACPI tables and NVS, MMIO, reserved, unusable and any type this
 * code does not know.  Nothing below the image's link address is heap.
 */
#include <xen/lib.h>
#include <xen/mm.h>

#include "boot.h"
#include "memmap.h"

#define MAX_DESCS       1024
#define OTHER           EFI_MEM_NR_TYPES        /* a type we do not know */

static const char *const type_name[EFI_MEM_NR_TYPES + 1] = {
    [EFI_MEM_RESERVED] = "reserved", [EFI_MEM_LOADER_CODE] = "loader-code",
    [EFI_MEM_LOADER_DATA] = "loader-data", [EFI_MEM_BS_CODE] = "bs-code",
    [EFI_MEM_BS_DATA] = "bs-data", [EFI_MEM_RT_CODE] = "rt-code",
    [EFI_MEM_RT_DATA] = "rt-data", [EFI_MEM_CONVENTIONAL] = "conventional",
    [EFI_MEM_UNUSABLE] = "unusable", [EFI_MEM_ACPI_RECLAIM] = "acpi-reclaim",
    [EFI_MEM_ACPI_NVS] = "acpi-nvs", [EFI_MEM_MMIO] = "mmio",
    [EFI_MEM_MMIO_PORT] = "mmio-port", [EFI_MEM_PAL_CODE] = "pal-code",
    [EFI_MEM_PERSISTENT] = "persistent", [EFI_MEM_UNACCEPTED] = "unaccepted",
    [OTHER] = "other",
};

static struct {
    unsigned int entries;
    uint64_t pages;
} tally[EFI_MEM_NR_TYPES + 1];

static enum map_kind efi_kind(unsigned int type)
{
    switch ( type )
    {
    case EFI_MEM_CONVENTIONAL:
    case EFI_MEM_BS_CODE:
    case EFI_MEM_BS_DATA:
        return MAP_RAM;
    default:
        return MAP_HOLE;
    }
}

static const char *role(unsigned int type)
{
    if ( efi_kind(type) != MAP_HOLE )
        return "heap";
    return type == EFI_MEM_LOADER_CODE || type == EFI_MEM_LOADER_DATA
           ? "hole (ours)" : "hole";
}

static const struct efi_mem_desc *desc(const struct efi_handoff *h,
                                       uint64_t i)
{
    return (const void *)(uintptr_t)(h->mmap + i * h->desc_size);
}

uint64_t efi_map(const struct efi_handoff *h)
{
    uint64_t i, n;

    if ( !h || !h->mmap || h->desc_size < sizeof(struct efi_mem_desc) ||
         h->mmap_size % h->desc_size ||
         h->mmap_size / h->desc_size > MAX_DESCS ||
         h->mmap + h->mmap_size > IDMAP_LIMIT )
        panic("UEFI: bad handoff (map %#llx, %llu bytes, descriptors of "
              "%llu bytes)", h ? (unsigned long long)h->mmap : 0,
              h ? (unsigned long long)h->mmap_size : 0,
              h ? (unsigned long long)h->desc_size : 0);
    n = h->mmap_size / h->desc_size;
    printk("efi: memory map of %llu descriptors (version %u, %llu bytes "
           "each), ExitBootServices took %u call(s)\n", (unsigned long long)n,
           h->desc_version, (unsigned long long)h->desc_size, h->exit_calls);
    for ( i = 0; i < n; i++ )
    {
        const struct efi_mem_desc *d = desc(h, i);
        unsigned int t = MIN(d->type, (uint32_t)OTHER);
        uint64_t end = d->phys + (d->pages << PAGE_SHIFT);

        if ( (d->phys & (PAGE_SIZE - 1)) || d->pages >> (64 - PAGE_SHIFT) ||
             end < d->phys )
            panic("UEFI: descriptor %llu (%#llx, %llu pages) is bad",
                  (unsigned long long)i, (unsigned long long)d->phys,
                  (unsigned long long)d->pages);
        printk("HV-EFI-MAP desc %llu %u %s 0x%llx 0x%llx attr 0x%llx\n",
               (unsigned long long)i, d->type, type_name[t],
               (unsigned long long)d->phys, (unsigned long long)end,
               (unsigned long long)d->attr);
        tally[t].entries++;
        tally[t].pages += d->pages;
        map_add(d->phys, end, efi_kind(t));
    }
    if ( h->payload_size )
        payload_offer(h->payload, h->payload_size, EFI_PAYLOAD_PATH);
    return HV_LOAD_ADDR;
}

static void print_mib(const char *what, uint64_t pages)
{
    printk("%s %llu.%02llu MiB", what, (unsigned long long)(pages >> 8),
           (unsigned long long)((pages & 255) * 100 / 256));
}

void efi_report(const struct efi_handoff *h, uint64_t floor)
{
    uint64_t heap = 0, ext[8];
    unsigned int i, n1g = heap_1g_extents(ext, ARRAY_SIZE(ext));

    for ( i = 0; i <= OTHER; i++ )
    {
        if ( !tally[i].entries )
            continue;
        printk("HV-EFI-MAP type %s: %u entries, %llu pages,", type_name[i],
               tally[i].entries, (unsigned long long)tally[i].pages);
        print_mib("", tally[i].pages);
        printk(", %s\n", role(i));
    }
    for ( i = 0; i < machine.nr_ranges; i++ )
    {
        printk("HV-EFI-MAP heap 0x%llx 0x%llx\n",
               (unsigned long long)(machine.range[i].start << PAGE_SHIFT),
               (unsigned long long)(machine.range[i].end << PAGE_SHIFT));
        heap += machine.range[i].end - machine.range[i].start;
    }
    printk("HV-EFI-MAP taken 0x%llx 0x%llx frame table\n",
           (unsigned long long)frame_table_taken_start,
           (unsigned long long)frame_table_taken_end);
    printk("HV-EFI-MAP summary: %llu entries,",
           (unsigned long long)(h->mmap_size / h->desc_size));
    print_mib(" heap", heap);
    printk(" in %u ranges, %u free 1G extents, floor 0x%llx, "
           "ExitBootServices calls %u\n", machine.nr_ranges, n1g,
           (unsigned long long)floor, h->exit_calls);
}

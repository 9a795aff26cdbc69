/*
 * Bare-metal platform setup: the memory map (multiboot or UEFI), the heap,
 * the identity map behind plat_map_mfn, and the GDT/TSS/IDT.
 *
 * Physical memory at boot:
 *   [0, 1 MiB)              firmware, real-mode structures: never heap
 *   [1 MiB, image end)      this image (.text .data .bss)
 *   multiboot               then the multiboot info and modules (QEMU puts
 *                           them after us) and a Linux guest's payload read
 *                           from the disk (Bochs): all below the boot floor
 *   UEFI                    the loader, its handoff, map and payload are
 *                           EfiLoaderCode/Data: holes in the map (efi.c)
 *   the frame table         its pages taken from the first RAM range above
 *                           the floor that holds them (frame-table.c)
 *   heap                    every other RAM page of the map above the floor
 */
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/sched.h>

#include "../hvm/linux-abi.h"
#include "boot.h"
#include "memmap.h"

extern char __image_start[], __image_end[];
extern char trap_stubs[], irq_timer[], irq_spurious[];
extern uint64_t boot_gdt[];

uint64_t boot_reserved_end;
struct boot_payload boot_payload;

#define E820_RAM         1
#define E820_ACPI        3      /* ACPI tables; reclaimable once read */
#define MB_INFO_MODS     (1u << 3)
#define MB_INFO_MMAP     (1u << 6)

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
    uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
} __attribute__((packed));

struct mb_module {
    uint32_t start, end, string, reserved;
};

struct mb_mmap {
    uint32_t size;              /* of the rest of the entry */
    uint64_t base, len;
    uint32_t type;
} __attribute__((packed));

/* --- platform hooks the module sources call --- */

void *plat_map_mfn(mfn_t mfn)
{
    ASSERT(mfn_x(mfn) < (IDMAP_LIMIT >> PAGE_SHIFT));
    return directmap_mfn(mfn);   /* machine.directmap 0: the identity map */
}

void *plat_map_mfns(mfn_t mfn, uint64_t nr)
{
    ASSERT(mfn_x(mfn) + nr <= (IDMAP_LIMIT >> PAGE_SHIFT));
    return (void *)(uintptr_t)(mfn_x(mfn) << PAGE_SHIFT);
}

void plat_cpu_relax(void)
{
    asm volatile ( "pause" );
}

/* One CPU, and no interrupt handler looks the P2M up: a lookup never runs
 * beside a writer, so reads need no announcing and frees no waiting. */
void plat_read_enter(void)
{
}

void plat_read_exit(void)
{
}

void plat_read_sync(void)
{
}

#ifdef P2M_DEBUG
/* One CPU, and no interrupt handler takes a lock: one owner record. */
struct lock_owner *plat_lock_self(void)
{
    static struct lock_owner cpu0;

    return &cpu0;
}
#endif

/* --- the memory map --- */

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

#define MAX_MAP 256
static struct map_entry {
    uint64_t start, end;
    enum map_kind kind;
} map[MAX_MAP];
static unsigned int nr_map;

void map_add(uint64_t start, uint64_t end, enum map_kind kind)
{
    if ( start >= end )
        return;
    if ( nr_map == MAX_MAP )
        panic("memory map: more than %u entries", MAX_MAP);
    map[nr_map++] = (struct map_entry){ start, end, kind };
}

/* Sort the map by address.  Entries that overlap make a map nobody can
 * trust: which of the two would hold? */
static void map_sort(void)
{
    unsigned int i, j;

    for ( i = 1; i < nr_map; i++ )
        for ( j = i; j > 0 && map[j].start < map[j - 1].start; j-- )
        {
            struct map_entry t = map[j];

            map[j] = map[j - 1];
            map[j - 1] = t;
        }
    for ( i = 1; i < nr_map; i++ )
        if ( map[i].start < map[i - 1].end )
            panic("memory map: %#llx-%#llx overlaps %#llx-%#llx",
                  (unsigned long long)map[i].start,
                  (unsigned long long)map[i].end,
                  (unsigned long long)map[i - 1].start,
                  (unsigned long long)map[i - 1].end);
}

/* Add RAM [s, e) (bytes) to machine.range[], merging with the last one. */
static void add_ram(uint64_t s, uint64_t e)
{
    struct machine_range *last;

    s = align_up(s, PAGE_SIZE) >> PAGE_SHIFT;
    e = (e & ~(PAGE_SIZE - 1)) >> PAGE_SHIFT;
    if ( s >= e )
        return;
    last = machine.nr_ranges ? &machine.range[machine.nr_ranges - 1] : NULL;
    if ( last && last->end == s )
    {
        last->end = e;
        return;
    }
    if ( machine.nr_ranges == MACHINE_MAX_RANGES )
        panic("more than %u RAM ranges", MACHINE_MAX_RANGES);
    machine.range[machine.nr_ranges++] = (struct machine_range){ s, e };
}

static bool page_is_zero(const uint64_t *w)
{
    uint64_t acc = 0;
    unsigned int i;

    for ( i = 0; i < PAGE_SIZE / 8; i += 8 )
        acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] |
               w[i + 6] | w[i + 7];
    return !acc;
}

/*
 * Zero what is not zero in [s, e): heap_init takes every free page to be
 * zero.  Only the pages that need it are written, so that memory nobody
 * touched stays untouched (an emulator need not allocate it).  Returns
 * the bytes written.
 */
static uint64_t zero_dirty(uint64_t s, uint64_t e)
{
    uint64_t ps = align_up(s, PAGE_SIZE), pe = e & ~(PAGE_SIZE - 1), p, n;

    if ( ps >= pe )
    {
        memset((void *)(uintptr_t)s, 0, e - s);
        return e - s;
    }
    memset((void *)(uintptr_t)s, 0, ps - s);
    memset((void *)(uintptr_t)pe, 0, e - pe);
    n = (ps - s) + (e - pe);
    for ( p = ps; p < pe; p += PAGE_SIZE )
        if ( !page_is_zero((const uint64_t *)(uintptr_t)p) )
        {
            memset((void *)(uintptr_t)p, 0, PAGE_SIZE);
            n += PAGE_SIZE;
        }
    return n;
}

/*
 * Machine RAM is every RAM entry of the map above floor, made zero first
 * (a firmware may have used any of it).  Returns the bytes zeroed.
 */
static uint64_t build_ranges(uint64_t floor)
{
    uint64_t zeroed = 0;
    unsigned int i;

    for ( i = 0; i < nr_map; i++ )
    {
        uint64_t s = MAX(map[i].start, floor), e = map[i].end;

        if ( map[i].kind == MAP_HOLE || s >= e )
            continue;
        if ( e > IDMAP_LIMIT )
            panic("RAM above the %u GiB identity map", IDMAP_GB);
        zeroed += zero_dirty(s, e);
        add_ram(s, e);
    }
    if ( !machine.nr_ranges )
        panic("no RAM above %#llx", (unsigned long long)floor);
    machine.max_mfn = machine.range[machine.nr_ranges - 1].end;
    return zeroed;
}

unsigned int heap_1g_extents(uint64_t *at, unsigned int max)
{
    unsigned int i, n = 0;

    for ( i = 0; i < machine.nr_ranges; i++ )
    {
        uint64_t m;

        for ( m = align_up(machine.range[i].start, 1ull << PAGE_ORDER_1G);
              m + (1ull << PAGE_ORDER_1G) <= machine.range[i].end;
              m += 1ull << PAGE_ORDER_1G, n++ )
            if ( n < max )
                at[n] = m << PAGE_SHIFT;
    }
    return n;
}

/* --- multiboot --- */

/*
 * E820 types: RAM is heap.  ACPI-reclaimable memory is heap too: nothing
 * here reads ACPI tables, and Bochs keeps its tables in the last 64 KiB of
 * RAM, which would otherwise leave a 2 GiB machine without a free 1 GiB-
 * aligned chunk.
 */
static enum map_kind e820_kind(uint32_t type)
{
    return type == E820_RAM || type == E820_ACPI ? MAP_RAM : MAP_HOLE;
}

/* Copy the firmware map out of the multiboot info. */
static void read_mmap(const struct mb_info *mbi)
{
    uint64_t p = mbi->mmap_addr, end = p + mbi->mmap_length;

    if ( !(mbi->flags & MB_INFO_MMAP) )
        panic("multiboot: no memory map (flags %#x)", mbi->flags);
    for ( ; p < end; )
    {
        const struct mb_mmap *e = (const void *)(uintptr_t)p;

        printk("  e820 0x%012llx-0x%012llx type %u\n",
               (unsigned long long)e->base,
               (unsigned long long)(e->base + e->len), e->type);
        map_add(e->base, e->base + e->len, e820_kind(e->type));
        p += e->size + 4;
    }
}

/* The end of the multiboot structures we read (they must stay intact),
 * the modules included. */
static uint64_t mbi_end(const struct mb_info *mbi, uint64_t mbi_addr)
{
    const struct mb_module *m = (const void *)(uintptr_t)mbi->mods_addr;
    uint64_t e = mbi_addr + sizeof(*mbi);
    unsigned int i;

    e = MAX(e, (uint64_t)mbi->mmap_addr + mbi->mmap_length);
    if ( !(mbi->flags & MB_INFO_MODS) )
        return e;
    e = MAX(e, (uint64_t)mbi->mods_addr + mbi->mods_count * sizeof(*m));
    for ( i = 0; i < mbi->mods_count; i++ )
        e = MAX(e, (uint64_t)m[i].end);
    return e;
}

/* A payload must say what it is and fit where it says. */
static bool payload_ok(const void *p, uint64_t avail)
{
    const struct linux_payload_hdr *h = p;

    return avail >= LINUX_PAYLOAD_HDR &&
           !memcmp(h->magic, LINUX_PAYLOAD_MAGIC, sizeof(h->magic)) &&
           h->total_size <= avail && h->hdr_size == LINUX_PAYLOAD_HDR;
}

void payload_offer(uint64_t addr, uint64_t size, const char *from)
{
    if ( addr + size > IDMAP_LIMIT || addr + size < addr ||
         !payload_ok((void *)(uintptr_t)addr, size) )
    {
        printk("payload: %s (%llu bytes) is not a guest payload\n", from,
               (unsigned long long)size);
        return;
    }
    boot_payload.addr = addr;
    boot_payload.size = size;
    printk("payload: %llu KiB from %s\n",
           (unsigned long long)(boot_payload.size >> 10), from);
}

/* Multiboot module 0 (QEMU -initrd) is the guest payload. */
static void payload_from_module(const struct mb_info *mbi)
{
    const struct mb_module *m = (const void *)(uintptr_t)mbi->mods_addr;

    if ( !(mbi->flags & MB_INFO_MODS) || !mbi->mods_count )
        return;
    payload_offer(m[0].start, m[0].end - m[0].start, "multiboot module 0");
}

/* --- the boot disk (Bochs): ATA PIO, primary channel, master --- */

#define ATA_DATA        0x1f0
#define ATA_COUNT       0x1f2
#define ATA_LBA0        0x1f3
#define ATA_LBA1        0x1f4
#define ATA_LBA2        0x1f5
#define ATA_DRIVE       0x1f6
#define ATA_CMD         0x1f7   /* status on reads */
#define ATA_BSY         0x80
#define ATA_DRQ         0x08
#define ATA_ERR         0x01
#define ATA_READ        0x20    /* READ SECTORS, LBA28 */
#define ATA_SPIN        10000000u

static int ata_wait(uint8_t want)
{
    unsigned int i;
    uint8_t st;

    for ( i = 0; i < ATA_SPIN; i++ )
    {
        st = inb(ATA_CMD);
        if ( st == 0xff || st == 0 )
            return -1;          /* no drive: the bus floats, or nothing */
        if ( st & ATA_BSY )
            continue;
        if ( st & ATA_ERR )
            return -1;
        if ( (st & want) == want )
            return 0;
    }
    return -1;
}

/* Read n (1..256) sectors from lba to dst; 0 or -1. */
static int ata_read(uint32_t lba, unsigned int n, void *dst)
{
    uint16_t *w = dst;
    unsigned int i;

    if ( ata_wait(0) )
        return -1;
    outb(ATA_DRIVE, 0xe0 | ((lba >> 24) & 0xf));
    outb(ATA_COUNT, n & 0xff);
    outb(ATA_LBA0, lba);
    outb(ATA_LBA1, lba >> 8);
    outb(ATA_LBA2, lba >> 16);
    outb(ATA_CMD, ATA_READ);
    for ( i = 0; i < n; i++, w += 256 )
    {
        unsigned int c = 256;
        uint16_t *p = w;

        if ( ata_wait(ATA_DRQ) )
            return -1;
        asm volatile ( "rep insw" : "+D" (p), "+c" (c) : "d" (ATA_DATA)
                       : "memory" );
    }
    return 0;
}

/*
 * No module: the payload may be on the boot disk at LINUX_PAYLOAD_LBA.
 * Its header is read first; the whole is then read to dst, which
 * becomes boot-reserved memory.  Returns the bytes reserved.
 */
static uint64_t payload_from_disk(uint64_t dst)
{
    static uint8_t hdr[LINUX_PAYLOAD_HDR] __attribute__((aligned(16)));
    const struct linux_payload_hdr *h = (const void *)hdr;
    uint64_t sectors, done;
    uint64_t t0 = rdtsc();

    if ( (inb(ATA_CMD) & ~ATA_BSY) == 0x7f ||
         ata_read(LINUX_PAYLOAD_LBA, LINUX_PAYLOAD_HDR / 512, hdr) ||
         memcmp(h->magic, LINUX_PAYLOAD_MAGIC, sizeof(h->magic)) ||
         h->hdr_size != LINUX_PAYLOAD_HDR || h->total_size < h->hdr_size )
        return 0;
    sectors = ((uint64_t)h->total_size + 511) / 512;
    for ( done = 0; done < sectors; )
    {
        unsigned int n = MIN(sectors - done, (uint64_t)128);

        if ( ata_read(LINUX_PAYLOAD_LBA + done, n,
                      (void *)(uintptr_t)(dst + done * 512)) )
        {
            printk("payload: disk read failed at sector %llu\n",
                   (unsigned long long)(LINUX_PAYLOAD_LBA + done));
            return 0;
        }
        done += n;
    }
    boot_payload.addr = dst;
    boot_payload.size = h->total_size;
    printk("payload: %llu KiB from the disk (sector %u on), %llu Mcycles\n",
           (unsigned long long)(boot_payload.size >> 10), LINUX_PAYLOAD_LBA,
           (unsigned long long)((rdtsc() - t0) >> 20));
    return sectors * 512;
}

/* The map and payload of a multiboot loader; returns the boot floor:
 * the image, the loader's structures and a disk payload lie below it. */
static uint64_t multiboot_map(uint32_t mb_info)
{
    const struct mb_info *mbi = (const void *)(uintptr_t)mb_info;
    uint64_t lo;
    unsigned int i;

    read_mmap(mbi);
    lo = align_up(MAX((uint64_t)(uintptr_t)__image_end,
                      mbi_end(mbi, mb_info)), 2ull << 20);
    payload_from_module(mbi);
    if ( !boot_payload.size )
        lo = align_up(lo + payload_from_disk(lo), 2ull << 20);
    for ( i = 0; i < nr_map; i++ )
        if ( map[i].kind == MAP_RAM && map[i].start <= HV_LOAD_ADDR &&
             map[i].end >= lo )
            return lo;
    panic("no RAM for the image and the loader's data up to %#llx",
          (unsigned long long)lo);
}

/* MAXPHYADDR: CPUID 0x80000008 EAX[7:0] (36 bits when the leaf is absent,
 * at most the 52 bits an entry can hold). */
static unsigned int cpu_paddr_bits(void)
{
    if ( cpuid(0x80000000, 0).a < 0x80000008 )
        return 36;
    return MIN(cpuid(0x80000008, 0).a & 0xff, 52u);
}

/* Free RAM must be zero (zero_dirty made it so): spot-check one word per
 * 2 MiB, since heap_init relies on it. */
static void check_zero(void)
{
    unsigned int i;
    uint64_t m;

    for ( i = 0; i < machine.nr_ranges; i++ )
        for ( m = machine.range[i].start; m < machine.range[i].end; m += 512 )
            if ( *(volatile uint64_t *)plat_map_mfn(_mfn(m)) )
                panic("free RAM at mfn %#llx is not zero",
                      (unsigned long long)m);
}

void setup_memory(uint32_t magic, uint32_t info)
{
    uint64_t floor, zeroed, t0 = rdtsc(), ext[8];
    unsigned int i, n1g;

    if ( magic == MB_BOOT_MAGIC )
        floor = multiboot_map(info);
    else if ( magic == EFI_BOOT_MAGIC )
        floor = efi_map((const void *)(uintptr_t)info);
    else
        panic("not started by a multiboot or UEFI loader (magic %#x)", magic);
    map_sort();
    boot_reserved_end = floor;
    zeroed = build_ranges(floor);
    frame_table_init();
    machine.paddr_bits = cpu_paddr_bits();
    check_zero();
    heap_init();
    printk("memory: image %#llx-%#llx, nothing below %#llx is heap, "
           "%u RAM ranges up to %#llx, %llu KiB zeroed, %llu Mcycles\n",
           (unsigned long long)(uintptr_t)__image_start,
           (unsigned long long)(uintptr_t)__image_end,
           (unsigned long long)floor, machine.nr_ranges,
           (unsigned long long)(machine.max_mfn << PAGE_SHIFT),
           (unsigned long long)(zeroed >> 10),
           (unsigned long long)((rdtsc() - t0) >> 20));
    n1g = heap_1g_extents(ext, ARRAY_SIZE(ext));
    printk("memory: %u free 1G extents:", n1g);
    for ( i = 0; i < MIN(n1g, (unsigned int)ARRAY_SIZE(ext)); i++ )
        printk(" %#llx", (unsigned long long)ext[i]);
    printk("\n");
    printk("memory: physical-address width %u bits\n", machine.paddr_bits);
    if ( magic == EFI_BOOT_MAGIC )
        efi_report((const void *)(uintptr_t)info, floor);
}

/* --- GDT, TSS, IDT --- */

struct tss64 {
    uint32_t rsvd0;
    uint64_t rsp[3];
    uint64_t rsvd1, ist[7], rsvd2;
    uint16_t rsvd3, iomap;
} __attribute__((packed));

struct idt_entry {
    uint16_t off_lo, sel;
    uint8_t ist, attr;
    uint16_t off_mid;
    uint32_t off_hi, rsvd;
} __attribute__((packed));

static struct tss64 tss __attribute__((aligned(16)));
static struct idt_entry idt[256] __attribute__((aligned(16)));

struct trap_frame {
    uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

void trap_handler(const struct trap_frame *f);
void trap_handler(const struct trap_frame *f)
{
    panic("exception %llu (error %#llx) at rip %#llx, rsp %#llx, cr2 %#llx",
          (unsigned long long)f->vector, (unsigned long long)f->error,
          (unsigned long long)f->rip, (unsigned long long)f->rsp,
          (unsigned long long)read_cr(2));
}

/* A 64-bit interrupt gate (DPL 0) at vector vec; the rest stay absent. */
static void idt_set(unsigned int vec, uint64_t off)
{
    idt[vec] = (struct idt_entry){ off & 0xffff, SEL_CODE64, 0, 0x8e,
                                   (off >> 16) & 0xffff, off >> 32, 0 };
}

uint64_t boot_tss_base(void)
{
    return (uintptr_t)&tss;
}

void traps_init(void)
{
    uint64_t base = (uintptr_t)&tss, limit = sizeof(tss) - 1;
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr;
    unsigned int i;

    tss.iomap = sizeof(tss);    /* no I/O bitmap */
    /* 64-bit available TSS (type 9), present. */
    boot_gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
                            (0x89ull << 40) | ((limit >> 16) << 48) |
                            (((base >> 24) & 0xff) << 56);
    boot_gdt[SEL_TSS / 8 + 1] = base >> 32;
    asm volatile ( "ltr %w0" :: "r" (SEL_TSS) );
    for ( i = 0; i < 32; i++ )
        idt_set(i, (uintptr_t)trap_stubs + 16 * i);
    idt_set(HOST_TIMER_VECTOR, (uintptr_t)irq_timer);
    idt_set(HOST_SPURIOUS_VECTOR, (uintptr_t)irq_spurious);
    idtr.limit = sizeof(idt) - 1;
    idtr.base = (uintptr_t)idt;
    asm volatile ( "lidt %0" :: "m" (idtr) );
}

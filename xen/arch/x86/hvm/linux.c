/*
 * A real guest: an unmodified Linux bzImage, booted by the 32-bit boot
 * protocol (Documentation/x86/boot.rst: boot_params with the setup header,
 * an e820 map, the command line and the initramfs), on populate-on-demand
 * memory.  The guest believes it has maxmem (the e820 map says so); the
 * PoD target is memory.  What it finds besides RAM: a BIOS area with
 * hardware-reduced ACPI tables (acpi.h: one CPU, its local APIC, one I/O
 * APIC, no 8259, no _S5), an 8250 UART, a local APIC with its timer, an
 * I/O APIC (vioapic.h), a virtio-balloon device (virtio-balloon.h) on a
 * virtio-mmio window (ACPI device LNRO0005, interrupt on GSI 5), PCI
 * configuration ports with no device behind them.  The RSDP is in the
 * BIOS area, where a PC has it, and in boot_params.acpi_rsdp_addr.
 *
 * Guest-physical layout:
 *   [0, 0xa0000)              RAM (PoD, 4K entries); boot_params, GDT, cmdline
 *   [0xa0000, 0xc0000)        the VGA hole: nothing (an access crashes)
 *   [0xc0000, 0x100000)       BIOS area: pinned RAM, reserved in e820;
 *                             the ACPI tables at 0xe0000 (RSDP first)
 *   [1 MiB, low end)          RAM (PoD: 4K up to 2 MiB, then 2M and 1G
 *                             entries); the kernel at its preferred address,
 *                             the initramfs at the top
 *   [3 GiB, 4 GiB)            the MMIO hole: virtio-mmio window at
 *                             0xfeb00000, I/O APIC at 0xfec00000, local
 *                             APIC at 0xfee00000 (acpi.h, hvm.h)
 *   [4 GiB, ...)              the rest of maxmem, if any
 */
#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/memory.h>
#include <xen/mm.h>

#include "../boot/boot.h"
#include "acpi.h"
#include "build.h"
#include "linux.h"
#include "linux-abi.h"
#include "platform.h"
#include "virtio-balloon.h"

#define LINUX_DOMID        1
#define GDT_GPA            0x6000
#define BOOT_PARAMS_GPA    0x7000
#define CMDLINE_GPA        0x8000
#define STACK_GPA          0x6000      /* grows down from the GDT */
#define BIOS_GFN           0xc0
#define BIOS_END_GFN       0x100
#define ACPI_GPA           0xe0000     /* RSDP: 16-byte aligned, in
                                          [0xe0000, 0x100000) */
#define LOW_RAM_END        0x9fc00     /* then the EBDA, as on a PC */
#define HOLE_START         (3ull << 30)
#define GIB                (1ull << 30)
#define MIB                (1ull << 20)

/* boot_params (the "zero page") offsets. */
#define BP_ACPI_RSDP       0x070       /* 64-bit, protocol 2.14+ */
#define BP_EXT_RAMDISK     0x0c0
#define BP_E820_ENTRIES    0x1e8
#define BP_SETUP_SECTS     0x1f1
#define BP_HDR             0x1f1
#define BP_JUMP            0x200       /* the header ends at 0x202 + [0x201] */
#define BP_MAGIC           0x202       /* "HdrS" */
#define BP_VERSION         0x206
#define BP_LOADER          0x210
#define BP_LOADFLAGS       0x211
#define BP_CODE32          0x214
#define BP_RAMDISK         0x218
#define BP_RAMDISK_SIZE    0x21c
#define BP_CMDLINE         0x228
#define BP_INITRD_MAX      0x22c
#define BP_ALIGN           0x230
#define BP_RELOCATABLE     0x234
#define BP_CMDLINE_SIZE    0x238
#define BP_PREF_ADDR       0x258
#define BP_INIT_SIZE       0x260
#define BP_E820            0x2d0
#define LOADED_HIGH        0x01
#define E820_MAX           128

#define E820_RAM           1
#define E820_RESERVED      2

struct e820_entry {
    uint64_t addr, size;
    uint32_t type;
} __attribute__((packed));

static uint8_t zero_page[PAGE_SIZE];

static uint32_t rd32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

/* What the bzImage says about itself. */
struct bzimage {
    const uint8_t *file;
    uint32_t size;
    uint32_t pm_off;            /* the protected-mode kernel in the file */
    uint32_t hdr_end;           /* the setup header is [0x1f1, hdr_end) */
    uint64_t load;              /* where it goes (its preferred address) */
    uint32_t init_size;         /* memory it needs from load on */
    uint32_t initrd_max;
    uint32_t cmdline_size;
    uint16_t version;
};

static int bzimage_parse(const uint8_t *f, uint32_t size, struct bzimage *b,
                         const char **why)
{
    unsigned int sects;

    *why = "too small for a setup header";
    if ( size < 0x268 )
        return -EINVAL;
    *why = "no \"HdrS\" magic: not a bzImage";
    if ( memcmp(f + BP_MAGIC, "HdrS", 4) )
        return -EINVAL;
    b->file = f;
    b->size = size;
    b->version = f[BP_VERSION] | f[BP_VERSION + 1] << 8;
    *why = "boot protocol older than 2.10";
    if ( b->version < 0x020a )
        return -EINVAL;
    *why = "not loaded high (zImage)";
    if ( !(f[BP_LOADFLAGS] & LOADED_HIGH) )
        return -EINVAL;
    sects = f[BP_SETUP_SECTS] ? f[BP_SETUP_SECTS] : 4;
    b->pm_off = (sects + 1) * 512;
    b->hdr_end = BP_JUMP + 2 + f[BP_JUMP + 1];
    b->load = rd64(f + BP_PREF_ADDR);
    b->init_size = rd32(f + BP_INIT_SIZE);
    b->initrd_max = rd32(f + BP_INITRD_MAX);
    b->cmdline_size = rd32(f + BP_CMDLINE_SIZE);
    *why = "setup sectors beyond the file";
    if ( b->pm_off >= size || b->hdr_end > b->pm_off || b->hdr_end > 0x290 )
        return -EINVAL;
    *why = "bad preferred address or init size";
    if ( b->load < MIB || (b->load & (PAGE_SIZE - 1)) ||
         b->init_size < size - b->pm_off || b->load + b->init_size > GIB )
        return -EINVAL;
    return 0;
}

/* --- memory --- */

/* PoD regions for [s, e) (pages): the largest aligned entries that fit. */
static void add_pod_range(struct hvm_guest *g, uint64_t s, uint64_t e)
{
    static const unsigned int orders[] = { PAGE_ORDER_1G, PAGE_ORDER_2M,
                                           PAGE_ORDER_4K };

    while ( s < e )
    {
        unsigned int i, o = 0;
        uint64_t n;

        for ( i = 0; i < ARRAY_SIZE(orders); i++ )
        {
            o = orders[i];
            if ( !(s & ((1ull << o) - 1)) && s + (1ull << o) <= e )
                break;
        }
        /* As many of that order as fit, or 4K up to the next boundary. */
        n = (e - s) & ~((1ull << o) - 1);
        if ( o == PAGE_ORDER_4K )
        {
            uint64_t next = (s | ((1ull << PAGE_ORDER_2M) - 1)) + 1;

            n = MIN(e, next) - s;
        }
        hvm_guest_add(g, GR_POD, s, n, o, GR_TOUCH_ALL);
        s += n;
    }
}

static void layout(struct hvm_guest *g, const struct linux_payload_hdr *h,
                   uint64_t *low_end, uint64_t *high_end)
{
    uint64_t maxmem = (uint64_t)h->maxmem_mib << (20 - PAGE_SHIFT);
    uint64_t hole = HOLE_START >> PAGE_SHIFT;

    memset(g, 0, sizeof(*g));
    g->name = "linux";
    g->own_exceptions = true;
    g->time_limit_ms = (uint64_t)h->timeout_s * 1000;
    g->target = (uint64_t)h->memory_mib << (20 - PAGE_SHIFT);
    add_pod_range(g, 0, BIOS_GFN - 0x20);   /* [0, 0xa0000) */
    hvm_guest_add(g, GR_BASE, BIOS_GFN, BIOS_END_GFN - BIOS_GFN, 0,
                  GR_TOUCH_ALL);
    /* maxmem counts the low 640 KiB and the BIOS area as well. */
    *low_end = MIN(maxmem, hole);
    add_pod_range(g, BIOS_END_GFN, *low_end);
    *high_end = 0;
    if ( maxmem > hole )
    {
        *high_end = (4 * GIB >> PAGE_SHIFT) + (maxmem - hole);
        add_pod_range(g, 4 * GIB >> PAGE_SHIFT, *high_end);
    }
}

static unsigned int build_e820(struct e820_entry *e, uint64_t low_end,
                               uint64_t high_end)
{
    unsigned int n = 0;

    e[n++] = (struct e820_entry){ 0, LOW_RAM_END, E820_RAM };
    e[n++] = (struct e820_entry){ LOW_RAM_END, 0xa0000 - LOW_RAM_END,
                                  E820_RESERVED };
    e[n++] = (struct e820_entry){ BIOS_GFN << PAGE_SHIFT,
                                  (BIOS_END_GFN - BIOS_GFN) << PAGE_SHIFT,
                                  E820_RESERVED };
    e[n++] = (struct e820_entry){ MIB, (low_end << PAGE_SHIFT) - MIB,
                                  E820_RAM };
    if ( high_end )
        e[n++] = (struct e820_entry){ 4 * GIB,
                                      (high_end << PAGE_SHIFT) - 4 * GIB,
                                      E820_RAM };
    return n;
}

/* --- the ACPI tables: one CPU, its local APIC, one I/O APIC --- */

static int write_acpi(struct domain *d)
{
    static uint8_t t[ACPI_BUF_MAX];
    struct acpi_config cfg = {
        .lapic_gpa = LAPIC_GPA, .lapic_id = 0, .ioapic_id = PLAT_IOAPIC_ID,
        .ioapic_gpa = PLAT_IOAPIC_GPA, .ioapic_gsi_base = 0, .nr_virtio = 1,
        .virtio = { { PLAT_VIRTIO_MMIO_GPA, VMMIO_WINDOW,
                      PLAT_VIRTIO_BALLOON_GSI } },
    };
    int len = acpi_build(t, sizeof(t), ACPI_GPA, &cfg);

    if ( len < 0 )
        return len;
    return hvm_copy_to_guest(d, ACPI_GPA, t, len);
}

/* --- loading --- */

struct linux_run {
    const struct linux_payload_hdr *h;
    struct bzimage k;
    uint64_t low_end, high_end; /* pages */
    uint64_t initrd_gpa;
};

/* --- the virtio-balloon device, behind the virtio-mmio window --- */

static struct vballoon balloon;

/* The guest's RAM as its e820 map gives it; the device behind the
 * virtio-mmio window, its interrupt on PLAT_VIRTIO_BALLOON_GSI. */
static int balloon_create(struct hvm_vcpu *hv, const struct linux_run *r)
{
    struct vballoon_ram ram[3] = {
        { 0, LOW_RAM_END >> PAGE_SHIFT },
        { BIOS_END_GFN, r->low_end - BIOS_END_GFN },
        { 4 * GIB >> PAGE_SHIFT, r->high_end - (4 * GIB >> PAGE_SHIFT) },
    };
    struct virtq_mem mem;
    int rc;

    hvm_platform_guest_mem(hv->v->domain, &mem);
    rc = vballoon_init(&balloon, hv->v->domain, &mem, ram,
                       r->high_end ? 3 : 2, NULL, hvm_platform_virtio_irq,
                       hv);
    if ( !rc )
        hvm_platform_set_virtio(hv, &balloon.dev, PLAT_VIRTIO_BALLOON_GSI);
    return rc;
}

static int load(struct domain *d, struct linux_run *r, const char *cmdline)
{
    static const uint64_t gdt[4] = {
        0, 0,
        0x00cf9a000000ffffull,  /* 0x10: flat 32-bit code */
        0x00cf92000000ffffull,  /* 0x18: flat data */
    };
    static struct e820_entry e820[E820_MAX];
    const uint8_t *blob = (const void *)r->h;
    uint8_t *bp = zero_page;
    uint64_t top = MIN(r->low_end << PAGE_SHIFT,
                       (uint64_t)r->k.initrd_max + 1);
    size_t len = strlen(cmdline) + 1;
    unsigned int n;
    int rc;

    if ( len > r->k.cmdline_size + 1 || len > PAGE_SIZE * 2 )
        return -E2BIG;
    r->initrd_gpa = (top - r->h->initrd_size) & ~(uint64_t)(2 * MIB - 1);
    if ( r->initrd_gpa < r->k.load + r->k.init_size )
        return -ENOSPC;         /* maxmem too small for kernel + initrd */
    memset(bp, 0, PAGE_SIZE);
    memcpy(bp + BP_HDR, r->k.file + BP_HDR, r->k.hdr_end - BP_HDR);
    bp[BP_LOADER] = 0xff;       /* a boot loader with no assigned id */
    wr32(bp + BP_CODE32, r->k.load);
    wr32(bp + BP_RAMDISK, r->initrd_gpa);
    wr32(bp + BP_RAMDISK_SIZE, r->h->initrd_size);
    wr32(bp + BP_CMDLINE, CMDLINE_GPA);
    wr32(bp + BP_ACPI_RSDP, ACPI_GPA);
    n = build_e820(e820, r->low_end, r->high_end);
    bp[BP_E820_ENTRIES] = n;
    memcpy(bp + BP_E820, e820, n * sizeof(e820[0]));

    rc = hvm_copy_to_guest(d, GDT_GPA, gdt, sizeof(gdt));
    if ( !rc )
        rc = hvm_copy_to_guest(d, BOOT_PARAMS_GPA, bp, PAGE_SIZE);
    if ( !rc )
        rc = hvm_copy_to_guest(d, CMDLINE_GPA, cmdline, len);
    if ( !rc )
        rc = hvm_copy_to_guest(d, r->k.load, r->k.file + r->k.pm_off,
                               r->k.size - r->k.pm_off);
    if ( !rc )
        rc = hvm_copy_to_guest(d, r->initrd_gpa, blob + r->h->initrd_off,
                               r->h->initrd_size);
    if ( !rc )
        rc = write_acpi(d);
    return rc;
}

/* The payload header must describe itself: everything inside the blob. */
static const char *payload_check(const struct linux_payload_hdr *h,
                                 uint64_t size)
{
    unsigned int i;

    if ( h->total_size > size )
        return "total size beyond what was loaded";
    if ( (uint64_t)h->kernel_off + h->kernel_size > h->total_size ||
         (uint64_t)h->initrd_off + h->initrd_size > h->total_size ||
         h->kernel_off < h->hdr_size || h->initrd_off < h->hdr_size )
        return "kernel or initramfs outside the payload";
    if ( (h->kernel_off | h->initrd_off) & (PAGE_SIZE - 1) )
        return "kernel or initramfs not 4 KiB aligned";
    if ( !h->memory_mib || h->memory_mib > h->maxmem_mib ||
         h->maxmem_mib > 64 * 1024 || h->maxmem_mib < 32 )
        return "memory/maxmem out of range (32 MiB .. 64 GiB, memory <= "
               "maxmem)";
    if ( !memchr(h->cmdline, '\0', sizeof(h->cmdline)) )
        return "command line not terminated";
    if ( h->balloon > 1 || h->nr_steps > LINUX_BALLOON_STEPS ||
         (!h->balloon && (h->nr_steps || h->grow_mib)) )
        return "bad balloon schedule (balloon 0 or 1, at most "
               "4 steps)";
    for ( i = 0; i < h->nr_steps; i++ )
        if ( !h->step_mib[i] || h->step_mib[i] > h->maxmem_mib )
            return "balloon step target out of range (1 MiB .. maxmem)";
    if ( h->grow_mib > h->maxmem_mib )
        return "balloon growth above maxmem";
    return NULL;
}

/* --- the run --- */

/* v: one counter per leaf size, by p2m_level_idx (POD_4K.. alike). */
static void print_order_triple(const char *name,
                               const uint64_t v[P2M_LEAF_LEVELS])
{
    printk("\"%s\": {\"1g\": %llu, \"2m\": %llu, \"4k\": %llu}", name,
           (unsigned long long)v[p2m_level_idx(P2M_L3)],
           (unsigned long long)v[p2m_level_idx(P2M_L2)],
           (unsigned long long)v[p2m_level_idx(P2M_L1)]);
}

static void report(struct linux_run *r, struct hvm_vcpu *hv,
                   const struct p2m_stats *stp, const struct pod_stats *psp,
                   uint64_t tot_pages, unsigned int audit_errors, bool pod_ok,
                   const struct heap_stats *before,
                   const struct heap_stats *after)
{
    const struct p2m_stats st = *stp;
    const struct pod_stats ps = *psp;
    uint64_t leaves[P2M_LEAF_LEVELS];
    unsigned int i;

    for ( i = 0; i < P2M_LEAF_LEVELS; i++ )
        leaves[i] = st.pages[i];
    printk("HV-LINUX-STATS {\"boot_to_init\": %llu.%03llu, ",
           (unsigned long long)(hv->init_ms / 1000),
           (unsigned long long)(hv->init_ms % 1000));
    print_order_triple("leaves", leaves);
    printk(", ");
    print_order_triple("populated", ps.filled);
    printk(", ");
    print_order_triple("swept", ps.swept);
    printk(", \"npf\": %llu, \"npf_walk\": %llu, \"exits\": %llu, "
           "\"exits_by_reason\": {", (unsigned long long)hv->n.npf,
           (unsigned long long)hv->n.npf_walk,
           (unsigned long long)hv->n.exits);
    hvm_print_exit_reasons(hv);
    printk("}, \"audit_errors\": %u, \"pod\": {\"P\": %llu, \"T\": %llu, "
           "\"B\": %llu, \"M\": %llu, \"cache\": %llu, \"entries\": %llu, "
           "\"ok\": %s}, ", audit_errors, (unsigned long long)ps.populated,
           (unsigned long long)ps.target,
           (unsigned long long)(ps.populated + ps.entry_count),
           (unsigned long long)ps.max_pages, (unsigned long long)ps.count,
           (unsigned long long)ps.entry_count, pod_ok ? "true" : "false");
    printk("\"heap\": {\"free_before\": %llu, \"free_after\": %llu}, "
           "\"guest_mem\": {\"memory_mib\": %u, \"maxmem_mib\": %u}, "
           "\"guest_ms\": %llu, \"splits\": %llu, \"table_pages\": %llu, "
           "\"tot_pages\": %llu, \"sweeps\": %llu, \"preempts\": %llu, "
           "\"injected_irqs\": %llu}\n",
           (unsigned long long)before->free_pages,
           (unsigned long long)after->free_pages, r->h->memory_mib,
           r->h->maxmem_mib,
           (unsigned long long)(hv->guest_cycles / tsc_khz),
           (unsigned long long)st.splits,
           (unsigned long long)st.table_pages,
           (unsigned long long)tot_pages, (unsigned long long)hv->n.sweeps,
           (unsigned long long)hv->n.preempts,
           (unsigned long long)hv->n.irqs);
}

/* The balloon as the run left it: one JSON line beside the stats. */
static void report_balloon(const struct vballoon *b)
{
    struct vballoon_counters c;

    vballoon_get_counters(b, &c);
    printk("HV-LINUX-BALLOON {\"driver_ok\": %s, \"features\": %llu, "
           "\"num_pages\": %llu, \"actual\": %llu, \"inflated\": %llu, "
           "\"deflated\": %llu, \"inflate_reqs\": %llu, "
           "\"deflate_reqs\": %llu, \"report_reqs\": %llu, "
           "\"reported_2m\": %llu, \"restored_2m\": %llu, "
           "\"refused\": %llu, \"host_errors\": %llu, "
           "\"interrupts\": %llu, \"notifies\": %llu}\n",
           vmmio_driver_ok(&b->dev) ? "true" : "false",
           (unsigned long long)vmmio_features(&b->dev),
           (unsigned long long)vballoon_num_pages(b),
           (unsigned long long)vballoon_actual(b),
           (unsigned long long)c.inflated, (unsigned long long)c.deflated,
           (unsigned long long)c.inflate_reqs,
           (unsigned long long)c.deflate_reqs,
           (unsigned long long)c.report_reqs,
           (unsigned long long)c.reported_2m,
           (unsigned long long)c.restored_2m,
           (unsigned long long)c.refused, (unsigned long long)c.host_errors,
           (unsigned long long)b->dev.n.interrupts,
           (unsigned long long)b->dev.n.notifies);
    if ( c.why )
        printk("HV-LINUX balloon: last refusal or host error: %s\n", c.why);
}

/* --- the toolstack: the balloon target over the run --- */

/* One target the toolstack set: step 0 before the guest ran, step k when
 * the guest asked for it ("P2M: balloon step k"). */
struct ts_step {
    uint64_t target;            /* pages; pauses raise it */
    uint64_t set_ms;            /* when it was set (hypervisor clock) */
    uint64_t moved_ms;          /* the balloon's first change after that */
    uint64_t reached_ms;        /* actual == num_pages (0: not yet) */
    uint64_t inflated, deflated;/* the device's counters when set ... */
    uint64_t inflated_to, deflated_to;  /* ... and when reached */
    unsigned int pauses;        /* pauses while it was the target */
    unsigned int oom;           /* deflates on OOM while it was */
    uint64_t held_pages;        /* max_pages - actual when reached */
};

static struct toolstack {
    const struct linux_payload_hdr *h;
    struct hvm_vcpu *hv;
    struct domain *d;
    struct ts_step step[LINUX_BALLOON_STEPS + 1];
    unsigned int cur;           /* the step whose target is in force */
    unsigned int pauses;
    unsigned int oom;           /* deflates the toolstack did not ask for */
    uint64_t deflated_seen;     /* the device's deflate count last seen */
    bool freed;                 /* "P2M: balloon freed" seen ... */
    uint64_t freed_ms;
    uint64_t reported_freed, restored_freed;    /* ... and the counters */
    uint64_t pod_freed[P2M_LEAF_LEVELS];    /* ... and the PoD entries */
    bool waited;                /* "P2M: balloon waited": its end */
    uint64_t restored_waited, pod_waited[P2M_LEAF_LEVELS];
    const char *refused;        /* a marker the toolstack did not take */
} ts;

static uint64_t ts_now_ms(void)
{
    return (rdtsc() - ts.hv->start_tsc) / tsc_khz;
}

/* Put s->target in force; a new step (not a raise after a pause) also
 * starts its clock and counters. */
static void ts_set(struct ts_step *s, bool new_step)
{
    struct vballoon_counters c;
    int rc = vballoon_set_target(&balloon, s->target);

    vballoon_get_counters(&balloon, &c);
    if ( new_step )
    {
        s->set_ms = ts_now_ms();
        s->inflated = c.inflated;
        s->deflated = c.deflated;
    }
    printk("HV-LINUX balloon step %u: target %llu MiB, num_pages %llu%s\n",
           (unsigned int)(s - ts.step),
           (unsigned long long)(s->target >> (20 - PAGE_SHIFT)),
           (unsigned long long)vballoon_num_pages(&balloon),
           rc ? " (the PoD cache could not be filled yet)" : "");
}

/*
 * The guest needs more than the target in force: raise it by grow_mib
 * (the balloon then asks for that much less); false when it cannot go
 * higher (no growth, at maxmem).
 */
static bool ts_raise(struct ts_step *s, const char *why)
{
    uint64_t max = ts.d->max_pages;

    if ( !ts.h->grow_mib || s->target >= max )
        return false;
    s->target = MIN(max, s->target +
                    ((uint64_t)ts.h->grow_mib << (20 - PAGE_SHIFT)));
    printk("HV-LINUX balloon: %s: the target goes up by %u MiB\n", why,
           ts.h->grow_mib);
    ts_set(s, false);
    s->reached_ms = 0;          /* the new target is the one to reach */
    return true;
}

/* PoD entries by order, as the tables hold them. */
static int count_pod(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    uint64_t *n = ctx;

    (void)gfn;
    if ( l->type == p2m_populate_on_demand )
        n[p2m_level_idx(p2m_order_level(l->order))]++;
    return 0;
}

/* What the balloon did since the last look, and the guest's requests. */
static void ts_watch(struct hvm_vcpu *hv, const char *marker)
{
    struct ts_step *s = &ts.step[ts.cur];
    struct vballoon_counters c;
    const char *p;
    unsigned int k = 0;

    (void)hv;
    vballoon_get_counters(&balloon, &c);
    if ( !s->moved_ms && (c.inflated != s->inflated ||
                          c.deflated != s->deflated) )
        s->moved_ms = ts_now_ms();
    /*
     * Pages deflated while the balloon held no more than it was asked to
     * (actual, not yet updated by the driver, <= num_pages): Linux's
     * DEFLATE_ON_OOM took them back under memory pressure.  The target
     * is below what the guest needs; raise it.
     */
    if ( c.deflated != ts.deflated_seen )
    {
        ts.deflated_seen = c.deflated;
        if ( vballoon_actual(&balloon) <= vballoon_num_pages(&balloon) &&
             ts_raise(s, "the guest deflated on OOM") )
        {
            s->oom++;
            ts.oom++;
        }
    }
    if ( !s->reached_ms && vmmio_driver_ok(&balloon.dev) &&
         vballoon_at_target(&balloon) )
    {
        s->reached_ms = ts_now_ms();
        s->inflated_to = c.inflated;
        s->deflated_to = c.deflated;
        s->held_pages = ts.d->max_pages - vballoon_actual(&balloon);
        printk("HV-LINUX balloon step %u: at target after %llu ms\n",
               ts.cur, (unsigned long long)(s->reached_ms - s->set_ms));
    }
    if ( !marker || strncmp(marker, "balloon ", 8) )
        return;
    marker += 8;
    if ( !strncmp(marker, "step ", 5) )
    {
        /* Guest input: only the next step of the schedule is taken. */
        for ( p = marker + 5; *p >= '0' && *p <= '9' && k < 100; p++ )
            k = k * 10 + (*p - '0');
        if ( *p == ' ' && p != marker + 5 )
            return;             /* "step <k> reached ...": its report */
        if ( *p || p == marker + 5 || k != ts.cur + 1 ||
             k > ts.h->nr_steps )
        {
            ts.refused = "balloon step out of order or beyond the schedule";
            printk("HV-LINUX balloon: refused \"%s\": %s\n", marker,
                   ts.refused);
            return;
        }
        ts.cur = k;
        ts.step[k].target = (uint64_t)ts.h->step_mib[k - 1]
                            << (20 - PAGE_SHIFT);
        ts_set(&ts.step[k], true);
    }
    else if ( !strncmp(marker, "freed", 5) && !ts.freed )
    {
        ts.freed = true;
        ts.freed_ms = ts_now_ms();
        ts.reported_freed = c.reported_2m;
        ts.restored_freed = c.restored_2m;
        p2m_for_each_leaf(&ts.d->p2m, count_pod, ts.pod_freed);
    }
    else if ( !strncmp(marker, "waited", 6) && ts.freed && !ts.waited )
    {
        /* The guest only slept since "freed": what the tables gained in
         * 2M PoD entries is what reporting gave back. */
        ts.waited = true;
        ts.restored_waited = c.restored_2m;
        p2m_for_each_leaf(&ts.d->p2m, count_pod, ts.pod_waited);
    }
}

/* Before the guest runs: the first target, the watch. */
static void ts_start(const struct linux_run *r, struct hvm_vcpu *hv)
{
    memset(&ts, 0, sizeof(ts));
    ts.h = r->h;
    ts.hv = hv;
    ts.d = hv->v->domain;
    if ( !r->h->balloon )
        return;
    ts.step[0].target = (uint64_t)r->h->memory_mib << (20 - PAGE_SHIFT);
    ts_set(&ts.step[0], true);
    hv->watch = ts_watch;
}

/*
 * The vCPU paused for memory: the guest touched more than the target
 * before its balloon caught up.  Raise the target in force by grow_mib
 * (the balloon then asks for that much less) and let it run again; false
 * when the run should end instead (no balloon, no growth, at maxmem).
 */
static bool ts_paused(void)
{
    struct ts_step *s = &ts.step[ts.cur];

    if ( !ts.h->balloon || !ts_raise(s, "vCPU paused for memory") )
        return false;
    s->pauses++;
    ts.pauses++;
    p2m_pod_resume(ts.d);
    return true;
}

/* Did the toolstack's schedule run to its end, each target reached? */
static bool ts_ok(void)
{
    unsigned int i;

    if ( !ts.h->balloon )
        return true;
    if ( ts.refused || ts.cur != ts.h->nr_steps )
        return false;
    for ( i = 0; i <= ts.cur; i++ )
        if ( !ts.step[i].reached_ms )
            return false;
    return true;
}

static void ts_report(const uint64_t pod_entries[POD_ORDERS])
{
    struct vballoon_counters c;
    unsigned int i;

    if ( !ts.h->balloon )
        return;
    vballoon_get_counters(&balloon, &c);
    for ( i = 0; i <= ts.cur; i++ )
    {
        const struct ts_step *s = &ts.step[i];

        printk("HV-LINUX-BALLOON-STEP {\"step\": %u, \"target_mib\": %llu, "
               "\"target_pages\": %llu, \"set_ms\": %llu, \"moved_ms\": "
               "%llu, \"reached_ms\": %llu, \"pauses\": %u, \"oom\": %u, "
               "\"held_mib\": %llu, \"inflated\": %llu, \"deflated\": "
               "%llu}\n", i,
               (unsigned long long)(s->target >> (20 - PAGE_SHIFT)),
               (unsigned long long)s->target,
               (unsigned long long)s->set_ms,
               (unsigned long long)s->moved_ms,
               (unsigned long long)s->reached_ms, s->pauses, s->oom,
               (unsigned long long)(s->held_pages >> (20 - PAGE_SHIFT)),
               (unsigned long long)(s->reached_ms ? s->inflated_to -
                                    s->inflated : 0),
               (unsigned long long)(s->reached_ms ? s->deflated_to -
                                    s->deflated : 0));
    }
    printk("HV-LINUX-BALLOON-RUN {\"steps\": %u, \"schedule\": %u, "
           "\"pauses\": %u, \"oom\": %u, \"held_mib\": %llu, "
           "\"freed_ms\": %llu, "
           "\"reported_2m_after_freed\": %llu, "
           "\"restored_2m_after_freed\": %llu, ", ts.cur, ts.h->nr_steps,
           ts.pauses, ts.oom,
           (unsigned long long)(ts.step[ts.cur].held_pages
                                >> (20 - PAGE_SHIFT)),
           (unsigned long long)ts.freed_ms,
           (unsigned long long)(ts.freed ? c.reported_2m - ts.reported_freed
                                         : 0),
           (unsigned long long)(ts.freed ? c.restored_2m - ts.restored_freed
                                         : 0));
    printk("\"restored_2m_in_wait\": %llu, \"pod_2m_gained_in_wait\": %lld, ",
           (unsigned long long)(ts.waited ? ts.restored_waited -
                                            ts.restored_freed : 0),
           (long long)(ts.waited ?
                       (int64_t)(ts.pod_waited[p2m_level_idx(P2M_L2)] -
                                 ts.pod_freed[p2m_level_idx(P2M_L2)]) : 0));
    print_order_triple("pod_entries", pod_entries);
    printk(", \"refused\": %s}\n", ts.refused ? "true" : "false");
}

int linux_run(const struct hvm_vendor *hw, uint64_t payload, uint64_t size)
{
    static struct linux_run r;
    static struct hvm_guest g;
    static struct p2m_audit_report ar;
    static char cmdline[LINUX_CMDLINE_MAX + 64];
    struct heap_stats before, after;
    uint64_t pod_entries[POD_ORDERS] = { 0 };
    struct p2m_stats st;
    struct pod_stats ps;
    uint64_t tot;
    struct hvm_entry e = { .rsp = STACK_GPA, .rsi = BOOT_PARAMS_GPA,
                           .cs = 0x10, .ds = 0x18, .gdt_base = GDT_GPA,
                           .gdt_limit = 4 * 8 - 1 };
    struct hvm_vcpu *hv;
    struct domain *d;
    const char *why;
    unsigned int audit_errors;
    bool pod_ok, ok;
    int rc;

    memset(&r, 0, sizeof(r));
    r.h = (const void *)(uintptr_t)payload;
    why = payload_check(r.h, size);
    if ( !why && !bzimage_parse((const uint8_t *)r.h + r.h->kernel_off,
                                r.h->kernel_size, &r.k, &why) )
        why = NULL;
    if ( why )
    {
        printk("HV-RESULT: FAIL linux payload refused: %s\n", why);
        return 1;
    }
    /* The host's TSC rate, which the guest cannot measure without a PIT
     * (a later tsc_early_khz= on the command line wins). */
    snprintf(cmdline, sizeof(cmdline), "tsc_early_khz=%llu %s",
             (unsigned long long)tsc_khz, r.h->cmdline);
    layout(&g, r.h, &r.low_end, &r.high_end);
    printk("linux: bzImage protocol %u.%02u, %u KiB at %#llx (init size "
           "%u KiB), initramfs %u KiB; memory %u MiB, maxmem %u MiB on %s\n",
           r.k.version >> 8, r.k.version & 0xff, r.h->kernel_size >> 10,
           (unsigned long long)r.k.load, r.k.init_size >> 10,
           r.h->initrd_size >> 10, r.h->memory_mib, r.h->maxmem_mib,
           hw->name);
    printk("linux: command line: %s\n", cmdline);
    heap_get_stats(&before);
    d = hvm_build_memory(hw, LINUX_DOMID, &g, &rc);
    if ( !d )
    {
        printk("HV-RESULT: FAIL linux: domain build error %d\n", rc);
        return 1;
    }
    hv = hvm_vcpu_of(&d->vcpu[0]);
    rc = load(d, &r, cmdline);
    e.rip = r.k.load;
    if ( !rc )
        rc = hw->vcpu_init(hv, &e);
    if ( rc )
    {
        printk("HV-RESULT: FAIL linux: loading the kernel: error %d\n", rc);
        domain_destroy(d);
        return 1;
    }
    p2m_pod_get_stats(d, &ps);
    printk("linux: initramfs at %#llx, %llu PoD entries, target %llu "
           "pages\n", (unsigned long long)r.initrd_gpa,
           (unsigned long long)ps.entry_count,
           (unsigned long long)g.target);
    hvm_platform_init(hv);
    rc = balloon_create(hv, &r);
    if ( rc )
    {
        printk("HV-RESULT: FAIL linux: the balloon device: error %d\n", rc);
        domain_destroy(d);
        return 1;
    }
    hv->start_tsc = rdtsc();
    ts_start(&r, hv);
    /* A pause for memory comes back here: the toolstack may raise the
     * target and let the vCPU go on. */
    do
        hw->run(hv);
    while ( d->vcpu[0].paused && !d->crashed && !hv->done && ts_paused() );

    if ( d->crashed )
        printk("HV-LINUX end domain crashed: %s\n", hv->crash);
    else if ( d->vcpu[0].paused )
        printk("HV-LINUX end vCPU paused for memory (PoD target reached)\n");
    else
        printk("HV-LINUX end %s\n", hv->end_reason ? hv->end_reason : "?");
    audit_errors = p2m_audit(&d->p2m, &ar);
    pod_ok = p2m_pod_check(d) == 0;
    ok = !d->crashed && hv->done && audit_errors == 0 && pod_ok &&
         hv->init_ms && !hv->marker_failed && ts_ok();
    p2m_for_each_leaf(&d->p2m, count_pod, pod_entries);
    /* The leaves as the guest left them, taken before destroy. */
    p2m_get_stats(&d->p2m, &st);
    p2m_pod_get_stats(d, &ps);
    tot = d->tot_pages;
    domain_destroy(d);
    heap_get_stats(&after);
    ok &= after.free_pages == before.free_pages &&
          heap_check_accounting() == 0;
    report(&r, hv, &st, &ps, tot, audit_errors, pod_ok, &before, &after);
    report_balloon(&balloon);
    ts_report(pod_entries);
    printk("HV-LINUX heap free %llu before, %llu after destroy\n",
           (unsigned long long)before.free_pages,
           (unsigned long long)after.free_pages);
    printk("HV-RESULT: %s linux on %s (%s, 1G leaves %s), %llu Mcycles\n",
           ok ? "PASS" : "FAIL", hw->name,
           hw->format == P2M_FORMAT_NPT ? "NPT" : "EPT",
           hw->leaf_1g ? "yes" : "no",
           (unsigned long long)((rdtsc() - hv->start_tsc) >> 20));
    return !ok;
}

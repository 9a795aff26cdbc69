/*
 * The platform a real guest finds besides RAM: an 8250 UART at 0x3f8
 * (polled: its interrupt is never raised, the kernel's console polls the
 * line status), PCI configuration mechanism 1 with no device behind it,
 * and MMIO device pages whose accesses are decoded from the guest's
 * instruction (emulate.c) and dispatched through one table of regions:
 * the local APIC at 0xfee00000 (vlapic.c), the I/O APIC at 0xfec00000
 * (vioapic.c) and, when the domain has one, a virtio-mmio window
 * (virtio-mmio.c, platform.h) whose interrupt is an I/O APIC pin.  Every
 * other port reads all ones and ignores writes; an access to
 * guest-physical space that is neither RAM nor a device region crashes
 * the domain (hvm_nested_fault).  HLT with interrupts on sleeps
 * until the next timer interrupt; with them off, the guest has ended.
 */
#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/lib.h>

#include "../boot/boot.h"
#include "acpi.h"
#include "build.h"
#include "emulate.h"
#include "hvm.h"
#include "platform.h"
#include "vioapic.h"
#include "vlapic.h"

#define UART_BASE       0x3f8
#define UART_LCR_DLAB   0x80
#define UART_MCR_LOOP   0x10
#define UART_LSR_IDLE   0x60    /* THR empty, transmitter empty */
#define UART_MSR_LINES  0xb0    /* DCD, DSR, CTS */
#define PCI_ADDR        0xcf8
#define PCI_DATA        0xcfc
#define RFLAGS_IF       (1ull << 9)
#define SPIN_BELOW_MS   10      /* closer deadlines: spin, not HLT */

static struct vlapic lapics[MAX_DOMAINS];
static struct vioapic ioapics[MAX_DOMAINS];
/* The virtio-mmio device of each domain (NULL: none) and its GSI. */
static struct vmmio_dev *virtio_devs[MAX_DOMAINS];
static uint32_t virtio_gsis[MAX_DOMAINS];

void hvm_platform_init(struct hvm_vcpu *hv)
{
    hv->platform = true;
    p2m_pod_set_sweep_low_water(hv->v->domain, true);
    hv->lapic = &lapics[hv->v->domain->domain_id];
    vlapic_init(hv->lapic, 0, tsc_khz);
    vlapic_enable_tsc_deadline(hv->lapic);
    vioapic_init(&ioapics[hv->v->domain->domain_id], PLAT_IOAPIC_ID, 0,
                 hv->lapic);
    virtio_devs[hv->v->domain->domain_id] = NULL;
    memset(&hv->uart, 0, sizeof(hv->uart));
}

/* --- the UART --- */

static void uart_out(struct hvm_vcpu *hv, unsigned int reg, uint8_t v)
{
    struct hvm_uart *u = &hv->uart;
    bool dlab = u->lcr & UART_LCR_DLAB;

    switch ( reg )
    {
    case 0:
        if ( dlab )
            u->dll = v;
        else if ( !(u->mcr & UART_MCR_LOOP) )
            hvm_console_char(hv, (char)v);
        break;
    case 1:
        if ( dlab )
            u->dlm = v;
        else
            u->ier = v & 0x0f;
        break;
    case 2:
        u->fcr = v & 0xc9;      /* FIFO enable and trigger level kept */
        break;
    case 3:
        u->lcr = v;
        break;
    case 4:
        u->mcr = v & 0x1f;
        break;
    case 7:
        u->scr = v;
        break;
    }
}

static uint8_t uart_in(struct hvm_vcpu *hv, unsigned int reg)
{
    struct hvm_uart *u = &hv->uart;
    bool dlab = u->lcr & UART_LCR_DLAB;

    switch ( reg )
    {
    case 0:
        return dlab ? u->dll : 0;           /* nothing is ever received */
    case 1:
        return dlab ? u->dlm : u->ier;
    case 2:                                 /* no interrupt pending */
        return 0x01 | (u->fcr & 1 ? 0xc0 : 0);
    case 3:
        return u->lcr;
    case 4:
        return u->mcr;
    case 5:
        return UART_LSR_IDLE;
    case 6:
        if ( u->mcr & UART_MCR_LOOP )       /* RTS->CTS DTR->DSR OUT1->RI
                                               OUT2->DCD */
            return ((u->mcr & 2) << 3) | ((u->mcr & 1) << 5) |
                   ((u->mcr & 4) << 4) | ((u->mcr & 8) << 4);
        return UART_MSR_LINES;
    default:
        return u->scr;
    }
}

bool hvm_platform_out(struct hvm_vcpu *hv, uint16_t port, uint32_t val,
                      unsigned int bytes)
{
    if ( port >= UART_BASE && port < UART_BASE + 8 && bytes == 1 )
        uart_out(hv, port - UART_BASE, val);
    else if ( port == PCI_ADDR && bytes == 4 )
        hv->pci_addr = val;
    else
        return false;
    return true;
}

bool hvm_platform_in(struct hvm_vcpu *hv, uint16_t port, unsigned int bytes,
                     uint32_t *val)
{
    if ( port >= UART_BASE && port < UART_BASE + 8 && bytes == 1 )
        *val = uart_in(hv, port - UART_BASE);
    else if ( port == PCI_ADDR && bytes == 4 )
        *val = hv->pci_addr;
    else
        return false;           /* PCI data included: no device, all ones */
    return true;
}

/* --- the local APIC page --- */

/* The guest's registers in the decoder's order, and back. */
static void gpr_get(const struct hvm_vcpu *hv, uint64_t rsp, uint64_t *g)
{
    const struct hvm_regs *r = &hv->regs;

    g[0] = r->rax; g[1] = r->rcx; g[2] = r->rdx; g[3] = r->rbx;
    g[4] = rsp; g[5] = r->rbp; g[6] = r->rsi; g[7] = r->rdi;
    g[8] = r->r8; g[9] = r->r9; g[10] = r->r10; g[11] = r->r11;
    g[12] = r->r12; g[13] = r->r13; g[14] = r->r14; g[15] = r->r15;
}

static void gpr_put(struct hvm_vcpu *hv, const uint64_t *g)
{
    struct hvm_regs *r = &hv->regs;

    r->rax = g[0]; r->rcx = g[1]; r->rdx = g[2]; r->rbx = g[3];
    r->rbp = g[5]; r->rsi = g[6]; r->rdi = g[7];
    r->r8 = g[8]; r->r9 = g[9]; r->r10 = g[10]; r->r11 = g[11];
    r->r12 = g[12]; r->r13 = g[13]; r->r14 = g[14]; r->r15 = g[15];
}

/* --- MMIO: the platform's device pages --- */

/*
 * One device page: its accessors get the offset in the region and the
 * access size the decoder found (1, 2, 4 or 8), and return 0 or a
 * negative errno with *why set (the domain is crashed with it).
 */
struct mmio_region {
    uint64_t gpa, len;
    const char *name;
    bool (*present)(struct hvm_vcpu *hv);       /* NULL: always */
    int (*read)(struct hvm_vcpu *hv, uint32_t off, unsigned int size,
                uint64_t *val, const char **why);
    int (*write)(struct hvm_vcpu *hv, uint32_t off, unsigned int size,
                 uint64_t val, const char **why);
};

static int lapic_size(uint32_t off, unsigned int size, const char **why)
{
    if ( size == 4 && !(off & 3) )
        return 0;
    *why = "not a 32-bit aligned access";
    return -EINVAL;
}

static int lapic_rd(struct hvm_vcpu *hv, uint32_t off, unsigned int size,
                    uint64_t *val, const char **why)
{
    uint32_t v;
    int rc = lapic_size(off, size, why);

    if ( !rc && vlapic_read(hv->lapic, off, &v, rdtsc()) )
    {
        *why = "no such register";
        rc = -EINVAL;
    }
    *val = rc ? 0 : v;
    return rc;
}

static int lapic_wr(struct hvm_vcpu *hv, uint32_t off, unsigned int size,
                    uint64_t val, const char **why)
{
    int rc = lapic_size(off, size, why);

    if ( !rc && vlapic_write(hv->lapic, off, val, rdtsc()) )
    {
        *why = "no such register";
        rc = -EINVAL;
    }
    return rc;
}

static int ioapic_rd(struct hvm_vcpu *hv, uint32_t off, unsigned int size,
                     uint64_t *val, const char **why)
{
    uint32_t v = 0;
    int rc = vioapic_read(&ioapics[hv->v->domain->domain_id], off, size,
                          &v, why);

    *val = v;
    return rc;
}

static int ioapic_wr(struct hvm_vcpu *hv, uint32_t off, unsigned int size,
                     uint64_t val, const char **why)
{
    return vioapic_write(&ioapics[hv->v->domain->domain_id], off, size,
                         val, why);
}

static struct vmmio_dev *virtio_of(struct hvm_vcpu *hv)
{
    return virtio_devs[hv->v->domain->domain_id];
}

static bool virtio_present(struct hvm_vcpu *hv)
{
    return virtio_of(hv);
}

static int virtio_rd(struct hvm_vcpu *hv, uint32_t off, unsigned int size,
                     uint64_t *val, const char **why)
{
    struct vmmio_dev *dev = virtio_of(hv);
    int rc = vmmio_read(dev, off, size, val);

    *why = dev->why;
    return rc;
}

static int virtio_wr(struct hvm_vcpu *hv, uint32_t off, unsigned int size,
                     uint64_t val, const char **why)
{
    struct vmmio_dev *dev = virtio_of(hv);
    int rc = vmmio_write(dev, off, size, val);

    /* A notify may have raised the interrupt, and that may have crashed
     * the domain (a pin programmed in a way we do not model). */
    *why = dev->why;
    if ( !rc && hv->v->domain->crashed )
    {
        *why = hv->crash;
        rc = -EINVAL;
    }
    if ( !rc && hv->watch )
        hv->watch(hv, NULL);
    return rc;
}

static const struct mmio_region mmio_regions[] = {
    { LAPIC_GPA, PAGE_SIZE, "local APIC", NULL, lapic_rd, lapic_wr },
    { PLAT_IOAPIC_GPA, PAGE_SIZE, "I/O APIC", NULL, ioapic_rd, ioapic_wr },
    { PLAT_VIRTIO_MMIO_GPA, VMMIO_WINDOW, "virtio-mmio", virtio_present,
      virtio_rd, virtio_wr },
};

static const struct mmio_region *mmio_find(struct hvm_vcpu *hv, uint64_t gpa)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(mmio_regions); i++ )
    {
        const struct mmio_region *r = &mmio_regions[i];

        if ( gpa - r->gpa < r->len && (!r->present || r->present(hv)) )
            return r;
    }
    return NULL;
}

/* The access: read, write, or both (XCHG: read first), into gpr[]. */
static int mmio_do(struct hvm_vcpu *hv, const struct mmio_region *r,
                   uint32_t off, const struct hvm_mmio_insn *in,
                   uint64_t *gpr, const char **why)
{
    uint64_t val = 0;
    int rc = 0;

    if ( in->read )
        rc = r->read(hv, off, in->size, &val, why);
    if ( !rc && in->write )
        rc = r->write(hv, off, in->size, hvm_mmio_store_value(in, gpr),
                      why);
    if ( !rc && in->read )
    {
        if ( in->reg == HVM_GPR_RSP && !in->has_imm )
        {
            *why = "a read into RSP";
            return -EINVAL;
        }
        hvm_mmio_load_result(in, gpr, val);
    }
    return rc;
}

/* Decode the instruction at the guest's RIP and do its access on r. */
static int mmio_emulate(struct hvm_vcpu *hv, const struct mmio_region *r,
                        uint64_t gpa)
{
    struct hvm_cpu_state s;
    struct hvm_paging pg;
    struct hvm_mmio_insn in;
    uint64_t gpr[HVM_GPR_NR];
    uint8_t buf[HVM_INSN_MAX];
    unsigned int got = 0;
    uint32_t pfec, off = gpa - r->gpa;
    const char *why = NULL;
    int rc;

    hv->hw->get_state(hv, &s);
    hvm_paging_of(&s, &pg);
    rc = hvm_fetch_insn(&pg, s.mode == 64 ? 0 : s.cs_base, s.rip, buf,
                        sizeof(buf), hvm_read_guest, hv, &got, &pfec);
    if ( rc )
        return hvm_crash(hv, "%s access at rip %#llx: the instruction "
                         "cannot be fetched (%d)", r->name,
                         (unsigned long long)s.rip, rc);
    rc = hvm_decode_mmio(buf, got, s.mode, &in);
    if ( rc )
        return hvm_crash(hv, "%s access at rip %#llx offset %#x: not a "
                         "known MOV/XCHG form (decode %d)", r->name,
                         (unsigned long long)s.rip, off, rc);
    if ( off + in.size > r->len )
        return hvm_crash(hv, "%s access at rip %#llx offset %#x size %u: "
                         "past the end of the region", r->name,
                         (unsigned long long)s.rip, off, in.size);
    gpr_get(hv, s.rsp, gpr);
    rc = mmio_do(hv, r, off, &in, gpr, &why);
    if ( rc )
        return hvm_crash(hv, "%s %s at rip %#llx offset %#x size %u: %s",
                         r->name, in.write ? "write" : "read",
                         (unsigned long long)s.rip, off, in.size,
                         why ? why : "refused");
    if ( in.read )
        gpr_put(hv, gpr);
    hv->n.emulated++;
    hv->hw->set_rip(hv, s.rip + in.len);
    return 0;
}

int hvm_platform_mmio(struct hvm_vcpu *hv, uint64_t gpa, bool walk)
{
    const struct mmio_region *r = hv->platform ? mmio_find(hv, gpa) : NULL;

    if ( !r )
        return 1;
    /* Page tables in a device page: no instruction to emulate. */
    if ( walk )
        return hvm_crash(hv, "guest page-table walk through the %s page "
                         "(gpa %#llx)", r->name, (unsigned long long)gpa);
    hv->n.kind[HVM_EXIT_MMIO]++;
    return mmio_emulate(hv, r, gpa);
}

/* --- virtio-mmio: the device's interrupt and guest memory --- */

void hvm_platform_set_virtio(struct hvm_vcpu *hv, struct vmmio_dev *dev,
                             uint32_t gsi)
{
    virtio_devs[hv->v->domain->domain_id] = dev;
    virtio_gsis[hv->v->domain->domain_id] = gsi;
}

void hvm_platform_virtio_irq(void *ctx, bool level)
{
    struct hvm_vcpu *hv = ctx;
    domid_t id = hv->v->domain->domain_id;
    const char *why = NULL;

    if ( !level )
        return;                 /* edge-triggered: only a rise counts */
    if ( vioapic_raise(&ioapics[id], virtio_gsis[id], rdtsc(), &why) < 0 )
        hvm_crash(hv, "virtio-mmio interrupt on GSI %u: %s",
                  virtio_gsis[id], why);
}

/* Every page of [gpa, gpa + len) is RAM or a PoD entry. */
static bool mem_is_ram(void *ctx, uint64_t gpa, uint64_t len)
{
    struct domain *d = ctx;
    uint64_t gfn, last;

    if ( !len || gpa + len < gpa )
        return false;
    last = (gpa + len - 1) >> PAGE_SHIFT;
    for ( gfn = gpa >> PAGE_SHIFT; gfn <= last; gfn++ )
    {
        struct p2m_lookup l;

        if ( p2m_get_entry(&d->p2m, _gfn(gfn), &l) ||
             (!p2m_type_is_ram(l.type) &&
              l.type != p2m_populate_on_demand) )
            return false;
    }
    return true;
}

/* A PoD entry reads as zeros (what it would be filled with). */
static int mem_read(void *ctx, uint64_t gpa, void *buf, uint32_t len)
{
    struct domain *d = ctx;
    uint8_t *b = buf;

    if ( !mem_is_ram(ctx, gpa, len) )
        return -EFAULT;
    while ( len )
    {
        uint32_t n = MIN(len, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));
        const void *p = hvm_guest_ptr(d, gpa, n);

        if ( p )
            memcpy(b, p, n);
        else
            memset(b, 0, n);
        gpa += n;
        b += n;
        len -= n;
    }
    return 0;
}

static int mem_write(void *ctx, uint64_t gpa, const void *buf, uint32_t len)
{
    if ( !mem_is_ram(ctx, gpa, len) )
        return -EFAULT;
    return hvm_copy_to_guest(ctx, gpa, buf, len);
}

void hvm_platform_guest_mem(struct domain *d, struct virtq_mem *m)
{
    *m = (struct virtq_mem){ .read = mem_read, .write = mem_write,
                             .is_ram = mem_is_ram, .ctx = d };
}

/* --- interrupts, HLT --- */

int hvm_irq_next(struct hvm_vcpu *hv)
{
    if ( !hv->platform )
        return -1;
    vlapic_timer_update(hv->lapic, rdtsc());
    return vlapic_pending(hv->lapic);
}

void hvm_irq_delivered(struct hvm_vcpu *hv, uint8_t vec)
{
    vlapic_ack(hv->lapic, vec);
    hv->n.irqs++;
}

int hvm_hlt(struct hvm_vcpu *hv, bool intr_on)
{
    uint64_t deadline, now;

    if ( !hv->platform )
        return hvm_guest_error(hv, "HLT before HC_EXIT", 0);
    if ( !intr_on )
    {
        hv->done = true;
        hv->end_reason = "halted with interrupts off";
        return 1;
    }
    hv->n.halts++;
    for ( ;; )
    {
        now = rdtsc();
        vlapic_timer_update(hv->lapic, now);
        if ( vlapic_pending(hv->lapic) >= 0 )
            return 1;
        deadline = vlapic_timer_deadline(hv->lapic);
        if ( deadline == UINT64_MAX )
        {
            /* The timer is the only source of interrupts: nothing can
             * ever wake it (Linux halts so with its APIC off). */
            hv->done = true;
            hv->end_reason = "halted for good (interrupts on, no timer "
                             "armed)";
            return 1;
        }
        if ( deadline - now > SPIN_BELOW_MS * tsc_khz )
            timer_halt_until(deadline);
        else
            asm volatile ( "pause" );
    }
}

static const char *const exit_names[HVM_EXIT_NR] = {
    "npf", "mmio", "io", "msr", "cpuid", "hlt", "intr", "irq_window",
    "exception", "hypercall", "xsetbv", "cache", "cr", "other",
};

void hvm_print_exit_reasons(const struct hvm_vcpu *hv)
{
    unsigned int i;
    const char *sep = "";

    for ( i = 0; i < HVM_EXIT_NR; i++ )
    {
        printk("%s\"%s\": %llu", sep, exit_names[i],
               (unsigned long long)hv->n.kind[i]);
        sep = ", ";
    }
}

/* Guest console lines, with the markers the Linux run looks for. */
void hvm_console_line(struct hvm_vcpu *hv, const char *line)
{
    const char *m = strstr(line, "P2M: ");

    printk("HV-GUEST %s\n", line);
    if ( !m )
        return;
    if ( !strncmp(m, "P2M: init", 9) && !hv->init_ms )
    {
        hv->init_ms = (rdtsc() - hv->start_tsc) / tsc_khz;
        if ( !hv->init_ms )
            hv->init_ms = 1;
        printk("HV-LINUX init %llu.%03llu\n",
               (unsigned long long)(hv->init_ms / 1000),
               (unsigned long long)(hv->init_ms % 1000));
    }
    if ( strstr(m, "FAIL") )
        hv->marker_failed = true;
    if ( hv->watch )
        hv->watch(hv, m + 5);
}

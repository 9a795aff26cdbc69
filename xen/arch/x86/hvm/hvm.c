/*
 * Vendor-neutral exit handling: nested page faults go to the P2M fault
 * handler (with the PoD sweep policy of p2m-pod.c run at each fault and
 * exit), hypercalls give the guest the balloon and PoD-target memory ops
 * and a console, and port 0xE9 output reaches the hypervisor console.
 * Whatever a guest does ends here as emulation or as a crash of its domain
 * with a reason (hvm_crash); the guest's CPU time is counted and limited.
 * The CPUID and MSR policies are in cpuid.c and msr.c, string I/O in io.c.
 */
#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/memory.h>

#include "../boot/boot.h"
#include "emulate.h"
#include "guest-abi.h"
#include "hvm.h"

static struct hvm_vcpu hvm_vcpus[MAX_DOMAINS][MAX_VCPUS];
/* vCPUs of each domain that must flush before their next entry. */
static uint32_t flush_mask[MAX_DOMAINS];

bool hvm_host_xsave;

const struct hvm_vendor *hvm_detect(void)
{
    struct cpuid_regs r = cpuid(0, 0);

    /* XCR0 is the guest's while it runs (the host uses no extended
     * state), so the host must be able to load it. */
    hvm_host_xsave = cpuid(1, 0).c & (1u << 26);
    if ( hvm_host_xsave )
        write_cr(4, read_cr(4) | CR4_OSXSAVE);

    if ( r.b == 0x68747541 )                /* "AuthenticAMD" */
        return svm_detect();
    if ( r.b == 0x756e6547 )                /* "GenuineIntel" */
        return vmx_detect();
    printk("hvm: unknown CPU vendor %#x\n", r.b);
    return NULL;
}

struct hvm_vcpu *hvm_vcpu_of(struct vcpu *v)
{
    return &hvm_vcpus[v->domain->domain_id][v->vcpu_id];
}

void hvm_vcpu_reset(struct hvm_vcpu *hv, struct vcpu *v)
{
    memset(hv, 0, sizeof(*hv));
    hv->v = v;
    hv->exc_crash = ~0u;
    hv->xcr0 = 1;               /* x87 only, as after reset */
    v->plat = hv;
}

/*
 * The P2M took away a translation: every vCPU of d flushes on its next
 * entry (TLB_CONTROL or INVEPT).  One CPU runs guests and this code in
 * turn, so no vCPU is inside the guest while the tables change.
 */
void plat_flush_guest_tlb(struct domain *d)
{
    flush_mask[d->domain_id] = (1u << MAX_VCPUS) - 1;
}

bool hvm_take_flush(struct hvm_vcpu *hv)
{
    uint32_t bit = 1u << hv->v->vcpu_id;
    uint32_t *m = &flush_mask[hv->v->domain->domain_id];

    if ( !(*m & bit) )
        return false;
    *m &= ~bit;
    hv->n.flushes++;
    return true;
}

bool hvm_should_stop(struct hvm_vcpu *hv)
{
    return hv->done || hv->v->paused || hv->v->domain->crashed;
}

int hvm_crash(struct hvm_vcpu *hv, const char *fmt, ...)
{
    va_list ap;

    if ( !hv->crash[0] )
    {
        va_start(ap, fmt);
        vsnprintf(hv->crash, sizeof(hv->crash), fmt, ap);
        va_end(ap);
    }
    domain_crash(hv->v->domain, hv->crash, INVALID_GFN);
    return -EFAULT;
}

int hvm_guest_error(struct hvm_vcpu *hv, const char *what, uint64_t info)
{
    return hvm_crash(hv, "%s (%#llx)", what, (unsigned long long)info);
}

static const char *const exc_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#MF9",
    "#TS", "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM",
    "#VE", "#CP",
};

int hvm_guest_exception(struct hvm_vcpu *hv, uint8_t vec, uint32_t error,
                        uint64_t rip)
{
    const char *name = vec < 32 && exc_names[vec] ? exc_names[vec] : "?";

    if ( vec >= 32 || (hv->exc_crash >> vec) & 1 )
        return hvm_crash(hv, "guest exception %u (%s) at rip %#llx, error "
                         "%#x", vec, name, (unsigned long long)rip, error);
    /* The guest owns its exceptions; the ones that always exit (#DB, #AC)
     * go back to it, one exit per delivery, so a delivery loop is still
     * bounded by the CPU time limit. */
    hv->hw->inject(hv, vec, error);
    hv->n.injected++;
    return 0;
}

int hvm_preempted(struct hvm_vcpu *hv)
{
    hv->n.preempts++;
    if ( hv->watch )
        hv->watch(hv, NULL);
    return 0;                   /* the time limit is checked on every exit */
}

int hvm_rejected_entry(struct hvm_vcpu *hv, uint64_t gpa)
{
    hv->misconfig = true;
    hv->misconfig_gpa = gpa;
    printk("hvm: the CPU rejected the P2M entry for gpa %#llx (%s): a "
           "hypervisor bug unless probed\n", (unsigned long long)gpa,
           p2m_format_name(&hv->v->domain->p2m));
    return hvm_guest_error(hv, "P2M entry rejected by the CPU", gpa);
}

/* Count a sweep the policy (p2m-pod.c) ran for this vCPU. */
static void count_sweep(struct hvm_vcpu *hv, bool ran, uint64_t pages)
{
    if ( !ran )
        return;
    hv->n.sweeps++;
    hv->n.swept_pages += pages;
}

void hvm_exit_tick(struct hvm_vcpu *hv, uint64_t cycles)
{
    uint64_t pages;
    bool ran;

    hv->guest_cycles += cycles;
    ran = p2m_pod_sweep_at_exit(hv->v->domain, ++hv->n.exits, &pages);
    count_sweep(hv, ran, pages);
}

int hvm_check_time(struct hvm_vcpu *hv)
{
    if ( !hv->time_limit || hv->guest_cycles <= hv->time_limit ||
         hv->v->domain->crashed )
        return 0;
    return hvm_crash(hv, "CPU time limit exceeded: %llu ms of guest time, "
                     "%llu host timer exits",
                     (unsigned long long)(hv->guest_cycles / tsc_khz),
                     (unsigned long long)hv->n.preempts);
}

/* XSETBV, as the guest's XCR0 is loaded here before each entry. */
void hvm_load_xcr0(struct hvm_vcpu *hv)
{
    static uint64_t cpu_xcr0 = 1;

    if ( !hvm_host_xsave || hv->xcr0 == cpu_xcr0 )
        return;
    asm volatile ( "xsetbv" :: "c" (0), "a" ((uint32_t)hv->xcr0),
                   "d" ((uint32_t)(hv->xcr0 >> 32)) );
    cpu_xcr0 = hv->xcr0;
}

/* The P2M crashed the domain for this fault: say what the gpa was. */
static int fault_refused(struct hvm_vcpu *hv, uint64_t gpa,
                         p2m_access_t access)
{
    struct p2m_lookup l;

    if ( p2m_get_entry(&hv->v->domain->p2m, _gfn(gpa >> PAGE_SHIFT), &l) )
        l.type = p2m_invalid;
    if ( l.type == p2m_invalid )
        return hvm_crash(hv, "access to unbacked gpa %#llx: neither RAM "
                         "nor an emulated device", (unsigned long long)gpa);
    return hvm_crash(hv, "%s access to gpa %#llx (%s) refused by the P2M",
                     access & P2M_ACCESS_W ? "write" :
                     access & P2M_ACCESS_X ? "fetch" : "read",
                     (unsigned long long)gpa, p2m_type_name(l.type));
}

int hvm_nested_fault(struct hvm_vcpu *hv, uint64_t gpa, p2m_access_t access,
                     bool walk)
{
    struct vcpu *v = hv->v;
    uint64_t pages, sweeps;
    int rc;

    rc = hvm_platform_mmio(hv, gpa, walk);
    if ( rc <= 0 )
        return rc;
    hv->n.npf++;
    hv->n.npf_walk += walk;
    hv->n.kind[HVM_EXIT_NPF]++;
    if ( !p2m_fault_progress(v, _gfn(gpa >> PAGE_SHIFT)) )
        return hvm_guest_error(hv, "nested fault loop (missing flush?)", gpa);
    p2m_pod_access_done(v);     /* this fault: the last access was done */
    sweeps = v->fault_sweeps;
    pages = v->fault_swept;
    rc = p2m_handle_fault(v, _gfn(gpa >> PAGE_SHIFT), access);
    count_sweep(hv, v->fault_sweeps != sweeps, v->fault_swept - pages);
    if ( rc == -EAGAIN )
        printk("d%u: vCPU %u paused for memory at gpa %#llx\n",
               v->domain->domain_id, v->vcpu_id, (unsigned long long)gpa);
    else if ( rc )
        return fault_refused(hv, gpa, access);
    return rc;
}

void *hvm_guest_ptr(struct domain *d, uint64_t gpa, uint32_t len)
{
    struct p2m_lookup l;

    if ( (gpa & (PAGE_SIZE - 1)) + len > PAGE_SIZE ||
         p2m_get_entry(&d->p2m, _gfn(gpa >> PAGE_SHIFT), &l) ||
         !p2m_type_is_ram(l.type) )
        return NULL;
    return (char *)plat_map_mfn(l.mfn) + (gpa & (PAGE_SIZE - 1));
}

uint64_t *hvm_gpr_slot(struct hvm_regs *r, unsigned int n)
{
    uint64_t *const slot[16] = {
        &r->rax, &r->rcx, &r->rdx, &r->rbx, NULL, &r->rbp, &r->rsi, &r->rdi,
        &r->r8, &r->r9, &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15,
    };

    return slot[n & 15];
}

#define RFLAGS_AC (1ull << 18)

void hvm_paging_of(const struct hvm_cpu_state *s, struct hvm_paging *pg)
{
    *pg = (struct hvm_paging){ .cr0 = s->cr0, .cr3 = s->cr3, .cr4 = s->cr4,
                               .efer = s->efer, .cpl = s->cpl,
                               .ac = s->rflags & RFLAGS_AC,
                               .maxphyaddr = machine.paddr_bits,
                               .gbpages = true };
}

int hvm_read_guest(void *ctx, uint64_t gpa, void *buf, unsigned int len)
{
    struct hvm_vcpu *hv = ctx;
    void *p = hvm_guest_ptr(hv->v->domain, gpa, len);

    if ( !p )
        return -EFAULT;
    memcpy(buf, p, len);
    return 0;
}

static void console_flush(struct hvm_vcpu *hv)
{
    hv->line[hv->line_len] = '\0';
    if ( hv->platform )
        hvm_console_line(hv, hv->line);
    else
        printk("[d%u] %s\n", hv->v->domain->domain_id, hv->line);
    hv->line_len = 0;
}

/* One character of guest console output, printed a line at a time (a
 * line longer than the buffer goes out in pieces, nothing dropped). */
void hvm_console_char(struct hvm_vcpu *hv, char c)
{
    if ( c == '\r' )
        return;
    if ( c == '\n' )
    {
        console_flush(hv);
        return;
    }
    if ( hv->line_len == sizeof(hv->line) - 1 )
        console_flush(hv);
    hv->line[hv->line_len++] = c;
}

/* HC_CONSOLE: print len bytes at gpa, page by page. */
static int hc_console(struct hvm_vcpu *hv, uint64_t gpa, uint32_t len)
{
    if ( len > 4096 )
        return -E2BIG;
    while ( len )
    {
        uint32_t n = MIN(len, PAGE_SIZE - (gpa & (PAGE_SIZE - 1)));
        const char *p = hvm_guest_ptr(hv->v->domain, gpa, n);

        if ( !p )
            return -EFAULT;
        for ( uint32_t i = 0; i < n; i++ )
            hvm_console_char(hv, p[i]);
        gpa += n;
        len -= n;
    }
    return 0;
}

static void hc_pod_target(struct hvm_vcpu *hv)
{
    struct memory_pod_info pi;

    memory_get_pod_target(hv->v->domain, &pi);
    hv->regs.rax = pi.target;
    hv->regs.rbx = pi.tot_pages;
    hv->regs.rcx = pi.pod_cache;
    hv->regs.rdx = pi.pod_entries;
    hv->regs.rsi = pi.max_pages;
}

int hvm_hypercall(struct hvm_vcpu *hv)
{
    struct hvm_regs *r = &hv->regs;
    uint32_t b = r->rbx, c = r->rcx, dx = r->rdx;
    int64_t ret = 0;

    hv->n.hypercalls++;
    switch ( (uint32_t)r->rax )
    {
    case HC_CONSOLE:
        ret = hc_console(hv, b, c);
        break;
    case HC_EXIT:
        hv->done = true;
        hv->result = b;
        break;
    case HC_POD_TARGET:
        hc_pod_target(hv);
        return 0;
    case HC_DECREASE:
        ret = memory_decrease_reservation(hv->v->domain, _gfn(b), c, dx);
        break;
    case HC_PHASE:
        ret = hv->phase ? hv->phase(hv, b, c) : -ENOSYS;
        break;
    default:
        ret = -ENOSYS;
        break;
    }
    r->rax = (uint32_t)ret;
    return 0;
}

int hvm_port_out(struct hvm_vcpu *hv, uint16_t port, uint32_t val,
                 unsigned int bytes)
{
    hv->n.io++;
    if ( port == PORT_E9_CONSOLE && bytes == 1 )
        hvm_console_char(hv, (char)val);
    else if ( hv->platform )
        hvm_platform_out(hv, port, val, bytes);
    return 0;                   /* other ports: writes are ignored */
}

uint32_t hvm_port_in(struct hvm_vcpu *hv, uint16_t port, unsigned int bytes)
{
    uint32_t v;

    hv->n.io++;
    if ( hv->platform && hvm_platform_in(hv, port, bytes, &v) )
        return v;
    return bytes >= 4 ? ~0u : (1u << (8 * bytes)) - 1;
}

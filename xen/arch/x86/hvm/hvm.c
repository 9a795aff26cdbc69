/*
 * Vendor-neutral exit handling: nested page faults go to the P2M fault
 * handler (with the PoD sweeper run from here), hypercalls give the guest
 * the balloon and PoD-target memory ops and a console, and port 0xE9
 * output reaches the hypervisor console.
 */
#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/memory.h>

#include "../boot/boot.h"
#include "../boot/guests/abi.h"
#include "hvm.h"

#define SWEEP_EVERY 64          /* exits between budgeted sweeps */
#define FAULT_REPEATS_MAX 16    /* same gfn faulting again and again */

static struct hvm_vcpu hvm_vcpus[MAX_DOMAINS][MAX_VCPUS];
/* vCPUs of each domain that must flush before their next entry. */
static uint32_t flush_mask[MAX_DOMAINS];

const struct hvm_vendor *hvm_detect(void)
{
    struct cpuid_regs r = cpuid(0, 0);

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

int hvm_guest_error(struct hvm_vcpu *hv, const char *what, uint64_t info)
{
    domain_crash(hv->v->domain, what, info);
    return -EFAULT;
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

/* Is the PoD cache smaller than what the PoD entries may still ask for? */
static bool pod_pressure(struct domain *d)
{
    struct memory_pod_info pi;

    memory_get_pod_target(d, &pi);
    return pi.pod_entries > pi.pod_cache;
}

/*
 * Sweeps from the exit loop, only while PoD entries outnumber the cache:
 * the eager pass (recently populated pages that are zero again) on every
 * nested fault, a budgeted pass over all leaves every SWEEP_EVERY exits.
 * The eager pass runs before the fault is fixed, so the page the guest is
 * about to touch is not taken back before it could write it.
 */
static void sweep(struct hvm_vcpu *hv, enum pod_sweep_mode mode)
{
    struct domain *d = hv->v->domain;
    int64_t n;

    if ( !pod_pressure(d) )
        return;
    n = p2m_pod_sweep(d, mode);
    hv->n.sweeps++;
    if ( n > 0 )
        hv->n.swept_pages += (uint64_t)n;
}

void hvm_exit_tick(struct hvm_vcpu *hv)
{
    if ( ++hv->n.exits % SWEEP_EVERY == 0 )
        sweep(hv, POD_SWEEP_EMERGENCY);
}

int hvm_nested_fault(struct hvm_vcpu *hv, uint64_t gpa, p2m_access_t access)
{
    struct vcpu *v = hv->v;
    int rc;

    hv->n.npf++;
    /* The P2M fixed this gfn last time, yet the CPU faults again. */
    if ( gpa >> PAGE_SHIFT == hv->last_fault_gfn &&
         ++hv->fault_repeats > FAULT_REPEATS_MAX )
        return hvm_guest_error(hv, "nested fault loop (missing flush?)", gpa);
    if ( gpa >> PAGE_SHIFT != hv->last_fault_gfn )
        hv->fault_repeats = 0;
    hv->last_fault_gfn = gpa >> PAGE_SHIFT;
    p2m_pod_access_done(v);     /* this fault: the last access was done */
    sweep(hv, POD_SWEEP_EAGER);
    rc = p2m_handle_fault(v, _gfn(gpa >> PAGE_SHIFT), access);
    if ( rc == -EAGAIN )
        printk("d%u: vCPU %u paused for memory at gpa %#llx\n",
               v->domain->domain_id, v->vcpu_id, (unsigned long long)gpa);
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

/* One character of guest console output, printed a line at a time. */
static void console_char(struct hvm_vcpu *hv, char c)
{
    if ( c != '\n' && hv->line_len < sizeof(hv->line) - 1 )
    {
        hv->line[hv->line_len++] = c;
        return;
    }
    hv->line[hv->line_len] = '\0';
    printk("[d%u] %s\n", hv->v->domain->domain_id, hv->line);
    hv->line_len = 0;
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
            console_char(hv, p[i]);
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
        console_char(hv, (char)val);
    return 0;
}

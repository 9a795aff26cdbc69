/*
 * The guest's MSRs: an allow-list.  Every RDMSR and WRMSR exits; an MSR
 * on the list is read or written (validated as the CPU would, #GP for a
 * bad value) in the VMCB, the VMCS or struct hvm_vcpu, through the vendor;
 * any other MSR gives the guest #GP, as an MSR the CPU lacks would.
 * XSETBV lives here too: XCR0 is the guest's, limited to x87 and SSE.
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "../boot/boot.h"
#include "hvm.h"
#include "vlapic.h"

#define EXC_UD          6
#define EXC_GP          13

#define EFER_SCE        (1ull << 0)

enum msr_kind { RW, RO_TSC, RO_MISC_ENABLE, RO_ZERO_AMD, UCODE_REV,
                APIC_BASE, TSC_DEADLINE };
/* The microcode revision a guest reads: 1, in EDX as Intel keeps it (AMD's
 * patch level, EAX, reads 0). */
#define UCODE_REV_VALUE  (1ull << 32)
#define APIC_BASE_BSP    (1ull << 8)
#define APIC_BASE_ENABLE (1ull << 11)

struct msr_rule {
    uint32_t msr;
    enum msr_kind kind;
    enum hvm_msr slot;          /* RW: where the vendor keeps it */
    int (*check)(struct hvm_vcpu *hv, uint64_t *val);   /* NULL: any */
};

static bool canonical(uint64_t a)
{
    return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

static int check_canonical(struct hvm_vcpu *hv, uint64_t *val)
{
    return canonical(*val) ? 0 : -EINVAL;
}

/* PAT: eight memory types, each UC, WC, WT, WP, WB or UC-. */
static int check_pat(struct hvm_vcpu *hv, uint64_t *val)
{
    for ( unsigned int i = 0; i < 8; i++ )
    {
        uint8_t t = *val >> (8 * i);

        if ( t == 2 || t == 3 || t > 7 )
            return -EINVAL;
    }
    return 0;
}

static int check_sfmask(struct hvm_vcpu *hv, uint64_t *val)
{
    return *val >> 32 ? -EINVAL : 0;
}

/* EFER: SCE, LME and NXE (if NX is offered); LMA is the CPU's; no LME
 * change while paging is on. */
static int check_efer(struct hvm_vcpu *hv, uint64_t *val)
{
    uint64_t old = hv->hw->get_msr(hv, HVM_MSR_EFER);
    uint64_t ok = EFER_SCE | EFER_LME | EFER_LMA |
                  (cpuid(0x80000001, 0).d & (1u << 20) ? EFER_NXE : 0);

    if ( *val & ~ok )
        return -EINVAL;
    if ( ((*val ^ old) & EFER_LME) && (hv->hw->get_cr(hv, 0) & CR0_PG) )
        return -EINVAL;
    *val = (*val & ~EFER_LMA) | (old & EFER_LMA);
    return 0;
}

static const struct msr_rule rules[] = {
    { 0x00000010, RO_TSC, 0, NULL },
    { 0x0000001b, APIC_BASE, 0, NULL },
    { 0x000006e0, TSC_DEADLINE, 0, NULL },
    { 0x000001a0, RO_MISC_ENABLE, 0, NULL },
    /* Intel's microcode revision (AMD's patch level): Linux writes 0 and
     * reads it back on Intel at boot. */
    { 0x0000008b, UCODE_REV, 0, NULL },
    /* AMD's interrupt-pending message register: Linux reads it on parts
     * with erratum 400 to see whether C1E is on.  Zero: it is not. */
    { 0xc0010055, RO_ZERO_AMD, 0, NULL },
    { 0x00000174, RW, HVM_MSR_SYSENTER_CS, NULL },
    { 0x00000175, RW, HVM_MSR_SYSENTER_ESP, check_canonical },
    { 0x00000176, RW, HVM_MSR_SYSENTER_EIP, check_canonical },
    { 0x00000277, RW, HVM_MSR_PAT, check_pat },
    { 0xc0000080, RW, HVM_MSR_EFER, check_efer },
    { 0xc0000081, RW, HVM_MSR_STAR, NULL },
    { 0xc0000082, RW, HVM_MSR_LSTAR, check_canonical },
    { 0xc0000083, RW, HVM_MSR_CSTAR, check_canonical },
    { 0xc0000084, RW, HVM_MSR_SFMASK, check_sfmask },
    { 0xc0000100, RW, HVM_MSR_FS_BASE, check_canonical },
    { 0xc0000101, RW, HVM_MSR_GS_BASE, check_canonical },
    { 0xc0000102, RW, HVM_MSR_KERNEL_GS_BASE, check_canonical },
};

static const struct msr_rule *find_rule(uint32_t msr)
{
    for ( unsigned int i = 0; i < ARRAY_SIZE(rules); i++ )
        if ( rules[i].msr == msr )
            return &rules[i];
    return NULL;
}

static bool host_is_intel(void)
{
    return cpuid(0, 0).b == 0x756e6547;     /* "Genu" */
}

/* 0, or -EPERM for an access the guest gets #GP for. */
static int msr_read(struct hvm_vcpu *hv, const struct msr_rule *r,
                    uint64_t *val)
{
    switch ( r->kind )
    {
    case RO_TSC:
        *val = rdtsc();
        return 0;
    case RO_MISC_ENABLE:        /* Intel only: fast strings on */
        *val = 1;
        return host_is_intel() ? 0 : -EPERM;
    case RO_ZERO_AMD:
        *val = 0;
        return host_is_intel() ? -EPERM : 0;
    case UCODE_REV:
        *val = UCODE_REV_VALUE;
        return 0;
    case RW:
        *val = hv->hw->get_msr(hv, r->slot);
        return 0;
    case APIC_BASE:             /* only where there is a local APIC */
        *val = LAPIC_GPA | APIC_BASE_BSP | APIC_BASE_ENABLE;
        return hv->platform ? 0 : -EPERM;
    case TSC_DEADLINE:
        return hv->platform && !vlapic_read_tsc_deadline(hv->lapic, val) ?
               0 : -EPERM;
    }
    return -EPERM;
}

static int msr_write(struct hvm_vcpu *hv, const struct msr_rule *r,
                     uint64_t val)
{
    /* The APIC stays where it is, enabled, in xAPIC mode. */
    if ( r->kind == APIC_BASE )
        return hv->platform &&
               val == (LAPIC_GPA | APIC_BASE_BSP | APIC_BASE_ENABLE) ?
               0 : -EPERM;
    /* Intel: a write asks the CPU to latch the revision; nothing to do. */
    if ( r->kind == UCODE_REV )
        return host_is_intel() ? 0 : -EPERM;
    if ( r->kind == TSC_DEADLINE )
        return hv->platform &&
               !vlapic_write_tsc_deadline(hv->lapic, val, rdtsc()) ?
               0 : -EPERM;
    if ( r->kind != RW || (r->check && r->check(hv, &val)) )
        return -EPERM;
    hv->hw->set_msr(hv, r->slot, val);
    return 0;
}

static int inject_fault(struct hvm_vcpu *hv, uint8_t vec)
{
    hv->hw->inject(hv, vec, 0);
    hv->n.injected++;
    return 0;
}

int hvm_msr_access(struct hvm_vcpu *hv, bool write)
{
    struct hvm_regs *regs = &hv->regs;
    const struct msr_rule *r = find_rule(regs->rcx);
    uint64_t val = (regs->rdx << 32) | (uint32_t)regs->rax;
    int rc;

    if ( !r )
        return inject_fault(hv, EXC_GP);
    rc = write ? msr_write(hv, r, val) : msr_read(hv, r, &val);
    if ( rc )
        return inject_fault(hv, EXC_GP);
    if ( !write )
    {
        regs->rax = (uint32_t)val;
        regs->rdx = val >> 32;
    }
    hv->n.emulated++;
    return 1;
}

int hvm_xsetbv(struct hvm_vcpu *hv)
{
    uint64_t allowed = hvm_xcr0_allowed();
    uint64_t val = (hv->regs.rdx << 32) | (uint32_t)hv->regs.rax;

    if ( !allowed )
        return inject_fault(hv, EXC_UD);     /* XSAVE is not offered */
    /* XCR0 only; x87 always on; nothing beyond x87 and SSE. */
    if ( (uint32_t)hv->regs.rcx != 0 || !(val & 1) || (val & ~allowed) )
        return inject_fault(hv, EXC_GP);
    hv->xcr0 = val;
    hv->n.emulated++;
    return 1;
}

/*
 * The guest's CPUID: the host's values, minus every feature this
 * hypervisor does not virtualize, plus the hypervisor bit and a
 * hypervisor leaf.  What a Linux guest looks at decides the list: no
 * SVM/VMX (no nested virtualization), no local APIC, no x2APIC, no MTRR,
 * MCE/MCA, PMU, thermal or power leaves (their MSRs are not on the allow-list, msr.c), no MONITOR/MWAIT
 * (they give #UD), no RDTSCP/TSC_AUX, PCID/INVPCID, AVX or any extended
 * state beyond x87/SSE (XCR0 is limited to those, msr.c), one CPU with one
 * core and thread.  Guests with the platform (platform.c) see its xAPIC,
 * whose timer has TSC-deadline mode and always runs (ARAT): Linux then
 * needs no PIT to calibrate it.  Leaves not listed read as zeros.
 */
#include <xen/lib.h>

#include "../boot/boot.h"
#include "hvm.h"

#define B(n) (1u << (n))

#define HV_LEAF         0x40000000u
#define MAX_BASIC       0xdu
#define MAX_EXT         0x80000008u

/* Leaf 1 ECX: SSE3, PCLMULQDQ, SSSE3, CX16, SSE4.1, SSE4.2, MOVBE, POPCNT,
 * AES, RDRAND. */
#define L1_ECX_KEEP     (B(0) | B(1) | B(9) | B(13) | B(19) | B(20) | B(22) | \
                         B(23) | B(25) | B(30))
#define L1_ECX_XSAVE    B(26)
#define L1_EDX_APIC     B(9)
#define L1_ECX_DEADLINE B(24)
#define L6_EAX_ARAT     B(2)
#define L1_ECX_OSXSAVE  B(27)
#define L1_ECX_HV       B(31)
/* Leaf 1 EDX: FPU, VME, DE, PSE, TSC, MSR, PAE, CX8, SEP, PGE, CMOV, PAT,
 * PSE36, CLFSH, MMX, FXSR, SSE, SSE2. */
#define L1_EDX_KEEP     (B(0) | B(1) | B(2) | B(3) | B(4) | B(5) | B(6) | \
                         B(8) | B(11) | B(13) | B(15) | B(16) | B(17) | \
                         B(19) | B(23) | B(24) | B(25) | B(26))
/* Leaf 7.0 EBX: FSGSBASE, BMI1, SMEP, BMI2, ERMS, RDSEED, ADX, SMAP,
 * CLFLUSHOPT, SHA. */
#define L7_EBX_KEEP     (B(0) | B(3) | B(7) | B(8) | B(9) | B(18) | B(19) | \
                         B(20) | B(23) | B(29))
/* 0x80000001 ECX: LAHF/SAHF, LZCNT, SSE4A, misaligned SSE, PREFETCHW. */
#define E1_ECX_KEEP     (B(0) | B(5) | B(6) | B(7) | B(8))
/* 0x80000001 EDX: SYSCALL, NX, MMXEXT, 1G pages, LM, 3DNow!(ext), and the
 * bits AMD mirrors from leaf 1 (0-9, 12-17, 23, 24) where leaf 1 keeps
 * them. */
#define E1_EDX_KEEP     (B(11) | B(20) | B(22) | B(26) | B(29) | B(30) | \
                         B(31) | (L1_EDX_KEEP & 0x0183f3ffu))

#define XCR0_GUEST      0x3ull  /* x87 and SSE */
#define XSAVE_LEGACY    576u    /* FXSAVE area + XSAVE header */

/* The extended state the guest may enable in XCR0 (0: no XSAVE). */
uint64_t hvm_xcr0_allowed(void)
{
    return hvm_host_xsave ? XCR0_GUEST & cpuid(0xd, 0).a : 0;
}

/* CR4 bits. */
#define CR4_BASE        0x7ffull        /* VME .. OSXMMEXCPT, bits 0-10 */
#define CR4_FSGSBASE    (1ull << 16)
#define CR4_SMEP        (1ull << 20)
#define CR4_SMAP        (1ull << 21)

uint64_t hvm_cr4_allowed(struct hvm_vcpu *hv)
{
    uint32_t l7b = cpuid(0, 0).a >= 7 ? cpuid(7, 0).b & L7_EBX_KEEP : 0;
    uint64_t ok = CR4_BASE;

    if ( hvm_xcr0_allowed() )
        ok |= CR4_OSXSAVE;
    if ( l7b & B(0) )
        ok |= CR4_FSGSBASE;
    if ( l7b & B(7) )
        ok |= CR4_SMEP;
    if ( l7b & B(20) )
        ok |= CR4_SMAP;
    (void)hv;
    return ok;
}

bool hvm_cr4_valid(struct hvm_vcpu *hv, uint64_t val, bool long_mode)
{
    return !(val & ~hvm_cr4_allowed(hv)) && (!long_mode || (val & CR4_PAE));
}

static void leaf1(struct hvm_vcpu *hv, struct cpuid_regs *r)
{
    /* APIC ID 0, one logical CPU; brand index and CLFLUSH size kept. */
    r->b = (r->b & 0xffff) | (1u << 16);
    r->c = (r->c & L1_ECX_KEEP) | L1_ECX_HV;
    if ( hvm_xcr0_allowed() )
        r->c |= L1_ECX_XSAVE |
                (hv->hw->get_cr(hv, 4) & CR4_OSXSAVE ? L1_ECX_OSXSAVE : 0);
    r->d &= L1_EDX_KEEP;
    /* A platform guest has a local APIC (xAPIC, MMIO; platform.c). */
    if ( hv->platform )
    {
        r->d |= L1_EDX_APIC;
        r->c |= L1_ECX_DEADLINE;
    }
}

static void leaf_xsave(uint32_t sub, struct cpuid_regs *r)
{
    uint64_t allowed = hvm_xcr0_allowed();

    *r = (struct cpuid_regs){ 0, 0, 0, 0 };
    if ( !allowed || sub != 0 )
        return;                 /* no XSAVEOPT/XSAVEC/XSAVES (sub-leaf 1) */
    r->a = allowed;
    r->b = r->c = XSAVE_LEGACY; /* x87 and SSE live in the legacy area */
}

static void basic_leaf(struct hvm_vcpu *hv, uint32_t leaf, uint32_t sub,
                       struct cpuid_regs *r)
{
    switch ( leaf )
    {
    case 0:
        r->a = MIN(r->a, MAX_BASIC);
        return;
    case 1:
        leaf1(hv, r);
        return;
    case 2:                     /* cache descriptors */
        return;
    case 4:                     /* caches: one core, one thread */
        r->a &= 0x3fff;
        return;
    case 6:                     /* power management: only ARAT */
        *r = (struct cpuid_regs){ hv->platform ? L6_EAX_ARAT : 0, 0, 0, 0 };
        return;
    case 7:
        r->a = r->c = r->d = 0;
        r->b = sub == 0 ? r->b & L7_EBX_KEEP : 0;
        return;
    case 0xd:
        leaf_xsave(sub, r);
        return;
    }
    *r = (struct cpuid_regs){ 0, 0, 0, 0 };
}

static void ext_leaf(uint32_t leaf, struct cpuid_regs *r)
{
    switch ( leaf )
    {
    case 0x80000000:
        r->a = MIN(r->a, MAX_EXT);
        return;
    case 0x80000001:
        r->b = 0;
        r->c &= E1_ECX_KEEP;
        r->d &= E1_EDX_KEEP;
        return;
    case 0x80000002: case 0x80000003: case 0x80000004:  /* brand string */
    case 0x80000005: case 0x80000006:                   /* caches, TLBs */
        return;
    case 0x80000008:            /* address sizes; no AMD feature bits */
        r->a &= 0xffff;
        r->b = r->c = r->d = 0;
        return;
    }
    *r = (struct cpuid_regs){ 0, 0, 0, 0 };
}

int hvm_cpuid(struct hvm_vcpu *hv)
{
    uint32_t leaf = hv->regs.rax, sub = hv->regs.rcx;
    uint32_t max_basic = MIN(cpuid(0, 0).a, MAX_BASIC);
    uint32_t max_ext = MIN(cpuid(0x80000000, 0).a, MAX_EXT);
    struct cpuid_regs r = { 0, 0, 0, 0 };

    if ( leaf <= max_basic )
    {
        r = cpuid(leaf, sub);
        basic_leaf(hv, leaf, sub, &r);
    }
    else if ( leaf == HV_LEAF )
        r = (struct cpuid_regs){ HV_LEAF, 0x684d3250, 0x72657079,
                                 0x72736976 };  /* "P2Mhypervisr" */
    else if ( leaf >= 0x80000000 && leaf <= max_ext )
    {
        r = cpuid(leaf, sub);
        ext_leaf(leaf, &r);
    }
    hv->regs.rax = r.a;
    hv->regs.rbx = r.b;
    hv->regs.rcx = r.c;
    hv->regs.rdx = r.d;
    hv->n.emulated++;
    return 1;
}

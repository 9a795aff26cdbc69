/*
 * Intel VMX with EPT: detection (EPT, unrestricted guest, 1G pages from
 * IA32_VMX_EPT_VPID_CAP bit 17), a VMCS for a 32-bit flat guest with
 * paging off whose EPTP is the domain's EPT P2M, and the entry loop.
 * EPT violations (exit 48) go to the shared nested-fault handler with the
 * gpa from VMCS field 0x2400; a misconfiguration (49) means this
 * hypervisor wrote an entry the CPU rejects: the domain is crashed and
 * the scenario runner reports a bug (the 1G probe provokes one on
 * purpose, on a CPU without 1G EPT pages).  Every exit reason is either
 * emulated or crashes the domain with a reason, VM-entry failures
 * included; the VMX-preemption timer (or, without it, the host's local
 * APIC timer with external-interrupt exiting) stops a guest that never
 * exits.  Each domain has its own VPID when the CPU offers VPIDs.
 *
 * A guest starts 32-bit with paging off (unrestricted guest) and may go
 * on to paging, PAE and IA-32e mode itself: the hypervisor owns CR0.PG
 * and the bits VMX fixes, and the CR4 bits the guest may not set, and
 * emulates the control-register exits (exit 28) that changes to them
 * cause.  A platform guest (a real OS) gets its local APIC's interrupts
 * injected, with interrupt-window exiting when it cannot take one yet.
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "../../boot/boot.h"
#include "../hvm.h"
#include "../vlapic.h"

/* MSRs */
#define MSR_FEATURE_CONTROL  0x03a
#define MSR_VMX_BASIC        0x480
#define MSR_VMX_PINBASED     0x481
#define MSR_VMX_PROCBASED    0x482
#define MSR_VMX_EXIT         0x483
#define MSR_VMX_ENTRY        0x484
#define MSR_VMX_CR0_FIXED0   0x486
#define MSR_VMX_CR0_FIXED1   0x487
#define MSR_VMX_CR4_FIXED0   0x488
#define MSR_VMX_CR4_FIXED1   0x489
#define MSR_VMX_PROCBASED2   0x48b
#define MSR_VMX_EPT_VPID_CAP 0x48c
#define MSR_VMX_MISC         0x485
#define MSR_VMX_TRUE_PIN     0x48d    /* TRUE_* = base + 0xc */
#define MSR_PAT              0x277
#define GUEST_PAT            0x0007040600070406ull
#define FC_LOCKED            (1u << 0)
#define FC_VMX_OUTSIDE_SMX   (1u << 2)
#define VMX_BASIC_TRUE_CTLS  (1ull << 55)
#define VMX_BASIC_IO_INFO    (1ull << 54)   /* INS/OUTS instruction info */
#define CR4_VMXE             (1ull << 13)

/* EPT/VPID capabilities */
#define EPT_CAP_EXEC_ONLY    (1ull << 0)
#define EPT_CAP_WALK4        (1ull << 6)
#define EPT_CAP_WB           (1ull << 14)
#define EPT_CAP_2M           (1ull << 16)
#define EPT_CAP_1G           (1ull << 17)
#define EPT_CAP_INVEPT       (1ull << 20)
#define EPT_CAP_INVEPT_SINGLE (1ull << 25)
#define EPT_CAP_INVEPT_ALL   (1ull << 26)
#define VPID_CAP_INVVPID     (1ull << 32)
#define VPID_CAP_SINGLE      (1ull << 41)
#define VPID_CAP_ALL         (1ull << 42)

/* Controls */
#define PIN_EXT_INTR         (1u << 0)
#define PIN_PREEMPT          (1u << 6)
#define PROC_INTR_WINDOW     (1u << 2)
#define PROC_HLT             (1u << 7)
#define PROC_MWAIT           (1u << 10)
#define PROC_RDPMC           (1u << 11)
#define PROC_CR8_LOAD        (1u << 19)
#define PROC_CR8_STORE       (1u << 20)
#define PROC_UNCOND_IO       (1u << 24)
#define PROC_MONITOR         (1u << 29)
#define PROC_SECONDARY       (1u << 31)
#define PROC2_EPT            (1u << 1)
#define PROC2_VPID           (1u << 5)
#define PROC2_WBINVD         (1u << 6)
#define PROC2_UNRESTRICTED   (1u << 7)
#define EXIT_HOST_64         (1u << 9)
#define EXIT_ACK_INTR        (1u << 15)
#define EXIT_SAVE_PAT        (1u << 18)
#define EXIT_LOAD_PAT        (1u << 19)
#define EXIT_SAVE_EFER       (1u << 20)
#define EXIT_LOAD_EFER       (1u << 21)
#define ENTRY_IA32E          (1u << 9)
#define ENTRY_LOAD_PAT       (1u << 14)
#define ENTRY_LOAD_EFER      (1u << 15)

#define INTR_VALID           (1u << 31)
#define INTR_ERROR           (1u << 11)
#define INTR_TYPE_HW_EXC     (3u << 8)
#define INTR_TYPE_SHIFT      8
#define RFLAGS_IF            (1u << 9)
/* Interruptibility state: the shadow of STI and of MOV SS/POP SS. */
#define BLOCK_STI            (1u << 0)
#define BLOCK_MOVSS          (1u << 1)

/* VMCS fields */
enum {
    G_ES_SEL = 0x800, G_CS_SEL = 0x802, G_SS_SEL = 0x804, G_DS_SEL = 0x806,
    G_FS_SEL = 0x808, G_GS_SEL = 0x80a, G_LDTR_SEL = 0x80c, G_TR_SEL = 0x80e,
    H_ES_SEL = 0xc00, H_CS_SEL = 0xc02, H_SS_SEL = 0xc04, H_DS_SEL = 0xc06,
    H_FS_SEL = 0xc08, H_GS_SEL = 0xc0a, H_TR_SEL = 0xc0c,
    VPID = 0x0000,
    EPT_POINTER = 0x201a, GUEST_PHYS_ADDR = 0x2400,
    VMCS_LINK = 0x2800, G_PAT = 0x2804, G_EFER = 0x2806,
    G_PDPTE0 = 0x280a,          /* ... G_PDPTE3 = 0x2810 */
    H_PAT = 0x2c00,
    H_EFER = 0x2c02,
    PIN_CTLS = 0x4000, PROC_CTLS = 0x4002, EXC_BITMAP = 0x4004,
    EXIT_CTLS = 0x400c, ENTRY_CTLS = 0x4012, ENTRY_INTR_INFO = 0x4016,
    ENTRY_ERROR = 0x4018, ENTRY_INSN_LEN = 0x401a, PROC2_CTLS = 0x401e,
    VM_INSN_ERROR = 0x4400, EXIT_REASON = 0x4402, EXIT_INTR_INFO = 0x4404,
    EXIT_INTR_ERROR = 0x4406, IDT_VEC_INFO = 0x4408, IDT_VEC_ERROR = 0x440a,
    EXIT_INSN_LEN = 0x440c, EXIT_INSN_INFO = 0x440e,
    G_SYSENTER_CS = 0x482a, G_PREEMPT_TIMER = 0x482e,
    G_ES_LIMIT = 0x4800, G_ES_AR = 0x4814,   /* + 2 per segment */
    G_GDTR_LIMIT = 0x4810, G_IDTR_LIMIT = 0x4812,
    G_INTERRUPTIBILITY = 0x4824, G_ACTIVITY = 0x4826,
    CR0_MASK = 0x6000, CR4_MASK = 0x6002, CR0_SHADOW = 0x6004,
    CR4_SHADOW = 0x6006, EXIT_QUAL = 0x6400, GUEST_LINEAR = 0x640a,
    G_CR0 = 0x6800, G_CR3 = 0x6802, G_CR4 = 0x6804, G_ES_BASE = 0x6806,
    G_FS_BASE = 0x680e, G_GS_BASE = 0x6810,
    G_GDTR_BASE = 0x6816, G_IDTR_BASE = 0x6818, G_DR7 = 0x681a,
    G_RSP = 0x681c, G_RIP = 0x681e, G_RFLAGS = 0x6820,
    G_SYSENTER_ESP = 0x6824, G_SYSENTER_EIP = 0x6826,
    H_CR0 = 0x6c00, H_CR3 = 0x6c02, H_CR4 = 0x6c04, H_FS_BASE = 0x6c06,
    H_GS_BASE = 0x6c08, H_TR_BASE = 0x6c0a, H_GDTR_BASE = 0x6c0c,
    H_IDTR_BASE = 0x6c0e, H_RIP = 0x6c16,
};

/* Segments in VMCS order: ES CS SS DS FS GS LDTR TR. */
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR };

/* Exit reasons */
#define EXIT_EXCEPTION       0
#define EXIT_EXT_INTR        1
#define EXIT_TRIPLE_FAULT    2
#define EXIT_INTR_WINDOW     7
#define EXIT_TASK_SWITCH     9
#define EXIT_CPUID           10
#define EXIT_GETSEC          11
#define EXIT_HLT             12
#define EXIT_INVD            13
#define EXIT_RDPMC           15
#define EXIT_VMCALL          18
#define EXIT_VMCLEAR         19     /* ... 27 VMXON: the VMX instructions */
#define EXIT_VMXON           27
#define EXIT_CR_ACCESS       28
#define EXIT_IO              30
#define EXIT_RDMSR           31
#define EXIT_WRMSR           32
#define EXIT_BAD_GUEST       33
#define EXIT_MSR_LOAD        34
#define EXIT_MWAIT           36
#define EXIT_MONITOR         39
#define EXIT_MCE_ENTRY       41
#define EXIT_EPT_VIOLATION   48
#define EXIT_EPT_MISCONFIG   49
#define EXIT_INVEPT          50
#define EXIT_PREEMPT         52
#define EXIT_INVVPID         53
#define EXIT_WBINVD          54
#define EXIT_XSETBV          55
#define EXIT_VMFUNC          59
#define EXIT_ENTRY_FAILED    (1u << 31)

/* EPT violation qualification: the access that faulted. */
#define EPTV_READ            (1ull << 0)
#define EPTV_WRITE           (1ull << 1)
#define EPTV_FETCH           (1ull << 2)
#define EPTV_LA_VALID        (1ull << 7)    /* a linear address caused it */
#define EPTV_FINAL           (1ull << 8)    /* its final translation (else
                                             * a guest paging entry) */

/* I/O exit qualification */
#define IOQ_SIZE_MASK        7          /* bytes - 1 */
#define IOQ_IN               (1u << 3)
#define IOQ_STRING           (1u << 4)
#define IOQ_REP              (1u << 5)

struct vmx_caps {
    uint32_t revision;
    uint32_t pin, proc, proc2, exit, entry;     /* chosen controls */
    uint64_t ept_cap;
    bool efer;                                  /* load/save EFER works */
    bool pat;                                   /* load/save PAT works */
    bool io_info;                               /* INS/OUTS insn info */
    bool ia32e;                                 /* IA-32e mode guests */
    unsigned int preempt_shift;                 /* TSC >> this: timer */
    /* CR0/CR4 bits VMX operation fixes to 1 (fixed0) or allows (fixed1);
     * CR0.PE and CR0.PG are free for an unrestricted guest. */
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
};

static uint8_t vmxon_region[4096] __attribute__((aligned(4096)));
static uint8_t vmcs[MAX_DOMAINS][4096] __attribute__((aligned(4096)));
static bool launched[MAX_DOMAINS];
static uint16_t last_vpid;
static struct vmx_caps caps;

int vmx_enter(struct hvm_regs *regs, int resume);
static struct hvm_vendor vmx_vendor;
extern char vmx_exit_landing[];

static uint64_t pa(const void *p)
{
    return (uintptr_t)p;        /* the hypervisor is identity mapped */
}

static uint64_t vmread(uint64_t field)
{
    uint64_t v;

    asm volatile ( "vmread %1, %0" : "=rm" (v) : "r" (field) : "cc" );
    return v;
}

static void vmwrite(uint64_t field, uint64_t v)
{
    bool fail;

    asm volatile ( "vmwrite %2, %1; setbe %0" : "=qm" (fail)
                   : "r" (field), "rm" (v) : "cc" );
    if ( fail )
        panic("VMX: vmwrite %#llx = %#llx failed (error %llu)",
              (unsigned long long)field, (unsigned long long)v,
              (unsigned long long)vmread(VM_INSN_ERROR));
}

/*
 * A control word: want | the bits the CPU needs set, minus the bits it
 * cannot set; 0 when a wanted bit (in need) is unsupported.
 */
static bool pick_ctl(uint32_t msr, uint32_t want, uint32_t need,
                     uint32_t *out)
{
    uint64_t v = rdmsr(msr);
    uint32_t must = v, may = v >> 32;

    *out = (want | must) & may;
    return (*out & need) == need;
}

/* The TRUE_* capability MSR for base control MSR msr, when offered. */
static uint32_t ctl_msr(uint32_t msr, bool true_ctls)
{
    return true_ctls && msr != MSR_VMX_PROCBASED2 ? msr + 0xc : msr;
}

static bool vmx_pick_controls(bool true_ctls)
{
    uint64_t ext = rdmsr(ctl_msr(MSR_VMX_EXIT, true_ctls)) >> 32;
    uint64_t ent = rdmsr(ctl_msr(MSR_VMX_ENTRY, true_ctls)) >> 32;
    uint64_t pin = rdmsr(ctl_msr(MSR_VMX_PINBASED, true_ctls)) >> 32;
    /* No preemption timer: the host's timer interrupt exits instead, and
     * is acknowledged by the exit itself. */
    uint32_t pin_want = pin & PIN_PREEMPT ? PIN_PREEMPT : PIN_EXT_INTR;
    uint32_t exit_want = EXIT_HOST_64 |
                         (pin_want == PIN_EXT_INTR ? EXIT_ACK_INTR : 0);

    caps.efer = (ext & EXIT_LOAD_EFER) && (ext & EXIT_SAVE_EFER) &&
                (ent & ENTRY_LOAD_EFER);
    caps.pat = (ext & EXIT_LOAD_PAT) && (ext & EXIT_SAVE_PAT) &&
               (ent & ENTRY_LOAD_PAT);
    caps.ia32e = ent & ENTRY_IA32E;
    exit_want |= (caps.efer ? EXIT_SAVE_EFER | EXIT_LOAD_EFER : 0) |
                 (caps.pat ? EXIT_SAVE_PAT | EXIT_LOAD_PAT : 0);
    return pick_ctl(ctl_msr(MSR_VMX_PINBASED, true_ctls), pin_want,
                    pin_want, &caps.pin) &&
           pick_ctl(ctl_msr(MSR_VMX_PROCBASED, true_ctls),
                    PROC_HLT | PROC_UNCOND_IO | PROC_SECONDARY | PROC_MWAIT |
                    PROC_RDPMC | PROC_MONITOR | PROC_CR8_LOAD |
                    PROC_CR8_STORE,
                    PROC_HLT | PROC_UNCOND_IO | PROC_SECONDARY, &caps.proc) &&
           pick_ctl(MSR_VMX_PROCBASED2, PROC2_EPT | PROC2_UNRESTRICTED |
                    PROC2_VPID | PROC2_WBINVD,
                    PROC2_EPT | PROC2_UNRESTRICTED, &caps.proc2) &&
           pick_ctl(ctl_msr(MSR_VMX_EXIT, true_ctls), exit_want,
                    exit_want & ~(EXIT_SAVE_EFER | EXIT_LOAD_EFER |
                                  EXIT_SAVE_PAT | EXIT_LOAD_PAT),
                    &caps.exit) &&
           pick_ctl(ctl_msr(MSR_VMX_ENTRY, true_ctls),
                    (caps.efer ? ENTRY_LOAD_EFER : 0) |
                    (caps.pat ? ENTRY_LOAD_PAT : 0), 0, &caps.entry);
}

/* A value for CR0/CR4 that the fixed-bit MSRs allow (free bits: v). */
static uint64_t fixed_cr(uint64_t v, uint32_t fixed0, uint32_t fixed1)
{
    return (v | rdmsr(fixed0)) & rdmsr(fixed1);
}

static void write_host_state(void)
{
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) gdtr,
                                                                      idtr;

    asm volatile ( "sgdt %0; sidt %1" : "=m" (gdtr), "=m" (idtr) );
    vmwrite(H_CR0, read_cr(0));
    vmwrite(H_CR3, read_cr(3));
    vmwrite(H_CR4, read_cr(4));
    vmwrite(H_CS_SEL, SEL_CODE64);
    vmwrite(H_SS_SEL, SEL_DATA);
    vmwrite(H_DS_SEL, SEL_DATA);
    vmwrite(H_ES_SEL, SEL_DATA);
    vmwrite(H_FS_SEL, SEL_DATA);
    vmwrite(H_GS_SEL, SEL_DATA);
    vmwrite(H_TR_SEL, SEL_TSS);
    vmwrite(H_FS_BASE, 0);
    vmwrite(H_GS_BASE, 0);
    vmwrite(H_TR_BASE, boot_tss_base());
    vmwrite(H_GDTR_BASE, gdtr.base);
    vmwrite(H_IDTR_BASE, idtr.base);
    vmwrite(H_RIP, pa(vmx_exit_landing));
    if ( caps.efer )
        vmwrite(H_EFER, rdmsr(MSR_EFER));
    if ( caps.pat )
        vmwrite(H_PAT, rdmsr(MSR_PAT));
}

/* 32-bit flat protected mode, paging off (unrestricted guest). */
static void write_guest_state(const struct hvm_entry *e)
{
    const uint16_t sel[8] = { e->ds, e->cs, e->ds, e->ds, e->ds, e->ds,
                              0, 0 };
    static const uint32_t ar[8] = { 0xc093, 0xc09b, 0xc093, 0xc093, 0xc093,
                                    0xc093, 0x10000 /* unusable */, 0x8b };
    unsigned int i;

    for ( i = 0; i < 8; i++ )
    {
        vmwrite(G_ES_SEL + 2 * i, sel[i]);
        vmwrite(G_ES_BASE + 2 * i, 0);
        vmwrite(G_ES_LIMIT + 2 * i, i == SEG_TR ? 0x67 : 0xffffffff);
        vmwrite(G_ES_AR + 2 * i, ar[i]);
    }
    vmwrite(G_GDTR_BASE, e->gdt_base);
    vmwrite(G_GDTR_LIMIT, e->gdt_limit ? e->gdt_limit : 0xffff);
    vmwrite(G_IDTR_BASE, 0);
    vmwrite(G_IDTR_LIMIT, 0xffff);
    vmwrite(G_CR0, (0x11 | caps.cr0_fixed0) & caps.cr0_fixed1);
    vmwrite(CR0_SHADOW, 0x11);
    vmwrite(G_CR4, caps.cr4_fixed0 & caps.cr4_fixed1);
    vmwrite(CR4_SHADOW, 0);
    vmwrite(G_CR3, 0);
    vmwrite(G_DR7, 0x400);
    vmwrite(G_RSP, e->rsp);
    vmwrite(G_RIP, e->rip);
    vmwrite(G_RFLAGS, 2);
    vmwrite(G_INTERRUPTIBILITY, 0);
    vmwrite(G_ACTIVITY, 0);
    vmwrite(VMCS_LINK, ~0ull);
    if ( caps.efer )
        vmwrite(G_EFER, 0);
    if ( caps.pat )
        vmwrite(G_PAT, GUEST_PAT);
}

/* Drop the guest-physical translations of this EPT P2M. */
static void invept(uint64_t eptp)
{
    struct { uint64_t eptp, rsvd; } desc = { eptp, 0 };
    uint64_t type = caps.ept_cap & EPT_CAP_INVEPT_SINGLE ? 1 : 2;

    asm volatile ( "invept %0, %1" :: "m" (desc), "r" (type) : "cc", "memory" );
}

/* Drop the translations tagged with vpid (all of them if the CPU cannot
 * do one VPID). */
static void invvpid(uint16_t vpid)
{
    struct { uint64_t vpid, la; } desc = { vpid, 0 };
    uint64_t type = caps.ept_cap & VPID_CAP_SINGLE ? 1 : 2;

    asm volatile ( "invvpid %0, %1" :: "m" (desc), "r" (type)
                   : "cc", "memory" );
}

static int vmx_vcpu_init(struct hvm_vcpu *hv, const struct hvm_entry *e)
{
    unsigned int id = hv->v->domain->domain_id;
    uint8_t *v = vmcs[id];

    if ( hv->v->vcpu_id )
        return -EOPNOTSUPP;     /* one VMCS per domain */
    memset(v, 0, PAGE_SIZE);
    *(uint32_t *)v = caps.revision;
    asm volatile ( "vmclear %0" :: "m" (*(uint64_t[]){ pa(v) }) : "cc" );
    asm volatile ( "vmptrld %0" :: "m" (*(uint64_t[]){ pa(v) }) : "cc" );
    launched[id] = false;
    hv->hw = &vmx_vendor;
    vmwrite(PIN_CTLS, caps.pin);
    vmwrite(PROC_CTLS, caps.proc);
    vmwrite(PROC2_CTLS, caps.proc2);
    vmwrite(EXIT_CTLS, caps.exit);
    vmwrite(ENTRY_CTLS, caps.entry);
    vmwrite(EXC_BITMAP, hv->exc_crash | HVM_EXC_ALWAYS);
    /* Owned by the hypervisor (read from the shadows, a change exits):
     * the CR0 bits VMX fixes and CR0.PG, whose changes switch IA-32e mode;
     * every CR4 bit the guest may not set (VMXE among them). */
    vmwrite(CR0_MASK, caps.cr0_fixed0 | ~caps.cr0_fixed1 | CR0_PG);
    vmwrite(CR4_MASK, ~(hvm_cr4_allowed(hv) & caps.cr4_fixed1 &
                        ~caps.cr4_fixed0));
    vmwrite(EPT_POINTER, p2m_root_pointer(&hv->v->domain->p2m));
    write_host_state();
    write_guest_state(e);
    hv->regs.rsi = e->rsi;
    /* The root may be a page a destroyed domain's tables used: translations
     * cached under this EPTP (and VPID) are dropped before the first run. */
    invept(p2m_root_pointer(&hv->v->domain->p2m));
    if ( caps.proc2 & PROC2_VPID )
    {
        last_vpid = last_vpid == 0xffff ? 1 : last_vpid + 1;
        hv->tlb_tag = last_vpid;
        vmwrite(VPID, last_vpid);
        invvpid(last_vpid);
    }
    return 0;
}

static bool has_error_code(uint8_t vec)
{
    return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21;
}

static void vmx_inject(struct hvm_vcpu *hv, uint8_t vec, uint32_t error)
{
    /* Real mode (unrestricted guest) pushes no error code; the entry
     * would fail with one. */
    bool err = has_error_code(vec) && (vmread(G_CR0) & CR0_PE);

    vmwrite(ENTRY_INTR_INFO, vec | INTR_TYPE_HW_EXC | INTR_VALID |
                             (err ? INTR_ERROR : 0));
    if ( err )
        vmwrite(ENTRY_ERROR, error);
}

/* An event whose delivery the exit interrupted is delivered again. */
static void vmx_reinject(void)
{
    uint32_t info = vmread(IDT_VEC_INFO);
    unsigned int type = (info >> INTR_TYPE_SHIFT) & 7;

    if ( !(info & INTR_VALID) )
        return;
    vmwrite(ENTRY_INTR_INFO, info & ~(1u << 12));   /* bit 12: reserved */
    if ( info & INTR_ERROR )
        vmwrite(ENTRY_ERROR, vmread(IDT_VEC_ERROR));
    if ( type >= 4 )            /* software interrupt or exception */
        vmwrite(ENTRY_INSN_LEN, vmread(EXIT_INSN_LEN));
}

/* CR0, CR3 or CR4 as the guest sees it: the owned bits from the shadow. */
static uint64_t vmx_get_cr(struct hvm_vcpu *hv, unsigned int cr)
{
    uint64_t mask;

    if ( cr == 3 )
        return vmread(G_CR3);
    mask = vmread(cr == 0 ? CR0_MASK : CR4_MASK);
    return (vmread(cr == 0 ? G_CR0 : G_CR4) & ~mask) |
           (vmread(cr == 0 ? CR0_SHADOW : CR4_SHADOW) & mask);
}

/* The VMCS field of an allow-listed MSR, or 0: kept in hv->msr (the
 * syscall MSRs, which the host does not use, are then loaded into the
 * CPU as they are for the guest's run). */
static uint32_t vmx_msr_field(enum hvm_msr m)
{
    switch ( m )
    {
    case HVM_MSR_EFER:           return caps.efer ? G_EFER : 0;
    case HVM_MSR_PAT:            return caps.pat ? G_PAT : 0;
    case HVM_MSR_SYSENTER_CS:    return G_SYSENTER_CS;
    case HVM_MSR_SYSENTER_ESP:   return G_SYSENTER_ESP;
    case HVM_MSR_SYSENTER_EIP:   return G_SYSENTER_EIP;
    case HVM_MSR_FS_BASE:        return G_FS_BASE;
    case HVM_MSR_GS_BASE:        return G_GS_BASE;
    default:                     return 0;
    }
}

static const uint32_t cpu_msr[HVM_MSR_NR] = {
    [HVM_MSR_KERNEL_GS_BASE] = 0xc0000102, [HVM_MSR_STAR] = 0xc0000081,
    [HVM_MSR_LSTAR] = 0xc0000082, [HVM_MSR_CSTAR] = 0xc0000083,
    [HVM_MSR_SFMASK] = 0xc0000084,
};

static uint64_t vmx_get_msr(struct hvm_vcpu *hv, enum hvm_msr m)
{
    uint32_t f = vmx_msr_field(m);

    return f ? vmread(f) : hv->msr[m];
}

static void vmx_set_msr(struct hvm_vcpu *hv, enum hvm_msr m, uint64_t val)
{
    uint32_t f = vmx_msr_field(m);

    if ( f )
        vmwrite(f, val);
    hv->msr[m] = val;
    if ( cpu_msr[m] )
        wrmsr(cpu_msr[m], val);
}

/* Before this vCPU runs: its syscall MSRs into the CPU. */
static void vmx_load_msrs(struct hvm_vcpu *hv)
{
    for ( unsigned int m = 0; m < HVM_MSR_NR; m++ )
        if ( cpu_msr[m] )
            wrmsr(cpu_msr[m], hv->msr[m]);
}

/* INS/OUTS: the address size and segment come from the instruction
 * information (where the CPU gives it), the rest from the qualification. */
static int vmx_string_io(struct hvm_vcpu *hv, uint64_t qual)
{
    uint32_t info = caps.io_info ? vmread(EXIT_INSN_INFO) : 1u << 7;
    unsigned int seg = qual & IOQ_IN ? SEG_ES : (info >> 15) & 7;
    struct hvm_string_io io = {
        .port = qual >> 16,
        .bytes = (qual & IOQ_SIZE_MASK) + 1,
        .addr_bytes = 2 << ((info >> 7) & 7),
        .in = qual & IOQ_IN,
        .rep = qual & IOQ_REP,
    };

    if ( seg > SEG_GS || io.addr_bytes > 8 )
        return hvm_guest_error(hv, "string port I/O: bad instruction "
                               "information", info);
    io.seg = seg;                       /* VMCS order: ES CS SS DS FS GS */
    io.seg_base = vmread(G_ES_BASE + 2 * seg);
    return hvm_string_io(hv, &io, vmread(G_RFLAGS));
}

static int vmx_io(struct hvm_vcpu *hv, uint64_t qual)
{
    unsigned int bytes = (qual & IOQ_SIZE_MASK) + 1;
    uint16_t port = qual >> 16;
    uint64_t mask = (1ull << (8 * bytes)) - 1, v;

    if ( qual & IOQ_STRING )
        return vmx_string_io(hv, qual);
    if ( qual & IOQ_IN )
    {
        v = hvm_port_in(hv, port, bytes);
        /* A 32-bit IN clears RAX's upper half, as a 32-bit MOV does. */
        hv->regs.rax = bytes == 4 ? v : (hv->regs.rax & ~mask) | v;
        return 1;
    }
    return hvm_port_out(hv, port, hv->regs.rax, bytes) ?: 1;
}

static p2m_access_t eptv_access(uint64_t qual)
{
    if ( qual & EPTV_WRITE )
        return P2M_ACCESS_W;
    return qual & EPTV_FETCH ? P2M_ACCESS_X : P2M_ACCESS_R;
}

static void vmx_get_state(struct hvm_vcpu *hv, struct hvm_cpu_state *st)
{
    uint32_t cs_ar = vmread(G_ES_AR + 2 * SEG_CS);

    *st = (struct hvm_cpu_state){
        .rip = vmread(G_RIP), .rsp = vmread(G_RSP),
        .rflags = vmread(G_RFLAGS), .cs_base = vmread(G_ES_BASE + 2 * SEG_CS),
        .cr0 = vmx_get_cr(hv, 0), .cr3 = vmread(G_CR3),
        .cr4 = vmx_get_cr(hv, 4),
        .efer = vmx_get_msr(hv, HVM_MSR_EFER), .cpl = (cs_ar >> 5) & 3,
    };
    if ( (st->efer & (1ull << 10)) && (cs_ar & (1u << 13)) )
        st->mode = 64;
    else
        st->mode = cs_ar & (1u << 14) ? 32 : 16;
}

/* The instruction at RIP completed: an STI or MOV SS shadow it was in
 * ends with it. */
static void end_shadow(void)
{
    uint64_t st = vmread(G_INTERRUPTIBILITY);

    if ( st & (BLOCK_STI | BLOCK_MOVSS) )
        vmwrite(G_INTERRUPTIBILITY, st & ~(uint64_t)(BLOCK_STI | BLOCK_MOVSS));
}

static void vmx_set_rip(struct hvm_vcpu *hv, uint64_t rip)
{
    vmwrite(G_RIP, rip);
    end_shadow();
}

static void vmx_set_rsp(struct hvm_vcpu *hv, uint64_t rsp)
{
    vmwrite(G_RSP, rsp);
}

static void skip_insn(void)
{
    vmwrite(G_RIP, vmread(G_RIP) + vmread(EXIT_INSN_LEN));
    end_shadow();
}

/* rc as the shared emulation returns it: 1 = done, move past it. */
static int vmx_done(int rc)
{
    if ( rc == 1 )
        skip_insn();
    return rc < 0 ? rc : 0;
}

/* --- Control registers (exit 28) --- */

#define CRQ_TYPE_TO_CR       0
#define CRQ_TYPE_FROM_CR     1
#define CRQ_TYPE_CLTS        2
#define CRQ_TYPE_LMSW        3
#define CR0_TS               (1ull << 3)
#define CR0_WRITE_PROTECT    (1ull << 16)
#define CR3_PAE_PDPT_MASK    0xffffffe0ull
#define PDPTE_P              1ull
#define PDPTE_RSVD           0x1e6ull   /* bits 1, 2 and 5-8 */
#define CS_AR_L              (1u << 13)

static int vmx_gp(struct hvm_vcpu *hv)
{
    vmx_inject(hv, 13, 0);
    hv->n.injected++;
    return 0;
}

/* A register by its number in the exit qualification; RSP is the VMCS's. */
static uint64_t gpr_read(struct hvm_vcpu *hv, unsigned int n)
{
    uint64_t *p = hvm_gpr_slot(&hv->regs, n);

    return p ? *p : vmread(G_RSP);
}

static void gpr_write(struct hvm_vcpu *hv, unsigned int n, uint64_t v)
{
    uint64_t *p = hvm_gpr_slot(&hv->regs, n);

    if ( p )
        *p = v;
    else
        vmwrite(G_RSP, v);
}

/* Guest-linear translations cached under this domain's VPID go (what a
 * MOV to CR0/CR3/CR4 does natively; without VPIDs every entry does). */
static void flush_linear(struct hvm_vcpu *hv)
{
    if ( caps.proc2 & PROC2_VPID )
        invvpid(hv->tlb_tag);
}

/* PAE paging outside IA-32e mode: with EPT, VM entry loads the four
 * PDPTEs from the VMCS, so a paging change we emulate reads them from the
 * guest's CR3 as the CPU would (#GP for a reserved bit). */
static int load_pdptes(struct hvm_vcpu *hv, uint64_t cr3)
{
    uint64_t gpa = cr3 & CR3_PAE_PDPT_MASK, rsvd = PDPTE_RSVD;
    const uint64_t *p = hvm_guest_ptr(hv->v->domain, gpa, 32);
    unsigned int i;

    if ( machine.paddr_bits < 64 )
        rsvd |= ~0ull << machine.paddr_bits;
    if ( !p )
        return hvm_crash(hv, "PAE paging: the PDPT at %#llx is not guest "
                         "RAM", (unsigned long long)gpa);
    for ( i = 0; i < 4; i++ )
        if ( (p[i] & PDPTE_P) && (p[i] & rsvd) )
            return vmx_gp(hv);
    for ( i = 0; i < 4; i++ )
        vmwrite(G_PDPTE0 + 2 * i, p[i]);
    return 1;
}

static bool pae_legacy(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
    return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}

/*
 * MOV to CR0 (or CLTS, LMSW) that changed an owned bit.  Checked as the
 * CPU checks it (#GP); turning paging on with EFER.LME enters IA-32e mode
 * (EFER.LMA and the entry control follow), turning it off leaves it.
 */
static int vmx_write_cr0(struct hvm_vcpu *hv, uint64_t val)
{
    uint64_t old = vmx_get_cr(hv, 0), cr4 = vmx_get_cr(hv, 4);
    uint64_t efer = vmx_get_msr(hv, HVM_MSR_EFER);
    uint32_t entry = vmread(ENTRY_CTLS);
    bool cs_l = vmread(G_ES_AR + 2 * SEG_CS) & CS_AR_L;

    if ( (val >> 32) || ((val & CR0_PG) && !(val & CR0_PE)) ||
         ((val & CR0_NW) && !(val & CR0_CD)) )
        return vmx_gp(hv);
    if ( (val & ~old & CR0_PG) && (efer & EFER_LME) )
    {
        if ( !(cr4 & CR4_PAE) || cs_l )
            return vmx_gp(hv);
        if ( !caps.efer || !caps.ia32e )
            return hvm_crash(hv, "long mode: this CPU's VMX cannot load "
                             "the guest's EFER or enter IA-32e mode");
        efer |= EFER_LMA;
        entry |= ENTRY_IA32E;
    }
    else if ( (old & ~val & CR0_PG) && (efer & EFER_LMA) )
    {
        if ( cs_l )
            return vmx_gp(hv);      /* paging off in 64-bit mode */
        efer &= ~EFER_LMA;
        entry &= ~ENTRY_IA32E;
    }
    if ( !pae_legacy(old, cr4, efer) && pae_legacy(val, cr4, efer) )
    {
        int rc = load_pdptes(hv, vmread(G_CR3));

        if ( rc != 1 )
            return rc;
    }
    vmx_set_msr(hv, HVM_MSR_EFER, efer);
    vmwrite(ENTRY_CTLS, entry);
    vmwrite(CR0_SHADOW, val);
    vmwrite(G_CR0, (val | caps.cr0_fixed0) & caps.cr0_fixed1);
    if ( (val ^ old) & (CR0_PG | CR0_WRITE_PROTECT) )
        flush_linear(hv);
    return 1;
}

/* MOV to CR3 when the CPU makes it exit (no TRUE controls). */
static int vmx_write_cr3(struct hvm_vcpu *hv, uint64_t val)
{
    uint64_t efer = vmx_get_msr(hv, HVM_MSR_EFER);

    if ( machine.paddr_bits < 64 && (val >> machine.paddr_bits) )
        return vmx_gp(hv);
    if ( pae_legacy(vmx_get_cr(hv, 0), vmx_get_cr(hv, 4), efer) )
    {
        int rc = load_pdptes(hv, val);

        if ( rc != 1 )
            return rc;
    }
    vmwrite(G_CR3, val);
    flush_linear(hv);
    return 1;
}

/* CR8 is the local APIC's task priority, TPR bits 7:4. */
static uint64_t vmx_read_cr8(struct hvm_vcpu *hv)
{
    uint32_t tpr = 0;

    if ( hv->lapic )
        vlapic_read(hv->lapic, APIC_TPR, &tpr, rdtsc());
    else
        tpr = hv->tpr;
    return (tpr >> 4) & 0xf;
}

static int vmx_write_cr8(struct hvm_vcpu *hv, uint64_t val)
{
    if ( val >> 4 )
        return vmx_gp(hv);
    if ( hv->lapic )
        vlapic_write(hv->lapic, APIC_TPR, val << 4, rdtsc());
    else
        hv->tpr = val << 4;
    return 1;
}

static int vmx_cr_access(struct hvm_vcpu *hv, uint64_t qual)
{
    unsigned int cr = qual & 15, type = (qual >> 4) & 3;
    unsigned int reg = (qual >> 8) & 15;
    uint64_t cr0 = vmx_get_cr(hv, 0);

    switch ( type )
    {
    case CRQ_TYPE_TO_CR:
        switch ( cr )
        {
        case 0: return vmx_write_cr0(hv, gpr_read(hv, reg));
        case 3: return vmx_write_cr3(hv, gpr_read(hv, reg));
        case 4:
            /* Only a bit the guest may not set (CPUID policy, VMXE) makes
             * this exit; the others are the guest's own. */
            return vmx_gp(hv);
        case 8: return vmx_write_cr8(hv, gpr_read(hv, reg));
        }
        break;
    case CRQ_TYPE_FROM_CR:
        if ( cr == 3 || cr == 8 )
        {
            gpr_write(hv, reg, cr == 3 ? vmread(G_CR3) : vmx_read_cr8(hv));
            return 1;
        }
        break;
    case CRQ_TYPE_CLTS:
        return vmx_write_cr0(hv, cr0 & ~CR0_TS);
    case CRQ_TYPE_LMSW:
        /* The low four bits; LMSW sets PE but never clears it. */
        return vmx_write_cr0(hv, (cr0 & ~0xeull) | ((qual >> 16) & 0xf) |
                                 (cr0 & CR0_PE));
    }
    return hvm_crash(hv, "control-register access exit the hypervisor "
                     "never asked for (qualification %#llx)",
                     (unsigned long long)qual);
}

/*
 * Before an entry: the platform's next interrupt goes in now if the guest
 * can take it (RFLAGS.IF, no STI/MOV SS shadow, no other event going in);
 * otherwise interrupt-window exiting brings the guest back as soon as it
 * could.
 */
static void vmx_irq_prepare(struct hvm_vcpu *hv)
{
    int vec = hvm_irq_next(hv);
    uint32_t proc = vmread(PROC_CTLS) & ~PROC_INTR_WINDOW;

    if ( vec >= 0 )
    {
        if ( !(vmread(ENTRY_INTR_INFO) & INTR_VALID) &&
             (vmread(G_RFLAGS) & RFLAGS_IF) &&
             !(vmread(G_INTERRUPTIBILITY) & (BLOCK_STI | BLOCK_MOVSS)) )
        {
            vmwrite(ENTRY_INTR_INFO, (uint8_t)vec | INTR_VALID); /* INTR */
            hvm_irq_delivered(hv, vec);
        }
        else
            proc |= PROC_INTR_WINDOW;
    }
    vmwrite(PROC_CTLS, proc);
}

static unsigned int vmx_exit_kind(uint32_t reason)
{
    switch ( reason )
    {
    case EXIT_EPT_VIOLATION: return HVM_EXIT_OTHER;    /* counted by hvm.c */
    case EXIT_IO:            return HVM_EXIT_IO;
    case EXIT_RDMSR:
    case EXIT_WRMSR:         return HVM_EXIT_MSR;
    case EXIT_CPUID:         return HVM_EXIT_CPUID;
    case EXIT_HLT:           return HVM_EXIT_HLT;
    case EXIT_EXT_INTR:
    case EXIT_PREEMPT:       return HVM_EXIT_INTR;
    case EXIT_INTR_WINDOW:   return HVM_EXIT_IRQ_WINDOW;
    case EXIT_EXCEPTION:     return HVM_EXIT_EXCEPTION;
    case EXIT_VMCALL:        return HVM_EXIT_HYPERCALL;
    case EXIT_XSETBV:        return HVM_EXIT_XSETBV;
    case EXIT_INVD:
    case EXIT_WBINVD:        return HVM_EXIT_CACHE;
    case EXIT_CR_ACCESS:     return HVM_EXIT_CR;
    }
    return HVM_EXIT_OTHER;
}

static const char *const vmx_insn[] = {
    "VMCLEAR", "VMLAUNCH", "VMPTRLD", "VMPTRST", "VMREAD", "VMRESUME",
    "VMWRITE", "VMXOFF", "VMXON",
};

/* Exits that end the domain: not ours to emulate, or a failed entry. */
static int vmx_refused(struct hvm_vcpu *hv, uint32_t reason, uint64_t qual)
{
    switch ( reason & 0xffff )
    {
    case EXIT_VMCLEAR ... EXIT_VMXON:
        return hvm_crash(hv, "%s intercepted (no nested VMX)",
                         vmx_insn[(reason & 0xffff) - EXIT_VMCLEAR]);
    case EXIT_INVEPT:
    case EXIT_INVVPID:
    case EXIT_VMFUNC:
        return hvm_crash(hv, "VMX instruction (exit %u) intercepted (no "
                         "nested VMX)", reason & 0xffff);
    case EXIT_HLT:
        return hvm_guest_error(hv, "HLT before HC_EXIT", vmread(G_RIP));
    case EXIT_TRIPLE_FAULT:
        return hvm_guest_error(hv, "shutdown (triple fault)", vmread(G_RIP));
    case EXIT_TASK_SWITCH:
        return hvm_guest_error(hv, "task switch (not emulated)", qual);
    case EXIT_BAD_GUEST:
    case EXIT_MSR_LOAD:
    case EXIT_MCE_ENTRY:
        if ( reason & EXIT_ENTRY_FAILED )
            return hvm_crash(hv, "VM entry failed (exit reason %u, "
                             "qualification %#llx): guest state refused",
                             reason & 0xffff, (unsigned long long)qual);
    }
    return hvm_crash(hv, "unexpected VMX exit reason %u (qualification "
                     "%#llx)", reason & 0xffff, (unsigned long long)qual);
}

static int vmx_handle_exit(struct hvm_vcpu *hv)
{
    uint32_t reason = vmread(EXIT_REASON);
    uint64_t qual = vmread(EXIT_QUAL);

    if ( reason & EXIT_ENTRY_FAILED )
        return vmx_refused(hv, reason, qual);
    vmx_reinject();
    if ( (reason & 0xffff) != EXIT_EPT_VIOLATION )
        hv->n.kind[vmx_exit_kind(reason & 0xffff)]++;
    switch ( reason & 0xffff )
    {
    case EXIT_INTR_WINDOW:      /* the guest can take an interrupt now */
        return 0;
    case EXIT_CR_ACCESS:
        return vmx_done(vmx_cr_access(hv, qual));
    case EXIT_HLT:
        if ( !hv->platform )
            break;
        return vmx_done(hvm_hlt(hv, vmread(G_RFLAGS) & (1u << 9)));
    case EXIT_EPT_VIOLATION:
        return hvm_nested_fault(hv, vmread(GUEST_PHYS_ADDR),
                                eptv_access(qual),
                                (qual & EPTV_LA_VALID) &&
                                !(qual & EPTV_FINAL));
    case EXIT_EPT_MISCONFIG:
        return hvm_rejected_entry(hv, vmread(GUEST_PHYS_ADDR));
    case EXIT_VMCALL:
        skip_insn();
        return hvm_hypercall(hv);
    case EXIT_IO:
        return vmx_done(vmx_io(hv, qual));
    case EXIT_CPUID:
        return vmx_done(hvm_cpuid(hv));
    case EXIT_RDMSR:
    case EXIT_WRMSR:
        return vmx_done(hvm_msr_access(hv, (reason & 0xffff) == EXIT_WRMSR));
    case EXIT_XSETBV:
        return vmx_done(hvm_xsetbv(hv));
    case EXIT_INVD:             /* no DMA, so caches are coherent: a no-op */
    case EXIT_WBINVD:
        hv->n.emulated++;
        return vmx_done(1);
    case EXIT_PREEMPT:
        return hvm_preempted(hv);
    case EXIT_EXT_INTR:         /* the host timer, acknowledged on exit */
        lapic_eoi();
        return hvm_preempted(hv);
    case EXIT_GETSEC:           /* SMX is not offered */
    case EXIT_MWAIT:
    case EXIT_MONITOR:
        vmx_inject(hv, 6, 0);
        hv->n.injected++;
        return 0;
    case EXIT_RDPMC:            /* no PMU is offered */
        vmx_inject(hv, 13, 0);
        hv->n.injected++;
        return 0;
    case EXIT_EXCEPTION:
        return hvm_guest_exception(hv, vmread(EXIT_INTR_INFO) & 0xff,
                                   vmread(EXIT_INTR_ERROR), vmread(G_RIP));
    }
    return vmx_refused(hv, reason, qual);
}

/* The timer that stops a guest after HVM_TICK_MS without an exit. */
static void vmx_arm_timer(void)
{
    if ( caps.pin & PIN_PREEMPT )
        vmwrite(G_PREEMPT_TIMER,
                MIN((tsc_khz * HVM_TICK_MS) >> caps.preempt_shift,
                    0xffffffffull));
}

static void vmx_run(struct hvm_vcpu *hv)
{
    unsigned int id = hv->v->domain->domain_id;
    uint64_t t0, t1;

    asm volatile ( "vmptrld %0" :: "m" (*(uint64_t[]){ pa(vmcs[id]) })
                   : "cc" );
    vmx_load_msrs(hv);
    while ( !hvm_should_stop(hv) )
    {
        if ( hvm_take_flush(hv) )
            invept(vmread(EPT_POINTER));
        if ( hv->platform )
            vmx_irq_prepare(hv);
        hvm_load_xcr0(hv);
        vmx_arm_timer();
        t0 = rdtsc();
        if ( vmx_enter(&hv->regs, launched[id]) )
        {
            /* VMfail: the VMCS was refused before the guest ran.  Guest
             * state is checked with an exit (above); this is the controls
             * or host state, which an injected event can also upset. */
            hvm_crash(hv, "%s failed: VM-instruction error %llu",
                      launched[id] ? "VMRESUME" : "VMLAUNCH",
                      (unsigned long long)vmread(VM_INSN_ERROR));
            break;
        }
        t1 = rdtsc();
        launched[id] = true;
        hvm_exit_tick(hv, t1 - t0);
        if ( vmx_handle_exit(hv) || hvm_check_time(hv) )
            break;
    }
}

static struct hvm_vendor vmx_vendor = {
    .name = "VMX",
    .format = P2M_FORMAT_EPT,
    .vcpu_init = vmx_vcpu_init,
    .run = vmx_run,
    .inject = vmx_inject,
    .get_cr = vmx_get_cr,
    .get_msr = vmx_get_msr,
    .set_msr = vmx_set_msr,
    .get_state = vmx_get_state,
    .set_rip = vmx_set_rip,
    .set_rsp = vmx_set_rsp,
};

/* Feature control: VMX outside SMX allowed (lock it so if the BIOS did not). */
static bool vmx_allowed(void)
{
    uint64_t fc = rdmsr(MSR_FEATURE_CONTROL);

    if ( fc & FC_LOCKED )
        return fc & FC_VMX_OUTSIDE_SMX;
    wrmsr(MSR_FEATURE_CONTROL, fc | FC_LOCKED | FC_VMX_OUTSIDE_SMX);
    return true;
}

static bool vmx_on(void)
{
    uint64_t basic = rdmsr(MSR_VMX_BASIC), region = pa(vmxon_region);
    bool fail;

    caps.revision = basic & 0x7fffffff;
    caps.io_info = basic & VMX_BASIC_IO_INFO;
    caps.preempt_shift = rdmsr(MSR_VMX_MISC) & 0x1f;
    caps.cr0_fixed0 = rdmsr(MSR_VMX_CR0_FIXED0) & ~(uint64_t)(CR0_PE | CR0_PG);
    caps.cr0_fixed1 = rdmsr(MSR_VMX_CR0_FIXED1);
    caps.cr4_fixed0 = rdmsr(MSR_VMX_CR4_FIXED0);
    caps.cr4_fixed1 = rdmsr(MSR_VMX_CR4_FIXED1);
    if ( !vmx_pick_controls(basic & VMX_BASIC_TRUE_CTLS) )
    {
        printk("VMX: no EPT with unrestricted guest\n");
        return false;
    }
    write_cr(4, fixed_cr(read_cr(4) | CR4_VMXE, MSR_VMX_CR4_FIXED0,
                         MSR_VMX_CR4_FIXED1));
    write_cr(0, fixed_cr(read_cr(0), MSR_VMX_CR0_FIXED0, MSR_VMX_CR0_FIXED1));
    *(uint32_t *)vmxon_region = caps.revision;
    asm volatile ( "vmxon %1; setbe %0" : "=qm" (fail) : "m" (region)
                   : "cc", "memory" );
    if ( fail )
        printk("VMX: VMXON failed\n");
    return !fail;
}

const struct hvm_vendor *vmx_detect(void)
{
    const uint64_t need = EPT_CAP_WALK4 | EPT_CAP_WB | EPT_CAP_2M |
                          EPT_CAP_INVEPT;

    if ( !(cpuid(1, 0).c & (1u << 5)) )
    {
        printk("VMX: not offered by this CPU\n");
        return NULL;
    }
    if ( !vmx_allowed() )
    {
        printk("VMX: disabled by firmware (IA32_FEATURE_CONTROL)\n");
        return NULL;
    }
    if ( !vmx_on() )
        return NULL;
    caps.ept_cap = rdmsr(MSR_VMX_EPT_VPID_CAP);
    if ( (caps.ept_cap & need) != need ||
         !(caps.ept_cap & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL)) )
    {
        printk("VMX: EPT capabilities %#llx lack 4 levels, WB, 2M or "
               "INVEPT\n", (unsigned long long)caps.ept_cap);
        return NULL;
    }
    vmx_vendor.leaf_1g = caps.ept_cap & EPT_CAP_1G;
    machine.ept_exec_only = caps.ept_cap & EPT_CAP_EXEC_ONLY;
    if ( (caps.proc2 & PROC2_VPID) && !(caps.ept_cap & VPID_CAP_INVVPID &&
         caps.ept_cap & (VPID_CAP_SINGLE | VPID_CAP_ALL)) )
        caps.proc2 &= ~PROC2_VPID;      /* VPIDs we could not flush */
    if ( !(caps.pin & PIN_PREEMPT) )
        lapic_timer_start(HVM_TICK_MS);
    printk("VMX: %s stops guests; VPIDs %s, WBINVD exiting %s, PAT "
           "load/save %s, INS/OUTS info %s\n",
           caps.pin & PIN_PREEMPT ? "the preemption timer" :
                                    "the local APIC timer",
           caps.proc2 & PROC2_VPID ? "yes" : "no",
           caps.proc2 & PROC2_WBINVD ? "yes" : "no", caps.pat ? "yes" : "no",
           caps.io_info ? "yes" : "no");
    printk("VMX: revision %u, EPT caps %#llx: 1G pages %s, INVEPT %s; "
           "EFER load/save %s; CR4 may be %#llx\n", caps.revision,
           (unsigned long long)caps.ept_cap,
           vmx_vendor.leaf_1g ? "yes" : "no (2M fallback)",
           caps.ept_cap & EPT_CAP_INVEPT_SINGLE ? "single-context" : "global",
           caps.efer ? "yes" : "no", (unsigned long long)caps.cr4_fixed1);
    return &vmx_vendor;
}

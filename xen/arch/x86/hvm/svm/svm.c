/*
 * AMD SVM with nested paging: detection, the VMCB of a 32-bit flat guest
 * with paging off whose nested CR3 is the domain's NPT P2M, and the VMRUN
 * loop.  Nested page faults (#VMEXIT 0x400) go to the shared handler with
 * the gpa from EXITINFO2 and the access from the EXITINFO1 error code;
 * one with the reserved-bit flag means the P2M wrote a bad entry.
 * Every instruction that could reach the host (the SVM instructions,
 * INVD, WBINVD, XSETBV, MONITOR/MWAIT, CPUID, MSRs, port I/O) is
 * intercepted; a physical interrupt (the host's local APIC timer) exits
 * too, whatever the guest's RFLAGS.IF (V_INTR_MASKING), so a guest that
 * never exits is still stopped.  Each domain has its own ASID.
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "../../boot/boot.h"
#include "../emulate.h"
#include "../hvm.h"

struct vmcb_seg {
    uint16_t sel, attr;         /* attr: type, S, DPL, P, AVL, L, DB, G */
    uint32_t limit;
    uint64_t base;
};

/* The VMCB: control area at 0, state save area at 0x400 (APM vol. 2). */
struct vmcb {
    uint32_t cr_intercepts, dr_intercepts, exception_intercepts;
    uint32_t intercepts1, intercepts2;
    uint8_t rsvd0[0x40 - 0x14];
    uint64_t iopm_base, msrpm_base, tsc_offset;
    uint32_t asid;
    uint8_t tlb_control, rsvd1[3];
    uint64_t vintr, int_state, exitcode, exitinfo1, exitinfo2, exitintinfo;
    uint64_t np_enable;
    uint8_t rsvd2[0xa8 - 0x98];
    uint64_t eventinj, n_cr3, lbr_virt;
    uint32_t clean, rsvd3;
    uint64_t next_rip;
    uint8_t rsvd4[0x400 - 0xd0];
    struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr;
    uint8_t rsvd5[0x4cb - 0x4a0];
    uint8_t cpl;
    uint32_t rsvd6;
    uint64_t efer;
    uint8_t rsvd7[0x548 - 0x4d8];
    uint64_t cr4, cr3, cr0, dr7, dr6, rflags, rip;
    uint8_t rsvd8[0x5d8 - 0x580];
    uint64_t rsp;
    uint8_t rsvd9[0x5f8 - 0x5e0];
    uint64_t rax, star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip, cr2;
    uint8_t rsvd10[0x668 - 0x648];
    uint64_t g_pat;
} __attribute__((aligned(4096)));     /* one page each, page aligned */

BUILD_BUG_ON(offsetof(struct vmcb, iopm_base) != 0x040);
BUILD_BUG_ON(offsetof(struct vmcb, asid) != 0x058);
BUILD_BUG_ON(offsetof(struct vmcb, tlb_control) != 0x05c);
BUILD_BUG_ON(offsetof(struct vmcb, exitcode) != 0x070);
BUILD_BUG_ON(offsetof(struct vmcb, np_enable) != 0x090);
BUILD_BUG_ON(offsetof(struct vmcb, n_cr3) != 0x0b0);
BUILD_BUG_ON(offsetof(struct vmcb, next_rip) != 0x0c8);
BUILD_BUG_ON(offsetof(struct vmcb, es) != 0x400);
BUILD_BUG_ON(offsetof(struct vmcb, tr) != 0x490);
BUILD_BUG_ON(offsetof(struct vmcb, cpl) != 0x4cb);
BUILD_BUG_ON(offsetof(struct vmcb, efer) != 0x4d0);
BUILD_BUG_ON(offsetof(struct vmcb, cr4) != 0x548);
BUILD_BUG_ON(offsetof(struct vmcb, rip) != 0x578);
BUILD_BUG_ON(offsetof(struct vmcb, rsp) != 0x5d8);
BUILD_BUG_ON(offsetof(struct vmcb, rax) != 0x5f8);
BUILD_BUG_ON(offsetof(struct vmcb, g_pat) != 0x668);
BUILD_BUG_ON(sizeof(struct vmcb) != 4096);

#define MSR_VM_CR        0xc0010114
#define MSR_VM_HSAVE_PA  0xc0010117
#define VM_CR_SVMDIS     (1u << 4)
#define EFER_SVME        (1ull << 12)

/* CR intercepts (VMCB 0x000): reads in bits 0-15, writes in 16-31. */
#define CR_WRITE(n)      (1u << (16 + (n)))

/* intercepts1 (VMCB 0x00C) and intercepts2 (0x010) bits. */
#define INT1_INTR        (1u << 0)
#define INT1_VINTR       (1u << 4)
#define INT1_CPUID       (1u << 18)
#define INT1_INVD        (1u << 22)
#define INT1_HLT         (1u << 24)
#define INT1_INVLPGA     (1u << 26)
#define INT1_IOIO        (1u << 27)
#define INT1_MSR         (1u << 28)
#define INT1_SHUTDOWN    (1u << 31)
#define INT2_VMRUN       (1u << 0)  /* mandatory */
#define INT2_VMMCALL     (1u << 1)
#define INT2_SVM_OTHER   0x7cu      /* VMLOAD, VMSAVE, STGI, CLGI, SKINIT */
#define INT2_RDTSCP      (1u << 7)
#define INT2_WBINVD      (1u << 9)
#define INT2_MONITOR     (1u << 10)
#define INT2_MWAIT       (3u << 11) /* MWAIT, MWAIT conditional */
#define INT2_XSETBV      (1u << 13)
#define INT2_RDPRU       (1u << 14)

#define V_INTR_MASKING   (1ull << 24)   /* VMCB 0x060 */
#define V_IRQ            (1ull << 8)
#define V_IGN_TPR        (1ull << 20)
#define INT_SHADOW       1ull           /* VMCB 0x068 */
#define RFLAGS_IF        (1ull << 9)
#define EVENT_VALID      (1u << 31)
#define EVENT_ERROR      (1u << 11)
#define EVENT_EXCEPTION  (3u << 8)

/* #VMEXIT codes. */
#define VMEXIT_CR4_WRITE 0x14
#define VMEXIT_EXCP0     0x40
#define VMEXIT_EXCP31    0x5f
#define VMEXIT_INTR      0x60
#define VMEXIT_VINTR     0x64
#define VMEXIT_CPUID     0x72
#define VMEXIT_INVD      0x76
#define VMEXIT_HLT       0x78
#define VMEXIT_INVLPGA   0x7a
#define VMEXIT_IOIO      0x7b
#define VMEXIT_MSR       0x7c
#define VMEXIT_SHUTDOWN  0x7f
#define VMEXIT_VMRUN     0x80
#define VMEXIT_VMMCALL   0x81
#define VMEXIT_SKINIT    0x86
#define VMEXIT_RDTSCP    0x87
#define VMEXIT_WBINVD    0x89
#define VMEXIT_MONITOR   0x8a
#define VMEXIT_MWAIT     0x8b
#define VMEXIT_MWAIT_C   0x8c
#define VMEXIT_XSETBV    0x8d
#define VMEXIT_RDPRU     0x8e
#define VMEXIT_NPF       0x400
#define VMEXIT_INVALID   0xffffffffu

/* Nested page fault error code (EXITINFO1). */
#define NPF_WRITE        (1ull << 1)
#define NPF_RSVD         (1ull << 3)
#define NPF_FETCH        (1ull << 4)
#define NPF_WALK         (1ull << 33)   /* on the guest's page-table walk */

/* IOIO exit information (EXITINFO1). */
#define IOIO_IN          (1u << 0)
#define IOIO_STR         (1u << 2)
#define IOIO_REP         (1u << 3)
#define IOIO_SIZE_SHIFT  4          /* bits 6:4: 1, 2 or 4 bytes */
#define IOIO_ADDR_SHIFT  7          /* bits 9:7: 16, 32 or 64-bit address */
#define IOIO_SEG_SHIFT   10         /* bits 12:10: OUTS segment (ES = 0) */
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS };
#define SEG_ATTR_L       (1u << 9)  /* VMCB attribute: 64-bit code */
#define SEG_ATTR_DB      (1u << 10) /* 32-bit code/stack */

#define TLB_FLUSH_ALL    1
#define GUEST_PAT        0x0007040600070406ull

static uint8_t hsave[4096] __attribute__((aligned(4096)));
static struct vmcb host_vmcb;
static struct vmcb vmcbs[MAX_DOMAINS];
static bool nrips;                  /* next_rip is filled on exits */
static uint32_t nr_asids, last_asid;
static uint8_t iopm[3 * 4096] __attribute__((aligned(4096)));
static uint8_t msrpm[2 * 4096] __attribute__((aligned(4096)));

void svm_vmrun(uint64_t vmcb_pa, struct hvm_regs *regs, uint64_t host_pa);
static struct hvm_vendor svm_vendor;

static uint64_t pa(const void *p)
{
    return (uintptr_t)p;        /* the hypervisor is identity mapped */
}

static struct vmcb *vmcb_of(struct hvm_vcpu *hv)
{
    return &vmcbs[hv->v->domain->domain_id];
}

static void set_seg(struct vmcb_seg *s, uint16_t sel, uint16_t attr,
                    uint32_t limit)
{
    *s = (struct vmcb_seg){ sel, attr, limit, 0 };
}

static int svm_vcpu_init(struct hvm_vcpu *hv, const struct hvm_entry *e)
{
    struct vmcb *vmcb = vmcb_of(hv);

    if ( hv->v->vcpu_id )
        return -EOPNOTSUPP;     /* one VMCB per domain */
    memset(vmcb, 0, sizeof(*vmcb));
    hv->hw = &svm_vendor;
    vmcb->exception_intercepts = hv->exc_crash | HVM_EXC_ALWAYS;
    /* CR4 writes: the CPU would take bits the CPUID policy does not offer
     * (PKE, whose PKRU nobody switches between domains, among them). */
    vmcb->cr_intercepts = CR_WRITE(4);
    vmcb->intercepts1 = INT1_INTR | INT1_CPUID | INT1_INVD | INT1_HLT |
                        INT1_INVLPGA | INT1_IOIO | INT1_MSR | INT1_SHUTDOWN;
    vmcb->intercepts2 = INT2_VMRUN | INT2_VMMCALL | INT2_SVM_OTHER |
                        INT2_RDTSCP | INT2_WBINVD | INT2_MONITOR |
                        INT2_MWAIT | INT2_XSETBV | INT2_RDPRU;
    vmcb->vintr = V_INTR_MASKING;
    vmcb->iopm_base = pa(iopm);
    vmcb->msrpm_base = pa(msrpm);
    /* A fresh ASID per domain; the first VMRUN flushes every ASID, so
     * one left over from a destroyed domain (or a wrap) holds nothing. */
    last_asid = last_asid + 1 < nr_asids ? last_asid + 1 : 1;
    vmcb->asid = hv->tlb_tag = last_asid;
    vmcb->tlb_control = TLB_FLUSH_ALL;
    vmcb->np_enable = 1;
    vmcb->n_cr3 = p2m_root_pointer(&hv->v->domain->p2m);
    vmcb->g_pat = GUEST_PAT;
    /* 32-bit flat protected mode, paging off. */
    set_seg(&vmcb->cs, e->cs, 0xc9b, 0xffffffff);
    set_seg(&vmcb->ds, e->ds, 0xc93, 0xffffffff);
    vmcb->es = vmcb->ss = vmcb->fs = vmcb->gs = vmcb->ds;
    set_seg(&vmcb->gdtr, 0, 0, e->gdt_limit ? e->gdt_limit : 0xffff);
    vmcb->gdtr.base = e->gdt_base;
    set_seg(&vmcb->idtr, 0, 0, 0xffff);
    set_seg(&vmcb->ldtr, 0, 0x82, 0xffff);
    set_seg(&vmcb->tr, 0, 0x8b, 0xffff);
    vmcb->efer = EFER_SVME;     /* QEMU runs no guest without it */
    vmcb->cr0 = 0x11;           /* PE, ET */
    vmcb->dr6 = 0xffff0ff0;
    vmcb->dr7 = 0x400;
    vmcb->rflags = 2;
    vmcb->rip = e->rip;
    vmcb->rsp = e->rsp;
    hv->regs.rsi = e->rsi;
    return 0;
}

static bool has_error_code(uint8_t vec)
{
    return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21;
}

static void svm_inject(struct hvm_vcpu *hv, uint8_t vec, uint32_t error)
{
    struct vmcb *vmcb = vmcb_of(hv);
    /* Real mode pushes no error code. */
    bool err = has_error_code(vec) && (vmcb->cr0 & CR0_PE);

    vmcb->eventinj = vec | EVENT_EXCEPTION | EVENT_VALID |
                     (err ? EVENT_ERROR | (uint64_t)error << 32 : 0);
}

static uint64_t svm_get_cr(struct hvm_vcpu *hv, unsigned int cr)
{
    struct vmcb *vmcb = vmcb_of(hv);

    return cr == 0 ? vmcb->cr0 : cr == 3 ? vmcb->cr3 : vmcb->cr4;
}

/* The MSRs the allow-list passes, in the VMCB (VMLOAD/VMSAVE move FS, GS,
 * KernelGSBase, STAR and the SYSENTER MSRs with it). */
static uint64_t *svm_msr_slot(struct vmcb *vmcb, enum hvm_msr m)
{
    switch ( m )
    {
    case HVM_MSR_EFER:           return &vmcb->efer;
    case HVM_MSR_PAT:            return &vmcb->g_pat;
    case HVM_MSR_SYSENTER_CS:    return &vmcb->sysenter_cs;
    case HVM_MSR_SYSENTER_ESP:   return &vmcb->sysenter_esp;
    case HVM_MSR_SYSENTER_EIP:   return &vmcb->sysenter_eip;
    case HVM_MSR_FS_BASE:        return &vmcb->fs.base;
    case HVM_MSR_GS_BASE:        return &vmcb->gs.base;
    case HVM_MSR_KERNEL_GS_BASE: return &vmcb->kernel_gs_base;
    case HVM_MSR_STAR:           return &vmcb->star;
    case HVM_MSR_LSTAR:          return &vmcb->lstar;
    case HVM_MSR_CSTAR:          return &vmcb->cstar;
    case HVM_MSR_SFMASK:         return &vmcb->sfmask;
    case HVM_MSR_NR:             break;
    }
    panic("SVM: no VMCB slot for MSR %u", m);
}

/* The guest's EFER hides SVME, which QEMU needs set to run it at all. */
static uint64_t svm_get_msr(struct hvm_vcpu *hv, enum hvm_msr m)
{
    uint64_t v = *svm_msr_slot(vmcb_of(hv), m);

    return m == HVM_MSR_EFER ? v & ~EFER_SVME : v;
}

static void svm_set_msr(struct hvm_vcpu *hv, enum hvm_msr m, uint64_t val)
{
    *svm_msr_slot(vmcb_of(hv), m) = m == HVM_MSR_EFER ? val | EFER_SVME : val;
}

static void svm_get_state(struct hvm_vcpu *hv, struct hvm_cpu_state *st)
{
    struct vmcb *vmcb = vmcb_of(hv);

    *st = (struct hvm_cpu_state){
        .rip = vmcb->rip, .rsp = vmcb->rsp, .rflags = vmcb->rflags,
        .cs_base = vmcb->cs.base, .cr0 = vmcb->cr0, .cr3 = vmcb->cr3,
        .cr4 = vmcb->cr4, .efer = vmcb->efer & ~EFER_SVME, .cpl = vmcb->cpl,
    };
    if ( (vmcb->efer & EFER_LMA) && (vmcb->cs.attr & SEG_ATTR_L) )
        st->mode = 64;
    else
        st->mode = vmcb->cs.attr & SEG_ATTR_DB ? 32 : 16;
}

static void svm_set_rip(struct hvm_vcpu *hv, uint64_t rip)
{
    vmcb_of(hv)->rip = rip;
}

static void svm_set_rsp(struct hvm_vcpu *hv, uint64_t rsp)
{
    vmcb_of(hv)->rsp = rsp;
}

/*
 * Before an entry: the platform's next interrupt goes in now if the guest
 * can take it (IF on, no interrupt shadow, no other event going in);
 * otherwise a virtual interrupt request with the VINTR intercept makes
 * the CPU exit as soon as it could.
 */
static void svm_irq_prepare(struct hvm_vcpu *hv, struct vmcb *vmcb)
{
    int vec = hvm_irq_next(hv);

    vmcb->vintr &= ~(V_IRQ | V_IGN_TPR | (0xffull << 32));
    vmcb->intercepts1 &= ~INT1_VINTR;
    if ( vec < 0 )
        return;
    if ( !(vmcb->eventinj & EVENT_VALID) && (vmcb->rflags & RFLAGS_IF) &&
         !(vmcb->int_state & INT_SHADOW) )
    {
        vmcb->eventinj = (uint8_t)vec | EVENT_VALID;   /* type 0: INTR */
        hvm_irq_delivered(hv, vec);
        return;
    }
    vmcb->vintr |= V_IRQ | V_IGN_TPR | ((uint64_t)vec << 32);
    vmcb->intercepts1 |= INT1_VINTR;
}

static unsigned int svm_exit_kind(uint32_t code)
{
    switch ( code )
    {
    case VMEXIT_NPF:     return HVM_EXIT_OTHER;    /* counted by hvm.c */
    case VMEXIT_IOIO:    return HVM_EXIT_IO;
    case VMEXIT_MSR:     return HVM_EXIT_MSR;
    case VMEXIT_CPUID:   return HVM_EXIT_CPUID;
    case VMEXIT_HLT:     return HVM_EXIT_HLT;
    case VMEXIT_INTR:    return HVM_EXIT_INTR;
    case VMEXIT_VINTR:   return HVM_EXIT_IRQ_WINDOW;
    case VMEXIT_CR4_WRITE: return HVM_EXIT_CR;
    case VMEXIT_VMMCALL: return HVM_EXIT_HYPERCALL;
    case VMEXIT_XSETBV:  return HVM_EXIT_XSETBV;
    case VMEXIT_INVD:
    case VMEXIT_WBINVD:  return HVM_EXIT_CACHE;
    }
    if ( code >= VMEXIT_EXCP0 && code <= VMEXIT_EXCP31 )
        return HVM_EXIT_EXCEPTION;
    return HVM_EXIT_OTHER;
}

/*
 * MOV to CR4 (intercepted; without decode assists the instruction is
 * decoded here): the policy's bits only (hvm_cr4_valid), else #GP.
 */
static int svm_cr4_write(struct hvm_vcpu *hv, struct vmcb *vmcb)
{
    struct hvm_cpu_state s;
    struct hvm_paging pg;
    struct hvm_mov_cr m;
    uint8_t buf[15];
    unsigned int got = 0;
    uint32_t pfec;
    uint64_t *slot, val, old = vmcb->cr4;
    int rc;

    svm_get_state(hv, &s);
    hvm_paging_of(&s, &pg);
    rc = hvm_fetch_insn(&pg, s.mode == 64 ? 0 : s.cs_base, s.rip, buf,
                        sizeof(buf), hvm_read_guest, hv, &got, &pfec);
    if ( !rc )
        rc = hvm_decode_mov_cr(buf, got, s.mode, &m);
    if ( rc || !m.to_cr || m.cr != 4 )
        return hvm_crash(hv, "CR4 write intercepted at rip %#llx: not a MOV "
                         "to CR4 that can be decoded (%d)",
                         (unsigned long long)s.rip, rc);
    slot = hvm_gpr_slot(&hv->regs, m.gpr);
    val = slot ? *slot : vmcb->rsp;
    if ( s.mode != 64 )
        val = (uint32_t)val;
    if ( !hvm_cr4_valid(hv, val, vmcb->efer & EFER_LMA) )
    {
        svm_inject(hv, 13, 0);
        hv->n.injected++;
        return 0;
    }
    vmcb->cr4 = val;
    if ( val != old )
        vmcb->tlb_control = TLB_FLUSH_ALL;  /* PGE, PAE, PSE, SMEP, ... */
    vmcb->rip = s.rip + m.len;
    hv->n.emulated++;
    return 0;
}

/* Past an intercepted instruction of len bytes (without NRIPS, QEMU). */
static int svm_done(struct vmcb *vmcb, int rc, unsigned int len)
{
    if ( rc == 1 )
        vmcb->rip = nrips ? vmcb->next_rip : vmcb->rip + len;
    return rc < 0 ? rc : 0;
}

/* The address size of the code segment (for QEMU, whose IOIO exit
 * information has neither address size nor segment; an address-size
 * prefix is then not seen). */
static unsigned int cs_addr_bytes(const struct vmcb *vmcb)
{
    if ( (vmcb->efer & EFER_LMA) && (vmcb->cs.attr & SEG_ATTR_L) )
        return 8;
    return vmcb->cs.attr & SEG_ATTR_DB ? 4 : 2;
}

static int svm_string_io(struct hvm_vcpu *hv, struct vmcb *vmcb)
{
    uint32_t info = vmcb->exitinfo1;
    unsigned int asz = (info >> IOIO_ADDR_SHIFT) & 7;
    unsigned int seg = (info >> IOIO_SEG_SHIFT) & 7;
    struct hvm_string_io io = {
        .port = info >> 16,
        .bytes = (info >> IOIO_SIZE_SHIFT) & 7,
        .addr_bytes = asz ? 2u << __builtin_ctz(asz) : cs_addr_bytes(vmcb),
        .in = info & IOIO_IN,
        .rep = info & IOIO_REP,
    };
    int rc;

    if ( info & IOIO_IN )
        seg = SEG_ES;
    else if ( !asz )
        seg = SEG_DS;           /* no segment given either: the default */
    if ( seg > SEG_GS || (asz & (asz - 1)) )
        return hvm_guest_error(hv, "string port I/O: bad IOIO information",
                               info);
    io.seg = seg;
    io.seg_base = (&vmcb->es)[seg].base;    /* ES CS SS DS FS GS in order */
    rc = hvm_string_io(hv, &io, vmcb->rflags);
    if ( rc == 1 )
        vmcb->rip = vmcb->exitinfo2;        /* the next RIP, even without NRIPS */
    return rc < 0 ? rc : 0;
}

/* Port I/O: output goes to the shared handler, input reads all ones. */
static int svm_ioio(struct hvm_vcpu *hv, struct vmcb *vmcb)
{
    uint32_t info = vmcb->exitinfo1;
    unsigned int bytes = (info >> IOIO_SIZE_SHIFT) & 7;
    uint16_t port = info >> 16;
    uint64_t mask = (1ull << (8 * bytes)) - 1;

    if ( info & IOIO_STR )
        return svm_string_io(hv, vmcb);
    vmcb->rip = vmcb->exitinfo2;    /* the next RIP, even without NRIPS */
    if ( info & IOIO_IN )
    {
        uint64_t v = hvm_port_in(hv, port, bytes);

        /* A 32-bit IN clears RAX's upper half, as a 32-bit MOV does. */
        hv->regs.rax = bytes == 4 ? v : (hv->regs.rax & ~mask) | v;
        return 0;
    }
    return hvm_port_out(hv, port, hv->regs.rax, bytes);
}

static p2m_access_t npf_access(uint64_t error)
{
    if ( error & NPF_WRITE )
        return P2M_ACCESS_W;
    return error & NPF_FETCH ? P2M_ACCESS_X : P2M_ACCESS_R;
}

static const char *const svm_insn[] = {
    "VMRUN", "VMMCALL", "VMLOAD", "VMSAVE", "STGI", "CLGI", "SKINIT",
};

/* Exits for instructions that are not ours to run or emulate. */
static int svm_refused(struct hvm_vcpu *hv, struct vmcb *vmcb, uint32_t code)
{
    switch ( code )
    {
    case VMEXIT_VMRUN ... VMEXIT_SKINIT:
        return hvm_crash(hv, "%s intercepted (no nested SVM)",
                         svm_insn[code - VMEXIT_VMRUN]);
    case VMEXIT_INVLPGA:
        return hvm_crash(hv, "INVLPGA intercepted (no nested SVM)");
    case VMEXIT_HLT:
        return hvm_guest_error(hv, "HLT before HC_EXIT", vmcb->rip);
    case VMEXIT_SHUTDOWN:
        return hvm_guest_error(hv, "shutdown (triple fault)", vmcb->rip);
    case VMEXIT_INVALID:
        /* Guest state the guest could reach that VMRUN refuses. */
        return hvm_crash(hv, "VMRUN refused the guest state (VMCB) at rip "
                         "%#llx", (unsigned long long)vmcb->rip);
    }
    return hvm_crash(hv, "unexpected #VMEXIT %#x (info1 %#llx info2 %#llx)",
                     code, (unsigned long long)vmcb->exitinfo1,
                     (unsigned long long)vmcb->exitinfo2);
}

static int svm_handle_exit(struct hvm_vcpu *hv, struct vmcb *vmcb)
{
    uint32_t code = vmcb->exitcode;

    if ( code != VMEXIT_NPF )
        hv->n.kind[svm_exit_kind(code)]++;
    switch ( code )
    {
    case VMEXIT_VINTR:          /* the guest can take an interrupt now */
        return 0;
    case VMEXIT_CR4_WRITE:
        return svm_cr4_write(hv, vmcb);
    case VMEXIT_HLT:
        if ( !hv->platform )
            break;
        return svm_done(vmcb, hvm_hlt(hv, vmcb->rflags & RFLAGS_IF), 1);
    case VMEXIT_NPF:
        if ( vmcb->exitinfo1 & NPF_RSVD )
            return hvm_rejected_entry(hv, vmcb->exitinfo2);
        return hvm_nested_fault(hv, vmcb->exitinfo2,
                                npf_access(vmcb->exitinfo1),
                                vmcb->exitinfo1 & NPF_WALK);
    case VMEXIT_VMMCALL:
        vmcb->rip += 3;
        return hvm_hypercall(hv);
    case VMEXIT_IOIO:
        return svm_ioio(hv, vmcb);
    case VMEXIT_INTR:
        return hvm_preempted(hv);
    case VMEXIT_CPUID:
        return svm_done(vmcb, hvm_cpuid(hv), 2);
    case VMEXIT_MSR:
        return svm_done(vmcb, hvm_msr_access(hv, vmcb->exitinfo1 & 1), 2);
    case VMEXIT_XSETBV:
        return svm_done(vmcb, hvm_xsetbv(hv), 3);
    case VMEXIT_INVD:           /* no DMA, so caches are coherent: a no-op */
    case VMEXIT_WBINVD:
        hv->n.emulated++;
        return svm_done(vmcb, 1, 2);
    case VMEXIT_RDTSCP:         /* not offered by CPUID */
    case VMEXIT_MONITOR ... VMEXIT_MWAIT_C:
    case VMEXIT_RDPRU:
        svm_inject(hv, 6, 0);
        hv->n.injected++;
        return 0;
    }
    if ( code >= VMEXIT_EXCP0 && code <= VMEXIT_EXCP31 )
        return hvm_guest_exception(hv, code - VMEXIT_EXCP0, vmcb->exitinfo1,
                                   vmcb->rip);
    return svm_refused(hv, vmcb, code);
}

static void svm_run(struct hvm_vcpu *hv)
{
    struct vmcb *vmcb = vmcb_of(hv);
    uint64_t t0, t1;

    while ( !hvm_should_stop(hv) )
    {
        vmcb->rax = hv->regs.rax;
        if ( hv->platform )
            svm_irq_prepare(hv, vmcb);
        if ( hvm_take_flush(hv) )
            vmcb->tlb_control = TLB_FLUSH_ALL;
        hvm_load_xcr0(hv);
        /* IF on with GIF off: the host timer can only exit the guest;
         * STGI afterwards lets the host take (acknowledge) it. */
        asm volatile ( "clgi; sti" ::: "memory" );
        t0 = rdtsc();
        svm_vmrun(pa(vmcb), &hv->regs, pa(&host_vmcb));
        t1 = rdtsc();
        asm volatile ( "stgi; cli" ::: "memory" );
        vmcb->tlb_control = 0;
        hv->regs.rax = vmcb->rax;
        /* An event whose delivery the exit interrupted is delivered again. */
        vmcb->eventinj = vmcb->exitintinfo & EVENT_VALID ? vmcb->exitintinfo
                                                         : 0;
        hvm_exit_tick(hv, t1 - t0);
        if ( svm_handle_exit(hv, vmcb) || hvm_check_time(hv) )
            break;
    }
}

static struct hvm_vendor svm_vendor = {
    .name = "SVM",
    .format = P2M_FORMAT_NPT,
    .vcpu_init = svm_vcpu_init,
    .run = svm_run,
    .inject = svm_inject,
    .get_cr = svm_get_cr,
    .get_msr = svm_get_msr,
    .set_msr = svm_set_msr,
    .get_state = svm_get_state,
    .set_rip = svm_set_rip,
    .set_rsp = svm_set_rsp,
};

const struct hvm_vendor *svm_detect(void)
{
    struct cpuid_regs ext = cpuid(0x80000001, 0), svm;

    if ( !(ext.c & (1u << 2)) )
    {
        printk("SVM: not offered by this CPU\n");
        return NULL;
    }
    if ( rdmsr(MSR_VM_CR) & VM_CR_SVMDIS )
    {
        printk("SVM: disabled by firmware (VM_CR.SVMDIS)\n");
        return NULL;
    }
    svm = cpuid(0x8000000a, 0);
    if ( !(svm.d & 1) )
    {
        printk("SVM: no nested paging\n");
        return NULL;
    }
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    wrmsr(MSR_VM_HSAVE_PA, pa(hsave));
    memset(iopm, 0xff, sizeof(iopm));
    memset(msrpm, 0xff, sizeof(msrpm));
    asm volatile ( "vmsave %0" :: "a" (pa(&host_vmcb)) : "memory" );
    svm_vendor.leaf_1g = ext.d & (1u << 26);    /* 1 GiB pages */
    nrips = svm.d & (1u << 3);
    nr_asids = svm.b;
    lapic_timer_start(HVM_TICK_MS);
    printk("SVM: revision %u, %u ASIDs, nested paging, 1G leaves %s, "
           "NRIPS %s\n", svm.a & 0xff, svm.b, svm_vendor.leaf_1g ? "yes" : "no",
           svm.d & (1u << 3) ? "yes" : "no");
    return &svm_vendor;
}

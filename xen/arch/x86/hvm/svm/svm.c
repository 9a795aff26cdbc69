/*
 * AMD SVM with nested paging: detection, the VMCB of a 32-bit flat guest
 * with paging off whose nested CR3 is the domain's NPT P2M, and the VMRUN
 * loop.  Nested page faults (#VMEXIT 0x400) go to the shared handler with
 * the gpa from EXITINFO2 and the access from the EXITINFO1 error code;
 * one with the reserved-bit flag means the P2M wrote a bad entry.
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "../../boot/boot.h"
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

/* intercepts1 (VMCB 0x00C) and intercepts2 (0x010) bits. */
#define INT1_HLT         (1u << 24)
#define INT1_IOIO        (1u << 27)
#define INT1_MSR         (1u << 28)
#define INT1_SHUTDOWN    (1u << 31)
#define INT2_VMRUN       (1u << 0)  /* mandatory */
#define INT2_VMMCALL     (1u << 1)
#define INT2_SVM_OTHER   0x7cu      /* VMLOAD, VMSAVE, STGI, CLGI, SKINIT */

/* #VMEXIT codes. */
#define VMEXIT_EXCP0     0x40
#define VMEXIT_EXCP31    0x5f
#define VMEXIT_HLT       0x78
#define VMEXIT_IOIO      0x7b
#define VMEXIT_MSR       0x7c
#define VMEXIT_SHUTDOWN  0x7f
#define VMEXIT_VMMCALL   0x81
#define VMEXIT_NPF       0x400
#define VMEXIT_INVALID   0xffffffffu

/* Nested page fault error code (EXITINFO1). */
#define NPF_WRITE        (1ull << 1)
#define NPF_RSVD         (1ull << 3)
#define NPF_FETCH        (1ull << 4)

/* IOIO exit information (EXITINFO1). */
#define IOIO_IN          (1u << 0)
#define IOIO_STR         (1u << 2)
#define IOIO_SIZE_SHIFT  4          /* bits 6:4: 1, 2 or 4 bytes */

#define TLB_FLUSH_ALL    1
#define GUEST_PAT        0x0007040600070406ull

static uint8_t hsave[4096] __attribute__((aligned(4096)));
static struct vmcb host_vmcb;
static struct vmcb vmcbs[MAX_DOMAINS];
static uint8_t iopm[3 * 4096] __attribute__((aligned(4096)));
static uint8_t msrpm[2 * 4096] __attribute__((aligned(4096)));

void svm_vmrun(uint64_t vmcb_pa, struct hvm_regs *regs, uint64_t host_pa);

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

static int svm_vcpu_init(struct hvm_vcpu *hv, uint32_t entry, uint32_t sp)
{
    struct vmcb *vmcb = vmcb_of(hv);

    if ( hv->v->vcpu_id )
        return -EOPNOTSUPP;     /* one VMCB per domain */
    memset(vmcb, 0, sizeof(*vmcb));
    vmcb->exception_intercepts = ~0u;
    vmcb->intercepts1 = INT1_HLT | INT1_IOIO | INT1_MSR | INT1_SHUTDOWN;
    vmcb->intercepts2 = INT2_VMRUN | INT2_VMMCALL | INT2_SVM_OTHER;
    vmcb->iopm_base = pa(iopm);
    vmcb->msrpm_base = pa(msrpm);
    vmcb->asid = 1;
    vmcb->tlb_control = TLB_FLUSH_ALL;
    vmcb->np_enable = 1;
    vmcb->n_cr3 = p2m_root_pointer(&hv->v->domain->p2m);
    vmcb->g_pat = GUEST_PAT;
    /* 32-bit flat protected mode, paging off. */
    set_seg(&vmcb->cs, 0x08, 0xc9b, 0xffffffff);
    set_seg(&vmcb->ds, 0x10, 0xc93, 0xffffffff);
    vmcb->es = vmcb->ss = vmcb->fs = vmcb->gs = vmcb->ds;
    set_seg(&vmcb->gdtr, 0, 0, 0xffff);
    set_seg(&vmcb->idtr, 0, 0, 0xffff);
    set_seg(&vmcb->ldtr, 0, 0x82, 0xffff);
    set_seg(&vmcb->tr, 0, 0x8b, 0xffff);
    vmcb->efer = EFER_SVME;     /* QEMU runs no guest without it */
    vmcb->cr0 = 0x11;           /* PE, ET */
    vmcb->dr6 = 0xffff0ff0;
    vmcb->dr7 = 0x400;
    vmcb->rflags = 2;
    vmcb->rip = entry;
    vmcb->rsp = sp;
    return 0;
}

/* Port I/O: output goes to the shared handler, input reads all ones. */
static int svm_ioio(struct hvm_vcpu *hv, struct vmcb *vmcb)
{
    uint32_t info = vmcb->exitinfo1;
    unsigned int bytes = (info >> IOIO_SIZE_SHIFT) & 7;
    uint16_t port = info >> 16;

    if ( info & IOIO_STR )
        return hvm_guest_error(hv, "string port I/O", port);
    vmcb->rip = vmcb->exitinfo2;    /* the next RIP, even without NRIPS */
    if ( info & IOIO_IN )
    {
        hv->regs.rax |= (1ull << (8 * bytes)) - 1;
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

static int svm_handle_exit(struct hvm_vcpu *hv, struct vmcb *vmcb)
{
    uint32_t code = vmcb->exitcode;

    switch ( code )
    {
    case VMEXIT_NPF:
        if ( vmcb->exitinfo1 & NPF_RSVD )
            return hvm_rejected_entry(hv, vmcb->exitinfo2);
        return hvm_nested_fault(hv, vmcb->exitinfo2,
                                npf_access(vmcb->exitinfo1));
    case VMEXIT_VMMCALL:
        vmcb->rip += 3;
        return hvm_hypercall(hv);
    case VMEXIT_IOIO:
        return svm_ioio(hv, vmcb);
    case VMEXIT_HLT:
        return hvm_guest_error(hv, "HLT before HC_EXIT", vmcb->rip);
    case VMEXIT_SHUTDOWN:
        return hvm_guest_error(hv, "shutdown (triple fault)", vmcb->rip);
    case VMEXIT_MSR:
        return hvm_guest_error(hv, "MSR access", hv->regs.rcx);
    case VMEXIT_INVALID:
        panic("SVM: VMRUN refused the VMCB (hypervisor bug)");
    }
    if ( code >= VMEXIT_EXCP0 && code <= VMEXIT_EXCP31 )
    {
        printk("d%u: exception %u at rip %#llx, error %#llx\n",
               hv->v->domain->domain_id, code - VMEXIT_EXCP0,
               (unsigned long long)vmcb->rip,
               (unsigned long long)vmcb->exitinfo1);
        return hvm_guest_error(hv, "guest exception", code - VMEXIT_EXCP0);
    }
    panic("SVM: unexpected #VMEXIT %#x (info1 %#llx info2 %#llx)", code,
          (unsigned long long)vmcb->exitinfo1,
          (unsigned long long)vmcb->exitinfo2);
}

static void svm_run(struct hvm_vcpu *hv)
{
    struct vmcb *vmcb = vmcb_of(hv);

    while ( !hvm_should_stop(hv) )
    {
        vmcb->rax = hv->regs.rax;
        if ( hvm_take_flush(hv) )
            vmcb->tlb_control = TLB_FLUSH_ALL;
        svm_vmrun(pa(vmcb), &hv->regs, pa(&host_vmcb));
        vmcb->tlb_control = 0;
        hv->regs.rax = vmcb->rax;
        hvm_exit_tick(hv);
        if ( svm_handle_exit(hv, vmcb) )
            break;
    }
}

static struct hvm_vendor svm_vendor = {
    .name = "SVM",
    .format = P2M_FORMAT_NPT,
    .vcpu_init = svm_vcpu_init,
    .run = svm_run,
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
    printk("SVM: revision %u, %u ASIDs, nested paging, 1G leaves %s, "
           "NRIPS %s\n", svm.a & 0xff, svm.b, svm_vendor.leaf_1g ? "yes" : "no",
           svm.d & (1u << 3) ? "yes" : "no");
    return &svm_vendor;
}

/*
 * The KVM walker check: an NPT-format P2M serves as a KVM guest's own CR3
 * page tables, so the guest reading virtual address gfn << 12 makes the
 * real (KVM) MMU walk our entries.  KVM guest-physical == machine address.
 *
 * kvm_vm.c drives /dev/kvm, guest.c builds the guest image (hand-assembled
 * code, GDT, IDT), kvm_walker.c builds the P2M and runs the checks.
 */
#ifndef KVM_WALKER_H
#define KVM_WALKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

/* I/O ports the guest writes to end a call (each is a KVM_EXIT_IO). */
#define PORT_PF         0x0e    /* #PF handler: rax = CR2, rbx = error code */
#define PORT_EXC        0x0f    /* any other exception: al = vector */
#define PORT_SWEEP_DONE 0x10
#define PORT_READ_DONE  0x11    /* rax = the value read */
#define PORT_WRITE_DONE 0x12
#define PORT_EXEC_OK    0x13    /* the fetch target ran */

/* Entry points, as offsets in the code page. */
#define CODE_SWEEP 0x000        /* rsi = addresses, rdi = results, rcx = n */
#define CODE_READ  0x040        /* rax = [rdi] */
#define CODE_WRITE 0x050        /* [rdi] = rsi */
#define CODE_EXEC  0x060        /* jump to rdi */
#define CODE_PF    0x080        /* IDT vector 14 */
#define CODE_EXC   0x100        /* IDT vector v (v != 14) at + 8 * v */

/* The system page: GDT, TSS and IDT. */
#define SYS_GDT 0x000
#define SYS_TSS 0x400
#define SYS_IDT 0x800
#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS  0x18
#define IDT_VECTORS 32

/* #PF error code bits. */
#define PFEC_P    (1u << 0)
#define PFEC_W    (1u << 1)
#define PFEC_U    (1u << 2)
#define PFEC_RSVD (1u << 3)
#define PFEC_I    (1u << 4)

struct kvm_vm {
    int kvm_fd, vm_fd, vcpu_fd;
    struct kvm_run *run;
    size_t run_size;
    struct kvm_cpuid2 *cpuid;   /* KVM_GET_SUPPORTED_CPUID */
    bool pdpe1gb;               /* 1 GiB leaves offered to guests */
};

/* How a guest call ended. */
struct guest_exit {
    uint32_t reason;            /* KVM_EXIT_* */
    unsigned int port;          /* for KVM_EXIT_IO, else 0 */
    struct kvm_regs regs;
    uint64_t cr2;
};

/* Registers a call starts with (all others zero). */
struct guest_call {
    uint64_t rip, rsp, rdi, rsi, rcx;
};

/*
 * Open /dev/kvm, create a VM and read the supported CPUID.  Returns 0; 1
 * when KVM is missing or unusable (skip, *why says why); -1 on a later
 * failure (*why says which).
 */
int kvm_open(struct kvm_vm *vm, const char **why);
/* Back guest-physical [0, size) with host memory at host.  0 or -errno. */
int kvm_add_memory(struct kvm_vm *vm, void *host, uint64_t size);
/*
 * Create vCPU 0 in 64-bit mode at CPL0: paging with CR3 = cr3, CR0.WP,
 * EFER.NXE, GDT/IDT/TSS from the system page at sys_va.  0 or -errno.
 */
int kvm_setup_vcpu(struct kvm_vm *vm, uint64_t cr3, uint64_t sys_va);
/* Run the guest from c until its next exit.  0 or -errno. */
int kvm_call(struct kvm_vm *vm, const struct guest_call *c,
             struct guest_exit *out);
/* Describe an exit for a diagnostic line. */
const char *kvm_exit_str(const struct guest_exit *e);
void kvm_close(struct kvm_vm *vm);

/* Write the guest code into the code page (mapped at virtual code_va). */
void guest_write_code(uint8_t *page);
/* Write GDT and IDT into the system page; handlers are in code at code_va. */
void guest_write_sys(uint8_t *page, uint64_t code_va);
/* Write a stub that reports PORT_EXEC_OK, for CODE_EXEC to jump to. */
void guest_write_exec_stub(uint8_t *where);

#endif /* KVM_WALKER_H */

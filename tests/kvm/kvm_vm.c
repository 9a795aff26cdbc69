/*
 * /dev/kvm plumbing for the walker check: one VM, one vCPU started
 * directly in 64-bit mode, calls that end at the guest's next exit.
 */
#define _GNU_SOURCE
#include "kvm_walker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define CPUID_EXT_FEATURES 0x80000001u
#define CPUID_PDPE1GB      (1u << 26)       /* EDX: 1 GiB pages */

#define X86_CR0_PE (1ull << 0)
#define X86_CR0_MP (1ull << 1)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_NE (1ull << 5)
#define X86_CR0_WP (1ull << 16)             /* CPL0 writes obey R/W */
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)               /* our leaves use bit 63 */

static char why_buf[160];

static const char *why_errno(const char *what)
{
    snprintf(why_buf, sizeof(why_buf), "%s: %s", what, strerror(errno));
    return why_buf;
}

/* KVM_GET_SUPPORTED_CPUID, growing the buffer while KVM says E2BIG. */
static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
    unsigned int n;

    for ( n = 64; n <= 4096; n *= 2 )
    {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) +
                                      n * sizeof(c->entries[0]));

        if ( !c )
            return NULL;
        c->nent = n;
        if ( ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0 )
            return c;
        free(c);
        if ( errno != E2BIG )
            return NULL;
    }
    return NULL;
}

static bool cpuid_has_pdpe1gb(const struct kvm_cpuid2 *c)
{
    unsigned int i;

    for ( i = 0; i < c->nent; i++ )
        if ( c->entries[i].function == CPUID_EXT_FEATURES )
            return c->entries[i].edx & CPUID_PDPE1GB;
    return false;
}

int kvm_open(struct kvm_vm *vm, const char **why)
{
    memset(vm, 0, sizeof(*vm));
    vm->vm_fd = vm->vcpu_fd = -1;
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if ( vm->kvm_fd < 0 )
        return *why = why_errno("open /dev/kvm"), 1;
    if ( ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION )
        return *why = "KVM_GET_API_VERSION: unexpected version", 1;
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if ( vm->vm_fd < 0 )
        return *why = why_errno("KVM_CREATE_VM"), 1;
    vm->cpuid = supported_cpuid(vm->kvm_fd);
    if ( !vm->cpuid )
        return *why = why_errno("KVM_GET_SUPPORTED_CPUID"), -1;
    vm->pdpe1gb = cpuid_has_pdpe1gb(vm->cpuid);
    return 0;
}

static int set_slot(struct kvm_vm *vm, unsigned int slot, uint64_t gpa,
                    uint64_t size, void *host)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };

    return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) ? -errno : 0;
}

int kvm_add_memory(struct kvm_vm *vm, void *host, uint64_t size)
{
    const uint64_t chunk = 1ull << 30;
    uint64_t gpa;
    int rc;

    if ( set_slot(vm, 0, 0, size, host) == 0 )
        return 0;
    /* Too big for one slot: one slot per GiB. */
    for ( gpa = 0; gpa < size; gpa += chunk )
    {
        uint64_t len = size - gpa < chunk ? size - gpa : chunk;

        rc = set_slot(vm, gpa / chunk, gpa, len, (uint8_t *)host + gpa);
        if ( rc )
            return rc;
    }
    return 0;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type,
                    bool code64)
{
    memset(s, 0, sizeof(*s));
    s->selector = sel;
    s->limit = 0xffffffff;
    s->type = type;
    s->present = 1;
    s->s = 1;
    s->g = 1;
    s->l = code64;
    s->db = !code64;
}

static void long_mode_sregs(struct kvm_sregs *s, uint64_t cr3,
                            uint64_t sys_va)
{
    set_seg(&s->cs, SEL_CODE, 0xb, true);
    set_seg(&s->ds, SEL_DATA, 0x3, false);
    s->es = s->fs = s->gs = s->ss = s->ds;
    memset(&s->tr, 0, sizeof(s->tr));
    s->tr.selector = SEL_TSS;
    s->tr.base = sys_va + SYS_TSS;
    s->tr.limit = 0x67;
    s->tr.type = 0xb;                   /* busy 64-bit TSS */
    s->tr.present = 1;
    memset(&s->ldt, 0, sizeof(s->ldt));
    s->ldt.type = 0x2;
    s->ldt.unusable = 1;
    s->gdt.base = sys_va + SYS_GDT;
    s->gdt.limit = 3 * 8 - 1;
    s->idt.base = sys_va + SYS_IDT;
    s->idt.limit = IDT_VECTORS * 16 - 1;
    s->cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE |
             X86_CR0_WP | X86_CR0_PG;
    s->cr3 = cr3;
    s->cr4 = X86_CR4_PAE;
    s->efer = EFER_LME | EFER_LMA | EFER_NXE;
}

int kvm_setup_vcpu(struct kvm_vm *vm, uint64_t cr3, uint64_t sys_va)
{
    struct kvm_sregs sregs;
    int size;

    vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
    if ( vm->vcpu_fd < 0 )
        return -errno;
    size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if ( size <= 0 )
        return -errno;
    vm->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   vm->vcpu_fd, 0);
    if ( vm->run == MAP_FAILED )
    {
        vm->run = NULL;
        return -errno;
    }
    vm->run_size = size;
    if ( ioctl(vm->vcpu_fd, KVM_SET_CPUID2, vm->cpuid) ||
         ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) )
        return -errno;
    long_mode_sregs(&sregs, cr3, sys_va);
    return ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) ? -errno : 0;
}

int kvm_call(struct kvm_vm *vm, const struct guest_call *c,
             struct guest_exit *out)
{
    struct kvm_regs regs = {
        .rip = c->rip, .rsp = c->rsp, .rdi = c->rdi, .rsi = c->rsi,
        .rcx = c->rcx, .rflags = 0x2,
    };
    struct kvm_sregs sregs;
    int rc;

    memset(out, 0, sizeof(*out));
    if ( ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) )
        return -errno;
    do
        rc = ioctl(vm->vcpu_fd, KVM_RUN, 0);
    while ( rc && errno == EINTR );
    if ( rc )
        return -errno;
    out->reason = vm->run->exit_reason;
    if ( out->reason == KVM_EXIT_IO )
        out->port = vm->run->io.port;
    if ( ioctl(vm->vcpu_fd, KVM_GET_REGS, &out->regs) ||
         ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) )
        return -errno;
    out->cr2 = sregs.cr2;
    return 0;
}

const char *kvm_exit_str(const struct guest_exit *e)
{
    static char buf[160];

    snprintf(buf, sizeof(buf),
             "exit reason %u port %#x rip %#llx rax %#llx rbx %#llx cr2 %#llx",
             e->reason, e->port, (unsigned long long)e->regs.rip,
             (unsigned long long)e->regs.rax, (unsigned long long)e->regs.rbx,
             (unsigned long long)e->cr2);
    return buf;
}

void kvm_close(struct kvm_vm *vm)
{
    if ( vm->run )
        munmap(vm->run, vm->run_size);
    if ( vm->vcpu_fd >= 0 )
        close(vm->vcpu_fd);
    if ( vm->vm_fd >= 0 )
        close(vm->vm_fd);
    if ( vm->kvm_fd >= 0 )
        close(vm->kvm_fd);
    free(vm->cpuid);
    memset(vm, 0, sizeof(*vm));
    vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
}

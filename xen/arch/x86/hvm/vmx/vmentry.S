/*
 * vmx_enter(regs, resume): enter the guest once with VMLAUNCH (resume 0)
 * or VMRESUME.  VMX keeps no general register of the guest, not even RAX:
 * all of them are swapped here with struct hvm_regs.  The host RSP is
 * written to the VMCS on every entry; the host RIP is vmx_exit_landing.
 * Returns 0 after a VM exit, 1 when the VM entry instruction failed.
 */
#define R_RAX   0
#define R_RBX   8
#define R_RCX   16
#define R_RDX   24
#define R_RSI   32
#define R_RDI   40
#define R_RBP   48
#define R_R8    56
#define R_R9    64
#define R_R10   72
#define R_R11   80
#define R_R12   88
#define R_R13   96
#define R_R14   104
#define R_R15   112
#define VMCS_HOST_RSP 0x6c14

        .text
        .globl  vmx_enter
vmx_enter:
        push    %rbp
        push    %rbx
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        push    %rdi                    /* regs */
        mov     $VMCS_HOST_RSP, %eax
        vmwrite %rsp, %rax
        test    %esi, %esi              /* flags survive the loads below */
        mov     R_RAX(%rdi), %rax
        mov     R_RBX(%rdi), %rbx
        mov     R_RCX(%rdi), %rcx
        mov     R_RDX(%rdi), %rdx
        mov     R_RSI(%rdi), %rsi
        mov     R_RBP(%rdi), %rbp
        mov     R_R8(%rdi), %r8
        mov     R_R9(%rdi), %r9
        mov     R_R10(%rdi), %r10
        mov     R_R11(%rdi), %r11
        mov     R_R12(%rdi), %r12
        mov     R_R13(%rdi), %r13
        mov     R_R14(%rdi), %r14
        mov     R_R15(%rdi), %r15
        mov     R_RDI(%rdi), %rdi
        jnz     1f
        vmlaunch
        jmp     2f
1:      vmresume
2:      mov     $1, %eax                /* the entry failed: no guest ran */
        jmp     3f

        .globl  vmx_exit_landing
vmx_exit_landing:
        push    %rdi
        mov     8(%rsp), %rdi
        mov     %rax, R_RAX(%rdi)
        mov     %rbx, R_RBX(%rdi)
        mov     %rcx, R_RCX(%rdi)
        mov     %rdx, R_RDX(%rdi)
        mov     %rsi, R_RSI(%rdi)
        mov     %rbp, R_RBP(%rdi)
        mov     %r8, R_R8(%rdi)
        mov     %r9, R_R9(%rdi)
        mov     %r10, R_R10(%rdi)
        mov     %r11, R_R11(%rdi)
        mov     %r12, R_R12(%rdi)
        mov     %r13, R_R13(%rdi)
        mov     %r14, R_R14(%rdi)
        mov     %r15, R_R15(%rdi)
        popq    R_RDI(%rdi)
        xor     %eax, %eax
3:      add     $8, %rsp                /* regs */
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %rbx
        pop     %rbp
        ret

        .section .note.GNU-stack, "", @progbits

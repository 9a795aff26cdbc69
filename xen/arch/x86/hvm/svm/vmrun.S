/*
 * svm_vmrun(vmcb_pa, regs, host_vmcb_pa): enter the guest once.
 * VMRUN loads and saves only RAX, RSP and RIP of the guest (in the VMCB);
 * the other general registers are swapped here with struct hvm_regs.
 * VMLOAD/VMSAVE move the guest's FS, GS, TR, LDTR and syscall MSRs; the
 * host's come back from host_vmcb_pa (saved once by svm_detect).
 */
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

        .text
        .globl  svm_vmrun
svm_vmrun:
        push    %rbp
        push    %rbx
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        push    %rdx                    /* host VMCB */
        push    %rdi                    /* guest VMCB */
        push    %rsi                    /* regs */

        mov     %rdi, %rax
        vmload  %rax
        mov     R_RBX(%rsi), %rbx
        mov     R_RCX(%rsi), %rcx
        mov     R_RDX(%rsi), %rdx
        mov     R_RDI(%rsi), %rdi
        mov     R_RBP(%rsi), %rbp
        mov     R_R8(%rsi), %r8
        mov     R_R9(%rsi), %r9
        mov     R_R10(%rsi), %r10
        mov     R_R11(%rsi), %r11
        mov     R_R12(%rsi), %r12
        mov     R_R13(%rsi), %r13
        mov     R_R14(%rsi), %r14
        mov     R_R15(%rsi), %r15
        mov     R_RSI(%rsi), %rsi
        vmrun   %rax
        /* #VMEXIT: RAX and RSP are the host's again. */
        push    %rdi
        mov     8(%rsp), %rdi
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
        add     $8, %rsp                /* regs */
        pop     %rax                    /* guest VMCB */
        vmsave  %rax
        pop     %rax                    /* host VMCB */
        vmload  %rax
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %rbx
        pop     %rbp
        ret

        .section .note.GNU-stack, "", @progbits

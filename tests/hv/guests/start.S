/*
 * Guest entry, 32-bit flat protected mode with paging off: the hypervisor
 * sets CS/DS/SS flat and ESP.  Clears .bss, runs guest_main(info) and
 * reports its return value with HC_EXIT.
 */
#include "guest-abi.h"

        .section .text.start, "ax"
        .code32
        .globl  _start
_start:
        cld
        mov     $__bss_start, %edi
        mov     $__bss_end, %ecx
        sub     %edi, %ecx
        xor     %eax, %eax
        rep stosb
        push    $GUEST_INFO_GPA
        call    guest_main
        mov     %eax, %ebx
        mov     $HC_EXIT, %eax
        call    hypercall_insn
1:      hlt
        jmp     1b

/* The hypercall instruction of this CPU's vendor, chosen from the info. */
        .globl  hypercall_insn
hypercall_insn:
        cmpl    $0, GUEST_INFO_GPA + 4          /* guest_info.vmx */
        jne     2f
        vmmcall
        ret
2:      vmcall
        ret

        .section .note.GNU-stack, "", @progbits

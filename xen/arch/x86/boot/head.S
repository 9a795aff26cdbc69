/*
 * The two entries.  Multiboot1 (_start): 32-bit protected mode, paging
 * off, EAX = magic, EBX = multiboot info; QEMU's -kernel and the Bochs boot
 * sector (bootsect.asm) enter here.  UEFI (efi_start64): long mode, from
 * the loader in efi/boot.c.  Both clear .bss, identity-map the first
 * 16 GiB with 2 MiB pages, load the GDT and call boot_main(magic, info).
 */
#include "boot-defs.h"

#define CR0_WP           0x00010000     /* here only: hvm/ has its own */

        .section .multiboot, "a"
        .balign 4
mb_header:
        .long MB_HEADER_MAGIC
        .long MB_HEADER_FLAGS
        .long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)

/*
 * What both entries do, in 32-bit and in 64-bit code alike (addresses
 * below 4 GiB): clear .bss, which holds the page tables and the stack, and
 * fill the tables.  PML4[0] -> PDPT; PDPT[i] -> PD page i; each PD maps
 * 1 GiB with 2 MiB leaves.  Clobbers EAX, ECX, EDI.
 */
        .macro  clear_bss_and_map
        mov     $__bss_start, %edi
        mov     $__bss_end, %ecx
        sub     %edi, %ecx
        shr     $2, %ecx
        xor     %eax, %eax
        rep stosl

        mov     $boot_pdpt, %eax
        or      $PTE_TABLE, %eax
        mov     %eax, boot_pml4
        mov     $boot_pd, %eax
        or      $PTE_TABLE, %eax
        xor     %ecx, %ecx
1:      mov     %eax, boot_pdpt(,%ecx,8)
        add     $PAGE_SIZE_4K, %eax
        inc     %ecx
        cmp     $IDMAP_GB, %ecx
        jb      1b

        /* 2 MiB leaves: entry i maps i << 21 (high dword i >> 11). */
        xor     %ecx, %ecx
2:      mov     %ecx, %eax
        shl     $21, %eax
        or      $PTE_LEAF_2M, %eax
        mov     %eax, boot_pd(,%ecx,8)
        mov     %ecx, %eax
        shr     $11, %eax
        mov     %eax, boot_pd+4(,%ecx,8)
        inc     %ecx
        cmp     $(IDMAP_GB * 512), %ecx
        jb      2b
        .endm

/* EFER.LME, and NXE (which NPT's bit 63 needs) when the CPU has NX.
 * Clobbers EAX, EBX, ECX, EDX. */
        .macro  set_efer
        mov     $0x80000001, %eax
        cpuid
        mov     %edx, %ebx              /* EDX bit 20: NX supported */
        mov     $MSR_EFER, %ecx
        rdmsr
        or      $EFER_LME, %eax
        bt      $20, %ebx
        jnc     3f
        or      $EFER_NXE, %eax
3:      wrmsr
        .endm

/* CR0: paging on, NE for VMX, caches on, and WP, so that a read-only
 * mapping (the frame table of holes, setup.c) is read-only to us too.
 * ax/dx: EAX/EDX in 32-bit code, RAX/RDX in 64-bit code. */
        .macro  set_cr0 ax, dx
        mov     %cr0, \ax
        mov     $~(CR0_CD | CR0_NW), %edx
        and     \dx, \ax
        mov     $(CR0_PG | CR0_WP | CR0_NE | CR0_PE), %edx
        or      \dx, \ax
        mov     \ax, %cr0
        .endm

        .section .text.boot, "ax"
        .code32
        .globl _start
_start:
        cli
        cld
        mov     %eax, %ebp              /* keep magic and info in */
        mov     %ebx, %esi              /* registers rep stos spares */
        clear_bss_and_map
        mov     $boot_stack_top, %esp

        /* PAE on, CR3, EFER, then paging: long mode. */
        mov     %cr4, %eax
        or      $CR4_PAE, %eax
        mov     %eax, %cr4
        mov     $boot_pml4, %eax
        mov     %eax, %cr3
        set_efer
        set_cr0 %eax, %edx

        lgdt    boot_gdtr
        ljmp    $SEL_CODE64, $start64

/*
 * UEFI entry (efi/boot.c, after ExitBootServices): 64-bit mode on the
 * firmware's page tables and stack, interrupts off, RDI = struct
 * efi_handoff (below 4 GiB).  The same tables, EFER, CR0 and GDT as the
 * multiboot entry, then boot_main(EFI_BOOT_MAGIC, handoff).
 */
        .code64
        .globl  efi_start64
efi_start64:
        cli
        cld
        mov     %edi, %esi
        mov     $EFI_BOOT_MAGIC, %ebp
        clear_bss_and_map
        mov     %cr4, %rax
        and     $~CR4_PGE, %rax         /* drops the firmware's global */
        mov     %rax, %cr4              /* TLB entries */
        mov     $boot_pml4, %eax
        mov     %rax, %cr3
        set_efer
        set_cr0 %rax, %rdx
        lgdt    boot_gdtr
        pushq   $SEL_CODE64
        pushq   $start64
        lretq

        .code64
start64:
        mov     $SEL_DATA, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
        mov     %eax, %fs
        mov     %eax, %gs
        mov     $boot_stack_top, %rsp
        xor     %ebx, %ebx
        push    %rbx                    /* a zero return address */
        mov     %ebp, %edi              /* magic */
        mov     %esi, %esi              /* info (zero-extended) */
        call    boot_main
4:      cli
        hlt
        jmp     4b

/*
 * Exception stubs: every vector pushes an error code (0 where the CPU does
 * not), then its number, and joins trap_common, which calls
 * trap_handler(struct trap_frame *) in setup.c.  Nothing returns.
 */
        .macro  trap_stub vec, has_err
        .balign 16
        .if     \has_err == 0
        push    $0
        .endif
        push    $\vec
        jmp     trap_common
        .endm

        .balign 16
        .globl  trap_stubs
trap_stubs:
        trap_stub 0, 0
        trap_stub 1, 0
        trap_stub 2, 0
        trap_stub 3, 0
        trap_stub 4, 0
        trap_stub 5, 0
        trap_stub 6, 0
        trap_stub 7, 0
        trap_stub 8, 1
        trap_stub 9, 0
        trap_stub 10, 1
        trap_stub 11, 1
        trap_stub 12, 1
        trap_stub 13, 1
        trap_stub 14, 1
        trap_stub 15, 0
        trap_stub 16, 0
        trap_stub 17, 1
        trap_stub 18, 0
        trap_stub 19, 0
        trap_stub 20, 0
        trap_stub 21, 1
        trap_stub 22, 0
        trap_stub 23, 0
        trap_stub 24, 0
        trap_stub 25, 0
        trap_stub 26, 0
        trap_stub 27, 0
        trap_stub 28, 0
        trap_stub 29, 1
        trap_stub 30, 1
        trap_stub 31, 0

/*
 * The host timer interrupt (HOST_TIMER_VECTOR): it only has to be taken
 * and acknowledged; its work, stopping a guest, was done by the VM exit
 * it caused.  Interrupts are on only around guest entry (see svm.c).
 */
        .balign 16
        .globl  irq_timer
irq_timer:
        push    %rax
        mov     $0xfee000b0, %rax       /* local APIC EOI */
        movl    $0, (%rax)
        incq    host_timer_irqs(%rip)
        pop     %rax
        iretq

        .balign 16
        .globl  irq_spurious
irq_spurious:
        iretq

trap_common:
        push    %rax
        push    %rcx
        push    %rdx
        push    %rbx
        push    %rbp
        push    %rsi
        push    %rdi
        mov     %rsp, %rdi
        and     $~15, %rsp
        call    trap_handler
5:      cli
        hlt
        jmp     5b

        .data
        .balign 8
        .globl  boot_gdt
boot_gdt:
        .quad   0                       /* null */
        .quad   0x00209a0000000000      /* SEL_CODE64: long mode, DPL 0 */
        .quad   0x00cf92000000ffff      /* SEL_DATA: flat 4 GiB, writable */
        .quad   0, 0                    /* SEL_TSS: filled by traps_init */
boot_gdt_end:

        .balign 8
        .globl  boot_gdtr
boot_gdtr:
        .word   boot_gdt_end - boot_gdt - 1
        .quad   boot_gdt

        .section .bss.pagetables, "aw", @nobits
        .balign 4096
        .globl  boot_pml4
boot_pml4:
        .skip   4096
        .globl  boot_pdpt
boot_pdpt:
        .skip   4096
boot_pd:
        .skip   4096 * IDMAP_GB
        .balign 16
boot_stack:
        .skip   BOOT_STACK_SIZE
        .globl  boot_stack_top
boot_stack_top:
        .section .note.GNU-stack, "", @progbits

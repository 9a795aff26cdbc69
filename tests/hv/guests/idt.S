/*
 * The hostile guest's exception entry points: vectors 0-31, each pushing
 * an error code (0 where the CPU pushes none) and its number, then
 * guest_exception(frame) in hostile.c, which may move the saved EIP past
 * the faulting instruction before IRET.
 */
        .macro  stub vec, has_err
        .balign 8
exc\vec:
        .if     \has_err == 0
        push    $0
        .endif
        push    $\vec
        jmp     exc_common
        .endm

        .text
        .code32
        stub 0, 0
        stub 1, 0
        stub 2, 0
        stub 3, 0
        stub 4, 0
        stub 5, 0
        stub 6, 0
        stub 7, 0
        stub 8, 1
        stub 9, 0
        stub 10, 1
        stub 11, 1
        stub 12, 1
        stub 13, 1
        stub 14, 1
        stub 15, 0
        stub 16, 0
        stub 17, 1
        stub 18, 0
        stub 19, 0
        stub 20, 0
        stub 21, 1
        stub 22, 0
        stub 23, 0
        stub 24, 0
        stub 25, 0
        stub 26, 0
        stub 27, 0
        stub 28, 0
        stub 29, 1
        stub 30, 1
        stub 31, 0

exc_common:
        pusha
        push    %esp
        call    guest_exception
        add     $4, %esp
        popa
        add     $8, %esp                /* vector, error code */
        iret

        .section .rodata
        .globl  exc_stubs
exc_stubs:
        .irp    v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .long   exc\v
        .endr

        .section .note.GNU-stack, "", @progbits

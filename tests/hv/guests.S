/*
 * The test guests that live under tests/hv/guests, embedded in the image
 * like those of xen/arch/x86/boot/guests.S (build/hv/guests/<name>.bin).
 */
        .section .rodata.guests, "a"
        .balign 16
        .globl  guest_hostile_start, guest_hostile_end
guest_hostile_start:
        .incbin "hostile.bin"
guest_hostile_end:

        .section .note.GNU-stack, "", @progbits

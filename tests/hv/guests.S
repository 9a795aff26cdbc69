/*
 * The test guests, built from tests/hv/guests/<name>.c into flat binaries
 * (build/hv/guests/<name>.bin, found through the assembler's -I path) and
 * embedded in the image: guest_<name>_start .. guest_<name>_end.
 */
        .macro  guest name
        .section .rodata.guests, "a"
        .balign 16
        .globl  guest_\name\()_start, guest_\name\()_end
guest_\name\()_start:
        .incbin "\name\().bin"
guest_\name\()_end:
        .endm

        guest touch
        guest zero
        guest balloon
        guest logdirty
        guest probe
        guest hostile

        .section .note.GNU-stack, "", @progbits

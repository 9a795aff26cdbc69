/*
 * The hypervisor image (build/hv/xen.bin: objcopy -O binary of xen.elf,
 * linked at HV_LOAD_ADDR), carried inside the UEFI loader, which copies it
 * there.  The assembler finds xen.bin on its include path (-Wa,-I).
 */
        .section .rodata.hv_blob, "a"
        .balign 16
        .globl  hv_blob_start, hv_blob_end
hv_blob_start:
        .incbin "xen.bin"
hv_blob_end:
        .section .note.GNU-stack, "", @progbits

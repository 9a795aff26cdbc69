; Bochs boot sector (Bochs has no -kernel): collect the BIOS E820 map as a
; multiboot1 memory map, load the flat image from the disk's next sectors
; (INT 13h extensions) to 64 KiB, enter 32-bit protected mode, copy the
; image to its link address (1 MiB) and jump to its multiboot entry with
; EAX = 0x2BADB002 and EBX = the multiboot info, as QEMU -kernel would.
;
; nasm -f bin -DKERNEL_SECTORS=n -DKERNEL_ENTRY=addr bootsect.asm

BITS 16
ORG 0x7c00

MBI         equ 0x8000              ; struct multiboot_info
MMAP        equ 0x8100              ; its memory map entries, 24 bytes each
LOAD_SEG    equ 0x1000              ; image loaded at 0x10000 ...
LOAD_MAX    equ 0x80000             ; ... below 0x90000
HV_ADDR     equ 0x100000            ; and copied to 1 MiB
CHUNK       equ 64                  ; sectors per INT 13h read (32 KiB)

%if KERNEL_SECTORS * 512 > LOAD_MAX
%error "image too large for the boot sector's low-memory buffer"
%endif

start:
    cli
    xor     ax, ax
    mov     ds, ax
    mov     es, ax
    mov     ss, ax
    mov     sp, 0x7c00
    sti
    mov     [drive], dl

    ; E820: entries at MMAP, each preceded by its size (20) for multiboot.
    mov     di, MMAP + 4
    xor     ebx, ebx
.e820:
    mov     eax, 0xe820
    mov     edx, 0x534d4150         ; "SMAP"
    mov     ecx, 20
    int     0x15
    jc      .e820_done
    cmp     eax, 0x534d4150
    jne     .e820_done
    mov     dword [di - 4], 20
    add     di, 24
    test    ebx, ebx
    jnz     .e820
.e820_done:
    sub     di, MMAP + 4
    mov     [MBI + 44], di          ; mmap_length
    mov     dword [MBI + 48], MMAP  ; mmap_addr
    mov     dword [MBI], 1 << 6     ; flags: the memory map is valid
    mov     si, msg_noe820
    test    di, di
    jz      fail

    ; Read the image, CHUNK sectors at a time.
.read:
    mov     ax, [left]
    test    ax, ax
    jz      .read_done
    cmp     ax, CHUNK
    jbe     .n
    mov     ax, CHUNK
.n: mov     [dap_count], ax
    mov     si, dap
    mov     ah, 0x42
    mov     dl, [drive]
    int     0x13
    mov     si, msg_disk
    jc      fail
    mov     ax, [dap_count]
    sub     [left], ax
    add     [dap_lba], ax
    shl     ax, 5                   ; sectors -> paragraphs
    add     [dap_seg], ax
    jmp     .read
.read_done:

    in      al, 0x92                ; A20 on (fast A20 gate)
    or      al, 2
    out     0x92, al

    cli
    lgdt    [gdtr]
    mov     eax, cr0
    or      eax, 1
    mov     cr0, eax
    jmp     0x08:pm32

fail:                               ; print the string at SI, then stop
    lodsb
    test    al, al
    jz      .halt
    out     0xe9, al
    jmp     fail
.halt:
    hlt
    jmp     .halt

BITS 32
pm32:
    mov     ax, 0x10
    mov     ds, ax
    mov     es, ax
    mov     ss, ax
    mov     esi, LOAD_SEG * 16
    mov     edi, HV_ADDR
    mov     ecx, KERNEL_SECTORS * 128
    cld
    rep movsd
    mov     eax, 0x2badb002
    mov     ebx, MBI
    jmp     0x08:KERNEL_ENTRY

align 8
gdt:
    dq      0
    dq      0x00cf9a000000ffff      ; 0x08: flat 32-bit code
    dq      0x00cf92000000ffff      ; 0x10: flat 32-bit data
gdtr:
    dw      gdtr - gdt - 1
    dd      gdt

dap:                                ; INT 13h extended read packet
    db      16, 0
dap_count:
    dw      0
    dw      0                       ; buffer offset
dap_seg:
    dw      LOAD_SEG
dap_lba:
    dq      1
left:
    dw      KERNEL_SECTORS
drive:
    db      0
msg_noe820:
    db      "boot: no E820 map", 10, 0
msg_disk:
    db      "boot: disk read failed", 10, 0

    times   510 - ($ - $$) db 0
    dw      0xaa55

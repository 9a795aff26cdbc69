/*
 * Constants shared by the bare-metal entry code (head.S) and the C
 * platform layer.  Plain #defines only: included from assembly.
 */
#ifndef BOOT_DEFS_H
#define BOOT_DEFS_H

#define MB_HEADER_MAGIC  0x1BADB002
#define MB_HEADER_FLAGS  0x00000002     /* bit 1: give us the memory map */
#define MB_BOOT_MAGIC    0x2BADB002     /* in EAX at entry */
#define EFI_BOOT_MAGIC   0x55454649     /* boot_main's magic from UEFI */

#define HV_LOAD_ADDR     0x100000       /* image linked and loaded at 1 MiB */
#define IDMAP_GB         16             /* identity map: first 16 GiB */
#define BOOT_STACK_SIZE  0x8000

#define PAGE_SIZE_4K     0x1000
#define PTE_TABLE        0x3            /* present, writable */
#define PTE_LEAF_2M      0x83           /* present, writable, PS */

#define CR0_PE           0x00000001
#define CR0_NE           0x00000020
#define CR0_NW           0x20000000
#define CR0_CD           0x40000000
#define CR0_PG           0x80000000
#define CR4_PAE          0x00000020
#define CR4_PGE          0x00000080
#define CR4_OSXSAVE      0x00040000
#define MSR_EFER         0xC0000080
#define EFER_LME         0x00000100
#define EFER_LMA         0x00000400
#define EFER_NXE         0x00000800

#define SEL_CODE64       0x08
#define SEL_DATA         0x10
#define SEL_TSS          0x18

/* Ports of the two emulators' debug devices. */
#define PORT_E9_CONSOLE  0xE9           /* QEMU -debugcon, Bochs e9 hack */
#define PORT_QEMU_EXIT   0xF4           /* QEMU isa-debug-exit: 2v+1 */
#define PORT_BOCHS_SHUT  0x8900         /* Bochs: write "Shutdown" */

#endif /* BOOT_DEFS_H */

/*
 * The guest image: hand-assembled 64-bit code, a GDT and an IDT.  Every
 * routine ends with an OUT to a port that names it (a KVM_EXIT_IO), then
 * HLT; the host sets fresh registers before each call.
 */
#include "kvm_walker.h"

#include <string.h>

/* CODE_SWEEP: for (; rcx; rcx--) *rdi++ = *(uint64_t *)*rsi++; */
static const uint8_t code_sweep[] = {
    0x48, 0x8b, 0x06,               /* 00: mov  rax, [rsi]  next address   */
    0x48, 0x8b, 0x00,               /* 03: mov  rax, [rax]  the MMU walk   */
    0x48, 0x89, 0x07,               /* 06: mov  [rdi], rax  store result   */
    0x48, 0x83, 0xc6, 0x08,         /* 09: add  rsi, 8                     */
    0x48, 0x83, 0xc7, 0x08,         /* 0d: add  rdi, 8                     */
    0x48, 0xff, 0xc9,               /* 11: dec  rcx                        */
    0x75, 0xea,                     /* 14: jnz  00                         */
    0xe6, PORT_SWEEP_DONE,          /* 16: out  PORT_SWEEP_DONE, al        */
    0xf4,                           /* 18: hlt                             */
};

/* CODE_READ: rax = [rdi]. */
static const uint8_t code_read[] = {
    0x48, 0x8b, 0x07,               /* mov  rax, [rdi]                     */
    0xe6, PORT_READ_DONE,           /* out  PORT_READ_DONE, al             */
    0xf4,                           /* hlt                                 */
};

/* CODE_WRITE: [rdi] = rsi. */
static const uint8_t code_write[] = {
    0x48, 0x89, 0x37,               /* mov  [rdi], rsi                     */
    0xe6, PORT_WRITE_DONE,          /* out  PORT_WRITE_DONE, al            */
    0xf4,                           /* hlt                                 */
};

/* CODE_EXEC: fetch from rdi. */
static const uint8_t code_exec[] = {
    0xff, 0xe7,                     /* jmp  rdi                            */
};

/* CODE_PF: report CR2 and the error code the CPU pushed. */
static const uint8_t code_pf[] = {
    0x5b,                           /* pop  rbx             error code     */
    0x0f, 0x20, 0xd0,               /* mov  rax, cr2                       */
    0xe6, PORT_PF,                  /* out  PORT_PF, al                    */
    0xf4,                           /* hlt                                 */
};

/* The fetch target CODE_EXEC jumps to. */
static const uint8_t exec_stub[] = {
    0xe6, PORT_EXEC_OK,             /* out  PORT_EXEC_OK, al               */
    0xf4,                           /* hlt                                 */
};

/* CODE_EXC + 8 * v: any other exception reports its vector in al. */
static void write_exc_stub(uint8_t *p, unsigned int vector)
{
    const uint8_t stub[] = {
        0xb0, (uint8_t)vector,      /* mov  al, vector                     */
        0xe6, PORT_EXC,             /* out  PORT_EXC, al                   */
        0xf4,                       /* hlt                                 */
    };

    memcpy(p, stub, sizeof(stub));
}

void guest_write_code(uint8_t *page)
{
    unsigned int v;

    memset(page, 0xf4, 4096);       /* stray jumps land on a hlt */
    memcpy(page + CODE_SWEEP, code_sweep, sizeof(code_sweep));
    memcpy(page + CODE_READ, code_read, sizeof(code_read));
    memcpy(page + CODE_WRITE, code_write, sizeof(code_write));
    memcpy(page + CODE_EXEC, code_exec, sizeof(code_exec));
    memcpy(page + CODE_PF, code_pf, sizeof(code_pf));
    for ( v = 0; v < IDT_VECTORS; v++ )
        write_exc_stub(page + CODE_EXC + 8 * v, v);
}

void guest_write_exec_stub(uint8_t *where)
{
    memcpy(where, exec_stub, sizeof(exec_stub));
}

/* A 64-bit interrupt gate (type 0xe, present, DPL 0) to target. */
static void idt_gate(uint8_t *g, uint64_t target)
{
    uint64_t lo = (target & 0xffff) | ((uint64_t)SEL_CODE << 16) |
                  (0x8eull << 40) | (((target >> 16) & 0xffff) << 48);
    uint64_t hi = target >> 32;

    memcpy(g, &lo, 8);
    memcpy(g + 8, &hi, 8);
}

void guest_write_sys(uint8_t *page, uint64_t code_va)
{
    /* Accessed bits preset: the CPU never writes the descriptors. */
    const uint64_t gdt[] = {
        0,
        0x00af9b000000ffffull,      /* SEL_CODE: 64-bit code, DPL 0 */
        0x00cf93000000ffffull,      /* SEL_DATA: flat data */
    };
    unsigned int v;

    memset(page, 0, 4096);
    memcpy(page + SYS_GDT, gdt, sizeof(gdt));
    for ( v = 0; v < IDT_VECTORS; v++ )
        idt_gate(page + SYS_IDT + 16 * v,
                 code_va + (v == 14 ? CODE_PF : CODE_EXC + 8 * v));
}

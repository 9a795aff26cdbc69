/*
 * MMIO emulation (xen/arch/x86/hvm/emulate.c): the instruction decoder,
 * the register side of the access, the guest page walk and the
 * instruction fetch.
 *
 * Decoder cases are byte sequences that GNU as 2.40 produced from the
 * instruction in each comment (`as --64/--32`, `.code16` for 16-bit,
 * checked back with objdump -d), among them what Linux's xAPIC and
 * IO-APIC accessors compile to.  Page walks run on tables built in a fake
 * guest memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xen/errno.h>

#include "../../xen/arch/x86/hvm/emulate.h"

/* ---- Decoder cases ------------------------------------------------------ */

struct dcase {
    const char *text;           /* what was assembled */
    unsigned int mode;
    uint8_t bytes[16];
    unsigned int n;
    struct hvm_mmio_insn want;
};

#define BYTES(...) { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ })

#define LOAD(l, s, r)  { .len = l, .size = s, .reg_size = s, .read = true, \
                         .reg = r, .op = MMIO_MOV }
#define STORE(l, s, r) { .len = l, .size = s, .reg_size = s, .write = true, \
                         .reg = r, .op = MMIO_MOV }
#define LOADH(l, r)    { .len = l, .size = 1, .reg_size = 1, .read = true, \
                         .reg = r, .high_byte = true, .op = MMIO_MOV }
#define STOREH(l, r)   { .len = l, .size = 1, .reg_size = 1, .write = true, \
                         .reg = r, .high_byte = true, .op = MMIO_MOV }
#define IMM(l, s, i)   { .len = l, .size = s, .reg_size = s, .write = true, \
                         .has_imm = true, .imm = i, .op = MMIO_MOV }
#define XCHG(l, s, r)  { .len = l, .size = s, .reg_size = s, .read = true, \
                         .write = true, .reg = r, .op = MMIO_XCHG }
#define ZX(l, s, rs, r) { .len = l, .size = s, .reg_size = rs, .read = true, \
                          .reg = r, .op = MMIO_MOVZX }
#define SX(l, s, rs, r) { .len = l, .size = s, .reg_size = rs, .read = true, \
                          .reg = r, .op = MMIO_MOVSX }

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13 };

static const struct dcase good[] = {
    /* Linux xAPIC accessors on the fixmap, and absolute addresses. */
    { "mov %eax,0xfffffffffee000b0", 64,
      BYTES(0x89, 0x04, 0x25, 0xb0, 0x00, 0xe0, 0xfe), STORE(7, 4, RAX) },
    { "mov 0xfffffffffee00300,%eax", 64,
      BYTES(0x8b, 0x04, 0x25, 0x00, 0x03, 0xe0, 0xfe), LOAD(7, 4, RAX) },
    { "mov %eax,0xffffffffff5fd0b0", 64,
      BYTES(0x89, 0x04, 0x25, 0xb0, 0xd0, 0x5f, 0xff), STORE(7, 4, RAX) },
    { "xchg %eax,0xffffffffff5fd300", 64,
      BYTES(0x87, 0x04, 0x25, 0x00, 0xd3, 0x5f, 0xff), XCHG(7, 4, RAX) },
    /* readl/writel through a pointer, base + displacement. */
    { "mov %esi,(%rdi)", 64, BYTES(0x89, 0x37), STORE(2, 4, RSI) },
    { "mov (%rdi),%eax", 64, BYTES(0x8b, 0x07), LOAD(2, 4, RAX) },
    { "mov 0x300(%rax),%eax", 64,
      BYTES(0x8b, 0x80, 0x00, 0x03, 0x00, 0x00), LOAD(6, 4, RAX) },
    { "mov %edx,0x310(%rcx)", 64,
      BYTES(0x89, 0x91, 0x10, 0x03, 0x00, 0x00), STORE(6, 4, RDX) },
    { "xchg 0xb0(%rdi),%eax", 64,
      BYTES(0x87, 0x87, 0xb0, 0x00, 0x00, 0x00), XCHG(6, 4, RAX) },
    /* Byte registers: AH..BH without REX, SIL/R8B with it. */
    { "movb (%rdi),%al", 64, BYTES(0x8a, 0x07), LOAD(2, 1, RAX) },
    { "movb %ah,(%rdi)", 64, BYTES(0x88, 0x27), STOREH(2, RAX) },
    { "movb %sil,(%rdi)", 64, BYTES(0x40, 0x88, 0x37), STORE(3, 1, RSI) },
    { "movb (%rdi),%sil", 64, BYTES(0x40, 0x8a, 0x37), LOAD(3, 1, RSI) },
    { "movb (%rsi),%bh", 64, BYTES(0x8a, 0x3e), LOADH(2, RBX) },
    { "movb (%rdi),%r8b", 64, BYTES(0x44, 0x8a, 0x07), LOAD(3, 1, R8) },
    /* REX.R/B, SIB, RSP/RBP/R12/R13 bases, RIP-relative. */
    { "mov %r9d,0x20(%r12)", 64,
      BYTES(0x45, 0x89, 0x4c, 0x24, 0x20), STORE(5, 4, R9) },
    { "mov %r13,0x0(%r13)", 64, BYTES(0x4d, 0x89, 0x6d, 0x00),
      STORE(4, 8, R13) },
    { "mov (%rsp),%rax", 64, BYTES(0x48, 0x8b, 0x04, 0x24), LOAD(4, 8, RAX) },
    { "mov 0x10(%rbp),%cx", 64, BYTES(0x66, 0x8b, 0x4d, 0x10),
      LOAD(4, 2, RCX) },
    { "mov %rax,0x12345678(,%rbx,8)", 64,
      BYTES(0x48, 0x89, 0x04, 0xdd, 0x78, 0x56, 0x34, 0x12),
      STORE(8, 8, RAX) },
    { "mov %eax,0x12(%r13,%r12,1)", 64,
      BYTES(0x43, 0x89, 0x44, 0x25, 0x12), STORE(5, 4, RAX) },
    { "mov (%r12),%r8d", 64, BYTES(0x45, 0x8b, 0x04, 0x24), LOAD(4, 4, R8) },
    { "mov 0x1000(%rip),%eax", 64,
      BYTES(0x8b, 0x05, 0x00, 0x10, 0x00, 0x00), LOAD(6, 4, RAX) },
    /* Immediates: imm32 sign-extended for 64-bit stores. */
    { "movl $0x12345678,(%rdi)", 64,
      BYTES(0xc7, 0x07, 0x78, 0x56, 0x34, 0x12), IMM(6, 4, 0x12345678) },
    { "movq $-2,0x8(%rdi)", 64,
      BYTES(0x48, 0xc7, 0x47, 0x08, 0xfe, 0xff, 0xff, 0xff),
      IMM(8, 8, 0xfffffffffffffffeull) },
    { "movw $0xbeef,(%rdi)", 64, BYTES(0x66, 0xc7, 0x07, 0xef, 0xbe),
      IMM(5, 2, 0xbeef) },
    { "movb $0x7f,0x10(%rbx,%rcx,4)", 64,
      BYTES(0xc6, 0x44, 0x8b, 0x10, 0x7f), IMM(5, 1, 0x7f) },
    { "movl $0x1,0x10(%rip)", 64,
      BYTES(0xc7, 0x05, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00),
      IMM(10, 4, 1) },
    /* MOVZX / MOVSX. */
    { "movzbl (%rdi),%eax", 64, BYTES(0x0f, 0xb6, 0x07), ZX(3, 1, 4, RAX) },
    { "movzwl 0x4(%rdi),%r10d", 64, BYTES(0x44, 0x0f, 0xb7, 0x57, 0x04),
      ZX(5, 2, 4, R10) },
    { "movzbq (%rdi),%rax", 64, BYTES(0x48, 0x0f, 0xb6, 0x07),
      ZX(4, 1, 8, RAX) },
    { "movzbw (%rdi),%ax", 64, BYTES(0x66, 0x0f, 0xb6, 0x07),
      ZX(4, 1, 2, RAX) },
    { "movzbl 0x12345678(%rip),%eax", 64,
      BYTES(0x0f, 0xb6, 0x05, 0x78, 0x56, 0x34, 0x12), ZX(7, 1, 4, RAX) },
    { "movsbl (%rdi),%eax", 64, BYTES(0x0f, 0xbe, 0x07), SX(3, 1, 4, RAX) },
    { "movswq (%rdi),%rax", 64, BYTES(0x48, 0x0f, 0xbf, 0x07),
      SX(4, 2, 8, RAX) },
    { "movsbw (%rdi),%dx", 64, BYTES(0x66, 0x0f, 0xbe, 0x17),
      SX(4, 1, 2, RDX) },
    /* moffs: as long as the address size. */
    { "movabs 0xfee00020,%eax", 64,
      BYTES(0xa1, 0x20, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
      LOAD(9, 4, RAX) },
    { "movabs %rax,0xfee00020", 64,
      BYTES(0x48, 0xa3, 0x20, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
      STORE(10, 8, RAX) },
    { "movabs 0xfee00020,%rax", 64,
      BYTES(0x48, 0xa1, 0x20, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
      LOAD(10, 8, RAX) },
    { "movabs 0xfee00020,%al", 64,
      BYTES(0xa0, 0x20, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
      LOAD(9, 1, RAX) },
    { "movabs %al,0xfee00020", 64,
      BYTES(0xa2, 0x20, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00),
      STORE(9, 1, RAX) },
    { "addr32 mov 0xfee00020,%eax", 64,
      BYTES(0x67, 0xa1, 0x20, 0x00, 0xe0, 0xfe), LOAD(6, 4, RAX) },
    /* Prefixes. */
    { "lock xchg %eax,(%rdi)", 64, BYTES(0xf0, 0x87, 0x07),
      XCHG(3, 4, RAX) },
    { "xchg %r11,(%rdi)", 64, BYTES(0x4c, 0x87, 0x1f), XCHG(3, 8, R11) },
    { "mov %fs:0x10,%eax", 64,
      BYTES(0x64, 0x8b, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00),
      LOAD(8, 4, RAX) },
    { "mov %eax,%es:(%edi)", 64, BYTES(0x26, 0x67, 0x89, 0x07),
      STORE(4, 4, RAX) },
    { "data16 mov %rax,(%rdi) (REX.W beats 66)", 64,
      BYTES(0x66, 0x48, 0x89, 0x07), STORE(4, 8, RAX) },
    { "rex.W; mov %ax,(%rdi) (a REX before 66 is ignored)", 64,
      BYTES(0x48, 0x66, 0x89, 0x07), STORE(4, 2, RAX) },
    { "rex.B; mov %rax,(%rdi) (the last REX counts)", 64,
      BYTES(0x41, 0x48, 0x89, 0x07), STORE(4, 8, RAX) },
    { "cs ds ss es fs mov %ax,%gs:(%edi)", 64,
      BYTES(0x2e, 0x3e, 0x36, 0x26, 0x64, 0x65, 0x66, 0x67, 0x89, 0x07),
      STORE(10, 2, RAX) },
    { "mov (%rdi),%eax with 13 prefixes: 15 bytes", 64,
      BYTES(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x66, 0x66, 0x66, 0x8b, 0x07), LOAD(15, 2, RAX) },

    /* 32-bit code. */
    { "mov %eax,0xfee000b0", 32, BYTES(0xa3, 0xb0, 0x00, 0xe0, 0xfe),
      STORE(5, 4, RAX) },
    { "mov 0xfee00300,%eax", 32, BYTES(0xa1, 0x00, 0x03, 0xe0, 0xfe),
      LOAD(5, 4, RAX) },
    { "mov 0x300(%eax),%ecx", 32,
      BYTES(0x8b, 0x88, 0x00, 0x03, 0x00, 0x00), LOAD(6, 4, RCX) },
    { "mov %edx,(%esp)", 32, BYTES(0x89, 0x14, 0x24), STORE(3, 4, RDX) },
    { "mov %ebx,0x10(%ebp)", 32, BYTES(0x89, 0x5d, 0x10), STORE(3, 4, RBX) },
    { "mov %eax,0x0(%ebp)", 32, BYTES(0x89, 0x45, 0x00), STORE(3, 4, RAX) },
    { "movb %dh,(%edi)", 32, BYTES(0x88, 0x37), STOREH(2, RDX) },
    { "movb (%ecx),%ah", 32, BYTES(0x8a, 0x21), LOADH(2, RAX) },
    { "mov 0xfee00020,%ax", 32, BYTES(0x66, 0xa1, 0x20, 0x00, 0xe0, 0xfe),
      LOAD(6, 2, RAX) },
    { "addr16 mov 0x1234,%eax", 32, BYTES(0x67, 0xa1, 0x34, 0x12),
      LOAD(4, 4, RAX) },
    { "addr16 mov %eax,(%bx,%si)", 32, BYTES(0x67, 0x89, 0x00),
      STORE(3, 4, RAX) },
    { "addr16 mov 0x12(%bp),%ax", 32, BYTES(0x67, 0x66, 0x8b, 0x46, 0x12),
      LOAD(5, 2, RAX) },
    { "addr16 mov %ecx,0x1234(%di)", 32, BYTES(0x67, 0x89, 0x8d, 0x34, 0x12),
      STORE(5, 4, RCX) },
    { "addr16 mov (%bp),%eax", 32, BYTES(0x67, 0x8b, 0x46, 0x00),
      LOAD(4, 4, RAX) },
    { "movl $0xdeadbeef,(%eax)", 32,
      BYTES(0xc7, 0x00, 0xef, 0xbe, 0xad, 0xde), IMM(6, 4, 0xdeadbeef) },
    { "movw $0x1234,(%eax)", 32, BYTES(0x66, 0xc7, 0x00, 0x34, 0x12),
      IMM(5, 2, 0x1234) },
    { "xchg %esi,(%ebx)", 32, BYTES(0x87, 0x33), XCHG(2, 4, RSI) },
    { "mov (%esp,%esi,2),%eax", 32, BYTES(0x8b, 0x04, 0x74),
      LOAD(3, 4, RAX) },
    { "mov 0x1000(,%ebp,4),%eax", 32,
      BYTES(0x8b, 0x04, 0xad, 0x00, 0x10, 0x00, 0x00), LOAD(7, 4, RAX) },
    { "mov 0x8(%ebp,%esi,1),%eax", 32, BYTES(0x8b, 0x44, 0x35, 0x08),
      LOAD(4, 4, RAX) },
    { "mov 0x12345678(%eax,%ebx,1),%edx", 32,
      BYTES(0x8b, 0x94, 0x18, 0x78, 0x56, 0x34, 0x12), LOAD(7, 4, RDX) },
    { "mov %eax,0x0(%ebp,%esi,1)", 32, BYTES(0x89, 0x44, 0x35, 0x00),
      STORE(4, 4, RAX) },

    /* 16-bit code. */
    { "mov (%bx),%ax", 16, BYTES(0x8b, 0x07), LOAD(2, 2, RAX) },
    { "mov %ax,0x1234", 16, BYTES(0xa3, 0x34, 0x12), STORE(3, 2, RAX) },
    { "mov %eax,(%si)", 16, BYTES(0x66, 0x89, 0x04), STORE(3, 4, RAX) },
    { "mov 0x10(%bp,%di),%dl", 16, BYTES(0x8a, 0x53, 0x10), LOAD(3, 1, RDX) },
    { "mov 0x1234(%bx,%si),%cx", 16, BYTES(0x8b, 0x88, 0x34, 0x12),
      LOAD(4, 2, RCX) },
    { "mov 0x1234,%si", 16, BYTES(0x8b, 0x36, 0x34, 0x12), LOAD(4, 2, RSI) },
    { "mov (%bp,%si),%ax", 16, BYTES(0x8b, 0x02), LOAD(2, 2, RAX) },
    { "mov 0x12(%bx,%di),%ax", 16, BYTES(0x8b, 0x41, 0x12), LOAD(3, 2, RAX) },
    { "mov %ax,-0x2(%bp)", 16, BYTES(0x89, 0x46, 0xfe), STORE(3, 2, RAX) },
    { "mov 0x1234,%al", 16, BYTES(0xa0, 0x34, 0x12), LOAD(3, 1, RAX) },
    { "addr32 mov %eax,0xfee000b0", 16,
      BYTES(0x67, 0x66, 0xa3, 0xb0, 0x00, 0xe0, 0xfe), STORE(7, 4, RAX) },
    { "addr32 mov (%eax),%eax", 16, BYTES(0x67, 0x66, 0x8b, 0x00),
      LOAD(4, 4, RAX) },
    { "movw $0x55aa,(%di)", 16, BYTES(0xc7, 0x05, 0xaa, 0x55),
      IMM(4, 2, 0x55aa) },
    { "movl $0x12345678,0x4(%si)", 16,
      BYTES(0x66, 0xc7, 0x44, 0x04, 0x78, 0x56, 0x34, 0x12),
      IMM(8, 4, 0x12345678) },
    { "movzbw (%bx),%ax", 16, BYTES(0x0f, 0xb6, 0x07), ZX(3, 1, 2, RAX) },
    { "movzwl (%bx),%eax", 16, BYTES(0x66, 0x0f, 0xb7, 0x07),
      ZX(4, 2, 4, RAX) },
    { "xchg %al,(%bx)", 16, BYTES(0x86, 0x07), XCHG(2, 1, RAX) },
};

static void check_insn(const char *text, const struct hvm_mmio_insn *got,
                       const struct hvm_mmio_insn *want)
{
    if ( got->len != want->len || got->size != want->size ||
         got->reg_size != want->reg_size || got->read != want->read ||
         got->write != want->write || got->has_imm != want->has_imm ||
         got->reg != want->reg || got->high_byte != want->high_byte ||
         got->op != want->op || got->imm != want->imm )
        fail_msg("%s: got len %u size %u/%u r%d w%d imm%d=%#llx reg %u%s "
                 "op %d, want len %u size %u/%u r%d w%d imm%d=%#llx reg %u%s "
                 "op %d", text,
                 got->len, got->size, got->reg_size, got->read, got->write,
                 got->has_imm, (unsigned long long)got->imm, got->reg,
                 got->high_byte ? "h" : "", got->op,
                 want->len, want->size, want->reg_size, want->read,
                 want->write, want->has_imm, (unsigned long long)want->imm,
                 want->reg, want->high_byte ? "h" : "", want->op);
}

static void test_decode_good(void **state)
{
    for ( unsigned int i = 0; i < sizeof(good) / sizeof(good[0]); i++ )
    {
        const struct dcase *c = &good[i];
        struct hvm_mmio_insn insn;
        uint8_t buf[16];
        int rc;

        /* What follows the instruction must not matter. */
        memset(buf, 0x90, sizeof(buf));
        memcpy(buf, c->bytes, c->n);
        rc = hvm_decode_mmio(buf, 15, c->mode, &insn);
        if ( rc )
            fail_msg("%s (mode %u): rc %d", c->text, c->mode, rc);
        check_insn(c->text, &insn, &c->want);
        /* Exactly len bytes are enough. */
        assert_int_equal(hvm_decode_mmio(c->bytes, c->n, c->mode, &insn), 0);
        check_insn(c->text, &insn, &c->want);
    }
}

/* Every proper prefix of a valid instruction is truncated. */
static void test_decode_truncated(void **state)
{
    for ( unsigned int i = 0; i < sizeof(good) / sizeof(good[0]); i++ )
    {
        const struct dcase *c = &good[i];
        struct hvm_mmio_insn insn = { .len = 99 };

        for ( unsigned int n = 0; n < c->n; n++ )
        {
            int rc = hvm_decode_mmio(c->bytes, n, c->mode, &insn);

            if ( rc != -EFAULT )
                fail_msg("%s with %u of %u bytes: rc %d", c->text, n, c->n,
                         rc);
            assert_int_equal(insn.len, 99);     /* out untouched */
        }
    }
}

struct bad {
    const char *text;
    unsigned int mode;
    uint8_t bytes[16];
    unsigned int n;
    int rc;
};

static const struct bad bad[] = {
    { "mov %eax,%eax (register, no memory)", 64, BYTES(0x89, 0xc0), -EINVAL },
    { "mov %ecx,%edx", 32, BYTES(0x8b, 0xd1), -EINVAL },
    { "movzbl %al,%eax", 64, BYTES(0x0f, 0xb6, 0xc0), -EINVAL },
    { "xchg %eax,%ecx (87 c1)", 64, BYTES(0x87, 0xc1), -EINVAL },
    { "lock mov %eax,(%rdi)", 64, BYTES(0xf0, 0x89, 0x07), -EINVAL },
    { "c7 /1 (undefined)", 64, BYTES(0xc7, 0x4f, 0x08, 1, 2, 3, 4), -EINVAL },
    { "c6 /7 with memory (undefined)", 32, BYTES(0xc6, 0x38, 0x01), -EINVAL },
    { "14 prefixes + mov (%rdi),%eax: 16 bytes", 64,
      BYTES(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x66, 0x66, 0x66, 0x66, 0x8b, 0x07), -EINVAL },
    { "15 prefixes", 64,
      BYTES(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x66, 0x66, 0x66, 0x66, 0x66, 0x8b), -EINVAL },
    { "mov with moffs64 and 7 prefixes: 16 bytes", 64,
      BYTES(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x48, 0xa1, 0, 0, 0, 0, 0, 0,
            0, 0), -EINVAL },
    { "add %eax,(%rdi)", 64, BYTES(0x01, 0x07), -EOPNOTSUPP },
    { "incl (%rdi)", 64, BYTES(0xff, 0x07), -EOPNOTSUPP },
    { "rep movsl", 64, BYTES(0xf3, 0xa5), -EOPNOTSUPP },
    { "movsl", 32, BYTES(0xa5), -EOPNOTSUPP },
    { "sgdt (%rax) (0f 01 /0)", 64, BYTES(0x0f, 0x01, 0x00), -EOPNOTSUPP },
    { "vmovdqu (%rdi),%ymm0 (VEX)", 64, BYTES(0xc5, 0xfe, 0x6f, 0x07),
      -EOPNOTSUPP },
    { "movdqu (%rdi),%xmm0", 64, BYTES(0xf3, 0x0f, 0x6f, 0x07),
      -EOPNOTSUPP },
    { "dec %eax; mov %eax,(%edi) (no REX in 32-bit code)", 32,
      BYTES(0x48, 0x89, 0x07), -EOPNOTSUPP },
    { "inc %ax; mov (%bx),%ax (no REX in 16-bit code)", 16,
      BYTES(0x40, 0x8b, 0x07), -EOPNOTSUPP },
    { "mov (%rdi),%eax in mode 8", 8, BYTES(0x8b, 0x07), -EINVAL },
};

static void test_decode_bad(void **state)
{
    for ( unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++ )
    {
        struct hvm_mmio_insn insn;
        int rc = hvm_decode_mmio(bad[i].bytes, bad[i].n, bad[i].mode, &insn);

        if ( rc != bad[i].rc )
            fail_msg("%s: rc %d, want %d", bad[i].text, rc, bad[i].rc);
    }
}

/* avail beyond 15 does not let an instruction grow past 15 bytes. */
static void test_decode_avail_capped(void **state)
{
    uint8_t buf[32];
    struct hvm_mmio_insn insn;

    memset(buf, 0x66, sizeof(buf));
    buf[20] = 0x8b;
    buf[21] = 0x07;
    assert_int_equal(hvm_decode_mmio(buf, sizeof(buf), 64, &insn), -EINVAL);
}

/* ---- Register side ------------------------------------------------------ */

static struct hvm_mmio_insn decode(unsigned int mode, const uint8_t *b,
                                   unsigned int n)
{
    struct hvm_mmio_insn insn;

    assert_int_equal(hvm_decode_mmio(b, n, mode, &insn), 0);
    assert_int_equal(insn.len, n);
    return insn;
}
#define DECODE(mode, ...) \
    decode(mode, (const uint8_t[]){ __VA_ARGS__ }, \
           sizeof((uint8_t[]){ __VA_ARGS__ }))

/* ---- MOV to/from control registers (SVM's CR4 write intercept) --------- */

struct crcase {
    const char *text;
    unsigned int mode;
    uint8_t bytes[16];
    unsigned int n;
    struct hvm_mov_cr want;
};

static void test_decode_mov_cr(void **state)
{
    static const struct crcase cases[] = {
        { "mov %rax,%cr4", 64, BYTES(0x0f, 0x22, 0xe0),
          { 3, true, 4, HVM_GPR_RAX } },
        { "mov %r9,%cr4", 64, BYTES(0x41, 0x0f, 0x22, 0xe1),
          { 4, true, 4, HVM_GPR_R9 } },
        { "mov %cr4,%rdx", 64, BYTES(0x0f, 0x20, 0xe2),
          { 3, false, 4, HVM_GPR_RDX } },
        { "mov %rax,%cr8", 64, BYTES(0x44, 0x0f, 0x22, 0xc0),
          { 4, true, 8, HVM_GPR_RAX } },
        { "mov %cr3,%r15", 64, BYTES(0x41, 0x0f, 0x20, 0xdf),
          { 4, false, 3, HVM_GPR_R15 } },
        { "mov %esp,%cr4", 32, BYTES(0x0f, 0x22, 0xe4),
          { 3, true, 4, HVM_GPR_RSP } },
        { "mov %cr0,%ebx", 32, BYTES(0x0f, 0x20, 0xc3),
          { 3, false, 0, HVM_GPR_RBX } },
        /* A REX before another prefix is ignored: RAX, not R9. */
        { "rex.b cs mov %rax,%cr4", 64, BYTES(0x41, 0x2e, 0x0f, 0x22, 0xe0),
          { 5, true, 4, HVM_GPR_RAX } },
    };
    struct hvm_mov_cr m;

    (void)state;
    for ( unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++ )
    {
        const struct crcase *c = &cases[i];

        memset(&m, 0xee, sizeof(m));
        if ( hvm_decode_mov_cr(c->bytes, c->n, c->mode, &m) )
            fail_msg("%s: refused", c->text);
        if ( m.len != c->want.len || m.to_cr != c->want.to_cr ||
             m.cr != c->want.cr || m.gpr != c->want.gpr )
            fail_msg("%s: len %u to %d cr %u gpr %u", c->text, m.len,
                     m.to_cr, m.cr, m.gpr);
    }
    /* Not a MOV CR: MOV %eax,%dr7 (0F 23), an MMIO MOV, LOCK MOV CR0. */
    assert_int_equal(hvm_decode_mov_cr((uint8_t[]){ 0x0f, 0x23, 0xf8 }, 3,
                                       64, &m), -EOPNOTSUPP);
    assert_int_equal(hvm_decode_mov_cr((uint8_t[]){ 0x89, 0x02 }, 2, 64, &m),
                     -EOPNOTSUPP);
    assert_int_equal(hvm_decode_mov_cr((uint8_t[]){ 0xf0, 0x0f, 0x22, 0xc0 },
                                       4, 32, &m), -EOPNOTSUPP);
    /* Truncated, and a mode that does not exist. */
    assert_int_equal(hvm_decode_mov_cr((uint8_t[]){ 0x0f, 0x22 }, 2, 64, &m),
                     -EFAULT);
    assert_int_equal(hvm_decode_mov_cr((uint8_t[]){ 0x41 }, 1, 64, &m),
                     -EFAULT);
    assert_int_equal(hvm_decode_mov_cr((uint8_t[]){ 0x0f, 0x22, 0xe0 }, 3,
                                       8, &m), -EINVAL);
    /* Outside 64-bit mode 0x41 is INC %ecx, not a REX prefix. */
    assert_int_equal(hvm_decode_mov_cr((uint8_t[]){ 0x41, 0x0f, 0x22, 0xe1 },
                                       4, 32, &m), -EOPNOTSUPP);
}

static void fill_gprs(uint64_t gpr[HVM_GPR_NR])
{
    for ( unsigned int i = 0; i < HVM_GPR_NR; i++ )
        gpr[i] = 0x1111111111111111ull * (i + 1) ^ 0x8080808080808080ull;
}

static void test_store_values(void **state)
{
    uint64_t gpr[HVM_GPR_NR];
    struct hvm_mmio_insn i;

    fill_gprs(gpr);
    gpr[RAX] = 0xaaaaaaaa12345678ull;
    gpr[RSI] = 0x00000000cafef00dull;
    gpr[RDX] = 0xffffffffffff5a3cull;
    gpr[R13] = 0x0123456789abcdefull;

    i = DECODE(64, 0x89, 0x04, 0x25, 0xb0, 0x00, 0xe0, 0xfe);  /* %eax */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0x12345678);
    i = DECODE(64, 0x89, 0x37);                 /* mov %esi,(%rdi) */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0xcafef00d);
    i = DECODE(64, 0x4d, 0x89, 0x6d, 0x00);     /* mov %r13,0x0(%r13) */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0x0123456789abcdefull);
    i = DECODE(64, 0x88, 0x27);                 /* movb %ah,(%rdi) */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0x56);
    i = DECODE(32, 0x88, 0x37);                 /* movb %dh,(%edi) */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0x5a);
    i = DECODE(64, 0x40, 0x88, 0x37);           /* movb %sil,(%rdi) */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0x0d);
    i = DECODE(16, 0xa3, 0x34, 0x12);           /* mov %ax,0x1234 */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0x5678);
    i = DECODE(64, 0x48, 0xc7, 0x47, 0x08, 0xfe, 0xff, 0xff, 0xff);
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0xfffffffffffffffeull);
    i = DECODE(64, 0xc7, 0x07, 0xfe, 0xff, 0xff, 0xff);   /* movl $-2 */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0xfffffffe);
    i = DECODE(64, 0x66, 0xc7, 0x07, 0xef, 0xbe);         /* movw $0xbeef */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0xbeef);
    i = DECODE(64, 0xc6, 0x44, 0x8b, 0x10, 0x7f);         /* movb $0x7f */
    assert_int_equal(hvm_mmio_store_value(&i, gpr), 0x7f);
}

/* A load writes only its register, with the CPU's width rules. */
static void check_load(struct hvm_mmio_insn i, unsigned int reg,
                       uint64_t before, uint64_t value, uint64_t after)
{
    uint64_t gpr[HVM_GPR_NR], want[HVM_GPR_NR];

    fill_gprs(gpr);
    gpr[reg] = before;
    memcpy(want, gpr, sizeof(want));
    want[reg] = after;
    hvm_mmio_load_result(&i, gpr, value);
    for ( unsigned int r = 0; r < HVM_GPR_NR; r++ )
        if ( gpr[r] != want[r] )
            fail_msg("gpr %u: %#llx, want %#llx", r,
                     (unsigned long long)gpr[r], (unsigned long long)want[r]);
}

static void test_load_results(void **state)
{
    const uint64_t ones = ~0ull;

    /* mov (%rdi),%eax: 32-bit destination zero-extends. */
    check_load(DECODE(64, 0x8b, 0x07), RAX, ones, 0x12345678, 0x12345678);
    /* mov (%rsp),%rax: full; bits above size are ignored elsewhere. */
    check_load(DECODE(64, 0x48, 0x8b, 0x04, 0x24), RAX, 0,
               0x8877665544332211ull, 0x8877665544332211ull);
    /* mov 0x10(%rbp),%cx: 16 bits merge, junk above them dropped. */
    check_load(DECODE(64, 0x66, 0x8b, 0x4d, 0x10), RCX,
               0x1111222233334444ull, 0xffffabcd, 0x111122223333abcdull);
    /* movb (%rdi),%al and movb (%rsi),%bh: bits 7:0 and 15:8. */
    check_load(DECODE(64, 0x8a, 0x07), RAX, ones, 0x1234, 0xffffffffffffff34);
    check_load(DECODE(64, 0x8a, 0x3e), RBX, 0x1111111111111111ull, 0x5a,
               0x1111111111115a11ull);
    /* movb (%rdi),%sil: with REX, register 6 is SIL, not DH. */
    check_load(DECODE(64, 0x40, 0x8a, 0x37), RSI, 0, 0xee, 0xee);
    /* movb (%ecx),%ah in 32-bit code. */
    check_load(DECODE(32, 0x8a, 0x21), RAX, 0xdeadbeef, 0x77, 0xdead77ef);
    /* mov 0x300(%eax),%ecx in 32-bit code. */
    check_load(DECODE(32, 0x8b, 0x88, 0x00, 0x03, 0x00, 0x00), RCX, ones,
               0x14, 0x14);
    /* movabs 0xfee00020,%rax. */
    check_load(DECODE(64, 0x48, 0xa1, 0x20, 0x00, 0xe0, 0xfe, 0, 0, 0, 0),
               RAX, 0, 0xfedcba9876543210ull, 0xfedcba9876543210ull);
    /* MOVZX. */
    check_load(DECODE(64, 0x0f, 0xb6, 0x07), RAX, ones, 0x80, 0x80);
    check_load(DECODE(64, 0x66, 0x0f, 0xb6, 0x07), RAX, ones, 0x80,
               0xffffffffffff0080ull);
    check_load(DECODE(64, 0x44, 0x0f, 0xb7, 0x57, 0x04), R10, ones, 0xfffe,
               0xfffe);
    check_load(DECODE(64, 0x48, 0x0f, 0xb6, 0x07), RAX, ones, 0x1ff, 0xff);
    /* MOVSX. */
    check_load(DECODE(64, 0x0f, 0xbe, 0x07), RAX, ones, 0x80, 0xffffff80);
    check_load(DECODE(64, 0x0f, 0xbe, 0x07), RAX, ones, 0x7f, 0x7f);
    check_load(DECODE(64, 0x48, 0x0f, 0xbf, 0x07), RAX, 0, 0x8000,
               0xffffffffffff8000ull);
    check_load(DECODE(64, 0x66, 0x0f, 0xbe, 0x17), RDX,
               0x1111111111111111ull, 0xfe, 0x111111111111fffeull);
    /* A store leaves every register alone. */
    check_load(DECODE(64, 0x89, 0x37), RSI, 0x42, 0x99, 0x42);
    check_load(DECODE(64, 0xc7, 0x07, 1, 2, 3, 4), RAX, 0x42, 0x99, 0x42);
}

/* XCHG: memory gets the register, the register the old memory value. */
static void test_xchg(void **state)
{
    uint64_t gpr[HVM_GPR_NR] = { 0 };
    struct hvm_mmio_insn i;
    uint64_t mem = 0x22222222, stored;

    gpr[RAX] = 0xaaaaaaaa11111111ull;
    i = DECODE(64, 0x87, 0x87, 0xb0, 0x00, 0x00, 0x00);
    assert_true(i.read && i.write);
    stored = hvm_mmio_store_value(&i, gpr);
    hvm_mmio_load_result(&i, gpr, mem);
    assert_int_equal(stored, 0x11111111);
    assert_int_equal(gpr[RAX], 0x22222222);     /* zero-extended */

    gpr[R11] = 0x0102030405060708ull;
    i = DECODE(64, 0x4c, 0x87, 0x1f);
    stored = hvm_mmio_store_value(&i, gpr);
    hvm_mmio_load_result(&i, gpr, 0xf0f0f0f0f0f0f0f0ull);
    assert_int_equal(stored, 0x0102030405060708ull);
    assert_int_equal(gpr[R11], 0xf0f0f0f0f0f0f0f0ull);

    gpr[RAX] = 0x1234;                          /* xchg %al,(%bx) */
    i = DECODE(16, 0x86, 0x07);
    stored = hvm_mmio_store_value(&i, gpr);
    hvm_mmio_load_result(&i, gpr, 0x99);
    assert_int_equal(stored, 0x34);
    assert_int_equal(gpr[RAX], 0x1299);
}

/* ---- Fake guest memory and page-table building -------------------------- */

#define MEM_SIZE (16u << 20)

struct fake {
    uint8_t *mem;
    uint64_t next;              /* bump allocator for table pages */
    unsigned int reads;
    uint64_t bad_lo, bad_hi;    /* reads in [lo, hi) fail */
};

static int fake_read(void *ctx, uint64_t gpa, void *buf, unsigned int len)
{
    struct fake *f = ctx;

    f->reads++;
    assert_true(len && len <= 4096);
    assert_int_equal(gpa >> 12, (gpa + len - 1) >> 12);   /* one page */
    if ( gpa + len > MEM_SIZE || (gpa >= f->bad_lo && gpa < f->bad_hi) )
        return -ENXIO;
    memcpy(buf, f->mem + gpa, len);
    return 0;
}

static struct fake *fake_new(void)
{
    struct fake *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->mem = calloc(1, MEM_SIZE);
    assert_non_null(f->mem);
    f->next = 0x100000;                 /* tables from 1 MiB up */
    return f;
}

static void fake_free(struct fake *f)
{
    free(f->mem);
    free(f);
}

static uint64_t alloc_table(struct fake *f)
{
    uint64_t t = f->next;

    f->next += 4096;
    assert_true(f->next <= 0x400000);   /* tables stay below 4 MiB */
    return t;
}

static uint64_t get_entry(struct fake *f, uint64_t gpa, unsigned int size)
{
    uint64_t v = 0;

    memcpy(&v, f->mem + gpa, size);
    return v;
}

static void put_entry(struct fake *f, uint64_t gpa, unsigned int size,
                      uint64_t v)
{
    assert_true(gpa + size <= MEM_SIZE);
    memcpy(f->mem + gpa, &v, size);
}

/* Test-side table layout for one paging mode. */
struct layout {
    unsigned int levels, esize, ibits;
};
static const struct layout L32 = { 2, 4, 10 }, LPAE = { 3, 8, 9 },
                           L4 = { 4, 8, 9 }, L5 = { 5, 8, 9 };

#define P   0x1ull
#define RW  0x2ull
#define US  0x4ull
#define PS  0x80ull
#define NX  (1ull << 63)
#define TBL (P | RW | US)

/*
 * Map la to pa with a leaf at level leaf (1 = 4 KiB) carrying flags,
 * making tables (flags TBL; PAE PDPTEs only P) as needed.  path[l] gets
 * the gpa of the entry used at level l, so tests can change it.
 */
static void map(struct fake *f, const struct layout *ly, uint64_t root,
                uint64_t la, uint64_t pa, unsigned int leaf, uint64_t flags,
                uint64_t path[6])
{
    uint64_t table = root;

    for ( unsigned int l = ly->levels; ; l-- )
    {
        unsigned int shift = 12 + ly->ibits * (l - 1);
        uint64_t idx = (la >> shift) & ((1u << ly->ibits) - 1);
        uint64_t ea = table + idx * ly->esize, e = get_entry(f, ea, ly->esize);

        if ( path )
            path[l] = ea;
        if ( l == leaf )
        {
            put_entry(f, ea, ly->esize, pa | flags);
            return;
        }
        if ( !(e & P) )
        {
            e = alloc_table(f) | (ly == &LPAE && l == 3 ? P : TBL);
            put_entry(f, ea, ly->esize, e);
        }
        table = e & 0x000ffffffffff000ull;
    }
}

static void set_bits(struct fake *f, const struct layout *ly, uint64_t ea,
                     uint64_t set, uint64_t clear)
{
    put_entry(f, ea, ly->esize, (get_entry(f, ea, ly->esize) | set) & ~clear);
}

#define CR0_PE   (1ull << 0)
#define CR0_WP   (1ull << 16)
#define CR0_PG   (1ull << 31)
#define CR4_PSE  (1ull << 4)
#define CR4_PAE  (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

static struct hvm_paging paging_32(uint64_t cr3, bool pse)
{
    return (struct hvm_paging){ .cr0 = CR0_PE | CR0_PG | CR0_WP, .cr3 = cr3,
                                .cr4 = pse ? CR4_PSE : 0, .maxphyaddr = 40 };
}

static struct hvm_paging paging_pae(uint64_t cr3)
{
    return (struct hvm_paging){ .cr0 = CR0_PE | CR0_PG | CR0_WP, .cr3 = cr3,
                                .cr4 = CR4_PAE, .efer = EFER_NXE,
                                .maxphyaddr = 40 };
}

static struct hvm_paging paging_long(uint64_t cr3, bool la57)
{
    return (struct hvm_paging){ .cr0 = CR0_PE | CR0_PG | CR0_WP, .cr3 = cr3,
                                .cr4 = CR4_PAE | (la57 ? CR4_LA57 : 0),
                                .efer = EFER_LME | EFER_LMA | EFER_NXE,
                                .maxphyaddr = 46, .gbpages = true };
}

/* Translate and expect success at want. */
static void expect_gpa(const struct hvm_paging *pg, struct fake *f,
                       uint64_t la, unsigned int acc, uint64_t want)
{
    uint64_t gpa = 0;
    uint32_t pfec = 0xdead;
    int rc = hvm_linear_to_gpa(pg, la, acc, fake_read, f, &gpa, &pfec);

    if ( rc || gpa != want )
        fail_msg("la %#llx acc %#x: rc %d pfec %#x gpa %#llx, want %#llx",
                 (unsigned long long)la, acc, rc, pfec,
                 (unsigned long long)gpa, (unsigned long long)want);
}

/* Translate and expect a page fault with error code want. */
static void expect_pf(const struct hvm_paging *pg, struct fake *f,
                      uint64_t la, unsigned int acc, uint32_t want)
{
    uint64_t gpa = 0;
    uint32_t pfec = 0xdead;
    int rc = hvm_linear_to_gpa(pg, la, acc, fake_read, f, &gpa, &pfec);

    if ( rc != HVM_WALK_PF || pfec != want )
        fail_msg("la %#llx acc %#x: rc %d pfec %#x gpa %#llx, want #PF %#x",
                 (unsigned long long)la, acc, rc, pfec,
                 (unsigned long long)gpa, want);
}

#define W HVM_ACC_WRITE
#define X HVM_ACC_FETCH

/* ---- Page walk tests ---------------------------------------------------- */

static void test_walk_paging_off(void **state)
{
    struct fake *f = fake_new();
    struct hvm_paging pg = { .cr0 = CR0_PE, .cr4 = CR4_PAE, .maxphyaddr = 40 };

    expect_gpa(&pg, f, 0x12345678, 0, 0x12345678);
    expect_gpa(&pg, f, 0x100001234ull, W, 0x1234);      /* 32-bit wrap */
    expect_gpa(&pg, f, 0xfffffffffee000b0ull, X, 0xfee000b0);
    assert_int_equal(f->reads, 0);
    fake_free(f);
}

static void test_walk_32bit(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f), path[6];
    struct hvm_paging pg = paging_32(cr3, false);

    map(f, &L32, cr3, 0x00403000, 0x00207000, 1, P | RW, path);
    expect_gpa(&pg, f, 0x00403123, W, 0x00207123);
    assert_int_equal(f->reads, 2);
    expect_gpa(&pg, f, 0x100403123ull, 0, 0x00207123);  /* 32-bit la */
    expect_pf(&pg, f, 0x00404000, 0, 0);                /* PTE absent */
    expect_pf(&pg, f, 0x00800000, W, HVM_PFEC_WRITE);   /* PDE absent */
    /* Without CR4.PSE a PDE's PS bit is ignored: still a table. */
    set_bits(f, &L32, path[2], PS, 0);
    expect_gpa(&pg, f, 0x00403123, 0, 0x00207123);
    /* No NX in 32-bit paging: bit 31 of a PTE is an address bit. */
    map(f, &L32, cr3, 0x00405000, 0x80005000, 1, P, NULL);
    expect_gpa(&pg, f, 0x00405fff, X, 0x80005fff);
    fake_free(f);
}

static void test_walk_32bit_pse(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f), path[6];
    struct hvm_paging pg = paging_32(cr3, true);

    map(f, &L32, cr3, 0x00800000, 0x00c00000, 2, P | RW | PS, path);
    expect_gpa(&pg, f, 0x00912345, W, 0x00d12345);
    assert_int_equal(f->reads, 1);
    /* PSE-36: bits 20:13 are physical-address bits 39:32. */
    set_bits(f, &L32, path[2], 0x5ull << 13, 0);
    expect_gpa(&pg, f, 0x00912345, 0, 0x500d12345ull);
    /* Bit 21 is reserved. */
    set_bits(f, &L32, path[2], 1ull << 21, 0);
    expect_pf(&pg, f, 0x00912345, 0, HVM_PFEC_PRESENT | HVM_PFEC_RSVD);
    /* With MAXPHYADDR 36 only bits 16:13 hold address bits. */
    set_bits(f, &L32, path[2], 0, 1ull << 21);
    pg.maxphyaddr = 36;
    expect_gpa(&pg, f, 0x00912345, 0, 0x500d12345ull);
    set_bits(f, &L32, path[2], 1ull << 17, 0);
    expect_pf(&pg, f, 0x00912345, 0, HVM_PFEC_PRESENT | HVM_PFEC_RSVD);
    fake_free(f);
}

static void test_walk_pae(void **state)
{
    struct fake *f = fake_new();
    uint64_t pdpt = alloc_table(f) + 0x20, path[6];     /* 32-byte aligned */
    struct hvm_paging pg = paging_pae(pdpt);

    map(f, &LPAE, pdpt, 0xc0201000, 0x00345000, 1, P | RW | US, path);
    expect_gpa(&pg, f, 0xc0201abc, W, 0x00345abc);
    assert_int_equal(f->reads, 3);
    expect_gpa(&pg, f, 0x1c0201abcull, 0, 0x00345abc);  /* 32-bit la */
    /* 2 MiB leaf; physical addresses above 4 GiB. */
    map(f, &LPAE, pdpt, 0x40200000, 0x7fc00000ull << 4, 2, P | PS, NULL);
    expect_gpa(&pg, f, 0x40212345, 0, 0x7fc012345ull);
    /* PDPTE not present; PDPTE reserved bits (R/W, NX). */
    expect_pf(&pg, f, 0x80000000, 0, 0);
    set_bits(f, &LPAE, path[3], RW, 0);
    expect_pf(&pg, f, 0xc0201abc, 0, HVM_PFEC_PRESENT | HVM_PFEC_RSVD);
    set_bits(f, &LPAE, path[3], NX, RW);
    expect_pf(&pg, f, 0xc0201abc, 0, HVM_PFEC_PRESENT | HVM_PFEC_RSVD);
    set_bits(f, &LPAE, path[3], 0, NX);
    expect_gpa(&pg, f, 0xc0201abc, 0, 0x00345abc);
    /* NX with EFER.NXE; reserved without it (I/D set only with NXE). */
    set_bits(f, &LPAE, path[1], NX, 0);
    expect_gpa(&pg, f, 0xc0201abc, 0, 0x00345abc);
    expect_pf(&pg, f, 0xc0201abc, X, HVM_PFEC_PRESENT | HVM_PFEC_FETCH);
    pg.efer = 0;
    expect_pf(&pg, f, 0xc0201abc, X, HVM_PFEC_PRESENT | HVM_PFEC_RSVD);
    pg.efer = EFER_NXE;
    set_bits(f, &LPAE, path[1], 0, NX);
    /* Bits 62:MAXPHYADDR are reserved in PAE paging (not 51:M). */
    set_bits(f, &LPAE, path[1], 1ull << 55, 0);
    expect_pf(&pg, f, 0xc0201abc, W,
              HVM_PFEC_PRESENT | HVM_PFEC_RSVD | HVM_PFEC_WRITE);
    set_bits(f, &LPAE, path[1], 0, 1ull << 55);
    /* 2 MiB leaf: bits 20:13 reserved, bit 12 (PAT) not. */
    map(f, &LPAE, pdpt, 0x40400000, 0x00400000 | (1u << 12), 2, P | PS,
        path);
    expect_gpa(&pg, f, 0x40400010, 0, 0x00400010);
    set_bits(f, &LPAE, path[2], 1u << 13, 0);
    expect_pf(&pg, f, 0x40400010, 0, HVM_PFEC_PRESENT | HVM_PFEC_RSVD);
    fake_free(f);
}

static void test_walk_long(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f), path[6];
    struct hvm_paging pg = paging_long(cr3 | 0x018 /* PWT PCD */, false);
    const uint64_t hi = 0xffff888000000000ull;

    map(f, &L4, cr3, hi + 0x1000, 0x00456000, 1, P | RW, path);
    expect_gpa(&pg, f, hi + 0x1234, W, 0x00456234);
    assert_int_equal(f->reads, 4);
    map(f, &L4, cr3, hi + 0x40000000, 0x12340000000ull, 3, P | RW | PS,
        NULL);
    expect_gpa(&pg, f, hi + 0x7fedcba9, 0, 0x12340000000ull + 0x3fedcba9);
    map(f, &L4, cr3, 0x200000, 0x3fe00000, 2, P | PS, NULL);
    expect_gpa(&pg, f, 0x2abcde, 0, 0x3feabcde);
    /* Not canonical for 48 bits: #GP, no walk. */
    f->reads = 0;
    assert_int_equal(hvm_linear_to_gpa(&pg, 0x0000800000000000ull, 0,
                                       fake_read, f, &(uint64_t){ 0 },
                                       &(uint32_t){ 0 }), HVM_WALK_GP);
    assert_int_equal(hvm_linear_to_gpa(&pg, 0xffff7fffffffffffull, 0,
                                       fake_read, f, &(uint64_t){ 0 },
                                       &(uint32_t){ 0 }), HVM_WALK_GP);
    assert_int_equal(f->reads, 0);
    /* Absent at each level. */
    expect_pf(&pg, f, 0x0000700000000000ull, 0, 0);     /* PML4E */
    expect_pf(&pg, f, hi + 0x80000000ull, 0, 0);        /* PDPTE */
    expect_pf(&pg, f, hi + 0x200000, 0, 0);             /* PDE */
    expect_pf(&pg, f, hi + 0x2000, W, HVM_PFEC_WRITE);  /* PTE */
    fake_free(f);
}

static void test_walk_long_reserved(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f), path[6], p1g[6], p2m[6];
    struct hvm_paging pg = paging_long(cr3, false);
    const uint32_t rsvd = HVM_PFEC_PRESENT | HVM_PFEC_RSVD;

    map(f, &L4, cr3, 0x1000, 0x5000, 1, P | RW, path);
    map(f, &L4, cr3, 0x8000000000ull, 0x40000000, 3, P | PS, p1g);
    map(f, &L4, cr3, 0x200000, 0x400000, 2, P | PS, p2m);
    expect_gpa(&pg, f, 0x8000000123ull, 0, 0x40000123);
    /* 1 GiB leaf without CPUID pdpe1gb: PS is reserved. */
    pg.gbpages = false;
    expect_pf(&pg, f, 0x8000000123ull, 0, rsvd);
    pg.gbpages = true;
    /* 1 GiB leaf: bits 29:13 reserved. */
    set_bits(f, &L4, p1g[3], 1ull << 29, 0);
    expect_pf(&pg, f, 0x8000000123ull, 0, rsvd);
    set_bits(f, &L4, p1g[3], 0, 1ull << 29);
    /* 2 MiB leaf: bits 20:13 reserved; bit 12 is PAT. */
    set_bits(f, &L4, p2m[2], 1ull << 12, 0);
    expect_gpa(&pg, f, 0x200008, 0, 0x400008);
    set_bits(f, &L4, p2m[2], 1ull << 20, 0);
    expect_pf(&pg, f, 0x200008, 0, rsvd);
    /* PS in a PML4E. */
    set_bits(f, &L4, path[4], PS, 0);
    expect_pf(&pg, f, 0x1000, 0, rsvd);
    set_bits(f, &L4, path[4], 0, PS);
    /* Above MAXPHYADDR (46): bit 46 reserved, bits 52-62 ignored. */
    set_bits(f, &L4, path[1], 1ull << 46, 0);
    expect_pf(&pg, f, 0x1000, W, rsvd | HVM_PFEC_WRITE);
    set_bits(f, &L4, path[1], 0x7ffull << 52, 1ull << 46);
    expect_gpa(&pg, f, 0x1000, 0, 0x5000);
    /* Same in a table entry (level 2). */
    set_bits(f, &L4, path[2], 1ull << 50, 0);
    expect_pf(&pg, f, 0x1000, 0, rsvd);
    set_bits(f, &L4, path[2], 0, 1ull << 50);
    /* NX in a table entry: a right with EFER.NXE, reserved without. */
    set_bits(f, &L4, path[3], NX, 0);
    expect_gpa(&pg, f, 0x1000, 0, 0x5000);
    expect_pf(&pg, f, 0x1000, X, HVM_PFEC_PRESENT | HVM_PFEC_FETCH);
    pg.efer &= ~EFER_NXE;
    expect_pf(&pg, f, 0x1000, 0, rsvd);
    pg.efer |= EFER_NXE;
    set_bits(f, &L4, path[3], 0, NX);
    expect_gpa(&pg, f, 0x1000, X, 0x5000);
    /* A reserved bit wins over a permission fault (user access). */
    set_bits(f, &L4, path[1], 1ull << 47, 0);
    pg.cpl = 3;
    expect_pf(&pg, f, 0x1000, W, rsvd | HVM_PFEC_WRITE | HVM_PFEC_USER);
    fake_free(f);
}

static void test_walk_la57(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f);
    struct hvm_paging pg = paging_long(cr3, true);
    const uint64_t la = 0x00ff000000001000ull;  /* needs 57 bits */

    map(f, &L5, cr3, la, 0x00789000, 1, P | RW, NULL);
    map(f, &L5, cr3, 0xff00000000000000ull, 0x00600000, 2, P | PS, NULL);
    expect_gpa(&pg, f, la + 0xfff, W, 0x00789fff);
    assert_int_equal(f->reads, 5);
    expect_gpa(&pg, f, 0xff00000000012345ull, 0, 0x00612345);
    assert_int_equal(hvm_linear_to_gpa(&pg, 0x0100000000000000ull, 0,
                                       fake_read, f, &(uint64_t){ 0 },
                                       &(uint32_t){ 0 }), HVM_WALK_GP);
    /* The same address is not canonical with 4 levels. */
    pg.cr4 &= ~CR4_LA57;
    assert_int_equal(hvm_linear_to_gpa(&pg, la, 0, fake_read, f,
                                       &(uint64_t){ 0 }, &(uint32_t){ 0 }),
                     HVM_WALK_GP);
    fake_free(f);
}

/* Rights are ANDed (R/W, U/S) and ORed (NX) over all levels. */
static void test_walk_permissions(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f), up[6], kp[6];
    struct hvm_paging pg = paging_long(cr3, false);
    const uint64_t u = 0x1000, k = 0x40000000;
    const uint32_t PR = HVM_PFEC_PRESENT, WR = HVM_PFEC_WRITE,
                   US_ = HVM_PFEC_USER, ID = HVM_PFEC_FETCH;

    map(f, &L4, cr3, u, 0x11000, 1, P | RW | US, up);  /* user page */
    map(f, &L4, cr3, k, 0x22000, 1, P | RW, kp);       /* kernel page */

    /* User mode. */
    pg.cpl = 3;
    expect_gpa(&pg, f, u, W, 0x11000);
    expect_gpa(&pg, f, u, X, 0x11000);
    expect_pf(&pg, f, k, 0, PR | US_);
    expect_pf(&pg, f, k, X, PR | US_ | ID);
    set_bits(f, &L4, up[4], 0, RW);         /* read-only at the top */
    expect_gpa(&pg, f, u, 0, 0x11000);
    expect_pf(&pg, f, u, W, PR | WR | US_);
    set_bits(f, &L4, up[4], RW, 0);
    set_bits(f, &L4, up[2], 0, US);         /* supervisor in the middle */
    expect_pf(&pg, f, u, 0, PR | US_);
    set_bits(f, &L4, up[2], US, 0);
    /* Not present, user write: U and W, no P. */
    expect_pf(&pg, f, u + 0x1000, W, WR | US_);
    /* Implicit supervisor access at CPL 3 (e.g. the GDT). */
    expect_gpa(&pg, f, k, HVM_ACC_IMPLICIT, 0x22000);

    /* Supervisor writes to read-only pages: only with CR0.WP = 0. */
    pg.cpl = 0;
    set_bits(f, &L4, kp[1], 0, RW);
    expect_pf(&pg, f, k, W, PR | WR);
    pg.cr0 &= ~CR0_WP;
    expect_gpa(&pg, f, k, W, 0x22000);
    pg.cr0 |= CR0_WP;

    /* NX at any level. */
    set_bits(f, &L4, kp[3], NX, 0);
    expect_gpa(&pg, f, k, 0, 0x22000);
    expect_pf(&pg, f, k, X, PR | ID);
    set_bits(f, &L4, kp[3], 0, NX);
    expect_gpa(&pg, f, k, X, 0x22000);

    /* SMEP: no supervisor fetch from user pages. */
    expect_gpa(&pg, f, u, X, 0x11000);
    pg.cr4 |= CR4_SMEP;
    expect_pf(&pg, f, u, X, PR | ID);
    expect_gpa(&pg, f, u, W, 0x11000);
    expect_gpa(&pg, f, k, X, 0x22000);
    pg.cr4 &= ~CR4_SMEP;

    /* SMAP: supervisor data accesses to user pages unless RFLAGS.AC;
     * implicit ones always. */
    pg.cr4 |= CR4_SMAP;
    expect_pf(&pg, f, u, 0, PR);
    expect_pf(&pg, f, u, W, PR | WR);
    expect_gpa(&pg, f, u, X, 0x11000);
    pg.ac = true;
    expect_gpa(&pg, f, u, W, 0x11000);
    expect_pf(&pg, f, u, HVM_ACC_IMPLICIT, PR);
    pg.cpl = 3;
    expect_gpa(&pg, f, u, W, 0x11000);      /* user accesses: no SMAP */
    expect_pf(&pg, f, u, HVM_ACC_IMPLICIT, PR);
    fake_free(f);
}

/* The I/D bit only when NX or SMEP is on; 32-bit paging has no NX. */
static void test_walk_fetch_bit(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f);
    struct hvm_paging pg = paging_32(cr3, false);

    pg.efer = EFER_NXE;                     /* no effect without PAE */
    expect_pf(&pg, f, 0x1000, X, 0);
    pg.cr4 |= CR4_SMEP;
    expect_pf(&pg, f, 0x1000, X, HVM_PFEC_FETCH);
    fake_free(f);
}

/* A table the callback cannot read: its errno, not a fault. */
static void test_walk_read_error(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f), path[6], gpa;
    struct hvm_paging pg = paging_long(cr3, false);
    uint32_t pfec;

    map(f, &L4, cr3, 0x1000, 0x5000, 1, P | RW, path);
    /* The PDPT lives beyond guest memory. */
    put_entry(f, path[4], 8, 0x7f0000000ull | TBL);
    assert_int_equal(hvm_linear_to_gpa(&pg, 0x1000, 0, fake_read, f, &gpa,
                                       &pfec), -ENXIO);
    fake_free(f);
}

/* ---- Instruction fetch -------------------------------------------------- */

static void put_bytes(struct fake *f, uint64_t gpa, const uint8_t *b,
                      unsigned int n)
{
    memcpy(f->mem + gpa, b, n);
}

static const uint8_t seq[15] = {
    0x89, 0x04, 0x25, 0xb0, 0x00, 0xe0, 0xfe,   /* mov %eax,0xfee000b0 */
    0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
};

static void test_fetch_one_page(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f);
    struct hvm_paging pg = paging_long(cr3, false);
    uint8_t buf[15] = { 0 };
    unsigned int got;
    uint32_t pfec = 0xdead;
    struct hvm_mmio_insn insn;
    uint64_t gpr[HVM_GPR_NR] = { 0 };

    map(f, &L4, cr3, 0xffffffff81000000ull, 0x00800000, 1, P, NULL);
    put_bytes(f, 0x00800100, seq, 15);
    assert_int_equal(hvm_fetch_insn(&pg, 0, 0xffffffff81000100ull, buf, 15,
                                    fake_read, f, &got, &pfec), 0);
    assert_int_equal(got, 15);
    assert_int_equal(pfec, 0);
    assert_memory_equal(buf, seq, 15);
    /* Fetch, decode, emulate: the store Linux makes for an APIC EOI. */
    assert_int_equal(hvm_decode_mmio(buf, got, 64, &insn), 0);
    gpr[RAX] = 0xffffffff00000000ull;
    assert_int_equal(insn.len, 7);
    assert_true(insn.write && !insn.read);
    assert_int_equal(hvm_mmio_store_value(&insn, gpr), 0);
    fake_free(f);
}

static void test_fetch_cross_page(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f), path[6];
    struct hvm_paging pg = paging_long(cr3, false);
    const uint64_t rip = 0x400ffd;          /* 3 bytes left in the page */
    uint8_t buf[15] = { 0 };
    unsigned int got;
    uint32_t pfec;
    struct hvm_mmio_insn insn;

    /* Two linear pages on frames far apart, second one first. */
    map(f, &L4, cr3, 0x400000, 0x00900000, 1, P, NULL);
    map(f, &L4, cr3, 0x401000, 0x00500000, 1, P, path);
    put_bytes(f, 0x00900ffd, seq, 3);
    put_bytes(f, 0x00500000, seq + 3, 12);
    assert_int_equal(hvm_fetch_insn(&pg, 0, rip, buf, 15, fake_read, f, &got,
                                    &pfec), 0);
    assert_int_equal(got, 15);
    assert_memory_equal(buf, seq, 15);

    /* Second page not present: the 3 bytes, and its error code. */
    set_bits(f, &L4, path[1], 0, P);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(hvm_fetch_insn(&pg, 0, rip, buf, 15, fake_read, f, &got,
                                    &pfec), 0);
    assert_int_equal(got, 3);
    assert_int_equal(pfec, HVM_PFEC_FETCH);
    assert_memory_equal(buf, seq, 3);
    /* The decoder needs 7: truncated. */
    assert_int_equal(hvm_decode_mmio(buf, got, 64, &insn), -EFAULT);
    /* A 2-byte instruction at the end of the page decodes. */
    put_bytes(f, 0x00900ffe, (const uint8_t[]){ 0x89, 0x37 }, 2);
    assert_int_equal(hvm_fetch_insn(&pg, 0, 0x400ffe, buf, 15, fake_read, f,
                                    &got, &pfec), 0);
    assert_int_equal(got, 2);
    assert_int_equal(hvm_decode_mmio(buf, got, 64, &insn), 0);
    assert_int_equal(insn.len, 2);

    /* Second page present but not readable (callback error). */
    set_bits(f, &L4, path[1], P, 0);
    f->bad_lo = 0x00500000;
    f->bad_hi = 0x00501000;
    assert_int_equal(hvm_fetch_insn(&pg, 0, rip, buf, 15, fake_read, f, &got,
                                    &pfec), 0);
    assert_int_equal(got, 3);
    assert_int_equal(pfec, 0);
    fake_free(f);
}

static void test_fetch_first_page_fails(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f);
    struct hvm_paging pg = paging_long(cr3, false);
    uint8_t buf[15];
    unsigned int got = 99;
    uint32_t pfec;

    assert_int_equal(hvm_fetch_insn(&pg, 0, 0x400000, buf, 15, fake_read, f,
                                    &got, &pfec), HVM_WALK_PF);
    assert_int_equal(got, 0);
    assert_int_equal(pfec, HVM_PFEC_FETCH);
    /* User mode, supervisor page. */
    map(f, &L4, cr3, 0x400000, 0x00900000, 1, P, NULL);
    pg.cpl = 3;
    assert_int_equal(hvm_fetch_insn(&pg, 0, 0x400000, buf, 15, fake_read, f,
                                    &got, &pfec), HVM_WALK_PF);
    assert_int_equal(pfec, HVM_PFEC_PRESENT | HVM_PFEC_USER |
                           HVM_PFEC_FETCH);
    /* The frame cannot be read. */
    pg.cpl = 0;
    f->bad_lo = 0x00900000;
    f->bad_hi = 0x00901000;
    assert_int_equal(hvm_fetch_insn(&pg, 0, 0x400000, buf, 15, fake_read, f,
                                    &got, &pfec), -ENXIO);
    assert_int_equal(got, 0);
    /* RIP at the top of the lower half: the next byte is not canonical. */
    f->bad_lo = f->bad_hi = 0;
    map(f, &L4, cr3, 0x7ffffffff000ull, 0x00a00000, 1, P, NULL);
    put_bytes(f, 0x00a00ffd, seq, 3);
    assert_int_equal(hvm_fetch_insn(&pg, 0, 0x7ffffffffffdull, buf, 15,
                                    fake_read, f, &got, &pfec), 0);
    assert_int_equal(got, 3);
    assert_int_equal(pfec, 0);
    fake_free(f);
}

/* 32-bit code: CS base added, linear addresses wrap at 4 GiB. */
static void test_fetch_32bit_wrap(void **state)
{
    struct fake *f = fake_new();
    uint64_t cr3 = alloc_table(f);
    struct hvm_paging pg = paging_32(cr3, false);
    uint8_t buf[15] = { 0 };
    unsigned int got;
    uint32_t pfec;

    map(f, &L32, cr3, 0xfffff000, 0x00600000, 1, P, NULL);
    map(f, &L32, cr3, 0x00000000, 0x00700000, 1, P, NULL);
    put_bytes(f, 0x00600ffc, seq, 4);
    put_bytes(f, 0x00700000, seq + 4, 11);
    /* cs_base 0xfffff000 + eip 0xffc. */
    assert_int_equal(hvm_fetch_insn(&pg, 0xfffff000, 0xffc, buf, 15,
                                    fake_read, f, &got, &pfec), 0);
    assert_int_equal(got, 15);
    assert_memory_equal(buf, seq, 15);
    /* Fewer bytes wanted than are there. */
    memset(buf, 0, sizeof(buf));
    assert_int_equal(hvm_fetch_insn(&pg, 0xfffff000, 0xffc, buf, 2,
                                    fake_read, f, &got, &pfec), 0);
    assert_int_equal(got, 2);
    assert_int_equal(buf[2], 0);
    fake_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_good),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_bad),
        cmocka_unit_test(test_decode_mov_cr),
        cmocka_unit_test(test_decode_avail_capped),
        cmocka_unit_test(test_store_values),
        cmocka_unit_test(test_load_results),
        cmocka_unit_test(test_xchg),
        cmocka_unit_test(test_walk_paging_off),
        cmocka_unit_test(test_walk_32bit),
        cmocka_unit_test(test_walk_32bit_pse),
        cmocka_unit_test(test_walk_pae),
        cmocka_unit_test(test_walk_long),
        cmocka_unit_test(test_walk_long_reserved),
        cmocka_unit_test(test_walk_la57),
        cmocka_unit_test(test_walk_permissions),
        cmocka_unit_test(test_walk_fetch_bit),
        cmocka_unit_test(test_walk_read_error),
        cmocka_unit_test(test_fetch_one_page),
        cmocka_unit_test(test_fetch_cross_page),
        cmocka_unit_test(test_fetch_first_page_fails),
        cmocka_unit_test(test_fetch_32bit_wrap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * MMIO instruction emulation, pure logic (no hardware access, no P2M):
 *
 *  - hvm_decode_mmio: decode the instruction behind a nested page fault
 *    (SVM #NPF) or EPT violation on an MMIO page.  The exit gives the
 *    guest-physical address; the decoder gives the length (to move RIP),
 *    the access size and direction, and the register or immediate operand.
 *    Only the MOV/MOVZX/MOVSX/XCHG forms compilers emit for device
 *    accessors are known.
 *  - hvm_mmio_store_value / hvm_mmio_load_result: the register side of the
 *    access, with the CPU's register-write rules.
 *  - hvm_linear_to_gpa: the guest's own page walk (paging off, 32-bit,
 *    PAE, 4-level, 5-level), reading the guest's tables through a caller
 *    callback, with the page-fault error code the CPU would give.
 *  - hvm_fetch_insn: read up to 15 instruction bytes at CS:RIP, across a
 *    page boundary.
 *
 * A typical MMIO exit:
 *
 *     hvm_fetch_insn(&pg, cs_base, rip, buf, 15, read, ctx, &got, &pfec);
 *     hvm_decode_mmio(buf, got, mode, &insn);
 *     if ( insn.read )  old = device_read(gpa, insn.size);
 *     if ( insn.write ) device_write(gpa, insn.size,
 *                                    hvm_mmio_store_value(&insn, gpr));
 *     if ( insn.read )  hvm_mmio_load_result(&insn, gpr, old);
 *     rip += insn.len;
 *
 * Register arrays are uint64_t gpr[16] in the CPU's numbering:
 * RAX RCX RDX RBX RSP RBP RSI RDI R8 .. R15 (HVM_GPR_*).
 */
#ifndef HVM_EMULATE_H
#define HVM_EMULATE_H

#include <xen/types.h>

enum {
    HVM_GPR_RAX, HVM_GPR_RCX, HVM_GPR_RDX, HVM_GPR_RBX,
    HVM_GPR_RSP, HVM_GPR_RBP, HVM_GPR_RSI, HVM_GPR_RDI,
    HVM_GPR_R8, HVM_GPR_R9, HVM_GPR_R10, HVM_GPR_R11,
    HVM_GPR_R12, HVM_GPR_R13, HVM_GPR_R14, HVM_GPR_R15,
    HVM_GPR_NR
};

#define HVM_INSN_MAX 15         /* longest x86 instruction, bytes */

/* ---- Instruction decoder ------------------------------------------------ */

enum hvm_mmio_op {
    MMIO_MOV,                   /* 88 89 8A 8B C6 C7 A0-A3 */
    MMIO_MOVZX,                 /* 0F B6, 0F B7 */
    MMIO_MOVSX,                 /* 0F BE, 0F BF */
    MMIO_XCHG,                  /* 86 87 (always a locked read-modify-write) */
};

struct hvm_mmio_insn {
    uint8_t len;                /* instruction length, prefixes included */
    uint8_t size;               /* memory access size: 1, 2, 4 or 8 bytes */
    uint8_t reg_size;           /* register operand size: equal to size,
                                 * except MOVZX/MOVSX (2, 4 or 8) */
    bool read;                  /* the instruction reads memory */
    bool write;                 /* the instruction writes memory (XCHG:
                                 * both; read first, then write) */
    bool has_imm;               /* the stored value is imm, not a register */
    uint8_t reg;                /* register operand, HVM_GPR_* (A0-A3:
                                 * RAX); 0 when has_imm */
    bool high_byte;             /* size 1 and no REX prefix, register AH,
                                 * CH, DH or BH: bits 15:8 of gpr[reg],
                                 * reg being 0..3 */
    enum hvm_mmio_op op;
    uint64_t imm;               /* has_imm: the immediate, extended to size
                                 * (C7 with REX.W: imm32 sign-extended) */
};

/*
 * Decode the instruction at buf (avail bytes valid, at most 15 are used)
 * that made a data access to memory, for a CPU in mode 16, 32 or 64
 * (16/32 from CS.D outside long mode or in compatibility mode, 64 when
 * CS.L is set in long mode).
 *
 * Prefixes: 66, 67, F0 (only with XCHG; LOCK MOV is #UD), segment
 * overrides 26 2E 36 3E 64 65 (accepted and ignored: the exit gives the
 * address), REX 40-4F in 64-bit mode.  A REX prefix counts only when it
 * immediately precedes the opcode; one followed by another prefix is
 * ignored, as the CPU does.
 *
 * Returns 0 and fills *out, or
 *   -EOPNOTSUPP  an opcode or prefix the decoder does not know (including
 *                40-4F outside 64-bit mode, which are INC/DEC there);
 *   -EFAULT      truncated: the instruction needs bytes beyond avail (and
 *                within 15).  If the fetch stopped on a page fault, that
 *                fault is the guest's to take;
 *   -EINVAL      not a valid memory access: longer than 15 bytes, ModRM
 *                naming a register (mod = 3, which cannot touch memory),
 *                C6/C7 with reg field != 0, LOCK without XCHG, bad mode.
 */
int hvm_decode_mmio(const uint8_t *buf, unsigned int avail, unsigned int mode,
                    struct hvm_mmio_insn *out);

/*
 * MOV to or from a control register (0F 22 /r, 0F 20 /r), for an intercept
 * that does not say which register (SVM without decode assists).  The
 * same prefixes as above; REX.R selects CR8-CR15, REX.B R8-R15.  Returns
 * 0 and fills *out, -EOPNOTSUPP for another instruction (or LOCK), and
 * -EFAULT / -EINVAL as hvm_decode_mmio.
 */
struct hvm_mov_cr {
    uint8_t len;                /* instruction length, prefixes included */
    bool to_cr;                 /* MOV to CRn (else from) */
    uint8_t cr;                 /* 0..15 */
    uint8_t gpr;                /* HVM_GPR_* */
};
int hvm_decode_mov_cr(const uint8_t *buf, unsigned int avail,
                      unsigned int mode, struct hvm_mov_cr *out);

/*
 * The value a decoded write stores (insn->write): the immediate or the
 * register operand, insn->size bytes, zero-extended to 64 bits.  For
 * XCHG, take it before hvm_mmio_load_result changes the register.
 */
uint64_t hvm_mmio_store_value(const struct hvm_mmio_insn *insn,
                              const uint64_t gpr[HVM_GPR_NR]);

/*
 * Complete a decoded read (insn->read; nothing happens otherwise): value
 * holds the insn->size bytes read from memory (higher bits ignored).
 * MOVZX/MOVSX extend it to reg_size; then the register is written as the
 * CPU does: 1 and 2 bytes merge into the old value (AH..BH into bits
 * 15:8), 4 bytes zero-extend to 64 bits, 8 bytes replace it.  For XCHG,
 * value is the old memory contents.
 */
void hvm_mmio_load_result(const struct hvm_mmio_insn *insn,
                          uint64_t gpr[HVM_GPR_NR], uint64_t value);

/* ---- Guest page walk ---------------------------------------------------- */

/*
 * Read len bytes of guest-physical memory at gpa into buf: 0, or a
 * negative errno (the gfn is not RAM, the P2M refused it, ...).  The walk
 * reads page-table entries (4 or 8 bytes, naturally aligned) with it, and
 * hvm_fetch_insn instruction bytes (never crossing a 4 KiB page).
 */
typedef int (*hvm_read_gpa_t)(void *ctx, uint64_t gpa, void *buf,
                              unsigned int len);

/* The guest's paging state, as the vendor code reads it at the exit. */
struct hvm_paging {
    uint64_t cr0, cr3, cr4, efer;
    uint8_t cpl;                /* 3: user-mode accesses */
    bool ac;                    /* RFLAGS.AC (lifts SMAP for explicit
                                 * supervisor accesses) */
    uint8_t maxphyaddr;         /* guest CPUID 0x80000008 EAX[7:0], 32..52:
                                 * entry bits above it are reserved */
    bool gbpages;               /* guest CPUID offers 1 GiB pages: else PS
                                 * in a long-mode PDPTE is reserved */
};

/* Access flags for hvm_linear_to_gpa: the same bits as in the error code. */
#define HVM_ACC_WRITE    (1u << 1)
#define HVM_ACC_FETCH    (1u << 4)
/* A supervisor access the CPU makes itself (descriptor tables, ...):
 * supervisor even at CPL 3, and SMAP applies whatever RFLAGS.AC says. */
#define HVM_ACC_IMPLICIT (1u << 31)

/* Page-fault error code bits (what the guest's #PF handler gets). */
#define HVM_PFEC_PRESENT (1u << 0)  /* 0: a not-present entry */
#define HVM_PFEC_WRITE   (1u << 1)
#define HVM_PFEC_USER    (1u << 2)
#define HVM_PFEC_RSVD    (1u << 3)  /* a reserved bit set in an entry */
#define HVM_PFEC_FETCH   (1u << 4)  /* only when NX (PAE+NXE) or SMEP is on */

/* hvm_linear_to_gpa results that are guest exceptions, not errors. */
#define HVM_WALK_PF      1      /* #PF: error code in *pfec, CR2 = la */
#define HVM_WALK_GP      2      /* #GP(0): la is not canonical */

/*
 * Translate linear address la with the guest's paging (pg) for an access
 * (HVM_ACC_* flags; user when pg->cpl == 3 unless IMPLICIT), as the CPU
 * would, reading the guest's tables through read(ctx, ...).
 *
 * Checked: present bits, reserved bits (above maxphyaddr, NX without
 * EFER.NXE, PS where it is not allowed, the low bits of large-page
 * frames, PAE PDPTE reserved bits), R/W with CR0.WP, U/S, NX, SMEP, SMAP.
 * Not modelled: protection keys (CR4.PKE), accessed/dirty updates (the
 * walk only reads: the CPU's own walk before the exit set them), the
 * PAE PDPTE registers (the PDPTEs are read from memory at CR3 on every
 * walk, as AMD's nested paging does; VMX caches them at MOV CR3).
 * Outside long mode la is truncated to 32 bits.
 *
 * Returns 0 with *gpa, HVM_WALK_PF with *pfec, HVM_WALK_GP, or the
 * negative errno read gave for a table it could not read.
 */
int hvm_linear_to_gpa(const struct hvm_paging *pg, uint64_t la,
                      unsigned int access, hvm_read_gpa_t read, void *ctx,
                      uint64_t *gpa, uint32_t *pfec);

/*
 * Fetch up to want (<= 15) instruction bytes at linear cs_base + rip
 * (truncated to 32 bits outside long mode; in 64-bit mode pass
 * cs_base 0) into buf, as instruction fetches at pg->cpl.  Bytes in a
 * second page are fetched only if that page translates too.
 *
 * Returns 0 with *got >= 1 bytes: got < want when a later page faulted or
 * could not be read (*pfec then holds its error code if it faulted, for
 * the linear address cs_base + rip + *got; the decoder returns -EFAULT if
 * it needs those bytes).  When not even the first byte can be fetched:
 * HVM_WALK_PF (with *pfec), HVM_WALK_GP or the read errno, and *got = 0.
 */
int hvm_fetch_insn(const struct hvm_paging *pg, uint64_t cs_base,
                   uint64_t rip, uint8_t *buf, unsigned int want,
                   hvm_read_gpa_t read, void *ctx, unsigned int *got,
                   uint32_t *pfec);

#endif /* HVM_EMULATE_H */

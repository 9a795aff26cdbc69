/*
 * MMIO instruction emulation: the decoder for the instructions that touch
 * device memory, the register side of those accesses, and the guest page
 * walk that finds the instruction bytes.  Pure logic: guest memory is read
 * through the caller's callback, so the same code runs in the unit tests.
 * See emulate.h for the contracts.
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "emulate.h"

/* ---- Decoder ------------------------------------------------------------ */

/* How an opcode names its operands. */
enum form {
    F_REG,                      /* ModRM: reg field and memory operand */
    F_IMM,                      /* ModRM /0 memory operand, immediate */
    F_MOFFS,                    /* absolute address (moffs), rAX */
};

struct opcode {
    uint16_t opc;               /* 0x0Fxx for two-byte opcodes */
    enum hvm_mmio_op op;
    enum form form;
    uint8_t mem;                /* memory size: 1, 2, or 0 = operand size */
    bool read, write;
};

static const struct opcode opcodes[] = {
    { 0x88,   MMIO_MOV,   F_REG,   1, false, true  },
    { 0x89,   MMIO_MOV,   F_REG,   0, false, true  },
    { 0x8a,   MMIO_MOV,   F_REG,   1, true,  false },
    { 0x8b,   MMIO_MOV,   F_REG,   0, true,  false },
    { 0xc6,   MMIO_MOV,   F_IMM,   1, false, true  },
    { 0xc7,   MMIO_MOV,   F_IMM,   0, false, true  },
    { 0x86,   MMIO_XCHG,  F_REG,   1, true,  true  },
    { 0x87,   MMIO_XCHG,  F_REG,   0, true,  true  },
    { 0xa0,   MMIO_MOV,   F_MOFFS, 1, true,  false },
    { 0xa1,   MMIO_MOV,   F_MOFFS, 0, true,  false },
    { 0xa2,   MMIO_MOV,   F_MOFFS, 1, false, true  },
    { 0xa3,   MMIO_MOV,   F_MOFFS, 0, false, true  },
    { 0x0fb6, MMIO_MOVZX, F_REG,   1, true,  false },
    { 0x0fb7, MMIO_MOVZX, F_REG,   2, true,  false },
    { 0x0fbe, MMIO_MOVSX, F_REG,   1, true,  false },
    { 0x0fbf, MMIO_MOVSX, F_REG,   2, true,  false },
};

#define REX_W 0x08
#define REX_R 0x04
#define REX_B 0x01

/* Where the decoder is in the instruction, and what the prefixes said. */
struct dec {
    const uint8_t *buf;
    unsigned int avail, pos, mode;
    unsigned int opsize, addrsize;      /* bytes */
    uint8_t rex;                        /* 0: none */
    bool lock;
};

/* The byte at the current position (not consumed). */
static int peek(const struct dec *d, uint8_t *b)
{
    if ( d->pos >= HVM_INSN_MAX )
        return -EINVAL;                 /* the CPU would #GP */
    if ( d->pos >= d->avail )
        return -EFAULT;
    *b = d->buf[d->pos];
    return 0;
}

/* Consume n (<= 8) bytes, little-endian, into *val. */
static int take(struct dec *d, unsigned int n, uint64_t *val)
{
    uint64_t v = 0;

    for ( unsigned int i = 0; i < n; i++ )
    {
        uint8_t b;
        int rc = peek(d, &b);

        if ( rc )
            return rc;
        v |= (uint64_t)b << (8 * i);
        d->pos++;
    }
    *val = v;
    return 0;
}

/* Prefixes up to the opcode; sets operand and address sizes. */
static int decode_prefixes(struct dec *d)
{
    bool osize = false, asize = false;
    uint8_t b;
    int rc;

    while ( !(rc = peek(d, &b)) )
    {
        if ( d->mode == 64 && (b & 0xf0) == 0x40 )
        {
            d->rex = b;                 /* the last one counts */
            d->pos++;
            continue;
        }
        if ( b == 0x66 )
            osize = true;
        else if ( b == 0x67 )
            asize = true;
        else if ( b == 0xf0 )
            d->lock = true;
        else if ( b != 0x26 && b != 0x2e && b != 0x36 && b != 0x3e &&
                  b != 0x64 && b != 0x65 )
            break;                      /* the opcode */
        d->rex = 0;                     /* a REX before a prefix is ignored */
        d->pos++;
    }
    if ( rc )
        return rc;

    d->opsize = (d->mode == 16) != osize ? 2 : 4;
    if ( d->rex & REX_W )
        d->opsize = 8;
    if ( d->mode == 64 )
        d->addrsize = asize ? 4 : 8;
    else
        d->addrsize = (d->mode == 16) != asize ? 2 : 4;
    return 0;
}

static int find_opcode(struct dec *d, const struct opcode **op)
{
    uint64_t b;
    uint16_t opc;
    int rc = take(d, 1, &b);

    if ( !rc && b == 0x0f && !(rc = take(d, 1, &b)) )
        b |= 0x0f00;
    if ( rc )
        return rc;
    opc = b;
    for ( unsigned int i = 0; i < ARRAY_SIZE(opcodes); i++ )
        if ( opcodes[i].opc == opc )
        {
            *op = &opcodes[i];
            return 0;
        }
    return -EOPNOTSUPP;
}

/* The memory operand after ModRM: SIB and displacement (skipped; the exit
 * gives the address).  Register-direct operands cannot be MMIO. */
static int skip_memory_operand(struct dec *d, uint8_t modrm)
{
    unsigned int mod = modrm >> 6, rm = modrm & 7, disp;
    uint64_t sib;
    int rc;

    if ( mod == 3 )
        return -EINVAL;
    if ( d->addrsize == 2 )
        disp = mod == 1 ? 1 : (mod == 2 || rm == 6) ? 2 : 0;
    else
    {
        disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
        if ( rm == 4 )
        {
            if ( (rc = take(d, 1, &sib)) )
                return rc;
            if ( mod == 0 && (sib & 7) == 5 )
                disp = 4;               /* no base: disp32 */
        }
        else if ( mod == 0 && rm == 5 )
            disp = 4;                   /* disp32, RIP-relative in 64-bit */
    }
    return take(d, disp, &sib);
}

/* Operands of a ModRM form: the register (F_REG) or immediate (F_IMM). */
static int decode_modrm(struct dec *d, const struct opcode *o,
                        struct hvm_mmio_insn *insn)
{
    uint64_t modrm, imm;
    unsigned int reg;
    int rc = take(d, 1, &modrm);

    if ( rc )
        return rc;
    reg = ((modrm >> 3) & 7) | (d->rex & REX_R ? 8 : 0);
    if ( o->form == F_IMM && (reg & 7) )
        return -EINVAL;                 /* C6/C7 /1../7: not a MOV */
    if ( (rc = skip_memory_operand(d, modrm)) )
        return rc;
    if ( o->form == F_REG )
    {
        insn->reg = reg;
        if ( insn->reg_size == 1 && !d->rex && reg >= 4 )
        {
            insn->reg = reg - 4;        /* AH, CH, DH, BH */
            insn->high_byte = true;
        }
        return 0;
    }
    if ( (rc = take(d, MIN(insn->size, 4), &imm)) )
        return rc;
    if ( insn->size == 8 )
        imm = (uint64_t)(int64_t)(int32_t)imm;
    insn->has_imm = true;
    insn->imm = imm;
    return 0;
}

int hvm_decode_mmio(const uint8_t *buf, unsigned int avail, unsigned int mode,
                    struct hvm_mmio_insn *out)
{
    struct dec d = { .buf = buf, .avail = avail, .mode = mode };
    struct hvm_mmio_insn insn = { 0 };
    const struct opcode *o;
    uint64_t moffs;
    int rc;

    if ( mode != 16 && mode != 32 && mode != 64 )
        return -EINVAL;
    if ( (rc = decode_prefixes(&d)) || (rc = find_opcode(&d, &o)) )
        return rc;
    if ( d.lock && o->op != MMIO_XCHG )
        return -EINVAL;                 /* #UD on the CPU */

    insn.op = o->op;
    insn.read = o->read;
    insn.write = o->write;
    insn.size = o->mem ? o->mem : d.opsize;
    insn.reg_size = o->op == MMIO_MOVZX || o->op == MMIO_MOVSX ? d.opsize
                                                                : insn.size;
    if ( o->form == F_MOFFS )
        rc = take(&d, d.addrsize, &moffs);      /* register: rAX */
    else
        rc = decode_modrm(&d, o, &insn);
    if ( rc )
        return rc;
    insn.len = d.pos;
    *out = insn;
    return 0;
}

int hvm_decode_mov_cr(const uint8_t *buf, unsigned int avail,
                      unsigned int mode, struct hvm_mov_cr *out)
{
    struct dec d = { .buf = buf, .avail = avail, .mode = mode };
    uint64_t op, modrm;
    int rc;

    if ( mode != 16 && mode != 32 && mode != 64 )
        return -EINVAL;
    if ( (rc = decode_prefixes(&d)) || (rc = take(&d, 2, &op)) )
        return rc;
    if ( op != 0x220f && op != 0x200f )         /* 0F 22, 0F 20 */
        return -EOPNOTSUPP;
    if ( d.lock )
        return -EOPNOTSUPP;     /* LOCK MOV CR0 is AMD's CR8 alias */
    if ( (rc = take(&d, 1, &modrm)) )
        return rc;
    /* The ModRM mod field is ignored: the operand is always a register. */
    *out = (struct hvm_mov_cr){
        .len = d.pos,
        .to_cr = op == 0x220f,
        .cr = ((modrm >> 3) & 7) | (d.rex & REX_R ? 8 : 0),
        .gpr = (modrm & 7) | (d.rex & REX_B ? 8 : 0),
    };
    return 0;
}

/* ---- Register side of the access ---------------------------------------- */

static uint64_t size_mask(unsigned int bytes)
{
    return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

uint64_t hvm_mmio_store_value(const struct hvm_mmio_insn *insn,
                              const uint64_t gpr[HVM_GPR_NR])
{
    uint64_t v;

    ASSERT(insn->reg < HVM_GPR_NR);
    if ( insn->has_imm )
        v = insn->imm;
    else if ( insn->high_byte )
        v = gpr[insn->reg] >> 8;
    else
        v = gpr[insn->reg];
    return v & size_mask(insn->size);
}

void hvm_mmio_load_result(const struct hvm_mmio_insn *insn,
                          uint64_t gpr[HVM_GPR_NR], uint64_t value)
{
    uint64_t *r = &gpr[insn->reg];
    unsigned int shift = insn->high_byte ? 8 : 0;
    uint64_t mask = size_mask(insn->reg_size) << shift;

    ASSERT(insn->reg < HVM_GPR_NR && insn->size <= insn->reg_size);
    if ( !insn->read )
        return;
    value &= size_mask(insn->size);
    if ( insn->op == MMIO_MOVSX )
    {
        unsigned int s = 64 - 8 * insn->size;

        value = (uint64_t)((int64_t)(value << s) >> s);
    }
    value = (value << shift) & mask;
    /* Only 1- and 2-byte writes keep the rest of the register. */
    *r = insn->reg_size >= 4 ? value : (*r & ~mask) | value;
}

/* ---- Guest page walk ---------------------------------------------------- */

#define X86_CR0_WP      (1ull << 16)
#define X86_CR0_PG      (1ull << 31)
#define X86_CR4_PSE     (1ull << 4)
#define X86_CR4_PAE     (1ull << 5)
#define X86_CR4_LA57    (1ull << 12)
#define X86_CR4_SMEP    (1ull << 20)
#define X86_CR4_SMAP    (1ull << 21)
#define X86_EFER_LMA    (1ull << 10)
#define X86_EFER_NXE    (1ull << 11)

#define GPTE_P          (1ull << 0)
#define GPTE_RW         (1ull << 1)
#define GPTE_US         (1ull << 2)
#define GPTE_PS         (1ull << 7)
#define GPTE_NX         (1ull << 63)

#define GPAGE_SIZE      4096u

/* The guest's paging mode; the value is the number of table levels. */
enum walk_mode {
    WALK_OFF = 0, WALK_32 = 2, WALK_PAE = 3, WALK_4L = 4, WALK_5L = 5,
};

static enum walk_mode walk_mode(const struct hvm_paging *pg)
{
    if ( !(pg->cr0 & X86_CR0_PG) )
        return WALK_OFF;
    if ( !(pg->cr4 & X86_CR4_PAE) )
        return WALK_32;
    if ( !(pg->efer & X86_EFER_LMA) )
        return WALK_PAE;
    return pg->cr4 & X86_CR4_LA57 ? WALK_5L : WALK_4L;
}

/* Bits hi..lo set (none when hi < lo). */
static uint64_t bits(unsigned int hi, unsigned int lo)
{
    if ( hi < lo )
        return 0;
    return (hi >= 63 ? ~0ull : (1ull << (hi + 1)) - 1) & ~((1ull << lo) - 1);
}

/* Log2 of the bytes one entry at level l maps. */
static unsigned int level_shift(enum walk_mode m, unsigned int l)
{
    return 12 + (m == WALK_32 ? 10 : 9) * (l - 1);
}

/* How many physical-address bits above 31 a 32-bit 4 MiB leaf holds. */
static unsigned int pse36_bits(const struct hvm_paging *pg)
{
    return MIN(pg->maxphyaddr, 40) - 32;
}

/* Reserved bits of a present entry at level l (1 = the 4 KiB leaf). */
static uint64_t rsvd_mask(const struct hvm_paging *pg, enum walk_mode m,
                          unsigned int l, uint64_t e)
{
    unsigned int maxpa = pg->maxphyaddr;
    uint64_t r, nx = pg->efer & X86_EFER_NXE ? 0 : GPTE_NX;

    if ( m == WALK_32 )
    {
        /* PSE-36: a 4 MiB frame has address bits 39:32 in bits 20:13. */
        if ( l == 2 && (e & GPTE_PS) && (pg->cr4 & X86_CR4_PSE) )
            return bits(21, 13 + pse36_bits(pg));
        return 0;
    }
    if ( m == WALK_PAE )
    {
        if ( l == 3 )
            return bits(63, maxpa) | bits(8, 5) | bits(2, 1);
        r = bits(62, maxpa) | nx;
    }
    else
        r = bits(51, maxpa) | nx;
    if ( l >= 4 || (l == 3 && m != WALK_PAE && !pg->gbpages) )
        r |= GPTE_PS;
    else if ( l >= 2 && (e & GPTE_PS) )
        r |= bits(level_shift(m, l) - 1, 13);   /* above PAT, bit 12 */
    return r;
}

/* Does the present entry e at level l map a page (rather than a table)? */
static bool is_leaf(const struct hvm_paging *pg, enum walk_mode m,
                    unsigned int l, uint64_t e)
{
    if ( l == 1 )
        return true;
    if ( !(e & GPTE_PS) || (m == WALK_PAE && l == 3) )
        return false;
    return m != WALK_32 || (pg->cr4 & X86_CR4_PSE);
}

/* The frame (or table) address in entry e; for a leaf at level l, the
 * base of the page it maps. */
static uint64_t entry_addr(const struct hvm_paging *pg, enum walk_mode m,
                           unsigned int l, uint64_t e, bool leaf)
{
    unsigned int shift = leaf ? level_shift(m, l) : 12;

    if ( m == WALK_32 )
    {
        uint64_t a = e & 0xfffff000u & ~((1ull << shift) - 1);

        if ( leaf && l == 2 )
            a |= ((e >> 13) & ((1u << pse36_bits(pg)) - 1)) << 32;
        return a;
    }
    return e & bits(pg->maxphyaddr - 1, shift);
}

/* The error code a fault of this access carries, P and RSVD aside. */
static uint32_t access_pfec(const struct hvm_paging *pg, unsigned int access,
                            bool user)
{
    uint32_t pfec = access & HVM_ACC_WRITE ? HVM_PFEC_WRITE : 0;
    bool nx_on = (pg->cr4 & X86_CR4_PAE) && (pg->efer & X86_EFER_NXE);

    if ( user )
        pfec |= HVM_PFEC_USER;
    if ( (access & HVM_ACC_FETCH) && (nx_on || (pg->cr4 & X86_CR4_SMEP)) )
        pfec |= HVM_PFEC_FETCH;
    return pfec;
}

/* Is the access allowed with the rights gathered over the walk (R/W and
 * U/S of every level ANDed, NX of every level ORed)? */
static bool access_ok(const struct hvm_paging *pg, unsigned int access,
                      bool user, uint64_t rights, bool nx)
{
    bool write = access & HVM_ACC_WRITE, fetch = access & HVM_ACC_FETCH;
    bool user_page = rights & GPTE_US, writable = rights & GPTE_RW;

    if ( fetch && nx )
        return false;
    if ( user )
        return user_page && (!write || writable);
    if ( write && !writable && (pg->cr0 & X86_CR0_WP) )
        return false;
    if ( fetch )
        return !(user_page && (pg->cr4 & X86_CR4_SMEP));
    return !(user_page && (pg->cr4 & X86_CR4_SMAP) &&
             ((access & HVM_ACC_IMPLICIT) || !pg->ac));
}

static int page_fault(const struct hvm_paging *pg, unsigned int access,
                      bool user, uint32_t why, uint32_t *pfec)
{
    *pfec = why | access_pfec(pg, access, user);
    return HVM_WALK_PF;
}

static bool canonical(uint64_t la, unsigned int va_bits)
{
    unsigned int s = 64 - va_bits;

    return (uint64_t)((int64_t)(la << s) >> s) == la;
}

/* The first table: CR3's address field for the mode. */
static uint64_t root_table(const struct hvm_paging *pg, enum walk_mode m)
{
    if ( m == WALK_32 )
        return pg->cr3 & 0xfffff000u;
    if ( m == WALK_PAE )
        return pg->cr3 & 0xffffffe0u;
    return pg->cr3 & bits(pg->maxphyaddr - 1, 12);
}

static int read_entry(hvm_read_gpa_t read, void *ctx, uint64_t gpa,
                      unsigned int bytes, uint64_t *e)
{
    uint64_t v = 0;                     /* little-endian: 4 bytes fill the
                                         * low half */
    int rc = read(ctx, gpa, &v, bytes);

    ASSERT(rc <= 0);
    *e = v;
    return rc > 0 ? -EINVAL : rc;
}

int hvm_linear_to_gpa(const struct hvm_paging *pg, uint64_t la,
                      unsigned int access, hvm_read_gpa_t read, void *ctx,
                      uint64_t *gpa, uint32_t *pfec)
{
    enum walk_mode m = walk_mode(pg);
    bool user = pg->cpl == 3 && !(access & HVM_ACC_IMPLICIT);
    unsigned int esize = m == WALK_32 ? 4 : 8, ibits = m == WALK_32 ? 10 : 9;
    uint64_t table = root_table(pg, m), e, rights = GPTE_RW | GPTE_US;
    bool nx = false;
    unsigned int l;
    int rc;

    ASSERT(m == WALK_OFF || (pg->maxphyaddr >= 32 && pg->maxphyaddr <= 52));
    if ( m <= WALK_PAE )
        la &= 0xffffffffu;
    else if ( !canonical(la, m == WALK_5L ? 57 : 48) )
        return HVM_WALK_GP;
    if ( m == WALK_OFF )
    {
        *gpa = la;
        return 0;
    }

    for ( l = m; ; l-- )
    {
        uint64_t idx = (la >> level_shift(m, l)) & ((1u << ibits) - 1);
        bool leaf;

        if ( (rc = read_entry(read, ctx, table + idx * esize, esize, &e)) )
            return rc;
        if ( !(e & GPTE_P) )
            return page_fault(pg, access, user, 0, pfec);
        if ( e & rsvd_mask(pg, m, l, e) )
            return page_fault(pg, access, user,
                              HVM_PFEC_PRESENT | HVM_PFEC_RSVD, pfec);
        if ( m != WALK_PAE || l != 3 )  /* PAE PDPTEs carry no rights */
        {
            rights &= e;
            nx |= (e & GPTE_NX) && (pg->efer & X86_EFER_NXE);
        }
        leaf = is_leaf(pg, m, l, e);
        table = entry_addr(pg, m, l, e, leaf);
        if ( leaf )
            break;
    }
    if ( !access_ok(pg, access, user, rights, nx) )
        return page_fault(pg, access, user, HVM_PFEC_PRESENT, pfec);
    *gpa = table | (la & ((1ull << level_shift(m, l)) - 1));
    return 0;
}

int hvm_fetch_insn(const struct hvm_paging *pg, uint64_t cs_base,
                   uint64_t rip, uint8_t *buf, unsigned int want,
                   hvm_read_gpa_t read, void *ctx, unsigned int *got,
                   uint32_t *pfec)
{
    unsigned int n = 0;
    int rc = 0;

    ASSERT(want <= HVM_INSN_MAX);
    *pfec = 0;
    /* One page at a time: at most two walks.  Outside long mode the walk
     * truncates la to 32 bits, which wraps the fetch at 4 GiB. */
    while ( n < want )
    {
        uint64_t la = cs_base + rip + n, gpa;
        unsigned int chunk = MIN(want - n,
                                 GPAGE_SIZE - (la & (GPAGE_SIZE - 1)));

        rc = hvm_linear_to_gpa(pg, la, HVM_ACC_FETCH, read, ctx, &gpa, pfec);
        if ( !rc )
        {
            rc = read(ctx, gpa, buf + n, chunk);
            ASSERT(rc <= 0);
        }
        if ( rc )
            break;
        n += chunk;
    }
    *got = n;
    return n || !want ? 0 : rc;
}

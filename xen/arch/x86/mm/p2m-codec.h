/*
 * What the NPT and EPT codecs really share, and only that.
 *
 * Both formats are 8-byte entries with the frame in bits 51:12, and both
 * keep the P2M's own type and access in bits the hardware ignores (52-58
 * are ignored in both formats' leaves and tables).  Both mark a superpage
 * leaf with one page-size bit, and split and retype the same way up to
 * where each format keeps its rights and its PAT bit.  A codec describes
 * those bits once, in a struct p2m_codec, and these helpers do the rest;
 * each codec file keeps only the bits that are its own (NPT's U/A/D and
 * PCD/PWT, EPT's memory type, each one's reserved-bit rules).
 *
 * Included by p2m-pt.c and p2m-ept.c only: nothing above the codecs sees it.
 */
#ifndef X86_MM_P2M_CODEC_H
#define X86_MM_P2M_CODEC_H

#include <asm-x86/p2m-format.h>
#include <xen/lib.h>

#define P2M_PTE_ADDR        0x000ffffffffff000ull  /* bits 51:12 */
#define P2M_SW_TYPE_SHIFT   52                     /* 54:52: p2m_type_t */
#define P2M_SW_TYPE         (7ull << P2M_SW_TYPE_SHIFT)
#define P2M_SW_ACC_SHIFT    55                     /* 57:55: p2m_access_t */
#define P2M_SW_ACC          (7ull << P2M_SW_ACC_SHIFT)

BUILD_BUG_ON(p2m_nr_types > 8);
BUILD_BUG_ON(P2M_ACCESS_RWX > 7);
BUILD_BUG_ON((P2M_PTE_ADDR & (P2M_SW_TYPE | P2M_SW_ACC | 0xfff)) != 0);
BUILD_BUG_ON((P2M_SW_TYPE & P2M_SW_ACC) != 0);

/* The bits one format uses where the two differ only in position. */
struct p2m_codec {
    uint64_t present;   /* any of these set: the entry maps (leaf/table) */
    uint64_t rights;    /* the bits rights_bits() owns, rewritten on retype */
    uint64_t ps;        /* page size: an L2/L3 leaf */
    uint64_t pat_ps;    /* PAT bit of an L2/L3 leaf (0: none) */
    uint64_t pat_l1;    /* PAT bit of an L1 leaf (0: none) */
    /* The rights bits for what t and a allow together, less what the
     * format cannot grant. */
    uint64_t (*rights_bits)(p2m_type_t t, p2m_access_t a);
    /* The rights one entry (leaf or table) grants on its own. */
    p2m_access_t (*rights_of)(p2m_pte_t e);
    /* The rights bits that deny when set (NPT's NX): a walk grants what
     * rights_of gives for the AND of its entries with these flipped. */
    uint64_t rights_neg;
};

/* Bits below the frame of a leaf at level: 11:0, 20:0, 29:0. */
static inline uint64_t p2m_codec_leaf_low(unsigned int level)
{
    return (1ull << (PAGE_SHIFT + p2m_level_order(level))) - 1;
}

/* Address bits of a leaf at level (a superpage's frame is aligned). */
static inline uint64_t p2m_codec_leaf_addr(unsigned int level)
{
    return P2M_PTE_ADDR & ~p2m_codec_leaf_low(level);
}

/* The software bits: the P2M type and the access the toolstack set. */
static inline uint64_t p2m_codec_sw(p2m_type_t t, p2m_access_t a)
{
    return ((uint64_t)t << P2M_SW_TYPE_SHIFT) |
           ((uint64_t)(a & P2M_ACCESS_RWX) << P2M_SW_ACC_SHIFT);
}

static inline p2m_type_t p2m_codec_type(p2m_pte_t e)
{
    return (p2m_type_t)((e & P2M_SW_TYPE) >> P2M_SW_TYPE_SHIFT);
}

static inline p2m_access_t p2m_codec_access(p2m_pte_t e)
{
    return (p2m_access_t)((e & P2M_SW_ACC) >> P2M_SW_ACC_SHIFT);
}

/* What every leaf starts from: the software bits, and for a type with a
 * frame, the frame and the rights.  The codec adds its own bits. */
static inline p2m_pte_t p2m_codec_leaf(const struct p2m_codec *c,
                                       unsigned int level, mfn_t mfn,
                                       p2m_type_t t, p2m_access_t a)
{
    uint64_t e = p2m_codec_sw(t, a);

    if ( !p2m_type_has_mfn(t) )
        return e;
    e |= (mfn_x(mfn) << PAGE_SHIFT) & p2m_codec_leaf_addr(level);
    e |= c->rights_bits(t, a);
    if ( level > P2M_L1 )
        e |= c->ps;
    return e;
}

static inline bool p2m_codec_is_table(const struct p2m_codec *c,
                                      p2m_pte_t e, unsigned int level)
{
    return level > P2M_L1 && (e & c->present) && !(e & c->ps);
}

static inline mfn_t p2m_codec_mfn(const struct p2m_codec *c, p2m_pte_t e,
                                  unsigned int level)
{
    if ( p2m_codec_is_table(c, e, level) )
        return _mfn((e & P2M_PTE_ADDR) >> PAGE_SHIFT);
    return _mfn((e & p2m_codec_leaf_addr(level)) >> PAGE_SHIFT);
}

/*
 * Child idx of a split of leaf e at level: every bit kept but the frame,
 * which advances by idx children, and the size bits, which follow the
 * child's level (a PAT bit moves to bit 7 in an L1 leaf).
 */
static inline p2m_pte_t p2m_codec_split_child(const struct p2m_codec *c,
                                              p2m_pte_t e, unsigned int level,
                                              unsigned int idx)
{
    unsigned int child = level - 1;
    uint64_t attrs, mfn;

    if ( !p2m_type_has_mfn(p2m_codec_type(e)) )
        return e;               /* an empty entry: the type is inherited */
    attrs = e & ~(p2m_codec_leaf_addr(level) | c->pat_ps | c->ps);
    mfn = mfn_x(p2m_codec_mfn(c, e, level)) +
          ((uint64_t)idx << p2m_level_order(child));
    attrs |= (mfn << PAGE_SHIFT) & p2m_codec_leaf_addr(child);
    if ( child > P2M_L1 )
        attrs |= c->ps | (e & c->pat_ps);
    else if ( e & c->pat_ps )
        attrs |= c->pat_l1;
    return attrs;
}

/* e with type nt: the access stays, the rights follow type and access. */
static inline p2m_pte_t p2m_codec_retype(const struct p2m_codec *c,
                                         p2m_pte_t e, p2m_type_t nt)
{
    p2m_access_t a = p2m_codec_access(e);

    e &= ~(P2M_SW_TYPE | c->rights);
    return e | p2m_codec_sw(nt, 0) | c->rights_bits(nt, a);
}

/* The checks both formats make of the software bits: the type is in
 * range, and a present leaf has a type with a frame. */
static inline unsigned int p2m_codec_check_type(p2m_pte_t e, bool leaf)
{
    unsigned int bad = 0;

    if ( p2m_codec_type(e) >= p2m_nr_types )
        bad |= P2M_CHECK_TYPE;
    if ( leaf && !p2m_type_has_mfn(p2m_codec_type(e)) )
        bad |= P2M_CHECK_TYPE;
    return bad;
}

/*
 * The lookup descent (ops->lookup).  Each codec instantiates it with its
 * own constant description, so the compiler folds the masks and the
 * rights decoder in: a few instructions per level and no calls, which
 * lets independent lookups overlap in the CPU.  The path's rights are
 * decoded once, from the AND of its entries.  The table an entry points
 * to is read through the platform's linear map.
 */
static inline void p2m_codec_lookup(const struct p2m_codec *c,
                                    const p2m_pte_t *table, uint64_t gfn,
                                    struct p2m_lookup *out)
{
    unsigned int level;
    uint64_t path = ~0ull;      /* every entry's bits, denials flipped */
    p2m_pte_t e;

#pragma GCC unroll 4
    for ( level = P2M_LEVELS; level >= P2M_L1; level-- )  /* L1: no table */
    {
        e = __atomic_load_n(&table[(gfn >> p2m_level_order(level)) & 511],
                            __ATOMIC_ACQUIRE);
        path &= e ^ c->rights_neg;
        if ( !p2m_codec_is_table(c, e, level) )
            break;
        table = directmap_mfn(_mfn((e & P2M_PTE_ADDR) >> PAGE_SHIFT));
    }
    out->type = p2m_codec_type(e);
    out->access = p2m_codec_access(e);
    out->rights = c->rights_of(path ^ c->rights_neg);
    out->order = p2m_level_order(level);
    out->mfn = INVALID_MFN;
    if ( p2m_type_has_mfn(out->type) )
        out->mfn = _mfn(mfn_x(p2m_codec_mfn(c, e, level)) +
                        (gfn & ((1ull << out->order) - 1)));
}

#endif /* X86_MM_P2M_CODEC_H */

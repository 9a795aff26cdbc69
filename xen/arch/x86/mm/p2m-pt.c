/*
 * AMD NPT entry format: the x86-64 long-mode page-table format, walked by
 * the CPU as nested tables.  Encoding and decoding only; what it shares
 * with EPT is in p2m-codec.h.
 */
#include "p2m-codec.h"

#define NPT_P      (1ull << 0)    /* present */
#define NPT_RW     (1ull << 1)    /* writable */
#define NPT_US     (1ull << 2)    /* user: nested walks are user accesses */
#define NPT_PWT    (1ull << 3)    /* write-through */
#define NPT_PCD    (1ull << 4)    /* cache disable */
#define NPT_A      (1ull << 5)    /* accessed */
#define NPT_D      (1ull << 6)    /* dirty (leaves) */
#define NPT_PS     (1ull << 7)    /* page size (L2/L3); PAT in L1 leaves */
#define NPT_PAT_L1 (1ull << 7)    /* PAT, 4 KiB leaves */
#define NPT_PAT_PS (1ull << 12)   /* PAT, 2 MiB and 1 GiB leaves */
#define NPT_NX     (1ull << 63)   /* no execute (needs EFER.NXE) */

#define NPT_TABLE (NPT_P | NPT_RW | NPT_US)

BUILD_BUG_ON((P2M_PTE_ADDR & NPT_NX) != 0);
BUILD_BUG_ON(((P2M_SW_TYPE | P2M_SW_ACC) & NPT_NX) != 0);

/* Must-be-zero bits of a leaf at level: 20:13 (2 MiB), 29:13 (1 GiB). */
static uint64_t npt_leaf_rsvd(unsigned int level)
{
    if ( level == P2M_L1 )
        return 0;
    return p2m_codec_leaf_low(level) & ~((1ull << 13) - 1);
}

/* Present/RW/NX from the rights a type and an access allow together. */
static uint64_t npt_rights_bits(p2m_type_t t, p2m_access_t a)
{
    p2m_access_t r = a & p2m_type_rights(t);
    uint64_t e = 0;

    if ( !(r & P2M_ACCESS_R) )
        return 0;               /* NPT cannot grant W or X without R */
    e |= NPT_P;
    if ( r & P2M_ACCESS_W )
        e |= NPT_RW;
    if ( !(r & P2M_ACCESS_X) )
        e |= NPT_NX;
    return e;
}

static p2m_access_t npt_rights(p2m_pte_t e)
{
    p2m_access_t r;

    if ( !(e & NPT_P) )
        return 0;
    r = P2M_ACCESS_R;
    if ( e & NPT_RW )
        r |= P2M_ACCESS_W;
    if ( !(e & NPT_NX) )
        r |= P2M_ACCESS_X;
    return r;
}

static const struct p2m_codec npt = {
    .present = NPT_P,
    .rights = NPT_P | NPT_RW | NPT_NX,
    .ps = NPT_PS,
    .pat_ps = NPT_PAT_PS,
    .pat_l1 = NPT_PAT_L1,
    .rights_bits = npt_rights_bits,
    .rights_of = npt_rights,
    .rights_neg = NPT_NX,
};

static p2m_pte_t npt_make_leaf(unsigned int level, mfn_t mfn, p2m_type_t t,
                               p2m_access_t a)
{
    uint64_t e = p2m_codec_leaf(&npt, level, mfn, t, a);

    if ( !p2m_type_has_mfn(t) )
        return e;
    e |= NPT_US | NPT_A | NPT_D;
    if ( t == p2m_mmio_direct )
        e |= NPT_PCD | NPT_PWT;
    return e;
}

static p2m_pte_t npt_make_table(mfn_t table)
{
    return (mfn_x(table) << PAGE_SHIFT) | NPT_TABLE;
}

static bool npt_is_table(p2m_pte_t e, unsigned int level)
{
    return p2m_codec_is_table(&npt, e, level);
}

static mfn_t npt_mfn(p2m_pte_t e, unsigned int level)
{
    return p2m_codec_mfn(&npt, e, level);
}

static p2m_pte_t npt_split_child(p2m_pte_t e, unsigned int level,
                                 unsigned int idx)
{
    return p2m_codec_split_child(&npt, e, level, idx);
}

static p2m_pte_t npt_retype(p2m_pte_t e, unsigned int level, p2m_type_t nt)
{
    (void)level;
    return p2m_codec_retype(&npt, e, nt);
}

static unsigned int npt_check(p2m_pte_t e, unsigned int level)
{
    bool leaf = !npt_is_table(e, level) && level != P2M_L4;
    unsigned int bad;

    if ( !(e & NPT_P) )
        return p2m_codec_check_type(e, false);
    bad = p2m_codec_check_type(e, leaf);
    if ( !(e & NPT_US) )
        bad |= P2M_CHECK_FORMAT;
    if ( level == P2M_L4 && (e & NPT_PS) )
        bad |= P2M_CHECK_PS_L4;
    if ( leaf && (e & npt_leaf_rsvd(level)) )
        bad |= P2M_CHECK_RESERVED;
    return bad;
}

static void npt_lookup(const p2m_pte_t *root, uint64_t gfn,
                       struct p2m_lookup *out)
{
    p2m_codec_lookup(&npt, root, gfn, out);
}

static uint64_t npt_root_pointer(mfn_t root)
{
    return mfn_x(root) << PAGE_SHIFT;
}

const struct p2m_format_ops p2m_npt_ops = {
    .name = "npt",
    .format = P2M_FORMAT_NPT,
    .make_leaf = npt_make_leaf,
    .make_table = npt_make_table,
    .is_table = npt_is_table,
    .mfn = npt_mfn,
    .type = p2m_codec_type,
    .access = p2m_codec_access,
    .rights = npt_rights,
    .split_child = npt_split_child,
    .retype = npt_retype,
    .check = npt_check,
    .root_pointer = npt_root_pointer,
    .lookup = npt_lookup,
    .frame_step = 1ull << PAGE_SHIFT,
    .hw_owned = NPT_A | NPT_D,      /* set by nested walks in tables too */
};

/*
 * AMD NPT entry format: the x86-64 long-mode page-table format, walked by
 * the CPU as nested tables.  Encoding and decoding only.
 */
#include <asm-x86/p2m-format.h>
#include <xen/lib.h>

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

#define NPT_ADDR   0x000ffffffffff000ull      /* bits 51:12 */
#define NPT_SW_TYPE_SHIFT 52                  /* bits 54:52: p2m_type_t */
#define NPT_SW_TYPE (7ull << NPT_SW_TYPE_SHIFT)
#define NPT_SW_ACC_SHIFT 55                   /* bits 57:55: p2m_access_t */
#define NPT_SW_ACC (7ull << NPT_SW_ACC_SHIFT)

#define NPT_TABLE (NPT_P | NPT_RW | NPT_US)

BUILD_BUG_ON(p2m_nr_types > 8);
BUILD_BUG_ON((NPT_ADDR & (NPT_SW_TYPE | NPT_SW_ACC | NPT_NX | 0xfff)) != 0);
BUILD_BUG_ON((NPT_SW_TYPE & NPT_SW_ACC) != 0);

/* Address bits of an entry at level that is a leaf (L2/L3 lose PAT). */
static uint64_t npt_leaf_addr_mask(unsigned int level)
{
    return NPT_ADDR & ~((1ull << (PAGE_SHIFT + p2m_level_order(level))) - 1);
}

/* Must-be-zero bits of a leaf at level: 20:13 (2 MiB), 29:13 (1 GiB). */
static uint64_t npt_leaf_rsvd(unsigned int level)
{
    if ( level == P2M_L1 )
        return 0;
    return ((1ull << (PAGE_SHIFT + p2m_level_order(level))) - 1) &
           ~((1ull << 13) - 1);
}

static uint64_t npt_sw(p2m_type_t t, p2m_access_t a)
{
    return ((uint64_t)t << NPT_SW_TYPE_SHIFT) |
           ((uint64_t)(a & P2M_ACCESS_RWX) << NPT_SW_ACC_SHIFT);
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

static p2m_pte_t npt_make_leaf(unsigned int level, mfn_t mfn, p2m_type_t t,
                               p2m_access_t a)
{
    uint64_t e = npt_sw(t, a);

    if ( !p2m_type_has_mfn(t) )
        return e;
    e |= (mfn_x(mfn) << PAGE_SHIFT) & npt_leaf_addr_mask(level);
    e |= NPT_US | NPT_A | NPT_D | npt_rights_bits(t, a);
    if ( level > P2M_L1 )
        e |= NPT_PS;
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
    return level > P2M_L1 && (e & NPT_P) && !(e & NPT_PS);
}

static mfn_t npt_mfn(p2m_pte_t e, unsigned int level)
{
    if ( npt_is_table(e, level) )
        return _mfn((e & NPT_ADDR) >> PAGE_SHIFT);
    return _mfn((e & npt_leaf_addr_mask(level)) >> PAGE_SHIFT);
}

static p2m_type_t npt_type(p2m_pte_t e)
{
    return (p2m_type_t)((e & NPT_SW_TYPE) >> NPT_SW_TYPE_SHIFT);
}

static p2m_access_t npt_access(p2m_pte_t e)
{
    return (p2m_access_t)((e & NPT_SW_ACC) >> NPT_SW_ACC_SHIFT);
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

static p2m_pte_t npt_split_child(p2m_pte_t e, unsigned int level,
                                 unsigned int idx)
{
    unsigned int child = level - 1;
    uint64_t attrs, mfn;

    if ( !p2m_type_has_mfn(npt_type(e)) )
        return e;               /* an empty entry: the type is inherited */
    attrs = e & ~(npt_leaf_addr_mask(level) | NPT_PAT_PS | NPT_PS);
    mfn = mfn_x(npt_mfn(e, level)) + ((uint64_t)idx << p2m_level_order(child));
    attrs |= (mfn << PAGE_SHIFT) & npt_leaf_addr_mask(child);
    if ( child > 1 )
        attrs |= NPT_PS | (e & NPT_PAT_PS);
    else if ( e & NPT_PAT_PS )
        attrs |= NPT_PAT_L1;
    return attrs;
}

static p2m_pte_t npt_retype(p2m_pte_t e, unsigned int level, p2m_type_t nt)
{
    p2m_access_t a = npt_access(e);

    (void)level;
    e &= ~(NPT_SW_TYPE | NPT_P | NPT_RW | NPT_NX);
    return e | npt_sw(nt, 0) | npt_rights_bits(nt, a);
}

static unsigned int npt_check(p2m_pte_t e, unsigned int level)
{
    unsigned int bad = 0;

    if ( npt_type(e) >= p2m_nr_types )
        bad |= P2M_CHECK_TYPE;
    if ( !(e & NPT_P) )
        return bad;
    if ( !(e & NPT_US) )
        bad |= P2M_CHECK_FORMAT;
    if ( level == P2M_L4 && (e & NPT_PS) )
        bad |= P2M_CHECK_PS_L4;
    if ( npt_is_table(e, level) || level == P2M_L4 )
        return bad;
    if ( !p2m_type_has_mfn(npt_type(e)) )
        bad |= P2M_CHECK_TYPE;  /* present, but a type without a frame */
    if ( e & npt_leaf_rsvd(level) )
        bad |= P2M_CHECK_RESERVED;
    return bad;
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
    .type = npt_type,
    .access = npt_access,
    .rights = npt_rights,
    .split_child = npt_split_child,
    .retype = npt_retype,
    .check = npt_check,
    .root_pointer = npt_root_pointer,
};

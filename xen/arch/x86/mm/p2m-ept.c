/*
 * Intel EPT entry format.  Encoding and decoding only; what it shares with
 * NPT is in p2m-codec.h.
 */
#include "p2m-codec.h"

#define EPT_R        (1ull << 0)   /* read */
#define EPT_W        (1ull << 1)   /* write */
#define EPT_X        (1ull << 2)   /* execute */
#define EPT_RWX      (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT 3             /* bits 5:3: memory type (leaves) */
#define EPT_MT       (7ull << EPT_MT_SHIFT)
#define EPT_IPAT     (1ull << 6)   /* ignore guest PAT (leaves) */
#define EPT_PS       (1ull << 7)   /* page size */
#define EPT_A        (1ull << 8)   /* accessed */
#define EPT_D        (1ull << 9)   /* dirty (leaves) */

#define EPT_MT_UC 0
#define EPT_MT_WB 6

/* Bits 7:3 of a non-leaf entry are reserved. */
#define EPT_TABLE_RSVD (0x1full << 3)

/* Reserved bits of a leaf: 20:12 (2 MiB), 29:12 (1 GiB). */
static uint64_t ept_leaf_rsvd(unsigned int level)
{
    if ( level == P2M_L1 )
        return 0;
    return p2m_codec_leaf_low(level) & ~((1ull << PAGE_SHIFT) - 1);
}

/*
 * R/W/X bits.  Without R, write would be a misconfiguration, and so would
 * execute on a CPU without execute-only support (IA32_VMX_EPT_VPID_CAP
 * bit 0): there the entry grants nothing, as an NPT entry without R does.
 * Granting nothing rather than refusing the mapping, because a type change
 * can reach X without R on its own (log-dirty takes W from an access wx).
 */
static uint64_t ept_rights_bits(p2m_type_t t, p2m_access_t a)
{
    p2m_access_t r = a & p2m_type_rights(t);

    if ( !(r & P2M_ACCESS_R) )
        r &= machine.ept_exec_only ? P2M_ACCESS_X : 0;
    return (r & P2M_ACCESS_R ? EPT_R : 0) | (r & P2M_ACCESS_W ? EPT_W : 0) |
           (r & P2M_ACCESS_X ? EPT_X : 0);
}

static p2m_access_t ept_rights(p2m_pte_t e)
{
    return (e & EPT_R ? P2M_ACCESS_R : 0) | (e & EPT_W ? P2M_ACCESS_W : 0) |
           (e & EPT_X ? P2M_ACCESS_X : 0);
}

static const struct p2m_codec ept = {
    .present = EPT_RWX,
    .rights = EPT_RWX,
    .ps = EPT_PS,
    .pat_ps = 0,               /* EPT leaves have no PAT bit */
    .pat_l1 = 0,
    .rights_bits = ept_rights_bits,
    .rights_of = ept_rights,
};

static p2m_pte_t ept_make_leaf(unsigned int level, mfn_t mfn, p2m_type_t t,
                               p2m_access_t a)
{
    uint64_t e = p2m_codec_leaf(&ept, level, mfn, t, a);

    if ( !p2m_type_has_mfn(t) )
        return e;
    if ( t == p2m_mmio_direct )
        e |= ((uint64_t)EPT_MT_UC << EPT_MT_SHIFT) | EPT_IPAT;
    else
        e |= (uint64_t)EPT_MT_WB << EPT_MT_SHIFT;
    return e;
}

static p2m_pte_t ept_make_table(mfn_t table)
{
    return (mfn_x(table) << PAGE_SHIFT) | EPT_RWX;
}

static bool ept_is_table(p2m_pte_t e, unsigned int level)
{
    return p2m_codec_is_table(&ept, e, level);
}

static mfn_t ept_mfn(p2m_pte_t e, unsigned int level)
{
    return p2m_codec_mfn(&ept, e, level);
}

static p2m_pte_t ept_split_child(p2m_pte_t e, unsigned int level,
                                 unsigned int idx)
{
    return p2m_codec_split_child(&ept, e, level, idx);
}

static p2m_pte_t ept_retype(p2m_pte_t e, unsigned int level, p2m_type_t nt)
{
    (void)level;
    return p2m_codec_retype(&ept, e, nt);
}

/* The format's own rules for a present entry: rights, memory type. */
static unsigned int ept_check_bits(p2m_pte_t e, unsigned int level, bool leaf)
{
    unsigned int bad = 0, mt = (e & EPT_MT) >> EPT_MT_SHIFT;

    if ( (e & EPT_W) && !(e & EPT_R) )
        bad |= P2M_CHECK_FORMAT;
    if ( (e & EPT_RWX) == EPT_X && !machine.ept_exec_only )
        bad |= P2M_CHECK_FORMAT;    /* execute-only, not supported */
    if ( level == P2M_L4 && (e & EPT_PS) )
        bad |= P2M_CHECK_PS_L4;
    if ( !leaf )
        return bad | (e & EPT_TABLE_RSVD & ~EPT_PS ? P2M_CHECK_RESERVED : 0);
    if ( mt == 2 || mt == 3 || mt == 7 )
        bad |= P2M_CHECK_FORMAT;
    if ( e & ept_leaf_rsvd(level) )
        bad |= P2M_CHECK_RESERVED;
    return bad;
}

static unsigned int ept_check(p2m_pte_t e, unsigned int level)
{
    bool leaf = !ept_is_table(e, level) && level != P2M_L4;

    if ( !(e & EPT_RWX) )          /* not present: other bits are ignored */
        return p2m_codec_check_type(e, false);
    return p2m_codec_check_type(e, leaf) | ept_check_bits(e, level, leaf);
}

static void ept_lookup(const p2m_pte_t *root, uint64_t gfn,
                       struct p2m_lookup *out)
{
    p2m_codec_lookup(&ept, root, gfn, out);
}

/* EPTP: WB walks (bits 2:0 = 6), 4-level walk (bits 5:3 = 3). */
static uint64_t ept_root_pointer(mfn_t root)
{
    return (mfn_x(root) << PAGE_SHIFT) | (3ull << 3) | EPT_MT_WB;
}

const struct p2m_format_ops p2m_ept_ops = {
    .name = "ept",
    .format = P2M_FORMAT_EPT,
    .make_leaf = ept_make_leaf,
    .make_table = ept_make_table,
    .is_table = ept_is_table,
    .mfn = ept_mfn,
    .type = p2m_codec_type,
    .access = p2m_codec_access,
    .rights = ept_rights,
    .split_child = ept_split_child,
    .retype = ept_retype,
    .check = ept_check,
    .root_pointer = ept_root_pointer,
    .lookup = ept_lookup,
    .frame_step = 1ull << PAGE_SHIFT,
    .hw_owned = EPT_A | EPT_D,      /* only with EPTP bit 6, which ours
                                       leaves clear */
};

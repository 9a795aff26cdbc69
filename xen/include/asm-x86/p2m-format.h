/*
 * What a P2M entry format (NPT or EPT) supplies.  Formats only encode and
 * decode entries; the walker, splits, accounting and policy are generic.
 * Each P2M holds a pointer to its format's ops, so one process can hold
 * tables of both formats at once.
 */
#ifndef ASM_X86_P2M_FORMAT_H
#define ASM_X86_P2M_FORMAT_H

#include <asm-x86/p2m.h>

typedef uint64_t p2m_pte_t;

/* Format rule violations reported by check(); one bit each. */
#define P2M_CHECK_RESERVED (1u << 0)   /* reserved / must-be-zero bits */
#define P2M_CHECK_FORMAT   (1u << 1)   /* U=0 (NPT), W without R, memtype,
                                          X-only on a CPU without it (EPT) */
#define P2M_CHECK_PS_L4    (1u << 2)   /* page-size bit in an L4 entry */
#define P2M_CHECK_TYPE     (1u << 3)   /* software type out of range */

struct p2m_format_ops {
    const char *name;
    enum p2m_format format;

    /* A leaf at level (1..3) for a type with a frame, or an empty entry
     * (P2M not-present) carrying t for types without one.  Rights are
     * a & p2m_type_rights(t), less what the CPU cannot grant: without R
     * nothing on NPT, only X on EPT with execute-only support. */
    p2m_pte_t (*make_leaf)(unsigned int level, mfn_t mfn, p2m_type_t t,
                           p2m_access_t a);
    /* A pointer to a next-level table. */
    p2m_pte_t (*make_table)(mfn_t table);

    /* The entry points to a next-level table (never true at L1). */
    bool (*is_table)(p2m_pte_t e, unsigned int level);
    mfn_t (*mfn)(p2m_pte_t e, unsigned int level);
    p2m_type_t (*type)(p2m_pte_t e);
    p2m_access_t (*access)(p2m_pte_t e);
    /* Rights the hardware grants through this entry (leaf or table) alone;
     * a walk grants what every entry on its path grants. */
    p2m_access_t (*rights)(p2m_pte_t e);

    /* Child idx of a split of leaf e at level (>= 2): same type, access and
     * memory type, frame e.mfn + idx * 2^order(level - 1). */
    p2m_pte_t (*split_child)(p2m_pte_t e, unsigned int level,
                             unsigned int idx);
    /* e with type nt, everything else kept (rights follow the type). */
    p2m_pte_t (*retype)(p2m_pte_t e, unsigned int level, p2m_type_t nt);

    /* P2M_CHECK_* bits for rules e breaks at level. */
    unsigned int (*check)(p2m_pte_t e, unsigned int level);
    /* Nested CR3 or EPTP for a root table. */
    uint64_t (*root_pointer)(mfn_t root);

    /* gfn's terminal entry, decoded, in the tables below root: a read-only
     * descent without the P2M lock, each entry read once (acquire), the
     * rights the AND of every level's.  Called between plat_read_enter and
     * plat_read_exit; the same answer the iterator's descent decodes. */
    void (*lookup)(const p2m_pte_t *root, uint64_t gfn,
                   struct p2m_lookup *out);

    /* A 4K leaf of the next frame, all else the same: the entry plus this
     * (the unit of the frame field), for runs of leaves. */
    uint64_t frame_step;
    /* Bits the CPU itself may set in an entry it walks (accessed, dirty):
     * the entry digest leaves them out, since no store wrote them. */
    uint64_t hw_owned;
};

extern const struct p2m_format_ops p2m_npt_ops;
extern const struct p2m_format_ops p2m_ept_ops;

#endif /* ASM_X86_P2M_FORMAT_H */

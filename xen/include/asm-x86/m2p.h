/*
 * The machine-to-guest map.  One record per P2M leaf, kept in the page_info
 * of the leaf's first frame: a 1 GiB leaf is one record, not 262144.
 * 2 MiB- and 1 GiB-aligned frames also count the smaller records inside
 * their block, so "is any frame of this block mapped" is cheap.
 *
 * A frame's record is written only under its owner's P2M lock; the block
 * counters are atomic because neighbouring frames may belong to others.
 */
#ifndef ASM_X86_M2P_H
#define ASM_X86_M2P_H

#include <asm-x86/page.h>

void m2p_set(mfn_t mfn, gfn_t gfn, unsigned int order);
void m2p_clear(mfn_t mfn, unsigned int order);
/* n 4K records at once, frame mfn + i at gfn + i: the block counters are
 * added to once per block instead of once per frame. */
void m2p_set_4k_run(mfn_t mfn, gfn_t gfn, uint64_t n);
/* The n 4K records from frame mfn on go, the same way. */
void m2p_clear_4k_run(mfn_t mfn, uint64_t n);
/* 4K records gathered leaf by leaf, set (or cleared) a run at a time. */
struct m2p_run {
    mfn_t mfn;
    gfn_t gfn;
    uint64_t n;
    bool clear;
};
/* Frames mfn.. at gfn..: they join the run, or the run so far is written
 * and they start the next. */
void m2p_run_add(struct m2p_run *p, mfn_t mfn, gfn_t gfn, uint64_t n);
void m2p_run_flush(struct m2p_run *p);
/* The gfn that mfn is mapped at, or INVALID_GFN. */
gfn_t m2p_lookup(mfn_t mfn);
/* True when mfn starts a record of exactly this gfn and order. */
bool m2p_record_is(mfn_t mfn, gfn_t gfn, unsigned int order);
/*
 * True when some frame of [mfn, mfn + 2^order) is mapped at a gfn other than
 * gfn + (frame - mfn): mapping the range there would alias a frame.
 */
bool m2p_range_conflicts(mfn_t mfn, unsigned int order, gfn_t gfn);
/* The same for n 4K frames from mfn at gfn onwards, with the 1G and 2M
 * records read once per block and the 4K records only of 2M blocks whose
 * counters say they hold some. */
bool m2p_run_conflicts(mfn_t mfn, gfn_t gfn, uint64_t n);
/*
 * True when some frame of [mfn, mfn + 2^order) (mfn aligned to order) is
 * mapped by any leaf: such frames may not be freed or cached.
 */
bool m2p_range_mapped(mfn_t mfn, unsigned int order);

/*
 * Call fn for every record on RAM, in frame order, reaching only the blocks
 * whose counters say they hold records.  Records of other domains' frames
 * may change meanwhile; only those the caller's P2M lock guards are stable.
 */
typedef void (*m2p_record_fn)(void *ctx, mfn_t mfn, gfn_t gfn,
                              unsigned int order);
void m2p_for_each_record(m2p_record_fn fn, void *ctx);

#endif /* ASM_X86_M2P_H */

/*
 * The P2M API: mapping, lookup, type changes, log-dirty and the fault
 * handler.  Format-neutral: the entry encoding comes from p2m->ops and the
 * table walking from p2m-walk.c.
 *
 * Every mutating call validates all of its arguments first and reserves the
 * table pages it will need, so the commit step cannot fail halfway.
 */
#include "p2m-walk.h"

#include <asm-x86/m2p.h>
#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/sched.h>


#ifdef P2M_DEBUG
/*
 * Trees of up to DEBUG_AUDIT_TABLES table pages (4096 entries: nearly every
 * test) are audited after every operation.  After auditing a bigger tree the
 * next 32 * (table pages - DEBUG_AUDIT_TABLES) operations go unaudited, so
 * the audit costs about 16 entries per operation on average and debug builds
 * can still build and run guests of many GiB.  (A countdown, not a modulus
 * of the operation count: the period grows with the tree at the same rate as
 * the operations, and a modulus can then hit on every table page.)
 */
#define DEBUG_AUDIT_TABLES 8

void p2m_debug_audit(struct p2m_domain *p2m, const char *op)
{
    uint64_t t = p2m->stats.table_pages, left;
    struct p2m_audit_report r;
    unsigned int i;

    left = __atomic_load_n(&p2m->debug_skip, __ATOMIC_RELAXED);
    if ( left )
    {
        /* Racing callers may both audit or both skip: either is fine. */
        __atomic_store_n(&p2m->debug_skip, left - 1, __ATOMIC_RELAXED);
        return;
    }
    __atomic_store_n(&p2m->debug_skip,
                     t > DEBUG_AUDIT_TABLES ? 32 * (t - DEBUG_AUDIT_TABLES) : 0,
                     __ATOMIC_RELAXED);
    if ( !p2m_audit(p2m, &r) )
        return;
    for ( i = 0; i < r.nr_recorded; i++ )
        printk("audit after %s: %s level %u gfn %#llx entry %#llx\n", op,
               p2m_audit_code_name(r.err[i].code), r.err[i].level,
               (unsigned long long)r.err[i].gfn,
               (unsigned long long)r.err[i].entry);
    panic("P2M audit failed after %s: %u errors", op, r.nr_errors);
}
#endif

/* Each format's codec, indexed by enum p2m_format. */
static const struct p2m_format_ops *const format_ops[P2M_NR_FORMATS] = {
    [P2M_FORMAT_NPT] = &p2m_npt_ops,
    [P2M_FORMAT_EPT] = &p2m_ept_ops,
};

const char *p2m_format_to_name(enum p2m_format fmt)
{
    return (unsigned int)fmt < P2M_NR_FORMATS ? format_ops[fmt]->name : NULL;
}

int p2m_format_from_name(const char *name, enum p2m_format *fmt)
{
    size_t n = strlen(name);
    unsigned int i;

    for ( i = 0; i < P2M_NR_FORMATS; i++ )
        if ( strlen(format_ops[i]->name) == n &&
             !memcmp(format_ops[i]->name, name, n) )
        {
            *fmt = format_ops[i]->format;
            return 0;
        }
    return -EINVAL;
}

int p2m_init(struct p2m_domain *p2m, struct domain *d, enum p2m_format fmt)
{
    struct page_info *root;

    if ( !p2m_format_to_name(fmt) )
        return -EINVAL;
    p2m->domain = d;
    p2m->ops = format_ops[fmt];
    spin_lock_init(&p2m->lock, LOCK_CLASS_P2M);
    list_init(&p2m->pool);
    list_init(&p2m->deferred);
    list_init(&p2m->released);
    memset(&p2m->stats, 0, sizeof(p2m->stats));
    p2m->pool_pages = p2m->pool_allocs = p2m->pool_fail_at = 0;
    p2m->logdirty = p2m->test_skip_flush = false;
    p2m->dirty_map = NULL;
    p2m->dirty_top = 0;
    p2m->debug_skip = 0;
    p2m->max_order = PAGE_ORDER_1G;
    p2m_pod_init(p2m);
    root = alloc_p2m_page(d);
    if ( !root )
        return -ENOMEM;
    p2m->root = page_to_mfn(root);
    p2m->stats.table_pages = 1;
    return 0;
}

void p2m_teardown(struct p2m_domain *p2m)
{
    p2m_pod_teardown(p2m);
    spin_lock(&p2m->lock);
    p2m_clear_all(p2m);
    p2m_dirty_free(p2m);
    p2m_flush_and_release(p2m, true);
    p2m_pool_drain(p2m);
    free_p2m_page(p2m->domain, mfn_to_page(p2m->root));
    p2m->stats.table_pages = 0;
    spin_unlock(&p2m->lock);
}

int p2m_set_max_order(struct p2m_domain *p2m, unsigned int order)
{
    int rc = 0;

    if ( order != PAGE_ORDER_4K && order != PAGE_ORDER_2M &&
         order != PAGE_ORDER_1G )
        return -EDOM;
    spin_lock(&p2m->lock);
    if ( (order < PAGE_ORDER_1G && p2m->stats.pages[p2m_level_idx(P2M_L3)]) ||
         (order < PAGE_ORDER_2M && p2m->stats.pages[p2m_level_idx(P2M_L2)]) )
        rc = -EBUSY;
    else
        p2m->max_order = order;
    spin_unlock(&p2m->lock);
    return rc;
}

enum p2m_format p2m_format_of(const struct p2m_domain *p2m)
{
    return p2m->ops->format;
}

const char *p2m_format_name(const struct p2m_domain *p2m)
{
    return p2m->ops->name;
}

uint64_t p2m_root_pointer(const struct p2m_domain *p2m)
{
    return p2m->ops->root_pointer(p2m->root);
}

/* Everything about one leaf that can be checked without the P2M lock. */
static int validate_leaf(struct p2m_domain *p2m, gfn_t gfn, mfn_t mfn,
                         unsigned int order, p2m_type_t t, p2m_access_t a)
{
    uint64_t g = gfn_x(gfn), m = mfn_x(mfn);

    if ( order != PAGE_ORDER_4K && order != PAGE_ORDER_2M &&
         order != PAGE_ORDER_1G )
        return -EDOM;
    if ( g >= P2M_MAX_GFN || P2M_MAX_GFN - g < (1ull << order) )
        return -ERANGE;
    if ( (unsigned int)t >= p2m_nr_types || a > P2M_ACCESS_RWX )
        return -EBADR;
    if ( !is_aligned(g, order) )
        return -EINVAL;
    if ( !p2m_type_has_mfn(t) )
        return mfn_eq(mfn, INVALID_MFN) ? 0 : -EINVAL;
    if ( order > p2m->max_order )
        return -EOPNOTSUPP;
    /* Frame bits beyond the physical-address width are reserved bits. */
    if ( m >= machine_mfn_limit() ||
         machine_mfn_limit() - m < (1ull << order) )
        return -EFAULT;
    if ( !is_aligned(m, order) )
        return -EINVAL;
    return 0;
}

/*
 * Under the P2M lock (the lock that guards what the answer depends on): may
 * the domain map these frames as type t?  RAM must be the domain's own and
 * not in its PoD cache; MMIO must lie in an iomem range it was granted.
 */
static int check_frames(struct p2m_domain *p2m, mfn_t mfn, unsigned int order,
                        p2m_type_t t)
{
    ASSERT_LOCKED(&p2m->lock);
    if ( t == p2m_mmio_direct )
        return domain_iomem_allowed(p2m->domain, mfn, order);
    return p2m_type_is_ram(t) ? mfn_range_owned_by(p2m->domain, mfn, order)
                              : 0;
}

/* The largest order that gfn (and mfn, for types with one) allow. */
static unsigned int chunk_order(uint64_t g, uint64_t m, uint64_t left,
                                bool has_mfn, unsigned int max)
{
    static const unsigned int orders[] = { PAGE_ORDER_1G, PAGE_ORDER_2M, 0 };
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(orders); i++ )
    {
        unsigned int o = orders[i];

        if ( is_aligned(g, o) && (!has_mfn || is_aligned(m, o)) &&
             left >= (1ull << o) && (!has_mfn || o <= max) )
            return o;
    }
    return 0;
}

#define RANGE_ALLOC (1u << 0)  /* RAM from the heap, chosen under the lock */
#define RANGE_CLAIM (1u << 1)  /* free frames of mfn become the domain's */

struct range {
    gfn_t gfn;
    mfn_t mfn;
    uint64_t nr;
    p2m_type_t t;
    p2m_access_t a;
    unsigned int flags;        /* RANGE_* */
};

/* What a range operation does to the accounting, found before commit. */
struct range_ctx {
    struct p2m_need need;
    uint64_t released;         /* RAM pages whose frames the domain loses */
    uint64_t pod_removed;      /* 4K pages of PoD entries replaced */
    bool flush;
};

/*
 * A run of the range: n chunks of order o from gfn g (frame m, if the type
 * has one), all in one table of level p2m_order_level(o), so that a run is
 * walked once however many entries it writes.
 */
typedef int (*run_fn)(struct p2m_domain *p2m, const struct range *r,
                      gfn_t g, mfn_t m, unsigned int o, uint64_t n,
                      struct range_ctx *c);

/*
 * The chunks of order o from g to the end of g's table or of the range.
 * Inside one table every later chunk has order o too: g and m stay
 * 2^o-aligned, a larger order needs the alignment of a table boundary, and
 * a smaller one only a remainder shorter than 2^o.
 */
static uint64_t run_length(const struct range *r, uint64_t g, unsigned int o)
{
    uint64_t span = 1ull << (o + PAGE_ORDER_2M);
    uint64_t to_table = (align_down(g, o + PAGE_ORDER_2M) + span - g) >> o;
    uint64_t left = (gfn_x(r->gfn) + r->nr - g) >> o;

    return MIN(to_table, left);
}

/* Steps of a range: calls fn for each run; stops at the first error. */
static int for_each_run(struct p2m_domain *p2m, const struct range *r,
                        run_fn fn, struct range_ctx *c)
{
    bool has_mfn = p2m_type_has_mfn(r->t);
    uint64_t done = 0;
    int rc = 0;

    while ( !rc && done < r->nr )
    {
        uint64_t g = gfn_x(r->gfn) + done;
        uint64_t m = has_mfn ? mfn_x(r->mfn) + done : mfn_x(r->mfn);
        unsigned int o = chunk_order(g, m, r->nr - done, has_mfn,
                                     p2m->max_order);
        uint64_t n = run_length(r, g, o);

        rc = fn(p2m, r, _gfn(g), _mfn(m), o, n, c);
        done += n << o;
    }
    return rc;
}

/* Chunk i of a run: its frame (types without one keep INVALID_MFN). */
static mfn_t run_mfn(const struct range *r, mfn_t m, unsigned int o,
                     uint64_t i)
{
    return p2m_type_has_mfn(r->t) ? mfn_add(m, i << o) : m;
}

static int run_validate(struct p2m_domain *p2m, const struct range *r,
                        gfn_t g, mfn_t m, unsigned int o, uint64_t n,
                        struct range_ctx *c)
{
    int rc = validate_leaf(p2m, g, m, o, r->t, r->a);

    (void)c;
    /*
     * The chunks differ only in gfn and frame, both aligned as the first's,
     * and set_range checked the range's gfns: what can fail for one chunk
     * and not for an earlier one is the frame limit, which the last chunk
     * fails first of all.
     */
    if ( !rc && n > 1 )
        rc = validate_leaf(p2m, gfn_add(g, (n - 1) << o),
                           run_mfn(r, m, o, n - 1), o, r->t, r->a);
    return rc;
}

/* An old entry inside the run being replaced: what leaves with it. */
struct replaced {
    const struct range *r;
    gfn_t g;                   /* the run */
    mfn_t m;
    unsigned int o;
    uint64_t n;
    struct range_ctx *c;
    bool collect;              /* commit: move released frames aside */
};

/*
 * The old terminal entry at it, where it overlaps the run: PoD pages
 * replaced, and RAM that the domain loses, in pieces of the smaller of the
 * old leaf and a chunk (each piece a chunk of its own on p2m->released).
 */
static void replaced_leaf(struct p2m_domain *p2m, const struct p2m_iter *it,
                          const struct replaced *x)
{
    const struct p2m_format_ops *ops = p2m->ops;
    p2m_type_t ot = ops->type(it->old);
    unsigned int lo = p2m_level_order(it->level);
    unsigned int order = MIN(lo, x->o);
    uint64_t g = gfn_x(x->g), end = g + (x->n << x->o);
    uint64_t a = MAX(gfn_x(it->gfn), g);
    uint64_t b = MIN(gfn_x(it->gfn) + (1ull << lo), end), om;
    struct page_info *pg;

    ASSERT_LOCKED(&p2m->lock);
    if ( ot == p2m_populate_on_demand )
        x->c->pod_removed += b - a;
    if ( !p2m_type_is_ram(ot) )
        return;
    om = mfn_x(ops->mfn(it->old, it->level)) + (a - gfn_x(it->gfn));
    if ( p2m_type_is_ram(x->r->t) && om == mfn_x(x->m) + (a - g) )
        return;                 /* the same frames stay at the same gfns */
    x->c->released += b - a;
    if ( !x->collect )
        return;
    /* Set the frames aside; they go to the cache or the heap only after
     * the flush, when no vCPU can reach them any more (XSA-486). */
    for ( ; a < b; a += 1ull << order, om += 1ull << order )
    {
        pg = heap_make_chunk(p2m->domain, _mfn(om), order);
        ASSERT(pg);
        if ( pg )
            heap_move_chunk(pg, &p2m->released);
    }
}

static void visit_replaced(struct p2m_domain *p2m, const struct range *r,
                           gfn_t g, mfn_t m, unsigned int o, uint64_t n,
                           struct range_ctx *c, bool collect)
{
    struct replaced x = { r, g, m, o, n, c, collect };
    struct p2m_iter it;

    for_each_p2m_leaf(it, p2m, g, gfn_x(g) + (n << o))
        if ( it.old )
            replaced_leaf(p2m, &it, &x);
}

/*
 * Under the lock: may the run's frames be mapped as r->t?  The whole
 * extent is checked at once; if that fails, chunk by chunk, so the error
 * is the first chunk's, as if each had been checked alone.
 */
static int run_frames(struct p2m_domain *p2m, const struct range *r,
                      gfn_t g, mfn_t m, unsigned int o, uint64_t n)
{
    bool ram = p2m_type_is_ram(r->t);
    bool owned = ram && !mfn_extent_owned_by(p2m->domain, m, n << o);
    uint64_t i;
    int rc = 0;

    ASSERT_LOCKED(&p2m->lock);
    /* The domain's own 4K frames: only -EBUSY can fail, so the first chunk
     * that would is of no matter. */
    if ( owned && o == PAGE_ORDER_4K )
        return m2p_run_conflicts(m, g, n) ? -EBUSY : 0;
    for ( i = 0; !rc && i < n; i++ )
    {
        mfn_t mi = mfn_add(m, i << o);

        if ( !owned )
            rc = check_frames(p2m, mi, o, r->t);
        if ( !rc && ram && m2p_range_conflicts(mi, o, gfn_add(g, i << o)) )
            rc = -EBUSY;
    }
    return rc;
}

/* Under the lock: may this run be mapped, and what does it replace? */
static int run_prepare(struct p2m_domain *p2m, const struct range *r,
                       gfn_t g, mfn_t m, unsigned int o, uint64_t n,
                       struct range_ctx *c)
{
    int rc = p2m_type_has_mfn(r->t) ? run_frames(p2m, r, g, m, o, n) : 0;

    ASSERT_LOCKED(&p2m->lock);
    if ( rc )
        return rc;
    /* One table holds the whole run: the first chunk's path is all of it. */
    p2m_need_add(p2m, &c->need, g, p2m_order_level(o));
    visit_replaced(p2m, r, g, m, o, n, c, false);
    return 0;
}

/*
 * Write the run's leaves in one walk: the first entry builds the tables
 * down to the run's level (the pages were reserved), the rest are its
 * neighbours in the same table.
 */
static int run_commit(struct p2m_domain *p2m, const struct range *r,
                      gfn_t g, mfn_t m, unsigned int o, uint64_t n,
                      struct range_ctx *c)
{
    const struct p2m_format_ops *ops = p2m->ops;
    unsigned int level = p2m_order_level(o);
    bool batch = level == P2M_L1 && p2m_type_is_ram(r->t);
    struct m2p_run pend = { .n = 0 };
    uint64_t end = gfn_x(g) + (n << o);
    struct p2m_iter it;
    p2m_pte_t new;
    int rc = 0;

    ASSERT_LOCKED(&p2m->lock);
    visit_replaced(p2m, r, g, m, o, n, c, true);
    for ( p2m_iter_start(&it, p2m, g, end, level, true);
          !it.done; p2m_iter_next(&it) )
    {
        mfn_t mi;

        rc = p2m_iter_build(p2m, &it, level);
        if ( rc )
            break;      /* cannot happen: the pages were reserved */
        mi = run_mfn(r, m, o, (gfn_x(it.gfn) - gfn_x(g)) >> o);
        if ( batch && !it.old )
        {
            /* Empty entries: the rest of this table's part in one go. */
            gfn_t at = it.gfn;
            uint64_t k = p2m_iter_set_run(p2m, &it, mi, r->t, r->a,
                                          end - gfn_x(at));

            m2p_run_add(&pend, mi, at, k);
            continue;
        }
        new = ops->make_leaf(level, mi, r->t, r->a);
        c->flush |= p2m_needs_flush(p2m, it.old, new, level);
        if ( batch && !p2m_type_is_ram(ops->type(it.old)) )
        {
            m2p_run_add(&pend, mi, it.gfn, 1);
            p2m_iter_set(p2m, &it, new, P2M_SET_M2P_LATER);
        }
        else
            p2m_iter_set(p2m, &it, new, P2M_SET_PLAIN);
    }
    m2p_run_flush(&pend);
    return rc;
}

/*
 * Memory the range brings in (RANGE_ALLOC: a fresh zeroed extent; RANGE_CLAIM:
 * the free frames at r->mfn), charged to the domain under the P2M lock so
 * that no frame is ever owned but neither mapped nor cached outside it.
 * Returns the pages taken (to give back if the range fails later).
 */
static int64_t range_take_memory(struct p2m_domain *p2m, struct range *r)
{
    struct domain *d = p2m->domain;
    unsigned int order = (unsigned int)__builtin_ctzll(r->nr);
    struct page_info *pg;

    ASSERT_LOCKED(&p2m->lock);
    if ( !(r->flags & (RANGE_ALLOC | RANGE_CLAIM)) )
        return 0;
    if ( r->flags & RANGE_CLAIM &&
         mfn_range_owned_by(d, r->mfn, order) != -EPERM )
        return 0;               /* already the domain's (or not RAM) */
    if ( d->tot_pages + r->nr > d->max_pages )
        return -ENOSPC;
    if ( r->flags & RANGE_CLAIM )
        return claim_domheap_range(d, r->mfn, order) ? 0 : (int64_t)r->nr;
    pg = alloc_domheap_pages(d, order, MEMF_zero);
    if ( !pg )
        return -ENOMEM;
    r->mfn = page_to_mfn(pg);
    return (int64_t)r->nr;
}

/* B after the range: no more than max_pages (Xen's B <= M). */
static int range_check_believed(struct p2m_domain *p2m, const struct range *r,
                                const struct range_ctx *c)
{
    struct domain *d = p2m->domain;
    uint64_t held = d->tot_pages - p2m->pod.count - c->released;
    uint64_t pod = p2m->stats.pod_entries - c->pod_removed +
                   (r->t == p2m_populate_on_demand ? r->nr : 0);

    ASSERT_LOCKED(&p2m->lock);
    return held + pod > d->max_pages ? -ENOSPC : 0;
}

/* Validate and reserve under the lock; nothing is written yet. */
static int range_prepare(struct p2m_domain *p2m, struct range *r,
                         p2m_range_check_fn check, struct range_ctx *c)
{
    int rc = check ? check(p2m, gfn_x(r->gfn), r->nr) : 0;

    ASSERT_LOCKED(&p2m->lock);
    /* Log-dirty: the map must reach every gfn a dirty leaf can leave. */
    if ( !rc && p2m->logdirty )
        rc = p2m_dirty_cover(p2m, gfn_x(r->gfn) + r->nr);
    if ( !rc )
        rc = for_each_run(p2m, r, run_prepare, c);
    if ( !rc )
        rc = range_check_believed(p2m, r, c);
    if ( !rc )
        rc = p2m_pool_reserve(p2m, c->need.pages);
    return rc;
}

/* validated: the caller already checked the chunks (a single leaf). */
static int set_range(struct p2m_domain *p2m, struct range *r,
                     p2m_range_check_fn check, bool validated)
{
    struct range_ctx c = { .flush = false };
    int64_t taken;
    int rc;

    if ( r->nr == 0 )
        return 0;
    if ( gfn_x(r->gfn) >= P2M_MAX_GFN || P2M_MAX_GFN - gfn_x(r->gfn) < r->nr )
        return -ERANGE;
    rc = validated ? 0 : for_each_run(p2m, r, run_validate, &c);
    if ( rc )
        return rc;
    spin_lock(&p2m->lock);
    p2m_need_init(&c.need);
    taken = range_take_memory(p2m, r);
    rc = taken < 0 ? (int)taken : range_prepare(p2m, r, check, &c);
    if ( rc && taken > 0 )
        free_domheap_range(p2m->domain, r->mfn,
                           (unsigned int)__builtin_ctzll(r->nr));
    if ( !rc )
        rc = for_each_run(p2m, r, run_commit, &c);
    ASSERT(!rc || !c.flush);
    /* Replaced frames go to the cache or the heap only after the flush. */
    p2m_flush_and_release(p2m, c.flush);
    p2m_pod_release_frames(p2m);
    spin_unlock(&p2m->lock);
    p2m_debug_audit(p2m, "set_range");
    return rc;
}

int p2m_set_range(struct p2m_domain *p2m, gfn_t gfn, mfn_t mfn, uint64_t nr,
                  p2m_type_t t, p2m_access_t a)
{
    struct range r = { gfn, mfn, nr, t, t == p2m_invalid ? 0 : a, 0 };

    return set_range(p2m, &r, NULL, false);
}

int p2m_set_range_checked(struct p2m_domain *p2m, gfn_t gfn, uint64_t nr,
                          p2m_type_t t, p2m_access_t a,
                          p2m_range_check_fn check)
{
    struct range r = { gfn, INVALID_MFN, nr, t, a, 0 };

    ASSERT(!p2m_type_has_mfn(t));
    return set_range(p2m, &r, check, false);
}

/* One leaf: validated here once (one aligned leaf is one chunk). */
static int set_leaf(struct p2m_domain *p2m, gfn_t gfn, mfn_t *mfn,
                    unsigned int order, p2m_type_t t, p2m_access_t a,
                    unsigned int flags)
{
    struct range r = { gfn, *mfn, 1ull << order, t,
                       t == p2m_invalid ? 0 : a, flags };
    int rc = validate_leaf(p2m, gfn, *mfn, order, t, a);

    if ( !rc )
        rc = set_range(p2m, &r, NULL, true);
    if ( !rc )
        *mfn = r.mfn;
    return rc;
}

int p2m_set_entry(struct p2m_domain *p2m, gfn_t gfn, mfn_t mfn,
                  unsigned int order, p2m_type_t t, p2m_access_t a)
{
    return set_leaf(p2m, gfn, &mfn, order, t, a, 0);
}

int p2m_populate_entry(struct p2m_domain *p2m, gfn_t gfn, unsigned int order,
                       p2m_type_t t, p2m_access_t a, mfn_t *mfn)
{
    mfn_t m = _mfn(0);          /* any aligned frame passes validation */
    int rc;

    if ( !p2m_type_is_ram(t) )
        return -EBADR;
    rc = set_leaf(p2m, gfn, &m, order, t, a, RANGE_ALLOC);
    if ( !rc )
        *mfn = m;
    return rc;
}

int p2m_map_frames(struct p2m_domain *p2m, gfn_t gfn, mfn_t mfn,
                   unsigned int order, p2m_type_t t, p2m_access_t a)
{
    return set_leaf(p2m, gfn, &mfn, order, t, a,
                    p2m_type_is_ram(t) ? RANGE_CLAIM : 0);
}

int p2m_remove(struct p2m_domain *p2m, gfn_t gfn, unsigned int order)
{
    return p2m_set_entry(p2m, gfn, INVALID_MFN, order, p2m_invalid, 0);
}

/*
 * Decode the terminal entry it (which covers gfn) into out.  The rights are
 * what a hardware walk grants: the AND of every level's.
 */
static void decode(const struct p2m_domain *p2m, const struct p2m_iter *it,
                   uint64_t gfn, struct p2m_lookup *out)
{
    const struct p2m_format_ops *ops = p2m->ops;
    p2m_pte_t e = it->old;

    out->type = ops->type(e);
    out->order = p2m_level_order(it->level);
    out->access = ops->access(e);
    out->rights = ops->rights(e) & p2m_iter_path_rights(it);
    out->mfn = INVALID_MFN;
    if ( p2m_type_has_mfn(out->type) )
        out->mfn = mfn_add(ops->mfn(e, it->level), gfn - gfn_x(it->gfn));
}

int p2m_get_entry(struct p2m_domain *p2m, gfn_t gfn, struct p2m_lookup *out)
{
    if ( gfn_x(gfn) >= P2M_MAX_GFN )
        return -ERANGE;
    /* Lock-free: writers free no table a lookup may be in (p2m-walk.c). */
    plat_read_enter();
    p2m->ops->lookup(p2m_table(p2m->root), gfn_x(gfn), out);
    plat_read_exit();
    return 0;
}

void p2m_get_stats(struct p2m_domain *p2m, struct p2m_stats *out)
{
    spin_lock(&p2m->lock);
    *out = p2m->stats;
    spin_unlock(&p2m->lock);
}

/*
 * A guest write hit the log-dirty leaf at it: make the faulting 4K page
 * writable (dirty), splitting on down from where the fault's walk stopped.
 */
static int logdirty_write_fault(struct p2m_domain *p2m, struct p2m_iter *it)
{
    int rc;

    ASSERT_LOCKED(&p2m->lock);
    rc = p2m_pool_reserve(p2m, it->level - P2M_L1);    /* one per split */
    if ( !rc )
        rc = p2m_iter_build(p2m, it, P2M_L1);
    if ( rc )
        return rc;
    p2m_iter_set(p2m, it, p2m->ops->retype(it->old, P2M_L1, p2m_ram_rw),
                 P2M_SET_PLAIN);
    p2m_flush_and_release(p2m, false);
    return 0;
}

bool p2m_fault_progress(struct vcpu *v, gfn_t gfn)
{
    uint64_t gen = p2m_generation(&v->domain->p2m);

    if ( gfn_x(gfn) != v->fault_gfn || gen != v->fault_gen )
        v->fault_repeats = 0;
    v->fault_gfn = gfn_x(gfn);
    v->fault_gen = gen;
    return ++v->fault_repeats <= P2M_FAULT_LOOP_MAX;
}

int p2m_handle_fault(struct vcpu *v, gfn_t gfn, p2m_access_t access)
{
    struct domain *d = v->domain;
    struct p2m_domain *p2m = &d->p2m;
    const char *why = NULL;
    struct p2m_lookup l;
    struct p2m_iter it;
    int rc = 0;

    if ( __atomic_load_n(&d->crashed, __ATOMIC_ACQUIRE) )
        return -EFAULT;
    p2m_pod_access_done(v);     /* a new fault: the last access was done */
    if ( gfn_x(gfn) >= P2M_MAX_GFN )
    {
        domain_crash(d, "access beyond the guest-physical space", gfn);
        return -EFAULT;
    }
    spin_lock(&p2m->lock);
    p2m_iter_find(&it, p2m, gfn, P2M_L1);
    decode(p2m, &it, gfn_x(gfn), &l);
    if ( !(access & ~l.rights) )
        rc = 0;                 /* already allowed: a stale translation */
    else if ( l.type == p2m_ram_logdirty && (access & P2M_ACCESS_W) &&
              !(access & ~l.access) )
    {
        rc = logdirty_write_fault(p2m, &it);
        why = rc ? "no table page to split a log-dirty superpage" : NULL;
    }
    else if ( l.type == p2m_populate_on_demand && !(access & ~l.access) )
    {
        rc = p2m_pod_demand_populate(p2m, v, gfn, &it);
        why = rc == -ENOMEM ? "no table page to split a PoD entry" : NULL;
    }
    else
    {
        rc = -EFAULT;
        why = "access not allowed by the P2M";
    }
    spin_unlock(&p2m->lock);
    if ( rc == -EAGAIN )
        return rc;              /* paused for memory; resumes later */
    if ( rc )
    {
        domain_crash(d, why, gfn);
        return -EFAULT;
    }
    p2m_debug_audit(p2m, "fault");
    return 0;
}

int p2m_for_each_leaf(struct p2m_domain *p2m, p2m_leaf_fn fn, void *ctx)
{
    struct p2m_lookup l;
    struct p2m_iter it;
    int rc = 0;

    spin_lock(&p2m->lock);
    for_each_p2m_leaf(it, p2m, _gfn(0), P2M_MAX_GFN)
    {
        if ( !it.old )
            continue;
        decode(p2m, &it, gfn_x(it.gfn), &l);
        if ( l.type != p2m_invalid )
            rc = fn(ctx, it.gfn, &l);
        if ( rc )
            break;
    }
    spin_unlock(&p2m->lock);
    return rc;
}

int p2m_for_each_table(struct p2m_domain *p2m, p2m_table_fn fn, void *ctx)
{
    const struct p2m_format_ops *ops = p2m->ops;
    struct p2m_iter it;
    int rc;

    spin_lock(&p2m->lock);
    rc = fn(ctx, p2m->root, p2m_table(p2m->root));
    /* L1 entries are never tables: the walk stops above them. */
    for_each_p2m_entry(it, p2m, _gfn(0), P2M_MAX_GFN, P2M_L2)
    {
        if ( rc )
            break;
        if ( ops->is_table(it.old, it.level) )
            rc = fn(ctx, ops->mfn(it.old, it.level),
                    p2m_table(ops->mfn(it.old, it.level)));
    }
    spin_unlock(&p2m->lock);
    return rc;
}

/*
 * The audit finds each kind of corruption.  Entries are corrupted by
 * writing the real table entries (reached from p2m->root), one way at a
 * time, then p2m_audit runs and the entry is restored at once: debug builds
 * audit after every P2M operation and would panic on the corruption.
 */
#include "env.h"

#define LAYOUT "0-3G,4G-12G"            /* hole at 3G-4G */
#define RW (P2M_ACCESS_R | P2M_ACCESS_W)
#define G1 GIB_FRAMES                   /* 1G leaf */
#define G2 (2 * GIB_FRAMES + 0x400)     /* 2M leaf */
#define G4 (2 * GIB_FRAMES + 0x1005)    /* 4K leaf */
#define ADDR_MASK 0x000ffffffffff000ull /* bits 51:12, both formats */
#define BIT(n) (1ull << (n))

enum { F_NPT = 1, F_EPT = 2, F_BOTH = 3 };

struct world {
    struct domain *d, *d2;
    uint64_t own_unmapped, other, hole;
};

static void world_up(struct world *w, enum p2m_format fmt)
{
    struct p2m_domain *p2m;

    env_machine(LAYOUT);
    w->d = env_domain(1, fmt);
    w->d2 = env_domain(2, fmt);
    p2m = &w->d->p2m;
    assert_int_equal(p2m_set_entry(p2m, _gfn(G1), env_alloc(w->d, 18), 18,
                                   p2m_ram_rw, RW), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(G2), env_alloc(w->d, 9), 9,
                                   p2m_ram_rw, RW), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(G4), env_alloc(w->d, 0), 0,
                                   p2m_ram_rw, RW), 0);
    w->own_unmapped = mfn_x(env_alloc(w->d, 0));
    w->other = mfn_x(env_alloc(w->d2, 0));
    w->hole = 3 * GIB_FRAMES;           /* aligned for every leaf size */
    env_expect_clean(w->d);
}

static uint64_t with_frame(uint64_t e, uint64_t mfn)
{
    return (e & ~ADDR_MASK) | (mfn << PAGE_SHIFT);
}

static uint64_t clear_npt_user(struct world *w, uint64_t e)
{
    return e & ~BIT(2);
}

static uint64_t ept_write_only(struct world *w, uint64_t e)
{
    return e & ~BIT(0);
}

static uint64_t ept_memtype_2(struct world *w, uint64_t e)
{
    return (e & ~(7ull << 3)) | (2ull << 3);
}

static uint64_t clear_w(struct world *w, uint64_t e)
{
    return e & ~BIT(1);         /* NPT RW, EPT W */
}

static uint64_t set_ps(struct world *w, uint64_t e)
{
    return e | BIT(7);
}

static uint64_t set_bit13(struct world *w, uint64_t e)
{
    return e | BIT(13);
}

static uint64_t own_frame(struct world *w, uint64_t e)
{
    return with_frame(e, w->own_unmapped);
}

static uint64_t other_frame(struct world *w, uint64_t e)
{
    return with_frame(e, w->other);
}

static uint64_t hole_frame(struct world *w, uint64_t e)
{
    return with_frame(e, w->hole);
}

static uint64_t type_7(struct world *w, uint64_t e)
{
    return e | (7ull << 52);
}

static uint64_t table_to_guest_page(struct world *w, uint64_t e)
{
    return w->d->p2m.ops->make_table(_mfn(w->own_unmapped));
}

static uint64_t ept_table_reserved(struct world *w, uint64_t e)
{
    return e | BIT(3);
}

/* One corruption: the entry of gfn at level goes through mutate. */
struct corruption {
    uint64_t gfn;
    unsigned int level;
    uint64_t (*mutate)(struct world *w, uint64_t e);
};

static const struct {
    const char *name;
    unsigned int formats;
    struct corruption c;
    enum p2m_audit_code code;
    bool only;                  /* the audit must report nothing else */
    enum p2m_audit_code also;   /* reported too, at the same entry (or 0) */
} cases[] = {
    { "NPT U bit cleared", F_NPT, { G4, P2M_L1, clear_npt_user },
      AUDIT_FORMAT, true, 0 },
    { "EPT W without R", F_EPT, { G4, P2M_L1, ept_write_only },
      AUDIT_FORMAT, false, 0 },
    { "EPT memory type 2", F_EPT, { G4, P2M_L1, ept_memtype_2 },
      AUDIT_FORMAT, true, 0 },
    { "EPT reserved bit in a table entry", F_EPT,
      { G2, P2M_L3, ept_table_reserved }, AUDIT_RESERVED_BITS, true, 0 },
    { "W cleared on a ram_rw leaf", F_BOTH, { G4, P2M_L1, clear_w },
      AUDIT_RIGHTS, true, 0 },
    { "PS in an L4 entry", F_BOTH, { G1, P2M_L4, set_ps },
      AUDIT_PS_AT_L4, false, 0 },
    { "low address bit in a 2M leaf", F_BOTH, { G2, P2M_L2, set_bit13 },
      AUDIT_MISALIGNED, true, 0 },
    { "low address bit in a 1G leaf", F_BOTH, { G1, P2M_L3, set_bit13 },
      AUDIT_MISALIGNED, true, 0 },
    /* A leaf moved to another frame leaves its old frame's m2p record
     * without a leaf: that is reported too. */
    { "leaf to another frame of the domain", F_BOTH, { G4, P2M_L1, own_frame },
      AUDIT_M2P, true, AUDIT_M2P_STALE },
    { "leaf to another domain's frame", F_BOTH, { G4, P2M_L1, other_frame },
      AUDIT_OWNER, false, AUDIT_M2P_STALE },
    { "leaf into a hole", F_BOTH, { G4, P2M_L1, hole_frame },
      AUDIT_MFN_RANGE, true, AUDIT_M2P_STALE },
    { "type 7", F_BOTH, { G4, P2M_L1, type_7 }, AUDIT_BAD_TYPE, false, 0 },
    { "table pointer to a guest page", F_BOTH,
      { G2, P2M_L3, table_to_guest_page }, AUDIT_TABLE_PAGE, false, 0 },
};

static bool reported(const struct p2m_audit_report *r,
                     enum p2m_audit_code code, unsigned int level,
                     uint64_t gfn)
{
    unsigned int i;

    for ( i = 0; i < r->nr_recorded; i++ )
        if ( r->err[i].code == code &&
             (level == P2M_NO_LEVEL ||
              (r->err[i].level == level && r->err[i].gfn == gfn)) )
            return true;
    return false;
}

static void print_report(const struct p2m_audit_report *r)
{
    unsigned int i;

    for ( i = 0; i < r->nr_recorded; i++ )
        print_message("#   %s level %u gfn %#llx\n",
                      p2m_audit_code_name(r->err[i].code), r->err[i].level,
                      (unsigned long long)r->err[i].gfn);
}

/* Corrupt, audit, restore: nothing runs in between. */
static unsigned int audit_corrupted(struct world *w,
                                    const struct corruption *c,
                                    unsigned int n,
                                    struct p2m_audit_report *r)
{
    uint64_t *e[4], old[4];
    unsigned int i, errors;

    for ( i = 0; i < n; i++ )
    {
        e[i] = env_entry(&w->d->p2m, c[i].gfn, c[i].level);
        assert_non_null(e[i]);
        old[i] = *e[i];
        assert_true(old[i] != 0);
        *e[i] = c[i].mutate(w, old[i]);
        assert_true(*e[i] != old[i]);
    }
    errors = p2m_audit(&w->d->p2m, r);
    for ( i = n; i-- > 0; )
        *e[i] = old[i];
    return errors;
}

static void test_each_corruption(void **state)
{
    static struct p2m_audit_report r;
    unsigned int mask = ENV_FMT(state) == P2M_FORMAT_NPT ? F_NPT : F_EPT;
    struct world w;
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        const struct corruption *c = &cases[i].c;
        unsigned int n;

        if ( !(cases[i].formats & mask) )
            continue;
        n = audit_corrupted(&w, c, 1, &r);
        print_message("# %s: %u errors\n", cases[i].name, n);
        print_report(&r);
        if ( !reported(&r, cases[i].code, c->level,
                       align_down(c->gfn, p2m_level_order(c->level))) )
            fail_msg("%s: %s not reported", cases[i].name,
                     p2m_audit_code_name(cases[i].code));
        if ( cases[i].also &&
             !reported(&r, cases[i].also, c->level,
                       align_down(c->gfn, p2m_level_order(c->level))) )
            fail_msg("%s: %s not reported", cases[i].name,
                     p2m_audit_code_name(cases[i].also));
        if ( cases[i].only )
            assert_int_equal(n, cases[i].also ? 2 : 1);
        env_expect_audit_clean(w.d);
    }
    env_finish();
}

/* A counter off by one is reported with its index; restored, all clean. */
static void test_counters(void **state)
{
    static struct p2m_audit_report r;
    struct world w;
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    for ( i = 0; i <= AUDIT_CTR_TABLE_PAGES; i++ )
    {
        struct p2m_stats *s = &w.d->p2m.stats;
        uint64_t *c = i < P2M_LEAF_LEVELS ? &s->pages[i] : &s->table_pages;

        (*c)++;
        assert_true(p2m_audit(&w.d->p2m, &r) >= 1);
        (*c)--;
        assert_true(r.err[0].code == AUDIT_COUNTER);
        assert_int_equal(r.err[0].detail, i);
        if ( i < P2M_LEAF_LEVELS )
            assert_int_equal(r.nr_errors, 1);
        else
            assert_true(reported(&r, AUDIT_POOL, P2M_NO_LEVEL, 0));
        env_expect_audit_clean(w.d);
    }
    env_finish();
}

/* Several corruptions at once are all reported, each where it is (the
 * two redirected leaves also leave their old frames' records stale). */
static void test_many_at_once(void **state)
{
    static const struct corruption three[] = {
        { G2, P2M_L2, set_bit13 },
        { G4, P2M_L1, own_frame },
        { G1, P2M_L3, hole_frame },
    };
    static const enum p2m_audit_code codes[] = {
        AUDIT_MISALIGNED, AUDIT_M2P, AUDIT_MFN_RANGE,
    };
    static struct p2m_audit_report r;
    struct world w;
    unsigned int i, n;

    world_up(&w, ENV_FMT(state));
    w.d->p2m.stats.pages[p2m_level_idx(P2M_L2)]++;
    n = audit_corrupted(&w, three, ARRAY_SIZE(three), &r);
    w.d->p2m.stats.pages[p2m_level_idx(P2M_L2)]--;
    print_report(&r);
    assert_int_equal(n, 6);
    for ( i = 0; i < ARRAY_SIZE(three); i++ )
        assert_true(reported(&r, codes[i], three[i].level,
                             align_down(three[i].gfn,
                                        p2m_level_order(three[i].level))));
    assert_true(reported(&r, AUDIT_M2P_STALE, P2M_L1, G4));
    assert_true(reported(&r, AUDIT_M2P_STALE, P2M_L3, G1));
    assert_true(reported(&r, AUDIT_COUNTER, P2M_NO_LEVEL, 0));
    env_expect_audit_clean(w.d);
    env_finish();
}

/*
 * An entry written past the one store (p2m_iter_set) that breaks no format,
 * type, rights, m2p or counter rule: the 4K leaf made ram_ro in place.
 * Only the entry digest the store keeps can tell, and it does; the same
 * change through the API audits clean.
 */
static void test_write_past_the_store(void **state)
{
    static struct p2m_audit_report r;
    struct world w;
    struct p2m_domain *p2m;
    uint64_t *e, old;

    world_up(&w, ENV_FMT(state));
    p2m = &w.d->p2m;
    e = env_entry(p2m, G4, P2M_L1);
    assert_non_null(e);
    old = *e;
    *e = p2m->ops->retype(old, P2M_L1, p2m_ram_ro);
    assert_true(*e != old);
    assert_int_equal(p2m_audit(p2m, &r), 1);
    *e = old;
    print_report(&r);
    assert_int_equal(r.err[0].code, AUDIT_COUNTER);
    assert_int_equal(r.err[0].detail, AUDIT_CTR_DIGEST);
    env_expect_audit_clean(w.d);
    assert_int_equal(p2m_change_type_range(p2m, _gfn(G4), 1, p2m_ram_rw,
                                           p2m_ram_ro), 0);
    assert_int_equal(*e, p2m->ops->retype(old, P2M_L1, p2m_ram_ro));
    env_expect_audit_clean(w.d);
    env_finish();
}

/*
 * What the CPU writes as it walks (NPT sets A in every entry of a walk and
 * D in the leaf of a write; EPT with A/D enabled does the same) is not a
 * store past p2m_iter_set: the digest must not count it, or every bare-metal
 * audit fails once the guest has run.
 */
static void test_cpu_walk_bits_are_not_writes(void **state)
{
    static struct p2m_audit_report r;
    const unsigned int levels[] = { P2M_L4, P2M_L3, P2M_L2, P2M_L1 };
    struct world w;
    struct p2m_domain *p2m;
    uint64_t *e[4], old[4];
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    p2m = &w.d->p2m;
    assert_true(p2m->ops->hw_owned != 0);
    for ( i = 0; i < 4; i++ )
    {
        e[i] = env_entry(p2m, G4, levels[i]);
        assert_non_null(e[i]);
        old[i] = *e[i];
        *e[i] |= p2m->ops->hw_owned;
        if ( levels[i] > P2M_L1 )       /* NPT leaves are made with A|D */
            assert_true(*e[i] != old[i]);
    }
    assert_int_equal(p2m_audit(p2m, &r), 0);
    /* A CPU-set bit is left out of the digest, nothing else: a retype
     * behind the store's back is still caught with them set. */
    *e[3] = p2m->ops->retype(*e[3], P2M_L1, p2m_ram_ro);
    assert_int_equal(p2m_audit(p2m, &r), 1);
    assert_int_equal(r.err[0].detail, AUDIT_CTR_DIGEST);
    for ( i = 0; i < 4; i++ )
        *e[i] = old[i];
    env_expect_audit_clean(w.d);
    env_finish();
}

/*
 * Lookups take their own lock-free descent (ops->lookup).  It must grant
 * what the walk's path grants: a table entry forged without W (reported as
 * AUDIT_RIGHTS) takes W from the 4K leaf below it, and the audit finds the
 * two descents agreeing.  A lookup that decodes a leaf otherwise is caught
 * as AUDIT_LOOKUP at that leaf.
 */
static void (*real_lookup)(const p2m_pte_t *root, uint64_t gfn,
                           struct p2m_lookup *out);

static void lookup_2m_off_by_one(const p2m_pte_t *root, uint64_t gfn,
                                 struct p2m_lookup *out)
{
    real_lookup(root, gfn, out);
    if ( out->order == PAGE_ORDER_2M )
        out->mfn = mfn_add(out->mfn, 1);
}

static void test_lookup_matches_walk(void **state)
{
    static struct p2m_audit_report r;
    struct p2m_format_ops broken;
    const struct p2m_format_ops *ops;
    struct p2m_lookup l;
    struct world w;
    struct p2m_domain *p2m;
    uint64_t *e, old;

    world_up(&w, ENV_FMT(state));
    p2m = &w.d->p2m;
    e = env_entry(p2m, G4, P2M_L3);
    assert_non_null(e);
    old = *e;
    *e = clear_w(&w, old);
    assert_int_equal(p2m_get_entry(p2m, _gfn(G4), &l), 0);
    assert_int_equal(l.rights, P2M_ACCESS_R);    /* RW leaf, no W above */
    assert_int_equal(p2m_audit(p2m, &r), 1);
    *e = old;
    print_report(&r);
    assert_int_equal(r.err[0].code, AUDIT_RIGHTS);
    assert_int_equal(p2m_get_entry(p2m, _gfn(G4), &l), 0);
    assert_int_equal(l.rights, RW);

    ops = p2m->ops;
    broken = *ops;
    real_lookup = ops->lookup;
    broken.lookup = lookup_2m_off_by_one;
    p2m->ops = &broken;
    assert_int_equal(p2m_audit(p2m, &r), 1);
    p2m->ops = ops;
    print_report(&r);
    assert_int_equal(r.err[0].code, AUDIT_LOOKUP);
    assert_int_equal(r.err[0].gfn, G2);
    assert_int_equal(r.err[0].level, P2M_L2);
    env_expect_audit_clean(w.d);
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_each_corruption),
        ENV_TEST(test_counters),
        ENV_TEST(test_many_at_once),
        ENV_TEST(test_write_past_the_store),
        ENV_TEST(test_cpu_walk_bits_are_not_writes),
        ENV_TEST(test_lookup_matches_walk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

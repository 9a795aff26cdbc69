/*
 * The audit and the lookups see what the hardware sees:
 *   - rights are ANDed over every level, so a table entry that grants less
 *     than RWX is reported, and lookups grant only what the whole path does;
 *   - frame bits at or above the physical-address width are reserved:
 *     set_entry refuses them and the audit reports them;
 *   - EPT execute-only entries exist only on CPUs that support them;
 *   - every m2p record of the domain's frames has a leaf that maps it.
 * Entries and records are corrupted directly, audited and restored at once
 * (debug builds audit after every P2M operation and would panic).
 */
#include "env.h"

#include <asm-x86/m2p.h>

#define LAYOUT "0-3G,4G-12G"            /* 34-bit addresses; hole at 3G-4G */
#define R P2M_ACCESS_R
#define W P2M_ACCESS_W
#define X P2M_ACCESS_X
#define RW (R | W)
#define RX (R | X)
#define RWX P2M_ACCESS_RWX
#define G1 GIB_FRAMES                   /* 1G leaf */
#define G2 (2 * GIB_FRAMES + 0x400)     /* 2M leaf */
#define G4 (2 * GIB_FRAMES + 0x1005)    /* 4K leaf */
#define GFREE 0x7000                    /* nothing mapped here */
#define ADDR_MASK 0x000ffffffffff000ull /* bits 51:12, both formats */
#define BIT(n) (1ull << (n))

enum { F_NPT = 1, F_EPT = 2, F_BOTH = 3 };

struct world {
    struct domain *d, *d2;
    uint64_t m1g, m2m, m4k;             /* frames of the G1, G2, G4 leaves */
    uint64_t own_unmapped, other;
};

static void world_up(struct world *w, enum p2m_format fmt)
{
    struct p2m_domain *p2m;

    env_machine(LAYOUT);
    w->d = env_domain(1, fmt);
    w->d2 = env_domain(2, fmt);
    p2m = &w->d->p2m;
    w->m1g = mfn_x(env_alloc(w->d, 18));
    w->m2m = mfn_x(env_alloc(w->d, 9));
    w->m4k = mfn_x(env_alloc(w->d, 0));
    assert_int_equal(p2m_set_entry(p2m, _gfn(G1), _mfn(w->m1g), 18,
                                   p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(G2), _mfn(w->m2m), 9,
                                   p2m_ram_rw, RW), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(G4), _mfn(w->m4k), 0,
                                   p2m_ram_rw, RWX), 0);
    w->own_unmapped = mfn_x(env_alloc(w->d, 0));
    w->other = mfn_x(env_alloc(w->d2, 0));
    env_expect_clean(w->d);
}

static unsigned int fmt_mask(void **state)
{
    return ENV_FMT(state) == P2M_FORMAT_NPT ? F_NPT : F_EPT;
}

static bool reported(const struct p2m_audit_report *r,
                     enum p2m_audit_code code, unsigned int level,
                     uint64_t gfn)
{
    unsigned int i;

    for ( i = 0; i < r->nr_recorded; i++ )
        if ( r->err[i].code == code && r->err[i].level == level &&
             r->err[i].gfn == gfn )
            return true;
    return false;
}

static void print_report(const char *what, const struct p2m_audit_report *r)
{
    unsigned int i;

    print_message("# %s: %u errors\n", what, r->nr_errors);
    for ( i = 0; i < r->nr_recorded; i++ )
        print_message("#   %s level %u gfn %#llx entry %#llx\n",
                      p2m_audit_code_name(r->err[i].code), r->err[i].level,
                      (unsigned long long)r->err[i].gfn,
                      (unsigned long long)r->err[i].entry);
}

/* The raw entry at level on the way to gfn (it must exist). */
static p2m_pte_t *entry_of(struct domain *d, uint64_t gfn, unsigned int level)
{
    p2m_pte_t *e = env_entry(&d->p2m, gfn, level);

    assert_non_null(e);
    assert_true(*e != 0);
    return e;
}

static p2m_access_t rights_of(struct domain *d, uint64_t gfn)
{
    struct p2m_lookup l;

    assert_int_equal(p2m_get_entry(&d->p2m, _gfn(gfn), &l), 0);
    return l.rights;
}

static void expect_unmapped(struct domain *d, uint64_t gfn)
{
    struct p2m_lookup l;

    assert_int_equal(p2m_get_entry(&d->p2m, _gfn(gfn), &l), 0);
    assert_int_equal(l.type, p2m_invalid);
    assert_true(mfn_eq(l.mfn, INVALID_MFN));
}

/* --- finding 9: table-entry rights --------------------------------------- */

static const struct {
    const char *name;
    unsigned int formats;
    unsigned int level;         /* the table entry on the way to gfn */
    uint64_t gfn;
    uint64_t clear, set;        /* bits changed in that entry */
    p2m_access_t rights;        /* what a lookup of gfn grants then */
} table_cases[] = {
    { "NPT L2 RW=0", F_NPT, P2M_L2, G4, BIT(1), 0, RX },
    { "NPT L3 NX=1", F_NPT, P2M_L3, G4, 0, BIT(63), RW },
    { "NPT L4 RW=0", F_NPT, P2M_L4, G1, BIT(1), 0, RX },
    { "NPT L4 NX=1", F_NPT, P2M_L4, G4, 0, BIT(63), RW },
    { "EPT L3 R only", F_EPT, P2M_L3, G2, BIT(1) | BIT(2), 0, R },
    { "EPT L2 X=0", F_EPT, P2M_L2, G4, BIT(2), 0, RW },
    { "EPT L4 W=0", F_EPT, P2M_L4, G1, BIT(1), 0, RX },
};

/*
 * A table entry that grants less than everything is reported where it is,
 * and a lookup below it grants the AND of the path (what the CPU grants).
 */
static void test_table_rights(void **state)
{
    static struct p2m_audit_report r;
    struct world w;
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    assert_int_equal(rights_of(w.d, G1), RWX);
    assert_int_equal(rights_of(w.d, G2), RW);
    assert_int_equal(rights_of(w.d, G4), RWX);
    for ( i = 0; i < ARRAY_SIZE(table_cases); i++ )
    {
        unsigned int level = table_cases[i].level, n;
        uint64_t gfn = table_cases[i].gfn;
        p2m_pte_t *e, old;
        p2m_access_t got;

        if ( !(table_cases[i].formats & fmt_mask(state)) )
            continue;
        e = entry_of(w.d, gfn, level);
        old = *e;
        assert_true(w.d->p2m.ops->is_table(old, level));
        *e = (old & ~table_cases[i].clear) | table_cases[i].set;
        n = p2m_audit(&w.d->p2m, &r);
        got = rights_of(w.d, gfn);
        *e = old;
        print_report(table_cases[i].name, &r);
        if ( !reported(&r, AUDIT_RIGHTS, level,
                       align_down(gfn, p2m_level_order(level))) )
            fail_msg("%s: rights not reported", table_cases[i].name);
        assert_int_equal(n, 1);
        if ( got != table_cases[i].rights )
            fail_msg("%s: lookup grants %u, the walk %u", table_cases[i].name,
                     got, table_cases[i].rights);
        env_expect_audit_clean(w.d);
    }
    env_finish();
}

/* --- finding 10: the physical-address width ------------------------------ */

/*
 * p2m_iter_set_run makes a run's leaves by adding frame_step: that is the
 * 4K leaf of the next frame, for every type with a frame and every access,
 * up to the last frame a 52-bit address holds.
 */
static void test_frame_step(void **state)
{
    static const p2m_type_t types[] = { p2m_ram_rw, p2m_ram_ro,
                                        p2m_ram_logdirty, p2m_mmio_direct };
    static const uint64_t frames[] = { 0, 1, 0x1ff, 0x3ffff, 0x123456789,
                                       (1ull << 40) - 2 };
    const struct p2m_format_ops *ops;
    unsigned int i, k, a;
    struct domain *d;

    env_machine(LAYOUT);
    d = env_domain(1, ENV_FMT(state));
    ops = d->p2m.ops;
    for ( i = 0; i < ARRAY_SIZE(types); i++ )
        for ( a = 0; a <= P2M_ACCESS_RWX; a++ )
            for ( k = 0; k < ARRAY_SIZE(frames); k++ )
            {
                p2m_pte_t e = ops->make_leaf(P2M_L1, _mfn(frames[k]),
                                             types[i], a);
                p2m_pte_t next = ops->make_leaf(P2M_L1,
                                                _mfn(frames[k] + 1),
                                                types[i], a);

                if ( e + ops->frame_step != next )
                    fail_msg("%s %s access %u mfn %#llx: %#llx + step is "
                             "not %#llx", ops->name,
                             p2m_type_name(types[i]), a,
                             (unsigned long long)frames[k],
                             (unsigned long long)e,
                             (unsigned long long)next);
            }
    env_finish();
}

/* set_entry refuses frames beyond the width, whatever the type. */
static void test_paddr_refused(void **state)
{
    static const struct {
        uint64_t mfn;           /* in frames of the limit, or absolute */
        unsigned int order;
        p2m_type_t t;
    } bad[] = {
        { 0, 0, p2m_mmio_direct },              /* the first frame past it */
        { 0, 9, p2m_mmio_direct },
        { 1ull << 39, 0, p2m_mmio_direct },     /* PA bit 51 */
        { 1ull << 39, 18, p2m_mmio_direct },
        { 1ull << 39, 0, p2m_ram_rw },
    };
    struct domain *d;
    unsigned int i;

    env_machine(LAYOUT);
    assert_int_equal(machine.paddr_bits, 34);
    assert_int_equal(machine_mfn_limit(), 1ull << 22);
    d = env_domain(1, ENV_FMT(state));
    for ( i = 0; i < ARRAY_SIZE(bad); i++ )
    {
        uint64_t m = bad[i].mfn ? bad[i].mfn : machine_mfn_limit();

        if ( p2m_set_entry(&d->p2m, _gfn(0x40000), _mfn(m), bad[i].order,
                           bad[i].t, RW) != -EFAULT )
            fail_msg("mfn %#llx order %u type %s: not refused with EFAULT",
                     (unsigned long long)m, bad[i].order,
                     p2m_type_name(bad[i].t));
        expect_unmapped(d, 0x40000);
    }
    env_expect_clean(d);
    env_finish();
}

/* The width is the machine's, not a constant: the same frame passes or not. */
static void test_paddr_is_the_machines(void **state)
{
    uint64_t m = 10 * GIB_FRAMES;       /* RAM at 10G: needs 34 bits */
    struct domain *d;

    env_machine(LAYOUT);
    d = env_domain(1, ENV_FMT(state));
    env_claim(d, m, 0);
    machine.paddr_bits = 33;
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(5), _mfn(m), 0, p2m_ram_rw,
                                   RWX), -EFAULT);
    machine.paddr_bits = 34;
    expect_unmapped(d, 5);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(5), _mfn(m), 0, p2m_ram_rw,
                                   RWX), 0);
    env_expect(d, 5, m, p2m_ram_rw, RWX, 0);
    env_expect_clean(d);
    env_finish();
}

static uint64_t with_frame(uint64_t e, uint64_t mfn)
{
    return (e & ~ADDR_MASK) | (mfn << PAGE_SHIFT);
}

/*
 * Entries with frame bits beyond the width are reported, for leaves of every
 * size and type (an MMIO leaf used to be skipped altogether) and for tables.
 */
static void test_paddr_audited(void **state)
{
    static const struct { const char *name; uint64_t gfn; unsigned int l; }
    where[] = {
        { "MMIO 4K leaf past the width", G4, P2M_L1 },
        { "4K leaf with PA bit 51", G4, P2M_L1 },
        { "2M leaf with PA bit 51", G2, P2M_L2 },
        { "1G leaf past the width", G1, P2M_L3 },
        { "L3 table entry with PA bit 40", G2, P2M_L3 },
    };
    static struct p2m_audit_report r;
    const struct p2m_format_ops *ops;
    struct world w;
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    ops = w.d->p2m.ops;
    for ( i = 0; i < ARRAY_SIZE(where); i++ )
    {
        unsigned int l = where[i].l;
        p2m_pte_t *e = entry_of(w.d, where[i].gfn, l), old = *e;

        if ( i == 0 )
            *e = ops->make_leaf(P2M_L1, _mfn(machine_mfn_limit()),
                                p2m_mmio_direct, RW);
        else if ( i == 3 )
            *e = with_frame(old, machine_mfn_limit());
        else
            *e = old | (i == 4 ? BIT(40) : BIT(51));
        p2m_audit(&w.d->p2m, &r);
        *e = old;
        print_report(where[i].name, &r);
        if ( !reported(&r, AUDIT_PADDR, l,
                       align_down(where[i].gfn, p2m_level_order(l))) )
            fail_msg("%s: paddr_bits not reported", where[i].name);
        env_expect_audit_clean(w.d);
    }
    env_finish();
}

/* --- finding 11: EPT execute-only ---------------------------------------- */

/* Bits 2:0 of the 4K leaf of gfn: R/W/X in EPT. */
static uint64_t ept_rwx(struct domain *d, uint64_t gfn)
{
    p2m_pte_t *e = env_entry(&d->p2m, gfn, P2M_L1);

    assert_non_null(e);
    return *e & 7;
}

/*
 * Without execute-only support, access x or wx (and log-dirty taking W from
 * wx) grants nothing, as on NPT: an X-only EPT entry would be a
 * misconfiguration.  The audit stays clean: that is the encoding it wants.
 */
static void test_exec_only_unsupported(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct p2m_domain *p2m;
    struct domain *d;
    uint64_t m;

    env_machine(LAYOUT);
    machine.ept_exec_only = false;
    d = env_domain(1, fmt);
    p2m = &d->p2m;
    m = mfn_x(env_alloc(d, 2));
    assert_int_equal(p2m_set_entry(p2m, _gfn(G4), _mfn(m), 0, p2m_ram_rw, X),
                     0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(G4 + 1), _mfn(m + 1), 0,
                                   p2m_ram_rw, W | X), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(G4 + 2), _mfn(m + 2), 0,
                                   p2m_ram_ro, W | X), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(G4 + 3), _mfn(m + 3), 0,
                                   p2m_ram_rw, RWX), 0);
    env_expect(d, G4, m, p2m_ram_rw, X, 0);
    env_expect(d, G4 + 1, m + 1, p2m_ram_rw, W | X, 0);
    env_expect(d, G4 + 2, m + 2, p2m_ram_ro, W | X, 0);
    assert_int_equal(rights_of(d, G4) | rights_of(d, G4 + 1) |
                     rights_of(d, G4 + 2), 0);
    if ( fmt == P2M_FORMAT_EPT )
        assert_int_equal(ept_rwx(d, G4) | ept_rwx(d, G4 + 1) |
                         ept_rwx(d, G4 + 2), 0);
    /* Log-dirty takes W from wx: X alone is left, which this CPU lacks. */
    assert_int_equal(p2m_change_type_range(p2m, _gfn(G4), 4, p2m_ram_rw,
                                           p2m_ram_logdirty), 0);
    env_expect(d, G4 + 1, m + 1, p2m_ram_logdirty, W | X, 0);
    assert_int_equal(rights_of(d, G4 + 1), 0);
    env_expect(d, G4 + 3, m + 3, p2m_ram_logdirty, RWX, 0);
    assert_int_equal(rights_of(d, G4 + 3), RX);
    env_expect_clean(d);
    env_finish();
}

/* With execute-only support, EPT grants X alone; NPT never can. */
static void test_exec_only_supported(void **state)
{
    enum p2m_format fmt = ENV_FMT(state);
    struct domain *d;
    uint64_t m;

    env_machine(LAYOUT);
    assert_true(machine.ept_exec_only);     /* the hosted CPU has it */
    d = env_domain(1, fmt);
    m = mfn_x(env_alloc(d, 1));
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(G4), _mfn(m), 0, p2m_ram_rw,
                                   X), 0);
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(G4 + 1), _mfn(m + 1), 0,
                                   p2m_ram_rw, W | X), 0);
    env_expect(d, G4, m, p2m_ram_rw, X, 0);
    env_expect(d, G4 + 1, m + 1, p2m_ram_rw, W | X, 0);
    assert_int_equal(rights_of(d, G4), fmt == P2M_FORMAT_EPT ? X : 0);
    assert_int_equal(rights_of(d, G4 + 1), fmt == P2M_FORMAT_EPT ? X : 0);
    if ( fmt == P2M_FORMAT_EPT )
        assert_int_equal(ept_rwx(d, G4), BIT(2));
    env_expect_clean(d);
    env_finish();
}

/* The audit reports X-only EPT entries (leaf or table) on a CPU without
 * execute-only support as the misconfiguration they are, and only there. */
static void test_exec_only_audited(void **state)    /* EPT only */
{
    static struct p2m_audit_report r;
    static const struct { const char *name; uint64_t gfn; unsigned int l; }
    where[] = {
        { "X-only 4K leaf", G4, P2M_L1 },
        { "X-only L2 table entry", G4, P2M_L2 },
        { "X-only 2M leaf", G2, P2M_L2 },
    };
    unsigned int i, cap;
    struct world w;

    world_up(&w, ENV_FMT(state));
    for ( cap = 0; cap < 2; cap++ )
        for ( i = 0; i < ARRAY_SIZE(where); i++ )
        {
            unsigned int l = where[i].l;
            p2m_pte_t *e = entry_of(w.d, where[i].gfn, l), old = *e;
            bool misconfig;
            uint64_t at;

            *e = (old & ~7ull) | BIT(2);
            machine.ept_exec_only = cap;
            p2m_audit(&w.d->p2m, &r);
            machine.ept_exec_only = true;
            *e = old;
            print_report(where[i].name, &r);
            at = align_down(where[i].gfn, p2m_level_order(l));
            misconfig = reported(&r, AUDIT_FORMAT, l, at);
            if ( misconfig != !cap )
                fail_msg("%s, execute-only %s: format %sreported",
                         where[i].name, cap ? "supported" : "unsupported",
                         misconfig ? "" : "not ");
            assert_true(reported(&r, AUDIT_RIGHTS, l, at));
            env_expect_audit_clean(w.d);
        }
    env_finish();
}

/* --- finding 12: the reverse direction ----------------------------------- */

/*
 * A record the test writes into the frame table: mfn claims to be mapped at
 * gfn with order.  who owns mfn: its audit must report the record, the
 * other domain's must not.
 */
struct stale {
    const char *name;
    unsigned int who;           /* 1: w->d, 2: w->d2 */
    uint64_t mfn, gfn;
    unsigned int order;
};

static void expect_stale(struct world *w, const struct stale *s)
{
    static struct p2m_audit_report r;
    struct domain *owner = s->who == 1 ? w->d : w->d2;
    struct domain *bystander = s->who == 1 ? w->d2 : w->d;
    unsigned int n, other;

    m2p_set(_mfn(s->mfn), _gfn(s->gfn), s->order);
    n = p2m_audit(&owner->p2m, &r);
    other = p2m_audit(&bystander->p2m, &r);
    p2m_audit(&owner->p2m, &r);
    m2p_clear(_mfn(s->mfn), s->order);
    print_report(s->name, &r);
    if ( !reported(&r, AUDIT_M2P_STALE, p2m_order_level(s->order), s->gfn) )
        fail_msg("%s: m2p_stale not reported", s->name);
    assert_int_equal(r.err[0].detail, s->mfn);
    assert_int_equal(n, 1);
    assert_int_equal(other, 0);    /* not the other domain's frame */
    env_expect_audit_clean(w->d);
    env_expect_audit_clean(w->d2);
}

/* Every m2p record of the domain's frames needs a leaf that maps it. */
static void test_m2p_reverse(void **state)
{
    struct world w;
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    {
        const struct stale cases[] = {
            { "record at an unmapped gfn", 1, w.own_unmapped, GFREE, 0 },
            { "record at a gfn mapping another frame", 1, w.own_unmapped, G4,
              0 },
            { "2M record inside a 1G leaf", 1, w.m1g + 512, G1 + 512, 9 },
            { "4K record inside a 2M leaf", 1, w.m2m + 1, G2 + 1, 0 },
            { "4K record, gfn of a 4K leaf, wrong frame", 1, w.m2m + 7, G4,
              0 },
            { "another domain's stale record", 2, w.other, GFREE, 0 },
        };

        for ( i = 0; i < ARRAY_SIZE(cases); i++ )
            expect_stale(&w, &cases[i]);
    }
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_table_rights),
        ENV_TEST(test_frame_step),
        ENV_TEST(test_paddr_refused),
        ENV_TEST(test_paddr_is_the_machines),
        ENV_TEST(test_paddr_audited),
        ENV_TEST(test_exec_only_unsupported),
        ENV_TEST(test_exec_only_supported),
        /* X-only entries exist only in EPT. */
        { "test_exec_only_audited_ept", test_exec_only_audited, NULL,
          env_cleanup, (void *)&env_ept },
        ENV_TEST(test_m2p_reverse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

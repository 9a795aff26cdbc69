/*
 * Randomized model test.  Thousands of random operations (populate, map at
 * every order, set_range, unmap, type changes, log-dirty, guest reads and
 * writes) run against the P2M and against a flat reference array of the
 * 4 GiB guest space (gfn -> mfn, type, access).  After every step the audit
 * and the heap accounting must be clean and sampled lookups must agree with
 * the reference; every FULL_EVERY steps all of it is compared.
 *
 * The seed is printed; P2M_SEED=<n> reruns with another one and
 * P2M_MODEL_STEPS=<n> changes the length.
 */
#include "env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAYOUT "0-6G,8G-12G"
#define MMIO_BASE (6 * GIB_FRAMES)     /* the 6G-8G hole: MMIO frames */
#define GFNS (1ull << 20)              /* guest space: 4 GiB */
#define POOL_FRAMES (2 * GIB_FRAMES)   /* d's frames for explicit maps */
#define AUTO_BUDGET (1ull << 15)       /* populate may hold 128 MiB */
#define MAX_EXT 4096
#define RECENT 64
#define FULL_EVERY 250
#define DEFAULT_STEPS 2500
#define DEFAULT_SEED 20240611ull

/* lost: log-dirty, the page was dirtied and then its entry went away. */
struct ref { uint64_t mfn; uint8_t t, a; bool lost; };

/* A populated chunk: freed once none of its frames is mapped any more. */
struct extent { uint64_t mfn, mapped; unsigned int order; bool live; };

struct model {
    struct domain *d, *d2;
    enum p2m_format fmt;
    struct ref *ref;                   /* GFNS entries */
    uint64_t *rev;                     /* per frame: gfn + 1, or 0 */
    uint32_t *ext_of;                  /* per frame: extent id + 1, or 0 */
    struct extent ext[MAX_EXT];
    uint64_t pool, other, tot;
    bool logdirty;
    uint64_t rng, seed, step;
    struct { uint64_t gfn, n; } recent[RECENT], touched;
    unsigned int recent_next;
    uint8_t *bitmap;
    char what[160];                    /* the current operation */
    uint64_t ok[16], failed[16];       /* per op kind */
};

static uint64_t rnd(struct model *m, uint64_t n)
{
    m->rng ^= m->rng >> 12;
    m->rng ^= m->rng << 25;
    m->rng ^= m->rng >> 27;
    return (m->rng * 0x2545f4914f6cdd1dull) % n;
}

static uint64_t rnd_aligned(struct model *m, uint64_t n, unsigned int order)
{
    return rnd(m, n >> order) << order;
}

static p2m_type_t rnd_ram_type(struct model *m)
{
    static const p2m_type_t t[] = { p2m_ram_rw, p2m_ram_rw, p2m_ram_ro,
                                    p2m_ram_logdirty };

    return t[rnd(m, ARRAY_SIZE(t))];
}

static p2m_access_t rnd_access(struct model *m)
{
    return rnd(m, 2) ? P2M_ACCESS_RWX : (p2m_access_t)rnd(m, 8);
}

static unsigned int rnd_order(struct model *m)
{
    static const unsigned int o[] = { 0, 0, 0, 9, 9, 18 };

    return o[rnd(m, ARRAY_SIZE(o))];
}

static void note(struct model *m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(m->what, sizeof(m->what), fmt, ap);
    va_end(ap);
}

static void expect_rc(struct model *m, unsigned int kind, int rc, int want)
{
    if ( rc != want )
        fail_msg("seed %llu step %llu %s: rc %d, expected %d",
                 (unsigned long long)m->seed, (unsigned long long)m->step,
                 m->what, rc, want);
    if ( rc )
        m->failed[kind]++;
    else
        m->ok[kind]++;
}

static void touch(struct model *m, uint64_t gfn, uint64_t n, bool mapped)
{
    m->touched.gfn = gfn;
    m->touched.n = n;
    if ( !mapped )
        return;
    m->recent[m->recent_next].gfn = gfn;
    m->recent[m->recent_next].n = n;
    m->recent_next = (m->recent_next + 1) % RECENT;
}

/* --- the reference --- */

static void ext_release(struct model *m, uint64_t mfn)
{
    uint32_t id = m->ext_of[mfn];
    struct extent *e;
    uint64_t i;

    if ( !id )
        return;
    /* The P2M gives a populated frame back as soon as no leaf maps it. */
    e = &m->ext[id - 1];
    m->ext_of[mfn] = 0;
    m->tot--;
    assert_int_equal(mfn_owner(_mfn(mfn)), -1);
    if ( --e->mapped )
        return;
    for ( i = 0; i < (1ull << e->order); i++ )
        if ( m->ext_of[e->mfn + i] == id )
            fail_msg("extent %u: frame %#llx released early", id,
                     (unsigned long long)(e->mfn + i));
    e->live = false;
}

static void model_set(struct model *m, uint64_t gfn, uint64_t mfn,
                      uint64_t n, p2m_type_t t, p2m_access_t a)
{
    uint64_t i;

    for ( i = 0; i < n; i++ )
    {
        struct ref *r = &m->ref[gfn + i];

        r->lost |= m->logdirty && r->t == p2m_ram_rw;
        if ( p2m_type_is_ram(r->t) &&
             !(p2m_type_is_ram(t) && r->mfn == mfn + i) )
        {
            m->rev[r->mfn] = 0;
            ext_release(m, r->mfn);
        }
        r->t = t;
        r->a = t == p2m_invalid ? 0 : a;
        r->mfn = p2m_type_has_mfn(t) ? mfn + i : INVALID_MFN_RAW;
        if ( p2m_type_is_ram(t) )
            m->rev[mfn + i] = gfn + i + 1;
    }
}

/* Would mapping [mfn, mfn + n) at gfn alias a frame mapped elsewhere? */
static bool model_conflicts(struct model *m, uint64_t gfn, uint64_t mfn,
                            uint64_t n)
{
    uint64_t i;

    for ( i = 0; i < n; i++ )
        if ( m->rev[mfn + i] && m->rev[mfn + i] != gfn + i + 1 )
            return true;
    return false;
}

static void model_retype(struct model *m, uint64_t gfn, uint64_t n,
                         p2m_type_t ot, p2m_type_t nt)
{
    uint64_t i;

    for ( i = 0; i < n; i++ )
        if ( m->ref[gfn + i].t == ot )
        {
            m->ref[gfn + i].lost |= m->logdirty && ot == p2m_ram_rw;
            m->ref[gfn + i].t = nt;
        }
}

/* --- operations --- */

enum { OP_POPULATE, OP_MAP, OP_RANGE, OP_UNMAP, OP_RETYPE, OP_GLOBAL,
       OP_LOGDIRTY, OP_DIRTY_READ, OP_WRITE, OP_READ, OP_NR };

static const char *const op_names[OP_NR] = {
    "populate", "map", "set_range", "unmap", "retype_range", "retype_global",
    "logdirty", "logdirty_read", "guest_write", "guest_read",
};

static void op_populate(struct model *m)
{
    unsigned int o = rnd(m, 3) ? 0 : 9;
    uint64_t gfn = rnd_aligned(m, GFNS, o), n = 1ull << o, i;
    p2m_type_t t = rnd_ram_type(m);
    p2m_access_t a = rnd_access(m);
    int want = m->tot + n > m->d->max_pages ? -ENOSPC : 0, rc;
    unsigned int id;
    mfn_t mfn;

    note(m, "populate gfn %#llx order %u %s/%u", (unsigned long long)gfn, o,
         p2m_type_name(t), a);
    rc = memory_populate(m->d, _gfn(gfn), o, t, a, &mfn);
    expect_rc(m, OP_POPULATE, rc, want);
    touch(m, gfn, n, !rc);
    if ( rc )
        return;
    for ( id = 0; id < MAX_EXT && m->ext[id].live; id++ )
        ;
    assert_true(id < MAX_EXT);
    m->ext[id] = (struct extent){ mfn_x(mfn), n, o, true };
    for ( i = 0; i < n; i++ )
        m->ext_of[mfn_x(mfn) + i] = id + 1;
    m->tot += n;
    assert_int_equal(*(uint64_t *)plat_map_mfn(mfn_add(mfn, n - 1)), 0);
    model_set(m, gfn, mfn_x(mfn), n, t, a);
}

/* A frame for an explicit map: usually d's pool, sometimes a bad one. */
static int pick_frame(struct model *m, unsigned int o, p2m_type_t *t,
                      uint64_t *mfn, uint64_t gfn)
{
    switch ( rnd(m, 16) )
    {
    case 0:
        if ( !o )
            break;
        *mfn = m->pool + rnd_aligned(m, POOL_FRAMES, o) + 1;
        return -EINVAL;
    case 1:
        *mfn = m->other + rnd_aligned(m, GIB_FRAMES, o);
        return -EPERM;
    case 2:
        *t = p2m_mmio_direct;
        *mfn = MMIO_BASE + rnd_aligned(m, 2 * GIB_FRAMES, o);
        return 0;
    case 3:
        *t = p2m_invalid;
        *mfn = INVALID_MFN_RAW;
        return 0;
    }
    *mfn = m->pool + rnd_aligned(m, POOL_FRAMES, o);
    return model_conflicts(m, gfn, *mfn, 1ull << o) ? -EBUSY : 0;
}

static void op_map(struct model *m)
{
    unsigned int o = rnd_order(m);
    uint64_t gfn = rnd_aligned(m, GFNS, o), mfn;
    p2m_type_t t = rnd_ram_type(m);
    p2m_access_t a = rnd_access(m);
    int want = pick_frame(m, o, &t, &mfn, gfn), rc;

    if ( t == p2m_invalid )
        a = 0;
    note(m, "map gfn %#llx mfn %#llx order %u %s/%u", (unsigned long long)gfn,
         (unsigned long long)mfn, o, p2m_type_name(t), a);
    rc = p2m_set_entry(&m->d->p2m, _gfn(gfn), _mfn(mfn), o, t, a);
    expect_rc(m, OP_MAP, rc, want);
    touch(m, gfn, 1ull << o, !rc && t != p2m_invalid);
    if ( !rc )
        model_set(m, gfn, mfn, 1ull << o, t, a);
}

static uint64_t rnd_len(struct model *m)
{
    uint64_t r = rnd(m, 10);

    return 1 + rnd(m, r < 6 ? 1024 : r < 9 ? 8192 : GIB_FRAMES);
}

static void op_range(struct model *m)
{
    uint64_t nr = rnd_len(m), gfn = rnd(m, GFNS - nr), mfn;
    p2m_type_t t = rnd(m, 5) ? rnd_ram_type(m) : p2m_invalid;
    p2m_access_t a = t == p2m_invalid ? 0 : rnd_access(m);
    int want = 0, rc;

    if ( t == p2m_invalid )
        mfn = INVALID_MFN_RAW;
    else if ( rnd(m, 3) )   /* gfn and mfn equally aligned: superpages */
        mfn = m->pool + (gfn & (GIB_FRAMES - 1)) +
              (rnd(m, 2) && (gfn & (GIB_FRAMES - 1)) + nr <= GIB_FRAMES
               ? GIB_FRAMES : 0);
    else
    {
        nr = MIN(nr, 4096);
        mfn = m->pool + rnd(m, POOL_FRAMES - nr);
    }
    if ( t != p2m_invalid && model_conflicts(m, gfn, mfn, nr) )
        want = -EBUSY;
    note(m, "set_range gfn %#llx mfn %#llx nr %#llx %s/%u",
         (unsigned long long)gfn, (unsigned long long)mfn,
         (unsigned long long)nr, p2m_type_name(t), a);
    rc = p2m_set_range(&m->d->p2m, _gfn(gfn), _mfn(mfn), nr, t, a);
    expect_rc(m, OP_RANGE, rc, want);
    touch(m, gfn, nr, !rc && t != p2m_invalid);
    if ( !rc )
        model_set(m, gfn, mfn, nr, t, a);
}

static void op_unmap(struct model *m)
{
    unsigned int o = rnd_order(m);
    uint64_t gfn = rnd_aligned(m, GFNS, o);

    note(m, "unmap gfn %#llx order %u", (unsigned long long)gfn, o);
    expect_rc(m, OP_UNMAP, p2m_remove(&m->d->p2m, _gfn(gfn), o), 0);
    touch(m, gfn, 1ull << o, false);
    model_set(m, gfn, INVALID_MFN_RAW, 1ull << o, p2m_invalid, 0);
}

static void op_retype(struct model *m)
{
    uint64_t nr = rnd_len(m), gfn = rnd(m, GFNS - nr);
    p2m_type_t ot = rnd_ram_type(m), nt = rnd_ram_type(m);

    note(m, "retype gfn %#llx nr %#llx %s -> %s", (unsigned long long)gfn,
         (unsigned long long)nr, p2m_type_name(ot), p2m_type_name(nt));
    expect_rc(m, OP_RETYPE, p2m_change_type_range(&m->d->p2m, _gfn(gfn), nr,
                                                  ot, nt), 0);
    touch(m, gfn, nr, false);
    model_retype(m, gfn, nr, ot, nt);
}

static void op_global(struct model *m)
{
    p2m_type_t ot = rnd_ram_type(m), nt = rnd_ram_type(m);

    note(m, "retype all %s -> %s", p2m_type_name(ot), p2m_type_name(nt));
    expect_rc(m, OP_GLOBAL, p2m_change_type_global(&m->d->p2m, ot, nt), 0);
    touch(m, 0, GFNS, false);
    model_retype(m, 0, GFNS, ot, nt);
}

static void op_logdirty(struct model *m)
{
    bool on = rnd(m, 2);
    uint64_t i;

    note(m, "logdirty %s", on ? "on" : "off");
    expect_rc(m, OP_LOGDIRTY, p2m_logdirty_enable(&m->d->p2m, on), 0);
    touch(m, 0, GFNS, false);
    if ( on != m->logdirty )
    {
        m->logdirty = false;        /* enabling or ending: nothing lost */
        model_retype(m, 0, GFNS, on ? p2m_ram_rw : p2m_ram_logdirty,
                     on ? p2m_ram_logdirty : p2m_ram_rw);
        for ( i = 0; i < GFNS; i++ )
            m->ref[i].lost = false;
    }
    m->logdirty = on;
}

static void op_dirty_read(struct model *m)
{
    uint64_t nr = rnd_len(m), gfn = rnd(m, GFNS - nr), i, dirty = 0;
    bool clean = rnd(m, 2);
    int64_t rc;

    note(m, "logdirty_read gfn %#llx nr %#llx%s", (unsigned long long)gfn,
         (unsigned long long)nr, clean ? " clean" : "");
    rc = p2m_logdirty_read(&m->d->p2m, _gfn(gfn), nr, m->bitmap, clean);
    touch(m, gfn, nr, false);
    for ( i = 0; m->logdirty && i < nr; i++ )
    {
        bool d = m->ref[gfn + i].t == p2m_ram_rw || m->ref[gfn + i].lost;

        if ( d != !!(m->bitmap[i / 8] & (1u << (i % 8))) )
            fail_msg("seed %llu step %llu %s: gfn %#llx dirty bit %u",
                     (unsigned long long)m->seed, (unsigned long long)m->step,
                     m->what, (unsigned long long)(gfn + i), !d);
        dirty += d;
    }
    expect_rc(m, OP_DIRTY_READ, rc < 0 ? (int)rc : 0,
              m->logdirty ? 0 : -EINVAL);
    assert_int_equal(rc < 0 ? 0 : rc, dirty);
    if ( m->logdirty && clean )
    {
        model_retype(m, gfn, nr, p2m_ram_rw, p2m_ram_logdirty);
        for ( i = 0; i < nr; i++ )
            m->ref[gfn + i].lost = false;
    }
}

/* A gfn mapped recently whose reference entry passes ok(). */
static bool pick_gfn(struct model *m, bool (*ok)(struct model *, uint64_t),
                     uint64_t *gfn)
{
    unsigned int tries;

    for ( tries = 0; tries < 16; tries++ )
    {
        unsigned int k = rnd(m, RECENT);

        if ( !m->recent[k].n )
            continue;
        *gfn = m->recent[k].gfn + rnd(m, m->recent[k].n);
        if ( ok(m, *gfn) )
            return true;
    }
    return false;
}

static bool writable(struct model *m, uint64_t gfn)
{
    const struct ref *r = &m->ref[gfn];
    p2m_access_t rw = P2M_ACCESS_R | P2M_ACCESS_W;

    if ( r->t == p2m_ram_logdirty )
        return (r->a & rw) == rw;
    return r->t == p2m_ram_rw &&
           (env_rights(m->fmt, r->t, r->a) & rw) == rw;
}

static bool readable(struct model *m, uint64_t gfn)
{
    const struct ref *r = &m->ref[gfn];

    return p2m_type_is_ram(r->t) &&
           (env_rights(m->fmt, r->t, r->a) & P2M_ACCESS_R);
}

static void op_write(struct model *m)
{
    uint64_t gfn, val = m->rng, got;
    unsigned int off = rnd(m, PAGE_SIZE / 8) * 8;
    struct vcpu *v = &m->d->vcpu[rnd(m, 2)];

    if ( !pick_gfn(m, writable, &gfn) )
        return;
    note(m, "guest write gfn %#llx off %#x", (unsigned long long)gfn, off);
    expect_rc(m, OP_WRITE, hosted_guest_write(v, _gfn(gfn), off, val), 0);
    touch(m, gfn, 1, false);
    if ( m->ref[gfn].t == p2m_ram_logdirty )
        m->ref[gfn].t = p2m_ram_rw;
    assert_int_equal(hosted_guest_read(v, _gfn(gfn), off, &got), 0);
    assert_int_equal(got, val);
    assert_int_equal(*(uint64_t *)((char *)plat_map_mfn(
                         _mfn(m->ref[gfn].mfn)) + off), val);
}

/* Reads see the frame the reference names (a stale TLB would not). */
static void op_read(struct model *m)
{
    uint64_t gfn, got;
    unsigned int off = rnd(m, PAGE_SIZE / 8) * 8;
    struct vcpu *v = &m->d->vcpu[rnd(m, 2)];

    if ( !pick_gfn(m, readable, &gfn) )
        return;
    note(m, "guest read gfn %#llx off %#x", (unsigned long long)gfn, off);
    expect_rc(m, OP_READ, hosted_guest_read(v, _gfn(gfn), off, &got), 0);
    touch(m, gfn, 1, false);
    assert_int_equal(got, *(uint64_t *)((char *)plat_map_mfn(
                              _mfn(m->ref[gfn].mfn)) + off));
}

static void (*const ops[OP_NR])(struct model *) = {
    op_populate, op_map, op_range, op_unmap, op_retype, op_global,
    op_logdirty, op_dirty_read, op_write, op_read,
};
/* Relative frequencies of the operations above. */
static const unsigned int weights[OP_NR] = { 14, 20, 12, 10, 8, 1, 3, 5,
                                             14, 10 };

/* --- checks --- */

static void check_gfn(struct model *m, uint64_t gfn)
{
    const struct ref *r = &m->ref[gfn];
    struct p2m_lookup l;

    if ( gfn >= GFNS || p2m_get_entry(&m->d->p2m, _gfn(gfn), &l) )
        fail_msg("seed %llu step %llu after %s: lookup of gfn %#llx failed",
                 (unsigned long long)m->seed, (unsigned long long)m->step,
                 m->what, (unsigned long long)gfn);
    if ( mfn_x(l.mfn) != r->mfn || l.type != r->t || l.access != r->a ||
         l.rights != env_rights(m->fmt, r->t, r->a) )
        fail_msg("seed %llu step %llu after %s: gfn %#llx is mfn %#llx "
                 "%s/%u rights %u, reference mfn %#llx %s/%u",
                 (unsigned long long)m->seed, (unsigned long long)m->step,
                 m->what, (unsigned long long)gfn,
                 (unsigned long long)mfn_x(l.mfn), p2m_type_name(l.type),
                 l.access, l.rights, (unsigned long long)r->mfn,
                 p2m_type_name(r->t), r->a);
}

static void check_sample(struct model *m)
{
    uint64_t g = m->touched.gfn, n = m->touched.n;
    unsigned int i;

    if ( n )
    {
        check_gfn(m, g);
        check_gfn(m, g + n - 1);
        if ( g )
            check_gfn(m, g - 1);
        if ( g + n < GFNS )
            check_gfn(m, g + n);
        for ( i = 0; i < 8; i++ )
            check_gfn(m, g + rnd(m, n));
    }
    for ( i = 0; i < 16; i++ )
    {
        unsigned int k = rnd(m, RECENT);

        if ( m->recent[k].n )
            check_gfn(m, m->recent[k].gfn + rnd(m, m->recent[k].n));
        check_gfn(m, rnd(m, GFNS));
    }
}

struct full { struct model *m; uint64_t covered; };

static int check_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    struct full *f = ctx;
    uint64_t g = gfn_x(gfn), i, n = 1ull << l->order;

    assert_true(g + n <= GFNS);
    for ( i = 0; i < n; i++ )
    {
        const struct ref *r = &f->m->ref[g + i];
        uint64_t mfn = p2m_type_has_mfn(l->type) ? mfn_x(l->mfn) + i
                                                 : INVALID_MFN_RAW;

        if ( r->t != l->type || r->a != l->access || r->mfn != mfn )
            fail_msg("seed %llu step %llu: gfn %#llx differs (full check)",
                     (unsigned long long)f->m->seed,
                     (unsigned long long)f->m->step,
                     (unsigned long long)(g + i));
    }
    f->covered += n;
    return 0;
}

/* Every leaf agrees with the reference, and covers all it maps. */
static void check_full(struct model *m)
{
    struct full f = { m, 0 };
    uint64_t g, mapped = 0;

    assert_int_equal(p2m_for_each_leaf(&m->d->p2m, check_leaf, &f), 0);
    for ( g = 0; g < GFNS; g++ )
        mapped += m->ref[g].t != p2m_invalid;
    assert_int_equal(f.covered, mapped);
}

/*
 * Debug builds already audit inside every changing operation (and panic on
 * a failure), so the test's own audit runs every AUDIT_EVERY steps there.
 */
#ifdef P2M_DEBUG
#define AUDIT_EVERY 10
#else
#define AUDIT_EVERY 1
#endif

static void check_step(struct model *m)
{
    if ( m->step % AUDIT_EVERY == 0 )
        env_expect_audit_clean(m->d);
    assert_int_equal(heap_check_accounting(), 0);
    assert_int_equal(m->d->tot_pages, m->tot);
    assert_int_equal(hosted_tlb_stale_hits(), 0);
    assert_false(m->d->crashed);
    check_sample(m);
    if ( m->step % FULL_EVERY == 0 )
        check_full(m);
}

/* --- driver --- */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);

    return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static void model_up(struct model *m, enum p2m_format fmt)
{
    uint64_t g;

    memset(m, 0, sizeof(*m));
    env_machine(LAYOUT);
    hosted_tlb_set_check(true);
    hosted_tlb_reset_counters();
    m->fmt = fmt;
    m->seed = env_u64("P2M_SEED", DEFAULT_SEED) + 1000003ull * fmt;
    m->rng = m->seed * 0x9e3779b97f4a7c15ull + 1;
    m->d = env_domain(1, fmt);
    m->d2 = env_domain(2, fmt);
    assert_int_equal(domain_iomem_permit(m->d, _mfn(MMIO_BASE),
                                         2 * GIB_FRAMES), 0);
    assert_int_equal(domain_iomem_permit(m->d2, _mfn(MMIO_BASE),
                                         2 * GIB_FRAMES), 0);
    m->pool = env_claim_gibs(m->d, 2);
    m->other = mfn_x(env_alloc(m->d2, 18));
    m->tot = m->d->tot_pages;
    m->d->max_pages = m->tot + AUTO_BUDGET;
    m->ref = malloc(GFNS * sizeof(*m->ref));
    m->rev = calloc(machine.max_mfn, sizeof(*m->rev));
    m->ext_of = calloc(machine.max_mfn, sizeof(*m->ext_of));
    m->bitmap = malloc(GIB_FRAMES / 8);
    assert_true(m->ref && m->rev && m->ext_of && m->bitmap);
    for ( g = 0; g < GFNS; g++ )
        m->ref[g] = (struct ref){ INVALID_MFN_RAW, p2m_invalid, 0, false };
}

static void model_free(struct model *m)
{
    free(m->ref);
    free(m->rev);
    free(m->ext_of);
    free(m->bitmap);
    m->ref = NULL;
    m->rev = NULL;
    m->ext_of = NULL;
    m->bitmap = NULL;
}

static void model_down(struct model *m)
{
    struct p2m_stats st;
    unsigned int k;

    p2m_get_stats(&m->d->p2m, &st);
    print_message("# leaves at the end: %llu 4K, %llu 2M, %llu 1G; "
                  "%llu tables, %llu splits\n",
                  (unsigned long long)st.pages[p2m_level_idx(P2M_L1)],
                  (unsigned long long)st.pages[p2m_level_idx(P2M_L2)],
                  (unsigned long long)st.pages[p2m_level_idx(P2M_L3)],
                  (unsigned long long)st.table_pages,
                  (unsigned long long)st.splits);
    for ( k = 0; k < OP_NR; k++ )
        print_message("#   %-14s %6llu ok %6llu refused\n", op_names[k],
                      (unsigned long long)m->ok[k],
                      (unsigned long long)m->failed[k]);
    model_free(m);
    env_finish();
}

static unsigned int pick_op(struct model *m)
{
    unsigned int total = 0, k, r;

    for ( k = 0; k < OP_NR; k++ )
        total += weights[k];
    r = rnd(m, total);
    for ( k = 0; r >= weights[k]; k++ )
        r -= weights[k];
    return k;
}

static struct model m;

/* Teardown: release the reference arrays a failed run left behind. */
static int model_cleanup(void **state)
{
    model_free(&m);
    return env_cleanup(state);
}

static void test_random_model(void **state)
{    uint64_t steps = env_u64("P2M_MODEL_STEPS", DEFAULT_STEPS);

    model_up(&m, ENV_FMT(state));
    print_message("# %s model: seed %llu (P2M_SEED=%llu), %llu steps\n",
                  env_fmt_name(m.fmt), (unsigned long long)m.seed,
                  (unsigned long long)env_u64("P2M_SEED", DEFAULT_SEED),
                  (unsigned long long)steps);
    check_full(&m);
    for ( m.step = 1; m.step <= steps; m.step++ )
    {
        m.touched.n = 0;
        m.what[0] = '\0';
        ops[pick_op(&m)](&m);
        check_step(&m);
    }
    check_full(&m);
    model_down(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        { "test_random_model_npt", test_random_model, NULL, model_cleanup,
          (void *)&env_npt },
        { "test_random_model_ept", test_random_model, NULL, model_cleanup,
          (void *)&env_ept },
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

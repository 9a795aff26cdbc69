/*
 * Bad input: every invalid argument of p2m_set_entry, p2m_remove,
 * p2m_set_range, memory_populate, memory_map_frames and domain_create gets
 * its own errno, and changes nothing (leaves, counters, table pages, heap).
 */
#include "env.h"

/*
 * A 2 MiB hole below 3 GiB; two lone 4K frames above 16 GiB that the
 * domains' root tables take, so the frames around the hole stay free.
 */
#define LAYOUT "0-3070M,3G-16G,16G+4K-16G+12K"
#define HOLE (3 * GIB_FRAMES - 512)
#define RWX P2M_ACCESS_RWX
#define RX (P2M_ACCESS_R | P2M_ACCESS_X)

/* Frames the cases refer to, set up by world_up(). */
enum frame {
    F_NONE,         /* INVALID_MFN */
    F_UNMAPPED,     /* d's, mapped nowhere, 2M */
    F_UNMAPPED_1,   /* F_UNMAPPED + 1 */
    F_MAPPED_2M,    /* d's, mapped at gfn 0x200 */
    F_MAPPED_4K,    /* d's, inside the 1G leaf at gfn 1G */
    F_OTHER,        /* d2's */
    F_FREE,         /* in the heap */
    F_HOLE,         /* the 2 MiB hole */
    F_BELOW_HOLE,   /* d's 2M just below the hole, mapped nowhere */
    F_ABOVE_HOLE,   /* d's 2M just above the hole, mapped nowhere */
    F_BEYOND,       /* past the top of RAM */
    F_HUGE,         /* past 52-bit addresses */
    F_NR
};

struct world {
    struct domain *d, *d2;
    uint64_t mfn[F_NR];
};

/* d with a 1G leaf (split once by a 4K), a 2M leaf, 4K leaves and MMIO. */
static void world_up(struct world *w, enum p2m_format fmt)
{
    struct p2m_domain *p2m;
    uint64_t m1;

    env_machine(LAYOUT);
    w->d = env_domain(1, fmt);
    w->d2 = env_domain(2, fmt);
    p2m = &w->d->p2m;
    w->mfn[F_BELOW_HOLE] = HOLE - 512;
    w->mfn[F_ABOVE_HOLE] = HOLE + 512;
    env_claim(w->d, HOLE - 512, 9);
    env_claim(w->d, HOLE + 512, 9);
    m1 = mfn_x(env_alloc(w->d, 18));
    w->mfn[F_NONE] = INVALID_MFN_RAW;
    w->mfn[F_MAPPED_2M] = mfn_x(env_alloc(w->d, 9));
    w->mfn[F_UNMAPPED] = mfn_x(env_alloc(w->d, 9));
    w->mfn[F_UNMAPPED_1] = w->mfn[F_UNMAPPED] + 1;
    w->mfn[F_MAPPED_4K] = m1 + 0x777;
    w->mfn[F_OTHER] = mfn_x(env_alloc(w->d2, 9));
    w->mfn[F_HOLE] = HOLE;
    w->mfn[F_BEYOND] = align_down(machine.max_mfn, 18) + GIB_FRAMES;
    w->mfn[F_HUGE] = 1ull << 40;
    assert_int_equal(p2m_set_entry(p2m, _gfn(GIB_FRAMES), _mfn(m1), 18,
                                   p2m_ram_rw, RWX), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(GIB_FRAMES + 5),
                                   env_alloc(w->d, 0), 0, p2m_ram_rw, RX), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(0x200),
                                   _mfn(w->mfn[F_MAPPED_2M]), 9, p2m_ram_ro,
                                   RX), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(7), env_alloc(w->d, 0), 0,
                                   p2m_ram_rw, RWX), 0);
    assert_int_equal(domain_iomem_permit(w->d, _mfn(HOLE), 512), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(0x10), _mfn(HOLE + 1), 0,
                                   p2m_mmio_direct, RWX), 0);
    assert_int_equal(p2m_set_entry(p2m, _gfn(0x11), INVALID_MFN, 0,
                                   p2m_populate_on_demand, RWX), 0);
    /* Last, so that no allocation above takes part of it. */
    w->mfn[F_FREE] = mfn_x(env_alloc(w->d2, 9));
    assert_int_equal(free_domheap_range(w->d2, _mfn(w->mfn[F_FREE]), 9), 0);
    assert_int_equal(mfn_owner(_mfn(w->mfn[F_FREE])), -1);
    env_expect_clean(w->d);
}

/* Run op, which must return rc and leave d and the heap as they were. */
#define EXPECT_NOTHING_CHANGES(w, rc, op)                               \
    do {                                                                \
        struct env_snap a_ = { 0 }, b_ = { 0 };                         \
                                                                        \
        env_snap_take((w)->d, &a_);                                     \
        assert_int_equal((op), (rc));                                   \
        env_snap_take((w)->d, &b_);                                     \
        env_snap_expect_equal(&a_, &b_, true);                          \
        env_snap_free(&a_);                                             \
        env_snap_free(&b_);                                             \
        env_expect_clean((w)->d);                                       \
    } while ( 0 )

static void test_set_entry_errors(void **state)
{
    static const struct {
        uint64_t gfn;
        enum frame f;
        unsigned int order;
        p2m_type_t t;
        p2m_access_t a;
        int rc;
    } cases[] = {
        { 0x800, F_UNMAPPED, 5, p2m_ram_rw, RWX, -EDOM },
        { 0x800, F_UNMAPPED, 27, p2m_ram_rw, RWX, -EDOM },
        { 1ull << 36, F_UNMAPPED, 0, p2m_ram_rw, RWX, -ERANGE },
        { (1ull << 36) - 512, F_UNMAPPED, 18, p2m_ram_rw, RWX, -ERANGE },
        { 0x800, F_UNMAPPED, 9, (p2m_type_t)99, RWX, -EBADR },
        { 0x800, F_UNMAPPED, 9, p2m_nr_types, RWX, -EBADR },
        { 0x800, F_UNMAPPED, 9, p2m_ram_rw, 8, -EBADR },
        { 0x801, F_UNMAPPED, 9, p2m_ram_rw, RWX, -EINVAL },
        { 0x800, F_UNMAPPED_1, 9, p2m_ram_rw, RWX, -EINVAL },
        { 0x800, F_UNMAPPED, 9, p2m_invalid, 0, -EINVAL },
        { 0x800, F_UNMAPPED, 9, p2m_populate_on_demand, RWX, -EINVAL },
        { 0x800, F_BEYOND, 9, p2m_ram_rw, RWX, -EFAULT },
        { 0x800, F_HUGE, 9, p2m_ram_rw, RWX, -EFAULT },
        { 0x800, F_HOLE, 9, p2m_ram_rw, RWX, -ENXIO },
        { 0x800, F_OTHER, 9, p2m_ram_rw, RWX, -EPERM },
        { 0x800, F_FREE, 9, p2m_ram_rw, RWX, -EPERM },
        { 0x800, F_UNMAPPED, 9, p2m_mmio_direct, RWX, -EPERM },
        { 0x800, F_MAPPED_2M, 9, p2m_ram_rw, RWX, -EBUSY },
        { 0x800, F_MAPPED_4K, 0, p2m_ram_ro, RX, -EBUSY },
        { 0x201, F_MAPPED_2M, 0, p2m_ram_rw, RWX, -EBUSY },
    };
    struct world w;
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        print_message("# case %u: gfn %#llx order %u -> %d\n", i,
                      (unsigned long long)cases[i].gfn, cases[i].order,
                      cases[i].rc);
        EXPECT_NOTHING_CHANGES(&w, cases[i].rc,
            p2m_set_entry(&w.d->p2m, _gfn(cases[i].gfn),
                          _mfn(w.mfn[cases[i].f]), cases[i].order,
                          cases[i].t, cases[i].a));
    }
    /* The same frame at its own gfn is no conflict: a good case passes. */
    assert_int_equal(p2m_set_entry(&w.d->p2m, _gfn(0x200),
                                   _mfn(w.mfn[F_MAPPED_2M]), 9, p2m_ram_rw,
                                   RWX), 0);
    env_expect_clean(w.d);
    env_finish();
}

static void test_remove_errors(void **state)
{
    static const struct { uint64_t gfn; unsigned int order; int rc; }
    cases[] = {
        { 0x200, 5, -EDOM },
        { 0x201, 9, -EINVAL },
        { GIB_FRAMES + 1, 18, -EINVAL },
        { 1ull << 36, 0, -ERANGE },
    };
    struct world w;
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
        EXPECT_NOTHING_CHANGES(&w, cases[i].rc,
            p2m_remove(&w.d->p2m, _gfn(cases[i].gfn), cases[i].order));
    env_finish();
}

/*
 * p2m_set_range over three 2M chunks whose middle one is bad fails with
 * that chunk's errno, and maps none of the good ones.
 */
static void test_set_range_all_or_nothing(void **state)
{
    static const struct { const char *what; int rc; } cases[] = {
        { "another domain's", -EPERM },
        { "mapped elsewhere", -EBUSY },
        { "a hole", -ENXIO },
        { "free", -EPERM },
        { "good", 0 },
    };
    const uint64_t g = 0x40000 - 0x200 * 3;   /* ends on a 1G line */
    struct world w;
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        uint64_t base = i == 2 ? HOLE - 512 : 2 * GIB_FRAMES + 1024 * i;
        struct p2m_lookup l;

        world_up(&w, ENV_FMT(state));
        if ( i != 2 )
        {
            env_claim(w.d, base, 9);
            env_claim(w.d, base + 1024, 9);
        }
        if ( i == 0 )
            env_claim(w.d2, base + 512, 9);
        if ( i == 1 || i == 4 )
            env_claim(w.d, base + 512, 9);
        if ( i == 1 )
            assert_int_equal(p2m_set_entry(&w.d->p2m, _gfn(0x4000),
                                           _mfn(base + 512), 9, p2m_ram_rw,
                                           RWX), 0);
        print_message("# middle chunk %s\n", cases[i].what);
        if ( cases[i].rc )
            EXPECT_NOTHING_CHANGES(&w, cases[i].rc,
                p2m_set_range(&w.d->p2m, _gfn(g), _mfn(base), 3 * 512,
                              p2m_ram_rw, RWX));
        else
            assert_int_equal(p2m_set_range(&w.d->p2m, _gfn(g), _mfn(base),
                                           3 * 512, p2m_ram_rw, RWX), 0);
        assert_int_equal(p2m_get_entry(&w.d->p2m, _gfn(g), &l), 0);
        assert_int_equal(l.type, cases[i].rc ? p2m_invalid : p2m_ram_rw);
        assert_int_equal(p2m_get_entry(&w.d->p2m, _gfn(g + 1024), &l), 0);
        assert_int_equal(l.type, cases[i].rc ? p2m_invalid : p2m_ram_rw);
        env_expect_clean(w.d);
        env_finish();
    }
}

static void test_set_range_bad_range(void **state)
{
    struct world w;

    world_up(&w, ENV_FMT(state));
    EXPECT_NOTHING_CHANGES(&w, -ERANGE,
        p2m_set_range(&w.d->p2m, _gfn((1ull << 36) - 512),
                      _mfn(w.mfn[F_UNMAPPED]), 1024, p2m_ram_rw, RWX));
    EXPECT_NOTHING_CHANGES(&w, -EBADR,
        p2m_set_range(&w.d->p2m, _gfn(0x800), _mfn(w.mfn[F_UNMAPPED]), 512,
                      p2m_ram_rw, 9));
    /* Frames that run past the physical-address width: reserved bits in
     * the last chunks' entries, however many chunks come before (4K and
     * 2M chunks). */
    EXPECT_NOTHING_CHANGES(&w, -EFAULT,
        p2m_set_range(&w.d->p2m, _gfn(0x800),
                      _mfn(machine_mfn_limit() - 513), 1024, p2m_ram_rw,
                      RWX));
    EXPECT_NOTHING_CHANGES(&w, -EFAULT,
        p2m_set_range(&w.d->p2m, _gfn(0x800),
                      _mfn(machine_mfn_limit() - 1024), 4 * 512, p2m_ram_rw,
                      RWX));
    /* One frame past the end of d's 2M belongs to nobody. */
    EXPECT_NOTHING_CHANGES(&w, -EPERM,
        p2m_set_range(&w.d->p2m, _gfn(0x800), _mfn(w.mfn[F_UNMAPPED]), 513,
                      p2m_ram_rw, RWX));
    env_finish();
}

static void test_populate_errors(void **state)
{
    static const struct {
        uint64_t gfn;
        unsigned int order;
        p2m_type_t t;
        uint64_t room;          /* max_pages - tot_pages; 0 = no limit */
        uint64_t fail_nth;
        int rc;
    } cases[] = {
        { 0x800, 5, p2m_ram_rw, 0, 0, -EDOM },
        { 0x800, 9, p2m_mmio_direct, 0, 0, -EBADR },
        { 0x800, 9, p2m_invalid, 0, 0, -EBADR },
        { 0x800, 9, p2m_populate_on_demand, 0, 0, -EBADR },
        { 0x801, 9, p2m_ram_rw, 0, 0, -EINVAL },
        { 1ull << 36, 0, p2m_ram_rw, 0, 0, -ERANGE },
        { 0x800, 9, p2m_ram_rw, 511, 0, -ENOSPC },
        { 0x800, 9, p2m_ram_rw, 0, 1, -ENOMEM },
    };
    struct world w;
    unsigned int i;
    mfn_t mfn;

    world_up(&w, ENV_FMT(state));
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        uint64_t max = w.d->max_pages;

        if ( cases[i].room )
            w.d->max_pages = w.d->tot_pages + cases[i].room;
        heap_fail_nth(cases[i].fail_nth);
        EXPECT_NOTHING_CHANGES(&w, cases[i].rc,
            memory_populate(w.d, _gfn(cases[i].gfn), cases[i].order,
                            cases[i].t, RWX, &mfn));
        heap_fail_nth(0);
        w.d->max_pages = max;
    }
    assert_int_equal(memory_populate(w.d, _gfn(0x800), 9, p2m_ram_rw, RWX,
                                     &mfn), 0);
    env_expect(w.d, 0x800, mfn_x(mfn), p2m_ram_rw, RWX, 9);
    env_finish();
}

static void test_map_frames_errors(void **state)
{
    static const struct {
        uint64_t gfn;
        enum frame f;
        unsigned int order;
        p2m_type_t t;
        uint64_t room;
        int rc;
    } cases[] = {
        { 0x800, F_FREE, 19, p2m_ram_rw, 0, -EDOM },
        { 0x800, F_FREE, 5, p2m_ram_rw, 0, -EDOM },    /* claimed, undone */
        { 0x801, F_FREE, 9, p2m_ram_rw, 0, -EINVAL },  /* claimed, undone */
        { 0x800, F_FREE, 9, (p2m_type_t)99, 0, -EBADR },
        { 0x800, F_FREE, 9, p2m_ram_rw, 511, -ENOSPC },
        { 0x800, F_OTHER, 9, p2m_ram_rw, 0, -EPERM },
        { 0x800, F_HOLE, 9, p2m_ram_rw, 0, -ENXIO },
        { 0x800, F_BEYOND, 9, p2m_ram_rw, 0, -EFAULT },
        { 0x800, F_MAPPED_2M, 9, p2m_ram_rw, 0, -EBUSY },
        { 1ull << 36, F_FREE, 9, p2m_ram_rw, 0, -ERANGE },
    };
    struct world w;
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        uint64_t max = w.d->max_pages;

        if ( cases[i].room )
            w.d->max_pages = w.d->tot_pages + cases[i].room;
        print_message("# case %u -> %d\n", i, cases[i].rc);
        EXPECT_NOTHING_CHANGES(&w, cases[i].rc,
            memory_map_frames(w.d, _gfn(cases[i].gfn),
                              _mfn(w.mfn[cases[i].f]), cases[i].order,
                              cases[i].t, RWX));
        w.d->max_pages = max;
    }
    assert_int_equal(mfn_owner(_mfn(w.mfn[F_FREE])), -1);
    assert_int_equal(memory_map_frames(w.d, _gfn(0x800),
                                       _mfn(w.mfn[F_FREE]), 9, p2m_ram_rw,
                                       RWX), 0);
    assert_int_equal(mfn_owner(_mfn(w.mfn[F_FREE])), w.d->domain_id);
    env_expect_clean(w.d);
    env_finish();
}

static void test_domain_create_errors(void **state)
{
    static const struct {
        unsigned int domid, fmt, vcpus;
        uint64_t fail_nth;
        int rc;
    } cases[] = {
        { MAX_DOMAINS, P2M_FORMAT_NPT, 1, 0, -EINVAL },
        { 0xffff, P2M_FORMAT_EPT, 1, 0, -EINVAL },
        { 3, 7, 1, 0, -EINVAL },
        { 3, P2M_FORMAT_EPT, 0, 0, -EINVAL },
        { 3, P2M_FORMAT_NPT, MAX_VCPUS + 1, 0, -EINVAL },
        { 1, P2M_FORMAT_NPT, 1, 0, -EEXIST },          /* d is 1 */
        { 4, P2M_FORMAT_EPT, 1, 1, -ENOMEM },          /* no root page */
    };
    struct world w;
    unsigned int i;

    world_up(&w, ENV_FMT(state));
    for ( i = 0; i < ARRAY_SIZE(cases); i++ )
    {
        struct env_snap a = { 0 }, b = { 0 };
        int err = 0;

        env_snap_take(w.d, &a);
        heap_fail_nth(cases[i].fail_nth);
        assert_null(domain_create(cases[i].domid,
                                  (enum p2m_format)cases[i].fmt, 1000,
                                  cases[i].vcpus, &err));
        heap_fail_nth(0);
        assert_int_equal(err, cases[i].rc);
        env_snap_take(w.d, &b);
        env_snap_expect_equal(&a, &b, true);
        env_snap_free(&a);
        env_snap_free(&b);
        assert_int_equal(heap_check_accounting(), 0);
        if ( cases[i].domid != 1 )
            assert_null(domain_lookup(cases[i].domid));
    }
    assert_true(domain_lookup(1) == w.d);
    /* Domain 4 can be created once memory is back. */
    assert_non_null(env_domain(4, ENV_FMT(state)));
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_set_entry_errors),
        ENV_TEST(test_remove_errors),
        ENV_TEST(test_set_range_all_or_nothing),
        ENV_TEST(test_set_range_bad_range),
        ENV_TEST(test_populate_errors),
        ENV_TEST(test_map_frames_errors),
        ENV_TEST(test_domain_create_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

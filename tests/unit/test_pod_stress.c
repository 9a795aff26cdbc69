/*
 * Populate-on-demand under concurrency: vCPU threads fault on the same PoD
 * superpages at once while a sweeper reclaims and checks pages and a
 * ballooner gives memory back and re-marks it.  At the end every page a
 * vCPU wrote holds its last value and all accounting is exact.
 *
 * Clean under ThreadSanitizer:
 *   make tsan=y O=build/pod-tsan build/pod-tsan/tests/test_pod_stress
 */
#include "podenv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define G GIB_FRAMES
#define M2 MIB2_FRAMES

#define NR_WRITERS 4
#define BALLOONER NR_WRITERS            /* its vCPU */
/*
 * Sized for about a second per format in a release build.  Debug builds
 * audit the whole P2M after every fault and sweep, and ThreadSanitizer
 * makes every word the sweeper checks expensive: fewer rounds there (and
 * under TSan fewer populated superpages and zero 2M pages).
 */
#if defined(__SANITIZE_THREAD__)
#define ROUNDS 4
#define B_STEP 8                        /* 2M pieces between written pages */
#define ZERO_2M 2                       /* zero 2M pages the writers read */
#elif defined(P2M_DEBUG)
#define ROUNDS 6
#define B_STEP 1
#define ZERO_2M 16
#else
#define ROUNDS 16
#define B_STEP 1
#define ZERO_2M 16
#endif

/* Guest layout: the writers' PoD memory, and the ballooner's. */
#define W_1G_A 0                        /* 1G entry: gets the 1G page */
#define W_1G_B G                        /* 1G entry: remapped to 2M */
#define W_2M (2 * G)                    /* 32 x 2M entries */
#define W_4K (2 * G + 32 * M2 + 1)      /* 511 x 4K entries */
#define W_END (2 * G + 33 * M2)
#define W_PRIV (2 * G + 34 * M2 + 1)    /* 4K entries, PRIV_PAGES per vCPU */
#define PRIV_PAGES 16
#define B_BASE (3 * G)                  /* 64 x 2M entries */
#define B_CHUNKS 64
#define SET_MAX 4096

struct stress {
    struct domain *d;
    pthread_barrier_t start;
    uint64_t set[SET_MAX];              /* pages every writer writes */
    size_t nset;
    uint64_t zero[SET_MAX];             /* pages only read (stay zero) */
    size_t nzero;
    int writers_left;
    int first_round_done;               /* writers past their first round */
    /* First failure seen by a thread (cmocka asserts are not thread-safe). */
    int failed;
    char why[256];
    /* Counters. */
    uint64_t pauses, sweeps, reclaimed, balloons, released, giveups;
};

static void stress_fail(struct stress *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void stress_fail(struct stress *st, const char *fmt, ...)
{
    int expected = 0;
    va_list ap;

    if ( !__atomic_compare_exchange_n(&st->failed, &expected, 1, false,
                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) )
        return;
    va_start(ap, fmt);
    vsnprintf(st->why, sizeof(st->why), fmt, ap);
    va_end(ap);
}

static bool stress_failed(struct stress *st)
{
    return __atomic_load_n(&st->failed, __ATOMIC_ACQUIRE);
}

static uint64_t tag(uint64_t gfn, unsigned int k, unsigned int round)
{
    return (gfn << 8) | (k << 4) | (round + 1);
}

/*
 * Writer k writes word k: the sweeper's quick check samples word 0 (so it
 * reads what writer 0 may be writing right then), and misses words 1..3
 * (so pages only those wrote get the full check, remap and restore).
 */
static unsigned int word_of(unsigned int k)
{
    return 8 * k;
}

static void set_target(struct stress *st, uint64_t target)
{
    int rc;

    while ( (rc = p2m_pod_set_target(st->d, target)) == -EAGAIN )
        ;
    if ( rc )
        stress_fail(st, "set_target(%#llx): %d", (unsigned long long)target,
                    rc);
}

/* Out of memory: raise the target to max_pages and let vCPUs go on. */
static void toolstack_unpause(struct stress *st)
{
    __atomic_add_fetch(&st->pauses, 1, __ATOMIC_RELAXED);
    set_target(st, st->d->max_pages);
    p2m_pod_resume(st->d);
}

enum acc { ACC_READ, ACC_WRITE, ACC_FILL, ACC_CHECK };

static int guest_acc(struct vcpu *v, uint64_t gfn, enum acc kind,
                     unsigned int off, uint64_t *val)
{
    switch ( kind )
    {
    case ACC_READ:  return hosted_guest_read(v, _gfn(gfn), off, val);
    case ACC_WRITE: return hosted_guest_write(v, _gfn(gfn), off, *val);
    case ACC_FILL:  return hosted_guest_fill_page(v, _gfn(gfn), *val);
    default:        return hosted_guest_check_page(v, _gfn(gfn), *val);
    }
}

/*
 * A guest access that pauses at most a few times for memory.  Any other
 * failure (or a page that does not hold *val for ACC_CHECK) is recorded.
 *
 * The hosted vCPU gives up with -EFAULT (the domain still running) when a
 * page faults 16 times in a row: here that happens when the sweeper takes
 * a zero page back each time between its fill and the access.  Such an
 * access is retried too, and counted.
 */
static int access_retry(struct stress *st, struct vcpu *v, uint64_t gfn,
                        enum acc kind, unsigned int off, uint64_t *val)
{
    static const char *const names[] = { "read", "write", "fill", "check" };
    unsigned int tries;
    int rc = -EAGAIN;

    for ( tries = 0; tries < 8 && (rc == -EAGAIN || rc == -EFAULT); tries++ )
    {
        rc = guest_acc(v, gfn, kind, off, val);
        if ( rc == -EAGAIN )
            toolstack_unpause(st);
        else if ( rc == -EFAULT &&
                  !__atomic_load_n(&v->domain->crashed, __ATOMIC_ACQUIRE) )
            __atomic_add_fetch(&st->giveups, 1, __ATOMIC_RELAXED);
        else if ( rc == -EFAULT )
            break;
    }
    if ( rc )
        stress_fail(st, "d%uv%u %s gfn %#llx: %d", v->domain->domain_id,
                    v->vcpu_id, names[kind], (unsigned long long)gfn, rc);
    return rc;
}

struct writer { struct stress *st; unsigned int k; };

/* Writer k walks the shared set from its own start, in its own direction. */
static uint64_t writer_gfn(struct stress *st, unsigned int k, size_t i)
{
    size_t start = (st->nset / NR_WRITERS) * k / 2, idx;

    idx = k & 1 ? (start + i) % st->nset
                : (start + st->nset - i % st->nset) % st->nset;
    return st->set[idx];
}

/*
 * Whole-page writes to the writer's own pages: the guest zeroes a page
 * (the sweeper may take it right then) and fills it again at once.
 */
static void writer_private(struct stress *st, unsigned int k, unsigned int r)
{
    struct vcpu *v = &st->d->vcpu[k];
    unsigned int i;

    for ( i = 0; i < PRIV_PAGES && !stress_failed(st); i++ )
    {
        uint64_t g = W_PRIV + k * PRIV_PAGES + i, zero = 0, val = tag(g, k, r);

        if ( access_retry(st, v, g, ACC_FILL, 0, &zero) ||
             access_retry(st, v, g, ACC_FILL, 0, &val) ||
             access_retry(st, v, g, ACC_CHECK, 0, &val) )
            return;
    }
}

static void writer_round(struct stress *st, unsigned int k, unsigned int r)
{
    struct vcpu *v = &st->d->vcpu[k];
    uint64_t val;
    size_t i;

    for ( i = 0; i < st->nset && !stress_failed(st); i++ )
    {
        uint64_t g = writer_gfn(st, k, i);

        val = tag(g, k, r);
        if ( access_retry(st, v, g, ACC_WRITE, word_of(k), &val) )
            return;
        if ( i % 64 == 0 )
            writer_private(st, k, r);
        if ( i % 4 == 0 )
        {
            uint64_t z = st->zero[(i * (k + 3)) % st->nzero];

            if ( !access_retry(st, v, z, ACC_READ, 8 * (i % 512), &val) &&
                 val != 0 )
                stress_fail(st, "v%u: zero page %#llx reads %#llx", k,
                            (unsigned long long)z, (unsigned long long)val);
        }
    }
    for ( i = 0; i < st->nset && !stress_failed(st); i++ )
    {
        uint64_t g = writer_gfn(st, k, i);

        if ( !access_retry(st, v, g, ACC_READ, word_of(k), &val) &&
             val != tag(g, k, r) )
            stress_fail(st, "v%u round %u: gfn %#llx reads %#llx, wrote "
                        "%#llx", k, r, (unsigned long long)g,
                        (unsigned long long)val,
                        (unsigned long long)tag(g, k, r));
    }
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    unsigned int r;

    pthread_barrier_wait(&w->st->start);
    for ( r = 0; r < ROUNDS && !stress_failed(w->st); r++ )
    {
        writer_round(w->st, w->k, r);
        if ( r == 0 )
            __atomic_add_fetch(&w->st->first_round_done, 1,
                               __ATOMIC_RELEASE);
    }
    __atomic_sub_fetch(&w->st->writers_left, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static bool writers_running(struct stress *st)
{
    return __atomic_load_n(&st->writers_left, __ATOMIC_ACQUIRE) > 0 &&
           !stress_failed(st);
}

static void *sweeper_main(void *arg)
{
    static const enum pod_sweep_mode modes[] = {
        POD_SWEEP_EAGER, POD_SWEEP_EMERGENCY, POD_SWEEP_EAGER,
        POD_SWEEP_EMERGENCY, POD_SWEEP_EAGER, POD_SWEEP_ALL,
    };
    struct stress *st = arg;
    unsigned int n = 0;

    pthread_barrier_wait(&st->start);
    while ( writers_running(st) )
    {
        int64_t r = p2m_pod_sweep(st->d, modes[n++ % ARRAY_SIZE(modes)]);

        if ( r < 0 )
            stress_fail(st, "sweep: %lld", (long long)r);
        st->reclaimed += r > 0 ? (uint64_t)r : 0;
        st->sweeps++;
        /* Leave the P2M lock alone for a while: with more threads than
         * CPUs, spinning waiters would otherwise eat the holder's time. */
        usleep(200);
    }
    return NULL;
}

/*
 * One balloon step on chunk j: populate a page (maybe), give a range back,
 * and mark it PoD again.  Every gfn of the ballooner's region is PoD or RAM
 * between steps, so each request releases exactly its size.
 */
static void balloon_step(struct stress *st, unsigned int it)
{
    unsigned int j = it % (B_CHUNKS - 1), variant = it % 4;
    struct vcpu *v = &st->d->vcpu[BALLOONER];
    uint64_t base = B_BASE + (uint64_t)j * M2, p = (it * 37) % M2;
    uint64_t gfn = base, val = tag(base + p, BALLOONER, 0);
    unsigned int order = PAGE_ORDER_2M;
    int64_t got;
    int rc;

    if ( variant != 3 )
    {
        if ( access_retry(st, v, base + p, ACC_WRITE, 0, &val) ||
             access_retry(st, v, base + p, ACC_READ, 0, &val) )
            return;
        if ( val != tag(base + p, BALLOONER, 0) )
            stress_fail(st, "balloon page %#llx reads %#llx",
                        (unsigned long long)(base + p),
                        (unsigned long long)val);
    }
    if ( variant == 1 )
        gfn = base + p, order = 0;
    else if ( variant == 2 )
        gfn = base + 100;               /* misaligned: into chunk j + 1 */
    got = podenv_balloon(st->d, _gfn(gfn), order);
    if ( got != (int64_t)1 << order )
        stress_fail(st, "balloon %#llx order %u released %lld",
                    (unsigned long long)gfn, order, (long long)got);
    rc = p2m_pod_mark(st->d, _gfn(gfn), 1ull << order);
    if ( rc )
        stress_fail(st, "re-mark %#llx: %d", (unsigned long long)gfn, rc);
    st->balloons++;
    st->released += got > 0 ? (uint64_t)got : 0;
}

/*
 * Besides ballooning, the toolstack tops the cache up now and then, and
 * sometimes takes it all away: vCPUs then pause for memory until one of
 * them (acting as the toolstack) raises the target and resumes them.  It
 * does that only once the writers have touched all their superpages: a 1G
 * page that went back to the heap is no longer known zero, and giving it
 * to the guest again would cost a 1 GiB memset.
 */
static void *ballooner_main(void *arg)
{
    struct stress *st = arg;
    unsigned int it;

    pthread_barrier_wait(&st->start);
    for ( it = 0; writers_running(st); it++ )
    {
        balloon_step(st, it);
        if ( it % 4 == 3 )
            usleep(1000);               /* let the writers do most work */
        if ( it % 16 == 11 &&
             __atomic_load_n(&st->first_round_done, __ATOMIC_ACQUIRE) ==
             NR_WRITERS )
            set_target(st, 0);
        else if ( it % 8 == 7 )
            set_target(st, st->d->max_pages);
    }
    set_target(st, st->d->max_pages);
    return NULL;
}

static void set_add(uint64_t *set, size_t *n, uint64_t gfn)
{
    assert_true(*n < SET_MAX);
    set[(*n)++] = gfn;
}

/* Shared write set: sparse in the 1G entries, dense in 2M and 4K ones. */
static void build_sets(struct stress *st)
{
    uint64_t g;

    for ( g = W_1G_A; g < W_1G_A + G; g += 509 )
        set_add(st->set, &st->nset, g);
    /* One page near the start of each 2M piece, so that the sweeper's
     * full checks (the words written are not the sampled ones) stop early. */
    for ( g = 0; g < G / M2; g += B_STEP )
        set_add(st->set, &st->nset, W_1G_B + g * M2 + g % 3);
    for ( g = W_2M; g < W_2M + 16 * M2; g += 7 )
        set_add(st->set, &st->nset, g);
    for ( g = W_4K; g < W_4K + 256; g++ )
        set_add(st->set, &st->nset, g);
    for ( g = W_2M + 16 * M2; g < W_2M + (16 + ZERO_2M) * M2; g += 61 )
        set_add(st->zero, &st->nzero, g);
    for ( g = W_4K + 256; g < W_END; g++ )
        set_add(st->zero, &st->nzero, g);
}

static void cache_fill(struct domain *d, unsigned int order, uint64_t n)
{
    uint64_t i;

    for ( i = 0; i < n; i++ )
    {
        struct page_info *pg = alloc_domheap_pages(d, order,
                                                   MEMF_keep_zeroed);

        assert_non_null(pg);
        p2m_pod_cache_add(d, pg);
    }
}

/*
 * The domain: PoD entries of every size and a cache exactly as large, with
 * one 1G page for two 1G entries (so the second one is remapped).
 */
static struct domain *stress_domain(enum p2m_format fmt)
{
    uint64_t priv = NR_WRITERS * PRIV_PAGES;
    uint64_t entries = 2 * G + 32 * M2 + 511 + priv + B_CHUNKS * M2;
    struct domain *d = podenv_domain(1, fmt, entries, NR_WRITERS + 1);

    podenv_mark(d, W_1G_A, 2 * G);
    podenv_mark(d, W_2M, 32 * M2);
    podenv_mark(d, W_4K, 511);
    podenv_mark(d, W_PRIV, priv);
    podenv_mark(d, B_BASE, B_CHUNKS * M2);
    assert_int_equal(podenv_stats(d).entry_count, entries);
    cache_fill(d, PAGE_ORDER_1G, 1);
    cache_fill(d, PAGE_ORDER_2M, 512 + 32 + B_CHUNKS);
    cache_fill(d, PAGE_ORDER_4K, 511 + priv);
    assert_int_equal(podenv_stats(d).count, entries);
    podenv_check(d, true);
    return d;
}

static void verify(struct stress *st)
{
    struct vcpu *v = &st->d->vcpu[0];
    unsigned int k;
    size_t i;

    for ( i = 0; i < st->nset; i++ )
        for ( k = 0; k < NR_WRITERS; k++ )
        {
            uint64_t g = st->set[i], val = podenv_read(v, g, word_of(k));

            if ( val != tag(g, k, ROUNDS - 1) )
                fail_msg("gfn %#llx word %u: %#llx, expected %#llx",
                         (unsigned long long)g, word_of(k) / 8,
                         (unsigned long long)val,
                         (unsigned long long)tag(g, k, ROUNDS - 1));
        }
    for ( i = 0; i < st->nzero; i++ )
        assert_int_equal(hosted_guest_check_page(v, _gfn(st->zero[i]), 0),
                         0);
    for ( k = 0; k < NR_WRITERS; k++ )
        for ( i = 0; i < PRIV_PAGES; i++ )
        {
            uint64_t g = W_PRIV + k * PRIV_PAGES + i;

            assert_int_equal(hosted_guest_check_page(v, _gfn(g),
                                                     tag(g, k, ROUNDS - 1)),
                             0);
        }
}

/*
 * The hosted stale-TLB checker compares each TLB hit with the P2M at that
 * moment; between another thread's P2M change and its flush such a hit is
 * legal (a real TLB holds it too), so the check is off while threads run
 * and on for the single-threaded verification afterwards.
 */
#ifdef P2M_DEBUG
#define TLB_CHECK_DEFAULT true
#else
#define TLB_CHECK_DEFAULT false
#endif

static void run_threads(struct stress *st)
{
    struct writer w[NR_WRITERS];
    pthread_t tw[NR_WRITERS], tsw, tb;
    unsigned int k;

    st->writers_left = NR_WRITERS;
    assert_int_equal(pthread_barrier_init(&st->start, NULL, NR_WRITERS + 2),
                     0);
    hosted_tlb_set_check(false);
    for ( k = 0; k < NR_WRITERS; k++ )
    {
        w[k] = (struct writer){ st, k };
        assert_int_equal(pthread_create(&tw[k], NULL, writer_main, &w[k]), 0);
    }
    assert_int_equal(pthread_create(&tsw, NULL, sweeper_main, st), 0);
    assert_int_equal(pthread_create(&tb, NULL, ballooner_main, st), 0);
    for ( k = 0; k < NR_WRITERS; k++ )
        pthread_join(tw[k], NULL);
    pthread_join(tsw, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&st->start);
    hosted_tlb_reset_counters();
    hosted_tlb_set_check(true);
}

static void print_stats(struct stress *st, enum p2m_format fmt)
{
    struct pod_stats s = podenv_stats(st->d);

    print_message("# %s: %zu pages x %u vCPUs x %u rounds; fills "
                  "%llu/%llu/%llu, remaps %llu, sweeps %llu reclaimed %llu, "
                  "balloons %llu released %llu, pauses %llu, give-ups "
                  "%llu, fills zeroed unlocked %llu (backed out %llu)\n",
                  env_fmt_name(fmt), st->nset, NR_WRITERS, ROUNDS,
                  (unsigned long long)s.filled[POD_4K],
                  (unsigned long long)s.filled[POD_2M],
                  (unsigned long long)s.filled[POD_1G],
                  (unsigned long long)s.remap_retries,
                  (unsigned long long)st->sweeps,
                  (unsigned long long)st->reclaimed,
                  (unsigned long long)st->balloons,
                  (unsigned long long)st->released,
                  (unsigned long long)st->pauses,
                  (unsigned long long)st->giveups,
                  (unsigned long long)s.unlocked_zeroes,
                  (unsigned long long)s.fill_backouts);
    assert_true(s.filled[POD_4K] + s.filled[POD_2M] + s.filled[POD_1G] > 0);
}

static void test_pod_stress(void **state)
{
    static struct stress st;

    memset(&st, 0, sizeof(st));
    env_machine("0-8G");
    st.d = stress_domain(ENV_FMT(state));
    build_sets(&st);
    run_threads(&st);
    if ( st.failed )
        fail_msg("%s", st.why);
    print_stats(&st, ENV_FMT(state));
    assert_false(st.d->crashed);
    podenv_check(st.d, true);
    verify(&st);
    podenv_check(st.d, true);
    assert_int_equal(hosted_tlb_stale_hits(), 0);
    hosted_tlb_set_check(TLB_CHECK_DEFAULT);
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_pod_stress),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Lock-free P2M readers (plat_read_enter/exit/sync, hosted): a writer that
 * unlinked a table waits for every read that could still be in it, and
 * only for those.  A P2M change that frees a table page waits the same way.
 *
 * Each wait is checked the way it could fail: the writer must still be
 * waiting while the reader is inside (a broken sync returns at once), and
 * must return once the reader is out (within seconds).
 */
#include "env.h"

#include <pthread.h>
#include <time.h>

#define HOLD_MS 50                      /* how long a reader stays inside */

struct reader {
    pthread_t th;
    int in, release, out;               /* steps, set with atomics */
};

static void pause_ms(unsigned int ms)
{
    struct timespec ts = { 0, ms * 1000000L };

    nanosleep(&ts, NULL);
}

static void wait_for(const int *flag)
{
    while ( !__atomic_load_n(flag, __ATOMIC_ACQUIRE) )
        pause_ms(1);
}

/* Enter a read, stay until released, leave. */
static void *reader_run(void *arg)
{
    struct reader *r = arg;

    plat_read_enter();
    __atomic_store_n(&r->in, 1, __ATOMIC_RELEASE);
    wait_for(&r->release);
    plat_read_exit();
    __atomic_store_n(&r->out, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void reader_start(struct reader *r)
{
    *r = (struct reader){ .in = 0 };
    assert_int_equal(pthread_create(&r->th, NULL, reader_run, r), 0);
    wait_for(&r->in);
}

static void reader_finish(struct reader *r)
{
    __atomic_store_n(&r->release, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(r->th, NULL), 0);
}

struct writer {
    pthread_t th;
    void (*work)(void *ctx);
    void *ctx;
    int done;
};

static void *writer_run(void *arg)
{
    struct writer *w = arg;

    w->work(w->ctx);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Did w finish within ms milliseconds? */
static bool finishes_within(struct writer *w, unsigned int ms)
{
    while ( !__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) && ms-- )
        pause_ms(1);
    return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

static void sync_work(void *ctx)
{
    (void)ctx;
    plat_read_sync();
}

/* Run work in a thread while r is inside its read: it must not finish
 * until r is out, and must finish after. */
static void expect_waits_for(struct reader *r, void (*work)(void *),
                             void *ctx)
{
    struct writer w = { .work = work, .ctx = ctx, .done = 0 };

    assert_int_equal(pthread_create(&w.th, NULL, writer_run, &w), 0);
    pause_ms(HOLD_MS);
    assert_int_equal(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0);
    reader_finish(r);
    assert_true(finishes_within(&w, 5000));
    assert_int_equal(pthread_join(w.th, NULL), 0);
}

static void test_sync_waits_for_reader(void **state)
{
    struct reader r;

    (void)state;
    reader_start(&r);
    expect_waits_for(&r, sync_work, NULL);
    /* Nobody inside: no wait, and the slot of the thread that ended is
     * free for the next reader. */
    plat_read_sync();
    reader_start(&r);
    expect_waits_for(&r, sync_work, NULL);
}

/* A read that began after the sync did is not waited for: it can only
 * have found the tables as they are after the unlink. */
static void test_sync_ignores_later_reads(void **state)
{
    struct reader old, late;
    struct writer w = { .work = sync_work, .ctx = NULL, .done = 0 };
    bool done;

    (void)state;
    /* Two threads that read and ended: their slots are free and known to
     * the sync, so the late reader's is one the sync looks at. */
    reader_start(&old);
    reader_start(&late);
    reader_finish(&old);
    reader_finish(&late);
    reader_start(&old);
    assert_int_equal(pthread_create(&w.th, NULL, writer_run, &w), 0);
    pause_ms(HOLD_MS);                  /* the sync is waiting for old */
    reader_start(&late);
    reader_finish(&old);
    done = finishes_within(&w, 5000);   /* late still inside */
    reader_finish(&late);
    assert_int_equal(pthread_join(w.th, NULL), 0);
    assert_true(done);
}

/*
 * The P2M's side: mapping a 2M leaf over a table of 4K leaves unlinks the
 * table page, and the change returns only once no lookup can be in it.
 */
struct merge {
    struct p2m_domain *p2m;
    mfn_t mfn;
    int rc;
};

static void merge_work(void *ctx)
{
    struct merge *m = ctx;

    m->rc = p2m_set_entry(m->p2m, _gfn(0), m->mfn, PAGE_ORDER_2M,
                          p2m_ram_rw, P2M_ACCESS_RWX);
}

static void test_table_free_waits_for_lookups(void **state)
{
    struct domain *d;
    struct merge m;
    struct reader r;
    struct p2m_lookup l;
    struct p2m_stats before, after;

    env_machine("0-2G");
    d = env_domain(1, ENV_FMT(state));
    m = (struct merge){ .p2m = &d->p2m, .mfn = env_alloc(d, PAGE_ORDER_2M) };
    assert_int_equal(p2m_set_entry(&d->p2m, _gfn(0), env_alloc(d, 0),
                                   PAGE_ORDER_4K, p2m_ram_rw,
                                   P2M_ACCESS_RWX), 0);
    p2m_get_stats(&d->p2m, &before);
    reader_start(&r);
    expect_waits_for(&r, merge_work, &m);
    assert_int_equal(m.rc, 0);
    p2m_get_stats(&d->p2m, &after);
    assert_int_equal(after.table_pages, before.table_pages - 1);
    assert_int_equal(p2m_get_entry(&d->p2m, _gfn(5), &l), 0);
    assert_int_equal(l.order, PAGE_ORDER_2M);
    assert_int_equal(mfn_x(l.mfn), mfn_x(m.mfn) + 5);
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_waits_for_reader),
        cmocka_unit_test(test_sync_ignores_later_reads),
        ENV_TEST(test_table_free_waits_for_lookups),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Lock contracts (xen/spinlock.h): in debug builds a function that needs a
 * lock asserts that its caller holds it (ASSERT_LOCKED: held by this
 * thread, not just by someone), and every acquire checks the order P2M ->
 * PoD -> heap, recursion and the owner of an unlock.  A failed check
 * panics, which aborts the hosted process, so each bad case runs in a
 * forked child and the test expects SIGABRT with the check's message on
 * the child's stderr.  Release builds compile the checks out: the tests
 * skip there (run them with make debug=y).
 */
#define _GNU_SOURCE
#include "env.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asm-x86/p2m-pod.h>

#define MACHINE "0-4G"

struct child {
    int sig;                   /* the signal that ended it, or 0 */
    int status;                /* its exit status when no signal */
    char err[8192];            /* what it wrote to stderr */
};

/*
 * Run fn(d) in a child with stderr captured.  A child that hangs (a
 * recursive acquire nobody checks spins for ever) is ended by SIGALRM.
 */
static void run_child(void (*fn)(struct domain *), struct domain *d,
                      struct child *c)
{
    size_t len = 0;
    ssize_t n;
    int p[2], ws;
    pid_t pid;

    memset(c, 0, sizeof(*c));
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if ( pid == 0 )
    {
        close(p[0]);
        dup2(p[1], STDERR_FILENO);
        alarm(10);
        fn(d);
        _exit(0);
    }
    close(p[1]);
    while ( len < sizeof(c->err) - 1 &&
            (n = read(p[0], c->err + len, sizeof(c->err) - 1 - len)) > 0 )
        len += (size_t)n;
    close(p[0]);
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    c->sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
    c->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static void expect_abort(void (*fn)(struct domain *), struct domain *d,
                         const char *msg)
{
    struct child c;

    run_child(fn, d, &c);
    if ( c.sig != SIGABRT )
        fail_msg("expected SIGABRT with \"%s\"; the child ended with signal "
                 "%d, status %d; stderr: %s", msg, c.sig, c.status, c.err);
    if ( !strstr(c.err, msg) )
        fail_msg("the child aborted without \"%s\"; stderr: %s", msg, c.err);
}

static void expect_exit_0(void (*fn)(struct domain *), struct domain *d)
{
    struct child c;

    run_child(fn, d, &c);
    if ( c.sig || c.status )
        fail_msg("the child ended with signal %d, status %d; stderr: %s",
                 c.sig, c.status, c.err);
}

static struct domain *setup(void)
{
#ifndef P2M_DEBUG
    print_message("release build: ASSERT and the lock checks are compiled "
                  "out (run make debug=y)\n");
    skip();
#endif
    env_machine(MACHINE);
    return env_domain(1, env_npt);
}

/* --- the bad cases, each run in a child --- */

static void call_without_lock(struct domain *d)
{
    domain_iomem_allowed(d, _mfn(0), 0);
}

/* The fault path's PoD entry point, called without the P2M lock. */
static void populate_without_lock(struct domain *d)
{
    p2m_pod_demand_populate(&d->p2m, &d->vcpu[0], _gfn(0), NULL);
}

/* Another thread holds the P2M lock; this one does not. */
static volatile int holder_ready;

static void *hold_p2m(void *arg)
{
    struct domain *d = arg;

    spin_lock(&d->p2m.lock);
    __atomic_store_n(&holder_ready, 1, __ATOMIC_RELEASE);
    for ( ;; )
        pause();
    return NULL;
}

static void call_while_other_thread_holds(struct domain *d)
{
    pthread_t t;

    pthread_create(&t, NULL, hold_p2m, d);
    while ( !__atomic_load_n(&holder_ready, __ATOMIC_ACQUIRE) )
        ;
    domain_iomem_allowed(d, _mfn(0), 0);
}

static void pod_then_p2m(struct domain *d)
{
    spin_lock(&d->p2m.pod.lock);
    spin_lock(&d->p2m.lock);
}

/* A lock of the heap class (the heap's own is private to page_alloc.c). */
static spinlock_t heap_class = SPIN_LOCK_UNLOCKED(LOCK_CLASS_HEAP);

static void heap_then_pod(struct domain *d)
{
    spin_lock(&heap_class);
    spin_lock(&d->p2m.pod.lock);
}

static void two_p2m_locks(struct domain *d)
{
    struct domain *e = env_domain(2, env_npt);

    spin_lock(&d->p2m.lock);
    spin_lock(&e->p2m.lock);
}

/* p2m_get_stats takes the P2M lock the caller already holds. */
static void p2m_lock_twice(struct domain *d)
{
    struct p2m_stats s;

    spin_lock(&d->p2m.lock);
    p2m_get_stats(&d->p2m, &s);
}

static void unlock_not_held(struct domain *d)
{
    spin_unlock(&d->p2m.pod.lock);
}

static void lock_without_class(struct domain *d)
{
    static spinlock_t l;        /* zeroed, never spin_lock_init'ed */

    spin_lock(&l);
}

/* --- the good cases --- */

/* The whole order, a heap acquire inside it, releases out of order. */
static void right_order(struct domain *d)
{
    struct heap_stats hs;

    spin_lock(&d->p2m.lock);
    if ( domain_iomem_allowed(d, _mfn(0), 0) != -EPERM )
        _exit(2);
    spin_lock(&d->p2m.pod.lock);
    heap_get_stats(&hs);        /* the heap lock, innermost */
    spin_unlock(&d->p2m.lock);  /* not LIFO: allowed */
    spin_unlock(&d->p2m.pod.lock);
    /* Nothing held now: a PoD lock alone, then the P2M lock alone. */
    spin_lock(&d->p2m.pod.lock);
    spin_unlock(&d->p2m.pod.lock);
    spin_lock(&d->p2m.lock);
    spin_unlock(&d->p2m.lock);
}

/* Each thread's held locks are its own: a PoD lock held by another thread
 * does not make this thread's P2M acquire an inversion. */
static volatile int pod_ready;

static void *hold_pod(void *arg)
{
    struct domain *d = arg;

    spin_lock(&d->p2m.pod.lock);
    __atomic_store_n(&pod_ready, 1, __ATOMIC_RELEASE);
    for ( ;; )
        pause();
    return NULL;
}

static void order_is_per_thread(struct domain *d)
{
    pthread_t t;

    pthread_create(&t, NULL, hold_pod, d);
    while ( !__atomic_load_n(&pod_ready, __ATOMIC_ACQUIRE) )
        ;
    spin_lock(&d->p2m.lock);
    spin_unlock(&d->p2m.lock);
}

/* --- the tests --- */

static void test_missing_lock_asserts(void **state)
{
    struct domain *d = setup();

    expect_abort(call_without_lock, d,
                 "ASSERT spin_is_locked_by_me(&d->p2m.lock) failed");
    env_finish();
}

static void test_mm_contract_asserts(void **state)
{
    struct domain *d = setup();

    expect_abort(populate_without_lock, d,
                 "ASSERT spin_is_locked_by_me(&p2m->lock) failed at "
                 "xen/arch/x86/mm/p2m-pod.c");
    env_finish();
}

static void test_lock_held_by_other_thread_asserts(void **state)
{
    struct domain *d = setup();

    expect_abort(call_while_other_thread_holds, d,
                 "ASSERT spin_is_locked_by_me(&d->p2m.lock) failed");
    env_finish();
}

static void test_pod_then_p2m_is_an_inversion(void **state)
{
    struct domain *d = setup();

    expect_abort(pod_then_p2m, d,
                 "ASSERT lock order failed at tests/unit/test_locks.c");
    expect_abort(pod_then_p2m, d,
                 "the P2M lock taken while the PoD lock is held");
    env_finish();
}

static void test_heap_then_pod_is_an_inversion(void **state)
{
    struct domain *d = setup();

    expect_abort(heap_then_pod, d,
                 "the PoD lock taken while the heap lock is held");
    env_finish();
}

static void test_two_locks_of_one_class(void **state)
{
    struct domain *d = setup();

    expect_abort(two_p2m_locks, d,
                 "the P2M lock taken while the P2M lock is held");
    env_finish();
}

static void test_recursive_acquire(void **state)
{
    struct domain *d = setup();

    expect_abort(p2m_lock_twice, d,
                 "ASSERT no recursive lock failed at xen/arch/x86/mm/p2m.c");
    env_finish();
}

static void test_unlock_not_held(void **state)
{
    struct domain *d = setup();

    expect_abort(unlock_not_held, d,
                 "ASSERT unlock by the owner failed at tests/unit/"
                 "test_locks.c");
    env_finish();
}

static void test_lock_needs_a_class(void **state)
{
    struct domain *d = setup();

    expect_abort(lock_without_class, d, "ASSERT lock has a class failed");
    env_finish();
}

static void test_right_order_passes(void **state)
{
    struct domain *d = setup();

    expect_exit_0(right_order, d);
    expect_exit_0(order_is_per_thread, d);
    right_order(d);             /* and in this process: nothing left held */
    assert_false(spin_is_locked(&d->p2m.lock));
    assert_false(spin_is_locked(&d->p2m.pod.lock));
    env_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST1(test_missing_lock_asserts),
        ENV_TEST1(test_mm_contract_asserts),
        ENV_TEST1(test_lock_held_by_other_thread_asserts),
        ENV_TEST1(test_pod_then_p2m_is_an_inversion),
        ENV_TEST1(test_heap_then_pod_is_an_inversion),
        ENV_TEST1(test_two_locks_of_one_class),
        ENV_TEST1(test_recursive_acquire),
        ENV_TEST1(test_unlock_not_held),
        ENV_TEST1(test_lock_needs_a_class),
        ENV_TEST1(test_right_order_passes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

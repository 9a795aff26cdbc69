/*
 * Spinlocks on compiler atomics: the same code on bare metal and in hosted
 * threads (where ThreadSanitizer understands the acquire/release pairs).
 *
 * Every lock has a class, and the classes nest in one order only:
 *
 *     P2M lock  ->  PoD lock  ->  heap lock      (outermost first)
 *
 * Debug builds (P2M_DEBUG) check it: a lock records its owner (the hosted
 * thread or the bare-metal CPU, plat_lock_self) and where it was taken, and
 * each owner keeps the list of locks it holds.  Taking a lock whose class
 * is not inside every class already held (an inversion, or two locks of one
 * class such as two domains' P2M locks), re-taking a held lock, and
 * releasing a lock one does not hold each fail like an ASSERT (panic).
 * ASSERT_LOCKED(l) states a function's contract: the caller holds l.
 * Release builds keep the bare word: no owner, no class, no checks.
 */
#ifndef XEN_SPINLOCK_H
#define XEN_SPINLOCK_H

#include <xen/lib.h>
#include <xen/types.h>

/* Lock classes, outermost first; a lock may be taken only inside one of a
 * smaller class. */
enum lock_class {
    LOCK_CLASS_P2M = 1,         /* p2m->lock: the tables, counters, m2p */
    LOCK_CLASS_POD,             /* p2m->pod.lock: the PoD cache */
    LOCK_CLASS_HEAP,            /* heap_lock: the machine's free lists */
};

void plat_cpu_relax(void);

static inline void spin_raw_lock(int *word)
{
    while ( __atomic_exchange_n(word, 1, __ATOMIC_ACQUIRE) )
        while ( __atomic_load_n(word, __ATOMIC_RELAXED) )
            plat_cpu_relax();
}

static inline void spin_raw_unlock(int *word)
{
    __atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

#ifdef P2M_DEBUG

typedef struct spinlock spinlock_t;

/* What one owner (a hosted thread, the bare-metal CPU) holds, in the order
 * taken, and where each was taken (for the failure message). */
#define LOCK_MAX_HELD 4
struct lock_owner {
    unsigned int nr;
    struct lock_held {
        const spinlock_t *lock;
        const char *file;
        int line;
    } held[LOCK_MAX_HELD];
};

/* The platform: the calling thread's (hosted) or CPU's (bare metal) record. */
struct lock_owner *plat_lock_self(void);

struct spinlock {
    int locked;
    uint64_t takes;             /* acquisitions, counted by the holder */
    enum lock_class cls;
    struct lock_owner *owner;   /* NULL when free; set only by the holder */
};

#define SPIN_LOCK_UNLOCKED(c) { 0, 0, (c), NULL }

static inline void spin_lock_init(spinlock_t *l, enum lock_class c)
{
    l->locked = 0;
    l->takes = 0;
    l->cls = c;
    l->owner = NULL;
}

/* xen/common/spinlock.c: the order and ownership checks around the word. */
void spin_lock_checked(spinlock_t *l, const char *file, int line);
void spin_unlock_checked(spinlock_t *l, const char *file, int line);

#define spin_lock(l) spin_lock_checked(l, __FILE__, __LINE__)
#define spin_unlock(l) spin_unlock_checked(l, __FILE__, __LINE__)

/* True when the caller (this thread, this CPU) holds l. */
static inline bool spin_is_locked_by_me(const spinlock_t *l)
{
    return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == plat_lock_self();
}

#define ASSERT_LOCKED(l) ASSERT(spin_is_locked_by_me(l))

#else /* !P2M_DEBUG */

typedef struct {
    int locked;
    uint64_t takes;             /* acquisitions, counted by the holder */
} spinlock_t;

#define SPIN_LOCK_UNLOCKED(c) { 0, 0 }

static inline void spin_lock_init(spinlock_t *l, enum lock_class c)
{
    l->locked = 0;
    l->takes = 0;
}

static inline void spin_lock(spinlock_t *l)
{
    spin_raw_lock(&l->locked);
    __atomic_store_n(&l->takes, l->takes + 1, __ATOMIC_RELAXED);
}

static inline void spin_unlock(spinlock_t *l)
{
    spin_raw_unlock(&l->locked);
}

#define ASSERT_LOCKED(l) do { (void)sizeof(l); } while ( 0 )

#endif /* P2M_DEBUG */

/* How often l was taken (tests count a path's lock takes); racy unless
 * the caller knows nobody else takes it meanwhile. */
static inline uint64_t spin_lock_takes(const spinlock_t *l)
{
    return __atomic_load_n(&l->takes, __ATOMIC_RELAXED);
}

/* True when anyone holds l (tests: "nobody holds it now"); contracts use
 * ASSERT_LOCKED. */
static inline bool spin_is_locked(const spinlock_t *l)
{
    return __atomic_load_n(&l->locked, __ATOMIC_RELAXED);
}

#endif /* XEN_SPINLOCK_H */

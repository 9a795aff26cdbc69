/*
 * Spinlocks on compiler atomics: the same code on bare metal and in hosted
 * threads (where ThreadSanitizer understands the acquire/release pairs).
 */
#ifndef XEN_SPINLOCK_H
#define XEN_SPINLOCK_H

#include <xen/types.h>

typedef struct { int locked; } spinlock_t;

#define SPIN_LOCK_UNLOCKED { 0 }

void plat_cpu_relax(void);

static inline void spin_lock_init(spinlock_t *l) { l->locked = 0; }

static inline void spin_lock(spinlock_t *l)
{
    while ( __atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE) )
        while ( __atomic_load_n(&l->locked, __ATOMIC_RELAXED) )
            plat_cpu_relax();
}

static inline void spin_unlock(spinlock_t *l)
{
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

static inline bool spin_is_locked(const spinlock_t *l)
{
    return __atomic_load_n(&l->locked, __ATOMIC_RELAXED);
}

#endif /* XEN_SPINLOCK_H */

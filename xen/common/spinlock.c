/*
 * The debug builds' lock checks (xen/spinlock.h): owner, class order,
 * recursion.  Release builds compile nothing here; their spin_lock is the
 * inline atomic exchange alone.
 */
#include <xen/lib.h>
#include <xen/spinlock.h>

#ifdef P2M_DEBUG

static const char *class_name(enum lock_class c)
{
    switch ( c )
    {
    case LOCK_CLASS_P2M:  return "P2M";
    case LOCK_CLASS_POD:  return "PoD";
    case LOCK_CLASS_HEAP: return "heap";
    }
    return "unclassed";
}

/*
 * Check before spinning, so that a recursive acquire fails here instead of
 * spinning on itself for ever.  Each held lock must be of an outer class
 * than l; this also refuses two locks of one class (no code needs two
 * domains' P2M locks at once, and no order between them is defined).
 */
static void check_acquire(const struct lock_owner *me, const spinlock_t *l,
                          const char *file, int line)
{
    unsigned int i;

    if ( l->cls < LOCK_CLASS_P2M || l->cls > LOCK_CLASS_HEAP )
        panic("ASSERT lock has a class failed at %s:%d: class %d "
              "(spin_lock_init names one)", file, line, (int)l->cls);
    for ( i = 0; i < me->nr; i++ )
    {
        const struct lock_held *h = &me->held[i];

        if ( h->lock == l )
            panic("ASSERT no recursive lock failed at %s:%d: the %s lock "
                  "is already held by me (taken at %s:%d)", file, line,
                  class_name(l->cls), h->file, h->line);
        if ( h->lock->cls >= l->cls )
            panic("ASSERT lock order failed at %s:%d: the %s lock taken "
                  "while the %s lock is held (taken at %s:%d); the order is "
                  "P2M -> PoD -> heap", file, line, class_name(l->cls),
                  class_name(h->lock->cls), h->file, h->line);
    }
    if ( me->nr == LOCK_MAX_HELD )
        panic("ASSERT lock depth failed at %s:%d: %u locks held", file, line,
              me->nr);
}

void spin_lock_checked(spinlock_t *l, const char *file, int line)
{
    struct lock_owner *me = plat_lock_self();

    check_acquire(me, l, file, line);
    spin_raw_lock(&l->locked);
    __atomic_store_n(&l->takes, l->takes + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&l->owner, me, __ATOMIC_RELAXED);
    me->held[me->nr++] = (struct lock_held){ l, file, line };
}

void spin_unlock_checked(spinlock_t *l, const char *file, int line)
{
    struct lock_owner *me = plat_lock_self();
    unsigned int i;

    for ( i = 0; i < me->nr && me->held[i].lock != l; i++ )
        ;
    if ( i == me->nr || __atomic_load_n(&l->owner, __ATOMIC_RELAXED) != me )
        panic("ASSERT unlock by the owner failed at %s:%d: the %s lock is "
              "not held by me", file, line, class_name(l->cls));
    /* Locks may be released in any order: close the gap. */
    for ( ; i + 1 < me->nr; i++ )
        me->held[i] = me->held[i + 1];
    me->nr--;
    __atomic_store_n(&l->owner, NULL, __ATOMIC_RELAXED);
    spin_raw_unlock(&l->locked);
}

#endif /* P2M_DEBUG */

/*
 * Lock-free P2M readers on the hosted platform (see plat_read_enter in
 * asm-x86/p2m.h).  Each thread that reads the tables without the P2M lock
 * owns a slot.  While it is inside a read, the slot holds the epoch the
 * read began in, shifted left once, with bit 0 set; outside, it holds 0.
 * A writer about to free or reuse table pages it unlinked moves the epoch
 * on to E and waits until no slot holds a read that began before E: those
 * readers may still hold a pointer into the old tables, and a read that
 * began in E or later loaded the epoch after the unlink, so it can only
 * find the new tables.
 *
 * The reader's side is two plain stores, neither of which depends on the
 * last one, so that back-to-back lookups still overlap in the CPU.  What
 * orders a reader's "I am in" store before its table loads is the
 * writer's membarrier(2), which runs a full barrier on every thread of the
 * process; where membarrier is not to be had (and under ThreadSanitizer,
 * which does not model it), readers fence instead.
 */
#define _GNU_SOURCE
#include "hosted.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <asm-x86/p2m.h>
#include <xen/lib.h>

#define MAX_READERS 512

#if defined(__SANITIZE_THREAD__)
#define READERS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define READERS_TSAN 1
#endif
#endif

struct reader_slot {
    uint64_t in;                /* epoch << 1 | 1 inside a read, else 0 */
    bool taken;                 /* owned by a live thread */
} __attribute__((aligned(64)));

static struct reader_slot slots[MAX_READERS];
static unsigned int nr_slots;           /* slots ever handed out */
static int barrier_mode = -1;           /* -1 unknown, 0 fences, 1 membarrier */
static uint64_t epoch;                  /* moved on by each plat_read_sync */
static pthread_key_t slot_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static __thread struct reader_slot *my_slot;

static void slot_release(void *p)
{
    struct reader_slot *s = p;

    __atomic_store_n(&s->taken, false, __ATOMIC_RELEASE);
}

static void readers_init(void)
{
    bool mb = false;

#ifndef READERS_TSAN
    mb = syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                 0, 0) == 0;
#endif
    if ( pthread_key_create(&slot_key, slot_release) )
        panic("readers: pthread_key_create failed");
    __atomic_store_n(&barrier_mode, mb ? 1 : 0, __ATOMIC_RELEASE);
}

/* This thread's slot: a free one (a thread that ended left it), or new. */
static struct reader_slot *slot_get(void)
{
    unsigned int i, n;

    pthread_once(&once, readers_init);
    n = __atomic_load_n(&nr_slots, __ATOMIC_ACQUIRE);
    for ( i = 0; i < n; i++ )
        if ( !__atomic_load_n(&slots[i].taken, __ATOMIC_RELAXED) &&
             !__atomic_exchange_n(&slots[i].taken, true, __ATOMIC_ACQ_REL) )
            break;
    if ( i == n )
    {
        i = __atomic_fetch_add(&nr_slots, 1, __ATOMIC_ACQ_REL);
        if ( i >= MAX_READERS )
            panic("readers: more than %u threads read the P2M at once",
                  MAX_READERS);
        __atomic_store_n(&slots[i].taken, true, __ATOMIC_RELEASE);
    }
    my_slot = &slots[i];
    pthread_setspecific(slot_key, my_slot);
    return my_slot;
}

void plat_read_enter(void)
{
    struct reader_slot *s = my_slot ? my_slot : slot_get();
    uint64_t in = __atomic_load_n(&epoch, __ATOMIC_ACQUIRE) << 1 | 1;

    if ( barrier_mode == 1 )
    {
        __atomic_store_n(&s->in, in, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);    /* the compiler only */
    }
    else                        /* a locked exchange: a full barrier */
        __atomic_exchange_n(&s->in, in, __ATOMIC_SEQ_CST);
}

void plat_read_exit(void)
{
    __atomic_store_n(&my_slot->in, 0, __ATOMIC_RELEASE);
}

void plat_read_sync(void)
{
    uint64_t e, in;
    unsigned int i, n;

    pthread_once(&once, readers_init);
    /* Reads that load the epoch from here on began after the unlink. */
    e = __atomic_add_fetch(&epoch, 1, __ATOMIC_SEQ_CST);
    /* Every reader's "in" store is now visible, or its read began after
     * the barrier and cannot reach the old tables. */
    if ( barrier_mode == 1 )
        syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    n = MIN(__atomic_load_n(&nr_slots, __ATOMIC_ACQUIRE), MAX_READERS);
    for ( i = 0; i < n; i++ )
        while ( (in = __atomic_load_n(&slots[i].in, __ATOMIC_ACQUIRE)) &&
                (in >> 1) < e )
            plat_cpu_relax();
}

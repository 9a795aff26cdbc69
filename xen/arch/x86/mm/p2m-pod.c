/*
 * Populate-on-demand: the 1G/2M/4K page cache, the memory target, demand
 * populate with remap-and-retry, the zero-check sweeper, ballooning and
 * out-of-memory handling that pauses the vCPU instead of killing the guest.
 * The accounting and the lock order are described in asm-x86/p2m-pod.h.
 */
#include "p2m-walk.h"

#include <asm-x86/m2p.h>
#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/sched.h>

#define TARGET_WORK 4096       /* allocations or frees per set_target call */
/* Work one decrease_reservation call does under the P2M lock before it
 * returns a continuation: extents looked at plus entries written. */
#define BALLOON_WORK 4096
#define SWEEP_BATCH_4K 16
/*
 * What one sweep run in a guest's fault (eager, emergency: under the P2M
 * lock) may read, in 4K pages, the recent ring included: one 2M check and
 * one batch of 4K ones, 2 MiB + 64 KiB, so a fault holds the lock for
 * microseconds however many leaves fool the quick check.  A 1G leaf never
 * fits: it is probed a budget at a time, over several faults.  And the
 * entries one order's pass may look at.
 */
#define FAULT_SWEEP_PAGES ((1ull << PAGE_ORDER_2M) + SWEEP_BATCH_4K)
#define EMERGENCY_ENTRIES 1024

/* Cache list and counter index <-> chunk order. */
static unsigned int pod_idx(unsigned int order)
{
    return p2m_level_idx(p2m_order_level(order));
}

static unsigned int pod_order(unsigned int i)
{
    return p2m_level_order(p2m_idx_level(i));
}

/*
 * A ring slot or a vCPU's pod_inflight: the gfn of a leaf above, its level
 * (P2M_L1..P2M_L3) in the low bits, so a slot is never 0, not even for
 * gfn 0 at 4K: 0 marks an empty slot.
 */
#define SLOT_LEVEL_BITS 2
BUILD_BUG_ON(P2M_LEAF_LEVELS >= 1u << SLOT_LEVEL_BITS);

static uint64_t slot_make(uint64_t gfn, unsigned int level)
{
    return (gfn << SLOT_LEVEL_BITS) | level;
}

static uint64_t slot_gfn(uint64_t slot)
{
    return slot >> SLOT_LEVEL_BITS;
}

static unsigned int slot_level(uint64_t slot)
{
    return slot & ((1u << SLOT_LEVEL_BITS) - 1);
}

static uint64_t populated(const struct domain *d)
{
    return d->tot_pages - d->p2m.pod.count;
}

void p2m_pod_init(struct p2m_domain *p2m)
{
    struct p2m_pod *pod = &p2m->pod;
    unsigned int i;

    memset(pod, 0, sizeof(*pod));
    spin_lock_init(&pod->lock, LOCK_CLASS_POD);
    for ( i = 0; i < POD_ORDERS; i++ )
        list_init(&pod->cache[i]);
    list_init(&pod->busy);
}

/* --- the cache --- */

static void cache_add(struct p2m_pod *pod, struct page_info *pg)
{
    unsigned int i = pod_idx(pg->order);

    ASSERT_LOCKED(&pod->lock);
    ASSERT(pg->order == pod_order(i));
    heap_move_chunk_flags(pg, &pod->cache[i], PGF_pod, PGF_reserved);
    pod->chunks[i]++;
    pod->count += 1ull << pg->order;
}

/* Take cache chunk pg (on a list or busy) onto the domain's list. */
static void cache_take_chunk(struct domain *d, struct page_info *pg)
{
    struct p2m_pod *pod = &d->p2m.pod;

    ASSERT_LOCKED(&pod->lock);
    heap_move_chunk_flags(pg, &d->page_list, 0, PGF_pod);
    pod->chunks[pod_idx(pg->order)]--;
    pod->count -= 1ull << pg->order;
}

/* Take the first chunk of list i off the cache, onto the domain's list. */
static struct page_info *cache_take(struct domain *d, unsigned int i)
{
    struct page_info *pg = list_first(&d->p2m.pod.cache[i], struct page_info,
                                      list);

    cache_take_chunk(d, pg);
    return pg;
}

/*
 * Chunk pg, just taken, goes back into the cache as busy: counted in it
 * (so the audit sees no leak) but on no list a fill or a trim takes from.
 */
static void cache_hold(struct p2m_pod *pod, struct page_info *pg)
{
    ASSERT_LOCKED(&pod->lock);
    heap_move_chunk_flags(pg, &pod->busy, PGF_pod, PGF_reserved);
    pod->chunks[pod_idx(pg->order)]++;
    pod->count += 1ull << pg->order;
    pod->busy_pages += 1ull << pg->order;
}

/* Cache pages a fill may take: the busy ones are spoken for. */
static uint64_t cache_free_pages(const struct p2m_pod *pod)
{
    ASSERT_LOCKED(&pod->lock);
    return pod->count - pod->busy_pages;
}

/* Break the first chunk of list i into 512 chunks on list i - 1. */
static void cache_break(struct p2m_pod *pod, unsigned int i)
{
    struct page_info *pg = list_first(&pod->cache[i], struct page_info, list);

    ASSERT_LOCKED(&pod->lock);
    /* A cache chunk's flags are what cache_add gives: the pieces inherit
     * them, and go in order at the end of list i - 1 as cache_add puts
     * them (two holds of the heap lock, not two per piece). */
    ASSERT((pg->flags & (PGF_pod | PGF_reserved)) == PGF_pod);
    heap_move_chunk(pg, &pod->cache[i - 1]);
    heap_split_chunk(pg, pod_order(i - 1));
    pod->chunks[i]--;
    pod->chunks[i - 1] += 1u << (pod_order(i) - pod_order(i - 1));
}

/*
 * A chunk of exactly this order, breaking a larger one when its list is
 * empty: a 4K request breaks a 2M page before a 1G page.  NULL when the
 * cache holds nothing this large.
 */
static struct page_info *cache_get(struct domain *d, unsigned int order)
{
    struct p2m_pod *pod = &d->p2m.pod;
    unsigned int want = pod_idx(order), i;

    ASSERT_LOCKED(&pod->lock);
    for ( i = want; i < POD_ORDERS && list_empty(&pod->cache[i]); i++ )
        ;
    if ( i == POD_ORDERS )
        return NULL;
    for ( ; i > want; i-- )
        cache_break(pod, i);
    return cache_take(d, want);
}

void p2m_pod_cache_add(struct domain *d, struct page_info *pg)
{
    spin_lock(&d->p2m.pod.lock);
    cache_add(&d->p2m.pod, pg);
    spin_unlock(&d->p2m.pod.lock);
}

struct page_info *p2m_pod_cache_get(struct domain *d, unsigned int order)
{
    struct page_info *pg;

    spin_lock(&d->p2m.pod.lock);
    pg = cache_get(d, order);
    spin_unlock(&d->p2m.pod.lock);
    if ( pg )   /* the caller holds it now: not a leak while unmapped */
        heap_set_chunk_flags(pg, PGF_reserved, 0);
    return pg;
}

/* Free one cache chunk of order (breaking a larger one if needed). */
static bool cache_free_one(struct domain *d, unsigned int order)
{
    struct page_info *pg = cache_get(d, order);

    ASSERT_LOCKED(&d->p2m.pod.lock);
    if ( !pg )
        return false;
    free_domheap_range(d, page_to_mfn(pg), pg->order);
    return true;
}

/*
 * Move the cache (its pages not busy) towards want pages: grow with 1G,
 * then 2M, then 4K heap allocations; shrink from the 1G list first.  At
 * most TARGET_WORK steps.
 */
static int cache_resize(struct domain *d, uint64_t want)
{
    struct p2m_pod *pod = &d->p2m.pod;
    unsigned int work = 0, i;

    ASSERT_LOCKED(&d->p2m.lock);
    ASSERT_LOCKED(&pod->lock);
    for ( i = POD_ORDERS; i-- > 0 && work < TARGET_WORK; )
    {
        uint64_t n = 1ull << pod_order(i);

        while ( cache_free_pages(pod) + n <= want && work++ < TARGET_WORK )
        {
            struct page_info *pg = alloc_domheap_pages(d, pod_order(i),
                                                       MEMF_keep_zeroed);

            if ( !pg )
                break;          /* try the next smaller size */
            cache_add(pod, pg);
        }
        while ( cache_free_pages(pod) >= want + n && work++ < TARGET_WORK )
            if ( !cache_free_one(d, pod_order(i)) )
                break;
    }
    if ( cache_free_pages(pod) < want && work < TARGET_WORK )
        return -ENOMEM;
    return cache_free_pages(pod) == want ? 0 : -EAGAIN;
}

/*
 * The cache size (pages not busy) the target asks for, never more than the
 * entries need.  A busy chunk counts as populated already, and its entry
 * as filled: so it is, once the fill that zeroes it publishes.
 */
static uint64_t cache_want(const struct domain *d)
{
    const struct p2m_pod *pod = &d->p2m.pod;
    uint64_t p = populated(d) + pod->busy_pages;
    uint64_t e = d->p2m.stats.pod_entries;
    uint64_t t = pod->target;

    ASSERT_LOCKED(&d->p2m.lock);
    ASSERT_LOCKED(&pod->lock);
    e = e > pod->busy_pages ? e - pod->busy_pages : 0;
    return t > p ? MIN(t - p, e) : 0;
}

/* Keep T <= B: drop cache pages the PoD entries no longer need. */
static void cache_trim(struct domain *d)
{
    struct p2m_pod *pod = &d->p2m.pod;
    uint64_t e = d->p2m.stats.pod_entries;
    unsigned int i;

    ASSERT_LOCKED(&d->p2m.lock);
    ASSERT_LOCKED(&pod->lock);
    for ( i = POD_ORDERS; i-- > 0; )
        while ( pod->count >= e + (1ull << pod_order(i)) )
            if ( !cache_free_one(d, pod_order(i)) )
                break;
}

/* A chunk the domain gives up: to the cache while entries need it. */
static void give_back(struct domain *d, struct page_info *pg)
{
    struct p2m_pod *pod = &d->p2m.pod;

    ASSERT_LOCKED(&pod->lock);
    if ( d->p2m.stats.pod_entries > pod->count &&
         pg->order == pod_order(pod_idx(pg->order)) )
        cache_add(pod, pg);
    else
        free_domheap_range(d, page_to_mfn(pg), pg->order);
}

void p2m_pod_release_frames(struct p2m_domain *p2m)
{
    struct domain *d = p2m->domain;

    ASSERT_LOCKED(&p2m->lock);
    spin_lock(&p2m->pod.lock);
    while ( !list_empty(&p2m->released) )
    {
        struct page_info *pg = list_first(&p2m->released, struct page_info,
                                          list);

        /* Mapped again meanwhile, or held by the toolstack: stays. */
        if ( (pg->flags & PGF_reserved) ||
             m2p_range_mapped(page_to_mfn(pg), pg->order) )
            heap_move_chunk(pg, &d->page_list);
        else
            give_back(d, pg);
    }
    cache_trim(d);
    spin_unlock(&p2m->pod.lock);
}

uint64_t p2m_pod_cache_listed(struct p2m_domain *p2m)
{
    uint64_t pages = 0;
    unsigned int i;

    ASSERT_LOCKED(&p2m->pod.lock);
    for ( i = 0; i <= POD_ORDERS; i++ )
    {
        const struct list_head *h = i < POD_ORDERS ? &p2m->pod.cache[i]
                                                   : &p2m->pod.busy;
        const struct list_head *l;

        for ( l = h->next; l != h; l = l->next )
            pages += 1ull << list_entry(l, struct page_info, list)->order;
    }
    return pages;
}

int p2m_pod_set_target(struct domain *d, uint64_t target)
{
    struct p2m_domain *p2m = &d->p2m;
    int rc;

    if ( target > d->max_pages )
        return -EINVAL;
    spin_lock(&p2m->lock);
    spin_lock(&p2m->pod.lock);
    p2m->pod.target = target;
    rc = cache_resize(d, cache_want(d));
    spin_unlock(&p2m->pod.lock);
    spin_unlock(&p2m->lock);
    p2m_debug_audit(p2m, "pod_set_target");
    return rc;
}

void p2m_pod_teardown(struct p2m_domain *p2m)
{
    struct domain *d = p2m->domain;
    unsigned int i;

    spin_lock(&p2m->pod.lock);
    ASSERT(list_empty(&p2m->pod.busy));     /* no vCPU is in a fault */
    for ( i = 0; i < POD_ORDERS; i++ )
        while ( !list_empty(&p2m->pod.cache[i]) )
        {
            struct page_info *pg = cache_take(d, i);

            free_domheap_range(d, page_to_mfn(pg), pg->order);
        }
    spin_unlock(&p2m->pod.lock);
}

/* --- events and out-of-memory --- */

static void pod_event(struct domain *d, enum pod_event_kind kind,
                      unsigned int vcpu, uint64_t gfn)
{
    struct p2m_pod *pod = &d->p2m.pod;
    struct pod_event *ev = &pod->ev[(pod->ev_head + pod->ev_count) %
                                    POD_EVENTS];

    ASSERT_LOCKED(&d->p2m.lock);
    ASSERT_LOCKED(&pod->lock);
    *ev = (struct pod_event){ kind, vcpu, gfn, pod->count,
                              d->p2m.stats.pod_entries, d->tot_pages,
                              pod->target };
    if ( pod->ev_count < POD_EVENTS )
        pod->ev_count++;
    else
        pod->ev_head = (pod->ev_head + 1) % POD_EVENTS;
}

unsigned int p2m_pod_events(struct domain *d, struct pod_event *out,
                            unsigned int max)
{
    struct p2m_pod *pod = &d->p2m.pod;
    unsigned int n = 0;

    spin_lock(&pod->lock);
    for ( ; n < max && pod->ev_count; n++, pod->ev_count-- )
    {
        out[n] = pod->ev[pod->ev_head];
        pod->ev_head = (pod->ev_head + 1) % POD_EVENTS;
    }
    spin_unlock(&pod->lock);
    return n;
}

void p2m_pod_set_policy(struct domain *d, bool crash)
{
    d->p2m.pod.oom_crash = crash;
}

/* Nothing left to populate gfn with: pause v (or crash, by policy). */
static int pod_out_of_memory(struct domain *d, struct vcpu *v, gfn_t gfn)
{
    struct p2m_pod *pod = &d->p2m.pod;
    bool crash = pod->oom_crash;

    spin_lock(&pod->lock);
    pod_event(d, POD_EV_OOM, v->vcpu_id, gfn_x(gfn));
    pod_event(d, crash ? POD_EV_CRASHED : POD_EV_PAUSED, v->vcpu_id,
              gfn_x(gfn));
    spin_unlock(&pod->lock);
    if ( crash )
    {
        domain_crash(d, "out of PoD memory", gfn);
        return -ENOMEM;
    }
    printk("d%uv%u: out of PoD memory at gfn %#llx: paused (cache %llu, "
           "entries %llu)\n", d->domain_id, v->vcpu_id,
           (unsigned long long)gfn_x(gfn), (unsigned long long)pod->count,
           (unsigned long long)d->p2m.stats.pod_entries);
    __atomic_store_n(&v->paused, true, __ATOMIC_RELEASE);
    return -EAGAIN;
}

int p2m_pod_resume(struct domain *d)
{
    unsigned int i, n = 0;

    for ( i = 0; i < d->nr_vcpus; i++ )
        if ( __atomic_exchange_n(&d->vcpu[i].paused, false, __ATOMIC_ACQ_REL) )
        {
            /* The event records entry_count and tot_pages: P2M lock. */
            spin_lock(&d->p2m.lock);
            spin_lock(&d->p2m.pod.lock);
            pod_event(d, POD_EV_RESUMED, i, 0);
            d->p2m.pod.probe_idle = 0;      /* the sweeps may look again */
            spin_unlock(&d->p2m.pod.lock);
            spin_unlock(&d->p2m.lock);
            n++;
        }
    return (int)n;
}

/* --- demand populate --- */

static void zero_chunk(struct page_info *pg)
{
    memset(plat_map_mfns(page_to_mfn(pg), 1ull << pg->order), 0,
           PAGE_SIZE << pg->order);
}

/* Map chunk pg (taken from the cache) at the PoD entry it. */
static void pod_fill(struct p2m_domain *p2m, struct p2m_iter *it,
                     struct page_info *pg, struct vcpu *v)
{
    struct p2m_pod *pod = &p2m->pod;
    p2m_access_t a = p2m->ops->access(it->old);
    unsigned int i = pod_idx(pg->order);

    ASSERT_LOCKED(&p2m->lock);
    /* Only a chunk known zero has the flag to clear: a fill that zeroes
     * takes no heap lock here (nor waits at it for its zeroing stores). */
    if ( !(pg->flags & PGF_zeroed) )
        zero_chunk(pg);
    else
        heap_set_chunk_flags(pg, 0, PGF_zeroed);
    p2m_iter_set(p2m, it, p2m->ops->make_leaf(it->level, page_to_mfn(pg),
                                              p2m_ram_rw, a), P2M_SET_PLAIN);
    pod->populated[i]++;
    pod->ring[pod->ring_next] = slot_make(gfn_x(it->gfn), it->level);
    pod->ring_next = (pod->ring_next + 1) % POD_RING;
    pod->last_fills[pod->last_next] = slot_make(gfn_x(it->gfn), it->level);
    pod->last_next = (pod->last_next + 1) % POD_LAST_FILLS;
    /* Until v has done the access it faulted on, the page is not swept. */
    __atomic_store_n(&v->pod_inflight, slot_make(gfn_x(it->gfn), it->level),
                     __ATOMIC_RELEASE);
}

void p2m_pod_access_done(struct vcpu *v)
{
    if ( __atomic_load_n(&v->pod_inflight, __ATOMIC_RELAXED) )
        __atomic_store_n(&v->pod_inflight, 0, __ATOMIC_RELEASE);
    if ( __atomic_load_n(&v->pod_working, __ATOMIC_RELAXED) )
        __atomic_store_n(&v->pod_working, 0, __ATOMIC_RELEASE);
}

void p2m_pod_access_used(struct vcpu *v)
{
    uint64_t f = __atomic_load_n(&v->pod_inflight, __ATOMIC_RELAXED);

    if ( !f )
        return;
    __atomic_store_n(&v->pod_working, f, __ATOMIC_RELEASE);
    __atomic_store_n(&v->pod_inflight, 0, __ATOMIC_RELEASE);
}

static bool slot_is(uint64_t f, const struct p2m_iter *it)
{
    return f && slot_gfn(f) == gfn_x(it->gfn) && slot_level(f) == it->level;
}

BUILD_BUG_ON(POD_LAST_FILLS < MAX_VCPUS);

/* Was the leaf at it one of the domain's last nr_vcpus fills? */
static bool filled_lately(struct p2m_domain *p2m, const struct p2m_iter *it)
{
    const struct p2m_pod *pod = &p2m->pod;
    unsigned int i, n = MIN(p2m->domain->nr_vcpus, POD_LAST_FILLS);

    ASSERT_LOCKED(&p2m->lock);
    for ( i = 1; i <= n; i++ )
        if ( slot_is(pod->last_fills[(pod->last_next + POD_LAST_FILLS - i) %
                                     POD_LAST_FILLS], it) )
            return true;
    return false;
}

/* Is the leaf at it a page some vCPU was given and has not yet used? */
static bool inflight(struct p2m_domain *p2m, const struct p2m_iter *it)
{
    struct domain *d = p2m->domain;
    unsigned int i;

    for ( i = 0; i < d->nr_vcpus; i++ )
        if ( slot_is(__atomic_load_n(&d->vcpu[i].pod_inflight,
                                     __ATOMIC_ACQUIRE), it) )
            return true;
    return false;
}

/*
 * Is a vCPU likely still working in the leaf at it: a vCPU's working leaf,
 * or one of the last fills (its vCPU, or another that took the translation
 * without a fault, may be writing the rest of it)?  Only leaves a fault's
 * budget checks whole: larger ones are probed a budget at a time, and one
 * spared would never be probed, nor taken as the sweep's last resort.
 */
static bool in_use(struct p2m_domain *p2m, const struct p2m_iter *it)
{
    struct domain *d = p2m->domain;
    unsigned int i;

    if ( (1ull << p2m_level_order(it->level)) > FAULT_SWEEP_PAGES )
        return false;
    for ( i = 0; i < d->nr_vcpus; i++ )
        if ( slot_is(__atomic_load_n(&d->vcpu[i].pod_working,
                                     __ATOMIC_ACQUIRE), it) )
            return true;
    return filled_lately(p2m, it);
}

/*
 * Remap and retry: split the PoD entry at it into 512 of the next order;
 * it goes on down to the one of them on its path.
 */
static int pod_remap(struct p2m_domain *p2m, struct p2m_iter *it)
{
    int rc = p2m_pool_reserve(p2m, 1);

    ASSERT_LOCKED(&p2m->lock);
    if ( !rc )
        rc = p2m_iter_build(p2m, it, it->level - 1);
    if ( !rc )
        p2m->pod.remap_retries++;
    return rc;
}

/*
 * Fill the PoD entry at it with chunk pg, which is not known zero, zeroing
 * it with the P2M lock dropped so that other vCPUs' faults and lookups go
 * on meanwhile: reserve (pg waits on the busy list, still counted in the
 * cache), zero outside the lock, and publish only if the entry is still
 * the PoD entry it was; else back out (pg goes back to the cache, known
 * zero now).  Drops the P2M lock and takes it again before it returns:
 * the tables may have changed.  True when it filled.  (Issue 12: a fill
 * that publishes with one compare-and-swap needs no lock at all around
 * the zeroing.)
 */
static bool fill_unlocked(struct p2m_domain *p2m, const struct p2m_iter *it,
                          struct page_info *pg, struct vcpu *v)
{
    struct p2m_pod *pod = &p2m->pod;
    gfn_t gfn = it->gfn;
    uint64_t old = it->old;
    unsigned int level = it->level;
    struct p2m_iter now;

    ASSERT_LOCKED(&p2m->lock);
    spin_lock(&pod->lock);
    cache_hold(pod, pg);
    spin_unlock(&pod->lock);
    pod->unlocked_zeroes++;
    spin_unlock(&p2m->lock);
    zero_chunk(pg);
    if ( pod->test_unlocked )
        pod->test_unlocked(p2m, gfn_x(gfn));
    spin_lock(&p2m->lock);
    p2m_iter_find(&now, p2m, gfn, level);
    spin_lock(&pod->lock);
    heap_set_chunk_flags(pg, PGF_zeroed, 0);
    pod->busy_pages -= 1ull << pg->order;
    if ( now.level == level && now.old == old )
    {
        cache_take_chunk(p2m->domain, pg);
        spin_unlock(&pod->lock);
        pod_fill(p2m, &now, pg, v);
        return true;
    }
    /* Filled, ballooned or replaced meanwhile: the chunk is the cache's. */
    heap_move_chunk(pg, &pod->cache[pod_idx(pg->order)]);
    pod->fill_backouts++;
    cache_trim(p2m->domain);
    spin_unlock(&pod->lock);
    return false;
}

static int64_t sweep_run(struct p2m_domain *p2m, enum pod_sweep_mode mode,
                         bool in_fault);
static bool probe_pending(struct p2m_domain *p2m, uint64_t probed);

static bool sweep_wanted(struct p2m_domain *p2m);

/* The sweep policy at a PoD fault, in the fault's own P2M lock hold. */
static void fault_sweep(struct p2m_domain *p2m, struct vcpu *v,
                        struct p2m_iter *it)
{
    int64_t pages;

    ASSERT_LOCKED(&p2m->lock);
    if ( !sweep_wanted(p2m) )
        return;
    pages = sweep_run(p2m, POD_SWEEP_EAGER, true);
    spin_lock(&p2m->pod.lock);
    cache_trim(p2m->domain);
    spin_unlock(&p2m->pod.lock);
    v->fault_sweeps++;
    v->fault_swept += (uint64_t)pages;
    p2m_iter_refresh(it);
}

int p2m_pod_demand_populate(struct p2m_domain *p2m, struct vcpu *v,
                            gfn_t gfn, struct p2m_iter *it)
{
    struct domain *d = p2m->domain;
    bool swept = false;
    struct page_info *pg;
    uint64_t count;
    int rc = 0;

    ASSERT_LOCKED(&p2m->lock);
    fault_sweep(p2m, v, it);
    for ( ;; )
    {
        if ( p2m->ops->type(it->old) != p2m_populate_on_demand )
            return 0;           /* another vCPU populated it meanwhile */
        spin_lock(&p2m->pod.lock);
        /* A leaf larger than the hardware takes is remapped smaller. */
        pg = p2m_level_order(it->level) > p2m->max_order ? NULL
             : cache_get(d, p2m_level_order(it->level));
        count = cache_free_pages(&p2m->pod);
        spin_unlock(&p2m->pod.lock);
        if ( pg && pg->order >= PAGE_ORDER_2M && !(pg->flags & PGF_zeroed) )
        {
            if ( fill_unlocked(p2m, it, pg, v) )
                return 0;
            p2m_iter_find(it, p2m, gfn, P2M_L1);
            continue;           /* the entry changed: look again */
        }
        if ( pg )
        {
            pod_fill(p2m, it, pg, v);
            return 0;
        }
        if ( count && it->level > P2M_L1 )
            rc = pod_remap(p2m, it);
        else if ( !swept )
        {
            /* A probe under way: the access faults again, and the next
             * fault's sweep goes on (each holds the lock a budget long). */
            uint64_t probed = p2m->pod.probed;

            if ( !sweep_run(p2m, POD_SWEEP_EMERGENCY, true) &&
                 probe_pending(p2m, probed) )
                return 0;
            p2m_iter_refresh(it);
        }
        else
            return pod_out_of_memory(d, v, gfn);
        swept |= !count;
        if ( rc )
            return rc;
    }
}

/* --- the zero-check sweeper --- */

#define WORDS_PER_PAGE (PAGE_SIZE / sizeof(uint64_t))

/*
 * Are all words of the nr frames zero?  OR-reduce: no early exit per word,
 * but every 32 KiB a stop at the first dirt.  *read gets the 4K pages read.
 * The frames are out of the guest's reach (remapped and flushed).
 */
static bool frames_are_zero(mfn_t mfn, uint64_t nr, uint64_t *read)
{
    const uint64_t *w = plat_map_mfns(mfn, nr);
    uint64_t n = nr * WORDS_PER_PAGE, i, acc = 0;

    for ( i = 0; i < n; i++ )
    {
        acc |= w[i];
        if ( (i & 4095) == 4095 && acc )
            break;
    }
    *read = (MIN(i + 1, n) + WORDS_PER_PAGE - 1) / WORDS_PER_PAGE;
    return acc == 0;
}

/* The same for frames the guest may still be writing (a probe): read like
 * another CPU, and take the answer as a hint only. */
static bool frames_look_zero(mfn_t mfn, uint64_t nr, uint64_t *read)
{
    uint64_t *w = plat_map_mfns(mfn, nr);
    uint64_t n = nr * WORDS_PER_PAGE, i, j, acc = 0;

    for ( i = 0; i < n && !acc; i += 4096 )     /* 32 KiB at a time */
        for ( j = i; j < MIN(i + 4096, n); j += 4 )
            acc |= __atomic_load_n(&w[j], __ATOMIC_RELAXED) |
                   __atomic_load_n(&w[j + 1], __ATOMIC_RELAXED) |
                   __atomic_load_n(&w[j + 2], __ATOMIC_RELAXED) |
                   __atomic_load_n(&w[j + 3], __ATOMIC_RELAXED);
    *read = MIN(i, n) / WORDS_PER_PAGE;
    return acc == 0;
}

/* A few words spread over the leaf: cheap, and catches most used pages. */
static bool quick_zero(mfn_t mfn, unsigned int order)
{
    uint64_t n = 1ull << order, step = n > 8 ? n / 8 : 1, i;

    for ( i = 0; i < n; i += step )
    {
        uint64_t *w = plat_map_mfn(mfn_add(mfn, i));

        /* The guest may still be writing here: read like another CPU. */
        if ( __atomic_load_n(&w[0], __ATOMIC_RELAXED) |
             __atomic_load_n(&w[PAGE_SIZE / 16], __ATOMIC_RELAXED) |
             __atomic_load_n(&w[PAGE_SIZE / 8 - 1], __ATOMIC_RELAXED) )
            return false;
    }
    return true;
}

static bool full_zero(struct p2m_domain *p2m, mfn_t mfn, unsigned int order)
{
    uint64_t read;
    bool zero = frames_are_zero(mfn, 1ull << order, &read);

    ASSERT_LOCKED(&p2m->lock);
    p2m->pod.scanned += read;
    return zero;
}

/* Is the leaf at it a reclaim candidate that looks zero? */
static bool candidate(struct p2m_domain *p2m, const struct p2m_iter *it)
{
    p2m_pte_t e = it->old;
    unsigned int order = p2m_level_order(it->level);

    ASSERT_LOCKED(&p2m->lock);
    return it->level <= P2M_LEAF_LEVELS && p2m->ops->type(e) == p2m_ram_rw &&
           !inflight(p2m, it) &&
           mfn_range_reclaimable(p2m->domain, p2m->ops->mfn(e, it->level),
                                 order) &&
           quick_zero(p2m->ops->mfn(e, it->level), order);
}

/*
 * Second half of a reclaim, after the candidates were remapped as PoD and
 * the TLBs flushed (so the guest can no longer write to them): keep the
 * frames if they are all zero, else put the old leaf back.
 */
static uint64_t reclaim_finish(struct p2m_domain *p2m, struct p2m_iter *its,
                               const p2m_pte_t *old, unsigned int n)
{
    struct domain *d = p2m->domain;
    uint64_t pages = 0;
    unsigned int k;

    ASSERT_LOCKED(&p2m->lock);
    for ( k = 0; k < n; k++ )
    {
        unsigned int order = p2m_level_order(its[k].level);
        mfn_t mfn = p2m->ops->mfn(old[k], its[k].level);
        struct page_info *pg;

        if ( !full_zero(p2m, mfn, order) )
        {
            p2m_iter_set(p2m, &its[k], old[k], P2M_SET_PLAIN);
            continue;
        }
        pg = heap_make_chunk(d, mfn, order);
        ASSERT(pg);
        heap_set_chunk_flags(pg, PGF_zeroed, 0);
        spin_lock(&p2m->pod.lock);
        cache_add(&p2m->pod, pg);
        p2m->pod.swept[pod_idx(order)]++;
        p2m->pod.probe_idle = 0;
        spin_unlock(&p2m->pod.lock);
        pages += 1ull << order;
    }
    return pages;
}

/* Reclaim a batch of candidate leaves: remap as PoD, flush, check. */
static uint64_t reclaim(struct p2m_domain *p2m, struct p2m_iter *its,
                        unsigned int n)
{
    p2m_pte_t old[SWEEP_BATCH_4K];
    unsigned int k;

    ASSERT_LOCKED(&p2m->lock);
    for ( k = 0; k < n; k++ )
    {
        old[k] = its[k].old;
        p2m_iter_set(p2m, &its[k],
                     p2m->ops->make_leaf(its[k].level, INVALID_MFN,
                                         p2m_populate_on_demand,
                                         p2m->ops->access(old[k])),
                     P2M_SET_PLAIN);
    }
    p2m_flush_and_release(p2m, n != 0);
    return reclaim_finish(p2m, its, old, n);
}

/*
 * A fault's sweep for memory passes over the leaves other vCPUs are still
 * working in (they would fault on them again at once), remembering the
 * first; only if it reclaims nothing else does it take that one.
 */
struct spared {
    bool found;
    struct p2m_iter it;
};

struct sweep {
    unsigned int level;        /* leaves of this level only */
    struct spared *spared;     /* NULL: take working leaves like others */
    uint64_t *budget;          /* 4K pages it may still read */
    uint64_t entries;          /* entries it may still look at */
    uint64_t next;             /* gfn after the last entry looked at */
    uint64_t reclaimed;
    unsigned int n;            /* batched 4K candidates */
    struct p2m_iter batch[SWEEP_BATCH_4K];
};

enum probe_result { PROBE_DIRTY, PROBE_MORE, PROBE_SPLIT, PROBE_KEPT };

/*
 * Probe the candidate leaf at it, which no fault's budget can check whole:
 * read the next *budget pages of it (from where the last probe of the same
 * leaf stopped) while it stays mapped.  Dirt: keep it.  Read to the end and
 * zero: split it, so that its 2M pieces can be reclaimed (remapped,
 * flushed and checked) a fault's budget at a time; the 2M pass starts
 * there.  No table page for the split: keep it.
 */
static enum probe_result probe_step(struct p2m_domain *p2m,
                                    struct p2m_iter *it, uint64_t *budget)
{
    struct p2m_pod *pod = &p2m->pod;
    uint64_t n = 1ull << p2m_level_order(it->level), k, read;
    mfn_t mfn = p2m->ops->mfn(it->old, it->level);
    bool zero;

    ASSERT_LOCKED(&p2m->lock);
    if ( pod->probe.level != it->level || pod->probe.gfn != gfn_x(it->gfn) ||
         pod->probe.entry != it->old )
    {
        pod->probe.gfn = gfn_x(it->gfn);
        pod->probe.entry = it->old;
        pod->probe.done = 0;
        pod->probe.level = it->level;
    }
    k = MIN(*budget, n - pod->probe.done);
    if ( !k )
        return PROBE_MORE;
    *budget -= k;
    zero = frames_look_zero(mfn_add(mfn, pod->probe.done), k, &read);
    pod->scanned += read;
    pod->probed += read;
    pod->probe_idle += read;
    /* Progress for the fault-loop check, although no entry changed. */
    p2m_generation_bump(p2m);
    if ( !zero )
    {
        pod->probe.level = P2M_NO_LEVEL;
        return PROBE_DIRTY;
    }
    pod->probe.done += k;
    if ( pod->probe.done < n )
        return PROBE_MORE;
    pod->probe.level = P2M_NO_LEVEL;
    if ( p2m_pool_reserve(p2m, 1) || p2m_iter_split(p2m, it) )
        return PROBE_KEPT;
    pod->probe_splits++;
    pod->probe.split = true;
    pod->probe_idle = 0;
    pod->sweep_pos[pod_idx(p2m_level_order(it->level - 1))] = gfn_x(it->gfn);
    return PROBE_SPLIT;
}

/*
 * Is a probe under way that the sweep which just found nothing advanced
 * (probed was the count before it), or did that sweep split a leaf whose
 * pieces the next one reclaims, with less than one round of the 1G leaves
 * read since anything was reclaimed?  Then a fault that found nothing
 * retries instead of pausing the vCPU.  A probe the sweep did not advance
 * (its leaf written, ballooned or replaced since) is no reason to retry:
 * the retry would change nothing, and the vCPU would loop until the
 * fault-loop check crashed its domain.  Consumes the split.
 */
static bool probe_pending(struct p2m_domain *p2m, uint64_t probed)
{
    struct p2m_pod *pod = &p2m->pod;
    bool split = pod->probe.split;

    ASSERT_LOCKED(&p2m->lock);
    pod->probe.split = false;
    return ((pod->probe.level && pod->probed != probed) || split) &&
           pod->probe_idle < (p2m->stats.pages[p2m_level_idx(P2M_L3)] + 1) << PAGE_ORDER_1G;
}

/* sweep_leaf for a candidate too large for any fault's budget. */
static int probe_leaf(struct p2m_domain *p2m, struct p2m_iter *it,
                      struct sweep *s)
{
    uint64_t end = gfn_x(it->gfn) + (1ull << p2m_level_order(it->level));

    switch ( probe_step(p2m, it, s->budget) )
    {
    case PROBE_MORE:
        return 1;               /* the next sweep goes on with this leaf */
    case PROBE_DIRTY:
        s->entries--;
        s->next = end;
        return 0;
    default:
        s->next = end;
        return 1;               /* split: the 2M pass takes the pieces */
    }
}

/* One terminal entry of a sweep's walk; not 0: stop the walk here. */
static int sweep_leaf(struct p2m_domain *p2m, struct p2m_iter *it,
                      struct sweep *s)
{
    bool cand;
    uint64_t cost = 0;

    ASSERT_LOCKED(&p2m->lock);
    if ( !s->entries )
        return 1;               /* stop: the position is remembered */
    cand = it->level == s->level && candidate(p2m, it);
    if ( cand && s->spared && in_use(p2m, it) )
    {
        if ( !s->spared->found )
            *s->spared = (struct spared){ true, *it };
        cand = false;           /* looked at, not checked: no cost */
    }
    if ( cand )
        cost = 1ull << p2m_level_order(it->level);    /* the full check */
    if ( cost > FAULT_SWEEP_PAGES && *s->budget <= FAULT_SWEEP_PAGES )
        return probe_leaf(p2m, it, s);
    if ( cost > *s->budget )
        return 1;               /* this one next time */
    *s->budget -= cost;
    s->entries--;
    s->next = gfn_x(it->gfn) + (1ull << p2m_level_order(it->level));
    if ( !cand )
        return 0;
    s->batch[s->n++] = *it;
    if ( s->level > P2M_L1 || s->n == SWEEP_BATCH_4K )
    {
        s->reclaimed += reclaim(p2m, s->batch, s->n);
        s->n = 0;
    }
    return 0;
}

/* Sweep leaves of one order, from where the last sweep stopped, wrapping. */
static uint64_t sweep_order(struct p2m_domain *p2m, unsigned int i,
                            uint64_t *budget, uint64_t entries,
                            struct spared *spared)
{
    uint64_t *pos = &p2m->pod.sweep_pos[i], start = *pos;
    struct sweep s = { .level = p2m_idx_level(i), .spared = spared,
                       .budget = budget, .entries = entries, .next = start };
    uint64_t from[2] = { start, 0 }, to[2] = { P2M_MAX_GFN, start };
    struct p2m_iter it;
    unsigned int k;
    int rc = 0;

    ASSERT_LOCKED(&p2m->lock);
    for ( k = 0; k < 2 && !rc; k++ )
        for_each_p2m_leaf(it, p2m, _gfn(from[k]), to[k])
        {
            rc = sweep_leaf(p2m, &it, &s);
            if ( rc )
                break;
        }
    *pos = rc ? s.next : 0;
    s.reclaimed += reclaim(p2m, s.batch, s.n);
    return s.reclaimed;
}

/*
 * Check the recently populated gfns: guests zero memory right at boot.  A
 * full check that would overrun *budget (4K pages) waits in the ring.
 */
static uint64_t sweep_eager(struct p2m_domain *p2m, uint64_t *budget,
                            bool in_fault)
{
    struct p2m_pod *pod = &p2m->pod;
    struct p2m_iter it;
    uint64_t pages = 0;
    unsigned int k;

    ASSERT_LOCKED(&p2m->lock);
    for ( k = 0; k < POD_RING; k++ )
    {
        uint64_t r = pod->ring[k];
        unsigned int level = slot_level(r);

        if ( !r )
            continue;
        p2m_iter_find(&it, p2m, _gfn(slot_gfn(r)), level);
        if ( it.level == level &&
             (inflight(p2m, &it) || (in_fault && in_use(p2m, &it))) )
            continue;           /* vCPUs may not be done with it: later */
        if ( it.level == level &&
             (1ull << p2m_level_order(level)) > *budget )
            continue;           /* too big for this sweep: a later one */
        pod->ring[k] = 0;
        if ( it.level == level && candidate(p2m, &it) )
        {
            *budget -= 1ull << p2m_level_order(level);
            pages += reclaim(p2m, &it, 1);
        }
    }
    return pages;
}

/* in_fault: a fault's sweep, which spares the leaves vCPUs are likely
 * still working in (the last fills), unless it finds nothing else. */
static int64_t sweep_run(struct p2m_domain *p2m, enum pod_sweep_mode mode,
                         bool in_fault)
{
    struct spared spared_at = { .found = false };
    struct spared *spared = in_fault ? &spared_at : NULL;
    uint64_t budget = mode == POD_SWEEP_ALL ? ~0ull : FAULT_SWEEP_PAGES;
    uint64_t pages = sweep_eager(p2m, &budget, in_fault);
    struct p2m_iter *it;
    unsigned int i;

    ASSERT_LOCKED(&p2m->lock);
    if ( mode == POD_SWEEP_EAGER )
        return (int64_t)pages;
    for ( i = POD_ORDERS; i-- > 0; )
        pages += sweep_order(p2m, i, &budget,
                             mode == POD_SWEEP_ALL ? ~0ull : EMERGENCY_ENTRIES,
                             spared);
    if ( pages || !spared || !spared->found )
        return (int64_t)pages;
    /* Nothing else to be had: the working leaf, if it still fits. */
    it = &spared->it;
    p2m_iter_refresh(it);
    if ( (1ull << p2m_level_order(it->level)) <= budget &&
         candidate(p2m, it) )
        pages = reclaim(p2m, it, 1);
    return (int64_t)pages;
}

int64_t p2m_pod_sweep(struct domain *d, enum pod_sweep_mode mode)
{
    int64_t pages;

    if ( mode != POD_SWEEP_ALL && mode != POD_SWEEP_EAGER &&
         mode != POD_SWEEP_EMERGENCY )
        return -EINVAL;
    spin_lock(&d->p2m.lock);
    pages = sweep_run(&d->p2m, mode, false);
    spin_lock(&d->p2m.pod.lock);
    cache_trim(d);
    spin_unlock(&d->p2m.pod.lock);
    spin_unlock(&d->p2m.lock);
    p2m_debug_audit(&d->p2m, "pod_sweep");
    return pages;
}

/* --- the sweep policy of the vCPU loops --- */

void p2m_pod_set_sweep_low_water(struct domain *d, bool on)
{
    d->p2m.pod.sweep_low_water = on;
}

/* Is the cache smaller than what the PoD entries may still ask for (and,
 * under the low-water policy, down to an eighth of the target)? */
static bool sweep_wanted(struct p2m_domain *p2m)
{
    struct p2m_pod *pod = &p2m->pod;
    bool want;

    ASSERT_LOCKED(&p2m->lock);
    spin_lock(&pod->lock);
    want = p2m->stats.pod_entries > pod->count &&
           (!pod->sweep_low_water || pod->count <= pod->target / 8);
    spin_unlock(&pod->lock);
    return want;
}

bool p2m_pod_sweep_at_exit(struct domain *d, uint64_t exits,
                           uint64_t *pages)
{
    bool want;
    int64_t n;

    *pages = 0;
    if ( exits % POD_SWEEP_EVERY )
        return false;
    spin_lock(&d->p2m.lock);
    want = sweep_wanted(&d->p2m);
    spin_unlock(&d->p2m.lock);
    if ( !want )
        return false;
    n = p2m_pod_sweep(d, POD_SWEEP_EMERGENCY);
    if ( n > 0 )
        *pages = (uint64_t)n;
    return true;
}

/* --- marking, ballooning, accounting --- */


static uint64_t pod_pages_in(struct p2m_domain *p2m, uint64_t s, uint64_t e);

/*
 * May [g, g + nr) become PoD: no RAM there, and B stays within max_pages?
 * Runs under the P2M lock, in the same hold as the commit.
 */
static int pod_mark_check(struct p2m_domain *p2m, uint64_t g, uint64_t nr)
{
    struct domain *d = p2m->domain;
    struct p2m_iter it;
    uint64_t believed;
    int rc = 0;

    ASSERT_LOCKED(&p2m->lock);
    for_each_p2m_leaf(it, p2m, _gfn(g), g + nr)
        if ( p2m_type_has_mfn(p2m->ops->type(it.old)) )
        {
            rc = -EBUSY;
            break;
        }
    believed = populated(d) + p2m->stats.pod_entries +
               (nr - pod_pages_in(p2m, g, g + nr));
    if ( !rc && believed > d->max_pages )
        rc = -ENOSPC;
    return rc;
}

static int pod_mark(struct domain *d, uint64_t g, uint64_t nr)
{
    return p2m_set_range_checked(&d->p2m, _gfn(g), nr,
                                 p2m_populate_on_demand, P2M_ACCESS_RWX,
                                 pod_mark_check);
}

int p2m_pod_mark(struct domain *d, gfn_t gfn, uint64_t nr)
{
    if ( gfn_x(gfn) >= P2M_MAX_GFN || P2M_MAX_GFN - gfn_x(gfn) < nr )
        return -ERANGE;
    return pod_mark(d, gfn_x(gfn), nr);
}

int p2m_pod_mark_extents(struct domain *d, gfn_t gfn, uint64_t nr,
                         unsigned int order, uint64_t *done)
{
    uint64_t g = gfn_x(gfn);
    int rc;

    *done = 0;
    if ( order > PAGE_ORDER_1G || !is_aligned(g, order) )
        return -EINVAL;
    if ( nr > P2M_MAX_GFN || g >= P2M_MAX_GFN ||
         P2M_MAX_GFN - g < (nr << order) )
        return -ERANGE;
    /* The whole request first, so bad input changes nothing. */
    spin_lock(&d->p2m.lock);
    rc = pod_mark_check(&d->p2m, g, nr << order);
    spin_unlock(&d->p2m.lock);
    while ( !rc && *done < nr )
    {
        rc = pod_mark(d, g + (*done << order), 1ull << order);
        if ( !rc )
            ++*done;
    }
    return rc;
}

static uint64_t pod_pages_in(struct p2m_domain *p2m, uint64_t s, uint64_t e)
{
    struct p2m_iter it;
    uint64_t pages = 0;

    ASSERT_LOCKED(&p2m->lock);
    for_each_p2m_leaf(it, p2m, _gfn(s), e)
    {
        uint64_t a = MAX(gfn_x(it.gfn), s);
        uint64_t b = MIN(gfn_x(it.gfn) + (1ull << p2m_level_order(it.level)),
                         e);

        if ( p2m->ops->type(it.old) == p2m_populate_on_demand )
            pages += b - a;
    }
    return pages;
}

/* Give back the RAM leaf at it: to the cache while entries need it. */
static uint64_t release_leaf(struct p2m_domain *p2m, struct p2m_iter *it)
{
    struct domain *d = p2m->domain;
    unsigned int order = p2m_level_order(it->level);
    mfn_t mfn = p2m->ops->mfn(it->old, it->level);
    struct page_info *pg;

    ASSERT_LOCKED(&p2m->lock);
    /* First make the frames one chunk: if that fails, nothing changed. */
    pg = heap_make_chunk(d, mfn, order);
    if ( !pg )
        return 0;
    /* The guest gives the frames back, whoever allocated them. */
    heap_set_chunk_flags(pg, 0, PGF_reserved);
    p2m_iter_set(p2m, it, 0, P2M_SET_PLAIN);
    /* To the cache or the heap after the one flush of the whole request. */
    heap_move_chunk(pg, &p2m->released);
    return 1ull << order;
}

/* Does a larger non-empty leaf cover the chunk [g, g + 2^order)? */
static bool chunk_covered(struct p2m_domain *p2m, uint64_t g,
                          unsigned int order)
{
    struct p2m_iter it;

    ASSERT_LOCKED(&p2m->lock);
    p2m_iter_find(&it, p2m, _gfn(g), p2m_order_level(order));
    return it.level > p2m_order_level(order) && it.old;
}

/*
 * One aligned chunk [g, g + 2^order) of a balloon request: a larger leaf
 * over it is split down to it first (the table pages were reserved
 * beforehand, so this cannot fail), then every leaf inside goes.  Returns
 * the pages released.
 */
static uint64_t release_chunk(struct p2m_domain *p2m, uint64_t g,
                              unsigned int order)
{
    unsigned int level = p2m_order_level(order);
    struct p2m_iter it;
    uint64_t pages = 0;
    p2m_type_t t;

    ASSERT_LOCKED(&p2m->lock);
    if ( chunk_covered(p2m, g, order) )
    {
        p2m_iter_find(&it, p2m, _gfn(g), level);
        if ( p2m_iter_build(p2m, &it, level) )
            return 0;   /* cannot happen: the caller reserved the pages */
    }
    for_each_p2m_leaf(it, p2m, _gfn(g), g + (1ull << order))
    {
        t = p2m->ops->type(it.old);
        if ( t == p2m_populate_on_demand )
        {
            pages += 1ull << p2m_level_order(it.level);
            p2m_iter_set(p2m, &it, 0, P2M_SET_PLAIN);
            spin_lock(&p2m->pod.lock);
            cache_trim(p2m->domain);
            spin_unlock(&p2m->pod.lock);
        }
        else if ( p2m_type_is_ram(t) )
            pages += release_leaf(p2m, &it);
    }
    return pages;
}

/* The largest aligned chunk at g that fits before end (misaligned
 * requests are cut into aligned chunks: XSA-388). */
static unsigned int chunk_at(uint64_t g, uint64_t end)
{
    unsigned int order;

    for ( order = PAGE_ORDER_1G; order; order -= PAGE_ORDER_2M )
        if ( is_aligned(g, order) && end - g >= (1ull << order) )
            break;
    return order;
}

/*
 * One extent [g, end) of a balloon request, all or nothing: the table
 * pages for the splits of every chunk are reserved before anything is
 * released.  Adds the pages released to *pages; 0 or -ENOMEM.
 */
static int release_extent(struct p2m_domain *p2m, uint64_t g, uint64_t end,
                          uint64_t *pages)
{
    struct p2m_need need;
    uint64_t c;
    int rc;

    ASSERT_LOCKED(&p2m->lock);
    p2m_need_init(&need);
    for ( c = g; c < end; c += 1ull << chunk_at(c, end) )
        if ( chunk_covered(p2m, c, chunk_at(c, end)) )
            p2m_need_add(p2m, &need, _gfn(c),
                         p2m_order_level(chunk_at(c, end)));
    rc = p2m_pool_reserve(p2m, need.pages);
    for ( c = g; !rc && c < end; c += 1ull << chunk_at(c, end) )
        *pages += release_chunk(p2m, c, chunk_at(c, end));
    return rc;
}

/*
 * Extents of 2^order from g (at most left) that lie inside one entry with
 * nothing to give back (empty, MMIO): a request over a sparse guest skips
 * them an entry at a time.  0 when the extent at g needs a closer look.
 */
static uint64_t extents_to_skip(struct p2m_domain *p2m, uint64_t g,
                                unsigned int order, uint64_t left)
{
    struct p2m_iter it;
    p2m_type_t t;
    uint64_t end;

    ASSERT_LOCKED(&p2m->lock);
    p2m_iter_find(&it, p2m, _gfn(g), P2M_L1);
    t = p2m->ops->type(it.old);
    if ( p2m_type_is_ram(t) || t == p2m_populate_on_demand )
        return 0;
    end = gfn_x(it.gfn) + (1ull << p2m_level_order(it.level));
    return MIN((end - g) >> order, left);
}

int p2m_pod_decrease_reservation(struct domain *d, gfn_t gfn, uint64_t nr,
                                 unsigned int order, uint64_t *done,
                                 uint64_t *pages)
{
    struct p2m_domain *p2m = &d->p2m;
    uint64_t g0 = gfn_x(gfn), gen, steps = 0;
    int rc = 0;

    if ( order > PAGE_ORDER_1G )
        return -EDOM;
    if ( nr > P2M_MAX_GFN || g0 >= P2M_MAX_GFN ||
         (nr << order) > P2M_MAX_GFN - g0 )
        return -ERANGE;
    if ( *done > nr )
        return -EINVAL;
    spin_lock(&p2m->lock);
    gen = p2m->generation;
    /* Work: extents and skips, plus every entry written (an extent is
     * never cut, so one 1G extent of 4K leaves still goes in one hold). */
    while ( *done < nr && steps + (p2m->generation - gen) < BALLOON_WORK )
    {
        uint64_t g = g0 + (*done << order);
        uint64_t skip = extents_to_skip(p2m, g, order, nr - *done);

        steps++;
        if ( !skip )
            rc = release_extent(p2m, g, g + (1ull << order), pages);
        if ( rc )
            break;
        *done += skip ? skip : 1;
    }
    /* One flush for every leaf of the call; the frames go after it. */
    p2m_flush_and_release(p2m, !list_empty(&p2m->released));
    p2m_pod_release_frames(p2m);
    spin_unlock(&p2m->lock);
    p2m_debug_audit(p2m, "pod_decrease_reservation");
    if ( rc )
        return rc;
    return *done < nr ? -ERESTART : 0;
}

int p2m_pod_check(struct domain *d)
{
    struct p2m_domain *p2m = &d->p2m;
    struct p2m_pod *pod = &p2m->pod;
    uint64_t p, b, t, listed = 0;
    unsigned int i, bad = 0;

    spin_lock(&p2m->lock);
    spin_lock(&pod->lock);
    t = d->tot_pages;
    p = t >= pod->count ? t - pod->count : 0;
    b = p + p2m->stats.pod_entries;
    for ( i = 0; i < POD_ORDERS; i++ )
        listed += pod->chunks[i] << pod_order(i);
    if ( t < pod->count )
        bad++, printk("pod: cache %llu exceeds pages held %llu\n",
                      (unsigned long long)pod->count, (unsigned long long)t);
    if ( !(p <= t && t <= b && b <= d->max_pages) )
        bad++, printk("pod: 0 <= P %llu <= T %llu <= B %llu <= M %llu broken\n",
                      (unsigned long long)p, (unsigned long long)t,
                      (unsigned long long)b, (unsigned long long)d->max_pages);
    if ( listed != pod->count )
        bad++, printk("pod: lists hold %llu pages, count %llu\n",
                      (unsigned long long)listed,
                      (unsigned long long)pod->count);
    spin_unlock(&pod->lock);
    spin_unlock(&p2m->lock);
    return (int)bad;
}

void p2m_pod_get_stats(struct domain *d, struct pod_stats *s)
{
    struct p2m_domain *p2m = &d->p2m;
    struct p2m_pod *pod = &p2m->pod;
    unsigned int i;

    spin_lock(&p2m->lock);
    spin_lock(&pod->lock);
    for ( i = 0; i < POD_ORDERS; i++ )
    {
        s->cache_chunks[i] = pod->chunks[i];
        s->filled[i] = pod->populated[i];
        s->swept[i] = pod->swept[i];
    }
    s->count = pod->count;
    s->entry_count = p2m->stats.pod_entries;
    s->tot_pages = d->tot_pages;
    s->target = pod->target;
    s->max_pages = d->max_pages;
    s->populated = populated(d);
    s->remap_retries = pod->remap_retries;
    s->scanned = pod->scanned;
    s->probed = pod->probed;
    s->probe_splits = pod->probe_splits;
    s->unlocked_zeroes = pod->unlocked_zeroes;
    s->fill_backouts = pod->fill_backouts;
    spin_unlock(&pod->lock);
    spin_unlock(&p2m->lock);
}

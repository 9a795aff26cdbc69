/*
 * Hosted vCPUs: a software TLB per vCPU that caches translations until the
 * module flushes them, and guest memory accesses that go through it.
 *
 * A flush bumps the domain's generation; an entry is only valid while its
 * generation is current, so flushes from other threads need no lock on the
 * TLB itself.  Each TLB is read and filled only by its own vCPU's thread.
 */
#include "hosted.h"

#include <errno.h>
#include <string.h>

#include <xen/lib.h>

#define TLB_ENTRIES 256

struct tlb_entry {
    uint64_t gfn;
    uint64_t gen;
    struct p2m_lookup l;
};

struct tlb {
    struct tlb_entry e[TLB_ENTRIES];
    uint64_t fill_gen;          /* generation seen before the last walk */
};

static struct tlb tlbs[MAX_DOMAINS][MAX_VCPUS];
static uint64_t gens[MAX_DOMAINS];
static uint64_t hits, misses, flushes, stale_hits;
#ifdef P2M_DEBUG
static bool check_hits = true;
#else
static bool check_hits;
#endif

static struct tlb *tlb_of(struct vcpu *v)
{
    return &tlbs[v->domain->domain_id][v->vcpu_id];
}

static uint64_t gen_of(struct domain *d)
{
    return __atomic_load_n(&gens[d->domain_id], __ATOMIC_ACQUIRE);
}

void plat_flush_guest_tlb(struct domain *d)
{
    /* Generation 0 is never current, so zeroed entries are never valid. */
    __atomic_add_fetch(&gens[d->domain_id], 1, __ATOMIC_ACQ_REL);
    __atomic_add_fetch(&flushes, 1, __ATOMIC_RELAXED);
}

/* Does a cached translation grant what the P2M no longer does? */
static void check_hit(struct vcpu *v, gfn_t gfn, const struct p2m_lookup *c)
{
    struct p2m_lookup now;

    if ( p2m_get_entry(&v->domain->p2m, gfn, &now) )
        return;
    if ( (c->rights & ~now.rights) || !mfn_eq(c->mfn, now.mfn) )
    {
        __atomic_add_fetch(&stale_hits, 1, __ATOMIC_RELAXED);
        printk("d%uv%u: stale TLB entry for gfn %#llx: mfn %#llx, P2M says "
               "%#llx (missing flush?)\n", v->domain->domain_id, v->vcpu_id,
               (unsigned long long)gfn_x(gfn),
               (unsigned long long)mfn_x(c->mfn),
               (unsigned long long)mfn_x(now.mfn));
    }
}

bool plat_tlb_lookup(struct vcpu *v, gfn_t gfn, struct p2m_lookup *out)
{
    struct tlb *t = tlb_of(v);
    struct tlb_entry *e = &t->e[gfn_x(gfn) % TLB_ENTRIES];
    uint64_t gen = gen_of(v->domain);

    if ( e->gen == gen && e->gfn == gfn_x(gfn) )
    {
        __atomic_add_fetch(&hits, 1, __ATOMIC_RELAXED);
        if ( check_hits )
            check_hit(v, gfn, &e->l);
        *out = e->l;
        return true;
    }
    __atomic_add_fetch(&misses, 1, __ATOMIC_RELAXED);
    t->fill_gen = gen;
    return false;
}

void plat_tlb_fill(struct vcpu *v, gfn_t gfn, const struct p2m_lookup *l)
{
    struct tlb *t = tlb_of(v);
    struct tlb_entry *e = &t->e[gfn_x(gfn) % TLB_ENTRIES];

    /* Tagged with the generation from before the walk: a flush that raced
     * with the walk makes this entry invalid at once. */
    e->gfn = gfn_x(gfn);
    e->l = *l;
    e->gen = t->fill_gen;
}

/* A fault drops the faulting translation, as the hardware does. */
static void tlb_drop(struct vcpu *v, gfn_t gfn)
{
    tlb_of(v)->e[gfn_x(gfn) % TLB_ENTRIES].gen = 0;
}

static int guest_access(struct vcpu *v, gfn_t gfn, unsigned int off,
                        bool write, uint64_t *val)
{
    p2m_access_t need = write ? P2M_ACCESS_W : P2M_ACCESS_R;
    struct p2m_lookup l;
    unsigned int tries;
    uint8_t *p;

    if ( off > PAGE_SIZE - sizeof(uint64_t) || (off & 7) )
        return -EINVAL;
    for ( tries = 0; tries < 8; tries++ )
    {
        if ( v->domain->crashed )
            return -EFAULT;
        if ( p2m_gfn_to_mfn_current(v, gfn, &l) )
            return -EFAULT;
        if ( (l.rights & need) == need )
        {
            p = (uint8_t *)plat_map_mfn(l.mfn) + off;
            if ( write )
                __atomic_store_n((uint64_t *)p, *val, __ATOMIC_RELAXED);
            else
                *val = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
            return 0;
        }
        tlb_drop(v, gfn);
        if ( p2m_handle_fault(v, gfn, need) )
            return -EFAULT;
    }
    printk("d%uv%u: gfn %#llx still faults after %u fixes\n",
           v->domain->domain_id, v->vcpu_id, (unsigned long long)gfn_x(gfn),
           tries);
    return -EFAULT;
}

int hosted_guest_read(struct vcpu *v, gfn_t gfn, unsigned int off,
                      uint64_t *val)
{
    return guest_access(v, gfn, off, false, val);
}

int hosted_guest_write(struct vcpu *v, gfn_t gfn, unsigned int off,
                       uint64_t val)
{
    return guest_access(v, gfn, off, true, &val);
}

void hosted_tlb_set_check(bool on)
{
    check_hits = on;
}

uint64_t hosted_tlb_stale_hits(void)
{
    return __atomic_load_n(&stale_hits, __ATOMIC_RELAXED);
}

void hosted_tlb_reset_counters(void)
{
    hits = misses = flushes = stale_hits = 0;
}

void hosted_tlb_counters(struct tlb_counters *c)
{
    c->hits = hits;
    c->misses = misses;
    c->flushes = flushes;
}

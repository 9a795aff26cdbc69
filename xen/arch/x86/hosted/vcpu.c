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

#include <asm-x86/p2m-pod.h>
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
    uint64_t last_gen;          /* generation of the last translation */
    uint64_t active;            /* generation in use by an access, or 0 */
    uint64_t hits, misses;      /* this vCPU's own: no shared cache line */
};

static struct tlb tlbs[MAX_DOMAINS][MAX_VCPUS];
static uint64_t gens[MAX_DOMAINS];
static uint64_t flushes, stale_hits;
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

/*
 * Like a TLB-flush IPI, a flush returns only once no vCPU can still use a
 * translation from before it: it waits for accesses of older generations.
 */
void plat_flush_guest_tlb(struct domain *d)
{
    /* Generation 0 is never current, so zeroed entries are never valid. */
    uint64_t now = __atomic_add_fetch(&gens[d->domain_id], 1,
                                      __ATOMIC_SEQ_CST);
    unsigned int i;

    __atomic_add_fetch(&flushes, 1, __ATOMIC_RELAXED);
    for ( i = 0; i < MAX_VCPUS; i++ )
    {
        struct tlb *t = &tlbs[d->domain_id][i];
        uint64_t a;

        while ( (a = __atomic_load_n(&t->active, __ATOMIC_ACQUIRE)) &&
                a < now )
            plat_cpu_relax();
    }
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

/* A hit copies the cached translation to out; a miss notes the generation
 * that the fill after the walk is tagged with. */
static bool tlb_lookup(struct vcpu *v, gfn_t gfn, struct p2m_lookup *out)
{
    struct tlb *t = tlb_of(v);
    struct tlb_entry *e = &t->e[gfn_x(gfn) % TLB_ENTRIES];
    uint64_t gen = gen_of(v->domain);

    if ( e->gen == gen && e->gfn == gfn_x(gfn) )
    {
        t->hits++;
        if ( check_hits )
            check_hit(v, gfn, &e->l);
        *out = e->l;
        t->last_gen = gen;
        return true;
    }
    t->misses++;
    t->fill_gen = t->last_gen = gen;
    return false;
}

static void tlb_fill(struct vcpu *v, gfn_t gfn, const struct p2m_lookup *l)
{
    struct tlb *t = tlb_of(v);
    struct tlb_entry *e = &t->e[gfn_x(gfn) % TLB_ENTRIES];

    /* Tagged with the generation from before the walk: a flush that raced
     * with the walk makes this entry invalid at once. */
    e->gfn = gfn_x(gfn);
    e->l = *l;
    e->gen = t->fill_gen;
}

int hosted_gfn_to_mfn(struct vcpu *v, gfn_t gfn, struct p2m_lookup *out)
{
    int rc;

    if ( tlb_lookup(v, gfn, out) )
        return 0;
    rc = p2m_get_entry(&v->domain->p2m, gfn, out);
    if ( !rc && out->rights )
        tlb_fill(v, gfn, out);
    return rc;
}

/* A fault drops the faulting translation, as the hardware does. */
static void tlb_drop(struct vcpu *v, gfn_t gfn)
{
    tlb_of(v)->e[gfn_x(gfn) % TLB_ENTRIES].gen = 0;
}

/* What an access does with the frame once it holds a translation. */
struct access_op {
    bool write;
    unsigned int off, len;      /* bytes [off, off + len) of the page */
    uint64_t value;             /* written to every word; read into here */
    bool mismatch;              /* read: some word differed from value */
};

static void do_access(mfn_t mfn, struct access_op *op)
{
    uint64_t *w = (uint64_t *)((uint8_t *)plat_map_mfn(mfn) + op->off);
    unsigned int i, n = op->len / sizeof(uint64_t);

    for ( i = 0; i < n; i++ )
    {
        if ( op->write )
            __atomic_store_n(&w[i], op->value, __ATOMIC_RELAXED);
        else if ( n == 1 )
            op->value = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
        else if ( __atomic_load_n(&w[i], __ATOMIC_RELAXED) != op->value )
            op->mismatch = true;
    }
}

/*
 * Device memory: the hosted machine has no device models, so an MMIO access
 * behaves like one to an unclaimed bus address (reads all ones, writes are
 * dropped).  Host memory is never touched through an MMIO frame.
 */
static void mmio_access(struct access_op *op)
{
    if ( op->write )
        return;
    if ( op->len == sizeof(uint64_t) )
        op->value = ~0ull;
    else
        op->mismatch = op->value != ~0ull;
}

/*
 * Use translation l if no flush came since it was made; the active mark
 * makes a concurrent flush wait until the access is done.
 */
static bool access_if_current(struct vcpu *v, const struct p2m_lookup *l,
                              struct access_op *op)
{
    struct tlb *t = tlb_of(v);
    uint64_t g = t->last_gen;
    bool ok;

    __atomic_store_n(&t->active, g, __ATOMIC_SEQ_CST);
    ok = __atomic_load_n(&gens[v->domain->domain_id], __ATOMIC_SEQ_CST) == g;
    if ( ok && p2m_type_is_ram(l->type) )
        do_access(l->mfn, op);
    else if ( ok )
        mmio_access(op);
    __atomic_store_n(&t->active, 0, __ATOMIC_RELEASE);
    return ok;
}

static int guest_access(struct vcpu *v, gfn_t gfn, struct access_op *op)
{
    p2m_access_t need = op->write ? P2M_ACCESS_W : P2M_ACCESS_R;
    struct p2m_lookup l;
    int rc;

    if ( op->off + op->len > PAGE_SIZE || (op->off | op->len) & 7 )
        return -EINVAL;
    for ( ;; )
    {
        if ( __atomic_load_n(&v->domain->crashed, __ATOMIC_ACQUIRE) )
            return -EFAULT;
        if ( __atomic_load_n(&v->paused, __ATOMIC_ACQUIRE) )
            return -EAGAIN;
        if ( hosted_gfn_to_mfn(v, gfn, &l) )
        {
            /* Beyond the guest-physical space: the fault handler crashes
             * the domain with its reason, as the hardware path does. */
            p2m_handle_fault(v, gfn, need);
            return -EFAULT;
        }
        if ( (l.rights & need) == need )
        {
            if ( access_if_current(v, &l, op) )
            {
                p2m_pod_access_used(v);
                return 0;
            }
            continue;           /* flushed meanwhile: translate again */
        }
        tlb_drop(v, gfn);
        if ( !p2m_fault_progress(v, gfn) )
        {
            domain_crash(v->domain, "fault loop without progress (missing "
                         "flush?)", gfn);
            return -EFAULT;
        }
        /* The PoD sweep policy runs inside the fault, as on bare metal.
         * Hosted vCPUs have no exits but faults: no periodic pass. */
        rc = p2m_handle_fault(v, gfn, need);
        if ( rc )
            return rc == -EAGAIN ? -EAGAIN : -EFAULT;
    }
}

int hosted_guest_read(struct vcpu *v, gfn_t gfn, unsigned int off,
                      uint64_t *val)
{
    struct access_op op = { false, off, sizeof(uint64_t), 0, false };
    int rc = guest_access(v, gfn, &op);

    *val = op.value;
    return rc;
}

int hosted_guest_write(struct vcpu *v, gfn_t gfn, unsigned int off,
                       uint64_t val)
{
    struct access_op op = { true, off, sizeof(uint64_t), val, false };

    return guest_access(v, gfn, &op);
}

int hosted_guest_fill_page(struct vcpu *v, gfn_t gfn, uint64_t val)
{
    struct access_op op = { true, 0, PAGE_SIZE, val, false };

    return guest_access(v, gfn, &op);
}

int hosted_guest_check_page(struct vcpu *v, gfn_t gfn, uint64_t val)
{
    struct access_op op = { false, 0, PAGE_SIZE, val, false };
    int rc = guest_access(v, gfn, &op);

    return rc ? rc : op.mismatch;
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
    unsigned int d, v;

    for ( d = 0; d < MAX_DOMAINS; d++ )
        for ( v = 0; v < MAX_VCPUS; v++ )
            tlbs[d][v].hits = tlbs[d][v].misses = 0;
    flushes = stale_hits = 0;
}

/* Sums over every vCPU; call it while the vCPU threads are quiet. */
void hosted_tlb_counters(struct tlb_counters *c)
{
    unsigned int d, v;

    c->hits = c->misses = 0;
    for ( d = 0; d < MAX_DOMAINS; d++ )
        for ( v = 0; v < MAX_VCPUS; v++ )
        {
            c->hits += tlbs[d][v].hits;
            c->misses += tlbs[d][v].misses;
        }
    c->flushes = __atomic_load_n(&flushes, __ATOMIC_RELAXED);
}

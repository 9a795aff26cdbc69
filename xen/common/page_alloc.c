/*
 * Buddy heap of machine frames, orders 0 to 18, and chunk ownership.
 *
 * The frame table is divided into naturally aligned chunks.  A chunk's head
 * page_info holds its use, order and owner; all other frames of the chunk
 * keep zero there.  Free chunks sit on per-order lists and merge with their
 * buddy on free.  Domain chunks sit on their owner's page_list.
 *
 * Lock: heap_lock, innermost (taken under the P2M and PoD locks).
 */
#include <asm-x86/m2p.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/sched.h>
#include <xen/spinlock.h>

struct machine machine;

static spinlock_t heap_lock = SPIN_LOCK_UNLOCKED(LOCK_CLASS_HEAP);
static struct list_head free_list[MAX_ORDER + 1];
static uint64_t free_chunks[MAX_ORDER + 1];
static uint64_t free_pages, total_pages, xen_pages;
static struct list_head xen_list;
static uint64_t alloc_seq, fail_at;

static struct page_info *frame(uint64_t mfn)
{
    return machine.frame_table + mfn;
}

static uint64_t frame_nr(const struct page_info *pg)
{
    return (uint64_t)(pg - machine.frame_table);
}

static void set_head(struct page_info *pg, enum page_use use,
                     unsigned int order, unsigned int owner, uint8_t flags)
{
    pg->use = use;
    pg->order = order;
    pg->owner = owner;
    pg->flags = flags;
    pg->count = 0;
}

static void clear_head(struct page_info *pg)
{
    set_head(pg, PGU_NONE, 0, 0, 0);
}

static unsigned int owner_id(const struct domain *d)
{
    return d->domain_id + 1u;
}

static bool extent_is_ram(uint64_t s, uint64_t e)
{
    unsigned int i;

    for ( i = 0; i < machine.nr_ranges; i++ )
        if ( s >= machine.range[i].start && e <= machine.range[i].end )
            return true;
    return false;
}

bool mfn_range_is_ram(mfn_t mfn, unsigned int order)
{
    return extent_is_ram(mfn_x(mfn), mfn_x(mfn) + (1ull << order));
}

static bool ranges_overlap(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
    return s1 < e2 && s2 < e1;
}

int machine_declare_mmio(mfn_t mfn, uint64_t nr)
{
    uint64_t s = mfn_x(mfn), e = s + nr;
    unsigned int i;

    if ( nr == 0 || e < s ||
         (machine.paddr_bits && e > machine_mfn_limit()) )
        return -EINVAL;
    for ( i = 0; i < machine.nr_ranges; i++ )
        if ( ranges_overlap(s, e, machine.range[i].start, machine.range[i].end) )
            return -EINVAL;
    for ( i = 0; i < machine.nr_mmio; i++ )
        if ( ranges_overlap(s, e, machine.mmio[i].start, machine.mmio[i].end) )
            return -EINVAL;
    if ( machine.nr_mmio == MACHINE_MAX_RANGES )
        return -ENOSPC;
    machine.mmio[machine.nr_mmio++] = (struct machine_range){ s, e };
    return 0;
}

bool machine_range_is_mmio(mfn_t mfn, uint64_t nr)
{
    uint64_t s = mfn_x(mfn), e = s + nr;
    unsigned int i;

    for ( i = 0; i < machine.nr_mmio; i++ )
        if ( s >= machine.mmio[i].start && e <= machine.mmio[i].end && e > s )
            return true;
    return false;
}

struct page_info *mfn_chunk_head(mfn_t mfn)
{
    unsigned int k;

    if ( mfn_x(mfn) >= machine.max_mfn )
        return NULL;
    for ( k = 0; k <= MAX_ORDER; k++ )
    {
        struct page_info *pg = frame(align_down(mfn_x(mfn), k));

        if ( pg->use != PGU_NONE && pg->order >= k )
            return pg;
    }
    return NULL;
}

/* Put [mfn, mfn + 2^order) on the free lists, merging with free buddies. */
static void free_chunk(uint64_t mfn, unsigned int order, bool zeroed)
{
    while ( order < MAX_ORDER )
    {
        uint64_t buddy = mfn ^ (1ull << order);
        struct page_info *b;

        if ( buddy + (1ull << order) > machine.max_mfn )
            break;
        b = frame(buddy);
        if ( b->use != PGU_FREE || b->order != order )
            break;
        list_del(&b->list);
        free_chunks[order]--;
        zeroed = zeroed && (b->flags & PGF_zeroed);
        clear_head(b);
        clear_head(frame(mfn));
        mfn = MIN(mfn, buddy);
        order++;
    }
    set_head(frame(mfn), PGU_FREE, order, 0, zeroed ? PGF_zeroed : 0);
    list_add(&frame(mfn)->list, &free_list[order]);
    free_chunks[order]++;
}

/* Take free chunk pg off its list and give back all but its first 2^order. */
static void take_free_chunk(struct page_info *pg, unsigned int order)
{
    uint64_t mfn = frame_nr(pg);
    unsigned int k = pg->order;
    bool zeroed = pg->flags & PGF_zeroed;

    ASSERT_LOCKED(&heap_lock);
    list_del(&pg->list);
    free_chunks[k]--;
    while ( k > order )
    {
        k--;
        free_chunk(mfn + (1ull << k), k, zeroed);
    }
    set_head(pg, PGU_FREE, order, 0, zeroed ? PGF_zeroed : 0);
}

static struct page_info *alloc_chunk(unsigned int order)
{
    unsigned int k;

    ASSERT_LOCKED(&heap_lock);
    if ( fail_at && ++alloc_seq == fail_at )
        return NULL;
    for ( k = order; k <= MAX_ORDER; k++ )
    {
        if ( !list_empty(&free_list[k]) )
        {
            struct page_info *pg = list_first(&free_list[k], struct page_info,
                                              list);

            take_free_chunk(pg, order);
            free_pages -= 1ull << order;
            return pg;
        }
    }
    return NULL;
}

void heap_init(void)
{
    unsigned int i, k;

    spin_lock_init(&heap_lock, LOCK_CLASS_HEAP);
    list_init(&xen_list);
    for ( k = 0; k <= MAX_ORDER; k++ )
    {
        list_init(&free_list[k]);
        free_chunks[k] = 0;
    }
    free_pages = total_pages = xen_pages = 0;
    alloc_seq = fail_at = 0;
    for ( i = 0; i < machine.nr_ranges; i++ )
    {
        uint64_t mfn = machine.range[i].start, end = machine.range[i].end;

        while ( mfn < end )
        {
            k = MAX_ORDER;
            while ( !is_aligned(mfn, k) || mfn + (1ull << k) > end )
                k--;
            free_chunk(mfn, k, true);
            mfn += 1ull << k;
            free_pages += 1ull << k;
            total_pages += 1ull << k;
        }
    }
}

static void zero_frames(mfn_t mfn, unsigned int order)
{
    memset(plat_map_mfns(mfn, 1ull << order), 0, PAGE_SIZE << order);
}

struct page_info *alloc_domheap_pages(struct domain *d, unsigned int order,
                                      unsigned int memflags)
{
    struct page_info *pg;
    bool zeroed = false;

    ASSERT(order <= MAX_ORDER);
    spin_lock(&heap_lock);
    pg = alloc_chunk(order);
    if ( pg )
    {
        zeroed = pg->flags & PGF_zeroed;
        set_head(pg, PGU_DOMAIN, order, owner_id(d),
                 ((memflags & MEMF_keep_zeroed) && zeroed ? PGF_zeroed : 0) |
                 (memflags & MEMF_reserve ? PGF_reserved : 0));
        list_add_tail(&pg->list, &d->page_list);
        d->tot_pages += 1ull << order;
    }
    spin_unlock(&heap_lock);
    if ( pg && (memflags & MEMF_zero) && !zeroed )
        zero_frames(page_to_mfn(pg), order);
    return pg;
}

struct page_info *alloc_p2m_chunk(struct domain *d, unsigned int order)
{
    struct page_info *pg;
    bool zeroed = false;

    ASSERT(order <= MAX_ORDER);
    spin_lock(&heap_lock);
    pg = alloc_chunk(order);
    if ( pg )
    {
        zeroed = pg->flags & PGF_zeroed;
        set_head(pg, PGU_P2M, order, owner_id(d), 0);
        d->p2m_pages += 1ull << order;
    }
    spin_unlock(&heap_lock);
    if ( pg && !zeroed )
        zero_frames(page_to_mfn(pg), order);
    return pg;
}

struct page_info *alloc_p2m_page(struct domain *d)
{
    return alloc_p2m_chunk(d, 0);
}

void free_p2m_page(struct domain *d, struct page_info *pg)
{
    unsigned int order = pg->order;

    spin_lock(&heap_lock);
    ASSERT(pg->use == PGU_P2M && pg->owner == owner_id(d));
    d->p2m_pages -= 1ull << order;
    free_pages += 1ull << order;
    free_chunk(frame_nr(pg), order, false);
    spin_unlock(&heap_lock);
}

/*
 * Cut owned chunk h until [mfn, mfn + 2^order) is a chunk of its own; new
 * heads join h's list (domain page list or PoD cache) right after h.
 */
static struct page_info *split_owned(struct page_info *h, uint64_t mfn,
                                     unsigned int order)
{
    ASSERT_LOCKED(&heap_lock);
    while ( h->order > order )
    {
        unsigned int k = h->order - 1;
        struct page_info *upper = h + (1ull << k);

        h->order = k;
        set_head(upper, h->use, k, h->owner, h->flags);
        list_add(&upper->list, &h->list);
        if ( mfn >= frame_nr(upper) )
            h = upper;
    }
    return h;
}

/* Check that every chunk in [mfn, end) is d's guest memory (with without
 * flags clear: PGF_pod to refuse cache frames). */
static int range_owned(const struct domain *d, uint64_t mfn, uint64_t end,
                       uint8_t without)
{
    ASSERT_LOCKED(&heap_lock);
    while ( mfn < end )
    {
        struct page_info *h = mfn_chunk_head(_mfn(mfn));

        if ( !h || h->use != PGU_DOMAIN || h->owner != owner_id(d) ||
             (h->flags & without) )
            return -EPERM;
        mfn = frame_nr(h) + (1ull << h->order);
    }
    return 0;
}

int mfn_extent_owned_by(const struct domain *d, mfn_t mfn, uint64_t nr)
{
    uint64_t end = mfn_x(mfn) + nr;
    int rc;

    if ( end > machine.max_mfn || end <= mfn_x(mfn) )
        return -EFAULT;
    if ( !extent_is_ram(mfn_x(mfn), end) )
        return -ENXIO;
    spin_lock(&heap_lock);
    rc = range_owned(d, mfn_x(mfn), end, PGF_pod);
    spin_unlock(&heap_lock);
    return rc;
}

int mfn_range_owned_by(const struct domain *d, mfn_t mfn, unsigned int order)
{
    return mfn_extent_owned_by(d, mfn, 1ull << order);
}

int mfn_owner(mfn_t mfn)
{
    struct page_info *h;
    int owner = -1;

    spin_lock(&heap_lock);
    h = mfn_chunk_head(mfn);
    if ( h && h->use != PGU_FREE && h->owner )
        owner = h->owner - 1;
    spin_unlock(&heap_lock);
    return owner;
}

int free_domheap_range(struct domain *d, mfn_t mfn, unsigned int order)
{
    uint64_t pos = mfn_x(mfn), end = pos + (1ull << order);
    int rc;

    if ( end > machine.max_mfn || !is_aligned(pos, order) )
        return -EINVAL;
    spin_lock(&heap_lock);
    rc = range_owned(d, pos, end, 0);
    /* A frame some leaf still maps must not reach the heap (XSA-486). */
    if ( !rc && m2p_range_mapped(mfn, order) )
        rc = -EBUSY;
    while ( !rc && pos < end )
    {
        struct page_info *h = mfn_chunk_head(_mfn(pos));
        unsigned int k = MIN((unsigned int)h->order, order);

        h = split_owned(h, pos, k);
        list_del(&h->list);
        d->tot_pages -= 1ull << k;
        free_pages += 1ull << k;
        free_chunk(pos, k, false);
        pos += 1ull << k;
    }
    spin_unlock(&heap_lock);
    return rc;
}

/* Give the free chunk part [c, c + 2^k) that lies in [lo, hi) to d. */
static void carve(struct domain *d, uint64_t c, unsigned int k, uint64_t lo,
                  uint64_t hi, bool zeroed)
{
    uint64_t e = c + (1ull << k);

    ASSERT_LOCKED(&heap_lock);
    if ( e <= lo || c >= hi )
    {
        free_chunk(c, k, zeroed);
        return;
    }
    if ( c >= lo && e <= hi )
    {
        set_head(frame(c), PGU_DOMAIN, k, owner_id(d), 0);
        list_add_tail(&frame(c)->list, &d->page_list);
        d->tot_pages += 1ull << k;
        free_pages -= 1ull << k;
        return;
    }
    clear_head(frame(c));
    carve(d, c, k - 1, lo, hi, zeroed);
    carve(d, c + (1ull << (k - 1)), k - 1, lo, hi, zeroed);
}

int claim_domheap_range(struct domain *d, mfn_t mfn, unsigned int order)
{
    uint64_t pos = mfn_x(mfn), end = pos + (1ull << order);
    bool zeroed = true;

    if ( end > machine.max_mfn )
        return -EFAULT;
    if ( !mfn_range_is_ram(mfn, order) )
        return -ENXIO;
    spin_lock(&heap_lock);
    for ( ; pos < end; )
    {
        struct page_info *h = mfn_chunk_head(_mfn(pos));

        if ( !h || h->use != PGU_FREE )
        {
            spin_unlock(&heap_lock);
            return -EBUSY;
        }
        pos = frame_nr(h) + (1ull << h->order);
    }
    for ( pos = mfn_x(mfn); pos < end; )
    {
        struct page_info *h = mfn_chunk_head(_mfn(pos));
        uint64_t c = frame_nr(h);
        unsigned int k = h->order;
        bool z = h->flags & PGF_zeroed;

        list_del(&h->list);
        free_chunks[k]--;
        carve(d, c, k, mfn_x(mfn), end, z);
        zeroed = zeroed && z;
        pos = c + (1ull << k);
    }
    spin_unlock(&heap_lock);
    /* Whatever another domain or a P2M table left there goes first. */
    if ( !zeroed )
        zero_frames(mfn, order);
    return 0;
}

struct page_info *heap_make_chunk(struct domain *d, mfn_t mfn,
                                  unsigned int order)
{
    uint64_t pos = mfn_x(mfn), end = pos + (1ull << order);
    struct page_info *h;

    spin_lock(&heap_lock);
    if ( end > machine.max_mfn || range_owned(d, pos, end, 0) )
    {
        spin_unlock(&heap_lock);
        return NULL;
    }
    h = mfn_chunk_head(mfn);
    if ( h->order >= order )
        h = split_owned(h, pos, order);
    else
    {
        /* Several smaller chunks: fold them into one on the domain list.
         * It is reserved only if all were, and pinned if any was. */
        uint8_t all = PGF_reserved, any = 0;

        while ( pos < end )
        {
            struct page_info *c = mfn_chunk_head(_mfn(pos));

            pos += 1ull << c->order;
            all &= c->flags;
            any |= c->flags & PGF_pinned;
            list_del(&c->list);
            clear_head(c);
        }
        h = frame(mfn_x(mfn));
        set_head(h, PGU_DOMAIN, order, owner_id(d), all | any);
        list_add_tail(&h->list, &d->page_list);
    }
    spin_unlock(&heap_lock);
    return h;
}

void heap_split_chunk(struct page_info *pg, unsigned int order)
{
    uint64_t i, n;

    spin_lock(&heap_lock);
    n = 1ull << (pg->order - order);
    for ( i = n - 1; i >= 1; i-- )
    {
        struct page_info *c = pg + (i << order);

        set_head(c, pg->use, order, pg->owner, pg->flags);
        list_add(&c->list, &pg->list);
    }
    pg->order = order;
    spin_unlock(&heap_lock);
}

static void chunk_flags(struct page_info *pg, uint8_t set, uint8_t clear)
{
    ASSERT_LOCKED(&heap_lock);
    pg->flags = (pg->flags & ~clear) | set;
}

void heap_move_chunk_flags(struct page_info *pg, struct list_head *to,
                           uint8_t set, uint8_t clear)
{
    spin_lock(&heap_lock);
    list_del(&pg->list);
    list_add_tail(&pg->list, to);
    chunk_flags(pg, set, clear);
    spin_unlock(&heap_lock);
}

void heap_move_chunk(struct page_info *pg, struct list_head *to)
{
    heap_move_chunk_flags(pg, to, 0, 0);
}

void heap_set_chunk_flags(struct page_info *pg, uint8_t set, uint8_t clear)
{
    spin_lock(&heap_lock);
    chunk_flags(pg, set, clear);
    spin_unlock(&heap_lock);
}

bool mfn_range_reclaimable(const struct domain *d, mfn_t mfn,
                           unsigned int order)
{
    uint64_t pos = mfn_x(mfn), end = pos + (1ull << order);
    bool ok = true;

    spin_lock(&heap_lock);
    while ( ok && pos < end )
    {
        struct page_info *h = mfn_chunk_head(_mfn(pos));

        ok = h && h->use == PGU_DOMAIN && h->owner == owner_id(d) &&
             !(h->flags & (PGF_pinned | PGF_pod)) && h->count == 0;
        if ( h )
            pos = frame_nr(h) + (1ull << h->order);
    }
    spin_unlock(&heap_lock);
    return ok;
}

int heap_reserve_range(struct domain *d, mfn_t mfn, unsigned int order)
{
    struct page_info *h = heap_make_chunk(d, mfn, order);

    if ( !h )
        return -EPERM;
    heap_set_chunk_flags(h, PGF_reserved, 0);
    return 0;
}

uint64_t heap_domain_pages_with(struct domain *d, uint8_t flags)
{
    const struct list_head *l;
    uint64_t pages = 0;

    spin_lock(&heap_lock);
    for ( l = d->page_list.next; l != &d->page_list; l = l->next )
    {
        const struct page_info *pg = list_entry(l, struct page_info, list);

        if ( (pg->flags & flags) == flags )
            pages += 1ull << pg->order;
    }
    spin_unlock(&heap_lock);
    return pages;
}

uint64_t heap_range_pages_with(mfn_t mfn, unsigned int order, uint8_t flags)
{
    uint64_t pos = mfn_x(mfn), end = pos + (1ull << order), pages = 0;

    spin_lock(&heap_lock);
    while ( pos < end )
    {
        const struct page_info *h = mfn_chunk_head(_mfn(pos));
        uint64_t next;

        if ( !h )
            break;
        next = MIN(frame_nr(h) + (1ull << h->order), end);
        if ( (h->flags & flags) == flags )
            pages += next - pos;
        pos = next;
    }
    spin_unlock(&heap_lock);
    return pages;
}

int heap_pin_range(struct domain *d, mfn_t mfn, unsigned int order, bool pin)
{
    struct page_info *h = heap_make_chunk(d, mfn, order);

    if ( !h )
        return -EPERM;
    heap_set_chunk_flags(h, pin ? PGF_pinned : 0, pin ? 0 : PGF_pinned);
    return 0;
}

void free_domain_memory(struct domain *d)
{
    struct list_head *p, *tmp;

    spin_lock(&heap_lock);
    list_for_each_safe(p, tmp, &d->page_list)
    {
        struct page_info *pg = list_entry(p, struct page_info, list);
        unsigned int k = pg->order;

        list_del(&pg->list);
        free_pages += 1ull << k;
        d->tot_pages -= 1ull << k;
        free_chunk(frame_nr(pg), k, false);
    }
    spin_unlock(&heap_lock);
}

/* Pin the first frame of free chunk pg; give the rest back. */
static void pin_first_frame(struct page_info *pg)
{
    uint64_t mfn = frame_nr(pg);
    unsigned int k = pg->order, j;
    bool zeroed = pg->flags & PGF_zeroed;

    ASSERT_LOCKED(&heap_lock);
    list_del(&pg->list);
    free_chunks[k]--;
    set_head(pg, PGU_XEN, 0, DOMID_XEN + 1u, 0);
    list_add_tail(&pg->list, &xen_list);
    for ( j = 0; j < k; j++ )
        free_chunk(mfn + (1ull << j), j, zeroed);
    free_pages--;
    xen_pages++;
}

int heap_fragment(enum heap_fragment_mode mode)
{
    unsigned int min = mode == FRAG_NO1G ? PAGE_ORDER_1G : PAGE_ORDER_2M, k;

    if ( mode == FRAG_NONE )
        return 0;
    if ( mode != FRAG_NO1G && mode != FRAG_NO2M )
        return -EINVAL;
    spin_lock(&heap_lock);
    for ( k = MAX_ORDER; k >= min; k-- )
        while ( !list_empty(&free_list[k]) )
            pin_first_frame(list_first(&free_list[k], struct page_info, list));
    spin_unlock(&heap_lock);
    return 0;
}

void heap_unfragment(void)
{
    struct list_head *p, *tmp;

    spin_lock(&heap_lock);
    list_for_each_safe(p, tmp, &xen_list)
    {
        struct page_info *pg = list_entry(p, struct page_info, list);

        list_del(&pg->list);
        xen_pages--;
        free_pages++;
        free_chunk(frame_nr(pg), 0, false);
    }
    spin_unlock(&heap_lock);
}

void heap_get_stats(struct heap_stats *s)
{
    unsigned int k;

    spin_lock(&heap_lock);
    s->total_pages = total_pages;
    s->free_pages = free_pages;
    s->xen_pages = xen_pages;
    for ( k = 0; k <= MAX_ORDER; k++ )
        s->free_chunks[k] = free_chunks[k];
    spin_unlock(&heap_lock);
}

void heap_fail_nth(uint64_t n)
{
    spin_lock(&heap_lock);
    fail_at = n;
    alloc_seq = 0;
    spin_unlock(&heap_lock);
}

struct tally {
    uint64_t free, xen, dom[MAX_DOMAINS], p2m[MAX_DOMAINS];
    int bad;
};

/* Count one chunk head into the tally; report what cannot be right. */
static void tally_chunk(struct tally *t, uint64_t mfn, const struct page_info *h)
{
    uint64_t n = 1ull << h->order;
    unsigned int owner = h->owner;

    ASSERT_LOCKED(&heap_lock);
    if ( h->use == PGU_FREE )
        t->free += n;
    else if ( h->use == PGU_XEN && owner == DOMID_XEN + 1u )
        t->xen += n;
    else if ( (h->use == PGU_DOMAIN || h->use == PGU_P2M) && owner >= 1 &&
              owner <= MAX_DOMAINS && domain_lookup(owner - 1) )
    {
        if ( h->use == PGU_DOMAIN )
            t->dom[owner - 1] += n;
        else
            t->p2m[owner - 1] += n;
    }
    else
    {
        printk("accounting: chunk %#llx use %u owner %u is nobody's\n",
               (unsigned long long)mfn, h->use, owner);
        t->bad++;
    }
}

static void check_lists(struct tally *t)
{
    unsigned int k;

    ASSERT_LOCKED(&heap_lock);
    for ( k = 0; k <= MAX_ORDER; k++ )
    {
        uint64_t n = 0;
        struct list_head *p;

        for ( p = free_list[k].next; p != &free_list[k]; p = p->next )
        {
            struct page_info *pg = list_entry(p, struct page_info, list);

            if ( pg->use != PGU_FREE || pg->order != k )
            {
                printk("accounting: free list %u holds a bad chunk\n", k);
                t->bad++;
            }
            n++;
        }
        if ( n != free_chunks[k] )
        {
            printk("accounting: free list %u has %llu chunks, counter %llu\n",
                   k, (unsigned long long)n,
                   (unsigned long long)free_chunks[k]);
            t->bad++;
        }
    }
}

static void check_totals(struct tally *t)
{
    unsigned int i;

    ASSERT_LOCKED(&heap_lock);
    if ( t->free != free_pages || t->xen != xen_pages )
    {
        printk("accounting: free %llu/%llu, pinned %llu/%llu (seen/counted)\n",
               (unsigned long long)t->free, (unsigned long long)free_pages,
               (unsigned long long)t->xen, (unsigned long long)xen_pages);
        t->bad++;
    }
    for ( i = 0; i < MAX_DOMAINS; i++ )
    {
        struct domain *d = domain_lookup(i);

        if ( !d )
            continue;
        if ( t->dom[i] != d->tot_pages || t->p2m[i] != d->p2m_pages )
        {
            printk("accounting: d%u owns %llu+%llu pages, counted %llu+%llu\n",
                   i, (unsigned long long)t->dom[i],
                   (unsigned long long)t->p2m[i],
                   (unsigned long long)d->tot_pages,
                   (unsigned long long)d->p2m_pages);
            t->bad++;
        }
    }
}

int heap_check_accounting(void)
{
    struct tally t = { 0 };
    unsigned int i;

    spin_lock(&heap_lock);
    for ( i = 0; i < machine.nr_ranges; i++ )
    {
        uint64_t mfn = machine.range[i].start, end = machine.range[i].end;

        while ( mfn < end )
        {
            struct page_info *h = frame(mfn);

            if ( h->use == PGU_NONE || !is_aligned(mfn, h->order) ||
                 mfn + (1ull << h->order) > end )
            {
                printk("accounting: frame %#llx starts no valid chunk\n",
                       (unsigned long long)mfn);
                t.bad++;
                break;
            }
            tally_chunk(&t, mfn, h);
            mfn += 1ull << h->order;
        }
    }
    check_lists(&t);
    check_totals(&t);
    spin_unlock(&heap_lock);
    return t.bad;
}

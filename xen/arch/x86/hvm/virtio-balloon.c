/*
 * virtio-balloon for a PoD guest: requests from the rings, validated
 * whole, then their memory effects through struct vballoon_ops (by
 * default the real memory operations).  See virtio-balloon.h.
 */
#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>
#include <xen/lib.h>
#include <xen/memory.h>
#include <xen/sched.h>

#include "virtio-balloon.h"

#define PAGES_2M        (1ull << PAGE_ORDER_2M)
#define STAT_BYTES      10      /* le16 tag, le64 value, packed */

enum vb_queue { VQ_INFLATE, VQ_DEFLATE, VQ_STATS, VQ_REPORT, VQ_NONE };

static struct vballoon *of(struct vmmio_dev *v)
{
    return v->priv;
}

/* Queue qi's role: the queues present are numbered without gaps. */
static enum vb_queue role(const struct vballoon *b, unsigned int qi)
{
    uint64_t f = vmmio_features(&b->dev);

    if ( qi < 2 )
        return qi == 0 ? VQ_INFLATE : VQ_DEFLATE;
    if ( qi == 2 && (f & VIRTIO_BALLOON_F_STATS_VQ) )
        return VQ_STATS;
    if ( qi == 2 + !!(f & VIRTIO_BALLOON_F_STATS_VQ) &&
         (f & VIRTIO_BALLOON_F_REPORTING) )
        return VQ_REPORT;
    return VQ_NONE;
}

static unsigned int vb_nr_queues(struct vmmio_dev *v, uint64_t f)
{
    return 2 + !!(f & VIRTIO_BALLOON_F_STATS_VQ) +
           !!(f & VIRTIO_BALLOON_F_REPORTING);
}

/* --- config space: le32 num_pages, actual, free_page_hint_cmd_id (0:
 * FREE_PAGE_HINT is not offered), poison_val; the transport keeps an
 * access inside the space, not inside one field: taken byte by byte --- */

static uint32_t *cfg_field(struct vballoon *b, uint32_t off)
{
    switch ( off / 4 )
    {
    case VBALLOON_CFG_NUM_PAGES / 4: return &b->num_pages;
    case VBALLOON_CFG_ACTUAL / 4:    return &b->actual;
    case VBALLOON_CFG_POISON / 4:    return &b->poison;
    default:                         return NULL;
    }
}

static uint32_t vb_config_read(struct vmmio_dev *v, uint32_t off,
                               unsigned int bytes)
{
    struct vballoon *b = of(v);
    uint32_t val = 0;
    unsigned int i;

    for ( i = 0; i < bytes; i++ )
    {
        const uint32_t *f = cfg_field(b, off + i);

        if ( f )
            val |= ((*f >> ((off + i) % 4 * 8)) & 0xff) << (i * 8);
    }
    return val;
}

/* actual and poison_val are the driver's; writes elsewhere are ignored. */
static void vb_config_write(struct vmmio_dev *v, uint32_t off,
                            unsigned int bytes, uint32_t val)
{
    struct vballoon *b = of(v);
    unsigned int i;

    for ( i = 0; i < bytes; i++ )
    {
        uint32_t *f = cfg_field(b, off + i);
        unsigned int sh = (off + i) % 4 * 8;

        if ( f == &b->actual || f == &b->poison )
            *f = (*f & ~(0xffu << sh)) | (((val >> (i * 8)) & 0xff) << sh);
    }
}

/* --- requests --- */

/* The request is refused whole: nothing was done. */
static int refused(struct vballoon *b, const char *why)
{
    b->c.refused++;
    b->c.why = why;
    return 0;
}

static void host_error(struct vballoon *b, const char *why, int rc)
{
    b->c.host_errors++;
    b->c.why = why;
    b->c.host_rc = rc;
}

/* Is [gfn, gfn + nr) inside one RAM range? */
static bool in_ram(const struct vballoon *b, uint64_t gfn, uint64_t nr)
{
    unsigned int i;

    for ( i = 0; i < b->nr_ram; i++ )
        if ( gfn >= b->ram[i].gfn && nr <= b->ram[i].nr &&
             gfn - b->ram[i].gfn <= b->ram[i].nr - nr )
            return true;
    return false;
}

static void sift_down(uint64_t *a, size_t i, size_t n)
{
    for ( ;; )
    {
        size_t c = 2 * i + 1;
        uint64_t t;

        if ( c >= n )
            return;
        if ( c + 1 < n && a[c + 1] > a[c] )
            c++;
        if ( a[i] >= a[c] )
            return;
        t = a[i], a[i] = a[c], a[c] = t;
        i = c;
    }
}

/* Sort a[0..n) (heapsort: no recursion, no allocation). */
static void sort_u64(uint64_t *a, size_t n)
{
    size_t i;

    for ( i = n / 2; i-- > 0; )
        sift_down(a, i, n);
    for ( i = n; i-- > 1; )
    {
        uint64_t t = a[0];

        a[0] = a[i], a[i] = t;
        sift_down(a, 0, i);
    }
}

static bool has_duplicate(const uint64_t *a, size_t n)
{
    size_t i;

    for ( i = 1; i < n; i++ )
        if ( a[i] == a[i - 1] )
            return true;
    return false;
}

/* Copy the chain's device-readable bytes (total checked) into b->raw. */
static int read_chain(struct vballoon *b, const struct virtq_chain *c,
                      const char **why)
{
    uint8_t *p = (uint8_t *)b->raw;
    unsigned int i;

    for ( i = 0; i < c->n; p += c->buf[i].len, i++ )
        if ( b->dev.mem.read(b->dev.mem.ctx, c->buf[i].gpa, p,
                             c->buf[i].len) )
        {
            *why = "balloon: request buffer no longer guest RAM";
            return -EFAULT;
        }
    return 0;
}

/* The length of the run of consecutive gfns at b->gfns[i] (sorted). */
static unsigned int run_at(const struct vballoon *b, unsigned int i,
                           unsigned int n)
{
    unsigned int j = i + 1;

    while ( j < n && b->gfns[j] == b->gfns[j - 1] + 1 )
        j++;
    return j - i;
}

/* Deflated pages are PoD entries: let the cache grow into them. */
static void refresh_target(struct vballoon *b)
{
    /* -ENOMEM (the host is short) is no error of the request: the cache
     * holds what it could get and a vCPU that outruns it pauses. */
    if ( b->target )
        b->ops->set_pod_target(b, b->target);
}

static void inflate_pfns(struct vballoon *b, unsigned int n)
{
    unsigned int i, len;

    for ( i = 0; i < n; i += len )
    {
        uint64_t pages = 0;
        int rc;

        len = run_at(b, i, n);
        rc = b->ops->release(b, b->gfns[i], len, &pages);
        b->c.inflated += pages;
        if ( rc )
        {
            host_error(b, "balloon: inflate stopped by a host failure", rc);
            return;
        }
    }
}

/* Only ballooned pages change; the others are the guest's already. */
static void deflate_pfns(struct vballoon *b, unsigned int n)
{
    unsigned int i, m = 0, len;

    for ( i = 0; i < n; i++ )
        if ( b->ops->ballooned(b, b->gfns[i]) )
            b->gfns[m++] = b->gfns[i];
    for ( i = 0; i < m; i += len )
    {
        int rc;

        len = run_at(b, i, m);
        rc = b->ops->reclaim(b, b->gfns[i], len);
        if ( rc )
        {
            host_error(b, "balloon: deflate stopped by a host failure", rc);
            break;
        }
        b->c.deflated += len;
    }
    if ( m )
        refresh_target(b);
}

/*
 * Inflate or deflate: c holds le32 PFNs.  Validated whole (readable,
 * whole PFNs, at most VBALLOON_PFNS_MAX, in RAM, no PFN twice) into
 * b->gfns, sorted; then done in runs of consecutive pages.
 */
static int pfn_request(struct vballoon *b, const struct virtq_chain *c,
                       bool deflate, const char **why)
{
    unsigned int i, n = c->total / 4;
    int rc;

    for ( i = 0; i < c->n; i++ )
        if ( c->buf[i].write )
            return refused(b, "balloon: PFN buffer is device-writable");
    if ( c->total % 4 )
        return refused(b, "balloon: PFN buffer not a whole number of le32");
    if ( n > VBALLOON_PFNS_MAX )
        return refused(b, "balloon: too many PFNs in one request");
    rc = read_chain(b, c, why);
    if ( rc )
        return rc;
    for ( i = 0; i < n; i++ )
    {
        b->gfns[i] = b->raw[i];
        if ( !in_ram(b, b->gfns[i], 1) )
            return refused(b, "balloon: PFN outside guest RAM");
    }
    sort_u64(b->gfns, n);
    if ( has_duplicate(b->gfns, n) )
        return refused(b, "balloon: the same PFN twice in one request");
    if ( deflate )
        deflate_pfns(b, n);
    else
        inflate_pfns(b, n);
    return 0;
}

/*
 * Free page reporting: each buffer a 2 MiB-aligned run of 2 MiB blocks,
 * at most VBALLOON_REPORT_MAX blocks, in RAM, none twice, none holding a
 * ballooned page; then each block becomes one 2M PoD entry.
 */
static int report_request(struct vballoon *b, const struct virtq_chain *c)
{
    const uint64_t mask = (PAGES_2M << PAGE_SHIFT) - 1;
    unsigned int i, n = 0;
    int rc;

    for ( i = 0; i < c->n; i++ )
    {
        uint64_t g = c->buf[i].gpa >> PAGE_SHIFT;
        uint64_t nr = c->buf[i].len >> PAGE_SHIFT, end = g + nr;

        if ( (c->buf[i].gpa | c->buf[i].len) & mask )
            return refused(b, "balloon: reported range not 2 MiB-aligned");
        if ( nr / PAGES_2M > VBALLOON_REPORT_MAX - n )
            return refused(b, "balloon: too many 2 MiB blocks in one report");
        if ( !in_ram(b, g, nr) )
            return refused(b, "balloon: reported range outside guest RAM");
        for ( ; g < end; g += PAGES_2M )
            b->gfns[n++] = g;
    }
    sort_u64(b->gfns, n);
    if ( has_duplicate(b->gfns, n) )
        return refused(b, "balloon: a 2 MiB block reported twice");
    for ( i = 0; i < n; i++ )
    {
        rc = b->ops->report_check(b, b->gfns[i]);
        if ( rc < 0 )
            return refused(b, "balloon: reported range holds a ballooned "
                              "page or no RAM");
        b->raw[i] = rc;         /* 1: one PoD entry already */
    }
    b->c.reported_2m += n;
    if ( (vmmio_features(&b->dev) & VIRTIO_BALLOON_F_PAGE_POISON) &&
         b->poison )
        return 0;               /* PoD would hand back zeros: keep them */
    for ( i = 0; i < n; i++ )
    {
        if ( b->raw[i] )
            continue;
        rc = b->ops->report_2m(b, b->gfns[i]);
        if ( rc )
        {
            host_error(b, "balloon: report stopped by a host failure", rc);
            break;
        }
        b->c.restored_2m++;
    }
    refresh_target(b);
    return 0;
}

/* Stats: whole (tag, value) records.  1: keep the buffer; 0: refused. */
static int stats_request(struct vballoon *b, const struct virtq_chain *c,
                         const char **why)
{
    const uint8_t *p = (const uint8_t *)b->raw;
    unsigned int i, n = c->total / STAT_BYTES;
    int rc;

    for ( i = 0; i < c->n; i++ )
        if ( c->buf[i].write )
            return refused(b, "balloon: stats buffer is device-writable");
    if ( c->total % STAT_BYTES )
        return refused(b, "balloon: stats buffer not whole records");
    if ( n > VBALLOON_STATS_MAX )
        return refused(b, "balloon: too many stats records");
    rc = read_chain(b, c, why);
    if ( rc )
        return rc;
    b->stats.valid = 0;
    for ( i = 0; i < n; i++, p += STAT_BYTES )
    {
        uint16_t tag;
        uint64_t val;

        memcpy(&tag, p, sizeof(tag));
        memcpy(&val, p + 2, sizeof(val));
        if ( tag >= VBALLOON_STAT_TAGS )
            continue;           /* a tag we do not know: ignored */
        b->stats.val[tag] = val;
        b->stats.valid |= 1u << tag;
    }
    b->stats.sets++;
    return 1;
}

static int give_back(struct vballoon *b, unsigned int qi, uint16_t head,
                     const char **why)
{
    if ( !vmmio_push(&b->dev, qi, head, 0) )
        return 0;
    *why = "balloon: used ring no longer guest RAM";
    return -EFAULT;
}

/* The stats buffer is held until the toolstack asks for fresh stats. */
static int stats_chain(struct vballoon *b, unsigned int qi, const char **why)
{
    uint16_t head = b->chain.head;
    int rc = stats_request(b, &b->chain, why);

    if ( rc <= 0 )
        return rc < 0 ? rc : give_back(b, qi, head, why);
    /* A second buffer while one is held (not Linux): the old goes back. */
    if ( b->stats_held && (rc = give_back(b, qi, b->stats_head, why)) )
        return rc;
    b->stats_held = true;
    b->stats_head = head;
    return 0;
}

static int serve_chain(struct vballoon *b, unsigned int qi, const char **why)
{
    int rc = 0;

    switch ( role(b, qi) )
    {
    case VQ_INFLATE:
        b->c.inflate_reqs++;
        rc = pfn_request(b, &b->chain, false, why);
        break;
    case VQ_DEFLATE:
        b->c.deflate_reqs++;
        rc = pfn_request(b, &b->chain, true, why);
        break;
    case VQ_REPORT:
        b->c.report_reqs++;
        rc = report_request(b, &b->chain);
        break;
    case VQ_STATS:
        return stats_chain(b, qi, why);
    case VQ_NONE:
        break;
    }
    return rc ? rc : give_back(b, qi, b->chain.head, why);
}

static int vb_notify(struct vmmio_dev *v, unsigned int qi, const char **why)
{
    struct vballoon *b = of(v);
    int rc;

    while ( (rc = vmmio_pop(v, qi, &b->chain, why)) > 0 )
        if ( (rc = serve_chain(b, qi, why)) < 0 )
            return rc;
    return rc;
}

/* A reset forgets the held stats buffer and the driver's actual; pages
 * ballooned before it stay ballooned (a new driver starts empty). */
static void vb_reset(struct vmmio_dev *v)
{
    struct vballoon *b = of(v);

    b->stats_held = false;
    b->actual = 0;
    b->poison = 0;
}

static const struct vmmio_dev_ops vb_dev_ops = {
    .device_id = VIRTIO_ID_BALLOON,
    .features = VIRTIO_BALLOON_F_STATS_VQ | VIRTIO_BALLOON_F_DEFLATE_ON_OOM |
                VIRTIO_BALLOON_F_PAGE_POISON | VIRTIO_BALLOON_F_REPORTING,
    .config_size = VBALLOON_CFG_SIZE,
    .nr_queues = vb_nr_queues,
    .config_read = vb_config_read,
    .config_write = vb_config_write,
    .notify = vb_notify,
    .reset = vb_reset,
};

/* --- the default memory effects: the real memory operations --- */

static int def_release(struct vballoon *b, uint64_t gfn, uint64_t nr,
                       uint64_t *pages)
{
    struct memop_range r = { _gfn(gfn), nr, PAGE_ORDER_4K, 0, 0, 0 };
    int rc;

    do
        rc = memory_decrease_reservation_op(b->d, &r);
    while ( rc == -ERESTART );
    *pages = r.pages;
    return rc;
}

static int def_reclaim(struct vballoon *b, uint64_t gfn, uint64_t nr)
{
    return p2m_pod_mark(b->d, _gfn(gfn), nr);
}

static bool def_ballooned(struct vballoon *b, uint64_t gfn)
{
    struct p2m_lookup l;

    return !p2m_get_entry(&b->d->p2m, _gfn(gfn), &l) &&
           l.type == p2m_invalid;
}

/* Walk the block a leaf at a time. */
static int def_report_check(struct vballoon *b, uint64_t gfn)
{
    uint64_t g = gfn;
    struct p2m_lookup l;

    while ( g < gfn + PAGES_2M )
    {
        if ( p2m_get_entry(&b->d->p2m, _gfn(g), &l) )
            return -EBUSY;
        if ( l.type == p2m_populate_on_demand && l.order >= PAGE_ORDER_2M )
            return 1;           /* g == gfn: the leaf covers the block */
        if ( l.type != p2m_populate_on_demand && !p2m_type_is_ram(l.type) )
            return -EBUSY;
        g = (g | ((1ull << l.order) - 1)) + 1;
    }
    return 0;
}

/*
 * Release the block's pages (a 2M leaf goes back as one 2M chunk, to the
 * PoD cache while entries need it, else to the heap), then mark it PoD:
 * the release left an empty L2 slot or an empty L1 table there (a 1G
 * leaf was split by the release), so the mark writes one 2M entry and
 * needs no table page.
 */
static int def_report_2m(struct vballoon *b, uint64_t gfn)
{
    struct memop_range r = { _gfn(gfn), 1, PAGE_ORDER_2M, 0, 0, 0 };
    int rc;

    do
        rc = memory_decrease_reservation_op(b->d, &r);
    while ( rc == -ERESTART );
    return rc ? rc : p2m_pod_mark(b->d, _gfn(gfn), PAGES_2M);
}

static int def_set_pod_target(struct vballoon *b, uint64_t pages)
{
    return memory_set_pod_target(b->d, pages);
}

const struct vballoon_ops vballoon_default_ops = {
    .release = def_release,
    .reclaim = def_reclaim,
    .ballooned = def_ballooned,
    .report_check = def_report_check,
    .report_2m = def_report_2m,
    .set_pod_target = def_set_pod_target,
};

/* --- the owner's and the toolstack's calls --- */

static bool ranges_ok(const struct vballoon_ram *ram, unsigned int nr)
{
    unsigned int i, j;

    if ( nr > VBALLOON_RAM_RANGES )
        return false;
    for ( i = 0; i < nr; i++ )
    {
        if ( !ram[i].nr || ram[i].gfn >= P2M_MAX_GFN ||
             ram[i].nr > P2M_MAX_GFN - ram[i].gfn )
            return false;
        for ( j = 0; j < i; j++ )
            if ( ram[i].gfn < ram[j].gfn + ram[j].nr &&
                 ram[j].gfn < ram[i].gfn + ram[i].nr )
                return false;
    }
    return true;
}

int vballoon_init(struct vballoon *b, struct domain *d,
                  const struct virtq_mem *mem, const struct vballoon_ram *ram,
                  unsigned int nr_ram, const struct vballoon_ops *ops,
                  void (*irq)(void *ctx, bool level), void *irq_ctx)
{
    unsigned int i;

    if ( !ranges_ok(ram, nr_ram) )
        return -EINVAL;
    memset(b, 0, sizeof(*b));
    b->d = d;
    b->ops = ops ? ops : &vballoon_default_ops;
    b->nr_ram = nr_ram;
    for ( i = 0; i < nr_ram; i++ )
    {
        b->ram[i] = ram[i];
        b->ram_pages += ram[i].nr;
    }
    vmmio_init(&b->dev, &vb_dev_ops, b, mem, irq, irq_ctx);
    return 0;
}

int vballoon_set_target(struct vballoon *b, uint64_t pages)
{
    uint64_t want;
    int rc;

    if ( pages > b->d->max_pages )
        return -EINVAL;
    rc = b->ops->set_pod_target(b, pages);
    b->target = pages;
    want = MIN(b->d->max_pages - pages, b->ram_pages);
    want = MIN(want, 0xffffffffull);
    if ( want != b->num_pages )
    {
        b->num_pages = want;
        vmmio_config_changed(&b->dev);
    }
    return rc;
}

uint64_t vballoon_num_pages(const struct vballoon *b)
{
    return b->num_pages;
}

uint64_t vballoon_actual(const struct vballoon *b)
{
    return b->actual;
}

bool vballoon_at_target(const struct vballoon *b)
{
    return b->actual == b->num_pages;
}

void vballoon_get_stats(const struct vballoon *b, struct vballoon_stats *s)
{
    *s = b->stats;
}

int vballoon_request_stats(struct vballoon *b)
{
    const char *why;
    unsigned int qi = 2;        /* statsq, when it exists */
    int rc;

    if ( !b->stats_held || role(b, qi) != VQ_STATS )
        return -EAGAIN;
    rc = give_back(b, qi, b->stats_head, &why);
    if ( !rc )
        b->stats_held = false;
    return rc;
}

void vballoon_get_counters(const struct vballoon *b,
                           struct vballoon_counters *c)
{
    *c = b->c;
}

/*
 * virtio-balloon (xen/arch/x86/hvm/virtio-balloon.c) driven like Linux 6.1
 * drives it, through vmmio_read/vmmio_write only, with its rings in a fake
 * guest memory and its memory effects on a real hosted PoD domain: the
 * P2M, the PoD accounting, the heap and the audit are checked after each
 * request.  Inflate, deflate, free page reporting back into 2M PoD
 * entries, stats, the target in config space, and the requests refused
 * whole (nothing changed).  Both formats.
 */
#include "env.h"
#include "podenv.h"

#include <string.h>

#include "../../xen/arch/x86/hvm/virtio-balloon.h"

#define MACHINE     "0-8G"
#define RAM0_NR     GIB_FRAMES                  /* RAM [0, 1G) */
#define RAM1_GFN    0x100000ull                 /* and [4G, 4G + 128M) */
#define RAM1_NR     0x8000ull
#define MAX_PAGES   (RAM0_NR + RAM1_NR)
#define TARGET      0x10000ull                  /* 256 MiB */

/* The fake guest memory for rings and request buffers: [0, 256 KiB). */
#define RING_RAM    0x40000u
#define QSZ         64
#define QBASE(q)    (0x1000u + (q) * 0x4000u)   /* desc; avail +0x1000, */
#define BUF_GPA     0x20000u                    /* used +0x2000 */
#define FIRST_FREE  0x100ull    /* gfns below hold the fake rings */

#define Q_INFLATE   0
#define Q_DEFLATE   1
#define Q_STATS     2
#define Q_REPORT    3
#define ALL_F       (VIRTIO_F_VERSION_1 | VIRTIO_BALLOON_F_STATS_VQ | \
                     VIRTIO_BALLOON_F_REPORTING)

static uint8_t ring_ram[RING_RAM];
static struct vballoon b;
static struct domain *d;
static unsigned int raises;
static bool line;

static const struct vballoon_ram ram_ranges[] = {
    { 0, RAM0_NR }, { RAM1_GFN, RAM1_NR },
};

/* Guest RAM as the owner's accessors see it: the RAM ranges and a
 * firmware area after RAM0 that the balloon is not given (report buffers
 * may lie anywhere in it); only the ring area holds bytes. */
#define FW_GFN      RAM0_NR
#define FW_NR       MIB2_FRAMES

static bool fake_is_ram(void *ctx, uint64_t gpa, uint64_t len)
{
    static const struct vballoon_ram owner_ram[] = {
        { 0, RAM0_NR + FW_NR }, { RAM1_GFN, RAM1_NR },
    };
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(owner_ram); i++ )
    {
        uint64_t s = owner_ram[i].gfn << PAGE_SHIFT;
        uint64_t e = (owner_ram[i].gfn + owner_ram[i].nr) << PAGE_SHIFT;

        if ( len && gpa >= s && gpa < e && len <= e - gpa )
            return true;
    }
    return false;
}

static int fake_read(void *ctx, uint64_t gpa, void *buf, uint32_t len)
{
    if ( gpa >= RING_RAM || len > RING_RAM - gpa )
        return -EFAULT;
    memcpy(buf, ring_ram + gpa, len);
    return 0;
}

static int fake_write(void *ctx, uint64_t gpa, const void *buf, uint32_t len)
{
    if ( gpa >= RING_RAM || len > RING_RAM - gpa )
        return -EFAULT;
    memcpy(ring_ram + gpa, buf, len);
    return 0;
}

static const struct virtq_mem mem = {
    .read = fake_read, .write = fake_write, .is_ram = fake_is_ram,
};

static void irq(void *ctx, bool level)
{
    assert_ptr_equal(ctx, &b);
    raises += level;
    line = level;
}

static uint32_t rd(uint32_t off)
{
    uint64_t v = ~0ull;

    assert_int_equal(vmmio_read(&b.dev, off, 4, &v), 0);
    return v;
}

static void wr(uint32_t off, uint32_t val)
{
    assert_int_equal(vmmio_write(&b.dev, off, 4, val), 0);
}

static struct pod_stats stats(void)
{
    return podenv_stats(d);
}

static uint64_t believed(void)
{
    struct pod_stats s = stats();

    return s.populated + s.entry_count;
}

/* --- the driver's side --- */

/* Linux's probe: negotiate f, create the queues f gives, DRIVER_OK. */
static void drv_probe(uint64_t f)
{
    unsigned int q, nq = 2 + !!(f & VIRTIO_BALLOON_F_STATS_VQ) +
                         !!(f & VIRTIO_BALLOON_F_REPORTING);

    assert_int_equal(rd(VMMIO_REG_MAGIC), VMMIO_MAGIC);
    assert_int_equal(rd(VMMIO_REG_VERSION), 2);
    assert_int_equal(rd(VMMIO_REG_DEVICE_ID), VIRTIO_ID_BALLOON);
    wr(VMMIO_REG_STATUS, 0);
    wr(VMMIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(VMMIO_REG_DRV_FEAT_SEL, 1);
    wr(VMMIO_REG_DRV_FEATURES, f >> 32);
    wr(VMMIO_REG_DRV_FEAT_SEL, 0);
    wr(VMMIO_REG_DRV_FEATURES, (uint32_t)f);
    wr(VMMIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                         VIRTIO_STATUS_FEATURES_OK);
    assert_true(rd(VMMIO_REG_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    memset(ring_ram, 0, sizeof(ring_ram));
    for ( q = 0; q < nq; q++ )
    {
        wr(VMMIO_REG_QUEUE_SEL, q);
        assert_int_equal(rd(VMMIO_REG_QUEUE_READY), 0);
        assert_true(rd(VMMIO_REG_QUEUE_NUM_MAX) >= QSZ);
        wr(VMMIO_REG_QUEUE_NUM, QSZ);
        wr(VMMIO_REG_QUEUE_DESC_LO, QBASE(q));
        wr(VMMIO_REG_QUEUE_DESC_HI, 0);
        wr(VMMIO_REG_QUEUE_DRV_LO, QBASE(q) + 0x1000);
        wr(VMMIO_REG_QUEUE_DRV_HI, 0);
        wr(VMMIO_REG_QUEUE_DEV_LO, QBASE(q) + 0x2000);
        wr(VMMIO_REG_QUEUE_DEV_HI, 0);
        wr(VMMIO_REG_QUEUE_READY, 1);
    }
    wr(VMMIO_REG_QUEUE_SEL, nq);
    assert_int_equal(rd(VMMIO_REG_QUEUE_NUM_MAX), 0);   /* no more */
}

static void drv_ok(void)
{
    wr(VMMIO_REG_STATUS, rd(VMMIO_REG_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

static uint16_t used_idx(unsigned int q)
{
    uint16_t i;

    memcpy(&i, ring_ram + QBASE(q) + 0x2000 + 2, 2);
    return i;
}

struct dbuf { uint64_t gpa; uint32_t len; uint16_t flags; };

/* Offer one chain of n buffers on queue q (descriptors 0..n-1). */
static void drv_offer(unsigned int q, const struct dbuf *bufs, unsigned int n)
{
    uint8_t *avail = ring_ram + QBASE(q) + 0x1000;
    uint16_t idx, head = 0;
    unsigned int i;

    for ( i = 0; i < n; i++ )
    {
        uint8_t *e = ring_ram + QBASE(q) + 16 * i;
        uint16_t flags = bufs[i].flags | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        uint16_t next = i + 1;

        memcpy(e, &bufs[i].gpa, 8);
        memcpy(e + 8, &bufs[i].len, 4);
        memcpy(e + 12, &flags, 2);
        memcpy(e + 14, &next, 2);
    }
    memcpy(&idx, avail + 2, 2);
    memcpy(avail + 4 + 2 * (idx % QSZ), &head, 2);
    idx++;
    memcpy(avail + 2, &idx, 2);
}

/* Offer and kick; the device must take it and give it back. */
static void drv_send(unsigned int q, const struct dbuf *bufs, unsigned int n)
{
    uint16_t before = used_idx(q);

    drv_offer(q, bufs, n);
    wr(VMMIO_REG_QUEUE_NOTIFY, q);
    assert_int_equal(used_idx(q), (uint16_t)(before + 1));
    assert_true(line);
    wr(VMMIO_REG_INT_ACK, rd(VMMIO_REG_INT_STATUS));
    assert_false(line);
}

/* tell_host: the PFNs as le32 in one device-readable buffer. */
static void drv_pfns(unsigned int q, const uint32_t *pfns, unsigned int n)
{
    struct dbuf buf = { BUF_GPA, 4 * n, 0 };

    memcpy(ring_ram + BUF_GPA, pfns, 4 * n);
    drv_send(q, &buf, 1);
}

/* Report free blocks [gfn, gfn + pages) as Linux does: device-writable
 * sg entries, one per block. */
static void drv_report(const uint64_t *gfn, const uint64_t *pages,
                       unsigned int n)
{
    struct dbuf bufs[32];
    unsigned int i;

    for ( i = 0; i < n; i++ )
        bufs[i] = (struct dbuf){ gfn[i] << PAGE_SHIFT,
                                 pages[i] << PAGE_SHIFT, VIRTQ_DESC_F_WRITE };
    drv_send(Q_REPORT, bufs, n);
}

static void cfg_write_actual(uint32_t actual)
{
    assert_int_equal(vmmio_write(&b.dev, VMMIO_CONFIG + VBALLOON_CFG_ACTUAL,
                                 4, actual), 0);
}

/* --- the domain --- */

/* A PoD guest of MAX_PAGES over both RAM ranges, the balloon on it with
 * the target set and a driver probed with all features. */
static void start(void **state, uint64_t f)
{
    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), MAX_PAGES, 1);
    podenv_mark(d, 0, RAM0_NR);
    podenv_mark(d, RAM1_GFN, RAM1_NR);
    raises = 0;
    line = false;
    assert_int_equal(vballoon_init(&b, d, &mem, ram_ranges,
                                   ARRAY_SIZE(ram_ranges), NULL, irq, &b), 0);
    assert_int_equal(vballoon_set_target(&b, TARGET), 0);
    drv_probe(f);
    drv_ok();
    podenv_check(d, true);
}

static void finish(void)
{
    podenv_check(d, true);
    env_finish();
}

static void touch(uint64_t gfn, uint64_t val)
{
    podenv_write(&d->vcpu[0], gfn, 0, val);
}

/* --- the tests --- */

/* Config space, the target and its interrupt; queue numbering. */
static void test_target_and_config(void **state)
{
    uint64_t v;

    start(state, ALL_F);
    {
        static struct vballoon other;
        const struct vballoon_ram overlap[2] = { { 0, 0x1000 },
                                                 { 0xfff, 0x10 } };
        const struct vballoon_ram empty = { 0x1000, 0 };
        const struct vballoon_ram wraps = { P2M_MAX_GFN - 1, 2 };

        assert_int_equal(vballoon_init(&other, d, &mem, overlap, 2, NULL,
                                       NULL, NULL), -EINVAL);
        assert_int_equal(vballoon_init(&other, d, &mem, &empty, 1, NULL,
                                       NULL, NULL), -EINVAL);
        assert_int_equal(vballoon_init(&other, d, &mem, &wraps, 1, NULL,
                                       NULL, NULL), -EINVAL);
        assert_int_equal(vballoon_init(&other, d, &mem, ram_ranges,
                                       VBALLOON_RAM_RANGES + 1, NULL, NULL,
                                       NULL), -EINVAL);
        assert_int_equal(vballoon_init(&other, d, &mem, overlap, 1, NULL,
                                       NULL, NULL), 0);
        assert_int_equal(other.ram_pages, 0x1000);
        /* The balloon cannot take more than its RAM ranges. */
        assert_int_equal(vballoon_set_target(&other, TARGET), 0);
        assert_int_equal(vballoon_num_pages(&other), 0x1000);
    }
    assert_int_equal(vballoon_num_pages(&b), MAX_PAGES - TARGET);
    assert_int_equal(rd(VMMIO_CONFIG + VBALLOON_CFG_NUM_PAGES),
                     MAX_PAGES - TARGET);
    assert_int_equal(stats().target, TARGET);
    wr(VMMIO_REG_DEV_FEAT_SEL, 0);
    assert_int_equal(rd(VMMIO_REG_DEV_FEATURES),
                     VIRTIO_BALLOON_F_STATS_VQ |
                     VIRTIO_BALLOON_F_DEFLATE_ON_OOM |
                     VIRTIO_BALLOON_F_PAGE_POISON |
                     VIRTIO_BALLOON_F_REPORTING);
    /* The driver writes actual; num_pages is the device's. */
    cfg_write_actual(1234);
    assert_int_equal(vballoon_actual(&b), 1234);
    assert_int_equal(vmmio_read(&b.dev, VMMIO_CONFIG + VBALLOON_CFG_ACTUAL
                                + 2, 2, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(vmmio_write(&b.dev, VMMIO_CONFIG, 4, 7), 0);
    assert_int_equal(vballoon_num_pages(&b), MAX_PAGES - TARGET);
    assert_false(vballoon_at_target(&b));
    /* A new target: num_pages follows, generation and interrupt too. */
    raises = 0;
    v = rd(VMMIO_REG_CONFIG_GEN);
    assert_int_equal(vballoon_set_target(&b, 2 * TARGET), 0);
    assert_int_equal(rd(VMMIO_CONFIG), MAX_PAGES - 2 * TARGET);
    assert_int_equal(rd(VMMIO_REG_CONFIG_GEN), v + 1);
    assert_int_equal(rd(VMMIO_REG_INT_STATUS), VMMIO_INT_CONFIG);
    assert_int_equal(raises, 1);
    assert_int_equal(stats().target, 2 * TARGET);
    wr(VMMIO_REG_INT_ACK, VMMIO_INT_CONFIG);
    /* The same target again: no change, no interrupt. */
    assert_int_equal(vballoon_set_target(&b, 2 * TARGET), 0);
    assert_int_equal(raises, 1);
    assert_int_equal(vballoon_set_target(&b, MAX_PAGES + 1), -EINVAL);
    assert_int_equal(vballoon_num_pages(&b), MAX_PAGES - 2 * TARGET);
    cfg_write_actual(MAX_PAGES - 2 * TARGET - 1);
    assert_false(vballoon_at_target(&b));
    cfg_write_actual(MAX_PAGES - 2 * TARGET);
    assert_true(vballoon_at_target(&b));
    /* Without STATS_VQ the reporting queue is queue 2. */
    drv_probe(VIRTIO_F_VERSION_1 | VIRTIO_BALLOON_F_REPORTING);
    drv_ok();
    touch(RAM1_GFN, 1);
    {
        struct dbuf r = { RAM1_GFN << PAGE_SHIFT, MIB2_FRAMES << PAGE_SHIFT,
                          VIRTQ_DESC_F_WRITE };

        drv_send(2, &r, 1);
    }
    assert_int_equal(b.c.restored_2m, 1);
    podenv_expect_type(d, RAM1_GFN, p2m_populate_on_demand, PAGE_ORDER_2M);
    finish();
}

/*
 * Inflate: populated pages and PoD entries alike leave the guest; then
 * deflate makes them PoD entries again and the guest uses them.
 */
static void test_inflate_deflate(void **state)
{
    uint32_t pfns[256];
    unsigned int i;
    uint64_t b0, t0;

    start(state, ALL_F);
    for ( i = 0; i < 8; i++ )
        touch(0x1000 + i, 0x100 + i);           /* populated */
    b0 = believed();
    t0 = d->tot_pages;
    /* 8 populated, 120 PoD in the 1G-turned-2M entries, 128 in RAM1. */
    for ( i = 0; i < 128; i++ )
        pfns[i] = 0x1000 + i;
    for ( i = 0; i < 128; i++ )
        pfns[128 + i] = RAM1_GFN + 0x400 + 2 * i;
    drv_pfns(Q_INFLATE, pfns, 256);
    assert_int_equal(b.c.inflated, 256);
    assert_int_equal(b.c.refused, 0);
    assert_int_equal(believed(), b0 - 256);
    for ( i = 0; i < 256; i++ )
        podenv_expect_type(d, pfns[i], p2m_invalid, 0);
    assert_true(d->tot_pages <= t0);
    podenv_check(d, true);
    /* Inflating them again changes nothing and counts nothing. */
    drv_pfns(Q_INFLATE, pfns, 16);
    assert_int_equal(b.c.inflated, 256);
    assert_int_equal(believed(), b0 - 256);
    /* Deflate half, and two pages that were never ballooned. */
    for ( i = 0; i < 128; i++ )
        pfns[i] = 0x1000 + i;
    pfns[128] = 0x5000;
    pfns[129] = RAM1_GFN + 0x401;
    drv_pfns(Q_DEFLATE, pfns, 130);
    assert_int_equal(b.c.deflated, 128);
    assert_int_equal(believed(), b0 - 128);
    for ( i = 0; i < 128; i++ )
        podenv_expect_type(d, 0x1000 + i, p2m_populate_on_demand, 0);
    podenv_expect_type(d, RAM1_GFN + 0x400, p2m_invalid, 0);
    podenv_check(d, true);
    /* The guest gets zeroed pages there again (PoD fills). */
    for ( i = 0; i < 8; i++ )
    {
        assert_int_equal(podenv_read(&d->vcpu[0], 0x1000 + i, 0), 0);
        touch(0x1000 + i, 7);
    }
    podenv_expect_type(d, 0x1000, p2m_ram_rw, 0);
    assert_int_equal(b.c.inflate_reqs, 2);
    assert_int_equal(b.c.deflate_reqs, 1);
    finish();
}

/* Balloon to the target as Linux does: 256 PFNs a request from the top of
 * RAM, actual written after each; B ends at the target. */
static void test_balloon_to_target(void **state)
{
    uint32_t pfns[256];
    uint64_t done = 0, want, next = RAM1_GFN + RAM1_NR;
    unsigned int i, n;

    start(state, ALL_F);
    want = rd(VMMIO_CONFIG + VBALLOON_CFG_NUM_PAGES);
    assert_int_equal(want, MAX_PAGES - TARGET);
    while ( done < want )
    {
        n = MIN(256, want - done);
        for ( i = 0; i < n; i++ )
        {
            if ( next == RAM1_GFN )
                next = RAM0_NR;
            pfns[i] = --next;
        }
        drv_pfns(Q_INFLATE, pfns, n);
        done += n;
        cfg_write_actual(done);
    }
    assert_true(vballoon_at_target(&b));
    assert_int_equal(b.c.inflated, want);
    assert_int_equal(believed(), TARGET);
    assert_int_equal(stats().entry_count, TARGET);
    assert_int_equal(stats().count, TARGET);    /* the cache backs them */
    podenv_check(d, true);
    /* Up by 256 pages: the entries cap the cache until the driver
     * deflates; then the cache grows into them. */
    assert_int_equal(vballoon_set_target(&b, TARGET + 256), 0);
    assert_int_equal(stats().count, TARGET);
    want = rd(VMMIO_CONFIG + VBALLOON_CFG_NUM_PAGES);
    assert_int_equal(want, done - 256);
    for ( i = 0; i < 256; i++ )
        pfns[i] = next++;
    drv_pfns(Q_DEFLATE, pfns, 256);
    cfg_write_actual(want);
    assert_true(vballoon_at_target(&b));
    assert_int_equal(believed(), TARGET + 256);
    assert_int_equal(stats().count, TARGET + 256);
    podenv_check(d, true);
    finish();
}

/* Each bad request is refused whole: the P2M, the PoD accounting and
 * the heap are as before; the buffer is given back; the reason is kept. */
static void expect_refused_pfns(unsigned int q, const uint32_t *pfns,
                                unsigned int n, const char *what)
{
    struct env_snap s0 = { 0 }, s1 = { 0 };
    uint64_t refused = b.c.refused, b0 = believed();

    env_snap_take(d, &s0);
    drv_pfns(q, pfns, n);
    env_snap_take(d, &s1);
    env_snap_expect_equal(&s0, &s1, true);
    env_snap_free(&s0);
    env_snap_free(&s1);
    assert_int_equal(b.c.refused, refused + 1);
    assert_int_equal(believed(), b0);
    assert_non_null(b.c.why);
    assert_non_null(strstr(b.c.why, what));
}

static void test_pfn_refusals(void **state)
{
    static uint32_t pfns[VBALLOON_PFNS_MAX + 1];
    unsigned int i;
    struct dbuf buf = { BUF_GPA, 6, 0 };

    start(state, ALL_F);
    touch(0x2000, 1);
    for ( i = 0; i < ARRAY_SIZE(pfns); i++ )
        pfns[i] = 0x2000 + i;
    /* Good PFNs first, then one in the hole between the RAM ranges. */
    pfns[10] = RAM0_NR + 5;
    expect_refused_pfns(Q_INFLATE, pfns, 11, "outside guest RAM");
    pfns[10] = RAM1_GFN + RAM1_NR;              /* one past the end */
    expect_refused_pfns(Q_INFLATE, pfns, 11, "outside guest RAM");
    pfns[10] = 0x2000;                          /* a duplicate */
    expect_refused_pfns(Q_INFLATE, pfns, 11, "twice");
    pfns[10] = 0x2000 + 10;
    expect_refused_pfns(Q_INFLATE, pfns, VBALLOON_PFNS_MAX + 1, "too many");
    podenv_expect_type(d, 0x2000, p2m_ram_rw, PAGE_ORDER_2M);
    /* Deflate refuses the same way. */
    pfns[3] = 0xffffffffu;
    expect_refused_pfns(Q_DEFLATE, pfns, 4, "outside guest RAM");
    /* Not whole le32s; a device-writable buffer. */
    drv_send(Q_INFLATE, &buf, 1);
    assert_non_null(strstr(b.c.why, "whole number"));
    buf.len = 8;
    buf.flags = VIRTQ_DESC_F_WRITE;
    drv_send(Q_INFLATE, &buf, 1);
    assert_non_null(strstr(b.c.why, "device-writable"));
    assert_int_equal(b.c.refused, 7);
    assert_int_equal(b.c.inflated, 0);
    /* The largest request is fine. */
    pfns[3] = 0x2003;
    drv_pfns(Q_INFLATE, pfns, VBALLOON_PFNS_MAX);
    assert_int_equal(b.c.inflated, VBALLOON_PFNS_MAX);
    finish();
}

/* A broken ring crashes the domain (the transport says why); nothing is
 * done for the chain. */
static void test_broken_ring(void **state)
{
    uint32_t pfn = 0x3000;
    uint8_t *e = ring_ram + QBASE(Q_INFLATE);
    uint16_t flags = VIRTQ_DESC_F_NEXT, next = QSZ;
    struct dbuf buf = { BUF_GPA, 4, 0 };

    start(state, ALL_F);
    memcpy(ring_ram + BUF_GPA, &pfn, 4);
    drv_offer(Q_INFLATE, &buf, 1);
    memcpy(e + 12, &flags, 2);
    memcpy(e + 14, &next, 2);
    b.dev.why = NULL;
    assert_int_equal(vmmio_write(&b.dev, VMMIO_REG_QUEUE_NOTIFY, 4,
                                 Q_INFLATE), -EINVAL);
    assert_non_null(strstr(b.dev.why, "index beyond"));
    podenv_expect_type(d, 0x3000, p2m_populate_on_demand, PAGE_ORDER_1G);
    assert_int_equal(b.c.inflate_reqs, 0);
    /* A buffer outside guest RAM, too. */
    flags = 0;
    memcpy(e + 12, &flags, 2);
    buf.gpa = (FW_GFN + FW_NR) << PAGE_SHIFT;
    drv_offer(Q_INFLATE, &buf, 1);
    assert_int_equal(vmmio_write(&b.dev, VMMIO_REG_QUEUE_NOTIFY, 4,
                                 Q_INFLATE), -EFAULT);
    assert_non_null(strstr(b.dev.why, "outside guest RAM"));
    finish();
}

/*
 * Free page reporting: a block populated as one 2M leaf, a block of 4K
 * leaves and a block never touched, in one report of three sg entries.
 * The first two become 2M PoD entries with their frames returned (the 2M
 * leaf as one 2M chunk); the third was PoD already.
 */
static void test_report_restores_2m(void **state)
{
    uint64_t g2m = RAM1_GFN + 0x400, g4k = RAM1_GFN + 0x800;
    uint64_t gpod = RAM1_GFN + 0xc00, heap0, p0, e0, t0, c4k, c2m;
    uint64_t gfn[3] = { g2m, g4k, gpod }, pages[3] = { 512, 512, 512 };
    uint32_t pfn = g4k + 5;
    struct heap_stats h;
    uint64_t pod[POD_ORDERS];

    start(state, ALL_F);
    touch(g2m + 3, 1);
    podenv_expect_type(d, g2m, p2m_ram_rw, PAGE_ORDER_2M);
    /* 4K leaves: populate, balloon one page out and back, touch it. */
    touch(g4k, 1);
    drv_pfns(Q_INFLATE, &pfn, 1);
    drv_pfns(Q_DEFLATE, &pfn, 1);
    touch(g4k + 5, 1);
    podenv_expect_type(d, g4k, p2m_ram_rw, 0);
    podenv_expect_type(d, g4k + 5, p2m_ram_rw, 0);
    podenv_expect_type(d, gpod, p2m_populate_on_demand, PAGE_ORDER_2M);
    p0 = stats().populated;
    e0 = stats().entry_count;
    c4k = stats().cache_chunks[POD_4K];
    c2m = stats().cache_chunks[POD_2M];
    t0 = d->tot_pages;
    heap_get_stats(&h);
    heap0 = h.free_pages;
    drv_report(gfn, pages, 3);
    assert_int_equal(b.c.reported_2m, 3);
    assert_int_equal(b.c.restored_2m, 2);
    assert_int_equal(b.c.refused, 0);
    podenv_expect_type(d, g2m, p2m_populate_on_demand, PAGE_ORDER_2M);
    podenv_expect_type(d, g4k, p2m_populate_on_demand, PAGE_ORDER_2M);
    podenv_expect_type(d, gpod, p2m_populate_on_demand, PAGE_ORDER_2M);
    assert_int_equal(stats().populated, p0 - 1024);
    assert_int_equal(stats().entry_count, e0 + 1024);
    /* The target keeps T: the frames went to the cache, the 2M leaf as
     * one 2M chunk; the heap gave nothing. */
    assert_int_equal(d->tot_pages, t0);
    heap_get_stats(&h);
    assert_int_equal(h.free_pages, heap0);
    assert_int_equal(stats().cache_chunks[POD_2M], c2m + 1);
    assert_int_equal(stats().cache_chunks[POD_4K], c4k + 512);
    podenv_count_pod(d, pod);
    assert_true(pod[POD_2M] >= RAM1_NR / 512);
    podenv_check(d, true);
    /* Touching a reported block fills it again as one 2M leaf, zeroed. */
    assert_int_equal(podenv_read(&d->vcpu[0], g2m + 3, 0), 0);
    podenv_expect_type(d, g2m, p2m_ram_rw, PAGE_ORDER_2M);
    finish();
}

/*
 * PAGE_POISON: the driver says what its free pages hold (poison_val at
 * config offset 12, 0 with init_on_free).  A PoD entry reads as zeros, so
 * with another value a report is only counted and the blocks stay as
 * they are; with 0 they are restored.  free_page_hint_cmd_id reads 0 and
 * ignores writes, and num_pages stays the device's.
 */
static void test_report_keeps_poisoned_blocks(void **state)
{
    uint64_t g = RAM1_GFN + 0x400, pages = 512;
    uint64_t v;

    start(state, ALL_F | VIRTIO_BALLOON_F_PAGE_POISON);
    assert_int_equal(vmmio_write(&b.dev, VMMIO_CONFIG + VBALLOON_CFG_POISON,
                                 4, 0xaaaaaaaa), 0);
    assert_int_equal(rd(VMMIO_CONFIG + VBALLOON_CFG_POISON), 0xaaaaaaaa);
    assert_int_equal(vmmio_write(&b.dev, VMMIO_CONFIG + VBALLOON_CFG_POISON
                                 + 2, 1, 0x55), 0);
    assert_int_equal(rd(VMMIO_CONFIG + VBALLOON_CFG_POISON), 0xaa55aaaa);
    assert_int_equal(vmmio_read(&b.dev, VMMIO_CONFIG + VBALLOON_CFG_POISON
                                + 2, 2, &v), 0);
    assert_int_equal(v, 0xaa55);
    assert_int_equal(vmmio_write(&b.dev, VMMIO_CONFIG + VBALLOON_CFG_HINT_ID,
                                 4, 9), 0);
    assert_int_equal(rd(VMMIO_CONFIG + VBALLOON_CFG_HINT_ID), 0);
    assert_int_equal(rd(VMMIO_CONFIG + VBALLOON_CFG_NUM_PAGES),
                     MAX_PAGES - TARGET);
    touch(g + 3, 7);
    podenv_expect_type(d, g, p2m_ram_rw, PAGE_ORDER_2M);
    drv_report(&g, &pages, 1);
    assert_int_equal(b.c.reported_2m, 1);
    assert_int_equal(b.c.restored_2m, 0);
    assert_int_equal(b.c.refused, 0);
    podenv_expect_type(d, g, p2m_ram_rw, PAGE_ORDER_2M);
    assert_int_equal(podenv_read(&d->vcpu[0], g + 3, 0), 7);
    /* poison_val 0: the same report restores the block. */
    assert_int_equal(vmmio_write(&b.dev, VMMIO_CONFIG + VBALLOON_CFG_POISON,
                                 4, 0), 0);
    drv_report(&g, &pages, 1);
    assert_int_equal(b.c.reported_2m, 2);
    assert_int_equal(b.c.restored_2m, 1);
    podenv_expect_type(d, g, p2m_populate_on_demand, PAGE_ORDER_2M);
    assert_int_equal(podenv_read(&d->vcpu[0], g + 3, 0), 0);
    finish();
}

/* With the target below what the guest holds, reported frames go back
 * to the host: T drops and the heap gets them back. */
static void test_report_returns_to_heap(void **state)
{
    uint64_t g = RAM1_GFN + 0x1000, pages = 512, heap0, t0;
    struct heap_stats h;

    start(state, ALL_F);
    touch(g, 1);
    touch(g + 512, 1);
    podenv_expect_type(d, g, p2m_ram_rw, PAGE_ORDER_2M);
    assert_int_equal(vballoon_set_target(&b, 512), 0);  /* P is 1024 */
    assert_int_equal(stats().count, 0);
    t0 = d->tot_pages;
    assert_int_equal(t0, 1024);
    heap_get_stats(&h);
    heap0 = h.free_pages;
    drv_report(&g, &pages, 1);
    assert_int_equal(b.c.restored_2m, 1);
    podenv_expect_type(d, g, p2m_populate_on_demand, PAGE_ORDER_2M);
    assert_int_equal(d->tot_pages, t0 - 512);
    assert_int_equal(stats().count, 0);
    heap_get_stats(&h);
    assert_int_equal(h.free_pages, heap0 + 512);
    podenv_check(d, true);
    finish();
}

static void expect_refused_report(const struct dbuf *bufs, unsigned int n,
                                  const char *what)
{
    struct env_snap s0 = { 0 }, s1 = { 0 };
    uint64_t refused = b.c.refused, reported = b.c.reported_2m;

    env_snap_take(d, &s0);
    drv_send(Q_REPORT, bufs, n);
    env_snap_take(d, &s1);
    env_snap_expect_equal(&s0, &s1, true);
    env_snap_free(&s0);
    env_snap_free(&s1);
    assert_int_equal(b.c.refused, refused + 1);
    assert_int_equal(b.c.reported_2m, reported);
    assert_non_null(strstr(b.c.why, what));
}

static void test_report_refusals(void **state)
{
    const uint64_t M2 = 2ull << 20, base = RAM1_GFN << PAGE_SHIFT;
    const uint16_t W = VIRTQ_DESC_F_WRITE;
    uint32_t pfn = RAM1_GFN + 0x2005;
    struct dbuf bufs[3] = {
        { base, M2, W }, { base + 2 * M2, M2, W }, { 0, 0, W },
    };

    start(state, ALL_F);
    touch(RAM1_GFN, 1);
    touch(RAM1_GFN + 0x400, 1);
    /* A good block first, then a bad one: nothing done for either. */
    bufs[1].gpa = base + 4096;
    expect_refused_report(bufs, 2, "not 2 MiB-aligned");
    bufs[1].gpa = base + 2 * M2;
    bufs[1].len = M2 + 4096;
    expect_refused_report(bufs, 2, "not 2 MiB-aligned");
    bufs[1].len = 2 * M2;
    bufs[1].gpa = FW_GFN << PAGE_SHIFT;     /* RAM, not the balloon's */
    bufs[1].len = M2;
    expect_refused_report(bufs, 2, "outside guest RAM");
    bufs[1].gpa = (FW_GFN - MIB2_FRAMES) << PAGE_SHIFT;     /* straddles */
    bufs[1].len = 2 * M2;
    expect_refused_report(bufs, 2, "outside guest RAM");
    bufs[1].gpa = base;                                 /* twice */
    expect_refused_report(bufs, 2, "twice");
    bufs[1] = (struct dbuf){ base, 4 * M2, W };         /* overlapping */
    expect_refused_report(bufs, 2, "twice");
    /* A block holding a ballooned page. */
    drv_pfns(Q_INFLATE, &pfn, 1);
    bufs[1] = (struct dbuf){ (uint64_t)(pfn & ~511u) << PAGE_SHIFT, M2, W };
    expect_refused_report(bufs, 2, "ballooned");
    /* More blocks than one report may hold. */
    bufs[1] = (struct dbuf){ 0, (VBALLOON_REPORT_MAX) * M2, W };
    expect_refused_report(bufs, 2, "too many");
    touch(0x400, 1);
    podenv_expect_type(d, 0x400, p2m_ram_rw, PAGE_ORDER_2M);
    bufs[0] = (struct dbuf){ 0, (VBALLOON_REPORT_MAX) * M2, W };
    drv_send(Q_REPORT, bufs, 1);        /* exactly the most: taken */
    assert_int_equal(b.c.reported_2m, VBALLOON_REPORT_MAX);
    assert_int_equal(b.c.restored_2m, 1);
    podenv_expect_type(d, 0x400, p2m_populate_on_demand, PAGE_ORDER_2M);
    finish();
}

/* Stats: the buffer Linux offers before DRIVER_OK is read then, held,
 * and given back when fresh stats are asked for. */
static void test_stats(void **state)
{
    uint8_t rec[3][10];
    uint16_t tag;
    uint64_t val;
    struct vballoon_stats s;
    struct dbuf buf = { BUF_GPA, sizeof(rec), 0 };
    unsigned int i;

    env_machine(MACHINE);
    d = podenv_domain(1, ENV_FMT(state), MAX_PAGES, 1);
    podenv_mark(d, 0, RAM0_NR);
    podenv_mark(d, RAM1_GFN, RAM1_NR);
    assert_int_equal(vballoon_init(&b, d, &mem, ram_ranges,
                                   ARRAY_SIZE(ram_ranges), NULL, irq, &b), 0);
    assert_int_equal(vballoon_request_stats(&b), -EAGAIN);
    drv_probe(ALL_F);
    for ( i = 0; i < 3; i++ )
    {
        static const uint16_t tags[3] = { VIRTIO_BALLOON_S_MEMFREE,
                                          VIRTIO_BALLOON_S_MEMTOT, 99 };

        tag = tags[i];
        val = 1000 + i;
        memcpy(rec[i], &tag, 2);
        memcpy(rec[i] + 2, &val, 8);
    }
    memcpy(ring_ram + BUF_GPA, rec, sizeof(rec));
    drv_offer(Q_STATS, &buf, 1);
    wr(VMMIO_REG_QUEUE_NOTIFY, Q_STATS);
    vballoon_get_stats(&b, &s);
    assert_int_equal(s.sets, 0);                /* not before DRIVER_OK */
    drv_ok();
    vballoon_get_stats(&b, &s);
    assert_int_equal(s.sets, 1);
    assert_int_equal(s.valid, (1u << VIRTIO_BALLOON_S_MEMFREE) |
                              (1u << VIRTIO_BALLOON_S_MEMTOT));
    assert_int_equal(s.val[VIRTIO_BALLOON_S_MEMFREE], 1000);
    assert_int_equal(s.val[VIRTIO_BALLOON_S_MEMTOT], 1001);
    assert_int_equal(used_idx(Q_STATS), 0);     /* held */
    assert_int_equal(vballoon_request_stats(&b), 0);
    assert_int_equal(used_idx(Q_STATS), 1);
    assert_true(line);
    wr(VMMIO_REG_INT_ACK, VMMIO_INT_VRING);
    assert_int_equal(vballoon_request_stats(&b), -EAGAIN);
    /* The driver refills: a new set replaces the old one. */
    val = 5;
    memcpy(ring_ram + BUF_GPA + 2, &val, 8);
    buf.len = 10;
    drv_offer(Q_STATS, &buf, 1);
    wr(VMMIO_REG_QUEUE_NOTIFY, Q_STATS);
    vballoon_get_stats(&b, &s);
    assert_int_equal(s.sets, 2);
    assert_int_equal(s.valid, 1u << VIRTIO_BALLOON_S_MEMFREE);
    assert_int_equal(s.val[VIRTIO_BALLOON_S_MEMFREE], 5);
    assert_int_equal(vballoon_request_stats(&b), 0);
    /* Not whole records: refused, given back at once, last set kept. */
    buf.len = 15;
    drv_send(Q_STATS, &buf, 1);
    assert_non_null(strstr(b.c.why, "whole records"));
    vballoon_get_stats(&b, &s);
    assert_int_equal(s.sets, 2);
    assert_int_equal(s.val[VIRTIO_BALLOON_S_MEMFREE], 5);
    assert_int_equal(vballoon_request_stats(&b), -EAGAIN);
    /* A held buffer does not survive a reset. */
    buf.len = 10;
    drv_offer(Q_STATS, &buf, 1);
    wr(VMMIO_REG_QUEUE_NOTIFY, Q_STATS);
    assert_int_equal(b.stats.sets, 3);
    wr(VMMIO_REG_STATUS, 0);
    assert_int_equal(vballoon_request_stats(&b), -EAGAIN);
    drv_probe(ALL_F);
    drv_ok();
    assert_int_equal(vballoon_request_stats(&b), -EAGAIN);
    assert_int_equal(used_idx(Q_STATS), 0);
    finish();
}

/* A host failure part-way (no table page to split a 2M leaf): the pages
 * done stay done, the rest stay mapped, the domain goes on. */
static void test_host_failure(void **state)
{
    uint32_t first[2] = { 0x4000, RAM1_GFN + 0x4000 };
    uint32_t pfns[3] = { 0x4001, RAM1_GFN + 0x600 + 7, RAM1_GFN + 0x4001 };
    uint64_t b0;

    start(state, ALL_F);
    drv_pfns(Q_INFLATE, first, 2);              /* their blocks: 4K */
    touch(RAM1_GFN + 0x600, 1);                 /* a 2M leaf */
    podenv_expect_type(d, RAM1_GFN + 0x600, p2m_ram_rw, PAGE_ORDER_2M);
    b0 = believed();
    d->p2m.pool_fail_at = d->p2m.pool_allocs + 1;
    drv_pfns(Q_INFLATE, pfns, 3);
    d->p2m.pool_fail_at = 0;
    assert_int_equal(b.c.host_errors, 1);
    assert_int_equal(b.c.host_rc, -ENOMEM);
    assert_non_null(strstr(b.c.why, "host failure"));
    assert_int_equal(b.c.inflated, 3);
    assert_int_equal(believed(), b0 - 1);
    podenv_expect_type(d, 0x4001, p2m_invalid, 0);
    podenv_expect_type(d, RAM1_GFN + 0x600, p2m_ram_rw, PAGE_ORDER_2M);
    podenv_expect_type(d, RAM1_GFN + 0x4001, p2m_populate_on_demand, 0);
    assert_false(d->crashed);
    finish();
}

/* A report whose block lies in a 1G leaf needs a table page for the
 * split; when none comes, the block stays as it was and so does the
 * rest of the report. */
static void test_report_host_failure(void **state)
{
    uint64_t gfn[2] = { 0x200, 0x400 }, pages[2] = { 512, 512 };

    start(state, ALL_F);
    assert_int_equal(vballoon_set_target(&b, 1), 0);
    assert_int_equal(vballoon_set_target(&b, MAX_PAGES), 0);
    assert_true(stats().cache_chunks[POD_1G] > 0);
    touch(0x210, 1);
    podenv_expect_type(d, 0x200, p2m_ram_rw, PAGE_ORDER_1G);
    d->p2m.pool_fail_at = d->p2m.pool_allocs + 1;
    drv_report(gfn, pages, 2);
    d->p2m.pool_fail_at = 0;
    assert_int_equal(b.c.host_errors, 1);
    assert_int_equal(b.c.host_rc, -ENOMEM);
    assert_int_equal(b.c.restored_2m, 0);
    podenv_expect_type(d, 0x200, p2m_ram_rw, PAGE_ORDER_1G);
    assert_int_equal(podenv_read(&d->vcpu[0], 0x210, 0), 1);
    podenv_check(d, true);
    /* With table pages the same report splits the leaf and restores. */
    drv_report(gfn, pages, 2);
    assert_int_equal(b.c.restored_2m, 2);
    podenv_expect_type(d, 0x200, p2m_populate_on_demand, PAGE_ORDER_2M);
    podenv_expect_type(d, 0x600, p2m_ram_rw, PAGE_ORDER_2M);
    finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_target_and_config),
        ENV_TEST(test_inflate_deflate),
        ENV_TEST(test_balloon_to_target),
        ENV_TEST(test_pfn_refusals),
        ENV_TEST(test_broken_ring),
        ENV_TEST(test_report_restores_2m),
        ENV_TEST(test_report_keeps_poisoned_blocks),
        ENV_TEST(test_report_returns_to_heap),
        ENV_TEST(test_report_refusals),
        ENV_TEST(test_stats),
        ENV_TEST(test_host_failure),
        ENV_TEST(test_report_host_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

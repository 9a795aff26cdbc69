/*
 * Split virtqueues (xen/arch/x86/hvm/virtio-mmio.c) against a fake guest
 * RAM: a good chain is popped and returned; a bad descriptor index, a
 * loop, a buffer outside RAM, a length overflow, a wrapping buffer and a
 * runaway avail index are refused with a reason.  Then the virtio-mmio
 * transport with a fake device: registers, feature negotiation, queue
 * setup, notify before and after DRIVER_OK, interrupts, reset, config
 * space, and the driver errors that crash the domain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <xen/errno.h>

#include "../../xen/arch/x86/hvm/virtio-mmio.h"

#define RAM_SIZE    0x10000ull      /* guest RAM: [0, 64 KiB) */
#define DESC        0x1000ull
#define AVAIL       0x2000ull
#define USED        0x3000ull
#define QSZ         8

static uint8_t ram[RAM_SIZE];

static bool fake_is_ram(void *ctx, uint64_t gpa, uint64_t len)
{
    (void)ctx;
    return len && gpa < RAM_SIZE && len <= RAM_SIZE - gpa;
}

static int fake_read(void *ctx, uint64_t gpa, void *buf, uint32_t len)
{
    if ( !fake_is_ram(ctx, gpa, len) )
        return -EFAULT;
    memcpy(buf, ram + gpa, len);
    return 0;
}

static int fake_write(void *ctx, uint64_t gpa, const void *buf, uint32_t len)
{
    if ( !fake_is_ram(ctx, gpa, len) )
        return -EFAULT;
    memcpy(ram + gpa, buf, len);
    return 0;
}

static const struct virtq_mem mem = {
    .read = fake_read, .write = fake_write, .is_ram = fake_is_ram,
};

static struct virtq q;
static struct virtq_chain chain;

static void set_desc(unsigned int i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t *d = ram + DESC + 16 * i;

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* Offer head on the avail ring (slot avail_idx) and bump the index. */
static void offer(uint16_t head)
{
    uint16_t idx;

    memcpy(&idx, ram + AVAIL + 2, 2);
    memcpy(ram + AVAIL + 4 + 2 * (idx % QSZ), &head, 2);
    idx++;
    memcpy(ram + AVAIL + 2, &idx, 2);
}

static int setup(void **state)
{
    const char *why = NULL;

    (void)state;
    memset(ram, 0, sizeof(ram));
    assert_int_equal(virtq_setup(&q, QSZ, DESC, AVAIL, USED, &mem, &why), 0);
    return 0;
}

/* Pop must refuse the ring with rc and a reason naming what. */
static void expect_refused(int rc, const char *what)
{
    const char *why = NULL;

    assert_int_equal(virtq_pop(&q, &mem, &chain, &why), rc);
    assert_non_null(why);
    assert_non_null(strstr(why, what));
}

static void test_good_chain(void **state)
{
    const char *why = NULL;
    uint32_t elem[2];
    uint16_t used_idx;

    (void)state;
    assert_int_equal(virtq_pop(&q, &mem, &chain, &why), 0);  /* empty */
    set_desc(3, 0x8000, 0x100, VIRTQ_DESC_F_NEXT, 5);
    set_desc(5, 0x9000, 0x40, VIRTQ_DESC_F_WRITE, 0);
    offer(3);
    assert_int_equal(virtq_pop(&q, &mem, &chain, &why), 1);
    assert_int_equal(chain.head, 3);
    assert_int_equal(chain.n, 2);
    assert_int_equal(chain.total, 0x140);
    assert_int_equal(chain.buf[0].gpa, 0x8000);
    assert_false(chain.buf[0].write);
    assert_int_equal(chain.buf[1].gpa, 0x9000);
    assert_int_equal(chain.buf[1].len, 0x40);
    assert_true(chain.buf[1].write);
    assert_int_equal(virtq_pop(&q, &mem, &chain, &why), 0);  /* consumed */

    assert_int_equal(virtq_push(&q, &mem, 3, 0x40), 0);
    memcpy(elem, ram + USED + 4, 8);
    memcpy(&used_idx, ram + USED + 2, 2);
    assert_int_equal(elem[0], 3);
    assert_int_equal(elem[1], 0x40);
    assert_int_equal(used_idx, 1);
}

static void test_bad_head_index(void **state)
{
    (void)state;
    offer(QSZ);
    expect_refused(-EINVAL, "index beyond");
}

static void test_bad_next_index(void **state)
{
    (void)state;
    set_desc(0, 0x8000, 0x10, VIRTQ_DESC_F_NEXT, QSZ);
    offer(0);
    expect_refused(-EINVAL, "index beyond");
}

static void test_loop(void **state)
{
    (void)state;
    set_desc(1, 0x8000, 0x10, VIRTQ_DESC_F_NEXT, 2);
    set_desc(2, 0x8010, 0x10, VIRTQ_DESC_F_NEXT, 1);
    offer(1);
    expect_refused(-EINVAL, "loops");
}

static void test_self_loop(void **state)
{
    (void)state;
    set_desc(4, 0x8000, 0x10, VIRTQ_DESC_F_NEXT, 4);
    offer(4);
    expect_refused(-EINVAL, "loops");
}

static void test_outside_ram(void **state)
{
    (void)state;
    set_desc(0, RAM_SIZE - 0x10, 0x20, 0, 0);   /* straddles the end */
    offer(0);
    expect_refused(-EFAULT, "outside guest RAM");
}

static void test_length_overflow(void **state)
{
    (void)state;
    /* The sum of the lengths passes 4 GiB: refused before RAM is asked. */
    set_desc(0, 0x8000, 0x1000, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, 0x8000, 0xfffff800u, 0, 0);
    offer(0);
    expect_refused(-EINVAL, "overflows");
}

static void test_wraps(void **state)
{
    (void)state;
    set_desc(0, ~0ull - 0x10, 0x100, 0, 0);
    offer(0);
    expect_refused(-EINVAL, "wraps");
}

static void test_avail_runaway(void **state)
{
    uint16_t idx = QSZ + 1;

    (void)state;
    memcpy(ram + AVAIL + 2, &idx, 2);
    expect_refused(-EINVAL, "avail index ahead");
}

static void test_indirect_refused(void **state)
{
    (void)state;
    set_desc(0, 0x8000, 0x10, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    expect_refused(-EINVAL, "indirect");
}

static void test_setup_checks(void **state)
{
    const char *why = NULL;

    (void)state;
    assert_int_equal(virtq_setup(&q, 6, DESC, AVAIL, USED, &mem, &why),
                     -EINVAL);
    assert_int_equal(virtq_setup(&q, VIRTQ_MAX * 2, DESC, AVAIL, USED, &mem,
                                 &why), -EINVAL);
    assert_int_equal(virtq_setup(&q, QSZ, DESC + 8, AVAIL, USED, &mem, &why),
                     -EINVAL);
    assert_int_equal(virtq_setup(&q, QSZ, RAM_SIZE - 16, AVAIL, USED, &mem,
                                 &why), -EFAULT);
    assert_false(q.ready);
    assert_int_equal(virtq_pop(&q, &mem, &chain, &why), 0);
}

/* --- the virtio-mmio transport, with a fake device --- */

#define FAKE_ID     42
#define FAKE_F_A    (1ull << 0)
#define FAKE_F_Q3   (1ull << 1)     /* a third queue */

static struct vmmio_dev dev;
static uint8_t fake_cfg[8];
static unsigned int notified[VMMIO_QUEUES], resets, irq_changes;
static bool irq_level;
static int notify_rc;

static unsigned int fake_nr_queues(struct vmmio_dev *v, uint64_t f)
{
    return f & FAKE_F_Q3 ? 3 : 2;
}

static uint32_t fake_cfg_read(struct vmmio_dev *v, uint32_t off,
                              unsigned int bytes)
{
    uint32_t val = 0;

    memcpy(&val, fake_cfg + off, bytes);
    return val;
}

static void fake_cfg_write(struct vmmio_dev *v, uint32_t off,
                           unsigned int bytes, uint32_t val)
{
    memcpy(fake_cfg + off, &val, bytes);
}

/* Return every chain with its length as written. */
static int fake_notify(struct vmmio_dev *v, unsigned int qi, const char **why)
{
    static struct virtq_chain c;
    int rc;

    notified[qi]++;
    while ( (rc = vmmio_pop(v, qi, &c, why)) > 0 )
        assert_int_equal(vmmio_push(v, qi, c.head, c.total), 0);
    return rc ? rc : notify_rc;
}

static void fake_reset(struct vmmio_dev *v)
{
    resets++;
}

static void fake_irq(void *ctx, bool level)
{
    assert_ptr_equal(ctx, &dev);
    irq_level = level;
    irq_changes++;
}

static const struct vmmio_dev_ops fake_ops = {
    .device_id = FAKE_ID, .features = FAKE_F_A | FAKE_F_Q3,
    .config_size = sizeof(fake_cfg), .nr_queues = fake_nr_queues,
    .config_read = fake_cfg_read, .config_write = fake_cfg_write,
    .notify = fake_notify, .reset = fake_reset,
};

static uint32_t rd(uint32_t off)
{
    uint64_t v = ~0ull;

    assert_int_equal(vmmio_read(&dev, off, 4, &v), 0);
    return v;
}

static void wr(uint32_t off, uint32_t val)
{
    assert_int_equal(vmmio_write(&dev, off, 4, val), 0);
}

static void expect_write_refused(uint32_t off, unsigned int bytes,
                                 uint64_t val, const char *what)
{
    dev.why = NULL;
    assert_true(vmmio_write(&dev, off, bytes, val) < 0);
    assert_non_null(dev.why);
    assert_non_null(strstr(dev.why, what));
}

static void expect_read_refused(uint32_t off, unsigned int bytes,
                                const char *what)
{
    uint64_t v;

    dev.why = NULL;
    assert_int_equal(vmmio_read(&dev, off, bytes, &v), -EINVAL);
    assert_non_null(dev.why);
    assert_non_null(strstr(dev.why, what));
}

static int mmio_setup(void **state)
{
    (void)state;
    memset(ram, 0, sizeof(ram));
    memset(fake_cfg, 0, sizeof(fake_cfg));
    memset(notified, 0, sizeof(notified));
    resets = irq_changes = 0;
    irq_level = false;
    notify_rc = 0;
    vmmio_init(&dev, &fake_ops, NULL, &mem, fake_irq, &dev);
    return 0;
}

/* The driver's side of 3.1.1 up to FEATURES_OK, with these features. */
static void negotiate(uint64_t f)
{
    wr(VMMIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(VMMIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(VMMIO_REG_DRV_FEAT_SEL, 1);
    wr(VMMIO_REG_DRV_FEATURES, f >> 32);
    wr(VMMIO_REG_DRV_FEAT_SEL, 0);
    wr(VMMIO_REG_DRV_FEATURES, (uint32_t)f);
    wr(VMMIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                         VIRTIO_STATUS_FEATURES_OK);
}

static void driver_ok(void)
{
    wr(VMMIO_REG_STATUS, rd(VMMIO_REG_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

/* Queue qi at the fake RAM's rings (queue i uses DESC + i * 0x100...). */
static int queue_on(unsigned int qi, uint32_t num)
{
    wr(VMMIO_REG_QUEUE_SEL, qi);
    wr(VMMIO_REG_QUEUE_NUM, num);
    wr(VMMIO_REG_QUEUE_DESC_LO, DESC + qi * 0x100);
    wr(VMMIO_REG_QUEUE_DESC_HI, 0);
    wr(VMMIO_REG_QUEUE_DRV_LO, AVAIL + qi * 0x100);
    wr(VMMIO_REG_QUEUE_DRV_HI, 0);
    wr(VMMIO_REG_QUEUE_DEV_LO, USED + qi * 0x100);
    wr(VMMIO_REG_QUEUE_DEV_HI, 0);
    return vmmio_write(&dev, VMMIO_REG_QUEUE_READY, 4, 1);
}

static void test_mmio_ids(void **state)
{
    (void)state;
    assert_int_equal(rd(VMMIO_REG_MAGIC), 0x74726976);
    assert_int_equal(rd(VMMIO_REG_VERSION), 2);
    assert_int_equal(rd(VMMIO_REG_DEVICE_ID), FAKE_ID);
    assert_int_equal(rd(VMMIO_REG_VENDOR_ID), VMMIO_VENDOR);
    wr(VMMIO_REG_DEV_FEAT_SEL, 0);
    assert_int_equal(rd(VMMIO_REG_DEV_FEATURES), FAKE_F_A | FAKE_F_Q3);
    wr(VMMIO_REG_DEV_FEAT_SEL, 1);
    assert_int_equal(rd(VMMIO_REG_DEV_FEATURES), 1);    /* VERSION_1 */
    wr(VMMIO_REG_DEV_FEAT_SEL, 2);
    assert_int_equal(rd(VMMIO_REG_DEV_FEATURES), 0);
    assert_int_equal(rd(VMMIO_REG_STATUS), 0);
    assert_int_equal(rd(VMMIO_REG_SHM_LEN_LO), 0xffffffffu);
    /* Read-only registers ignore writes. */
    wr(VMMIO_REG_MAGIC, 0);
    wr(VMMIO_REG_DEVICE_ID, 7);
    assert_int_equal(rd(VMMIO_REG_MAGIC), 0x74726976);
    assert_int_equal(rd(VMMIO_REG_DEVICE_ID), FAKE_ID);
}

static void test_mmio_bad_access(void **state)
{
    (void)state;
    expect_read_refused(VMMIO_REG_MAGIC, 2, "32 bits");
    expect_read_refused(VMMIO_REG_STATUS + 1, 1, "32 bits");
    expect_read_refused(VMMIO_REG_STATUS + 2, 4, "misaligned");
    expect_read_refused(VMMIO_CONFIG + 1, 2, "misaligned");
    expect_read_refused(VMMIO_WINDOW, 4, "outside");
    expect_read_refused(0xffffffffu, 1, "outside");
    expect_read_refused(VMMIO_CONFIG, 8, "1, 2 or 4");
    expect_read_refused(VMMIO_CONFIG, 3, "1, 2 or 4");
    expect_write_refused(VMMIO_REG_STATUS, 1, 1, "32 bits");
    expect_write_refused(VMMIO_WINDOW - 2, 4, 0, "outside");
    expect_write_refused(VMMIO_CONFIG + 2, 4, 0, "misaligned");
    expect_write_refused(VMMIO_WINDOW + 0x100, 4, 0, "outside");
    assert_int_equal(rd(VMMIO_REG_STATUS), 0);  /* nothing written */
}

static void test_mmio_negotiation(void **state)
{
    (void)state;
    /* Without VERSION_1: FEATURES_OK does not stick. */
    negotiate(FAKE_F_A);
    assert_false(rd(VMMIO_REG_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(vmmio_features(&dev), 0);
    wr(VMMIO_REG_STATUS, 0);
    /* A feature the device did not offer: refused too. */
    negotiate(VIRTIO_F_VERSION_1 | (1ull << 7));
    assert_false(rd(VMMIO_REG_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(dev.n.refused_features, 2);
    wr(VMMIO_REG_STATUS, 0);
    negotiate(VIRTIO_F_VERSION_1 | FAKE_F_A);
    assert_true(rd(VMMIO_REG_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(vmmio_features(&dev), VIRTIO_F_VERSION_1 | FAKE_F_A);
    /* After FEATURES_OK the feature words are ignored. */
    wr(VMMIO_REG_DRV_FEAT_SEL, 0);
    wr(VMMIO_REG_DRV_FEATURES, FAKE_F_A | FAKE_F_Q3);
    assert_int_equal(vmmio_features(&dev), VIRTIO_F_VERSION_1 | FAKE_F_A);
    /* Clearing a status bit without a reset is ignored. */
    wr(VMMIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    assert_true(rd(VMMIO_REG_STATUS) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_mmio_queue_setup(void **state)
{
    (void)state;
    /* Before FEATURES_OK a queue cannot be enabled. */
    wr(VMMIO_REG_QUEUE_SEL, 0);
    expect_write_refused(VMMIO_REG_QUEUE_READY, 4, 1, "before FEATURES_OK");
    negotiate(VIRTIO_F_VERSION_1);
    /* Two queues without FAKE_F_Q3: the third reads QueueNumMax 0. */
    wr(VMMIO_REG_QUEUE_SEL, 1);
    assert_int_equal(rd(VMMIO_REG_QUEUE_NUM_MAX), VIRTQ_MAX);
    wr(VMMIO_REG_QUEUE_SEL, 2);
    assert_int_equal(rd(VMMIO_REG_QUEUE_NUM_MAX), 0);
    assert_int_equal(queue_on(2, QSZ), 0);          /* ignored */
    assert_int_equal(rd(VMMIO_REG_QUEUE_READY), 0);
    assert_int_equal(queue_on(0, QSZ), 0);
    assert_int_equal(rd(VMMIO_REG_QUEUE_READY), 1);
    assert_true(dev.queue[0].q.ready);
    assert_int_equal(dev.queue[0].q.desc, DESC);
    /* A live queue's registers ignore writes. */
    wr(VMMIO_REG_QUEUE_DESC_LO, 0x5000);
    wr(VMMIO_REG_QUEUE_NUM, 4);
    assert_int_equal(rd(VMMIO_REG_QUEUE_DESC_LO), DESC);
    assert_int_equal(dev.queue[0].q.desc, DESC);
    assert_int_equal(dev.queue[0].q.num, QSZ);
    /* Geometry virtq_setup refuses: the domain is crashed. */
    wr(VMMIO_REG_QUEUE_SEL, 1);
    wr(VMMIO_REG_QUEUE_NUM, 6);
    expect_write_refused(VMMIO_REG_QUEUE_READY, 4, 1, "power of 2");
    wr(VMMIO_REG_QUEUE_NUM, QSZ);
    wr(VMMIO_REG_QUEUE_DESC_LO, RAM_SIZE - 16);
    expect_write_refused(VMMIO_REG_QUEUE_READY, 4, 1, "outside guest RAM");
    assert_false(dev.queue[1].q.ready);
    /* QueueReady = 0 takes the queue down. */
    wr(VMMIO_REG_QUEUE_SEL, 0);
    wr(VMMIO_REG_QUEUE_READY, 0);
    assert_int_equal(rd(VMMIO_REG_QUEUE_READY), 0);
}

/* Offer one 16-byte buffer on queue qi's avail ring. */
static void offer_on(unsigned int qi, uint16_t head, uint64_t addr,
                     uint16_t next)
{
    uint8_t *d = ram + DESC + qi * 0x100 + 16 * head;
    uint32_t len = 16;
    uint16_t flags = next < QSZ ? VIRTQ_DESC_F_NEXT : 0, idx;
    uint64_t avail = AVAIL + qi * 0x100;

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    memcpy(&idx, ram + avail + 2, 2);
    memcpy(ram + avail + 4 + 2 * (idx % QSZ), &head, 2);
    idx++;
    memcpy(ram + avail + 2, &idx, 2);
}

static uint16_t used_idx_of(unsigned int qi)
{
    uint16_t idx;

    memcpy(&idx, ram + USED + qi * 0x100 + 2, 2);
    return idx;
}

static void test_mmio_notify_interrupt(void **state)
{
    (void)state;
    negotiate(VIRTIO_F_VERSION_1 | FAKE_F_Q3);
    assert_int_equal(queue_on(0, QSZ), 0);
    assert_int_equal(queue_on(2, QSZ), 0);
    /* Before DRIVER_OK a notify is kept, not served. */
    offer_on(2, 1, 0x8000, QSZ);
    wr(VMMIO_REG_QUEUE_NOTIFY, 2);
    assert_int_equal(notified[2], 0);
    assert_int_equal(used_idx_of(2), 0);
    assert_false(irq_level);
    driver_ok();
    assert_int_equal(notified[2], 1);
    assert_int_equal(used_idx_of(2), 1);
    assert_true(irq_level);
    assert_int_equal(rd(VMMIO_REG_INT_STATUS), VMMIO_INT_VRING);
    wr(VMMIO_REG_INT_STATUS, 0);            /* read-only: ignored */
    assert_int_equal(rd(VMMIO_REG_INT_STATUS), VMMIO_INT_VRING);
    /* A second used buffer while the line is up: no new change. */
    offer_on(0, 0, 0x8000, QSZ);
    wr(VMMIO_REG_QUEUE_NOTIFY, 0);
    assert_int_equal(notified[0], 1);
    assert_int_equal(used_idx_of(0), 1);
    assert_int_equal(irq_changes, 1);
    wr(VMMIO_REG_INT_ACK, VMMIO_INT_VRING);
    assert_false(irq_level);
    assert_int_equal(irq_changes, 2);
    assert_int_equal(rd(VMMIO_REG_INT_STATUS), 0);
    /* A notify of a queue that is not ready, or beyond, is ignored. */
    wr(VMMIO_REG_QUEUE_NOTIFY, 1);
    wr(VMMIO_REG_QUEUE_NOTIFY, 7);
    wr(VMMIO_REG_QUEUE_NOTIFY, 0xffffffffu);
    assert_int_equal(notified[1], 0);
}

static void test_mmio_broken_ring(void **state)
{
    (void)state;
    negotiate(VIRTIO_F_VERSION_1);
    assert_int_equal(queue_on(0, QSZ), 0);
    driver_ok();
    offer_on(0, 0, 0x8000, QSZ);
    ram[DESC + 12] = VIRTQ_DESC_F_NEXT;     /* next (QSZ) beyond the queue */
    expect_write_refused(VMMIO_REG_QUEUE_NOTIFY, 4, 0, "index beyond");
    /* The device's own error is the domain's crash reason too. */
    ram[DESC + 12] = 0;
    notify_rc = -ENOSYS;
    assert_int_equal(vmmio_write(&dev, VMMIO_REG_QUEUE_NOTIFY, 4, 0), -ENOSYS);
}

static void test_mmio_reset(void **state)
{
    (void)state;
    negotiate(VIRTIO_F_VERSION_1 | FAKE_F_A);
    assert_int_equal(queue_on(0, QSZ), 0);
    driver_ok();
    offer_on(0, 0, 0x8000, QSZ);
    wr(VMMIO_REG_QUEUE_NOTIFY, 0);
    assert_true(irq_level);
    wr(VMMIO_REG_STATUS, 0);
    assert_int_equal(resets, 1);
    assert_false(irq_level);
    assert_int_equal(rd(VMMIO_REG_INT_STATUS), 0);
    assert_int_equal(rd(VMMIO_REG_STATUS), 0);
    assert_int_equal(vmmio_features(&dev), 0);
    assert_false(dev.queue[0].q.ready);
    wr(VMMIO_REG_QUEUE_SEL, 0);
    assert_int_equal(rd(VMMIO_REG_QUEUE_NUM_MAX), 0);  /* no FEATURES_OK */
    /* Set up again from scratch: works, and the ring starts over. */
    memset(ram, 0, sizeof(ram));
    negotiate(VIRTIO_F_VERSION_1);
    assert_int_equal(queue_on(0, QSZ), 0);
    assert_int_equal(rd(VMMIO_REG_QUEUE_READY), 1);
    assert_int_equal(dev.queue[0].q.last_avail, 0);
}

static void test_mmio_config(void **state)
{
    uint64_t v;

    (void)state;
    fake_cfg[0] = 0x11;
    fake_cfg[1] = 0x22;
    fake_cfg[4] = 0x44;
    assert_int_equal(vmmio_read(&dev, VMMIO_CONFIG, 4, &v), 0);
    assert_int_equal(v, 0x2211);
    assert_int_equal(vmmio_read(&dev, VMMIO_CONFIG + 1, 1, &v), 0);
    assert_int_equal(v, 0x22);
    assert_int_equal(vmmio_read(&dev, VMMIO_CONFIG + 4, 2, &v), 0);
    assert_int_equal(v, 0x44);
    assert_int_equal(vmmio_write(&dev, VMMIO_CONFIG + 6, 2, 0xbeef), 0);
    assert_int_equal(fake_cfg[6], 0xef);
    assert_int_equal(fake_cfg[7], 0xbe);
    /* Past the config size: reads 0, writes ignored. */
    assert_int_equal(vmmio_read(&dev, VMMIO_CONFIG + 8, 4, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(vmmio_write(&dev, VMMIO_CONFIG + 8, 4, 1), 0);
    /* A change bumps the generation; the interrupt waits for DRIVER_OK. */
    assert_int_equal(rd(VMMIO_REG_CONFIG_GEN), 0);
    vmmio_config_changed(&dev);
    assert_int_equal(rd(VMMIO_REG_CONFIG_GEN), 1);
    assert_false(irq_level);
    negotiate(VIRTIO_F_VERSION_1);
    driver_ok();
    vmmio_config_changed(&dev);
    assert_int_equal(rd(VMMIO_REG_CONFIG_GEN), 2);
    assert_true(irq_level);
    assert_int_equal(rd(VMMIO_REG_INT_STATUS), VMMIO_INT_CONFIG);
    wr(VMMIO_REG_INT_ACK, VMMIO_INT_CONFIG);
    assert_false(irq_level);
    /* An ack that leaves a bit set raises the line again (a new edge). */
    vmmio_config_changed(&dev);
    assert_int_equal(queue_on(0, QSZ), 0);
    offer_on(0, 0, 0x8000, QSZ);
    wr(VMMIO_REG_QUEUE_NOTIFY, 0);
    assert_int_equal(rd(VMMIO_REG_INT_STATUS),
                     VMMIO_INT_CONFIG | VMMIO_INT_VRING);
    irq_changes = 0;
    wr(VMMIO_REG_INT_ACK, VMMIO_INT_CONFIG);
    assert_int_equal(irq_changes, 1);
    assert_true(irq_level);
    wr(VMMIO_REG_INT_ACK, VMMIO_INT_VRING);
    assert_int_equal(irq_changes, 2);
    assert_false(irq_level);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_good_chain, setup),
        cmocka_unit_test_setup(test_bad_head_index, setup),
        cmocka_unit_test_setup(test_bad_next_index, setup),
        cmocka_unit_test_setup(test_loop, setup),
        cmocka_unit_test_setup(test_self_loop, setup),
        cmocka_unit_test_setup(test_outside_ram, setup),
        cmocka_unit_test_setup(test_length_overflow, setup),
        cmocka_unit_test_setup(test_wraps, setup),
        cmocka_unit_test_setup(test_avail_runaway, setup),
        cmocka_unit_test_setup(test_indirect_refused, setup),
        cmocka_unit_test_setup(test_setup_checks, setup),
        cmocka_unit_test_setup(test_mmio_ids, mmio_setup),
        cmocka_unit_test_setup(test_mmio_bad_access, mmio_setup),
        cmocka_unit_test_setup(test_mmio_negotiation, mmio_setup),
        cmocka_unit_test_setup(test_mmio_queue_setup, mmio_setup),
        cmocka_unit_test_setup(test_mmio_notify_interrupt, mmio_setup),
        cmocka_unit_test_setup(test_mmio_broken_ring, mmio_setup),
        cmocka_unit_test_setup(test_mmio_reset, mmio_setup),
        cmocka_unit_test_setup(test_mmio_config, mmio_setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

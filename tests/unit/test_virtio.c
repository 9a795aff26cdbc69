/*
 * Split virtqueues (xen/arch/x86/hvm/virtio-mmio.c) against a fake guest
 * RAM: a good chain is popped and returned; a bad descriptor index, a
 * loop, a buffer outside RAM, a length overflow, a wrapping buffer and a
 * runaway avail index are refused with a reason.
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Virtual I/O APIC (xen/arch/x86/hvm/vioapic.c) against a real virtual
 * local APIC (vlapic.c): the register window, the redirection table's
 * writable bits, edge delivery of the programmed vector, masking,
 * destinations, and every hostile access with its defined outcome.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <xen/errno.h>

#include "../../xen/arch/x86/hvm/vioapic.h"
#include "../../xen/arch/x86/hvm/vlapic.h"

#define KHZ     1000000ull
#define GSI     5

static struct vlapic lapic;
static struct vioapic io;
static uint64_t now = 1000;
static const char *why;

static uint32_t rd(uint32_t sel)
{
    uint32_t v = 0xdeadbeef;

    why = NULL;
    assert_int_equal(vioapic_write(&io, VIOAPIC_REGSEL, 4, sel, &why), 0);
    assert_int_equal(vioapic_read(&io, VIOAPIC_WIN, 4, &v, &why), 0);
    return v;
}

static void wr(uint32_t sel, uint32_t val)
{
    assert_int_equal(vioapic_write(&io, VIOAPIC_REGSEL, 4, sel, &why), 0);
    assert_int_equal(vioapic_write(&io, VIOAPIC_WIN, 4, val, &why), 0);
}

/* Program pin as Linux does: low half last (it carries the mask). */
static void route(unsigned int pin, uint32_t lo, uint8_t dest)
{
    wr(VIOAPIC_REG_REDIR + 2 * pin + 1, (uint32_t)dest << 24);
    wr(VIOAPIC_REG_REDIR + 2 * pin, lo);
}

static int raise_gsi(uint32_t gsi)
{
    why = NULL;
    return vioapic_raise(&io, gsi, now += 100, &why);
}

/* The vector the CPU would take next, taken and EOI'd. */
static int take(void)
{
    int vec = vlapic_pending(&lapic);

    if ( vec >= 0 )
    {
        vlapic_ack(&lapic, vec);
        assert_int_equal(vlapic_write(&lapic, APIC_EOI, 0, now), 0);
    }
    return vec;
}

static int setup(void **state)
{
    vlapic_init(&lapic, 0, KHZ);
    assert_int_equal(vlapic_write(&lapic, APIC_SVR, APIC_SVR_ENABLE | 0xff,
                                  now), 0);
    vioapic_init(&io, 1, 0, &lapic);
    return 0;
}

static void test_id_version_arb(void **state)
{
    assert_int_equal(rd(VIOAPIC_REG_ID), 1u << 24);
    assert_int_equal(rd(VIOAPIC_REG_VER),
                     (VIOAPIC_PINS - 1) << 16 | VIOAPIC_VERSION);
    assert_int_equal(rd(VIOAPIC_REG_ARB), 1u << 24);
    wr(VIOAPIC_REG_ID, 0xfeffffff);                 /* ID is 4 bits */
    assert_int_equal(rd(VIOAPIC_REG_ID), 0x0e000000);
    wr(VIOAPIC_REG_VER, 0);                         /* read-only */
    wr(VIOAPIC_REG_ARB, 0);
    assert_int_equal(rd(VIOAPIC_REG_VER),
                     (VIOAPIC_PINS - 1) << 16 | VIOAPIC_VERSION);
    assert_int_equal(rd(VIOAPIC_REG_ARB), 0x0e000000);
    /* IOREGSEL reads back (8 bits). */
    wr(0x1234, 0);
    {
        uint32_t v;

        assert_int_equal(vioapic_read(&io, VIOAPIC_REGSEL, 4, &v, &why), 0);
        assert_int_equal(v, 0x34);
    }
}

static void test_reset_masked(void **state)
{
    unsigned int pin;

    for ( pin = 0; pin < VIOAPIC_PINS; pin++ )
    {
        assert_int_equal(rd(VIOAPIC_REG_REDIR + 2 * pin), VIOAPIC_MASKED);
        assert_int_equal(rd(VIOAPIC_REG_REDIR + 2 * pin + 1), 0);
    }
    assert_int_equal(raise_gsi(GSI), 0);
    assert_int_equal(io.n.masked, 1);
    assert_int_equal(take(), -1);
}

static void test_redir_writable_bits(void **state)
{
    wr(VIOAPIC_REG_REDIR + 2 * 3, 0xffffffff);
    /* Delivery status (12) and remote IRR (14) are read-only, bits 31:17
     * reserved. */
    assert_int_equal(rd(VIOAPIC_REG_REDIR + 2 * 3), 0x1afff);
    wr(VIOAPIC_REG_REDIR + 2 * 3 + 1, 0xffffffff);
    assert_int_equal(rd(VIOAPIC_REG_REDIR + 2 * 3 + 1), 0xff000000);
    assert_int_equal(vioapic_entry(&io, 3), 0xff0000000001afffull);
    /* The other pins are untouched. */
    assert_int_equal(vioapic_entry(&io, 2), VIOAPIC_MASKED);
    assert_int_equal(vioapic_entry(&io, 4), VIOAPIC_MASKED);
    assert_int_equal(vioapic_entry(&io, VIOAPIC_PINS), 0);
}

static void test_edge_delivery(void **state)
{
    route(GSI, 0x31, 0);                            /* fixed, physical 0 */
    assert_int_equal(raise_gsi(GSI), 1);
    assert_int_equal(take(), 0x31);
    assert_int_equal(take(), -1);
    /* Two raises before the CPU takes one: one edge in IRR. */
    assert_int_equal(raise_gsi(GSI), 1);
    assert_int_equal(raise_gsi(GSI), 1);
    assert_int_equal(take(), 0x31);
    assert_int_equal(take(), -1);
    assert_int_equal(io.n.delivered, 3);
    /* Another pin has its own vector. */
    route(9, 0x42, 0);
    assert_int_equal(raise_gsi(9), 1);
    assert_int_equal(take(), 0x42);
}

static void test_masking(void **state)
{
    route(GSI, 0x31 | VIOAPIC_MASKED, 0);
    assert_int_equal(raise_gsi(GSI), 0);
    assert_int_equal(take(), -1);
    /* An edge while masked is lost, not held for the unmask. */
    route(GSI, 0x31, 0);
    assert_int_equal(take(), -1);
    assert_int_equal(raise_gsi(GSI), 1);
    assert_int_equal(take(), 0x31);
    assert_int_equal(io.n.masked, 1);
}

static void test_destinations(void **state)
{
    /* Physical: APIC ID 0 or broadcast. */
    route(GSI, 0x31, 3);
    assert_int_equal(raise_gsi(GSI), 0);
    assert_int_equal(io.n.missed, 1);
    route(GSI, 0x31, 0xff);
    assert_int_equal(raise_gsi(GSI), 1);
    assert_int_equal(take(), 0x31);
    /* Logical flat, as Linux's flat APIC driver: LDR bit 0. */
    assert_int_equal(vlapic_write(&lapic, APIC_LDR, 0x01000000, now), 0);
    route(GSI, 0x31 | VIOAPIC_DEST_LOGICAL | 0x100, 0x01);  /* lowest */
    assert_int_equal(raise_gsi(GSI), 1);
    assert_int_equal(take(), 0x31);
    route(GSI, 0x31 | VIOAPIC_DEST_LOGICAL, 0x02);
    assert_int_equal(raise_gsi(GSI), 0);
    /* Logical cluster: cluster 0, member bit 0. */
    assert_int_equal(vlapic_write(&lapic, APIC_DFR, 0x0fffffff, now), 0);
    route(GSI, 0x31 | VIOAPIC_DEST_LOGICAL, 0x01);
    assert_int_equal(raise_gsi(GSI), 1);
    assert_int_equal(take(), 0x31);
    route(GSI, 0x31 | VIOAPIC_DEST_LOGICAL, 0x11);
    assert_int_equal(raise_gsi(GSI), 0);
    assert_int_equal(io.n.missed, 3);
}

static void test_bad_modes(void **state)
{
    static const uint32_t modes[] = { 2, 3, 4, 5, 6, 7 };  /* SMI .. ExtINT */
    unsigned int i;

    for ( i = 0; i < sizeof(modes) / sizeof(modes[0]); i++ )
    {
        route(GSI, 0x31 | modes[i] << 8, 0);
        assert_int_equal(raise_gsi(GSI), -EOPNOTSUPP);
        assert_non_null(strstr(why, "delivery mode"));
    }
    route(GSI, 0x31 | VIOAPIC_LEVEL, 0);
    assert_int_equal(raise_gsi(GSI), -EOPNOTSUPP);
    assert_non_null(strstr(why, "level"));
    /* Masked, the same entries are no error: nothing is delivered. */
    route(GSI, 0x31 | 7u << 8 | VIOAPIC_LEVEL | VIOAPIC_MASKED, 0);
    assert_int_equal(raise_gsi(GSI), 0);
    assert_int_equal(take(), -1);
    assert_int_equal(io.n.delivered, 0);
}

static void test_bad_gsi(void **state)
{
    assert_int_equal(raise_gsi(VIOAPIC_PINS), -EINVAL);
    assert_non_null(why);
    assert_int_equal(raise_gsi(0xffffffffu), -EINVAL);
    /* An I/O APIC with GSI base 16: GSI 5 is not its. */
    vioapic_init(&io, 1, 16, &lapic);
    assert_int_equal(raise_gsi(5), -EINVAL);
    route(0, 0x31, 0);
    assert_int_equal(raise_gsi(16), 1);
    assert_int_equal(take(), 0x31);
}

static void test_bad_accesses(void **state)
{
    static const struct { uint32_t off; unsigned int size; } bad[] = {
        { 0x00, 1 }, { 0x00, 2 }, { 0x00, 8 }, { 0x10, 1 }, { 0x10, 8 },
        { 0x02, 4 }, { 0x11, 4 }, { 0x04, 4 }, { 0x20, 4 }, { 0x40, 4 },
        { 0xffc, 4 }, { 0x1000, 4 },
    };
    unsigned int i;
    uint32_t v;

    route(GSI, 0x31, 0);
    for ( i = 0; i < sizeof(bad) / sizeof(bad[0]); i++ )
    {
        why = NULL;
        assert_int_equal(vioapic_read(&io, bad[i].off, bad[i].size, &v,
                                      &why), -EINVAL);
        assert_non_null(why);
        why = NULL;
        assert_int_equal(vioapic_write(&io, bad[i].off, bad[i].size, 0,
                                       &why), -EINVAL);
        assert_non_null(why);
    }
    /* Nothing changed. */
    assert_int_equal(vioapic_entry(&io, GSI), 0x31);
}

static void test_bad_index(void **state)
{
    static const uint32_t sel[] = { 0x03, 0x0f, VIOAPIC_REG_REDIR +
                                    2 * VIOAPIC_PINS, 0xff };
    unsigned int i, pin;

    for ( i = 0; i < sizeof(sel) / sizeof(sel[0]); i++ )
    {
        wr(sel[i], 0x12345678);
        assert_int_equal(rd(sel[i]), 0);
    }
    assert_int_equal(io.n.bad_index, 8);
    for ( pin = 0; pin < VIOAPIC_PINS; pin++ )
        assert_int_equal(vioapic_entry(&io, pin), VIOAPIC_MASKED);
    assert_int_equal(rd(VIOAPIC_REG_ID), 1u << 24);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_id_version_arb, setup),
        cmocka_unit_test_setup(test_reset_masked, setup),
        cmocka_unit_test_setup(test_redir_writable_bits, setup),
        cmocka_unit_test_setup(test_edge_delivery, setup),
        cmocka_unit_test_setup(test_masking, setup),
        cmocka_unit_test_setup(test_destinations, setup),
        cmocka_unit_test_setup(test_bad_modes, setup),
        cmocka_unit_test_setup(test_bad_gsi, setup),
        cmocka_unit_test_setup(test_bad_accesses, setup),
        cmocka_unit_test_setup(test_bad_index, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Virtual local APIC (xen/arch/x86/hvm/vlapic.c): the register page, the
 * priority logic (TPR, ISR nesting, EOI order), IPIs to this CPU, the
 * error register and the timer (one-shot, periodic, TSC-deadline) against
 * a TSC the test drives by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <xen/errno.h>

#include "../../xen/arch/x86/hvm/vlapic.h"

#define KHZ_1G  1000000ull      /* TSC at 1 GHz: one TSC tick per APIC tick */
#define KHZ_2G  2000000ull
#define ID      3
#define T0      1000000ull      /* some TSC value to start from */

static uint32_t rd(struct vlapic *v, uint32_t off, uint64_t now)
{
    uint32_t val = 0xdeadbeef;

    assert_int_equal(vlapic_read(v, off, &val, now), 0);
    return val;
}

static void wr(struct vlapic *v, uint32_t off, uint32_t val, uint64_t now)
{
    assert_int_equal(vlapic_write(v, off, val, now), 0);
}

/* A reset APIC, software-enabled (spurious vector 0xff). */
static void up(struct vlapic *v, uint64_t khz)
{
    vlapic_init(v, ID, khz);
    wr(v, APIC_SVR, APIC_SVR_ENABLE | 0xff, 0);
}

static bool in_reg(struct vlapic *v, uint32_t base, unsigned int vec)
{
    return rd(v, base + (vec / 32) * 16, 0) & (1u << (vec % 32));
}

/* ESR as the guest reads it: write, then read. */
static uint32_t esr(struct vlapic *v)
{
    wr(v, APIC_ESR, 0, 0);
    return rd(v, APIC_ESR, 0);
}

/* Inject what is pending, as the hypervisor would. */
static int take(struct vlapic *v)
{
    int vec = vlapic_pending(v);

    if ( vec >= 0 )
        vlapic_ack(v, vec);
    return vec;
}

/* ---- Register page ------------------------------------------------------ */

static void test_reset(void **state)
{
    struct vlapic v;

    vlapic_init(&v, ID, KHZ_1G);
    assert_int_equal(rd(&v, APIC_ID, 0), ID << 24);
    assert_int_equal(rd(&v, APIC_LVR, 0), 0x00050014);
    assert_int_equal(rd(&v, APIC_SVR, 0), 0xff);
    assert_int_equal(rd(&v, APIC_DFR, 0), 0xffffffff);
    assert_int_equal(rd(&v, APIC_TPR, 0), 0);
    assert_int_equal(rd(&v, APIC_PPR, 0), 0);
    assert_int_equal(rd(&v, APIC_LDR, 0), 0);
    for ( uint32_t o = APIC_LVT_TIMER; o <= APIC_LVT_ERROR; o += 16 )
        assert_int_equal(rd(&v, o, 0), APIC_LVT_MASKED);
    for ( uint32_t o = APIC_ISR; o < APIC_ESR; o += 16 )
        assert_int_equal(rd(&v, o, 0), 0);
    assert_int_equal(rd(&v, APIC_TMICT, 0), 0);
    assert_int_equal(rd(&v, APIC_TMCCT, 0), 0);
    assert_int_equal(rd(&v, APIC_TDCR, 0), 0);
    assert_int_equal(vlapic_pending(&v), -1);
    assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
    assert_int_equal(esr(&v), 0);
}

static void test_bad_offsets(void **state)
{
    static const uint32_t bad[] = {
        0x021, 0x024, 0x028, 0x02c, 0x0b4, 0x301, 0x3ff, 0x1000, 0x1010,
        0x10000, 0xfffffff0, 0xffffffff,
    };
    struct vlapic v, before;
    uint32_t val = 0x12345678;

    up(&v, KHZ_1G);
    before = v;
    for ( unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++ )
    {
        assert_int_equal(vlapic_read(&v, bad[i], &val, 0), -EINVAL);
        assert_int_equal(vlapic_write(&v, bad[i], 0xffffffff, 0), -EINVAL);
    }
    assert_int_equal(val, 0x12345678);
    assert_memory_equal(&v, &before, sizeof(v));    /* nothing changed */
}

/* Aligned offsets that are no register: ESR bit 7, reads give 0. */
static void test_unimplemented_registers(void **state)
{
    static const uint32_t none[] = {
        0x000, 0x010, 0x040, 0x050, 0x060, 0x070, 0x290, 0x2e0,
        0x2f0 /* CMCI: max LVT is 5 */, 0x3a0, 0x3d0, 0x3f0, 0x400, 0xff0,
    };
    struct vlapic v;

    up(&v, KHZ_1G);
    for ( unsigned int i = 0; i < sizeof(none) / sizeof(none[0]); i++ )
    {
        assert_int_equal(rd(&v, none[i], 0), 0);
        assert_int_equal(esr(&v), APIC_ESR_ILLEGAL_REG);
        wr(&v, none[i], 0xffffffff, 0);
        assert_int_equal(esr(&v), APIC_ESR_ILLEGAL_REG);
        assert_int_equal(esr(&v), 0);
    }
}

/* Read-only registers ignore writes (and that is no error). */
static void test_read_only(void **state)
{
    static const uint32_t ro[] = {
        APIC_LVR, APIC_APR, APIC_PPR, APIC_RRD, APIC_ISR, APIC_ISR + 0x70,
        APIC_TMR, APIC_TMR + 0x30, APIC_IRR, APIC_IRR + 0x70, APIC_TMCCT,
    };
    struct vlapic v;

    up(&v, KHZ_1G);
    vlapic_set_irq(&v, 0x31, false);
    for ( unsigned int i = 0; i < sizeof(ro) / sizeof(ro[0]); i++ )
    {
        uint32_t old = rd(&v, ro[i], 0);

        wr(&v, ro[i], 0xffffffff, 0);
        assert_int_equal(rd(&v, ro[i], 0), old);
    }
    assert_true(in_reg(&v, APIC_IRR, 0x31));
    assert_int_equal(esr(&v), 0);
    /* EOI is write-only: it reads 0. */
    assert_int_equal(rd(&v, APIC_EOI, 0), 0);
}

static void test_writable_bits(void **state)
{
    static const struct { uint32_t off, val, want; } w[] = {
        { APIC_ID,          0xffffffff, 0xff000000 },
        { APIC_TPR,         0xffffffff, 0x000000ff },
        { APIC_LDR,         0xffffffff, 0xff000000 },
        { APIC_DFR,         0x00000000, 0x0fffffff },
        { APIC_DFR,         0xffffffff, 0xffffffff },
        { APIC_SVR,         0xffffffff, 0x000003ff },
        { APIC_ICR_HI,      0xffffffff, 0xff000000 },
        { APIC_LVT_TIMER,   0xffffffff, 0x000300ff },  /* no deadline bit */
        { APIC_LVT_THERMAL, 0xffffffff, 0x000107ff },
        { APIC_LVT_PERF,    0xffffffff, 0x000107ff },
        { APIC_LVT_LINT0,   0xffffffff, 0x0001a7ff },
        { APIC_LVT_LINT1,   0xffffffff, 0x0001a7ff },
        { APIC_LVT_ERROR,   0xffffffff, 0x000100ff },
        { APIC_LVT_ERROR,   0x000000fe, 0x000000fe },
        { APIC_TDCR,        0xffffffff, 0x0000000b },
        /* All-excluding-self, mode 7: sent nowhere; delivery status 0. */
        { APIC_ICR_LO,      0xffffffff, 0x000ccfff },
        { APIC_TMICT,       0xffffffff, 0xffffffff },
    };
    struct vlapic v;

    up(&v, KHZ_1G);
    for ( unsigned int i = 0; i < sizeof(w) / sizeof(w[0]); i++ )
    {
        wr(&v, w[i].off, w[i].val, 0);
        if ( rd(&v, w[i].off, 0) != w[i].want )
            fail_msg("offset %#x wrote %#x: reads %#x, want %#x", w[i].off,
                     w[i].val, rd(&v, w[i].off, 0), w[i].want);
    }
}

/* ---- Priorities --------------------------------------------------------- */

static void test_tpr_masking(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    vlapic_set_irq(&v, 0x45, false);
    vlapic_set_irq(&v, 0x51, false);
    assert_int_equal(vlapic_pending(&v), 0x51);
    /* Only the class (bits 7:4) counts, and it must be above TPR's. */
    wr(&v, APIC_TPR, 0x50, 0);
    assert_int_equal(vlapic_pending(&v), -1);
    wr(&v, APIC_TPR, 0x5f, 0);
    assert_int_equal(vlapic_pending(&v), -1);
    wr(&v, APIC_TPR, 0x4f, 0);
    assert_int_equal(rd(&v, APIC_PPR, 0), 0x4f);
    assert_int_equal(take(&v), 0x51);
    /* In service 0x51: PPR is its class, TPR below it. */
    assert_int_equal(rd(&v, APIC_PPR, 0), 0x50);
    assert_int_equal(vlapic_pending(&v), -1);
    wr(&v, APIC_EOI, 0, 0);
    assert_int_equal(rd(&v, APIC_PPR, 0), 0x4f);
    assert_int_equal(vlapic_pending(&v), -1);  /* 0x45: class 4 = TPR's */
    wr(&v, APIC_TPR, 0x3f, 0);
    assert_int_equal(take(&v), 0x45);
    /* TPR above the in-service class: PPR = TPR. */
    wr(&v, APIC_TPR, 0x62, 0);
    assert_int_equal(rd(&v, APIC_PPR, 0), 0x62);
}

static void test_isr_nesting_and_eoi_order(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    vlapic_set_irq(&v, 0x31, false);
    assert_int_equal(take(&v), 0x31);
    vlapic_set_irq(&v, 0x52, false);
    assert_int_equal(take(&v), 0x52);           /* nests: higher class */
    vlapic_set_irq(&v, 0x3a, false);
    vlapic_set_irq(&v, 0x55, false);
    assert_int_equal(vlapic_pending(&v), -1);   /* class 5 in service */
    assert_true(in_reg(&v, APIC_ISR, 0x31));
    assert_true(in_reg(&v, APIC_ISR, 0x52));
    assert_true(in_reg(&v, APIC_IRR, 0x3a));
    assert_false(in_reg(&v, APIC_IRR, 0x31));
    /* EOI ends the highest in service first. */
    wr(&v, APIC_EOI, 0, 0);
    assert_false(in_reg(&v, APIC_ISR, 0x52));
    assert_true(in_reg(&v, APIC_ISR, 0x31));
    assert_int_equal(rd(&v, APIC_PPR, 0), 0x30);
    assert_int_equal(take(&v), 0x55);
    assert_int_equal(vlapic_pending(&v), -1);
    wr(&v, APIC_EOI, 0, 0);                     /* 0x55 */
    assert_int_equal(vlapic_pending(&v), -1);   /* 0x3a: class 3 busy */
    wr(&v, APIC_EOI, 0, 0);                     /* 0x31 */
    assert_int_equal(rd(&v, APIC_PPR, 0), 0);
    assert_int_equal(take(&v), 0x3a);
    wr(&v, APIC_EOI, 0, 0);
    for ( uint32_t o = APIC_ISR; o < APIC_TMR; o += 16 )
        assert_int_equal(rd(&v, o, 0), 0);
    wr(&v, APIC_EOI, 0, 0);                     /* nothing in service */
    assert_int_equal(esr(&v), 0);
}

/* Level-triggered vectors: TMR, and their EOI reaches the IO-APIC. */
static void test_level_eoi(void **state)
{
    struct vlapic v;
    uint8_t vec = 0;

    up(&v, KHZ_1G);
    vlapic_set_irq(&v, 0x61, false);
    vlapic_set_irq(&v, 0x60, true);
    assert_true(in_reg(&v, APIC_TMR, 0x60));
    assert_false(in_reg(&v, APIC_TMR, 0x61));
    assert_int_equal(take(&v), 0x61);
    wr(&v, APIC_EOI, 0, 0);
    assert_false(vlapic_take_level_eoi(&v, &vec));
    assert_int_equal(take(&v), 0x60);
    assert_false(vlapic_take_level_eoi(&v, &vec));  /* not before EOI */
    wr(&v, APIC_EOI, 0, 0);
    assert_true(vlapic_take_level_eoi(&v, &vec));
    assert_int_equal(vec, 0x60);
    assert_false(vlapic_take_level_eoi(&v, &vec));
    /* The same vector as edge clears its TMR bit. */
    vlapic_set_irq(&v, 0x60, false);
    assert_false(in_reg(&v, APIC_TMR, 0x60));
}

static void test_apr(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    wr(&v, APIC_TPR, 0x45, 0);
    assert_int_equal(rd(&v, APIC_APR, 0), 0x45);    /* nothing else */
    vlapic_set_irq(&v, 0x72, false);
    assert_int_equal(rd(&v, APIC_APR, 0), 0x70);    /* IRR class above */
    assert_int_equal(take(&v), 0x72);
    assert_int_equal(rd(&v, APIC_APR, 0), 0x70);    /* ISR class above */
    wr(&v, APIC_TPR, 0x80, 0);
    assert_int_equal(rd(&v, APIC_APR, 0), 0x80);
}

/* ---- Errors and illegal vectors ----------------------------------------- */

static void test_esr_latch(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    rd(&v, 0x040, 0);                           /* illegal register */
    /* Nothing visible before the guest writes ESR. */
    assert_int_equal(rd(&v, APIC_ESR, 0), 0);
    vlapic_set_irq(&v, 5, false);               /* receive illegal */
    wr(&v, APIC_ESR, 0, 0);
    assert_int_equal(rd(&v, APIC_ESR, 0),
                     APIC_ESR_ILLEGAL_REG | APIC_ESR_RECV_ILLEGAL);
    assert_int_equal(rd(&v, APIC_ESR, 0),       /* reads do not clear */
                     APIC_ESR_ILLEGAL_REG | APIC_ESR_RECV_ILLEGAL);
    wr(&v, APIC_ESR, 0xffffffff, 0);            /* the value is ignored */
    assert_int_equal(rd(&v, APIC_ESR, 0), 0);
}

static void test_error_interrupt(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    wr(&v, APIC_LVT_ERROR, 0xfe, 0);
    vlapic_set_irq(&v, 0, false);
    assert_int_equal(take(&v), 0xfe);
    wr(&v, APIC_EOI, 0, 0);
    /* Masked: the error is recorded, no interrupt. */
    wr(&v, APIC_LVT_ERROR, APIC_LVT_MASKED | 0xfe, 0);
    rd(&v, 0x2f0, 0);
    assert_int_equal(vlapic_pending(&v), -1);
    /* An illegal vector in the error LVT: recorded once, no interrupt. */
    wr(&v, APIC_LVT_ERROR, 0x05, 0);
    vlapic_set_irq(&v, 1, false);
    assert_int_equal(vlapic_pending(&v), -1);
    assert_int_equal(esr(&v), APIC_ESR_RECV_ILLEGAL | APIC_ESR_ILLEGAL_REG);
}

static void test_illegal_vectors(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    for ( unsigned int vec = 0; vec < 16; vec++ )
        vlapic_set_irq(&v, vec, vec & 1);
    vlapic_set_irq(&v, 16, false);              /* the first legal one */
    assert_int_equal(rd(&v, APIC_IRR, 0), 1u << 16);
    assert_int_equal(rd(&v, APIC_TMR, 0), 0);
    assert_int_equal(esr(&v), APIC_ESR_RECV_ILLEGAL);
    assert_int_equal(take(&v), 16);
    wr(&v, APIC_EOI, 0, 0);
    /* A timer with vector 3: receive illegal, nothing in IRR. */
    wr(&v, APIC_TDCR, 0xb, 0);
    wr(&v, APIC_LVT_TIMER, 3, 0);
    wr(&v, APIC_TMICT, 10, T0);
    vlapic_timer_update(&v, T0 + 10);
    assert_int_equal(rd(&v, APIC_IRR, 0), 0);
    assert_int_equal(esr(&v), APIC_ESR_RECV_ILLEGAL);
    /* A self IPI with vector 15: send illegal only. */
    wr(&v, APIC_ICR_LO, 0x0004000f, 0);
    assert_int_equal(rd(&v, APIC_IRR, 0), 0);
    assert_int_equal(esr(&v), APIC_ESR_SEND_ILLEGAL);
    assert_int_equal(vlapic_pending(&v), -1);
}

/* ---- IPIs --------------------------------------------------------------- */

/* Send ICR (dest, low) and say whether vector vec arrived here. */
static bool ipi(struct vlapic *v, uint8_t dest, uint32_t lo)
{
    unsigned int vec = lo & 0xff;
    bool hit;

    wr(v, APIC_ICR_HI, (uint32_t)dest << 24, 0);
    wr(v, APIC_ICR_LO, lo, 0);
    hit = in_reg(v, APIC_IRR, vec);
    if ( hit )
    {
        assert_int_equal(take(v), vec);
        wr(v, APIC_EOI, 0, 0);
    }
    return hit;
}

static void test_icr_delivery(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    /* Shorthands: self, all-including-self, all-excluding-self. */
    assert_true(ipi(&v, 0, 0x00040041));
    assert_int_equal(rd(&v, APIC_ICR_LO, 0), 0x00040041);
    assert_true(ipi(&v, 0, 0x00080042));
    assert_false(ipi(&v, 0, 0x000c0043));
    assert_int_equal(v.n.ipis_ignored, 1);
    /* Physical: our ID, another ID, broadcast. */
    assert_true(ipi(&v, ID, 0x44));
    assert_false(ipi(&v, ID + 1, 0x45));
    assert_true(ipi(&v, 0xff, 0x46));
    assert_int_equal(v.n.ipis_ignored, 2);
    /* Lowest priority to us is delivered too (level/trigger ignored). */
    assert_true(ipi(&v, ID, 0x0000c147));
    /* Logical, flat model. */
    wr(&v, APIC_LDR, 0x0c000000, 0);
    assert_true(ipi(&v, 0x04, 0x848));
    assert_true(ipi(&v, 0x88, 0x848));
    assert_false(ipi(&v, 0x02, 0x849));
    assert_true(ipi(&v, 0xff, 0x84a));
    assert_false(ipi(&v, ID, 0x84b));           /* logical, not physical */
    /* Logical, cluster model: cluster 2, member bit 0. */
    wr(&v, APIC_DFR, 0x0fffffff, 0);
    wr(&v, APIC_LDR, 0x21000000, 0);
    assert_true(ipi(&v, 0x21, 0x84c));
    assert_true(ipi(&v, 0x23, 0x84c));
    assert_false(ipi(&v, 0x31, 0x84d));
    assert_false(ipi(&v, 0x22, 0x84d));
    assert_int_equal(v.n.ipis_ignored, 6);
    /* NMI, INIT, SIPI to self: not modelled, counted. */
    assert_false(ipi(&v, 0, 0x0004044e));
    assert_false(ipi(&v, ID, 0x0000c500));
    assert_false(ipi(&v, ID, 0x00000650));
    assert_int_equal(v.n.ipis_ignored, 9);
    assert_int_equal(esr(&v), 0);
}

/* ---- Software disable --------------------------------------------------- */

static void test_svr_disable(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    wr(&v, APIC_LVT_TIMER, 0x40, 0);
    wr(&v, APIC_LVT_LINT0, 0x700, 0);           /* ExtINT, unmasked */
    vlapic_set_irq(&v, 0x50, false);
    wr(&v, APIC_SVR, 0xff, 0);                  /* software disable */
    for ( uint32_t o = APIC_LVT_TIMER; o <= APIC_LVT_ERROR; o += 16 )
        assert_true(rd(&v, o, 0) & APIC_LVT_MASKED);
    assert_int_equal(rd(&v, APIC_LVT_LINT0, 0), 0x10700);
    assert_int_equal(vlapic_pending(&v), -1);   /* held, not given */
    /* New interrupts and self IPIs are refused. */
    vlapic_set_irq(&v, 0x60, false);
    wr(&v, APIC_ICR_LO, 0x00040061, 0);
    assert_false(in_reg(&v, APIC_IRR, 0x60));
    assert_false(in_reg(&v, APIC_IRR, 0x61));
    assert_int_equal(v.n.irqs_dropped, 2);
    /* LVTs cannot be unmasked while disabled; the timer stays silent. */
    wr(&v, APIC_LVT_TIMER, 0x40, 0);
    assert_int_equal(rd(&v, APIC_LVT_TIMER, 0), APIC_LVT_MASKED | 0x40);
    wr(&v, APIC_TDCR, 0xb, 0);
    wr(&v, APIC_TMICT, 100, T0);
    assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
    vlapic_timer_update(&v, T0 + 100);
    assert_false(in_reg(&v, APIC_IRR, 0x40));
    /* Enabled again: the held vector is given, LVTs stay masked. */
    wr(&v, APIC_SVR, APIC_SVR_ENABLE | 0xff, T0 + 100);
    assert_int_equal(take(&v), 0x50);
    assert_int_equal(rd(&v, APIC_LVT_TIMER, 0), APIC_LVT_MASKED | 0x40);
    wr(&v, APIC_LVT_TIMER, 0x40, T0 + 100);
    assert_int_equal(rd(&v, APIC_LVT_TIMER, 0), 0x40);
}

/* ---- Timer -------------------------------------------------------------- */

static const struct { uint32_t tdcr, div; } divides[] = {
    { 0x0, 2 }, { 0x1, 4 }, { 0x2, 8 }, { 0x3, 16 },
    { 0x8, 32 }, { 0x9, 64 }, { 0xa, 128 }, { 0xb, 1 },
};

/* One-shot at 2 GHz TSC (2 TSC ticks per APIC tick), each divide value:
 * current count at several points, the deadline, one interrupt. */
static void test_timer_oneshot_divides(void **state)
{
    for ( unsigned int i = 0; i < sizeof(divides) / sizeof(divides[0]); i++ )
    {
        const uint64_t d = divides[i].div, tsc_per_count = 2 * d;
        const uint64_t end = T0 + 1000 * tsc_per_count;
        struct vlapic v;

        up(&v, KHZ_2G);
        wr(&v, APIC_TDCR, divides[i].tdcr, 0);
        wr(&v, APIC_LVT_TIMER, 0x40, 0);
        wr(&v, APIC_TMICT, 1000, T0);
        assert_int_equal(rd(&v, APIC_TMICT, T0), 1000);
        assert_int_equal(rd(&v, APIC_TMCCT, T0), 1000);
        assert_int_equal(rd(&v, APIC_TMCCT, T0 + tsc_per_count - 1), 1000);
        assert_int_equal(rd(&v, APIC_TMCCT, T0 + tsc_per_count), 999);
        assert_int_equal(rd(&v, APIC_TMCCT, T0 + 250 * tsc_per_count), 750);
        assert_int_equal(rd(&v, APIC_TMCCT, T0 + 500 * tsc_per_count + 1),
                         500);
        assert_int_equal(vlapic_timer_deadline(&v), end);
        assert_int_equal(rd(&v, APIC_TMCCT, end - 1), 1);
        vlapic_timer_update(&v, end - 1);
        assert_int_equal(vlapic_pending(&v), -1);
        vlapic_timer_update(&v, end);
        assert_int_equal(vlapic_pending(&v), 0x40);
        assert_int_equal(rd(&v, APIC_TMCCT, end), 0);
        assert_int_equal(rd(&v, APIC_TMICT, end), 1000);
        assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
        /* One-shot: once. */
        assert_int_equal(take(&v), 0x40);
        wr(&v, APIC_EOI, 0, end);
        vlapic_timer_update(&v, end + 100000000);
        assert_int_equal(vlapic_pending(&v), -1);
        assert_int_equal(v.n.timer_fired, 1);
    }
}

/* A register read brings the timer up to date by itself. */
static void test_timer_read_syncs(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    wr(&v, APIC_TDCR, 0xb, 0);
    wr(&v, APIC_LVT_TIMER, 0x40, 0);
    wr(&v, APIC_TMICT, 100, T0);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 150), 0);
    assert_int_equal(vlapic_pending(&v), 0x40);
}

static void test_timer_periodic(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    wr(&v, APIC_TDCR, 0xb, 0);
    wr(&v, APIC_LVT_TIMER, APIC_LVT_PERIODIC | 0x40, 0);
    wr(&v, APIC_TMICT, 100, T0);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 100);
    vlapic_timer_update(&v, T0 + 100);
    assert_int_equal(take(&v), 0x40);
    wr(&v, APIC_EOI, 0, T0 + 100);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 200);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 100), 100);    /* reloaded */
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 150), 50);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 199), 1);
    vlapic_timer_update(&v, T0 + 200);
    assert_int_equal(take(&v), 0x40);
    wr(&v, APIC_EOI, 0, T0 + 200);
    /* Late by 3.5 periods: one interrupt, the phase kept. */
    vlapic_timer_update(&v, T0 + 550);
    assert_int_equal(take(&v), 0x40);
    wr(&v, APIC_EOI, 0, T0 + 550);
    assert_int_equal(vlapic_pending(&v), -1);
    assert_int_equal(v.n.timer_fired, 3);
    assert_int_equal(v.n.timer_missed, 2);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 600);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 550), 50);
    /* A new initial count restarts from now. */
    wr(&v, APIC_TMICT, 1000, T0 + 560);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 1560);
    /* Count 0 stops it. */
    wr(&v, APIC_TMICT, 0, T0 + 600);
    assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 700), 0);
    vlapic_timer_update(&v, T0 + 5000);
    assert_int_equal(vlapic_pending(&v), -1);
}

/* A period that is no whole number of TSC ticks: deadline k is
 * ceil(k * period * tsc_khz / 10^6) after the start, exactly, for 10000
 * periods (re-arming from "now + period" would drift). */
static void test_timer_periodic_no_drift(void **state)
{
    const uint64_t khz = 2893437, count = 333333, div = 4;
    struct vlapic v;

    up(&v, khz);
    wr(&v, APIC_TDCR, 0x1, 0);                  /* divide by 4 */
    wr(&v, APIC_LVT_TIMER, APIC_LVT_PERIODIC | 0x40, 0);
    wr(&v, APIC_TMICT, count, T0);
    for ( uint64_t k = 1; k <= 10000; k++ )
    {
        unsigned __int128 num = (unsigned __int128)k * count * div * khz;
        uint64_t want = T0 + (uint64_t)((num + 999999) / 1000000);
        uint64_t dl = vlapic_timer_deadline(&v);

        if ( dl != want )
            fail_msg("expiry %llu: deadline %llu, want %llu",
                     (unsigned long long)k, (unsigned long long)dl,
                     (unsigned long long)want);
        vlapic_timer_update(&v, dl - 1);
        assert_int_equal(vlapic_pending(&v), -1);
        vlapic_timer_update(&v, dl);
        assert_int_equal(take(&v), 0x40);
        wr(&v, APIC_EOI, 0, dl);
    }
    assert_int_equal(v.n.timer_fired, 10000);
    assert_int_equal(v.n.timer_missed, 0);
}

static void test_timer_masked(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    wr(&v, APIC_TDCR, 0xb, 0);
    /* One-shot, masked: counts down, no interrupt, no wake-up. */
    wr(&v, APIC_LVT_TIMER, APIC_LVT_MASKED | 0x40, 0);
    wr(&v, APIC_TMICT, 1000, T0);
    assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 500), 500);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 1000), 0);
    assert_int_equal(vlapic_pending(&v), -1);
    /* Unmasked after it expired: the expiry is not replayed. */
    wr(&v, APIC_LVT_TIMER, 0x40, T0 + 2000);
    assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
    vlapic_timer_update(&v, T0 + 3000);
    assert_int_equal(vlapic_pending(&v), -1);
    /* Periodic, masked, then unmasked mid-period: the phase is kept. */
    wr(&v, APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_LVT_PERIODIC | 0x40,
       T0 + 3000);
    wr(&v, APIC_TMICT, 100, T0 + 3000);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 3250), 50);
    wr(&v, APIC_LVT_TIMER, APIC_LVT_PERIODIC | 0x40, T0 + 3250);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 3300);
    vlapic_timer_update(&v, T0 + 3300);
    assert_int_equal(vlapic_pending(&v), 0x40);
    assert_int_equal(v.n.timer_fired, 1);
}

/* A new divide value continues the current count at the new rate. */
static void test_timer_divide_change(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    wr(&v, APIC_TDCR, 0x0, 0);                  /* divide by 2 */
    wr(&v, APIC_LVT_TIMER, 0x40, 0);
    wr(&v, APIC_TMICT, 1000, T0);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 2000);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 500), 750);
    wr(&v, APIC_TDCR, 0xb, T0 + 500);           /* divide by 1 */
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 500), 750);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 600), 650);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 1250);
    wr(&v, APIC_TDCR, 0xa, T0 + 1000);          /* divide by 128 */
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 1000), 250);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 1000 + 250 * 128);
}

/* Switching between one-shot and periodic keeps the count running. */
static void test_timer_mode_switch(void **state)
{
    struct vlapic v;

    up(&v, KHZ_1G);
    wr(&v, APIC_TDCR, 0xb, 0);
    wr(&v, APIC_LVT_TIMER, 0x40, 0);
    wr(&v, APIC_TMICT, 100, T0);
    wr(&v, APIC_LVT_TIMER, APIC_LVT_PERIODIC | 0x40, T0 + 50);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 50), 50);
    vlapic_timer_update(&v, T0 + 100);
    assert_int_equal(take(&v), 0x40);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 200);
    /* Back to one-shot: this period is the last. */
    wr(&v, APIC_LVT_TIMER, 0x40, T0 + 150);
    vlapic_timer_update(&v, T0 + 200);
    assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 250), 0);
}

static void test_tsc_deadline_off(void **state)
{
    struct vlapic v;
    uint64_t val;

    up(&v, KHZ_1G);
    assert_int_equal(vlapic_write_tsc_deadline(&v, T0, 0), -EOPNOTSUPP);
    assert_int_equal(vlapic_read_tsc_deadline(&v, &val), -EOPNOTSUPP);
    /* Mode 10 cannot be selected: bit 18 is reserved. */
    wr(&v, APIC_LVT_TIMER, APIC_LVT_DEADLINE | 0x40, 0);
    assert_int_equal(rd(&v, APIC_LVT_TIMER, 0), 0x40);
}

static void test_tsc_deadline(void **state)
{
    struct vlapic v;
    uint64_t val = 1;

    up(&v, KHZ_1G);
    vlapic_enable_tsc_deadline(&v);
    /* In one-shot mode the MSR is ignored and reads 0. */
    assert_int_equal(vlapic_write_tsc_deadline(&v, T0 + 10, T0), 0);
    assert_int_equal(vlapic_read_tsc_deadline(&v, &val), 0);
    assert_int_equal(val, 0);
    /* A running one-shot count is disarmed by the switch. */
    wr(&v, APIC_TMICT, 1000, T0);
    wr(&v, APIC_LVT_TIMER, APIC_LVT_DEADLINE | 0x40, T0);
    assert_int_equal(rd(&v, APIC_LVT_TIMER, T0), APIC_LVT_DEADLINE | 0x40);
    assert_int_equal(rd(&v, APIC_TMICT, T0), 0);
    assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
    /* Initial count writes are ignored, current count reads 0. */
    wr(&v, APIC_TMICT, 1000, T0);
    assert_int_equal(rd(&v, APIC_TMICT, T0), 0);
    assert_int_equal(rd(&v, APIC_TMCCT, T0 + 10), 0);
    /* Arm, fire at the deadline, the MSR goes back to 0. */
    assert_int_equal(vlapic_write_tsc_deadline(&v, T0 + 5000, T0), 0);
    assert_int_equal(vlapic_read_tsc_deadline(&v, &val), 0);
    assert_int_equal(val, T0 + 5000);
    assert_int_equal(vlapic_timer_deadline(&v), T0 + 5000);
    vlapic_timer_update(&v, T0 + 4999);
    assert_int_equal(vlapic_pending(&v), -1);
    vlapic_timer_update(&v, T0 + 5000);
    assert_int_equal(take(&v), 0x40);
    wr(&v, APIC_EOI, 0, T0 + 5000);
    assert_int_equal(vlapic_read_tsc_deadline(&v, &val), 0);
    assert_int_equal(val, 0);
    assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
    /* A deadline in the past fires at once; 0 disarms. */
    assert_int_equal(vlapic_write_tsc_deadline(&v, T0, T0 + 6000), 0);
    assert_int_equal(take(&v), 0x40);
    wr(&v, APIC_EOI, 0, T0 + 6000);
    assert_int_equal(vlapic_write_tsc_deadline(&v, T0 + 7000, T0 + 6000), 0);
    assert_int_equal(vlapic_write_tsc_deadline(&v, 0, T0 + 6000), 0);
    vlapic_timer_update(&v, T0 + 8000);
    assert_int_equal(vlapic_pending(&v), -1);
    /* Masked: it fires silently. */
    wr(&v, APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_LVT_DEADLINE | 0x40,
       T0 + 8000);
    assert_int_equal(vlapic_write_tsc_deadline(&v, T0 + 9000, T0 + 8000), 0);
    assert_true(vlapic_timer_deadline(&v) == UINT64_MAX);
    vlapic_timer_update(&v, T0 + 9000);
    assert_int_equal(vlapic_pending(&v), -1);
    /* Leaving TSC-deadline mode disarms it. */
    wr(&v, APIC_LVT_TIMER, APIC_LVT_DEADLINE | 0x40, T0 + 9000);
    assert_int_equal(vlapic_write_tsc_deadline(&v, T0 + 20000, T0 + 9000),
                     0);
    wr(&v, APIC_LVT_TIMER, 0x40, T0 + 10000);
    vlapic_timer_update(&v, T0 + 30000);
    assert_int_equal(vlapic_pending(&v), -1);
    assert_int_equal(vlapic_read_tsc_deadline(&v, &val), 0);
    assert_int_equal(val, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_bad_offsets),
        cmocka_unit_test(test_unimplemented_registers),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_writable_bits),
        cmocka_unit_test(test_tpr_masking),
        cmocka_unit_test(test_isr_nesting_and_eoi_order),
        cmocka_unit_test(test_level_eoi),
        cmocka_unit_test(test_apr),
        cmocka_unit_test(test_esr_latch),
        cmocka_unit_test(test_error_interrupt),
        cmocka_unit_test(test_illegal_vectors),
        cmocka_unit_test(test_icr_delivery),
        cmocka_unit_test(test_svr_disable),
        cmocka_unit_test(test_timer_oneshot_divides),
        cmocka_unit_test(test_timer_read_syncs),
        cmocka_unit_test(test_timer_periodic),
        cmocka_unit_test(test_timer_periodic_no_drift),
        cmocka_unit_test(test_timer_masked),
        cmocka_unit_test(test_timer_divide_change),
        cmocka_unit_test(test_timer_mode_switch),
        cmocka_unit_test(test_tsc_deadline_off),
        cmocka_unit_test(test_tsc_deadline),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

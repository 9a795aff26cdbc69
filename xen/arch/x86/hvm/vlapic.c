/*
 * Virtual local APIC: the xAPIC register page, interrupt priorities
 * (IRR/ISR/TPR/PPR), IPIs to this CPU, the error register and the timer.
 * Pure logic, driven by the caller's MMIO emulation and timer; see
 * vlapic.h for the model and the contracts.
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "vlapic.h"

#define APIC_VERSION        0x00050014u /* max LVT 5 (6 entries), 0x14 */

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR };

/* Writable bits of each LVT entry (delivery status and remote IRR are
 * read-only; the timer's bit 18 only with TSC-deadline mode). */
static const uint32_t lvt_writable[VLAPIC_LVT_NR] = {
    [LVT_TIMER]   = 0x000300ffu,        /* vector, mask, mode bit 17 */
    [LVT_THERMAL] = 0x000107ffu,        /* vector, delivery mode, mask */
    [LVT_PERF]    = 0x000107ffu,
    [LVT_LINT0]   = 0x0001a7ffu,        /* + polarity, trigger mode */
    [LVT_LINT1]   = 0x0001a7ffu,
    [LVT_ERROR]   = 0x000100ffu,
};
#define LVT_TIMER_MODE      (3u << 17)

#define SVR_WRITABLE        0x000003ffu /* vector, enable, focus check */
#define ICR_LO_WRITABLE     0x000ccfffu /* all but delivery status */
#define ICR_LOGICAL         (1u << 11)
#define ICR_DM_FIXED        0
#define ICR_DM_LOWEST       1
#define TDCR_WRITABLE       0x0000000bu

/* ---- Vector bitmaps ----------------------------------------------------- */

static bool vec_test(const uint32_t *r, unsigned int vec)
{
    return r[vec / 32] & (1u << (vec % 32));
}

static void vec_set(uint32_t *r, unsigned int vec)
{
    r[vec / 32] |= 1u << (vec % 32);
}

static void vec_clear(uint32_t *r, unsigned int vec)
{
    r[vec / 32] &= ~(1u << (vec % 32));
}

/* The highest vector set, or -1. */
static int vec_highest(const uint32_t *r)
{
    for ( int i = 7; i >= 0; i-- )
        if ( r[i] )
            return i * 32 + 31 - __builtin_clz(r[i]);
    return -1;
}

/* ---- Priorities --------------------------------------------------------- */

static bool sw_enabled(const struct vlapic *v)
{
    return v->svr & APIC_SVR_ENABLE;
}

static uint32_t ppr(const struct vlapic *v)
{
    int isrv = vec_highest(v->isr);
    uint32_t isr_class = isrv < 0 ? 0 : isrv & 0xf0;

    return (v->tpr & 0xf0) >= isr_class ? v->tpr : isr_class;
}

/* Arbitration priority, as P6-style APR reads: TPR while it is at least
 * the highest pending and above the highest in-service class, else the
 * highest of the three classes. */
static uint32_t apr(const struct vlapic *v)
{
    int irrv = vec_highest(v->irr), isrv = vec_highest(v->isr);
    uint32_t irr_class = irrv < 0 ? 0 : irrv & 0xf0;
    uint32_t isr_class = isrv < 0 ? 0 : isrv & 0xf0;
    uint32_t tpr_class = v->tpr & 0xf0;

    if ( tpr_class >= irr_class && tpr_class > isr_class )
        return v->tpr;
    return MAX(tpr_class, MAX(irr_class, isr_class));
}

/* ---- Acceptance and errors ---------------------------------------------- */

/* A legal vector reaches IRR (TMR says edge or level). */
static void accept(struct vlapic *v, unsigned int vec, bool level)
{
    ASSERT(vec >= 16 && vec < 256);
    if ( !sw_enabled(v) )
    {
        v->n.irqs_dropped++;
        return;
    }
    vec_set(v->irr, vec);
    if ( level )
        vec_set(v->tmr, vec);
    else
        vec_clear(v->tmr, vec);
}

/*
 * Record an error for the next ESR write to latch, and raise the error
 * interrupt.  An illegal vector in the error LVT itself is not reported
 * again (it would loop).
 */
static void set_error(struct vlapic *v, uint32_t bits)
{
    uint32_t lvt = v->lvt[LVT_ERROR];

    v->esr_pending |= bits;
    if ( !(lvt & APIC_LVT_MASKED) && (lvt & 0xff) >= 16 )
        accept(v, lvt & 0xff, false);
}

/* An interrupt from a local source (LVT) with vector vec. */
static void deliver_local(struct vlapic *v, unsigned int vec, bool level)
{
    if ( vec < 16 )
        set_error(v, APIC_ESR_RECV_ILLEGAL);
    else
        accept(v, vec, level);
}

void vlapic_set_irq(struct vlapic *v, uint8_t vector, bool level)
{
    deliver_local(v, vector, level);
}

int vlapic_pending(const struct vlapic *v)
{
    int irrv = vec_highest(v->irr);

    if ( !sw_enabled(v) || irrv < 0 )
        return -1;
    return (uint32_t)(irrv & 0xf0) > (ppr(v) & 0xf0) ? irrv : -1;
}

void vlapic_ack(struct vlapic *v, uint8_t vector)
{
    ASSERT(vec_test(v->irr, vector));
    vec_clear(v->irr, vector);
    vec_set(v->isr, vector);
}

/* EOI: the highest in-service vector is done. */
static void eoi(struct vlapic *v)
{
    int isrv = vec_highest(v->isr);

    if ( isrv < 0 )
        return;
    vec_clear(v->isr, isrv);
    if ( vec_test(v->tmr, isrv) )
        vec_set(v->level_eoi, isrv);
}

bool vlapic_take_level_eoi(struct vlapic *v, uint8_t *vector)
{
    int vec = vec_highest(v->level_eoi);

    if ( vec < 0 )
        return false;
    vec_clear(v->level_eoi, vec);
    *vector = vec;
    return true;
}

/* ---- IPIs --------------------------------------------------------------- */

/* Does the IPI in ICR reach this APIC? */
static bool ipi_hits_self(const struct vlapic *v)
{
    uint8_t dest = v->icr_hi >> 24, ldr = v->ldr >> 24;

    switch ( (v->icr_lo >> 18) & 3 )    /* destination shorthand */
    {
    case 1:                             /* self */
    case 2:                             /* all including self */
        return true;
    case 3:                             /* all excluding self */
        return false;
    }
    if ( dest == 0xff )
        return true;                    /* broadcast, either mode */
    if ( !(v->icr_lo & ICR_LOGICAL) )
        return dest == v->id >> 24;
    if ( (v->dfr >> 28) == 0xf )        /* flat model */
        return dest & ldr;
    return (dest >> 4) == (ldr >> 4) && (dest & ldr & 0xf);     /* cluster */
}

/* A write to ICR low sends the IPI it describes. */
static void send_ipi(struct vlapic *v)
{
    unsigned int vec = v->icr_lo & 0xff, mode = (v->icr_lo >> 8) & 7;

    if ( mode != ICR_DM_FIXED && mode != ICR_DM_LOWEST )
    {
        v->n.ipis_ignored++;            /* NMI, INIT, SIPI, SMI */
        return;
    }
    if ( vec < 16 )
    {
        set_error(v, APIC_ESR_SEND_ILLEGAL);
        return;
    }
    if ( ipi_hits_self(v) )
        accept(v, vec, false);          /* IPIs are edge-triggered */
    else
        v->n.ipis_ignored++;
}

/* ---- Timer -------------------------------------------------------------- */

/*
 * floor(a * b / c) (rounded up when up), UINT64_MAX when it does not fit.
 * The 128-by-64 division is one DIV instruction: the compiler would call
 * libgcc's __udivti3, which the hypervisor image does not link.
 */
static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c, bool up)
{
    unsigned __int128 p = (unsigned __int128)a * b;
    uint64_t q, r;

    ASSERT(c);
    if ( up )
        p += c - 1;
    if ( (uint64_t)(p >> 64) >= c )
        return UINT64_MAX;
    asm ( "divq %4" : "=a" (q), "=d" (r)
                    : "a" ((uint64_t)p), "d" ((uint64_t)(p >> 64)), "rm" (c) );
    return q;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

static unsigned int timer_mode(const struct vlapic *v)
{
    return v->lvt[LVT_TIMER] & LVT_TIMER_MODE;
}

/* Divide configuration bits 3,1,0: 000 = /2 ... 110 = /128, 111 = /1. */
static uint64_t timer_divisor(const struct vlapic *v)
{
    unsigned int x = ((v->tdcr >> 1) & 4) | (v->tdcr & 3);

    return 1ull << ((x + 1) & 7);
}

static uint64_t timer_period(const struct vlapic *v)
{
    return (uint64_t)v->tmict * timer_divisor(v);
}

/* APIC clock ticks from t_anchor to now. */
static uint64_t ticks_since_anchor(const struct vlapic *v, uint64_t now)
{
    if ( now <= v->t_anchor )
        return 0;
    return mul_div(now - v->t_anchor, VLAPIC_TIMER_HZ / 1000, v->tsc_khz,
                   false);
}

/* APIC clock tick (after t_anchor) of expiry k. */
static uint64_t expiry_ticks(const struct vlapic *v, uint64_t k)
{
    uint64_t t;

    if ( __builtin_mul_overflow(k, timer_period(v), &t) )
        return UINT64_MAX;
    return sat_add(v->t_first, t);
}

/* The first TSC at which ticks_since_anchor reaches expiry k. */
static uint64_t expiry_tsc(const struct vlapic *v, uint64_t k)
{
    uint64_t tsc = mul_div(expiry_ticks(v, k), v->tsc_khz,
                           VLAPIC_TIMER_HZ / 1000, true);

    return sat_add(v->t_anchor, tsc);
}

/* (Re)start the count: the first expiry is ticks APIC clock ticks after
 * now, the later ones (periodic) a period apart.  0 stops the timer. */
static void timer_start(struct vlapic *v, uint64_t now, uint64_t ticks)
{
    v->t_anchor = now;
    v->t_first = ticks;
    v->t_fired = 0;
    v->t_running = ticks != 0;
    v->t_next = v->t_running ? expiry_tsc(v, 0) : UINT64_MAX;
}

/* The current-count register (the timer is up to date with now). */
static uint32_t current_count(const struct vlapic *v, uint64_t now)
{
    uint64_t a, end;

    if ( !v->t_running || timer_mode(v) == APIC_LVT_DEADLINE )
        return 0;
    a = ticks_since_anchor(v, now);
    end = expiry_ticks(v, v->t_fired);
    if ( a >= end )
        return 0;
    return (end - a + timer_divisor(v) - 1) / timer_divisor(v);
}

static void timer_fire(struct vlapic *v)
{
    uint32_t lvt = v->lvt[LVT_TIMER];

    if ( lvt & APIC_LVT_MASKED )
        return;
    v->n.timer_fired++;
    deliver_local(v, lvt & 0xff, false);    /* the timer is always edge */
}

void vlapic_timer_update(struct vlapic *v, uint64_t now_tsc)
{
    uint64_t k;

    if ( timer_mode(v) == APIC_LVT_DEADLINE )
    {
        if ( v->tsc_deadline && now_tsc >= v->tsc_deadline )
        {
            v->tsc_deadline = 0;
            timer_fire(v);
        }
        return;
    }
    if ( !v->t_running || now_tsc < v->t_next )
        return;
    timer_fire(v);
    if ( timer_mode(v) != APIC_LVT_PERIODIC )
    {
        v->t_running = false;
        v->t_next = UINT64_MAX;
        return;
    }
    /* The first expiry after now: phase kept, missed ones merged. */
    ASSERT(timer_period(v));
    k = (ticks_since_anchor(v, now_tsc) - v->t_first) / timer_period(v) + 1;
    v->n.timer_missed += k - v->t_fired - 1;
    v->t_fired = k;
    v->t_next = expiry_tsc(v, k);
}

uint64_t vlapic_timer_deadline(const struct vlapic *v)
{
    if ( v->lvt[LVT_TIMER] & APIC_LVT_MASKED )
        return UINT64_MAX;
    if ( timer_mode(v) == APIC_LVT_DEADLINE )
        return v->tsc_deadline ? v->tsc_deadline : UINT64_MAX;
    return v->t_next;
}

/* A new divide value continues the current count at the new rate. */
static void write_tdcr(struct vlapic *v, uint32_t val, uint64_t now)
{
    uint32_t count = current_count(v, now);

    v->tdcr = val & TDCR_WRITABLE;
    if ( v->t_running )
        timer_start(v, now, count * timer_divisor(v));
}

static void write_lvt_timer(struct vlapic *v, uint32_t val)
{
    uint32_t mask = lvt_writable[LVT_TIMER];
    bool was_deadline = timer_mode(v) == APIC_LVT_DEADLINE;

    if ( v->deadline_ok )
        mask |= 1u << 18;
    v->lvt[LVT_TIMER] = val & mask;
    /* Entering or leaving TSC-deadline mode disarms the timer. */
    if ( was_deadline != (timer_mode(v) == APIC_LVT_DEADLINE) )
    {
        v->tmict = 0;
        v->tsc_deadline = 0;
        timer_start(v, 0, 0);
    }
}

void vlapic_enable_tsc_deadline(struct vlapic *v)
{
    v->deadline_ok = true;
}

int vlapic_write_tsc_deadline(struct vlapic *v, uint64_t val,
                              uint64_t now_tsc)
{
    if ( !v->deadline_ok )
        return -EOPNOTSUPP;
    vlapic_timer_update(v, now_tsc);
    if ( timer_mode(v) != APIC_LVT_DEADLINE )
        return 0;                       /* ignored in the other modes */
    v->tsc_deadline = val;
    vlapic_timer_update(v, now_tsc);    /* a past deadline fires now */
    return 0;
}

int vlapic_read_tsc_deadline(const struct vlapic *v, uint64_t *val)
{
    if ( !v->deadline_ok )
        return -EOPNOTSUPP;
    *val = timer_mode(v) == APIC_LVT_DEADLINE ? v->tsc_deadline : 0;
    return 0;
}

/* ---- Register page ------------------------------------------------------ */

void vlapic_init(struct vlapic *v, uint32_t apic_id, uint64_t tsc_khz)
{
    ASSERT(tsc_khz);
    memset(v, 0, sizeof(*v));
    v->id = apic_id << 24;
    v->dfr = 0xffffffffu;
    v->svr = 0xff;
    for ( unsigned int i = 0; i < VLAPIC_LVT_NR; i++ )
        v->lvt[i] = APIC_LVT_MASKED;
    v->tsc_khz = tsc_khz;
    v->t_next = UINT64_MAX;
}

static bool bad_offset(uint32_t offset)
{
    return offset >= 0x1000 || (offset & 0xf);
}

/* The value of register reg (offset / 16); false: no such register. */
static bool read_reg(const struct vlapic *v, unsigned int reg, uint64_t now,
                     uint32_t *val)
{
    if ( reg >= APIC_ISR / 16 && reg < APIC_ESR / 16 )
    {
        const uint32_t *bank = reg < APIC_TMR / 16 ? v->isr
                             : reg < APIC_IRR / 16 ? v->tmr : v->irr;

        *val = bank[reg % 8];
        return true;
    }
    if ( reg >= APIC_LVT_TIMER / 16 && reg <= APIC_LVT_ERROR / 16 )
    {
        *val = v->lvt[reg - APIC_LVT_TIMER / 16];
        return true;
    }
    switch ( reg * 16 )
    {
    case APIC_ID:     *val = v->id; break;
    case APIC_LVR:    *val = APIC_VERSION; break;
    case APIC_TPR:    *val = v->tpr; break;
    case APIC_APR:    *val = apr(v); break;
    case APIC_PPR:    *val = ppr(v); break;
    case APIC_EOI:    /* write-only */
    case APIC_RRD:    *val = 0; break;
    case APIC_LDR:    *val = v->ldr; break;
    case APIC_DFR:    *val = v->dfr; break;
    case APIC_SVR:    *val = v->svr; break;
    case APIC_ESR:    *val = v->esr; break;
    case APIC_ICR_LO: *val = v->icr_lo; break;
    case APIC_ICR_HI: *val = v->icr_hi; break;
    case APIC_TMICT:  *val = v->tmict; break;
    case APIC_TMCCT:  *val = current_count(v, now); break;
    case APIC_TDCR:   *val = v->tdcr; break;
    default:          return false;
    }
    return true;
}

int vlapic_read(struct vlapic *v, uint32_t offset, uint32_t *val,
                uint64_t now_tsc)
{
    if ( bad_offset(offset) )
        return -EINVAL;
    vlapic_timer_update(v, now_tsc);
    if ( !read_reg(v, offset / 16, now_tsc, val) )
    {
        *val = 0;
        set_error(v, APIC_ESR_ILLEGAL_REG);
    }
    return 0;
}

static void write_svr(struct vlapic *v, uint32_t val)
{
    v->svr = val & SVR_WRITABLE;
    if ( !sw_enabled(v) )
        for ( unsigned int i = 0; i < VLAPIC_LVT_NR; i++ )
            v->lvt[i] |= APIC_LVT_MASKED;
}

static void write_lvt(struct vlapic *v, unsigned int i, uint32_t val)
{
    if ( !sw_enabled(v) )
        val |= APIC_LVT_MASKED;         /* cannot be unmasked while off */
    if ( i == LVT_TIMER )
        write_lvt_timer(v, val);
    else
        v->lvt[i] = val & lvt_writable[i];
}

/* Registers a guest write changes; false: no such register. */
static bool write_reg(struct vlapic *v, uint32_t offset, uint32_t val,
                      uint64_t now)
{
    if ( offset >= APIC_LVT_TIMER && offset <= APIC_LVT_ERROR )
    {
        write_lvt(v, (offset - APIC_LVT_TIMER) / 16, val);
        return true;
    }
    switch ( offset )
    {
    case APIC_ID:     v->id = val & 0xff000000u; break;
    case APIC_TPR:    v->tpr = val & 0xff; break;
    case APIC_EOI:    eoi(v); break;
    case APIC_LDR:    v->ldr = val & 0xff000000u; break;
    case APIC_DFR:    v->dfr = (val & 0xf0000000u) | 0x0fffffffu; break;
    case APIC_SVR:    write_svr(v, val); break;
    case APIC_ESR:
        v->esr = v->esr_pending;
        v->esr_pending = 0;
        break;
    case APIC_ICR_LO:
        v->icr_lo = val & ICR_LO_WRITABLE;
        send_ipi(v);
        break;
    case APIC_ICR_HI: v->icr_hi = val & 0xff000000u; break;
    case APIC_TMICT:
        if ( timer_mode(v) != APIC_LVT_DEADLINE )
        {
            v->tmict = val;
            timer_start(v, now, timer_period(v));
        }
        break;
    case APIC_TDCR:   write_tdcr(v, val, now); break;
    default:          return false;
    }
    return true;
}

int vlapic_write(struct vlapic *v, uint32_t offset, uint32_t val,
                 uint64_t now_tsc)
{
    uint32_t dummy;

    if ( bad_offset(offset) )
        return -EINVAL;
    /* Expiries before this write happen under the old settings. */
    vlapic_timer_update(v, now_tsc);
    if ( !write_reg(v, offset, val, now_tsc) &&
         !read_reg(v, offset / 16, now_tsc, &dummy) )
        set_error(v, APIC_ESR_ILLEGAL_REG);
    return 0;
}

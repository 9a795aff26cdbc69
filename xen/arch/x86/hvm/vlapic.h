/*
 * Virtual local APIC (xAPIC register page), pure logic: no hardware
 * access, no locking (one vCPU owns it).  The caller turns guest MMIO on
 * the APIC page into vlapic_read/vlapic_write, injects what
 * vlapic_pending says (then vlapic_ack), and wakes up for the timer at
 * vlapic_timer_deadline to call vlapic_timer_update.
 *
 * Model: version 0x14, 6 LVT entries (timer, thermal, performance
 * counters, LINT0, LINT1, error; no CMCI), one CPU: fixed and
 * lowest-priority IPIs whose destination includes this APIC are
 * delivered here, every other IPI (other destinations, NMI, INIT, SIPI,
 * SMI) is dropped and counted.  No x2APIC.
 *
 * Time: every entry point that depends on time takes now_tsc, the guest's
 * TSC (the caller applies any TSC offset), which must not go backwards.
 * The APIC timer's input clock is VLAPIC_TIMER_HZ (1 GHz, one tick per
 * nanosecond) whatever the TSC frequency, and is divided by the divide
 * configuration register (1..128).  Timer expiries are computed from the
 * time the count was started, so a periodic timer does not drift however
 * late vlapic_timer_update is called.
 */
#ifndef HVM_VLAPIC_H
#define HVM_VLAPIC_H

#include <xen/types.h>

#define VLAPIC_TIMER_HZ     1000000000ull

/* Register offsets in the 4 KiB APIC page. */
#define APIC_ID             0x020
#define APIC_LVR            0x030   /* version: 0x00050014 */
#define APIC_TPR            0x080
#define APIC_APR            0x090
#define APIC_PPR            0x0a0
#define APIC_EOI            0x0b0
#define APIC_RRD            0x0c0
#define APIC_LDR            0x0d0
#define APIC_DFR            0x0e0
#define APIC_SVR            0x0f0
#define APIC_ISR            0x100   /* 8 registers, 0x10 apart */
#define APIC_TMR            0x180
#define APIC_IRR            0x200
#define APIC_ESR            0x280
#define APIC_ICR_LO         0x300
#define APIC_ICR_HI         0x310
#define APIC_LVT_TIMER      0x320
#define APIC_LVT_THERMAL    0x330
#define APIC_LVT_PERF       0x340
#define APIC_LVT_LINT0      0x350
#define APIC_LVT_LINT1      0x360
#define APIC_LVT_ERROR      0x370
#define APIC_TMICT          0x380   /* timer initial count */
#define APIC_TMCCT          0x390   /* timer current count */
#define APIC_TDCR           0x3e0   /* timer divide configuration */

#define APIC_SVR_ENABLE     (1u << 8)
#define APIC_LVT_MASKED     (1u << 16)
#define APIC_LVT_PERIODIC   (1u << 17)  /* timer mode 01 */
#define APIC_LVT_DEADLINE   (2u << 17)  /* timer mode 10 (TSC-deadline) */

/* ESR bits. */
#define APIC_ESR_SEND_ILLEGAL   (1u << 5)   /* ICR with a vector < 16 */
#define APIC_ESR_RECV_ILLEGAL   (1u << 6)   /* a vector < 16 arrived */
#define APIC_ESR_ILLEGAL_REG    (1u << 7)   /* unimplemented register */

#define VLAPIC_LVT_NR       6

struct vlapic_counters {
    uint64_t ipis_ignored;      /* ICR sends that reached no one here */
    uint64_t irqs_dropped;      /* refused: the APIC is software-disabled */
    uint64_t timer_fired;       /* expiries signalled (LVT not masked) */
    uint64_t timer_missed;      /* periodic expiries merged into a later one
                                 * (vlapic_timer_update called late) */
};

/* All fields are private to vlapic.c; tests and callers use the API. */
struct vlapic {
    uint32_t id, tpr, ldr, dfr, svr;
    uint32_t esr;               /* what ESR reads: latched by an ESR write */
    uint32_t esr_pending;       /* errors since the last ESR write */
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[VLAPIC_LVT_NR];
    uint32_t irr[8], isr[8], tmr[8];
    uint32_t level_eoi[8];      /* EOIs of level-triggered vectors, not
                                 * yet taken by vlapic_take_level_eoi */
    uint32_t tmict, tdcr;
    uint64_t tsc_khz;
    /* One-shot/periodic timer: expiry k (0, 1, ...) is at APIC clock tick
     * t_first + k * period after TSC t_anchor. */
    uint64_t t_anchor, t_first, t_fired;
    uint64_t t_next;            /* TSC of expiry t_fired; UINT64_MAX: off */
    bool t_running;
    bool deadline_ok;           /* TSC-deadline mode offered */
    uint64_t tsc_deadline;      /* IA32_TSC_DEADLINE; 0: disarmed */
    struct vlapic_counters n;
};

/* The state after reset (software-disabled, every LVT masked), for APIC
 * ID apic_id and a guest TSC of tsc_khz kHz. */
void vlapic_init(struct vlapic *v, uint32_t apic_id, uint64_t tsc_khz);

/*
 * A 32-bit guest access to the APIC page at offset (0..0xfff).  The caller
 * passes only 4-byte accesses; offset must be 16-byte aligned.
 * Returns 0, or -EINVAL for a misaligned or out-of-page offset (the
 * caller crashes the domain).  An aligned offset that is no register sets
 * ESR "illegal register address" (and reads 0), as the CPU does.  Writes
 * to read-only registers are ignored.
 */
int vlapic_read(struct vlapic *v, uint32_t offset, uint32_t *val,
                uint64_t now_tsc);
int vlapic_write(struct vlapic *v, uint32_t offset, uint32_t val,
                 uint64_t now_tsc);

/*
 * An interrupt arrives (IO-APIC, MSI, a device model): vector into IRR,
 * TMR set for level-triggered.  Vectors below 16 set ESR "receive illegal
 * vector" instead; a software-disabled APIC drops it (counted).
 */
void vlapic_set_irq(struct vlapic *v, uint8_t vector, bool level);

/* The vector to inject now: the highest in IRR whose priority class is
 * above PPR's; -1 when none (or the APIC is software-disabled). */
int vlapic_pending(const struct vlapic *v);

/* The CPU took vector (which vlapic_pending gave): IRR -> ISR. */
void vlapic_ack(struct vlapic *v, uint8_t vector);

/* Take one level-triggered vector whose EOI the guest wrote (for the
 * IO-APIC's remote IRR); false when there is none. */
bool vlapic_take_level_eoi(struct vlapic *v, uint8_t *vector);

/* The guest TSC at which the timer next puts an interrupt in IRR;
 * UINT64_MAX when it will not (stopped, or its LVT is masked). */
uint64_t vlapic_timer_deadline(const struct vlapic *v);

/* Bring the timer up to now: an expired timer puts its LVT vector in IRR
 * (unless masked); a periodic one re-arms at its next multiple of the
 * period (expiries missed meanwhile are merged into this one). */
void vlapic_timer_update(struct vlapic *v, uint64_t now_tsc);

/*
 * TSC-deadline mode, off unless vlapic_enable_tsc_deadline was called
 * (the guest's CPUID.1:ECX bit 24 must then say so).  MSR 0x6E0:
 * vlapic_write_tsc_deadline arms (0 disarms) the timer when the LVT timer
 * is in TSC-deadline mode and is ignored otherwise; a deadline in the
 * past fires at once.  Both return -EOPNOTSUPP when the mode is not
 * offered (the caller injects #GP, as for a missing MSR).
 */
void vlapic_enable_tsc_deadline(struct vlapic *v);
int vlapic_write_tsc_deadline(struct vlapic *v, uint64_t val,
                              uint64_t now_tsc);
int vlapic_read_tsc_deadline(const struct vlapic *v, uint64_t *val);

#endif /* HVM_VLAPIC_H */

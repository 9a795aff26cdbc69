/*
 * Host time: the TSC frequency, measured against the PIT (whose clock is
 * 1.193182 MHz on every PC, emulated or not), and the local APIC timer
 * that takes the CPU back from a guest that makes no exits of its own.
 */
#include <xen/lib.h>

#include "boot.h"

#define PIT_HZ          1193182u
#define PIT_CH2         0x42
#define PIT_CMD         0x43
#define PIT_CH2_GATE    0x61    /* bit 0 gate, bit 1 speaker, bit 5 out */
#define CAL_MS          10
#define PIC1_DATA       0x21
#define PIC2_DATA       0xa1

#define MSR_APIC_BASE   0x1b
#define APIC_GLOBAL_ON  (1u << 11)
#define APIC_MMIO       0xfee00000ul    /* identity mapped */
#define APIC_EOI        0x0b0
#define APIC_SVR        0x0f0
#define APIC_SW_ENABLE  (1u << 8)
#define APIC_LVT_TIMER  0x320
#define LVT_PERIODIC    (1u << 17)
#define LVT_MASKED      (1u << 16)
#define APIC_TMR_INIT   0x380
#define APIC_TMR_CUR    0x390
#define APIC_TMR_DIV    0x3e0
#define TMR_DIV_1       0xb

uint64_t tsc_khz;
static uint32_t lapic_khz;      /* APIC timer ticks per ms (divide by 1) */

static volatile uint32_t *apic_reg(unsigned int off)
{
    return (volatile uint32_t *)(APIC_MMIO + off);
}

/* PIT channel 2, mode 0: its output rises after CAL_MS. */
static void pit_wait_start(void)
{
    uint16_t count = PIT_HZ / (1000 / CAL_MS);

    outb(PIT_CH2_GATE, (inb(PIT_CH2_GATE) & ~0x02) | 0x01);
    outb(PIT_CMD, 0xb0);        /* channel 2, lo/hi byte, mode 0 */
    outb(PIT_CH2, count & 0xff);
    outb(PIT_CH2, count >> 8);
}

void timer_init(void)
{
    uint64_t t0, t1;
    uint32_t cur;

    /* The firmware left the 8259s unmasked (its PIT tick on vector 8):
     * only the local APIC interrupts this host. */
    outb(PIC1_DATA, 0xff);
    outb(PIC2_DATA, 0xff);
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_GLOBAL_ON);
    *apic_reg(APIC_SVR) = APIC_SW_ENABLE | HOST_SPURIOUS_VECTOR;
    *apic_reg(APIC_TMR_DIV) = TMR_DIV_1;
    *apic_reg(APIC_LVT_TIMER) = LVT_MASKED | HOST_TIMER_VECTOR;
    pit_wait_start();
    *apic_reg(APIC_TMR_INIT) = ~0u;
    t0 = rdtsc();
    while ( !(inb(PIT_CH2_GATE) & 0x20) )
        asm volatile ( "pause" );
    t1 = rdtsc();
    cur = *apic_reg(APIC_TMR_CUR);
    *apic_reg(APIC_TMR_INIT) = 0;
    tsc_khz = (t1 - t0) / CAL_MS;
    lapic_khz = (~0u - cur) / CAL_MS;
    if ( !tsc_khz || !lapic_khz )
        panic("timer: no TSC or APIC timer progress over %u ms of PIT",
              CAL_MS);
    printk("timer: TSC %llu kHz, APIC timer %u kHz (PIT-calibrated)\n",
           (unsigned long long)tsc_khz, lapic_khz);
}

uint64_t host_timer_irqs;       /* counted by irq_timer (head.S) */
static bool periodic;           /* lapic_timer_start ran */

void lapic_timer_start(unsigned int ms)
{
    uint64_t t0 = rdtsc(), seen = host_timer_irqs;

    periodic = true;
    *apic_reg(APIC_LVT_TIMER) = LVT_PERIODIC | HOST_TIMER_VECTOR;
    *apic_reg(APIC_TMR_INIT) = lapic_khz * ms;
    /* The first tick must arrive: without it no guest could be stopped. */
    while ( host_timer_irqs == seen )
    {
        asm volatile ( "sti; hlt; cli" ::: "memory" );
        if ( rdtsc() - t0 > 100 * ms * tsc_khz )
            panic("timer: no local APIC timer interrupt in %u ms", 100 * ms);
    }
    printk("timer: local APIC timer every %u ms, first tick after %llu us\n",
           ms, (unsigned long long)((rdtsc() - t0) * 1000 / tsc_khz));
}

void timer_halt_until(uint64_t tsc)
{
    uint64_t now = rdtsc(), ticks;

    if ( periodic )
    {
        asm volatile ( "sti; hlt; cli" ::: "memory" );
        return;
    }
    if ( tsc <= now )
        return;
    /* At most a second at a time (the caller halts again): a deadline
     * however far keeps the product in range. */
    ticks = MIN(tsc - now, 1000 * tsc_khz) * lapic_khz / tsc_khz;
    *apic_reg(APIC_LVT_TIMER) = HOST_TIMER_VECTOR;      /* one-shot */
    *apic_reg(APIC_TMR_INIT) = ticks ? MIN(ticks, (uint64_t)~0u) : 1;
    asm volatile ( "sti; hlt; cli" ::: "memory" );
    /* Woken early or not, no tick may reach a guest later: VMX runs it
     * without external-interrupt exiting then, so the guest would take
     * it.  Stop the timer, then take a tick that fired meanwhile. */
    *apic_reg(APIC_TMR_INIT) = 0;
    *apic_reg(APIC_LVT_TIMER) = LVT_MASKED | HOST_TIMER_VECTOR;
    asm volatile ( "sti; nop; cli" ::: "memory" );
}

void lapic_eoi(void)
{
    *apic_reg(APIC_EOI) = 0;
}

/*
 * The bare-metal platform: CPU helpers, the console and what setup.c hands
 * to the rest of the image.  Used by boot/ and hvm/ only; module sources
 * never include it.
 */
#ifndef BOOT_H
#define BOOT_H

#include <stdarg.h>
#include <xen/types.h>

#include "boot-defs.h"

static inline void outb(uint16_t port, uint8_t v)
{
    asm volatile ( "outb %0, %1" :: "a" (v), "Nd" (port) );
}

static inline void outw(uint16_t port, uint16_t v)
{
    asm volatile ( "outw %0, %1" :: "a" (v), "Nd" (port) );
}

static inline void outl(uint16_t port, uint32_t v)
{
    asm volatile ( "outl %0, %1" :: "a" (v), "Nd" (port) );
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    asm volatile ( "inb %1, %0" : "=a" (v) : "Nd" (port) );
    return v;
}

struct cpuid_regs { uint32_t a, b, c, d; };

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t sub)
{
    struct cpuid_regs r;

    asm volatile ( "cpuid" : "=a" (r.a), "=b" (r.b), "=c" (r.c), "=d" (r.d)
                   : "a" (leaf), "c" (sub) );
    return r;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    asm volatile ( "rdmsr" : "=a" (lo), "=d" (hi) : "c" (msr) );
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    asm volatile ( "wrmsr" :: "c" (msr), "a" ((uint32_t)v),
                   "d" ((uint32_t)(v >> 32)) );
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    asm volatile ( "rdtsc" : "=a" (lo), "=d" (hi) );
    return ((uint64_t)hi << 32) | lo;
}

#define read_cr(n) ({ uint64_t v_; \
    asm volatile ( "mov %%cr" #n ", %0" : "=r" (v_) ); v_; })
#define write_cr(n, v) \
    asm volatile ( "mov %0, %%cr" #n :: "r" ((uint64_t)(v)) : "memory" )

/* console.c */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void console_write(const char *s, size_t n);

/* setup.c */
void setup_memory(uint32_t mb_magic, uint32_t mb_info);
void traps_init(void);
uint64_t boot_tss_base(void);   /* the host TSS (VMX host state needs it) */
/* Nothing below this is heap: the firmware's first MiB, the image, and
 * from a multiboot loader its structures and a disk payload.  Above it
 * the memory map decides (setup.c). */
extern uint64_t boot_reserved_end;

/* A guest payload the loader brought (multiboot module 0) or setup read
 * from the boot disk: boot-reserved memory, never heap. size 0: none. */
struct boot_payload { uint64_t addr, size; };
extern struct boot_payload boot_payload;

/* timer.c */
extern uint64_t tsc_khz;        /* TSC ticks per millisecond (measured) */
/* Measure the TSC and the local APIC timer against the PIT. */
void timer_init(void);
/* Interrupt vector HOST_TIMER_VECTOR every ms milliseconds, from the
 * local APIC timer; the interrupt handler only acknowledges it. */
void lapic_timer_start(unsigned int ms);
/* Halt this CPU until an interrupt, at the latest at TSC value tsc: the
 * periodic timer wakes it if it runs (at its next tick), else a one-shot
 * local APIC timer armed for tsc (VMX with the preemption timer, which
 * stops guests but cannot wake a halted host). */
void timer_halt_until(uint64_t tsc);
/* Acknowledge an interrupt the CPU took on a VM exit (VMX). */
void lapic_eoi(void);
#define HOST_TIMER_VECTOR 0x20
#define HOST_SPURIOUS_VECTOR 0xff

/* main.c: leave the emulator with a result (0 = pass). */
void boot_exit(int fail) __attribute__((noreturn));

#endif /* BOOT_H */

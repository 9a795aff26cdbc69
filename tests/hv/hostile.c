/*
 * Hostile-guest scenarios: one domain per case, run one after the other
 * after the memory scenarios, each built from the hostile guest
 * (tests/hv/guests/hostile.c) told which case to run.  A case either must
 * crash its domain with a given reason (and only its domain: the next
 * case's guest must start), or must run to its end with the emulation it
 * asked for (an exception injected and handled by the guest, a string
 * I/O done).  Each prints "HV-HOSTILE <case>: PASS|FAIL <what happened>".
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "../../xen/arch/x86/boot/boot.h"
#include "../../xen/arch/x86/hvm/scenario.h"
#include "guests/hostile.h"

#define MB(x) ((uint64_t)(x) << 8)      /* pages in x MiB */

extern const uint8_t guest_hostile_start[], guest_hostile_end[];

enum outcome { CRASH, RUNS };

struct hostile_case {
    uint32_t test;
    enum outcome expect;
    const char *reason;         /* CRASH: in the crash reason */
    const char *alt_reason;     /* or this, where the CPU lacks the insn */
    uint32_t faults;            /* RUNS: exceptions the guest must see */
    bool cpu_may_fault;         /* RUNS: the CPU may raise some itself */
    uint64_t min_emulated;      /* RUNS: emulated instructions */
    const char *what;           /* RUNS: what the PASS line says */
};

static const struct hostile_case cases[] = {
    { HT_CPUID, RUNS, NULL, NULL, 0, false, 5,
      "policy seen by the guest: hypervisor bit, no SVM/VMX/APIC/MONITOR/"
      "RDTSCP, leaf 0x40000000" },
    { HT_CLGI, CRASH, "CLGI intercepted", NULL, 0, false, 0, NULL },
    { HT_STGI, CRASH, "STGI intercepted", NULL, 0, false, 0, NULL },
    { HT_VMRUN, CRASH, "VMRUN intercepted", NULL, 0, false, 0, NULL },
    { HT_VMLOAD, CRASH, "VMLOAD intercepted", NULL, 0, false, 0, NULL },
    { HT_VMSAVE, CRASH, "VMSAVE intercepted", NULL, 0, false, 0, NULL },
    { HT_SKINIT, CRASH, "SKINIT intercepted", "guest exception 6 (#UD)", 0,
      false, 0, NULL },
    { HT_INVLPGA, CRASH, "INVLPGA intercepted", NULL, 0, false, 0, NULL },
    { HT_VMXON, CRASH, "VMXON intercepted", NULL, 0, false, 0, NULL },
    { HT_INVD, RUNS, NULL, NULL, 0, false, 1, "INVD emulated as a no-op" },
    { HT_WBINVD, RUNS, NULL, NULL, 0, false, 1,
      "WBINVD emulated as a no-op" },
    { HT_XSETBV, RUNS, NULL, NULL, 5, false, 2,
      "#GP injected for each bad XCR0 value, handled by the guest; "
      "XCR0 = x87|SSE accepted" },
    /* The same counts on both vendors: AMD reads the interrupt-pending
     * MSR and may not write the patch level, Intel the other way round. */
    { HT_RDMSR, RUNS, NULL, NULL, 6, false, 5,
      "#GP injected for each unknown MSR, handled by the guest" },
    { HT_WRMSR, RUNS, NULL, NULL, 6, false, 5,
      "#GP injected for each unknown MSR or bad value, handled by the "
      "guest" },
    { HT_MWAIT, RUNS, NULL, NULL, 2, true, 0,
      "#UD for MONITOR and MWAIT (injected, or raised by a CPU without "
      "them), handled by the guest" },
    { HT_INS, RUNS, NULL, NULL, 0, false, 5,
      "REP INSB/INSW from port 0x1234 emulated (all ones, DF both ways, "
      "into PoD memory)" },
    { HT_OUTS, RUNS, NULL, NULL, 0, false, 2,
      "REP OUTSB to the console and REP OUTSW to port 0x1234 emulated" },
    { HT_UNBACKED, CRASH, "access to unbacked gpa 0x40000000", NULL, 0,
      false, 0, NULL },
    { HT_TRIPLE, CRASH, "triple fault", NULL, 0, false, 0, NULL },
    { HT_LOOP, CRASH, "CPU time limit exceeded", NULL, 0, false, 0, NULL },
    { HT_ALIVE, RUNS, NULL, NULL, 0, false, 5,
      "a domain after all the hostile ones ran to its end" },
    { HT_CR4, RUNS, NULL, NULL, 6, true, 0,
      "VMXE hidden; #GP for CR4 VMXE/SMXE/LA57/PCIDE/PKE/UMIP (injected, "
      "or raised by a CPU without them), PGE accepted" },
    { HT_PAGED_IO, RUNS, NULL, NULL, 0, false, 2,
      "REP OUTSB and REP INSB through the guest's own 32-bit page tables "
      "(a linear page nothing backs as a gpa; across into PoD memory)" },
};

static const struct hostile_case *case_of(uint32_t test)
{
    for ( unsigned int i = 0; i < ARRAY_SIZE(cases); i++ )
        if ( cases[i].test == test )
            return &cases[i];
    panic("hostile: no case %u", test);
}

static bool svm_only(const struct hvm_vendor *hw)
{
    return hw->format == P2M_FORMAT_NPT;
}

static bool vmx_only(const struct hvm_vendor *hw)
{
    return hw->format == P2M_FORMAT_EPT;
}

/* 2 MiB of RAM for the guest, and a few 4K PoD pages for the INS case. */
static void hostile_layout(struct scenario_run *run)
{
    struct hvm_guest *g = &run->g;

    hvm_guest_add(g, GR_BASE, 0, MB(2), 0, 0);
    hvm_guest_add(g, GR_POD, HOSTILE_POD_GFN, HOSTILE_POD_PAGES,
                  PAGE_ORDER_4K, GR_TOUCH_ALL);
    g->target = MB(2) + HOSTILE_POD_PAGES;
    /* The triple fault needs the CPU's own #GP and #DF; MONITOR/MWAIT
     * (and XSETBV without XSAVE) may raise #UD in the CPU before any
     * intercept, and a MOV to CR4 #GP. */
    g->own_exceptions = g->test == HT_TRIPLE || g->test == HT_MWAIT ||
                        g->test == HT_CR4 ||
                        (g->test == HT_XSETBV && !hvm_xcr0_allowed());
    g->time_limit_ms = g->test == HT_LOOP ? 100 : 0;
}

static int hostile_phase(struct hvm_vcpu *hv, uint32_t phase, uint32_t arg)
{
    struct scenario_run *run = hv->ctx;

    if ( phase == HP_STARTED && arg == run->g.test )
        run->state[0] = 1;
    else if ( phase == HP_FAULTS )
        run->state[1] = arg;
    else if ( phase == HP_TSC_KHZ )
        return tsc_khz;
    else
        return -EINVAL;
    return 0;
}

static bool contains(const char *s, const char *part)
{
    size_t n = 0;

    while ( part[n] )
        n++;
    for ( ; *s; s++ )
        if ( !memcmp(s, part, n) )
            return true;
    return false;
}

static bool crash_ok(const struct hostile_case *c, const struct hvm_vcpu *hv)
{
    bool no_insn = c->test == HT_SKINIT &&
                   !(cpuid(0x80000001, 0).c & (1u << 12));

    return hv->v->domain->crashed && !hv->done &&
           (contains(hv->crash, c->reason) ||
            (no_insn && contains(hv->crash, c->alt_reason)));
}

/*
 * The endless loop ran a second with IF=0 before it set IF=1: stopped
 * well inside that second, the host timer exited the guest whatever its
 * IF (V_INTR_MASKING on SVM); stopped after it, the CPU let the guest's
 * IF=0 hold the host timer off (an emulator gap; tests/hv says where).
 */
static const char *loop_note(const struct hostile_case *c,
                             const struct hvm_vcpu *hv)
{
    if ( c->test != HT_LOOP || !hv->n.preempts )
        return "";
    return hv->guest_cycles < 500 * tsc_khz ? " (stopped with IF=0)" :
           " (IF=0 held the host timer off: a CPU gap; stopped once IF=1)";
}

static void hostile_check(struct scenario_run *run)
{
    const struct hostile_case *c = case_of(run->g.test);
    const struct hvm_vcpu *hv = run->hv;
    const char *name = run->g.name + sizeof("hostile-") - 1;
    struct hostile_case no_xsave;
    bool ok;

    if ( c->test == HT_XSETBV && !hvm_xcr0_allowed() )
    {
        /* A CPU without XSAVE (QEMU's qemu64): XSETBV is a #UD the CPU
         * raises before any intercept. */
        no_xsave = *c;
        no_xsave.faults = 1;
        no_xsave.cpu_may_fault = true;
        no_xsave.min_emulated = 0;
        no_xsave.what = "no XSAVE on this CPU: #UD raised by the CPU, "
                        "handled by the guest";
        c = &no_xsave;
    }
    expect(run, run->state[0], "the guest never started");
    if ( c->expect == CRASH )
    {
        ok = crash_ok(c, hv);
        expect(run, ok, "want a crash with \"%s\", got %s \"%s\"",
               c->reason, hv->done ? "HC_EXIT" : "crash", hv->crash);
    }
    else
    {
        ok = hv->done && hv->result == 0 && !run->d->crashed &&
             run->state[1] == c->faults && hv->n.emulated >= c->min_emulated &&
             (c->cpu_may_fault ? hv->n.injected <= c->faults
                               : hv->n.injected == c->faults);
        expect(run, ok, "want a clean end: done %d result %#x crash \"%s\" "
               "guest saw %llu exceptions (want %u), %llu injected, %llu "
               "emulated", hv->done, hv->result, hv->crash,
               (unsigned long long)run->state[1], c->faults,
               (unsigned long long)hv->n.injected,
               (unsigned long long)hv->n.emulated);
    }
    if ( c->test == HT_LOOP )
        expect(run, hv->n.preempts >= 1, "no host timer exit stopped it");
    ok = ok && run->state[0] && !run->failures;
    if ( c->expect == CRASH && !run->d->crashed )
        printk("HV-HOSTILE %s: FAIL the domain did not crash (%s)\n", name,
               hv->done ? "the guest reached HC_EXIT" : "the vCPU stopped");
    else if ( c->expect == CRASH )
        printk("HV-HOSTILE %s: %s domain crashed: %s%s\n", name,
               ok ? "PASS" : "FAIL", hv->crash[0] ? hv->crash :
               "(no reason recorded by hvm)", loop_note(c, hv));
    else
        printk("HV-HOSTILE %s: %s %s (%llu exceptions injected, %llu "
               "instructions emulated)\n", name, ok ? "PASS" : "FAIL",
               c->what, (unsigned long long)hv->n.injected,
               (unsigned long long)hv->n.emulated);
}

#define HOSTILE(n, t, only) \
    { .name = "hostile-" n, .image = guest_hostile_start, \
      .image_end = guest_hostile_end, .applies = only, .test = t, \
      .layout = hostile_layout, .phase = hostile_phase, \
      .check = hostile_check, .may_crash = true }

const struct scenario hostile_scenarios[] = {
    HOSTILE("cpuid", HT_CPUID, NULL),
    HOSTILE("clgi", HT_CLGI, svm_only),
    HOSTILE("stgi", HT_STGI, svm_only),
    HOSTILE("vmrun", HT_VMRUN, svm_only),
    HOSTILE("vmload", HT_VMLOAD, svm_only),
    HOSTILE("vmsave", HT_VMSAVE, svm_only),
    HOSTILE("skinit", HT_SKINIT, svm_only),
    HOSTILE("invlpga", HT_INVLPGA, svm_only),
    HOSTILE("vmxon", HT_VMXON, vmx_only),
    HOSTILE("invd", HT_INVD, NULL),
    HOSTILE("wbinvd", HT_WBINVD, NULL),
    HOSTILE("xsetbv", HT_XSETBV, NULL),
    HOSTILE("rdmsr", HT_RDMSR, NULL),
    HOSTILE("wrmsr", HT_WRMSR, NULL),
    HOSTILE("mwait", HT_MWAIT, NULL),
    HOSTILE("ins", HT_INS, NULL),
    HOSTILE("outs", HT_OUTS, NULL),
    HOSTILE("unbacked", HT_UNBACKED, NULL),
    HOSTILE("triple", HT_TRIPLE, NULL),
    HOSTILE("loop", HT_LOOP, NULL),
    HOSTILE("cr4", HT_CR4, NULL),
    HOSTILE("paged-io", HT_PAGED_IO, NULL),
    HOSTILE("alive", HT_ALIVE, NULL),
};
const unsigned int nr_hostile_scenarios = ARRAY_SIZE(hostile_scenarios);

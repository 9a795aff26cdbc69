/*
 * The hostile-guest cases: one guest binary (hostile.bin) that runs the
 * case guest_info.test names, and the hypervisor-side checks in
 * tests/hv/hostile.c.  Shared by the 32-bit guest and the 64-bit host.
 */
#ifndef HOSTILE_H
#define HOSTILE_H

enum hostile_test {
    HT_CPUID = 1,   /* the CPUID policy, seen from inside */
    HT_CLGI,        /* the SVM instructions: crash the domain */
    HT_STGI,
    HT_VMRUN,
    HT_VMLOAD,
    HT_VMSAVE,
    HT_SKINIT,
    HT_INVLPGA,
    HT_VMXON,       /* a VMX instruction: crash the domain */
    HT_INVD,        /* emulated as no-ops */
    HT_WBINVD,
    HT_XSETBV,      /* bad XCR0 values: #GP */
    HT_RDMSR,       /* unknown MSRs: #GP, handled by the guest */
    HT_WRMSR,
    HT_MWAIT,       /* MONITOR/MWAIT: #UD */
    HT_INS,         /* REP INS from an unknown port: all ones */
    HT_OUTS,        /* REP OUTS: to the console, and to nowhere */
    HT_UNBACKED,    /* a read of unbacked guest-physical space: crash */
    HT_TRIPLE,      /* a triple fault: crash (shutdown) */
    HT_LOOP,        /* an endless loop without exits: stopped in time */
    HT_ALIVE,       /* after all of them: a domain still runs */
    HT_CR4,         /* CR4 bits the policy does not offer: #GP */
    HT_PAGED_IO,    /* REP OUTS/INS with guest paging on (own walk) */
};

/* HC_PHASE numbers the hostile guest uses. */
#define HP_STARTED      1   /* arg: the test; the domain ran */
#define HP_FAULTS       2   /* arg: exceptions its handler saw */
#define HP_TSC_KHZ      3   /* -> EAX: TSC ticks per millisecond */

/* Where the INS case writes into PoD memory (a 4K PoD region). */
#define HOSTILE_POD_GFN     0x400
#define HOSTILE_POD_PAGES   16
/* An address no region covers. */
#define HOSTILE_UNBACKED_GPA 0x40000000u

#endif /* HOSTILE_H */

/*
 * Test scenarios: one guest each, built, run to its HC_EXIT, then checked
 * (audit, heap accounting, PoD invariants, the scenario's own
 * expectations) and destroyed.  The results go to the console.
 */
#ifndef HVM_SCENARIO_H
#define HVM_SCENARIO_H

#include "build.h"

struct scenario_run {
    const struct hvm_vendor *hw;
    struct hvm_guest g;
    struct domain *d;
    struct hvm_vcpu *hv;
    uint64_t free_1g;           /* free 1 GiB heap chunks before the build */
    bool small;                 /* under 4 GiB of RAM: smaller guests */
    unsigned int failures;      /* checks that failed */
    uint64_t state[8];          /* the scenario's own notes */
};

struct scenario {
    const char *name;
    const uint8_t *image, *image_end;
    /* Does it run on this hardware?  NULL: everywhere. */
    bool (*applies)(const struct hvm_vendor *hw);
    /* Fill run->g (regions, target) for this hardware and heap. */
    void (*layout)(struct scenario_run *run);
    /* After the build, before the guest runs (NULL: nothing). */
    int (*prepare)(struct scenario_run *run);
    int (*phase)(struct hvm_vcpu *hv, uint32_t phase, uint32_t arg);
    /* Expectations on the final state (expect() counts failures). */
    void (*check)(struct scenario_run *run);
    bool may_crash;             /* check() judges how the guest ended */
    uint32_t test;              /* guest_info.test for a multi-test guest */
};

extern const struct scenario scenarios[];
extern const unsigned int nr_scenarios;
/* The hostile-guest cases (tests/hv/hostile.c), run after the others. */
extern const struct scenario hostile_scenarios[];
extern const unsigned int nr_hostile_scenarios;

/* Record a failed expectation (printed) when ok is false. */
void expect(struct scenario_run *run, bool ok, const char *what, ...)
    __attribute__((format(printf, 3, 4)));

/* Run one scenario (that applies to hw) in a domain of its own (its id
 * from index); returns the number of failed checks (0 = pass). */
unsigned int scenario_run(const struct hvm_vendor *hw,
                          const struct scenario *s, unsigned int index);

/* The stats line, with the key names of `p2mctl stats`. */
void scenario_print_stats(const struct scenario_run *run);

#endif /* HVM_SCENARIO_H */

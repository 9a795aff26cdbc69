/*
 * The P2M/PoD API fuzzer: one input is a sequence of operations on up to
 * three domains (NPT and EPT) of one hosted machine; after every operation
 * an oracle checks the audit, the PoD and heap accounting, and a model of
 * what the guests wrote (see harness.c for the input format).
 *
 * The same harness runs under libFuzzer (fuzz_main.c, clang) and as a
 * plain replay driver (replay.c, any compiler).
 */
#ifndef TEST_FUZZ_H
#define TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * Known-open findings.  Bit n (1..14) is finding n of issue 8; bit 16 + n
 * is finding Fn of /work/notes/fuzz-findings.md.  While a finding is open
 * the fuzzer avoids the inputs that trigger it (it skips those operations),
 * so that fuzzing finds new bugs; the oracle itself is never relaxed.
 */
uint32_t fuzz_parse_known(const char *list);
/* The tag of a regression file name ("1-pod-cache-map" -> bit 1), or 0. */
uint32_t fuzz_known_bit(const char *name);

struct fuzz_opts {
    uint32_t avoid;         /* known findings to steer clear of */
    bool trace;             /* print every operation (p2mctl-like lines) */
};

/* Options from the environment: FUZZ_AVOID=<list>, FUZZ_TRACE=1. */
void fuzz_opts_from_env(struct fuzz_opts *o);

/*
 * Run one input from a fresh machine.  Returns 0; an oracle failure
 * prints what broke (and the operation) and aborts.
 */
int fuzz_run(const uint8_t *data, size_t size, const struct fuzz_opts *o);

#endif /* TEST_FUZZ_H */

/*
 * The one number grammar of p2mctl, shared by the script CLI (args.c) and
 * the scenario files (config.c):
 *
 *   number  := decimal digits | "0x" hex digits      (a leading 0 is still
 *                                                     decimal: 010 is ten)
 *   size    := number [K|M|G|T] { "+" number [K|M|G|T] }    (bytes)
 *   layout  := size "-" size { "," size "-" size }         (RAM ranges)
 *
 * No sign, no spaces, no trailing text; a value that does not fit in 64
 * bits is an error, never a wrap.
 */
#ifndef P2MCTL_NUM_H
#define P2MCTL_NUM_H

#include <stdbool.h>
#include <stdint.h>

#include <asm-x86/page.h>

/* A number filling the whole of s.  false if malformed or too big. */
bool num_parse_u64(const char *s, uint64_t *v);

/* A size (in bytes) filling the whole of s.  false if malformed or > 2^64-1. */
bool num_parse_size(const char *s, uint64_t *bytes);

/*
 * A layout such as "0-3G,4G-64G" into at most max ranges of frames
 * [start, end): 4K aligned, ascending, disjoint (touching ranges join).
 * Returns 0, or -1 with *why saying what is wrong.
 */
int num_parse_layout(const char *s, struct machine_range *r, unsigned int max,
                     unsigned int *n, const char **why);

#endif /* P2MCTL_NUM_H */

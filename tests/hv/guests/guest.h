/*
 * What every test guest gets from glib.c: hypercalls, a console, and the
 * per-page tags that the checks compare.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest-abi.h"

#define PAGE_SIZE 4096u

struct hc_result { uint32_t a, b, c, d, s; };

/* Hypercall nr with up to three arguments; all result registers. */
struct hc_result hypercall(uint32_t nr, uint32_t b, uint32_t c, uint32_t d);

void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One character through the debug port: the I/O-exit console path. */
void port_puts(const char *s);

static inline struct guest_info *guest_info(void)
{
    return (struct guest_info *)GUEST_INFO_GPA;
}

static inline volatile uint32_t *page_ptr(uint32_t gfn)
{
    return (volatile uint32_t *)(uintptr_t)(gfn * PAGE_SIZE);
}

/* The tag of page gfn in round r: differs per page, round and run. */
static inline uint32_t page_tag(uint32_t gfn, uint32_t r)
{
    uint32_t x = (gfn + 1) * 0x9e3779b1u ^ (r * 0x85ebca6bu) ^
                 guest_info()->seed;

    return x ? x : 1;           /* never zero: zero pages get reclaimed */
}

/* Tag two words of page gfn: word 0 and a word that depends on gfn, so a
 * page mapped at the wrong offset of a superpage shows. */
void tag_page(uint32_t gfn, uint32_t r);
/* 0 if page gfn holds its round-r tags, else 1 (and it is reported). */
int check_page(uint32_t gfn, uint32_t r);

/* Tag/check pages [gfn, gfn + nr); returns the number of bad pages. */
void tag_range(uint32_t gfn, uint32_t nr, uint32_t r);
uint32_t check_range(uint32_t gfn, uint32_t nr, uint32_t r);

void *memset(void *s, int c, size_t n);

#endif /* GUEST_H */

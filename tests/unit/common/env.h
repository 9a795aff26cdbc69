/*
 * Shared helpers for the P2M unit tests: a machine from a layout string,
 * domains of either format, dumps of the leaves, snapshots that prove an
 * operation changed nothing, and a teardown that checks the accounting.
 *
 * Every test runs on its own machine: it calls env_machine() first and
 * env_finish() last; env_cleanup (the teardown of ENV_TEST) releases what a
 * failed test left behind so the next one can start.
 */
#ifndef TEST_ENV_H
#define TEST_ENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hosted.h"

#include <asm-x86/p2m-format.h>
#include <asm-x86/p2m.h>
#include <xen/errno.h>
#include <xen/memory.h>
#include <xen/mm.h>
#include <xen/sched.h>

#define GIB_FRAMES (1ull << PAGE_ORDER_1G)
#define MIB2_FRAMES (1ull << PAGE_ORDER_2M)

/* The format a test runs for, passed as its cmocka state. */
extern const enum p2m_format env_npt, env_ept;
#define ENV_FMT(state) (*(const enum p2m_format *)*(state))

/* One cmocka entry per format, named <test>_npt and <test>_ept. */
#define ENV_TEST(f)                                                  \
    { #f "_npt", f, NULL, env_cleanup, (void *)&env_npt },           \
    { #f "_ept", f, NULL, env_cleanup, (void *)&env_ept }
/* A test that does not depend on the format. */
#define ENV_TEST1(f) { #f, f, NULL, env_cleanup, NULL }

const char *env_fmt_name(enum p2m_format fmt);

/* Start the machine described by layout ("0-3G,4G-64G,1T-1T+16G"). */
void env_machine(const char *layout);
/* A domain of format fmt with 2 vCPUs and no memory limit. */
struct domain *env_domain(domid_t id, enum p2m_format fmt);
/* Destroy every domain, check the heap accounting, release the machine. */
void env_finish(void);
/* cmocka teardown: release whatever a failed test left (no checks). */
int env_cleanup(void **state);

/* A 2^order chunk for d from the heap (not zeroed), or the test fails. */
mfn_t env_alloc(struct domain *d, unsigned int order);
/* Take the free frames [mfn, mfn + 2^order) for d, or the test fails. */
void env_claim(struct domain *d, uint64_t mfn, unsigned int order);
/* Claim n free GiB in a row for d (or fail); returns the first frame. */
uint64_t env_claim_gibs(struct domain *d, unsigned int n);

/* Rights a leaf of type t with access a grants in format fmt. */
p2m_access_t env_rights(enum p2m_format fmt, p2m_type_t t, p2m_access_t a);

/* Look gfn up and check every field; mfn is INVALID_MFN_RAW when none. */
void env_expect(struct domain *d, uint64_t gfn, uint64_t mfn, p2m_type_t t,
                p2m_access_t a, unsigned int order);
void env_expect_stats(struct domain *d, uint64_t p4k, uint64_t p2m,
                      uint64_t p1g, uint64_t table_pages, uint64_t splits);
/* p2m_audit finds nothing (the report is printed otherwise). */
void env_expect_audit_clean(struct domain *d);
/* Audit clean and heap accounting consistent. */
void env_expect_clean(struct domain *d);

/* Pointer to the raw entry at level for gfn, NULL if no table reaches it. */
p2m_pte_t *env_entry(struct p2m_domain *p2m, uint64_t gfn,
                     unsigned int level);

struct env_leaf {
    uint64_t gfn, mfn;
    p2m_type_t type;
    p2m_access_t access, rights;
    unsigned int order;
};

/* Everything an operation that fails must leave as it was. */
struct env_snap {
    struct env_leaf *leaf;
    size_t nr, cap;
    struct p2m_stats stats;
    uint64_t tot_pages, p2m_pages;
    struct heap_stats heap;
};

/* Dump every leaf and typed empty entry of d (gfn order) into s->leaf. */
void env_dump(struct domain *d, struct env_snap *s);
void env_snap_take(struct domain *d, struct env_snap *s);
/* Leaves and stats equal; with heap, also tot/p2m pages and heap stats. */
void env_snap_expect_equal(const struct env_snap *a, const struct env_snap *b,
                           bool heap);
void env_snap_free(struct env_snap *s);

#endif /* TEST_ENV_H */

/*
 * Helpers for the populate-on-demand tests (test_pod.c, test_pod_stress.c):
 * domains with a memory limit, PoD statistics, the invariant check that
 * follows every step, and guest accesses that must succeed.
 */
#ifndef TEST_PODENV_H
#define TEST_PODENV_H

#include "env.h"

#include <asm-x86/p2m-pod.h>

/* A domain of format fmt with max_pages and nr_vcpus, or the test fails. */
struct domain *podenv_domain(domid_t id, enum p2m_format fmt,
                             uint64_t max_pages, unsigned int nr_vcpus);

struct pod_stats podenv_stats(struct domain *d);

/* Cache chunks per order (4K, 2M, 1G) are exactly these. */
void podenv_expect_chunks(struct domain *d, uint64_t c4k, uint64_t c2m,
                          uint64_t c1g);

/*
 * The PoD accounting (p2m_pod_check), the P2M audit and, with heap, the
 * host heap accounting all hold.
 */
void podenv_check(struct domain *d, bool heap);

/* p2m_pod_set_target until it stops asking to be called again. */
int podenv_set_target(struct domain *d, uint64_t target);

/* Mark [gfn, gfn + nr) PoD, or the test fails. */
void podenv_mark(struct domain *d, uint64_t gfn, uint64_t nr);

/* Look gfn up (the test fails on error); check its type and leaf order. */
struct p2m_lookup podenv_lookup(struct domain *d, uint64_t gfn);
void podenv_expect_type(struct domain *d, uint64_t gfn, p2m_type_t t,
                        unsigned int order);

/* Guest accesses through vCPU v that must succeed. */
void podenv_write(struct vcpu *v, uint64_t gfn, unsigned int off,
                  uint64_t val);
uint64_t podenv_read(struct vcpu *v, uint64_t gfn, unsigned int off);

/* PoD entries per order, counted by walking the leaves. */
void podenv_count_pod(struct domain *d, uint64_t out[POD_ORDERS]);

/*
 * One decrease_reservation extent [gfn, gfn + 2^order): the pages
 * released, or the error (then nothing was done).  No assertion, so
 * threads may call it.
 */
int64_t podenv_balloon(struct domain *d, gfn_t gfn, unsigned int order);

#endif /* TEST_PODENV_H */

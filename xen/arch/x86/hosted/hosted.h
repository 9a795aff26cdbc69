/*
 * The hosted platform: machine memory is one big MAP_NORESERVE mapping,
 * vCPUs are threads with a software TLB, and the console is stderr.
 * Tools, tests and benchmarks use this header; module code never does.
 */
#ifndef HOSTED_H
#define HOSTED_H

#include <xen/sched.h>

/*
 * Build the machine from RAM ranges of frames [start, end) and set up the
 * frame table and heap.  Returns 0 or -errno.  One machine per process at a
 * time; hosted_machine_fini releases it.
 */
int hosted_machine_init(const struct machine_range *ranges, unsigned int n);
void hosted_machine_fini(void);

/*
 * Parse a size ("64G", "0x1000", "4096K") into bytes.  Returns 0 or -EINVAL.
 * Accepts sums of sizes with '+' (e.g. "1T+16G").
 */
int hosted_parse_size(const char *s, uint64_t *bytes);
/*
 * Parse a layout such as "0-3G,4G-64G,1T-1T+16G" into frame ranges.
 * Ranges must be page aligned, ascending and disjoint.
 */
int hosted_parse_layout(const char *s, struct machine_range *r,
                        unsigned int max, unsigned int *n, const char **why);

/* Resident set size of this process, in bytes (from /proc/self/statm). */
uint64_t hosted_rss_bytes(void);

/*
 * vCPU v's translation of gfn: from v's software TLB when it holds gfn, else
 * by p2m_get_entry, whose answer is cached when it grants any rights.  0 or
 * -ERANGE (gfn beyond the guest-physical space).  Call it from v's thread.
 */
int hosted_gfn_to_mfn(struct vcpu *v, gfn_t gfn, struct p2m_lookup *out);

/*
 * A guest access by vCPU v to byte offset off of gfn, through its software
 * TLB and the P2M; faults go to p2m_handle_fault and the access is retried.
 * Returns 0, -EAGAIN when the vCPU is paused for memory (PoD exhaustion;
 * retry after p2m_pod_resume), or -EFAULT when the domain crashed on it.
 */
int hosted_guest_read(struct vcpu *v, gfn_t gfn, unsigned int off,
                      uint64_t *val);
int hosted_guest_write(struct vcpu *v, gfn_t gfn, unsigned int off,
                       uint64_t val);
/* Write val to every word of the page (0: the guest zeroes it). */
int hosted_guest_fill_page(struct vcpu *v, gfn_t gfn, uint64_t val);
/* 0 when every word of the page equals val, 1 when not, or -errno. */
int hosted_guest_check_page(struct vcpu *v, gfn_t gfn, uint64_t val);

/*
 * Stale-translation detector: when on, every TLB hit is compared with a
 * fresh walk; a hit that grants more than the P2M (or another frame) is
 * counted.  On by default in debug builds.
 */
void hosted_tlb_set_check(bool on);
uint64_t hosted_tlb_stale_hits(void);
void hosted_tlb_reset_counters(void);
struct tlb_counters { uint64_t hits, misses, flushes; };
void hosted_tlb_counters(struct tlb_counters *c);

#endif /* HOSTED_H */

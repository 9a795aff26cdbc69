/*
 * The scenario runner: build, run, audit, report, destroy; and checks that
 * the heap got every frame back.
 */
#include <asm-x86/p2m-pod.h>
#include <xen/lib.h>
#include <xen/mm.h>

#include "../boot/boot.h"
#include "scenario.h"

/* Domain ids 1..MAX_DOMAINS-1, in turn: each scenario its own domain. */
#define DOMID(index) (1 + (index) % (MAX_DOMAINS - 1))

void expect(struct scenario_run *run, bool ok, const char *what, ...)
{
    char buf[200];
    va_list ap;

    if ( ok )
        return;
    va_start(ap, what);
    vsnprintf(buf, sizeof(buf), what, ap);
    va_end(ap);
    printk("CHECK FAILED: %s: %s\n", run->g.name, buf);
    run->failures++;
}

static void print_stat(void *ctx, const char *name, uint64_t value,
                       bool is_bool)
{
    (void)ctx;
    if ( is_bool )
        printk(", \"%s\": %s", name, value ? "true" : "false");
    else
        printk(", \"%s\": %llu", name, (unsigned long long)value);
}

void scenario_print_stats(const struct scenario_run *run)
{
    struct domain *d = run->d;
    const struct hvm_counters *n = &run->hv->n;

    printk("HV-STATS {\"scenario\": \"%s\", \"vendor\": \"%s\", "
           "\"format\": \"%s\", \"domid\": %u, \"tlb_tag\": %u",
           run->g.name, run->hw->name, p2m_format_name(&d->p2m),
           d->domain_id, run->hv->tlb_tag);
    domain_stats_each(d, print_stat, NULL);
    printk(", \"exits\": %llu, \"npf_exits\": %llu, \"hypercalls\": %llu, "
           "\"io_exits\": %llu, \"sweeps\": %llu, \"swept_pages\": %llu, "
           "\"tlb_flushes\": %llu, \"preempts\": %llu, \"injected\": "
           "%llu, \"emulated\": %llu, \"guest_ms\": %llu}\n",
           (unsigned long long)n->exits, (unsigned long long)n->npf,
           (unsigned long long)n->hypercalls, (unsigned long long)n->io,
           (unsigned long long)n->sweeps, (unsigned long long)n->swept_pages,
           (unsigned long long)n->flushes, (unsigned long long)n->preempts,
           (unsigned long long)n->injected, (unsigned long long)n->emulated,
           (unsigned long long)(run->hv->guest_cycles / tsc_khz));
}

/* The checks every scenario gets after its guest stopped. */
static void check_common(struct scenario_run *run, bool may_crash)
{
    static struct p2m_audit_report r;
    struct domain *d = run->d;
    unsigned int errs, i;

    errs = p2m_audit(&d->p2m, &r);
    for ( i = 0; i < r.nr_recorded; i++ )
        printk("audit: %s level %u gfn %#llx entry %#llx\n",
               p2m_audit_code_name(r.err[i].code), r.err[i].level,
               (unsigned long long)r.err[i].gfn,
               (unsigned long long)r.err[i].entry);
    expect(run, errs == 0, "p2m_audit found %u errors", errs);
    expect(run, heap_check_accounting() == 0, "heap accounting");
    expect(run, p2m_pod_check(d) == 0, "PoD invariants");
    expect(run, !d->vcpu[0].paused, "the vCPU is paused for memory");
    if ( may_crash )
        return;
    expect(run, !run->hv->misconfig, "EPT misconfiguration at gpa %#llx: "
           "a hypervisor bug", (unsigned long long)run->hv->misconfig_gpa);
    expect(run, !d->crashed, "the domain crashed");
    expect(run, run->hv->done, "the guest did not reach HC_EXIT");
    expect(run, run->hv->result == 0, "the guest reported %u failures",
           run->hv->result);
    expect(run, d->tot_pages <= run->g.target,
           "holds %llu pages, more than the target %llu",
           (unsigned long long)d->tot_pages,
           (unsigned long long)run->g.target);
}

unsigned int scenario_run(const struct hvm_vendor *hw,
                          const struct scenario *s, unsigned int index)
{
    static struct scenario_run run;
    struct heap_stats before, after;
    uint64_t t0 = rdtsc();
    int err;

    memset(&run, 0, sizeof(run));
    run.hw = hw;
    run.g.name = s->name;
    run.g.image = s->image;
    run.g.image_size = s->image_end - s->image;
    run.g.test = s->test;
    heap_get_stats(&before);
    run.free_1g = before.free_chunks[PAGE_ORDER_1G];
    run.small = before.total_pages < (4ull << (30 - PAGE_SHIFT));
    s->layout(&run);
    printk("=== scenario %s on %s: %llu pages believed, target %llu, "
           "%u regions\n", s->name, hw->name,
           (unsigned long long)hvm_guest_pages(&run.g, false),
           (unsigned long long)run.g.target, run.g.nr);
    run.d = hvm_build(hw, DOMID(index), &run.g, 0x5eed0000u + index, &err);
    if ( !run.d )
    {
        printk("HV-SCENARIO %s: FAIL (build error %d)\n", s->name, err);
        return 1;
    }
    run.hv = hvm_vcpu_of(&run.d->vcpu[0]);
    run.hv->phase = s->phase;
    run.hv->ctx = &run;
    err = s->prepare ? s->prepare(&run) : 0;
    expect(&run, err == 0, "prepare: error %d", err);
    if ( !err )
        hw->run(run.hv);
    check_common(&run, s->may_crash);
    s->check(&run);
    scenario_print_stats(&run);
    domain_destroy(run.d);
    heap_get_stats(&after);
    expect(&run, after.free_pages == before.free_pages,
           "heap has %llu free pages after destroy, %llu before",
           (unsigned long long)after.free_pages,
           (unsigned long long)before.free_pages);
    expect(&run, heap_check_accounting() == 0, "heap accounting after destroy");
    printk("HV-SCENARIO %s: %s (%u failed checks, %llu Mcycles)\n", s->name,
           run.failures ? "FAIL" : "PASS", run.failures,
           (unsigned long long)((rdtsc() - t0) >> 20));
    return run.failures;
}

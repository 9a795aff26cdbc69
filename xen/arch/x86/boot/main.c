/*
 * boot_main: bring the platform up, run every guest scenario (the memory
 * ones, then the hostile guests) on the CPU's virtualisation extension,
 * then leave the emulator with the result.
 */
#include <xen/lib.h>

#include "../hvm/linux.h"
#include "../hvm/scenario.h"
#include "boot.h"

void boot_main(uint32_t mb_magic, uint32_t mb_info);

void boot_exit(int fail)
{
    static const char shutdown[] = "Shutdown";
    unsigned int i;

    /* QEMU isa-debug-exit: status 2v+1, so 33 for a pass, 35 for a fail. */
    outl(PORT_QEMU_EXIT, fail ? 0x11 : 0x10);
    /* Bochs: this string on its shutdown port ends the simulation. */
    for ( i = 0; i < sizeof(shutdown) - 1; i++ )
        outb(PORT_BOCHS_SHUT, shutdown[i]);
    for ( ;; )
        asm volatile ( "cli; hlt" );
}

/* Run the scenarios of one table that apply to hw; returns how many did
 * not apply, counts into *failed and *index (the running number, which picks the domain id). */
static unsigned int run_table(const struct hvm_vendor *hw,
                              const struct scenario *t, unsigned int n,
                              unsigned int *failed, unsigned int *index)
{
    unsigned int i, skipped = 0;

    for ( i = 0; i < n; i++ )
    {
        if ( t[i].applies && !t[i].applies(hw) )
            skipped++;
        else
            *failed += scenario_run(hw, &t[i], (*index)++) != 0;
    }
    return skipped;
}

void boot_main(uint32_t mb_magic, uint32_t mb_info)
{
    const struct hvm_vendor *hw;
    unsigned int failed = 0, skipped, index = 0;
    unsigned int total = nr_scenarios + nr_hostile_scenarios;
    uint64_t t0 = rdtsc();

    printk("hv: P2M hypervisor starting\n");
    traps_init();
    setup_memory(mb_magic, mb_info);
    timer_init();
    hw = hvm_detect();
    if ( !hw )
    {
        printk("HV-RESULT: FAIL (no usable SVM+NPT or VMX+EPT)\n");
        boot_exit(1);
    }
    /* A guest payload came with us: that guest is the whole run. */
    if ( boot_payload.size )
        boot_exit(linux_run(hw, boot_payload.addr, boot_payload.size));
    skipped = run_table(hw, scenarios, nr_scenarios, &failed, &index);
#ifdef P2M_DEBUG
    /* The debug images audit every P2M change, which costs each hostile
     * domain seconds (its 512-page base, page by page); they test exits,
     * not the P2M, and run in the release images. */
    total = nr_scenarios;
#else
    skipped += run_table(hw, hostile_scenarios, nr_hostile_scenarios,
                         &failed, &index);
#endif
    printk("HV-RESULT: %s %u/%u scenarios on %s (%s, 1G leaves %s, %u not "
           "for this CPU), %llu Mcycles\n", failed ? "FAIL" : "PASS",
           total - skipped - failed, total - skipped, hw->name,
           hw->format == P2M_FORMAT_NPT ? "NPT" : "EPT",
           hw->leaf_1g ? "yes" : "no", skipped,
           (unsigned long long)((rdtsc() - t0) >> 20));
    boot_exit(failed != 0);
}

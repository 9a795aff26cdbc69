/*
 * boot_main: bring the platform up, run every guest scenario on the CPU's
 * virtualisation extension, then leave the emulator with the result.
 */
#include <xen/lib.h>

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

void boot_main(uint32_t mb_magic, uint32_t mb_info)
{
    const struct hvm_vendor *hw;
    unsigned int i, failed = 0, skipped = 0;
    uint64_t t0 = rdtsc();

    printk("hv: P2M hypervisor starting\n");
    traps_init();
    setup_memory(mb_magic, mb_info);
    hw = hvm_detect();
    if ( !hw )
    {
        printk("HV-RESULT: FAIL (no usable SVM+NPT or VMX+EPT)\n");
        boot_exit(1);
    }
    for ( i = 0; i < nr_scenarios; i++ )
    {
        const struct scenario *s = &scenarios[i];

        if ( s->applies && !s->applies(hw) )
            skipped++;
        else
            failed += scenario_run(hw, s, i) != 0;
    }
    printk("HV-RESULT: %s %u/%u scenarios on %s (%s, 1G leaves %s, %u not "
           "for this CPU), %llu Mcycles\n", failed ? "FAIL" : "PASS",
           nr_scenarios - skipped - failed, nr_scenarios - skipped, hw->name,
           hw->format == P2M_FORMAT_NPT ? "NPT" : "EPT",
           hw->leaf_1g ? "yes" : "no", skipped,
           (unsigned long long)((rdtsc() - t0) >> 20));
    boot_exit(failed != 0);
}

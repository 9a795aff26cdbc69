/*
 * The Linux guest run (linux.c): boot the bzImage of a payload
 * (linux-abi.h) in a PoD domain of its own, report, destroy.
 */
#ifndef HVM_LINUX_H
#define HVM_LINUX_H

#include "hvm.h"

/* Returns 0 when the guest booted, ran its workload and ended cleanly,
 * and every check after it passed; prints HV-LINUX* and HV-RESULT lines. */
int linux_run(const struct hvm_vendor *hw, uint64_t payload, uint64_t size);

#endif /* HVM_LINUX_H */

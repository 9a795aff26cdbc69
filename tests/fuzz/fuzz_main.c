/*
 * libFuzzer entry point for the P2M/PoD API fuzzer (see fuzz.h).
 * FUZZ_AVOID=<findings> steers clear of known-open bugs, FUZZ_TRACE=1
 * prints every operation.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_opts o;
    static bool init;

    if ( !init )
    {
        fuzz_opts_from_env(&o);
        init = true;
    }
    return fuzz_run(data, size, &o);
}

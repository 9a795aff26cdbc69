/* What a hosted machine costs in real memory (see hostcost.h). */
#include "hostcost.h"

#include <unistd.h>

#include <asm-x86/page.h>

uint64_t host_frame_table_bytes(uint64_t frames)
{
    return frames * sizeof(struct page_info);
}

bool host_no2m_fits(uint64_t frames, uint64_t *need, uint64_t *have)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

    *need = host_frame_table_bytes(frames);
    *have = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
    return *need <= *have / 2;
}

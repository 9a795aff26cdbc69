/*
 * What a hosted machine costs this process in real memory.  RAM and the
 * frame table are MAP_NORESERVE, so only what is touched counts; but
 * fragmentation that leaves no free 2M block puts chunk heads all through
 * the frame table and so makes the whole of it resident.  A host too big
 * for that would take the real machine down; it is refused up front.
 */
#ifndef P2MCTL_HOSTCOST_H
#define P2MCTL_HOSTCOST_H

#include <stdbool.h>
#include <stdint.h>

/* Bytes of frame table that describe frames frames. */
uint64_t host_frame_table_bytes(uint64_t frames);

/*
 * Whether a host with frames frames of RAM may be fragmented so that no
 * free 2M block is left: the frame table of its RAM must fit in half of
 * this machine's physical memory.  *need and *have get the two figures
 * (bytes).
 */
bool host_no2m_fits(uint64_t frames, uint64_t *need, uint64_t *have);

#endif /* P2MCTL_HOSTCOST_H */

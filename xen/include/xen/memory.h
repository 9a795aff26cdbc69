/*
 * Memory operations, the hypercall-style interface a toolstack or guest
 * uses.  Each validates its arguments and changes nothing on error.
 */
#ifndef XEN_MEMORY_H
#define XEN_MEMORY_H

#include <asm-x86/p2m.h>

struct domain;

/*
 * Allocate a zeroed 2^order extent for d and map it at gfn.  *mfn gets the
 * frame.  -ENOSPC beyond max_pages, -ENOMEM when the heap has no such
 * extent, or any p2m_set_entry error.
 */
int memory_populate(struct domain *d, gfn_t gfn, unsigned int order,
                    p2m_type_t t, p2m_access_t a, mfn_t *mfn);

/*
 * Map frames the caller names: free frames become d's first; frames d owns
 * already are remapped.  p2m_set_entry errors, or -EBUSY when some are held
 * by the heap in a way that cannot be claimed.
 */
int memory_map_frames(struct domain *d, gfn_t gfn, mfn_t mfn,
                      unsigned int order, p2m_type_t t, p2m_access_t a);

#endif /* XEN_MEMORY_H */

/*
 * Split virtqueues (virtio 1.x), pure logic: no hardware access, no
 * locking (the caller holds whatever guards the queue and guest memory).
 * Guest memory is reached only through struct virtq_mem, whose callbacks
 * the caller implements with a P2M lookup (hvm_copy_to_guest and
 * friends); no host pointer into the guest is ever formed here.
 *
 * Everything in the rings is hostile input.  virtq_pop checks each
 * descriptor before it reports a chain: index below the queue size, no
 * chain longer than the queue (so a loop ends), no indirect descriptors
 * (not offered), no buffer that wraps or leaves guest RAM, no chain whose
 * total length overflows 32 bits.  A failure returns a negative errno and
 * a reason for the caller's domain_crash; the queue is then unusable.
 *
 * Use:
 *     virtq_setup(&q, num, desc, avail, used, &mem)   at QueueReady = 1
 *     while ( (rc = virtq_pop(&q, &mem, &chain, &why)) > 0 )
 *         { ...use chain.buf[]...; virtq_push(&q, &mem, chain.head, n); }
 *     if ( rc < 0 ) domain_crash(d, why);
 */
#ifndef HVM_VIRTIO_MMIO_H
#define HVM_VIRTIO_MMIO_H

#include <xen/types.h>

#define VIRTQ_MAX           256     /* largest queue we offer */
#define VIRTQ_DESC_F_NEXT   1u
#define VIRTQ_DESC_F_WRITE  2u
#define VIRTQ_DESC_F_INDIRECT 4u

struct virtq_mem {
    /* Copy len bytes from/to guest-physical gpa; 0, or -EFAULT when any
     * byte is not guest RAM (nothing is copied then). */
    int (*read)(void *ctx, uint64_t gpa, void *buf, uint32_t len);
    int (*write)(void *ctx, uint64_t gpa, const void *buf, uint32_t len);
    /* True when [gpa, gpa + len) is all guest RAM (len >= 1, no wrap). */
    bool (*is_ram)(void *ctx, uint64_t gpa, uint64_t len);
    void *ctx;
};

struct virtq {
    uint16_t num;           /* queue size: a power of 2, 1..VIRTQ_MAX */
    uint16_t last_avail;    /* next avail ring slot to consume */
    uint16_t used_idx;      /* our used ring index */
    bool ready;
    uint64_t desc, avail, used;     /* guest-physical ring addresses */
};

struct virtq_buf {
    uint64_t gpa;
    uint32_t len;
    bool write;             /* device writes it (VIRTQ_DESC_F_WRITE) */
};

struct virtq_chain {
    uint16_t head;          /* descriptor index to give back in virtq_push */
    unsigned int n;         /* buffers in buf[] */
    uint32_t total;         /* sum of the lengths */
    struct virtq_buf buf[VIRTQ_MAX];
};

/*
 * Check the queue geometry and ring placement the driver wrote and mark
 * the queue ready.  Returns 0, or -EINVAL (size not a power of 2 in
 * 1..VIRTQ_MAX, misaligned ring) or -EFAULT (a ring outside guest RAM),
 * with *why set.
 */
int virtq_setup(struct virtq *q, uint32_t num, uint64_t desc, uint64_t avail,
                uint64_t used, const struct virtq_mem *m, const char **why);

/*
 * Take the next available chain into *c.  Returns 1 (a chain), 0 (the
 * ring is empty) or a negative errno with *why set: the driver broke the
 * ring and the domain must be crashed.
 */
int virtq_pop(struct virtq *q, const struct virtq_mem *m,
              struct virtq_chain *c, const char **why);

/*
 * Give chain head back on the used ring with written bytes, then publish
 * the new used index.  Returns 0 or -EFAULT (ring no longer in RAM).
 */
int virtq_push(struct virtq *q, const struct virtq_mem *m, uint16_t head,
               uint32_t written);

#endif /* HVM_VIRTIO_MMIO_H */

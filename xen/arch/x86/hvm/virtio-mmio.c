/*
 * Split virtqueues: ring setup checks, popping and validating descriptor
 * chains, returning them on the used ring.  See virtio-mmio.h.
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "virtio-mmio.h"

/* Ring layouts (virtio 1.x, 2.7): all little-endian, as is x86. */
struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

#define AVAIL_IDX(q)        ((q)->avail + 2)
#define AVAIL_RING(q, i)    ((q)->avail + 4 + 2ull * (i))
#define USED_IDX(q)         ((q)->used + 2)
#define USED_RING(q, i)     ((q)->used + 4 + 8ull * (i))

static int fail(const char **why, const char *reason, int rc)
{
    *why = reason;
    return rc;
}

int virtq_setup(struct virtq *q, uint32_t num, uint64_t desc, uint64_t avail,
                uint64_t used, const struct virtq_mem *m, const char **why)
{
    q->ready = false;
    if ( num == 0 || num > VIRTQ_MAX || (num & (num - 1)) )
        return fail(why, "virtq: queue size not a power of 2 we offer",
                    -EINVAL);
    if ( (desc & 15) || (avail & 1) || (used & 3) )
        return fail(why, "virtq: misaligned ring", -EINVAL);
    if ( !m->is_ram(m->ctx, desc, 16ull * num) ||
         !m->is_ram(m->ctx, avail, 6 + 2ull * num) ||
         !m->is_ram(m->ctx, used, 6 + 8ull * num) )
        return fail(why, "virtq: ring outside guest RAM", -EFAULT);
    q->num = num;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    q->last_avail = 0;
    q->used_idx = 0;
    q->ready = true;
    return 0;
}

/* Check one descriptor and append its buffer to *c. */
static int take_desc(const struct virtq_mem *m, const struct vq_desc *d,
                     struct virtq_chain *c, const char **why)
{
    if ( d->flags & VIRTQ_DESC_F_INDIRECT )
        return fail(why, "virtq: indirect descriptor not offered", -EINVAL);
    if ( d->len == 0 )
        return fail(why, "virtq: zero-length buffer", -EINVAL);
    if ( d->addr + d->len < d->addr )
        return fail(why, "virtq: buffer wraps the address space", -EINVAL);
    if ( c->total + d->len < c->total )
        return fail(why, "virtq: chain length overflows", -EINVAL);
    if ( !m->is_ram(m->ctx, d->addr, d->len) )
        return fail(why, "virtq: buffer outside guest RAM", -EFAULT);
    c->buf[c->n].gpa = d->addr;
    c->buf[c->n].len = d->len;
    c->buf[c->n].write = d->flags & VIRTQ_DESC_F_WRITE;
    c->n++;
    c->total += d->len;
    return 0;
}

/* Walk the chain from head, at most q->num descriptors. */
static int walk_chain(const struct virtq *q, const struct virtq_mem *m,
                      uint16_t head, struct virtq_chain *c, const char **why)
{
    struct vq_desc d;
    uint16_t i = head;
    int rc;

    c->head = head;
    c->n = 0;
    c->total = 0;
    for ( ;; )
    {
        if ( i >= q->num )
            return fail(why, "virtq: descriptor index beyond the queue",
                        -EINVAL);
        if ( c->n == q->num )
            return fail(why, "virtq: descriptor chain loops", -EINVAL);
        if ( m->read(m->ctx, q->desc + 16ull * i, &d, sizeof(d)) )
            return fail(why, "virtq: descriptor table unreadable", -EFAULT);
        rc = take_desc(m, &d, c, why);
        if ( rc )
            return rc;
        if ( !(d.flags & VIRTQ_DESC_F_NEXT) )
            return 0;
        i = d.next;
    }
}

int virtq_pop(struct virtq *q, const struct virtq_mem *m,
              struct virtq_chain *c, const char **why)
{
    uint16_t idx, head;
    int rc;

    if ( !q->ready )
        return 0;
    if ( m->read(m->ctx, AVAIL_IDX(q), &idx, sizeof(idx)) )
        return fail(why, "virtq: avail ring unreadable", -EFAULT);
    if ( idx == q->last_avail )
        return 0;
    if ( (uint16_t)(idx - q->last_avail) > q->num )
        return fail(why, "virtq: avail index ahead by more than the queue",
                    -EINVAL);
    if ( m->read(m->ctx, AVAIL_RING(q, q->last_avail & (q->num - 1)),
                 &head, sizeof(head)) )
        return fail(why, "virtq: avail ring unreadable", -EFAULT);
    rc = walk_chain(q, m, head, c, why);
    if ( rc )
        return rc;
    q->last_avail++;
    return 1;
}

int virtq_push(struct virtq *q, const struct virtq_mem *m, uint16_t head,
               uint32_t written)
{
    uint32_t elem[2] = { head, written };
    uint16_t next = q->used_idx + 1;

    if ( m->write(m->ctx, USED_RING(q, q->used_idx & (q->num - 1)),
                  elem, sizeof(elem)) )
        return -EFAULT;
    /* The element before the index: the driver reads them in that order. */
    if ( m->write(m->ctx, USED_IDX(q), &next, sizeof(next)) )
        return -EFAULT;
    q->used_idx = next;
    return 0;
}

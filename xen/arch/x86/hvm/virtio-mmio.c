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

/* --- the virtio-mmio transport --- */

static int refuse(struct vmmio_dev *v, const char *reason, int rc)
{
    v->why = reason;
    return rc;
}

static void set_irq_level(struct vmmio_dev *v, uint32_t old)
{
    if ( !old == !v->int_status )
        return;
    if ( v->int_status )
        v->n.interrupts++;
    if ( v->irq )
        v->irq(v->irq_ctx, v->int_status != 0);
}

static void interrupt(struct vmmio_dev *v, uint32_t bits)
{
    uint32_t old = v->int_status;

    v->int_status |= bits;
    set_irq_level(v, old);
}

static unsigned int nr_queues(const struct vmmio_dev *v)
{
    unsigned int n;

    if ( !(v->status & VIRTIO_STATUS_FEATURES_OK) )
        return 0;
    n = v->ops->nr_queues((struct vmmio_dev *)v, v->drv_features);
    return MIN(n, VMMIO_QUEUES);
}

/* The selected queue, or NULL when QueueSel names none the device has. */
static struct vmmio_queue *selected(struct vmmio_dev *v)
{
    return v->queue_sel < nr_queues(v) ? &v->queue[v->queue_sel] : NULL;
}

static void reset(struct vmmio_dev *v)
{
    uint32_t old = v->int_status;

    v->status = 0;
    v->dev_feat_sel = v->drv_feat_sel = v->queue_sel = v->shm_sel = 0;
    v->drv_features = 0;
    v->int_status = 0;
    v->pending = 0;
    memset(v->queue, 0, sizeof(v->queue));
    v->n.resets++;
    set_irq_level(v, old);
    if ( v->ops->reset )
        v->ops->reset(v);
}

void vmmio_init(struct vmmio_dev *v, const struct vmmio_dev_ops *ops,
                void *priv, const struct virtq_mem *mem,
                void (*irq)(void *ctx, bool level), void *irq_ctx)
{
    memset(v, 0, sizeof(*v));
    v->ops = ops;
    v->priv = priv;
    v->mem = *mem;
    v->irq = irq;
    v->irq_ctx = irq_ctx;
}

uint64_t vmmio_features(const struct vmmio_dev *v)
{
    return v->status & VIRTIO_STATUS_FEATURES_OK ? v->drv_features : 0;
}

bool vmmio_driver_ok(const struct vmmio_dev *v)
{
    return v->status & VIRTIO_STATUS_DRIVER_OK;
}

static uint64_t offered(const struct vmmio_dev *v)
{
    return v->ops->features | VIRTIO_F_VERSION_1;
}

/*
 * Accesses the transport takes: 1, 2 or 4 bytes, naturally aligned,
 * inside the window; the registers only 32 bits wide (4.2.2.2).
 */
static int check_access(struct vmmio_dev *v, uint32_t off,
                        unsigned int bytes)
{
    if ( bytes != 1 && bytes != 2 && bytes != 4 )
        return refuse(v, "virtio-mmio: access not 1, 2 or 4 bytes wide",
                      -EINVAL);
    if ( off >= VMMIO_WINDOW || bytes > VMMIO_WINDOW - off )
        return refuse(v, "virtio-mmio: access outside the device window",
                      -EINVAL);
    if ( off & (bytes - 1) )
        return refuse(v, "virtio-mmio: misaligned access", -EINVAL);
    if ( off < VMMIO_CONFIG && bytes != 4 )
        return refuse(v, "virtio-mmio: register access not 32 bits wide",
                      -EINVAL);
    return 0;
}

static uint32_t queue_read(struct vmmio_dev *v, uint32_t off)
{
    struct vmmio_queue *vq = selected(v);

    if ( !vq )
        return 0;               /* no such queue: QueueNumMax 0 */
    switch ( off )
    {
    case VMMIO_REG_QUEUE_NUM_MAX: return VIRTQ_MAX;
    case VMMIO_REG_QUEUE_READY:   return vq->q.ready;
    case VMMIO_REG_QUEUE_NUM:     return vq->num;
    case VMMIO_REG_QUEUE_DESC_LO: return vq->desc;
    case VMMIO_REG_QUEUE_DESC_HI: return vq->desc >> 32;
    case VMMIO_REG_QUEUE_DRV_LO:  return vq->driver;
    case VMMIO_REG_QUEUE_DRV_HI:  return vq->driver >> 32;
    case VMMIO_REG_QUEUE_DEV_LO:  return vq->device;
    case VMMIO_REG_QUEUE_DEV_HI:  return vq->device >> 32;
    }
    return 0;
}

static uint32_t reg_read(struct vmmio_dev *v, uint32_t off)
{
    uint64_t f = offered(v);

    switch ( off )
    {
    case VMMIO_REG_MAGIC:        return VMMIO_MAGIC;
    case VMMIO_REG_VERSION:      return VMMIO_VERSION;
    case VMMIO_REG_DEVICE_ID:    return v->ops->device_id;
    case VMMIO_REG_VENDOR_ID:    return VMMIO_VENDOR;
    case VMMIO_REG_DEV_FEATURES:
        return v->dev_feat_sel == 0 ? (uint32_t)f :
               v->dev_feat_sel == 1 ? (uint32_t)(f >> 32) : 0;
    case VMMIO_REG_INT_STATUS:   return v->int_status;
    case VMMIO_REG_STATUS:       return v->status;
    case VMMIO_REG_CONFIG_GEN:   return v->config_gen;
    case VMMIO_REG_SHM_LEN_LO: case VMMIO_REG_SHM_LEN_HI:
    case VMMIO_REG_SHM_BASE_LO: case VMMIO_REG_SHM_BASE_HI:
        return ~0u;             /* no shared memory region */
    }
    return queue_read(v, off);  /* else 0: reserved, write-only */
}

int vmmio_read(struct vmmio_dev *v, uint32_t off, unsigned int bytes,
               uint64_t *val)
{
    int rc = check_access(v, off, bytes);

    *val = 0;
    if ( rc )
        return rc;
    v->n.reads++;
    if ( off < VMMIO_CONFIG )
        *val = reg_read(v, off);
    else if ( off - VMMIO_CONFIG + bytes <= v->ops->config_size )
        *val = v->ops->config_read(v, off - VMMIO_CONFIG, bytes);
    return 0;
}

static int ignored(struct vmmio_dev *v)
{
    v->n.ignored++;
    return 0;
}

/* Call the device for queue qi, which has new buffers. */
static int serve(struct vmmio_dev *v, unsigned int qi)
{
    const char *why = "virtio-mmio: device error";
    int rc;

    v->n.notifies++;
    rc = v->ops->notify(v, qi, &why);
    return rc ? refuse(v, why, rc) : 0;
}

static int notify(struct vmmio_dev *v, uint32_t qi)
{
    if ( qi >= nr_queues(v) || !v->queue[qi].q.ready )
        return ignored(v);
    if ( !vmmio_driver_ok(v) )
    {
        v->pending |= 1u << qi;     /* served at DRIVER_OK */
        return 0;
    }
    return serve(v, qi);
}

static int queue_ready(struct vmmio_dev *v, uint32_t val)
{
    struct vmmio_queue *vq = selected(v);
    const char *why = "virtq: refused";
    int rc;

    if ( !(v->status & VIRTIO_STATUS_FEATURES_OK) )
        return refuse(v, "virtio-mmio: queue enabled before FEATURES_OK",
                      -EINVAL);
    if ( !vq )
        return ignored(v);
    if ( !val )
    {
        vq->q.ready = false;
        return 0;
    }
    if ( vq->q.ready )
        return ignored(v);
    rc = virtq_setup(&vq->q, vq->num, vq->desc, vq->driver, vq->device,
                     &v->mem, &why);
    return rc ? refuse(v, why, rc) : 0;
}

/* Set the low or high half of *a as off (the _LO register) or off + 4. */
static void set_half(uint64_t *a, uint32_t off, uint32_t lo, uint32_t val)
{
    if ( off == lo )
        *a = (*a & ~0xffffffffull) | val;
    else
        *a = (*a & 0xffffffffull) | (uint64_t)val << 32;
}

static int queue_write(struct vmmio_dev *v, uint32_t off, uint32_t val)
{
    struct vmmio_queue *vq = selected(v);

    if ( !vq || vq->q.ready )
        return ignored(v);      /* no such queue, or it is live */
    switch ( off )
    {
    case VMMIO_REG_QUEUE_NUM:
        vq->num = val;
        break;
    case VMMIO_REG_QUEUE_DESC_LO: case VMMIO_REG_QUEUE_DESC_HI:
        set_half(&vq->desc, off, VMMIO_REG_QUEUE_DESC_LO, val);
        break;
    case VMMIO_REG_QUEUE_DRV_LO: case VMMIO_REG_QUEUE_DRV_HI:
        set_half(&vq->driver, off, VMMIO_REG_QUEUE_DRV_LO, val);
        break;
    case VMMIO_REG_QUEUE_DEV_LO: case VMMIO_REG_QUEUE_DEV_HI:
        set_half(&vq->device, off, VMMIO_REG_QUEUE_DEV_LO, val);
        break;
    }
    return 0;
}

/* FEATURES_OK sticks only for VERSION_1 and nothing we did not offer. */
static bool features_acceptable(const struct vmmio_dev *v)
{
    return (v->drv_features & VIRTIO_F_VERSION_1) &&
           !(v->drv_features & ~offered(v));
}

static int status_write(struct vmmio_dev *v, uint32_t val)
{
    uint32_t old = v->status, new = val & 0xff, qi;
    int rc = 0;

    if ( !new )
    {
        reset(v);
        return 0;
    }
    if ( old & ~new )
        return ignored(v);      /* clearing a bit takes a reset */
    if ( (new & ~old & VIRTIO_STATUS_FEATURES_OK) &&
         !features_acceptable(v) )
    {
        new &= ~VIRTIO_STATUS_FEATURES_OK;
        v->n.refused_features++;
    }
    v->status = new;
    if ( !(new & ~old & VIRTIO_STATUS_DRIVER_OK) )
        return 0;
    /* Buffers offered before DRIVER_OK are consumed now. */
    for ( qi = 0; !rc && v->pending; qi++ )
        if ( v->pending & (1u << qi) )
        {
            v->pending &= ~(1u << qi);
            rc = notify(v, qi);
        }
    return rc;
}

static void features_write(struct vmmio_dev *v, uint32_t val)
{
    unsigned int shift = v->drv_feat_sel * 32;

    if ( v->status & VIRTIO_STATUS_FEATURES_OK || v->drv_feat_sel > 1 )
    {
        v->n.ignored++;
        return;
    }
    v->drv_features = (v->drv_features & ~(0xffffffffull << shift)) |
                      (uint64_t)val << shift;
}

static int reg_write(struct vmmio_dev *v, uint32_t off, uint32_t val)
{
    uint32_t old = v->int_status;

    switch ( off )
    {
    case VMMIO_REG_DEV_FEAT_SEL: v->dev_feat_sel = val; return 0;
    case VMMIO_REG_DRV_FEAT_SEL: v->drv_feat_sel = val; return 0;
    case VMMIO_REG_DRV_FEATURES: features_write(v, val); return 0;
    case VMMIO_REG_QUEUE_SEL:    v->queue_sel = val; return 0;
    case VMMIO_REG_SHM_SEL:      v->shm_sel = val; return 0;
    case VMMIO_REG_QUEUE_READY:  return queue_ready(v, val);
    case VMMIO_REG_QUEUE_NOTIFY: return notify(v, val);
    case VMMIO_REG_STATUS:       return status_write(v, val);
    case VMMIO_REG_INT_ACK:
        v->int_status &= ~val;
        /* Bits left after the ack: raise again (a new edge). */
        if ( old && v->int_status && v->irq )
            v->irq(v->irq_ctx, true);
        set_irq_level(v, old);
        return 0;
    case VMMIO_REG_QUEUE_NUM:
    case VMMIO_REG_QUEUE_DESC_LO: case VMMIO_REG_QUEUE_DESC_HI:
    case VMMIO_REG_QUEUE_DRV_LO: case VMMIO_REG_QUEUE_DRV_HI:
    case VMMIO_REG_QUEUE_DEV_LO: case VMMIO_REG_QUEUE_DEV_HI:
        return queue_write(v, off, val);
    }
    return ignored(v);          /* read-only or reserved */
}

int vmmio_write(struct vmmio_dev *v, uint32_t off, unsigned int bytes,
                uint64_t val)
{
    int rc = check_access(v, off, bytes);

    if ( rc )
        return rc;
    v->n.writes++;
    if ( off < VMMIO_CONFIG )
        return reg_write(v, off, val);
    if ( off - VMMIO_CONFIG + bytes > v->ops->config_size )
        return ignored(v);
    v->ops->config_write(v, off - VMMIO_CONFIG, bytes, val);
    return 0;
}

int vmmio_pop(struct vmmio_dev *v, unsigned int qi, struct virtq_chain *c,
              const char **why)
{
    if ( qi >= VMMIO_QUEUES )
        return 0;
    return virtq_pop(&v->queue[qi].q, &v->mem, c, why);
}

int vmmio_push(struct vmmio_dev *v, unsigned int qi, uint16_t head,
               uint32_t written)
{
    int rc;

    if ( qi >= VMMIO_QUEUES || !v->queue[qi].q.ready )
        return -EINVAL;
    rc = virtq_push(&v->queue[qi].q, &v->mem, head, written);
    if ( !rc )
        interrupt(v, VMMIO_INT_VRING);
    return rc;
}

void vmmio_config_changed(struct vmmio_dev *v)
{
    v->config_gen++;
    if ( vmmio_driver_ok(v) )
        interrupt(v, VMMIO_INT_CONFIG);
}

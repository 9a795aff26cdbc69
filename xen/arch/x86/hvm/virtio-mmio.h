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

/*
 * --- The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2) ---
 *
 * One device behind a 0x200-byte MMIO window: the registers below, then
 * the device's config space from 0x100.  The owner (the MMIO dispatch of
 * the guest) calls vmmio_read/vmmio_write for every guest access inside
 * the window and serializes all calls on one device (one vCPU, or a lock
 * of its own taken before the P2M lock: the device's memory effects take
 * the P2M lock inside).  The device half (e.g. virtio-balloon.c) supplies
 * a struct vmmio_dev_ops and pops/pushes its queues with vmmio_pop and
 * vmmio_push from its notify hook.
 *
 * Driver errors.  Registers: only naturally aligned 32-bit accesses below
 * 0x100; config space: 1, 2 or 4 bytes, naturally aligned, inside the
 * device's config size (reads past it give 0, writes past it are
 * ignored).  What the spec leaves to the device is ignored (writes to
 * read-only registers, to a queue's registers while it is ready, to
 * the feature words after FEATURES_OK; reads of
 * write-only registers give 0).  A broken driver -- an access of the
 * wrong size or alignment, outside the window, a queue enabled before
 * FEATURES_OK, a queue whose geometry or rings virtq_setup refuses, a
 * ring the device finds broken at a notify -- makes vmmio_read/write
 * return a negative errno with v->why set: the caller crashes the domain
 * with that reason.  (DEVICE_NEEDS_RESET is never used: Linux 6.1 does
 * not act on it, and a driver that broke a ring is buggy or hostile.)
 * Feature negotiation: FEATURES_OK sticks only when the driver took
 * VIRTIO_F_VERSION_1 and nothing the device did not offer (the driver
 * sees the bit clear when it reads the status back).  Writing 0 to
 * Status resets the device; queues are consumed only after DRIVER_OK
 * (a notify before it is kept and served when DRIVER_OK is set).
 */
#define VMMIO_WINDOW            0x200
#define VMMIO_CONFIG            0x100   /* config space offset */
#define VMMIO_MAGIC             0x74726976u     /* "virt" */
#define VMMIO_VERSION           2
#define VMMIO_VENDOR            0x004d3250u     /* "P2M" */
#define VMMIO_QUEUES            8       /* most queues a device has */

/* Register offsets (4.2.2). */
#define VMMIO_REG_MAGIC         0x000
#define VMMIO_REG_VERSION       0x004
#define VMMIO_REG_DEVICE_ID     0x008
#define VMMIO_REG_VENDOR_ID     0x00c
#define VMMIO_REG_DEV_FEATURES  0x010
#define VMMIO_REG_DEV_FEAT_SEL  0x014
#define VMMIO_REG_DRV_FEATURES  0x020
#define VMMIO_REG_DRV_FEAT_SEL  0x024
#define VMMIO_REG_QUEUE_SEL     0x030
#define VMMIO_REG_QUEUE_NUM_MAX 0x034
#define VMMIO_REG_QUEUE_NUM     0x038
#define VMMIO_REG_QUEUE_READY   0x044
#define VMMIO_REG_QUEUE_NOTIFY  0x050
#define VMMIO_REG_INT_STATUS    0x060
#define VMMIO_REG_INT_ACK       0x064
#define VMMIO_REG_STATUS        0x070
#define VMMIO_REG_QUEUE_DESC_LO 0x080
#define VMMIO_REG_QUEUE_DESC_HI 0x084
#define VMMIO_REG_QUEUE_DRV_LO  0x090   /* the avail ring */
#define VMMIO_REG_QUEUE_DRV_HI  0x094
#define VMMIO_REG_QUEUE_DEV_LO  0x0a0   /* the used ring */
#define VMMIO_REG_QUEUE_DEV_HI  0x0a4
#define VMMIO_REG_SHM_SEL       0x0ac   /* no shared memory regions: */
#define VMMIO_REG_SHM_LEN_LO    0x0b0   /* length and base read ~0 */
#define VMMIO_REG_SHM_LEN_HI    0x0b4
#define VMMIO_REG_SHM_BASE_LO   0x0b8
#define VMMIO_REG_SHM_BASE_HI   0x0bc
#define VMMIO_REG_CONFIG_GEN    0x0fc

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE   1u
#define VIRTIO_STATUS_DRIVER        2u
#define VIRTIO_STATUS_DRIVER_OK     4u
#define VIRTIO_STATUS_FEATURES_OK   8u
#define VIRTIO_STATUS_NEEDS_RESET   64u
#define VIRTIO_STATUS_FAILED        128u

/* InterruptStatus bits. */
#define VMMIO_INT_VRING         1u      /* a used buffer */
#define VMMIO_INT_CONFIG        2u      /* config space changed */

#define VIRTIO_F_VERSION_1      (1ull << 32)

struct vmmio_dev;

/* What a device supplies; the transport calls these with the caller's
 * serialization held. */
struct vmmio_dev_ops {
    uint32_t device_id;
    uint64_t features;          /* offered; VIRTIO_F_VERSION_1 is added */
    uint32_t config_size;       /* bytes of config space, at most 0x100 */
    /* Queues the device has with these negotiated features (numbered
     * 0..n-1 as the driver's find_vqs numbers the queues it creates);
     * at most VMMIO_QUEUES.  QueueNumMax reads 0 beyond. */
    unsigned int (*nr_queues)(struct vmmio_dev *v, uint64_t features);
    /* Config space: bytes (1, 2, 4) at off, inside config_size, aligned. */
    uint32_t (*config_read)(struct vmmio_dev *v, uint32_t off,
                            unsigned int bytes);
    void (*config_write)(struct vmmio_dev *v, uint32_t off,
                         unsigned int bytes, uint32_t val);
    /* Queue qi (ready, DRIVER_OK set) has new buffers: take them with
     * vmmio_pop, return them with vmmio_push.  0, or a negative errno
     * with *why set: the ring is broken and the domain is crashed. */
    int (*notify)(struct vmmio_dev *v, unsigned int qi, const char **why);
    /* The driver reset the device: forget held buffers and negotiated
     * state (the transport has cleared its own). */
    void (*reset)(struct vmmio_dev *v);
};

struct vmmio_queue {
    struct virtq q;             /* q.ready is QueueReady */
    uint32_t num;               /* QueueNum as written */
    uint64_t desc, driver, device;  /* the addresses as written */
};

struct vmmio_dev {
    const struct vmmio_dev_ops *ops;
    void *priv;                 /* the device's own state */
    struct virtq_mem mem;       /* guest memory, the owner's accessors */
    /* The owner's interrupt line: level is InterruptStatus != 0; called
     * on every change of it (raise on a new bit, lower on the last ack),
     * and with true again after an ack that leaves bits set, so that an
     * edge-triggered controller sees a new edge for them. */
    void (*irq)(void *ctx, bool level);
    void *irq_ctx;
    const char *why;            /* set whenever vmmio_read/write fails */

    uint32_t status;
    uint32_t dev_feat_sel, drv_feat_sel, queue_sel, shm_sel;
    uint64_t drv_features;      /* as written; negotiated at FEATURES_OK */
    uint32_t int_status;
    uint32_t config_gen;
    uint32_t pending;           /* queues notified before DRIVER_OK */
    struct vmmio_queue queue[VMMIO_QUEUES];
    struct {
        uint64_t reads, writes, notifies, interrupts, resets;
        uint64_t ignored;       /* writes ignored as the spec allows */
        uint64_t refused_features;  /* FEATURES_OK not granted */
    } n;
};

/*
 * Set up v in its reset state for a device (ops, priv), with the owner's
 * guest memory accessors and interrupt line (irq may be NULL: none).
 */
void vmmio_init(struct vmmio_dev *v, const struct vmmio_dev_ops *ops,
                void *priv, const struct virtq_mem *mem,
                void (*irq)(void *ctx, bool level), void *irq_ctx);

/*
 * A guest access of bytes (1, 2, 4 or 8) at offset off in the window.
 * vmmio_read puts the value in *val (zero-extended).  Both return 0, or a
 * negative errno (-EINVAL a bad access or driver error, -EFAULT a ring
 * outside guest RAM) with v->why set to a reason for domain_crash.
 */
int vmmio_read(struct vmmio_dev *v, uint32_t off, unsigned int bytes,
               uint64_t *val);
int vmmio_write(struct vmmio_dev *v, uint32_t off, unsigned int bytes,
                uint64_t val);

/* For devices: negotiated features (0 before FEATURES_OK); DRIVER_OK. */
uint64_t vmmio_features(const struct vmmio_dev *v);
bool vmmio_driver_ok(const struct vmmio_dev *v);

/* For devices: virtq_pop on queue qi (0: empty or not ready). */
int vmmio_pop(struct vmmio_dev *v, unsigned int qi, struct virtq_chain *c,
              const char **why);
/*
 * For devices: return chain head of queue qi with written bytes and
 * raise the used-buffer interrupt.  0, or -EFAULT (the used ring left
 * guest RAM: crash the domain).
 */
int vmmio_push(struct vmmio_dev *v, unsigned int qi, uint16_t head,
               uint32_t written);
/*
 * For devices: config space changed (called after the change).  Bumps
 * ConfigGeneration; raises the config interrupt once DRIVER_OK is set.
 */
void vmmio_config_changed(struct vmmio_dev *v);

#endif /* HVM_VIRTIO_MMIO_H */

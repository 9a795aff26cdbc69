/*
 * The P2M: per-domain tables that translate guest frames (gfn) into machine
 * frames (mfn), in the format the CPU walks (AMD NPT or Intel EPT).
 *
 * Levels are numbered L1 (4 KiB leaves) to L4 (root) everywhere; a leaf at
 * level L has order p2m_level_order(L) = 9 * (L - 1); p2m_order_level inverts it.
 *
 * Locking: p2m->lock protects the tables, counters and the m2p records of
 * this domain.  Order: P2M lock, then PoD lock, then heap lock.
 */
#ifndef ASM_X86_P2M_H
#define ASM_X86_P2M_H

#include <asm-x86/page.h>
#include <xen/list.h>
#include <xen/spinlock.h>
#include <xen/types.h>

struct domain;
struct vcpu;
struct p2m_format_ops;
struct p2m_domain;

/*
 * The levels by name: P2M_L1 holds 4K leaves, P2M_L4 is the root.
 * P2M_NO_LEVEL marks "no entry" (an idle probe, an audit error that is not
 * about one entry).
 */
enum { P2M_NO_LEVEL = 0, P2M_L1 = 1, P2M_L2, P2M_L3, P2M_L4 };
#define P2M_LEVELS P2M_L4
#define P2M_LEAF_LEVELS P2M_L3           /* the highest level with leaves */
#define P2M_GFN_BITS 36                  /* 48-bit guest-physical space */
#define P2M_MAX_GFN (1ull << P2M_GFN_BITS)

/* level <-> order: a leaf at level L maps 2^p2m_level_order(L) pages. */
static inline unsigned int p2m_level_order(unsigned int level)
{
    return PAGE_ORDER_2M * (level - P2M_L1);
}

/* The level whose leaves have the largest order <= order. */
static inline unsigned int p2m_order_level(unsigned int order)
{
    return order / PAGE_ORDER_2M + P2M_L1;
}

/*
 * Per-size counters (stats.pages[], the PoD lists and counters) are indexed
 * by the leaf's level: P2M_L1 (4K) -> 0, P2M_L2 (2M) -> 1, P2M_L3 (1G) -> 2.
 */
static inline unsigned int p2m_level_idx(unsigned int level)
{
    return level - P2M_L1;
}

/* The level of counter index idx: p2m_idx_level(p2m_level_idx(L)) == L. */
static inline unsigned int p2m_idx_level(unsigned int idx)
{
    return idx + P2M_L1;
}

typedef enum {
    p2m_invalid = 0,            /* nothing mapped */
    p2m_ram_rw,
    p2m_ram_ro,
    p2m_ram_logdirty,           /* RAM, write-protected to log writes */
    p2m_mmio_direct,
    p2m_populate_on_demand,     /* not present; filled on first access */
    p2m_nr_types
} p2m_type_t;

/* Access rights: any combination of these bits. */
typedef uint8_t p2m_access_t;
#define P2M_ACCESS_R 1u
#define P2M_ACCESS_W 2u
#define P2M_ACCESS_X 4u
#define P2M_ACCESS_RWX 7u

enum p2m_format { P2M_FORMAT_NPT, P2M_FORMAT_EPT };
#define P2M_NR_FORMATS 2

/*
 * The one map between formats and their names, the codecs' own ("npt",
 * "ept"), as scenario files, the CLI and reports spell them.  to_name
 * returns NULL for a value that is no format; from_name returns 0 and
 * *fmt, or -EINVAL for a name that is no format's.
 */
const char *p2m_format_to_name(enum p2m_format fmt);
int p2m_format_from_name(const char *name, enum p2m_format *fmt);

/* Types that map a machine frame (the others are not-present entries). */
static inline bool p2m_type_has_mfn(p2m_type_t t)
{
    return t == p2m_ram_rw || t == p2m_ram_ro || t == p2m_ram_logdirty ||
           t == p2m_mmio_direct;
}

static inline bool p2m_type_is_ram(p2m_type_t t)
{
    return t == p2m_ram_rw || t == p2m_ram_ro || t == p2m_ram_logdirty;
}

/* Rights a type allows at most; the entry grants access & this. */
static inline p2m_access_t p2m_type_rights(p2m_type_t t)
{
    switch ( t )
    {
    case p2m_ram_rw:       return P2M_ACCESS_RWX;
    case p2m_ram_ro:
    case p2m_ram_logdirty: return P2M_ACCESS_R | P2M_ACCESS_X;
    case p2m_mmio_direct:  return P2M_ACCESS_R | P2M_ACCESS_W;
    default:               return 0;
    }
}

struct p2m_lookup {
    mfn_t mfn;                 /* frame for gfn itself; INVALID_MFN if none */
    p2m_type_t type;
    p2m_access_t access;       /* the access asked for when mapped */
    p2m_access_t rights;       /* what the hardware entry grants now */
    unsigned int order;        /* order of the leaf (or empty entry) found */
};

struct p2m_stats {
    uint64_t pages[P2M_LEAF_LEVELS]; /* leaves mapped, by p2m_level_idx */
    uint64_t table_pages;      /* table pages in the tree, root included */
    uint64_t splits;
    uint64_t merges;           /* tables folded back into a superpage */
    uint64_t flushes;
    uint64_t pod_entries;      /* 4K pages covered by PoD entries */
};

/* --- populate-on-demand state (p2m-pod.c) --- */

#define POD_LAST_FILLS 8        /* at least MAX_VCPUS */
#define POD_RING 32             /* recently populated gfns, for eager sweeps */
#define POD_EVENTS 64

/* Cache lists and per-order counters: p2m_level_idx of the leaf's level. */
enum {
    POD_4K = P2M_L1 - P2M_L1,
    POD_2M = P2M_L2 - P2M_L1,
    POD_1G = P2M_L3 - P2M_L1,
    POD_ORDERS = P2M_LEAF_LEVELS
};

enum pod_event_kind {
    POD_EV_OOM = 1,             /* cache empty and nothing to sweep */
    POD_EV_PAUSED,              /* the faulting vCPU was paused */
    POD_EV_RESUMED,
    POD_EV_CRASHED,             /* policy crash: the domain was crashed */
};

struct pod_event {
    enum pod_event_kind kind;
    unsigned int vcpu;
    uint64_t gfn;
    uint64_t count, entry_count, tot_pages, target;
};

struct p2m_pod {
    spinlock_t lock;            /* inside the P2M lock, outside the heap's */
    struct list_head cache[POD_ORDERS];
    uint64_t chunks[POD_ORDERS];     /* chunks on each list */
    uint64_t count;             /* 4K pages in the cache */
    uint64_t target;            /* memory target set by the toolstack */
    uint64_t sweep_pos[POD_ORDERS];  /* where each order's sweep stopped */
    uint64_t ring[POD_RING];    /* gfn << 2 | level, recently populated */
    unsigned int ring_next;
    uint64_t last_fills[POD_LAST_FILLS];  /* the same, the latest; kept */
    unsigned int last_next;
    bool oom_crash;             /* policy: crash (Xen) instead of pause */
    bool sweep_low_water;       /* policy: sweep only when the cache is low */
    uint64_t populated[POD_ORDERS], swept[POD_ORDERS], remap_retries;
    uint64_t scanned;           /* 4K pages read by zero checks, probes too */
    /*
     * A 1G leaf too large for one fault's sweep budget, read a budget at a
     * time while it stays mapped (only a hint: a reclaim checks again).
     */
    struct {
        uint64_t gfn;
        uint64_t entry;         /* the leaf when the probe began */
        uint64_t done;          /* 4K pages of it read so far */
        unsigned int level;     /* P2M_NO_LEVEL: none */
        bool split;             /* one just split: its pieces are next */
    } probe;
    uint64_t probe_idle;        /* pages probed since the last reclaim */
    uint64_t probed, probe_splits;
    /* Cache chunks being zeroed for a fill outside the P2M lock (still
     * counted in count and chunks[]). */
    struct list_head busy;
    uint64_t busy_pages;        /* 4K pages on it */
    uint64_t unlocked_zeroes, fill_backouts;
    /* Test hook: runs while a fill's zeroing has the P2M lock dropped. */
    void (*test_unlocked)(struct p2m_domain *p2m, uint64_t gfn);
    struct pod_event ev[POD_EVENTS];
    unsigned int ev_head, ev_count;
};

struct p2m_domain {
    struct domain *domain;
    const struct p2m_format_ops *ops;
    spinlock_t lock;
    mfn_t root;
    struct p2m_stats stats;
    bool logdirty;
    bool logdirty_eager;       /* split every superpage when logging starts */
    /*
     * Log-dirty: gfns dirtied whose entry stopped being ram_rw since the
     * last clean (swept, retyped, unmapped, ballooned), one bit per gfn
     * below dirty_top, so the dirty state does not live in the type alone.
     */
    struct page_info *dirty_map;
    uint64_t dirty_top;
    unsigned int max_order;    /* largest leaf the hardware takes (9, 18) */

    /* Table page pool: pages owned by the domain's P2M, not in the tree. */
    struct list_head pool;
    uint64_t pool_pages;       /* pages on the pool list */
    uint64_t pool_limit;       /* max table pages (tree + pool), 0 = none */
    uint64_t pool_allocs;      /* table pages taken so far */
    uint64_t pool_fail_at;     /* test hook: fail this allocation (1-based) */
    struct list_head deferred; /* unlinked tables, freed after the flush */
    struct list_head released; /* replaced RAM chunks, freed after it too */

    uint64_t generation;       /* entry writes and sweep probe steps so far
                                  (the fault-loop progress check) */
    uint64_t walks;            /* descents from the root (p2m_iter_start) */
    uint64_t table_unlinks;    /* tables taken out of the tree so far */
    uint64_t entry_digest;     /* sum of p2m_entry_digest over the tree: the
                                  one store keeps it, the audit recounts it */
    bool test_skip_flush;      /* test hook: omit TLB flushes */
    uint64_t debug_skip;       /* debug builds: operations until the next
                                  audit */

    struct p2m_pod pod;
};

/* Create an empty P2M of the given format for d. */
int p2m_init(struct p2m_domain *p2m, struct domain *d, enum p2m_format fmt);
/* Free every table page (the domain's memory is released elsewhere). */
void p2m_teardown(struct p2m_domain *p2m);

/*
 * Limit present leaves to an order (0, 9 or 18): order 9 on hardware
 * without 1 GiB pages (EPT without VPID_CAP bit 17), or a toolstack's
 * superpage cap.  set_entry of a larger mapped leaf then fails with
 * -EOPNOTSUPP, ranges are cut smaller, PoD fills of larger entries remap
 * first, and folding stops there.  -EBUSY while larger leaves exist.
 */
int p2m_set_max_order(struct p2m_domain *p2m, unsigned int order);

enum p2m_format p2m_format_of(const struct p2m_domain *p2m);
const char *p2m_format_name(const struct p2m_domain *p2m);
/* The value for the nested CR3 (NPT) or the EPTP (EPT). */
uint64_t p2m_root_pointer(const struct p2m_domain *p2m);

/*
 * Map [gfn, gfn + 2^order) to [mfn, mfn + 2^order) with type t and access a,
 * order 0, 9 or 18.  For types without a frame (invalid, PoD) mfn must be
 * INVALID_MFN.  Splits superpages and frees replaced subtrees as needed.
 * Everything is validated before the first write: on error nothing changed.
 * Returns 0, -ERANGE, -EDOM, -EINVAL, -EFAULT, -ENXIO, -EPERM, -EBUSY,
 * -EBADR or -ENOMEM.  Takes the P2M lock.
 */
int p2m_set_entry(struct p2m_domain *p2m, gfn_t gfn, mfn_t mfn,
                  unsigned int order, p2m_type_t t, p2m_access_t a);

/*
 * Like p2m_set_entry for nr pages, cut into the largest orders that both gfn
 * and mfn allow.  All or nothing.
 */
int p2m_set_range(struct p2m_domain *p2m, gfn_t gfn, mfn_t mfn, uint64_t nr,
                  p2m_type_t t, p2m_access_t a);

/*
 * populate_physmap's one extent: a fresh zeroed 2^order chunk from the heap,
 * charged to the domain and mapped at gfn, all under the P2M lock (so no
 * frame is ever owned but neither mapped nor cached outside it).  *mfn gets
 * the frame.  Errors as set_entry, plus -ENOSPC (max_pages) and -ENOMEM.
 */
int p2m_populate_entry(struct p2m_domain *p2m, gfn_t gfn, unsigned int order,
                       p2m_type_t t, p2m_access_t a, mfn_t *mfn);
/*
 * p2m_set_entry for explicit frames; RAM frames that are all free are first
 * claimed for the domain (and scrubbed).  Frames another domain or the PoD
 * cache holds are refused with -EPERM.
 */
int p2m_map_frames(struct p2m_domain *p2m, gfn_t gfn, mfn_t mfn,
                   unsigned int order, p2m_type_t t, p2m_access_t a);

/*
 * Remove the mapping of [gfn, gfn + 2^order).  Same errors as set_entry.
 * Every RAM frame a map or unmap replaces leaves the domain after the flush:
 * into the PoD cache while PoD entries need it, else back to the heap.
 */
int p2m_remove(struct p2m_domain *p2m, gfn_t gfn, unsigned int order);

/* Look gfn up by walking the tables.  0 or -ERANGE.  Lock-free: never
 * waits for a writer, and sees each entry before or after its change. */
int p2m_get_entry(struct p2m_domain *p2m, gfn_t gfn, struct p2m_lookup *out);

/*
 * Lock-free table readers, supplied by the platform.  A lookup reads the
 * tables between plat_read_enter and plat_read_exit without the P2M lock;
 * before a table page that a change unlinked is freed or reused, the writer
 * calls plat_read_sync, which returns once every read that began before it
 * has ended.  Hosted threads announce their reads (hosted/readers.c); the
 * bare-metal CPU has no reader but itself, so there they do nothing.
 */
void plat_read_enter(void);
void plat_read_exit(void);
void plat_read_sync(void);

/* Change every ot entry to nt (ram_rw <-> ram_logdirty), superpages whole. */
int p2m_change_type_global(struct p2m_domain *p2m, p2m_type_t ot,
                           p2m_type_t nt);
/* Same over [gfn, gfn + nr); splits only superpages cut by the range ends. */
int p2m_change_type_range(struct p2m_domain *p2m, gfn_t gfn, uint64_t nr,
                          p2m_type_t ot, p2m_type_t nt);

/*
 * Fold split superpages back: wherever the 512 entries of a table inside
 * [gfn, gfn + nr) are exactly the children a split of one 2M or 1G entry
 * would give (same type, access and memory type, contiguous aligned
 * frames, or all the same empty type), replace the table by that entry.
 * Returns the number of tables folded.  Takes the P2M lock.
 */
int64_t p2m_merge_range(struct p2m_domain *p2m, gfn_t gfn, uint64_t nr);

/*
 * Log-dirty mode: on turns ram_rw into ram_logdirty, off turns it back and
 * folds the superpages that dirty-page splits broke up.
 */
int p2m_logdirty_enable(struct p2m_domain *p2m, bool on);

/*
 * How log-dirty breaks superpages up: on the first write to each one (the
 * default), or all at once when logging starts, so that no write fault
 * while logging has to split (KVM's eager page split).  With eager, enable
 * splits every RAM superpage to 4K leaves, write-protected, and fails with
 * -ENOMEM, changing nothing, when the table pages are not to be had.
 * Set while log-dirty is off: 0, or -EBUSY while it is on.  Takes the lock.
 */
enum p2m_logdirty_split { P2M_SPLIT_ON_WRITE, P2M_SPLIT_EAGER };
int p2m_logdirty_set_split(struct p2m_domain *p2m,
                           enum p2m_logdirty_split how);
/*
 * Set bit (g - gfn) of bitmap for each dirty g in [gfn, gfn + nr); with
 * clean, write-protect them again.  Returns the number of dirty pages.
 */
int64_t p2m_logdirty_read(struct p2m_domain *p2m, gfn_t gfn, uint64_t nr,
                          uint8_t *bitmap, bool clean);
/*
 * One past the highest gfn the log-dirty map can report without a leaf
 * there (a page dirtied and then swept, retyped or unmapped); 0 when
 * log-dirty is off.  Readers scan [0, max(top leaf, this)).
 */
uint64_t p2m_logdirty_reach(struct p2m_domain *p2m);

/*
 * A guest access (P2M_ACCESS_* bits) to gfn faulted.  Fixes what the P2M
 * can fix (log-dirty write, populate-on-demand) and returns 0 so the access
 * is retried; otherwise crashes the domain and returns -EFAULT.
 */
int p2m_handle_fault(struct vcpu *v, gfn_t gfn, p2m_access_t access);

#define P2M_FAULT_LOOP_MAX 16
/*
 * The platform saw v fault on gfn (before handling it).  False once gfn
 * faulted more than P2M_FAULT_LOOP_MAX times in a row with no P2M entry
 * written in between: a loop without progress (a missing flush), which
 * the caller ends by crashing the domain.  A page the P2M keeps changing
 * (re-dirtied every log-dirty round) is never taken for a loop.
 */
bool p2m_fault_progress(struct vcpu *v, gfn_t gfn);

void p2m_get_stats(struct p2m_domain *p2m, struct p2m_stats *out);

/*
 * How many entry writes the P2M has seen: a fault handler compares it
 * between two faults on one gfn to tell a guest that makes progress (the
 * P2M changed meanwhile) from one stuck in a fault loop.  Lock-free read.
 */
static inline uint64_t p2m_generation(const struct p2m_domain *p2m)
{
    return __atomic_load_n(&p2m->generation, __ATOMIC_ACQUIRE);
}

/*
 * Writers count under the lock, so the count needs no locked add: a plain
 * increment published with release order after the entry it counts.
 */
static inline void p2m_generation_bump(struct p2m_domain *p2m)
{
    ASSERT_LOCKED(&p2m->lock);
    __atomic_store_n(&p2m->generation, p2m->generation + 1,
                     __ATOMIC_RELEASE);
}

/* Calls fn for every leaf and every typed empty entry, in gfn order. */
typedef int (*p2m_leaf_fn)(void *ctx, gfn_t gfn, const struct p2m_lookup *l);
int p2m_for_each_leaf(struct p2m_domain *p2m, p2m_leaf_fn fn, void *ctx);

/* Calls fn for every table page reachable from the root, root first. */
typedef int (*p2m_table_fn)(void *ctx, mfn_t mfn, const uint64_t *entries);
int p2m_for_each_table(struct p2m_domain *p2m, p2m_table_fn fn, void *ctx);

/* Names used by the CLI and the JSON output. */
const char *p2m_type_name(p2m_type_t t);
int p2m_type_from_name(const char *s);        /* -EBADR if unknown */
void p2m_access_str(p2m_access_t a, char out[4]);
int p2m_access_from_str(const char *s);       /* -EBADR if malformed */

/* --- audit --- */

enum p2m_audit_code {
    AUDIT_RESERVED_BITS = 1,  /* reserved or must-be-zero bits set */
    AUDIT_FORMAT,             /* format rule broken (U bit, W without R, ...) */
    AUDIT_PS_AT_L4,
    AUDIT_MISALIGNED,         /* leaf mfn not aligned to the leaf's order */
    AUDIT_BAD_TYPE,
    AUDIT_M2P,                /* m2p does not point back at the leaf */
    AUDIT_OWNER,              /* leaf frame not owned by the domain */
    AUDIT_TABLE_PAGE,         /* table pointer to a non-P2M page */
    AUDIT_COUNTER,            /* a per-level counter disagrees */
    AUDIT_MFN_RANGE,          /* leaf frame beyond or in a hole of RAM */
    AUDIT_POOL,               /* table page accounting disagrees */
    AUDIT_POD,                /* PoD cache exceeds entries or pages held */
    AUDIT_RIGHTS,             /* leaf: rights != type+access; table: != RWX */
    AUDIT_LEAK,               /* pages held != RAM mapped + PoD cache */
    AUDIT_PADDR,              /* frame bits above the physical-address width */
    AUDIT_M2P_STALE,          /* m2p record that no leaf at its gfn matches */
    AUDIT_LOOKUP,             /* p2m_get_entry's descent decodes otherwise */
};

#define P2M_AUDIT_MAX_RECORDED 64

/* AUDIT_COUNTER's detail: p2m_level_idx(level) for stats.pages[], or: */
enum p2m_audit_counter {
    AUDIT_CTR_TABLE_PAGES = P2M_LEAF_LEVELS,
    AUDIT_CTR_POD_ENTRIES,
    AUDIT_CTR_DIGEST,         /* an entry written past p2m_iter_set */
};

struct p2m_audit_error {
    enum p2m_audit_code code;
    unsigned int level;       /* P2M_NO_LEVEL: not about one entry */
    uint64_t gfn;
    uint64_t entry;
    uint64_t detail;          /* expected value, enum p2m_audit_counter */
};

struct p2m_audit_report {
    unsigned int nr_errors;   /* all found, even beyond the recorded ones */
    unsigned int nr_recorded;
    struct p2m_audit_error err[P2M_AUDIT_MAX_RECORDED];
};

/* Walk the real tables and check everything; returns nr_errors. */
unsigned int p2m_audit(struct p2m_domain *p2m, struct p2m_audit_report *r);
const char *p2m_audit_code_name(enum p2m_audit_code c);

#endif /* ASM_X86_P2M_H */

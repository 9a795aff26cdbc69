/*
 * The KVM walker check (TAP output).
 *
 * A hosted machine's memory is the guest-physical memory of a KVM VM, so a
 * KVM guest-physical address is our machine address.  The guest's CR3 is
 * the root of an NPT-format P2M built with the module's API, and guest
 * virtual address gfn << 12 is translated by KVM's MMU through our entries
 * to machine frame mfn: every check but the final audit is a value the
 * guest read, wrote or faulted on through that walk.  Every sampled frame
 * holds a tag derived from its mfn at offset 0, so a read proves which
 * frame the walk reached.
 *
 * Without a usable /dev/kvm it prints one skipped test.
 */
#define _GNU_SOURCE
#include "kvm_walker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosted.h"
#include <xen/memory.h>
#include <xen/mm.h>

#define MACHINE_FRAMES (1ull << 20)         /* 4 GiB of machine memory */
#define GUEST_DOMID 1
#define TAG_MASK 0xa5a5a5a5a5a5a5a5ull

/* Guest frames.  Slots: L4 gfn >> 27, L3 (gfn >> 18) & 511, L2 (gfn >> 9)
 * & 511. */
#define GFN_CODE    0x100ull                /* ram_ro, R+X */
#define GFN_SYS     0x101ull                /* ram_ro, R: GDT, TSS, IDT */
#define GFN_STACK   0x102ull
#define GFN_RO4K    0x103ull
#define GFN_NX4K    0x104ull                /* ram_rw without X */
#define GFN_ORPHAN  0x105ull                /* frame split out, remapped */
#define GFN_POD     0x106ull
#define GFN_RO2M    0x80000ull
#define GFN_SPLIT   0xc0000ull              /* 2M leaf split by a 4K inside */
#define SPLIT_NEW   0x37ull                 /* the 4K populated inside it */
#define SPLIT_HOLE  0x100ull                /* the 4K removed from it */
#define GFN_MBOX    0x100000ull             /* 2M: address list and results */
#define GFN_1G      0x200000ull
#define MBOX_RESULTS (1ull << 20)           /* offset of the results */
#define MAX_SAMPLES (MBOX_RESULTS / 8)

#define A_R   P2M_ACCESS_R
#define A_RW  (P2M_ACCESS_R | P2M_ACCESS_W)
#define A_RX  (P2M_ACCESS_R | P2M_ACCESS_X)
#define A_RWX P2M_ACCESS_RWX

/* What a mapping is checked as; each kind has its own sweep test. */
enum kind { K_CTRL, K_2M, K_4K, K_SPLIT, K_RO, K_1G, NR_KINDS };

struct region {
    uint64_t gfn;
    unsigned int order;
    p2m_type_t t;
    p2m_access_t a;
    enum kind kind;
};

static const struct region regions[] = {
    { GFN_CODE,    0, p2m_ram_ro, A_RX,  K_CTRL },
    { GFN_SYS,     0, p2m_ram_ro, A_R,   K_CTRL },
    { GFN_STACK,   0, p2m_ram_rw, A_RW,  K_CTRL },
    { GFN_MBOX,    9, p2m_ram_rw, A_RW,  K_CTRL },
    { 0x200,       9, p2m_ram_rw, A_RWX, K_2M },    /* L2 slot 1 */
    { 0x3fe00,     9, p2m_ram_rw, A_RW,  K_2M },    /* L2 slot 511 */
    { 0x40000,     9, p2m_ram_rw, A_RWX, K_2M },    /* L3 slot 1, L2 slot 0 */
    { 0x8001200,   9, p2m_ram_rw, A_RW,  K_2M },    /* L4 slot 1 */
    { 0x7fffffc00, 9, p2m_ram_rw, A_RWX, K_2M },    /* L4 slot 255 */
    { 0x1,         0, p2m_ram_rw, A_RWX, K_4K },
    { 0x2,         0, p2m_ram_rw, A_RWX, K_4K },
    { 0x1ff,       0, p2m_ram_rw, A_RWX, K_4K },    /* L1 slot 511 */
    { 0x600,       0, p2m_ram_rw, A_RWX, K_4K },
    { 0x12345,     0, p2m_ram_rw, A_RWX, K_4K },
    { 0x8000000,   0, p2m_ram_rw, A_RWX, K_4K },    /* L4 slot 1, slot 0s */
    { 0x7ffffffff, 0, p2m_ram_rw, A_RWX, K_4K },    /* slot 511 at L3-L1 */
    { GFN_NX4K,    0, p2m_ram_rw, A_RW,  K_4K },
    { GFN_RO4K,    0, p2m_ram_ro, A_RWX, K_RO },
    { GFN_RO2M,    9, p2m_ram_ro, A_R,   K_RO },
    { GFN_SPLIT,   9, p2m_ram_rw, A_RWX, K_SPLIT },
    { GFN_SPLIT + SPLIT_NEW, 0, p2m_ram_rw, A_RWX, K_SPLIT },
};

static const struct region region_1g = {
    GFN_1G, 18, p2m_ram_rw, A_RWX, K_1G,
};

/* What we mapped, in order; later records override earlier ones. */
struct record {
    uint64_t gfn;
    unsigned int order;
    mfn_t mfn;                  /* INVALID_MFN: removed */
    enum kind kind;
};

/* One gfn the guest reads, and the frame it must reach. */
struct sample {
    uint64_t gfn;
    mfn_t mfn;
    enum kind kind;
    bool lookup_ok;             /* p2m_get_entry named the same frame */
};

static struct world {
    struct kvm_vm vm;
    struct domain *d;
    struct record rec[64];
    unsigned int nr_rec;
    struct sample *samples;     /* grouped by kind */
    unsigned int nr_samples;
    unsigned int first[NR_KINDS], count[NR_KINDS];
} w;

static unsigned int test_no, nr_failed;
static char why_buf[256];

static const char *why_fmt(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
    va_end(ap);
    return why_buf;
}

static void tap(bool ok, const char *fmt, ...)
{
    va_list ap;

    printf("%s %u - ", ok ? "ok" : "not ok", ++test_no);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    nr_failed += !ok;
}

#define diag(fmt, ...) printf("# " fmt "\n", ##__VA_ARGS__)

static uint64_t va_of(uint64_t gfn)
{
    return gfn << PAGE_SHIFT;
}

static uint64_t tag_of(mfn_t mfn)
{
    return mfn_x(mfn) ^ TAG_MASK;
}

static uint64_t *frame_word(mfn_t mfn, unsigned int off)
{
    return (uint64_t *)((uint8_t *)plat_map_mfn(mfn) + off);
}

static void record(uint64_t gfn, unsigned int order, mfn_t mfn, enum kind k)
{
    w.rec[w.nr_rec++] = (struct record){ gfn, order, mfn, k };
}

static bool rec_has(const struct record *r, uint64_t gfn)
{
    return gfn >= r->gfn && gfn - r->gfn < (1ull << r->order);
}

/* The frame our own records say gfn maps to (INVALID_MFN if none). */
static mfn_t expected_mfn(uint64_t gfn)
{
    unsigned int i;

    for ( i = w.nr_rec; i-- > 0; )
        if ( rec_has(&w.rec[i], gfn) )
            return mfn_eq(w.rec[i].mfn, INVALID_MFN) ? INVALID_MFN
                   : mfn_add(w.rec[i].mfn, gfn - w.rec[i].gfn);
    return INVALID_MFN;
}

static mfn_t first_mfn(uint64_t gfn, unsigned int order)
{
    unsigned int i;

    for ( i = 0; i < w.nr_rec; i++ )
        if ( w.rec[i].gfn == gfn && w.rec[i].order == order )
            return w.rec[i].mfn;
    return INVALID_MFN;
}

/* --- building the guest's address space with the module's API --- */

static const char *map_region(const struct region *r)
{
    mfn_t mfn;
    int rc = memory_populate(w.d, _gfn(r->gfn), r->order, r->t, r->a, &mfn);

    if ( rc )
        return why_fmt("memory_populate(gfn %#llx, order %u): %d",
                       (unsigned long long)r->gfn, r->order, rc);
    record(r->gfn, r->order, mfn, r->kind);
    return NULL;
}

/*
 * Beyond the populated regions: a page removed from the split 2M, the frame
 * that the 4K populated inside it displaced (given back to the heap, so it
 * is claimed again by an explicit map), mapped read-only elsewhere, and a
 * populate-on-demand entry (not present to hardware).
 */
static const char *map_extras(void)
{
    struct p2m_domain *p2m = &w.d->p2m;
    mfn_t orphan = mfn_add(first_mfn(GFN_SPLIT, PAGE_ORDER_2M), SPLIT_NEW);
    int rc;

    rc = p2m_remove(p2m, _gfn(GFN_SPLIT + SPLIT_HOLE), PAGE_ORDER_4K);
    if ( rc )
        return why_fmt("p2m_remove: %d", rc);
    record(GFN_SPLIT + SPLIT_HOLE, PAGE_ORDER_4K, INVALID_MFN, K_SPLIT);
    rc = memory_map_frames(w.d, _gfn(GFN_ORPHAN), orphan, PAGE_ORDER_4K,
                           p2m_ram_ro, A_R);
    if ( rc )
        return why_fmt("memory_map_frames(ram_ro): %d", rc);
    record(GFN_ORPHAN, PAGE_ORDER_4K, orphan, K_RO);
    rc = p2m_set_entry(p2m, _gfn(GFN_POD), INVALID_MFN, PAGE_ORDER_4K,
                       p2m_populate_on_demand, A_RWX);
    if ( rc )
        return why_fmt("p2m_set_entry(populate_on_demand): %d", rc);
    return NULL;
}

static const char *build_p2m(void)
{
    struct machine_range ram = { 0, MACHINE_FRAMES };
    const char *why;
    unsigned int i;
    int rc = hosted_machine_init(&ram, 1);

    if ( rc )
        return why_fmt("hosted_machine_init: %d", rc);
    w.d = domain_create(GUEST_DOMID, P2M_FORMAT_NPT, MACHINE_FRAMES, 1, &rc);
    if ( !w.d )
        return why_fmt("domain_create: %d", rc);
    for ( i = 0; i < sizeof(regions) / sizeof(regions[0]); i++ )
        if ( (why = map_region(&regions[i])) )
            return why;
    if ( w.vm.pdpe1gb && (why = map_region(&region_1g)) )
        return why;
    return map_extras();
}

/* Offsets sampled in a leaf: every page of a 2M or 4K, 514 spread over 1G. */
static unsigned int sample_offsets(unsigned int order, uint64_t *off)
{
    unsigned int n = 0, k;

    if ( order < PAGE_ORDER_1G )
    {
        for ( k = 0; k < (1u << order); k++ )
            off[n++] = k;
        return n;
    }
    off[n++] = 0;
    off[n++] = 1;
    for ( k = 1; k < 512; k++ )         /* one per 2M, at varying offsets */
        off[n++] = k * 512ull + (k * 37 % 512);
    off[n++] = (1ull << order) - 1;
    return n;
}

static void add_samples(const struct record *r)
{
    static uint64_t off[520];
    unsigned int k, n = sample_offsets(r->order, off);

    for ( k = 0; k < n && w.nr_samples < MAX_SAMPLES; k++ )
    {
        uint64_t gfn = r->gfn + off[k];
        mfn_t mfn = expected_mfn(gfn);
        struct p2m_lookup l;
        bool ok;

        if ( mfn_eq(mfn, INVALID_MFN) )
            continue;                   /* removed since */
        ok = p2m_get_entry(&w.d->p2m, _gfn(gfn), &l) == 0 &&
             mfn_eq(l.mfn, mfn);
        w.samples[w.nr_samples++] = (struct sample){ gfn, mfn, r->kind, ok };
    }
}

/* A record inside an earlier one is sampled with that one. */
static bool covered_earlier(unsigned int i)
{
    unsigned int j;

    for ( j = 0; j < i; j++ )
        if ( rec_has(&w.rec[j], w.rec[i].gfn) )
            return true;
    return false;
}

/* Choose the gfns to read, grouped by kind, and tag their frames. */
static const char *build_samples(void)
{
    unsigned int i, k;

    w.samples = calloc(MAX_SAMPLES, sizeof(*w.samples));
    if ( !w.samples )
        return "out of memory";
    for ( k = K_CTRL + 1; k < NR_KINDS; k++ )
    {
        w.first[k] = w.nr_samples;
        for ( i = 0; i < w.nr_rec; i++ )
            if ( w.rec[i].kind == k && !covered_earlier(i) &&
                 !mfn_eq(w.rec[i].mfn, INVALID_MFN) )
                add_samples(&w.rec[i]);
        w.count[k] = w.nr_samples - w.first[k];
    }
    for ( i = 0; i < w.nr_samples; i++ )
        *frame_word(w.samples[i].mfn, 0) = tag_of(w.samples[i].mfn);
    return NULL;
}

/* Code, GDT/IDT, and the sweep's address list in the mailbox. */
static const char *build_guest(void)
{
    mfn_t mbox = expected_mfn(GFN_MBOX);
    uint64_t *list = frame_word(mbox, 0);
    unsigned int i;

    guest_write_code(plat_map_mfn(expected_mfn(GFN_CODE)));
    guest_write_sys(plat_map_mfn(expected_mfn(GFN_SYS)), va_of(GFN_CODE));
    for ( i = 0; i < w.nr_samples; i++ )
        list[i] = va_of(w.samples[i].gfn);
    memset(frame_word(mbox, MBOX_RESULTS), 0, w.nr_samples * 8ull);
    return NULL;
}

static const char *start_vm(void)
{
    int rc = kvm_add_memory(&w.vm, plat_map_mfn(_mfn(0)),
                            MACHINE_FRAMES << PAGE_SHIFT);

    if ( rc )
        return why_fmt("KVM_SET_USER_MEMORY_REGION: %s", strerror(-rc));
    rc = kvm_setup_vcpu(&w.vm, p2m_root_pointer(&w.d->p2m), va_of(GFN_SYS));
    if ( rc )
        return why_fmt("vCPU setup: %s", strerror(-rc));
    return NULL;
}

/* --- guest calls --- */

static int guest_call(uint64_t entry, uint64_t rdi, uint64_t rsi,
                      uint64_t rcx, struct guest_exit *e)
{
    struct guest_call c = {
        .rip = va_of(GFN_CODE) + entry,
        .rsp = va_of(GFN_STACK) + PAGE_SIZE,
        .rdi = rdi, .rsi = rsi, .rcx = rcx,
    };

    return kvm_call(&w.vm, &c, e);
}

static bool exited_at(int rc, const struct guest_exit *e, unsigned int port)
{
    return rc == 0 && e->reason == KVM_EXIT_IO && e->port == port;
}

/* The guest took #PF at va with error code pfec, and reported CR2 = va. */
static bool expect_pf(const char *what, int rc, const struct guest_exit *e,
                      uint64_t va, unsigned int pfec)
{
    if ( exited_at(rc, e, PORT_PF) && e->regs.rax == va && e->cr2 == va &&
         e->regs.rbx == pfec )
        return true;
    diag("%s at %#llx: want #PF error %#x; rc %d, %s", what,
         (unsigned long long)va, pfec, rc, kvm_exit_str(e));
    return false;
}

/* The guest reads the samples of kind k into the results; true if done. */
static bool sweep(enum kind k)
{
    uint64_t mbox = va_of(GFN_MBOX), at = w.first[k] * 8ull;
    struct guest_exit e;
    int rc;

    if ( w.count[k] == 0 )
        return false;                   /* rcx = 0 would not stop the loop */
    rc = guest_call(CODE_SWEEP, mbox + MBOX_RESULTS + at, mbox + at,
                    w.count[k], &e);
    if ( exited_at(rc, &e, PORT_SWEEP_DONE) && e.regs.rcx == 0 )
        return true;
    diag("sweep of %u gfns: rc %d, %s", w.count[k], rc, kvm_exit_str(&e));
    return false;
}

/* --- the checks --- */

static const struct {
    enum kind kind;
    const char *what;
} kind_tests[] = {
    { K_2M, "2M leaves at L2 slots 1 and 511, L3 slot 1, L4 slots 1 "
            "and 255" },
    { K_4K, "4K leaves at L1 slots 1, 2 and 511, other L2/L3/L4 slots, "
            "the top canonical gfn, an NX page" },
    { K_SPLIT, "split 2M: its old frames and the 4K populated inside "
               "(one page removed)" },
    { K_RO, "read-only leaves: 4K, 2M, and a frame remapped with "
            "p2m_set_entry" },
    { K_1G, "1G leaf (514 gfns spread over it)" },
};

/* Every sampled gfn of kind k read the tag of the frame the P2M names. */
static void t_kind(enum kind k, const char *what)
{
    const uint64_t *res = frame_word(expected_mfn(GFN_MBOX), MBOX_RESULTS);
    unsigned int i, bad = 0, n = w.count[k];
    bool done;

    if ( k == K_1G && !w.vm.pdpe1gb )
    {
        tap(true, "%s # SKIP KVM_GET_SUPPORTED_CPUID does not offer PDPE1GB "
            "(CPUID 0x80000001 EDX bit 26)", what);
        return;
    }
    done = sweep(k);
    if ( !done )
        bad = n;
    for ( i = w.first[k]; done && i < w.first[k] + n; i++ )
    {
        const struct sample *s = &w.samples[i];

        if ( s->lookup_ok && res[i] == tag_of(s->mfn) )
            continue;
        if ( bad++ < 8 )
            diag("gfn %#llx: guest read %#llx, want tag %#llx of mfn %#llx%s",
                 (unsigned long long)s->gfn, (unsigned long long)res[i],
                 (unsigned long long)tag_of(s->mfn),
                 (unsigned long long)mfn_x(s->mfn),
                 s->lookup_ok ? "" : " (p2m_get_entry names another frame)");
    }
    tap(done && bad == 0, "%s: %u/%u gfns read their frame's tag%s", what,
        n - bad, n, done ? "" : " (the sweep did not finish)");
}

/* Guest writes through writable leaves land in the frame the P2M names. */
static void t_writes(void)
{
    static const uint64_t gfns[] = {
        0x1, 0x3fe05, 0x7fffffdff, GFN_SPLIT + SPLIT_NEW, GFN_SPLIT + 0x38,
    };
    unsigned int i, good = 0, n = sizeof(gfns) / sizeof(gfns[0]);

    for ( i = 0; i < n; i++ )
    {
        mfn_t mfn = expected_mfn(gfns[i]);
        uint64_t val = 0x5752000000000000ull | gfns[i];
        struct guest_exit e;
        int rc = guest_call(CODE_WRITE, va_of(gfns[i]) + 8, val, 0, &e);

        if ( exited_at(rc, &e, PORT_WRITE_DONE) &&
             *frame_word(mfn, 8) == val && *frame_word(mfn, 0) == tag_of(mfn) )
            good++;
        else
            diag("write gfn %#llx: frame %#llx holds %#llx; rc %d, %s",
                 (unsigned long long)gfns[i], (unsigned long long)mfn_x(mfn),
                 (unsigned long long)*frame_word(mfn, 8), rc,
                 kvm_exit_str(&e));
    }
    tap(good == n, "guest writes through 4K, 2M and split leaves reach the "
        "right frame (%u/%u)", good, n);
}

/* Writes to ram_ro leaves fault (P|W) and leave the frame alone. */
static void t_ro_writes(void)
{
    static const uint64_t gfns[] = {
        GFN_RO4K, GFN_RO2M + 7, GFN_RO2M + 0x1ff, GFN_ORPHAN,
    };
    unsigned int i, good = 0, n = sizeof(gfns) / sizeof(gfns[0]);

    for ( i = 0; i < n; i++ )
    {
        uint64_t va = va_of(gfns[i]) + 8;
        struct guest_exit e;
        int rc = guest_call(CODE_WRITE, va, 0x5752, 0, &e);

        good += expect_pf("write to read-only", rc, &e, va,
                          PFEC_P | PFEC_W) &&
                *frame_word(expected_mfn(gfns[i]), 8) == 0;
    }
    tap(good == n, "guest writes to read-only 4K/2M leaves take #PF P|W at "
        "the address (%u/%u)", good, n);
}

/* Reads of gfns with no present entry fault (not present). */
static void t_not_present(void)
{
    static const struct {
        uint64_t gfn;
        const char *what;
    } np[] = {
        { 0x500000000, "empty L4 slot" },
        { 0x1000000, "empty L3 slot" },
        { 0x20000, "empty L2 slot" },
        { 0x3, "empty L1 slot" },
        { GFN_SPLIT + SPLIT_HOLE, "page removed from the split 2M" },
        { GFN_POD, "populate-on-demand entry" },
    };
    unsigned int i, good = 0, n = sizeof(np) / sizeof(np[0]);

    for ( i = 0; i < n; i++ )
    {
        struct p2m_lookup l;
        struct guest_exit e;
        int rc = guest_call(CODE_READ, va_of(np[i].gfn), 0, 0, &e);

        good += expect_pf(np[i].what, rc, &e, va_of(np[i].gfn), 0) &&
                p2m_get_entry(&w.d->p2m, _gfn(np[i].gfn), &l) == 0 &&
                !p2m_type_has_mfn(l.type);
    }
    tap(good == n, "guest reads of unmapped gfns (empty L4/L3/L2/L1 slot, "
        "removed page, PoD entry) take a not-present #PF (%u/%u)", good, n);
}

/* Fetches run from leaves with X and fault (P|I) on leaves without. */
static void t_exec(void)
{
    static const struct {
        uint64_t gfn;
        bool runs;
    } x[] = {
        { 0x201, true }, { GFN_SPLIT + 1, true }, { 0x1, true },
        { GFN_NX4K, false }, { 0x3fe01, false }, { GFN_RO2M + 1, false },
    };
    unsigned int i, good = 0, n = sizeof(x) / sizeof(x[0]);

    for ( i = 0; i < n; i++ )
    {
        uint64_t va = va_of(x[i].gfn) + 0x800;
        struct guest_exit e;
        int rc;

        guest_write_exec_stub((uint8_t *)frame_word(expected_mfn(x[i].gfn),
                                                    0x800));
        rc = guest_call(CODE_EXEC, va, 0, 0, &e);
        if ( x[i].runs )
        {
            good += exited_at(rc, &e, PORT_EXEC_OK);
            if ( !exited_at(rc, &e, PORT_EXEC_OK) )
                diag("fetch at %#llx: rc %d, %s", (unsigned long long)va, rc,
                     kvm_exit_str(&e));
        }
        else
            good += expect_pf("fetch from NX", rc, &e, va, PFEC_P | PFEC_I);
    }
    tap(good == n, "guest fetches run from 4K/2M/split leaves with X and "
        "take #PF P|I on NX leaves (%u/%u)", good, n);
}

/* Long-mode entry bits, to see what the walker left in our tables. */
#define PTE_P    (1ull << 0)
#define PTE_A    (1ull << 5)
#define PTE_PS   (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull

/* Count table pointers below table (at level) and those marked Accessed. */
static void count_accessed(mfn_t table, unsigned int level,
                           unsigned int *tables, unsigned int *accessed)
{
    const uint64_t *e = plat_map_mfn(table);
    unsigned int i;

    if ( level == P2M_L1 )
        return;
    for ( i = 0; i < 512; i++ )
    {
        if ( !(e[i] & PTE_P) || (e[i] & PTE_PS) )
            continue;
        (*tables)++;
        *accessed += !!(e[i] & PTE_A);
        count_accessed(_mfn((e[i] & PTE_ADDR) >> PAGE_SHIFT), level - 1,
                       tables, accessed);
    }
}

/* The hardware walk (which sets Accessed bits) left the P2M consistent. */
static void t_audit(void)
{
    static struct p2m_audit_report r;
    unsigned int errs = p2m_audit(&w.d->p2m, &r), moved = 0, i;
    unsigned int tables = 0, accessed = 0;

    for ( i = 0; i < w.nr_samples; i++ )
    {
        struct p2m_lookup l;

        if ( p2m_get_entry(&w.d->p2m, _gfn(w.samples[i].gfn), &l) ||
             !mfn_eq(l.mfn, w.samples[i].mfn) )
            moved++;
    }
    for ( i = 0; i < r.nr_recorded && i < 8; i++ )
        diag("audit: %s level %u gfn %#llx entry %#llx",
             p2m_audit_code_name(r.err[i].code), r.err[i].level,
             (unsigned long long)r.err[i].gfn,
             (unsigned long long)r.err[i].entry);
    count_accessed(_mfn(p2m_root_pointer(&w.d->p2m) >> PAGE_SHIFT), P2M_L4,
                   &tables, &accessed);
    diag("the walker set Accessed in %u of %u table pointers", accessed,
         tables);
    tap(errs == 0 && moved == 0, "after the guest ran: p2m_audit finds %u "
        "errors, %u of %u lookups changed", errs, moved, w.nr_samples);
}

static void report_setup(void)
{
    struct p2m_stats st;

    p2m_get_stats(&w.d->p2m, &st);
    diag("machine %llu MiB as KVM guest-physical memory; PDPE1GB offered: %s",
         (unsigned long long)(MACHINE_FRAMES >> 8),
         w.vm.pdpe1gb ? "yes" : "no");
    diag("guest CR3 = NPT root %#llx; %u gfns sampled",
         (unsigned long long)p2m_root_pointer(&w.d->p2m), w.nr_samples);
    diag("P2M leaves: %llu 4K, %llu 2M, %llu 1G; %llu table pages, "
         "%llu splits", (unsigned long long)st.pages[p2m_level_idx(P2M_L1)],
         (unsigned long long)st.pages[p2m_level_idx(P2M_L2)],
         (unsigned long long)st.pages[p2m_level_idx(P2M_L3)],
         (unsigned long long)st.table_pages, (unsigned long long)st.splits);
}

static const char *setup(void)
{
    const char *why;

    if ( (why = build_p2m()) || (why = build_samples()) ||
         (why = build_guest()) || (why = start_vm()) )
        return why;
    report_setup();
    return NULL;
}

static void teardown(void)
{
    kvm_close(&w.vm);
    if ( w.d )
        domain_destroy(w.d);
    hosted_machine_fini();
    free(w.samples);
}

#define NR_TESTS (sizeof(kind_tests) / sizeof(kind_tests[0]) + 5)

int main(void)
{
    const char *why;
    unsigned int i;
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    rc = kvm_open(&w.vm, &why);
    if ( rc > 0 )
    {
        printf("1..1\nok 1 - kvm walker # SKIP %s\n", why);
        kvm_close(&w.vm);
        return 0;
    }
    printf("1..%zu\n", NR_TESTS);
    if ( rc < 0 || (why = setup()) )
    {
        while ( test_no < NR_TESTS )
            tap(false, "kvm walker setup: %s", why);
        teardown();
        return 1;
    }
    for ( i = 0; i < sizeof(kind_tests) / sizeof(kind_tests[0]); i++ )
        t_kind(kind_tests[i].kind, kind_tests[i].what);
    t_writes();
    t_ro_writes();
    t_not_present();
    t_exec();
    t_audit();
    teardown();
    return nr_failed ? 1 : 0;
}

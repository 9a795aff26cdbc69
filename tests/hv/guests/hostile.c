/*
 * The hostile guest: one binary, one case per domain (guest_info.test).
 * It tells the hypervisor it started (HP_STARTED), sets up its own GDT and
 * IDT (so an injected #GP or #UD reaches its handler, which steps over
 * the faulting instruction), then does the one thing its case names.
 * Cases that must crash the domain return 1 if they ever get back here;
 * the others return 0 only if everything they saw was as the CPU (and our
 * CPUID/MSR policy) says it must be.
 */
#include "guest.h"
#include "hostile.h"

struct exc_frame {
    uint32_t edi, esi, ebp, esp0, ebx, edx, ecx, eax;
    uint32_t vec, error, eip, cs, eflags;
};

void guest_exception(struct exc_frame *f);
int guest_main(struct guest_info *info);
extern const uint32_t exc_stubs[32];

static volatile uint32_t exc_skip;      /* bytes to step over; 0: fatal */
static volatile uint32_t exc_count, exc_vec, exc_error;
static uint64_t gdt[3] = {
    0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull,  /* code 8, data 0x10 */
};
static uint64_t idt[32];
static uint8_t buf[512];

void guest_exception(struct exc_frame *f)
{
    exc_vec = f->vec;
    exc_error = f->error;
    exc_count++;
    if ( !exc_skip )
    {
        gprintf("hostile: unexpected exception %u at %x, error %x\n",
                f->vec, f->eip, f->error);
        hypercall(HC_EXIT, 0x100 + f->vec, 0, 0);
    }
    f->eip += exc_skip;
}

static void load_tables(void)
{
    struct { uint16_t limit; uint32_t base; } __attribute__((packed))
        gdtr = { sizeof(gdt) - 1, (uint32_t)(uintptr_t)gdt },
        idtr = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };

    for ( unsigned int i = 0; i < 32; i++ )
        idt[i] = (exc_stubs[i] & 0xffff) | (0x08u << 16) |
                 ((uint64_t)0x8e00 << 32) |
                 ((uint64_t)(exc_stubs[i] >> 16) << 48);
    asm volatile ( "lgdt %0; lidt %1" :: "m" (gdtr), "m" (idtr) );
}

/* Did the last instruction (of len bytes) fault with vector vec? */
static int faulted(uint32_t before, uint32_t vec, const char *what)
{
    if ( exc_count == before + 1 && exc_vec == vec )
        return 0;
    gprintf("hostile: %s: no exception %u (count %u, vector %u)\n", what,
            vec, exc_count - before, exc_vec);
    return 1;
}

static uint64_t rdmsr_try(uint32_t msr, int *bad, int want_fault)
{
    uint32_t lo = 0, hi = 0, before = exc_count;

    exc_skip = 2;
    asm volatile ( "rdmsr" : "=a" (lo), "=d" (hi) : "c" (msr) );
    exc_skip = 0;
    if ( want_fault )
        *bad += faulted(before, 13, "rdmsr");
    else if ( exc_count != before )
    {
        gprintf("hostile: rdmsr %x faulted\n", msr);
        (*bad)++;
    }
    return ((uint64_t)hi << 32) | lo;
}

static void wrmsr_try(uint32_t msr, uint64_t v, int *bad, int want_fault)
{
    uint32_t before = exc_count;

    exc_skip = 2;
    asm volatile ( "wrmsr" :: "c" (msr), "a" ((uint32_t)v),
                   "d" ((uint32_t)(v >> 32)) );
    exc_skip = 0;
    if ( want_fault )
        *bad += faulted(before, 13, "wrmsr");
    else if ( exc_count != before )
    {
        gprintf("hostile: wrmsr %x faulted\n", msr);
        (*bad)++;
    }
}

static void cpuid4(uint32_t leaf, uint32_t r[4])
{
    asm volatile ( "cpuid" : "=a" (r[0]), "=b" (r[1]), "=c" (r[2]),
                             "=d" (r[3]) : "a" (leaf), "c" (0) );
}

static int test_cpuid(void)
{
    uint32_t l1[4], hv[4], e0[4], e1[4] = { 0 }, xa[4] = { 0 };
    int bad = 0;

    cpuid4(1, l1);
    cpuid4(0x40000000, hv);
    cpuid4(0x80000000, e0);
    if ( e0[0] >= 0x80000001 )
        cpuid4(0x80000001, e1);
    cpuid4(0x8000000a, xa);
    gprintf("cpuid: leaf 1 ecx %x edx %x; hv leaf %x '%c%c%c%c'; "
            "80000001 ecx %x edx %x\n", l1[2], l1[3], hv[0], hv[1] & 0xff,
            (hv[1] >> 8) & 0xff, (hv[1] >> 16) & 0xff, hv[1] >> 24, e1[2],
            e1[3]);
    bad += !(l1[2] & (1u << 31));           /* hypervisor bit */
    bad += !!(l1[2] & (1u << 5));           /* VMX */
    bad += !!(l1[2] & (1u << 3));           /* MONITOR */
    bad += !!(l1[3] & (1u << 9));           /* local APIC: not emulated */
    bad += !!(e1[2] & (1u << 2));           /* SVM */
    bad += !!(e1[3] & (1u << 27));          /* RDTSCP */
    bad += hv[1] != 0x684d3250 || hv[2] != 0x72657079 || hv[3] != 0x72736976;
    bad += (xa[0] | xa[1] | xa[2] | xa[3]) != 0;    /* SVM leaf: zeros */
    return bad;
}

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    asm volatile ( "rdtsc" : "=a" (lo), "=d" (hi) );
    return ((uint64_t)hi << 32) | lo;
}

/*
 * No exits at all: first a second of TSC time with interrupts off (where
 * the hypervisor must stop us, its limit being far shorter), then for
 * ever with them on (for a CPU that wrongly lets IF=0 hold off the host's
 * timer, Bochs' SVM: the hypervisor's check tells which one stopped us).
 */
static void endless_loop(void)
{
    uint64_t end = rdtsc() + 1000ull * hypercall(HC_PHASE, HP_TSC_KHZ, 0, 0).a;

    asm volatile ( "cli" );
    while ( rdtsc() < end )
        ;
    asm volatile ( "sti; 1: jmp 1b" );
}

/* The instructions that must end the domain; 1 if one ever returns. */
static int test_crash(uint32_t t)
{
    static uint64_t vmxon_region;
    uint32_t page = 0x10000;        /* aligned, in the base region */

    switch ( t )
    {
    case HT_CLGI:    asm volatile ( "clgi" ); break;
    case HT_STGI:    asm volatile ( "stgi" ); break;
    case HT_VMRUN:   asm volatile ( "vmrun %%eax" :: "a" (page) ); break;
    case HT_VMLOAD:  asm volatile ( "vmload %%eax" :: "a" (page) ); break;
    case HT_VMSAVE:  asm volatile ( "vmsave %%eax" :: "a" (page) ); break;
    case HT_SKINIT:  asm volatile ( "skinit %%eax" :: "a" (page) ); break;
    case HT_INVLPGA: asm volatile ( "invlpga %%eax, %%ecx"
                                    :: "a" (0), "c" (1) ); break;
    case HT_VMXON:
        vmxon_region = page;
        asm volatile ( "vmxon %0" :: "m" (vmxon_region) : "cc" );
        break;
    case HT_UNBACKED:
        gprintf("unbacked: read %x\n",
                *(volatile uint32_t *)HOSTILE_UNBACKED_GPA);
        break;
    case HT_LOOP:
        endless_loop();
        break;
    }
    gprintf("hostile: case %u came back\n", t);
    return 1;
}

static int test_cache(uint32_t t)
{
    buf[0] = 0x5a;
    if ( t == HT_INVD )
        asm volatile ( "invd" ::: "memory" );
    else
        asm volatile ( "wbinvd" ::: "memory" );
    return buf[0] != 0x5a;      /* INVD must not lose our own write */
}

static void xsetbv_try(uint32_t xcr, uint64_t v)
{
    exc_skip = 3;
    asm volatile ( "xsetbv" :: "c" (xcr), "a" ((uint32_t)v),
                   "d" ((uint32_t)(v >> 32)) );
    exc_skip = 0;
}

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;

    asm volatile ( "xgetbv" : "=a" (lo), "=d" (hi) : "c" (0) );
    return ((uint64_t)hi << 32) | lo;
}

static int test_xsetbv(void)
{
    static const uint64_t bad_values[] = { 0, 2, 7, 1ull << 63 };
    uint32_t l1[4], cr4, before;
    int bad = 0;

    cpuid4(1, l1);
    if ( !(l1[2] & (1u << 26)) )
    {
        /* No XSAVE: the CPU itself raises #UD (CR4.OSXSAVE is clear). */
        xsetbv_try(0, 0);
        gprintf("xsetbv: XSAVE is not offered; %u #UD\n", exc_count);
        return exc_count != 1 || exc_vec != 6;
    }
    asm volatile ( "mov %%cr4, %0" : "=r" (cr4) );
    asm volatile ( "mov %0, %%cr4" :: "r" (cr4 | (1u << 18)) );
    xsetbv_try(0, 3);                           /* x87 | SSE: fine */
    bad += exc_count != 0 || xgetbv0() != 3;
    for ( unsigned int i = 0; i < 4; i++ )
    {
        before = exc_count;
        xsetbv_try(0, bad_values[i]);
        bad += faulted(before, 13, "xsetbv bad value");
    }
    before = exc_count;
    xsetbv_try(1, 3);                           /* no XCR1 */
    bad += faulted(before, 13, "xsetbv xcr 1");
    gprintf("xsetbv: XCR0 %x after the bad values, %u #GP\n",
            (uint32_t)xgetbv0(), exc_count);
    bad += xgetbv0() != 3;
    xsetbv_try(0, 1);
    return bad;
}

static int test_rdmsr(void)
{
    uint64_t efer, t0, t1, intpend, ucode;
    uint32_t v[4];
    int bad = 0, amd;

    cpuid4(0, v);
    amd = v[1] == 0x68747541;                   /* "Auth" */
    rdmsr_try(0x12345678, &bad, 1);             /* no such MSR */
    /* AMD's interrupt-pending message MSR reads 0 (no C1E); Intel has
     * none.  Writing it is never allowed. */
    intpend = rdmsr_try(0xc0010055, &bad, !amd);
    bad += amd && intpend != 0;
    wrmsr_try(0xc0010055, 0, &bad, 1);
    /* The microcode revision: Intel's is written (0) and read back as 1 in
     * EDX; AMD's patch level is read only. */
    wrmsr_try(0x8b, 0, &bad, amd);
    ucode = rdmsr_try(0x8b, &bad, 0);
    bad += ucode != 1ull << 32;
    rdmsr_try(0x0000003a, &bad, 1);             /* feature control */
    rdmsr_try(0xc0010114, &bad, 1);             /* VM_CR */
    rdmsr_try(0x00000480, &bad, 1);             /* VMX_BASIC */
    efer = rdmsr_try(0xc0000080, &bad, 0);
    t0 = rdmsr_try(0x10, &bad, 0);
    t1 = rdmsr_try(0x10, &bad, 0);
    gprintf("rdmsr: EFER %x, TSC went %s, microcode %x, %u #GP\n",
            (uint32_t)efer, t1 > t0 ? "up" : "DOWN", (uint32_t)(ucode >> 32),
            exc_count);
    bad += (efer & (1u << 12)) != 0;            /* SVME: hidden */
    bad += t1 <= t0;
    return bad;
}

static int test_wrmsr(void)
{
    const uint64_t pat = 0x0007040600070406ull;
    uint64_t efer;
    int bad = 0;

    wrmsr_try(0x12345678, 1, &bad, 1);          /* no such MSR */
    wrmsr_try(0xc0010117, 0x10000, &bad, 1);    /* VM_HSAVE_PA */
    wrmsr_try(0x0000003a, 5, &bad, 1);          /* feature control */
    efer = rdmsr_try(0xc0000080, &bad, 0);
    wrmsr_try(0xc0000080, efer | (1u << 12), &bad, 1);  /* SVME */
    wrmsr_try(0x277, 0x0202020202020202ull, &bad, 1);   /* PAT type 2 */
    wrmsr_try(0x277, pat ^ 0x01, &bad, 0);
    bad += rdmsr_try(0x277, &bad, 0) != (pat ^ 0x01);
    wrmsr_try(0xc0000082, 0x0000800000000000ull, &bad, 1); /* LSTAR */
    wrmsr_try(0xc0000082, 0xffff800000001000ull, &bad, 0);
    bad += rdmsr_try(0xc0000082, &bad, 0) != 0xffff800000001000ull;
    gprintf("wrmsr: %u #GP, allowed ones read back\n", exc_count);
    return bad;
}

static int test_mwait(void)
{
    uint32_t before = exc_count;
    int bad = 0;

    exc_skip = 3;
    asm volatile ( "monitor %%eax, %%ecx, %%edx" :: "a" (buf), "c" (0),
                   "d" (0) );
    bad += faulted(before, 6, "monitor");
    before = exc_count;
    asm volatile ( "mwait %%eax, %%ecx" :: "a" (0), "c" (0) );
    bad += faulted(before, 6, "mwait");
    exc_skip = 0;
    return bad;
}

/* INS fills with all ones; n elements of size bytes from buf + off. */
static uint32_t ins(uint32_t port, uint8_t *dst, uint32_t n, int size,
                    int down)
{
    uint32_t d = (uint32_t)(uintptr_t)dst;

    if ( down )
        asm volatile ( "std" );
    if ( size == 1 )
        asm volatile ( "rep insb" : "+D" (d), "+c" (n) : "d" (port)
                       : "memory" );
    else
        asm volatile ( "rep insw" : "+D" (d), "+c" (n) : "d" (port)
                       : "memory" );
    asm volatile ( "cld" );
    return d;
}

static int range_is(const uint8_t *p, uint32_t n, uint8_t v)
{
    for ( uint32_t i = 0; i < n; i++ )
        if ( p[i] != v )
            return 0;
    return 1;
}

static int test_ins(void)
{
    uint8_t *pod = (uint8_t *)(HOSTILE_POD_GFN * PAGE_SIZE) + PAGE_SIZE - 5;
    int bad = 0;

    memset(buf, 0x5a, sizeof(buf));
    bad += ins(0x1234, buf + 1, 300, 1, 0) != (uint32_t)(uintptr_t)(buf + 301);
    bad += !range_is(buf + 1, 300, 0xff) || buf[0] != 0x5a || buf[301] != 0x5a;
    bad += ins(0x1234, buf + 310, 3, 2, 0) != (uint32_t)(uintptr_t)(buf + 316);
    bad += !range_is(buf + 310, 6, 0xff) || buf[316] != 0x5a;
    /* DF=1: downwards, from buf + 400 to buf + 397. */
    bad += ins(0x1234, buf + 400, 4, 1, 1) != (uint32_t)(uintptr_t)(buf + 396);
    bad += !range_is(buf + 397, 4, 0xff) || buf[396] != 0x5a;
    /* Across a page boundary into PoD memory nobody touched yet. */
    bad += ins(0x1234, pod, 10, 1, 0) != (uint32_t)(uintptr_t)(pod + 10);
    bad += !range_is(pod, 10, 0xff);
    gprintf("ins: rep insb/insw gave all ones, %s\n",
            bad ? "BAD" : "registers and neighbours right");
    return bad;
}

static int test_outs(void)
{
    static const char msg[] = "outs: hello through rep outsb\n";
    uint32_t s = (uint32_t)(uintptr_t)msg, n = sizeof(msg) - 1;
    int bad = 0;

    asm volatile ( "rep outsb" : "+S" (s), "+c" (n) : "d" (0xe9) );
    bad += n != 0 || s != (uint32_t)(uintptr_t)msg + sizeof(msg) - 1;
    s = (uint32_t)(uintptr_t)buf;
    n = 200;
    asm volatile ( "rep outsw" : "+S" (s), "+c" (n) : "d" (0x1234) );
    bad += n != 0 || s != (uint32_t)(uintptr_t)buf + 400;
    return bad;
}

/*
 * CR4: VMXE never shows (the hypervisor's own VMX bit on Intel, reserved on
 * AMD), and setting a bit the CPUID policy does not offer faults, whether
 * the CPU has the feature (PKE on Bochs's Skylake-X: the hypervisor must
 * refuse it) or not (the CPU refuses it itself).
 */
static int cr4_try(uint32_t v)
{
    uint32_t before = exc_count;

    exc_skip = 3;                               /* mov %eax, %cr4 */
    asm volatile ( "mov %0, %%cr4" :: "a" (v) );
    exc_skip = 0;
    return exc_count != before;
}

static int test_cr4(void)
{
    static const struct { uint32_t bit; const char *name; } refused[] = {
        { 1u << 13, "VMXE" }, { 1u << 14, "SMXE" }, { 1u << 12, "LA57" },
        { 1u << 17, "PCIDE" }, { 1u << 22, "PKE" }, { 1u << 11, "UMIP" },
    };
    uint32_t cr4, now;
    int bad = 0;

    asm volatile ( "mov %%cr4, %0" : "=r" (cr4) );
    if ( cr4 & (1u << 13) )
    {
        gprintf("cr4: VMXE reads as set (%x)\n", cr4);
        bad++;
    }
    for ( unsigned int i = 0; i < 6; i++ )
    {
        if ( !cr4_try(cr4 | refused[i].bit) || exc_vec != 13 )
        {
            gprintf("cr4: setting %s did not give #GP\n", refused[i].name);
            bad++;
        }
    }
    /* A bit it may set (PGE) still goes through. */
    bad += cr4_try(cr4 | (1u << 7));
    asm volatile ( "mov %%cr4, %0" : "=r" (now) );
    bad += now != (cr4 | (1u << 7));
    cr4_try(cr4);
    gprintf("cr4: %x; %u refused bits faulted, PGE accepted: %s\n", cr4,
            exc_count, bad ? "BAD" : "ok");
    return bad;
}

/*
 * String I/O through the guest's own page tables: 32-bit paging with 4 MiB
 * identity pages for 0-8 MiB, and linear 8 MiB mapped by a page table
 * onto a RAM page (msg_page) and, next to it, the last PoD page.  REP OUTSB
 * reads the message at linear 0x800000 (a gpa nothing backs), REP INSB
 * writes across the two mapped pages.
 */
#define PAGED_LA        0x800000u
static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[1024] __attribute__((aligned(4096)));
static char msg_page[4096] __attribute__((aligned(4096)));

static int test_paged_io(void)
{
    static const char msg[] = "paged-io: hello through the guest's page "
                              "tables\n";
    uint8_t *pod_last = (uint8_t *)((HOSTILE_POD_GFN + HOSTILE_POD_PAGES -
                                     1) * PAGE_SIZE);
    uint32_t s = PAGED_LA, n = sizeof(msg) - 1, d = PAGED_LA + 0xffd, cr0;
    int bad = 0;

    for ( unsigned int i = 0; i < sizeof(msg); i++ )
        msg_page[i] = msg[i];
    memset(msg_page + 0xff0, 0x5a, 16);
    pd[0] = 0x000000 | 0x83;                    /* 4M, present, writable */
    pd[1] = 0x400000 | 0x83;
    pd[2] = (uint32_t)(uintptr_t)pt | 0x3;
    pt[0] = (uint32_t)(uintptr_t)msg_page | 0x3;
    pt[1] = (uint32_t)(uintptr_t)pod_last | 0x3;
    asm volatile ( "mov %%cr4, %0; or $0x10, %0; mov %0, %%cr4"   /* PSE */
                   : "=&r" (cr0) );
    asm volatile ( "mov %0, %%cr3" :: "r" (pd) : "memory" );
    asm volatile ( "mov %%cr0, %0; or $0x80000000, %0; mov %0, %%cr0"
                   : "=&r" (cr0) :: "memory" );
    asm volatile ( "rep outsb" : "+S" (s), "+c" (n) : "d" (0xe9) );
    bad += n != 0 || s != PAGED_LA + sizeof(msg) - 1;
    n = 6;
    asm volatile ( "rep insb" : "+D" (d), "+c" (n) : "d" (0x1234)
                   : "memory" );
    bad += n != 0 || d != PAGED_LA + 0x1003;
    asm volatile ( "mov %%cr0, %0; and $0x7fffffff, %0; mov %0, %%cr0"
                   : "=&r" (cr0) :: "memory" );
    /* Paging off again: the bytes are where the tables put them. */
    bad += !range_is((uint8_t *)msg_page + 0xffd, 3, 0xff) ||
           msg_page[0xffc] != 0x5a || !range_is(pod_last, 3, 0xff);
    gprintf("paged-io: rep insb across the mapped pages %s\n",
            bad ? "BAD" : "ok");
    return bad;
}

static void triple_fault(void)
{
    struct { uint16_t limit; uint32_t base; } __attribute__((packed))
        none = { 0, 0 };

    /* #UD cannot be delivered (no IDT): #GP, #DF, then shutdown. */
    asm volatile ( "lidt %0; ud2" :: "m" (none) );
}

int guest_main(struct guest_info *info)
{
    uint32_t t = info->test;
    int bad;

    hypercall(HC_PHASE, HP_STARTED, t, 0);
    if ( t == HT_TRIPLE )
    {
        triple_fault();
        return 1;
    }
    load_tables();
    switch ( t )
    {
    case HT_CPUID:  bad = test_cpuid(); break;
    case HT_INVD:
    case HT_WBINVD: bad = test_cache(t); break;
    case HT_XSETBV: bad = test_xsetbv(); break;
    case HT_RDMSR:  bad = test_rdmsr(); break;
    case HT_WRMSR:  bad = test_wrmsr(); break;
    case HT_MWAIT:  bad = test_mwait(); break;
    case HT_INS:    bad = test_ins(); break;
    case HT_OUTS:   bad = test_outs(); break;
    case HT_CR4:    bad = test_cr4(); break;
    case HT_PAGED_IO: bad = test_paged_io(); break;
    case HT_ALIVE:  bad = test_cpuid(); break;
    default:        return test_crash(t);
    }
    hypercall(HC_PHASE, HP_FAULTS, exc_count, 0);
    return bad;
}

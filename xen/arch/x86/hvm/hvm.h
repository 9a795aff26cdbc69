/*
 * Hardware-assisted guests on bare metal, vendor-neutral part: the vCPU
 * state both SVM and VMX keep, the exits they hand to shared code (nested
 * page faults, hypercalls, port output), and the pending-flush flag that
 * plat_flush_guest_tlb sets for the next guest entry.
 */
#ifndef HVM_H
#define HVM_H

#include <xen/sched.h>

/* Guest registers the hardware does not keep for us (all but RSP/RIP;
 * SVM keeps RAX in the VMCB, and the vendor code copies it here). */
struct hvm_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
};

/* A register by the CPU's number (RAX RCX RDX RBX RSP RBP RSI RDI R8..R15);
 * NULL for RSP, which the VMCB/VMCS keeps. */
uint64_t *hvm_gpr_slot(struct hvm_regs *r, unsigned int n);

/* Exits by what they were, for the reports (vendor-neutral). */
enum hvm_exit_kind {
    HVM_EXIT_NPF, HVM_EXIT_MMIO, HVM_EXIT_IO, HVM_EXIT_MSR, HVM_EXIT_CPUID,
    HVM_EXIT_HLT, HVM_EXIT_INTR, HVM_EXIT_IRQ_WINDOW, HVM_EXIT_EXCEPTION,
    HVM_EXIT_HYPERCALL, HVM_EXIT_XSETBV, HVM_EXIT_CACHE, HVM_EXIT_CR,
    HVM_EXIT_OTHER,
    HVM_EXIT_NR
};

struct hvm_counters {
    uint64_t exits, npf, hypercalls, io, sweeps, flushes, swept_pages;
    uint64_t npf_walk;          /* of npf: on the guest's page-table walk */
    uint64_t irqs;              /* interrupts injected (platform guests) */
    uint64_t halts;             /* HLTs that waited for an interrupt */
    uint64_t kind[HVM_EXIT_NR];
    uint64_t preempts;          /* host timer exits */
    uint64_t injected;          /* exceptions given to the guest */
    uint64_t emulated;          /* instructions emulated (CPUID, MSR, ...) */
};

/*
 * Guest MSRs that the allow-list lets through, by where the vendor keeps
 * them (VMCB, VMCS or struct hvm_vcpu).  See hvm_msr_access.
 */
enum hvm_msr {
    HVM_MSR_EFER, HVM_MSR_PAT, HVM_MSR_SYSENTER_CS, HVM_MSR_SYSENTER_ESP,
    HVM_MSR_SYSENTER_EIP, HVM_MSR_FS_BASE, HVM_MSR_GS_BASE,
    HVM_MSR_KERNEL_GS_BASE, HVM_MSR_STAR, HVM_MSR_LSTAR, HVM_MSR_CSTAR,
    HVM_MSR_SFMASK, HVM_MSR_NR
};

struct hvm_vendor;
struct vlapic;

/* The 8250 UART at 0x3f8 (polled: it never interrupts). */
struct hvm_uart {
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
};

/* What the vendor code reads at an exit for the emulation of an access. */
struct hvm_cpu_state {
    uint64_t rip, rsp, rflags, cs_base;
    uint64_t cr0, cr3, cr4, efer;
    unsigned int mode;          /* 16, 32 or 64 (CS.L in long mode) */
    uint8_t cpl;
};

/* Where a vCPU starts: 32-bit protected mode with flat 4 GiB segments
 * (code selector cs, the others ds, as the GDT at gdt_base describes
 * them), paging and interrupts off. */
struct hvm_entry {
    uint32_t rip, rsp, rsi;
    uint16_t cs, ds;
    uint32_t gdt_base;
    uint16_t gdt_limit;
};

struct hvm_vcpu {
    struct vcpu *v;
    const struct hvm_vendor *hw;
    struct hvm_regs regs;
    bool done;                  /* the guest called HC_EXIT */
    uint32_t result;            /* its code: 0 = all its checks passed */
    bool misconfig;             /* the CPU rejected a P2M entry */
    uint64_t misconfig_gpa;
    struct hvm_counters n;
    char line[512];             /* console output, flushed per line */
    unsigned int line_len;
    int (*phase)(struct hvm_vcpu *hv, uint32_t phase, uint32_t arg);
    void *ctx;                  /* for phase */
    char crash[120];            /* why hvm crashed the domain ("" = not) */
    uint32_t exc_crash;         /* guest exceptions that crash the domain */
    uint64_t time_limit;        /* guest TSC cycles it may use; 0 = none */
    uint64_t guest_cycles;      /* TSC cycles spent in the guest */
    uint64_t xcr0;              /* the guest's XCR0 (loaded on entry) */
    uint32_t tlb_tag;           /* this domain's ASID (SVM) or VPID (VMX) */
    uint32_t tpr;               /* CR8 << 4 of a guest without a local APIC */
    uint64_t msr[HVM_MSR_NR];   /* MSRs the vendor keeps here */
    /* The platform of a real guest (hvm_platform_init): the UART, the
     * local APIC with its timer, PCI configuration ports. */
    bool platform;
    struct hvm_uart uart;
    uint32_t pci_addr;          /* the last dword written to 0xcf8 */
    struct vlapic *lapic;
    uint64_t start_tsc;         /* when the guest first ran */
    uint64_t init_ms;           /* when it said "P2M: init" (0: not yet) */
    bool marker_failed;         /* a "P2M:" line said FAIL */
    const char *end_reason;     /* how a platform guest ended (done) */
    /* The toolstack watching a platform guest (NULL: none): called with
     * the text after "P2M: " of each guest marker line, and with NULL
     * after each virtio-mmio write and each host timer exit, so that it
     * can follow the balloon and change the domain's target. */
    void (*watch)(struct hvm_vcpu *hv, const char *marker);
};

#define LAPIC_GPA        0xfee00000ull

struct hvm_vendor {
    const char *name;           /* "SVM" or "VMX" */
    enum p2m_format format;
    bool leaf_1g;               /* the P2M may use 1 GiB leaves */
    /* Make v ready to enter as e says. */
    int (*vcpu_init)(struct hvm_vcpu *hv, const struct hvm_entry *e);
    /* Run until the guest is done, the domain crashed or v is paused. */
    void (*run)(struct hvm_vcpu *hv);
    /* Deliver exception vec to the guest on the next entry (the error
     * code only where the vector has one and the guest is in protected
     * mode). */
    void (*inject)(struct hvm_vcpu *hv, uint8_t vec, uint32_t error);
    /* Guest state the shared emulation needs. */
    uint64_t (*get_cr)(struct hvm_vcpu *hv, unsigned int cr);
    uint64_t (*get_msr)(struct hvm_vcpu *hv, enum hvm_msr m);
    void (*set_msr)(struct hvm_vcpu *hv, enum hvm_msr m, uint64_t val);
    void (*get_state)(struct hvm_vcpu *hv, struct hvm_cpu_state *s);
    void (*set_rip)(struct hvm_vcpu *hv, uint64_t rip);
    void (*set_rsp)(struct hvm_vcpu *hv, uint64_t rsp);
};

/* platform.c: the devices of a real guest. */
void hvm_platform_init(struct hvm_vcpu *hv);
/* Port I/O to the platform's devices: true when one answered. */
bool hvm_platform_out(struct hvm_vcpu *hv, uint16_t port, uint32_t val,
                      unsigned int bytes);
bool hvm_platform_in(struct hvm_vcpu *hv, uint16_t port, unsigned int bytes,
                     uint32_t *val);
/* A nested fault at gpa of a platform guest: in a device page (local
 * APIC, I/O APIC, virtio-mmio) the access is decoded and done (0, or < 0
 * when the domain was crashed); 1 when gpa is no device's. */
int hvm_platform_mmio(struct hvm_vcpu *hv, uint64_t gpa, bool walk);
/* The interrupt to deliver next (the timer brought up to date), or -1. */
int hvm_irq_next(struct hvm_vcpu *hv);
/* The vendor delivered vector vec to the guest. */
void hvm_irq_delivered(struct hvm_vcpu *hv, uint8_t vec);
/* HLT with the guest's RFLAGS.IF: 1 when done (RIP moves on), < 0 when
 * the domain was crashed. */
int hvm_hlt(struct hvm_vcpu *hv, bool intr_on);
/* The exit counts by kind, as JSON members. */
void hvm_print_exit_reasons(const struct hvm_vcpu *hv);
/* One character of guest console output (printed a line at a time). */
void hvm_console_char(struct hvm_vcpu *hv, char c);
/* A guest console line (port 0xE9 or the UART) of a platform guest. */
void hvm_console_line(struct hvm_vcpu *hv, const char *line);

/* The host CPU has XSAVE (and CR4.OSXSAVE is on): XCR0 can be set. */
extern bool hvm_host_xsave;

/* Detect SVM+NPT or VMX+EPT and switch it on; NULL when neither works. */
const struct hvm_vendor *hvm_detect(void);
const struct hvm_vendor *svm_detect(void);
const struct hvm_vendor *vmx_detect(void);

struct hvm_vcpu *hvm_vcpu_of(struct vcpu *v);
void hvm_vcpu_reset(struct hvm_vcpu *hv, struct vcpu *v);

/* Should the vendor loop stop entering this vCPU? */
bool hvm_should_stop(struct hvm_vcpu *hv);
/* Take the pending flush (true: flush this entry). */
bool hvm_take_flush(struct hvm_vcpu *hv);
/* A fresh ASID/VPID for a new domain (1..max); *flush_all is set when
 * the numbers wrapped and every tag must be flushed. */
uint32_t hvm_new_tlb_tag(uint32_t max, bool *flush_all);

/* Load the guest's XCR0 into the CPU if it is not there (before entry). */
void hvm_load_xcr0(struct hvm_vcpu *hv);

/* Every exit passes here first, with the TSC cycles the guest just ran:
 * counts it, runs the periodic PoD sweep. */
void hvm_exit_tick(struct hvm_vcpu *hv, uint64_t cycles);
/* After each exit was handled: < 0 when the guest has used up its CPU
 * time limit (the domain is then crashed). */
int hvm_check_time(struct hvm_vcpu *hv);

/*
 * Shared exit handlers.  Each returns 0 to resume the guest, or < 0 when
 * it must not run again (the domain crashed or the vCPU is paused).
 */
/* walk: the fault was on the guest's own page-table walk (NPT EXITINFO1
 * bit 33; EPT qualification bit 7 set, bit 8 clear), not on the access. */
int hvm_nested_fault(struct hvm_vcpu *hv, uint64_t gpa, p2m_access_t access,
                     bool walk);
int hvm_hypercall(struct hvm_vcpu *hv);
int hvm_port_out(struct hvm_vcpu *hv, uint16_t port, uint32_t val,
                 unsigned int bytes);
/* IN: what port reads give (all ones: no device answers here). */
uint32_t hvm_port_in(struct hvm_vcpu *hv, uint16_t port, unsigned int bytes);
/* A host timer tick stopped the guest (preemption). */
int hvm_preempted(struct hvm_vcpu *hv);

/*
 * Emulated instructions.  Each returns 1 when the instruction completed
 * (the caller moves RIP past it), 0 when it did not (an exception was
 * injected, or a REP string instruction has elements left: it runs
 * again), < 0 when the domain was crashed.
 */
int hvm_cpuid(struct hvm_vcpu *hv);
int hvm_msr_access(struct hvm_vcpu *hv, bool write);
int hvm_xsetbv(struct hvm_vcpu *hv);
/* The XCR0 bits the guest may set (0: XSAVE is not offered). */
uint64_t hvm_xcr0_allowed(void);
/* The CR4 bits the guest may set: those of the features its CPUID offers
 * (the vendor also drops what the CPU cannot do). */
uint64_t hvm_cr4_allowed(struct hvm_vcpu *hv);
/* A MOV to CR4 of val the CPU would take (else #GP): only allowed bits,
 * and PAE kept in long mode. */
bool hvm_cr4_valid(struct hvm_vcpu *hv, uint64_t val, bool long_mode);

/* A decoded INS/OUTS: the vendor fills it from its exit information. */
struct hvm_string_io {
    uint16_t port;
    uint8_t bytes;              /* element size: 1, 2 or 4 */
    uint8_t addr_bytes;         /* address size: 2, 4 or 8 */
    bool in, rep;
    uint8_t seg;                /* ES for INS, the data segment for OUTS:
                                 * 0-5 = ES CS SS DS FS GS */
    uint64_t seg_base;          /* its base */
};
int hvm_string_io(struct hvm_vcpu *hv, const struct hvm_string_io *io,
                  uint64_t rflags);

/* The guest did something the hypervisor does not allow: crash it, with
 * the reason (printf format) kept in hv->crash. */
int hvm_crash(struct hvm_vcpu *hv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same with a fixed text and a number. */
int hvm_guest_error(struct hvm_vcpu *hv, const char *what, uint64_t info);
/*
 * The CPU rejected a P2M entry on the way to gpa (EPT misconfiguration,
 * NPT reserved-bit fault): never the guest's doing, so a hypervisor bug
 * unless a scenario provokes it.  Recorded in hv, and the domain crashed.
 */
int hvm_rejected_entry(struct hvm_vcpu *hv, uint64_t gpa);
/* A guest exception reached the hypervisor (intercepted). */
int hvm_guest_exception(struct hvm_vcpu *hv, uint8_t vec, uint32_t error,
                        uint64_t rip);

/* A pointer to guest-physical bytes [gpa, gpa + len) if they are RAM in
 * one page, else NULL. */
void *hvm_guest_ptr(struct domain *d, uint64_t gpa, uint32_t len);

/* The guest's own page walk (emulate.h) as the vCPU stands at this exit:
 * its paging registers, and a reader of its memory (ctx: the hvm_vcpu). */
struct hvm_paging;
void hvm_paging_of(const struct hvm_cpu_state *s, struct hvm_paging *pg);
int hvm_read_guest(void *ctx, uint64_t gpa, void *buf, unsigned int len);

/* Guest CPU time limit for domains that set none (ms of TSC time). */
#define HVM_TIME_LIMIT_DEFAULT_MS 300000
/* Host timer period: how long a guest runs at most between two exits. */
#define HVM_TICK_MS 10

/* Exceptions (bits) that always exit, whoever owns the others: #DB and
 * #AC, which can otherwise loop inside the CPU's event delivery. */
#define HVM_EXC_ALWAYS ((1u << 1) | (1u << 17))

#endif /* HVM_H */

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

struct hvm_counters {
    uint64_t exits, npf, hypercalls, io, sweeps, flushes, swept_pages;
};

struct hvm_vcpu {
    struct vcpu *v;
    struct hvm_regs regs;
    bool done;                  /* the guest called HC_EXIT */
    uint32_t result;            /* its code: 0 = all its checks passed */
    bool misconfig;             /* the CPU rejected a P2M entry */
    uint64_t misconfig_gpa;
    uint64_t last_fault_gfn;    /* fault loop detection */
    unsigned int fault_repeats;
    struct hvm_counters n;
    char line[160];             /* console output, flushed per line */
    unsigned int line_len;
    int (*phase)(struct hvm_vcpu *hv, uint32_t phase, uint32_t arg);
    void *ctx;                  /* for phase */
};

struct hvm_vendor {
    const char *name;           /* "SVM" or "VMX" */
    enum p2m_format format;
    bool leaf_1g;               /* the P2M may use 1 GiB leaves */
    /* Make v ready to enter at entry with stack sp (32-bit flat). */
    int (*vcpu_init)(struct hvm_vcpu *hv, uint32_t entry, uint32_t sp);
    /* Run until the guest is done, the domain crashed or v is paused. */
    void (*run)(struct hvm_vcpu *hv);
};

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

/* Every exit passes here first: counts it, runs the periodic PoD sweep. */
void hvm_exit_tick(struct hvm_vcpu *hv);

/*
 * Shared exit handlers.  Each returns 0 to resume the guest, or < 0 when
 * it must not run again (the domain crashed or the vCPU is paused).
 */
int hvm_nested_fault(struct hvm_vcpu *hv, uint64_t gpa, p2m_access_t access);
int hvm_hypercall(struct hvm_vcpu *hv);
int hvm_port_out(struct hvm_vcpu *hv, uint16_t port, uint32_t val,
                 unsigned int bytes);
/* The guest did something the hypervisor does not allow: crash it. */
int hvm_guest_error(struct hvm_vcpu *hv, const char *what, uint64_t info);
/*
 * The CPU rejected a P2M entry on the way to gpa (EPT misconfiguration,
 * NPT reserved-bit fault): never the guest's doing, so a hypervisor bug
 * unless a scenario provokes it.  Recorded in hv, and the domain crashed.
 */
int hvm_rejected_entry(struct hvm_vcpu *hv, uint64_t gpa);

/* A pointer to guest-physical bytes [gpa, gpa + len) if they are RAM in
 * one page, else NULL. */
void *hvm_guest_ptr(struct domain *d, uint64_t gpa, uint32_t len);

#endif /* HVM_H */

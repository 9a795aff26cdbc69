/*
 * String port I/O (INS, OUTS, with or without REP), decoded by the vendor
 * from its exit information and done here element by element: INS stores
 * what hvm_port_in gives, OUTS hands each element to hvm_port_out.  A REP
 * instruction runs at most STRING_BATCH elements per exit and then runs
 * again (RIP is kept), so a huge count cannot hold the CPU.  With guest
 * paging on, each byte's linear address goes through the guest's own page
 * walk (emulate.c), with the rights of a data access at the guest's CPL.
 */
#include <asm-x86/p2m.h>
#include <xen/lib.h>

#include "../boot/boot.h"
#include "emulate.h"
#include "hvm.h"

#define STRING_BATCH    64
#define RFLAGS_DF       (1ull << 10)

/*
 * One guest-physical byte, for reading or writing: PoD entries are filled
 * and log-dirty pages logged through the P2M fault path first, as if the
 * guest had touched them.  NULL when it is not RAM (the domain may then
 * have been crashed by the P2M).
 */
static uint8_t *guest_byte(struct hvm_vcpu *hv, uint64_t gpa, bool write)
{
    struct domain *d = hv->v->domain;
    p2m_access_t need = write ? P2M_ACCESS_W : P2M_ACCESS_R;
    struct p2m_lookup l;

    if ( p2m_get_entry(&d->p2m, _gfn(gpa >> PAGE_SHIFT), &l) )
        return NULL;
    if ( (need & ~l.rights) &&
         p2m_handle_fault(hv->v, _gfn(gpa >> PAGE_SHIFT), need) )
        return NULL;
    if ( p2m_get_entry(&d->p2m, _gfn(gpa >> PAGE_SHIFT), &l) ||
         !p2m_type_is_ram(l.type) || (need & ~l.rights) )
        return NULL;
    return (uint8_t *)plat_map_mfn(l.mfn) + (gpa & (PAGE_SIZE - 1));
}

/* Register r after a string step: only the address-size bits change (a
 * 32-bit write clears the upper half, as the CPU does). */
static uint64_t addr_update(uint64_t r, uint64_t val, unsigned int bytes)
{
    uint64_t mask = bytes == 8 ? ~0ull : (1ull << (8 * bytes)) - 1;

    return bytes == 2 ? (r & ~mask) | (val & mask) : val & mask;
}

/*
 * The gpa of the byte at linear address la: la itself with paging off,
 * else the guest's walk.  0, 1 when an exception went to the guest, or
 * < 0 when the domain was crashed.
 */
static int byte_gpa(struct hvm_vcpu *hv, const struct hvm_paging *pg,
                    const struct hvm_string_io *io, uint64_t la,
                    uint64_t *gpa)
{
    uint32_t pfec = 0;
    int rc;

    if ( !(pg->cr0 & CR0_PG) )
    {
        *gpa = la & 0xffffffffull;
        return 0;
    }
    rc = hvm_linear_to_gpa(pg, la, io->in ? HVM_ACC_WRITE : 0,
                           hvm_read_guest, hv, gpa, &pfec);
    if ( rc == HVM_WALK_GP )
    {
        hv->hw->inject(hv, 13, 0);
        hv->n.injected++;
        return 1;
    }
    if ( rc )
        return hvm_crash(hv, "string port I/O (%s, port %#x) at linear "
                         "%#llx: %s", io->in ? "INS" : "OUTS", io->port,
                         (unsigned long long)la,
                         rc == HVM_WALK_PF ? "page fault (not emulated)"
                                           : "guest page tables not RAM");
    return 0;
}

/* One element at linear address la: 0 done, 1 an exception went to the
 * guest (before the port was touched), < 0 the domain was crashed. */
static int one_element(struct hvm_vcpu *hv, const struct hvm_paging *pg,
                       const struct hvm_string_io *io, uint64_t la)
{
    uint8_t *p[4];
    uint32_t val = 0;
    unsigned int i;
    int rc;

    for ( i = 0; i < io->bytes; i++ )
    {
        uint64_t gpa;

        rc = byte_gpa(hv, pg, io, la + i, &gpa);
        if ( rc )
            return rc;
        p[i] = guest_byte(hv, gpa, io->in);
        if ( !p[i] )
            return hvm_crash(hv, "string port I/O (%s, port %#x) at gpa "
                             "%#llx: not RAM", io->in ? "INS" : "OUTS",
                             io->port, (unsigned long long)gpa);
    }
    if ( !io->in )
    {
        for ( i = 0; i < io->bytes; i++ )
            val |= (uint32_t)*p[i] << (8 * i);
        return hvm_port_out(hv, io->port, val, io->bytes);
    }
    val = hvm_port_in(hv, io->port, io->bytes);
    for ( i = 0; i < io->bytes; i++ )
        *p[i] = val >> (8 * i);
    return 0;
}

int hvm_string_io(struct hvm_vcpu *hv, const struct hvm_string_io *io,
                  uint64_t rflags)
{
    struct hvm_regs *r = &hv->regs;
    unsigned int ab = io->addr_bytes;
    uint64_t mask = ab == 8 ? ~0ull : (1ull << (8 * ab)) - 1;
    uint64_t *index = io->in ? &r->rdi : &r->rsi;
    int64_t step = rflags & RFLAGS_DF ? -(int64_t)io->bytes : io->bytes;
    uint64_t count = io->rep ? r->rcx & mask : 1, n, base;
    struct hvm_cpu_state st;
    struct hvm_paging pg;
    int rc;

    if ( !count )
        return 1;
    hv->hw->get_state(hv, &st);
    hvm_paging_of(&st, &pg);
    /* 64-bit mode ignores the bases of ES, CS, SS and DS. */
    base = st.mode == 64 && io->seg < 4 ? 0 : io->seg_base;
    for ( n = 0; n < count && n < STRING_BATCH; n++ )
    {
        rc = one_element(hv, &pg, io, base + (*index & mask));
        if ( rc > 0 )           /* an exception: RIP and RCX stay */
            break;
        if ( rc )
            return rc;
        *index = addr_update(*index, *index + step, ab);
    }
    if ( io->rep )
        r->rcx = addr_update(r->rcx, count - n, ab);
    hv->n.emulated++;
    return n == count;
}

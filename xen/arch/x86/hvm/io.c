/*
 * String port I/O (INS, OUTS, with or without REP), decoded by the vendor
 * from its exit information and done here element by element: INS stores
 * what hvm_port_in gives, OUTS hands each element to hvm_port_out.  A REP
 * instruction runs at most STRING_BATCH elements per exit and then runs
 * again (RIP is kept), so a huge count cannot hold the CPU.
 */
#include <asm-x86/p2m.h>
#include <xen/lib.h>

#include "../boot/boot.h"
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

/* One element at linear address la (paging is off: la is the gpa). */
static int one_element(struct hvm_vcpu *hv, const struct hvm_string_io *io,
                       uint64_t la)
{
    uint32_t val = 0;
    unsigned int i;

    if ( io->in )
        val = hvm_port_in(hv, io->port, io->bytes);
    for ( i = 0; i < io->bytes; i++ )
    {
        uint64_t gpa = (la + i) & 0xffffffffull;
        uint8_t *p = guest_byte(hv, gpa, io->in);

        if ( !p )
            return hvm_crash(hv, "string port I/O (%s, port %#x) at gpa "
                             "%#llx: not RAM", io->in ? "INS" : "OUTS",
                             io->port, (unsigned long long)gpa);
        if ( io->in )
            *p = val >> (8 * i);
        else
            val |= (uint32_t)*p << (8 * i);
    }
    if ( !io->in )
        return hvm_port_out(hv, io->port, val, io->bytes);
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
    uint64_t count = io->rep ? r->rcx & mask : 1, n;
    int rc;

    if ( !count )
        return 1;
    /* A linear address is a gpa only with paging off; a guest page-table
     * walk is not written yet. */
    if ( hv->hw->get_cr(hv, 0) & CR0_PG )
        return hvm_crash(hv, "string port I/O (port %#x) with guest paging "
                         "on: not emulated", io->port);
    for ( n = 0; n < count && n < STRING_BATCH; n++ )
    {
        rc = one_element(hv, io, io->seg_base + (*index & mask));
        if ( rc )
            return rc;
        *index = addr_update(*index, *index + step, ab);
    }
    if ( io->rep )
        r->rcx = addr_update(r->rcx, count - n, ab);
    hv->n.emulated++;
    return n == count;
}

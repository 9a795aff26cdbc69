/*
 * Virtual I/O APIC: the indirect register window, the redirection table
 * and edge-triggered delivery to the local APIC.  Pure logic; see
 * vioapic.h for the model and the contracts.
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "vioapic.h"
#include "vlapic.h"

/* Writable bits of a redirection entry: vector, delivery mode, destination
 * mode, polarity, trigger, mask (low); destination (high, bits 63:56). */
#define REDIR_WRITABLE_LO   (VIOAPIC_VECTOR | VIOAPIC_DELIV_MODE | \
                             VIOAPIC_DEST_LOGICAL | VIOAPIC_ACTIVE_LOW | \
                             VIOAPIC_LEVEL | VIOAPIC_MASKED)
#define REDIR_WRITABLE_HI   0xff000000u
#define ID_MASK             0x0f000000u
#define DELIV_FIXED         0u
#define DELIV_LOWEST        1u

void vioapic_init(struct vioapic *io, uint8_t id, uint32_t gsi_base,
                  struct vlapic *lapic)
{
    unsigned int i;

    memset(io, 0, sizeof(*io));
    io->id = ((uint32_t)id << 24) & ID_MASK;
    io->gsi_base = gsi_base;
    io->lapic = lapic;
    for ( i = 0; i < VIOAPIC_PINS; i++ )
        io->redir[i] = VIOAPIC_MASKED;
}

uint64_t vioapic_entry(const struct vioapic *io, unsigned int pin)
{
    return pin < VIOAPIC_PINS ? io->redir[pin] : 0;
}

/* The pin that register sel is half of, or -1. */
static int redir_pin(uint32_t sel)
{
    if ( sel < VIOAPIC_REG_REDIR ||
         sel >= VIOAPIC_REG_REDIR + 2 * VIOAPIC_PINS )
        return -1;
    return (sel - VIOAPIC_REG_REDIR) / 2;
}

static uint32_t win_read(struct vioapic *io)
{
    int pin = redir_pin(io->sel);

    if ( pin >= 0 )
        return io->redir[pin] >> (io->sel & 1 ? 32 : 0);
    switch ( io->sel )
    {
    case VIOAPIC_REG_ID:
    case VIOAPIC_REG_ARB:
        return io->id;
    case VIOAPIC_REG_VER:
        return (VIOAPIC_PINS - 1) << 16 | VIOAPIC_VERSION;
    }
    io->n.bad_index++;
    return 0;
}

static void win_write(struct vioapic *io, uint32_t val)
{
    int pin = redir_pin(io->sel);
    uint64_t e;

    if ( pin < 0 )
    {
        if ( io->sel == VIOAPIC_REG_ID )
            io->id = val & ID_MASK;
        else if ( io->sel != VIOAPIC_REG_VER && io->sel != VIOAPIC_REG_ARB )
            io->n.bad_index++;
        return;                 /* version, arbitration: read-only */
    }
    e = io->redir[pin];
    if ( io->sel & 1 )
        e = (e & 0xffffffffull) |
            (uint64_t)(val & REDIR_WRITABLE_HI) << 32;
    else
        e = (e & ~(uint64_t)REDIR_WRITABLE_LO) | (val & REDIR_WRITABLE_LO);
    io->redir[pin] = e;
}

/* Only aligned 32-bit accesses to IOREGSEL and IOWIN. */
static int check_access(uint32_t offset, unsigned int size, const char **why)
{
    if ( size != 4 || (offset & 3) )
    {
        *why = "I/O APIC access not 32 bits wide and aligned";
        return -EINVAL;
    }
    if ( offset != VIOAPIC_REGSEL && offset != VIOAPIC_WIN )
    {
        *why = "I/O APIC access to an offset that is no register";
        return -EINVAL;
    }
    return 0;
}

int vioapic_read(struct vioapic *io, uint32_t offset, unsigned int size,
                 uint32_t *val, const char **why)
{
    int rc = check_access(offset, size, why);

    if ( rc )
        return rc;
    *val = offset == VIOAPIC_REGSEL ? io->sel : win_read(io);
    return 0;
}

int vioapic_write(struct vioapic *io, uint32_t offset, unsigned int size,
                  uint32_t val, const char **why)
{
    int rc = check_access(offset, size, why);

    if ( rc )
        return rc;
    if ( offset == VIOAPIC_REGSEL )
        io->sel = val & 0xff;
    else
        win_write(io, val);
    return 0;
}

/* Does destination dest (mode logical or physical) include the local
 * APIC?  Its ID, LDR and DFR as the guest programmed them. */
static bool dest_hits(struct vioapic *io, uint8_t dest, bool logical,
                      uint64_t now)
{
    uint32_t id = 0, ldr = 0, dfr = 0;
    uint8_t l;

    if ( dest == 0xff )
        return true;
    vlapic_read(io->lapic, APIC_ID, &id, now);
    if ( !logical )
        return dest == id >> 24;
    vlapic_read(io->lapic, APIC_LDR, &ldr, now);
    vlapic_read(io->lapic, APIC_DFR, &dfr, now);
    l = ldr >> 24;
    if ( (dfr >> 28) == 0xf )                       /* flat model */
        return dest & l;
    return (dest >> 4) == (l >> 4) && (dest & l & 0xf);     /* cluster */
}

int vioapic_raise(struct vioapic *io, uint32_t gsi, uint64_t now_tsc,
                  const char **why)
{
    uint32_t pin = gsi - io->gsi_base, lo, mode;
    uint64_t e;

    if ( gsi < io->gsi_base || pin >= VIOAPIC_PINS )
    {
        *why = "interrupt raised on a GSI that is no I/O APIC pin";
        return -EINVAL;
    }
    e = io->redir[pin];
    lo = e;
    if ( lo & VIOAPIC_MASKED )
    {
        io->n.masked++;
        return 0;
    }
    mode = (lo & VIOAPIC_DELIV_MODE) >> 8;
    if ( lo & VIOAPIC_LEVEL )
    {
        *why = "I/O APIC pin programmed level-triggered (only edge is "
               "modelled; the firmware said edge)";
        return -EOPNOTSUPP;
    }
    if ( mode != DELIV_FIXED && mode != DELIV_LOWEST )
    {
        *why = "I/O APIC pin programmed with a delivery mode other than "
               "fixed or lowest priority";
        return -EOPNOTSUPP;
    }
    if ( !dest_hits(io, e >> 56, lo & VIOAPIC_DEST_LOGICAL, now_tsc) )
    {
        io->n.missed++;
        return 0;
    }
    vlapic_set_irq(io->lapic, lo & VIOAPIC_VECTOR, false);
    io->n.delivered++;
    return 1;
}

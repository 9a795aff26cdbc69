/*
 * ACPI tables for a real guest (acpi.h): RSDP, XSDT, a hardware-reduced
 * FADT, MADT and a DSDT whose AML is written here byte by byte.  Facts
 * from the ACPI specification (6.x): table layouts in chapter 5.2, AML
 * encoding in chapter 20, resource descriptors in 6.4.
 */
#include <xen/errno.h>
#include <xen/lib.h>

#include "acpi.h"

#define ACPI_OEM_ID         "P2M   "        /* 6 bytes */
#define ACPI_OEM_TABLE      "P2MHVM  "      /* 8 bytes */
#define ACPI_OEM_REV        1
#define ACPI_CREATOR        "P2M "
#define ACPI_CREATOR_REV    1

#define FADT_REVISION       6
#define FADT_MINOR          5               /* ACPI 6.5 */
#define MADT_REVISION       5
#define DSDT_REVISION       2               /* 64-bit AML integers */

/* FADT Flags (5.2.9, table 5.10) and IAPC_BOOT_ARCH (table 5.11). */
#define FADT_WBINVD         (1u << 0)
#define FADT_PWR_BUTTON     (1u << 4)       /* no fixed power button */
#define FADT_SLP_BUTTON     (1u << 5)       /* no fixed sleep button */
#define BOOT_ARCH_NO_VGA    (1u << 2)
#define BOOT_ARCH_NO_MSI    (1u << 3)
#define BOOT_ARCH_NO_ASPM   (1u << 4)
#define BOOT_ARCH_NO_CMOS   (1u << 5)
/* Legacy devices (bit 0) and 8042 (bit 1) clear: there are none. */

#define MADT_LAPIC          0
#define MADT_IOAPIC         1
#define MADT_ENABLED        1u

/* AML opcodes (20.3) and resource descriptors (6.4). */
#define AML_ZERO            0x00
#define AML_NAME            0x08
#define AML_SCOPE           0x10
#define AML_BUFFER          0x11
#define AML_BYTE            0x0a
#define AML_DWORD           0x0c
#define AML_STRING          0x0d
#define AML_EXT             0x5b
#define AML_DEVICE          0x82            /* after AML_EXT */
#define AML_ROOT            0x5c            /* '\' */
#define RES_MEM32_FIXED     0x86
#define RES_EXT_IRQ         0x89
#define RES_END             0x79
#define RES_MEM_RW          1u
#define RES_IRQ_CONSUMER    (1u << 0)
#define RES_IRQ_EDGE        (1u << 1)       /* active high, exclusive */

/* A byte sink that remembers when it ran out of room. */
struct sink {
    uint8_t *b;
    uint32_t len, cap;
    bool full;
};

static void put(struct sink *s, const void *p, uint32_t n)
{
    const uint8_t *src = p;

    if ( n > s->cap - s->len )
    {
        s->full = true;
        return;
    }
    while ( n-- )
        s->b[s->len++] = *src++;
}

static void put8(struct sink *s, uint8_t v)
{
    put(s, &v, 1);
}

static void put16(struct sink *s, uint16_t v)
{
    put8(s, v);
    put8(s, v >> 8);
}

static void put32(struct sink *s, uint32_t v)
{
    put16(s, v);
    put16(s, v >> 16);
}

static void put64(struct sink *s, uint64_t v)
{
    put32(s, v);
    put32(s, v >> 32);
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

static uint8_t checksum(const uint8_t *p, uint32_t n)
{
    uint8_t sum = 0;

    while ( n-- )
        sum += *p++;
    return -sum;
}

/* --- AML --- */

/* PkgLength (20.2.4): the length of what follows the opcode, counting
 * its own 1..4 bytes; the shortest encoding. */
static void put_pkglen(struct sink *s, uint32_t body)
{
    unsigned int extra = body + 1 < 0x40 ? 0 : body + 2 < 0x1000 ? 1 :
                         body + 3 < 0x100000 ? 2 : 3;
    uint32_t total = body + 1 + extra;
    unsigned int i;

    if ( !extra )
    {
        put8(s, total);
        return;
    }
    put8(s, extra << 6 | (total & 0xf));
    for ( i = 0; i < extra; i++ )
        put8(s, total >> (4 + 8 * i));
}

/* An opcode (1 or 2 bytes) with a package: op PkgLength body. */
static void put_pkg(struct sink *s, const uint8_t *op, unsigned int oplen,
                    const struct sink *body)
{
    put(s, op, oplen);
    put_pkglen(s, body->len);
    put(s, body->b, body->len);
}

static void put_name(struct sink *s, const char seg[4])
{
    put8(s, AML_NAME);
    put(s, seg, 4);
}

/* An integer as the shortest constant (ZeroOp, ByteConst, DWordConst). */
static void put_int(struct sink *s, uint32_t v)
{
    if ( !v )
        put8(s, AML_ZERO);
    else if ( v < 0x100 )
    {
        put8(s, AML_BYTE);
        put8(s, v);
    }
    else
    {
        put8(s, AML_DWORD);
        put32(s, v);
    }
}

/* _CRS of a virtio-mmio device: its window, its interrupt, the end tag. */
static void put_crs(struct sink *s, const struct acpi_virtio_dev *dev)
{
    static const uint8_t op = AML_BUFFER;
    uint8_t tmp[32];
    struct sink buf = { .b = tmp, .cap = sizeof(tmp) };
    const uint32_t res_len = 12 + 9 + 2;

    put8(&buf, AML_BYTE);               /* BufferSize */
    put8(&buf, res_len);
    put8(&buf, RES_MEM32_FIXED);        /* Memory32Fixed (ReadWrite) */
    put16(&buf, 9);
    put8(&buf, RES_MEM_RW);
    put32(&buf, dev->base);
    put32(&buf, dev->size);
    put8(&buf, RES_EXT_IRQ);            /* Interrupt (Consumer, Edge,
                                         * ActiveHigh, Exclusive) */
    put16(&buf, 6);
    put8(&buf, RES_IRQ_CONSUMER | RES_IRQ_EDGE);
    put8(&buf, 1);                      /* one interrupt */
    put32(&buf, dev->gsi);
    put8(&buf, RES_END);
    put8(&buf, 0);                      /* checksum 0: "treat as valid" */
    s->full |= buf.full;
    put_name(s, "_CRS");
    put_pkg(s, &op, 1, &buf);
}

/* Device (VRnn) { _HID "LNRO0005", _UID n, _CRS } */
static void put_virtio_dev(struct sink *s, unsigned int n,
                           const struct acpi_virtio_dev *dev)
{
    static const uint8_t op[2] = { AML_EXT, AML_DEVICE };
    static const char hid[] = "LNRO0005";
    uint8_t tmp[96];
    struct sink body = { .b = tmp, .cap = sizeof(tmp) };
    char seg[4] = { 'V', 'R', '0' + n / 10, '0' + n % 10 };

    put(&body, seg, 4);
    put_name(&body, "_HID");
    put8(&body, AML_STRING);
    put(&body, hid, sizeof(hid));       /* with its NUL */
    put_name(&body, "_UID");
    put_int(&body, n);
    put_crs(&body, dev);
    s->full |= body.full;
    put_pkg(s, op, 2, &body);
}

/* The DSDT's AML: Scope (\_SB) { the virtio-mmio devices }. */
static void put_dsdt_aml(struct sink *s, const struct acpi_config *cfg)
{
    static const uint8_t op = AML_SCOPE;
    static const uint8_t sb[5] = { AML_ROOT, '_', 'S', 'B', '_' };
    uint8_t tmp[96 * ACPI_MAX_VIRTIO + 8];
    struct sink body = { .b = tmp, .cap = sizeof(tmp) };
    unsigned int i;

    put(&body, sb, sizeof(sb));
    for ( i = 0; i < cfg->nr_virtio; i++ )
        put_virtio_dev(&body, i, &cfg->virtio[i]);
    s->full |= body.full;
    put_pkg(s, &op, 1, &body);
}

/* --- tables --- */

/* The common header; length and checksum are set by table_end. */
static uint32_t table_start(struct sink *s, const char sig[4], uint8_t rev)
{
    uint32_t at;

    while ( (s->len & 15) && !s->full )
        put8(s, 0);
    at = s->len;
    put(s, sig, 4);
    put32(s, 0);                        /* length */
    put8(s, rev);
    put8(s, 0);                         /* checksum */
    put(s, ACPI_OEM_ID, 6);
    put(s, ACPI_OEM_TABLE, 8);
    put32(s, ACPI_OEM_REV);
    put(s, ACPI_CREATOR, 4);
    put32(s, ACPI_CREATOR_REV);
    return at;
}

static void table_end(struct sink *s, uint32_t at)
{
    if ( s->full )
        return;
    wr32(s->b + at + 4, s->len - at);
    s->b[at + 9] = checksum(s->b + at, s->len - at);
}

/* A Generic Address Structure that says "not present". */
static void put_gas_none(struct sink *s)
{
    put32(s, 0);
    put64(s, 0);
}

static void put_fadt(struct sink *s, uint64_t dsdt)
{
    uint32_t at = table_start(s, "FACP", FADT_REVISION);
    unsigned int i;

    put32(s, 0);                        /* FIRMWARE_CTRL: no FACS */
    put32(s, dsdt);                     /* DSDT */
    /* INT_MODEL .. CENTURY (44..108): no SCI, SMI, PM blocks or timer,
     * no C-states, profile unspecified. */
    for ( i = 44; i < ACPI_FADT_BOOT_ARCH; i++ )
        put8(s, 0);
    put16(s, BOOT_ARCH_NO_VGA | BOOT_ARCH_NO_MSI | BOOT_ARCH_NO_ASPM |
             BOOT_ARCH_NO_CMOS);
    put8(s, 0);
    put32(s, FADT_WBINVD | FADT_PWR_BUTTON | FADT_SLP_BUTTON |
             ACPI_FADT_HW_REDUCED);
    put_gas_none(s);                    /* RESET_REG */
    put8(s, 0);                         /* RESET_VALUE */
    put16(s, 0);                        /* ARM_BOOT_ARCH */
    put8(s, FADT_MINOR);
    put64(s, 0);                        /* X_FIRMWARE_CTRL */
    put64(s, dsdt);                     /* X_DSDT */
    /* X_PM1a_EVT .. X_GPE1, SLEEP_CONTROL, SLEEP_STATUS: none (no _S5:
     * the guest cannot power itself off, it halts). */
    for ( i = 0; i < 10; i++ )
        put_gas_none(s);
    put(s, "P2M HVM ", 8);              /* hypervisor vendor identity */
    table_end(s, at);
}

static void put_madt(struct sink *s, const struct acpi_config *cfg)
{
    uint32_t at = table_start(s, "APIC", MADT_REVISION);

    put32(s, cfg->lapic_gpa);
    put32(s, 0);                        /* no PCAT_COMPAT: no 8259 */
    put8(s, MADT_LAPIC);
    put8(s, 8);
    put8(s, 0);                         /* ACPI processor UID */
    put8(s, cfg->lapic_id);
    put32(s, MADT_ENABLED);
    put8(s, MADT_IOAPIC);
    put8(s, 12);
    put8(s, cfg->ioapic_id);
    put8(s, 0);
    put32(s, cfg->ioapic_gpa);
    put32(s, cfg->ioapic_gsi_base);
    table_end(s, at);
}

static void put_rsdp(struct sink *s, uint64_t xsdt)
{
    put(s, "RSD PTR ", 8);
    put8(s, 0);                         /* checksum of the first 20 bytes */
    put(s, ACPI_OEM_ID, 6);
    put8(s, 2);                         /* revision: ACPI 2.0+, XSDT */
    put32(s, 0);                        /* RsdtAddress: none */
    put32(s, ACPI_RSDP_LEN);
    put64(s, xsdt);
    put8(s, 0);                         /* extended checksum */
    put8(s, 0);
    put16(s, 0);
}

static bool cfg_valid(const struct acpi_config *cfg, uint64_t gpa)
{
    unsigned int i;

    if ( (gpa & 15) || gpa + ACPI_BUF_MAX > (1ull << 32) ||
         cfg->nr_virtio > ACPI_MAX_VIRTIO ||
         (cfg->lapic_gpa | cfg->ioapic_gpa) & 0xfff )
        return false;
    for ( i = 0; i < cfg->nr_virtio; i++ )
        if ( (cfg->virtio[i].base & 0xfff) || !cfg->virtio[i].size ||
             cfg->virtio[i].size > 0x1000 )
            return false;
    return true;
}

int acpi_build(uint8_t *buf, uint32_t cap, uint64_t gpa,
               const struct acpi_config *cfg)
{
    struct sink s = { .b = buf, .cap = cap };
    uint32_t xsdt, fadt, madt, dsdt;

    if ( !cfg_valid(cfg, gpa) )
        return -EINVAL;
    put_rsdp(&s, 0);
    /* The DSDT first (the FADT points at it), then FADT, MADT, XSDT. */
    dsdt = table_start(&s, "DSDT", DSDT_REVISION);
    put_dsdt_aml(&s, cfg);
    table_end(&s, dsdt);
    fadt = s.len + (-s.len & 15);
    put_fadt(&s, gpa + dsdt);
    madt = s.len + (-s.len & 15);
    put_madt(&s, cfg);
    xsdt = table_start(&s, "XSDT", 1);
    put64(&s, gpa + fadt);
    put64(&s, gpa + madt);
    table_end(&s, xsdt);
    if ( s.full )
        return -ENOSPC;
    wr32(buf + ACPI_RSDP_XSDT, gpa + xsdt);
    wr32(buf + ACPI_RSDP_XSDT + 4, (gpa + xsdt) >> 32);
    buf[8] = checksum(buf, 20);
    buf[32] = checksum(buf, ACPI_RSDP_LEN);
    return s.len;
}

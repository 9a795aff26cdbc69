/*
 * The guest's ACPI tables (xen/arch/x86/hvm/acpi.c): lengths, checksums,
 * the pointers from RSDP to XSDT to FADT/MADT to DSDT, the FADT's
 * hardware-reduced flags, the MADT's entries, and the DSDT's AML decoded
 * by a small AML reader here (PkgLength, Scope, Device, Name, String,
 * integer constants, Buffer, resource descriptors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <xen/errno.h>

#include "../../xen/arch/x86/hvm/acpi.h"

#define GPA 0xe0000ull

static uint8_t buf[ACPI_BUF_MAX];
static int len;

static uint32_t rd16(const uint8_t *p)
{
    return p[0] | p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
    return rd16(p) | rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, uint32_t n)
{
    uint8_t s = 0;

    while ( n-- )
        s += *p++;
    return s;
}

static struct acpi_config one_dev(void)
{
    struct acpi_config c = {
        .lapic_gpa = 0xfee00000, .lapic_id = 0, .ioapic_id = PLAT_IOAPIC_ID,
        .ioapic_gpa = PLAT_IOAPIC_GPA, .ioapic_gsi_base = 0, .nr_virtio = 1,
        .virtio = { { PLAT_VIRTIO_MMIO_GPA, PLAT_VIRTIO_MMIO_SIZE,
                      PLAT_VIRTIO_BALLOON_GSI } },
    };

    return c;
}

static int build(const struct acpi_config *c)
{
    memset(buf, 0xcc, sizeof(buf));
    len = acpi_build(buf, sizeof(buf), GPA, c);
    return len;
}

/* The table at guest-physical gpa, checked: inside what was built, its
 * signature, length within bounds and at least min, checksum zero. */
static const uint8_t *table(uint64_t gpa, const char *sig, uint32_t min)
{
    const uint8_t *t;
    uint32_t n;

    assert_true(gpa >= GPA && gpa + ACPI_HDR_LEN <= GPA + (uint64_t)len);
    assert_int_equal(gpa & 15, 0);
    t = buf + (gpa - GPA);
    assert_memory_equal(t, sig, 4);
    n = rd32(t + 4);
    assert_true(n >= min);
    assert_true(gpa + n <= GPA + (uint64_t)len);
    assert_int_equal(sum(t, n), 0);
    return t;
}

/* XSDT entry with signature sig. */
static const uint8_t *xsdt_find(const char *sig)
{
    const uint8_t *x = table(rd64(buf + ACPI_RSDP_XSDT), "XSDT", 36);
    uint32_t i, n = (rd32(x + 4) - ACPI_HDR_LEN) / 8;

    assert_int_equal((rd32(x + 4) - ACPI_HDR_LEN) % 8, 0);
    for ( i = 0; i < n; i++ )
    {
        uint64_t p = rd64(x + ACPI_HDR_LEN + 8 * i);

        if ( !memcmp(buf + (p - GPA), sig, 4) )
            return table(p, sig, ACPI_HDR_LEN);
    }
    fail_msg("no %s in the XSDT", sig);
    return NULL;
}

static void test_rsdp(void **state)
{
    struct acpi_config c = one_dev();

    assert_true(build(&c) > 0);
    assert_true(len <= ACPI_BUF_MAX);
    assert_memory_equal(buf, "RSD PTR ", 8);
    assert_int_equal(sum(buf, 20), 0);
    assert_int_equal(buf[15], 2);                   /* revision */
    assert_int_equal(rd32(buf + 20), ACPI_RSDP_LEN);
    assert_int_equal(sum(buf, ACPI_RSDP_LEN), 0);
    assert_int_equal(rd32(buf + 16), 0);            /* no RSDT */
    table(rd64(buf + ACPI_RSDP_XSDT), "XSDT", 36 + 16);
}

static void test_fadt(void **state)
{
    struct acpi_config c = one_dev();
    const uint8_t *f;
    uint32_t i;

    assert_true(build(&c) > 0);
    f = xsdt_find("FACP");
    assert_int_equal(rd32(f + 4), ACPI_FADT_LEN);
    assert_int_equal(f[8], 6);                      /* revision */
    assert_true(rd32(f + ACPI_FADT_FLAGS) & ACPI_FADT_HW_REDUCED);
    /* No SCI, SMI command port, PM1/PM2/timer/GPE blocks (46..95). */
    for ( i = 46; i < 96; i++ )
        assert_int_equal(f[i], 0);
    /* No 8042, no legacy devices; no VGA, no CMOS RTC. */
    assert_int_equal(rd16(f + ACPI_FADT_BOOT_ARCH) & 3, 0);
    assert_int_equal(rd16(f + ACPI_FADT_BOOT_ARCH) & 0x24, 0x24);
    /* No FACS; the X_ GAS blocks from 148 to 268 all empty. */
    assert_int_equal(rd32(f + 36), 0);
    assert_int_equal(rd64(f + 132), 0);
    for ( i = 148; i < 268; i++ )
        assert_int_equal(f[i], 0);
    assert_int_equal(rd64(f + ACPI_FADT_X_DSDT), rd32(f + ACPI_FADT_DSDT));
    table(rd64(f + ACPI_FADT_X_DSDT), "DSDT", ACPI_HDR_LEN + 1);
}

static void test_madt(void **state)
{
    struct acpi_config c = one_dev();
    const uint8_t *m, *e, *end;
    unsigned int lapics = 0, ioapics = 0;

    assert_true(build(&c) > 0);
    m = xsdt_find("APIC");
    assert_int_equal(rd32(m + 36), 0xfee00000);
    assert_int_equal(rd32(m + 40) & ACPI_MADT_PCAT_COMPAT, 0);
    end = m + rd32(m + 4);
    for ( e = m + 44; e < end; e += e[1] )
    {
        assert_true(e[1] >= 2 && e + e[1] <= end);
        if ( e[0] == 0 )
        {
            assert_int_equal(e[1], 8);
            assert_int_equal(e[3], 0);              /* APIC id */
            assert_int_equal(rd32(e + 4) & 1, 1);   /* enabled */
            lapics++;
        }
        else if ( e[0] == 1 )
        {
            assert_int_equal(e[1], 12);
            assert_int_equal(e[2], PLAT_IOAPIC_ID);
            assert_int_equal(rd32(e + 4), PLAT_IOAPIC_GPA);
            assert_int_equal(rd32(e + 8), 0);       /* GSI base */
            ioapics++;
        }
        else
            fail_msg("MADT entry type %u", e[0]);
    }
    assert_ptr_equal(e, end);
    assert_int_equal(lapics, 1);
    assert_int_equal(ioapics, 1);
}

/* --- a small AML reader --- */

struct aml {
    const uint8_t *p, *end;
};

static uint8_t aml_byte(struct aml *a)
{
    assert_true(a->p < a->end);
    return *a->p++;
}

/* PkgLength: the sub-reader of what it covers (from its first byte). */
static struct aml aml_pkg(struct aml *a)
{
    const uint8_t *start = a->p;
    uint8_t lead = aml_byte(a);
    unsigned int extra = lead >> 6, i;
    uint32_t n = extra ? lead & 0xf : lead & 0x3f;
    struct aml sub;

    if ( extra )
        assert_int_equal(lead & 0x30, 0);
    for ( i = 0; i < extra; i++ )
        n |= (uint32_t)aml_byte(a) << (4 + 8 * i);
    /* Shortest form, as iasl writes it. */
    if ( extra )
        assert_true(n >= 0x40);
    assert_true(start + n <= a->end);
    sub.p = a->p;
    sub.end = start + n;
    a->p = sub.end;
    return sub;
}

static void aml_expect(struct aml *a, const void *bytes, size_t n)
{
    assert_true(a->p + n <= a->end);
    assert_memory_equal(a->p, bytes, n);
    a->p += n;
}

static uint64_t aml_int(struct aml *a)
{
    uint8_t op = aml_byte(a);
    uint64_t v = 0;
    unsigned int i, n;

    switch ( op )
    {
    case 0x00: return 0;
    case 0x01: return 1;
    case 0x0a: n = 1; break;
    case 0x0b: n = 2; break;
    case 0x0c: n = 4; break;
    case 0x0e: n = 8; break;
    default: fail_msg("not an integer: opcode %#x", op); return 0;
    }
    for ( i = 0; i < n; i++ )
        v |= (uint64_t)aml_byte(a) << (8 * i);
    return v;
}

struct vdev {
    char hid[16];
    uint64_t uid;
    uint32_t base, size, gsi, irq_flags, mem_info;
    bool has_hid, has_uid, has_mem, has_irq, has_end;
};

/* A _CRS buffer's resource template. */
static void aml_crs(struct aml *a, struct vdev *d)
{
    struct aml b, r;
    uint64_t size;

    assert_int_equal(aml_byte(a), 0x11);            /* BufferOp */
    b = aml_pkg(a);
    size = aml_int(&b);
    assert_int_equal(size, b.end - b.p);
    r = b;
    while ( r.p < r.end && !d->has_end )
    {
        uint8_t tag = aml_byte(&r);
        uint32_t n;

        if ( tag == 0x79 )                          /* end tag */
        {
            aml_byte(&r);
            d->has_end = true;
            continue;
        }
        assert_true(tag & 0x80);                    /* large descriptors */
        n = aml_byte(&r);
        n |= aml_byte(&r) << 8;
        assert_true(r.p + n <= r.end);
        if ( tag == 0x86 )
        {
            assert_int_equal(n, 9);
            d->mem_info = r.p[0];
            d->base = rd32(r.p + 1);
            d->size = rd32(r.p + 5);
            d->has_mem = true;
        }
        else if ( tag == 0x89 )
        {
            assert_int_equal(n, 6);
            d->irq_flags = r.p[0];
            assert_int_equal(r.p[1], 1);
            d->gsi = rd32(r.p + 2);
            d->has_irq = true;
        }
        else
            fail_msg("resource descriptor %#x", tag);
        r.p += n;
    }
    assert_true(d->has_end);
    assert_ptr_equal(r.p, r.end);
}

/* Device (name) { Name () ... } */
static void aml_device(struct aml *a, struct vdev *d)
{
    struct aml body;

    aml_expect(a, "\x5b\x82", 2);
    body = aml_pkg(a);
    assert_true(body.p + 4 <= body.end);
    body.p += 4;                                    /* its NameSeg */
    while ( body.p < body.end )
    {
        char seg[5] = { 0 };

        assert_int_equal(aml_byte(&body), 0x08);    /* NameOp */
        assert_true(body.p + 4 <= body.end);
        memcpy(seg, body.p, 4);
        body.p += 4;
        if ( !strcmp(seg, "_HID") )
        {
            size_t n;

            assert_int_equal(aml_byte(&body), 0x0d);
            n = strnlen((const char *)body.p, body.end - body.p);
            assert_true(n < sizeof(d->hid) && body.p + n < body.end);
            memcpy(d->hid, body.p, n + 1);
            body.p += n + 1;
            d->has_hid = true;
        }
        else if ( !strcmp(seg, "_UID") )
        {
            d->uid = aml_int(&body);
            d->has_uid = true;
        }
        else if ( !strcmp(seg, "_CRS") )
            aml_crs(&body, d);
        else
            fail_msg("Name (%s)", seg);
    }
}

/* The DSDT's AML: Scope (\_SB_) { Device ... }; returns the devices. */
static unsigned int aml_dsdt(const uint8_t *dsdt, struct vdev *dev,
                             unsigned int max)
{
    struct aml a = { dsdt + ACPI_HDR_LEN, dsdt + rd32(dsdt + 4) }, scope;
    unsigned int n = 0;

    assert_int_equal(aml_byte(&a), 0x10);
    scope = aml_pkg(&a);
    assert_ptr_equal(a.p, a.end);
    aml_expect(&scope, "\\_SB_", 5);
    while ( scope.p < scope.end )
    {
        assert_true(n < max);
        memset(&dev[n], 0, sizeof(dev[n]));
        aml_device(&scope, &dev[n++]);
    }
    return n;
}

static const uint8_t *dsdt_of(void)
{
    const uint8_t *f = xsdt_find("FACP");

    return table(rd64(f + ACPI_FADT_X_DSDT), "DSDT", ACPI_HDR_LEN + 1);
}

static void test_dsdt_virtio(void **state)
{
    struct acpi_config c = one_dev();
    struct vdev d[ACPI_MAX_VIRTIO];

    assert_true(build(&c) > 0);
    assert_int_equal(aml_dsdt(dsdt_of(), d, ACPI_MAX_VIRTIO), 1);
    assert_true(d[0].has_hid && d[0].has_uid && d[0].has_mem &&
                d[0].has_irq);
    assert_string_equal(d[0].hid, "LNRO0005");
    assert_int_equal(d[0].uid, 0);
    assert_int_equal(d[0].mem_info & 1, 1);         /* ReadWrite */
    assert_int_equal(d[0].base, PLAT_VIRTIO_MMIO_GPA);
    assert_int_equal(d[0].size, 0x200);
    assert_int_equal(d[0].gsi, PLAT_VIRTIO_BALLOON_GSI);
    /* Consumer, edge-triggered, active high, exclusive, not wake. */
    assert_int_equal(d[0].irq_flags, 0x03);
}

/* Four devices: the Scope's PkgLength takes two bytes, each device gets
 * its own _UID and window. */
static void test_dsdt_four_devices(void **state)
{
    struct acpi_config c = one_dev();
    struct vdev d[ACPI_MAX_VIRTIO];
    unsigned int i;

    c.nr_virtio = 4;
    for ( i = 0; i < 4; i++ )
        c.virtio[i] = (struct acpi_virtio_dev){ 0xd0000000 + i * 0x1000,
                                                0x200, 5 + i };
    assert_true(build(&c) > 0);
    assert_int_equal(aml_dsdt(dsdt_of(), d, ACPI_MAX_VIRTIO), 4);
    for ( i = 0; i < 4; i++ )
    {
        assert_int_equal(d[i].uid, i);
        assert_int_equal(d[i].base, 0xd0000000 + i * 0x1000);
        assert_int_equal(d[i].gsi, 5 + i);
    }
}

static void test_no_devices(void **state)
{
    struct acpi_config c = one_dev();
    struct vdev d[1];

    c.nr_virtio = 0;
    assert_true(build(&c) > 0);
    assert_int_equal(aml_dsdt(dsdt_of(), d, 1), 0);
}

static void test_bad_config(void **state)
{
    struct acpi_config c = one_dev();

    c.nr_virtio = ACPI_MAX_VIRTIO + 1;
    assert_int_equal(build(&c), -EINVAL);
    c = one_dev();
    c.virtio[0].base |= 0x10;
    assert_int_equal(build(&c), -EINVAL);
    c = one_dev();
    c.ioapic_gpa |= 4;
    assert_int_equal(build(&c), -EINVAL);
    c = one_dev();
    assert_int_equal(acpi_build(buf, sizeof(buf), GPA + 8, &c), -EINVAL);
    assert_int_equal(acpi_build(buf, sizeof(buf), 0xffffff00ull, &c),
                     -EINVAL);
}

/* Every buffer too small is refused, none written past its end. */
static void test_small_buffer(void **state)
{
    struct acpi_config c = one_dev();
    int full = build(&c);
    int cap;

    assert_true(full > 0);
    for ( cap = 0; cap < full; cap++ )
    {
        memset(buf, 0xcc, sizeof(buf));
        assert_int_equal(acpi_build(buf, cap, GPA, &c), -ENOSPC);
        for ( int i = cap; i < (int)sizeof(buf); i++ )
            assert_int_equal(buf[i], 0xcc);
    }
    assert_int_equal(acpi_build(buf, full, GPA, &c), full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsdp),
        cmocka_unit_test(test_fadt),
        cmocka_unit_test(test_madt),
        cmocka_unit_test(test_dsdt_virtio),
        cmocka_unit_test(test_dsdt_four_devices),
        cmocka_unit_test(test_no_devices),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_small_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

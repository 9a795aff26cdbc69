/*
 * The UEFI loader: a PE32+ application (EFI/BOOT/BOOTX64.EFI) that carries
 * the hypervisor image and starts it as the multiboot loaders do.
 *
 * It runs on the firmware's page tables.  It puts the image where it is
 * linked (HV_LOAD_ADDR, allocated with AllocateAddress), reads the guest
 * payload EFI_PAYLOAD_PATH from its own FAT volume when the file is there,
 * takes the memory map, leaves boot services (again when the map changed
 * under it) and calls efi_start64 in the image.  See efi-abi.h.
 *
 * Built with gnu-efi's crt0, linker script and self-relocation only; the
 * firmware services are called directly (ms_abi), nothing of libefi.
 */
#include <stdarg.h>
#include <stdbool.h>

#include <efi.h>

#include "../boot-defs.h"
#include "../efi-abi.h"

#if !defined(HV_EFI_ENTRY) || !defined(HV_IMAGE_END)
#error "HV_EFI_ENTRY and HV_IMAGE_END come from the image (Makefile, nm)"
#endif

#define BELOW_4G        0xffffffffull
#define MAP_SLACK       16      /* descriptors the map may grow by */
#define EXIT_TRIES      8
#define READ_CHUNK      (16u << 20)

/* image.S: the hypervisor image, objcopy -O binary of xen.elf. */
extern const UINT8 hv_blob_start[], hv_blob_end[];

static EFI_SYSTEM_TABLE *systab;
static EFI_BOOT_SERVICES *bs;

/* The compiler may call these for struct copies and initialisers. */
void *memcpy(void *d, const void *s, UINTN n);
void *memset(void *d, int c, UINTN n);

void *memcpy(void *d, const void *s, UINTN n)
{
    asm volatile ( "rep movsb" : "+D" (d), "+S" (s), "+c" (n) :: "memory" );
    return d;
}

void *memset(void *d, int c, UINTN n)
{
    void *p = d;

    asm volatile ( "rep stosb" : "+D" (p), "+c" (n) : "a" (c) : "memory" );
    return d;
}

/* --- the firmware console: %s, %u, %x, %lu, %lx (UINT64) --- */

static UINTN put_num(char *b, UINTN i, UINTN n, UINT64 v, unsigned int base)
{
    char t[24];
    int k = 0;

    do
        t[k++] = "0123456789abcdef"[v % base];
    while ( (v /= base) != 0 );
    while ( k > 0 && i + 1 < n )
        b[i++] = t[--k];
    return i;
}

static UINTN format(char *b, UINTN n, const char *fmt, va_list ap)
{
    UINTN i = 0;

    for ( ; *fmt && i + 1 < n; fmt++ )
    {
        bool wide = false;

        if ( *fmt != '%' )
        {
            b[i++] = *fmt;
            continue;
        }
        if ( fmt[1] == 'l' )
            wide = true, fmt++;
        switch ( *++fmt )
        {
        case 's':
            for ( const char *s = va_arg(ap, const char *); *s && i + 1 < n; )
                b[i++] = *s++;
            break;
        case 'u': case 'x':
            i = put_num(b, i, n, wide ? va_arg(ap, UINT64)
                                      : va_arg(ap, unsigned int),
                        *fmt == 'u' ? 10 : 16);
            break;
        default:
            b[i++] = '?';
        }
    }
    b[i] = 0;
    return i;
}

/* Print to ConOut (newlines become CR LF). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char b[256];
    CHAR16 w[2 * sizeof(b)];
    UINTN i, j = 0;
    va_list ap;

    va_start(ap, fmt);
    format(b, sizeof(b), fmt, ap);
    va_end(ap);
    for ( i = 0; b[i]; i++ )
    {
        if ( b[i] == '\n' )
            w[j++] = '\r';
        w[j++] = (unsigned char)b[i];
    }
    w[j] = 0;
    systab->ConOut->OutputString(systab->ConOut, w);
}

/* After ExitBootServices was called ConOut may be gone: the hypervisor's
 * own console (port 0xE9). */
static void say_e9(const char *s)
{
    for ( ; *s; s++ )
        asm volatile ( "outb %0, %1" :: "a" (*s), "Nd" (PORT_E9_CONSOLE) );
}

/* Nothing can go on: say why, and power the machine off. */
static void __attribute__((noreturn)) fail(EFI_STATUS s, const char *what)
{
    say("efi: FAIL %s (status %lx)\n", what, (UINT64)s);
    systab->RuntimeServices->ResetSystem(EfiResetShutdown, s, 0, NULL);
    for ( ;; )
        asm volatile ( "cli; hlt" );
}

/* --- the image --- */

/* The image's pages, [HV_LOAD_ADDR, HV_IMAGE_END), are EfiLoaderCode:
 * executable under the firmware's page tables, never heap. */
static void place_image(void)
{
    UINTN size = hv_blob_end - hv_blob_start;
    UINTN pages = (HV_IMAGE_END - HV_LOAD_ADDR + 4095) / 4096;
    EFI_PHYSICAL_ADDRESS at = HV_LOAD_ADDR;
    EFI_STATUS s;

    if ( size > HV_IMAGE_END - HV_LOAD_ADDR )
        fail(EFI_LOAD_ERROR, "image larger than its link range");
    s = bs->AllocatePages(AllocateAddress, EfiLoaderCode, pages, &at);
    if ( EFI_ERROR(s) )
    {
        say("efi: [%x, %x) is not free memory\n", HV_LOAD_ADDR,
            HV_IMAGE_END);
        fail(s, "AllocatePages at the image's link address");
    }
    memcpy((void *)(UINTN)at, hv_blob_start, size);
    say("efi: image at %x-%x (%lu KiB, .bss cleared by the image)\n",
        HV_LOAD_ADDR, HV_IMAGE_END, (UINT64)size >> 10);
}

/* --- the payload --- */

static EFI_FILE_HANDLE open_volume(EFI_HANDLE image)
{
    EFI_GUID li_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
    EFI_GUID fs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
    EFI_LOADED_IMAGE *li;
    EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *fs;
    EFI_FILE_HANDLE root;
    EFI_STATUS s;

    s = bs->HandleProtocol(image, &li_guid, (void **)&li);
    if ( !EFI_ERROR(s) )
        s = bs->HandleProtocol(li->DeviceHandle, &fs_guid, (void **)&fs);
    if ( !EFI_ERROR(s) )
        s = fs->OpenVolume(fs, &root);
    if ( EFI_ERROR(s) )
        fail(s, "no file system on the boot device");
    return root;
}

static UINT64 file_size(EFI_FILE_HANDLE f)
{
    EFI_GUID info_guid = EFI_FILE_INFO_ID;
    UINT64 buf[64];
    UINTN n = sizeof(buf);
    EFI_STATUS s = f->GetInfo(f, &info_guid, &n, buf);

    if ( EFI_ERROR(s) )
        fail(s, "GetInfo of " EFI_PAYLOAD_PATH);
    return ((EFI_FILE_INFO *)buf)->FileSize;
}

/* EFI_PAYLOAD_PATH into EfiLoaderData below 4 GiB, if it exists. */
static void load_payload(EFI_HANDLE image, struct efi_handoff *h)
{
    EFI_FILE_HANDLE root = open_volume(image), f;
    EFI_PHYSICAL_ADDRESS at = BELOW_4G;
    UINT64 size, done, t0 = __builtin_ia32_rdtsc();
    EFI_STATUS s;

    s = root->Open(root, &f, (CHAR16 *)(L"" EFI_PAYLOAD_PATH),
                   EFI_FILE_MODE_READ, 0);
    if ( s == EFI_NOT_FOUND )
    {
        say("efi: no %s: the scenarios run\n", EFI_PAYLOAD_PATH);
        root->Close(root);
        return;
    }
    if ( EFI_ERROR(s) )
        fail(s, "Open " EFI_PAYLOAD_PATH);
    size = file_size(f);
    if ( !size || size >= BELOW_4G )
        fail(EFI_LOAD_ERROR, EFI_PAYLOAD_PATH " is empty or too large");
    s = bs->AllocatePages(AllocateMaxAddress, EfiLoaderData,
                          (size + 4095) / 4096, &at);
    if ( EFI_ERROR(s) )
        fail(s, "AllocatePages for the payload");
    for ( done = 0; done < size; )
    {
        UINTN n = size - done < READ_CHUNK ? size - done : READ_CHUNK;

        s = f->Read(f, &n, (UINT8 *)(UINTN)at + done);
        if ( EFI_ERROR(s) || n == 0 )
            fail(EFI_ERROR(s) ? s : EFI_END_OF_FILE,
                 "Read " EFI_PAYLOAD_PATH);
        done += n;
    }
    f->Close(f);
    root->Close(root);
    h->payload = at;
    h->payload_size = size;
    say("efi: payload %s, %lu KiB at %lx, %lu Mcycles\n",
        EFI_PAYLOAD_PATH, size >> 10, (UINT64)at,
        (UINT64)(__builtin_ia32_rdtsc() - t0) >> 20);
}

/* --- leaving boot services --- */

static void *alloc_low(UINTN bytes)
{
    EFI_PHYSICAL_ADDRESS at = BELOW_4G;
    EFI_STATUS s = bs->AllocatePages(AllocateMaxAddress, EfiLoaderData,
                                     (bytes + 4095) / 4096, &at);

    if ( EFI_ERROR(s) )
        fail(s, "AllocatePages for the memory map");
    return (void *)(UINTN)at;
}

/*
 * Take the map and exit.  A changed map (an allocation or event between
 * the two calls) makes ExitBootServices refuse the key: take the map again
 * and retry.  Between failed calls only the memory services may be used,
 * so nothing is printed there.
 */
static void exit_boot_services(EFI_HANDLE image, struct efi_handoff *h)
{
    UINTN size = 0, key, dsz;
    UINT32 dver;
    EFI_STATUS s;
    UINT8 *map;
    UINTN cap;

    s = bs->GetMemoryMap(&size, NULL, &key, &dsz, &dver);
    if ( s != EFI_BUFFER_TOO_SMALL )
        fail(s, "GetMemoryMap (size)");
    cap = size + MAP_SLACK * dsz;
    map = alloc_low(cap);
    say("efi: memory map of about %lu descriptors; exiting boot services\n",
        (UINT64)(size / dsz));
    for ( h->exit_calls = 1; h->exit_calls <= EXIT_TRIES; h->exit_calls++ )
    {
        size = cap;
        s = bs->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)map, &key, &dsz,
                             &dver);
        if ( s == EFI_BUFFER_TOO_SMALL )
        {
            cap = size + MAP_SLACK * dsz;
            map = alloc_low(cap);
            continue;
        }
        if ( EFI_ERROR(s) )
            break;
        s = bs->ExitBootServices(image, key);
        if ( s != EFI_INVALID_PARAMETER )
            break;
    }
    if ( EFI_ERROR(s) )
    {
        say_e9("efi: FAIL ExitBootServices did not take the map\n");
        systab->RuntimeServices->ResetSystem(EfiResetShutdown, s, 0, NULL);
        for ( ;; )
            asm volatile ( "cli; hlt" );
    }
    h->mmap = (UINTN)map;
    h->mmap_size = size;
    h->desc_size = dsz;
    h->desc_version = dver;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st);
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st)
{
    struct efi_handoff *h;

    _Static_assert(sizeof(EFI_MEMORY_DESCRIPTOR) >=
                   sizeof(struct efi_mem_desc), "descriptor layout");
    _Static_assert(__builtin_offsetof(EFI_MEMORY_DESCRIPTOR, NumberOfPages)
                   == __builtin_offsetof(struct efi_mem_desc, pages),
                   "descriptor layout");
    systab = st;
    bs = st->BootServices;
    bs->SetWatchdogTimer(0, 0, 0, NULL);
    say("efi: P2M hypervisor loader (UEFI %u.%u)\n",
        st->Hdr.Revision >> 16, (st->Hdr.Revision & 0xffff) / 10);
    h = alloc_low(sizeof(*h));
    memset(h, 0, sizeof(*h));
    place_image();
    load_payload(image, h);
    exit_boot_services(image, h);
    ((void (*)(UINT64))(UINTN)HV_EFI_ENTRY)((UINTN)h);
    return EFI_LOAD_ERROR;      /* not reached */
}

#!/usr/bin/python3
"""Boot Debian 12's own kernel as an HVM guest of the bare-metal hypervisor.

The guest: Debian's linux-image (apt-get download into build/linux), an
initramfs of busybox-static, an /init script and tests/hv/linux/workload.c,
in one payload blob (xen/arch/x86/hvm/linux-abi.h).  The runs:
  qemu-svm      QEMU TCG SVM+NPT, the payload as multiboot module 0
  bochs-vmx-1g  Bochs Skylake-X, VMX+EPT with 1G pages, the payload on disk
  bochs-vmx-2m  Bochs Sandy Bridge, EPT without 1G pages (not by default)
  ovmf-svm      qemu-svm's machine booted by UEFI firmware (OVMF): the
                payload is EFI/P2M/LINUX.BIN on the FAT disk of the loader
and --bare, the same kernel and initramfs in QEMU microvm without the
hypervisor (the baseline, and a check of the guest side on its own).

Usage: linux.py [--build build/hv] [--only NAME...] [--bare] [--kernel PATH]
                [--jobs N] [-v]
Each run prints one line, "linux-<run>: PASS ..." or "linux-<run>: FAIL
<why>"; exit status 0 when every run passed.
"""
import argparse
import glob
import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as hv  # noqa: E402  (tests/hv/run.py: configs, process handling)

REPO = hv.REPO
LINUX_DIR = os.path.join(REPO, "build", "linux")
GUEST_SRC = os.path.join(REPO, "tests", "hv", "linux")
ABI_H = os.path.join(REPO, "xen", "arch", "x86", "hvm", "linux-abi.h")
BUSYBOX = "/bin/busybox"            # Debian's busybox-static


def _abi_defines(path=ABI_H):
    """The #defines of linux-abi.h, so that Python and C cannot drift."""
    defs = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"#define\s+(LINUX_\w+)\s+(\"[^\"]*\"|\w+)", line)
            if m:
                v = m.group(2)
                defs[m.group(1)] = v.strip('"') if v.startswith('"') \
                    else int(v, 0)
    return defs


ABI = _abi_defines()
with open(os.path.join(REPO, "xen", "arch", "x86", "boot", "efi-abi.h")) as _f:
    # EFI_PAYLOAD_PATH, its C backslash escapes as an mtools path
    EFI_PAYLOAD = re.search(r'#define\s+EFI_PAYLOAD_PATH\s+"([^"]*)"',
                            _f.read()).group(1).replace("\\\\", "/")
PAYLOAD_MAGIC = ABI["LINUX_PAYLOAD_MAGIC"].encode()
PAYLOAD_HDR = ABI["LINUX_PAYLOAD_HDR"]
PAYLOAD_LBA = ABI["LINUX_PAYLOAD_LBA"]
CMDLINE_MAX = ABI["LINUX_CMDLINE_MAX"]
BALLOON_STEPS = ABI["LINUX_BALLOON_STEPS"]
# struct linux_payload_hdr: magic, twelve uint32_t, step_mib[], cmdline.
HDR_FIELDS = ("hdr_size", "total_size", "kernel_off", "kernel_size",
              "initrd_off", "initrd_size", "memory_mib", "maxmem_mib",
              "timeout_s", "balloon", "grow_mib", "nr_steps")
HDR_FORMAT = f"<8s{len(HDR_FIELDS)}I{BALLOON_STEPS}I{CMDLINE_MAX}s"
ALIGN = 4096
BOCHS_CYLINDER = 16 * 63 * 512      # the Bochs disk: whole cylinders

# The TSC frequency the guest is told: it has no PIT to calibrate with.
# Bare (QEMU microvm) it is this constant.  Under the hypervisor it is None:
# the hypervisor puts its measured rate (10 MHz on Bochs) in front of the
# payload's command line, where a later tsc_early_khz= would override it.
TSC_KHZ = 2000000
HV_TSC_KHZ = None

# memory_mib is the PoD target, maxmem_mib what the guest's e820 says;
# the workload maps mib MiB, rounds times; timeout_s is guest time (the
# hypervisor's CPU time limit, in the emulated machine's TSC time).  Bochs
# runs its 10 MHz virtual clock about ten times faster than the wall clock
# (a boot to init is about 640 s of it, about 65 s of wall time), so its
# wall limit wall_s is set on its own.
RUNS = {
    "qemu-svm": dict(hv="qemu-svm", memory_mib=256, maxmem_mib=512,
                     mib=64, rounds=2, timeout_s=120),
    "bochs-vmx-1g": dict(hv="bochs-vmx-1g", memory_mib=96, maxmem_mib=160,
                         mib=16, rounds=1, timeout_s=2400, wall_s=480),
    "bochs-vmx-2m": dict(hv="bochs-vmx-2m", memory_mib=96, maxmem_mib=160,
                         mib=16, rounds=1, timeout_s=2400, wall_s=480),
    "ovmf-svm": dict(hv="ovmf-svm", memory_mib=256, maxmem_mib=512,
                     mib=64, rounds=2, timeout_s=120),
}
DEFAULT_RUNS = ["qemu-svm", "bochs-vmx-1g", "ovmf-svm"]

# Balloon runs (linux-abi.h): the hypervisor plays the toolstack.  The
# domain starts with the PoD target memory_mib and the balloon's target at
# the same value; steps are the targets the guest then asks for, one by
# one, holding hold_mib of data across each change; report_mib is what the
# workload maps, fills and frees afterwards for free page reporting to give
# back as 2M PoD entries; a vCPU paused for memory (the guest touched more
# than the target before its balloon caught up) makes the toolstack raise
# the target by grow_mib and resume it.
#   crash   Xen 4.17's "out of PoD memory!" case: 64M of 2G (smaller on
#           Bochs), the guest boots to init, balloons down, runs the rounds
#   updown  256M -> 128M -> 384M with data held across, then rounds larger
#           than the 128M it went through
#   report  the workload frees 128M; reporting returns 2M entries
def _balloon(run, scenario, memory_mib, maxmem_mib, mib, steps=(),
             grow_mib=8, hold_mib=0, report_mib=0, settle_s=2, **kw):
    base = RUNS[run]
    spec = dict(base, memory_mib=memory_mib, maxmem_mib=maxmem_mib,
                mib=mib, rounds=1, run=run, **kw)
    spec["balloon"] = dict(scenario=scenario, steps=list(steps),
                           grow_mib=grow_mib, hold_mib=hold_mib,
                           report_mib=report_mib, settle_s=settle_s)
    return f"balloon-{run}-{scenario}", spec


BALLOON_RUNS = dict([
    _balloon("qemu-svm", "crash", 64, 2048, 8, timeout_s=300),
    _balloon("qemu-svm", "updown", 256, 512, 192, steps=(128, 384),
             hold_mib=32, timeout_s=300),
    _balloon("qemu-svm", "report", 256, 512, 16, report_mib=128,
             timeout_s=300),
    # Bochs runs about ten times slower than QEMU: the balloon must stand
    # still for 10 s (guest time) to have settled.
    _balloon("bochs-vmx-1g", "crash", 64, 512, 8, settle_s=10,
             timeout_s=6000, wall_s=900),
    _balloon("bochs-vmx-1g", "updown", 256, 512, 192, steps=(128, 384),
             hold_mib=32, settle_s=10, timeout_s=6000, wall_s=900),
    _balloon("bochs-vmx-1g", "report", 256, 512, 16, report_mib=128,
             settle_s=10, timeout_s=6000, wall_s=900),
])
RUNS.update(BALLOON_RUNS)
# make linux-test: the Linux runs and the six balloon runs.
DEFAULT_RUNS += list(BALLOON_RUNS)
# Wall time on top of timeout_s: the hypervisor's boot, the payload load
# (ATA PIO on Bochs), the report, and an emulator slower than guest time.
MARGIN = {"qemu": 60, "bochs": 180}
BARE_TIMEOUT = 240

BUSYBOX_LINKS = ("sh", "ash", "mount", "umount", "poweroff", "halt",
                 "reboot", "cat", "echo", "ls", "mkdir", "sleep", "grep",
                 "awk", "dmesg", "free", "sync", "uname", "true", "false",
                 "insmod", "readlink")
# Debian's virtio modules from the kernel's own package, in load order
# (each one's modinfo "depends" comes before it): the transport finds the
# ACPI device LNRO0005, the balloon driver binds to its virtio device.
VIRTIO_MODULES = ("virtio_ring", "virtio", "virtio_mmio", "virtio_balloon")
INIT_TEMPLATE = os.path.join(GUEST_SRC, "init.sh")


class LinuxError(Exception):
    """The guest could not be prepared (kernel, busybox, workload)."""


def cmdline(mib, rounds, extra="", tsc_khz=TSC_KHZ, init_on_free=True):
    """The guest's command line, with and without the hypervisor.

    init_on_free=1 makes the pages a guest frees zero, for the sweeper, but
    it also makes Linux zero every free page at boot, touching all of
    maxmem before any balloon driver runs.  A balloon run leaves it off, as
    Debian does: the balloon and free page reporting give memory back."""
    args = ["console=ttyS0", "earlyprintk=serial,ttyS0", "nokaslr",
            "no_timer_check", "tsc=reliable"] + \
        ([f"tsc_early_khz={tsc_khz}"] if tsc_khz else []) + \
        (["init_on_free=1"] if init_on_free else []) + \
        ["printk.devkmsg=on", "panic=-1",
         f"p2m_mib={mib}", f"p2m_rounds={rounds}"]
    return " ".join(args + ([extra] if extra else []))


def balloon_cmdline(spec):
    """The balloon program's parameters (tests/hv/linux/workload.c), or
    "" for a run without a balloon schedule."""
    b = spec.get("balloon")
    if not b:
        return ""
    targets = [spec["memory_mib"]] + list(b["steps"])
    args = [f"p2m_balloon={spec['maxmem_mib']}:" +
            ",".join(str(t) for t in targets)]
    if b["hold_mib"]:
        args.append(f"p2m_hold={b['hold_mib']}")
    if b["report_mib"]:
        args.append(f"p2m_report={b['report_mib']}")
    if b.get("settle_s", 2) != 2:
        args.append(f"p2m_settle={b['settle_s']}")
    return " ".join(args)


def run_cmdline(spec, extra=""):
    """The command line of one run under the hypervisor."""
    extra = " ".join(a for a in (balloon_cmdline(spec), extra) if a)
    return cmdline(spec["mib"], spec["rounds"], extra, HV_TSC_KHZ,
                   init_on_free=not spec.get("balloon"))


# --- the kernel --------------------------------------------------------------

def _sh(cmd, cwd=None):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ,
                                   DEBIAN_FRONTEND="noninteractive"))


class _Apt:
    """apt-get update at most once per process, when a look-up failed."""
    updated = False

    @classmethod
    def retry(cls, fn):
        out = fn()
        if out is None and not cls.updated:
            cls.updated = True
            _sh(["apt-get", "update", "-q"])
            out = fn()
        return out


def kernel_package():
    """The versioned package linux-image-amd64 depends on."""
    def look():
        p = _sh(["apt-cache", "depends", "linux-image-amd64"])
        m = re.search(r"^\s*Depends:\s*(linux-image-\d\S*-amd64)\s*$",
                      p.stdout, re.M)
        return m.group(1) if m else None
    try:
        pkg = _Apt.retry(look)
    except FileNotFoundError:
        pkg = None
    if not pkg:
        raise LinuxError("cannot resolve the kernel package of "
                         "linux-image-amd64 (apt-cache depends)")
    return pkg


def fetch_kernel(outdir=LINUX_DIR, log=print):
    """build/linux/root/boot/vmlinuz-*, downloaded and unpacked once."""
    os.makedirs(outdir, exist_ok=True)
    try:
        pkg = kernel_package()
    except LinuxError:
        # Offline: a package fetched earlier still does.
        debs = sorted(glob.glob(os.path.join(outdir, "linux-image-*.deb")))
        if not debs:
            raise
        pkg = os.path.basename(debs[-1]).split("_")[0]
        log(f"linux: apt-cache failed, using the cached {pkg}")
    debs = sorted(glob.glob(os.path.join(outdir, f"{pkg}_*.deb")))
    if not debs:
        log(f"linux: apt-get download {pkg}")

        def download():
            p = _sh(["apt-get", "download", "-q", pkg], cwd=outdir)
            got = glob.glob(os.path.join(outdir, f"{pkg}_*.deb"))
            return sorted(got) if p.returncode == 0 and got else None
        try:
            debs = _Apt.retry(download)
        except FileNotFoundError:
            debs = None
        if not debs:
            raise LinuxError(f"apt-get download {pkg} failed")
    deb = debs[-1]
    root = os.path.join(outdir, "root")
    stamp = os.path.join(root, ".unpacked-from")
    if not os.path.exists(stamp) or \
            open(stamp).read().strip() != os.path.basename(deb):
        shutil.rmtree(root, ignore_errors=True)
        p = _sh(["dpkg", "-x", deb, root])
        if p.returncode:
            raise LinuxError(f"dpkg -x {deb}: {p.stderr.strip()}")
        with open(stamp, "w") as f:
            f.write(os.path.basename(deb) + "\n")
    want = os.path.join(root, "boot", "vmlinuz-" + pkg[len("linux-image-"):])
    kernels = [want] if os.path.exists(want) else \
        sorted(glob.glob(os.path.join(root, "boot", "vmlinuz-*")))
    if not kernels:
        raise LinuxError(f"no boot/vmlinuz-* in {deb}")
    return kernels[-1]


def check_bzimage(path):
    """A bzImage: the boot protocol's "HdrS" at 0x202."""
    try:
        with open(path, "rb") as f:
            head = f.read(0x210)
    except OSError as e:
        raise LinuxError(f"kernel {path}: {e.strerror}")
    if len(head) < 0x206 or head[0x202:0x206] != b"HdrS":
        raise LinuxError(f"{path} is not a bzImage (no HdrS at 0x202)")
    return path


# --- the initramfs -----------------------------------------------------------

def build_workload(outdir=LINUX_DIR):
    """tests/hv/linux/workload.c, static, into build/linux/workload."""
    src = os.path.join(GUEST_SRC, "workload.c")
    out = os.path.join(outdir, "workload")
    os.makedirs(outdir, exist_ok=True)
    if os.path.exists(out) and \
            os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    p = _sh(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror",
             "-o", out + ".tmp", src])
    if p.returncode:
        raise LinuxError("gcc -static workload.c failed (libc6-dev?): "
                         + p.stderr.strip()[-800:])
    os.replace(out + ".tmp", out)
    return out


def is_static_elf(path):
    """An ELF without PT_INTERP: it runs without a dynamic loader."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 > len(data):
            return False
        if struct.unpack_from("<I", data, off)[0] == 3:     # PT_INTERP
            return False
    return True


class Cpio:
    """A newc ("070701") archive, as the kernel's initramfs unpacker reads
    it: 110-byte ASCII headers, name and data each padded to 4 bytes."""
    S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, \
        0o020000

    def __init__(self):
        self.entries = []           # (name, mode, data, rdev major, minor)

    def dir(self, name, perm=0o755):
        self.entries.append((name, self.S_IFDIR | perm, b"", 0, 0))

    def file(self, name, data, perm=0o755):
        self.entries.append((name, self.S_IFREG | perm, data, 0, 0))

    def symlink(self, name, target):
        self.entries.append((name, self.S_IFLNK | 0o777, target.encode(),
                             0, 0))

    def chardev(self, name, major, minor, perm=0o600):
        self.entries.append((name, self.S_IFCHR | perm, b"", major, minor))

    @staticmethod
    def _entry(ino, name, mode, data, rmaj, rmin):
        name = name.encode() + b"\0"
        nlink = 2 if mode & 0o170000 == Cpio.S_IFDIR else 1
        fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rmaj, rmin,
                  len(name), 0)
        head = b"070701" + b"".join(b"%08x" % v for v in fields)
        pad = lambda n: b"\0" * (-n % 4)        # noqa: E731
        return head + name + pad(len(head) + len(name)) + data + \
            pad(len(data))

    def bytes(self):
        out = [self._entry(i + 1, *e) for i, e in enumerate(self.entries)]
        out.append(self._entry(0, "TRAILER!!!", 0, b"", 0, 0))
        return b"".join(out)


def parse_cpio(blob):
    """[(name, mode, data, rdevmajor, rdevminor)] of a newc archive."""
    out, off = [], 0
    while True:
        if blob[off:off + 6] != b"070701":
            raise ValueError(f"bad cpio magic at {off}")
        f = [int(blob[off + 6 + 8 * i:off + 14 + 8 * i], 16)
             for i in range(13)]
        nsize, fsize = f[11], f[6]
        name = blob[off + 110:off + 110 + nsize - 1].decode()
        off += 110 + nsize
        off += -off % 4
        data = blob[off:off + fsize]
        off += fsize
        off += -off % 4
        if name == "TRAILER!!!":
            return out
        out.append((name, f[1], data, f[9], f[10]))


def init_script():
    with open(INIT_TEMPLATE) as f:
        return f.read()


def kernel_modules(kernel, names=VIRTIO_MODULES):
    """[(name, path)] of the .ko files of names that belong to the kernel
    at build/linux/root/boot/vmlinuz-<release> (in lib/modules/<release>
    of the same package); empty for a kernel without them (--kernel)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(kernel)))
    release = os.path.basename(kernel)[len("vmlinuz-"):]
    base = os.path.join(root, "lib", "modules", release, "kernel")
    found = {}
    for dirpath, _, files in os.walk(base):
        for f in files:
            if f.endswith(".ko") and f[:-3] in names:
                found[f[:-3]] = os.path.join(dirpath, f)
    if found and len(found) != len(names):
        raise LinuxError(f"{base}: modules {sorted(set(names) - set(found))}"
                         " missing")
    return [(n, found[n]) for n in names if n in found]


def build_initramfs(workload, busybox=BUSYBOX, compress=False, modules=()):
    """The guest's initramfs, as bytes (newc cpio, gzip when asked), with
    modules [(name, path)] as /lib/modules/<name>.ko."""
    if not os.path.exists(busybox):
        raise LinuxError(f"{busybox} missing (apt-get install "
                         "busybox-static)")
    if not is_static_elf(busybox):
        raise LinuxError(f"{busybox} is not a static binary (install "
                         "busybox-static, not busybox)")
    c = Cpio()
    for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "lib",
              "lib/modules"):
        c.dir(d)
    for name, path in modules:
        with open(path, "rb") as f:
            c.file(f"lib/modules/{name}.ko", f.read(), 0o644)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/kmsg", 1, 11)
    with open(busybox, "rb") as f:
        c.file("bin/busybox", f.read())
    for name in BUSYBOX_LINKS:
        c.symlink(f"bin/{name}", "busybox")
    with open(workload, "rb") as f:
        c.file("workload", f.read())
    c.file("init", init_script().encode())
    blob = c.bytes()
    return gzip.compress(blob, 6, mtime=0) if compress else blob


# --- the payload -------------------------------------------------------------

def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def build_payload(kernel, initrd, cmd, memory_mib, maxmem_mib, timeout_s,
                  balloon=None):
    """struct linux_payload_hdr + kernel + initrd, each 4 KiB-aligned;
    balloon is a run's balloon spec (steps, grow_mib) or None."""
    line = cmd.encode("ascii")
    if len(line) >= CMDLINE_MAX:
        raise LinuxError(f"command line longer than {CMDLINE_MAX - 1}")
    steps = list(balloon["steps"]) if balloon else []
    if len(steps) > BALLOON_STEPS:
        raise LinuxError(f"more than {BALLOON_STEPS} balloon steps")
    kernel_off = PAYLOAD_HDR
    initrd_off = _align(kernel_off + len(kernel))
    total = initrd_off + len(initrd)
    if total >= 1 << 32:
        raise LinuxError("payload larger than 4 GiB")
    hdr = struct.pack(HDR_FORMAT, PAYLOAD_MAGIC, PAYLOAD_HDR, total,
                      kernel_off, len(kernel), initrd_off, len(initrd),
                      memory_mib, maxmem_mib, timeout_s,
                      1 if balloon else 0,
                      balloon["grow_mib"] if balloon else 0, len(steps),
                      *(steps + [0] * (BALLOON_STEPS - len(steps))), line)
    assert len(hdr) <= PAYLOAD_HDR
    return b"".join([hdr.ljust(PAYLOAD_HDR, b"\0"), kernel,
                     b"\0" * (initrd_off - kernel_off - len(kernel)), initrd])


def parse_payload(blob):
    """The header as a dict (cmdline a str), plus kernel and initrd."""
    size = struct.calcsize(HDR_FORMAT)
    magic, *vals, line = struct.unpack(HDR_FORMAT, blob[:size])
    n = len(HDR_FIELDS)
    hdr = dict(zip(HDR_FIELDS, vals[:n]), magic=magic,
               cmdline=line.split(b"\0", 1)[0].decode())
    hdr["step_mib"] = tuple(vals[n:n + BALLOON_STEPS])
    hdr["kernel"] = blob[hdr["kernel_off"]:
                         hdr["kernel_off"] + hdr["kernel_size"]]
    hdr["initrd"] = blob[hdr["initrd_off"]:
                         hdr["initrd_off"] + hdr["initrd_size"]]
    return hdr


def efi_disk(efi_image, payload, out):
    """The UEFI run's FAT disk: the loader (BOOTX64.EFI beside efi_image in
    the build) as EFI/BOOT/BOOTX64.EFI, the payload as EFI/P2M/LINUX.BIN
    (xen/arch/x86/boot/efi-abi.h), written with mtools."""
    loader = os.path.join(os.path.dirname(efi_image), "BOOTX64.EFI")
    if not os.path.exists(loader):
        raise LinuxError(f"{loader} missing (make hv)")
    if not shutil.which("mformat"):
        raise LinuxError("mformat is not installed (apt-get install mtools)")
    size = os.path.getsize(loader) + os.path.getsize(payload)
    with open(out, "wb") as f:
        f.truncate((size + (16 << 20)) // (1 << 20) * (1 << 20))
    for cmd in (["mformat", "-i", out, "-v", "P2M", "::"],
                ["mmd", "-i", out, "::/EFI", "::/EFI/BOOT", "::/EFI/P2M"],
                ["mcopy", "-i", out, loader, "::/EFI/BOOT/BOOTX64.EFI"],
                ["mcopy", "-i", out, payload, "::" + EFI_PAYLOAD]):
        p = _sh(cmd)
        if p.returncode:
            raise LinuxError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return out


def bochs_disk(image, payload, out):
    """The Bochs disk: the hypervisor's boot image, then the payload from
    sector LINUX_PAYLOAD_LBA, in whole 16x63 cylinders."""
    with open(image, "rb") as f:
        boot = f.read()
    start = PAYLOAD_LBA * 512
    if len(boot) > start:
        raise LinuxError(f"{image} is {len(boot)} bytes: it overlaps the "
                         f"payload at sector {PAYLOAD_LBA}")
    with open(out, "wb") as f:
        f.write(boot)
        f.write(b"\0" * (start - len(boot)))
        f.write(payload)
        f.write(b"\0" * (-(start + len(payload)) % BOCHS_CYLINDER))
    return out


# --- the console -------------------------------------------------------------

GUEST = re.compile(r"^HV-GUEST (.*)$")
HV_INIT = re.compile(r"^HV-LINUX init ([0-9.]+)")
HV_END = re.compile(r"^HV-LINUX end (.*)$")
HV_STATS = re.compile(r"^HV-LINUX-STATS (\{.*\})\s*$")
HV_BALLOON = re.compile(r"^HV-LINUX-BALLOON (\{.*\})\s*$")
HV_BSTEP = re.compile(r"^HV-LINUX-BALLOON-STEP (\{.*\})\s*$")
HV_BRUN = re.compile(r"^HV-LINUX-BALLOON-RUN (\{.*\})\s*$")
MARKER = re.compile(r"P2M: (.*?)\s*$")
WORKLOAD = re.compile(r"^workload (\d+) MiB ([0-9.]+) MiB/s round (\d+) "
                      r"(ok|FAIL)\b ?(.*)$")
VIRTIO = re.compile(r"^virtio (virtio\d+) device (\S+) driver (\S*)$")
UPTIME = re.compile(r"^\[\s*([0-9]+\.[0-9]+)\]")
ORDERS = ("1g", "2m", "4k")


class LinuxResult:
    """What one run printed and how it ended.  With the hypervisor the guest
    console arrives as HV-GUEST lines; bare, every line is the guest's."""

    def __init__(self, name, spec, bare=False):
        self.name, self.spec, self.bare = name, spec, bare
        self.lines = []             # (seconds since start, text)
        self.guest = []             # (seconds since start, guest line)
        self.status = None          # emulator exit status
        self.error = None           # why the run could not be judged
        self.result = None          # HV-RESULT (bare: set at P2M: done)
        self.result_line = ""
        self.wall = None
        self.init_wall = None       # seconds from start to P2M: init
        self.init_uptime = None     # the guest's printk time at P2M: init
        self.init_hv = None         # HV-LINUX init <seconds>
        self.end = None             # HV-LINUX end <reason>
        self.stats = None           # HV-LINUX-STATS
        self.balloon = None         # HV-LINUX-BALLOON (the device's state)
        self.bsteps = {}            # HV-LINUX-BALLOON-STEP by step
        self.brun = None            # HV-LINUX-BALLOON-RUN
        self.meminfo_kb = None
        self.rounds = {}            # round -> (mib, rate, ok, why)
        self.done = None            # "" or "FAIL ..." after P2M: done
        self.virtio = {}            # virtioN -> (device id, driver)
        self.panic = None
        # A UEFI run: the memory map and the heap made of it (run.py).
        uefi = not bare and hv.RUNS[spec["hv"]].get("boot") == "uefi"
        self.efi = hv.EfiMap() if uefi else None

    def feed(self, t, text):
        self.lines.append((t, text))
        if self.efi is not None:
            self.efi.feed(text)
        if self.bare:
            self._guest(t, text)
            return
        m = GUEST.match(text)
        if m:
            self._guest(t, m.group(1))
            return
        m = HV_INIT.match(text)
        if m and self.init_hv is None:
            self.init_hv = float(m.group(1))
        m = HV_END.match(text)
        if m and self.end is None:
            self.end = m.group(1).strip()
        for rx, attr in ((HV_STATS, "stats"), (HV_BALLOON, "balloon"),
                         (HV_BRUN, "brun")):
            m = rx.match(text)
            if m and getattr(self, attr) is None:
                setattr(self, attr, self._json(m, rx))
        m = HV_BSTEP.match(text)
        st = self._json(m, HV_BSTEP) if m else None
        if isinstance(st, dict) and isinstance(st.get("step"), int):
            self.bsteps.setdefault(st["step"], st)
        elif m and not self.error:
            self.error = "bad HV-LINUX-BALLOON-STEP: no step number"
        m = hv.RESULT.match(text)
        if m and self.result is None:
            self.result, self.result_line = m.group(1), text

    def _json(self, m, rx):
        """The JSON object of a matched line, or None (error says why)."""
        try:
            return json.loads(m.group(1))
        except ValueError as e:
            name = rx.pattern[1:].split(" ")[0]
            self.error = self.error or f"bad {name}: {e}"
            return None

    def _guest(self, t, text):
        self.guest.append((t, text))
        if self.panic is None and "Kernel panic" in text:
            self.panic = text.strip()
        m = MARKER.search(text)
        if not m:
            return
        what = m.group(1)
        if what == "init" and self.init_wall is None:
            self.init_wall = t
            u = UPTIME.match(text)
            self.init_uptime = float(u.group(1)) if u else None
        elif what.startswith("meminfo MemTotal "):
            f = what.split()
            if len(f) >= 3 and f[2].isdigit():
                self.meminfo_kb = int(f[2])
        elif what.startswith("virtio "):
            v = VIRTIO.match(what)
            if v:
                self.virtio[v.group(1)] = (v.group(2), v.group(3))
        elif what.startswith("workload "):
            w = WORKLOAD.match(what)
            if w:
                self.rounds.setdefault(int(w.group(3)), (
                    int(w.group(1)), float(w.group(2)), w.group(4) == "ok",
                    w.group(5)))
            else:
                self.rounds.setdefault(0, (0, 0.0, False,
                                           f"unparsed line: {what}"))
        elif (what == "done" or what.startswith("done ")) and \
                self.done is None:
            self.done = what[4:].strip()
            if self.bare:
                self.result = "FAIL" if self.done else "PASS"

    def finished(self):
        """Bare runs: the guest has nothing more to say."""
        return self.done is not None or self.panic is not None

    def mean_rate(self):
        rates = [r[1] for r in self.rounds.values() if r[2]]
        return sum(rates) / len(rates) if rates else 0.0

    def boot_to_init(self):
        if self.bare:
            return self.init_wall
        if self.stats and isinstance(self.stats.get("boot_to_init"),
                                     (int, float)):
            return float(self.stats["boot_to_init"])
        return self.init_hv

    def failures(self):
        """Why the run failed; empty when it passed."""
        why = []
        if self.error:
            why.append(self.error)
        if not self.bare:
            if self.result == "FAIL":
                why.append(self.result_line.strip() +
                           (f" ({self.end})" if self.end else ""))
            elif self.result is None and not self.error:
                why.append("no HV-RESULT line")
        if self.panic:
            why.append(f"guest: {self.panic}")
        if self.init_wall is None:
            why.append("the guest never printed P2M: init")
        for i, (mib, _, ok, what) in sorted(self.rounds.items()):
            if not ok:
                why.append(f"workload round {i} FAIL {what}".rstrip())
        want = self.spec["rounds"]
        good = [i for i, r in self.rounds.items() if r[2]]
        if self.init_wall is not None and len(good) == len(self.rounds) \
                and sorted(good) != list(range(1, want + 1)):
            why.append(f"workload rounds ok: {sorted(good)}, want 1..{want}")
        if self.done is None:
            why.append("no P2M: done")
        elif self.done:
            why.append(f"P2M: done {self.done}")
        if self.bare:
            return why
        if self.efi is not None:
            why += [f"memory map: {p}" for p in self.efi.problems()]
        st = self.stats
        if st is None:
            why.append("no HV-LINUX-STATS line")
            return why
        if st.get("audit_errors") != 0:
            why.append(f"audit errors: {st.get('audit_errors')}")
        pod = st.get("pod") or {}
        if pod.get("ok") is not True:
            why.append(f"PoD invariants: {_pod(pod)}")
        heap = st.get("heap") or {}
        if heap.get("free_before") is None or \
                heap.get("free_after") != heap.get("free_before"):
            why.append(f"heap: free before {heap.get('free_before')}, "
                       f"after {heap.get('free_after')}")
        why += self.balloon_failures()
        if not why and hv.RUNS[self.spec["hv"]]["emu"] == "qemu" and \
                self.status != hv.QEMU_PASS:
            why.append(f"QEMU exit status {self.status} (want "
                       f"{hv.QEMU_PASS}, isa-debug-exit)")
        return why

    def balloon_failures(self):
        """A balloon run: the toolstack's schedule ran to its end, each
        target reached; a report run got 2M entries back."""
        b = self.spec.get("balloon")
        if not b:
            return []
        r = self.brun
        if r is None:
            return ["no HV-LINUX-BALLOON-RUN line"]
        why = []
        if r.get("refused"):
            why.append("the toolstack refused a balloon marker")
        want = len(b["steps"])
        if r.get("schedule") != want or r.get("steps") != want:
            why.append(f"balloon steps {r.get('steps')} of "
                       f"{r.get('schedule')}, want {want}")
        for i in range(want + 1):
            st = self.bsteps.get(i)
            if st is None:
                why.append(f"no HV-LINUX-BALLOON-STEP for step {i}")
            elif not st.get("reached_ms"):
                why.append(f"balloon step {i} (target "
                           f"{st.get('target_mib')} MiB) never reached")
        if b["report_mib"] and not _num(r.get("restored_2m_after_freed")):
            why.append("free page reporting restored no 2M entry after the "
                       f"workload freed {b['report_mib']} MiB")
        return why

    def boot_to_target(self):
        """Hypervisor clock, seconds: the balloon at its first target."""
        st = self.bsteps.get(0) or {}
        return _num(st.get("reached_ms")) / 1000.0

    def balloon_rate(self):
        """MiB/s the balloon inflated towards its first target: the pages
        it took, over the time from its first move to the target."""
        st = self.bsteps.get(0) or {}
        ms = _num(st.get("reached_ms")) - _num(st.get("moved_ms"))
        if ms <= 0 or not st.get("moved_ms"):
            return 0.0
        return _num(st.get("inflated")) / 256.0 / (ms / 1000.0)

    @property
    def passed(self):
        return not self.failures()

    def console(self):
        return "\n".join(t for _, t in self.lines)


def _orders(d):
    d = d if isinstance(d, dict) else {}
    return "/".join(str(d.get(o, "?")) for o in ORDERS)


def _pod(pod):
    return " ".join(f"{k}={pod.get(k, '?')}" for k in "PTBM") + \
        (" ok" if pod.get("ok") is True else " NOT ok")


def summary(res, verbose=False, tail=60):
    """The run's line, then its details (or, on failure, the console's
    tail)."""
    label = "linux-bare" if res.bare else f"linux-{res.name}"
    if res.spec.get("balloon"):
        label = res.name
    why = res.failures()
    b = res.boot_to_init()
    out = []
    if why:
        out.append(f"{label}: FAIL {'; '.join(why)}")
    elif res.spec.get("balloon"):
        out.append(balloon_line(res, label))
    elif res.bare:
        out.append(f"{label}: PASS boot-to-init {b:.2f} s (wall), "
                   f"workload {res.mean_rate():.1f} MiB/s")
    else:
        st = res.stats
        out.append(
            f"{label}: PASS boot-to-init {b:.2f} s, workload "
            f"{res.mean_rate():.1f} MiB/s, leaves 1g/2m/4k "
            f"{_orders(st.get('leaves'))}, populated 1g/2m/4k "
            f"{_orders(st.get('populated'))}, swept 1g/2m/4k "
            f"{_orders(st.get('swept'))}, npf {st.get('npf', '?')}, "
            f"exits {st.get('exits', '?')}")
    out += [f"    {g}" for _, g in res.guest
            if "P2M: " in g or "Linux version" in g]
    if res.bare:
        if res.init_uptime is not None:
            out.append(f"  guest uptime at P2M: init {res.init_uptime:.2f} s")
    elif res.init_wall is not None:
        # The line's figure is the hypervisor's clock (the emulated TSC);
        # under Bochs that runs apart from the wall clock.
        up = (f", guest uptime {res.init_uptime:.2f} s"
              if res.init_uptime is not None else "")
        out.append(f"  boot-to-init: {b:.2f} s on the hypervisor's clock, "
                   f"{res.init_wall:.2f} s wall{up}")
    st = res.stats
    if st is not None:
        ex = {k: v for k, v in (st.get("exits_by_reason") or {}).items()
              if v}
        if ex:
            out.append("  exits by reason: " + ", ".join(
                f"{k} {v}" for k, v in sorted(
                    ex.items(), key=lambda kv: (-_num(kv[1]), kv[0]))))
        if "npf_walk" in st:
            out.append(f"  nested faults: {st.get('npf', '?')}, "
                       f"{st['npf_walk']} of them on the guest's own "
                       f"page-table walks")
        out.append(f"  audit: {st.get('audit_errors', '?')} errors")
        out.append(f"  PoD: {_pod(st.get('pod') or {})}")
        heap = st.get("heap") or {}
        fb, fa = heap.get("free_before"), heap.get("free_after")
        out.append(f"  heap: free before {fb}, after {fa}"
                   + (" (balanced)" if fb is not None and fb == fa
                      else " (NOT balanced)"))
        gm = st.get("guest_mem") or {}
        out.append(f"  guest memory: {gm.get('memory_mib', '?')} MiB, "
                   f"maxmem {gm.get('maxmem_mib', '?')} MiB, MemTotal "
                   f"{res.meminfo_kb} kB")
    out += balloon_details(res)
    b = res.balloon
    if b is not None:
        out.append(f"  balloon: driver_ok {b.get('driver_ok')}, features "
                   f"{b.get('features', 0):#x}, num_pages "
                   f"{b.get('num_pages')}, actual {b.get('actual')}, "
                   f"inflated {b.get('inflated')}, deflated "
                   f"{b.get('deflated')}, reported 2m "
                   f"{b.get('reported_2m')} (restored "
                   f"{b.get('restored_2m')}), refused {b.get('refused')}, "
                   f"interrupts {b.get('interrupts')}")
    if not res.bare:
        out.append(f"  end: {res.end}; {res.result_line.strip() or '-'}")
    if res.wall is not None:
        out.append(f"  emulator ran {res.wall:.1f} s, status {res.status}")
    if why and not verbose:
        out.append(f"  last {tail} console lines:")
        out += [f"  | {t}" for _, t in res.lines[-tail:]]
    return "\n".join(out)


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) \
        else 0


def balloon_line(res, label):
    """balloon-<run>-<scenario>: PASS ... (the issue's line)."""
    r, b = res.brun or {}, res.balloon or {}
    last = res.bsteps.get(max(res.bsteps)) if res.bsteps else {}
    return (f"{label}: PASS boot-to-target {res.boot_to_target():.2f} s, "
            f"target {last.get('target_mib', '?')} actual "
            f"{r.get('held_mib', '?')}, pauses {r.get('pauses', '?')}, "
            f"reported 2m {b.get('restored_2m', '?')}, pod entries "
            f"1g/2m/4k {_orders(r.get('pod_entries'))}")


def balloon_details(res):
    """The schedule step by step, for the summary."""
    out = []
    spec = res.spec.get("balloon") or {}
    for i, st in sorted(res.bsteps.items()):
        asked = res.spec["memory_mib"] if i == 0 else \
            (spec.get("steps") or [None] * i)[i - 1]
        reached = st.get("reached_ms")
        took = (f"reached {(reached - st.get('set_ms', 0)) / 1000.0:.2f} s "
                f"after it was set" if reached else "NOT reached")
        out.append(f"  balloon step {i}: asked {asked} MiB, target "
                   f"{st.get('target_mib')} MiB (raised for "
                   f"{st.get('pauses')} pauses, {st.get('oom')} deflates on "
                   f"OOM), {took}, holding {st.get('held_mib')} MiB; "
                   f"inflated {st.get('inflated')} deflated "
                   f"{st.get('deflated')} pages")
    r = res.brun
    if r is not None:
        out.append(f"  balloon rate to the first target: "
                   f"{res.balloon_rate():.1f} MiB/s (hypervisor clock)")
        if spec.get("report_mib"):
            out.append(f"  after the workload freed {spec['report_mib']} "
                       f"MiB: reported 2m {r.get('reported_2m_after_freed')}"
                       f", restored {r.get('restored_2m_after_freed')}"
                       f"; while it slept {r.get('restored_2m_in_wait')} "
                       f"restored, 2M PoD entries "
                       f"{r.get('pod_2m_gained_in_wait', 0):+d}")
    return out


# --- the runs ----------------------------------------------------------------

class Guest:
    """Kernel and initramfs, shared by the runs; error says why not."""

    def __init__(self, kernel=None, outdir=LINUX_DIR, compress=False,
                 log=print):
        self.outdir, self.error = outdir, None
        self.kernel = self.initrd = None
        try:
            self.kernel = check_bzimage(kernel or fetch_kernel(outdir, log))
            work = build_workload(outdir)
            self.initrd = os.path.join(outdir, "initrd.cpio" +
                                       (".gz" if compress else ""))
            blob = build_initramfs(work, compress=compress,
                                   modules=kernel_modules(self.kernel))
            with open(self.initrd, "wb") as f:
                f.write(blob)
        except LinuxError as e:
            self.error = str(e)

    def payload(self, name, extra=""):
        """build/linux/payload-<run>.bin for one run's parameters."""
        spec = RUNS[name]
        with open(self.kernel, "rb") as f:
            kernel = f.read()
        with open(self.initrd, "rb") as f:
            initrd = f.read()
        blob = build_payload(kernel, initrd, run_cmdline(spec, extra),
                             spec["memory_mib"], spec["maxmem_mib"],
                             spec["timeout_s"], spec.get("balloon"))
        path = os.path.join(self.outdir, f"payload-{name}.bin")
        with open(path, "wb") as f:
            f.write(blob)
        return path


def ensure_deps():
    """The packages the runs need (tools/ensure-deps.sh linux); when they
    cannot be installed, each missing piece fails its run."""
    p = _sh(["sh", os.path.join(REPO, "tools", "ensure-deps.sh"), "linux"])
    if p.returncode:
        print((p.stdout + p.stderr).strip(), file=sys.stderr)


def run_one(name, build, guest, timeout=None, extra=""):
    """Boot the hypervisor with the Linux payload; returns a LinuxResult."""
    spec = RUNS[name]
    hvspec = hv.RUNS[spec["hv"]]
    res = LinuxResult(name, spec)
    if guest.error:
        res.error = guest.error
        return res
    emu = hvspec["emu"]
    uefi = hvspec.get("boot") == "uefi"
    image, res.error = hv.emulator_image(emu, build,
                                         "uefi" if uefi else "multiboot")
    if not image:
        return res
    if timeout is None:
        timeout = spec.get("wall_s", spec["timeout_s"] + MARGIN[emu])
    try:
        payload = guest.payload(name, extra)
        with tempfile.TemporaryDirectory() as tmp:
            if uefi:
                disk = efi_disk(image, payload, os.path.join(tmp, "efi.img"))
                cmd, env = hv.qemu_cmd(hvspec, disk, tmp), None
            elif emu == "qemu":
                cmd = hv.qemu_cmd(hvspec, image) + ["-initrd", payload]
                env = None
            else:
                disk = bochs_disk(image, open(payload, "rb").read(),
                                  os.path.join(tmp, "linux.img"))
                cmd, env = hv.bochs_setup(hvspec, disk, tmp)
                os.remove(disk)             # bochs_setup made its copy
            hv.boot(res, cmd, env, tmp, timeout)
    except LinuxError as e:
        res.error = str(e)
        return res
    if res.result is None and not res.error:
        res.error = f"no HV-RESULT line (exit status {res.status})"
    return res


def bare_cmd(guest, spec, extra="", balloon=True):
    """QEMU microvm with ACPI (hardware-reduced, as under the hypervisor)
    and a virtio-balloon device on its virtio-mmio transport."""
    return ["qemu-system-x86_64", "-accel", "tcg",
            "-M", "microvm,pit=off,pic=off,rtc=off,acpi=on",
            "-cpu", "qemu64", "-m", str(spec["memory_mib"]),
            "-kernel", guest.kernel, "-initrd", guest.initrd,
            "-append", cmdline(spec["mib"], spec["rounds"], extra),
            "-display", "none", "-no-user-config", "-nodefaults",
            "-no-reboot", "-serial", "stdio"] + \
        (["-device", "virtio-balloon-device"] if balloon else [])


def run_bare(guest, name="qemu-svm", timeout=BARE_TIMEOUT, extra="",
             balloon=True):
    """The same kernel and initramfs in QEMU microvm, no hypervisor, with
    the parameters (memory, workload) of run `name`."""
    res = LinuxResult(name, RUNS[name], bare=True)
    if guest.error:
        res.error = guest.error
        return res
    if not shutil.which("qemu-system-x86_64"):
        res.error = "qemu-system-x86_64 is not installed " \
            "(apt-get install qemu-system-x86)"
        return res
    with tempfile.TemporaryDirectory() as tmp:
        hv.boot(res, bare_cmd(guest, RUNS[name], extra, balloon), None,
                tmp, timeout, stop=LinuxResult.finished)
    return res


def run_all(names, build, jobs, kernel=None, extra="", compress=False,
            log=print):
    """The hypervisor runs `names`, in parallel; a list of LinuxResult."""
    guest = Guest(kernel, compress=compress, log=log)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        return list(ex.map(lambda n: run_one(n, build, guest, extra=extra),
                           names))


def main():
    ap = argparse.ArgumentParser(
        description="Boot Debian's kernel on the bare-metal hypervisor.")
    ap.add_argument("--build", default=os.path.join(REPO, "build", "hv"))
    ap.add_argument("--only", nargs="*", choices=sorted(RUNS))
    ap.add_argument("--bare", action="store_true",
                    help="QEMU microvm without the hypervisor (parameters "
                         "of the first --only run, default qemu-svm)")
    ap.add_argument("--kernel", help="a bzImage instead of Debian's")
    ap.add_argument("--append", default="",
                    help="more guest command line (e.g. loglevel=5)")
    ap.add_argument("--gzip", action="store_true",
                    help="gzip the initramfs")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    start = time.monotonic()
    ensure_deps()
    if args.bare:
        guest = Guest(args.kernel, compress=args.gzip)
        results = [run_bare(guest, (args.only or ["qemu-svm"])[0],
                            extra=args.append)]
    else:
        results = run_all(args.only or DEFAULT_RUNS, args.build, args.jobs,
                          args.kernel, args.append, args.gzip)
    for res in results:
        if args.verbose:
            for t, text in res.lines:
                print(f"[{res.name} {t:7.2f}] {text}")
        print(summary(res, verbose=args.verbose))
    ok = sum(r.passed for r in results)
    print(f"linux: {ok}/{len(results)} runs passed in "
          f"{time.monotonic() - start:.1f} s")
    return 0 if ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

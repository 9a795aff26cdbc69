# P2M: build, run, test and benchmark.
#   make               build everything (release)      -> build/
#   make debug=y ...   ASSERTs, struct gfn_t/mfn_t, audit after every op -> build/debug/
#   make san=y ...     AddressSanitizer + UndefinedBehaviorSanitizer     -> build/san/
#   make run | test | bench | clean

CC ?= gcc
PY := /usr/bin/python3

ifeq ($(san),y)
  O ?= build/san
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  DBGFLAGS := -DP2M_DEBUG -O1 -g
else ifeq ($(tsan),y)
  O ?= build/tsan
  SANFLAGS := -fsanitize=thread
  DBGFLAGS := -O1 -g
else ifeq ($(debug),y)
  O ?= build/debug
  DBGFLAGS := -DP2M_DEBUG -Og -g
else
  O ?= build
  DBGFLAGS := -O2 -g
endif

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wstrict-prototypes
GCC_INC := $(shell $(CC) -print-file-name=include)
# Module sources: freestanding, no libc headers at all.
MOD_CFLAGS := -std=gnu11 $(WARN) $(DBGFLAGS) $(SANFLAGS) -ffreestanding \
              -nostdinc -isystem $(GCC_INC) -Ixen/include -fno-strict-aliasing
# Hosted platform, tools, tests, benchmarks: libc allowed.
HOST_CFLAGS := -std=gnu11 $(WARN) $(DBGFLAGS) $(SANFLAGS) -Ixen/include \
               -Ixen/arch/x86/hosted -Itools/libxc -fno-strict-aliasing -pthread
LDFLAGS := $(SANFLAGS) -pthread

MOD_SRCS := $(wildcard xen/common/*.c) $(wildcard xen/arch/x86/mm/*.c)
HOSTED_SRCS := $(wildcard xen/arch/x86/hosted/*.c)
LIBXC_SRCS := $(wildcard tools/libxc/*.c)
MOD_OBJS := $(MOD_SRCS:%.c=$(O)/obj/%.o)
HOSTED_OBJS := $(HOSTED_SRCS:%.c=$(O)/obj/%.o) $(LIBXC_SRCS:%.c=$(O)/obj/%.o)
LIB := $(O)/libp2m.a

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
TEST_COMMON := $(wildcard tests/unit/common/*.c)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(O)/bench/%)
KVM_BIN := $(O)/tests/kvm_walker
# Programs of several sources are linked from objects, so that -MMD (below)
# records each source's headers.
P2MCTL_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(wildcard tools/p2mctl/*.c))
KVM_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(wildcard tests/kvm/*.c))
FUZZ_REPLAY := $(O)/tests/test_fuzz_replay

.PHONY: all run test bench clean deps deps-build deps-run tsan-test
all: $(O)/p2mctl $(UNIT_BINS) $(BENCH_BINS) $(if $(wildcard tests/kvm/*.c),$(KVM_BIN)) \
     $(FUZZ_REPLAY)

$(O)/obj/xen/common/%.o $(O)/obj/xen/arch/x86/mm/%.o: MODULE := y
# Each object's header dependencies come from the compiler (-MMD -MP: a .d
# file beside the object, included at the end), not from every header; the
# Makefile (flags) too, which also rebuilds objects made before .d files.
DEPFLAGS := -MMD -MP
$(O)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(if $(MODULE),$(MOD_CFLAGS),$(HOST_CFLAGS)) $(DEPFLAGS) -c $< -o $@

$(LIB): $(MOD_OBJS) $(HOSTED_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(O)/p2mctl: $(P2MCTL_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(filter %.o,$^) $(LIB) $(LDFLAGS) -lm -o $@

$(O)/tests/%: tests/unit/%.c $(TEST_COMMON) $(LIB) $(wildcard tests/unit/common/*.h) | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -Itests/unit/common $< $(filter %.o,$^) $(TEST_COMMON) $(LIB) $(LDFLAGS) -lcmocka -o $@

# Pure-logic hvm/ sources (not in libp2m): module flags, each linked into
# its own unit test.
$(O)/obj/xen/arch/x86/hvm/%.o: MODULE := y
$(O)/tests/test_emulate: $(O)/obj/xen/arch/x86/hvm/emulate.o
$(O)/tests/test_vlapic: $(O)/obj/xen/arch/x86/hvm/vlapic.o
$(O)/tests/test_virtio: $(O)/obj/xen/arch/x86/hvm/virtio-mmio.o
$(O)/tests/test_virtio_balloon: $(O)/obj/xen/arch/x86/hvm/virtio-mmio.o \
                               $(O)/obj/xen/arch/x86/hvm/virtio-balloon.o
$(O)/tests/test_acpi: $(O)/obj/xen/arch/x86/hvm/acpi.o
$(O)/tests/test_vioapic: $(O)/obj/xen/arch/x86/hvm/vioapic.o \
                       $(O)/obj/xen/arch/x86/hvm/vlapic.o

$(O)/bench/%: bench/%.c bench/results.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $< $(LIB) $(LDFLAGS) -lm -o $@

# The fuzzer's regressions and corpus (tests/fuzz), replayed without
# libFuzzer; make test runs it like the unit tests.
$(FUZZ_REPLAY): $(wildcard tests/fuzz/*.c tests/fuzz/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(filter-out %/fuzz_main.c,$(filter %.c,$^)) \
	    $(LIB) $(LDFLAGS) -o $@

$(KVM_BIN): $(KVM_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(filter %.o,$^) $(LIB) $(LDFLAGS) -o $@

# Packages the tests need (Debian); a no-op when they are present.
deps:
	@sh tools/ensure-deps.sh test

# What `make` (all) needs: libcmocka-dev for the unit tests.  Order-only, so
# that it runs before the first cmocka link even under make -j.
deps-build:
	@sh tools/ensure-deps.sh build

run: deps-run $(O)/p2mctl
	./$(O)/p2mctl run examples/default.cfg --plot build/run.png

deps-run:
	@sh tools/ensure-deps.sh run || true

test: deps all
	@$(PY) tests/run_tests.py --build $(O)

# The concurrency stress test under ThreadSanitizer (CI runs it too).
tsan-test: deps
	@$(MAKE) -s tsan=y build/tsan/tests/test_pod_stress
	@CMOCKA_MESSAGE_OUTPUT=TAP TSAN_OPTIONS=halt_on_error=1 ./build/tsan/tests/test_pod_stress

# The P2M/PoD API fuzzer (tests/fuzz): clang libFuzzer build in build/fuzz,
# replays tests/fuzz/regressions and corpus, then fuzzes FUZZ_TIME seconds.
.PHONY: fuzz-test
fuzz-test:
	@sh tests/fuzz/run.sh

# Each bench prints its figures and writes them to $(O)/bench/<bench>.jsonl
# (bench/results.h); results.json joins them.  BENCH_ARGS=--quick for checks.
bench: all
	@rm -f $(O)/bench/*.jsonl
	@for b in $(BENCH_BINS); do \
	    BENCH_RESULTS_DIR=$(O)/bench ./$$b $(BENCH_ARGS) || exit 1; done
	@$(PY) bench/results.py $(O)/bench

clean:
	rm -rf build

# --- Bare-metal hypervisor image -------------------------------------------
#   make hv        build/hv/xen.elf32 (QEMU -kernel), build/hv/bochs.img (Bochs
#                  disk); the same with P2M_DEBUG audits in build/hv/debug/
#   make hv-test   boot them: QEMU SVM+NPT, Bochs VMX+EPT (with and without
#                  1G pages) and Bochs NPT (tests/hv/run.py)
#   make hv-test-debug   the debug images on QEMU (NPT) and Bochs (EPT)
#   make linux-test      Debian's kernel as an HVM guest, QEMU SVM and Bochs
#                  VMX (tests/hv/linux.py; fetches it into build/linux)
# The module sources (xen/common, xen/arch/x86/mm) are compiled again with
# bare-metal flags; xen/arch/x86/boot and hvm replace the hosted platform.
HV_O := build/hv
HV_CFLAGS := -std=gnu11 $(WARN) -g -ffreestanding -nostdinc -isystem $(GCC_INC) \
             -Ixen/include -fno-strict-aliasing -fno-pic -fno-pie \
             -fno-stack-protector -fcf-protection=none -mno-red-zone \
             -mgeneral-regs-only -mcmodel=small -fno-asynchronous-unwind-tables
# tests/hv/*.c, *.S: the scenarios, hostile-guest cases and embedded guests
# (test code, linked into the image).
HV_SRCS := $(MOD_SRCS) $(wildcard xen/arch/x86/boot/*.c xen/arch/x86/hvm/*.c \
                                  xen/arch/x86/hvm/*/*.c tests/hv/*.c)
HV_ASMS := $(wildcard xen/arch/x86/boot/*.S xen/arch/x86/hvm/*/*.S tests/hv/*.S)
HV_OBJS := $(HV_SRCS:.c=.o) $(HV_ASMS:.S=.o)
HV_LDS := xen/arch/x86/boot/hv.lds
# A Bochs disk image is a whole number of 16-head, 63-sector cylinders.
HV_SECTOR := 516096

# Guests: 32-bit flat binaries, one per tests/hv/guests/<name>.c, with the
# library (entry, glib; the hostile guest also its exception entry points),
# embedded in the image.
# The ABI they share with the hypervisor is xen/arch/x86/hvm/guest-abi.h.
GUEST_DIR := tests/hv/guests
GUEST_CFLAGS := -std=gnu11 $(WARN) -O2 -m32 -ffreestanding -nostdinc \
                -isystem $(GCC_INC) -I$(GUEST_DIR) -Ixen/arch/x86/hvm \
                -fno-pic -fno-pie -fno-stack-protector -fcf-protection=none \
                -mgeneral-regs-only -fno-asynchronous-unwind-tables
GUEST_LIB := $(GUEST_DIR)/start.S $(GUEST_DIR)/glib.c
GUEST_NAMES := $(filter-out glib,$(basename $(notdir $(wildcard $(GUEST_DIR)/*.c))))
GUEST_BINS := $(GUEST_NAMES:%=$(HV_O)/guests/%.bin)

.PHONY: hv hv-test hv-test-debug linux-test
hv: $(HV_O)/xen.elf32 $(HV_O)/bochs.img $(HV_O)/efi.img \
    $(HV_O)/debug/xen.elf32 $(HV_O)/debug/bochs.img $(HV_O)/debug/efi.img

$(HV_O)/guests/hostile.elf: GUEST_EXTRA := $(GUEST_DIR)/idt.S
$(HV_O)/guests/%.elf: $(GUEST_DIR)/%.c $(GUEST_LIB) $(GUEST_DIR)/guest.lds \
                      $(wildcard $(GUEST_DIR)/*.h $(GUEST_DIR)/*.S) \
                      xen/arch/x86/hvm/guest-abi.h
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -nostdlib -static -Wl,--build-id=none \
	    -Wl,--no-warn-rwx-segments -Wl,-T,$(GUEST_DIR)/guest.lds \
	    -o $@ $(GUEST_LIB) $(GUEST_EXTRA) $<

$(HV_O)/guests/%.bin: $(HV_O)/guests/%.elf
	objcopy -O binary $< $@

# hv_image(dir, extra cflags): objects, ELF, QEMU ELF32 and the Bochs disk.
define hv_image
$(1)/obj/%.o: %.c Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(HV_CFLAGS) $(2) $$(DEPFLAGS) -c $$< -o $$@

# .incbin'd guest binaries are not in the .d files: listed here.
$(1)/obj/%.o: %.S Makefile $(GUEST_BINS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(HV_CFLAGS) $(2) $$(DEPFLAGS) -Wa,-I$(HV_O)/guests -c $$< -o $$@

$(1)/xen.elf: $(HV_OBJS:%=$(1)/obj/%) $(HV_LDS)
	ld -nostdlib -z max-page-size=0x1000 --build-id=none \
	    --no-warn-rwx-segments -T $(HV_LDS) -o $$@ $$(filter %.o,$$^)

$(1)/xen.elf32: $(1)/xen.elf
	objcopy -O elf32-i386 $$< $$@

$(1)/xen.bin: $(1)/xen.elf
	objcopy -O binary $$< $$@

$(1)/bochs.img: $(1)/xen.bin $(1)/xen.elf xen/arch/x86/boot/bootsect.asm
	nasm -f bin -DKERNEL_SECTORS=$$$$(( ($$$$(stat -c %s $$<) + 511) / 512 )) \
	    -DKERNEL_ENTRY=0x$$$$(nm $(1)/xen.elf | \
	                          awk '$$$$3 == "_start" { print $$$$1 }') \
	    -o $(1)/bootsect.bin xen/arch/x86/boot/bootsect.asm
	cat $(1)/bootsect.bin $$< > $$@
	truncate -s %$(HV_SECTOR) $$@
endef

$(eval $(call hv_image,$(HV_O),-O2))
$(eval $(call hv_image,$(HV_O)/debug,-O1 -DP2M_DEBUG))

# The UEFI loader (xen/arch/x86/boot/efi): a PE32+ application built with
# gnu-efi's crt0, linker script and self-relocation, carrying xen.bin, which
# it copies to the link address; the entry and the image's end come from
# xen.elf.  efi.img: a FAT disk with it as EFI/BOOT/BOOTX64.EFI (mtools).
EFI_DIR := xen/arch/x86/boot/efi
EFI_CFLAGS := -std=gnu11 $(WARN) -O2 -ffreestanding -nostdinc \
              -isystem $(GCC_INC) -isystem /usr/include/efi \
              -isystem /usr/include/efi/x86_64 -fpic -fshort-wchar \
              -fno-stack-protector -fcf-protection=none -mno-red-zone \
              -mgeneral-regs-only -fno-asynchronous-unwind-tables \
              -DGNU_EFI_USE_MS_ABI
EFI_CRT0 := /usr/lib/crt0-efi-x86_64.o
EFI_LDS := /usr/lib/elf_x86_64_efi.lds
EFI_IMG_KIB := 4096

define efi_image
$(1)/efi/boot.o: $(EFI_DIR)/boot.c xen/arch/x86/boot/efi-abi.h \
                 xen/arch/x86/boot/boot-defs.h $(1)/xen.elf
	@mkdir -p $$(dir $$@)
	$$(CC) $$(EFI_CFLAGS) \
	    -DHV_EFI_ENTRY=0x$$$$(nm $(1)/xen.elf | \
	                          awk '$$$$3 == "efi_start64" { print $$$$1 }') \
	    -DHV_IMAGE_END=0x$$$$(nm $(1)/xen.elf | \
	                          awk '$$$$3 == "__image_end" { print $$$$1 }') \
	    -c $$< -o $$@

$(1)/efi/image.o: $(EFI_DIR)/image.S $(1)/xen.bin
	@mkdir -p $$(dir $$@)
	$$(CC) -c -Wa,-I$(1) $$< -o $$@

$(1)/efi/bootx64.so: $(1)/efi/boot.o $(1)/efi/image.o
	ld -nostdlib -znocombreloc -shared -Bsymbolic --no-warn-rwx-segments \
	    -T $(EFI_LDS) $(EFI_CRT0) $$^ -L/usr/lib -lgnuefi -o $$@

$(1)/BOOTX64.EFI: $(1)/efi/bootx64.so
	objcopy -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel \
	    -j .rela -j .rel.* -j .rela.* -j .reloc --target efi-app-x86_64 \
	    --subsystem=10 $$< $$@

$(1)/efi.img: $(1)/BOOTX64.EFI
	rm -f $$@.tmp
	truncate -s $(EFI_IMG_KIB)K $$@.tmp
	mformat -i $$@.tmp -v P2M ::
	mmd -i $$@.tmp ::/EFI ::/EFI/BOOT
	mcopy -i $$@.tmp $$< ::/EFI/BOOT/BOOTX64.EFI
	mv $$@.tmp $$@
endef

$(eval $(call efi_image,$(HV_O)))
$(eval $(call efi_image,$(HV_O)/debug))

hv-test: deps
	@$(MAKE) -s hv
	@$(PY) tests/hv/run.py --build $(HV_O)

hv-test-debug: deps
	@$(MAKE) -s hv
	@$(PY) tests/hv/run.py --build $(HV_O) --debug --only qemu-svm bochs-vmx-1g

linux-test: deps
	@$(MAKE) -s hv
	@$(PY) tests/hv/linux.py --build $(HV_O)

# Header dependencies recorded by -MMD (absent before the first build).
-include $(shell find build -name '*.d' 2>/dev/null)

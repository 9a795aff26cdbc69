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
  DBGFLAGS := -DP2M_DEBUG -O0 -g
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

.PHONY: all run test unit bench clean deps tsan-test
all: $(O)/p2mctl $(UNIT_BINS) $(BENCH_BINS) $(if $(wildcard tests/kvm/*.c),$(KVM_BIN))

$(O)/obj/xen/common/%.o $(O)/obj/xen/arch/x86/mm/%.o: MODULE := y
$(O)/obj/%.o: %.c $(wildcard xen/include/*/*.h xen/arch/x86/*/*.h tools/libxc/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(if $(MODULE),$(MOD_CFLAGS),$(HOST_CFLAGS)) -c $< -o $@

$(LIB): $(MOD_OBJS) $(HOSTED_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(O)/p2mctl: $(wildcard tools/p2mctl/*.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -Itools/p2mctl $(filter %.c,$^) $(LIB) $(LDFLAGS) -lm -o $@

$(O)/tests/%: tests/unit/%.c $(TEST_COMMON) $(LIB) $(wildcard tests/unit/common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -Itests/unit/common $< $(TEST_COMMON) $(LIB) $(LDFLAGS) -lcmocka -o $@

$(O)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $< $(LIB) $(LDFLAGS) -lm -o $@

$(KVM_BIN): $(wildcard tests/kvm/*.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(filter %.c,$^) $(LIB) $(LDFLAGS) -o $@

# Packages the tests need (Debian); a no-op when they are present.
deps:
	@sh tools/ensure-deps.sh test

run: deps-run all
	./$(O)/p2mctl run examples/default.cfg --plot build/run.png

deps-run:
	@sh tools/ensure-deps.sh run || true

test: deps all
	@$(PY) tests/run_tests.py --build $(O)

# The concurrency stress test under ThreadSanitizer (CI runs it too).
tsan-test: deps
	@$(MAKE) -s tsan=y build/tsan/tests/test_pod_stress
	@CMOCKA_MESSAGE_OUTPUT=TAP TSAN_OPTIONS=halt_on_error=1 ./build/tsan/tests/test_pod_stress

bench: all
	@for b in $(BENCH_BINS); do ./$$b || exit 1; done

clean:
	rm -rf build

# dblat: build with `make`, test with `make test`, show commands with V=1.
OUTPUT := .output
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VMLINUX_H ?= $(OUTPUT)/vmlinux.h
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE
CPPFLAGS := -I$(OUTPUT) -Iinclude -Iuser -MMD -MP
LDLIBS := -lbpf -lelf -lz -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(OUTPUT) -Iinclude -Ibpf $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
# Pure code the unit tests link against: everything but the BPF loader side.
PURE_OBJS := $(filter-out $(OUTPUT)/user/dblat.o $(OUTPUT)/user/tracer.o $(OUTPUT)/user/sampler.o $(OUTPUT)/user/stage_probes.o $(OUTPUT)/user/tls_probes.o,$(USER_OBJS))
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(patsubst tests/unit/%.c,$(OUTPUT)/unit/%.o,$(UNIT_SRCS))
DEMO_CLIENT := scripts/demo/libpq_pool_client
# zlib alone on a recording, timed by scripts/bench-consumer.sh
BENCH_INFLATE := scripts/bench/inflate
# empty programs on chosen tracepoints: the floor under scripts/bench-overhead.sh
BENCH_FLOOR := scripts/bench/hook-floor
# the least per-statement work of a design without syscall hooks or events
BENCH_STEADY := scripts/bench/steady-floor

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all test unit bench demo scenarios scenario clean fuzz
all: dblat

$(OUTPUT) $(OUTPUT)/user $(OUTPUT)/unit:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)scripts/gen-vmlinux-h.sh > $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MT $@ -MF $(@:.bpf.o=.bpf.d) -c $< -o $(@:.bpf.o=.tmp.bpf.o)
	$(Q)$(BPFTOOL) gen object $@ $(@:.bpf.o=.tmp.bpf.o)

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/user/%.o: user/%.c $(SKELS) | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

dblat: $(USER_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/unit/%.o: tests/unit/%.c | $(OUTPUT)/unit
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

$(OUTPUT)/unit_tests: $(UNIT_OBJS) $(PURE_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lelf -lz -lm -o $@

$(DEMO_CLIENT): $(DEMO_CLIENT).c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -I$(shell pg_config --includedir) $< -lpq -o $@

$(BENCH_INFLATE): $(BENCH_INFLATE).c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror $< -lz -o $@

$(BENCH_FLOOR): $(BENCH_FLOOR).c
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror $< -lbpf -o $@

$(OUTPUT)/steady-floor.bpf.o: $(BENCH_STEADY).bpf.c $(BENCH_STEADY).h $(VMLINUX_H) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -Iscripts/bench -c $< -o $(@:.bpf.o=.tmp.bpf.o)
	$(Q)$(BPFTOOL) gen object $@ $(@:.bpf.o=.tmp.bpf.o)

$(BENCH_STEADY): $(BENCH_STEADY).c $(BENCH_STEADY).h $(OUTPUT)/steady-floor.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -I$(OUTPUT) -Iscripts/bench $< -lbpf -lelf -lz -o $@

unit: $(OUTPUT)/unit_tests
	$(Q)$(OUTPUT)/unit_tests

test: dblat $(OUTPUT)/unit_tests $(if $(wildcard $(DEMO_CLIENT).c),$(DEMO_CLIENT))
	$(Q)UNIT_BIN=$(OUTPUT)/unit_tests tests/run.sh

fuzz:
	$(Q)mkdir -p $(OUTPUT)/fuzz
	$(Q)for f in tests/fuzz/*.c; do \
		n=$$(basename $$f .c); \
		$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Iuser $$f \
			tests/unit/bpf_sim.c user/pgwire.c user/fingerprint.c -o $(OUTPUT)/fuzz/$$n || exit 1; \
		$(OUTPUT)/fuzz/$$n -max_total_time=$${FUZZ_SECONDS:-30} || exit 1; \
	done

bench: dblat $(BENCH_INFLATE) $(BENCH_FLOOR) $(BENCH_STEADY)
	$(Q)scripts/bench-overhead.sh

# The demo sets up a fresh machine itself: packages first, then the build.
demo:
	$(Q)bash scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory dblat $(DEMO_CLIENT)
	$(Q)scripts/demo/run-demo.sh

scenarios: dblat
	$(Q)scripts/scenarios/run-all.sh

scenario: dblat
	$(Q)scripts/scenarios/$(ID).sh

clean:
	$(call msg,CLEAN)
	$(Q)rm -rf $(OUTPUT) dblat $(DEMO_CLIENT) $(BENCH_INFLATE) $(BENCH_FLOOR) $(BENCH_STEADY)

.DELETE_ON_ERROR:
.SECONDARY:

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/user/*.d $(OUTPUT)/unit/*.d)

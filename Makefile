# Lepton build. `make` builds the programs into build/; `make check` builds the
# sanitizer variants and runs every test (unit tests under ASan+UBSan, then the
# end-to-end tests against real servers), closing with pytest's summary line.

CC      ?= gcc
PKGS    := libmicrohttpd jansson sqlite3 libcurl
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wimplicit-fallthrough -Wvla -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_FORTIFY_SOURCE=2 -D_GNU_SOURCE -Isrc \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lpthread -lm
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

BASE_SRC   := $(wildcard src/base/*.c)
MODEL_SRC  := $(wildcard src/model/*.c)
SERVER_SRC := $(wildcard src/server/*.c)
CLI_SRC    := $(wildcard src/cli/*.c)
AGENT_SRC  := $(wildcard src/agent/*.c)
# The agent's libraries: netlink (src/nl), nftables (src/nft), DHCP (src/dhcp).
NL_SRC     := $(wildcard src/nl/*.c)
NFT_SRC    := $(wildcard src/nft/*.c)
DHCP_SRC   := $(wildcard src/dhcp/*.c)
AGENT_DEPS := $(NL_SRC) $(NFT_SRC) $(DHCP_SRC)
AGENT_PKGS := libmnl libnftables
AGENT_LDLIBS := $(shell pkg-config --libs $(AGENT_PKGS))
UNIT_SRC   := $(wildcard tests/unit/*.c)
LIB_SRC    := $(BASE_SRC) $(MODEL_SRC)
# The topology page's files (web/), embedded into lepton-server as C arrays.
WEB_FILES  := $(sort $(wildcard web/topology/*))
WEB_GEN     = $(B)/gen/webassets.c
# The unit tests link the pure parts of the server (everything but main.c).
SERVER_LIB := $(filter-out src/server/main.c,$(SERVER_SRC))
AGENT_LIB  := $(filter-out src/agent/main.c,$(AGENT_SRC))

B := build
S := build/san

.PHONY: all check unit e2e format format-check clean deps
PROGRAMS := lepton-server $(if $(CLI_SRC),lepton) $(if $(filter src/agent/main.c,$(AGENT_SRC)),lepton-agent)
all: $(addprefix $(B)/,$(PROGRAMS)) $(B)/lepton-lab

# lepton-lab is a Python command over the module src/lab/leptonlab (standard
# library only): build/ links to it, so it finds the programs there.
$(B)/lepton-lab: src/lab/lepton-lab src/lab/udhcpc-script $(wildcard src/lab/leptonlab/*.py)
	@mkdir -p $(B)
	@ln -sf ../src/lab/lepton-lab $@

deps:
	sh scripts/install-deps.sh

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(S)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC san  $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(SAN) -MMD -MP -c -o $@ $<

objs = $(patsubst %.c,$(1)/%.o,$(2))

LINK = @echo "  LD      $@"; $(CC) $(CFLAGS) $(LDFLAGS)
$(WEB_GEN): $(WEB_FILES) scripts/embed-web.sh
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@sh scripts/embed-web.sh $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(B)/lepton-server: $(call objs,$(B),$(LIB_SRC) $(DHCP_SRC) $(SERVER_SRC) $(WEB_GEN))
	$(LINK) -o $@ $^ $(LDLIBS)
$(B)/lepton: $(call objs,$(B),$(LIB_SRC) $(CLI_SRC))
	$(LINK) -o $@ $^ $(LDLIBS)

$(B)/lepton-agent: $(call objs,$(B),$(LIB_SRC) $(AGENT_DEPS) $(AGENT_SRC))
	$(LINK) -o $@ $^ $(LDLIBS) $(AGENT_LDLIBS)

$(S)/lepton-server: $(call objs,$(S),$(LIB_SRC) $(DHCP_SRC) $(SERVER_SRC) $(WEB_GEN))
	$(LINK) $(SAN) -o $@ $^ $(LDLIBS)
$(S)/lepton: $(call objs,$(S),$(LIB_SRC) $(CLI_SRC))
	$(LINK) $(SAN) -o $@ $^ $(LDLIBS)
$(S)/lepton-agent: $(call objs,$(S),$(LIB_SRC) $(AGENT_DEPS) $(AGENT_SRC))
	$(LINK) $(SAN) -o $@ $^ $(LDLIBS) $(AGENT_LDLIBS)
$(S)/unit-tests: $(call objs,$(S),$(LIB_SRC) $(SERVER_LIB) $(WEB_GEN) $(AGENT_LIB) $(AGENT_DEPS) $(UNIT_SRC))
	$(LINK) $(SAN) -o $@ $^ $(LDLIBS) $(AGENT_LDLIBS)

unit: $(S)/unit-tests
	$(S)/unit-tests

# `make install` (PREFIX=/usr/local, DESTDIR for a staging root): the CLI in
# BINDIR, the daemons in SBINDIR, their man pages, the systemd units (their
# ExecStart= pointing at SBINDIR) and, unless already there, the documented
# config files in SYSCONFDIR/lepton (CONFMODE 0600: they may hold secrets).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
CONFMODE   ?= 0600
INSTALL    ?= install
.PHONY: install
install: $(B)/lepton $(B)/lepton-server $(B)/lepton-agent
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/lepton
	$(INSTALL) -m 0755 $(B)/lepton $(DESTDIR)$(BINDIR)/lepton
	$(INSTALL) -m 0755 $(B)/lepton-server $(B)/lepton-agent $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0644 dist/man/lepton.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 dist/man/lepton-server.8 dist/man/lepton-agent.8 $(DESTDIR)$(MANDIR)/man8/
	for u in lepton-server lepton-agent; do \
		sed 's|/usr/sbin/|$(SBINDIR)/|; s|/etc/lepton/|$(SYSCONFDIR)/lepton/|' \
			dist/systemd/$$u.service > $(DESTDIR)$(UNITDIR)/$$u.service && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	for c in lepton-server.conf lepton-agent.conf; do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/lepton/$$c ] || \
		$(INSTALL) -m $(CONFMODE) dist/etc/$$c $(DESTDIR)$(SYSCONFDIR)/lepton/$$c || exit 1; \
	done

# The whole suite: pytest drives the unit-test binary (one pytest case per C
# test) and the end-to-end tests, so one summary line covers everything.
check: all $(S)/unit-tests $(addprefix $(S)/,$(PROGRAMS)) $(S)/fuzz/replay-dhcp
	LEPTON_BUILD=$(CURDIR)/$(B) LEPTON_SAN_BUILD=$(CURDIR)/$(S) \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider tests

# Benchmarks (bench/): `sh bench/api.sh` builds and runs the API benchmark;
# `make bench-l3`, `make bench-dataplane`, `make bench-snat` and
# `make bench-routed` (as root, BENCH_ARGS="--runs 5") run the lab benchmarks
# with Debian's python3; `make bench-scale` (BENCH_ARGS="--nodes 200",
# "--stores sqlite,etcd") servers under 1,000 agents' watch streams and 100k
# ports: one on SQLite, three over an etcd cluster.
.PHONY: bench-l3 bench-dataplane bench-snat bench-routed bench-scale
bench-l3 bench-dataplane bench-snat bench-routed bench-scale: bench-%: all
	/usr/bin/python3 bench/$*.py $(BENCH_ARGS)

$(B)/bench-api: $(call objs,$(B),bench/api.c)
	$(LINK) -o $@ $^ $(LDLIBS)

# Fuzzing. `make fuzz-dhcp` builds the libFuzzer target with clang (run it as
# build/fuzz/fuzz-dhcp tests/fuzz/corpus/dhcp -max_total_time=120);
# `make fuzz-replay` builds each target with gcc + ASan/UBSan against a plain
# main() (tests/fuzz/replay.c) and replays its checked-in corpus, no libFuzzer
# needed. A new target: tests/fuzz/fuzz_<name>.c, corpus/<name>/, and the
# rules below with its libraries.
.PHONY: fuzz-dhcp fuzz-replay fuzz-corpus-dhcp
FUZZ_CC    ?= clang
FUZZ_FLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -Isrc -g -O1 \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_DHCP_LIB := $(BASE_SRC) $(DHCP_SRC)

$(B)/fuzz/fuzz-dhcp: tests/fuzz/fuzz_dhcp.c $(FUZZ_DHCP_LIB) $(wildcard src/base/*.h src/dhcp/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) -lpthread
fuzz-dhcp: $(B)/fuzz/fuzz-dhcp

$(S)/fuzz/replay-dhcp: $(call objs,$(S),tests/fuzz/replay.c tests/fuzz/fuzz_dhcp.c $(FUZZ_DHCP_LIB))
	@mkdir -p $(dir $@)
	$(LINK) $(SAN) -o $@ $^ -lpthread
fuzz-replay: $(S)/fuzz/replay-dhcp
	$(S)/fuzz/replay-dhcp tests/fuzz/corpus/dhcp

$(B)/fuzz/gen-dhcp-corpus: $(call objs,$(B),tests/fuzz/gen_dhcp_corpus.c $(FUZZ_DHCP_LIB))
	@mkdir -p $(dir $@)
	$(LINK) -o $@ $^ -lpthread
fuzz-corpus-dhcp: $(B)/fuzz/gen-dhcp-corpus
	@mkdir -p tests/fuzz/corpus/dhcp
	$(B)/fuzz/gen-dhcp-corpus tests/fuzz/corpus/dhcp

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

# `build/bench-agent [ROUTERS [PORTS_PER_ROUTER]]`: the agent's pass on a big
# node without the kernel (in-memory kernel, nftables built, not applied).
$(B)/bench-agent: $(call objs,$(B),$(LIB_SRC) $(AGENT_LIB) $(AGENT_DEPS) bench/agent.c)
	$(LINK) -o $@ $^ $(LDLIBS) $(AGENT_LDLIBS)

# `build/bench-nft [PORTS]` (as root): the security-group tables applied
# to the kernel, in a network namespace of its own.
$(B)/bench-nft: $(call objs,$(B),$(LIB_SRC) $(AGENT_LIB) $(AGENT_DEPS) bench/nft.c)
	$(LINK) -o $@ $^ $(LDLIBS) $(AGENT_LDLIBS)

/* Distributed SNAT: block arithmetic, its config keys, the timestamps of
 * GRACE expiry (pure), and its index over a real store; the per-node view's
 * record of what it read, over a real store too. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/timeutil.h"
#include "server/config.h"
#include "server/nodeview.h"
#include "server/snat.h"
#include "server/snatindex.h"
#include "server/store.h"
#include "server/store_backend.h"
#include "test.h"

TEST(snat_block_geometry)
{
	struct snat_range b;

	/* The default: 63 blocks of 1024 cover 1024..65535 exactly. */
	CHECK(snat_block_count(1024) == 63);
	REQUIRE(snat_block_range(1024, 0, &b) == 0);
	CHECK(b.min == 1024 && b.max == 2047);
	REQUIRE(snat_block_range(1024, 62, &b) == 0);
	CHECK(b.min == 64512 && b.max == 65535);
	CHECK(snat_block_range(1024, 63, &b) == -ERANGE);
	CHECK(snat_block_count(64512) == 1);
	REQUIRE(snat_block_range(64512, 0, &b) == 0);
	CHECK(b.min == 1024 && b.max == 65535);
	CHECK(snat_block_count(1) == 64512);
	REQUIRE(snat_block_range(1, 64511, &b) == 0);
	CHECK(b.min == 65535 && b.max == 65535);
	/* A size that does not divide the range: the last block is short. */
	CHECK(snat_block_count(5000) == 13);
	REQUIRE(snat_block_range(5000, 12, &b) == 0);
	CHECK(b.min == 61024 && b.max == 65535);
	CHECK(snat_block_range(0, 0, &b) == -ERANGE);
}

TEST(snat_block_pick_skips_overlaps)
{
	struct snat_range used[3] = {{1024, 2047}, {3072, 3072}, {5000, 9000}}, b;

	REQUIRE(snat_block_pick(1024, NULL, 0, &b) == 0);
	CHECK(b.min == 1024 && b.max == 2047);
	/* 1024 and 3072 are taken, 2048-3071 is free; 4096 meets 5000-9000. */
	REQUIRE(snat_block_pick(1024, used, 3, &b) == 0);
	CHECK(b.min == 2048 && b.max == 3071);
	used[0].max = 3071;
	REQUIRE(snat_block_pick(1024, used, 3, &b) == 0);
	CHECK(b.min == 9216 && b.max == 10239);
	/* Everything taken (blocks of another geometry). */
	struct snat_range all[2] = {{1024, 40000}, {39000, 65535}};
	CHECK(snat_block_pick(21504, all, 2, &b) == -ENOSPC);
	all[1].min = 43008;
	REQUIRE(snat_block_pick(21504, all, 2, &b) == -ENOSPC);
	all[0].max = 22527; /* 22528-44031 still meets 43008- */
	CHECK(snat_block_pick(21504, all, 2, &b) == -ENOSPC);
	all[1].min = 44032;
	REQUIRE(snat_block_pick(21504, all, 2, &b) == 0);
	CHECK(b.min == 22528 && b.max == 44031);
}

TEST(snat_config_keys)
{
	struct server_config c;

	config_defaults(&c);
	CHECK(c.snat_block_size == 1024 && c.snat_block_grace == 120);
	CHECK(config_set(&c, "snat_block_size", "21504") == 0 && c.snat_block_size == 21504);
	CHECK(config_set(&c, "snat_block_size", "64512") == 0);
	CHECK(config_set(&c, "snat_block_size", "1") == 0);
	CHECK(config_set(&c, "snat_block_size", "1000") == -EINVAL); /* does not divide */
	CHECK(config_set(&c, "snat_block_size", "0") == -EINVAL);
	CHECK(config_set(&c, "snat_block_size", "129024") == -EINVAL);
	CHECK(config_set(&c, "snat_block_size", "-1024") == -EINVAL);
	CHECK(c.snat_block_size == 1);
	CHECK(config_set(&c, "snat_block_grace", "2") == 0 && c.snat_block_grace == 2);
	CHECK(config_set(&c, "snat_block_grace", "0") == -EINVAL);
	CHECK(config_set(&c, "snat_block_grace", "soon") == -EINVAL);
	config_done(&c);
}

TEST(time_iso_roundtrip)
{
	char buf[TIME_ISO_STRLEN];
	int64_t t = 0;

	time_iso_from_unix(1796083200, buf); /* 2026-12-01T00:00:00Z */
	CHECK_STREQ(buf, "2026-12-01T00:00:00Z");
	REQUIRE(time_iso_parse(buf, &t) == 0);
	CHECK(t == 1796083200);
	CHECK(time_iso_parse("2026-12-01T00:00:00", &t) == -EINVAL);
	CHECK(time_iso_parse("2026-12-01T00:00:00Zx", &t) == -EINVAL);
	CHECK(time_iso_parse("yesterday", &t) == -EINVAL);
	CHECK(time_iso_parse(NULL, &t) == -EINVAL);
	CHECK(time_iso_parse("", &t) == -EINVAL);
}

/* Removes a store's directory made by a test. */
static void remove_store_dir(const char *dir)
{
	static const char *const files[] = {"lepton.db", "lepton.db-wal", "lepton.db-shm"};
	char path[96];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		(void) unlink(path);
	}
	(void) rmdir(dir);
}

/* The index follows the store's cache through commits and rollbacks. */
static void put(struct store *s, const char *type, const char *id, const char *json)
{
	json_t *doc = json_loads(json, 0, NULL);

	REQUIRE(doc);
	json_object_set_new(doc, "id", json_string(id));
	REQUIRE(store_put(s, type, id, doc, !store_get_shared(s, type, id)) == 0);
	json_decref(doc);
}

TEST(snatindex_follows_commits_and_rollbacks)
{
	char dir[] = "/tmp/lepton-unit-snat-XXXXXX";
	struct store *s = NULL;

	REQUIRE(mkdtemp(dir));
	REQUIRE(store_open(dir, false, 1000, &s) == 0);
	store_lock(s);
	REQUIRE(store_begin(s) == 0);
	put(s, "port", "if1",
	    "{\"device_owner\": \"network:router_interface_distributed\", \"device_id\": \"r1\","
	    " \"fixed_ips\": [{\"subnet_id\": \"s1\"}]}");
	put(s, "port", "vm1",
	    "{\"device_owner\": \"compute:nova\", \"binding:host_id\": \"h1\","
	    " \"fixed_ips\": [{\"subnet_id\": \"s1\"}]}");
	put(s, "port", "dhcp",
	    "{\"device_owner\": \"network:dhcp\", \"binding:host_id\": \"h1\","
	    " \"fixed_ips\": [{\"subnet_id\": \"s1\"}]}");
	/* Uncommitted writes are seen. */
	snatindex_refresh(s);
	CHECK(json_object_get(snatindex_subnet_routers("s1"), "r1"));
	CHECK(json_object_get(snatindex_router_subnets("r1"), "s1"));
	CHECK(json_object_size(snatindex_subnet_hosts("s1")) == 1);
	REQUIRE(store_commit(s) == 0);
	/* A transaction moves the VM, then rolls back: the index follows. */
	REQUIRE(store_begin(s) == 0);
	put(s, "port", "vm1",
	    "{\"device_owner\": \"compute:nova\", \"binding:host_id\": \"h2\","
	    " \"fixed_ips\": [{\"subnet_id\": \"s1\"}]}");
	put(s, "snat_block", "b1", "{\"router_id\": \"r1\"}");
	snatindex_update(s, "snat_block", "b1");
	snatindex_refresh(s);
	CHECK(json_object_get(snatindex_subnet_hosts("s1"), "h2"));
	CHECK(!json_object_get(snatindex_subnet_hosts("s1"), "h1"));
	CHECK(json_object_get(snatindex_router_blocks("r1"), "b1"));
	store_rollback(s);
	snatindex_refresh(s);
	CHECK(json_object_get(snatindex_subnet_hosts("s1"), "h1"));
	CHECK(!json_object_get(snatindex_subnet_hosts("s1"), "h2"));
	CHECK(!snatindex_router_blocks("r1"));
	/* Committed changes arrive through the feed; deletes drop entries. */
	REQUIRE(store_begin(s) == 0);
	REQUIRE(store_delete(s, "port", "if1") == 0);
	put(s, "snat_block", "b2", "{\"router_id\": \"r1\"}");
	REQUIRE(store_commit(s) == 0);
	snatindex_refresh(s);
	CHECK(!snatindex_subnet_routers("s1") && !snatindex_router_subnets("r1"));
	CHECK(json_object_get(snatindex_router_blocks("r1"), "b2"));
	CHECK(json_object_get(snatindex_blocks_by_router(), "r1"));
	store_unlock(s);
	store_free(s);
	remove_store_dir(dir);
}

/* Two ports as the model holds them: the values they repeat are one
 * value (the pool's), their own are theirs; true when checked. */
static bool ports_share(struct store *s)
{
	json_t *a = store_get_shared(s, "port", "p1"), *b = store_get_shared(s, "port", "p2");
	json_t *ia, *ib;

	if (!a || !b)
		return false;
	ia = json_array_get(json_object_get(a, "fixed_ips"), 0);
	ib = json_array_get(json_object_get(b, "fixed_ips"), 0);
	CHECK(json_object_get(a, "network_id") == json_object_get(b, "network_id"));
	CHECK(json_object_get(a, "security_groups") == json_object_get(b, "security_groups"));
	CHECK(json_object_get(a, "binding:profile") == json_object_get(b, "binding:profile"));
	CHECK(json_object_get(a, "tags") == json_object_get(b, "tags"));
	CHECK(json_object_get(a, "description") == json_object_get(b, "description"));
	CHECK(json_object_get(ia, "subnet_id") == json_object_get(ib, "subnet_id"));
	/* Their own values stay theirs. */
	CHECK(json_object_get(a, "name") != json_object_get(b, "name"));
	CHECK(ia != ib);
	CHECK(streq(json_string_value(json_object_get(ia, "ip_address")), "10.0.0.2"));
	CHECK(streq(json_string_value(json_object_get(ib, "ip_address")), "10.0.0.3"));
	return !test_failed_now();
}

/* Whether port id's binding:profile dumps (compact) as text. */
static bool profile_is(struct store *s, const char *id, const char *text)
{
	char *got = json_dumps(json_object_get(store_get_shared(s, "port", id), "binding:profile"),
			       JSON_COMPACT);
	bool ok = got && streq(got, text);

	free(got);
	return ok;
}

/* Values documents repeat are kept once in the model (store_cache_doc),
 * after a write and after a load; a reader's copy is its own; values no
 * document holds leave the pool. */
TEST(store_shares_repeated_values)
{
	char dir[] = "/tmp/lepton-unit-pool-XXXXXX";
	static const char port[] =
		"{\"network_id\": \"n1\", \"name\": \"%s\", \"description\": \"\", \"tags\": [],"
		" \"binding:profile\": {}, \"security_groups\": [\"g1\", \"g2\"],"
		" \"fixed_ips\": [{\"subnet_id\": \"s1\", \"ip_address\": \"%s\"}]}";
	struct store *s = NULL;
	char json[512], id[32], *got;
	json_t *copy, *doc;
	size_t before;

	REQUIRE(mkdtemp(dir));
	REQUIRE(store_open(dir, false, 1000, &s) == 0);
	store_lock(s);
	REQUIRE(store_begin(s) == 0);
	snprintf(json, sizeof(json), port, "a", "10.0.0.2");
	put(s, "port", "p1", json);
	snprintf(json, sizeof(json), port, "b", "10.0.0.3");
	put(s, "port", "p2", json);
	REQUIRE(store_commit(s) == 0);
	REQUIRE(ports_share(s));
	/* A reader's copy is its own: changing it changes no document. */
	copy = store_get(s, "port", "p1");
	REQUIRE(copy);
	json_array_append_new(json_object_get(copy, "tags"), json_string("x"));
	json_object_set_new(copy, "network_id", json_string("n2"));
	json_decref(copy);
	CHECK(json_array_size(json_object_get(store_get_shared(s, "port", "p2"), "tags")) == 0);
	/* So is a writer's document, once written: the model keeps a copy
	 * (the pool's values, or copies of the writer's values). */
	snprintf(json, sizeof(json), port, "w", "10.0.0.9");
	doc = json_loads(json, 0, NULL);
	REQUIRE(doc);
	json_object_set_new(doc, "tags", json_pack("[s]", "t"));
	REQUIRE(store_begin(s) == 0);
	REQUIRE(store_put(s, "port", "w1", doc, true) == 0);
	REQUIRE(store_commit(s) == 0);
	json_string_set(json_object_get(doc, "name"), "changed");
	json_string_set(json_object_get(doc, "network_id"), "changed");
	json_array_append_new(json_object_get(doc, "tags"), json_string("u"));
	json_array_clear(json_object_get(doc, "security_groups"));
	json_string_set(
		json_object_get(json_array_get(json_object_get(doc, "fixed_ips"), 0), "ip_address"),
		"10.0.0.99");
	json_decref(doc);
	got = json_dumps(store_get_shared(s, "port", "w1"), JSON_COMPACT);
	CHECK(got &&
	      streq(got, "{\"network_id\":\"n1\",\"name\":\"w\",\"description\":\"\","
			 "\"tags\":[\"t\"],\"binding:profile\":{},"
			 "\"security_groups\":[\"g1\",\"g2\"],"
			 "\"fixed_ips\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.9\"}]}"));
	free(got);
	CHECK(json_object_get(store_get_shared(s, "port", "w1"), "security_groups") ==
	      json_object_get(store_get_shared(s, "port", "p1"), "security_groups"));
	/* A shared object reads back in the order its document wrote it. */
	REQUIRE(store_begin(s) == 0);
	put(s, "port", "o1", "{\"binding:profile\": {\"b\": 2, \"a\": 1}}");
	put(s, "port", "o2", "{\"binding:profile\": {\"a\": 1, \"b\": 2}}");
	put(s, "port", "o3", "{\"binding:profile\": {\"a\": 1, \"b\": 2}}");
	REQUIRE(store_commit(s) == 0);
	CHECK(profile_is(s, "o1", "{\"b\":2,\"a\":1}"));
	CHECK(profile_is(s, "o2", "{\"a\":1,\"b\":2}"));
	CHECK(json_object_get(store_get_shared(s, "port", "o2"), "binding:profile") ==
	      json_object_get(store_get_shared(s, "port", "o3"), "binding:profile"));
	CHECK(streq(
		json_string_value(json_object_get(store_get_shared(s, "port", "p2"), "network_id")),
		"n1"));
	/* Many values that go again: the pool forgets them at its next sweep. */
	REQUIRE(store_begin(s) == 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof(id), "q%d", i);
		snprintf(json, sizeof(json), "{\"network_id\": \"net-%d\"}", i);
		put(s, "port", id, json);
	}
	REQUIRE(store_commit(s) == 0);
	before = json_object_size(s->pool);
	CHECK(before > 3000);
	REQUIRE(store_begin(s) == 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof(id), "q%d", i);
		REQUIRE(store_delete(s, "port", id) == 0);
	}
	REQUIRE(store_commit(s) == 0);
	CHECK(json_object_size(s->pool) == before);
	REQUIRE(store_begin(s) == 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(json, sizeof(json), port, "c", "10.0.0.4");
		put(s, "port", "p3", json);
	}
	REQUIRE(store_commit(s) == 0);
	CHECK(json_object_size(s->pool) < 100);
	CHECK(ports_share(s));
	store_unlock(s);
	store_free(s);
	/* Loaded from disk, the model shares them too. */
	REQUIRE(store_open(dir, false, 1000, &s) == 0);
	store_lock(s);
	CHECK(ports_share(s));
	CHECK(json_object_get(store_get_shared(s, "port", "p3"), "network_id") ==
	      json_object_get(store_get_shared(s, "port", "p1"), "network_id"));
	store_unlock(s);
	store_free(s);
	remove_store_dir(dir);
}

/* With check_shared (LEPTON_CHECK_SHARED, set by the tests' servers), a
 * value documents share that was changed in place (against the model's
 * rule) stops the server at the next write, before it spreads. */
TEST(store_check_shared_stops_at_a_changed_shared_value)
{
	char dir[] = "/tmp/lepton-unit-poolcheck-XXXXXX";
	int status = 0;
	pid_t pid;

	REQUIRE(mkdtemp(dir));
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct store *s = NULL;

		if (store_open(dir, false, 1000, &s) != 0)
			_exit(2);
		s->check_shared = true;
		store_lock(s);
		if (store_begin(s) != 0)
			_exit(2);
		put(s, "port", "p1", "{\"tags\": [], \"network_id\": \"n1\"}");
		put(s, "port", "p2", "{\"tags\": [], \"network_id\": \"n1\"}");
		if (store_commit(s) != 0 || store_begin(s) != 0)
			_exit(2);
		put(s, "port", "p3", "{\"network_id\": \"n1\"}");
		json_array_append_new(json_object_get(store_get_shared(s, "port", "p1"), "tags"),
				      json_string("x"));
		put(s, "port", "p4", "{\"network_id\": \"n1\"}");
		_exit(0);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	remove_store_dir(dir);
}

/* A VM port's document on host h and network n, with extra fields. */
static void put_vm_port(struct store *s, const char *id, const char *h, const char *n,
			const char *extra)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"device_owner\": \"compute:nova\", \"binding:host_id\": \"%s\","
		 " \"network_id\": \"%s\", \"fixed_ips\": []%s}",
		 h, n, extra);
	put(s, "port", id, json);
}

/* The per-node view: a change to something the view did not read leaves it
 * as it is (may_differ false, which is exact); a change to a document it
 * holds, or to an index entry it looked up, may change it. */
TEST(nodeview_deps_are_what_the_view_read)
{
	char dir[] = "/tmp/lepton-unit-view-XXXXXX";
	struct store *s = NULL;
	struct nodeview *v = nodeview_new();
	struct nodeview_deps *deps = NULL;
	json_t *view;
	int64_t rev;

	REQUIRE(mkdtemp(dir));
	REQUIRE(store_open(dir, false, 1000, &s) == 0);
	store_lock(s);
	REQUIRE(store_begin(s) == 0);
	put(s, "network", "n1", "{\"provider:network_type\": \"vxlan\"}");
	put(s, "network", "n9", "{\"provider:network_type\": \"vxlan\"}");
	put_vm_port(s, "p1", "h1", "n1", "");
	put_vm_port(s, "p9", "h9", "n9", "");
	REQUIRE(store_commit(s) == 0);
	CHECK(nodeview_may_differ(v, s, store_revision(s), NULL)); /* nothing read yet */
	view = nodeview_compute(v, s, "h1", &deps);
	rev = store_revision(s);
	CHECK(json_object_get(json_object_get(view, "port"), "p1"));
	CHECK(json_object_get(json_object_get(view, "network"), "n1"));
	CHECK(!json_object_get(json_object_get(view, "port"), "p9"));
	CHECK(nodeview_deps_count(deps) >= 4); /* host index, p1, n1, n1's ports */
	CHECK(!nodeview_may_differ(v, s, rev, deps));
	/* Another host's port on another network: not read. */
	REQUIRE(store_begin(s) == 0);
	put_vm_port(s, "p9", "h9", "n9", ", \"name\": \"x\"");
	REQUIRE(store_commit(s) == 0);
	CHECK(!nodeview_may_differ(v, s, rev, deps));
	/* A new port on the node's network joins an index entry it read. */
	REQUIRE(store_begin(s) == 0);
	put_vm_port(s, "p2", "h2", "n1", "");
	REQUIRE(store_commit(s) == 0);
	CHECK(nodeview_may_differ(v, s, rev, deps));
	json_decref(view);
	nodeview_deps_free(deps);
	view = nodeview_compute(v, s, "h1", &deps);
	rev = store_revision(s);
	CHECK(json_object_get(json_object_get(view, "port"), "p2"));
	CHECK(!nodeview_may_differ(v, s, rev, deps));
	/* A document it holds changes. */
	REQUIRE(store_begin(s) == 0);
	put(s, "network", "n1", "{\"provider:network_type\": \"vxlan\", \"mtu\": 1400}");
	REQUIRE(store_commit(s) == 0);
	CHECK(nodeview_may_differ(v, s, rev, deps));
	json_decref(view);
	nodeview_deps_free(deps);
	nodeview_free(v);
	store_unlock(s);
	store_free(s);
	remove_store_dir(dir);
}

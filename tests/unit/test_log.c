/* Logging: every line one event of key=value fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include "base/log.h"
#include "test.h"

/* A NULL the compiler cannot see (it would warn of a null %s). */
static const char *volatile none;

TEST(log_event_writes_key_value_fields_quoting_what_needs_it)
{
	char *line = log_event_format(
		"server.request", "method=%s path=%s status=%d project=%s note=%s empty=%s ctl=%s",
		"GET", "/v2.0/networks", 200, none, "a b=\"c\"\\", "", "x\ny\x7f");

	CHECK_STREQ(line, "event=server.request method=GET path=/v2.0/networks status=200 "
			  "note=\"a b=\\\"c\\\"\\\\\" empty=\"\" ctl=\"x\\x0ay\\x7f\"");
	free(line);
	line = log_event_format("agent.stop", NULL);
	CHECK_STREQ(line, "event=agent.stop");
	free(line);
}

TEST(log_event_formats_every_conversion_as_one_value)
{
	char *line = log_event_format(
		"agent.pass",
		"kind=%s ports=%zu ms=%llu rev=%lld neg=%d hex=%#x w=%5s p=%.2s "
		"star=%*d f=%.3f c=%c pct=100%% lit=x",
		"full_resync", (size_t) 12, 34ULL, -5LL, -1, 255u, "ab", "abcdef", 4, 7, 1.5, 'z');

	CHECK_STREQ(line, "event=agent.pass kind=full_resync ports=12 ms=34 rev=-5 neg=-1 "
			  "hex=0xff w=\"   ab\" p=ab star=\"   7\" f=1.500 c=z pct=100% lit=x");
	free(line);
	line = log_event_format("e", "hh=%hhd h=%hu l=%ld lu=%lu z=%zd j=%jd t=%td o=%o", 300,
				(unsigned short) 70000u, -7L, 7UL, (ssize_t) -3, (intmax_t) -9,
				(ptrdiff_t) -2, 8u);
	CHECK_STREQ(line, "event=e hh=44 h=4464 l=-7 lu=7 z=-3 j=-9 t=-2 o=10");
	free(line);
	/* NULL fields go with their separator, first, middle and last. */
	line = log_event_format("e", "a=%s b=%s c=%s", none, "2", none);
	CHECK_STREQ(line, "event=e b=2");
	free(line);
}

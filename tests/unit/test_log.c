/* Logging: key=value event lines. */
#include "base/log.h"
#include "test.h"

TEST(log_event_writes_key_value_fields_quoting_what_needs_it)
{
	char *line = log_event_format("request", "method", "GET", "path", "/v2.0/networks",
				      "status", "200", "project", NULL, "note", "a b=\"c\"\\",
				      "empty", "", "ctl", "x\ny\x7f", NULL);

	CHECK_STREQ(line, "event=request method=GET path=/v2.0/networks status=200 "
			  "note=\"a b=\\\"c\\\"\\\\\" empty=\"\" ctl=\"x\\x0ay\\x7f\"");
	free(line);
	line = log_event_format("start", NULL);
	CHECK_STREQ(line, "event=start");
	free(line);
}

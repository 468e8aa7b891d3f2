/* base: uuid, strbuf. */
#include "base/strbuf.h"
#include "base/uuid.h"
#include "test.h"

TEST(uuid_generate_is_valid_and_unique)
{
	char a[UUID_STRLEN], b[UUID_STRLEN];

	uuid_generate(a);
	uuid_generate(b);
	CHECK(uuid_is_valid(a));
	CHECK(uuid_is_valid(b));
	CHECK(strcmp(a, b) != 0);
	CHECK(a[14] == '4');
}

TEST(uuid_is_valid_refuses_malformed)
{
	CHECK(!uuid_is_valid(NULL));
	CHECK(!uuid_is_valid(""));
	CHECK(!uuid_is_valid("not-a-uuid"));
	CHECK(!uuid_is_valid("0123456789abcdef0123456789abcdef0123"));
	CHECK(!uuid_is_valid("01234567-89ab-cdef-0123-456789abcdeg"));
	CHECK(uuid_is_valid("01234567-89AB-cdef-0123-456789abcdef"));
}

TEST(strbuf_grows_and_formats)
{
	struct strbuf sb = STRBUF_INIT;

	CHECK_STREQ(strbuf_str(&sb), "");
	for (int i = 0; i < 1000; i++)
		strbuf_appendf(&sb, "%d,", i);
	CHECK(sb.len > 3000);
	CHECK(strncmp(sb.buf, "0,1,2,", 6) == 0);
	strbuf_done(&sb);
}

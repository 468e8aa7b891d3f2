/* Time helpers. */
#include "base/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

void time_now_iso(char buf[static TIME_ISO_STRLEN])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, TIME_ISO_STRLEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

uint64_t time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

void time_iso_from_unix(int64_t secs, char buf[static TIME_ISO_STRLEN])
{
	time_t t = (time_t) secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, TIME_ISO_STRLEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int time_iso_parse(const char *s, int64_t *ret)
{
	struct tm tm = {0};
	int n = 0;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 20 || s[n])
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ret = (int64_t) timegm(&tm);
	return 0;
}

uint64_t time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

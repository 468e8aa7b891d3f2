/* Time helpers. */
#pragma once

#include <stdint.h>

#define TIME_ISO_STRLEN 21 /* "2026-11-24T02:43:52Z" + NUL */

/* Now, UTC, as Neutron formats timestamps: "YYYY-MM-DDTHH:MM:SSZ". */
void time_now_iso(char buf[static TIME_ISO_STRLEN]);
/* Monotonic clock in milliseconds. */
uint64_t time_mono_ms(void);
/* Seconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ". */
void time_iso_from_unix(int64_t secs, char buf[static TIME_ISO_STRLEN]);
/* Parses "YYYY-MM-DDTHH:MM:SSZ" (UTC); -EINVAL when malformed. */
int time_iso_parse(const char *s, int64_t *ret);
/* Monotonic clock in microseconds. */
uint64_t time_mono_us(void);

/* Process-wide logging to stderr with a level threshold. Every line is one
 * event of key=value fields (logfmt, journal friendly):
 *
 *   ts=2026-12-02T04:42:15.123Z level=info prog=lepton-agent event=agent.pass kind=sync ...
 *
 * Libraries never log above debug; daemons log where an error reaches them.
 * Event names are dotted (agent.pass, server.request); keys are lower case
 * words joined by '_'. Never log a secret (token, password). */
#pragma once

#include "base/util.h"

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(enum log_level level);
void log_set_ident(const char *ident);
/* Whether an event of that level is written (to spare building its fields). */
bool log_enabled(enum log_level level);

/* Logs event NAME with the fields of fmt, a printf format of space-separated
 * "key=%conv" (or "key=literal") fields: "ports=%zu ms=%llu err=%s". What a
 * conversion expands to is one value, written in double quotes when it is
 * empty or holds a space, '"', '=', '\\' or a control character ('"' and '\\'
 * escaped, control characters as \xHH). A %s given NULL leaves its field
 * out. fmt NULL: no field. */
void log_event(enum log_level level, const char *event, const char *fmt, ...) _printf_(3, 4)
	__attribute__((nonnull(2)));
/* The "event=NAME key=value ..." part of the line log_event() writes (caller
 * frees); for tests. */
char *log_event_format(const char *event, const char *fmt, ...) _printf_(2, 3)
	__attribute__((nonnull(1)));

/* A callback for every warning and error logged (the "event=..." part, cut
 * at 511 bytes), run after the line is written, from the thread that logged
 * it; NULL removes it. For a daemon's metrics (its last error). */
void log_set_hook(void (*fn)(enum log_level level, const char *message));

/* Process-wide logging to stderr with a level threshold. Libraries never log
 * above debug; daemons log where an error reaches them. */
#pragma once

#include "base/util.h"

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(enum log_level level);
void log_set_ident(const char *ident);
void log_msg(enum log_level level, const char *fmt, ...) _printf_(2, 3);
/* A callback for every warning and error logged (message without the time,
 * identity and level prefix; cut at 511 bytes), run after the line is
 * written, from the thread that logged it; NULL removes it. For a daemon's
 * metrics (its last error). */
void log_set_hook(void (*fn)(enum log_level level, const char *message));

/* One event as key=value fields, journal friendly:
 * "event=NAME key=value key=value ...". Takes (key, value) string pairs and a
 * NULL after the last; a NULL value leaves its key out. Values that are empty
 * or hold a space, '"', '=', '\\' or a control character are written in
 * double quotes with '"' and '\\' escaped and control characters as \xHH. */
void log_event(enum log_level level, const char *event, ...) __attribute__((sentinel));
/* The line log_event() writes after the level (caller frees); for tests. */
char *log_event_format(const char *event, ...) __attribute__((sentinel));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/* Random (version 4) UUIDs in their canonical 36-character text form. */
#pragma once

#include <stdbool.h>

#define UUID_STRLEN 37

/* Fills buf from getrandom(2). */
void uuid_generate(char buf[static UUID_STRLEN]);
/* Whether s is a UUID in 8-4-4-4-12 hex form (any version, either case). */
bool uuid_is_valid(const char *s);

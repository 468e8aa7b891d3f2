/* API errors: an HTTP status plus Neutron's error type and message, carried
 * from wherever input is found wrong up to the HTTP adapter, which renders
 * {"NeutronError": {"type", "message", "detail"}}. */
#pragma once

#include "base/util.h"

struct api_error {
	int status; /* 0: no error */
	char type[64];
	char *message;
};

/* Records the error (the first one wins) and returns -EINVAL, so a caller can
 * write `return api_fail(err, 404, "NetworkNotFound", "...", id);`. */
int api_fail(struct api_error *err, int status, const char *type, const char *fmt, ...)
	_printf_(4, 5);
/* Shorthands for Neutron's most common types. */
#define api_bad_request(err, ...)    api_fail(err, 400, "HTTPBadRequest", __VA_ARGS__)
#define api_invalid_input(err, ...)  api_fail(err, 400, "InvalidInput", __VA_ARGS__)
#define api_forbidden(err, ...)	     api_fail(err, 403, "PolicyNotAuthorized", __VA_ARGS__)
#define api_conflict(err, type, ...) api_fail(err, 409, type, __VA_ARGS__)

void api_error_done(struct api_error *err);

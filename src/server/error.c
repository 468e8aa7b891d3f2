/* API error records. */
#include "server/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include "base/xalloc.h"

int api_fail(struct api_error *err, int status, const char *type, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (!err || err->status)
		return -EINVAL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = xstrdup("error");
	va_end(ap);
	err->status = status;
	snprintf(err->type, sizeof(err->type), "%s", type);
	err->message = msg;
	return -EINVAL;
}

void api_error_done(struct api_error *err)
{
	free(err->message);
	*err = (struct api_error){0};
}

/* Random bytes from getrandom(2); a failure here is fatal (no entropy). */
#include "base/random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

void random_bytes(void *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = getrandom((char *) buf + done, size - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("getrandom");
			abort();
		}
		done += (size_t) n;
	}
}

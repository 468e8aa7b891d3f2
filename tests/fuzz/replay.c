/* Replays files (or every file in directories) through a fuzz target's
 * LLVMFuzzerTestOneInput, without libFuzzer: built with gcc and ASan+UBSan
 * so that CI checks the corpus on every change. Inputs are read whole, up
 * to REPLAY_MAX_SIZE. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/util.h"
#include "fuzz.h"

#define REPLAY_MAX_SIZE (1024 * 1024)

static void closep(FILE **f)
{
	if (*f)
		(void) fclose(*f);
}

static void closedirp(DIR **d)
{
	if (*d)
		(void) closedir(*d);
}

static int replay_file(const char *path)
{
	_cleanup_(closep) FILE *f = fopen(path, "rb");
	_cleanup_free_ uint8_t *buf = NULL;
	size_t n;

	if (!f)
		return -errno;
	buf = malloc(REPLAY_MAX_SIZE);
	if (!buf)
		return -ENOMEM;
	n = fread(buf, 1, REPLAY_MAX_SIZE, f);
	if (ferror(f))
		return -EIO;
	/* An exactly sized copy, so that ASan catches reads past the input. */
	{
		_cleanup_free_ uint8_t *exact = malloc(n ? n : 1);

		if (!exact)
			return -ENOMEM;
		memcpy(exact, buf, n);
		(void) LLVMFuzzerTestOneInput(exact, n);
	}
	return 1;
}

static int replay_path(const char *path)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *e;
	struct stat sb;
	int count = 0, r;

	if (stat(path, &sb) < 0)
		return -errno;
	if (!S_ISDIR(sb.st_mode))
		return replay_file(path);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		_cleanup_free_ char *p = NULL;

		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", path, e->d_name) < 0)
			return -ENOMEM;
		r = replay_file(p);
		if (r < 0) {
			fprintf(stderr, "replay: %s: %s\n", p, strerror(-r));
			return r;
		}
		count += r;
	}
	return count;
}

int main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int r = replay_path(argv[i]);

		if (r < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-r));
			return 1;
		}
		total += r;
	}
	printf("replayed %d inputs\n", total);
	return 0;
}

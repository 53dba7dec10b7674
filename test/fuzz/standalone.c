/*
 * standalone.c: replays a fuzz corpus through a LLVMFuzzerTestOneInput() target without
 * libFuzzer, so `make check` exercises every corpus input with gcc and under the
 * sanitizer build. Prints TAP: one case per corpus file; a crash fails the whole program.
 * Must not depend on anything but the target and libc.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	FILE *f = fopen(path, "rb");

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0 || st.st_size > (16 << 20)) {
		fclose(f);
		return -EFBIG;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf || fread(*buf, 1, *len, f) != *len) {
		free(*buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	d = opendir(argv[1]);
	if (!d) {
		printf("1..0 # SKIP cannot open corpus %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				return 1;
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		uint8_t *buf = NULL;
		size_t len = 0;
		int rc;

		snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
		rc = read_file(path, &buf, &len);
		if (rc < 0) {
			printf("not ok %zu - %s: %s\n", i + 1, names[i], strerror(-rc));
			bad = 1;
		} else {
			LLVMFuzzerTestOneInput(buf, len);
			free(buf);
			printf("ok %zu - %s (%zu bytes)\n", i + 1, names[i], len);
		}
		fflush(stdout);
		free(names[i]);
	}
	free(names);
	return bad;
}

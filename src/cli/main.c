/* main.c — the native host for cli.c: stdio files, temp file + rename. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static enum cle_status read_file(void *ud, const char *path, const struct cle_alloc *a,
				 uint8_t **p, size_t *n, struct cle_error *e)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;
	size_t size, got = 0;

	(void)ud;
	*p = NULL;
	*n = 0;
	if (f == NULL)
		return cle_errorf(e, CLE_E_IO, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return cle_errorf(e, CLE_E_IO, "%s is not a regular file", path);
	}
	if ((uintmax_t)st.st_size > SIZE_MAX) {
		fclose(f);
		return cle_errorf(e, CLE_E_LIMIT, "%s is too large for this build", path);
	}
	size = (size_t)st.st_size;
	if (size == 0) {
		fclose(f);
		return CLE_OK; /* empty: no block */
	}
	buf = cle_malloc(a, size);
	if (buf == NULL) {
		fclose(f);
		return cle_errorf(e, CLE_E_NOMEM, "out of memory reading %s (%zu bytes)", path, size);
	}
	while (got < size) {
		size_t k = fread(buf + got, 1, size - got, f);

		if (k == 0)
			break;
		got += k;
	}
	if (got != size || ferror(f)) {
		enum cle_status s = cle_errorf(e, CLE_E_IO, "cannot read %s: %s", path,
					       ferror(f) ? strerror(errno) : "it changed while being read");

		fclose(f);
		cle_free(a, buf, size);
		return s;
	}
	fclose(f);
	*p = buf;
	*n = size;
	return CLE_OK;
}

struct out_file {
	FILE *f;
	char *path, *tmp;
};

static enum cle_status out_open(void *ud, const char *path, void **file, struct cle_error *e)
{
	struct out_file *o = calloc(1, sizeof *o);
	size_t n = strlen(path);

	(void)ud;
	if (o == NULL || (o->path = strdup(path)) == NULL || (o->tmp = malloc(n + 32)) == NULL) {
		if (o)
			free(o->path);
		free(o);
		return cle_errorf(e, CLE_E_NOMEM, "out of memory");
	}
	snprintf(o->tmp, n + 32, "%s.tmp-%ld", path, (long)getpid());
	o->f = fopen(o->tmp, "wb");
	if (o->f == NULL) {
		enum cle_status s = cle_errorf(e, CLE_E_IO, "cannot write %s: %s", path, strerror(errno));

		free(o->tmp);
		free(o->path);
		free(o);
		return s;
	}
	*file = o;
	return CLE_OK;
}

static enum cle_status out_write(void *ud, void *file, const uint8_t *p, size_t n,
				 struct cle_error *e)
{
	struct out_file *o = file;

	(void)ud;
	if (fwrite(p, 1, n, o->f) != n)
		return cle_errorf(e, CLE_E_IO, "cannot write %s: %s", o->path, strerror(errno));
	return CLE_OK;
}

static enum cle_status out_close(void *ud, void *file, bool commit, struct cle_error *e)
{
	struct out_file *o = file;
	enum cle_status st = CLE_OK;
	bool ok = fflush(o->f) == 0 && fsync(fileno(o->f)) == 0;

	(void)ud;
	ok = (fclose(o->f) == 0) && ok;
	if (commit && ok && rename(o->tmp, o->path) != 0)
		ok = false;
	if (commit && !ok)
		st = cle_errorf(e, CLE_E_IO, "cannot write %s: %s", o->path, strerror(errno));
	if (!commit || !ok)
		remove(o->tmp);
	free(o->tmp);
	free(o->path);
	free(o);
	return st;
}

static void print(void *ud, int fd, const char *s, size_t n)
{
	(void)ud;
	fwrite(s, 1, n, fd == 2 ? stderr : stdout);
}

static bool color(void *ud, int fd)
{
	const char *nc = getenv("NO_COLOR");

	(void)ud;
	return isatty(fd) && (nc == NULL || nc[0] == '\0');
}

static bool tty(void *ud, int fd)
{
	(void)ud;
	return isatty(fd);
}

int main(int argc, char *argv[])
{
	struct cli_host h = {read_file, out_open, out_write, out_close, print, color, tty, NULL,
			     &cle_system_alloc};
	int rc = cli_main(argc, argv, &h);

	if (fflush(stdout) != 0)
		return 2;
	return rc;
}

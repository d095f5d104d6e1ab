/* main.c — the native host for cli.c: files read through one descriptor
 * (a FIFO or a device is refused, never opened to block), external data only
 * from inside the model's folder once links are resolved; outputs to a temp
 * file + rename. */
#define _XOPEN_SOURCE 700 /* realpath, S_ISSOCK */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* What a file that is not a regular one is, for the sentence refusing it. */
static const char *kind_of(mode_t m)
{
	if (S_ISDIR(m))
		return "a folder";
	if (S_ISFIFO(m))
		return "a pipe";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	if (S_ISSOCK(m))
		return "a socket";
	return "something else";
}

/* Whether the resolved path real lies inside the resolved folder dir. */
static bool path_inside(const char *real, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(real, dir, n) == 0 && real[n] == '/';
}

static enum cle_status read_file(void *ud, const char *path, const char *within,
				 const struct cle_alloc *a, uint8_t **p, size_t *n,
				 struct cle_error *e)
{
	char real[PATH_MAX], real_dir[PATH_MAX];
	const char *name = path; /* what is opened: the resolved path when it was checked */
	struct stat st;
	uint8_t *buf = NULL;
	size_t size = 0, got = 0;
	int fd = -1;
	enum cle_status s;

	(void)ud;
	*p = NULL;
	*n = 0;
	if (within != NULL) {
		if (realpath(path, real) == NULL)
			return cle_errorf(e, CLE_E_IO, "cannot open %s: %s", path, strerror(errno));
		if (realpath(within, real_dir) == NULL)
			return cle_errorf(e, CLE_E_IO, "cannot open %s: %s", within, strerror(errno));
		if (!path_inside(real, real_dir))
			return cle_errorf(e, CLE_E_UNSUPPORTED,
					  "external data file %s leads outside the model's folder through a "
					  "symbolic link", path);
		name = real;
	}
	/* refused by its kind before it is opened: opening a FIFO blocks, a device may act */
	if (stat(name, &st) != 0)
		return cle_errorf(e, CLE_E_IO, "cannot open %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cle_errorf(e, CLE_E_UNSUPPORTED, "%s is %s, not a regular file", path,
				  kind_of(st.st_mode));
	/* O_NONBLOCK: should it have become a FIFO since, open does not wait for a writer */
	fd = open(name, O_RDONLY | O_NONBLOCK | O_NOCTTY | (within ? O_NOFOLLOW : 0));
	if (fd < 0)
		return cle_errorf(e, CLE_E_IO, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		s = cle_errorf(e, CLE_E_IO, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		s = cle_errorf(e, CLE_E_UNSUPPORTED, "%s is %s, not a regular file", path,
			       kind_of(st.st_mode));
		goto fail;
	}
	if ((uintmax_t)st.st_size > SIZE_MAX) {
		s = cle_errorf(e, CLE_E_LIMIT, "%s is too large for this build", path);
		goto fail;
	}
	size = (size_t)st.st_size;
	if (size == 0) {
		close(fd);
		return CLE_OK; /* empty: no block */
	}
	buf = cle_malloc(a, size);
	if (buf == NULL) {
		s = cle_errorf(e, CLE_E_NOMEM, "out of memory reading %s (%zu bytes)", path, size);
		goto fail;
	}
	while (got < size) {
		ssize_t k = read(fd, buf + got, size - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			s = cle_errorf(e, CLE_E_IO, "cannot read %s: %s", path, strerror(errno));
			goto fail;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (got != size) {
		s = cle_errorf(e, CLE_E_IO, "cannot read %s: it changed while being read", path);
		goto fail;
	}
	close(fd);
	*p = buf;
	*n = size;
	return CLE_OK;
fail:
	cle_free(a, buf, size);
	close(fd);
	return s;
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

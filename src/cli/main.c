/* main.c — the native host for cli.c: files read through one descriptor
 * (a FIFO or a device is refused, never opened to block), external data only
 * from inside the model's folder once links are resolved, and outputs written
 * to a temporary file beside them (created exclusively, under a name no one
 * can guess) that is renamed into place when complete, or removed: on
 * failure, on SIGINT, SIGTERM and SIGHUP, and by a later run when the run
 * that made it was killed (SIGKILL cannot be caught). */
#define _XOPEN_SOURCE 700 /* realpath, S_ISSOCK, NAME_MAX */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
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

static enum cle_status out_check(void *ud, const char *path, struct cle_error *e)
{
	struct stat st;

	(void)ud;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return cle_errorf(e, CLE_E_IO, "cannot write %s: it is %s, not a regular file", path,
				  kind_of(st.st_mode));
	return CLE_OK; /* absent (or unreadable): creating the temporary file says why not */
}

/* ---- temporary files ----------------------------------------------------
 * OUT is written to ".NAME.onnx-cle-PID-XXXXXX" in OUT's folder (NAME: OUT's
 * file name; XXXXXX: six random letters and digits), made with
 * O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, so nothing planted at that name
 * is followed or written, and no one else can read it half-written.  The
 * final mode is set just before the rename. */

#define TEMP_TAG ".onnx-cle-"
#define TEMP_RANDOM 6

/* The temporary files in use, for the signal handler: the only global
 * state, as a handler has no other way to its work.  Written with the
 * signals blocked; the handler only reads them and calls unlink(). */
static char temp_path[2][PATH_MAX];
static volatile sig_atomic_t temp_live[2];

static void on_signal(int sig)
{
	int i;

	for (i = 0; i < 2; i++)
		if (temp_live[i])
			unlink(temp_path[i]);
	signal(sig, SIG_DFL);
	raise(sig); /* delivered on return: the process ends of the signal, as it would have */
}

static void signals_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, old);
}

/* Six random letters and digits; /dev/urandom, else the clock and pid
 * (O_EXCL keeps even a guessed name from being used against us). */
static void temp_random(char out[TEMP_RANDOM + 1])
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[TEMP_RANDOM];
	int fd = open("/dev/urandom", O_RDONLY);
	int i;

	if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r) {
		struct timespec ts;
		unsigned long x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (unsigned long)ts.tv_nsec ^ ((unsigned long)ts.tv_sec << 20) ^ (unsigned long)getpid();
		for (i = 0; i < TEMP_RANDOM; i++, x = x * 6364136223846793005UL + 1442695040888963407UL)
			r[i] = (unsigned char)(x >> 33);
	}
	if (fd >= 0)
		close(fd);
	for (i = 0; i < TEMP_RANDOM; i++)
		out[i] = alnum[r[i] % (sizeof alnum - 1)];
	out[TEMP_RANDOM] = '\0';
}

/* Whether name (in OUT's folder) is a temporary file of OUT made by a
 * process that is gone: the name's pattern, with a pid that no longer
 * exists (kill(pid, 0) says ESRCH), and not another user's. */
static bool temp_stale(const char *dir, const char *name, const char *prefix)
{
	char path[PATH_MAX];
	const char *s = name + strlen(prefix);
	struct stat st;
	long pid = 0;
	int digits = 0, i;

	if (strncmp(name, prefix, strlen(prefix)) != 0)
		return false;
	for (; *s >= '0' && *s <= '9' && digits < 10; s++, digits++)
		pid = pid * 10 + (*s - '0');
	if (digits == 0 || *s != '-' || pid <= 0 || pid > INT_MAX)
		return false;
	for (i = 1; i <= TEMP_RANDOM; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return false;
	}
	if (s[TEMP_RANDOM + 1] != '\0' || pid == (long)getpid())
		return false;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return false;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return false;
	return lstat(path, &st) == 0 && st.st_uid == geteuid() &&
	       (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode));
}

/* Removes what killed runs left of OUT's temporary files in dir. */
static void temp_remove_stale(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (temp_stale(dir, de->d_name, prefix) &&
		    (size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < sizeof path)
			unlink(path); /* a link is removed, never followed */
	}
	closedir(d);
}

struct out_file {
	FILE *f;
	int slot; /* in temp_path */
	char path[PATH_MAX];
};

static enum cle_status out_open(void *ud, const char *path, void **file, struct cle_error *e)
{
	struct out_file *o;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char dir[PATH_MAX], prefix[NAME_MAX + 2], tmp[PATH_MAX], rnd[TEMP_RANDOM + 1];
	enum cle_status st;
	sigset_t old;
	int fd = -1, slot, tries, err = 0;

	(void)ud;
	if ((st = out_check(ud, path, e)) != CLE_OK)
		return st;
	slot = temp_live[0] ? 1 : 0;
	if (temp_live[slot])
		return cle_errorf(e, CLE_E_INTERNAL, "more than two output files at once");
	if (strlen(path) >= sizeof o->path)
		return cle_errorf(e, CLE_E_LIMIT, "cannot write %s: the path is too long", path);
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
		 slash ? path : ".");
	if ((size_t)snprintf(prefix, sizeof prefix, ".%s" TEMP_TAG, base) >= sizeof prefix)
		return cle_errorf(e, CLE_E_IO, "cannot write %s: %s", path, strerror(ENAMETOOLONG));
	temp_remove_stale(dir, prefix);
	o = calloc(1, sizeof *o);
	if (o == NULL)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory");
	strcpy(o->path, path);
	for (tries = 0; fd < 0 && tries < 100; tries++) {
		temp_random(rnd);
		if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s%ld-%s", dir, prefix, (long)getpid(), rnd) >=
		    sizeof tmp) {
			err = ENAMETOOLONG;
			break;
		}
		/* created and registered with the signals held, so a handler sees it or it is not there */
		signals_block(&old);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0600);
		err = errno;
		if (fd >= 0) {
			strcpy(temp_path[slot], tmp);
			temp_live[slot] = 1;
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (fd < 0 && err != EEXIST)
			break;
	}
	if (fd < 0 || (o->f = fdopen(fd, "wb")) == NULL) {
		if (fd >= 0)
			err = errno;
		st = cle_errorf(e, CLE_E_IO, "cannot write %s: %s", path, strerror(err));
		if (fd >= 0) {
			signals_block(&old);
			unlink(tmp);
			temp_live[slot] = 0;
			sigprocmask(SIG_SETMASK, &old, NULL);
			close(fd);
		}
		free(o);
		return st;
	}
	o->slot = slot;
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

/* The mode OUT gets: an existing regular file's own (permission bits), else
 * what a new file gets, 0666 less the umask. */
static mode_t out_mode(const char *path)
{
	struct stat st;
	mode_t mask;

	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return st.st_mode & 0777;
	mask = umask(0);
	umask(mask);
	return 0666 & ~mask;
}

static enum cle_status out_close(void *ud, void *file, bool commit, struct cle_error *e)
{
	struct out_file *o = file;
	char *tmp = temp_path[o->slot];
	enum cle_status st = CLE_OK;
	sigset_t old;
	bool ok = true;
	int err = 0;

	(void)ud;
	if (commit) {
		ok = fflush(o->f) == 0 && fchmod(fileno(o->f), out_mode(o->path)) == 0 &&
		     fsync(fileno(o->f)) == 0;
		err = errno;
	}
	if (fclose(o->f) != 0 && ok) {
		ok = false;
		err = errno;
	}
	/* an OUT that became a device, a pipe or a folder meanwhile is not replaced */
	if (commit && ok && (st = out_check(ud, o->path, e)) != CLE_OK)
		ok = false;
	signals_block(&old);
	if (commit && ok && rename(tmp, o->path) != 0) {
		ok = false;
		err = errno;
	}
	if (!commit || !ok)
		unlink(tmp);
	temp_live[o->slot] = 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (commit && !ok && st == CLE_OK)
		st = cle_errorf(e, CLE_E_IO, "cannot write %s: %s", o->path, strerror(err));
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

/* The kind list_dir gives an entry of dir: links are followed to a regular
 * file, never to a folder (a link cannot send the search in circles). */
static char entry_kind(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path || lstat(path, &st) != 0)
		return '-';
	if (S_ISDIR(st.st_mode))
		return 'd';
	if (S_ISLNK(st.st_mode) && stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return 'f';
	return S_ISREG(st.st_mode) ? 'f' : '-';
}

static enum cle_status list_dir(void *ud, const char *path, const struct cle_alloc *a, bool *is_dir,
				char **p, size_t *n, struct cle_error *e)
{
	struct cle_buf b;
	struct dirent *de;
	struct stat st;
	DIR *d;

	(void)ud;
	*is_dir = false;
	*p = NULL;
	*n = 0;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return CLE_OK;
	if ((d = opendir(path)) == NULL)
		return cle_errorf(e, CLE_E_IO, "cannot open %s: %s", path, strerror(errno));
	cle_buf_init(&b, a);
	while ((de = readdir(d)) != NULL) {
		char kind;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		kind = entry_kind(path, de->d_name);
		cle_buf_append(&b, &kind, 1);
		cle_buf_append(&b, de->d_name, strlen(de->d_name) + 1);
	}
	closedir(d);
	cle_buf_append(&b, "", 1); /* an empty listing is still a block */
	if ((*p = cle_buf_take(&b, n)) == NULL) {
		cle_buf_free(&b);
		return cle_errorf(e, CLE_E_NOMEM, "out of memory listing %s", path);
	}
	*is_dir = true;
	(*n)++; /* the block holds cle_buf_take's final NUL too */
	return CLE_OK;
}

int main(int argc, char *argv[])
{
	struct cli_host h = {read_file, out_check, out_open, out_write, out_close, print, color,
			     tty,       list_dir,  NULL,      &cle_system_alloc};
	static const int caught[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa;
	size_t i;
	int rc;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof caught / sizeof caught[0]; i++) {
		struct sigaction was;

		/* a signal ignored by whoever started us (nohup) stays ignored */
		if (sigaction(caught[i], NULL, &was) == 0 && was.sa_handler != SIG_IGN)
			sigaction(caught[i], &sa, NULL);
	}
	rc = cli_main(argc, argv, &h);
	if (fflush(stdout) != 0)
		return 2;
	return rc;
}

/* cli.h — the `onnx-cle` command line, written once in C and run both
 * natively (main.c) and in Node on the wasm build (wasm_host.c with
 * bin/onnx-cle.js), so both print the same bytes.  The host does all I/O. */
#ifndef CLE_CLI_H
#define CLE_CLI_H

#include "base.h"

struct cli_host {
	/* Reads the whole file into a block from a (freed by the CLI with
	 * cle_free(a, *p, *n)).  CLE_E_IO with a sentence if it cannot (for
	 * external data: not supplied).  within, when not NULL, is the folder
	 * the file must lie in once symbolic links are resolved in both
	 * (external data never comes from outside the model's folder).  A file
	 * outside it, or one that is not a regular file (refused before it is
	 * opened, and never waited on: a FIFO would block), is refused with
	 * CLE_E_UNSUPPORTED and a sentence. */
	enum cle_status (*read_file)(void *ud, const char *path, const char *within,
				     const struct cle_alloc *a, uint8_t **p, size_t *n,
				     struct cle_error *e);
	/* Whether path may be written: CLE_E_IO with a sentence when it exists
	 * and is not a regular file (a device, pipe, folder or socket is never
	 * replaced).  Asked before any work, and again by out_open. */
	enum cle_status (*out_check)(void *ud, const char *path, struct cle_error *e);
	/* Output files are written to a temporary file beside them and renamed
	 * into place by out_close(commit = true), keeping the mode of a file
	 * they replace; commit = false removes the temporary. */
	enum cle_status (*out_open)(void *ud, const char *path, void **file, struct cle_error *e);
	enum cle_status (*out_write)(void *ud, void *file, const uint8_t *p, size_t n,
				     struct cle_error *e);
	enum cle_status (*out_close)(void *ud, void *file, bool commit, struct cle_error *e);
	/* fd 1 or 2 */
	void (*print)(void *ud, int fd, const char *s, size_t n);
	/* Whether fd is a terminal that wants colour (NO_COLOR unset). */
	bool (*color)(void *ud, int fd);
	/* Whether fd is a terminal at all: equalize shows its progress there. */
	bool (*tty)(void *ud, int fd);
	/* Lists the folder at path (check takes folders).  When path is not a
	 * folder (or is not there: read_file then says why), *is_dir is false
	 * and nothing is allocated.  Else *p (n bytes, freed by the CLI with
	 * cle_free(a, *p, *n)) holds its entries in any order, each a kind
	 * ('d' a folder, 'f' a regular file or a symbolic link to one, '-'
	 * anything else, links to folders too), its name and a NUL; "." and
	 * ".." are left out.  CLE_E_IO with a sentence if it cannot be read. */
	enum cle_status (*list_dir)(void *ud, const char *path, const struct cle_alloc *a,
				    bool *is_dir, char **p, size_t *n, struct cle_error *e);
	void *ud;
	const struct cle_alloc *a;
};

/* Exit status: 0 ok, 1 findings, 2 bad input or usage. */
int cli_main(int argc, char *argv[], const struct cli_host *h);

#endif

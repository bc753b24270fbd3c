/* tests/vm/guest_io.h - the pieces of guest_io, the static program the VM
 * tests run inside the guest (on /dev/vda or a file on a virtiofs mount):
 * its subcommands and the helpers they share. */
#ifndef SGF_VM_GUEST_IO_H
#define SGF_VM_GUEST_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GIO_PAGE 4096u

int gio_seed(int argc, char **argv);
int gio_integrity(int argc, char **argv);

/* Open path O_RDWR|O_DIRECT (O_CREAT for a file); -1 with a message. */
int gio_open(const char *path);
/* Size of the block device fd is; 0 when it is not one. */
uint64_t gio_blk_size(int fd);
/* Page-aligned, zeroed memory; exits on failure. */
void *gio_alloc(size_t size);
/* Parse a size with an optional K/M/G suffix; exits with a message when
 * it is not one. */
uint64_t gio_num(const char *what, const char *s);
double gio_now(void);
/* Like fprintf(stderr) and return 1: for "return gio_err(...)". */
int gio_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

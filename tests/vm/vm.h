/* tests/vm/vm.h - the VM tests' QEMU runner on top of the mounted tests'
 * harness: boot the cached Debian guest (tests/vm/guest-image) with a test
 * script, read its serial console, and never leave QEMU running. */
#ifndef SGF_TEST_VM_H
#define SGF_TEST_VM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What the tests need, from the environment meson sets (docs/vm.md):
 * $SGF_VM_IMAGE the guest-image script, $SGF_VM_CACHE its cache directory,
 * $SGF_VM_GUEST_IO the static guest program; $SGF_VM_QEMU overrides
 * qemu-system-x86_64. Runs the script (which downloads the kernel once);
 * exits 77 saying why when QEMU, the guest program or the kernel package is
 * missing. Call after h_init. */
void vm_require(void);

struct vm {
	char name[64];
	char dir[PATH_MAX];     /* ROOT/vm-NAME: console.log, qemu.log, initrd */
	char console[PATH_MAX]; /* the guest's ttyS0 */
	pid_t pid;              /* QEMU while it runs, else 0 */
	double t_start;         /* when QEMU was started (monotonic seconds) */
	double boot_secs;       /* until the guest's /init said BOOTED; -1 never */
	double secs;            /* QEMU's whole run */
	int exit;               /* the guest's "SGF-VM: EXIT n"; -1 none */
	char *log;              /* the console once vm_wait returned */
};

/* Boot the guest with script as /test.sh: /init sources it in a subshell
 * after loading the modules, with step and wait_for defined
 * (tests/vm/guest-init). extra: QEMU arguments after the common ones
 * (-accel tcg -cpu max -m 1G -smp 2 ..., -kernel, -initrd, -append),
 * NULL-terminated, may be NULL. Fails the test (exit) when QEMU cannot be
 * started. */
void vm_start(struct vm *vm, const char *name, const char *script, char *const extra[]);

/* Wait until the console holds marker (a substring), up to timeout_s;
 * false when QEMU ended or time ran out first. */
bool vm_wait_marker(struct vm *vm, const char *marker, unsigned timeout_s);

/* Wait for the guest to end (QEMU exits after its poweroff), up to
 * timeout_s; QEMU is killed if it is still there. Prints the console
 * (each line prefixed "[NAME] ") and the timings, keeps the text in
 * vm->log and returns the guest's EXIT code, -1 when it never said one
 * (a failure: the check is the caller's). */
int vm_wait(struct vm *vm, unsigned timeout_s);

/* Kill QEMU now (also done by the harness's cleanup on every path). */
void vm_kill(struct vm *vm);
/* Done with vm: QEMU killed if still there, the log freed. */
void vm_free(struct vm *vm);

/* After vm_wait: did the guest run step NAME to success ("SGF-VM: STEP
 * NAME ok")? When not, fails the test saying what the console shows. */
bool vm_step_ok(struct vm *vm, const char *step);
/* The text after "SGF-VM: RESULT STEP " on the first such line holding
 * needle (NULL: any), copied into buf; NULL when there is none. */
const char *vm_result(struct vm *vm, const char *step, const char *needle, char *buf,
		      size_t size);
/* KEY=NUMBER on step's first RESULT line that has KEY=; -1 when absent. */
double vm_result_num(struct vm *vm, const char *step, const char *key);

/* Wait (up to 20 s) until the vhost-user backend pid makes its socket
 * sock; fails the test (exit) when it exits first, with its stderr
 * (err_path), or never makes it. */
void vm_wait_socket(pid_t pid, const char *sock, const char *err_path);

/* Does QEMU's stderr (vm->dir/qemu.err) hold needle? */
bool vm_qemu_said(struct vm *vm, const char *needle);

/* Write a newc cpio archive holding one file (name, mode, data) to fd,
 * trailer included. 0 or -errno. */
int vm_cpio_one(int fd, const char *name, unsigned mode, const void *data, size_t len);

#endif

/* tests/vm/vm.c - QEMU for the VM tests: the guest image prepared once, one
 * QEMU per guest spawned through the harness (so cleanup kills it on every
 * path), its serial console polled for the guest's "SGF-VM: " lines. */
#include "vm.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The kernel command line: quiet, so the console is mostly ours; panic=-1
 * with -no-reboot ends QEMU should /init die. */
#define VM_APPEND "console=ttyS0 panic=-1 quiet"

static struct {
	char qemu[PATH_MAX];
	char kernel[PATH_MAX], initramfs[PATH_MAX];
} V;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void skip(const char *fmt, ...)
{
	va_list ap;
	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(H_EXIT_SKIP);
}

/* The VM cannot be set up: a failure, not a skip. */
static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fatal(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "vm: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	h_fail(__FILE__, __LINE__, "VM setup failed");
	exit(h_finish());
}

/* name in $PATH (or as given when it has a slash) into out. */
static bool find_program(const char *name, char *out, size_t size)
{
	if (strchr(name, '/')) {
		snprintf(out, size, "%s", name);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", d, name);
		if (access(out, X_OK) == 0)
			return true;
	}
	return false;
}

static const char *env_needed(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		fatal("$%s is not set (meson sets it; by hand see docs/vm.md)", name);
	return v;
}

/* Drop terminal escapes (SeaBIOS clears the screen on the serial port)
 * and other control bytes, in place. */
static void plain(char *s)
{
	char *out = s;
	for (char *p = s; *p; p++) {
		if (*p == '\033') {
			if (p[1] == '[') /* CSI: parameters up to a final letter */
				for (p += 2; *p && !(*p >= '@' && *p <= '~'); p++)
					;
			else if (p[1])
				p++;
			if (!*p)
				break;
			continue;
		}
		if ((unsigned char)*p >= ' ' || *p == '\t')
			*out++ = *p;
	}
	*out = '\0';
}

/* Print a file's lines with a prefix (the logs of what we ran). */
static void print_file(const char *path, const char *prefix)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		plain(line);
		printf("%s%s\n", prefix, line);
	}
	fclose(f);
}

void vm_require(void)
{
	const char *qemu = getenv("SGF_VM_QEMU");
	if (!find_program(qemu && *qemu ? qemu : "qemu-system-x86_64", V.qemu, sizeof(V.qemu)))
		skip("no %s (scripts/deps installs qemu-system-x86)",
		     qemu && *qemu ? qemu : "qemu-system-x86_64");
	const char *guest_io = env_needed("SGF_VM_GUEST_IO");
	if (access(guest_io, X_OK) != 0)
		skip("the static guest program %s is not built (no static libc?)", guest_io);
	const char *script = env_needed("SGF_VM_IMAGE");
	const char *cache = env_needed("SGF_VM_CACHE");

	char log[PATH_MAX];
	H_PATH(log, h_root(), "guest-image.log");
	char *argv[] = { (char *)script, (char *)cache, (char *)guest_io, NULL };
	double t0 = now();
	/* The first run downloads the kernel package (70 MB) and unpacks it:
	 * ~10 s here; the test's alarm() is the bound beyond this one. */
	int code = h_exit_code(h_wait(h_spawn_prog(argv, log, NULL), 180));
	print_file(log, "");
	if (code == H_EXIT_SKIP)
		skip("the guest image cannot be made (guest-image said why above)");
	if (code != 0)
		fatal("%s failed", script);
	printf("vm: guest image ready in %.1f s\n", now() - t0);
	H_PATH(V.kernel, cache, "vmlinuz");
	H_PATH(V.initramfs, cache, "initramfs.gz");
}

static int copy_into(int out, const char *path, size_t *total)
{
	char buf[1 << 16];
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	ssize_t r;
	while ((r = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)r) != r) {
			close(in);
			return -EIO;
		}
		*total += (size_t)r;
	}
	close(in);
	return r < 0 ? -EIO : 0;
}

/* dir/initrd: the cached initramfs, then a second archive with /test.sh.
 * The kernel takes an uncompressed archive only at a 4-byte boundary. */
static void make_initrd(const char *path, const char *script)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t total = 0;
	static const char zeros[4];
	if (fd < 0)
		fatal("cannot create %s", path);
	if (copy_into(fd, V.initramfs, &total) != 0 ||
	    write(fd, zeros, (4 - total % 4) % 4) != (ssize_t)((4 - total % 4) % 4) ||
	    vm_cpio_one(fd, "test.sh", S_IFREG | 0755, script, strlen(script)) != 0)
		fatal("cannot write %s", path);
	close(fd);
}

void vm_start(struct vm *vm, const char *name, const char *script, char *const extra[])
{
	char initrd[PATH_MAX], serial[PATH_MAX + 8], out[PATH_MAX], err[PATH_MAX];
	memset(vm, 0, sizeof(*vm));
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	vm->exit = -1;
	vm->boot_secs = -1;
	char sub[80];
	snprintf(sub, sizeof(sub), "vm-%s", name);
	H_PATH(vm->dir, h_root(), sub);
	if (mkdir(vm->dir, 0755) != 0)
		fatal("cannot create %s", vm->dir);
	H_PATH(vm->console, vm->dir, "console.log");
	H_PATH(initrd, vm->dir, "initrd");
	H_PATH(out, vm->dir, "qemu.out");
	H_PATH(err, vm->dir, "qemu.err");
	snprintf(serial, sizeof(serial), "file:%s", vm->console);
	make_initrd(initrd, script);

	char *argv[64] = {
		V.qemu, "-accel", "tcg", "-cpu", "max", "-m", "1G", "-smp", "2",
		"-nographic", "-monitor", "none", "-no-reboot", "-net", "none", "-vga", "none",
		"-serial", serial, "-kernel", V.kernel, "-initrd", initrd,
		"-append", VM_APPEND,
	};
	size_t n = 0;
	while (argv[n])
		n++;
	for (size_t i = 0; extra && extra[i]; i++) {
		if (n + 1 >= sizeof(argv) / sizeof(argv[0]))
			fatal("%s: too many QEMU arguments", name);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	printf("vm %s:", name);
	for (size_t i = 0; i < n; i++)
		printf(" %s", argv[i]);
	printf("\n");
	vm->t_start = now();
	vm->pid = h_spawn_prog(argv, out, err);
}

static char *read_console(struct vm *vm)
{
	static char buf[1 << 20];
	ssize_t n = h_read_file(vm->console, buf, sizeof(buf));
	if (n < 0)
		buf[0] = '\0';
	return buf;
}

/* One poll: the console's text; notes the boot time; false once QEMU is
 * gone (reaped). */
static bool poll_vm(struct vm *vm, const char **text)
{
	*text = read_console(vm);
	if (vm->boot_secs < 0 && strstr(*text, "SGF-VM: BOOTED"))
		vm->boot_secs = now() - vm->t_start;
	int status;
	if (vm->pid > 0 && h_reaped(vm->pid, &status)) {
		vm->pid = 0;
		vm->secs = now() - vm->t_start;
		if (h_exit_code(status) != 0)
			printf("vm %s: QEMU exited with status %d\n", vm->name, h_exit_code(status));
	}
	return vm->pid > 0;
}

bool vm_wait_marker(struct vm *vm, const char *marker, unsigned timeout_s)
{
	double end = now() + timeout_s;
	const char *text;
	for (;;) {
		bool alive = poll_vm(vm, &text);
		if (strstr(text, marker))
			return true;
		if (!alive || now() > end)
			return false;
		h_msleep(50);
	}
}

void vm_kill(struct vm *vm)
{
	if (vm->pid > 0) {
		h_kill(vm->pid);
		vm->pid = 0;
		vm->secs = now() - vm->t_start;
	}
}

void vm_free(struct vm *vm)
{
	vm_kill(vm);
	free(vm->log);
	vm->log = NULL;
}

int vm_wait(struct vm *vm, unsigned timeout_s)
{
	const char *text;
	double end = now() + timeout_s, exit_seen = 0;
	while (poll_vm(vm, &text)) {
		if (!exit_seen && strstr(text, "SGF-VM: EXIT "))
			exit_seen = now();
		/* After EXIT only poweroff is left: a guest that hangs there
		 * has still said everything. */
		if (exit_seen && now() - exit_seen > 15) {
			printf("vm %s: QEMU still running 15 s after the guest's EXIT; killing it\n",
			       vm->name);
			break;
		}
		if (now() > end) {
			h_fail(__FILE__, __LINE__, "vm %s: the guest did not finish within %u s",
			       vm->name, timeout_s);
			break;
		}
		h_msleep(50);
	}
	vm_kill(vm);
	text = read_console(vm);
	free(vm->log);
	vm->log = strdup(text);
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "[%s] ", vm->name);
	print_file(vm->console, prefix);
	char err[PATH_MAX];
	snprintf(prefix, sizeof(prefix), "[%s qemu] ", vm->name);
	print_file(H_PATH(err, vm->dir, "qemu.err"), prefix);

	const char *e = strstr(vm->log ? vm->log : "", "SGF-VM: EXIT ");
	vm->exit = e ? atoi(e + strlen("SGF-VM: EXIT ")) : -1;
	printf("vm %s: boot %.1f s (until /init ran), whole run %.1f s, guest exit %d\n", vm->name,
	       vm->boot_secs, vm->secs, vm->exit);
	return vm->exit;
}

/* The lines of the log that hold "SGF-VM: KIND STEP " (the kernel may
 * print in front of ours, so anywhere in the line): calls fn on the text
 * after it until fn returns true. */
static bool each_line(const struct vm *vm, const char *kind, const char *step,
		      bool (*fn)(const char *rest, size_t len, void *arg), void *arg)
{
	char tag[160];
	snprintf(tag, sizeof(tag), "SGF-VM: %s %s ", kind, step);
	size_t tlen = strlen(tag);
	for (const char *p = vm->log; p && *p;) {
		size_t len = strcspn(p, "\r\n");
		const char *hit = NULL;
		for (const char *q = p; q + tlen <= p + len; q++)
			if (memcmp(q, tag, tlen) == 0) {
				hit = q + tlen;
				break;
			}
		if (hit && fn(hit, len - (size_t)(hit - p), arg))
			return true;
		p += len;
		p += strspn(p, "\r\n");
	}
	return false;
}

struct find {
	const char *needle;
	char *buf;
	size_t size;
};

static bool find_fn(const char *rest, size_t len, void *arg)
{
	struct find *f = arg;
	char line[4096];
	snprintf(line, sizeof(line), "%.*s", (int)len, rest);
	if (f->needle && !strstr(line, f->needle))
		return false;
	snprintf(f->buf, f->size, "%s", line);
	return true;
}

const char *vm_result(struct vm *vm, const char *step, const char *needle, char *buf,
		      size_t size)
{
	struct find f = { needle, buf, size };
	return each_line(vm, "RESULT", step, find_fn, &f) ? buf : NULL;
}

double vm_result_num(struct vm *vm, const char *step, const char *key)
{
	char needle[128], line[4096];
	snprintf(needle, sizeof(needle), "%s=", key);
	struct find f = { needle, line, sizeof(line) };
	if (!each_line(vm, "RESULT", step, find_fn, &f))
		return -1;
	/* key= at the start or after a space, not inside another key. */
	for (const char *p = line; (p = strstr(p, needle)) != NULL; p++)
		if (p == line || p[-1] == ' ')
			return strtod(p + strlen(needle), NULL);
	return -1;
}

static bool print_fn(const char *rest, size_t len, void *arg)
{
	fprintf(stderr, "    %s: %.*s\n", (const char *)arg, (int)len, rest);
	return false;
}

bool vm_step_ok(struct vm *vm, const char *step)
{
	char line[256];
	struct find f = { NULL, line, sizeof(line) };
	if (each_line(vm, "STEP", step, find_fn, &f) && strcmp(line, "ok") == 0)
		return true;
	if (each_line(vm, "STEP", step, find_fn, &f))
		h_fail(__FILE__, __LINE__, "vm %s: guest step %s: %s; it printed:", vm->name, step,
		       line);
	else
		h_fail(__FILE__, __LINE__, "vm %s: guest step %s never finished; it printed:",
		       vm->name, step);
	each_line(vm, "RESULT", step, print_fn, (void *)step);
	return false;
}

bool vm_qemu_said(struct vm *vm, const char *needle)
{
	char path[PATH_MAX], text[16384];
	H_PATH(path, vm->dir, "qemu.err");
	return h_read_file(path, text, sizeof(text)) >= 0 && strstr(text, needle);
}

void vm_wait_socket(pid_t pid, const char *sock, const char *err_path)
{
	for (unsigned ms = 0; ms < 20000; ms += 20) {
		struct stat st;
		if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return;
		int status;
		if (h_reaped(pid, &status)) {
			char text[4096];
			h_read_file(err_path, text, sizeof(text));
			h_fail(__FILE__, __LINE__, "the backend exited (code %d) before making %s: %s",
			       h_exit_code(status), sock, text);
			exit(h_finish());
		}
		h_msleep(20);
	}
	h_fail(__FILE__, __LINE__, "the backend made no socket %s within 20 s", sock);
	exit(h_finish());
}

/* tools/sgfuse-client.c - poke any FUSE server over a socket, or a
 * virtio-fs backend over vhost-user, without mounting: `sgfuse-client
 * ADDRESS COMMAND ...` lists, stats, copies files in and out through the
 * packed direct-I/O engine, and shows the connection's request counters.
 * Exit 0 on success, 1 on errors, 2 on usage errors. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "connect_step.h"

#define PROG "sgfuse-client"
/* Bytes per call: four 1 MiB requests in flight. The buffer comes from
 * sgf_client_buf_alloc: page-aligned, which keeps every request whole (an
 * unaligned one would add a short tail request), and over vhost-user in
 * the shared memory, so data moves without a copy. */
#define CHUNK (4u * 1024u * 1024u)

static const char usage_text[] =
	"usage: " PROG " [OPTIONS] ADDRESS COMMAND [ARGS...]\n"
	"Talk FUSE to a server on a Unix stream socket, or to a virtio-fs backend\n"
	"over vhost-user, without mounting. ADDRESS is unix:PATH, or vhost-user:PATH\n"
	"for a vhost-user-fs backend's socket (@NAME for the abstract namespace).\n"
	"\n"
	"Commands (remote paths start at the server's root):\n"
	"  ls [PATH]            list a directory (directories end in '/')\n"
	"  stat PATH            show a file's attributes\n"
	"  cat PATH             copy a remote file to standard output\n"
	"  get REMOTE LOCAL     copy a remote file to a local file\n"
	"  put LOCAL REMOTE     copy a local file to a remote file (created or truncated)\n"
	"  rm PATH              remove a remote file\n"
	"  mkdir PATH           create a remote directory (mode 0755)\n"
	"  df [PATH]            filesystem statistics\n"
	"  stats                negotiated limits and this connection's counters\n"
	"\n"
	"Options:\n"
	"  --per-segment        one request per iovec segment (the pre-patch policy)\n"
	"  --max-pages=N        accept at most N pages per request (1..65535)\n"
	"  --stats              print the connection's counters to stderr at the end\n"
	"  -h, --help           this text\n"
	"  -V, --version        the version\n";

struct cli {
	const char *address;
	const char *cmd;
	char **args;
	int nargs;
	bool per_segment;
	bool stats;
	uint32_t max_pages;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
	return 2;
}

/* A remote failure: "PROG: STEP PATH: strerror", STEP the operation that
 * failed (lookup, open, read, ...). Returns 1. */
static int remote_error(const char *what, const char *path, int err)
{
	fprintf(stderr, PROG ": %s %s: %s\n", what, path, strerror(-err));
	return 1;
}

static int local_error(const char *path, int err)
{
	fprintf(stderr, PROG ": %s: %s\n", path, strerror(err));
	return 1;
}

/* ---- commands ---- */

static int print_entry(void *ctx, const struct sgf_dirent *e)
{
	(void)ctx;
	if ((e->namelen == 1 && e->name[0] == '.') ||
	    (e->namelen == 2 && e->name[0] == '.' && e->name[1] == '.'))
		return 0;
	printf("%.*s%s\n", (int)e->namelen, e->name, e->type == DT_DIR ? "/" : "");
	return 0;
}

static int cmd_ls(struct sgf_client *c, const char *path)
{
	struct fuse_entry_out e;
	int r = sgf_lookup_path(c, path, &e);

	if (r < 0)
		return remote_error("lookup", path, r);
	if (S_ISDIR(e.attr.mode))
		r = sgf_list_dir(c, e.nodeid, print_entry, NULL);
	else
		printf("%s\n", path);
	sgf_forget(c, e.nodeid, 1);
	return r < 0 ? remote_error("readdir", path, r) : 0;
}

static char type_char(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return 'd';
	case S_IFREG: return '-';
	case S_IFLNK: return 'l';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	default: return '?';
	}
}

static int cmd_stat(struct sgf_client *c, const char *path)
{
	struct fuse_entry_out e;
	int r = sgf_lookup_path(c, path, &e);

	if (r < 0)
		return remote_error("lookup", path, r);
	const struct fuse_attr *a = &e.attr;
	printf("path: %s\nnodeid: %" PRIu64 "\nino: %" PRIu64 "\n"
	       "type: %c\nmode: %04o\nnlink: %u\nuid: %u\ngid: %u\n"
	       "size: %" PRIu64 "\nblocks: %" PRIu64 "\nblksize: %u\n"
	       "atime: %" PRIu64 ".%09u\nmtime: %" PRIu64 ".%09u\nctime: %" PRIu64 ".%09u\n",
	       path, e.nodeid, a->ino, type_char(a->mode), a->mode & 07777, a->nlink,
	       a->uid, a->gid, a->size, a->blocks, a->blksize, a->atime, a->atimensec,
	       a->mtime, a->mtimensec, a->ctime, a->ctimensec);
	sgf_forget(c, e.nodeid, 1);
	return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy remote path to local fd. */
static int copy_out(struct sgf_client *c, const char *path, int fd, const char *local)
{
	struct fuse_entry_out e;
	struct sgf_file f;
	int r = sgf_lookup_path(c, path, &e);

	if (r < 0)
		return remote_error("lookup", path, r);
	r = S_ISDIR(e.attr.mode) ? -EISDIR : sgf_open(c, e.nodeid, O_RDONLY, &f);
	if (r < 0) {
		sgf_forget(c, e.nodeid, 1);
		return remote_error("open", path, r);
	}
	f.nlookup = 1;  /* the handle keeps the node until release */
	char *buf = sgf_client_buf_alloc(c, CHUNK);
	int ret = 0;
	uint64_t off = 0;
	if (!buf) {
		ret = local_error("memory", ENOMEM);
	}
	while (buf) {
		ssize_t n = sgf_pread(c, &f, buf, CHUNK, off);
		if (n < 0) {
			ret = remote_error("read", path, (int)n);
			break;
		}
		if (n == 0)
			break;
		int w = write_all(fd, buf, (size_t)n);
		if (w < 0) {
			ret = local_error(local, -w);
			break;
		}
		off += (uint64_t)n;
		/* Direct I/O: a short read is the end of the file. */
		if ((size_t)n < CHUNK)
			break;
	}
	sgf_client_buf_free(c, buf);
	r = sgf_release(c, &f);
	if (r < 0 && ret == 0)
		ret = remote_error("close", path, r);
	return ret;
}

static int cmd_get(struct sgf_client *c, const char *remote, const char *local)
{
	int fd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return local_error(local, errno);
	int r = copy_out(c, remote, fd, local);
	if (close(fd) != 0 && r == 0)
		r = local_error(local, errno);
	return r;
}

/* Split "a/b/name" into its parent's node (one reference, to forget) and
 * name; a failure is reported here, as a lookup of the parent. */
static int lookup_parent(struct sgf_client *c, const char *path, uint64_t *parent,
			 const char **name, char *dir, size_t dirsize)
{
	const char *slash = strrchr(path, '/');
	struct fuse_entry_out e;

	if (slash == NULL) {
		*name = path;
		*parent = FUSE_ROOT_ID;
		return 0;
	}
	*name = slash + 1;
	if ((size_t)(slash - path) >= dirsize)
		return remote_error("lookup", path, -ENAMETOOLONG);
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (dir[0] == '\0')
		strcpy(dir, "/");
	int r = sgf_lookup_path(c, dir, &e);
	if (r < 0)
		return remote_error("lookup", dir, r);
	if (!S_ISDIR(e.attr.mode)) {
		sgf_forget(c, e.nodeid, 1);
		return remote_error("lookup", dir, -ENOTDIR);
	}
	*parent = e.nodeid;
	return 0;
}

static int cmd_put(struct sgf_client *c, const char *local, const char *remote)
{
	char dir[4096];
	const char *name;
	uint64_t parent;
	struct sgf_file f;
	struct stat st;
	int fd = open(local, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return local_error(local, errno);
	if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
		int err = S_ISDIR(st.st_mode) ? EISDIR : errno;
		close(fd);
		return local_error(local, err);
	}
	int r = lookup_parent(c, remote, &parent, &name, dir, sizeof(dir));
	if (r != 0) {
		close(fd);
		return r;
	}
	r = sgf_create(c, parent, name, O_WRONLY | O_TRUNC, st.st_mode & 0777, NULL, &f);
	sgf_forget(c, parent, 1);
	if (r < 0) {
		close(fd);
		return remote_error("create", remote, r);
	}
	char *buf = sgf_client_buf_alloc(c, CHUNK);
	int ret = buf ? 0 : local_error("memory", ENOMEM);
	uint64_t off = 0;
	while (buf) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = local_error(local, errno);
			break;
		}
		if (n == 0)
			break;
		ssize_t w = sgf_pwrite(c, &f, buf, (size_t)n, off);
		if (w < 0) {
			ret = remote_error("write", remote, (int)w);
			break;
		}
		if (w != n) {
			ret = remote_error("write", remote, -EIO);
			break;
		}
		off += (uint64_t)n;
	}
	sgf_client_buf_free(c, buf);
	close(fd);
	r = sgf_flush(c, &f);
	if (r < 0 && r != -ENOSYS && ret == 0)
		ret = remote_error("close", remote, r);
	r = sgf_release(c, &f);
	if (r < 0 && ret == 0)
		ret = remote_error("close", remote, r);
	return ret;
}

static int cmd_rm_mkdir(struct sgf_client *c, const char *path, bool mkdir)
{
	char dir[4096];
	const char *name;
	uint64_t parent;
	struct fuse_entry_out e;
	int r = lookup_parent(c, path, &parent, &name, dir, sizeof(dir));

	if (r != 0)
		return r;
	if (mkdir) {
		r = sgf_mkdir(c, parent, name, 0755, &e);
		if (r == 0)
			sgf_forget(c, e.nodeid, 1);
	} else {
		/* As the kernel does, hold the node while its name goes:
		 * virtiofsd answers EIO for a name whose node it forgot. */
		r = sgf_lookup(c, parent, name, &e);
		if (r == 0) {
			r = sgf_unlink(c, parent, name);
			sgf_forget(c, e.nodeid, 1);
		}
	}
	sgf_forget(c, parent, 1);
	return r < 0 ? remote_error(mkdir ? "mkdir" : "unlink", path, r) : 0;
}

static int cmd_df(struct sgf_client *c, const char *path)
{
	struct fuse_entry_out e;
	struct fuse_kstatfs st;
	int r = sgf_lookup_path(c, path, &e);

	if (r < 0)
		return remote_error("lookup", path, r);
	r = sgf_statfs(c, e.nodeid, &st);
	sgf_forget(c, e.nodeid, 1);
	if (r < 0)
		return remote_error("statfs", path, r);
	printf("bsize: %u\nfrsize: %u\nblocks: %" PRIu64 "\nbfree: %" PRIu64 "\n"
	       "bavail: %" PRIu64 "\nfiles: %" PRIu64 "\nffree: %" PRIu64 "\nnamelen: %u\n",
	       st.bsize, st.frsize, st.blocks, st.bfree, st.bavail, st.files, st.ffree,
	       st.namelen);
	return 0;
}

static void print_conn(struct sgf_client *c, FILE *out)
{
	const struct sgf_client_conn *cc = sgf_client_conn(c);
	fprintf(out, "protocol %u.%u\nmax_write %u\nmax_read %u\nmax_pages %u\n"
		"flags 0x%" PRIx64 "\npolicy %s\n", cc->proto_major, cc->proto_minor,
		cc->max_write, cc->max_read, cc->max_pages, cc->flags,
		sgf_client_policy(c) == SGF_DIO_PACKED ? "packed" : "per-segment");
}

/* ---- command line ---- */

static int parse_args(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
		{ "per-segment", no_argument, NULL, 'p' },
		{ "max-pages", required_argument, NULL, 'm' },
		{ "stats", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	memset(cli, 0, sizeof(*cli));
	opterr = 0;
	/* '+': options end at ADDRESS, so remote names may start with '-'. */
	while ((o = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			cli->per_segment = true;
			break;
		case 's':
			cli->stats = true;
			break;
		case 'm': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > 65535 || optarg[0] == '-')
				return usage_error("--max-pages takes 1..65535, got '%s'", optarg);
			cli->max_pages = (uint32_t)v;
			break;
		}
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case 'V':
			printf(PROG " %s\n", SGF_VERSION);
			return -1;
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind < 2)
		return usage_error("%s", argc - optind < 1 ? "missing ADDRESS" : "missing COMMAND");
	cli->address = argv[optind];
	cli->cmd = argv[optind + 1];
	cli->args = argv + optind + 2;
	cli->nargs = argc - optind - 2;
	return 0;
}

struct command {
	const char *name;
	int min_args, max_args;
};

static const struct command commands[] = {
	{ "ls", 0, 1 }, { "stat", 1, 1 }, { "cat", 1, 1 }, { "get", 2, 2 }, { "put", 2, 2 },
	{ "rm", 1, 1 }, { "mkdir", 1, 1 }, { "df", 0, 1 }, { "stats", 0, 0 },
};

static int check_command(const struct cli *cli)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cli->cmd, commands[i].name) != 0)
			continue;
		if (cli->nargs < commands[i].min_args)
			return usage_error("%s: missing argument", cli->cmd);
		if (cli->nargs > commands[i].max_args)
			return usage_error("%s: too many arguments", cli->cmd);
		return 0;
	}
	return usage_error("unknown command '%s'", cli->cmd);
}

static int run(struct sgf_client *c, const struct cli *cli)
{
	const char *a0 = cli->nargs > 0 ? cli->args[0] : "/";
	const char *a1 = cli->nargs > 1 ? cli->args[1] : NULL;

	if (!strcmp(cli->cmd, "ls"))
		return cmd_ls(c, a0);
	if (!strcmp(cli->cmd, "stat"))
		return cmd_stat(c, a0);
	if (!strcmp(cli->cmd, "cat")) {
		int r = copy_out(c, a0, STDOUT_FILENO, "standard output");
		return fflush(stdout) == 0 ? r : local_error("standard output", errno);
	}
	if (!strcmp(cli->cmd, "get"))
		return cmd_get(c, a0, a1);
	if (!strcmp(cli->cmd, "put"))
		return cmd_put(c, a0, a1);
	if (!strcmp(cli->cmd, "rm"))
		return cmd_rm_mkdir(c, a0, false);
	if (!strcmp(cli->cmd, "mkdir"))
		return cmd_rm_mkdir(c, a0, true);
	if (!strcmp(cli->cmd, "df"))
		return cmd_df(c, a0);
	print_conn(c, stdout);
	return sgf_stats_print(sgf_client_stats(c), stdout) < 0;
}

int main(int argc, char **argv)
{
	struct cli cli;
	struct sgf_client *c = NULL;
	int r = parse_args(argc, argv, &cli);

	if (r != 0)
		return r < 0 ? 0 : r;
	r = check_command(&cli);
	if (r != 0)
		return r;
	signal(SIGPIPE, SIG_IGN);

	struct sgf_client_opts o = {
		.max_pages = cli.max_pages,
		.policy = cli.per_segment ? SGF_DIO_PER_SEGMENT : SGF_DIO_PACKED,
	};
	r = sgf_client_connect(cli.address, &o, &c);
	if (r == -EPROTO && connect_is_vhost(cli.address)) {
		fprintf(stderr, PROG ": vhost-user setup %s: protocol mismatch: the peer is no "
			"vhost-user-fs backend with a FUSE 7.%d+ server behind it, or refused "
			"the setup\n", cli.address, SGF_PROTO_MINOR_MIN);
		return 1;
	}
	if (r == -EPROTO) {
		fprintf(stderr, PROG ": INIT %s: protocol mismatch: the peer does not answer INIT "
			"as a FUSE 7.%d+ server\n", cli.address, SGF_PROTO_MINOR_MIN);
		return 1;
	}
	if (r == -EINVAL) {
		fprintf(stderr, PROG ": %s: not an address (want unix:PATH or vhost-user:PATH)\n",
			cli.address);
		return 2;
	}
	if (r < 0) {
		fprintf(stderr, PROG ": %s %s: %s\n", connect_step(cli.address, r), cli.address,
			strerror(-r));
		return 1;
	}
	int status = run(c, &cli);
	if (cli.stats) {
		print_conn(c, stderr);
		sgf_stats_print(sgf_client_stats(c), stderr);
	}
	r = sgf_client_disconnect(c);
	if (r < 0 && r != -ENOTCONN && status == 0) {
		fprintf(stderr, PROG ": DESTROY %s: %s\n", cli.address, strerror(-r));
		status = 1;
	}
	return status;
}

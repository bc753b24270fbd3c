/* fs/passthrough/pt_new.c - creating and freeing a passthrough filesystem:
 * the backing directory becomes the root node, the options become reply
 * timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "pt.h"

#define PT_DEFAULT_TIMEOUT 1.0
/* Beyond this the requester may as well cache forever; keeps the split
 * into seconds and nanoseconds exact. */
#define PT_MAX_TIMEOUT 1e9

static int split_timeout(double t, uint64_t *sec, uint32_t *nsec)
{
	if (t == 0.0)
		t = PT_DEFAULT_TIMEOUT;
	if (!(t > 0.0)) /* negative or NaN */
		return -EINVAL;
	if (t > PT_MAX_TIMEOUT)
		t = PT_MAX_TIMEOUT;
	*sec = (uint64_t)t;
	*nsec = (uint32_t)((t - (double)*sec) * 1e9);
	if (*nsec >= 1000000000u)
		*nsec = 999999999u;
	return 0;
}

static int apply_opts(struct sgf_passthrough *pt, const struct sgf_passthrough_opts *opts)
{
	struct sgf_passthrough_opts none = { 0 };
	int err;

	if (!opts)
		opts = &none;
	switch (opts->backing_direct) {
	case SGF_BACKING_DIRECT_AUTO:
	case SGF_BACKING_DIRECT_ON:
	case SGF_BACKING_DIRECT_OFF:
		pt->backing_direct = opts->backing_direct;
		break;
	default:
		return -EINVAL;
	}
	pt->no_xattr = opts->no_xattr;
	err = split_timeout(opts->entry_timeout, &pt->entry_sec, &pt->entry_nsec);
	if (!err)
		err = split_timeout(opts->attr_timeout, &pt->attr_sec, &pt->attr_nsec);
	return err;
}

int sgf_passthrough_new(struct sgf_passthrough **out, const char *source,
			const struct sgf_passthrough_opts *opts)
{
	struct sgf_passthrough *pt;
	struct stat st;
	int fd, err;

	if (out == NULL || !source || !*source)
		return -EINVAL;
	*out = NULL;
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return -ENOMEM;
	pt->proc_fd = -1;
	err = apply_opts(pt, opts);
	if (err)
		goto out_free;
	pt->daemon_uid = geteuid();
	pt->daemon_gid = getegid();
	/* Only root can take on others' ids; anyone else serves as itself. */
	pt->act_as_requester = pt->daemon_uid == 0;
	/* Where requesters' groups are read (pt_creds.c). */
	pt->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	fd = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out_free;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out_fd;
	}
	/* O_PATH opens need no permission on the directory itself; serving it
	 * needs search and read, so say EACCES now rather than on each op. */
	if (faccessat(fd, "", R_OK | X_OK, AT_EMPTY_PATH | AT_EACCESS) < 0) {
		err = -errno;
		goto out_fd;
	}
	err = -pthread_mutex_init(&pt->backing_lock, NULL);
	if (err)
		goto out_fd;
	err = pt_handles_init(pt);
	if (err)
		goto out_backing;
	err = pt_inodes_init(pt, fd, &st);
	if (err)
		goto out_handles;
	*out = pt;
	return 0;

out_handles:
	pt_handles_destroy(pt);
out_backing:
	pthread_mutex_destroy(&pt->backing_lock);
out_fd:
	close(fd);
out_free:
	if (pt->proc_fd >= 0)
		close(pt->proc_fd);
	free(pt);
	return err;
}

void sgf_passthrough_free(struct sgf_passthrough *pt)
{
	if (!pt)
		return;
	/* Handles first: each holds a node. */
	pt_handles_destroy(pt);
	pt_inodes_destroy(pt);
	pthread_mutex_destroy(&pt->backing_lock);
	if (pt->proc_fd >= 0)
		close(pt->proc_fd);
	free(pt);
}

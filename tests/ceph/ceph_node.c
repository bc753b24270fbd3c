/* tests/ceph/ceph_node.c - see ceph_node.h. */
#include "ceph_node.h"
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void node_start(struct node *n, const char *name, const char *opts)
{
	char o[8192];

	H_PATH(n->mnt, h_root(), name);
	snprintf(n->stats, sizeof(n->stats), "%s.stats", n->mnt);
	REQUIRE(mkdir(n->mnt, 0755) == 0);
	snprintf(o, sizeof(o), "conf=%s,stats_file=%s%s%s", h_ceph_conf(), n->stats,
		 *opts ? "," : "", opts);
	fflush(NULL);
	n->pid = fork();
	REQUIRE(n->pid >= 0);
	if (n->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(h_daemon(), h_daemon(), "-f", "-o", o, n->mnt, (char *)NULL);
		_exit(127);
	}
	for (int ms = 0; ms < 20000; ms += 10) {
		if (h_fuse_mounted(n->mnt, NULL, 0))
			return;
		if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
			n->pid = 0;
			break;
		}
		h_msleep(10);
	}
	h_fail(__FILE__, __LINE__, "second node did not mount on %s", n->mnt);
	exit(h_finish());
}

int node_stop(struct node *n)
{
	int status;

	if (n->pid <= 0)
		return -1;
	kill(n->pid, SIGTERM);
	status = h_wait(n->pid, 20); /* SIGKILLed on timeout */
	n->pid = 0;
	if (status == -1)
		h_umount_lazy(n->mnt);
	return h_exit_code(status);
}

int node_stats(struct node *n, char *buf, size_t size)
{
	unlink(n->stats);
	kill(n->pid, SIGUSR1);
	for (int ms = 0; ms < 5000; ms += 10) {
		if (h_read_file(n->stats, buf, size) >= 0)
			return 0;
		h_msleep(10);
	}
	return -ETIMEDOUT;
}

/* tests/ceph/ceph_node.h - a second sgfuse-ceph mount of the test's cluster
 * (another node, as far as Ceph can tell: its own client), beside the
 * harness's daemon. It dies with the test (PR_SET_PDEATHSIG) and its mount
 * with the test's private mount namespace, whatever happens; node_stop
 * ends it in order. */
#ifndef SGF_TEST_CEPH_NODE_H
#define SGF_TEST_CEPH_NODE_H

#include <stdbool.h>
#include <sys/types.h>

struct node {
	char mnt[4096], stats[4200];
	pid_t pid;
};

/* Mount on ROOT/name with opts (may be ""); fails the test on error. */
void node_start(struct node *n, const char *name, const char *opts);
/* SIGTERM, wait; its exit code (-1: did not exit within 20 s). */
int node_stop(struct node *n);
/* Its statistics (SIGUSR1) into buf; 0 or -errno. */
int node_stats(struct node *n, char *buf, size_t size);

#endif

/* tests/client/fake_server.h - a scripted FUSE responder on one end of a
 * socketpair, run in a thread (or a child process, to be killed): it answers
 * INIT as configured and hands every other request to the test's handler,
 * which may reply correctly, malformed, late, out of order, or not at all. */
#ifndef SGF_TEST_FAKE_SERVER_H
#define SGF_TEST_FAKE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/fuse.h>

struct fake_srv;

/* Called for every request other than INIT/DESTROY/FORGET. body is the
 * message after fuse_in_header (len - 40 bytes), valid during the call.
 * Return 0 to go on, nonzero to hang up (close the socket). */
typedef int (*fake_handler)(struct fake_srv *s, const struct fuse_in_header *h,
			    const void *body, size_t len);

struct fake_srv {
	int fd;                 /* the server's end */
	pthread_t thread;
	pid_t child;            /* when run as a process */
	/* INIT reply */
	uint32_t major, minor;
	int32_t init_error;
	uint32_t max_write, max_pages;
	uint32_t init_len;      /* bytes of init_out to send; 0 = all */
	bool init_wrong_unique; /* answer INIT under another unique */
	bool destroy_silent;    /* never answer DESTROY */
	int sndbuf;             /* SO_SNDBUF of both ends; 0 = the default */
	fake_handler handle;
	void *ctx;
	/* counters (thread mode only; read after fake_srv_stop) */
	unsigned nreq;
	unsigned nforget;
};

/* Defaults: 7.38, max_write 1 MiB, max_pages 256, everything else zero. */
void fake_srv_defaults(struct fake_srv *s, fake_handler handle, void *ctx);

/* Make a socketpair, serve one end in a thread; returns the client's end. */
int fake_srv_start(struct fake_srv *s);
/* Start the server in a thread and attach a client to it. Returns the
 * client, or NULL (with the server stopped and the reason on stderr) when
 * either step failed. */
struct sgf_client;
struct sgf_client_opts;
struct sgf_client *fake_srv_attach(struct fake_srv *s, const struct sgf_client_opts *o);
/* The same in a forked child (the handler runs there). */
int fake_srv_start_process(struct fake_srv *s);
/* Wait for the thread (it ends when the client hangs up or the handler
 * says so) / reap the child. */
void fake_srv_stop(struct fake_srv *s);

/* Send a reply: header (len = 16 + plen unless len_override != 0) and
 * payload. Returns 0 or -errno. */
int fake_reply_raw(int fd, uint64_t unique, int32_t error, const void *payload, size_t plen,
		   uint32_t len_override);
int fake_reply(int fd, uint64_t unique, int32_t error, const void *payload, size_t plen);

/* Read exactly n bytes; 0 or -1. */
int fake_read_full(int fd, void *buf, size_t n);

#endif

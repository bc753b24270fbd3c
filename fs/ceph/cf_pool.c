/* fs/ceph/cf_pool.c - the backend threads data ops run on. libcephfs's
 * vectored calls block until the OSDs answer, so READ, WRITE, FSYNC and
 * FALLOCATE are kept by the worker that received them, queued here and
 * answered by whichever backend thread runs them; the workers go back to
 * receiving at once. The queue is bounded by the requests a session may
 * keep (sgf_server_opts.max_inflight), so it needs no limit of its own. */
#include <errno.h>
#include <stdlib.h>
#include "cf.h"

static void *backend_main(void *arg)
{
	struct cf_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct cf_job *job;

		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->more, &p->lock);
		if (!p->head)
			break; /* stopping, nothing left */
		job = p->head;
		p->head = job->next;
		if (!p->head)
			p->tail = &p->head;
		p->queued--;
		pthread_mutex_unlock(&p->lock);

		struct cf_session *s = job->s;

		job->run(job); /* answers and frees the job */
		pthread_mutex_lock(&s->lock);
		if (--s->jobs == 0)
			pthread_cond_broadcast(&s->jobs_done);
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int cf_pool_start(struct cf_pool *p, unsigned nthreads)
{
	int err;

	p->head = NULL;
	p->tail = &p->head;
	p->queued = 0;
	p->stopping = false;
	p->nthreads = 0;
	p->threads = calloc(nthreads, sizeof(*p->threads));
	if (!p->threads)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		err = pthread_create(&p->threads[i], NULL, backend_main, p);
		if (err) {
			cf_pool_stop(p);
			return -err;
		}
		p->nthreads++;
	}
	return 0;
}

void cf_pool_stop(struct cf_pool *p)
{
	if (!p->threads)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	p->threads = NULL;
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->lock);
}

void cf_pool_submit(struct sgf_ceph *c, struct cf_job *job)
{
	struct cf_pool *p = &c->pool;
	uint64_t seen, q;

	pthread_mutex_lock(&job->s->lock);
	job->s->jobs++;
	pthread_mutex_unlock(&job->s->lock);
	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	*p->tail = job;
	p->tail = &job->next;
	q = ++p->queued;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
	seen = atomic_load(&c->queue_max);
	while (q > seen && !atomic_compare_exchange_weak(&c->queue_max, &seen, q))
		;
}

void cf_pool_wait_session(struct cf_session *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->jobs)
		pthread_cond_wait(&s->jobs_done, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

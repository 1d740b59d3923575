/* Snapshots built on the thread pool from lent services (snapjob), and the deferred frees that
 * keep lent services alive while a job may read them (lending). */
#include "resolver/sync/snapjob.h"

#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "check.h"
#include "zones/data/lending.h"
#include "zones/nacos/nacos.h"
#include "zones/data/snapshot.h"

static struct nacos_service *service(const char *name, const char *ip)
{
	char body[256];
	struct nacos_service *svc = NULL;
	int n = snprintf(body, sizeof(body),
			 "{\"name\":\"DEFAULT_GROUP@@%s\",\"hosts\":[{\"ip\":\"%s\",\"port\":80,"
			 "\"weight\":1,\"healthy\":true,\"enabled\":true}]}",
			 name, ip);
	CHECK_INT_EQ(nacos_parse_instance_list(body, (size_t)n, NULL, NULL, &svc), 0);
	return svc;
}

static struct snapjob *job_with(uint32_t generation, struct nacos_service **svcs, size_t n)
{
	struct snapshot_config c;
	snapshot_config_defaults(&c);
	struct snapjob *j = snapjob_new(&c, generation);
	CHECK(j != NULL);
	for (size_t i = 0; i < n; i++)
		CHECK_INT_EQ(snapjob_add_service(j, "public", svcs[i]), 0);
	CHECK_INT_EQ(snapjob_add_pending(j, "public", "DEFAULT_GROUP", "not-fetched"), 0);
	CHECK_INT_EQ(snapjob_add_pending(j, "other-namespace", "DEFAULT_GROUP", "elsewhere"), 0);
	return j;
}

struct done {
	int calls;
	struct snapjob_result res;
};

static void on_done(void *arg, struct snapjob_result *res)
{
	struct done *d = arg;
	d->calls++;
	d->res = *res;
	res->snap = NULL; /* taken */
}

/* Built on the pool while the loop replaces the lent services: the job still reads the old
 * copies, which lending frees only once the job has ended. */
static void test_async_build(uv_loop_t *loop)
{
	struct nacos_service *svcs[2] = {service("a", "10.0.0.1"), service("b", "10.0.0.2")};
	struct lending *l = lending_new();
	struct done d = {0};
	CHECK(l != NULL);

	struct snapjob *j = job_with(7, svcs, 2);
	uint64_t ticket = lending_begin(l);
	CHECK(ticket != 0);
	CHECK(lending_active(l));
	CHECK_INT_EQ(snapjob_start(j, loop, on_done, &d), 0);
	for (size_t i = 0; i < 2; i++) {
		lending_retire(l, svcs[i]); /* replaced while the job may read it */
		svcs[i] = service(i ? "b" : "a", "10.9.9.9");
	}
	CHECK_INT_EQ(lending_pending(l), 2);
	CHECK_INT_EQ(d.calls, 0); /* never from inside the loop's own call */
	CHECK_INT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(d.calls, 1);
	CHECK(!d.res.cancelled);
	CHECK(d.res.snap != NULL);
	CHECK(d.res.build_ms >= 0);
	CHECK_INT_EQ(snapshot_generation(d.res.snap), 7);
	struct snapshot_stats st;
	snapshot_get_stats(d.res.snap, &st);
	CHECK_INT_EQ(st.services, 2);
	CHECK_INT_EQ(st.pending, 1); /* the other namespace has no zone */
	CHECK_INT_EQ(st.instances, 2);
	snapshot_free(d.res.snap);

	lending_end(l, ticket);
	CHECK(!lending_active(l));
	CHECK_INT_EQ(lending_pending(l), 0);
	for (size_t i = 0; i < 2; i++)
		nacos_service_free(svcs[i]);
	lending_free(l);
}

/* A service retired while two jobs run is freed only when both of them have ended; one retired
 * after the older job ended waits only for the newer one. */
static void test_lending_order(void)
{
	struct lending *l = lending_new();
	CHECK(l != NULL);
	lending_retire(l, service("x", "10.0.0.1")); /* no job: freed at once */
	CHECK_INT_EQ(lending_pending(l), 0);

	uint64_t t1 = lending_begin(l);
	lending_retire(l, service("a", "10.0.0.1"));
	uint64_t t2 = lending_begin(l);
	lending_retire(l, service("b", "10.0.0.2"));
	CHECK(t1 != 0 && t2 != 0 && t1 != t2);
	CHECK_INT_EQ(lending_pending(l), 2);
	lending_end(l, t2); /* t1 may still read both */
	CHECK_INT_EQ(lending_pending(l), 2);
	uint64_t t3 = lending_begin(l);
	lending_retire(l, service("c", "10.0.0.3"));
	lending_end(l, t1); /* a and b: no job left that began before they were retired */
	CHECK_INT_EQ(lending_pending(l), 1);
	lending_end(l, t3);
	CHECK_INT_EQ(lending_pending(l), 0);
	lending_free(l);

	l = lending_new(); /* what is still retired at the end goes with it */
	CHECK(l != NULL);
	(void)lending_begin(l);
	lending_retire(l, service("d", "10.0.0.4"));
	lending_free(l);
}

/* The synchronous build gives the same snapshot; a cancelled job calls back without one. */
static void test_run_and_cancel(uv_loop_t *loop)
{
	struct nacos_service *svc = service("a", "10.0.0.1");
	struct snapjob_result res;
	snapjob_run(job_with(3, &svc, 1), &res);
	CHECK(res.snap != NULL);
	CHECK_INT_EQ(snapshot_generation(res.snap), 3);
	snapshot_free(res.snap);

	/* Fill the pool (4 threads by default) so the last job cannot have started yet. */
	struct done d[6] = {{0}};
	struct snapjob *jobs[6];
	for (int i = 0; i < 6; i++) {
		jobs[i] = job_with((uint32_t)i, &svc, 1);
		CHECK_INT_EQ(snapjob_start(jobs[i], loop, on_done, &d[i]), 0);
	}
	snapjob_cancel(jobs[5]);
	CHECK_INT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
	for (int i = 0; i < 6; i++) {
		CHECK_INT_EQ(d[i].calls, 1);
		CHECK(d[i].res.cancelled == !d[i].res.snap);
		snapshot_free(d[i].res.snap);
	}
	snapjob_free(NULL);
	nacos_service_free(svc);
}

int main(void)
{
	uv_loop_t loop;
	CHECK_INT_EQ(uv_loop_init(&loop), 0);
	test_async_build(&loop);
	test_lending_order();
	test_run_and_cancel(&loop);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
	return 0;
}

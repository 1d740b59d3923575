/* The forwarder's counters per upstream resolver, for the upstream="ADDR:PORT" metrics. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UPSTATS_MAX 16 /* CONFIG_MAX_LIST upstreams */

enum upstats_event {
	UPSTATS_QUERIES,  /* attempts sent */
	UPSTATS_ANSWERS,  /* replies that went to the client */
	UPSTATS_FAILURES, /* replies that did not: SERVFAIL, REFUSED, NOTIMP */
	UPSTATS_TIMEOUTS, /* attempts that got no reply in time */
	UPSTATS_EVENTS
};

struct upstats {
	size_t n;
	struct sockaddr_storage addr[UPSTATS_MAX];
	uint64_t count[UPSTATS_MAX][UPSTATS_EVENTS];
};

/* Starts counting for sa (once per upstream; beyond UPSTATS_MAX it is not counted). */
void upstats_add(struct upstats *u, const struct sockaddr *sa);
/* Counts e for the upstream at sa; an address never added is ignored. */
void upstats_count(struct upstats *u, const struct sockaddr *sa, enum upstats_event e);
/* "queries", "answers", "failures", "timeouts". */
const char *upstats_event_name(enum upstats_event e);

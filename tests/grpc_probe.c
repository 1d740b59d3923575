/* Drives resolver/sync/grpc.c against a server for tests/integration/test_grpc.py.
 * Usage: grpc_probe HOST PORT [CAFILE] (with CAFILE: TLS, verified against it).
 * Reads commands on stdin, one a line:
 *   token TOKEN | sub SERVICE | req TYPE JSON | close
 * and prints events on stdout, one a line:
 *   up WHY | down WHY | push TYPE JSON | reply ERRNO TYPE JSON | resubscribed N
 * Every subscription is sent again on each "up", as the owner of a connection must. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "resolver/log.h"
#include "resolver/sync/grpc.h"

#define MAX_SUBS 16

static struct grpc *conn;
static uv_pipe_t in;
static char line[65536];
static size_t line_len;
static char *subs[MAX_SUBS];
static int n_subs;

static void on_reply(void *arg, int error, const char *type, const char *json, size_t len)
{
	printf("reply %d %s %.*s\n", error, type ? type : "-", (int)len, json ? json : "");
	fflush(stdout);
}

static void subscribe(const char *name)
{
	json_t *r = json_pack("{s:s, s:{}, s:s, s:s, s:s, s:s, s:b}", "requestId", "1", "headers",
			      "namespace", "public", "serviceName", name, "groupName",
			      "DEFAULT_GROUP", "clusters", "", "subscribe", 1);
	char *body = json_dumps(r, JSON_COMPACT);
	int rc = grpc_request(conn, "SubscribeServiceRequest", body, 0, on_reply, NULL);
	if (rc < 0) {
		printf("reply %d - \n", rc);
		fflush(stdout);
	}
	free(body);
	json_decref(r);
}

static void on_state(void *owner, bool up, const char *why)
{
	printf("%s %s\n", up ? "up" : "down", why);
	if (up) {
		for (int i = 0; i < n_subs; i++)
			subscribe(subs[i]);
		printf("resubscribed %d\n", n_subs);
	}
	fflush(stdout);
}

static void on_push(void *owner, const char *type, const char *json, size_t len)
{
	printf("push %s %.*s\n", type, (int)len, json);
	fflush(stdout);
}

static void finish(void)
{
	grpc_close(conn);
	conn = NULL;
	if (!uv_is_closing((uv_handle_t *)&in))
		uv_close((uv_handle_t *)&in, NULL);
}

static void command(char *cmd)
{
	if (!conn)
		return;
	char *arg = strchr(cmd, ' ');
	if (arg)
		*arg++ = 0;
	if (strcmp(cmd, "close") == 0) {
		finish();
	} else if (strcmp(cmd, "token") == 0 && arg) {
		grpc_set_token(conn, arg);
	} else if (strcmp(cmd, "sub") == 0 && arg && n_subs < MAX_SUBS) {
		subs[n_subs++] = strdup(arg);
		subscribe(arg);
	} else if (strcmp(cmd, "req") == 0 && arg && strchr(arg, ' ')) {
		char *json = strchr(arg, ' ');
		*json++ = 0;
		int rc = grpc_request(conn, arg, json, 0, on_reply, NULL);
		if (rc < 0) {
			printf("reply %d - \n", rc);
			fflush(stdout);
		}
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	*b = uv_buf_init(line + line_len, (unsigned)(sizeof line - 1 - line_len));
}

static void on_stdin(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	if (n < 0) {
		finish();
		return;
	}
	line_len += (size_t)n;
	char *nl;
	while ((nl = memchr(line, '\n', line_len))) {
		*nl = 0;
		size_t used = (size_t)(nl - line) + 1;
		command(line);
		memmove(line, line + used, line_len - used);
		line_len -= used;
	}
	if (line_len == sizeof line - 1)
		line_len = 0; /* an overlong line is dropped */
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: grpc_probe HOST PORT [CAFILE]\n");
		return 2;
	}
	log_init();
	log_set_level(LOG_LEVEL_DEBUG);
	uv_loop_t *loop = uv_default_loop();
	struct grpc_options o = {.host = argv[1],
				 .port = (uint16_t)atoi(argv[2]),
				 .client_version = "Nacos-C-Client:v0.1.0",
				 .tenant = "",
				 .module = "naming",
				 .timeout_ms = 2000,
				 .tls = argc == 4,
				 .ca_file = argc == 4 ? argv[3] : NULL};
	struct grpc_handlers h = {.owner = NULL, .on_state = on_state, .on_push = on_push};
	if (grpc_new(loop, &o, &h, &conn) < 0)
		return 1;
	uv_pipe_init(loop, &in, 0);
	uv_pipe_open(&in, 0);
	uv_read_start((uv_stream_t *)&in, on_alloc, on_stdin);
	grpc_start(conn);
	uv_run(loop, UV_RUN_DEFAULT);
	for (int i = 0; i < n_subs; i++)
		free(subs[i]);
	int rc = uv_loop_close(loop);
	printf("loop_close %d\n", rc);
	return rc == 0 ? 0 : 1;
}

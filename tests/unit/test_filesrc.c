/* The file registry source: initial load, reloads off the loop, bad files, coalescing, close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "check.h"
#include "resolver/config.h"
#include "resolver/sync/filesrc.h"
#include "resolver/serve/snapstore.h"
#include "zones/data/snapshot.h"

static char dir[] = "/tmp/test_filesrc_XXXXXX";
static char path[64];

/* A registry file with n services of one instance each in namespace "public". */
static void write_registry(int n)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fprintf(f, "{\"namespaces\": {\"public\": [");
	for (int i = 0; i < n; i++)
		fprintf(f,
			"%s{\"name\": \"DEFAULT_GROUP@@svc-%d\", \"hosts\": [{\"ip\": "
			"\"10.0.0.%d\", \"port\": 80, \"weight\": 1.0, \"healthy\": true, "
			"\"enabled\": true}]}",
			i ? "," : "", i, i + 1);
	fprintf(f, "]}}\n");
	CHECK(fclose(f) == 0);
}

static void write_text(const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(text, f);
	CHECK(fclose(f) == 0);
}

static size_t services(struct snapstore *reg)
{
	struct snapshot_stats st;
	snapshot_get_stats(snapstore_get(reg), &st);
	return st.services;
}

static struct snapstore *registry_empty(const struct config *c)
{
	struct snapshot_config sc;
	struct snapshot_builder *b;
	struct snapshot *s;
	struct snapstore *reg;

	config_snapshot(c, &sc);
	CHECK((b = snapshot_builder_new(&sc, 100, NULL)) != NULL);
	CHECK((s = snapshot_build(b)) != NULL);
	CHECK((reg = snapstore_new(s)) != NULL);
	return reg;
}

static void test_load_and_reload(uv_loop_t *loop, const struct config *c)
{
	struct snapstore *reg = registry_empty(c);
	struct filesrc *f;
	uint32_t gen;

	write_registry(3);
	CHECK((f = filesrc_new(loop, path, c, reg)) != NULL);
	CHECK_INT_EQ(services(reg), 3);
	CHECK(snapshot_generation(snapstore_get(reg)) > 100);

	/* a good file replaces the data, once the loop has run the reload */
	write_registry(5);
	filesrc_reload(f, c);
	CHECK_INT_EQ(services(reg), 3);
	CHECK_INT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(services(reg), 5);

	/* a bad file keeps the old snapshot */
	const struct snapshot *before = snapstore_get(reg);
	write_text("{\"namespaces\": [");
	filesrc_reload(f, c);
	CHECK_INT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
	CHECK(snapstore_get(reg) == before);
	CHECK_INT_EQ(services(reg), 5);

	/* reloads asked for while one is in flight run once more, not once each */
	write_registry(2);
	gen = snapstore_next_generation(reg);
	filesrc_reload(f, c);
	filesrc_reload(f, c);
	filesrc_reload(f, c);
	filesrc_reload(f, c);
	CHECK_INT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(services(reg), 2);
	CHECK_INT_EQ(snapshot_generation(snapstore_get(reg)), gen + 2);

	/* closing with a reload in flight frees everything once it ends */
	filesrc_reload(f, c);
	filesrc_close(f);
	CHECK_INT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
	snapstore_free(reg);
}

static void test_bad_initial(uv_loop_t *loop, const struct config *c)
{
	struct snapstore *reg = registry_empty(c);
	char missing[80];

	snprintf(missing, sizeof(missing), "%s/missing.json", dir);
	CHECK(filesrc_new(loop, missing, c, reg) == NULL);
	write_text("not json");
	CHECK(filesrc_new(loop, path, c, reg) == NULL);
	write_text("{\"namespaces\": {}}");
	struct filesrc *f = filesrc_new(loop, path, c, reg);
	CHECK(f != NULL);
	CHECK_INT_EQ(services(reg), 0);
	filesrc_close(f);
	CHECK_INT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0); /* the close callbacks free it */
	snapstore_free(reg);
}

int main(void)
{
	uv_loop_t loop;
	struct config c;

	config_defaults(&c);
	c.log_level = LOG_LEVEL_ERR;
	log_set_level(LOG_LEVEL_ERR);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/registry.json", dir);
	CHECK_INT_EQ(uv_loop_init(&loop), 0);

	test_load_and_reload(&loop, &c);
	test_bad_initial(&loop, &c);

	CHECK_INT_EQ(uv_loop_close(&loop), 0);
	unlink(path);
	rmdir(dir);
	return 0;
}

/* The registry as JSON text in the snapshot-file format that registry_from_json in nacos.c
 * reads back: for the cache file and for /snapshot. Apart from the parser, since it trusts its
 * input (our own records) where the parser trusts nothing. */
#include "zones/nacos/nacos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The json_object_set_new calls below steal their value even on failure and accept a NULL
 * object or value (returning -1), so a chain of them needs only one check at the end. */
static json_t *meta_to_json(const struct nacos_instance *in)
{
	json_t *o = json_object();
	int rc = 0;

	for (size_t i = 0; i < in->n_meta; i++)
		rc |= json_object_set_new(o, in->meta[2 * i], json_string(in->meta[2 * i + 1]));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *instance_to_json(const struct nacos_instance *in)
{
	json_t *o = json_object();
	int rc = 0;

	rc |= json_object_set_new(o, "ip", json_string(in->ip));
	rc |= json_object_set_new(o, "port", json_integer(in->port));
	rc |= json_object_set_new(o, "weight", json_real(in->weight));
	rc |= json_object_set_new(o, "healthy", json_boolean(in->healthy));
	rc |= json_object_set_new(o, "enabled", json_boolean(in->enabled));
	rc |= json_object_set_new(o, "ephemeral", json_boolean(in->ephemeral));
	rc |= json_object_set_new(o, "clusterName", json_string(in->cluster));
	if (in->instance_id)
		rc |= json_object_set_new(o, "instanceId", json_string(in->instance_id));
	rc |= json_object_set_new(o, "metadata", meta_to_json(in));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *origin_to_json(const struct nacos_origin *og)
{
	json_t *o = json_object();
	int rc = 0;

	if (og->server)
		rc |= json_object_set_new(o, "server", json_string(og->server));
	if (og->api)
		rc |= json_object_set_new(o, "api", json_string(og->api));
	if (og->fetched_ms)
		rc |= json_object_set_new(o, "fetchedMs", json_integer(og->fetched_ms));
	rc |= json_object_set_new(o, "stale", json_boolean(og->stale));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *hosts_to_json(const struct nacos_service *s)
{
	json_t *a = json_array();
	int rc = 0;

	for (size_t i = 0; i < s->n_instances; i++)
		rc |= json_array_append_new(a, instance_to_json(&s->instances[i]));
	if (rc) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *service_to_json(const struct nacos_service *s)
{
	size_t size = strlen(s->group) + strlen(s->name) + 3;
	char *full = malloc(size);
	json_t *o = json_object();
	const struct nacos_origin *og = &s->origin;
	int rc = full ? 0 : -1;

	if (full)
		snprintf(full, size, "%s@@%s", s->group, s->name);
	rc |= json_object_set_new(o, "name", full ? json_string(full) : NULL);
	rc |= json_object_set_new(o, "groupName", json_string(s->group));
	rc |= json_object_set_new(o, "hosts", hosts_to_json(s));
	rc |= json_object_set_new(o, "reachProtectionThreshold",
				  json_boolean(s->protect_threshold));
	rc |= json_object_set_new(o, "cacheMillis", json_integer(s->cache_millis));
	if (og->server || og->api || og->fetched_ms || og->stale)
		rc |= json_object_set_new(o, "origin", origin_to_json(og));
	free(full);
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *registry_to_json(const struct nacos_registry *r)
{
	json_t *nss = json_object(), *root = json_object();
	int rc = json_object_set_new(root, "namespaces", nss);

	for (size_t i = 0; i < r->n_namespaces && rc == 0; i++) {
		const struct nacos_namespace *ns = &r->namespaces[i];
		json_t *a = json_array();
		for (size_t j = 0; j < ns->n_services; j++)
			rc |= json_array_append_new(a, service_to_json(ns->services[j]));
		rc |= json_object_set_new(nss, ns->id, a);
	}
	if (rc) {
		json_decref(root);
		return NULL;
	}
	return root;
}

char *nacos_registry_dump(const struct nacos_registry *r)
{
	const size_t flags = JSON_INDENT(1) | JSON_REAL_PRECISION(17);
	json_t *root = registry_to_json(r);
	size_t n = root ? json_dumpb(root, NULL, 0, flags) : 0;
	char *out = n ? malloc(n + 1) : NULL;

	/* Our own buffer, not json_dumps(): the caller frees with free(), whatever allocator
	 * jansson was given. */
	if (out && json_dumpb(root, out, n, flags) == n) {
		out[n] = '\0';
	} else {
		free(out);
		out = NULL;
	}
	json_decref(root);
	return out;
}

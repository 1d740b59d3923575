#include "zones/data/inspect.h"

#include <ldns/ldns.h>

#include "zones/data/snapshot_internal.h"

void inspect_services(const struct snapshot *s, inspect_service_cb cb, void *arg)
{
	for (size_t i = 0; i < s->n_services; i++) {
		const struct snap_service *v = &s->services[i];
		struct inspect_service out = {
			.namespace_id = v->namespace_id,
			.group = v->group,
			.name = v->name,
			.server = v->server,
			.api = v->api,
			.fetched_ms = v->fetched_ms,
			.stale = v->stale,
			.uncatalogued = v->uncatalogued,
			.pending = v->pending,
			.protect = v->protect,
			.total = v->total,
			.healthy = v->healthy,
			.enabled = v->enabled,
			.usable = v->usable,
		};
		cb(arg, &out);
	}
}

const char *inspect_zone(const struct snapshot *s, size_t i, const char **namespace_id, char *buf,
			 size_t len)
{
	const struct snap_zone *z;
	ldns_rdf *rdf;
	char *text;

	if (i >= s->n_zones || len == 0)
		return NULL;
	z = &s->zones[i];
	*namespace_id = z->namespace_id;
	rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, z->wire_len, z->wire);
	text = rdf ? ldns_rdf2str(rdf) : NULL;
	ldns_rdf_deep_free(rdf);
	if (!text)
		return NULL;
	snprintf(buf, len, "%s", text);
	free(text);
	return buf;
}

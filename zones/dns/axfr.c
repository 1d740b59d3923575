#include "zones/dns/axfr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "zones/data/snapshot_internal.h"
#include "zones/dns/query.h"
#include "zones/dns/wire.h"

#define AXFR_MSG_MAX 16384 /* octets of records per message, before compression */
#define AXFR_WIRE    65535

bool axfr_is_request(const uint8_t *in, size_t len)
{
	size_t end;

	if (len < DNS_HDR_LEN || wire_is_reply(in) || wire_opcode(in) != DNS_OPCODE_QUERY)
		return false;
	if (!(end = wire_question_end(in, len)))
		return false;
	return wire_qtype(in, end) == DNS_TYPE_AXFR;
}

int axfr_error(const uint8_t *in, size_t len, uint8_t rcode, uint8_t *out, size_t cap)
{
	return wire_error_reply(in, len, rcode, out, cap);
}

/* The zone whose apex is owner, or SNAP_NONE. */
static size_t axfr_find_zone(const struct snapshot *s, const ldns_rdf *owner)
{
	for (size_t z = 0; z < s->n_zones; z++) {
		ldns_rdf *apex = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, s->zones[z].wire_len,
						       s->zones[z].wire);
		int cmp = apex ? ldns_dname_compare(apex, owner) : 1;
		ldns_rdf_deep_free(apex);
		if (cmp == 0)
			return z;
	}
	return SNAP_NONE;
}

/* Asks the snapshot for (name, qtype) over TCP and appends the answer section to rrs. */
static int axfr_collect(const struct snapshot *s, const uint8_t *key, size_t key_len,
			uint16_t qtype, int64_t now_ms, uint8_t *buf, ldns_rr_list *rrs)
{
	uint8_t q[DNS_HDR_LEN + DNS_NAME_MAX + 4] = {0};
	struct query_info qi = {.tcp = true, .now_ms = now_ms};
	size_t out_len = 0;
	ldns_pkt *p = NULL;

	wire_put16(q + DNS_OFF_QD, 1);
	memcpy(q + DNS_HDR_LEN, key, key_len);
	wire_put16(q + DNS_HDR_LEN + key_len, qtype);
	wire_put16(q + DNS_HDR_LEN + key_len + 2, DNS_CLASS_IN);
	if (query_answer(s, &qi, q, DNS_HDR_LEN + key_len + 4, buf, AXFR_WIRE, &out_len) !=
	    QUERY_ANSWER)
		return 0;
	if (ldns_wire2pkt(&p, buf, out_len) != LDNS_STATUS_OK)
		return -ENOMEM;
	ldns_rr_list *an = ldns_pkt_answer(p);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(an, i));
		if (!rr || !ldns_rr_list_push_rr(rrs, rr)) {
			ldns_rr_free(rr);
			ldns_pkt_free(p);
			return -ENOMEM;
		}
	}
	ldns_pkt_free(p);
	return 0;
}

/* The record types a name of this kind holds; NULL for names without records of their own. */
static const uint16_t *axfr_types(uint8_t kind, size_t *n)
{
	static const uint16_t apex[] = {LDNS_RR_TYPE_NS};
	static const uint16_t service[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_SRV,
					   LDNS_RR_TYPE_TXT};
	static const uint16_t iplabel[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA};

	switch (kind) {
	case SNAP_KIND_APEX:
		*n = 1;
		return apex;
	case SNAP_KIND_SERVICE:
		*n = 4;
		return service;
	case SNAP_KIND_IPLABEL:
		*n = 2;
		return iplabel;
	default:
		*n = 0;
		return NULL;
	}
}

/* A name's records are in rrs: each takes them out, or keeps collecting when NULL. */
typedef int (*axfr_name_cb)(void *arg, ldns_rr_list *rrs);

/* Every record of zone z: the SOA first, then every name's RRsets (the closing SOA is the
 * caller's). rrs owns the records. */
static int axfr_zone_rrs(const struct snapshot *s, size_t z, int64_t now_ms, ldns_rr_list *rrs,
			 axfr_name_cb each, void *arg)
{
	const struct snap_zone *zone = &s->zones[z];
	uint8_t *buf = malloc(AXFR_WIRE);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = axfr_collect(s, zone->wire, zone->wire_len, LDNS_RR_TYPE_SOA, now_ms, buf, rrs);
	if (rc == 0 && ldns_rr_list_rr_count(rrs) == 0)
		rc = -ENOMEM; /* no SOA: the query path could not answer */
	if (rc == 0 && each)
		rc = each(arg, rrs);
	for (size_t i = 0; i < s->n_names && rc == 0; i++) {
		const struct snap_name *n = &s->names[i];
		size_t nt;
		const uint16_t *types = axfr_types(n->kind, &nt);
		if (n->zone != z)
			continue;
		for (size_t t = 0; t < nt && rc == 0; t++)
			rc = axfr_collect(s, s->keys + n->key_off, n->key_len, types[t], now_ms,
					  buf, rrs);
		if (rc == 0 && each)
			rc = each(arg, rrs);
	}
	free(buf);
	return rc;
}

/* One message: the query's ID and question, rrs[from..to) in the answer section. */
static int axfr_emit(const ldns_pkt *q, const ldns_rr_list *rrs, size_t from, size_t to,
		     axfr_msg_cb cb, void *arg)
{
	ldns_pkt *p = ldns_pkt_new();
	uint8_t *wire = NULL;
	size_t len = 0;
	int rc = -ENOMEM;

	if (!p)
		return -ENOMEM;
	ldns_pkt_set_id(p, ldns_pkt_id(q));
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_aa(p, true);
	ldns_pkt_set_rd(p, ldns_pkt_rd(q));
	ldns_rr *qr = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0));
	if (!qr || !ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, qr)) {
		ldns_rr_free(qr);
		goto out;
	}
	for (size_t i = from; i < to; i++) {
		ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(rrs, i));
		if (!rr || !ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr)) {
			ldns_rr_free(rr);
			goto out;
		}
	}
	if (ldns_pkt2wire(&wire, p, &len) != LDNS_STATUS_OK)
		goto out;
	rc = len <= AXFR_WIRE ? cb(arg, wire, len) : -EMSGSIZE;
out:
	free(wire);
	ldns_pkt_free(p);
	return rc;
}

/* Splits rrs into messages of at most AXFR_MSG_MAX octets of uncompressed records. */
static int axfr_emit_all(const ldns_pkt *q, const ldns_rr_list *rrs, axfr_msg_cb cb, void *arg)
{
	size_t n = ldns_rr_list_rr_count(rrs), from = 0, size = 0;
	ldns_buffer *b = ldns_buffer_new(512);
	int rc = 0;

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		ldns_buffer_clear(b);
		if (ldns_rr2buffer_wire(b, ldns_rr_list_rr(rrs, i), LDNS_SECTION_ANSWER) !=
		    LDNS_STATUS_OK) {
			rc = -ENOMEM;
			break;
		}
		if (i > from && size + ldns_buffer_position(b) > AXFR_MSG_MAX) {
			rc = axfr_emit(q, rrs, from, i, cb, arg);
			from = i;
			size = 0;
		}
		size += ldns_buffer_position(b);
	}
	if (rc == 0)
		rc = axfr_emit(q, rrs, from, n, cb, arg);
	ldns_buffer_free(b);
	return rc;
}

static int axfr_append_soa(ldns_rr_list *rrs)
{
	ldns_rr *soa = ldns_rr_clone(ldns_rr_list_rr(rrs, 0));
	if (!soa || !ldns_rr_list_push_rr(rrs, soa)) {
		ldns_rr_free(soa);
		return -ENOMEM;
	}
	return 0;
}

int axfr_transfer(const struct snapshot *s, const uint8_t *in, size_t len, int64_t now_ms,
		  axfr_msg_cb cb, void *arg)
{
	ldns_pkt *q = NULL;
	ldns_rr_list *rrs = NULL;
	size_t z;
	int rc;

	if (!axfr_is_request(in, len) || ldns_wire2pkt(&q, in, len) != LDNS_STATUS_OK)
		return -EBADMSG;
	z = axfr_find_zone(s, ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
	if (z == SNAP_NONE) {
		rc = -ENOENT;
		goto out;
	}
	if (s->zones[z].partial) { /* a secondary would serve names missing as NXDOMAIN */
		rc = -EAGAIN;
		goto out;
	}
	if (!(rrs = ldns_rr_list_new())) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = axfr_zone_rrs(s, z, now_ms, rrs, NULL, NULL)) == 0 &&
	    (rc = axfr_append_soa(rrs)) == 0)
		rc = axfr_emit_all(q, rrs, cb, arg);
out:
	ldns_rr_list_deep_free(rrs);
	ldns_pkt_free(q);
	return rc;
}

struct axfr_lines {
	axfr_line_cb cb;
	void *arg;
};

/* Prints a name's records one by one and drops them: a zone's text is never held whole, and
 * ldns's own ldns_rr_list2str, whose counter is 16 bits, is not used (past 65,535 records it
 * never ends). */
static int axfr_print_name(void *arg, ldns_rr_list *rrs)
{
	struct axfr_lines *l = arg;
	size_t n = ldns_rr_list_rr_count(rrs);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		char *line = ldns_rr2str(ldns_rr_list_rr(rrs, i));
		size_t len = line ? strlen(line) : 0;
		if (!line) {
			rc = -ENOMEM;
			break;
		}
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		rc = l->cb(l->arg, line, len);
		free(line);
	}
	for (ldns_rr *rr; (rr = ldns_rr_list_pop_rr(rrs));)
		ldns_rr_free(rr);
	return rc;
}

int axfr_zone_lines(const struct snapshot *s, size_t zone, int64_t now_ms, axfr_line_cb cb,
		    void *arg)
{
	struct axfr_lines l = {.cb = cb, .arg = arg};
	ldns_rr_list *rrs;
	int rc;

	if (zone >= s->n_zones)
		return -ENOENT;
	if (!(rrs = ldns_rr_list_new()))
		return -ENOMEM;
	rc = axfr_zone_rrs(s, zone, now_ms, rrs, axfr_print_name, &l);
	ldns_rr_list_deep_free(rrs);
	return rc;
}

/* The DNS numbers, named once (RFC 1035, 2136, 3225, 4035, 5001, 6891, 8914). Every module that
 * reads or writes the wire takes its numbers from here; the header accessors are in wire.h. */
#pragma once

/* Header layout: 12 octets; flags in octets 2 and 3. */
#define DNS_HDR_LEN 12
#define DNS_OFF_ID  0
#define DNS_OFF_FL1 2 /* QR, opcode, AA, TC, RD */
#define DNS_OFF_FL2 3 /* RA, Z, AD, CD, rcode */
#define DNS_OFF_QD  4
#define DNS_OFF_AN  6
#define DNS_OFF_NS  8
#define DNS_OFF_AR  10

/* Flag bits of octet 2. */
#define DNS_FLAG_QR      0x80
#define DNS_OPCODE_MASK  0x78
#define DNS_OPCODE_SHIFT 3
#define DNS_FLAG_AA      0x04
#define DNS_FLAG_TC      0x02
#define DNS_FLAG_RD      0x01
#define DNS_FL1_ECHOED   0x79 /* opcode and RD: what a reply copies from its query */
/* Flag bits of octet 3. */
#define DNS_FLAG_RA       0x80
#define DNS_FLAG_Z        0x40
#define DNS_FLAG_AD       0x20
#define DNS_FLAG_CD       0x10
#define DNS_RCODE_MASK    0x0f
#define DNS_FL2_NOT_RCODE 0xf0

/* Opcodes. */
#define DNS_OPCODE_QUERY  0
#define DNS_OPCODE_NOTIFY 4
#define DNS_OPCODE_UPDATE 5

/* Rcodes (BADVERS lives in the OPT's extended rcode). */
#define DNS_RCODE_NOERROR  0
#define DNS_RCODE_FORMERR  1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP   4
#define DNS_RCODE_REFUSED  5
#define DNS_RCODE_NOTAUTH  9
#define DNS_RCODE_BADVERS  16

/* Types. */
#define DNS_TYPE_A     1
#define DNS_TYPE_NS    2
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_SOA   6
#define DNS_TYPE_PTR   12
#define DNS_TYPE_MX    15
#define DNS_TYPE_TXT   16
#define DNS_TYPE_AAAA  28
#define DNS_TYPE_SRV   33
#define DNS_TYPE_NAPTR 35
#define DNS_TYPE_OPT   41
#define DNS_TYPE_RRSIG 46
#define DNS_TYPE_HTTPS 65
#define DNS_TYPE_IXFR  251
#define DNS_TYPE_AXFR  252
#define DNS_TYPE_ANY   255

/* Classes. */
#define DNS_CLASS_IN 1
#define DNS_CLASS_CH 3

/* Names. */
#define DNS_LABEL_MAX 63
#define DNS_NAME_MAX  255
#define DNS_PTR_MASK  0xc0 /* a length octet with these bits set is a compression pointer */

/* The OPT record (RFC 6891): root owner, type, class = UDP size, TTL = ext rcode, version, flags.
 */
#define DNS_OPT_FIXED_LEN 11   /* root name, type, class, ttl, rdlength */
#define DNS_OPT_FLAG_DO   0x80 /* first octet of the TTL's flags half */

/* EDNS option codes. */
#define DNS_EDNS_NSID 3  /* RFC 5001 */
#define DNS_EDNS_EDE  15 /* RFC 8914 */

/* Extended DNS Error info codes (RFC 8914). */
#define DNS_EDE_STALE_ANSWER 3
#define DNS_EDE_NOT_READY    14

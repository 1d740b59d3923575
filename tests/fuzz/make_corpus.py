#!/usr/bin/python3
"""Regenerates the seed corpora in tests/fuzz/corpus/ from tests/data and dnspython messages."""
import hashlib
import os
import pathlib

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rdatatype
import dns.rrset

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / 'tests' / 'fuzz' / 'corpus'


def put(target, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def queries():
    names = ['order-service.DEFAULT_GROUP.svc.', 'ORDER-Service.default_group.SVC.',
             '_order-service._tcp.DEFAULT_GROUP.svc.', '10-0-0-1.order-service.DEFAULT_GROUP.svc.',
             '_info.order-service.DEFAULT_GROUP.svc.', 'east._cluster.order-service.DEFAULT_GROUP.svc.',
             'com.acme.Order.DEFAULT_GROUP.svc.', 'DEFAULT_GROUP.svc.', 'svc.', 'nope.svc.',
             'pending-svc.DEFAULT_GROUP.svc.', 'billing.DEFAULT_GROUP.prod.svc.',
             'v6only.PAY.cluster.local.', 'www.example.com.']
    types = ['A', 'AAAA', 'SRV', 'TXT', 'SOA', 'NS', 'ANY', 'MX']
    i = 0
    for n in names:
        for t in types[: 3 + i % 5]:
            q = dns.message.make_query(n, t, use_edns=(0 if i % 2 else None),
                                       payload=512 + 256 * (i % 5))
            put('query', bytes([i % 256]) + q.to_wire())
            i += 1
    q = dns.message.make_query('version.bind.', 'TXT', rdclass='CH')
    put('query', b'\x00' + q.to_wire())
    q = dns.message.make_query('svc.', 'SOA', use_edns=1)
    put('query', b'\x01' + q.to_wire())
    q = dns.message.make_query('svc.', 'SOA')
    q.set_opcode(dns.opcode.NOTIFY)
    put('query', b'\x02' + q.to_wire())


def replies():
    q = dns.message.make_query('www.example.com.', 'A', use_edns=0, payload=4096)
    q.id = 0x1234
    for i, rcode in enumerate([0, 2, 3, 5]):
        r = dns.message.make_response(q)
        r.set_rcode(rcode)
        if rcode == 0:
            for k in range(1 + i * 20):
                r.answer.append(dns.rrset.from_text('www.example.com.', 60, 'IN', 'A',
                                                    '192.0.2.%d' % (k + 1)))
        put('fwdmsg', bytes([0x40 + 2 * i]) + r.to_wire())
    r = dns.message.make_response(q)
    r.flags |= dns.flags.TC
    put('fwdmsg', b'\x10' + r.to_wire())
    q2 = dns.message.make_query('a.b.', 'TXT')
    r2 = dns.message.make_response(q2)
    r2.answer.append(dns.rrset.from_text('a.b.', 5, 'IN', 'TXT', '"hello"'))
    w = q2.to_wire()
    put('fwdmsg', bytes([0x21, len(w)]) + w + r2.to_wire())
    for i, (n, t, data) in enumerate([('x.example.', 'AAAA', '2001:db8::1'),
                                      ('Mixed.Case.Example.', 'MX', '10 mail.example.'),
                                      ('s.example.', 'SRV', '0 5 80 t.example.'),
                                      ('c.example.', 'CNAME', 'www.example.com.'),
                                      ('t.example.', 'TXT', '"a" "b"')]):
        for edns in (None, 0):
            qq = dns.message.make_query(n, t, use_edns=edns)
            rr = dns.message.make_response(qq)
            rr.answer.append(dns.rrset.from_text(n, 30, 'IN', t, data))
            rr.authority.append(dns.rrset.from_text('example.', 30, 'IN', 'NS', 'ns.example.'))
            w = qq.to_wire()
            put('fwdmsg', bytes([0x01 + 2 * i + (0x80 if edns is None else 0), len(w)]) + w +
                rr.to_wire())


def cache_replies():
    """Upstream replies for the forward cache: chains, negative answers, records for other names."""
    def reply(name, t, flags=0, rcode=0, answer=(), authority=(), additional=()):
        q = dns.message.make_query(name, t)
        r = dns.message.make_response(q)
        r.set_rcode(rcode)
        for section, records in ((r.answer, answer), (r.authority, authority),
                                 (r.additional, additional)):
            for text in records:
                n, ttl, cls, rt, rd = text.split(' ', 4)
                section.append(dns.rrset.from_text(n, int(ttl), cls, rt, rd))
        put('msgcache', bytes([flags]) + r.to_wire())
    soa = 'example.org. 3600 IN SOA ns.example.org. admin.example.org. 1 3600 600 86400 60'
    reply('www.example.org.', 'A', answer=['www.example.org. 300 IN A 192.0.2.1'])
    reply('www.example.org.', 'A', 2, answer=['www.example.org. 300 IN A 192.0.2.1'],
          additional=['victim.example.org. 300 IN A 203.0.113.66'])
    reply('alias.example.org.', 'A', answer=['alias.example.org. 300 IN CNAME www.example.org.',
                                             'www.example.org. 60 IN A 192.0.2.1'])
    reply('alias.example.org.', 'AAAA', answer=['alias.example.org. 300 IN CNAME www.example.org.'],
          authority=[soa])
    reply('nx.example.org.', 'A', rcode=3, authority=[soa])
    reply('nx.example.org.', 'A', 1, rcode=3, authority=[soa])
    reply('mx.example.org.', 'MX', answer=['mx.example.org. 300 IN MX 10 mail.example.org.'])
    reply('s.example.org.', 'SRV', answer=['s.example.org. 300 IN SRV 0 5 80 t.example.org.'])
    reply('example.org.', 'SOA', answer=[soa])
    reply('1.0.0.10.in-addr.arpa.', 'PTR',
          answer=['1.0.0.10.in-addr.arpa. 300 IN PTR host.example.org.'])


def nacos():
    for kind in ('valid', 'invalid'):
        for case in sorted((ROOT / 'tests' / 'data' / 'nacos' / kind).iterdir()):
            f = case / 'input.json'
            if not f.exists():
                continue
            data = f.read_bytes()
            name = case.name
            if name.startswith('registry'):
                put('registry', data)
                continue
            sel = 3 if name.startswith('login') else 2 if name.startswith('service-list') \
                else 1 if name.startswith('v3') else 0
            put('nacos', bytes([sel]) + data)
            if sel == 0 and kind == 'valid':
                put('registry', b'{"namespaces": {"public": [' + data + b'], "prod": [' + data +
                    b']}}')
    put('registry', (ROOT / 'contrib' / 'demo' / 'registry.json').read_bytes())


def configs():
    for f in sorted((ROOT / 'tests' / 'data' / 'config').glob('*.conf')):
        put('config', f.read_bytes())
    put('config', (ROOT / 'contrib' / 'nacos-dns.conf.example').read_bytes())


def wire():
    """Whole messages: queries with and without OPT, a reply, a zone transfer request, and a
    question cut short, for the question reader and the error and truncated replies."""
    put('wire', dns.message.make_query('www.example.com.', 'A').to_wire())
    put('wire', dns.message.make_query('_http._tcp.svc.', 'SRV', use_edns=0, want_dnssec=True).to_wire())
    put('wire', dns.message.make_query('.', 'NS').to_wire())
    put('wire', dns.message.make_query('svc.', 'AXFR').to_wire())
    q = dns.message.make_query('www.example.com.', 'A')
    put('wire', dns.message.make_response(q).to_wire())
    put('wire', q.to_wire()[:20])


if __name__ == '__main__':
    queries()
    wire()
    replies()
    cache_replies()
    nacos()
    configs()
    for d in sorted(CORPUS.iterdir()):
        print(d.name, len(os.listdir(d)))

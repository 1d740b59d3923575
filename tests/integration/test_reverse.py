"""Reverse lookups: dig -x of an instance address answers PTR with every instance name of that
address in the zones, from the snapshot; other reverse names are forwarded (and cached) like any
name outside the zones."""
import dns.rcode
import dns.reversename

from conftest import serve_services, service_info
from test_forward_cache import ZONE, CountingUpstream

SERVICES = [
    service_info("payment-api", [{"ip": "10.1.0.1"}, {"ip": "2001:db8::7"}]),
    service_info("ledger", [{"ip": "10.1.0.1", "port": 9090}], group="BILLING"),
]


def ptrs(srv, ip):
    r = srv.query(dns.reversename.from_address(ip), "PTR")
    assert r.rcode() == dns.rcode.NOERROR, r
    return sorted(rr.target.to_text() for rrset in r.answer for rr in rrset)


def test_ptr_answers_every_instance_name_of_the_address(nacos_dns, workdir):
    srv = serve_services(nacos_dns, workdir, SERVICES)
    assert ptrs(srv, "10.1.0.1") == ["10-1-0-1.ledger.BILLING.svc.",
                                     "10-1-0-1.payment-api.DEFAULT_GROUP.svc."]
    assert ptrs(srv, "2001:db8::7") == ["2001-db8--7.payment-api.DEFAULT_GROUP.svc."]
    # the instance name resolves back to the address
    a = srv.query("10-1-0-1.payment-api.DEFAULT_GROUP.svc.", "A")
    assert [rr.address for rrset in a.answer for rr in rrset] == ["10.1.0.1"]


def test_other_reverse_names_are_forwarded_and_cached(nacos_dns, workdir):
    zone = dict(ZONE)
    zone["9.9.0.10.in-addr.arpa."] = ["300 PTR host.example.org."]
    up = CountingUpstream(zone)
    try:
        srv = serve_services(nacos_dns, workdir, SERVICES, "--upstream", f"127.0.0.1:{up.port}")
        for _ in range(2):
            assert ptrs(srv, "10.0.9.9") == ["host.example.org."]
        assert up.count("9.9.0.10.in-addr.arpa", "PTR") == 1
        # an instance address of another type is not ours either
        srv.query(dns.reversename.from_address("10.1.0.1"), "TXT")
        assert up.count("1.0.1.10.in-addr.arpa", "TXT") == 1
        assert up.count("1.0.1.10.in-addr.arpa", "PTR") == 0
    finally:
        up.stop()

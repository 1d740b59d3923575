"""pytest fixture for the fake Nacos server (tests/fake_nacos)."""

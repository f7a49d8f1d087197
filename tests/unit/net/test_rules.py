"""The outbound rules: upstream's six lists, encoded addresses, non-global networks."""

from __future__ import annotations

import ipaddress

import pytest

from spyglass.config import load_settings
from spyglass.errors import ConfigError, OutboundDenied
from spyglass.net.rules import OutboundLimits, OutboundRules, normalize_host

DEFAULT = OutboundRules()


@pytest.mark.parametrize(
    ("host", "normal"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("10.0.0.1", "10.0.0.1"),
        ("::FFFF:7f00:1", "::ffff:7f00:1"),
        ("2130706433", None),
        ("0x7f000001", None),
        ("0x7f.1", None),
        ("127.1", None),
        ("017700000001", None),
        ("", None),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_hosts_are_normalized_and_encoded_addresses_refused(host: str, normal: str | None) -> None:
    assert normalize_host(host) == normal


def test_defaults_let_http_and_https_on_their_ports_through() -> None:
    target = DEFAULT.check_url("https://user:p%40ss@Images.Example.org/a/b.img?sig=1")
    assert (target.scheme, target.host, target.port) == ("https", "images.example.org", 443)
    assert target.path == "/a/b.img?sig=1"
    assert (target.username, target.password) == ("user", "p@ss")
    assert DEFAULT.check_url("http://example.org:80/x").port == 80


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/x", "http and https"),
        ("file:///etc/passwd", "http and https"),
        ("http://example.org:8080/x", "port 8080"),
        ("http:///x", "no host"),
        ("http://2130706433/x", "encoded"),
        ("http://example.org:99999/x", "cannot be parsed"),
    ],
)
def test_defaults_refuse(url: str, reason: str) -> None:
    with pytest.raises(OutboundDenied, match=reason):
        DEFAULT.check_url(url)


def test_an_allow_list_wins_over_its_deny_list() -> None:
    rules = OutboundRules.build(
        allowed_hosts=("a.example",),
        disallowed_hosts=("a.example", "b.example"),
        allowed_ports=(),
        disallowed_ports=("22",),
    )
    assert rules.check_url("http://a.example/x").host == "a.example"
    with pytest.raises(OutboundDenied, match=r"host b\.example"):
        rules.check_url("http://b.example/x")
    with pytest.raises(OutboundDenied, match=r"host c\.example"):
        rules.check_url("http://c.example/x")
    assert rules.check_url("http://a.example:8080/x").port == 8080
    with pytest.raises(OutboundDenied, match="port 22"):
        rules.check_url("http://a.example:22/x")


def test_deny_lists_apply_when_no_allow_list_is_set() -> None:
    rules = OutboundRules.build(
        allowed_schemes=(),
        disallowed_schemes=("http",),
        disallowed_hosts=("10.0.0.1", "bad.example"),
    )
    with pytest.raises(OutboundDenied, match="scheme 'http'"):
        rules.check_url("http://good.example/x")
    assert rules.check_url("https://good.example/x").scheme == "https"
    with pytest.raises(OutboundDenied, match=r"host bad\.example"):
        rules.check_url("https://BAD.example./x")


def test_a_url_without_port_is_checked_with_its_schemes_port() -> None:
    rules = OutboundRules.build(allowed_ports=(8080,))
    with pytest.raises(OutboundDenied, match="port 80 "):
        rules.check_url("http://example.org/x")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_non_global_addresses_are_refused(address: str) -> None:
    target = DEFAULT.check_url("http://images.example.org/x")
    with pytest.raises(OutboundDenied, match="loopback, link-local or private"):
        DEFAULT.check_address(target, ipaddress.ip_address(address))


def test_global_addresses_pass() -> None:
    target = DEFAULT.check_url("http://images.example.org/x")
    for address in ("8.8.8.8", "2001:4860:4860::8888"):
        DEFAULT.check_address(target, ipaddress.ip_address(address))


def test_allowed_networks_and_named_hosts_open_private_ranges() -> None:
    rules = OutboundRules.build(allowed_networks=("10.0.0.0/8",), allowed_hosts=("mirror.lan",))
    other = rules.check_url("http://mirror.lan/x")
    rules.check_address(other, ipaddress.ip_address("192.168.0.9"))  # the operator named it
    open_rules = OutboundRules.build(allowed_networks=("10.0.0.0/8",))
    target = open_rules.check_url("http://any.example/x")
    open_rules.check_address(target, ipaddress.ip_address("10.20.30.40"))
    with pytest.raises(OutboundDenied):
        open_rules.check_address(target, ipaddress.ip_address("127.0.0.1"))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("allowed_ports", ("http",), "allowed_ports: 'http' is not a port"),
        ("disallowed_ports", ("0",), "disallowed_ports: '0'"),
        ("allowed_hosts", ("127.1",), "allowed_hosts: '127.1'"),
        ("allowed_networks", ("10.0.0.0/33",), "allowed_networks"),
    ],
)
def test_malformed_option_values_name_the_option(
    option: str, value: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        OutboundRules.build(**{option: value})


def test_rules_and_limits_come_from_import_filtering_opts(tmp_path: object) -> None:
    from pathlib import Path

    conf = Path(str(tmp_path)) / "glance-api.conf"
    conf.write_text(
        "[import_filtering_opts]\n"
        "allowed_hosts = images.example.org\n"
        "allowed_ports = 8080\n"
        "allowed_networks = 127.0.0.0/8, ::1/128\n"
        "max_redirects = 2\n"
        "read_timeout = 5.5\n"
    )
    settings = load_settings([conf])
    rules = OutboundRules.from_options(settings.option)
    assert rules.allowed_hosts == {"images.example.org"}
    assert rules.allowed_ports == {8080}
    assert rules.allowed_schemes == {"http", "https"}
    assert [str(n) for n in rules.allowed_networks] == ["127.0.0.0/8", "::1/128"]
    limits = OutboundLimits.from_options(settings.option, max_size=10)
    assert (limits.max_redirects, limits.read_timeout, limits.connect_timeout) == (2, 5.5, 10.0)
    assert limits.max_size == 10
    default = OutboundRules.from_options(load_settings([]).option)
    assert default == OutboundRules()

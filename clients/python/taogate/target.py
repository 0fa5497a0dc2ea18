"""Client-side check of a target: exactly one destination, as the agent wants it.

The grammar is the destination form of target/target.h::

    tcp:10.0.0.5:5432   udp:[fd00::53]:53   tcp:db.prod.internal:5432
    unix:/run/pg/.s.PGSQL.5432   file:/etc/secrets/db.key   exec:/usr/bin/psql

tcp/udp with one IP literal (IPv6 bracketed) or one fully qualified DNS name
(docs/names.md: the agent resolves it and the grant covers its current
addresses) and one port 1-65535; paths absolute and canonical. CIDRs, port
ranges, ``*``, ``any:``, ``node``, single-label and wildcard names name more
than one place (or none) and are refused here with
:class:`~taogate.errors.Invalid`, before any call. The agent checks again.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional, Union

from .errors import Invalid

_PATH_PROTOS = ("unix", "file", "exec")

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


@dataclass(frozen=True)
class Destination:
    """One parsed destination: ``proto`` plus ``ip`` or ``name``, and ``port``; or ``path``."""

    proto: str
    ip: Optional[IPAddress] = None
    port: int = 0
    path: str = ""
    name: str = ""  # a DNS name (canonical: lowercase, no trailing dot)


def parse_destination(text: str) -> Destination:
    """Parse ``text`` as one destination or raise :class:`Invalid` saying why."""
    if not isinstance(text, str):
        raise Invalid(f"target must be a str, not {type(text).__name__}")
    proto, sep, rest = text.partition(":")
    if not sep or not rest:
        raise Invalid(f"target {text!r}: want PROTO:HOST:PORT or PROTO:PATH")
    if proto in _PATH_PROTOS:
        return Destination(proto=proto, path=_canonical_path(text, rest))
    if proto not in ("tcp", "udp"):
        raise Invalid(f"target {text!r}: protocol must be tcp, udp, unix, file or exec")
    host, sep, port = rest.rpartition(":")
    if not sep or not host:
        raise Invalid(f"target {text!r}: want {proto}:HOST:PORT")
    if not host.startswith("[") and ":" not in host and not _looks_like_ipv4(host):
        return Destination(proto=proto, name=_host_name(text, host), port=_one_port(text, port))
    return Destination(proto=proto, ip=_ip_literal(text, host), port=_one_port(text, port))


def _looks_like_ipv4(host: str) -> bool:
    # A name's last label is never all digits (target.h): such a host is an
    # address or nothing.
    return host.rstrip(".").rpartition(".")[2].isdigit() or "/" in host


def _host_name(text: str, host: str) -> str:
    """The canonical form of a DNS name host, as target::ParseHostName."""
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253:
        raise Invalid(f"target {text!r}: a DNS name is 1-253 characters")
    if "*" in name:
        raise Invalid(f"target {text!r}: wildcard names are not supported: name each host")
    labels = name.split(".")
    for label in labels:
        if not 1 <= len(label) <= 63:
            raise Invalid(f"target {text!r}: DNS name labels are 1-63 characters")
        if label[0] == "-" or label[-1] == "-":
            raise Invalid(f"target {text!r}: a DNS name label starts or ends with '-'")
        if not all(c.isascii() and (c.isalnum() or c == "-") for c in label):
            raise Invalid(f"target {text!r}: letters, digits, '-' and '.' only in a DNS name")
    if len(labels) < 2:
        raise Invalid(f"target {text!r}: a single-label name: write the fully qualified name "
                      "(host must be one IP literal or DNS name, not 'node')")
    return name.lower()


def _ip_literal(text: str, host: str) -> IPAddress:
    if host.startswith("["):
        if not host.endswith("]"):
            raise Invalid(f"target {text!r}: unterminated [IPv6]")
        inner = host[1:-1]
        family = ipaddress.IPv6Address
    else:
        inner = host
        family = ipaddress.IPv4Address
    if "/" in inner:
        raise Invalid(f"target {text!r}: a prefix is not one destination")
    if "%" in inner:
        raise Invalid(f"target {text!r}: zone ids are not supported")
    try:
        return family(inner)
    except ValueError:
        if family is ipaddress.IPv4Address and ":" in inner:
            raise Invalid(f"target {text!r}: IPv6 addresses are written in brackets") from None
        raise Invalid(f"target {text!r}: host must be one IP literal (no names, no 'node')") from None


def _one_port(text: str, port: str) -> int:
    if not (port.isascii() and port.isdigit()) or len(port) > 5:
        raise Invalid(f"target {text!r}: want one port 1-65535 (no range, no '*')")
    value = int(port)
    if not 1 <= value <= 65535:
        raise Invalid(f"target {text!r}: port {value} out of range 1-65535")
    return value


def _canonical_path(text: str, path: str) -> str:
    if not path.startswith("/"):
        raise Invalid(f"target {text!r}: path must be absolute")
    if path.endswith("/") or any(p in ("", ".", "..") for p in path[1:].split("/")):
        raise Invalid(f"target {text!r}: path must be canonical (no '//', '.', '..' or trailing '/')")
    if "\0" in path:
        raise Invalid(f"target {text!r}: path has a NUL byte")
    return path

"""`--address`: its form checked, and the cluster it names reached over TCP within seconds, before Ray is started.

`ray.init` given an address where nothing listens retries for minutes, and `auto` without a
cluster raises a ConnectionError from deep inside Ray; both become one line here instead. The forms
are Ray's: `HOST:PORT` (a cluster's head, `ray start --head` prints it), `ray://HOST:PORT` (Ray
Client) and `auto` (the cluster this machine belongs to: `RAY_ADDRESS`, else the one `ray start`
recorded, else a Ray running here). What the TCP check cannot see is a port that answers but is no
Ray head: there Ray's own, longer, timeouts hold.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from supermasks.errors import ConfigError

AUTO = "auto"
CLIENT_SCHEME = "ray://"
CONNECT_TIMEOUT_SECONDS = 5.0
FORMS = "HOST:PORT (e.g. 10.0.0.1:6379), ray://HOST:PORT or auto"
NO_CLUSTER = ("--address auto found no running Ray cluster on this machine: start one with `ray start --head` "
              "(and pass the address it prints), or drop --address to let the sweep start a local Ray")


@dataclass(frozen=True)
class Address:
    """A cluster address split into its parts; `text` is what `ray.init` gets."""

    text: str
    host: str
    port: int


def parse_address(text: str) -> Address | None:
    """`text` as an Address, None for `auto`; ConfigError naming the forms for anything else."""
    text = text.strip()
    if text == AUTO:
        return None
    rest = text[len(CLIENT_SCHEME):] if text.startswith(CLIENT_SCHEME) else text
    host, colon, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:6379
    if not colon or not host or any(ch.isspace() or ch in "/@" for ch in host) or not port.isdigit() \
            or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--address must be {FORMS}; got {text!r}")
    return Address(text, host, int(port))


def resolve_auto() -> Address:
    """The cluster `auto` means here, as Ray finds it; ConfigError with how to start one where there is none."""
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if env and env != AUTO:
        return _parsed(env, "RAY_ADDRESS")
    try:  # Ray's own search (ray start's record, then running GCS processes); it has no public name
        from ray._private.services import canonicalize_bootstrap_address_or_die
    except ImportError:
        raise ConfigError(NO_CLUSTER) from None
    try:
        found = canonicalize_bootstrap_address_or_die(AUTO)
    except ConnectionError:
        raise ConfigError(NO_CLUSTER) from None
    return _parsed(found, "the Ray cluster found here")


def _parsed(text: str, where: str) -> Address:
    address = parse_address(text)
    if address is None:
        raise ConfigError(f"{where} says `auto`, which names no cluster: give its HOST:PORT")
    return address


def check_reachable(address: Address, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Open and close a TCP connection to the cluster's head; ConfigError (one line) when none opens in `timeout` s.

    Ray reads a loopback host as this machine's own address, so a head listening there counts too.
    """
    hosts = [address.host, *([_node_ip()] if _loopback(address.host) else [])]
    problem = ""
    for host in dict.fromkeys(hosts):
        try:
            with socket.create_connection((host, address.port), timeout=timeout):
                return
        except socket.gaierror as error:
            raise ConfigError(f"--address {address.text}: cannot resolve the host {address.host!r} "
                              f"({error.strerror}); give the head's name or IP address as HOST:PORT") from None
        except TimeoutError:
            problem = f"no answer within {timeout:g} s"
        except OSError as error:
            problem = (error.strerror or str(error)).lower()
    raise ConfigError(f"no Ray cluster answers at {address.text} ({problem}): start one there with `ray start --head "
                      f"--port={address.port}`, check the address, or drop --address to let the sweep start a local "
                      f"Ray (--connect-timeout S waits longer)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _node_ip() -> str:
    """This machine's address as Ray sees it (where a head started here listens)."""
    try:
        from ray.util import get_node_ip_address
    except ImportError:
        return "127.0.0.1"
    return get_node_ip_address()


__all__ = ["AUTO", "Address", "CONNECT_TIMEOUT_SECONDS", "NO_CLUSTER", "check_reachable", "parse_address",
           "resolve_auto"]

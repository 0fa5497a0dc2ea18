"""taogate: ask the node agent for one connection, then make it.

    import taogate

    with taogate.connection("tcp:10.0.0.5:5432", action="db.read",
                            reason="monthly revenue report") as sock:
        ...  # a driver that accepts a connected socket

    grant = taogate.acquire("tcp:10.0.0.5:5432", "db.read", "monthly report")
    # connect once to 10.0.0.5:5432 before grant.expires_at

    try:
        sock.connect(("10.0.0.5", 5432))
    except PermissionError:              # EPERM: the kernel gate refused; why?
        print(taogate.last_denial())     # Denial(reason='consumed', tao_id=..., ...)

No certificate, cgroup id or node name: the agent on this node attests the
caller from the kernel. Refusals raise :class:`Refused` subclasses.
"""

from .client import (DEFAULT_SOCKET, SOCKET_ENV, Authorization, Denial, Grant, Progress, acquire,
                     agent_socket, authorize, connection, denials, last_denial, redeem)
from .errors import Denied, Expired, Invalid, RateLimited, Refused, Rejected, Timeout, Unavailable

__all__ = [
    "DEFAULT_SOCKET", "SOCKET_ENV", "Authorization", "Denial", "Grant", "Progress",
    "acquire", "agent_socket", "authorize", "connection", "denials", "last_denial", "redeem",
    "Refused", "Denied", "Rejected", "Expired", "Timeout", "Unavailable", "RateLimited", "Invalid",
]

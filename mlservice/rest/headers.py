"""The security headers of every REST answer (JSON API and Swagger UI), computed once."""

from __future__ import annotations

# No sniffing, no framing, no referrer leaks; scripts only from here (the Swagger page has inline
# bootstrap code); nothing cached. No CORS headers: other origins are refused.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'",
    ),
    ("Cache-Control", "no-store"),
)


def security_headers(response):
    """after_request: add the security headers a view did not set itself (one pass over its headers)."""
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    headers.extend([(name, value) for name, value in SECURITY_HEADERS if name.lower() not in present])
    return response

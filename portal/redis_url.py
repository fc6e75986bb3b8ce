"""Redis URLs: the same server, another database."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def with_db(url: str, db: int) -> str:
    """`url` pointing at Redis database `db`: the path of a `redis://` URL, the `db` query
    parameter of a `unix://` one (the embedded Redis of `make run` and `make test`).

    A unix URL is put back together by hand: `urlunsplit` writes `unix:/path`, without the
    `//` that redis-py requires."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def db_of(url: str) -> int:
    """The Redis database `url` names (0 when it names none)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return int(dict(parse_qsl(parts.query)).get("db", 0))
    return int(parts.path.strip("/") or 0)

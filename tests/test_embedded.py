"""The embedded PostgreSQL and Redis: reused when running, and their data survives a restart."""

from __future__ import annotations

import psycopg
import pytest
import redis

from faceweb import embedded


def postmaster_pid(data_dir) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])


def redis_pid(data_dir) -> int:
    return int((data_dir / "redis" / "redis.pid").read_text())


@pytest.fixture
def data_dir(tmp_path):
    """A data folder of its own; whatever was started in it is stopped at the end."""
    data_dir = tmp_path / "data"
    yield data_dir
    embedded.stop_redis(data_dir)
    embedded.stop_postgres(data_dir)


def test_starting_twice_reuses_the_same_servers(data_dir):
    db_url, redis_url = embedded.start_postgres(data_dir), embedded.start_redis(data_dir)
    pg_pid, r_pid = postmaster_pid(data_dir), redis_pid(data_dir)

    assert embedded.start_postgres(data_dir) == db_url
    assert embedded.start_redis(data_dir) == redis_url
    assert (postmaster_pid(data_dir), redis_pid(data_dir)) == (pg_pid, r_pid)
    assert redis_url == f"redis://127.0.0.1:{embedded.redis_port(data_dir)}/0"


def test_data_survives_stop_and_start(data_dir):
    db_url, redis_url = embedded.start_postgres(data_dir), embedded.start_redis(data_dir)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    redis.Redis.from_url(redis_url).set("kept", "still here")

    assert embedded.stop_postgres(data_dir) and embedded.stop_redis(data_dir)
    assert not embedded._redis_ping(embedded.redis_port(data_dir))

    db_url_again, redis_url_again = embedded.start_postgres(data_dir), embedded.start_redis(data_dir)
    assert redis_url_again == redis_url  # same port: URLs handed out earlier keep working
    with psycopg.connect(db_url_again) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("still here",)]
    assert redis.Redis.from_url(redis_url_again).get("kept") == b"still here"


def test_stopping_what_is_not_running_is_harmless(data_dir):
    assert embedded.stop_postgres(data_dir) is False
    assert embedded.stop_redis(data_dir) is False


def test_the_embedded_database_has_an_owner_and_an_app_role_as_production_does(data_dir):
    """An existing folder whose tables the superuser created (before roles) hands them to the owner."""
    superuser = embedded.start_postgres(data_dir)
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("CREATE TABLE made_before_roles (note text)")
    embedded.start_postgres(data_dir)  # what every start does: the roles and the owner, idempotently
    owner, app = embedded.postgres_url(data_dir, "owner"), embedded.postgres_url(data_dir, "app")
    with psycopg.connect(owner, autocommit=True) as conn:
        row = conn.execute("SELECT current_user, pg_get_userbyid(relowner) FROM pg_class "
                           "WHERE relname = 'made_before_roles'").fetchone()
        assert row == ("faceweb_owner", "faceweb_owner")
        conn.execute("CREATE TABLE by_owner (note text)")  # migrations run as the owner
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'").fetchone()
    with psycopg.connect(app, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("faceweb_app",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE by_app (note text)")  # the app role owns nothing
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE by_owner ADD COLUMN x int")


def test_a_port_left_in_time_wait_by_an_earlier_redis_is_still_its_port(data_dir):
    """A Redis stopped a moment ago leaves its closed connections in TIME_WAIT on its port; a clone
    in the same folder must get that port again (settings computed it), not a new one that the
    test settings no longer match."""
    import socket

    port = embedded._default_redis_port(data_dir)
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
        client.close()
    assert embedded._port_free(port)
    assert embedded.start_redis(data_dir) == f"redis://127.0.0.1:{port}/0"

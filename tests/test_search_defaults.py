"""Search as measured, out of the box: the embedded PostgreSQL is configured like the benchmark that
chose the search settings, and ef_search follows the gallery's size from the measured table."""

from __future__ import annotations

import psycopg
import pytest

from faceweb import embedded
from recognition.services import matching

GB = 2**30


def test_memory_settings_follow_the_machine():
    small, this_kind, large = (embedded.postgres_settings(n * GB) for n in (1, 24, 128))
    assert small["shared_buffers"] == "256MB"  # a quarter of memory
    assert this_kind["shared_buffers"] == "6144MB" and this_kind["effective_cache_size"] == "12288MB"
    assert large["shared_buffers"] == "8192MB"  # capped
    assert embedded.postgres_settings(256 * 2**20)["shared_buffers"] == "128MB"  # never below the default
    assert this_kind["huge_pages"] == "try"


def test_memory_settings_can_be_set_from_the_environment(monkeypatch):
    monkeypatch.setenv("FACEWEB_PG_SHARED_BUFFERS", "2GB")
    monkeypatch.setenv("FACEWEB_PG_EFFECTIVE_CACHE_SIZE", "3000MB")
    wanted = embedded.postgres_settings(24 * GB)
    assert (wanted["shared_buffers"], wanted["effective_cache_size"]) == ("2048MB", "3000MB")
    monkeypatch.setenv("FACEWEB_PG_SHARED_BUFFERS", "lots")
    with pytest.raises(ValueError, match="FACEWEB_PG_SHARED_BUFFERS"):
        embedded.postgres_settings(24 * GB)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    # Small values: this cluster is only for the test (the machine's own value is tested above).
    monkeypatch.setenv("FACEWEB_PG_SHARED_BUFFERS", "160MB")
    data_dir = tmp_path / "data"
    yield data_dir
    embedded.stop_postgres(data_dir)


def setting(url: str, name: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT current_setting(%s)", [name]).fetchone()[0]


def test_the_embedded_server_runs_with_them_and_applies_a_change_at_the_next_start(data_dir, monkeypatch):
    url = embedded.start_postgres(data_dir)
    assert setting(url, "shared_buffers") == "160MB"
    assert setting(url, "maintenance_work_mem") == "1GB" and setting(url, "huge_pages") == "try"

    monkeypatch.setenv("FACEWEB_PG_SHARED_BUFFERS", "192MB")  # e.g. the machine got more memory
    embedded.stop_postgres(data_dir)
    url = embedded.start_postgres(data_dir)
    assert setting(url, "shared_buffers") == "192MB"


def test_ef_search_follows_the_gallery_size(settings):
    settings.HNSW_EF_SEARCH = None
    settings.HNSW_EF_SEARCH_BY_SIZE = "300000:150,1000000:200"
    assert matching.ef_search_for(1_000) == 150
    assert matching.ef_search_for(300_000) == 150
    assert matching.ef_search_for(300_001) == 200
    assert matching.ef_search_for(5_000_000) == 200  # above the table: its last row
    settings.HNSW_EF_SEARCH = 400  # one constant, when an operator sets it
    assert matching.ef_search_for(1_000) == 400


def test_a_malformed_table_is_refused(settings):
    settings.HNSW_EF_SEARCH = None
    for bad in ("", "300000", "a:b", "0:100"):
        settings.HNSW_EF_SEARCH_BY_SIZE = bad
        with pytest.raises(ValueError, match="HNSW_EF_SEARCH_BY_SIZE"):
            matching.ef_search_for(10)

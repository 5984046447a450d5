"""Preflight: configuration problems are one-line ConfigErrors raised before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from crisiseval.config import ModelConfig
from crisiseval.engine import check_reachable
from crisiseval.engine import endpoints as endpoints_mod
from crisiseval.errors import ConfigError


def _assert_one_line(exc: pytest.ExceptionInfo[ConfigError], *needles: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    for n in needles:
        assert n in msg, (n, msg)


def test_unknown_model(srv, store, h) -> None:
    eng = h.engine(store, {"m": h.model(srv)})
    with pytest.raises(ConfigError) as exc:
        eng.preflight(["m", "nope"])
    _assert_one_line(exc, "'nope'", "m")
    # Running a batch that names it fails before anything is written or sent.
    with pytest.raises(ConfigError):
        eng.run_sync(h.specs(3) + h.specs(1, model="nope", prefix="x"), h.Out)
    assert srv.requests() == []
    assert store.counts()["cells"] == 0


def test_missing_api_key_env(srv, store, h, monkeypatch) -> None:
    monkeypatch.delenv("CRISISEVAL_TEST_MISSING_KEY", raising=False)
    eng = h.engine(store, {"m": h.model(srv, api_key_env="CRISISEVAL_TEST_MISSING_KEY")})
    with pytest.raises(ConfigError) as exc:
        eng.preflight(["m"])
    _assert_one_line(exc, "CRISISEVAL_TEST_MISSING_KEY", "'m'")
    with pytest.raises(ConfigError):
        h.engine(store, eng.models).run_sync(h.specs(2), h.Out)
    assert srv.requests() == []
    assert store.counts()["cells"] == 0


def test_empty_api_key_env_counts_as_missing(srv, store, h, monkeypatch) -> None:
    monkeypatch.setenv("CRISISEVAL_TEST_EMPTY_KEY", "")
    eng = h.engine(store, {"m": h.model(srv, api_key_env="CRISISEVAL_TEST_EMPTY_KEY")})
    with pytest.raises(ConfigError) as exc:
        eng.preflight(["m"])
    _assert_one_line(exc, "CRISISEVAL_TEST_EMPTY_KEY")


def test_missing_gguf(store, h, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    eng = h.engine(store, {"local": ModelConfig(provider="llama_cpp", gguf=str(missing))})
    with pytest.raises(ConfigError) as exc:
        eng.preflight(["local"])
    _assert_one_line(exc, "'local'", str(missing), "not found")


def test_gguf_that_is_not_gguf(store, h, tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    eng = h.engine(store, {"local": ModelConfig(provider="llama_cpp", gguf=str(fake))})
    with pytest.raises(ConfigError) as exc:
        eng.preflight(["local"])
    _assert_one_line(exc, "not a GGUF file", str(fake))
    with pytest.raises(ConfigError):
        eng.run_sync([h.specs(1, model="local")[0]], h.Out)
    assert store.counts()["cells"] == 0


def test_embedded_gguf_hash_is_checked(store, h, monkeypatch) -> None:
    path = endpoints_mod.embedded_gguf_path()
    if not path.is_file():
        pytest.skip(f"the embedded model is not installed ({path})")
    monkeypatch.setattr(endpoints_mod, "EMBEDDED_SHA256", "0" * 64)
    eng = h.engine(store, {"local": ModelConfig(provider="llama_cpp")})
    with pytest.raises(ConfigError) as exc:
        eng.preflight(["local"])
    _assert_one_line(exc, "sha256", str(path))


def test_unreachable_base_url(store, h) -> None:
    port = h.free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    eng = h.engine(store, {"dead": ModelConfig(base_url=url, model="x")})
    with pytest.raises(ConfigError) as exc:
        eng.preflight(["dead"])
    _assert_one_line(exc, "'dead'", url, "cannot reach")


def test_preflight_without_network_skips_reachability(store, h) -> None:
    url = f"http://127.0.0.1:{h.free_port()}/v1"
    eng = h.engine(store, {"dead": ModelConfig(base_url=url, model="x")})
    eng.preflight(["dead"], connect=False)  # no error


def test_non_http_base_url(store, h) -> None:
    with pytest.raises(ConfigError) as exc:
        check_reachable("m", "ftp://example.invalid/v1")
    _assert_one_line(exc, "not an http(s) URL")


def test_preflight_ok_sends_no_request(srv, store, h) -> None:
    eng = h.engine(store, {"m": h.model(srv)})
    eng.preflight(["m", "m"])
    assert srv.requests() == []


def test_unreachable_at_run_time_is_failed_connection(store, h) -> None:
    # Without preflight, a dead endpoint is an infrastructure failure of each cell, not a crash.
    url = f"http://127.0.0.1:{h.free_port()}/v1"
    eng = h.engine(
        store, {"dead": ModelConfig(base_url=url, model="x", limits=h.limits(max_retries=1))}
    )
    s = eng.run_sync(h.specs(2, model="dead"), h.Out)
    assert (s.failed, s.failures) == (2, {"connection": 2})
    assert all(r["status"] == "failed" for r in h.rows(store))

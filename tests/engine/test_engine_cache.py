"""Cells as a cache: content keys, run indices, cached re-runs, token and dollar accounting."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crisiseval.config import Price
from crisiseval.engine import CallSpec
from crisiseval.engine.cells import CellKeys, cell_key, messages_tokens


def test_second_run_is_all_cached_and_sends_nothing(srv, store, h) -> None:
    models = {"m": h.model(srv)}
    specs = h.specs(6)
    first = h.engine(store, models).run_sync(specs, h.Out)
    assert (first.total, first.cached, first.done) == (6, 0, 6)
    assert len(srv.requests()) == 6

    second = h.engine(store, models).run_sync(specs, h.Out)
    assert len(srv.requests()) == 6, "a cached cell must not be sent again"
    assert (second.total, second.cached, second.done, second.failed) == (6, 6, 0, 0)
    assert second.tokens_in == second.tokens_out == 0
    assert "6 cached" in second.line()
    # Same keys, same parsed values.
    eng = h.engine(store, models)
    assert second.keys == first.keys
    assert all(r.status == "done" and r.parsed for r in eng.results(second.keys).values())


def test_duplicate_specs_in_one_batch_are_one_cell(srv, store, h) -> None:
    specs = h.specs(3) + h.specs(3)
    s = h.engine(store, {"m": h.model(srv)}).run_sync(specs, h.Out)
    assert s.total == 3
    assert len(s.keys) == 6 and len(set(s.keys)) == 3
    assert len(srv.requests()) == 3


def test_three_runs_are_three_cells_even_at_temperature_zero(srv, store, h) -> None:
    models = {"m": h.model(srv, params={"temperature": 0})}
    msgs = [{"role": "user", "content": "the same question"}]
    specs = [CallSpec(role="t", model="m", messages=msgs, run_index=i) for i in range(3)]
    s = h.engine(store, models).run_sync(specs, h.Out)
    assert s.total == 3 and len(set(s.keys)) == 3
    assert len(srv.requests()) == 3
    rows = h.rows(store)
    assert sorted(r["run_index"] for r in rows) == [0, 1, 2]
    assert all(r["status"] == "done" for r in rows)


def test_key_depends_on_what_shapes_the_answer(srv, store, h) -> None:
    base = h.model(srv)
    eng = h.engine(store, {"m": base, "renamed": base, "hot": h.model(srv, params={"t": 1})})
    spec = CallSpec(role="t", model="m", messages=[{"role": "user", "content": "x"}])
    schema = h.Out.model_json_schema()
    k = eng.key_for(spec, schema)
    # Renaming the model in the config keeps the cache; params, schema, role, prompt version,
    # run index and messages each make a new cell.
    assert eng.key_for(spec.replace(model="renamed"), schema) == k
    assert eng.key_for(spec.replace(model="hot"), schema) != k
    assert eng.key_for(spec, None) != k
    assert eng.key_for(spec.replace(role="judge"), schema) != k
    assert eng.key_for(spec.replace(prompt_version="v2"), schema) != k
    assert eng.key_for(spec.replace(run_index=1), schema) != k
    other = spec.replace(messages=[{"role": "user", "content": "y"}])
    assert eng.key_for(other, schema) != k
    # context is stored, not hashed
    assert eng.key_for(spec.replace(context={"a": 1}), schema) == k


def test_cost_is_tokens_times_price(srv, store, h) -> None:
    price = Price(input_per_m=2.5, output_per_m=10.0)
    models = {"m": h.model(srv, price=price)}
    s = h.engine(store, models).run_sync(h.specs(5), h.Out)
    rows = h.rows(store)
    assert len(rows) == 5
    total = 0.0
    for r in rows:
        assert r["tokens_in"] > 0 and r["tokens_out"] > 0
        expected = r["tokens_in"] / 1e6 * 2.5 + r["tokens_out"] / 1e6 * 10.0
        assert r["cost_usd"] == pytest.approx(expected)
        total += expected
    assert s.cost_usd == pytest.approx(total)
    assert s.tokens_in == sum(r["tokens_in"] for r in rows)
    assert s.tokens_out == sum(r["tokens_out"] for r in rows)
    assert "$" in s.line()


def test_price_table_by_model_id(srv, store, h) -> None:
    # No price on the model: the engine's table is looked up by model id ("mock").
    eng = h.engine(
        store, {"m": h.model(srv)}, prices={"mock": Price(input_per_m=1, output_per_m=1)}
    )
    s = eng.run_sync(h.specs(2), h.Out)
    rows = h.rows(store)
    assert s.cost_usd == pytest.approx(sum(r["tokens_in"] + r["tokens_out"] for r in rows) / 1e6)
    assert all(r["cost_usd"] is not None for r in rows)


def test_no_price_means_no_cost(srv, store, h) -> None:
    s = h.engine(store, {"m": h.model(srv)}).run_sync(h.specs(2), h.Out)
    assert s.cost_usd == 0.0
    assert all(r["cost_usd"] is None for r in h.rows(store))


def test_estimate_is_a_dry_run(srv, store, h) -> None:
    price = Price(input_per_m=1.0, output_per_m=4.0)
    models = {
        "m": h.model(srv, price=price, params={"max_tokens": 100}),
        "free": h.model(srv),
    }
    specs = h.specs(4) + h.specs(2, model="free", prefix="other")
    est = h.engine(store, models).estimate(specs)
    assert est.calls == 6
    tin_m = sum(messages_tokens(s.messages) for s in specs[:4])
    tin_free = sum(messages_tokens(s.messages) for s in specs[4:])
    assert est.tokens_in == tin_m + tin_free
    assert est.tokens_out_max == 4 * 100 + 2 * 512  # max_tokens, else the default cap
    assert est.per_model["m"]["calls"] == 4
    assert est.per_model["m"]["cost_usd_max"] == pytest.approx(tin_m / 1e6 + 400 * 4.0 / 1e6)
    # A remote model without a price makes the total unknown, not zero.
    assert est.cost_usd_max is None
    only_priced = h.engine(store, models).estimate(specs[:4])
    assert only_priced.cost_usd_max == pytest.approx(tin_m / 1e6 + 400 * 4.0 / 1e6)
    # Nothing was sent, nothing was written.
    assert srv.requests() == []
    assert store.counts()["cells"] == 0


def test_cells_record_request_and_context(srv, store, h) -> None:
    spec = CallSpec(
        role="judge",
        model="m",
        messages=[{"role": "user", "content": "hello"}],
        item_id="it_1",
        context={"respondent": "r1"},
        prompt_version="p7",
    )
    h.engine(store, {"m": h.model(srv, params={"temperature": 0})}).run_sync([spec], h.Out)
    (row,) = h.rows(store)
    assert row["role"] == "judge" and row["item_id"] == "it_1" and row["prompt_version"] == "p7"
    assert json.loads(row["context"]) == {"respondent": "r1"}
    req = json.loads(row["request"])
    assert req["messages"] == spec.messages
    assert req["params"] == {"temperature": 0}
    assert req["schema"] == "Out"
    assert req["endpoint"].startswith("openai:http://127.0.0.1:")
    assert row["attempts"] == 1 and row["latency_s"] >= 0
    h.Out.model_validate_json(row["parsed"])


def test_one_engine_runs_several_batches(srv, store, h) -> None:
    # Each run_sync is a new event loop: endpoints and limiters must not leak across loops.
    eng = h.engine(store, {"m": h.model(srv, limits=h.limits(rpm=6000))})
    a = eng.run_sync(h.specs(3, prefix="a"), h.Out)
    cached = eng.run_sync(h.specs(3, prefix="a"), h.Out)
    b = eng.run_sync(h.specs(3, prefix="b"), h.Out)
    assert (a.done, cached.cached, b.done) == (3, 3, 3)
    assert len(srv.requests()) == 6


async def test_run_from_a_running_loop(srv, store, h) -> None:
    eng = h.engine(store, {"m": h.model(srv)})
    s = await eng.run(h.specs(4), h.Out)
    assert s.done == 4 and len(srv.requests()) == 4
    s2 = await eng.run(h.specs(4), h.Out)
    assert s2.cached == 4 and len(srv.requests()) == 4


@settings(max_examples=200, deadline=None)
@given(
    role=st.text(max_size=12),
    endpoint=st.text(max_size=40),
    contents=st.lists(st.text(), min_size=1, max_size=4),
    params=st.dictionaries(
        st.text(max_size=8), st.one_of(st.integers(), st.floats(allow_nan=False), st.text())
    ),
    schema=st.one_of(st.none(), st.dictionaries(st.text(max_size=6), st.text(max_size=6))),
    run=st.integers(min_value=0, max_value=50),
    version=st.text(max_size=20),
)
def test_cell_keys_equal_cell_key_byte_for_byte(
    role: str,
    endpoint: str,
    contents: list[str],
    params: dict[str, object],
    schema: dict[str, str] | None,
    run: int,
    version: str,
) -> None:
    # Keys decide what a resumed run re-sends: the fast path must never change one.
    messages = [
        {"role": "user" if i % 2 else "system", "content": c} for i, c in enumerate(contents)
    ]
    keys = CellKeys(schema)
    for r in (run, run + 1, run):  # the cached message JSON is reused across runs
        spec = CallSpec(
            role=role, model="m", messages=messages, run_index=r, prompt_version=version
        )
        assert keys.key(spec, endpoint=endpoint, params=params) == cell_key(
            spec, endpoint=endpoint, params=params, schema=schema
        )


def test_a_call_spec_checks_its_fields() -> None:
    ok = {"role": "t", "model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert CallSpec(**ok).run_index == 0 and CallSpec(**ok).context == {}
    for bad in (
        {"messages": [{"role": "user", "content": 3}]},
        {"messages": "hello"},
        {"messages": [("user", "x")]},
        {"role": None},
        {"run_index": -1},
        {"run_index": True},
        {"item_id": 7},
        {"context": []},
        {"prompt_version": 2},
    ):
        with pytest.raises(ValueError):
            CallSpec(**{**ok, **bad})
    with pytest.raises(TypeError):
        CallSpec("t", "m", [])  # type: ignore[misc]  # keyword arguments only
    # A list is checked each time: one changed after a first spec is caught by the next.
    shared = [{"role": "user", "content": "x"}]
    CallSpec(**{**ok, "messages": shared})
    shared.append({"role": "user", "content": None})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        CallSpec(**{**ok, "messages": shared})

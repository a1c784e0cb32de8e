"""benchmarks/model_speed.py's graph cache: graphs exported by other code are never timed."""

from __future__ import annotations

from pathlib import Path

from benchmarks import model_speed


def test_cached_graphs_go_when_the_exporting_code_changes(tmp_path: Path, monkeypatch):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "config.json").write_text("{}")
    graph = tmp_path / "pf.int8.onnx"
    graph.write_bytes(b"old")
    monkeypatch.setattr(model_speed, "graph_fingerprint", lambda: "a")
    model_speed.drop_stale_graphs(tmp_path)  # no stamp: exported by unknown code
    assert not graph.exists() and (tmp_path / "weights" / "config.json").exists()
    graph.write_bytes(b"new")
    model_speed.drop_stale_graphs(tmp_path)  # same code: the cache stays
    assert graph.exists()
    monkeypatch.setattr(model_speed, "graph_fingerprint", lambda: "b")
    model_speed.drop_stale_graphs(tmp_path)
    assert not graph.exists()


def test_the_fingerprint_follows_the_exporting_code(tmp_path: Path, monkeypatch):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "modeling.py").write_text("x = 1\n")
    monkeypatch.setattr(model_speed, "ROOT", tmp_path)
    monkeypatch.setattr(model_speed, "GRAPH_SOURCES", ("model",))
    before = model_speed.graph_fingerprint()
    assert model_speed.graph_fingerprint() == before
    (tmp_path / "model" / "modeling.py").write_text("x = 2\n")
    assert model_speed.graph_fingerprint() != before

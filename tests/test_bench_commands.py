"""`vectorhouse bench search` and `bench fusion` end to end on a tiny BEIR folder: a real server, real numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vectorhouse.cli import main

DOCS = {
    "d1": "Kingfishers dive into rivers to catch small fish.",
    "d2": "Herons stand still in shallow water before striking.",
    "d3": "Owls hunt at night using their hearing.",
    "d4": "Vitamin D deficiency is linked to weaker bones.",
    "d5": "Regular exercise strengthens the heart muscle.",
}
QUERIES = {"q1": "which bird dives for fish", "q2": "what hunts at night", "q3": "bones and vitamin d"}
QRELS = {"train": [("q2", "d3")], "test": [("q1", "d1"), ("q3", "d4")]}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in DOCS.items())
    )
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in QUERIES.items()))
    for split, pairs in QRELS.items():
        lines = "".join(f"{q}\t{d}\t1\n" for q, d in pairs)
        (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + lines)
    return root


def _number(output: str, label: str) -> float:
    match = re.search(rf"^{re.escape(label)}\s+([0-9.]+)", output, re.MULTILINE)
    assert match, f"{label!r} not in:\n{output}"
    return float(match.group(1))


def test_bench_search_then_fusion_on_the_same_data_dir(tiny: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    assert main(["bench", "search", str(tiny), "--data-dir", str(data_dir), "--warmup-seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert _number(out, "documents") == 5  # ingested first, through the HTTP API
    assert _number(out, "queries") == 2
    assert _number(out, "p50 ms") > 0 and _number(out, "HTTP p50 ms") > 0
    assert _number(out, "nDCG@10") == pytest.approx(1.0)  # each judged answer comes first on this corpus

    assert main(["bench", "fusion", str(tiny), "--data-dir", str(data_dir)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "embedding model all-MiniLM-L6-v2-int8" in table[0]
    assert "test (2)" in table[1] and "train (1)" in table[1]  # judged queries per split
    rows = {name.strip(): [float(x) for x in values] for name, *values in (line.rsplit(None, 2) for line in table[2:])}
    served = rows["served (search/hybrid.py over the index): cosine from the store's mean, s/(s+all idf), 0.5/0.5"]
    assert served[0] == pytest.approx(1.0)  # what bench search measured
    assert set(rows) >= {"vectors only", "BM25 only", "RRF (k=60) of the two rankings",
                         "before: cosine, s/(s+held idf), 0.5/0.5"}
    assert all(0.0 <= value <= 1.0 for values in rows.values() for value in values)


def test_bench_quality_reports_every_mode_and_the_rrf_reference(tiny: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "quality", str(tiny), "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "embedding model all-MiniLM-L6-v2-int8" in out
    rows = dict(re.findall(r"^\| ([a-z_ ()]+) \| ([0-9.]+) \|", out, re.MULTILINE))
    assert set(rows) == {"hybrid (default)", "semantic", "full_text", "rrf (reference)"}
    assert float(rows["hybrid (default)"]) == pytest.approx(1.0) and float(rows["rrf (reference)"]) > 0.5
    assert re.search(r"hybrid - rrf [+-][0-9.]+", out)


def test_bench_fusion_without_the_store_says_how_to_make_it(tiny: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "catalog.db").touch()
    assert main(["bench", "fusion", str(tiny), "--data-dir", str(empty)]) == 2
    assert "bench search" in capsys.readouterr().err


def test_bench_load_loses_nothing_across_projects(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "load", "--clients", "6", "--seconds", "6", "--projects", "2", "--seed-files", "2"]) == 0
    output = capsys.readouterr().out
    assert _number(output, "5xx") == 0
    assert _number(output, "dropped connections") == 0
    assert _number(output, "unexpected 4xx") == 0
    accepted = re.search(r"^files accepted (\d+)\s+completed (\d+)", output, re.MULTILINE)
    assert accepted and int(accepted.group(1)) > 0 and accepted.group(1) == accepted.group(2), output
    assert _number(output, "lost files") == 0
    for kind in ("search", "upload", "attach", "list"):
        assert re.search(rf"^{kind}\s+n\s+[1-9]", output, re.MULTILINE), output


def test_bench_scale_fills_a_store_through_the_index_and_measures_it_over_http(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORHOUSE_EXACT_SEARCH_MAX_CHUNKS", "50")  # 300 chunks on the HNSW path
    data = tmp_path / "scale"
    assert main(["bench", "scale", str(tiny), "--chunks", "300", "--queries", "3", "--filter-share", "0.01",
                 "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^chunks\s+300 in 30 files, dim 384", out, re.MULTILINE)
    recalls = [float(x) for x in re.findall(r"recall@10 ([0-9.]+)", out)]
    assert len(recalls) == 2 and min(recalls) >= 0.8  # semantic, without and with the filter
    for line in ("load", "first start to ready", "restart to ready", "server RSS", "disk"):
        assert re.search(rf"^{line}\s+[0-9.]+", out, re.MULTILINE), line
    for mode in ("semantic", "full_text", "hybrid"):
        assert len(re.findall(rf"^{mode}\s+(no filter|filter 0.01)\s+p50\s+[0-9.]+ ms", out, re.MULTILINE)) == 2
    # The graph the load built was saved, and the restarted server loaded it instead of building one.
    assert list((data / "index.db.hnsw").glob("*/graph.bin"))
    log = (tmp_path / "scale-scale-server.log").read_text()
    assert "HNSW graph of" in log and " built:" not in log


def test_bench_scale_builds_the_index_after_the_load_only_for_a_new_pgvector_load(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="index-after-load"):
        main(["bench", "scale", str(tiny), "--chunks", "30", "--index-after-load", "--data-dir", str(tmp_path)])
    assert not (tmp_path / "index.db").exists()  # refused before anything was written


def test_bench_embed_compares_two_models_side_by_side(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "embed", str(tiny), "--compare", "all-MiniLM-L6-v2", "--group", "2"]) == 0
    out = capsys.readouterr().out
    assert _number(out, "chunks") == 5 and "calls of             2 chunks, the models alternating" in out
    assert re.findall(r"^embedding model +(\S+)$", out, re.MULTILINE) == ["all-MiniLM-L6-v2-int8", "all-MiniLM-L6-v2"]
    seconds = [float(x) for x in re.findall(r"^embed seconds +([0-9.]+)$", out, re.MULTILINE)]
    assert len(seconds) == 2 and all(s > 0 for s in seconds)
    assert _number(out, "time ratio") > 0  # (seconds printed to 0.01 s: too coarse to recompute it here)
    # The default int8 model against fp32: close, not identical.
    assert 0.97 <= _number(out, "cosine min") <= _number(out, "cosine mean") < 0.9999

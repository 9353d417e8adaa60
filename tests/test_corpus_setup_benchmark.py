"""benchmarks/corpus_setup.py: its synthetic text, and its section of RESULTS.md, which
bench.py keeps when it rewrites the file (the measurement itself is not a unit test)."""

import pytest
from conftest import load_script


@pytest.mark.slow  # over 1.5 s on 2 cores: in make test, not test-fast
def test_synthetic_text_is_utf8_of_the_size_asked_with_wide_characters(tmp_path):
    setup = load_script("corpus_setup")
    path = tmp_path / "text.txt"
    bmp = setup.synthetic_text(path, 0.2, astral=False)
    assert bmp["bytes"] == path.stat().st_size == 200_000
    text = path.read_bytes().decode("utf-8")
    assert len(text) == bmp["characters"] and 0xFF < bmp["max_code_point"] <= 0xFFFF
    assert "\n" in text and any(c in text for c in "αβγ")
    astral = setup.synthetic_text(path, 0.2, astral=True)
    assert astral["max_code_point"] > 0xFFFF


def test_the_section_is_replaced_in_place_and_kept_by_bench(tmp_path, monkeypatch):
    setup, bench = load_script("corpus_setup"), load_script("bench")
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n| a | b |\n", "utf-8")
    monkeypatch.setattr(setup, "RESULTS", results)
    for body in ("first", "second"):
        setup.write_section(f"{setup.BEGIN}\n{body}\n{setup.END}\n")
    assert results.read_text("utf-8") == (
        f"# Benchmark results\n\n| a | b |\n\n{setup.BEGIN}\nsecond\n{setup.END}\n")
    monkeypatch.setattr(bench, "RESULTS", results)
    assert bench._kept_sections() == f"\n{setup.BEGIN}\nsecond\n{setup.END}\n"

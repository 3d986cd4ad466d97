"""benchmarks/tabular_cache.py: the report keeps entries fitted by older code (marked stale)."""

import importlib.util
import json
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "tabular_cache.py"
_SPEC = importlib.util.spec_from_file_location("tabular_cache", _PATH)
tabular_cache = importlib.util.module_from_spec(
    _SPEC
)  # loaded by path: benchmarks/ stays off sys.path
_SPEC.loader.exec_module(tabular_cache)


def _key(version, table="Pima.te", split=0, contestant="headkit"):
    return json.dumps([table, split, contestant, "HeadClassifier()", version, 1, False])


def test_the_exact_entry_wins_else_the_latest_older_one_marked_stale():
    cache = {
        _key("src-old1"): {"acc": 0.80, "fitted_at": "2026-12-07T10:00:00Z", "commit": "aaa"},
        _key("src-old2"): {"acc": 0.81, "fitted_at": "2026-12-07T12:00:00Z", "commit": "bbb"},
        _key("src-old3"): {"skipped": "estimated 900 s > budget 300 s"},
        _key("src-old1", split=1): {"acc": 0.7},
    }
    find = tabular_cache.lookup(cache, lambda t, s, c: _key("src-now", t, s, c))
    got = find("Pima.te", 0, "headkit")
    assert got["acc"] == 0.81 and got["stale"] and got["commit"] == "bbb"
    assert got["code"] == "src-old2"
    assert find("Pima.te", 1, "headkit")["code"] == "src-old1"  # no time stamp: still shown
    assert find("biopsy", 0, "headkit") is None
    cache[_key("src-now")] = {"acc": 0.9}
    assert tabular_cache.find_entry(cache, _key("src-now")) == {"acc": 0.9}


def test_entries_of_another_format_never_stand_in():
    old = json.dumps(["Pima.te", 0, "conformal:headkit", "x", "src-old", 1, False])
    now = json.dumps(["Pima.te", 0, "conformal:headkit", "x", "src-now-sets2", 1, False])
    same = json.dumps(["Pima.te", 0, "conformal:headkit", "x", "src-old-sets2", 1, False])
    cache = {old: {"aps": {"coverage": 0.98}}}
    assert tabular_cache.find_entry(cache, now) is None
    cache[same] = {"aps": {"coverage": 0.9}}
    assert tabular_cache.find_entry(cache, now)["aps"]["coverage"] == 0.9


def test_saving_merges_into_the_file(tmp_path):
    path = str(tmp_path / "cache.json")
    tabular_cache.save_cache(path, "a", {"acc": 1.0})
    tabular_cache.save_cache(path, "b", {"acc": 0.5})
    assert tabular_cache.load_caches([path, str(tmp_path / "missing.json")]) == {
        "a": {"acc": 1.0},
        "b": {"acc": 0.5},
    }

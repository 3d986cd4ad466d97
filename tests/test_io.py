import json
import os
import stat

import pytest
import torch

import headkit
from headkit.exceptions import ModelFileError
from headkit.io import FORMAT_VERSION, atomic_write_text, write_directory
from headkit.nn import HeadNet


@pytest.fixture
def model():
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(8, 8))
    net.temperature.fill_(1.7)
    net.set_standardization(torch.arange(6.0), torch.full((6,), 2.0))
    return net.eval()


def test_round_trip_keeps_weights_buffers_and_config(model, tmp_path):
    headkit.save(model, tmp_path / "m", metadata={"classes": ["a", "b", "c"]})
    loaded = headkit.load(tmp_path / "m")
    x = torch.randn(4, 6)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert float(loaded.temperature) == pytest.approx(1.7)
    assert loaded.config == model.config
    assert loaded.metadata == {"classes": ["a", "b", "c"]}


def test_no_pickle_in_saved_files(model, tmp_path):
    headkit.save(model, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    json.loads((tmp_path / "m" / "config.json").read_text())


def test_interrupted_save_leaves_the_old_model_intact(model, tmp_path, monkeypatch):
    headkit.save(model, tmp_path / "m")
    before = (tmp_path / "m" / "model.safetensors").read_bytes()
    real_replace = os.replace

    def crash(src, dst):
        if str(dst).endswith("m"):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        headkit.save(HeadNet(n_features=6, n_classes=3, hidden_sizes=(8, 8)), tmp_path / "m")
    monkeypatch.undo()
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary left behind
    headkit.load(tmp_path / "m")


def test_newer_format_version_is_refused(model, tmp_path):
    headkit.save(model, tmp_path / "m")
    config_file = tmp_path / "m" / "config.json"
    config = json.loads(config_file.read_text())
    config["format_version"] = FORMAT_VERSION + 1
    config_file.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="newer than this headkit reads"):
        headkit.load(tmp_path / "m")


def test_truncated_weights_and_corrupt_config_are_reported(model, tmp_path):
    headkit.save(model, tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        headkit.load(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="corrupt"):
        headkit.load(tmp_path / "m")


def test_missing_model_and_mismatched_weights(model, tmp_path):
    with pytest.raises(ModelFileError, match="No model at"):
        headkit.load(tmp_path / "nothing")
    headkit.save(model, tmp_path / "m")
    other = HeadNet(n_features=6, n_classes=3, hidden_sizes=(4,))
    headkit.save(other, tmp_path / "o")
    os.replace(tmp_path / "o" / "model.safetensors", tmp_path / "m" / "model.safetensors")
    with pytest.raises(ModelFileError, match="does not match its config"):
        headkit.load(tmp_path / "m")


def test_write_directory_refuses_existing_unless_overwrite(tmp_path):
    write_directory(tmp_path / "d", {"a.txt": "1"})
    with pytest.raises(ModelFileError, match="already exists"):
        write_directory(tmp_path / "d", {"a.txt": "2"}, overwrite=False)
    write_directory(tmp_path / "d", {"b.txt": "3"})
    assert not (tmp_path / "d" / "a.txt").exists()  # the whole directory was replaced
    assert (tmp_path / "d" / "b.txt").read_text() == "3"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary leftovers


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_directory(tmp_path / "d", {"a.txt": "1"})
        atomic_write_text(tmp_path / "f.txt", "2")
    finally:
        os.umask(old)
    # what plain open()/mkdir() give under this umask, the independent reference
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((tmp_path / "d" / "a.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o666 & ~umask


def test_resaving_over_an_older_run_leaves_none_of_its_files(tmp_path, blobs_data):
    from headkit import HeadClassifier

    X, y, *_ = blobs_data
    old = HeadClassifier(hidden_sizes=(8,), epochs=2, random_state=0).fit(X, y)
    old.save(tmp_path / "run", extra_files={"metrics.json": "{}", "history.csv": "epoch\n1\n"})
    assert (tmp_path / "run" / "mahalanobis.safetensors").exists()
    new = HeadClassifier(hidden_sizes=(4,)).partial_fit(X, y, classes=[0, 1, 2])
    new.save(tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    loaded = HeadClassifier.load(tmp_path / "run")
    assert loaded.ood_detector_ is None  # not the older network's Mahalanobis statistics
    assert loaded.model_.config.hidden_sizes == (4,)

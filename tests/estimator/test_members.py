import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit.estimator.members import AUTO_MEMBERS, MEMBER_ROWS, merge_networks
from headkit.exceptions import ConfigError
from headkit.nn import HeadNet
from tests.small_table import xor_table


def test_the_merged_network_computes_the_mean_of_the_members_logits():
    nets = []
    for seed in range(3):
        torch.manual_seed(seed)
        nets.append(HeadNet(n_features=6, n_classes=4, hidden_sizes=(8, 5, 7), dropout=0.5).eval())
    merged = merge_networks(nets).eval()
    assert merged.config.hidden_sizes == (24, 15, 21)
    x = torch.randn(11, 6)
    with torch.no_grad():
        mean = torch.stack([net(x) for net in nets]).mean(dim=0)
        torch.testing.assert_close(merged(x), mean, rtol=1e-5, atol=1e-5)


def test_auto_members_on_a_table_save_load_and_export_as_one_network(tmp_path):
    from headkit.export.onnx import export_onnx
    from headkit.inference.saved_model import SavedModel

    frame, y = xor_table(300)
    model = HeadClassifier(epochs=20, random_state=0).fit(frame, y)
    assert model.members_ == AUTO_MEMBERS
    assert model.model_.config.hidden_sizes == (128 * AUTO_MEMBERS, 128 * AUTO_MEMBERS)
    single = HeadClassifier(epochs=20, members=1, random_state=0).fit(frame, y)
    assert single.members_ == 1 and single.model_.config.hidden_sizes == (128, 128)
    assert not np.allclose(model.predict_proba(frame), single.predict_proba(frame))
    expected = model.predict_proba(frame)
    path = model.save(tmp_path / "run")
    loaded = HeadClassifier.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(frame), expected)
    assert loaded.members_ == AUTO_MEMBERS and loaded.get_params()["members"] == "auto"
    np_engine = SavedModel.load(path, engine="numpy").predict_proba(frame)
    np.testing.assert_allclose(np_engine, expected, atol=1e-5)
    ort = pytest.importorskip("onnxruntime")
    frame_small = frame.iloc[:5]
    session = ort.InferenceSession(str(export_onnx(path, tmp_path / "m.onnx")))
    inputs = {
        "a": frame_small[["a"]].to_numpy(np.float32),
        "b": frame_small[["b"]].to_numpy(object),
    }
    np.testing.assert_allclose(session.run(None, inputs)[0], expected[:5], atol=1e-5)
    with pytest.raises(ConfigError, match="merged from 3 members"):
        HeadClassifier(epochs=2, members=3, random_state=0).fit(np.c_[frame["a"]], y).partial_fit(
            np.c_[frame["a"]], y
        )


def test_auto_is_one_member_on_numeric_arrays_and_big_tables():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    assert HeadClassifier(epochs=1, random_state=0).fit(X, y).members_ == 1  # small, not a table
    assert HeadClassifier(epochs=1, members=2, random_state=0).fit(X, y).members_ == 2
    frame, y = xor_table(MEMBER_ROWS + 1)
    assert HeadClassifier(epochs=1, random_state=0).fit(frame, y).members_ == 1


def test_members_refuse_networks_that_do_not_merge():
    frame, y = xor_table(100)
    with pytest.raises(ConfigError, match="members > 1 needs plain Dense blocks"):
        HeadClassifier(epochs=1, members=2, norm="layer").fit(frame, y)
    auto = HeadClassifier(epochs=1, norm="layer", random_state=0).fit(frame, y)
    assert auto.members_ == 1


def test_a_checkpointed_fit_of_several_members_equals_the_plain_one_and_resumes(tmp_path):
    frame, y = xor_table(200)
    params = dict(epochs=5, members=2, random_state=0)
    # a fresh checkpoint directory trains the members packed, as the plain fit does
    plain = HeadClassifier(**params).fit(frame, y).predict_proba(frame)
    first = HeadClassifier(checkpoint_dir=tmp_path / "ck", **params).fit(frame, y)
    np.testing.assert_array_equal(first.predict_proba(frame), plain)
    again = HeadClassifier(checkpoint_dir=tmp_path / "ck", **params).fit(frame, y)  # resumes
    np.testing.assert_array_equal(again.predict_proba(frame), plain)

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

from headkit import HeadClassifier
from headkit.config import TrainingConfig
from headkit.exceptions import ConfigError
from headkit.nn.losses import LOSSES
from headkit.nn.network import HeadNet
from headkit.training import Trainer
from headkit.training.weights import class_weight_vector, weighted_rows_loss

# One full batch, no dropout, no validation split, constant learning rate: training is a
# deterministic function of the mean loss, so weights and repeated rows must give the same model.
FULL_BATCH = dict(
    hidden_sizes=(8,),
    dropout=0.0,
    batch_size=100_000,
    validation_fraction=0.0,
    schedule="constant",
    epochs=25,
    random_state=0,
)


@pytest.fixture
def imbalanced(rng):
    X = rng.normal(size=(90, 4)).astype(np.float32)
    y = np.repeat([0, 1, 2], [60, 20, 10])
    X[:, 0] += y
    return X, y


def test_balanced_class_weight_is_scikit_learns_formula(imbalanced):
    _, y = imbalanced
    labels = np.array(["a", "b", "c"])[y]
    classes = np.unique(labels)
    ours = class_weight_vector("balanced", classes, y)
    np.testing.assert_allclose(ours, compute_class_weight("balanced", classes=classes, y=labels))
    as_dict = class_weight_vector({"a": 2.0, "c": 0.5}, classes, y)
    np.testing.assert_array_equal(as_dict, [2.0, 1.0, 0.5])
    with pytest.raises(ConfigError, match="not classes of y"):
        class_weight_vector({"z": 1.0}, classes, y)


def test_weighted_rows_loss_is_the_weighted_mean_of_row_losses(rng):
    logits = torch.randn(3, 7, 5, dtype=torch.float64)  # multi-sample dropout: k = 3
    target = torch.randint(0, 5, (7,))
    weight = torch.rand(7, dtype=torch.float64)
    criterion = LOSSES.build("label_smoothing:0.1", n_classes=5, output=None)
    naive = torch.stack(
        [
            torch.nn.functional.cross_entropy(
                logits[k], target, reduction="none", label_smoothing=0.1
            )
            for k in range(3)
        ]
    )
    expected = (naive * weight).mean()
    torch.testing.assert_close(weighted_rows_loss(criterion, logits, target, weight), expected)


def test_integer_sample_weights_equal_repeated_rows(imbalanced, rng):
    X, y = imbalanced
    weights = rng.integers(1, 4, len(y))
    weighted = HeadClassifier(**FULL_BATCH).fit(X, y, sample_weight=weights)
    repeated = HeadClassifier(**FULL_BATCH).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights)
    )
    # Same optimisation path; only the float summation order differs (measured max ≈ 1e-6).
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-4)
    unweighted = HeadClassifier(**FULL_BATCH).fit(X, y)
    assert np.abs(unweighted.predict_proba(X) - repeated.predict_proba(X)).max() > 1e-3


def test_zero_weight_rows_are_the_same_as_removing_them(imbalanced):
    X, y = imbalanced
    weights = np.ones(len(y))
    weights[::3] = 0
    params = dict(hidden_sizes=(8,), epochs=5, random_state=0, batch_size=16)
    a = HeadClassifier(**params).fit(X, y, sample_weight=weights)
    b = HeadClassifier(**params).fit(X[weights > 0], y[weights > 0])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_class_weight_balanced_equals_scikit_learns_sample_weights(imbalanced):
    X, y = imbalanced
    params = dict(hidden_sizes=(8,), epochs=5, random_state=0, batch_size=32)
    a = HeadClassifier(**params, class_weight="balanced").fit(X, y)
    b = HeadClassifier(**params).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-6, atol=1e-7)
    plain = HeadClassifier(**params).fit(X, y)
    assert not np.allclose(a.predict_proba(X), plain.predict_proba(X))


def test_validation_loss_and_accuracy_are_weighted_like_repeated_rows(imbalanced, rng):
    X, y = imbalanced
    weights = rng.integers(1, 4, len(y))
    model = HeadNet(HeadClassifier(hidden_sizes=(8,)).network_config(4, 3))
    trainer = Trainer(model, TrainingConfig(device="cpu"), 3)
    x, t = torch.as_tensor(X), torch.as_tensor(y)
    loss, accuracy = trainer.evaluate(x, t, batch_size=32, weight=torch.as_tensor(weights))
    repeat = torch.as_tensor(np.repeat(np.arange(len(y)), weights))
    loss_rep, accuracy_rep = trainer.evaluate(x[repeat], t[repeat], batch_size=32)
    assert loss == pytest.approx(loss_rep, rel=1e-5)
    assert accuracy == pytest.approx(accuracy_rep, rel=1e-12)


def test_heads_with_their_own_loss_refuse_weights(imbalanced):
    X, y = imbalanced
    model = HeadClassifier(
        head="chunked_linear", hidden_sizes=(8,), epochs=1, class_weight="balanced"
    )
    with pytest.raises(ConfigError, match="cannot weight rows"):
        model.fit(X, y)


def test_weights_survive_save_and_load(imbalanced, tmp_path):
    X, y = imbalanced
    model = HeadClassifier(hidden_sizes=(8,), epochs=2, class_weight={0: 1.0, 2: 3.0}).fit(X, y)
    loaded = HeadClassifier.load(model.save(tmp_path / "run"))
    assert loaded.class_weight == {0: 1.0, 2: 3.0}
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))

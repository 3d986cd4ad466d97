"""Distillation by name (catalogue H1): a saved run teaches a student; loss = Hinton's."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit import functional as F
from headkit.cli.app import app
from headkit.config import TrainingConfig
from headkit.estimator.teacher import teacher_log_probs
from headkit.exceptions import ConfigError, DataError
from headkit.nn import DistillationLoss, HeadNet
from headkit.training import Trainer


def hinton_loss(student, teacher_probs, y, T, beta):
    """Hand-written KD loss, row by row in float64 NumPy (Hinton et al. 2015)."""
    s = student.detach().double().numpy()
    p = teacher_probs.astype(np.float64)
    total = 0.0
    for i in range(len(s)):
        pt = p[i] ** (1 / T)
        pt = pt / pt.sum()  # softmax(log p / T)
        zs = s[i] / T
        log_qs = zs - zs.max() - np.log(np.exp(zs - zs.max()).sum())
        kl = sum(a * (np.log(a) - b) for a, b in zip(pt, log_qs, strict=True) if a > 0)
        log_q1 = s[i] - s[i].max() - np.log(np.exp(s[i] - s[i].max()).sum())
        total += beta * T**2 * kl + (1 - beta) * -log_q1[y[i]]
    return total / len(s)


@pytest.mark.parametrize(("T", "beta"), [(1.0, 0.5), (4.0, 0.9), (2.0, 0.0), (3.0, 1.0)])
def test_loss_module_equals_hand_written_hinton_loss(T, beta):
    g = torch.Generator().manual_seed(0)
    student = torch.randn(12, 5, generator=g, dtype=torch.float64) * 3
    probs = torch.softmax(torch.randn(12, 5, generator=g, dtype=torch.float64) * 2, -1)
    probs[0, 1] = 0.0  # a sparse teacher: log p = -inf must not give NaN
    probs[0] /= probs[0].sum()
    y = torch.randint(0, 5, (12,), generator=g)
    loss = DistillationLoss(T, beta)(student, y, teacher_logits=probs.log())
    assert loss.item() == pytest.approx(hinton_loss(student, probs.numpy(), y.numpy(), T, beta))
    # the gradient of T²·KL w.r.t. the student logits is T·(p_s^T − p_t^T), checked directly
    s = student.clone().requires_grad_()
    F.distillation_loss(s, probs.log(), T).backward()
    pt = probs ** (1 / T) / (probs ** (1 / T)).sum(1, keepdim=True)
    torch.testing.assert_close(s.grad, T * (torch.softmax(s.detach() / T, 1) - pt) / 12)


def test_trainer_feeds_each_batch_its_rows_teacher_targets():
    """One full-batch epoch: the recorded loss is Hinton's loss at the initial weights."""
    torch.manual_seed(0)
    X = torch.randn(64, 4)
    y = torch.randint(0, 3, (64,))
    probs = torch.softmax(torch.randn(64, 3), -1)
    net = HeadNet(n_features=4, n_classes=3, hidden_sizes=(8,), dropout=0.0)
    with torch.no_grad():
        start = net(X)
    cfg = TrainingConfig(
        epochs=1, batch_size=64, validation_fraction=0.0, teacher="runs/t",
        teacher_temperature=2.0, teacher_weight=0.7, device="cpu", schedule="constant",
    )  # fmt: skip
    trainer = Trainer(net, cfg, 3)
    record = trainer.fit(X, y, teacher_log_probs=probs.log())[0]
    ref = hinton_loss(start, probs.numpy(), y.numpy(), 2.0, 0.7)
    assert record.train_loss == pytest.approx(ref, rel=1e-5)
    with pytest.raises(ConfigError, match="teacher_log_probs"):
        trainer.fit(X, y)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    from headkit.data import load_dataset

    d = load_dataset("blobs:n_classes=4,n_features=6,n_samples=600,seed=3")
    path = tmp_path_factory.mktemp("teacher") / "run"
    teacher = HeadClassifier(hidden_sizes=(32,), epochs=30, random_state=0).fit(
        d.X_train, d.y_train
    )
    teacher.save(path)
    return path, teacher, d


def test_student_learns_from_the_teacher_alone(teacher_run):
    """With β = 1 and shuffled labels, only the teacher can teach; with β = 0 nothing does."""
    path, teacher, d = teacher_run
    noise = np.random.default_rng(0).permutation(d.y_train)
    common = {"hidden_sizes": (16,), "epochs": 30, "random_state": 1, "teacher": str(path)}
    common["calibrate"] = False  # no hold-out: its labels are shuffled, nothing to select on
    student = HeadClassifier(teacher_weight=1.0, **common).fit(d.X_train, noise)
    blind = HeadClassifier(teacher_weight=0.0, **common).fit(d.X_train, noise)
    teacher_acc = teacher.score(d.X_test, d.y_test)
    assert teacher_acc > 0.9
    assert student.score(d.X_test, d.y_test) > teacher_acc - 0.05
    agree = (student.predict(d.X_test) == teacher.predict(d.X_test)).mean()
    assert agree > 0.9
    assert blind.score(d.X_test, d.y_test) < 0.5  # chance is 0.25


def test_teacher_probabilities_follow_the_student_classes(teacher_run, tmp_path):
    path, teacher, d = teacher_run
    lp = teacher_log_probs(path, d.X_test, np.array([1, 3]))
    p = teacher.predict_proba(d.X_test)[:, [1, 3]]
    np.testing.assert_allclose(lp.exp().numpy(), p / p.sum(1, keepdims=True), rtol=1e-5)
    with pytest.raises(DataError, match="not among the teacher's classes"):
        teacher_log_probs(path, d.X_test, np.array([0, 7]))
    with pytest.raises(DataError, match="features"):
        teacher_log_probs(path, d.X_test[:, :3], np.array([0, 1]))


def test_teacher_round_trips_and_rejects_heads_with_their_own_loss(teacher_run, tmp_path):
    path, _, d = teacher_run
    clf = HeadClassifier(hidden_sizes=(8,), epochs=3, teacher=str(path), teacher_weight=0.8,
                         teacher_temperature=3.0, random_state=0).fit(d.X_train, d.y_train)  # fmt: skip
    clf.save(tmp_path / "s")
    back = HeadClassifier.load(tmp_path / "s")
    assert (back.teacher, back.teacher_temperature, back.teacher_weight) == (str(path), 3.0, 0.8)
    with pytest.raises(ConfigError, match="computes its own loss"):
        HeadClassifier(head="partial_fc", epochs=1, teacher=str(path)).fit(d.X_train, d.y_train)


def test_cli_teacher_flag(teacher_run, tmp_path):
    path, _, d = teacher_run
    out = tmp_path / "student"
    args = ["train", "--dataset", "blobs:n_classes=4,n_features=6,n_samples=600,seed=3"]
    args += ["--out", str(out), "--epochs", "20", "--hidden-sizes", "16", "--quiet"]
    result = CliRunner().invoke(app, [*args, "--teacher", str(path), "--teacher-weight", "0.9"])
    assert result.exit_code == 0, result.output
    training = json.loads((out / "config.json").read_text())
    saved = json.dumps(training)
    assert str(path) in saved and '"teacher_weight": 0.9' in saved
    student = HeadClassifier.load(out)
    assert student.score(d.X_test, d.y_test) > 0.85
    missing = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "x"), "--teacher", str(tmp_path / "nope")]
    )
    assert missing.exit_code == 2 and "nope" in missing.output


def test_a_label_smoothed_teacher_draws_a_warning(teacher_run, tmp_path):
    _, _, d = teacher_run
    smoothed = HeadClassifier(
        hidden_sizes=(8,), epochs=3, loss="label_smoothing:0.2", random_state=0
    )
    smoothed.fit(d.X_train, d.y_train).save(tmp_path / "ls")
    with pytest.warns(UserWarning, match="label smoothing"):
        teacher_log_probs(tmp_path / "ls", d.X_test, np.arange(4))


def test_several_teachers_give_the_mean_of_their_probabilities(teacher_run, tmp_path):
    path, teacher, d = teacher_run
    other = HeadClassifier(hidden_sizes=(8,), epochs=5, random_state=3).fit(d.X_train, d.y_train)
    other.save(tmp_path / "other")
    runs = [str(path), str(tmp_path / "other")]
    p = teacher_log_probs(runs, d.X_test, np.arange(4)).exp().double().numpy()
    mean = (teacher.predict_proba(d.X_test) + other.predict_proba(d.X_test)) / 2  # MEAL V2
    np.testing.assert_allclose(p, mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    student = HeadClassifier(hidden_sizes=(8,), epochs=3, teacher=runs, random_state=0)
    student.fit(d.X_train, d.y_train).save(tmp_path / "s")
    assert HeadClassifier.load(tmp_path / "s").teacher == tuple(runs)
    out = tmp_path / "cli"
    args = ["train", "--dataset", "blobs:n_classes=4,n_features=6,n_samples=600,seed=3", "--quiet"]
    args += ["--out", str(out), "--epochs", "3", "--teacher", runs[0], "--teacher", runs[1]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["metadata"]["training"]["teacher"] == runs


def test_teacher_refuses_table_preprocessing(teacher_run):
    import pandas as pd

    path, _, d = teacher_run
    frame = pd.DataFrame(d.X_train, columns=[f"f{i}" for i in range(6)]).assign(
        colour=np.where(d.y_train % 2 == 0, "red", "blue")
    )
    with pytest.raises(ConfigError, match="table preprocessing"):
        HeadClassifier(epochs=2, teacher=str(path), tabular=True).fit(frame, d.y_train)

"""Distillation with separate teacher/student temperatures and the sampled-label squared-error
loss (catalogue H1), as functions, as the loss module, and by name from the estimator and CLI."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit import functional as F
from headkit.cli.app import app
from headkit.nn import DistillationLoss


def _kl_reference(s, t, t_t, t_s):
    """T_s²·KL(softmax(t/T_t) ‖ softmax(s/T_s)) row by row in float64 NumPy, averaged."""
    s, t = s.detach().double().numpy(), t.detach().double().numpy()
    total = 0.0
    for zs, zt in zip(s, t, strict=True):
        p = np.exp(zt / t_t - (zt / t_t).max())
        p /= p.sum()
        log_q = zs / t_s - (zs / t_s).max()
        log_q -= np.log(np.exp(log_q).sum())
        total += t_s**2 * float((p * (np.log(p) - log_q)).sum())
    return total / len(s)


@pytest.mark.parametrize(("t_t", "t_s"), [(1.0, 4.0), (4.0, 1.0), (0.5, 2.0), (3.0, 3.0)])
def test_separate_temperatures_match_the_formula_and_its_gradient(t_t, t_s):
    g = torch.Generator().manual_seed(0)
    s = (torch.randn(9, 6, generator=g, dtype=torch.float64) * 2).requires_grad_()
    t = torch.randn(9, 6, generator=g, dtype=torch.float64) * 3
    loss = F.distillation_loss(s, t, t_t, student_temperature=t_s)
    assert loss.item() == pytest.approx(_kl_reference(s, t, t_t, t_s), rel=1e-10)
    loss.backward()
    expected = t_s * (torch.softmax(s.detach() / t_s, -1) - torch.softmax(t / t_t, -1)) / 9
    torch.testing.assert_close(s.grad, expected)
    # zero iff the student's tempered probabilities equal the teacher's
    match = t * t_s / t_t
    assert F.distillation_loss(match, t, t_t, student_temperature=t_s).abs() < 1e-12
    assert F.distillation_loss(match + 0.3 * torch.eye(6)[:1], t, t_t, student_temperature=t_s) > 0


def test_module_defaults_to_one_temperature_and_beta_zero_is_cross_entropy():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    y = torch.randint(0, 4, (5,), generator=g)
    same = DistillationLoss(2.0, 1.0)(s, y, teacher_logits=t)
    torch.testing.assert_close(same, F.distillation_loss(s, t, 2.0))
    ce = DistillationLoss(2.0, 0.0, student_temperature=5.0)(s, y, teacher_logits=t)
    torch.testing.assert_close(ce, torch.nn.functional.cross_entropy(s, y))
    with pytest.raises(ValueError, match="temperatures"):
        DistillationLoss(2.0, 0.5, student_temperature=0.0)


def _fit_tabular(loss_fn, labels, teacher_log_p, steps=600):
    """Fit free logits of one input by gradient descent on (label, teacher log-prob) samples."""
    z = torch.zeros(1, teacher_log_p.numel(), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([z], lr=0.1)
    goal = teacher_log_p[labels]
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(z.expand(len(labels), -1), labels, goal).backward()
        opt.step()
    return torch.softmax(z.detach()[0], -1)


def test_sampled_label_squared_error_is_unbiased_where_naive_ce_is_not():
    """Zhao & Zhu 2023: labels drawn from the teacher π*, each with π*(a): the squared-error
    learner recovers π*, the naive −π*(a)·log q(a) learner drifts to π*²/Σπ*²."""
    pi = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    labels = torch.multinomial(
        pi, 20_000, replacement=True, generator=torch.Generator().manual_seed(0)
    )
    log_pi = pi.log()
    sel = _fit_tabular(F.sampled_label_logit_loss, labels, log_pi)
    naive = _fit_tabular(F.naive_sampled_label_ce, labels, log_pi)
    assert (sel - pi).abs().max() < 0.01
    squared = pi**2 / (pi**2).sum()
    freq = torch.bincount(labels, minlength=4).double() / len(labels)
    naive_goal = freq * pi / (freq * pi).sum()  # the naive loss's exact empirical minimiser
    assert (naive - naive_goal).abs().max() < 0.01 and (naive - squared).abs().max() < 0.02
    assert (naive - pi).abs().max() > 0.1  # biased


def test_sampled_logit_module_uses_each_rows_label():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    y = torch.randint(0, 3, (6,), generator=g)
    loss = DistillationLoss(beta=1.0, kind="sampled_logit")(s, y, teacher_logits=t)
    ref = ((s.log_softmax(-1) - t.log_softmax(-1)).gather(1, y[:, None]) ** 2).mean()
    torch.testing.assert_close(loss, ref)
    stacked = DistillationLoss(beta=1.0, kind="sampled_logit")(
        torch.stack([s, s]), y, teacher_logits=t
    )  # a multi-sample (k, N, C) student
    torch.testing.assert_close(stacked, ref)


@pytest.mark.parametrize(
    "settings",
    [
        {"teacher_temperature": 1.0, "student_temperature": 4.0},
        {"teacher_loss": "sampled_logit", "teacher_weight": 0.7},
    ],
)
def test_estimator_distils_saves_and_loads_with_the_new_settings(settings, tmp_path):
    from headkit.data import load_dataset

    d = load_dataset("digits")
    # calibrate=False: the plain path these few epochs were sized for (small data now gets the
    # honest recipe, docs/tables.md)
    teacher = HeadClassifier(hidden_sizes=(64,), epochs=15, random_state=0, calibrate=False)
    teacher.fit(d.X_train, d.y_train).save(tmp_path / "teacher")
    student = HeadClassifier(
        hidden_sizes=(16,),
        epochs=15,
        random_state=0,
        teacher=str(tmp_path / "teacher"),
        calibrate=False,
        **settings,
    ).fit(d.X_train, d.y_train)
    assert student.score(d.X_test, d.y_test) > 0.85
    student.save(tmp_path / "student")
    loaded = HeadClassifier.load(tmp_path / "student")
    for key, value in settings.items():
        assert getattr(loaded, key) == value
    np.testing.assert_allclose(loaded.predict_proba(d.X_test), student.predict_proba(d.X_test))


def test_cli_flags(tmp_path):
    runner = CliRunner()
    teacher = tmp_path / "t"
    args = ["train", "--dataset", "mnist1d", "--out", str(teacher), "--epochs", "2", "--quiet"]
    assert runner.invoke(app, args).exit_code == 0
    out = tmp_path / "s"
    args = ["train", "--dataset", "mnist1d", "--out", str(out), "--epochs", "2", "--quiet"]
    args += ["--teacher", str(teacher), "--teacher-temperature", "1", "--student-temperature", "3"]
    args += ["--teacher-loss", "kl"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert "3.0" in json.dumps(config) and "student_temperature" in json.dumps(config)
    bad = runner.invoke(app, [*args[:-1], "kld"])
    assert bad.exit_code == 2

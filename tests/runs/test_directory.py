import os
import tempfile

import pytest

from headkit.exceptions import ConfigError, RunClaimedError
from headkit.runs.directory import RunDirectory, staging_path
from headkit.runs.train import TrainRequest, _claim


def test_a_claimed_run_refuses_a_second_claim_naming_the_first(tmp_path):
    out = tmp_path / "run"
    first = RunDirectory.claim(out)
    first.write_request({"asked": 1})
    with pytest.raises(
        RunClaimedError, match=rf"being written by another headkit run \(pid {os.getpid()}"
    ):
        RunDirectory.claim(out)
    with pytest.raises(RunClaimedError, match="still being trained"):
        RunDirectory.reclaim(out)
    first.release()


def test_a_released_claim_is_an_interrupted_run_to_resume_or_overwrite(tmp_path):
    out = tmp_path / "run"
    first = RunDirectory.claim(out)
    first.write_request({"asked": 1})
    first.release()
    with pytest.raises(RunClaimedError, match="interrupted run.*--resume"):
        RunDirectory.claim(out)
    again = RunDirectory.reclaim(out)
    assert again.read_request() == {"asked": 1}
    again.release()
    fresh = RunDirectory.claim(out, overwrite=True)  # the abandoned claim is cleared
    assert not (fresh.staging / "request.json").exists()
    (fresh.result_dir).mkdir()
    (fresh.result_dir / "a.txt").write_text("1")
    assert fresh.commit() == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_commit_replaces_an_existing_run_as_one_unit(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.json").write_text("old")
    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        RunDirectory.claim(out)
    run = RunDirectory.claim(out, overwrite=True)
    run.result_dir.mkdir()
    (run.result_dir / "model.safetensors").write_text("new")
    run.commit(overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors"]
    assert not staging_path(out).exists()


def test_an_unwritable_place_is_refused_before_training(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="Cannot create a run directory"):
        RunDirectory.claim(tmp_path / "file" / "run")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)  # root ignores chmod, so simulate it
    with pytest.raises(ConfigError, match=r"\(permission denied\); choose a writable --out"):
        RunDirectory.claim(tmp_path / "run")


def test_default_run_names_do_not_collide_within_one_second(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("time.strftime", lambda fmt: "20260101-000000")
    request = TrainRequest(dataset="digits")
    claims = [_claim(request) for _ in range(3)]
    assert [c.out.name for c in claims] == [
        "digits-20260101-000000",
        "digits-20260101-000000-2",
        "digits-20260101-000000-3",
    ]
    for claim in claims:
        claim.release(keep=False)

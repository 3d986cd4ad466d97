"""The report's block-importance table (catalogue J6) on a saved run."""

import math
import re

import numpy as np
import pandas as pd
import torch

from headkit import HeadClassifier


def table_rows(index):
    """Every <tr> of the page as a list of cell texts (a regex is enough for our own HTML)."""
    page = index.read_text(encoding="utf-8")
    return [re.findall(r"<t[hd]>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", page)]


def test_report_table_holds_every_criterion_recomputed_by_hand(report_run):
    model = HeadClassifier.load(report_run.run)
    test = pd.read_csv(report_run.test_csv)
    cells = table_rows(report_run.report)
    start = next(i for i, r in enumerate(cells) if r == ["block", "angular", "cosine", "l2"])
    rows = {r[0]: r[1:] for r in cells[start + 1 : start + 3]}
    net = model.model_.eval()
    with torch.no_grad():
        acts = net.layer_outputs(
            torch.as_tensor(model.network_input(test[list(report_run.features)])),
            include_input=True,
        )
    h_in, h_out = acts[1].double().numpy(), acts[2].double().numpy()  # block 2: 32 → 32
    na, nb = np.linalg.norm(h_in, axis=1), np.linalg.norm(h_out, axis=1)
    cos = np.clip((h_in * h_out).sum(1) / (na * nb), -1, 1)
    expected = [np.mean(np.arccos(cos)) / math.pi, 1 - cos.mean(), np.mean(np.abs(nb - na) / na)]
    assert rows["block 1"] == ["–", "–", "–"]  # 64 → 32 changes the width
    assert rows["block 2"] == [f"{v:.4f}" for v in expected]

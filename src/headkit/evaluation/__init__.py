"""Measures of a trained classifier: metrics, calibration, OOD scores, collapse, similarity."""

from headkit.evaluation.summary import summary_metrics

__all__ = ["summary_metrics"]

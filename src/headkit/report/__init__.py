"""Pictures and an offline HTML page about a trained classifier (matplotlib, no JavaScript)."""

from headkit.report.collect import ReportInputs, collect
from headkit.report.html import referenced_images, render_report, write_report

__all__ = ["ReportInputs", "collect", "referenced_images", "render_report", "write_report"]

"""benchmarks/speed_probes.py: every results table names the CPU closely enough to tell hosts apart."""

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "speed_probes.py"
_SPEC = importlib.util.spec_from_file_location("speed_probes", _PATH)
speed_probes = importlib.util.module_from_spec(_SPEC)  # by path: benchmarks/ stays off sys.path
sys.modules.setdefault("speed_probes", speed_probes)  # dataclasses look the module up
_SPEC.loader.exec_module(speed_probes)

_ZEN4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n\n"


def test_the_cpu_model_carries_family_and_model_numbers(tmp_path):
    info = tmp_path / "cpuinfo"
    # Two processors with a different second block: only the first one is read.
    info.write_text(_ZEN4 + _ZEN4.replace("model\t\t: 17", "model\t\t: 1"))
    assert speed_probes.cpu_model(str(info)) == "AMD EPYC (cpu family 25, model 17)"


def test_a_cpuinfo_without_numbers_gives_the_bare_name(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\n")
    assert speed_probes.cpu_model(str(info)) == "Some CPU"


def test_no_cpuinfo_falls_back_to_the_platform(tmp_path):
    assert speed_probes.cpu_model(str(tmp_path / "missing"))

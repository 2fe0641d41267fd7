"""The RAPL reader against a fake powercap directory."""

from __future__ import annotations

from pathlib import Path

from modelmart.energy.meters import EnergyMethod, RaplMeter, energy_setup
from modelmart.energy.rapl import RaplReader


def zone(root: Path, name: str, energy_uj: int, max_range_uj: int = 262143328850) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    (path / "name").write_text("package-0\n")
    return path


def set_energy(path: Path, energy_uj: int) -> None:
    (path / "energy_uj").write_text(f"{energy_uj}\n")


def test_reads_every_package_and_adds_their_use(tmp_path: Path) -> None:
    first = zone(tmp_path, "intel-rapl:0", 1_000)
    second = zone(tmp_path, "intel-rapl:1", 5_000)
    reader = RaplReader.open(tmp_path)
    assert reader is not None
    before = reader.read()
    set_energy(first, 1_600)
    set_energy(second, 5_250)
    assert reader.used_uj(before, reader.read()) == 600 + 250


def test_subzones_are_not_counted_twice(tmp_path: Path) -> None:
    package = zone(tmp_path, "intel-rapl:0", 100)
    core = zone(tmp_path, "intel-rapl:0:0", 50)
    zone(tmp_path, "intel-rapl-mmio:0", 10)  # another interface to the same package
    reader = RaplReader.open(tmp_path)
    assert reader is not None
    assert [z.energy_file.parent.name for z in reader.zones] == ["intel-rapl:0"]
    before = reader.read()
    set_energy(package, 400)
    set_energy(core, 999)
    assert reader.used_uj(before, reader.read()) == 300


def test_a_counter_that_wrapped_counts_from_its_range(tmp_path: Path) -> None:
    package = zone(tmp_path, "intel-rapl:0", 9_990, max_range_uj=9_999)
    reader = RaplReader.open(tmp_path)
    assert reader is not None
    before = reader.read()
    set_energy(package, 15)  # 9_990 -> 9_999, wraps to 0, then 0 -> 15
    assert reader.used_uj(before, reader.read()) == 10 + 15


def test_no_zones_or_an_unreadable_counter_means_no_reader(tmp_path: Path) -> None:
    assert RaplReader.open(tmp_path / "missing") is None
    assert RaplReader.open(tmp_path) is None  # exists, but holds no package zone
    package = zone(tmp_path, "intel-rapl:0", 1)
    (package / "energy_uj").unlink()  # what a counter only root may read looks like
    (package / "energy_uj").mkdir()
    assert RaplReader.open(tmp_path) is None


def test_the_setup_measures_with_rapl_where_readable(tmp_path: Path) -> None:
    package = zone(tmp_path, "intel-rapl:0", 0)
    setup = energy_setup(enabled=True, watts_per_core=10, powercap=tmp_path)
    assert setup.method is EnergyMethod.RAPL
    meter = setup.meter()
    assert isinstance(meter, RaplMeter)
    started = meter.start()
    set_energy(package, 1_234)
    assert meter.stop(started) == 1_234


def test_the_setup_estimates_without_rapl_and_can_be_off(tmp_path: Path) -> None:
    estimated = energy_setup(enabled=True, watts_per_core=10, powercap=tmp_path)
    assert estimated.method is EnergyMethod.CPU_TIME
    assert "10 W per core" in estimated.description()
    off = energy_setup(enabled=False, watts_per_core=10, powercap=tmp_path)
    assert off.method is EnergyMethod.OFF
    assert off.meter().stop(off.meter().start()) == 0

"""The support table: which Kubernetes versions each Istio / Cloud Service Mesh minor supports,
and the control plane / data plane skew Istio supports, read from mesh/support.toml.

The table is data, kept beside the code with the URL and the date each row was read, so that a
new release is one reviewed row and not a code change. It is loaded by a typed loader rather
than a JSON Schema: the checks need typed rows anyway, a version must parse as MAJOR.MINOR (a
schema pattern would say the same thing less directly), and the run needs no extra dependency.
Anything malformed raises TableError naming the row and the field, so a bad edit fails the
self-tests, not a user's run.

Which release a cluster runs is read from what the cluster shows: istiod's image tag
(`1.28.5-asm.9` is Cloud Service Mesh 1.28, `1.29.0` is Istio 1.29), else an ASM revision name,
which encodes the version (asm-173-3 is 1.7.3-asm.3, asm-1287-3 is 1.28.7-asm.3).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

Product = Literal["istio", "csm"]
PRODUCT_NAMES: dict[Product, str] = {"istio": "Istio", "csm": "Cloud Service Mesh"}
_MINOR = re.compile(r"(\d+)\.(\d+)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TAG = re.compile(r"(\d+)\.(\d+)\.(\d+)(-asm\.\d+)?")
# asm-173-3 (1.7.3-asm.3) and asm-1287-3 (1.28.7-asm.3): one digit major, then a one-digit minor
# when three digits are left (ASM 1.4-1.9), a two-digit one from four (ASM 1.10 on).
_ASM_REVISION = re.compile(r"asm-(\d)(\d{2}|\d)(\d+)-(\d+)")


class TableError(Exception):
    """mesh/support.toml does not have the shape this module reads."""


@dataclass(frozen=True)
class Release:
    product: Product
    minor: tuple[int, int]
    kubernetes: frozenset[tuple[int, int]]
    tested: frozenset[tuple[int, int]]
    source: str
    read: str

    @property
    def name(self) -> str:
        return f"{PRODUCT_NAMES[self.product]} {fmt(self.minor)}"


@dataclass(frozen=True)
class Skew:
    data_plane_behind: int
    control_planes_apart: int
    source: str


@dataclass(frozen=True)
class Table:
    releases: dict[tuple[Product, tuple[int, int]], Release]
    skew: Skew

    def release(self, product: Product, minor: tuple[int, int]) -> Release | None:
        return self.releases.get((product, minor))


def fmt(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def minor_of(text: str) -> tuple[int, int] | None:
    """`v1.33.5-gke.1080000` or `1.28.5-asm.9` or `1.29` -> (1, 33); None when it names none."""
    m = _MINOR.match(text.removeprefix("v"))
    return (int(m[1]), int(m[2])) if m else None


def release_of(tag: str | None, revision: str | None = None) -> tuple[Product, str] | None:
    """(product, version) a control plane or proxy runs, from its image tag, else from an ASM
    revision name; None when neither says (a digest-pinned image, a revision like `canary`)."""
    m = _TAG.match(tag or "")
    if m:
        return ("csm" if m[4] else "istio"), m[0]
    r = _ASM_REVISION.fullmatch(revision or "")
    if r:
        return "csm", f"{r[1]}.{r[2]}.{r[3]}-asm.{r[4]}"
    return None


@functools.cache
def load() -> Table:
    text = resources.files("meshconform.mesh").joinpath("support.toml").read_text()
    return parse(text)


def parse(text: str) -> Table:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TableError(f"support.toml is not TOML: {exc}") from None
    releases: dict[tuple[Product, tuple[int, int]], Release] = {}
    for product in PRODUCT_NAMES:
        for i, row in enumerate(data.get(product) or []):
            release = _release(product, i, row)
            if (product, release.minor) in releases:
                raise TableError(f"support.toml: [[{product}]] {fmt(release.minor)} appears twice")
            releases[(product, release.minor)] = release
    return Table(releases, _skew(data.get("version_skew")))


def _release(product: Product, index: int, row: Any) -> Release:
    where = f"support.toml: [[{product}]] #{index + 1}"
    if not isinstance(row, dict):
        raise TableError(f"{where} is not a table")
    minor = _version(where, "minor", row.get("minor"))
    kubernetes = _versions(where, "kubernetes", row.get("kubernetes"))
    if not kubernetes:
        raise TableError(f"{where} ({fmt(minor)}) lists no supported Kubernetes version")
    return Release(
        product=product,
        minor=minor,
        kubernetes=kubernetes,
        tested=_versions(where, "tested", row.get("tested", [])),
        source=_text(where, "source", row.get("source"), "https://"),
        read=_date(where, row.get("read")),
    )


def _skew(row: Any) -> Skew:
    where = "support.toml: [version_skew]"
    if not isinstance(row, dict):
        raise TableError(f"{where} is missing")
    behind, apart = row.get("data_plane_behind"), row.get("control_planes_apart")
    if not (isinstance(behind, int) and isinstance(apart, int) and behind >= 0 and apart >= 0):
        raise TableError(f"{where}: data_plane_behind and control_planes_apart must be whole numbers")
    _date(where, row.get("read"))
    return Skew(behind, apart, _text(where, "source", row.get("source"), "https://"))


def _version(where: str, field: str, value: Any) -> tuple[int, int]:
    if not isinstance(value, str) or not _MINOR.fullmatch(value):
        raise TableError(f"{where}: {field} {value!r} is not MAJOR.MINOR")
    parsed = minor_of(value)
    assert parsed is not None  # fullmatch above
    return parsed


def _versions(where: str, field: str, value: Any) -> frozenset[tuple[int, int]]:
    if not isinstance(value, list):
        raise TableError(f"{where}: {field} must be a list of MAJOR.MINOR strings")
    return frozenset(_version(where, field, v) for v in value)


def _text(where: str, field: str, value: Any, prefix: str) -> str:
    if not isinstance(value, str) or not value.startswith(prefix):
        raise TableError(f"{where}: {field} {value!r} must start with {prefix}")
    return value


def _date(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise TableError(f"{where}: read {value!r} must be the date the page was read, YYYY-MM-DD")
    return value

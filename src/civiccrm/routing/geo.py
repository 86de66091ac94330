"""
Geography for routing and duplicate detection: districts, distances and a spatial grid.

Districts
    A :class:`DistrictMap` holds an agency's districts (wards, service areas, a
    downtown zone), read from a GeoJSON ``FeatureCollection`` of ``Polygon`` and
    ``MultiPolygon`` features by :func:`parse_districts` or :func:`load_districts`.
    :meth:`DistrictMap.locate` names every district a point lies in; districts may
    overlap. Polygons are taken as flat shapes in longitude/latitude (as GeoJSON draws
    them): edges are straight lines in degrees, and a polygon may not cross the
    antimeridian (split it in two, as RFC 7946 asks).

Distances
    :func:`distance_m` is the great-circle (haversine) distance on a sphere of radius
    :data:`EARTH_RADIUS_M`.

The duplicate grid
    :func:`cell_of` puts a point in a cell of a fixed global grid of cells about
    :data:`GRID_CELL_M` metres on a side; the cell numbers are stable and may be stored.
    :func:`cells_near` lists the cells that may hold a point within some distance, and
    :class:`DuplicateIndex` uses them to find open cases of the same type reported near
    a place at about the same time. :func:`scan_near` answers the same question by
    checking every entry (the reference the index is tested against).

Nothing here does I/O except :func:`load_districts`, which reads one file.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Final, TypeAlias, TypeGuard

import attrs

from civiccrm.errors import NotFoundError, PolicyError, Problem, ValidationError
from civiccrm.models._common import _SLUG, _kind

__all__ = [
    "EARTH_RADIUS_M",
    "GRID_CELL_M",
    "District",
    "DistrictMap",
    "DuplicateIndex",
    "Nearby",
    "cell_of",
    "cells_near",
    "distance_m",
    "load_districts",
    "parse_districts",
    "scan_near",
    "springfield_districts_path",
]

#: A point as GeoJSON orders it: ``(longitude, latitude)`` in degrees.
Position: TypeAlias = tuple[float, float]
#: A closed ring of positions (the last repeats the first).
Ring: TypeAlias = tuple[Position, ...]
#: A polygon: its outer ring, then its holes.
Polygon: TypeAlias = tuple[Ring, ...]

#: The mean Earth radius (IUGG) in metres, used by :func:`distance_m` and the grid.
EARTH_RADIUS_M: Final = 6_371_008.8
#: The edge of a grid cell in metres (see :func:`cell_of`). Changing it renumbers every
#: cell, so it never changes.
GRID_CELL_M: Final = 200.0

_M_PER_DEG: Final = EARTH_RADIUS_M * math.pi / 180.0
#: The height of a grid row in degrees of latitude.
_ROW_DEG: Final = GRID_CELL_M / _M_PER_DEG
#: Slack added to a search radius so that rounding never loses a cell (1 mm and 1 ppb).
_PAD_M: Final = 0.001
_PAD_REL: Final = 1e-9
#: The most cells :func:`cells_near` lists (a radius of about 100 km).
_MAX_CELLS: Final = 1_000_000
#: Cell keys inside the index: ``row * _KEY + col`` (a row has at most ~200,152 columns).
_KEY: Final = 1 << 20
#: :meth:`DuplicateIndex.near` reads every bucket of a case type rather than look up
#: more than this many cells per bucket (a lookup costs much less than reading a bucket).
_PROBES_PER_BUCKET: Final = 8
_US_PER_H: Final = 3_600_000_000.0
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)
_GEOMETRIES: Final = ("Polygon", "MultiPolygon")


def _is_list(value: object) -> TypeGuard[Sequence[object]]:
    """A JSON array (any sequence but a string)."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


# --------------------------------------------------------------------------------------
# Checking GeoJSON coordinates. Each checker appends its problems and returns None when
# it found any, so that one bad position is reported once.


def _position(value: object, path: str, problems: list[Problem]) -> Position | None:
    if not _is_list(value):
        problems.append(
            Problem(path, f"expected a position [longitude, latitude], got {_kind(value)}")
        )
        return None
    if len(value) not in (2, 3):
        problems.append(
            Problem(
                path,
                "expected a position [longitude, latitude] (and an optional altitude), "
                f"got {len(value)} numbers",
            )
        )
        return None
    numbers: list[float] = []
    for axis, item, limit in zip(
        ("longitude", "latitude", "altitude"), value, (180, 90, None), strict=False
    ):
        if not isinstance(item, int | float) or isinstance(item, bool):
            problems.append(Problem(path, f"{axis} must be a number, got {_kind(item)}"))
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append(Problem(path, f"{axis} must be a finite number, got {item}"))
        elif limit is not None and not -limit <= item <= limit:
            problems.append(Problem(path, f"{axis} {item} is outside [-{limit}, {limit}]"))
        else:
            # Longitude and latitude are in range, so an integer converts; the altitude
            # is checked but not kept.
            numbers.append(float(item) if limit is not None else 0.0)
    if len(numbers) < len(value):
        return None
    return (numbers[0], numbers[1])


def _ring(value: object, path: str, problems: list[Problem]) -> Ring | None:
    if not _is_list(value):
        problems.append(Problem(path, f"expected a ring (a list of positions), got {_kind(value)}"))
        return None
    found = len(problems)
    points = [_position(item, f"{path}[{k}]", problems) for k, item in enumerate(value)]
    if len(value) < 4:
        problems.append(
            Problem(
                path,
                f"a ring needs at least 4 positions (the last repeating the first), got {len(value)}",
            )
        )
    first, last = (points[0], points[-1]) if points else (None, None)
    if first is not None and last is not None and first != last:
        problems.append(
            Problem(
                path,
                f"the ring is not closed: its first position [{first[0]}, {first[1]}] "
                f"differs from its last [{last[0]}, {last[1]}]",
            )
        )
    if len(problems) > found:
        return None
    return tuple(p for p in points if p is not None)


def _polygon(value: object, path: str, problems: list[Problem]) -> Polygon | None:
    if not _is_list(value):
        problems.append(Problem(path, f"expected a polygon (a list of rings), got {_kind(value)}"))
        return None
    if not value:
        problems.append(Problem(path, "a polygon needs at least one ring (its outer boundary)"))
        return None
    rings = [_ring(item, f"{path}[{r}]", problems) for r, item in enumerate(value)]
    if any(ring is None for ring in rings):
        return None
    return tuple(ring for ring in rings if ring is not None)


def _polygons(value: object, path: str, problems: list[Problem]) -> tuple[Polygon, ...] | None:
    if not _is_list(value):
        problems.append(Problem(path, f"expected a list of polygons, got {_kind(value)}"))
        return None
    if not value:
        problems.append(Problem(path, "needs at least one polygon"))
        return None
    polygons = [_polygon(item, f"{path}[{p}]", problems) for p, item in enumerate(value)]
    if any(polygon is None for polygon in polygons):
        return None
    return tuple(polygon for polygon in polygons if polygon is not None)


def _convert_polygons(value: object) -> tuple[Polygon, ...]:
    problems: list[Problem] = []
    polygons = _polygons(value, "polygons", problems)
    if polygons is None:
        raise ValidationError(problems, record_type="District")
    return polygons


def _check_slug(_inst: object, field: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise ValidationError.at(
            field.name,
            f"{value!r} is not a code: use lowercase letters and digits joined by - or _",
        )


def _check_name(_inst: object, field: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.at(field.name, "must be a non-empty string")


def _in_ring(ring: Ring, x: float, y: float) -> bool:
    """
    Even-odd ray casting: whether ``(x, y)`` is inside ``ring``, counting the edges that
    a ray going east (towards larger ``x``) from the point crosses.

    An edge counts when one end is above ``y`` and the other is not (``> y`` against
    ``<= y``) and it crosses the ray strictly east of ``x``. Each edge's crossing is
    computed from its lower end, so two rings that share an edge (in either direction)
    agree about it to the last bit.
    """
    inside = False
    ax, ay = ring[0]
    for bx, by in ring[1:]:
        if (ay > y) != (by > y):
            if ay < by:
                cross = ax + (y - ay) * (bx - ax) / (by - ay)
            else:
                cross = bx + (y - by) * (ax - bx) / (ay - by)
            if x < cross:
                inside = not inside
        ax, ay = bx, by
    return inside


def _box(rings: Iterable[Ring]) -> tuple[float, float, float, float]:
    lons = [p[0] for ring in rings for p in ring]
    lats = [p[1] for ring in rings for p in ring]
    return (min(lons), min(lats), max(lons), max(lats))


@attrs.frozen
class District:
    """
    One district: a ward, a service area, a zone. Districts may overlap.

    ``polygons`` are as GeoJSON gives them: polygons, each a tuple of rings (the outer
    boundary first, then its holes), each ring a closed tuple of ``(longitude,
    latitude)`` positions. Lists are accepted and stored as tuples; bad coordinates are
    a :class:`~civiccrm.errors.ValidationError`. ``bbox`` is computed from the outer
    rings. The winding order of the rings does not matter, and rings are not checked
    for self-intersection (the even-odd rule still gives every point an answer).

    .. versionadded:: 0.1.0
    """

    #: The district's code, such as ``"ward-3"``.
    code: str = attrs.field(validator=_check_slug)
    #: Its name for people, such as ``"Ward 3"``; defaults to the code.
    name: str = attrs.field(
        default=attrs.Factory(lambda self: self.code, takes_self=True), validator=_check_name
    )
    #: Polygons -> rings (outer first, then holes) -> ``(longitude, latitude)`` positions.
    polygons: tuple[Polygon, ...] = attrs.field(
        kw_only=True, converter=_convert_polygons, repr=lambda v: f"<{len(v)} polygons>"
    )
    #: ``(min_lon, min_lat, max_lon, max_lat)`` of the outer rings.
    bbox: tuple[float, float, float, float] = attrs.field(init=False)
    _boxes: tuple[tuple[float, float, float, float], ...] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        boxes = tuple(_box(polygon[:1]) for polygon in self.polygons)
        object.__setattr__(self, "_boxes", boxes)
        object.__setattr__(
            self,
            "bbox",
            (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            ),
        )

    def contains(self, lat: float, lon: float) -> bool:
        """
        Whether the point is in the district: inside the outer ring of one of its
        polygons and not inside any of that polygon's holes (even-odd ray casting).

        A point exactly on an edge belongs to the side just east of it (greater
        longitude), or, on an east-west edge, to the side just north of it: it counts
        as the point an infinitesimal step east and then an even smaller step north. So
        a rectangle holds its west and south edges and its south-west corner but not the
        others, and a hole's edges follow the same rule. Districts that tile an area and
        share their boundaries (the same vertices on both sides) put every point of the
        area in exactly one of them, boundaries included: a shared edge is worked out
        the same way for both, to the last bit.

        NaN coordinates are in no district.
        """
        for polygon, box in zip(self.polygons, self._boxes, strict=True):
            if not (box[0] <= lon <= box[2] and box[1] <= lat <= box[3]):
                continue
            if _in_ring(polygon[0], lon, lat) and not any(
                _in_ring(hole, lon, lat) for hole in polygon[1:]
            ):
                return True
        return False


def _as_districts(value: Iterable[District]) -> tuple[District, ...]:
    raw: object = value
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise ValidationError.at("districts", f"expected a list of districts, got {_kind(raw)}")
    out = tuple(value)
    for i, item in enumerate(out):
        if not isinstance(item, District):
            raise ValidationError.at(f"districts[{i}]", f"expected a District, got {_kind(item)}")
    return out


@attrs.frozen
class DistrictMap:
    """
    An agency's districts, in the order the file lists them. Codes are unique.

    .. versionadded:: 0.1.0
    """

    districts: tuple[District, ...] = attrs.field(converter=_as_districts)
    _by_code: dict[str, District] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        by_code: dict[str, District] = {}
        problems = []
        for i, district in enumerate(self.districts):
            if district.code in by_code:
                problems.append(Problem(f"districts[{i}].code", f"duplicate {district.code!r}"))
            by_code.setdefault(district.code, district)
        if problems:
            raise ValidationError(problems, record_type="DistrictMap")
        object.__setattr__(self, "_by_code", by_code)

    def locate(self, lat: float, lon: float) -> frozenset[str]:
        """The codes of every district that contains the point (see :meth:`District.contains`)."""
        found = []
        for district in self.districts:
            west, south, east, north = district.bbox
            if west <= lon <= east and south <= lat <= north and district.contains(lat, lon):
                found.append(district.code)
        return frozenset(found)

    def get(self, code: str) -> District:
        """The district with this code. Raises :class:`~civiccrm.errors.NotFoundError`."""
        try:
            return self._by_code[code]
        except KeyError:
            raise NotFoundError("district", code) from None

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self.districts)

    def codes(self) -> tuple[str, ...]:
        """The district codes, in order."""
        return tuple(d.code for d in self.districts)


# --------------------------------------------------------------------------------------
# Reading GeoJSON.


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _feature(
    value: object, path: str, seen: dict[str, str], problems: list[Problem]
) -> District | None:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"expected a Feature object, got {_kind(value)}"))
        return None
    found = len(problems)
    kind = value.get("type")
    if kind != "Feature":
        problems.append(Problem(f"{path}.type", f"expected 'Feature', got {kind!r}"))
    code: str | None = None
    name: str | None = None
    props = value.get("properties")
    if not isinstance(props, Mapping):
        problems.append(
            Problem(f"{path}.properties", f"expected an object with a code, got {_kind(props)}")
        )
    else:
        raw = props.get("code")
        where = f"{path}.properties.code"
        if raw is None:
            problems.append(Problem(where, "is required"))
        elif not isinstance(raw, str):
            problems.append(Problem(where, f"expected a string, got {_kind(raw)}"))
        elif not _SLUG.fullmatch(raw):
            problems.append(
                Problem(
                    where,
                    f"{raw!r} is not a code: use lowercase letters and digits joined by - or _",
                )
            )
        elif raw in seen:
            problems.append(Problem(where, f"duplicate code {raw!r} (also {seen[raw]})"))
        else:
            seen[raw] = path
            code = raw
        raw_name = props.get("name")
        if raw_name is not None and (not isinstance(raw_name, str) or not raw_name.strip()):
            problems.append(
                Problem(
                    f"{path}.properties.name",
                    f"expected a non-empty string, got {_kind(raw_name)}",
                )
            )
        elif raw_name is not None:
            name = raw_name
    polygons: tuple[Polygon, ...] | None = None
    geometry = value.get("geometry")
    where = f"{path}.geometry"
    if geometry is None:
        problems.append(Problem(where, "is required (a Polygon or MultiPolygon)"))
    elif not isinstance(geometry, Mapping):
        problems.append(Problem(where, f"expected a geometry object, got {_kind(geometry)}"))
    else:
        kind = geometry.get("type")
        if kind not in _GEOMETRIES:
            problems.append(
                Problem(f"{where}.type", f"{kind!r} is not a Polygon or a MultiPolygon")
            )
        elif "coordinates" not in geometry:
            problems.append(Problem(f"{where}.coordinates", "is required"))
        elif kind == "Polygon":
            polygon = _polygon(geometry["coordinates"], f"{where}.coordinates", problems)
            polygons = None if polygon is None else (polygon,)
        else:
            polygons = _polygons(geometry["coordinates"], f"{where}.coordinates", problems)
    if len(problems) > found or code is None or polygons is None:
        return None
    return District(code, name or code, polygons=polygons)


def parse_districts(data: object, *, source: str | None = None) -> DistrictMap:
    """
    Build a :class:`DistrictMap` from a GeoJSON ``FeatureCollection``.

    Each feature is a district: ``properties.code`` (required, a code such as
    ``"ward-3"``, unique), ``properties.name`` (optional; defaults to the code; other
    properties are ignored) and a ``Polygon`` or ``MultiPolygon`` geometry. Positions
    are ``[longitude, latitude]``, an optional third number (altitude) is allowed and
    ignored; rings have at least 4 positions and end where they start.

    Every problem is collected before anything is raised, each by its path, such as
    ``features[3].geometry.coordinates[0][2]: latitude 95 is outside [-90, 90]``.

    Args:
        data: the parsed GeoJSON (what ``json.load`` gives), or its JSON text.
        source: where it came from (a file name), for error messages.

    Raises:
        PolicyError: listing every problem.

    .. versionadded:: 0.1.0
    """
    if isinstance(data, str | bytes | bytearray):
        try:
            data = json.loads(data, parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise PolicyError("GeoJSON is not UTF-8 text", source=source) from None
        except RecursionError:
            raise PolicyError("not usable JSON: nested too deeply", source=source) from None
        except ValueError as exc:  # JSONDecodeError, NaN, an integer too long to convert
            raise PolicyError(f"not valid JSON: {exc}", source=source) from None
    if not isinstance(data, Mapping):
        raise PolicyError(
            f"expected a GeoJSON FeatureCollection object, got {_kind(data)}", source=source
        )
    kind = data.get("type")
    if kind != "FeatureCollection":
        raise PolicyError(
            (Problem("type", f"expected 'FeatureCollection', got {kind!r}"),), source=source
        )
    features = data.get("features")
    if features is None:
        raise PolicyError((Problem("features", "is required"),), source=source)
    if not _is_list(features):
        raise PolicyError(
            (Problem("features", f"expected a list of features, got {_kind(features)}"),),
            source=source,
        )
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    districts = [_feature(f, f"features[{i}]", seen, problems) for i, f in enumerate(features)]
    if problems:
        raise PolicyError(problems, source=source)
    return DistrictMap(tuple(d for d in districts if d is not None))


def load_districts(path: str | Path) -> DistrictMap:
    """
    Load districts from a GeoJSON file (see :func:`parse_districts`).

    >>> wards = load_districts(springfield_districts_path())
    >>> sorted(wards.locate(39.80, -89.65))
    ['downtown', 'ward-2']

    Raises:
        PolicyError: the file cannot be read, is not JSON, or is not usable GeoJSON;
            every problem is listed by its path.

    .. versionadded:: 0.1.0
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror or exc}", source=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PolicyError(f"{path} is not UTF-8 text", source=str(path)) from None
    return parse_districts(text, source=str(path))


def springfield_districts_path() -> Path:
    """
    The path of the example districts shipped with civiccrm: the six wards of the
    City of Springfield (the example profile's city) and its downtown district.

    .. versionadded:: 0.1.0
    """
    return Path(str(resources.files("civiccrm.profile").joinpath("springfield-districts.geojson")))


# --------------------------------------------------------------------------------------
# Distances and the grid.


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """
    The great-circle distance in metres between two points (degrees), by the haversine
    formula on a sphere of radius :data:`EARTH_RADIUS_M` (within about 0.5% of the
    distance on the ellipsoid). The coordinates are not checked.

    >>> round(distance_m(39.80, -89.65, 39.81, -89.65), 1)
    1112.0

    .. versionadded:: 0.1.0
    """
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    a = math.sin((phi2 - phi1) / 2.0)
    b = math.sin(math.radians(lon2 - lon1) / 2.0)
    h = a * a + math.cos(phi1) * math.cos(phi2) * b * b
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


_NCOLS: dict[int, int] = {}


def _ncols(row: int) -> int:
    """How many columns row ``row`` has (see :func:`cell_of`)."""
    n = _NCOLS.get(row)
    if n is None:
        centre = min(90.0, max(-90.0, (row + 0.5) * _ROW_DEG))
        n = _NCOLS[row] = max(1, math.floor(360.0 * math.cos(math.radians(centre)) / _ROW_DEG))
    return n


def _check_point(lat: float, lon: float) -> None:
    if not -90.0 <= lat <= 90.0:
        raise ValidationError.at("lat", f"latitude {lat} is not between -90 and 90")
    if not -180.0 <= lon <= 180.0:
        raise ValidationError.at("lon", f"longitude {lon} is not between -180 and 180")


def cell_of(lat: float, lon: float) -> tuple[int, int]:
    """
    The grid cell ``(row, col)`` of a point (degrees).

    Rows are bands of latitude :data:`GRID_CELL_M` metres high; each row is cut into
    ``n`` columns of equal width in longitude, ``n`` being the most columns that are
    each at least :data:`GRID_CELL_M` metres wide at the row's centre latitude. So every
    point of a row is in a column of the same width, cells are 200 m to a little over
    200 m wide at their centre, and the columns of a row go exactly once round the
    globe (longitude 180 is longitude -180, column 0). Exactly, in Python::

        D = GRID_CELL_M / (EARTH_RADIUS_M * math.pi / 180.0)    # row height, degrees
        row = math.floor(lat / D)
        centre = min(90.0, max(-90.0, (row + 0.5) * D))
        n = max(1, math.floor(360.0 * math.cos(math.radians(centre)) / D))
        col = math.floor((lon + 180.0) * n / 360.0) % n

    with ``GRID_CELL_M = 200.0`` and ``EARTH_RADIUS_M = 6_371_008.8``. Apart from the
    cosine, that is IEEE-754 arithmetic, the same everywhere; and no row's
    ``360 * cos(centre) / D`` is within a relative 3e-11 of a whole number, so a cosine
    off by even thousands of units in the last place gives the same column counts. Cell
    numbers may be stored: they never change. The rows at the poles have one column.

    >>> cell_of(39.80, -89.65)
    (22127, 38593)

    Raises:
        ValidationError: the latitude is not in [-90, 90] or the longitude not in
            [-180, 180] (NaN included).

    .. versionadded:: 0.1.0
    """
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        _check_point(lat, lon)
    row = math.floor(lat / _ROW_DEG)
    n = _NCOLS.get(row) or _ncols(row)
    return row, math.floor((lon + 180.0) * n / 360.0) % n


def _check_radius(radius_m: float) -> None:
    if not 0.0 <= radius_m < math.inf:
        raise ValidationError.at(
            "radius_m", f"must be a finite number of metres, 0 or more, got {radius_m}"
        )


def _spans(lat: float, lon: float, radius_m: float) -> list[tuple[int, int, int, int]]:
    """
    The cells that may hold a point within ``radius_m`` of ``(lat, lon)``, as
    ``(row, n, first, last)``: columns ``first .. last`` (modulo ``n``) of each row.

    A point ``q`` at angular distance ``t`` from ``p`` is at least as far from the
    meridian circle through ``p``, so ``sin(dlon) <= sin(t) / cos(lat_q)``; in a row,
    ``cos(lat_q)`` is smallest at the row's edge nearest the pole. When the circle
    around ``p`` holds a pole, every column may hold a point.
    """
    _check_point(lat, lon)
    _check_radius(radius_m)
    radius = radius_m + _PAD_M + radius_m * _PAD_REL
    reach = radius / _M_PER_DEG  # degrees of latitude
    first_row = math.floor(max(-90.0, lat - reach) / _ROW_DEG)
    last_row = math.floor(min(90.0, lat + reach) / _ROW_DEG)
    polar = abs(lat) + reach >= 90.0
    sin_t = 0.0 if polar else math.sin(radius / EARTH_RADIUS_M)
    out = []
    for row in range(first_row, last_row + 1):
        n = _NCOLS.get(row) or _ncols(row)
        edge = min(90.0, max(abs(row * _ROW_DEG), abs((row + 1) * _ROW_DEG)))
        cos_edge = math.cos(math.radians(edge))
        if polar or sin_t >= cos_edge:
            out.append((row, n, 0, n - 1))
            continue
        dlon = math.degrees(math.asin(sin_t / cos_edge))
        first = math.floor((lon - dlon + 180.0) * n / 360.0)
        last = math.floor((lon + dlon + 180.0) * n / 360.0)
        if last - first + 1 >= n:
            out.append((row, n, 0, n - 1))
        else:
            out.append((row, n, first, last))
    return out


def cells_near(lat: float, lon: float, radius_m: float) -> list[tuple[int, int]]:
    """
    Every grid cell (see :func:`cell_of`) that may hold a point within ``radius_m``
    metres (by :func:`distance_m`) of ``(lat, lon)``, sorted by row then column.

    The rows are those covering ``lat`` plus or minus the radius; in each row, the
    columns covering ``lon`` plus or minus the radius converted to degrees of longitude
    at the row's latitude nearest the pole (exactly: ``asin(sin(r / R) / cos(lat))``).
    It never leaves out a cell that holds such a point, and may list a few that do not.
    Near the antimeridian the columns wrap round; when the circle holds a pole, its rows
    list every column.

    >>> cells_near(39.80, -89.65, 50.0)
    [(22127, 38592), (22127, 38593), (22128, 38591), (22128, 38592)]

    Raises:
        ValidationError: a coordinate is out of range, the radius is negative or not
            finite, or the radius is so large that there would be more than a million
            cells (about 100 km).

    .. versionadded:: 0.1.0
    """
    spans = _spans(lat, lon, radius_m)
    count = sum(last - first + 1 for _, _, first, last in spans)
    if count > _MAX_CELLS:
        raise ValidationError.at(
            "radius_m", f"{radius_m} m covers {count} cells, more than {_MAX_CELLS}"
        )
    out: list[tuple[int, int]] = []
    for row, n, first, last in spans:
        cols = sorted({c % n for c in range(first, last + 1)})
        out.extend((row, c) for c in cols)
    return out


# --------------------------------------------------------------------------------------
# Duplicate detection.


def _micros(at: datetime, path: str) -> int:
    """An aware datetime as microseconds since the epoch."""
    if not isinstance(at, datetime):
        raise ValidationError.at(path, f"expected an aware datetime, got {_kind(at)}")
    try:
        return (at - _EPOCH) // _ONE_US
    except TypeError:
        raise ValidationError.at(
            path, f"naive datetime {at.isoformat()} has no time zone; give it one"
        ) from None


def _window(hours: float) -> float:
    if not hours >= 0.0:
        raise ValidationError.at("hours", f"must be a number of hours, 0 or more, got {hours}")
    return hours * _US_PER_H


@attrs.frozen
class Nearby:
    """
    A case found near a place and time by :meth:`DuplicateIndex.near` or :func:`scan_near`.

    .. versionadded:: 0.1.0
    """

    case_id: str
    #: Metres from the place asked about (:func:`distance_m`).
    distance_m: float
    #: Hours between the two cases' times, 0 or more.
    hours_apart: float


def _nearby_key(n: Nearby) -> tuple[float, float, str]:
    return (n.distance_m, n.hours_apart, n.case_id)


class _Bucket:
    """The entries of one case type in one cell: ids, and ``lat, lon, µs`` per entry."""

    __slots__ = ("cells", "data", "ids", "key")

    def __init__(self, cells: dict[int, _Bucket], key: int) -> None:
        self.cells = cells
        self.key = key
        self.ids: list[str] = []
        self.data: array[float] = array("d")


class DuplicateIndex:
    """
    In-memory spatial grid index of open place-based cases, by case type.

    Each entry is a case id, its case type, where it is and when it was reported.
    :meth:`near` finds the entries of a case type within some metres and hours of a new
    report (the candidates for "this is a duplicate"). Entries are kept per case type
    and grid cell (:func:`cell_of`) in compact arrays, so a lookup reads only the few
    cells around the place; it gives exactly what :func:`scan_near` gives over the same
    entries.

    Times are kept to the microsecond (exactly, for years 1685 to 2254). The index is
    not thread-safe: guard it with a lock if several threads write to it.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_types", "_where")

    def __init__(self) -> None:
        self._types: dict[str, dict[int, _Bucket]] = {}
        self._where: dict[str, _Bucket] = {}

    def add(self, case_id: str, case_type: str, lat: float, lon: float, at: datetime) -> None:
        """
        Add a case, or move it if its id is in the index already.

        Raises:
            ValidationError: a coordinate is out of range or ``at`` is not an aware
                datetime (the index is then unchanged).
        """
        # cell_of and _micros, inlined: this is the bulk-load path.
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            _check_point(lat, lon)
        if type(at) is datetime:
            try:
                us = (at - _EPOCH) // _ONE_US
            except TypeError:
                us = _micros(at, "at")  # raises: a naive datetime
        else:
            us = _micros(at, "at")
        row = math.floor(lat / _ROW_DEG)
        n = _NCOLS.get(row) or _ncols(row)
        key = row * _KEY + math.floor((lon + 180.0) * n / 360.0) % n
        where = self._where
        if case_id in where:
            self.remove(case_id)
        cells = self._types.get(case_type)
        if cells is None:
            cells = self._types[case_type] = {}
        bucket = cells.get(key)
        if bucket is None:
            bucket = cells[key] = _Bucket(cells, key)
        bucket.ids.append(case_id)
        data = bucket.data
        data.append(lat)
        data.append(lon)
        data.append(us)
        where[case_id] = bucket

    def remove(self, case_id: str) -> None:
        """Remove a case (closed, merged, moved out of scope); nothing happens if it is absent."""
        bucket = self._where.pop(case_id, None)
        if bucket is None:
            return
        ids, data = bucket.ids, bucket.data
        i = ids.index(case_id)
        last = len(ids) - 1
        if i != last:
            ids[i] = ids[last]
            data[3 * i : 3 * i + 3] = data[3 * last :]
        ids.pop()
        del data[3 * last :]
        if not ids:
            del bucket.cells[bucket.key]

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._where

    def near(
        self,
        case_type: str,
        lat: float,
        lon: float,
        at: datetime,
        *,
        radius_m: float,
        hours: float,
        exclude: str | None = None,
    ) -> list[Nearby]:
        """
        The cases of ``case_type`` within ``radius_m`` metres of the place and ``hours``
        hours of ``at`` (both bounds included), other than ``exclude``: nearest first,
        then closest in time, then by case id.

        Raises:
            ValidationError: a coordinate is out of range, ``at`` is not aware, or the
                radius or the hours are negative or NaN (the hours may be infinite).
        """
        t0 = float(_micros(at, "at"))
        limit = _window(hours)
        spans = _spans(lat, lon, radius_m)
        cells = self._types.get(case_type)
        if not cells:
            return []
        buckets: Iterable[_Bucket | None]
        if sum(last - first + 1 for _, _, first, last in spans) > _PROBES_PER_BUCKET * len(cells):
            # A huge radius: reading every bucket of the type is cheaper than probing.
            buckets = cells.values()
        else:
            buckets = [
                cells.get(row * _KEY + c % n)
                for row, n, first, last in spans
                for c in range(first, last + 1)
            ]
        found = []
        for bucket in buckets:
            if bucket is None:
                continue
            data = bucket.data
            hits = [i for i, t in enumerate(data[2::3]) if abs(t - t0) <= limit]
            if not hits:
                continue
            ids = bucket.ids
            for i in hits:
                case_id = ids[i]
                if case_id == exclude:
                    continue
                d = distance_m(lat, lon, data[3 * i], data[3 * i + 1])
                if d <= radius_m:
                    found.append(Nearby(case_id, d, abs(data[3 * i + 2] - t0) / _US_PER_H))
        found.sort(key=_nearby_key)
        return found

    def __iter__(self) -> Iterator[str]:
        """The case ids in the index, in no particular order."""
        return iter(self._where)


def scan_near(
    entries: Iterable[tuple[str, str, float, float, datetime]],
    case_type: str,
    lat: float,
    lon: float,
    at: datetime,
    *,
    radius_m: float,
    hours: float,
    exclude: str | None = None,
) -> list[Nearby]:
    """
    What :meth:`DuplicateIndex.near` answers, by checking every entry
    ``(case_id, case_type, lat, lon, at)``: the reference for tests and benchmarks.

    .. versionadded:: 0.1.0
    """
    t0 = float(_micros(at, "at"))
    limit = _window(hours)
    _check_point(lat, lon)
    _check_radius(radius_m)
    found = []
    for i, (case_id, kind, other_lat, other_lon, other_at) in enumerate(entries):
        if kind != case_type or case_id == exclude:
            continue
        apart = abs(float(_micros(other_at, f"entries[{i}][4]")) - t0)
        if apart > limit:
            continue
        d = distance_m(lat, lon, float(other_lat), float(other_lon))
        if d <= radius_m:
            found.append(Nearby(case_id, d, apart / _US_PER_H))
    found.sort(key=_nearby_key)
    return found

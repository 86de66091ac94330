"""
Geography: districts from GeoJSON (every problem of a bad file at once), distances,
the grid's cells, and the duplicate index against a full scan.
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from civiccrm.errors import NotFoundError, PolicyError, Problem, ValidationError
from civiccrm.routing.geo import (
    EARTH_RADIUS_M,
    GRID_CELL_M,
    District,
    DistrictMap,
    DuplicateIndex,
    Nearby,
    cell_of,
    cells_near,
    distance_m,
    load_districts,
    parse_districts,
    scan_near,
    springfield_districts_path,
)

T0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
WARDS = tuple(f"ward-{i}" for i in range(1, 7))
# The Springfield box the wards tile.
SOUTH, NORTH, WEST, EAST = 39.70, 39.85, -89.75, -89.55
# The height of a grid row in degrees.
ROW_DEG = GRID_CELL_M / (EARTH_RADIUS_M * math.pi / 180)


def square(west: float, south: float, east: float, north: float) -> list[list[float]]:
    """A closed counter-clockwise ring (lon, lat)."""
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def feature(code: object = "a", geometry: object = None, **props: object) -> dict[str, Any]:
    if geometry is None:
        geometry = {"type": "Polygon", "coordinates": [square(0, 0, 1, 1)]}
    return {"type": "Feature", "properties": {"code": code, **props}, "geometry": geometry}


def collection(*features: object) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def problems_of(data: object) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as info:
        parse_districts(data)
    return [(p.path, p.message) for p in info.value.problems]


def polygon_problems(coordinates: object, kind: str = "Polygon") -> list[tuple[str, str]]:
    return problems_of(collection(feature(geometry={"type": kind, "coordinates": coordinates})))


@pytest.fixture(scope="module")
def springfield() -> DistrictMap:
    return load_districts(springfield_districts_path())


# --------------------------------------------------------------------------------------
# Districts


def test_square_inside_outside_and_edges() -> None:
    d = District("sq", polygons=[[square(10, 20, 11, 21)]])
    assert d.name == "sq"
    assert d.bbox == (10, 20, 11, 21)
    assert d.contains(20.5, 10.5)
    assert not d.contains(21.5, 10.5)
    assert not d.contains(20.5, 9.5)
    assert not d.contains(19.0, 12.0)
    assert not d.contains(math.nan, 10.5)
    # Edges: the west and south edges and the south-west corner are in; the rest out.
    assert d.contains(20.5, 10.0)  # west edge
    assert d.contains(20.0, 10.5)  # south edge
    assert d.contains(20.0, 10.0)  # south-west corner
    assert not d.contains(20.5, 11.0)  # east edge
    assert not d.contains(21.0, 10.5)  # north edge
    for lat, lon in ((20.0, 11.0), (21.0, 10.0), (21.0, 11.0)):
        assert not d.contains(lat, lon)


def test_winding_order_does_not_matter() -> None:
    ring = square(0, 0, 2, 2)
    ccw = District("ccw", polygons=[[ring]])
    cw = District("cw", polygons=[[ring[::-1]]])
    for lat, lon in ((1, 1), (0, 1), (1, 0), (2, 1), (1, 2), (3, 3), (0, 0), (2, 2)):
        assert ccw.contains(lat, lon) == cw.contains(lat, lon)


def test_concave_polygon() -> None:
    # A "U": the notch between the arms (x 1..2, y 1..3) is outside.
    u = [[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3], [0, 0]]
    d = District("u", polygons=[[u]])
    assert d.contains(0.5, 1.5)  # the base
    assert d.contains(2.0, 0.5)  # left arm
    assert d.contains(2.0, 2.5)  # right arm
    assert not d.contains(2.0, 1.5)  # the notch
    assert not d.contains(1.0, 1.5)  # the notch's floor is the base's edge: north of it is out


def test_holes() -> None:
    outer = square(0, 0, 10, 10)
    hole = square(4, 4, 6, 6)[::-1]
    d = District("donut", polygons=[[outer, hole]])
    assert d.contains(2, 2)
    assert not d.contains(5, 5)
    assert d.contains(5, 7)
    # The hole's edges follow the same rule: its west and south edges are in the hole.
    assert not d.contains(5, 4)  # hole's west edge: in the hole, so out
    assert not d.contains(4, 5)  # hole's south edge
    assert d.contains(5, 6)  # hole's east edge: outside the hole, so in
    assert d.contains(6, 5)  # hole's north edge
    # Two holes.
    d2 = District("two", polygons=[[outer, square(1, 1, 2, 2), square(7, 7, 8, 8)]])
    assert not d2.contains(1.5, 1.5)
    assert not d2.contains(7.5, 7.5)
    assert d2.contains(5, 5)
    # The bbox is the outer ring's.
    assert d.bbox == (0, 0, 10, 10)


def test_multipolygon_and_bbox() -> None:
    data = collection(
        feature(
            "islands",
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [square(0, 0, 1, 1)],
                    [square(5, 5, 7, 6), square(5.5, 5.2, 6, 5.8)],
                ],
            },
            name="The Islands",
        )
    )
    m = parse_districts(data)
    d = m.get("islands")
    assert d.name == "The Islands"
    assert d.bbox == (0, 0, 7, 6)
    assert len(d.polygons) == 2
    assert d.polygons[1][1][0] == (5.5, 5.2)
    assert d.contains(0.5, 0.5)
    assert d.contains(5.5, 6.5)
    assert not d.contains(5.5, 5.7)  # the hole in the second island
    assert not d.contains(3, 3)  # between the islands, inside the bbox
    assert m.locate(3, 3) == frozenset()
    assert m.locate(0.5, 0.5) == {"islands"}


def test_overlapping_districts() -> None:
    m = DistrictMap(
        (
            District("west", polygons=[[square(0, 0, 2, 2)]]),
            District("east", polygons=[[square(1, 0, 3, 2)]]),
            District("far", polygons=[[square(50, 50, 51, 51)]]),
        )
    )
    assert m.locate(1, 1.5) == {"west", "east"}
    assert m.locate(1, 0.5) == {"west"}
    assert m.locate(1, 2.5) == {"east"}
    assert m.locate(1, 10) == frozenset()
    assert m.codes() == ("west", "east", "far")
    assert "east" in m
    assert "nope" not in m
    assert len(m) == 3
    with pytest.raises(NotFoundError, match="district 'nope'"):
        m.get("nope")


def test_district_and_map_are_checked() -> None:
    d = District("x", "X", polygons=[[[(0, 0), (1, 0), (1, 1), (0, 0)]]])
    assert d.polygons == (((((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0))),),)
    assert hash(d) == hash(District("x", "X", polygons=d.polygons))
    with pytest.raises(ValidationError) as info:
        District("Bad Code", polygons=d.polygons)
    assert info.value.problems[0].path == "code"
    with pytest.raises(ValidationError) as info:
        District("x", " ", polygons=d.polygons)
    assert info.value.problems[0].path == "name"
    with pytest.raises(ValidationError) as info:
        District("x", polygons=[[[(0, 0), (1, 0), (0, 0)], [(0, 0), (200, 0), (1, 1), (0, 1)]]])
    assert [str(p) for p in info.value.problems] == [
        "polygons[0][0]: a ring needs at least 4 positions (the last repeating the first), got 3",
        "polygons[0][1][1]: longitude 200 is outside [-180, 180]",
        "polygons[0][1]: the ring is not closed: its first position [0.0, 0.0] differs from "
        "its last [0.0, 1.0]",
    ]
    with pytest.raises(ValidationError) as info:
        DistrictMap((d, District("y", polygons=d.polygons), d))
    assert [str(p) for p in info.value.problems] == ["districts[2].code: duplicate 'x'"]
    with pytest.raises(ValidationError):
        DistrictMap(("x",))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# The Springfield districts


def test_springfield_file(springfield: DistrictMap) -> None:
    assert springfield.codes() == (*WARDS, "downtown")
    assert [springfield.get(c).name for c in WARDS] == [f"Ward {i}" for i in range(1, 7)]
    assert springfield.get("downtown").name == "Downtown"
    # The wards' bboxes together are exactly the box.
    boxes = [springfield.get(c).bbox for c in WARDS]
    assert min(b[0] for b in boxes) == WEST
    assert min(b[1] for b in boxes) == SOUTH
    assert max(b[2] for b in boxes) == EAST
    assert max(b[3] for b in boxes) == NORTH
    # None of the wards is a plain rectangle.
    assert all(len(springfield.get(c).polygons[0][0]) > 5 for c in WARDS)
    downtown = springfield.get("downtown")
    assert len(downtown.polygons[0]) == 2  # outer ring and the capitol grounds
    assert springfield.locate(39.80, -89.65) == {"ward-2", "downtown"}
    assert springfield.locate(39.795, -89.645) == {"ward-2"}  # the capitol grounds
    assert springfield.locate(39.771, -89.65) == {"ward-5", "downtown"}
    assert springfield.locate(39.84, -89.74) == {"ward-1"}
    assert springfield.locate(39.84, -89.56) == {"ward-3"}
    assert springfield.locate(39.71, -89.74) == {"ward-4"}
    assert springfield.locate(39.71, -89.65) == {"ward-5"}
    assert springfield.locate(39.71, -89.56) == {"ward-6"}
    assert springfield.locate(39.90, -89.65) == frozenset()
    assert springfield.locate(39.75, -89.50) == frozenset()
    # A wiggle: (39.785, -89.71) is the top of a bump of ward 4 into ward 1.
    assert springfield.locate(39.783, -89.71) == {"ward-4"}


def wards_at(m: DistrictMap, lat: float, lon: float) -> set[str]:
    return set(m.locate(lat, lon)) - {"downtown"}


@settings(max_examples=300)
@given(
    st.floats(SOUTH, NORTH, exclude_min=True, exclude_max=True),
    st.floats(WEST, EAST, exclude_min=True, exclude_max=True),
)
def test_springfield_wards_tile_the_box(springfield: DistrictMap, lat: float, lon: float) -> None:
    assert len(wards_at(springfield, lat, lon)) == 1


def test_springfield_ward_boundaries_belong_to_one_ward(springfield: DistrictMap) -> None:
    # Every vertex and edge midpoint strictly inside the box, and points just beside them.
    points = set()
    for code in WARDS:
        ring = springfield.get(code).polygons[0][0]
        for (x1, y1), (x2, y2) in itertools.pairwise(ring):
            points.add((y1, x1))
            points.add(((y1 + y2) / 2, (x1 + x2) / 2))
    checked = 0
    for lat, lon in points:
        for dlat in (-1e-9, 0.0, 1e-9):
            for dlon in (-1e-9, 0.0, 1e-9):
                y, x = lat + dlat, lon + dlon
                if SOUTH < y < NORTH and WEST < x < EAST:
                    assert len(wards_at(springfield, y, x)) == 1, (y, x)
                    checked += 1
    assert checked > 100


def test_shared_edges_are_decided_the_same_way_by_both_wards(springfield: DistrictMap) -> None:
    # Points on (and one float step either side of) every sloping edge, with the edge's
    # crossing computed from either end: the two wards beside it never both claim a
    # point, nor both drop it.
    checked = 0
    for code in WARDS:
        ring = springfield.get(code).polygons[0][0]
        for (ax, ay), (bx, by) in itertools.pairwise(ring):
            if ay == by:
                continue
            for k in range(1, 200):
                y = ay + (by - ay) * k / 200
                xs = {ax + (y - ay) * (bx - ax) / (by - ay), bx + (y - by) * (ax - bx) / (ay - by)}
                for x in list(xs):
                    xs |= {math.nextafter(x, -math.inf), math.nextafter(x, math.inf)}
                for x in xs:
                    if SOUTH < y < NORTH and WEST < x < EAST:
                        assert len(wards_at(springfield, y, x)) == 1, (y, x)
                        checked += 1
    assert checked > 5000


# --------------------------------------------------------------------------------------
# Every problem of a bad GeoJSON


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], [("", "expected a GeoJSON FeatureCollection object, got a list")]),
        ({"type": "Feature"}, [("type", "expected 'FeatureCollection', got 'Feature'")]),
        ({"features": []}, [("type", "expected 'FeatureCollection', got None")]),
        ({"type": "FeatureCollection"}, [("features", "is required")]),
        (
            {"type": "FeatureCollection", "features": {}},
            [("features", "expected a list of features, got an object")],
        ),
        (collection(3), [("features[0]", "expected a Feature object, got an integer")]),
        (
            collection({**feature(), "type": "Polygon"}),
            [("features[0].type", "expected 'Feature', got 'Polygon'")],
        ),
        (
            collection({**feature(), "properties": None}),
            [("features[0].properties", "expected an object with a code, got null")],
        ),
        (
            collection({"type": "Feature", "properties": {}, "geometry": feature()["geometry"]}),
            [("features[0].properties.code", "is required")],
        ),
        (
            collection(feature(7)),
            [("features[0].properties.code", "expected a string, got an integer")],
        ),
        (
            collection(feature("Ward 1")),
            [
                (
                    "features[0].properties.code",
                    "'Ward 1' is not a code: use lowercase letters and digits joined by - or _",
                )
            ],
        ),
        (
            collection(feature("a"), feature("b"), feature("a")),
            [("features[2].properties.code", "duplicate code 'a' (also features[0])")],
        ),
        (
            collection(feature("a", name="")),
            [("features[0].properties.name", "expected a non-empty string, got a string")],
        ),
        (
            collection(feature("a", name=3)),
            [("features[0].properties.name", "expected a non-empty string, got an integer")],
        ),
        (
            collection({"type": "Feature", "properties": {"code": "a"}}),
            [("features[0].geometry", "is required (a Polygon or MultiPolygon)")],
        ),
        (
            collection(feature("a", [1, 2])),
            [("features[0].geometry", "expected a geometry object, got a list")],
        ),
        (
            collection(feature("a", {"type": "Point", "coordinates": [1, 2]})),
            [("features[0].geometry.type", "'Point' is not a Polygon or a MultiPolygon")],
        ),
        (
            collection(feature("a", {"type": "Polygon"})),
            [("features[0].geometry.coordinates", "is required")],
        ),
    ],
)
def test_structure_problems(data: object, expected: list[tuple[str, str]]) -> None:
    assert problems_of(data) == expected


G = "features[0].geometry.coordinates"


@pytest.mark.parametrize(
    ("coordinates", "expected"),
    [
        ("abc", [(G, "expected a polygon (a list of rings), got a string")]),
        ([], [(G, "a polygon needs at least one ring (its outer boundary)")]),
        ([3], [(f"{G}[0]", "expected a ring (a list of positions), got an integer")]),
        (
            [[[0, 0], [1, 0], [0, 0]]],
            [
                (
                    f"{G}[0]",
                    "a ring needs at least 4 positions (the last repeating the first), got 3",
                )
            ],
        ),
        (
            [[[0, 0], [1, 0], [1, 1], [0, 1]]],
            [
                (
                    f"{G}[0]",
                    "the ring is not closed: its first position [0.0, 0.0] differs from "
                    "its last [0.0, 1.0]",
                )
            ],
        ),
        (
            [square(0, 0, 1, 1), [[0, 0], [1, 1]]],
            [
                (
                    f"{G}[1]",
                    "a ring needs at least 4 positions (the last repeating the first), got 2",
                ),
                (
                    f"{G}[1]",
                    "the ring is not closed: its first position [0.0, 0.0] differs from "
                    "its last [1.0, 1.0]",
                ),
            ],
        ),
        (
            [[[0, 0], "x", [1, 1], [0, 0]]],
            [(f"{G}[0][1]", "expected a position [longitude, latitude], got a string")],
        ),
        (
            [[[0, 0], [1], [1, 1], [0, 0]]],
            [
                (
                    f"{G}[0][1]",
                    "expected a position [longitude, latitude] (and an optional altitude), "
                    "got 1 numbers",
                )
            ],
        ),
        (
            [[[0, 0], [1, 0, 0, 0], [1, 1], [0, 0]]],
            [
                (
                    f"{G}[0][1]",
                    "expected a position [longitude, latitude] (and an optional altitude), "
                    "got 4 numbers",
                )
            ],
        ),
        (
            [[[0, 0], ["1", True], [1, 1], [0, 0]]],
            [
                (f"{G}[0][1]", "longitude must be a number, got a string"),
                (f"{G}[0][1]", "latitude must be a number, got a boolean"),
            ],
        ),
        (
            [[[0, 0], [math.nan, math.inf], [1, 1], [0, 0]]],
            [
                (f"{G}[0][1]", "longitude must be a finite number, got nan"),
                (f"{G}[0][1]", "latitude must be a finite number, got inf"),
            ],
        ),
        (
            [[[0, 0], [-180.5, 90.5], [1, 1], [0, 0]]],
            [
                (f"{G}[0][1]", "longitude -180.5 is outside [-180, 180]"),
                (f"{G}[0][1]", "latitude 90.5 is outside [-90, 90]"),
            ],
        ),
        (
            [[[0, 0], [1, 0, "high"], [1, 1], [0, 0]]],
            [(f"{G}[0][1]", "altitude must be a number, got a string")],
        ),
        (
            [[[0, 0], [10**400, 0], [1, 1], [0, 0]]],
            [(f"{G}[0][1]", f"longitude {10**400} is outside [-180, 180]")],
        ),
    ],
)
def test_polygon_problems(coordinates: object, expected: list[tuple[str, str]]) -> None:
    assert polygon_problems(coordinates) == expected


def test_multipolygon_problems() -> None:
    assert polygon_problems([], "MultiPolygon") == [(G, "needs at least one polygon")]
    assert polygon_problems({}, "MultiPolygon") == [
        (G, "expected a list of polygons, got an object")
    ]
    assert polygon_problems(
        [[square(0, 0, 1, 1)], [[[0, 0], [0, 95], [1, 1], [0, 0]]]], "MultiPolygon"
    ) == [(f"{G}[1][0][1]", "latitude 95 is outside [-90, 90]")]
    assert polygon_problems([[square(0, 0, 1, 1)], []], "MultiPolygon") == [
        (f"{G}[1]", "a polygon needs at least one ring (its outer boundary)")
    ]


def test_positions_with_altitude_are_accepted() -> None:
    ring = [[0, 0, 10], [1, 0, 10.5], [1, 1, 10**400], [0, 0, 10]]
    m = parse_districts(collection(feature("a", {"type": "Polygon", "coordinates": [ring]})))
    assert m.get("a").polygons[0][0][1] == (1.0, 0.0)


def test_every_problem_at_once() -> None:
    data = collection(
        feature("ok"),
        feature("Bad!", {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
        {"type": "Feature", "properties": {"code": "ok"}, "geometry": {"type": "LineString"}},
        feature(
            "b", {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 200], [0, 0]]]]}
        ),
    )
    with pytest.raises(PolicyError) as info:
        parse_districts(data, source="wards.geojson")
    assert info.value.source == "wards.geojson"
    assert [str(p) for p in info.value.problems] == [
        "features[1].properties.code: 'Bad!' is not a code: use lowercase letters and "
        "digits joined by - or _",
        f"{G.replace('[0]', '[1]')}[0]: a ring needs at least 4 positions (the last "
        "repeating the first), got 3",
        "features[2].properties.code: duplicate code 'ok' (also features[0])",
        "features[2].geometry.type: 'LineString' is not a Polygon or a MultiPolygon",
        "features[3].geometry.coordinates[0][0][2]: latitude 200 is outside [-90, 90]",
    ]
    assert str(info.value).startswith("bad profile wards.geojson: 5 problems\n  - features[1]")


def test_json_text_and_bad_json() -> None:
    good = json.dumps(collection(feature("a")))
    assert parse_districts(good).codes() == ("a",)
    assert parse_districts(good.encode()).codes() == ("a",)
    with pytest.raises(PolicyError, match="not valid JSON: Expecting value: line 1 column 1"):
        parse_districts("nope", source="x.geojson")
    with pytest.raises(PolicyError, match="NaN is not a JSON number"):
        parse_districts(good.replace("0", "NaN", 1))
    with pytest.raises(PolicyError, match="not UTF-8"):
        parse_districts(b'{"name": "Caf\xe9"}')
    with pytest.raises(PolicyError, match="nested too deeply"):
        parse_districts("[" * 100_000 + "]" * 100_000)
    # An empty collection is an empty map.
    assert parse_districts(collection()).codes() == ()


def test_load_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nope.geojson"
    with pytest.raises(PolicyError, match=r"cannot read .*nope\.geojson") as info:
        load_districts(missing)
    assert info.value.source == str(missing)
    with pytest.raises(PolicyError, match="cannot read"):
        load_districts(tmp_path)
    latin = tmp_path / "latin.geojson"
    latin.write_bytes(b'{"name": "Caf\xe9"}')
    with pytest.raises(PolicyError, match="is not UTF-8 text"):
        load_districts(latin)
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid JSON") as info:
        load_districts(str(broken))
    assert info.value.source == str(broken)
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(collection(feature("a", {"type": "Point"}))), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_districts(bad)
    assert info.value.problems == (
        Problem("features[0].geometry.type", "'Point' is not a Polygon or a MultiPolygon"),
    )
    bom = tmp_path / "bom.geojson"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(collection(feature("a"))).encode())
    assert load_districts(bom).codes() == ("a",)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=100)
@given(
    st.one_of(
        json_values,
        st.builds(
            lambda fs: {"type": "FeatureCollection", "features": fs},
            st.lists(
                st.fixed_dictionaries(
                    {
                        "type": st.sampled_from(["Feature", "feature"]),
                        "properties": st.fixed_dictionaries(
                            {"code": st.sampled_from(["a", "b", "B", 3])}
                        )
                        | json_values,
                        "geometry": st.fixed_dictionaries(
                            {
                                "type": st.sampled_from(["Polygon", "MultiPolygon"]),
                                "coordinates": json_values,
                            }
                        )
                        | json_values,
                    }
                ),
                max_size=3,
            ),
        ),
    )
)
def test_garbage_is_a_policy_error(data: object) -> None:
    try:
        parse_districts(data)
    except PolicyError as exc:
        assert exc.problems


# --------------------------------------------------------------------------------------
# Distances


def test_distance_known_values() -> None:
    one_degree = math.pi * EARTH_RADIUS_M / 180
    assert distance_m(0, 0, 0, 0) == 0
    assert distance_m(39.0, -89.0, 40.0, -89.0) == pytest.approx(111_200, rel=0.005)
    assert distance_m(39.0, -89.0, 40.0, -89.0) == pytest.approx(one_degree, rel=1e-12)
    assert distance_m(0, 10, 0, 11) == pytest.approx(one_degree, rel=1e-12)
    assert distance_m(60, 10, 60, 11) == pytest.approx(one_degree / 2, rel=1e-3)
    # London to Paris, about 343.5 km.
    assert distance_m(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(343_500, rel=0.005)
    # Antipodes, and across the antimeridian.
    assert distance_m(10, 20, -10, -160) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert distance_m(0, 179.9995, 0, -179.9995) == pytest.approx(111.195, rel=1e-4)
    assert distance_m(90, 0, 90, 123) == pytest.approx(0, abs=1e-6)
    assert distance_m(39.8, -89.65, 39.81, -89.64) == distance_m(39.81, -89.64, 39.8, -89.65)


# --------------------------------------------------------------------------------------
# Grid cells


def documented_cell(lat: float, lon: float) -> tuple[int, int]:
    """The formula in cell_of's docstring, word for word."""
    D = GRID_CELL_M / (EARTH_RADIUS_M * math.pi / 180.0)
    row = math.floor(lat / D)
    centre = min(90.0, max(-90.0, (row + 0.5) * D))
    n = max(1, math.floor(360.0 * math.cos(math.radians(centre)) / D))
    col = math.floor((lon + 180.0) * n / 360.0) % n
    return row, col


def test_cells_are_stable() -> None:
    # Stored in databases: these numbers must never change.
    assert cell_of(39.80, -89.65) == (22127, 38593)
    assert cell_of(0.0, 0.0) == (0, 100075)
    assert cell_of(-0.0001, -0.0001) == (-1, 100075)
    assert cell_of(-33.8688, 151.2093) == (-18831, 152896)
    assert cell_of(51.5074, -0.1278) == (28636, 62244)
    assert cell_of(64.1466, -21.9426) == (35663, 38321)
    # The antimeridian is one line; the rows at the poles have one column.
    assert cell_of(0, 180) == cell_of(0, -180) == (0, 0)
    assert cell_of(89.999, 45.0) == cell_of(90, -180) == (50037, 0)
    assert cell_of(-90, 180) == (-50038, 0)


def test_column_counts_do_not_hang_on_the_last_bits_of_the_cosine() -> None:
    # As cell_of's docstring says: every row's 360 * cos(centre) / D is far (relative
    # 3e-11, hundreds of thousands of ulps) from a whole number.
    closest = 1.0
    for row in range(-50_038, 50_038):
        centre = min(90.0, max(-90.0, (row + 0.5) * ROW_DEG))
        v = 360.0 * math.cos(math.radians(centre)) / ROW_DEG
        if v >= 1:
            closest = min(closest, abs(v - round(v)) / v)
    assert closest > 3e-11


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_cell_of_is_the_documented_formula(lat: float, lon: float) -> None:
    assert cell_of(lat, lon) == documented_cell(lat, lon)


def test_cells_are_about_200_m() -> None:
    for lat in (0.0, 39.8, 60.0, -70.0):
        row, col = cell_of(lat, 10.0)
        # Walk east until the column changes: the width is 200 m or a little more.
        south = row * GRID_CELL_M / (EARTH_RADIUS_M * math.pi / 180)
        height = distance_m(
            south, 10.0, south + GRID_CELL_M / (EARTH_RADIUS_M * math.pi / 180), 10.0
        )
        assert height == pytest.approx(GRID_CELL_M)
        n = 0
        lon = 10.0
        while cell_of(lat, lon)[1] == col:
            lon += 1e-5
            n += 1
        assert cell_of(lat, lon)[1] == col + 1


@pytest.mark.parametrize(
    ("lat", "lon"), [(90.5, 0), (-91, 0), (0, 180.5), (0, -181), (math.nan, 0), (0, math.inf)]
)
def test_bad_points(lat: float, lon: float) -> None:
    with pytest.raises(ValidationError):
        cell_of(lat, lon)
    with pytest.raises(ValidationError):
        cells_near(lat, lon, 10)


def destination(lat: float, lon: float, bearing: float, metres: float) -> tuple[float, float]:
    """Where a great circle from (lat, lon) at ``bearing`` degrees goes in ``metres``."""
    phi, lam, theta = math.radians(lat), math.radians(lon), math.radians(bearing)
    delta = metres / EARTH_RADIUS_M
    phi2 = math.asin(
        math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(theta)
    )
    lam2 = lam + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi),
        math.cos(delta) - math.sin(phi) * math.sin(phi2),
    )
    lon2 = (math.degrees(lam2) + 180.0) % 360.0 - 180.0
    return max(-90.0, min(90.0, math.degrees(phi2))), lon2


@settings(max_examples=400)
@given(
    lat=st.floats(-70, 70),
    lon=st.floats(-180, 180),
    radius=st.floats(1, 2000),
    bearing=st.floats(0, 360),
    fraction=st.floats(0, 1),
)
def test_cells_near_never_misses(
    lat: float, lon: float, radius: float, bearing: float, fraction: float
) -> None:
    q = destination(lat, lon, bearing, radius * fraction)
    assume(distance_m(lat, lon, *q) <= radius)
    assert cell_of(*q) in cells_near(lat, lon, radius)


@settings(max_examples=200)
@given(
    lat=st.floats(-89.99, 89.99) | st.sampled_from([-89.99, 0.0, 39.8, 89.99]),
    lon=st.floats(-180, 180) | st.sampled_from([-180.0, -179.9999, 179.9999, 180.0]),
    radius=st.floats(0, 2000),
    dx=st.floats(-1, 1),
    dy=st.floats(-1, 1),
)
def test_cells_near_never_misses_in_a_box(
    lat: float, lon: float, radius: float, dx: float, dy: float
) -> None:
    # q anywhere in a lat/lon box around p (so also on cell edges and across the
    # antimeridian and near the poles), kept when it is within the radius.
    reach = radius / (EARTH_RADIUS_M * math.pi / 180)
    qlat = lat + dy * reach
    qlon = lon + dx * min(
        360.0, reach / max(1e-9, math.cos(math.radians(min(89.999, abs(lat) + reach))))
    )
    qlon = (qlon + 180.0) % 360.0 - 180.0
    assume(-90 <= qlat <= 90)
    assume(distance_m(lat, lon, qlat, qlon) <= radius)
    assert cell_of(qlat, qlon) in cells_near(lat, lon, radius)


@settings(max_examples=200)
@given(
    row=st.integers(-38_000, 38_000),
    below_edge=st.floats(0, 0.5),
    radius=st.floats(1, 2000),
    past_boundary=st.floats(0, 1e-7),
    east=st.booleans(),
    col=st.integers(0, 10**6),
)
def test_cells_near_never_misses_the_widest_point(
    row: int, below_edge: float, radius: float, past_boundary: float, east: bool, col: int
) -> None:
    # The point of p's circle farthest east (or west) is a little poleward of p. Put it
    # just below the poleward edge of its row, and just past a column boundary: the
    # column range of that row must reach it.
    edge = max(abs(row * ROW_DEG), abs((row + 1) * ROW_DEG))
    sign = 1.0 if row >= 0 else -1.0
    phi_t = math.radians(edge - below_edge / (EARTH_RADIUS_M * math.pi / 180))
    theta = radius / EARTH_RADIUS_M
    phi_p = math.asin(math.sin(phi_t) * math.cos(theta))
    dlon = math.degrees(math.asin(math.sin(theta) / math.cos(phi_p)))
    qlat = sign * math.degrees(phi_t)
    n = documented_ncols(qlat)
    boundary = (col % n) * 360.0 / n - 180.0
    qlon = boundary + past_boundary if east else boundary - past_boundary
    plon = qlon - dlon if east else qlon + dlon
    assume(-180 <= plon <= 180 and -180 <= qlon <= 180)
    plat = sign * math.degrees(phi_p)
    assume(distance_m(plat, plon, qlat, qlon) <= radius)
    assert cell_of(qlat, qlon) in cells_near(plat, plon, radius)


def documented_ncols(lat: float) -> int:
    row = math.floor(lat / ROW_DEG)
    centre = min(90.0, max(-90.0, (row + 0.5) * ROW_DEG))
    return max(1, math.floor(360.0 * math.cos(math.radians(centre)) / ROW_DEG))


@settings(max_examples=200)
@given(
    row=st.integers(-38_000, 38_000),
    radius=st.floats(1, 2000),
    past_boundary=st.floats(0, 1e-9),
    north=st.booleans(),
    lon=st.floats(-180, 180),
)
def test_cells_near_never_misses_the_farthest_row(
    row: int, radius: float, past_boundary: float, north: bool, lon: float
) -> None:
    # Due north or south of p by the radius, just past a row boundary.
    qlat = row * ROW_DEG + (past_boundary if north else -past_boundary)
    reach = radius / (EARTH_RADIUS_M * math.pi / 180)
    plat = qlat - reach if north else qlat + reach
    assume(distance_m(plat, lon, qlat, lon) <= radius)
    assert cell_of(qlat, lon) in cells_near(plat, lon, radius)


def test_cells_near_shapes() -> None:
    here = cell_of(39.8, -89.65)
    assert cells_near(39.8, -89.65, 0) == [here]
    cells = cells_near(39.8, -89.65, 100)
    assert here in cells
    assert 4 <= len(cells) <= 9
    assert cells == sorted(set(cells))
    # Across the antimeridian: both ends of the row.
    wrap = cells_near(0.0, 179.9995, 100)
    assert (0, 0) in wrap
    assert (0, cell_of(0.0, 179.9999)[1]) in wrap
    # Around a pole: the rows near it, every column.
    polar = cells_near(89.99, 0, 2000)
    assert (50037, 0) in polar
    assert all(r in {c[0] for c in polar} for r in range(cell_of(89.973, 0)[0], 50038))
    assert cells_near(-90, 0, 10) == [(-50038, 0)]
    with pytest.raises(ValidationError, match="more than 1000000"):
        cells_near(39.8, -89.65, 500_000)
    for radius in (-1, math.nan, math.inf):
        with pytest.raises(ValidationError, match="radius_m"):
            cells_near(39.8, -89.65, radius)


# --------------------------------------------------------------------------------------
# The duplicate index


def test_index_basics() -> None:
    index = DuplicateIndex()
    index.add("c1", "pothole", 39.80, -89.65, T0)
    index.add("c2", "pothole", 39.8005, -89.65, T0 + timedelta(hours=2))
    index.add("c3", "graffiti", 39.80, -89.65, T0)
    index.add("c4", "pothole", 39.80, -89.65, T0 + timedelta(hours=100))
    index.add("c0", "pothole", 39.80, -89.65, T0 - timedelta(hours=1))
    assert len(index) == 5
    assert "c3" in index
    assert sorted(index) == ["c0", "c1", "c2", "c3", "c4"]
    found = index.near("pothole", 39.80, -89.65, T0, radius_m=100, hours=72)
    assert found == [
        Nearby("c1", 0.0, 0.0),
        Nearby("c0", 0.0, 1.0),
        Nearby("c2", pytest.approx(55.6, abs=0.1), 2.0),  # type: ignore[arg-type]
    ]
    assert [
        n.case_id
        for n in index.near("pothole", 39.80, -89.65, T0, radius_m=100, hours=72, exclude="c1")
    ] == ["c0", "c2"]
    # Bounds are included.
    assert [n.case_id for n in index.near("pothole", 39.80, -89.65, T0, radius_m=0, hours=1)] == [
        "c1",
        "c0",
    ]
    assert index.near("pothole", 39.80, -89.65, T0, radius_m=0, hours=0) == [Nearby("c1", 0.0, 0.0)]
    assert index.near("tree", 39.80, -89.65, T0, radius_m=1000, hours=1000) == []
    # Any time zone; infinite hours.
    chicago = T0.astimezone(timezone(timedelta(hours=-5)))
    assert len(index.near("pothole", 39.80, -89.65, chicago, radius_m=100, hours=math.inf)) == 4
    # Moving a case: the id is replaced, type and place too.
    index.add("c1", "graffiti", 39.70, -89.70, T0)
    assert len(index) == 5
    assert [
        n.case_id for n in index.near("pothole", 39.80, -89.65, T0, radius_m=100, hours=72)
    ] == ["c0", "c2"]
    assert [n.case_id for n in index.near("graffiti", 39.70, -89.70, T0, radius_m=1, hours=1)] == [
        "c1"
    ]
    index.remove("c1")
    index.remove("c1")
    index.remove("never")
    assert len(index) == 4
    assert index.near("graffiti", 39.70, -89.70, T0, radius_m=1, hours=1) == []
    for case_id in ("c0", "c2", "c3", "c4"):
        index.remove(case_id)
    assert len(index) == 0
    assert index.near("pothole", 39.80, -89.65, T0, radius_m=100, hours=72) == []


def test_index_refuses_bad_input() -> None:
    index = DuplicateIndex()
    with pytest.raises(ValidationError, match="no time zone"):
        index.add("c1", "pothole", 39.8, -89.65, datetime(2024, 1, 1))
    with pytest.raises(ValidationError, match="aware datetime"):
        index.add("c1", "pothole", 39.8, -89.65, "2024-01-01")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="latitude"):
        index.add("c1", "pothole", 99, -89.65, T0)
    assert len(index) == 0
    index.add("c1", "pothole", 39.8, -89.65, T0)
    with pytest.raises(ValidationError, match="longitude"):
        index.add("c1", "pothole", 39.8, 200, T0)
    assert len(index.near("pothole", 39.8, -89.65, T0, radius_m=1, hours=1)) == 1
    for kwargs in (
        {"radius_m": -1.0, "hours": 1.0},
        {"radius_m": 1.0, "hours": -1.0},
        {"radius_m": 1.0, "hours": math.nan},
    ):
        with pytest.raises(ValidationError):
            index.near("pothole", 39.8, -89.65, T0, **kwargs)
        with pytest.raises(ValidationError):
            scan_near([], "pothole", 39.8, -89.65, T0, **kwargs)
    with pytest.raises(ValidationError, match="no time zone"):
        index.near("pothole", 39.8, -89.65, datetime(2024, 1, 1), radius_m=1, hours=1)


@pytest.mark.parametrize(
    ("lat", "lon", "others"),
    [
        # Across the antimeridian, both ways.
        (0.0, 179.9995, [(0.0, -179.9995), (0.0005, 180.0), (-0.0005, -180.0), (0.0, 179.998)]),
        (-10.0, -179.9999, [(-10.0, 179.9999), (-10.0005, 179.9992), (-9.9995, -179.999)]),
        # Around the poles.
        (89.9995, 0.0, [(89.9995, 180.0), (89.9999, 90.0), (90.0, 0.0), (89.999, -45.0)]),
        (-89.9995, 10.0, [(-89.9995, -170.0), (-90.0, 0.0), (-89.999, 100.0)]),
    ],
)
def test_index_wraps_round_the_globe(
    lat: float, lon: float, others: list[tuple[float, float]]
) -> None:
    index = DuplicateIndex()
    entries = [(f"c{i}", "t", y, x, T0) for i, (y, x) in enumerate(others)]
    for entry in entries:
        index.add(*entry)
    # Padding with far-away entries keeps the index looking cells up one by one.
    for i in range(200):
        index.add(f"far{i}", "t", 39.7 + i / 1000, -89.7, T0)
    for radius in (50.0, 100.0, 150.0, 250.0):
        got = index.near("t", lat, lon, T0, radius_m=radius, hours=1)
        assert got == scan_near(entries, "t", lat, lon, T0, radius_m=radius, hours=1)
    assert len(index.near("t", lat, lon, T0, radius_m=250, hours=1)) == len(others)


def test_huge_radius_reads_every_cell() -> None:
    index = DuplicateIndex()
    entries = []
    for i, (lat, lon) in enumerate([(39.8, -89.65), (41.9, -87.6), (-33.9, 151.2), (0, 179.9)]):
        index.add(f"c{i}", "t", lat, lon, T0)
        entries.append((f"c{i}", "t", lat, lon, T0))
    for radius in (1_000_000.0, 5_000_000.0, 30_000_000.0):
        assert index.near("t", 39.8, -89.65, T0, radius_m=radius, hours=1) == scan_near(
            entries, "t", 39.8, -89.65, T0, radius_m=radius, hours=1
        )
    assert len(index.near("t", 0, 0, T0, radius_m=30_000_000, hours=1)) == 4


CENTRES = [(39.775, -89.65), (0.0, 179.999), (-0.0005, -179.9995), (89.995, 10.0), (-65.0, 20.0)]
offsets = st.floats(-0.01, 0.01, allow_subnormal=False) | st.floats(
    -0.001, 0.001, allow_subnormal=False
)
entry_ops = st.lists(
    st.tuples(
        st.sampled_from(["add", "add", "add", "remove"]),
        st.sampled_from([f"c{i}" for i in range(40)]),
        st.sampled_from(["pothole", "graffiti", "light"]),
        offsets,
        offsets,
        st.integers(-200, 200),  # hours from T0
    ),
    max_size=120,
)
queries = st.lists(
    st.tuples(
        st.sampled_from(["pothole", "graffiti", "light"]),
        offsets,
        offsets,
        st.integers(-200, 200),
        st.floats(0, 300) | st.floats(0, 3000) | st.sampled_from([0.0, 100.0]),
        st.floats(0, 200) | st.sampled_from([0.0, 72.0]),
        st.none() | st.sampled_from([f"c{i}" for i in range(5)]),
    ),
    min_size=1,
    max_size=8,
)


def wrap(lat: float, lon: float) -> tuple[float, float]:
    return max(-90.0, min(90.0, lat)), (lon + 180.0) % 360.0 - 180.0


@settings(max_examples=200)
@given(centre=st.sampled_from(CENTRES), ops=entry_ops, asked=queries)
def test_index_matches_the_full_scan(
    centre: tuple[float, float],
    ops: list[tuple[str, str, str, float, float, int]],
    asked: list[tuple[str, float, float, int, float, float, str | None]],
) -> None:
    index = DuplicateIndex()
    model: dict[str, tuple[str, str, float, float, datetime]] = {}
    for op, case_id, case_type, dlat, dlon, hours in ops:
        if op == "remove":
            index.remove(case_id)
            model.pop(case_id, None)
        else:
            lat, lon = wrap(centre[0] + dlat, centre[1] + dlon)
            at = T0 + timedelta(hours=hours, microseconds=hours * 7)
            index.add(case_id, case_type, lat, lon, at)
            model[case_id] = (case_id, case_type, lat, lon, at)
    assert len(index) == len(model)
    assert set(index) == set(model)
    for case_type, dlat, dlon, hours, radius, window, exclude in asked:
        lat, lon = wrap(centre[0] + dlat, centre[1] + dlon)
        at = T0 + timedelta(hours=hours)
        got = index.near(case_type, lat, lon, at, radius_m=radius, hours=window, exclude=exclude)
        want = scan_near(
            model.values(), case_type, lat, lon, at, radius_m=radius, hours=window, exclude=exclude
        )
        assert got == want
    # Asking from exactly where an entry is, with a radius of 0 and no time window.
    for case_id, case_type, lat, lon, at in model.values():
        got = index.near(case_type, lat, lon, at, radius_m=0, hours=0)
        assert case_id in [n.case_id for n in got]

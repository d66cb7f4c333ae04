"""Published price formats: the recorded samples, and every malformed-input message."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tariffs.dayahead import series_from_points
from tariffs.errors import PriceDataError
from tariffs.files import detect_format
from tariffs.formats.awattar import parse_awattar_json
from tariffs.formats.csv_prices import parse_price_csv
from tariffs.formats.entsoe import parse_entsoe_xml
from tariffs.formats.octopus import parse_octopus_json

from .conftest import SAMPLES, utc


def ts(dt) -> int:
    return int(dt.timestamp())


def test_entsoe_fall_back_day_has_25_hourly_prices_and_a03_fill():
    text = (SAMPLES / "entsoe_dayahead_60min.xml").read_text()
    points = parse_entsoe_xml(text, source="x.xml")
    assert len(points) == 25
    assert points[0].start_s == ts(utc(2026, 10, 24, 22))
    assert points[-1].end_s == ts(utc(2026, 10, 25, 23))
    prices = [p.price_per_kwh for p in points]
    # positions 4 and 5 are absent in the file: they repeat position 3 (71.20 EUR/MWh)
    assert prices[2:5] == pytest.approx([0.0712, 0.0712, 0.0712])
    assert prices[0] == pytest.approx(0.0781)


def test_entsoe_15min_document_has_96_quarters():
    points = parse_entsoe_xml((SAMPLES / "entsoe_dayahead_15min.xml").read_text())
    assert len(points) == 96
    assert {p.end_s - p.start_s for p in points} == {900}
    assert points[0].start_s == ts(utc(2026, 6, 14, 22))


def entsoe_doc(
    points_xml: str,
    curve: str = "A03",
    resolution: str = "PT60M",
    end: str = "2026-01-01T04:00Z",
    unit: str = "MWH",
) -> str:
    return f"""<Publication_MarketDocument
      xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:0">
      <TimeSeries><in_Domain.mRID>10YAT-APG------L</in_Domain.mRID>
        <currency_Unit.name>EUR</currency_Unit.name>
        <price_Measure_Unit.name>{unit}</price_Measure_Unit.name>
        <curveType>{curve}</curveType>
        <Period><timeInterval><start>2026-01-01T00:00Z</start><end>{end}</end></timeInterval>
          <resolution>{resolution}</resolution>{points_xml}</Period>
      </TimeSeries></Publication_MarketDocument>"""


def pts(*pairs: tuple[int, str]) -> str:
    return "".join(
        f"<Point><position>{p}</position><price.amount>{v}</price.amount></Point>" for p, v in pairs
    )


def test_entsoe_a03_absent_positions_repeat_previous():
    points = parse_entsoe_xml(entsoe_doc(pts((1, "10"), (3, "30"))))
    assert [p.price_per_kwh for p in points] == pytest.approx([0.01, 0.01, 0.03, 0.03])


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (entsoe_doc(pts((1, "10"), (3, "30")), curve="A01"), r"Period 1: position 2 is missing"),
        (entsoe_doc(pts((2, "10"))), r"position 1 is missing"),
        (entsoe_doc(pts((1, "ten"))), r"position 1: price 'ten' is not a number"),
        (entsoe_doc(pts((1, "10"), (7, "1"))), r"position 7 outside 1..4"),
        (entsoe_doc(pts((1, "10")), resolution="P1Y"), r"unsupported resolution 'P1Y'"),
        (entsoe_doc(pts((1, "10")), end="2026-01-01T00:30Z"), r"not a whole number"),
        (entsoe_doc(pts((1, "10")), unit="MAW"), r"unsupported price unit 'MAW'"),
        ("<Publication_MarketDocument>", r"not well-formed XML"),
        ("<Other/>", r"root element is <Other>"),
        (
            "<Acknowledgement_MarketDocument><Reason><text>No matching data found</text>"
            "</Reason></Acknowledgement_MarketDocument>",
            r"No matching data found",
        ),
    ],
)
def test_entsoe_bad_input(doc, match):
    with pytest.raises(PriceDataError, match=match) as info:
        parse_entsoe_xml(doc, source="day.xml")
    assert str(info.value).startswith("day.xml")


def test_entsoe_area_filter():
    doc = entsoe_doc(pts((1, "10")))
    assert len(parse_entsoe_xml(doc, area="10YAT-APG------L")) == 4
    with pytest.raises(PriceDataError, match="no prices for area"):
        parse_entsoe_xml(doc, area="10Y1001A1001A82H")


def test_entsoe_gap_between_periods_reported():
    doc = entsoe_doc(pts((1, "10")), end="2026-01-01T02:00Z")
    second = doc.replace("2026-01-01T00:00Z", "2026-01-01T03:00Z").replace(
        "2026-01-01T02:00Z", "2026-01-01T04:00Z"
    )
    points = parse_entsoe_xml(doc) + parse_entsoe_xml(second)
    with pytest.raises(PriceDataError, match=r"gap in the price series: .* ends 2026-01-01T02:00"):
        series_from_points(points, source="day.xml")


def test_awattar_sample():
    points = parse_awattar_json((SAMPLES / "awattar_marketdata.json").read_text())
    assert len(points) == 24
    assert points[0].start_s == ts(utc(2026, 6, 14, 22))
    assert points[0].price_per_kwh == pytest.approx(0.101)  # 101.0 Eur/MWh


def test_octopus_sample_is_sorted_and_in_pounds():
    text = (SAMPLES / "octopus_agile.json").read_text()
    raw = json.loads(text)["results"]
    points = parse_octopus_json(text)
    assert [p.start_s for p in points] == sorted(p.start_s for p in points)
    oldest = raw[-1]
    assert points[0].price_per_kwh == pytest.approx(oldest["value_inc_vat"] / 100)
    exc = parse_octopus_json(text, include_vat=False)
    assert exc[0].price_per_kwh == pytest.approx(oldest["value_exc_vat"] / 100)


@pytest.mark.parametrize(
    ("parser", "text", "match"),
    [
        (parse_awattar_json, '{"data": []}', "missing non-empty 'data'"),
        (
            parse_awattar_json,
            '{"data": [{"start_timestamp": 0, "end_timestamp": 3600000, "marketprice": "x"}]}',
            r"data\[0\].marketprice: expected a number",
        ),
        (parse_awattar_json, "{oops", "not JSON"),
        (
            parse_octopus_json,
            '{"results": [{"value_inc_vat": 1.0, "valid_from": "2026-01-01T00:00:00Z"}]}',
            r"results\[0\].valid_to: missing",
        ),
        (
            parse_octopus_json,
            '{"results": [{"value_inc_vat": null}]}',
            r"results\[0\].value_inc_vat: expected a number",
        ),
    ],
)
def test_json_bad_input(parser, text, match):
    with pytest.raises(PriceDataError, match=match):
        parser(text, source="f.json")


def test_csv_sample_with_offsets():
    points = parse_price_csv((SAMPLES / "prices_hourly.csv").read_text())
    assert len(points) == 24
    assert points[0].start_s == ts(utc(2026, 6, 14, 22))  # 00:00+02:00
    assert points[0].price_per_kwh == pytest.approx(0.092)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00Z,0.1\n2026-01-01T01:00Z,0.2\n", [0.1, 0.2]),  # no header
        ("time;price\n2026-01-01T00:00Z;0.1\n", [0.1]),  # semicolons
        ("start,other,price_eur_per_mwh\n2026-01-01T00:00Z,x,120\n", [0.12]),  # per MWh
        ("# comment\n\ntimestamp,price\n2026-01-01T00:00Z,0.1\n", [0.1]),
    ],
)
def test_csv_variants(text, expected):
    points = parse_price_csv(text)
    assert [p.price_per_kwh for p in points] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("timestamp,cost\n2026-01-01T00:00Z,0.1\n", r"p.csv:1: missing price column in header"),
        ("when,price\n2026-01-01T00:00Z,0.1\n", r"p.csv:1: no timestamp column"),
        ("timestamp,price\n2026-01-01T00:00Z\n", r"p.csv:2: missing price column"),
        ("timestamp,price\n2026-01-01T00:00Z,abc\n", r"p.csv:2: price 'abc' is not a number"),
        ("timestamp,price\n2026-01-01T00:00Z,nan\n", r"p.csv:2: price 'nan' is not a number"),
        ("timestamp,price\n2026-01-01T00:00,0.1\n", r"p.csv:2: timestamp .* has no UTC offset"),
        ("timestamp,price\nyesterday,0.1\n", r"p.csv:2: not an ISO 8601 timestamp"),
        ("timestamp,price\n", r"p.csv: no price rows after the header"),
    ],
)
def test_csv_bad_input(text, match):
    with pytest.raises(PriceDataError, match=match):
        parse_price_csv(text, source="p.csv")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "timestamp,price\n2026-01-01T00:00Z,0.1\n2026-01-01T01:00Z,0.1\n"
            "2026-01-01T03:00Z,0.1\n2026-01-01T04:00Z,0.1\n",
            r"p.csv: gap in the price series: line 3 ends 2026-01-01T02:00:00Z, line 4 starts",
        ),
        (
            "timestamp,price\n2026-01-01T01:00Z,0.1\n2026-01-01T00:00Z,0.1\n",
            r"line 3: timestamp 2026-01-01T00:00:00Z does not come after",
        ),
    ],
)
def test_series_gaps_and_order(text, match):
    with pytest.raises(PriceDataError, match=match):
        series_from_points(parse_price_csv(text, source="p.csv"), source="p.csv")


def test_hourly_series_for_25_hour_day_has_25_prices():
    points = parse_entsoe_xml((SAMPLES / "entsoe_dayahead_60min.xml").read_text())
    curve = series_from_points(points, source="x")
    assert (curve.end_s - curve.start_s) == 25 * 3600
    from tariffs.curve import mean_over

    means, _ = mean_over(curve, np.arange(curve.start_s, curve.end_s + 1, 3600))
    assert means.size == 25
    assert means.tolist() == pytest.approx([p.price_per_kwh for p in points])


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("awattar_marketdata.json", "awattar"),
        ("octopus_agile.json", "octopus"),
        ("entsoe_dayahead_60min.xml", "entsoe"),
        ("prices_hourly.csv", "csv"),
        ("dayahead_demo.csv", "csv"),
        ("site_flat.toml", "toml"),
    ],
)
def test_detect_format_of_samples(name, kind):
    assert detect_format(name, (SAMPLES / name).read_text()) == kind


def test_entsoe_15min_resampled_to_hours_is_the_mean_of_quarters():
    from tariffs.curve import mean_over

    points = parse_entsoe_xml((SAMPLES / "entsoe_dayahead_15min.xml").read_text())
    curve = series_from_points(points, source="x")
    hours, _ = mean_over(curve, np.arange(curve.start_s, curve.end_s + 1, 3600))
    quarters = np.array([p.price_per_kwh for p in points]).reshape(24, 4)
    np.testing.assert_allclose(hours, quarters.mean(axis=1), rtol=1e-12)


def test_csv_with_local_offsets_on_fall_back_day_has_25_hours():
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Berlin")
    start = utc(2026, 10, 24, 22)
    rows = ["timestamp,price"]
    for h in range(25):
        local = (start + timedelta(hours=h)).astimezone(zone)
        rows.append(f"{local.isoformat()},{h / 100}")
    assert "+01:00" in rows[-1] and "+02:00" in rows[1]
    curve = series_from_points(parse_price_csv("\n".join(rows)), source="dst.csv")
    assert curve.end_s - curve.start_s == 25 * 3600
    assert curve.values.tolist() == pytest.approx([h / 100 for h in range(25)])

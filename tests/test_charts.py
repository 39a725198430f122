"""Static charts for PDF/HTML reports: PNG images, drawn once per process for the same figures."""

from cleanheat import charts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_same_figures_give_the_remembered_chart_and_new_figures_a_new_one():
    first = charts.bars_vs_target(["城区", "全市"], [0.5, 0.6], [0.7, 0.8], title="清洁取暖率")
    again = charts.bars_vs_target(["城区", "全市"], [0.5, 0.6], [0.7, 0.8], title="清洁取暖率")
    changed = charts.bars_vs_target(["城区", "全市"], [0.5, 0.65], [0.7, 0.8], title="清洁取暖率")
    assert first.startswith(PNG_MAGIC) and changed.startswith(PNG_MAGIC)
    assert again is first  # not drawn again
    assert changed != first


def test_series_charts_key_on_their_whole_input():
    a = charts.lines(["2021Q1", "2021Q2"], {"城区": [0.5, 0.6]}, title="趋势")
    b = charts.lines(["2021Q1", "2021Q2"], {"城区": [0.5, 0.6]}, title="趋势", percent=False)
    c = charts.horizontal_bars(["热电联产"], [12.5], title="技术", unit="万m²")
    assert a.startswith(PNG_MAGIC) and c.startswith(PNG_MAGIC)
    assert a != b
    assert charts.lines(["2021Q1", "2021Q2"], {"城区": [0.5, 0.6]}, title="趋势") is a

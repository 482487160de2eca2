from datetime import UTC, datetime, timedelta

from ..charts import Point, line_chart

START = datetime(2026, 1, 15, tzinfo=UTC)


def points(values):
    return [Point(START + timedelta(hours=i), v, v - 1, v + 1) for i, v in enumerate(values)]


def line_vertices(svg) -> list[tuple[float, ...]]:
    points_attribute = str(svg).split('<polyline class="line" points="')[1].split('"')[0]
    return [tuple(map(float, vertex.split(","))) for vertex in points_attribute.split()]


def test_a_chart_draws_one_vertex_per_point_inside_its_box():
    svg = line_chart(points([20, 22, 21, 25]), "°C", "temperature")

    vertices = line_vertices(svg)
    assert len(vertices) == 4
    assert all(0 <= x <= 640 and 0 <= y <= 220 for x, y in vertices)
    assert 'data-points="4"' in svg and "°C" in svg


def test_the_highest_value_is_drawn_highest():
    heights = [y for _, y in line_vertices(line_chart(points([20, 30, 10]), "W", "power"))]

    # SVG's y grows downwards: the highest value has the smallest y.
    assert heights.index(min(heights)) == 1 and heights.index(max(heights)) == 2


def test_a_flat_series_still_draws():
    flat = [Point(START, 5, 5, 5), Point(START + timedelta(hours=1), 5, 5, 5)]

    assert len(line_vertices(line_chart(flat, "", "x"))) == 2


def test_no_points_say_so_instead_of_drawing():
    assert "No power readings in this range." in str(line_chart([], "W", "power"))


def test_names_are_escaped():
    svg = str(line_chart(points([1, 2]), "<b>", "<script>"))

    assert "<script>" not in svg and "&lt;script&gt;" in svg

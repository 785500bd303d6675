"""Pareto figure labels: placed inside the axes, clear of one another and of the points; PNGs are deterministic."""

import itertools

import matplotlib

from segbench.report import figures
from segbench.report.labels import overlap, place_labels
from segbench.report.variants import variants
from tests.report_records import make_record

BOUNDS = (0.0, 0.0, 200.0, 100.0)


def inside(box, bounds=BOUNDS):
    return bounds[0] <= box[0] and bounds[1] <= box[1] and box[2] <= bounds[2] and box[3] <= bounds[3]


def markers(anchors, r=3.0):
    return [(x - r, y - r, x + r, y + r) for x, y in anchors]


def test_labels_of_a_cluster_and_of_the_corners_stay_apart_and_inside():
    anchors = [(100, 50), (104, 52), (98, 55), (103, 46), (96, 48), (0, 0), (200, 100), (200, 0), (0, 100), (199, 50)]
    sizes = [(12.0, 8.0)] * len(anchors)
    boxes = place_labels(anchors, sizes, BOUNDS, markers(anchors), gap=4.0)
    assert all(inside(b) for b in boxes)
    assert all(overlap(a, b) == 0 for a, b in itertools.combinations(boxes, 2))
    assert all(overlap(b, m) == 0 for b in boxes for m in markers(anchors))
    assert [(b[2] - b[0], b[3] - b[1]) for b in boxes] == sizes


def test_a_lone_label_goes_right_of_its_point_and_left_at_the_right_edge():
    right, = place_labels([(50, 50)], [(10, 6)], BOUNDS, [], gap=4)
    assert right == (54, 47, 64, 53)
    left, = place_labels([(198, 50)], [(10, 6)], BOUNDS, [], gap=4)
    assert left == (184, 47, 194, 53)


def test_without_room_a_label_still_stays_inside():
    box, = place_labels([(5, 5)], [(300, 120)], BOUNDS, [], gap=4)   # larger than the bounds: clamped
    assert box[:2] == (0, 0)
    crowded = [(x, y) for x in range(0, 201, 10) for y in range(0, 101, 10)]
    boxes = place_labels(crowded, [(12, 8)] * len(crowded), BOUNDS, markers(crowded), gap=4)
    assert all(inside(b) for b in boxes)


def crowded_records():
    lat_miou_bf1 = [(10.0, .50, .30), (10.1, .505, .30), (10.05, .51, .305), (10.2, .50, .31), (10.15, .502, .302),
                    (10.3, .52, .29), (12.0, .60, .35), (30.0, .65, .36), (9.8, .40, .25), (30.0, .40, .20)]
    return [make_record(f"DeepLab-v2 ResNet-50 aspp=false crf=false {n}", n, 0, m, arch=f"a{n}", bf1=b, with_probe=lat)
            for n, (lat, m, b) in enumerate(lat_miou_bf1)]


def test_pareto_numbers_are_inside_their_axes_and_apart_and_the_figure_is_deterministic():
    points = figures.pareto_points(variants(crowded_records()), "aaaa1111")
    with matplotlib.rc_context(figures.STYLE):
        fig = figures.pareto_figure(points, "machine aaaa1111: Test CPU")
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        for k, ax in enumerate(fig.axes):
            boxes = [tuple(t.get_window_extent(renderer).extents) for t in ax.texts]
            assert [t.get_text() for t in ax.texts] == [str(n + 1) for n in range(len(points))]
            assert all(inside(b, tuple(ax.bbox.extents)) for b in boxes)
            assert all(overlap(a, b) == 0 for a, b in itertools.combinations(boxes, 2))
            centres = ax.transData.transform([(lat, 100 * acc[k]) for _, _, lat, acc in points])
            assert all(overlap(b, m) == 0 for b in boxes for m in markers(centres, r=figures.MARKER_PT * fig.dpi / 72))
    vs = variants(crowded_records())
    assert figures.pareto_plot(vs, "aaaa1111", "Test CPU", "p.png").png == \
        figures.pareto_plot(vs, "aaaa1111", "Test CPU", "p.png").png

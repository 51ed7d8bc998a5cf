import math

import pytest

from rsq.eval.metrics import (
    average_precision,
    dcg,
    mean_average_precision,
    mean_recall,
    ndcg_at_k,
    recall_at_k,
    recall_table,
    weighted_average_precision,
    weighted_map,
)


def test_recall_text_to_image_and_image_to_text():
    rankings = [["a", "b", "c"], ["c", "a", "b"], ["b", "c", "a"]]
    assert recall_at_k(rankings, [{"a"}, {"a"}, {"a"}], 1) == pytest.approx(100 / 3)
    assert recall_at_k(rankings, [{"a"}, {"a"}, {"a"}], 2) == pytest.approx(200 / 3)
    # image->text: any of the image's captions counts
    assert recall_at_k([["c1", "c2", "x"]], [{"c2", "c9"}], 1) == 0.0
    assert recall_at_k([["c1", "c2", "x"]], [{"c2", "c9"}], 2) == 100.0


def test_mean_recall_of_six():
    recalls = recall_table([["a"]], [{"a"}]) | recall_table([["x", "y"]], [{"y"}], prefix="i2t_")
    assert recalls == {"R@1": 100, "R@5": 100, "R@10": 100, "i2t_R@1": 0, "i2t_R@5": 100, "i2t_R@10": 100}
    assert mean_recall(recalls) == pytest.approx(500 / 6)


def test_average_precision_by_hand():
    # relevant at positions 1 and 3 of 2 relevant: (1/1 + 2/3) / 2
    assert average_precision(["a", "x", "b", "y"], {"a", "b"}) == pytest.approx((1 + 2 / 3) / 2)
    # a relevant id never retrieved still counts in the denominator
    assert average_precision(["x", "a"], {"a", "b"}) == pytest.approx((1 / 2) / 2)
    assert mean_average_precision([["a"], ["x", "a"]], [{"a"}, {"a"}]) == pytest.approx((1 + 0.5) / 2)


def test_ndcg_by_hand():
    assert dcg([3, 2, 0, 1]) == pytest.approx(3 + 2 / math.log2(3) + 0 + 1 / math.log2(5))
    gain = {"a": 2, "b": 1, "c": 2}
    # ranked b, a, x: DCG = 1 + 2/log2(3); ideal top-3 = 2, 2, 1
    expected = (1 + 2 / math.log2(3)) / (2 + 2 / math.log2(3) + 1 / 2)
    assert ndcg_at_k(["b", "a", "x"], gain, 3) == pytest.approx(expected)
    assert ndcg_at_k(["a", "c", "b"], gain, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["x"], {}, 10) == 0.0


def test_weighted_average_precision_by_hand():
    # rel = shared hierarchy levels: 2, 0, 1 -> ACG@1 = 2, ACG@3 = 3/3 = 1; WAP = (2 + 1) / 2
    gain = {"a": 2, "c": 1}
    assert weighted_average_precision(["a", "b", "c"], gain) == pytest.approx(1.5)
    assert weighted_average_precision(["a", "b", "c"], gain, k=2) == pytest.approx(2.0)
    assert weighted_map([["a", "b", "c"], ["b"]], [gain, gain]) == pytest.approx(0.75)

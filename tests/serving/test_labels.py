import numpy as np

from headkit.serving.app import predicted_labels


def test_single_label_rows_take_the_most_probable_class():
    proba = np.array([[0.2, 0.7, 0.1], [0.5, 0.1, 0.4]])
    assert predicted_labels(proba, np.array(["a", "b", "c"]), False) == ["b", "a"]


def test_multi_label_rows_list_every_class_above_one_half():
    proba = np.array([[0.9, 0.7, 0.1], [0.2, 0.1, 0.4], [0.5, 0.51, 0.6]])
    assert predicted_labels(proba, np.array([3, 5, 7]), True) == [[3, 5], [], [5, 7]]

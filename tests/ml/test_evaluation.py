"""Gates, the shared metrics, and fairness on hand-checked examples."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from app.ml.errors import SpecError
from app.ml.evaluation import (
    CLASSIFICATION_METRICS,
    Gate,
    GateSetupError,
    check_gate_setup,
    check_gates,
    deltas,
    evaluate,
    parse_gate,
    parse_gates,
)
from app.ml.training import TrainSpec, check_spec, train


class EchoModel:
    """Predicts the `pred` column, so a test fixes every prediction by hand."""

    def __init__(self, classes: list[Any]) -> None:
        self.classes_ = np.array(classes)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["pred"].to_numpy()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("f1>=0.85", Gate("f1>=0.85", "f1", ">=", 0.85)),
        (" accuracy >= baseline-0.01 ", Gate("accuracy >= baseline-0.01", "accuracy", ">=", 0.01, True, "-")),
        ("rmse<=baseline*1.05", Gate("rmse<=baseline*1.05", "rmse", "<=", 1.05, True, "*")),
        ("log_loss < baseline", Gate("log_loss < baseline", "log_loss", "<", 0.0, True, None)),
        ("r2 > baseline + .5", Gate("r2 > baseline + .5", "r2", ">", 0.5, True, "+")),
        ("mae==1e-3", Gate("mae==1e-3", "mae", "==", 0.001)),
        (
            "demographic_parity_difference<=0.1",
            Gate("demographic_parity_difference<=0.1", "demographic_parity_difference", "<=", 0.1),
        ),
    ],
)
def test_parse_gate(text: str, expected: Gate) -> None:
    assert parse_gate(text) == expected


@pytest.mark.parametrize(
    ("text", "position", "problem"),
    [
        ("", 1, "expected a metric name"),
        (">=0.8", 1, "expected a metric name"),
        ("acuracy>=0.8", 1, "unknown metric 'acuracy' (did you mean accuracy?)"),
        ("f2>=0.8", 1, "unknown metric 'f2'; known: accuracy, precision, recall, f1, "),
        ("f1 => 0.8", 4, "expected one of >=, >, <=, <, =="),
        ("f1>>0.8", 4, "expected a number or 'baseline'"),
        ("f1>=baseline/2", 13, "expected +, - or * after 'baseline'"),
        ("f1>=baseline-", 14, "expected a number"),
        ("f1>=0.8 and more", 9, "unexpected 'and more'"),
    ],
)
def test_malformed_gate_names_the_position(text: str, position: int, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_gate(text)

    assert caught.value.extra["position"] == position
    assert problem in str(caught.value)
    assert str(caught.value).startswith(f"malformed gate '{text}' at position {position}: ")
    assert caught.value.field == "gates"


def test_baseline_arithmetic() -> None:
    assert parse_gate("accuracy>=baseline-0.01").threshold(0.9) == pytest.approx(0.89)
    assert parse_gate("accuracy>=baseline+0.01").threshold(0.9) == pytest.approx(0.91)
    assert parse_gate("rmse<=baseline*1.05").threshold(10.0) == pytest.approx(10.5)
    assert parse_gate("rmse<=baseline").threshold(10.0) == 10.0
    assert parse_gate("f1>=0.85").threshold(None) == 0.85


def test_check_gates_reasons() -> None:
    gates = parse_gates(
        [
            "f1>=0.85",
            "accuracy>=0.8",
            "accuracy>=baseline-0.01",
            "recall>baseline",
        ]
    )
    metrics = {"f1": 0.8123, "accuracy": 0.82, "recall": 0.7}
    baseline = {"accuracy": 0.835, "recall": 0.7}

    results = check_gates(gates, metrics, baseline)

    assert [r.passed for r in results] == [False, True, False, False]
    assert results[0].reason == "f1 0.8123 < 0.85"
    assert (results[0].actual, results[0].threshold) == (0.8123, 0.85)
    assert results[1].reason == "accuracy 0.82 >= 0.8"
    assert results[2].reason == "accuracy 0.82 < 0.825 (baseline 0.835 - 0.01)"
    assert results[2].threshold == pytest.approx(0.825)
    assert results[3].reason == "recall 0.7 <= 0.7 (baseline)"


@pytest.mark.parametrize(
    ("gate", "baseline", "problem"),
    [
        ("roc_auc>=0.9", {"accuracy": 0.9}, "metric 'roc_auc' is not computed for this model and data"),
        ("accuracy>=baseline-0.01", None, "no baseline model is given"),
        ("f1>=baseline", {"accuracy": 0.9}, "the baseline has no value for metric 'f1'"),
    ],
)
def test_a_gate_that_cannot_be_judged_is_a_setup_error_not_a_failed_gate(
    gate: str, baseline: dict[str, float] | None, problem: str
) -> None:
    metrics = {"accuracy": 0.9, "f1": 0.8}

    with pytest.raises(GateSetupError) as caught:
        check_gates([parse_gate(gate)], metrics, baseline)

    assert problem in str(caught.value)
    assert caught.value.extra == {"gate": gate}
    assert caught.value.field == "gates"


@pytest.mark.parametrize(
    ("gate", "task", "baseline", "sensitive", "problem"),
    [
        ("f1>=baseline", "classification", False, False, "no baseline model is given"),
        ("rmse<=0.5", "classification", False, False, "a classification model has no metric 'rmse'"),
        ("accuracy>=0.5", "regression", False, False, "a regression model has no metric 'accuracy'"),
        ("demographic_parity_difference<=0.1", "regression", False, True, "binary classification only"),
        ("equalized_odds_difference<=0.1", "classification", False, False, "needs a sensitive column"),
    ],
)
def test_gate_setup_is_checked_before_scoring(
    gate: str, task: Any, baseline: bool, sensitive: bool, problem: str
) -> None:
    with pytest.raises(GateSetupError) as caught:
        check_gate_setup([parse_gate(gate)], task, baseline=baseline, sensitive=sensitive)

    assert problem in str(caught.value)
    assert gate in str(caught.value)


def test_gate_setup_accepts_what_can_be_judged() -> None:
    gates = parse_gates(["f1>=baseline", "demographic_parity_difference<=0.1", "roc_auc>0.5"])

    check_gate_setup(gates, "classification", baseline=True, sensitive=True)
    check_gate_setup(parse_gates(["rmse<=baseline*1.05"]), "regression", baseline=True, sensitive=False)
    check_gate_setup(parse_gates(["rmse<=1"]), None, baseline=False, sensitive=False)


def test_equality_gate_tolerates_float_rounding() -> None:
    [result] = check_gates([parse_gate("r2==0.3")], {"r2": 0.1 + 0.2})

    assert result.passed


def test_deltas() -> None:
    assert deltas({"f1": 0.9, "accuracy": 0.8, "rmse": 3.0}, {"f1": 0.85, "accuracy": 0.8}) == pytest.approx(
        {"f1": 0.05, "accuracy": 0.0}
    )


def test_binary_metrics_take_the_larger_label_as_positive() -> None:
    df = pd.DataFrame({"pred": ["yes", "yes", "no", "no"], "label": ["yes", "yes", "yes", "no"]})

    result = evaluate(EchoModel(["no", "yes"]), df, "label", "classification")

    metrics = result["metrics"]
    assert metrics["accuracy"] == 0.75
    assert metrics["precision"] == 1.0  # of the two predicted "yes", both are right
    assert metrics["recall"] == pytest.approx(2 / 3)  # two of the three actual "yes" found
    assert "roc_auc" not in metrics  # the model has no predict_proba
    assert result["confusion_matrix"] == {"labels": ["no", "yes"], "matrix": [[1, 0], [1, 2]]}


def test_fairness_by_hand() -> None:
    df = pd.DataFrame(
        {
            "group": ["a", "a", "a", "a", "b", "b", "b", "b"],
            "label": [1, 1, 0, 0, 1, 0, 0, 0],
            "pred": [1, 0, 0, 0, 1, 1, 1, 0],
        }
    )

    result = evaluate(EchoModel([0, 1]), df, "label", "classification", sensitive="group")

    groups = result["fairness"]["groups"]
    # a: one of two positives found, no false positives, one of four predicted positive.
    assert groups["a"] == {
        "count": 4,
        "accuracy": 0.75,
        "selection_rate": 0.25,
        "true_positive_rate": 0.5,
        "false_positive_rate": 0.0,
    }
    # b: its single positive found, two of three negatives flagged, three of four predicted positive.
    assert groups["b"]["accuracy"] == 0.5
    assert groups["b"]["selection_rate"] == 0.75
    assert groups["b"]["true_positive_rate"] == 1.0
    assert groups["b"]["false_positive_rate"] == pytest.approx(2 / 3)
    assert result["fairness"]["demographic_parity_difference"] == 0.5
    assert result["fairness"]["equalized_odds_difference"] == pytest.approx(2 / 3)  # FPR gap beats TPR gap 0.5
    assert result["metrics"]["accuracy"] == 5 / 8
    assert result["metrics"]["demographic_parity_difference"] == 0.5


def test_fairness_groups_missing_values_and_skips_undefined_rates() -> None:
    df = pd.DataFrame({"group": ["a", "a", None, None], "label": [0, 0, 1, 0], "pred": [0, 1, 1, 1]})

    result = evaluate(EchoModel([0, 1]), df, "label", "classification", sensitive="group")

    groups = result["fairness"]["groups"]
    assert set(groups) == {"a", "(missing)"}
    assert groups["a"]["true_positive_rate"] is None  # group a has no actual positives
    assert result["fairness"]["equalized_odds_difference"] == 0.5  # FPR 0.5 vs 1.0


def test_evaluate_rejects_missing_columns() -> None:
    df = pd.DataFrame({"pred": [0, 1], "label": [0, 1]})
    with pytest.raises(SpecError, match="target column 'churned' is not in the dataset"):
        evaluate(EchoModel([0, 1]), df, "churned", "classification")
    with pytest.raises(SpecError, match="sensitive column 'sex'"):
        evaluate(EchoModel([0, 1]), df, "label", "classification", sensitive="sex")


def test_evaluate_a_trained_model_uses_the_training_metric_names() -> None:
    X, y = make_classification(n_samples=120, n_features=3, n_informative=2, n_redundant=0, random_state=2)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y)
    spec = TrainSpec(dataset="d@1", target="label", estimator="logistic_regression")
    trained = train(check_spec(spec, list(df.columns)), df)

    result = evaluate(trained.model, df.assign(extra="ignored"), "label")

    assert result["task"] == "classification"
    assert set(result["metrics"]) == set(trained.metrics) == set(CLASSIFICATION_METRICS)
    with pytest.raises(SpecError, match="lacks columns the model needs: b"):
        evaluate(trained.model, df.drop(columns=["b"]), "label")

"""A small churn-like table and a scikit-learn pipeline fitted on it, for the model and dataset tests."""

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def churn_frame(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Features (tenure, monthly, plan) and a `churned` label that follows from them."""
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(
        {
            "tenure": rng.integers(1, 60, rows),
            "monthly": rng.normal(50, 10, rows).round(2),
            "plan": rng.choice(["monthly", "yearly"], rows),
        }
    )
    label = ((features["tenure"] < 20) & (features["plan"] == "monthly")).astype(int).rename("churned")
    return features, label


def fitted_pipeline(features: pd.DataFrame, label: pd.Series) -> Pipeline:
    """Scaling, one-hot encoding and a logistic regression: every type on the loading allow-list."""
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["tenure", "monthly"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))]).fit(features, label)

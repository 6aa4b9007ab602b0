"""Run search: the filter grammar (parsed, never pasted into SQL), ordering and pagination."""

import pytest
from fastapi.testclient import TestClient

from app.errors import InvalidFilter
from app.tracking.search import Condition, parse_filter, parse_order_by
from tests.factories import log_batch, make_experiment, make_run


def test_parser_reads_every_entity_and_comparator() -> None:
    conditions = parse_filter(
        "metrics.acc >= 0.5 AND params.model = 'rf' and tags.`team name` IN ('a', \"b\") "
        "and attributes.status != 'FAILED' and params.x NOT IN ('1') and tags.t ILIKE '%x%' and metrics.loss < -1e-3"
    )
    assert conditions == [
        Condition("metrics", "acc", ">=", 0.5),
        Condition("params", "model", "=", "rf"),
        Condition("tags", "team name", "IN", ("a", "b")),
        Condition("attributes", "status", "!=", "FAILED"),
        Condition("params", "x", "NOT IN", ("1",)),
        Condition("tags", "t", "ILIKE", "%x%"),
        Condition("metrics", "loss", "<", -1e-3),
    ]
    assert parse_filter("   ") == []


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("metrics.acc >", 13, "a number or a quoted string"),
        ("metrics.acc > 0.5 or params.a = 'b'", 18, "AND"),
        ("bogus.acc > 1", 0, "metrics.<key>"),
        ("params.model > 'rf'", 0, "takes"),
        ("metrics.acc = 'high'", 0, "compares with a number"),
        ("params.model = 'rf", 15, "closing"),
        ("attributes.colour = 'red'", 11, "an attribute"),
        ("metrics.acc > 0.5; DROP TABLE run", 17, "AND"),
        ("tags.x IN 'a'", 10, "'('"),
    ],
)
def test_malformed_filters_say_where(text: str, position: int, words: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text)
    assert caught.value.extra["position"] == position
    assert f"position {position}" in caught.value.detail
    assert words in caught.value.detail


def test_order_by_parses_direction() -> None:
    orders = parse_order_by(["metrics.acc DESC", "attributes.start_time", "params.`a b` asc"])
    assert [(o.entity, o.key, o.ascending) for o in orders] == [
        ("metrics", "acc", False),
        ("attributes", "start_time", True),
        ("params", "a b", True),
    ]
    with pytest.raises(InvalidFilter):
        parse_order_by(["metrics.acc sideways"])


@pytest.fixture
def populated(client: TestClient, editor: dict[str, str]) -> tuple[int, list[dict[str, object]]]:
    experiment = make_experiment(client, editor)
    runs = []
    for i, (model, acc, team) in enumerate(
        [("rf", 0.9, "risk"), ("rf", 0.4, "risk"), ("lr", 0.8, "growth"), ("gb", 0.7, "risk"), ("rf", 0.6, "growth")]
    ):
        run = make_run(client, editor, experiment["id"], name=f"run-{i}", start_time=1_700_000_000_000 + i)
        log_batch(
            client,
            editor,
            run["id"],
            metrics=[{"key": "acc", "value": acc}],
            params=[{"key": "model", "value": model}],
            tags=[{"key": "team", "value": team}],
        )
        runs.append(run)
    make_run(client, editor, experiment["id"], name="no-metrics", start_time=1_700_000_000_100)
    return experiment["id"], runs


def search(client: TestClient, headers: dict[str, str], **body: object) -> dict[str, object]:
    response = client.post("/api/v1/runs/search", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def names(result: dict[str, object]) -> list[str]:
    return [run["name"] for run in result["runs"]]  # type: ignore[attr-defined, index]


def test_filters_combine_metrics_params_tags_and_attributes(
    client: TestClient, viewer: dict[str, str], populated: tuple[int, list[dict[str, object]]]
) -> None:
    experiment_id, _ = populated
    found = search(
        client,
        viewer,
        experiment_ids=[experiment_id],
        filter="metrics.acc > 0.5 and params.model = 'rf'",
        order_by=["metrics.acc DESC"],
    )
    assert names(found) == ["run-0", "run-4"]
    assert names(
        search(
            client, viewer, experiment_ids=[experiment_id], filter="tags.team = 'growth'", order_by=["attributes.name"]
        )
    ) == ["run-2", "run-4"]
    assert names(
        search(
            client,
            viewer,
            experiment_ids=[experiment_id],
            filter="params.model IN ('lr', 'gb') and attributes.name LIKE 'run-%'",
            order_by=["attributes.name"],
        )
    ) == ["run-2", "run-3"]


def test_ordering_by_a_metric_puts_runs_without_it_last(
    client: TestClient, viewer: dict[str, str], populated: tuple[int, list[dict[str, object]]]
) -> None:
    experiment_id, _ = populated
    ascending = names(search(client, viewer, experiment_ids=[experiment_id], order_by=["metrics.acc ASC"]))
    assert ascending == ["run-1", "run-4", "run-3", "run-2", "run-0", "no-metrics"]
    default = names(search(client, viewer, experiment_ids=[experiment_id]))
    assert default[0] == "no-metrics"  # newest start_time first


def test_pagination_walks_every_match_once(
    client: TestClient, viewer: dict[str, str], populated: tuple[int, list[dict[str, object]]]
) -> None:
    experiment_id, _ = populated
    seen: list[str] = []
    token = None
    while True:
        page = search(
            client,
            viewer,
            experiment_ids=[experiment_id],
            max_results=2,
            order_by=["attributes.name"],
            **({"page_token": token} if token else {}),
        )
        seen += names(page)
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == sorted(seen)
    assert len(seen) == 6


def test_malformed_filter_is_400_with_the_position(client: TestClient, viewer: dict[str, str]) -> None:
    response = client.post("/api/v1/runs/search", json={"filter": "metrics.acc >> 1"}, headers=viewer)
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "invalid_filter"
    assert problem["position"] == 13
    bad_order = client.post("/api/v1/runs/search", json={"order_by": ["nonsense"]}, headers=viewer)
    assert bad_order.status_code == 400

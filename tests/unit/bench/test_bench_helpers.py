"""The pure arithmetic behind the benchmarks' tables: percentiles, billing units, prices, import times."""

from __future__ import annotations

import math

import pytest

from bench.cold_start import cumulative_import_seconds
from bench.cost_model import RRU, S3_GETS, S3_PUTS, SQS_REQUESTS, WRU, Prices, billed_units, lambda_cost
from bench.report import format_table, percentile, ratio
from infra.aws_call_counter import item_size, items_touched, per_service, write_kilobytes


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 1.0) == 4.0
    assert percentile(values, 0.5) == 2.5
    assert percentile(list(map(float, range(1, 101))), 0.99) == pytest.approx(99.01)
    assert percentile([7.0], 0.99) == 7.0


@pytest.mark.parametrize("values, fraction", [([], 0.5), ([1.0], 1.5)])
def test_percentile_rejects_nonsense(values: list[float], fraction: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, fraction)


def test_ratio_of_zero_baseline_is_not_a_number() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert math.isnan(ratio(1.0, 0.0))


def test_format_table_right_aligns_numbers() -> None:
    table = format_table(["name", "ms"], [["a", 1.5], ["long name", 250.0], ["none", math.nan]])
    assert table.splitlines() == [
        "| name      |   ms |",
        "|-----------|-----:|",
        "| a         | 1.50 |",
        "| long name |  250 |",
        "| none      |  n/a |",
    ]


def test_items_touched_counts_transaction_and_batch_entries() -> None:
    assert items_touched("TransactWriteItems", {"TransactItems": [{}, {}, {}]}) == 3
    assert items_touched("BatchWriteItem", {"RequestItems": {"t": [{}, {}], "u": [{}]}}) == 3
    assert items_touched("BatchGetItem", {"RequestItems": {"t": {"Keys": [{}, {}]}}}) == 2
    assert items_touched("GetItem", {"Key": {}}) == 1
    assert per_service({"dynamodb.GetItem": 2, "dynamodb.Query": 1, "sqs.SendMessage": 4}, "dynamodb") == 3


@pytest.mark.parametrize(
    "call, calls, items, kilobytes, expected",
    [
        ("dynamodb.GetItem", 3, 3, 0, (RRU, 3)),
        ("dynamodb.Query", 2, 2, 0, (RRU, 2)),
        ("dynamodb.PutItem", 2, 2, 3, (WRU, 3)),
        ("dynamodb.TransactWriteItems", 1, 4, 5, (WRU, 10)),
        ("dynamodb.TransactGetItems", 1, 2, 0, (RRU, 4)),
        ("sqs.ReceiveMessage", 5, 5, 0, (SQS_REQUESTS, 5)),
        ("s3.PutObject", 1, 1, 0, (S3_PUTS, 1)),
        ("s3.GetObject", 2, 2, 0, (S3_GETS, 2)),
    ],
)
def test_billed_units(call: str, calls: int, items: int, kilobytes: int, expected: tuple[str, float]) -> None:
    assert billed_units(call, calls, items, kilobytes) == expected


def test_write_kilobytes_follow_item_sizes() -> None:
    small = {"PK": {"S": "THREAD#1"}, "n": {"N": "12345"}}
    assert item_size(small) == len("PK") + len("THREAD#1") + len("n") + 3
    large = {"PK": {"S": "x"}, "data": {"S": "y" * 1500}}
    assert write_kilobytes("PutItem", {"Item": small}) == 1
    assert write_kilobytes("PutItem", {"Item": large}) == 2
    transaction = {"TransactItems": [{"Put": {"Item": large}}, {"Update": {"Key": small}}]}
    assert write_kilobytes("TransactWriteItems", transaction) == 3
    assert write_kilobytes("BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": large}}]}}) == 2
    assert write_kilobytes("GetItem", {"Key": small}) == 0
    nested = {"m": {"M": {"a": {"L": [{"S": "bc"}, {"BOOL": True}]}}}}
    assert item_size(nested) == 1 + 3 + (1 + 1 + 3 + (1 + 2) + (1 + 1))


def test_prices_per_unit_and_lambda_cost() -> None:
    prices = Prices()
    assert prices.per_unit(WRU) * 1_000_000 == pytest.approx(0.625)
    assert prices.per_unit(RRU) * 1_000_000 == pytest.approx(0.125)
    assert prices.per_unit(S3_PUTS) * 1000 == pytest.approx(0.005)
    # 1M requests of 100 ms at 1024 MB: $0.20 + 100,000 GB-s x $0.0000166667
    assert lambda_cost(1_000_000, 0.1, 1024, prices) == pytest.approx(0.20 + 1.66667)
    assert lambda_cost(1_000_000, 0.1, 1024, prices, arm64=True) == pytest.approx(0.20 + 1.33334)
    assert "us-east-1" in prices.describe()


def test_cumulative_import_seconds_reads_the_module_line() -> None:
    output = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       120 |        340 |   api",
            "import time:      2000 |      21500 | api.handler",
        ]
    )
    assert cumulative_import_seconds(output, "api.handler") == pytest.approx(0.0215)
    with pytest.raises(ValueError):
        cumulative_import_seconds(output, "dlq.handler")

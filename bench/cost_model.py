"""What AWS bills for the calls counted by ``infra.aws_call_counter``, at published on-demand prices.

Billing assumptions (stated by ``run_cost.py`` in its output): a write bills one WRU per started KB of each
item it carries (``infra.aws_call_counter.write_kilobytes``; updates and deletes count as 1 KB) and every
item or query page read is under 4 KB (1 RRU, strongly consistent); transactional
reads and writes cost 2 units per item; a global-secondary-index write (counted in
``infra.aws_call_counter``'s index-write mode) is billed like a table write, 1 WRU per started KB of the
index entry, not doubled inside a transaction (the doubling is the table item's prepare and commit; the
indexes are updated once, after the commit); SQS bills each call as one request (every payload < 64 KB);
S3 bills PUT/COPY/POST/LIST and GET/HEAD per 1,000 requests; Lambda bills per request and per GB-second."""

from __future__ import annotations

from dataclasses import dataclass

from infra.aws_call_counter import is_index_writes

MILLION = 1_000_000
DYNAMODB_READ_RRU_PER_ITEM = {"GetItem": 1, "Query": 1, "Scan": 1, "BatchGetItem": 1, "TransactGetItems": 2}
DYNAMODB_WRITE_WRU_PER_ITEM = {
    "PutItem": 1,
    "UpdateItem": 1,
    "DeleteItem": 1,
    "BatchWriteItem": 1,
    "TransactWriteItems": 2,
}
S3_PUT_CLASS = {"PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "ListObjectsV2"}
S3_GET_CLASS = {"GetObject", "HeadObject"}

RRU, WRU, SQS_REQUESTS, S3_PUTS, S3_GETS, FREE = (
    "DynamoDB RRU",
    "DynamoDB WRU",
    "SQS requests",
    "S3 PUT-class requests",
    "S3 GET-class requests",
    "not billed",
)


@dataclass(frozen=True)
class Prices:
    """us-east-1 on-demand list prices in USD (DynamoDB after the November 2024 price cut)."""

    region: str = "us-east-1"
    dynamodb_per_million_wru: float = 0.625
    dynamodb_per_million_rru: float = 0.125
    sqs_per_million_requests: float = 0.40
    s3_put_per_thousand: float = 0.005
    s3_get_per_thousand: float = 0.0004
    lambda_per_million_requests: float = 0.20
    lambda_per_gb_second: float = 0.0000166667  # x86_64
    lambda_per_gb_second_arm64: float = 0.0000133334

    def per_unit(self, kind: str) -> float:
        """USD for one unit of ``kind`` (one of the unit names above)."""
        return {
            RRU: self.dynamodb_per_million_rru / MILLION,
            WRU: self.dynamodb_per_million_wru / MILLION,
            SQS_REQUESTS: self.sqs_per_million_requests / MILLION,
            S3_PUTS: self.s3_put_per_thousand / 1000,
            S3_GETS: self.s3_get_per_thousand / 1000,
            FREE: 0.0,
        }[kind]

    def describe(self) -> str:
        return (
            f"{self.region} on-demand: DynamoDB ${self.dynamodb_per_million_wru}/M WRU, "
            f"${self.dynamodb_per_million_rru}/M RRU; "
            f"SQS standard ${self.sqs_per_million_requests}/M requests; "
            f"S3 ${self.s3_put_per_thousand}/1000 PUT, ${self.s3_get_per_thousand}/1000 GET; "
            f"Lambda ${self.lambda_per_million_requests}/M requests + ${self.lambda_per_gb_second}/GB-s "
            f"(x86_64), ${self.lambda_per_gb_second_arm64}/GB-s (arm64)"
        )


def billed_units(call_name: str, calls: float, items: float, written_kilobytes: float) -> tuple[str, float]:
    """``(unit kind, amount)`` billed for ``calls`` calls of ``"<service>.<Operation>"`` touching ``items``
    items in all, writes carrying ``written_kilobytes`` 1 KB units."""
    service, operation = call_name.split(".", 1)
    if is_index_writes(call_name):
        return WRU, written_kilobytes
    if service == "dynamodb":
        if operation in DYNAMODB_READ_RRU_PER_ITEM:
            return RRU, items * DYNAMODB_READ_RRU_PER_ITEM[operation]
        if operation in DYNAMODB_WRITE_WRU_PER_ITEM:
            return WRU, written_kilobytes * DYNAMODB_WRITE_WRU_PER_ITEM[operation]
    if service == "sqs":
        return SQS_REQUESTS, calls
    if service == "s3" and operation in S3_PUT_CLASS:
        return S3_PUTS, calls
    if service == "s3" and operation in S3_GET_CLASS:
        return S3_GETS, calls
    return FREE, 0.0


def lambda_cost(
    requests: float, seconds_per_request: float, memory_mb: int, prices: Prices, *, arm64: bool = False
) -> float:
    """USD for ``requests`` invocations of ``seconds_per_request`` each at ``memory_mb`` (on Graviton when
    ``arm64``)."""
    gb_seconds = requests * seconds_per_request * memory_mb / 1024
    per_gb_second = prices.lambda_per_gb_second_arm64 if arm64 else prices.lambda_per_gb_second
    return requests * prices.lambda_per_million_requests / MILLION + gb_seconds * per_gb_second

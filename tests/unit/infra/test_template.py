"""Invariants of template.yaml, checked offline: on the SAM template itself and on the CloudFormation that the
SAM transform (aws-sam-translator, the library `sam deploy` uses) makes of it."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all
from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform

from assistants_core.settings import ApiSettings, AwsSettings, SweeperSettings, WorkerSettings

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
SEARCH_LAYER_DIR = "infra/search_layer"
SEARCH_LAYER_MODEL_FOLDER = "minilm"
FUNCTION_SETTINGS: dict[str, type[AwsSettings]] = {
    "ApiFunction": ApiSettings,
    "StreamFunction": ApiSettings,
    "SweeperFunction": SweeperSettings,
    "DlqFunction": AwsSettings,
}
FUNCTION_HANDLERS = {
    "ApiFunction": "api.handler.handler",
    "SweeperFunction": "sweeper.handler.handler",
    "DlqFunction": "dlq.handler.handler",
}
# The only AWS-managed policies SAM may attach: logs, X-Ray, and polling the SQS event source.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
}


class _NoManagedPolicyLookup:
    """The template names no managed policy by name, so the transform must never need IAM to resolve one."""

    def load(self) -> dict[str, str]:
        raise AssertionError("the transform tried to look up a managed policy by name")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    # cfn-lint's decoder understands the short intrinsic tags (!Ref, !GetAtt, !Sub, ...); JSON round trip
    # turns its node types into plain dicts/lists/strings.
    loaded = json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE_PATH))))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"]
    return found


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation `sam deploy` would submit (CodeUri as `sam package` rewrites it)."""
    return transform_template(template)


def transform_template(template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    packaged = copy.deepcopy(template)
    packaged["Globals"]["Function"]["CodeUri"] = "s3://deployment-bucket/functions.zip"
    for name, resource in packaged["Resources"].items():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = f"s3://deployment-bucket/{name}.zip"
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the transform resolves pseudo parameters
    try:
        output: dict[str, Any] = transform(
            packaged, {"ApiKeyHashes": "0" * 64 + ":test", **(parameters or {})}, _NoManagedPolicyLookup()
        )
    finally:
        monkeypatch.undo()
    return output


def _functions(resources: dict[str, Any]) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}


def _referenced_logical_ids(value: Any) -> set[str]:
    """Logical ids a policy resource expression points at (Ref, GetAtt, and ${X} / ${X.Attr} in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text, variables = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                logical_id = name.split(".")[0]
                if not logical_id.startswith("AWS::") and logical_id not in variables:
                    found.add(logical_id)
            found |= _referenced_logical_ids(variables)
        for key, inner in value.items():
            if key not in {"Ref", "Fn::GetAtt", "Fn::Sub"}:
                found |= _referenced_logical_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _referenced_logical_ids(inner)
    return found


def _statement_resources(statement: dict[str, Any]) -> list[Any]:
    declared = statement["Resource"]
    return declared if isinstance(declared, list) else [declared]


def _role_statements(transformed: dict[str, Any], function_name: str) -> list[dict[str, Any]]:
    role = transformed["Resources"][f"{function_name}Role"]["Properties"]
    return [statement for policy in role["Policies"] for statement in policy["PolicyDocument"]["Statement"]]


def test_cfn_lint_reports_no_error_or_warning() -> None:
    matches = lint_all(TEMPLATE_PATH.read_text())
    # Like the `cfn-lint` CLI (`make validate`): informational matches (I*) do not fail the build.
    assert [str(match) for match in matches if not match.rule.id.startswith("I")] == []


def test_table_has_point_in_time_recovery_ttl_and_encryption(resources: dict[str, Any]) -> None:
    table = resources["Table"]["Properties"]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert resources["Table"]["DeletionPolicy"] == "Retain"


def test_bucket_is_versioned_private_encrypted_and_expires_old_versions(resources: dict[str, Any]) -> None:
    bucket = resources["BodyBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any(rule["Status"] == "Enabled" and "NoncurrentVersionExpiration" in rule for rule in rules)


def test_bucket_policy_denies_plain_http(resources: dict[str, Any]) -> None:
    statements = resources["BodyBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_run_queue_redrives_to_dlq_after_five_receives(resources: dict[str, Any]) -> None:
    queue = resources["RunQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["ReceiveMessageWaitTimeSeconds"] == 20
    assert queue["SqsManagedSseEnabled"] is True


def test_run_queue_visibility_outlasts_the_worker_lease(resources: dict[str, Any]) -> None:
    lease_seconds = WorkerSettings.model_fields["lease_seconds"].default
    assert resources["RunQueue"]["Properties"]["VisibilityTimeout"] > lease_seconds


def test_dead_letter_queue_keeps_messages_fourteen_days_and_outlasts_its_consumer(
    resources: dict[str, Any],
) -> None:
    dlq = resources["DeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["VisibilityTimeout"] >= resources["DlqFunction"]["Properties"]["Timeout"]


def test_globals_pin_runtime_architecture_and_tracing(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.11"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert function_globals["CodeUri"] == "functions/"


@pytest.mark.parametrize("function_name", sorted(FUNCTION_HANDLERS))
def test_handler_points_at_a_module_in_the_code_uri(resources: dict[str, Any], function_name: str) -> None:
    handler = resources[function_name]["Properties"]["Handler"]
    assert handler == FUNCTION_HANDLERS[function_name]
    module_path = REPO_ROOT / "functions" / (handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
    assert module_path.is_file(), f"{function_name}'s handler module {module_path} does not exist"


@pytest.mark.parametrize("function_name", sorted(FUNCTION_SETTINGS))
def test_function_environment_matches_its_settings_class(
    template: dict[str, Any], resources: dict[str, Any], function_name: str
) -> None:
    """Every ASSISTANTS_* variable is a field of the function's settings, and every required field is set."""
    settings_class = FUNCTION_SETTINGS[function_name]
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **resources[function_name]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    configured = {
        name.removeprefix("ASSISTANTS_").lower() for name in variables if name.startswith("ASSISTANTS_")
    }
    fields = settings_class.model_fields
    assert configured <= set(fields), f"unknown settings: {configured - set(fields)}"
    required = {name for name, info in fields.items() if info.is_required()}
    assert required <= configured, f"{function_name} lacks {required - configured}"


def test_api_key_hashes_is_secret_and_accepts_generated_entries(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ApiKeyHashes"]
    assert parameter["NoEcho"] is True
    entry = hashlib.sha256(b"sk-example").hexdigest() + ":acme"
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch(entry)
    assert pattern.fullmatch(f"{entry},{entry.replace('acme', 'beta')}")
    assert not pattern.fullmatch("sk-example:acme"), "a raw key must not be deployable"


def test_api_is_a_catch_all_v1_route_with_cors(resources: dict[str, Any]) -> None:
    events = resources["ApiFunction"]["Properties"]["Events"]
    assert [event["Type"] for event in events.values()] == ["HttpApi"]
    (route,) = [event["Properties"] for event in events.values()]
    assert route["Path"] == "/v1/{proxy+}"
    assert route["Method"] == "ANY"
    assert route["ApiId"] == {"Ref": "HttpApi"}
    condition, cors, otherwise = resources["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert condition == "BrowserOriginsAllowed"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert cors["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "CorsAllowOrigins"}]}


def test_sweeper_runs_every_minute_and_dlq_consumer_reports_partial_failures(
    resources: dict[str, Any],
) -> None:
    (schedule,) = resources["SweeperFunction"]["Properties"]["Events"].values()
    assert schedule["Type"] == "Schedule"
    assert schedule["Properties"]["Schedule"] == "rate(1 minute)"
    (dead_letters,) = resources["DlqFunction"]["Properties"]["Events"].values()
    assert dead_letters["Type"] == "SQS"
    assert dead_letters["Properties"]["Queue"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert dead_letters["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_function_logs_to_its_own_group_with_retention(resources: dict[str, Any]) -> None:
    log_groups = {name for name, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
    for name, function in _functions(resources).items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert group == {"Ref": f"{name}LogGroup"}
        assert f"{name}LogGroup" in log_groups
    for name in log_groups:
        assert resources[name]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize(
    ("function_name", "allowed_targets"),
    [
        ("ApiFunction", {"Table", "BodyBucket", "RunQueue", "IngestionQueue"}),
        ("StreamFunction", {"Table", "BodyBucket", "RunQueue", "IngestionQueue"}),
        ("SweeperFunction", {"Table", "RunQueue", "BodyBucket"}),
        ("DlqFunction", {"Table", "DeadLetterQueue"}),
    ],
)
def test_function_policies_are_scoped_to_specific_resources(
    transformed: dict[str, Any], function_name: str, allowed_targets: set[str]
) -> None:
    statements = _role_statements(transformed, function_name)
    assert statements
    targets: set[str] = set()
    for statement in statements:
        for resource in _statement_resources(statement):
            assert resource != "*", f"{function_name} has a '*' resource: {statement}"
            assert isinstance(resource, dict), f"{function_name} has a literal resource: {resource}"
            targets |= _referenced_logical_ids(resource)
    assert targets == allowed_targets
    managed = transformed["Resources"][f"{function_name}Role"]["Properties"]["ManagedPolicyArns"]
    assert set(managed) <= ALLOWED_MANAGED_POLICIES


def test_only_the_api_and_sweeper_may_send_to_the_run_queue(transformed: dict[str, Any]) -> None:
    senders = set()
    for function_name in [*FUNCTION_HANDLERS, "StreamFunction"]:
        for statement in _role_statements(transformed, function_name):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action.startswith("sqs:SendMessage") for action in actions):
                queues = _referenced_logical_ids(statement["Resource"])
                assert queues in ({"RunQueue"}, {"IngestionQueue"})  # files added to vector stores: API only
                if queues == {"RunQueue"}:
                    senders.add(function_name)
    assert senders == {"ApiFunction", "StreamFunction", "SweeperFunction"}


def _stream_seconds(resources: dict[str, Any], function_name: str) -> float:
    variables = resources[function_name]["Properties"]["Environment"]["Variables"]
    configured = variables.get("ASSISTANTS_STREAM_MAX_SECONDS")
    default = ApiSettings.model_fields["stream_max_seconds"].default
    return float(configured) if configured is not None else float(default)


def test_streams_end_before_their_function_times_out(resources: dict[str, Any]) -> None:
    """The buffered API Gateway path must end a stream: true response before the 29 s gateway limit; the
    streaming Function URL keeps a long stream, within its Lambda timeout."""
    for function_name in ("ApiFunction", "StreamFunction"):
        timeout = resources[function_name]["Properties"]["Timeout"]
        assert _stream_seconds(resources, function_name) < timeout - 2, function_name
    assert _stream_seconds(resources, "ApiFunction") < 29
    assert _stream_seconds(resources, "StreamFunction") > 600


def test_stream_function_streams_the_same_app_through_a_function_url(
    template: dict[str, Any], resources: dict[str, Any], transformed: dict[str, Any]
) -> None:
    """SSE needs an unbuffered path: a RESPONSE_STREAM Function URL, the Lambda Web Adapter layer in
    response_stream mode, and a startup script that serves the same FastAPI app under uvicorn."""
    properties = resources["StreamFunction"]["Properties"]
    assert properties["FunctionUrlConfig"]["InvokeMode"] == "RESPONSE_STREAM"
    layer, search_layer = properties["Layers"]
    assert ":753240598075:layer:LambdaAdapterLayerArm64:" in layer["Fn::Sub"]  # arm64, as Globals
    assert search_layer == {"Ref": "SearchRuntimeLayer"}
    variables = properties["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert variables["AWS_LWA_INVOKE_MODE"] == "response_stream"
    script = REPO_ROOT / "functions" / properties["Handler"]
    assert script.is_file() and os.access(script, os.X_OK)
    assert "uvicorn api.asgi:app" in script.read_text()
    assert 'PYTHONPATH="/opt/python' in script.read_text()  # the search layer's packages
    assert (REPO_ROOT / "functions" / "api" / "asgi.py").is_file()
    assert properties["Timeout"] == 900  # Lambda's maximum: a stream lives as long as allowed
    urls = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::Lambda::Url"]
    assert [url["Properties"]["InvokeMode"] for url in urls] == ["RESPONSE_STREAM"]
    assert "StreamFunctionUrl" in str(template["Outputs"]["StreamingApiUrl"]["Value"])


def test_worker_policy_grants_queue_consumption_table_access_and_body_storage(
    resources: dict[str, Any],
) -> None:
    policy = resources["WorkerPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    grants: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for resource in _statement_resources(statement):
            assert resource != "*"
            for target in _referenced_logical_ids(resource):
                grants.setdefault(target, set()).update(
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
    assert set(grants) == {"RunQueue", "Table", "BodyBucket", "IngestionQueue"}
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= grants["IngestionQueue"]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} <= grants["RunQueue"]
    assert {"dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem"} <= grants["Table"]
    # finish_run uploads a long reply; forget_uploaded_bodies lists and deletes an upload whose write lost.
    assert grants["BodyBucket"] == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    body_statements = [s for s in statements if "BodyBucket" in _referenced_logical_ids(s["Resource"])]
    for statement in body_statements:
        if statement["Action"] == "s3:ListBucket":
            assert statement["Condition"] == {"StringLike": {"s3:prefix": "threads/*"}}
        elif statement["Sid"] == "ReadFilesWriteChunks":  # ingestion reads files/, writes vectors/
            assert statement["Resource"] == [
                {"Fn::Sub": "${BodyBucket.Arn}/files/*"},
                {"Fn::Sub": "${BodyBucket.Arn}/vectors/*"},
            ]
        else:
            assert statement["Resource"] == {"Fn::Sub": "${BodyBucket.Arn}/threads/*"}


def test_outputs_name_everything_a_client_and_the_worker_need(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {
        "ApiUrl",
        "TableName",
        "BucketName",
        "RunQueueUrl",
        "DeadLetterQueueUrl",
        "WorkerPolicyArn",
    } <= set(outputs)
    assert outputs["ApiUrl"]["Value"]["Fn::Sub"].endswith("/v1")


def test_transform_wires_the_http_api_and_the_dlq_event_source(transformed: dict[str, Any]) -> None:
    types = {r["Type"] for r in transformed["Resources"].values()}
    assert {"AWS::ApiGatewayV2::Api", "AWS::Lambda::EventSourceMapping", "AWS::Events::Rule"} <= types
    mapping = next(
        r for r in transformed["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
    )
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def _requirements(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~!]", requirement, maxsplit=1)[0].lower()


def test_lambda_requirements_match_the_project_dependencies() -> None:
    """functions/requirements.txt + the search layer's = the project's dependencies; the layer keeps the
    project's pins except numpy (AL2's glibc 2.26 loads no numpy 2.3 aarch64 wheel: its requirements.txt)."""
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = _requirements(REPO_ROOT / SEARCH_LAYER_DIR / "requirements.txt")
    layer_names = {_name(requirement) for requirement in layer}
    assert layer_names == {"numpy", "safetensors", "tokenizers"}
    assert _requirements(REPO_ROOT / "functions" / "requirements.txt") == [
        requirement for requirement in dependencies if _name(requirement) not in layer_names
    ]
    assert {r for r in layer if _name(r) != "numpy"} <= set(dependencies)
    assert "numpy==2.2.6" in layer


def test_api_functions_get_the_search_layer_and_its_model_path(
    template: dict[str, Any], resources: dict[str, Any], transformed: dict[str, Any]
) -> None:
    """The layer sam build makes (Makefile target per logical id, arm64 like the functions) is attached to
    both API functions, whose settings point at the model folder it puts in /opt."""
    layer = resources["SearchRuntimeLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"].rstrip("/") == SEARCH_LAYER_DIR
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["CompatibleArchitectures"] == template["Globals"]["Function"]["Architectures"]
    assert layer["Properties"]["CompatibleRuntimes"] == [template["Globals"]["Function"]["Runtime"]]
    makefile = (REPO_ROOT / SEARCH_LAYER_DIR / "Makefile").read_text()
    assert "build-SearchRuntimeLayer:" in makefile and "PLATFORM ?= manylinux2014_aarch64" in makefile
    published = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert len(published) == 1 and published[0]["Properties"]["CompatibleArchitectures"] == ["arm64"]
    (layer_id,) = [n for n, r in transformed["Resources"].items() if r["Type"] == "AWS::Lambda::LayerVersion"]
    for name in ("ApiFunction", "StreamFunction"):
        properties = transformed["Resources"][name]["Properties"]
        assert {"Ref": layer_id} in properties["Layers"], name
        variables = properties["Environment"]["Variables"]
        assert variables["ASSISTANTS_EMBEDDING_MODEL_PATH"] == f"/opt/{SEARCH_LAYER_MODEL_FOLDER}", name
        assert variables["OPENBLAS_NUM_THREADS"] == "1", name  # the query embedder's numpy
    for name in ("SweeperFunction", "DlqFunction"):  # no numpy needed there
        assert "Layers" not in transformed["Resources"][name]["Properties"], name


def test_samconfig_deploys_the_stack_with_iam_capability_and_a_confirmed_changeset() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]
    assert config["default"]["global"]["parameters"]["stack_name"]
    assert "CAPABILITY_IAM" in deploy["capabilities"]
    assert deploy["confirm_changeset"] is True
    assert deploy["region"]


# Every header the openai JS SDK (openai@7.60.0, its dist files) may send from a browser, lower-cased: the
# preflight must allow each, or the browser blocks the request.
OPENAI_JS_SDK_REQUEST_HEADERS = {
    "authorization",
    "content-type",
    "idempotency-key",
    "openai-beta",
    "openai-organization",
    "openai-project",
    "x-stainless-arch",
    "x-stainless-custom-poll-interval",
    "x-stainless-helper-method",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-poll-helper",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
}


def _transformed_cors(transformed: dict[str, Any]) -> dict[str, Any]:
    """The CORS configuration API Gateway receives: the HTTP API's OpenAPI body after the SAM transform."""
    (api,) = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    cors = api["Properties"]["Body"]["x-amazon-apigateway-cors"]
    condition, enabled, disabled = cors["Fn::If"]
    assert transformed["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CorsAllowOrigins"}, ""]}]
    }
    assert disabled == {"Ref": "AWS::NoValue"}
    found: dict[str, Any] = enabled
    return found


def test_transformed_api_keeps_the_whole_cors_configuration(transformed: dict[str, Any]) -> None:
    """aws-sam-translator drops every CORS key but AllowOrigins when AllowOrigins alone is an intrinsic:
    the transformed API must still allow the SDK's headers and methods, expose headers, cache preflights."""
    cors = _transformed_cors(transformed)
    assert set(cors) == {"allowOrigins", "allowMethods", "allowHeaders", "exposeHeaders", "maxAge"}
    assert {header.lower() for header in cors["allowHeaders"]} >= OPENAI_JS_SDK_REQUEST_HEADERS
    assert {"GET", "POST", "DELETE", "OPTIONS"} <= set(cors["allowMethods"])
    assert {"x-request-id", "openai-poll-after-ms", "retry-after"} <= set(cors["exposeHeaders"])
    assert cors["maxAge"] >= 300


def test_transformed_cors_origins_come_from_the_parameter(template: dict[str, Any]) -> None:
    origins = "https://app.example.com,https://admin.example.com"
    cors = _transformed_cors(transform_template(template, {"CorsAllowOrigins": origins}))
    assert cors["allowOrigins"] == {"Fn::Split": [",", origins]}
    assert "allowCredentials" not in cors  # "*" with credentials is refused by browsers


def test_transformed_functions_keep_their_settings(transformed: dict[str, Any]) -> None:
    """What CloudFormation receives: runtime, handler, architecture, env, reserved concurrency."""
    functions = {
        name: r["Properties"]
        for name, r in transformed["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert set(functions) == {"ApiFunction", "StreamFunction", "SweeperFunction", "DlqFunction"}
    for name, properties in functions.items():
        assert properties["Runtime"] == "python3.11", name
        assert properties["Architectures"] == ["arm64"], name
        assert properties["TracingConfig"] == {"Mode": "Active"}, name
        assert properties["Code"] == {"S3Bucket": "deployment-bucket", "S3Key": "functions.zip"}, name
    for name in ("ApiFunction", "StreamFunction"):
        variables = functions[name]["Environment"]["Variables"]
        assert variables["ASSISTANTS_SERVED_MODELS"] == {"Ref": "ServedModels"}
        assert variables["ASSISTANTS_MODEL_ALIASES"] == {"Ref": "ModelAliases"}
        assert variables["ASSISTANTS_WORKER_WAKE"] == {"Fn::If": ["WorkerWakeEnabled", "modal", "none"]}
    assert functions["ApiFunction"]["Timeout"] == 29


def test_stream_function_has_reserved_concurrency(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    """Streams hold an execution for up to 15 minutes: a reserved (and capped) pool keeps them from taking
    the concurrency the API, sweeper and DLQ functions need; 0 leaves the function unreserved."""
    parameter = template["Parameters"]["StreamReservedConcurrency"]
    assert parameter["Type"] == "Number" and parameter["Default"] > 0 and parameter["MinValue"] == 0
    stream = transformed["Resources"]["StreamFunction"]["Properties"]
    assert stream["ReservedConcurrentExecutions"] == {
        "Fn::If": ["StreamConcurrencyReserved", {"Ref": "StreamReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert transformed["Conditions"]["StreamConcurrencyReserved"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "StreamReservedConcurrency"}, 0]}]
    }
    for name in ("ApiFunction", "SweeperFunction", "DlqFunction"):
        assert "ReservedConcurrentExecutions" not in transformed["Resources"][name]["Properties"]


def test_worker_role_trusts_only_the_modal_workspace_environment_and_app(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    """Modal OIDC (https://modal.com/docs/guide/oidc-integration): aud "oidc.modal.com", sub
    "modal:workspace_id:<ws>:environment_name:<env>:app_name:<app>:function_name:<fn>:container_id:<ct>"."""
    resources = transformed["Resources"]
    provider = resources["ModalOidcProvider"]
    assert provider["Type"] == "AWS::IAM::OIDCProvider"
    assert provider["Condition"] == "CreateModalOidcProvider"
    assert provider["Properties"]["Url"] == "https://oidc.modal.com"
    assert provider["Properties"]["ClientIdList"] == ["oidc.modal.com"]
    role = resources["WorkerRole"]
    assert role["Type"] == "AWS::IAM::Role" and role["Condition"] == "ModalOidcEnabled"
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"] == {
        "Fn::If": [
            "CreateModalOidcProvider",
            {"Fn::GetAtt": ["ModalOidcProvider", "Arn"]},
            {"Ref": "ModalOidcProviderArn"},
        ]
    }
    assert statement["Condition"]["StringEquals"] == {"oidc.modal.com:aud": "oidc.modal.com"}
    sub = statement["Condition"]["StringLike"]["oidc.modal.com:sub"]["Fn::Sub"]
    assert sub == (
        "modal:workspace_id:${ModalWorkspaceId}:environment_name:${ModalEnvironmentName}"
        ":app_name:${ModalAppName}:function_name:*"
    )
    assert role["Properties"]["ManagedPolicyArns"] == [{"Ref": "WorkerPolicy"}]
    parameters = template["Parameters"]
    assert re.fullmatch(parameters["ModalWorkspaceId"]["AllowedPattern"], "ac-12345abcd")
    assert not re.fullmatch(parameters["ModalWorkspaceId"]["AllowedPattern"], "ac-*")  # no wildcard scope
    assert parameters["ModalAppName"]["Default"] == "serverless-assistants-worker"
    outputs = template["Outputs"]["WorkerRoleArn"]
    assert outputs["Condition"] == "ModalOidcEnabled"


def test_worker_app_name_matches_the_trusted_app(template: dict[str, Any]) -> None:
    app_source = (REPO_ROOT / "gpu_worker" / "app.py").read_text()
    default = template["Parameters"]["ModalAppName"]["Default"]
    assert f'APP_NAME = "{default}"' in app_source
    assert ApiSettings.model_fields["worker_app_name"].default == default

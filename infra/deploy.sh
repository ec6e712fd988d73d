#!/usr/bin/env bash
# Deploy everything: the AWS side with SAM (template.yaml + samconfig.toml), then the GPU worker on Modal.
#
#   ASSISTANTS_API_KEY_HASHES="<sha256 hex>:<tenant>[,...]" infra/deploy.sh [extra `sam deploy` arguments]
#
# Entries come from `python -m infra.api_key_hash --tenant NAME`. Optional environment:
#   STAGE (prod)  CORS_ALLOW_ORIGINS (*)  SAM_CONFIG_ENV (default)  STACK_NAME (samconfig.toml's)
#   WORKER_AWS_ACCESS_KEY_ID / WORKER_AWS_SECRET_ACCESS_KEY: keys of the IAM user the stack's WorkerPolicy is
#     attached to; when set, the Modal secret ${MODAL_SECRET_NAME} is (re)written with them and the stack's
#     resource names before the worker is deployed.
#   PREPARE_MODEL=1: first deployment: convert the model into the Modal volume before deploying the worker.
#   SKIP_WORKER=1: AWS side only.
# Needs the `sam`, `aws` and `modal` CLIs, with AWS credentials and a Modal token configured.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${ASSISTANTS_API_KEY_HASHES:?set it: python -m infra.api_key_hash --tenant NAME}"
stage="${STAGE:-prod}"
cors_allow_origins="${CORS_ALLOW_ORIGINS:-*}"
config_env="${SAM_CONFIG_ENV:-default}"
modal_secret_name="${MODAL_SECRET_NAME:-assistants-aws}"
python="${PYTHON:-python3}"
stack_name="${STACK_NAME:-$("$python" -c 'import sys, tomllib
config = tomllib.load(open("samconfig.toml", "rb"))
print(config[sys.argv[1]]["global"]["parameters"]["stack_name"])' "$config_env")}"
region="${AWS_REGION:-$("$python" -c 'import sys, tomllib
config = tomllib.load(open("samconfig.toml", "rb"))
print(config[sys.argv[1]]["deploy"]["parameters"]["region"])' "$config_env")}"

echo "==> sam validate / build / deploy (stack $stack_name in $region, stage $stage)"
sam validate --lint --region "$region"
sam build --config-env "$config_env"
sam deploy --config-env "$config_env" --stack-name "$stack_name" --region "$region" \
  --parameter-overrides "Stage=$stage" "ApiKeyHashes=$ASSISTANTS_API_KEY_HASHES" \
  "CorsAllowOrigins=$cors_allow_origins" "$@"

stack_output() {
  aws cloudformation describe-stacks --region "$region" --stack-name "$stack_name" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
api_url="$(stack_output ApiUrl)"
table_name="$(stack_output TableName)"
bucket_name="$(stack_output BucketName)"
run_queue_url="$(stack_output RunQueueUrl)"
worker_policy_arn="$(stack_output WorkerPolicyArn)"

if [[ "${SKIP_WORKER:-0}" == "1" ]]; then
  echo "==> SKIP_WORKER=1: not deploying the Modal worker"
else
  if [[ -n "${WORKER_AWS_ACCESS_KEY_ID:-}" && -n "${WORKER_AWS_SECRET_ACCESS_KEY:-}" ]]; then
    echo "==> modal secret $modal_secret_name (worker credentials + resource names)"
    modal secret create --force "$modal_secret_name" \
      "AWS_ACCESS_KEY_ID=$WORKER_AWS_ACCESS_KEY_ID" \
      "AWS_SECRET_ACCESS_KEY=$WORKER_AWS_SECRET_ACCESS_KEY" \
      "AWS_DEFAULT_REGION=$region" \
      "ASSISTANTS_TABLE_NAME=$table_name" \
      "ASSISTANTS_BUCKET_NAME=$bucket_name" \
      "ASSISTANTS_RUN_QUEUE_URL=$run_queue_url" >/dev/null
  else
    echo "==> WORKER_AWS_ACCESS_KEY_ID/WORKER_AWS_SECRET_ACCESS_KEY not set: keeping the existing Modal secret" \
      "$modal_secret_name (its user needs $worker_policy_arn)"
  fi
  if [[ "${PREPARE_MODEL:-0}" == "1" ]]; then
    echo "==> converting the model into the Modal volume (once)"
    PYTHONPATH="functions:.${PYTHONPATH:+:$PYTHONPATH}" modal run gpu_worker/app.py::prepare_model
  fi
  echo "==> modal deploy gpu_worker/app.py"
  PYTHONPATH="functions:.${PYTHONPATH:+:$PYTHONPATH}" modal deploy gpu_worker/app.py
fi

cat <<SUMMARY

Deployed.
  base_url        : $api_url
  table / bucket  : $table_name / $bucket_name
  run queue       : $run_queue_url
  worker policy   : $worker_policy_arn  (attach to the worker's IAM user)
SUMMARY

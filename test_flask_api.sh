#!/usr/bin/env bash
# End-to-end check of a running REST API with curl: health -> model classes -> train -> list -> get ->
# predict -> metrics -> retrain (version 2) -> delete, checking status codes and bodies.
# Non-interactive; exits non-zero on the first failure.
#   API_URL=http://127.0.0.1:5000 API_TOKEN=... ./test_flask_api.sh
set -euo pipefail

API_URL="${API_URL:-http://127.0.0.1:5000}"
auth=()
if [ -n "${API_TOKEN:-}" ]; then
  auth=(-H "Authorization: Bearer ${API_TOKEN}")
fi
body=$(mktemp)
trap 'rm -f "$body"' EXIT

fail() { echo "FAILED: $*" >&2; [ -s "$body" ] && cat "$body" >&2; echo >&2; exit 1; }

# request METHOD PATH EXPECTED_STATUS [JSON]: the response body lands in $body
request() {
  local method=$1 path=$2 expected=$3 data=${4:-}
  local args=(-sS -o "$body" -w '%{http_code}' -X "$method" "${auth[@]}" "${API_URL}${path}")
  if [ -n "$data" ]; then
    args+=(-H 'Content-Type: application/json' --data "$data")
  fi
  local status
  status=$(curl "${args[@]}") || fail "$method $path: curl could not connect to ${API_URL}"
  [ "$status" = "$expected" ] || fail "$method $path: expected HTTP $expected, got $status"
}

# json EXPR: evaluate a Python expression over the last body, bound to `b`
json() { python3 -c "import json,sys; b=json.load(open(sys.argv[1])); print($1)" "$body"; }

X='[[5.1,3.5,1.4,0.2],[4.9,3.0,1.4,0.2],[4.7,3.2,1.3,0.2],[4.6,3.1,1.5,0.2],[5.0,3.6,1.4,0.2],
    [7.0,3.2,4.7,1.4],[6.4,3.2,4.5,1.5],[6.9,3.1,4.9,1.5],[5.5,2.3,4.0,1.3],[6.5,2.8,4.6,1.5],
    [6.3,3.3,6.0,2.5],[5.8,2.7,5.1,1.9],[7.1,3.0,5.9,2.1],[6.3,2.9,5.6,1.8],[6.5,3.0,5.8,2.2]]'
Y='[0,0,0,0,0,1,1,1,1,1,2,2,2,2,2]'

request GET /health 200
[ "$(json 'b["status"]')" = ok ] || fail "health status is not ok"
echo "1. GET /health: ok"

request GET /model-classes 200
[ "$(json '"random_forest" in b and "logistic_regression" in b')" = True ] || fail "model classes missing"
echo "2. GET /model-classes: $(json '", ".join(sorted(b))')"

request POST /models/train 201 "{\"model_type\":\"random_forest\",\"params\":{\"n_estimators\":\"20\"},\"X\":$X,\"y\":$Y}"
model_id=$(json 'b["model_id"]')
[ "$(json 'b["version"]')" = 1 ] || fail "trained model is not version 1"
echo "3. POST /models/train: id=$model_id accuracy=$(json 'b["metrics"]["accuracy"]')"
cleanup() { curl -s -o /dev/null -X DELETE "${auth[@]}" "${API_URL}/models/${model_id}" || true; rm -f "$body"; }
trap cleanup EXIT

request GET /models 200
[ "$(json "any(m['id'] == '$model_id' for m in b)")" = True ] || fail "trained model not listed"
echo "4. GET /models: $(json 'len(b)') model(s)"

request GET "/models/$model_id" 200
[ "$(json 'b["model_type"]')" = random_forest ] || fail "wrong model_type"
echo "5. GET /models/$model_id: version $(json 'b["version"]')"

request POST "/models/$model_id/predict" 200 '{"X":[[5.1,3.5,1.4,0.2],[6.3,3.3,6.0,2.5]]}'
[ "$(json 'b["predictions"]')" = "[0, 2]" ] || fail "unexpected predictions $(json 'b["predictions"]')"
echo "6. POST /models/$model_id/predict: $(json 'b["predictions"]')"

request GET "/metrics/$model_id" 200
echo "7. GET /metrics/$model_id: $(json 'b["metrics"]')"

request POST "/models/$model_id/retrain" 200 "{\"X\":$X,\"y\":$Y,\"params\":{\"n_estimators\":30}}"
[ "$(json 'b["version"]')" = 2 ] || fail "retrain did not create version 2"
request GET "/models/$model_id" 200
[ "$(json '[v["version"] for v in b["versions"]]')" = "[2, 1]" ] || fail "versions are not [2, 1]"
echo "8. POST /models/$model_id/retrain: version 2 (versions in MLflow: 2, 1)"

request POST "/models/$model_id/predict" 400 '{"X":[[1,2]]}'
request POST /models/train 400 '{"model_type":"no_such_model","X":[[1]],"y":[1]}'
request GET /models/no-such-model 404
echo "9. bad input: 400/404 with messages"

request DELETE "/models/$model_id" 204
request GET "/models/$model_id" 404
trap 'rm -f "$body"' EXIT
echo "10. DELETE /models/$model_id: gone"
echo "OK: all REST steps passed"

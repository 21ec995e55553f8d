package main

import (
	"net/http"
	"strings"
	"testing"
)

var threeWay = map[string]any{
	"status": "enabled", "description": "A/B test for pricing page layout",
	"variants": []any{map[string]any{"name": "control", "weight": 50}, map[string]any{"name": "variant_a", "weight": 25}, map[string]any{"name": "variant_b", "weight": 25}},
	"metadata": map[string]any{"owner": "growth", "tags": []any{"x"}},
}

func TestAdminRoutes(t *testing.T) {
	in := start(t, newEnv(t), nil)

	got := in.expect(t, 200, "PUT", "/v1/flags/pricing_page_experiment", threeWay)
	if got["key"] != "pricing_page_experiment" || got["version"].(float64) != 1 {
		t.Errorf("PUT answered %v", got)
	}
	got = in.expect(t, 200, "PUT", "/v1/flags/pricing_page_experiment", threeWay)
	if got["version"].(float64) != 2 {
		t.Errorf("second PUT version = %v, want 2", got["version"])
	}
	got = in.expect(t, 200, "GET", "/v1/flags/pricing_page_experiment", nil)
	if vs := got["variants"].([]any); len(vs) != 3 || vs[0].(map[string]any)["name"] != "control" {
		t.Errorf("GET variants = %v", got["variants"])
	}
	list := in.expect(t, 200, "GET", "/v1/flags", nil)
	if fl := list["flags"].([]any); len(fl) != 1 {
		t.Errorf("GET /v1/flags = %v", list)
	}

	// Optimistic concurrency with If-Match.
	in.expect(t, 409, "PUT", "/v1/flags/pricing_page_experiment", threeWay, "If-Match", `"1"`)
	in.expect(t, 200, "PUT", "/v1/flags/pricing_page_experiment", threeWay, "If-Match", `"2"`)
	in.expect(t, 400, "PUT", "/v1/flags/pricing_page_experiment", threeWay, "If-Match", `"two"`)

	// Clear 400s naming the field.
	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{"status": "enabled", "percentage": 101}, "percentage"},
		{map[string]any{"status": "enabled", "variants": map[string]any{"a": 60, "b": 30}}, "variants"},
		{map[string]any{"status": "enabled", "rules": []any{map[string]any{"attribute": "plan", "operator": "like", "value": "x"}}}, "rules[0].operator"},
		{map[string]any{"status": "sometimes"}, "status"},
		{map[string]any{"status": "enabled", "variant_hash": "peppered"}, "variant_hash"},
		{map[string]any{"status": "enabled", "percentage": "5"}, "percentage"},
		{map[string]any{"status": "enabled", "colour": "red"}, "colour"},
		{map[string]any{"key": "other", "status": "enabled"}, "key"},
		{`{"status": "enabled",`, "malformed JSON"},
		{``, "empty body"},
		{`{"status":"enabled"} {}`, "trailing"},
	} {
		r := in.do(t, "PUT", "/v1/flags/pricing_page_experiment", tc.body)
		if r.Status != 400 || !strings.Contains(string(r.Body), tc.want) {
			t.Errorf("PUT %v = %d %s, want 400 naming %q", tc.body, r.Status, r.Body, tc.want)
		}
	}
	if r := in.do(t, "PUT", "/v1/flags/bad:key", map[string]any{"status": "enabled"}); r.Status != 400 || !strings.Contains(string(r.Body), "key") {
		t.Errorf("PUT with a colon in the key = %d %s", r.Status, r.Body)
	}
	big := `{"status":"enabled","description":"` + strings.Repeat("x", 2<<20) + `"}`
	if r := in.do(t, "PUT", "/v1/flags/big", big); r.Status != 413 {
		t.Errorf("2 MiB body = %d %s, want 413", r.Status, r.Body)
	}

	in.expect(t, 404, "GET", "/v1/flags/nope", nil)
	in.expect(t, 204, "DELETE", "/v1/flags/pricing_page_experiment", nil)
	in.expect(t, 404, "DELETE", "/v1/flags/pricing_page_experiment", nil)
	in.expect(t, 404, "GET", "/v1/flags/pricing_page_experiment", nil)
}

func TestRolloutRoutes(t *testing.T) {
	in := start(t, newEnv(t), nil)
	in.expect(t, 200, "PUT", "/v1/flags/new_payment_system", map[string]any{"status": "disabled"})
	in.expect(t, 404, "POST", "/v1/flags/new_payment_system/rollout/advance", nil) // no plan yet
	stages := map[string]any{"stages": []any{
		map[string]any{"percentage": 0, "groups": []any{"internal"}},
		map[string]any{"percentage": 5, "groups": []any{"internal"}},
		map[string]any{"percentage": 100, "groups": []any{}},
	}}
	got := in.expect(t, 200, "PUT", "/v1/flags/new_payment_system/rollout", stages)
	if f := got["flag"].(map[string]any); f["status"] != "percentage" || f["percentage"].(float64) != 0 {
		t.Errorf("after PUT rollout the flag is %v", f)
	}
	got = in.expect(t, 200, "POST", "/v1/flags/new_payment_system/rollout/advance", nil)
	if got["rollout"].(map[string]any)["current_stage"].(float64) != 1 || got["flag"].(map[string]any)["percentage"].(float64) != 5 {
		t.Errorf("advance = %v", got)
	}
	in.expect(t, 200, "POST", "/v1/flags/new_payment_system/rollout/advance", nil)
	in.expect(t, 409, "POST", "/v1/flags/new_payment_system/rollout/advance", nil) // at the last stage
	in.expect(t, 200, "POST", "/v1/flags/new_payment_system/rollout/rollback", nil)
	in.expect(t, 200, "POST", "/v1/flags/new_payment_system/rollout/rollback", nil)
	got = in.expect(t, 200, "POST", "/v1/flags/new_payment_system/rollout/rollback", nil)
	if got["flag"].(map[string]any)["status"] != "disabled" {
		t.Errorf("rollback from stage 0 = %v, want the flag disabled", got)
	}
	in.expect(t, 200, "GET", "/v1/flags/new_payment_system/rollout", nil)

	// An A/B flag put on a plan keeps its users' variants: the plan records
	// variant_hash "plain", and a later PUT that does not name it keeps it.
	ab := map[string]any{"status": "enabled", "variants": map[string]any{"control": 50, "treatment": 50}}
	in.expect(t, 200, "PUT", "/v1/flags/ab", ab)
	if f := in.expect(t, 200, "GET", "/v1/flags/ab", nil); f["variant_hash"] != nil {
		t.Errorf("a flag never on a plan shows variant_hash %v, want none", f["variant_hash"])
	}
	got = in.expect(t, 200, "PUT", "/v1/flags/ab/rollout", map[string]any{"stages": []any{map[string]any{"percentage": 10}}})
	if f := got["flag"].(map[string]any); f["variant_hash"] != "plain" || f["status"] != "percentage" {
		t.Errorf("A/B flag put on a plan = %v, want status percentage with variant_hash plain", f)
	}
	if f := in.expect(t, 200, "PUT", "/v1/flags/ab", ab); f["variant_hash"] != "plain" {
		t.Errorf("PUT without variant_hash answered %v, want the stored plain kept", f["variant_hash"])
	}
	if f := in.expect(t, 200, "GET", "/v1/flags/ab", nil); f["variant_hash"] != "plain" {
		t.Errorf("GET after a PUT without variant_hash = %v, want plain kept", f["variant_hash"])
	}

	in.expect(t, 400, "PUT", "/v1/flags/new_payment_system/rollout", map[string]any{"stages": []any{}})
	in.expect(t, 400, "PUT", "/v1/flags/new_payment_system/rollout", map[string]any{"stages": []any{map[string]any{"percentage": -1}}})
	in.expect(t, 404, "PUT", "/v1/flags/ghost/rollout", stages)
}

// The seed's Express admin routes with the seed's Python- and Node-shaped bodies.
func TestSeedAdminRoutes(t *testing.T) {
	in := start(t, newEnv(t), nil)
	python := map[string]any{"name": "dark_mode", "status": "percentage", "description": "Dark mode UI", "percentage": 25,
		"allowed_users": []any{}, "allowed_groups": []any{}, "variants": map[string]any{}, "metadata": map[string]any{}}
	node := map[string]any{"name": "beta_features", "status": "targeted", "description": "",
		"allowedUsers": []any{"user_123"}, "allowedGroups": []any{"beta_testers"}, "variants": map[string]any{}, "metadata": map[string]any{}}
	for _, body := range []map[string]any{python, node} {
		if got := in.expect(t, 200, "POST", "/api/admin/flags", body); got["success"] != true {
			t.Errorf("POST /api/admin/flags = %v", got)
		}
	}
	got := in.expect(t, 200, "GET", "/api/admin/flags", nil)
	names, _ := got["flags"].([]any)
	if len(names) != 2 || names[0] != "beta_features" || names[1] != "dark_mode" {
		t.Errorf("GET /api/admin/flags = %v", got)
	}
	in.waitServed(t, "beta_features", 1)
	r := in.expect(t, 200, "POST", "/v1/evaluate", map[string]any{"flag": "beta_features", "context": map[string]any{"user_id": "user_123"}})
	if r["enabled"] != true {
		t.Errorf("beta_features for user_123 = %v", r)
	}
	in.expect(t, 400, "POST", "/api/admin/flags", map[string]any{"name": "x", "status": "enabled", "percentage": 500})
	if got := in.expect(t, 200, "DELETE", "/api/admin/flags/dark_mode", nil); got["success"] != true {
		t.Errorf("DELETE = %v", got)
	}
	in.expect(t, 404, "DELETE", "/api/admin/flags/dark_mode", nil)
}

func TestNativeEvaluate(t *testing.T) {
	in := start(t, newEnv(t), nil)
	in.expect(t, 200, "PUT", "/v1/flags/pricing_page_experiment", threeWay)
	in.expect(t, 200, "PUT", "/v1/flags/premium", map[string]any{"status": "enabled",
		"rules": []any{map[string]any{"attribute": "plan", "operator": "in", "value": []any{"pro"}}}})
	in.waitServed(t, "premium", 1)
	in.waitServed(t, "pricing_page_experiment", 1)

	got := in.expect(t, 200, "POST", "/v1/evaluate", map[string]any{"flag": "pricing_page_experiment", "context": map[string]any{"user_id": "user_789"}})
	if got["enabled"] != true || got["variant"] != "control" || got["reason"] != "SPLIT" || got["version"].(float64) != 1 {
		t.Errorf("evaluate = %v, want control by bucket 48.1", got)
	}
	got = in.expect(t, 200, "POST", "/v1/evaluate", map[string]any{"flag": "premium", "context": map[string]any{"user_id": "u", "plan": "free"}})
	if got["enabled"] != false || got["reason"] != "DEFAULT" || got["variant"] != nil {
		t.Errorf("premium for plan free = %v", got)
	}
	in.expect(t, 404, "POST", "/v1/evaluate", map[string]any{"flag": "ghost", "context": map[string]any{}})
	in.expect(t, 400, "POST", "/v1/evaluate", map[string]any{"context": map[string]any{}})
	in.expect(t, 400, "POST", "/v1/evaluate", map[string]any{"flag": "premium", "context": map[string]any{"user_id": 42}})
	in.expect(t, 400, "POST", "/v1/evaluate", map[string]any{"flag": "premium", "context": map[string]any{"groups": "staff"}})
	in.expect(t, 400, "POST", "/v1/evaluate", map[string]any{"flag": "premium", "context": []any{}})
	in.expect(t, 400, "POST", "/v1/evaluate", `not json`)
	in.expect(t, 413, "POST", "/v1/evaluate", `{"flag":"premium","context":{"x":"`+strings.Repeat("y", 70<<10)+`"}}`)

	all := in.expect(t, 200, "POST", "/v1/evaluate/all", map[string]any{"context": map[string]any{"user_id": "user_789", "plan": "pro"}})
	list := all["flags"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["flag"] != "premium" || list[0].(map[string]any)["enabled"] != true ||
		list[1].(map[string]any)["variant"] != "control" {
		t.Errorf("evaluate/all = %v", all)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	in := start(t, newEnv(t), nil)
	in.expect(t, 200, "GET", "/healthz", nil)
	ready := in.expect(t, 200, "GET", "/readyz", nil)
	checks := ready["checks"].(map[string]any)
	for _, c := range []string{"redis", "nats", "flags"} {
		if checks[c] != "ok" {
			t.Errorf("readyz check %s = %v", c, checks[c])
		}
	}
	in.expect(t, 200, "PUT", "/v1/flags/m", map[string]any{"status": "enabled"})
	in.waitServed(t, "m", 1)
	r := in.do(t, "GET", "/metrics", nil)
	for _, want := range []string{
		`flagstream_flagd_evaluations_total{flag="m",reason="STATIC"}`,
		"flagstream_flagd_evaluation_seconds_bucket",
		"flagstream_flagd_exposures_published_total",
		"flagstream_flagd_exposures_dropped_total",
		"flagstream_flagd_exposures_buffered",
		"flagstream_flagd_snapshot_age_seconds",
	} {
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The instance that took an admin write serves it from the next request on:
// no waiting for the change notice.
func TestReadYourWrites(t *testing.T) {
	in := start(t, newEnv(t), nil)
	for v := 1; v <= 20; v++ {
		status := "enabled"
		if v%2 == 0 {
			status = "disabled"
		}
		in.expect(t, 200, "PUT", "/v1/flags/toggled", map[string]any{"status": status})
		r := in.do(t, "POST", "/v1/evaluate", map[string]any{"flag": "toggled", "context": map[string]any{"user_id": "u"}})
		got := r.JSON(t)
		if r.Status != 200 || got["version"].(float64) != float64(v) || got["enabled"] != (status == "enabled") {
			t.Fatalf("right after write %d (%s): %d %s", v, status, r.Status, r.Body)
		}
	}
	in.expect(t, 200, "PUT", "/v1/flags/toggled/rollout", map[string]any{"stages": []map[string]any{{"percentage": 0}, {"percentage": 100}}})
	in.expect(t, 200, "POST", "/v1/flags/toggled/rollout/advance", nil)
	r := in.do(t, "POST", "/v1/evaluate", map[string]any{"flag": "toggled", "context": map[string]any{"user_id": "u"}})
	if r.JSON(t)["enabled"] != true {
		t.Fatalf("right after advancing to 100%%: %s", r.Body)
	}
	if r := in.do(t, "DELETE", "/v1/flags/toggled", nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := in.do(t, "POST", "/v1/evaluate", map[string]any{"flag": "toggled", "context": map[string]any{"user_id": "u"}}); r.Status != 404 {
		t.Fatalf("right after delete: %d %s", r.Status, r.Body)
	}
}

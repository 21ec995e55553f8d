package main

import (
	"encoding/json"
	"testing"

	"github.com/flagstream/flagstream/pkg/flags"
)

// FuzzEvalContext decodes arbitrary request bodies the way both evaluation
// APIs do: never a panic, and an accepted context always carries a valid user id
// and string groups.
func FuzzEvalContext(f *testing.F) {
	f.Add(`{"context":{"targetingKey":"user_1","groups":["a"],"plan":"pro"}}`)
	f.Add(`{"context":{"targetingKey":7}}`)
	f.Add(`{"context":{"groups":[1,null]}}`)
	f.Add(`{"context":null}`)
	f.Add(`{"context":{"user_id":"u\u0000"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var req ofrepRequest
		if json.Unmarshal([]byte(body), &req) != nil {
			return
		}
		for _, userKey := range []string{"targetingKey", "user_id"} {
			ec, err := evalContext(req.Context, userKey)
			if err != nil {
				continue
			}
			if ec.UserID != "" && flags.CheckUserID(ec.UserID) != nil {
				t.Fatalf("accepted invalid user id %q", ec.UserID)
			}
			f := (&flags.Flag{Key: "f", Status: flags.StatusPercentage, Percentage: 50,
				Rules:    []flags.Rule{{Attribute: "plan", Operator: "eq", Value: "pro"}},
				Variants: flags.Variants{{Name: "a", Weight: 50}, {Name: "b", Weight: 50}}}).Prepare()
			r := flags.Evaluate(f, ec)
			b := appendSuccess(nil, f, r)
			var back map[string]any
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("response %s is not JSON: %v", b, err)
			}
		}
	})
}

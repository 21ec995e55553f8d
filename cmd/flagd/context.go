package main

import (
	"errors"
	"fmt"

	"github.com/flagstream/flagstream/pkg/flags"
)

var errInvalidContext = errors.New("invalid context")

// evalContext turns a decoded JSON context into the engine's. userKey names
// the user id attribute: "targetingKey" for OFREP, "user_id" natively. The
// user id must be a string (a number would bucket differently in every SDK);
// "groups" must be a list of strings. Everything else stays an attribute for
// the rules.
func evalContext(raw map[string]any, userKey string) (flags.EvalContext, error) {
	var ec flags.EvalContext
	if v, ok := raw[userKey]; ok && v != nil {
		s, isStr := v.(string)
		if !isStr {
			return ec, fmt.Errorf("%w: %s must be a string", errInvalidContext, userKey)
		}
		if s != "" {
			if err := flags.CheckUserID(s); err != nil {
				return ec, fmt.Errorf("%w: %s %v", errInvalidContext, userKey, err)
			}
		}
		ec.UserID = s
	}
	if v, ok := raw["groups"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList {
			return ec, fmt.Errorf("%w: groups must be a list of strings", errInvalidContext)
		}
		ec.Groups = make([]string, len(list))
		for i, g := range list {
			s, isStr := g.(string)
			if !isStr {
				return ec, fmt.Errorf("%w: groups[%d] must be a string", errInvalidContext, i)
			}
			ec.Groups[i] = s
		}
	}
	if len(raw) > 0 {
		ec.Attributes = raw // the rule attributes user_id and groups resolve to the fields above first
	}
	return ec, nil
}

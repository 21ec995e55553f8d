package chconn

import (
	"strings"
	"testing"
)

// A malformed DSN is refused without showing its password.
func TestOpenHidesSecrets(t *testing.T) {
	_, err := Open("clickhouse://u:s3cret@h:bad/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open of a malformed DSN = %v; want an error without the password", err)
	}
}

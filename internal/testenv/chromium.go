package testenv

import (
	"os/exec"
	"testing"
)

// ChromiumVar names the Chromium binary for browser tests (the dashboard's);
// `scripts/chromium.sh` installs the Debian package if needed and prints it.
const ChromiumVar = "FLAGSTREAM_TEST_CHROMIUM"

// Chromium returns the path of the Chromium binary browser tests drive. Like
// the services, it skips the test when the variable is unset outside `make
// test` and fails it when unset inside (FLAGSTREAM_TEST_NOSKIP). A variable
// naming no executable fails the test: that is a broken setup, not an absent
// one.
func Chromium(t testing.TB) string {
	t.Helper()
	name := Lookup(t, ChromiumVar)
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s=%s: %v (scripts/chromium.sh installs and prints it)", ChromiumVar, name, err)
	}
	return path
}

package connect

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A malformed URL is refused with an error that names what is wrong but not
// the credentials (net/url's errors quote the whole URL).
func TestURLErrorsHideSecrets(t *testing.T) {
	for name, open := range map[string]func() error{
		"redis": func() error { _, err := Redis("redis://:s3cret@h:bad/0"); return err },
		"redis cluster": func() error {
			_, err := Redis("redis://:s3cret@a:1/0,redis://u:s3cret@b:bad/0")
			return err
		},
		"redis sentinel": func() error {
			_, err := Redis("redis://:s3cret@s:bad/0?master_name=m&password=s3cret")
			return err
		},
		"nats": func() error { _, err := NATS("nats://s3cret@h:bad", "test"); return err },
	} {
		err := open()
		if err == nil {
			t.Errorf("%s: a malformed URL was accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v: the error shows the password", name, err)
		}
	}
}

// Retry redacts the address it logs even when the caller did not.
func TestRetryRedacts(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	fails := 1
	err := Retry(context.Background(), log, "nats", "nats://s3cretTOKEN@h:4222,nats://u:s3cret@h2:4222", func(context.Context) error {
		if fails > 0 {
			fails--
			return errors.New("refused")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "dependency unreachable") || !strings.Contains(out, "dependency reachable") {
		t.Fatalf("log lacks the attempts:\n%s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the log shows a credential:\n%s", out)
	}
}

package config

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseDefaults(t *testing.T) {
	c, err := Parse("ingest", nil, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{RedisURL: "redis://127.0.0.1:6379/0", NATSURL: "nats://127.0.0.1:4222",
		ClickHouseDSN: "clickhouse://127.0.0.1:9000/default", HTTPAddr: "127.0.0.1:8081", LogLevel: zerolog.InfoLevel}
	if c != want {
		t.Errorf("Parse() = %+v, want %+v", c, want)
	}
}

// Each setting works as a flag and as its environment variable; a flag wins.
func TestParseFlagsAndEnv(t *testing.T) {
	cases := []struct {
		flag, value string
		get         func(Config) string
	}{
		{"redis-url", "redis://10.0.0.1:6380/2", func(c Config) string { return c.RedisURL }},
		{"nats-url", "nats://a:4222,nats://b:4222", func(c Config) string { return c.NATSURL }},
		{"clickhouse-dsn", "clickhouse://ch:9000/analytics", func(c Config) string { return c.ClickHouseDSN }},
		{"http-addr", "0.0.0.0:9999", func(c Config) string { return c.HTTPAddr }},
		{"tokens-file", "/etc/flagstream/tokens", func(c Config) string { return c.TokensFile }},
		{"log-level", "debug", func(c Config) string { return c.LogLevel.String() }},
	}
	for _, tc := range cases {
		t.Run(tc.flag, func(t *testing.T) {
			c, err := Parse("flagd", []string{"--" + tc.flag, tc.value}, env(nil), nil)
			if err != nil || tc.get(c) != tc.value {
				t.Errorf("as flag: got %q, %v; want %q", tc.get(c), err, tc.value)
			}
			c, err = Parse("flagd", nil, env(map[string]string{EnvName(tc.flag): tc.value}), nil)
			if err != nil || tc.get(c) != tc.value {
				t.Errorf("as %s: got %q, %v; want %q", EnvName(tc.flag), tc.get(c), err, tc.value)
			}
		})
	}
	c, err := Parse("flagd", []string{"--http-addr", "127.0.0.1:1"}, env(map[string]string{"FLAGSTREAM_HTTP_ADDR": "127.0.0.1:2"}), nil)
	if err != nil || c.HTTPAddr != "127.0.0.1:1" {
		t.Errorf("flag should win over env: %q, %v", c.HTTPAddr, err)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("redis-url"); got != "FLAGSTREAM_REDIS_URL" {
		t.Errorf("EnvName = %q", got)
	}
}

func TestParseErrorsNameTheSetting(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--redis-url", "http://x"}, nil, "redis-url"},
		{nil, map[string]string{"FLAGSTREAM_NATS_URL": "nats://"}, "nats-url"},
		{[]string{"--http-addr", "8080"}, nil, "http-addr"},
		{nil, map[string]string{"FLAGSTREAM_LOG_LEVEL": "loud"}, "FLAGSTREAM_LOG_LEVEL"},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"extra"}, nil, "unexpected argument"},
	}
	for _, tc := range cases {
		_, err := Parse("flagd", tc.args, env(tc.env), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%v, %v) error = %v, want it to name %q", tc.args, tc.env, err, tc.want)
		}
	}
}

// A password in a URL never appears in an error message.
func TestParseErrorsHidePasswords(t *testing.T) {
	_, err := Parse("flagd", []string{"--redis-url", "redis://user:s3cret@/0"}, env(nil), nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v leaks the password or is missing", err)
	}
	if got := Redact("redis://u:s3cret@h:1/0,redis://h2:2"); strings.Contains(got, "s3cret") {
		t.Errorf("Redact = %q", got)
	}
}

// -h and --help answer with the usage, which lists every flag (the shared
// ones and the command's own) with its environment variable and default.
func TestParseHelp(t *testing.T) {
	extra := func(fs *flag.FlagSet) {
		fs.Int("batch", 500, "events per batch")
		fs.Bool("exposures", true, "publish exposures")
	}
	for _, arg := range []string{"-h", "--help", "-help"} {
		_, err := Parse("ingest", []string{arg}, env(nil), extra)
		if !errors.Is(err, ErrHelp) || !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Parse(%s) error = %v, want ErrHelp", arg, err)
		}
	}
	// Help wins over a bad environment and over other flags.
	_, err := Parse("ingest", []string{"--batch", "2", "-h"}, env(map[string]string{"FLAGSTREAM_LOG_LEVEL": "loud"}), extra)
	var b strings.Builder
	if !PrintHelp(&b, err) {
		t.Fatalf("PrintHelp did not recognise %v", err)
	}
	out := b.String()
	for _, want := range []string{
		"usage: ingest",
		"--redis-url string", "env FLAGSTREAM_REDIS_URL, default redis://127.0.0.1:6379/0",
		"env FLAGSTREAM_NATS_URL, default nats://127.0.0.1:4222",
		"env FLAGSTREAM_CLICKHOUSE_DSN, default clickhouse://127.0.0.1:9000/default",
		"env FLAGSTREAM_HTTP_ADDR, default 127.0.0.1:8081",
		`env FLAGSTREAM_TOKENS_FILE, default ""`,
		"env FLAGSTREAM_LOG_LEVEL, default info",
		"env FLAGSTREAM_REDIS_PREFIX", "env FLAGSTREAM_NATS_NAMESPACE", "env FLAGSTREAM_STREAM_MAX_BYTES, default 0",
		"--batch int", "events per batch", "env FLAGSTREAM_BATCH, default 500",
		"--exposures[=true|false]", "env FLAGSTREAM_EXPOSURES, default true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
	// Every flag is listed, each with its environment variable.
	n := strings.Count(out, "\tenv FLAGSTREAM_")
	if want := 9 + 2; n != want {
		t.Errorf("usage lists %d flags, want %d:\n%s", n, want, out)
	}
	if PrintHelp(&b, errors.New("other")) || PrintHelp(&b, nil) {
		t.Error("PrintHelp claims an error that is not a help request")
	}
}

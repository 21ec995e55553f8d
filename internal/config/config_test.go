package config

import (
	"errors"
	"flag"
	"fmt"
	"slices"
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
			c, err := Parse("ingest", []string{"--" + tc.flag, tc.value}, env(nil), nil)
			if err != nil || tc.get(c) != tc.value {
				t.Errorf("as flag: got %q, %v; want %q", tc.get(c), err, tc.value)
			}
			c, err = Parse("ingest", nil, env(map[string]string{EnvName(tc.flag): tc.value}), nil)
			if err != nil || tc.get(c) != tc.value {
				t.Errorf("as %s: got %q, %v; want %q", EnvName(tc.flag), tc.get(c), err, tc.value)
			}
		})
	}
	c, err := Parse("flagd", []string{"--http-addr", "127.0.0.1:1"}, env(map[string]string{"FLAGSTREAM_HTTP_ADDR": "127.0.0.1:2"}), nil)
	if err != nil || c.HTTPAddr != "127.0.0.1:1" {
		t.Errorf("flag should win over env: %q, %v", c.HTTPAddr, err)
	}
	// flagd reads no ClickHouse: no flag for it, and the variable is ignored.
	if _, err := Parse("flagd", []string{"--clickhouse-dsn", "clickhouse://ch:9000/x"}, env(nil), nil); err == nil {
		t.Error("flagd took --clickhouse-dsn")
	}
	if c, err := Parse("flagd", nil, env(map[string]string{"FLAGSTREAM_CLICKHOUSE_DSN": "nonsense"}), nil); err != nil || c.ClickHouseDSN != "" {
		t.Errorf("flagd with FLAGSTREAM_CLICKHOUSE_DSN set: %q, %v", c.ClickHouseDSN, err)
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
		"env FLAGSTREAM_REDIS_PREFIX", "env FLAGSTREAM_NATS_NAMESPACE", "env FLAGSTREAM_STREAM_MAX_MESSAGES, default 0",
		"--batch int", "events per batch", "env FLAGSTREAM_BATCH, default 500",
		"--exposures[=true|false]", "env FLAGSTREAM_EXPOSURES, default true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
	// Every flag is listed, each with its environment variable.
	n := strings.Count(out, "\tenv FLAGSTREAM_")
	if want := 10 + 2; n != want {
		t.Errorf("usage lists %d flags, want %d:\n%s", n, want, out)
	}
	if PrintHelp(&b, errors.New("other")) || PrintHelp(&b, nil) {
		t.Error("PrintHelp claims an error that is not a help request")
	}
}

// A stray positional argument is refused whether or not the command has
// flags of its own ("flagd typo" used to start flagd); ParseArgs hands them
// to a command that takes some.
func TestParseRejectsStrayArguments(t *testing.T) {
	extra := func(fs *flag.FlagSet) { fs.Int("batch", 500, "events per batch") }
	for _, args := range [][]string{{"typo"}, {"--batch", "2", "typo"}, {"--log-level", "debug", "serve"}} {
		for name, ex := range map[string]func(*flag.FlagSet){"without extra": nil, "with extra": extra} {
			if args[0] == "--batch" && ex == nil {
				continue
			}
			_, err := Parse("flagd", args, env(nil), ex)
			if err == nil || !strings.Contains(err.Error(), "unexpected argument") || !strings.Contains(err.Error(), fmt.Sprintf("%q", args[len(args)-1])) {
				t.Errorf("%s: Parse(%q) = %v, want an error naming the stray argument", name, args, err)
			}
		}
	}
	c, rest, err := ParseArgs("aggregate report", []string{"--log-level", "debug", "exp", "more"}, env(nil), extra)
	if err != nil || !slices.Equal(rest, []string{"exp", "more"}) || c.LogLevel != zerolog.DebugLevel {
		t.Errorf("ParseArgs = %v, %q, %v; want the operands back", c.LogLevel, rest, err)
	}
}

// Redact hides every credential form that reaches a log line or an error.
func TestRedact(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:s3cret@h:6379/0", "redis://xxxxx@h:6379/0"},
		{"redis://user:s3cret@h:6379/0", "redis://xxxxx@h:6379/0"},
		{"rediss://user:s3cret@h:6380/1", "rediss://xxxxx@h:6380/1"},
		{"nats://s3cretTOKEN@nats:4222", "nats://xxxxx@nats:4222"},
		{"nats://user:s3cret@nats:4222", "nats://xxxxx@nats:4222"},
		{"nats://a:4222, nats://s3cretTOKEN@b:4222,nats://u:s3cret@c:4222", "nats://a:4222, nats://xxxxx@b:4222,nats://xxxxx@c:4222"},
		{"redis://u:s3cret@a:1/0,redis://u:s3cret@b:2/0", "redis://xxxxx@a:1/0,redis://xxxxx@b:2/0"},
		{"user:s3cret@nats:4222", "xxxxx@nats:4222"},                       // NATS without a scheme
		{"s3cretTOKEN@nats:4222,nats2:4222", "xxxxx@nats:4222,nats2:4222"}, // ... in a list
		{"clickhouse://fs:s3cret@ch:9000/default", "clickhouse://xxxxx@ch:9000/default"},
		{"clickhouse://ch:9000/default?username=fs&password=s3cret&dial_timeout=1s", "clickhouse://ch:9000/default?username=fs&password=xxxxx&dial_timeout=1s"},
		{"tcp://ch:9000?secret=s3cret", "tcp://ch:9000?secret=xxxxx"},
		{"clickhouse://fs:s3cret@ch1:9000,ch2:9000/db?Password=s3cret", "clickhouse://xxxxx@ch1:9000,ch2:9000/db?Password=xxxxx"},
		{"redis://sentinel:26379/0?master_name=m&password=s3cret&addr=s2:26379", "redis://sentinel:26379/0?master_name=m&password=xxxxx&addr=s2:26379"},
		{"redis://:p@ss/w#rd@h:6379/0", "redis://xxxxx@h:6379/0"}, // reserved characters, unescaped
		{"redis://:s3%2Fcret@h:6379", "redis://xxxxx@h:6379"},
		{"redis://h:1?token=s3cret,redis://h2:2?access_key=s3cret#f", "redis://h:1?token=xxxxx,redis://h2:2?access_key=xxxxx#f"},
		{"nats://s3cret@", "nats://xxxxx@"},
		{"", ""},
	}
	for _, tc := range cases {
		got := Redact(tc.in)
		if got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cret") || strings.Contains(got, "s3%2Fcret") || strings.Contains(got, "rd@") {
			t.Errorf("Redact(%q) = %q leaks a credential", tc.in, got)
		}
	}
}

// A service facing the network refuses the compose file's demo passwords in
// any of its URLs, by setting; on loopback they stay allowed.
func TestCheckExampleCredentials(t *testing.T) {
	base := map[string]string{"FLAGSTREAM_HTTP_ADDR": "0.0.0.0:8081"}
	cases := []struct {
		env  map[string]string
		want string // "" for accepted
	}{
		{nil, ""},
		{map[string]string{"FLAGSTREAM_REDIS_URL": "redis://:demo-redis-change-me@redis:6379/0"}, "redis-url"},
		{map[string]string{"FLAGSTREAM_REDIS_URL": "redis://default:demo-redis-change-me@redis:6379/0"}, "redis-url"},
		{map[string]string{"FLAGSTREAM_REDIS_URL": "redis://s:26379/0?master_name=m&password=demo-redis-change-me"}, "redis-url"},
		{map[string]string{"FLAGSTREAM_NATS_URL": "nats://flagstream:demo-nats-change-me@nats:4222"}, "nats-url"},
		{map[string]string{"FLAGSTREAM_NATS_URL": "nats://a:4222,nats://demo-nats-change-me@nats:4222"}, "nats-url"},
		{map[string]string{"FLAGSTREAM_CLICKHOUSE_DSN": "clickhouse://flagstream:demo-only-change-me@clickhouse:9000/default"}, "clickhouse-dsn"},
		{map[string]string{"FLAGSTREAM_CLICKHOUSE_DSN": "clickhouse://clickhouse:9000/default?password=demo%2Donly%2Dchange%2Dme"}, "clickhouse-dsn"},
		{map[string]string{"FLAGSTREAM_REDIS_URL": "redis://:a-real-password-1234@redis:6379/0",
			"FLAGSTREAM_NATS_URL":       "nats://flagstream:another-real-one-5678@nats:4222",
			"FLAGSTREAM_CLICKHOUSE_DSN": "clickhouse://flagstream:and-a-third-9012@clickhouse:9000/default"}, ""},
	}
	for _, tc := range cases {
		vars := map[string]string{}
		for k, v := range base {
			vars[k] = v
		}
		for k, v := range tc.env {
			vars[k] = v
		}
		c, err := Parse("ingest", nil, env(vars), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckExampleCredentials()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want accepted", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "example credential")):
			t.Errorf("%v: %v, want an error naming %s as an example credential", tc.env, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "change-me"):
			t.Errorf("the error echoes the credential: %v", err)
		}
		// The same settings on loopback are fine.
		c.HTTPAddr = "127.0.0.1:8081"
		if err := c.CheckExampleCredentials(); err != nil {
			t.Errorf("%v on loopback: %v", tc.env, err)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, ":1": false, "0.0.0.0:1": false, "10.1.2.3:1": false, "bad": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) = %v", addr, !want)
		}
	}
}

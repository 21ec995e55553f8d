// Package config parses the settings every flagstream command shares.
//
// Each setting is a command-line flag with an environment fallback whose name
// is derived from the flag by [EnvName], so the two cannot drift apart. An
// explicit flag wins over the environment, which wins over the default.
//
// -h or --help makes [Parse] return a [*HelpError] (errors.Is ErrHelp and
// flag.ErrHelp) that carries the usage: every flag with its environment
// variable and default. A command prints it with [PrintHelp] and exits 0.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/pkg/events"
)

// Config holds the settings shared by flagd, ingest and aggregate.
type Config struct {
	RedisURL      string
	NATSURL       string
	ClickHouseDSN string
	HTTPAddr      string
	TokensFile    string
	LogLevel      zerolog.Level
	// RedisPrefix puts every Redis key under a prefix (the seed's code knows
	// none; for several environments on one Redis, and for tests).
	RedisPrefix string
	// NATSNamespace prefixes stream and subject names (see events.NewNames).
	NATSNamespace string
	// StreamMaxMessages bounds each JetStream stream (0: the events package's
	// default); a full stream refuses new events.
	StreamMaxMessages int64
	// StreamDedupWindow is JetStream's Nats-Msg-Id window on both streams
	// (0: the events package's default). Exactness never rests on it; tests
	// shorten it so that a resend reaches the Redis and ClickHouse dedup.
	StreamDedupWindow time.Duration
}

// StreamLimits are the JetStream stream limits this configuration asks for.
func (c Config) StreamLimits() events.StreamLimits {
	l := events.DefaultStreamLimits()
	if c.StreamMaxMessages > 0 {
		l.MaxMessages = c.StreamMaxMessages
	}
	if c.StreamDedupWindow > 0 {
		l.Duplicates = c.StreamDedupWindow
	}
	return l
}

// DefaultHTTPAddr is each service's listen address when none is given. Loopback by
// default: a service without tokens must not be reachable from other hosts.
var DefaultHTTPAddr = map[string]string{
	"flagd":     "127.0.0.1:8080",
	"ingest":    "127.0.0.1:8081",
	"aggregate": "127.0.0.1:8082",
}

// Parse reads args (without the program name) and the environment through
// getenv. name is the command ("flagd", or "flagd healthcheck": its first word
// picks the default HTTP address). extra, if not nil, registers a command's own flags on the same set, so
// they get environment fallbacks too; it may be nil.
//
// Parse refuses positional arguments: a command that takes some (aggregate
// report <experiment>) uses [ParseArgs].
func Parse(name string, args []string, getenv func(string) string, extra func(*flag.FlagSet)) (Config, error) {
	c, _, err := parse(name, args, getenv, extra, false)
	return c, err
}

// ParseArgs is [Parse] for a command that takes positional arguments after
// its flags: it returns them for the command to check.
func ParseArgs(name string, args []string, getenv func(string) string, extra func(*flag.FlagSet)) (Config, []string, error) {
	return parse(name, args, getenv, extra, true)
}

func parse(name string, args []string, getenv func(string) string, extra func(*flag.FlagSet), operands bool) (Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := Config{LogLevel: zerolog.InfoLevel}
	fs.StringVar(&c.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL; several comma-separated for a cluster; redis://sentinel:26379/0?master_name=NAME[&addr=host:port...][&password=...] for Sentinel")
	fs.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS URL, comma-separated for a cluster")
	if usesClickHouse(name) { // flagd has no use for ClickHouse, nor a flag for it
		fs.StringVar(&c.ClickHouseDSN, "clickhouse-dsn", "clickhouse://127.0.0.1:9000/default", "ClickHouse DSN (native protocol)")
	}
	fs.StringVar(&c.HTTPAddr, "http-addr", DefaultHTTPAddr[strings.Fields(name + " ")[0]], "HTTP listen address")
	fs.StringVar(&c.TokensFile, "tokens-file", "", "file of 'scope token' lines; without it the service listens on loopback only")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "", "prefix for every Redis key (empty: the seed's exact layout)")
	fs.StringVar(&c.NATSNamespace, "nats-namespace", "", "prefix for NATS stream and subject names (empty: FLAGSTREAM_RAW, flagstream.raw.>, ...)")
	fs.Int64Var(&c.StreamMaxMessages, "stream-max-messages", 0, "messages each JetStream stream holds before it refuses new ones until its consumer catches up (0: 1,000,000; a batch message holds up to 500 events)")
	fs.DurationVar(&c.StreamDedupWindow, "stream-dedup-window", 0, "JetStream's message-id dedup window on both streams, at least 1s (0: 2m)")
	fs.Var(levelValue{&c.LogLevel}, "log-level", "log `level`: trace, debug, info, warn or error")
	if extra != nil {
		extra(fs)
	}

	envErr := SetFromEnv(fs, getenv, EnvName) // environment first, so an explicit flag wins
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) { // help wins, even over a bad environment
		return Config{}, nil, &HelpError{Usage: usage(fs)}
	}
	if envErr != nil {
		return Config{}, nil, envErr
	}
	if err != nil {
		return Config{}, nil, fmt.Errorf("%s: %w (run with -h for the flags)", name, err)
	}
	if fs.NArg() > 0 && !operands {
		// A stray word ("flagd typo", a flag after a misspelt one) must not
		// start a service with settings other than the ones meant.
		return Config{}, nil, fmt.Errorf("%s: unexpected argument %q: it takes flags only (run with -h for the flags)", name, fs.Arg(0))
	}
	return c, fs.Args(), c.validate()
}

// usesClickHouse: every command but flagd reads ClickHouse (aggregate, and
// ingest for rebuild-live).
func usesClickHouse(name string) bool { return strings.Fields(name + " ")[0] != "flagd" }

// ErrHelp is what -h or --help makes [Parse] return (inside a [*HelpError]);
// it wraps flag.ErrHelp. A command that gets it prints the usage and exits 0.
var ErrHelp = fmt.Errorf("help requested: %w", flag.ErrHelp)

// HelpError carries the usage text that -h asked for.
type HelpError struct {
	Usage string
}

func (e *HelpError) Error() string { return ErrHelp.Error() }
func (e *HelpError) Unwrap() error { return ErrHelp }

// PrintHelp writes the usage to w if err is (or wraps) a [*HelpError] and
// reports whether it was one; main then exits 0 instead of failing.
func PrintHelp(w io.Writer, err error) bool {
	var h *HelpError
	if !errors.As(err, &h) {
		return false
	}
	fmt.Fprint(w, h.Usage)
	return true
}

// usage lists every flag of fs with its environment variable and default.
func usage(fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s [flags]\n", fs.Name())
	b.WriteString("Every flag can be set through its environment variable instead; an explicit flag wins.\n\n")
	fs.VisitAll(func(f *flag.Flag) {
		typ, help := flag.UnquoteUsage(f)
		arg := " " + typ
		if typ == "" { // a boolean: --name or --name=false
			arg = "[=true|false]"
		}
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(&b, "  --%s%s\n\t%s\n\tenv %s, default %s\n", f.Name, arg, help, EnvName(f.Name), def)
	})
	return b.String()
}

// levelValue is a zerolog level as a flag value.
type levelValue struct{ l *zerolog.Level }

func (v levelValue) String() string {
	if v.l == nil {
		return ""
	}
	return v.l.String()
}

func (v levelValue) Set(s string) error {
	l, err := zerolog.ParseLevel(strings.ToLower(s))
	if err != nil || s == "" {
		return fmt.Errorf("unknown log level %q", s)
	}
	*v.l = l
	return nil
}

// SetFromEnv sets every flag of fs whose variable (envName of the flag's
// name) is set and not empty, and reports each value the flag refuses, by
// variable. Call it before fs.Parse, so that an explicit flag wins.
func SetFromEnv(fs *flag.FlagSet, getenv func(string) string, envName func(flagName string) string) error {
	var errs error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = errors.Join(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
		}
	})
	return errs
}

// EnvName maps a flag name to its environment variable: "redis-url" → "FLAGSTREAM_REDIS_URL".
func EnvName(flagName string) string {
	return "FLAGSTREAM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c Config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("http-addr %q: %w", c.HTTPAddr, err))
	}
	for _, u := range strings.Split(c.RedisURL, ",") {
		if err := checkURL("redis-url", strings.TrimSpace(u), "redis", "rediss"); err != nil {
			errs = append(errs, err)
		}
	}
	for _, u := range strings.Split(c.NATSURL, ",") {
		if err := checkURL("nats-url", strings.TrimSpace(u), "nats", "tls", "ws", "wss"); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ClickHouseDSN != "" {
		if err := checkURL("clickhouse-dsn", c.ClickHouseDSN, "clickhouse", "tcp"); err != nil {
			errs = append(errs, err)
		}
	}
	if c.StreamDedupWindow != 0 && c.StreamDedupWindow < time.Second {
		errs = append(errs, fmt.Errorf("stream-dedup-window %s: want 0 (the default) or at least 1s", c.StreamDedupWindow))
	}
	return errors.Join(errs...)
}

// checkURL reports a malformed URL without echoing it, since it may hold a password.
func checkURL(name, raw string, schemes ...string) error {
	if !strings.Contains(raw, "://") {
		// Without "://", url.Parse takes what precedes the first ':' for
		// the scheme: in "user:pass@host" that is the user name.
		return fmt.Errorf("%s: %s is not a URL of the form scheme://host (schemes %s)", name, Redact(raw), strings.Join(schemes, ", "))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %s is not a URL", name, Redact(raw))
	}
	for _, s := range schemes {
		if u.Scheme == s {
			if u.Host == "" {
				return fmt.Errorf("%s: no host in %s", name, Redact(raw))
			}
			return nil
		}
	}
	return fmt.Errorf("%s: scheme %q is not one of %s", name, u.Scheme, strings.Join(schemes, ", "))
}

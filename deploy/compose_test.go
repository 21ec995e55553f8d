package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"gopkg.in/yaml.v3"

	"github.com/flagstream/flagstream/internal/config"
	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/internal/testenv/servers"
	"github.com/flagstream/flagstream/pkg/events"
)

// Paths relative to this package's directory, where go test runs.
const (
	repoRoot    = ".."
	composeFile = "docker-compose.yml"
	dockerfile  = "Dockerfile"
	// imageBinDir is where the Dockerfile puts the binaries.
	imageBinDir = "/usr/local/bin/"
)

// needs lists, per command, the variables through which it reaches what it
// depends on (DESIGN.md's table). Unset, a service would try 127.0.0.1 in its
// own container: the compose file must set each of them.
var needs = map[string][]string{
	"flagd":     {"FLAGSTREAM_REDIS_URL", "FLAGSTREAM_NATS_URL"},
	"ingest":    {"FLAGSTREAM_REDIS_URL", "FLAGSTREAM_NATS_URL"},
	"aggregate": {"FLAGSTREAM_NATS_URL", "FLAGSTREAM_CLICKHOUSE_DSN"},
}

// dependencyVars are the shared settings that point at a dependency.
var dependencyVars = []string{"FLAGSTREAM_REDIS_URL", "FLAGSTREAM_NATS_URL", "FLAGSTREAM_CLICKHOUSE_DSN"}

// minGrace is the least stop_grace_period that lets a service drain on
// SIGTERM: HTTP (httpapi.ShutdownTimeout), and for flagd the exposure
// publisher's acks in flight and flush after that.
var minGrace = map[string]time.Duration{
	"flagd":     httpapi.ShutdownTimeout + events.DefaultAckWait + events.DefaultFlushTimeout,
	"ingest":    httpapi.ShutdownTimeout,
	"aggregate": httpapi.ShutdownTimeout,
}

// TestCompose checks every flagstream service of docker-compose.yml against
// the binary it runs, built here from ./cmd/...
//
// It checks the configuration as deployed, with the credential variables set
// (realVars): with the committed defaults the services refuse to start
// (TestComposeRefusesExamples).
func TestCompose(t *testing.T) {
	cf := loadCompose(t, realVars(t))
	bins := buildBinaries(t)

	var flagstream []string
	for _, name := range sortedKeys(cf.Services) {
		s := cf.Services[name]
		if s.Restart == "" || s.Restart == "no" {
			t.Errorf("service %s: no restart policy", name)
		}
		if s.Build == nil {
			for k := range s.Environment {
				if strings.HasPrefix(k, "FLAGSTREAM_") {
					t.Errorf("service %s sets %s but is not built from the Dockerfile", name, k)
				}
			}
			continue
		}
		flagstream = append(flagstream, name)
	}
	for _, want := range sortedKeys(needs) {
		if !slices.ContainsFunc(flagstream, func(name string) bool { return binaryOf(cf.Services[name]) == want }) {
			t.Errorf("no service runs %s", want)
		}
	}
	defaults := loadCompose(t, nil)
	for _, name := range flagstream {
		t.Run(name, func(t *testing.T) {
			checkService(t, cf, name, bins)
			checkRefusesExamples(t, defaults, name, bins)
		})
	}
}

// checkRefusesExamples runs a service with the compose file's committed
// defaults (example tokens, demo passwords) on a wildcard address, as its
// container does: it must exit at once, naming the example. With tokens of
// one's own but the demo passwords, it must still refuse, naming the URL.
func checkRefusesExamples(t *testing.T, cf composeFileT, name, bins string) {
	s := cf.Services[name]
	bin := binaryOf(s)
	var tokensSecret string
	for _, m := range s.Secrets {
		source, target := secretMount(m)
		if target == s.Environment["FLAGSTREAM_TOKENS_FILE"] {
			tokensSecret = hostPath(cf.Secrets[source].File)
		}
	}
	if tokensSecret == "" {
		t.Fatalf("no tokens secret mounted at FLAGSTREAM_TOKENS_FILE")
	}
	realTokens := realVars(t)["TOKENS_FILE"]
	for _, tc := range []struct {
		tokens string
		want   []string // one of them in the refusal
	}{
		{tokensSecret, []string{"example token"}},
		{realTokens, []string{"redis-url", "nats-url", "clickhouse-dsn"}},
	} {
		vars := []string{"FLAGSTREAM_HTTP_ADDR=0.0.0.0:" + strconv.Itoa(servers.FreePort(t)), "FLAGSTREAM_TOKENS_FILE=" + tc.tokens}
		for k, v := range s.Environment {
			if k != "FLAGSTREAM_HTTP_ADDR" && k != "FLAGSTREAM_TOKENS_FILE" {
				vars = append(vars, k+"="+v)
			}
		}
		_, stderr, code := runBinary(t, filepath.Join(bins, bin), s.Command[1:], vars)
		named := slices.ContainsFunc(tc.want, func(w string) bool { return strings.Contains(stderr, w) })
		if code != 1 || !named || !strings.Contains(stderr, "example") {
			t.Errorf("with the committed defaults and tokens %s: exit %d, stderr %q; want exit 1 refusing an example credential (%s)",
				tc.tokens, code, stderr, strings.Join(tc.want, " or "))
		}
	}
}

// TestComposeAuth: Redis and NATS require a password, every service's URL
// carries the one its server requires, and all of them come from the
// credential variables: with none set they are the committed demo values
// (which the services recognise as examples), with them set none is.
func TestComposeAuth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		example bool
	}{{"defaults", nil, true}, {"set", realVars(t), false}} {
		t.Run(tc.name, func(t *testing.T) {
			cf := loadCompose(t, tc.vars)
			passwords := map[string]string{} // what each server requires, by what it is
			for _, name := range sortedKeys(cf.Services) {
				s := cf.Services[name]
				if s.Build == nil {
					continue
				}
				for _, k := range []string{"FLAGSTREAM_REDIS_URL", "FLAGSTREAM_NATS_URL", "FLAGSTREAM_CLICKHOUSE_DSN"} {
					for _, raw := range strings.Split(s.Environment[k], ",") {
						if raw == "" {
							continue
						}
						u, err := url.Parse(strings.TrimSpace(raw))
						if err != nil {
							t.Errorf("%s %s: not a URL", name, k)
							continue
						}
						dep := cf.Services[u.Hostname()]
						pass, _ := u.User.Password()
						switch k {
						case "FLAGSTREAM_REDIS_URL":
							want := flagValue(dep.Command, "--requirepass")
							if want == "" {
								t.Errorf("service %s: redis-server without --requirepass: Redis open to the compose network", u.Hostname())
							} else if pass != want {
								t.Errorf("%s %s: the password is not the one %s requires", name, k, u.Hostname())
							}
							if dep.Environment["REDISCLI_AUTH"] != want {
								t.Errorf("service %s: REDISCLI_AUTH (for the healthcheck's redis-cli) is not its --requirepass", u.Hostname())
							}
							passwords["redis"] = want
						case "FLAGSTREAM_NATS_URL":
							user, want := flagValue(dep.Command, "--user"), flagValue(dep.Command, "--pass")
							if user == "" || want == "" {
								t.Errorf("service %s: nats-server without --user and --pass: NATS open to the compose network", u.Hostname())
							} else if u.User.Username() != user || pass != want {
								t.Errorf("%s %s: user or password is not the one %s requires", name, k, u.Hostname())
							}
							passwords["nats"] = want
						case "FLAGSTREAM_CLICKHOUSE_DSN": // the user is checked by TestCompose
							passwords["clickhouse"] = dep.Environment["CLICKHOUSE_PASSWORD"]
						}
					}
				}
			}
			for _, dep := range []string{"redis", "nats", "clickhouse"} {
				pw, ok := passwords[dep]
				if !ok {
					t.Errorf("no service reaches %s", dep)
					continue
				}
				if _, isExample := config.ExampleSecret(pw); isExample != tc.example {
					t.Errorf("%s's password: recognised as a committed example = %v, want %v (internal/config's list must hold the compose file's demo passwords)",
						dep, isExample, tc.example)
				}
			}
		})
	}
}

// flagValue returns the argument after name in a command, "" if absent.
func flagValue(cmd []string, name string) string {
	for i := 0; i+1 < len(cmd); i++ {
		if cmd[i] == name {
			return cmd[i+1]
		}
	}
	return ""
}

func checkService(t *testing.T, cf composeFileT, name string, bins string) {
	s := cf.Services[name]
	if len(s.Entrypoint) > 0 {
		t.Errorf("entrypoint %q: the image's command is the whole argv; set command only", s.Entrypoint)
	}
	// The command names a binary the Dockerfile installs.
	if len(s.Command) == 0 {
		t.Fatalf("no command: the image runs no default service")
	}
	bin := binaryOf(s)
	if s.Command[0] != bin && s.Command[0] != imageBinDir+bin {
		t.Errorf("command %q: want %s or %s%s", s.Command[0], bin, imageBinDir, bin)
	}
	binPath := filepath.Join(bins, bin)
	if _, err := os.Stat(binPath); err != nil {
		t.Fatalf("command %q: ./cmd/... builds no %s", s.Command, bin)
	}
	env := s.Environment

	// Only FLAGSTREAM_* variables the binary reads: run the command with -h.
	reads := variablesRead(t, binPath, s.Command[1:])
	for _, k := range sortedKeys(env) {
		if !strings.HasPrefix(k, "FLAGSTREAM_") {
			t.Errorf("environment %s: the services are configured through FLAGSTREAM_* variables only", k)
		} else if !reads[k] {
			t.Errorf("environment %s: `%s -h` does not list it; %s ignores it (it reads %s)",
				k, strings.Join(s.Command, " "), bin, strings.Join(sortedKeys(reads), ", "))
		}
	}
	for _, k := range needs[bin] {
		if env[k] == "" {
			t.Errorf("environment: %s is not set; %s would look for its dependency on 127.0.0.1", k, bin)
		}
	}
	// Every command accepts every shared flag, so -h cannot tell which
	// dependencies it really uses: DESIGN.md's table can.
	for _, k := range dependencyVars {
		if env[k] != "" && !slices.Contains(needs[bin], k) {
			t.Errorf("environment %s: %s does not use that dependency (DESIGN.md), only %s", k, bin, strings.Join(needs[bin], ", "))
		}
	}
	// The values are ones the binary accepts.
	cfg, err := config.Parse(bin, nil, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Errorf("the environment does not parse as %s's configuration: %v", bin, err)
	}

	// The HTTP address listens beyond loopback, on the port that is published.
	addr := env["FLAGSTREAM_HTTP_ADDR"]
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("FLAGSTREAM_HTTP_ADDR %q: %v (unset, the service listens on 127.0.0.1 inside its container)", addr, err)
	} else if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		t.Errorf("FLAGSTREAM_HTTP_ADDR %q: listen on all interfaces (0.0.0.0) so the published port reaches it", addr)
	}
	targets := containerPorts(t, s.Ports)
	if len(targets) != 1 || targets[0] != port {
		t.Errorf("ports %v publish container ports %v; want exactly FLAGSTREAM_HTTP_ADDR's port %s", s.Ports, targets, port)
	}

	// Non-loopback needs tokens: a file from a secret the service mounts.
	if err == nil {
		checkTokens(t, cf, s, cfg.HTTPAddr)
	}

	// depends_on covers every host the URLs name, and waits for its healthcheck.
	for _, k := range sortedKeys(env) {
		if !strings.Contains(env[k], "://") {
			continue
		}
		for _, raw := range strings.Split(env[k], ",") {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil {
				t.Errorf("%s: not a URL", k)
				continue
			}
			dep := u.Hostname()
			ds, ok := cf.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s points at %q, which is no service of %s", k, dep, composeFile)
			case s.DependsOn[dep] != "service_healthy":
				t.Errorf("%s points at %s, but depends_on does not wait for it to be healthy (condition: service_healthy)", k, dep)
			case ds.Healthcheck == nil || ds.Healthcheck.Disable || len(ds.Healthcheck.Test) == 0:
				t.Errorf("%s points at %s, which has no healthcheck", k, dep)
			}
			if ok && k == "FLAGSTREAM_CLICKHOUSE_DSN" {
				checkClickHouseUser(t, env[k], dep, ds)
			}
		}
	}

	// The healthcheck runs this binary's healthcheck subcommand, and it works
	// with this environment.
	hc := s.Healthcheck
	want := []string{"CMD", imageBinDir + bin, "healthcheck"}
	if hc == nil || hc.Disable || !slices.Equal(hc.Test, want) {
		t.Errorf("healthcheck: want test %q", want)
	} else {
		probeHealthcheck(t, binPath, hc.Test[2:], env)
	}

	// Time to drain on SIGTERM.
	grace, err := time.ParseDuration(s.StopGracePeriod)
	if s.StopGracePeriod == "" {
		grace, err = 10*time.Second, nil // compose's default
	}
	if err != nil || grace < minGrace[bin] {
		t.Errorf("stop_grace_period %q: %s needs at least %s to drain on SIGTERM", s.StopGracePeriod, bin, minGrace[bin])
	}
}

// checkTokens: a service listening beyond loopback refuses to start without
// tokens; the file must be a secret's mount, and the secret's file must load.
func checkTokens(t *testing.T, cf composeFileT, s service, addr string) {
	file := s.Environment["FLAGSTREAM_TOKENS_FILE"]
	if file == "" {
		if err := httpapi.CheckListen(addr, httpapi.Tokens{}); err != nil {
			t.Errorf("no FLAGSTREAM_TOKENS_FILE: %v", err)
		}
		return
	}
	for _, m := range s.Secrets {
		source, target := secretMount(m)
		if target != file {
			continue
		}
		sec, ok := cf.Secrets[source]
		if !ok || sec.File == "" {
			t.Errorf("secret %s: not defined with a file in the top-level secrets", source)
			return
		}
		tokens, err := httpapi.LoadTokens(hostPath(sec.File))
		if err != nil {
			t.Errorf("secret %s: %v", source, err)
			return
		}
		if err := httpapi.CheckListen(addr, tokens); err != nil {
			t.Errorf("secret %s: %v", source, err)
		}
		return
	}
	t.Errorf("FLAGSTREAM_TOKENS_FILE %s is no secret the service mounts (%v)", file, s.Secrets)
}

// checkClickHouseUser: the DSN's user and password, as clickhouse-go reads
// them (internal/connect), are the ones the ClickHouse container creates.
// Current images let the password-less default user connect from localhost
// only.
func checkClickHouseUser(t *testing.T, dsn, dep string, ds service) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Errorf("FLAGSTREAM_CLICKHOUSE_DSN: %v", err)
		return
	}
	user, password := ds.Environment["CLICKHOUSE_USER"], ds.Environment["CLICKHOUSE_PASSWORD"]
	if user == "" || password == "" {
		t.Errorf("service %s: set CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (current images keep the default user to localhost)", dep)
		return
	}
	if opts.Auth.Username != user || opts.Auth.Password != password {
		t.Errorf("FLAGSTREAM_CLICKHOUSE_DSN: user %q (password %s) is not %s's CLICKHOUSE_USER %q and CLICKHOUSE_PASSWORD",
			opts.Auth.Username, map[bool]string{true: "matching", false: "differing"}[opts.Auth.Password == password], dep, user)
	}
	db := ds.Environment["CLICKHOUSE_DB"]
	if db == "" {
		db = "default"
	}
	if opts.Auth.Database != db {
		t.Errorf("FLAGSTREAM_CLICKHOUSE_DSN: database %q, but %s creates %q", opts.Auth.Database, dep, db)
	}
}

// probeHealthcheck runs the healthcheck command with the service's
// environment against a stand-in server on a wildcard address: exit 0 when
// /readyz answers 200, 1 with one line when it answers 503.
func probeHealthcheck(t *testing.T, binPath string, args []string, env map[string]string) {
	var status, hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		w.WriteHeader(int(status.Load()))
		fmt.Fprint(w, `{"ready":false,"checks":{"redis":"down"}}`)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	vars := []string{"FLAGSTREAM_HTTP_ADDR=0.0.0.0:" + port}
	for k, v := range env {
		if k != "FLAGSTREAM_HTTP_ADDR" {
			vars = append(vars, k+"="+v)
		}
	}
	for _, tc := range []struct {
		status int32
		exit   int
	}{{200, 0}, {503, 1}} {
		status.Store(tc.status)
		before := hits.Load()
		stdout, stderr, code := runBinary(t, binPath, args, vars)
		if code != tc.exit || hits.Load() != before+1 {
			t.Errorf("%s %v with /readyz answering %d: exit %d after %d probes, want exit %d after 1\nstdout: %s\nstderr: %s",
				filepath.Base(binPath), args, tc.status, code, hits.Load()-before, tc.exit, stdout, stderr)
		}
		if tc.exit != 0 && (strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "503")) {
			t.Errorf("healthcheck failure: want one line naming the 503, got %q", stderr)
		}
	}
}

// TestDockerfile: static binaries of ./cmd/..., a distroless base, non-root.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot, dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "\\\n", " ") // join continued lines
	var stages [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], line)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%s: want a multi-stage build, found %d stages", dockerfile, len(stages))
	}
	build := regexp.MustCompile(`\bCGO_ENABLED=0\b.*\bgo build\b.*\s\./cmd/\.\.\.(\s|$)`)
	if !slices.ContainsFunc(slices.Concat(stages[:len(stages)-1]...), build.MatchString) {
		t.Errorf("%s: no `CGO_ENABLED=0 ... go build ... ./cmd/...` in a build stage", dockerfile)
	}
	final := stages[len(stages)-1]
	if !strings.Contains(final[0], "distroless/static") {
		t.Errorf("%s: final stage %q is not distroless static", dockerfile, final[0])
	}
	if !slices.ContainsFunc(final, func(l string) bool {
		return strings.HasPrefix(l, "COPY ") && strings.HasSuffix(l, " "+imageBinDir)
	}) {
		t.Errorf("%s: the final stage does not copy the binaries to %s", dockerfile, imageBinDir)
	}
	var user string
	for _, l := range final {
		if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], "USER") {
			user = f[1]
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" {
		t.Errorf("%s: the final stage runs as %q; want a non-root USER", dockerfile, user)
	}

	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(ignore))
	for _, want := range []string{".git", ".run", "bin"} {
		if !slices.Contains(lines, want) && !slices.Contains(lines, "/"+want) {
			t.Errorf(".dockerignore: %s is not excluded from the build context", want)
		}
	}
}

// TestComposeSecrets: every secret's file exists.
func TestComposeSecrets(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, nil)
	if len(cf.Secrets) == 0 {
		t.Error("no secrets: the tokens file should be one")
	}
	for name, s := range cf.Secrets {
		if s.File == "" {
			t.Errorf("secret %s: no file", name)
			continue
		}
		if st, err := os.Stat(hostPath(s.File)); err != nil || !st.Mode().IsRegular() {
			t.Errorf("secret %s: file %s: %v", name, s.File, err)
		}
	}
}

// TestComposeConfig validates the file with docker-compose itself (no Docker
// engine needed). scripts/tools.sh installs it.
func TestComposeConfig(t *testing.T) {
	t.Parallel()
	dc, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv(testenv.NoSkipVar) != "" {
			t.Fatalf("docker-compose is not on PATH (%s is set: nothing may skip); scripts/tools.sh installs it", testenv.NoSkipVar)
		}
		t.Skip("docker-compose is not on PATH; scripts/tools.sh installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dc, "-f", composeFile, "config", "-q")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("docker-compose -f %s config -q: %v\n%s", composeFile, err, out)
	}
}

// --- the compose file

type composeFileT struct {
	Services map[string]service `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type service struct {
	Build           any               `yaml:"build"`
	Image           string            `yaml:"image"`
	Entrypoint      stringList        `yaml:"entrypoint"`
	Command         stringList        `yaml:"command"`
	Environment     envMap            `yaml:"environment"`
	Ports           []any             `yaml:"ports"`
	DependsOn       dependsOn         `yaml:"depends_on"`
	Healthcheck     *healthcheckBlock `yaml:"healthcheck"`
	Secrets         []any             `yaml:"secrets"`
	Restart         string            `yaml:"restart"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
}

type healthcheckBlock struct {
	Test    stringList `yaml:"test"`
	Disable bool       `yaml:"disable"`
}

// stringList is a list of strings, or one string split at spaces.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = strings.Fields(n.Value)
		return nil
	}
	var s []string
	err := n.Decode(&s)
	*l = s
	return err
}

// envMap is environment: a map, or a list of KEY=value.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		if v != nil {
			(*e)[k] = fmt.Sprint(v)
		} else {
			(*e)[k] = ""
		}
	}
	return nil
}

// dependsOn maps each dependency to its condition ("" for the list form).
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, s := range list {
			(*d)[s] = ""
		}
		return nil
	}
	var m map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		(*d)[k] = v.Condition
	}
	return nil
}

// loadCompose reads the compose file with its ${VAR:-default} variables
// replaced as docker-compose does: by vars[VAR] when set, else the default.
func loadCompose(t *testing.T, vars map[string]string) composeFileT {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, composeFile))
	if err != nil {
		t.Fatal(err)
	}
	text, err := interpolate(string(raw), vars)
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	var cf composeFileT
	if err := yaml.Unmarshal([]byte(text), &cf); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	if len(cf.Services) == 0 {
		t.Fatalf("%s: no services", composeFile)
	}
	return cf
}

var variable = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-[^}]*)?\}|\$[A-Za-z_{]`)

// interpolate replaces ${VAR:-default} and ${VAR-default} by vars[VAR] or
// the default, and $$ by $. Every variable must have a default, so that a
// fresh clone's `docker-compose config` is complete without an environment.
// Comment lines are left alone, as YAML drops them.
func interpolate(text string, vars map[string]string) (string, error) {
	var errs []string
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		lines[i] = variable.ReplaceAllStringFunc(line, func(m string) string {
			if m == "$$" {
				return "$"
			}
			sm := variable.FindStringSubmatch(m)
			if sm[1] == "" || sm[2] == "" {
				errs = append(errs, fmt.Sprintf("line %d: %s: give every variable a default (${VAR:-default})", i+1, m))
				return m
			}
			if v, ok := vars[sm[1]]; ok && (v != "" || !strings.HasPrefix(sm[2], ":")) {
				return v
			}
			_, def, _ := strings.Cut(sm[2], "-")
			return def
		})
	}
	if len(errs) > 0 {
		return "", errors.New(strings.Join(errs, "; "))
	}
	return strings.Join(lines, "\n"), nil
}

// hostPath is a compose file path (a secret's file) on this host.
func hostPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(repoRoot, p)
}

// realVars are credential variables as an operator sets them (see the
// compose file's header): fresh passwords and a tokens file of one's own.
func realVars(t *testing.T) map[string]string {
	t.Helper()
	tokens := filepath.Join(t.TempDir(), "tokens")
	content := "admin " + strings.Repeat("a1", 20) + "\nread " + strings.Repeat("r2", 20) + "\n"
	if err := os.WriteFile(tokens, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"REDIS_PASSWORD":      "redis-pw-0123456789abcdef",
		"NATS_PASSWORD":       "nats-pw-0123456789abcdef",
		"CLICKHOUSE_PASSWORD": "ch-pw-0123456789abcdef",
		"TOKENS_FILE":         tokens,
	}
}

// binaryOf is the binary a service's command runs.
func binaryOf(s service) string {
	if len(s.Command) == 0 {
		return ""
	}
	return path.Base(s.Command[0])
}

// containerPorts returns the container side of each ports entry:
// "[ip:][host:]container[/proto]" or the long form's target.
func containerPorts(t *testing.T, ports []any) []string {
	var out []string
	for _, p := range ports {
		switch p := p.(type) {
		case map[string]any:
			out = append(out, fmt.Sprint(p["target"]))
		case int:
			out = append(out, fmt.Sprint(p))
		case string:
			p, _, _ = strings.Cut(p, "/")
			out = append(out, p[strings.LastIndex(p, ":")+1:])
		default:
			t.Errorf("ports entry %v: unknown form", p)
		}
	}
	return out
}

// secretMount returns a service's secrets entry as its source and mount path.
func secretMount(m any) (source, target string) {
	switch m := m.(type) {
	case string:
		source, target = m, m
	case map[string]any:
		source, _ = m["source"].(string)
		target, _ = m["target"].(string)
		if target == "" {
			target = source
		}
	}
	if !strings.HasPrefix(target, "/") {
		target = "/run/secrets/" + target
	}
	return source, target
}

// --- the binaries

// buildBinaries builds ./cmd/... once for the test, as the Dockerfile does
// (with the environment's CGO setting, to share the build cache; without
// debug information, which only slows the link).
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", dir+string(filepath.Separator), "./cmd/...")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
	return dir
}

var envLine = regexp.MustCompile(`(?m)\benv (FLAGSTREAM_[A-Z0-9_]+)\b`)

// variablesRead runs the command with -h and returns the variables its usage lists.
func variablesRead(t *testing.T, binPath string, args []string) map[string]bool {
	t.Helper()
	stdout, stderr, code := runBinary(t, binPath, append(slices.Clone(args), "-h"), nil)
	if code != 0 {
		t.Fatalf("%s %v -h: exit %d\n%s", filepath.Base(binPath), args, code, stderr)
	}
	reads := map[string]bool{}
	for _, m := range envLine.FindAllStringSubmatch(stdout, -1) {
		reads[m[1]] = true
	}
	if !reads["FLAGSTREAM_HTTP_ADDR"] {
		t.Fatalf("%s %v -h lists no FLAGSTREAM_HTTP_ADDR; its usage:\n%s", filepath.Base(binPath), args, stdout)
	}
	return reads
}

// runBinary runs a built binary with only the given environment.
func runBinary(t *testing.T, binPath string, args, env []string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: still running after 20s", filepath.Base(binPath), args)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("%s %v: %v", filepath.Base(binPath), args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

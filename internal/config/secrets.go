package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// redacted replaces a credential in what Redact returns.
const redacted = "xxxxx"

// Redact returns a URL, a DSN or a comma-separated list of them fit for logs
// and error messages: the whole userinfo (a NATS token or user is as secret
// as a password) and the value of every password-like query parameter
// (ClickHouse's ?password=, go-redis's Sentinel ?password=, ...) are replaced.
//
// It works on the text, not on a parsed URL, so that what net/url refuses (a
// password with a reserved character, a host list such as
// clickhouse://u:p@h1:9000,h2:9000/db, a NATS "user:pass@host" without a
// scheme) is redacted too rather than passed through or lost. Where the text
// is ambiguous it redacts more, never less.
func Redact(raw string) string {
	spans := secretSpans(raw)
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		if sp.start < last { // overlaps the one before: already hidden
			if sp.end > last {
				last = sp.end
			}
			continue
		}
		b.WriteString(raw[last:sp.start])
		b.WriteString(redacted)
		last = sp.end
	}
	b.WriteString(raw[last:])
	return b.String()
}

// span is a credential's place in a URL: raw[start:end]; userinfo marks a
// whole user[:password].
type span struct {
	start, end int
	userinfo   bool
}

// secretSpans returns, in order of start, where raw (one URL, a DSN, or a
// comma-separated list) holds credentials: each URL's userinfo, and the value
// of each password-like query parameter.
func secretSpans(raw string) []span {
	var spans []span
	// Userinfo: from each "://" (or the start, for "user:pass@host") to the
	// last '@' before the next URL's scheme. The last, since a password may
	// hold an '@'; a later '@' in a path or query only hides more.
	schemes := schemeStarts(raw)
	if len(schemes) == 0 {
		schemes = []int{-3} // no scheme: the userinfo starts at 0
	}
	for k, sep := range schemes {
		from, to := sep+3, len(raw)
		if k+1 < len(schemes) {
			to = schemeWordStart(raw, schemes[k+1])
		}
		if at := strings.LastIndexByte(raw[from:to], '@'); at >= 0 {
			spans = append(spans, span{from, from + at, true})
		}
	}
	// Query parameters: a value runs to the next '&' or '#', or to a comma
	// that starts the next URL of a list.
	for i := 0; i < len(raw); i++ {
		if raw[i] != '?' && raw[i] != '&' {
			continue
		}
		eq := strings.IndexByte(raw[i+1:], '=')
		if eq < 0 {
			break
		}
		name := raw[i+1 : i+1+eq]
		if strings.ContainsAny(name, "&?#,/") || !secretParam(name) {
			continue
		}
		start := i + 2 + eq
		end := start
		for end < len(raw) && raw[end] != '&' && raw[end] != '#' {
			if raw[end] == ',' && strings.Contains(raw[end:], "://") {
				break
			}
			end++
		}
		spans = append(spans, span{start: start, end: end})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	return spans
}

// schemeStarts returns the index of every "://" in s.
func schemeStarts(s string) []int {
	var out []int
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			return out
		}
		out = append(out, i+j)
		i += j + 3
	}
}

// schemeWordStart returns where the scheme that ends at sep ("://") begins.
func schemeWordStart(s string, sep int) int {
	i := sep
	for i > 0 {
		c := s[i-1]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			break
		}
		i--
	}
	return i
}

// secretParam reports whether a query parameter's name looks like it holds a
// credential (password, secret, token, auth, key, ...).
func secretParam(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	name = strings.ToLower(name)
	for _, s := range []string{"pass", "pwd", "secret", "token", "auth", "key", "credential", "sig"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// credentials returns every credential a URL (or comma-separated list) holds,
// unescaped: the user and the password of each userinfo, and the values of
// password-like query parameters.
func credentials(raw string) []string {
	var out []string
	add := func(s string, unescape func(string) (string, error)) {
		if u, err := unescape(s); err == nil {
			s = u
		}
		if s != "" {
			out = append(out, s)
		}
	}
	for _, sp := range secretSpans(raw) {
		text := raw[sp.start:sp.end]
		if sp.userinfo {
			user, password, _ := strings.Cut(text, ":")
			add(user, url.PathUnescape)
			add(password, url.PathUnescape)
			continue
		}
		add(text, url.QueryUnescape)
	}
	return out
}

// exampleSecrets are the SHA-256 hashes of the credentials committed to this
// repository as examples: the tokens of deploy/tokens.example and the demo
// passwords of docker-compose.yml. Anyone can read them, so a service that
// faces the network refuses them. Hashes rather than the text, so that the
// binary does not carry them as something to copy; deploy's tests check that
// this list covers the committed files.
var exampleSecrets = map[string]string{
	"9540e286914d31302d13288dadf5f462f951cd3fcda9877be1437a9ced6ccb68": "deploy/tokens.example",
	"06e84719918c80199c8303daed2a5cb8c0f72a105cca4cdf21fe372a239a19fb": "deploy/tokens.example",
	"b393f52ccccf3971f9c49510e2a81034908452e94a31250a3e692b508e22d98f": "deploy/tokens.example",
	"5e5e51a5ac80cc01a03a26e2428e299c2d984ad64d7f11a4b39df394b35b2619": "deploy/tokens.example",
	"b0117e15b20797f683d09abb834abd697b7517b01b8fda69351e281e916bd915": "docker-compose.yml (ClickHouse)",
	"5e968ddafa0daf254df5c016a571f06da495861cff63e03d671183f5f9b3f039": "docker-compose.yml (Redis)",
	"7767d04bd18b113e8d32b1966da8e253e25e6eab81c660152c632185582fb2a3": "docker-compose.yml (NATS)",
}

// ExampleSecret reports whether s is a credential committed to this
// repository as an example, and which file holds it.
func ExampleSecret(s string) (file string, ok bool) {
	h := sha256.Sum256([]byte(s))
	file, ok = exampleSecrets[hex.EncodeToString(h[:])]
	return file, ok
}

// IsLoopback reports whether a listen address (host:port) binds to loopback
// only. An empty host (":8080") binds every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckExampleCredentials refuses a Redis URL, NATS URL or ClickHouse DSN that
// carries a credential committed to this repository as an example (the
// compose file's demo passwords) when the service listens beyond loopback:
// such a deployment is reachable, and its passwords are public. On loopback
// (the demo, tests) they stay allowed. The error names each setting and the
// file the example comes from, never the credential.
func (c Config) CheckExampleCredentials() error {
	if IsLoopback(c.HTTPAddr) {
		return nil
	}
	var errs []error
	for _, s := range []struct{ name, value string }{
		{"redis-url (FLAGSTREAM_REDIS_URL)", c.RedisURL},
		{"nats-url (FLAGSTREAM_NATS_URL)", c.NATSURL},
		{"clickhouse-dsn (FLAGSTREAM_CLICKHOUSE_DSN)", c.ClickHouseDSN},
	} {
		for _, cred := range credentials(s.value) {
			if file, ok := ExampleSecret(cred); ok {
				errs = append(errs, fmt.Errorf("%s carries an example credential (committed in %s): "+
					"refusing to listen on %q with it; set a password of your own, or listen on 127.0.0.1", s.name, file, c.HTTPAddr))
				break
			}
		}
	}
	return errors.Join(errs...)
}

package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/flagstream/flagstream/internal/config"
)

// ProbeTimeout bounds one [Probe] when its context has no earlier deadline.
const ProbeTimeout = 3 * time.Second

// ProbeURL is the readiness URL of a service listening on listenAddr: a
// wildcard host (empty, 0.0.0.0, ::) is reached on 127.0.0.1.
func ProbeURL(listenAddr string) (string, error) {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("http-addr %q: %w", listenAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// Probe asks the service listening on listenAddr whether it is ready
// (GET /readyz, within ProbeTimeout): nil on 200, otherwise an error that
// says why on one line. It is what `<service> healthcheck` runs, since the
// runtime image has no curl or wget.
func Probe(ctx context.Context, listenAddr string) error {
	u, err := ProbeURL(listenAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	// Its own client: no proxy from the environment, no keep-alive.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: no answer within %s", u, ProbeTimeout)
		}
		return fmt.Errorf("GET %s: %w", u, errors.Unwrap(err)) // without url.Error's repeat of the URL
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	msg := strings.Join(strings.Fields(string(body)), " ") // one line
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return fmt.Errorf("GET %s: %s: %s", u, resp.Status, msg)
}

// Healthcheck reads a service's configuration as the service does (flags in
// args, FLAGSTREAM_* through getenv) and probes its /readyz. name is the
// service ("flagd", "ingest", "aggregate"), for its default address.
// -h returns a [*config.HelpError].
func Healthcheck(ctx context.Context, name string, args []string, getenv func(string) string) error {
	cfg, err := config.Parse(name+" healthcheck", args, getenv, nil)
	if err != nil {
		return err
	}
	return Probe(ctx, cfg.HTTPAddr)
}

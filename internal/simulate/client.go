package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/flagstream/flagstream/internal/connect"
)

// client sends JSON to the services, with the bearer token when there is one.
// A 503 or a refused connection is retried for up to retryFor: a service that
// restarts or waits for a dependency must not end a simulation.
type client struct {
	http     *http.Client
	token    string
	retryFor time.Duration
}

// statusError is an answer the caller did not expect.
type statusError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, e.Body)
}

// do sends body (nil, or a value sent as JSON) and decodes a 2xx answer into
// out (when not nil). Any other status is a *statusError.
func (c *client) do(ctx context.Context, method, url string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(c.retryFor)
	var wait connect.Backoff
	for {
		err := c.once(ctx, method, url, payload, out)
		var se *statusError
		retriable := err != nil && ctx.Err() == nil &&
			(!errors.As(err, &se) || se.Status == http.StatusServiceUnavailable || se.Status == http.StatusTooManyRequests)
		if !retriable || time.Now().After(deadline) {
			return err
		}
		if !connect.Sleep(ctx, wait.Next()) {
			return ctx.Err()
		}
	}
}

func (c *client) once(ctx context.Context, method, url string, payload []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &statusError{Method: method, URL: url, Status: resp.StatusCode, Body: string(bytes.TrimSpace(b))}
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: answer is not the JSON expected: %w", method, url, err)
	}
	return nil
}

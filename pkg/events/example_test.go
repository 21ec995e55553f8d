package events_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/pkg/events"
)

func ExampleDecodeBatch() {
	body := `{"type":"exposure","experiment":"pricing","variant":"control","user_id":"u1","ts":"2026-11-24T11:00:00Z"}
{"type":"conversion","user_id":"u1","conversion_type":"purchase","value":"9.99","ts":"2026-11-24T11:05:00Z"}
{"type":"conversion","user_id":"u1","conversion_type":"purchase","ts":"2026-11-24T11:06:00Z"}`
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	valid, invalid, err := events.DecodeBatch(strings.NewReader(body), now, events.Window{}, 1000)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range valid {
		fmt.Println(e.Type, e.UserID, e.ValueOrDefault(), len(e.ID))
	}
	for _, fe := range invalid {
		fmt.Println(fe)
	}
	// Output:
	// exposure u1 1 26
	// conversion u1 1 26
	// event 1: value: must be a number, not a JSON string
}

// flagd's wiring: streams at start, a publisher running beside the HTTP
// server, cancelled after the server drained so SIGTERM flushes the buffer.
func ExamplePublisher() {
	ctx := context.Background()
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	names := events.NewNames("")
	if err := events.EnsureStreams(ctx, js, names, events.DefaultStreamLimits()); err != nil {
		return
	}
	log := zerolog.New(os.Stderr)
	p := events.NewPublisher(js, names, events.PublisherOptions{
		OnDrop: func(n int) { /* exposuresDropped.Add(float64(n)); a rate-limited log line */ },
		Log:    log,
	})
	pubCtx, stopPublisher := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- p.Run(pubCtx) }()

	// in an evaluation that put user_789 into a variant:
	p.Enqueue(events.Event{Type: events.TypeExposure, Experiment: "pricing_page_experiment",
		Variant: "control", UserID: "user_789", TS: time.Now(), FlagVersion: 3})

	// on SIGTERM, after the HTTP server has drained:
	stopPublisher()
	if err := <-done; err != nil {
		log.Error().Err(err).Msg("exposures lost at shutdown")
	}
}

package retry

import (
	"context"
	"slices"
	"testing"
	"time"
)

// The wait doubles from 100 ms up to 5 s, and starts over after Reset.
func TestBackoff(t *testing.T) {
	var b Backoff
	var got []time.Duration
	for range 8 {
		got = append(got, b.Next())
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5000 * ms, 5000 * ms}
	if !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	b.Reset()
	if w := b.Next(); w != 100*ms {
		t.Errorf("first wait after Reset %v, want 100ms", w)
	}
}

// Sleep reports a whole wait, and ends early, saying so, with its context.
func TestSleep(t *testing.T) {
	start := time.Now()
	if !Sleep(context.Background(), 20*time.Millisecond) || time.Since(start) < 20*time.Millisecond {
		t.Errorf("Sleep of 20ms returned false or after %v", time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	if Sleep(ctx, time.Minute) || time.Since(start) > 10*time.Second {
		t.Errorf("Sleep with its context ended returned true or after %v", time.Since(start))
	}
}

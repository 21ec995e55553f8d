package events

import (
	"strconv"
	"testing"
	"time"
)

func TestQueueOrderGrowthAndBound(t *testing.T) {
	q := newQueue(1000)
	next, want := 0, 0
	push := func(k int) {
		for range k {
			if !q.push(Event{UserID: strconv.Itoa(next)}) {
				t.Fatalf("push %d refused below the bound", next)
			}
			next++
		}
	}
	take := func(k int) {
		for _, e := range q.take(nil, k) {
			if e.UserID != strconv.Itoa(want) {
				t.Fatalf("took %s, want %d", e.UserID, want)
			}
			want++
		}
	}
	// wrap around while growing
	push(50)
	take(30)
	push(100)
	take(70)
	push(500)
	if q.len() != 550 {
		t.Fatalf("len = %d, want 550", q.len())
	}
	push(450)
	if q.push(Event{}) {
		t.Fatal("push above the bound accepted")
	}
	take(2000)
	if q.len() != 0 || want != next {
		t.Fatalf("len = %d, took %d of %d", q.len(), want, next)
	}
	select {
	case <-q.wake:
	default:
		t.Error("no wake-up after the queue turned non-empty")
	}
}

func TestQueueShrinksWhenDrained(t *testing.T) {
	q := newQueue(100_000)
	for range 20_000 {
		q.push(Event{})
	}
	q.take(nil, 20_000)
	if q.buf == nil {
		t.Error("a ring that just grew was released")
	}
	for range 20_000 {
		q.push(Event{})
	}
	q.grewAt = q.grewAt.Add(-time.Hour)
	q.take(nil, 20_000)
	if q.buf != nil {
		t.Errorf("a drained ring of %d events was kept", len(q.buf))
	}
	for range 10 {
		q.push(Event{})
	}
	if q.clear() != 10 || q.len() != 0 {
		t.Error("clear did not empty the queue")
	}
}

package connect

import (
	"time"

	"github.com/nats-io/nats.go"
)

// NATS connects to a NATS URL (comma-separated for a cluster). It keeps
// reconnecting forever, also when the server is away at start, and buffers
// what is published meanwhile in nats.go's reconnect buffer; JetStream
// publishers must still wait for acknowledgements to know what arrived.
func NATS(url, name string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.Timeout(2 * time.Second),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, URLError("nats", err)
	}
	return nc, nil
}

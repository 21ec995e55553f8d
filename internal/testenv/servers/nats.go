package servers

import (
	"fmt"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSServer is a JetStream server embedded in the test process that can be
// stopped and started again on the same port with the same store.
type NATSServer struct {
	t    testing.TB
	opts *natsserver.Options
	srv  *natsserver.Server
}

// EmbeddedNATS starts a JetStream server on a free loopback port; it stops
// when the test ends.
func EmbeddedNATS(t testing.TB) *NATSServer {
	t.Helper()
	s := &NATSServer{t: t, opts: &natsserver.Options{Host: "127.0.0.1", Port: FreePort(t), JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true}}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's nats:// URL.
func (s *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port) }

// JetStream connects a new client to the server; the connection closes
// when the test ends.
func (s *NATSServer) JetStream() jetstream.JetStream {
	s.t.Helper()
	nc, err := nats.Connect(s.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	return js
}

// Start (re)starts the server and waits until it accepts connections.
func (s *NATSServer) Start() {
	s.t.Helper()
	srv, err := natsserver.NewServer(s.opts)
	if err != nil {
		s.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatal("embedded NATS not ready")
	}
	s.srv = srv
}

// Stop shuts the server down (its store stays); stopping twice is fine.
func (s *NATSServer) Stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

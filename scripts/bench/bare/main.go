// Command bare is the yardstick of the HTTP benchmark: a net/http server that
// reads an OFREP request body and answers a fixed OFREP body, doing nothing
// else. flagd's throughput is reported as a share of this one, measured in
// the same run on the same machine.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	flag.Parse()
	body := []byte(`{"key":"bench_boolean","value":true,"reason":"STATIC","metadata":{"version":1}}`)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags/{key}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}

package server

import (
	"net/http"
	"net/http/pprof"
)

// servePprof adds Go's runtime profiles under /debug/pprof/ to mux (the
// metrics listener's, with --pprof): `go tool pprof
// http://ADDR/debug/pprof/profile?seconds=10` profiles the server's CPU,
// /debug/pprof/heap its memory. The configuration allows it only on a
// loopback address.
func servePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// debugPprofEnv names a loopback address on which serve also answers
// net/http/pprof (CPU profiles, execution traces: /debug/pprof/trace). It is
// for benchmarks and profiling by hand, so it is an environment variable
// rather than a setting, it is never on the API's listener, and it refuses
// any address that is not loopback.
const debugPprofEnv = "SWITCHYARD_DEBUG_PPROF"

// startDebugPprof serves pprof on $SWITCHYARD_DEBUG_PPROF until the process
// ends; nothing when it is unset.
func startDebugPprof(log *slog.Logger) {
	addr := os.Getenv(debugPprofEnv)
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Warn("debug pprof listener not started: want a loopback host:port", "env", debugPprofEnv, "addr", addr)
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("debug pprof listener not started", "env", debugPprofEnv, "error", err.Error())
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Warn("serving pprof for debugging", "env", debugPprofEnv, "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug pprof listener stopped", "error", err.Error())
		}
	}()
}

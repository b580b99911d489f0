package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// serviceNames are the backing services a pg-redis gateway makes work for:
// their CPU is spent on the same cores as the gateway's, so it is part of
// what the gateway costs per request and the bare proxy does not.
var serviceNames = map[string]bool{"postgres": true, "redis-server": true}

// svcProc is one service process's CPU time so far.
type svcProc struct {
	name string
	cpu  time.Duration
}

// servicesCPU reads user + system time of every process named in
// serviceNames (the PostgreSQL postmaster, its backends and workers, and
// Redis), by pid.
func servicesCPU() (map[int]svcProc, error) {
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	out := map[int]svcProc{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		cpu, name, ok := parseStat(b)
		if !ok || !serviceNames[name] {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			out[pid] = svcProc{name: name, cpu: cpu}
		}
	}
	return out, nil
}

// servicesDelta is the CPU the services spent between two readings, by
// process name: a process in both counts its growth, one that started
// since counts all of its time, and one that exited since is lost (a
// backend closed during the phase; the gateway's pooled connections live
// through it).
func servicesDelta(before, after map[int]svcProc) map[string]time.Duration {
	d := map[string]time.Duration{}
	for pid, a := range after {
		if b, ok := before[pid]; !ok || b.name != a.name {
			d[a.name] += a.cpu
		} else if b.cpu <= a.cpu {
			d[a.name] += a.cpu - b.cpu
		}
	}
	return d
}

// parseStat reads the command name and utime + stime from a
// /proc/<pid>/stat line.
func parseStat(b []byte) (cpu time.Duration, name string, ok bool) {
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open || closing+2 > len(b) {
		return 0, "", false
	}
	name = string(b[open+1 : closing])
	f := strings.Fields(string(b[closing+2:]))
	if len(f) < 13 {
		return 0, "", false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, "", false
	}
	return time.Duration(ut+st) * time.Second / clockTicks, name, true
}

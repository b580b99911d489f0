package images

import (
	"sort"
	"sync"
	"time"
)

// Preview is a partial image an upstream streamed while it made image
// Index of a task: the Partial-th preview (0–2), superseded by the next.
type Preview struct {
	Index       int
	Partial     int
	Data        []byte
	ContentType string
	At          time.Time
}

// Previews holds the latest partial image of each image of the async
// tasks running on this node, for the studio's event stream. They are
// never stored: a preview lives in memory until the next one of the same
// image replaces it, it grows older than the TTL, or the byte bound
// pushes it out (oldest first). Another node's event stream does not see
// them; it still sees the task's progress and its stored images.
type Previews struct {
	mu    sync.Mutex
	max   int64
	ttl   time.Duration
	now   func() time.Time
	bytes int64
	tasks map[string]map[int]Preview
}

// NewPreviews holds at most maxBytes of previews (32 MiB when <= 0), each
// for at most ttl (5 minutes when <= 0).
func NewPreviews(maxBytes int64, ttl time.Duration, now func() time.Time) *Previews {
	if maxBytes <= 0 {
		maxBytes = 32 << 20
	}
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Previews{max: maxBytes, ttl: ttl, now: now, tasks: map[string]map[int]Preview{}}
}

// Put keeps p as image p.Index's latest preview of task, replacing an
// earlier one. A preview larger than the whole bound is dropped.
func (ps *Previews) Put(task string, p Preview) {
	if ps == nil || int64(len(p.Data)) > ps.max {
		return
	}
	p.At = ps.now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m := ps.tasks[task]
	if m == nil {
		m = map[int]Preview{}
		ps.tasks[task] = m
	}
	if old, ok := m[p.Index]; ok {
		if old.Partial > p.Partial {
			return // a late, older preview
		}
		ps.bytes -= int64(len(old.Data))
	}
	m[p.Index] = p
	ps.bytes += int64(len(p.Data))
	ps.evict()
}

// evict drops expired previews, then the oldest until the bound holds.
func (ps *Previews) evict() {
	cutoff := ps.now().Add(-ps.ttl)
	type ref struct {
		task string
		p    Preview
	}
	var all []ref
	for task, m := range ps.tasks {
		for i, p := range m {
			if p.At.Before(cutoff) {
				ps.drop(task, i)
				continue
			}
			if ps.bytes > ps.max {
				all = append(all, ref{task, p})
			}
		}
	}
	if ps.bytes <= ps.max {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i].p.At.Before(all[j].p.At) })
	for _, r := range all {
		if ps.bytes <= ps.max {
			return
		}
		ps.drop(r.task, r.p.Index)
	}
}

func (ps *Previews) drop(task string, index int) {
	m := ps.tasks[task]
	if p, ok := m[index]; ok {
		ps.bytes -= int64(len(p.Data))
		delete(m, index)
	}
	if len(m) == 0 {
		delete(ps.tasks, task)
	}
}

// Get returns task's latest previews by image index. The data is shared:
// callers must not change it.
func (ps *Previews) Get(task string) []Preview {
	if ps == nil {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m := ps.tasks[task]
	out := make([]Preview, 0, len(m))
	cutoff := ps.now().Add(-ps.ttl)
	for _, p := range m {
		if !p.At.Before(cutoff) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Drop forgets task's previews.
func (ps *Previews) Drop(task string) {
	if ps == nil {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for i := range ps.tasks[task] {
		ps.drop(task, i)
	}
}

// Bytes is how much the previews hold.
func (ps *Previews) Bytes() int64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.bytes
}

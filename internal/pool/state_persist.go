package pool

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// A single node keeps the scheduler state in memory; without more, a
// restart would forget today's use counts (so a credential's daily cap
// could be spent twice in one day), its cooldowns and its circuits. The
// pool therefore saves the memory state in the database every
// PersistInterval and when it closes, and loads it when it starts. A crash
// loses at most PersistInterval of counts. Leases and probes are not
// saved: they end with the process.

// PersistInterval is how often a single node saves its scheduler state.
var PersistInterval = 10 * time.Second

// persistedCred is the part of a credential's state that outlives a
// process.
type persistedCred struct {
	LastUse   int64  `json:"last_use,omitempty"`
	Cooldown  int64  `json:"cooldown,omitempty"`
	OpenUntil int64  `json:"open_until,omitempty"`
	Day       string `json:"day,omitempty"`
	Uses      int64  `json:"uses,omitempty"`
	Tokens    int64  `json:"tokens,omitempty"`
	Spend     int64  `json:"spend,omitempty"`
	EWMA      int64  `json:"ewma,omitempty"`
	Fails     int    `json:"fails,omitempty"`
	Disabled  bool   `json:"disabled,omitempty"`
	Why       string `json:"why,omitempty"`
	LastError string `json:"last_error,omitempty"`
	ErrorAt   int64  `json:"last_error_at,omitempty"`
}

type persistedState struct {
	Creds map[int64]persistedCred `json:"creds"`
	RR    map[string]int64        `json:"rr"`
}

// Export returns the state worth keeping across a restart, as JSON.
func (s *MemoryState) Export() ([]byte, error) {
	s.mu.Lock()
	out := persistedState{Creds: make(map[int64]persistedCred, len(s.creds)), RR: make(map[string]int64, len(s.rr))}
	for id, c := range s.creds {
		out.Creds[id] = persistedCred{LastUse: c.lastUse, Cooldown: c.cooldown, OpenUntil: c.openUntil, Day: c.day,
			Uses: c.uses, Tokens: c.tokens, Spend: c.spend, EWMA: c.ewma, Fails: c.fails,
			Disabled: c.disabled, Why: c.why, LastError: c.lastError, ErrorAt: c.lastErrorAt}
	}
	for ch, n := range s.rr {
		out.RR[ch] = n
	}
	s.mu.Unlock()
	return json.Marshal(out)
}

// Import replaces the state with one Export returned.
func (s *MemoryState) Import(b []byte) error {
	var in persistedState
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("decode scheduler state: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range in.Creds {
		c := s.cred(id)
		c.lastUse, c.cooldown, c.openUntil, c.day = p.LastUse, p.Cooldown, p.OpenUntil, p.Day
		c.uses, c.tokens, c.spend, c.ewma, c.fails = p.Uses, p.Tokens, p.Spend, p.EWMA, p.Fails
		c.disabled, c.why, c.lastError, c.lastErrorAt = p.Disabled, p.Why, p.LastError, p.ErrorAt
	}
	for ch, n := range in.RR {
		s.rr[ch] = n
	}
	return nil
}

// stateSetting is the settings row holding a single node's saved state.
const stateSetting = "pool_memory_state"

// loadMemoryState restores a saved memory state; a missing or unreadable
// one leaves the state empty (the scheduler then starts afresh, as before).
func (p *Pool) loadMemoryState(ctx context.Context, ms *MemoryState) {
	b, ok, err := p.store.db.GetSetting(ctx, stateSetting)
	if err != nil || !ok {
		if err != nil {
			p.log.Warn("load saved scheduler state", "error", err.Error())
		}
		return
	}
	if err := ms.Import([]byte(b)); err != nil {
		p.log.Warn("load saved scheduler state", "error", err.Error())
	}
}

// saveMemoryState writes the memory state when it changed since last time.
func (p *Pool) saveMemoryState(ctx context.Context, ms *MemoryState, last *string) {
	b, err := ms.Export()
	if err != nil || string(b) == *last {
		return
	}
	if err := p.store.db.SetSetting(ctx, stateSetting, string(b)); err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "save scheduler state", slog.String("error", err.Error()))
		return
	}
	*last = string(b)
}

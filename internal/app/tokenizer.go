package app

import (
	"context"
	"time"

	"github.com/switchyard/switchyard/internal/tokens"
)

// DefaultTokenizerWarmup is how long after it starts serving a node builds
// its token-count vocabularies: long enough to stay out of the way of
// start-up (readiness, the first reloads), short enough to be done before
// most first streams. Opening a vocabulary now only compiles its split
// regexp (the tables are read in place from the binary, internal/tokens);
// without the warm-up the first request that counts tokens pays that.
const DefaultTokenizerWarmup = 2 * time.Second

// warmTokenizers builds, in the background after the warm-up delay, the
// vocabularies of the models the node serves at that moment (none when no
// model is served: a node without channels pays nothing). It never blocks
// Run; a node stopped before the delay skips it.
func (a *App) warmTokenizers(ctx context.Context) {
	delay := a.warmDelay
	if delay < 0 {
		return
	}
	if delay == 0 {
		delay = DefaultTokenizerWarmup
	}
	warm := a.warm
	if warm == nil {
		warm = tokens.Encoding.Warm
	}
	go func() {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seen := map[string]bool{}
		for _, m := range a.pool.ModelNames() {
			e := tokens.ForModel(m)
			if seen[e.Name()] {
				continue
			}
			seen[e.Name()] = true
			start := time.Now()
			warm(e)
			a.log.Debug("tokenizer warmed", "encoding", e.Name(), "took", time.Since(start).Round(time.Millisecond))
		}
	}()
}

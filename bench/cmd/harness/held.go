package main

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/bench/load"
)

// held is what a held-streams scenario measured on one target.
type held struct {
	Result *load.HoldResult `json:"result"`
	// IdleRSSKiB is VmRSS after the warm-up, before any stream is started;
	// HeldRSSKiB the highest VmRSS sampled while all streams were open.
	IdleRSSKiB int64 `json:"idle_rss_kib"`
	HeldRSSKiB int64 `json:"held_rss_kib"`
	// PerStreamKiB is (HeldRSSKiB − IdleRSSKiB) / streams.
	PerStreamKiB float64 `json:"per_stream_kib"`
	// IdleFDs and HeldFDs count the target's open descriptors before and
	// while the streams were held (the highest sample).
	IdleFDs     int   `json:"idle_fds"`
	HeldFDs     int   `json:"held_fds"`
	HeldThreads int64 `json:"held_threads"`
}

// measureHeld holds sc.Held streams open on each target in turn. Each
// target is first warmed with short streams of the same shape, so that the
// idle reading already includes what serving any stream at all costs
// (pools, buffers, upstream connections), then left to settle; the
// streams are started together, and once every one has its first event the
// target's RSS is sampled a few times and the highest sample kept. The
// difference, over the number of streams, is what one held stream costs.
func measureHeld(ctx context.Context, o options, sc scenario, targets []*target, rep *report) error {
	client := load.Client(sc.Held)
	defer client.CloseIdleConnections()
	rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %d streams, each %s", sc.Name, sc.Held, sc.About))
	for _, t := range targets {
		warm := sc
		warm.Body = sc.WarmBody
		if _, err := load.Run(ctx, client, warm.request(t), load.Config{Mode: load.Closed, Workers: o.workers, Duration: o.warmup}); err != nil {
			return fmt.Errorf("%s warm-up on %s: %w", sc.Name, t.Name, err)
		}
		// Close the warm-up's connections so that the idle reading holds
		// no more of them than the target keeps on its own.
		client.CloseIdleConnections()
		if err := sleepCtx(ctx, settle(o)); err != nil {
			return err
		}
		idle, err := t.proc.stats()
		if err != nil {
			return err
		}
		idleFDs, err := t.proc.openFDs()
		if err != nil {
			return err
		}
		h := &held{IdleRSSKiB: idle.RSSKiB, IdleFDs: idleFDs}
		sample := func(ctx context.Context) error {
			for i := range heldSampleTimes {
				if i > 0 {
					if err := sleepCtx(ctx, heldSampleEvery); err != nil {
						return err
					}
				}
				s, err := t.proc.stats()
				if err != nil {
					return err
				}
				fds, err := t.proc.openFDs()
				if err != nil {
					return err
				}
				h.HeldRSSKiB = max(h.HeldRSSKiB, s.RSSKiB)
				h.HeldFDs = max(h.HeldFDs, fds)
				h.HeldThreads = max(h.HeldThreads, s.Threads)
			}
			return nil
		}
		res, err := load.Hold(ctx, client, sc.request(t), load.HoldConfig{Streams: sc.Held, OpenTimeout: heldOpenTimeout}, sample)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", sc.Name, t.Name, err)
		}
		client.CloseIdleConnections()
		h.Result = res
		h.PerStreamKiB = float64(h.HeldRSSKiB-h.IdleRSSKiB) / float64(sc.Held)
		after, err := t.proc.stats()
		if err != nil {
			return err
		}
		logf("%-10s %-20s %d streams: %d held at once (all open after %v), RSS %.1f → %.1f MiB = %.1f KiB per stream, fds %d → %d, ok %d errors %d",
			sc.Name, t.Name, sc.Held, res.StillOpen, ms(res.OpenAfter), mib(h.IdleRSSKiB), mib(h.HeldRSSKiB),
			h.PerStreamKiB, h.IdleFDs, h.HeldFDs, res.OK, res.Errors)
		rep.Rows = append(rep.Rows, &row{
			Scenario: sc.Name, Target: t.Name, Held: h,
			PeakRSSKiB: after.HWMKiB, RSSKiB: after.RSSKiB, Threads: after.Threads,
		})
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

//go:build !unix

package store

import (
	"context"
	"sync"
)

// Without flock, LockFile only excludes handles within this process; two
// processes migrating one SQLite file at once are not guarded on these
// platforms (SQLite is the single-node setup, so that takes a deliberate act),
// nor two processes sharing a billing journal directory.
var fileLocks sync.Map // path → chan struct{} (a one-slot semaphore)

func LockFile(ctx context.Context, path string) (unlock func() error, err error) {
	v, _ := fileLocks.LoadOrStore(path, make(chan struct{}, 1))
	sem := v.(chan struct{})
	select {
	case sem <- struct{}{}:
		return func() error { <-sem; return nil }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

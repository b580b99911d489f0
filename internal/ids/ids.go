// Package ids makes identifiers whose byte order follows the time they
// were made.
//
// Charge ids and request ids are keys of unique indexes on the ledger and
// the usage log. Random keys land each new row on a random leaf page of
// those indexes, so a drain of N rows rewrites about N pages per index
// (in SQLite's WAL, then again at the checkpoint; in PostgreSQL's WAL as
// full pages after each checkpoint). Keys that grow with time land on the
// index's right edge, where a drain's rows share a few pages.
package ids

import (
	"crypto/rand"
	"time"
)

// TimeBytes is how many leading bytes Timed gives to the time.
const TimeBytes = 6

// Timed fills b with the Unix time in milliseconds, big-endian, in its
// first TimeBytes bytes (48 bits last until the year 10889) and random
// bytes after them. Encoded with an alphabet in ASCII order (Lower or
// Upper), ids of the same length sort by the millisecond
// they were made in; within one they are random. b must be longer than
// TimeBytes: what follows is what makes the id unguessable.
func Timed(b []byte) {
	TimedAt(b, time.Now())
}

// TimedAt is Timed at a given time.
func TimedAt(b []byte, t time.Time) {
	ms := uint64(t.UnixMilli())
	for i := range TimeBytes {
		b[i] = byte(ms >> (8 * (TimeBytes - 1 - i)))
	}
	_, _ = rand.Read(b[TimeBytes:]) // never fails since Go 1.24
}

// Lower and Upper are base32's characters (RFC 4648's) in ASCII order:
// ids encoded with them sort as their bytes do.
const (
	Lower = "234567abcdefghijklmnopqrstuvwxyz"
	Upper = "234567ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

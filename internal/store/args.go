package store

import "time"

// ArgBoxes puts the column values of a multi-row statement into the
// interface values database/sql takes, reusing a column's value of the
// previous row when it repeats. Putting a string, an int64 beyond 255 or a
// time in an interface is an allocation, and in the batches the billing
// drainer writes most columns (user, key, model, channel, client address,
// time of the batch) repeat from one row to the next.
type ArgBoxes struct{ prev []any }

// NewArgBoxes returns the boxes of rows of columns values.
func NewArgBoxes(columns int) *ArgBoxes { return &ArgBoxes{prev: make([]any, columns)} }

// String is s as column col's value.
func (b *ArgBoxes) String(col int, s string) any {
	if v, ok := b.prev[col].(string); !ok || v != s {
		b.prev[col] = s
	}
	return b.prev[col]
}

// Int64 is n as column col's value.
func (b *ArgBoxes) Int64(col int, n int64) any {
	if v, ok := b.prev[col].(int64); !ok || v != n {
		b.prev[col] = n
	}
	return b.prev[col]
}

// Time is t as column col's value; only the very same time (==, location
// included) is reused.
func (b *ArgBoxes) Time(col int, t time.Time) any {
	if v, ok := b.prev[col].(time.Time); !ok || v != t {
		b.prev[col] = t
	}
	return b.prev[col]
}

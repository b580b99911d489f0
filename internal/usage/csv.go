package usage

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// CSVView chooses the columns of an export.
type CSVView int

const (
	// CSVAdmin is every column, routing included.
	CSVAdmin CSVView = iota
	// CSVUser is what a user may see of their own requests: no channel,
	// credential, upstream model or upstream error, which describe the
	// operator's accounts rather than the user's requests.
	CSVUser
)

var (
	adminCSV = []string{"id", "time", "request_id", "user_id", "user_email", "key_id", "key_name", "model", "served_model",
		"channel", "credential_id", "attempts", "stream", "status", "error", "prompt_tokens", "completion_tokens",
		"cached_tokens", "reasoning_tokens", "images", "estimated", "cost_micros", "ttfb_ms", "duration_ms", "client_ip"}
	userCSV = []string{"id", "time", "request_id", "key_id", "key_name", "model", "stream", "status", "prompt_tokens",
		"completion_tokens", "cached_tokens", "reasoning_tokens", "images", "estimated", "cost_micros", "ttfb_ms",
		"duration_ms", "client_ip"}
)

// csvFlushEvery is how many rows go out at a time: often enough that a
// long export shows progress, rarely enough that each write is worth it.
const csvFlushEvery = 256

// WriteCSV writes the rows f selects (ignoring f.Limit), newest first, as
// CSV with a header line, each row as it is read (Each): an export of any
// size needs no more memory than one chunk of rows. When w has a Flush
// method (an http.ResponseWriter) it is flushed as rows go out.
func (s *Store) WriteCSV(ctx context.Context, w io.Writer, f Filter, view CSVView) error {
	cw := csv.NewWriter(w)
	header := adminCSV
	if view == CSVUser {
		header = userCSV
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write usage csv: %w", err)
	}
	rec := make([]string, 0, len(adminCSV))
	n := 0
	err := s.Each(ctx, f, func(r *Row) error {
		rec = csvRecord(rec[:0], r, view)
		if err := cw.Write(rec); err != nil {
			return err
		}
		if n++; n%csvFlushEvery == 0 {
			return flush(cw, w)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write usage csv: %w", err)
	}
	if err := flush(cw, w); err != nil {
		return fmt.Errorf("write usage csv: %w", err)
	}
	return nil
}

func flush(cw *csv.Writer, w io.Writer) error {
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	switch f := w.(type) {
	case interface{ Flush() error }:
		return f.Flush()
	case interface{ Flush() }:
		f.Flush()
	}
	return nil
}

func csvRecord(rec []string, r *Row, view CSVView) []string {
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	id := func(v int64) string {
		if v == 0 {
			return ""
		}
		return i64(v)
	}
	rec = append(rec, i64(r.ID), r.Time.UTC().Format(time.RFC3339Nano), cell(r.RequestID))
	if view == CSVAdmin {
		rec = append(rec, id(r.UserID), cell(r.User))
	}
	rec = append(rec, id(r.KeyID), cell(r.KeyName), cell(r.Model))
	if view == CSVAdmin {
		rec = append(rec, cell(r.ServedModel), cell(r.Channel), id(r.CredentialID), strconv.Itoa(r.Attempts))
	}
	rec = append(rec, strconv.FormatBool(r.Stream), strconv.Itoa(r.Status))
	if view == CSVAdmin {
		rec = append(rec, cell(r.Error))
	}
	return append(rec, i64(r.PromptTokens), i64(r.CompletionTokens), i64(r.CachedTokens), i64(r.ReasoningTokens),
		strconv.Itoa(r.Images), strconv.FormatBool(r.Estimated), i64(r.CostMicros), i64(r.TTFB.Milliseconds()),
		i64(r.Duration.Milliseconds()), cell(r.ClientIP))
}

// cell keeps a spreadsheet from running a text cell as a formula: model
// names, request ids and errors come from clients and upstreams.
func cell(s string) string {
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@', '\t', '\r':
			return "'" + s
		}
	}
	return s
}

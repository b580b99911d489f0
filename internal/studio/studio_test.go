package studio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

func newStore(t *testing.T, url string) (*Store, *time.Time) {
	t.Helper()
	db, err := store.Open(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	return New(db, func() time.Time { now = now.Add(time.Second); return now }), &now
}

func invalid(err error, field string) bool {
	var ie *InvalidError
	return errors.As(err, &ie) && ie.Field == field
}

func TestPresets(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		s, _ := newStore(t, url)
		ctx := t.Context()
		if _, err := s.SavePreset(ctx, 2, "  Square HD ", json.RawMessage(`{"size":"1024x1024","quality":"high"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SavePreset(ctx, 2, "wide", json.RawMessage(`{"size":"1536x1024"}`)); err != nil {
			t.Fatal(err)
		}
		// The same name, another case: replaced, and first again.
		if _, err := s.SavePreset(ctx, 2, "square hd", json.RawMessage(`{"size":"1024x1024","quality":"low"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SavePreset(ctx, 3, "wide", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		ps, err := s.Presets(ctx, 2)
		if err != nil || len(ps) != 2 || ps[0].Name != "square hd" || !strings.Contains(string(ps[0].Params), `"low"`) || ps[1].Name != "wide" {
			t.Fatalf("presets: %+v %v", ps, err)
		}
		for _, c := range []struct {
			name, params, field string
		}{
			{" ", `{}`, "name"},
			{strings.Repeat("名", MaxName+1), `{}`, "name"},
			{"x", `[1]`, "params"},
			{"x", `not json`, "params"},
			{"x", `{"p":"` + strings.Repeat("a", MaxParamsBytes) + `"}`, "params"},
		} {
			if _, err := s.SavePreset(ctx, 2, c.name, json.RawMessage(c.params)); !invalid(err, c.field) {
				t.Errorf("save %q %.20s: %v, want invalid %s", c.name, c.params, err, c.field)
			}
		}
		for i := len(ps); i < MaxPresets; i++ {
			if _, err := s.SavePreset(ctx, 2, fmt.Sprintf("p%d", i), json.RawMessage(`{}`)); err != nil {
				t.Fatal(i, err)
			}
		}
		if _, err := s.SavePreset(ctx, 2, "one too many", json.RawMessage(`{}`)); !invalid(err, "name") {
			t.Fatalf("over the limit: %v", err)
		}
		if _, err := s.SavePreset(ctx, 2, "WIDE", json.RawMessage(`{"n":2}`)); err != nil {
			t.Fatalf("replacing at the limit: %v", err)
		}
		if err := s.DeletePreset(ctx, 2, " Wide "); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePreset(ctx, 2, "wide"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted twice: %v", err)
		}
		if ps, _ := s.Presets(ctx, 3); len(ps) != 1 {
			t.Fatalf("another user's presets changed: %+v", ps)
		}
	})
}

func TestSnippets(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		s, _ := newStore(t, url)
		ctx := t.Context()
		a, err := s.SaveSnippet(ctx, 2, " 电影感，柔焦 ")
		if err != nil || a.Text != "电影感，柔焦" {
			t.Fatalf("save: %+v %v", a, err)
		}
		if _, err := s.SaveSnippet(ctx, 2, "golden hour"); err != nil {
			t.Fatal(err)
		}
		again, err := s.SaveSnippet(ctx, 2, "电影感，柔焦")
		if err != nil || again.ID != a.ID {
			t.Fatalf("saved again: %+v %v", again, err)
		}
		got, err := s.Snippets(ctx, 2)
		if err != nil || len(got) != 2 || got[0].ID != a.ID || got[1].Text != "golden hour" {
			t.Fatalf("snippets: %+v %v", got, err)
		}
		if _, err := s.SaveSnippet(ctx, 2, "  "); !invalid(err, "text") {
			t.Fatalf("empty: %v", err)
		}
		if _, err := s.SaveSnippet(ctx, 2, strings.Repeat("x", MaxSnippet+1)); !invalid(err, "text") {
			t.Fatalf("too long: %v", err)
		}
		for i := len(got); i < MaxSnippets; i++ {
			if _, err := s.SaveSnippet(ctx, 2, fmt.Sprint("snippet ", i)); err != nil {
				t.Fatal(i, err)
			}
		}
		if _, err := s.SaveSnippet(ctx, 2, "one too many"); !invalid(err, "text") {
			t.Fatalf("over the limit: %v", err)
		}
		if _, err := s.SaveSnippet(ctx, 2, "golden hour"); err != nil {
			t.Fatalf("an existing one at the limit: %v", err)
		}
		if err := s.DeleteSnippet(ctx, 3, a.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another user's delete: %v", err)
		}
		if err := s.DeleteSnippet(ctx, 2, a.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Snippets(ctx, 2); len(got) != MaxSnippets-1 || got[0].Text != "golden hour" {
			t.Fatalf("after delete: %d, first %q", len(got), got[0].Text)
		}
	})
}

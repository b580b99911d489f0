package store

import (
	"errors"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/x?sslmode=disable", "postgres://app:xxxxx@db:5432/x?sslmode=disable"},
		{"postgres://app@db/x", "postgres://app@db/x"},
		{"postgres://db/x?user=app&password=s3cret&sslmode=require", "postgres://db/x?user=app&password=xxxxx&sslmode=require"},
		{"mysql://root:p@ss/w:rd@tcp(127.0.0.1:3306)/db?parseTime=true", "mysql://root:xxxxx@tcp(127.0.0.1:3306)/db?parseTime=true"},
		{"mysql://root@tcp(127.0.0.1:3306)/db", "mysql://root@tcp(127.0.0.1:3306)/db"},
		{"redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"redis://default:s3cret@host:bad/0", "redis://default:xxxxx@host:bad/0"},
		{"user:s3cret@tcp(h)/db", "user:xxxxx@tcp(h)/db"},
		{"sqlite://./data/switchyard.db", "sqlite://./data/switchyard.db"},
	}
	for _, c := range cases {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestScrub(t *testing.T) {
	inner := errors.New("auth failed for s3cr%2Ft and s3cr/t")
	err := scrub(inner, passwords("postgres://u:s3cr%2Ft@h/db"))
	if strings.Contains(err.Error(), "s3cr") {
		t.Errorf("scrubbed error still has the password: %v", err)
	}
	if !errors.Is(err, inner) {
		t.Error("scrub broke the error chain")
	}
	if scrub(nil, []string{"x"}) != nil {
		t.Error("scrub(nil) != nil")
	}
}

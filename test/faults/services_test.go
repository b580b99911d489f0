package faults_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
)

// Case 9: Redis goes away and comes back.
func TestRedisOutage(t *testing.T) {
	const unlimitedKey = "sk-faults-unlimited-0123456789abcdef"
	// Persisting every write (appendfsync always), as the billing doc
	// requires of a production Redis.
	rs := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	n := startNode(t, func(cfg *config.Config) {
		cfg.Database.URL = config.Secret(testenv.FreshPostgresURL(t))
		cfg.Redis.URL = config.Secret(rs.URL())
		cfg.Redis.Prefix = "faults:"
		cfg.SecretKey = config.Secret(strings.Repeat("cd", 32))
		// A rate limit, so that admission itself needs Redis; the
		// second key has none, so that its requests reach the meter.
		cfg.Keys[0].RPM = 10_000
		cfg.Keys = append(cfg.Keys, config.Key{Name: "unlimited", User: email, Key: unlimitedKey})
	})
	// Requests that reach the relay are in the usage log; those refused
	// because Redis was down may be too (their rows wait in the node for
	// Redis to come back).
	logged, maybe := 0, 0
	for i := range 2 {
		if a := n.send("before the outage", i == 1); a.status != 200 {
			t.Fatalf("before the outage: %d %s", a.status, a.body)
		}
		logged++
	}

	rs.Kill()
	for i := range 3 {
		a := n.send("during the outage", i == 1)
		if a.status != 503 || (a.code() != "limiter_unavailable" && a.code() != "billing_unavailable") {
			t.Fatalf("Redis down: %d %s, want 503 limiter_unavailable or billing_unavailable", a.status, a.body)
		}
		noGoError(t, "Redis down", a.body)
		// The gateway's Redis client retries a refused connection once,
		// briefly, before the gateway answers.
		if a.took > time.Second {
			t.Errorf("Redis down: answered in %v, want quickly", a.took)
		}
	}
	// Without a rate limit the request gets as far as the meter's
	// reserve, which needs Redis too.
	n.key = unlimitedKey
	a := n.send("during the outage", false)
	n.key = ""
	n.wantError("Redis down, no rate limit", a, 503, "billing_unavailable")
	if a.took > time.Second {
		t.Errorf("Redis down, no rate limit: answered in %v, want quickly", a.took)
	}
	maybe++

	rs.Start()
	back := time.Now()
	for {
		a := n.send("after the outage", false)
		if a.status == 200 {
			logged++
			break
		}
		if a.code() != "limiter_unavailable" {
			maybe++
		}
		if a.status != 503 {
			t.Fatalf("Redis back: %d %s, want 200 or, for a moment, 503", a.status, a.body)
		}
		if time.Since(back) > 5*time.Second {
			t.Fatalf("Redis back for 5s, requests still refused: %d %s", a.status, a.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("served again %v after Redis came back", time.Since(back).Round(time.Millisecond))
	for i := range 2 {
		if a := n.send("after the outage", i == 1); a.status != 200 {
			t.Fatalf("Redis back: %d %s", a.status, a.body)
		}
		logged++
	}
	for _, r := range n.settleRange(logged, logged+maybe) {
		switch {
		case r.Status == 503 && len(n.charges()[r.ChargeID]) == 0:
			// Refused at the reserve while Redis was down: nothing was
			// held, so nothing moved. Its usage row waited in the node
			// and was journaled once Redis was back.
			if r.CostMicros != 0 {
				t.Errorf("request refused for billing logged at cost %d", r.CostMicros)
			}
		case r.Status != 200:
			n.wantFree(r, r.Status)
		}
	}
	n.audit()
	n.checkLeaks()
}

// Case 10: the database stops taking writes for a few seconds. Requests
// must not wait for it, and the books must be complete once it is back.
func TestDatabasePause(t *testing.T) {
	const hold = 2500 * time.Millisecond
	for _, tc := range []struct {
		name string
		url  func(t testing.TB) string
		// lock takes the database's writes away until release is called.
		lock func(t *testing.T, url string) (release func())
	}{
		{"sqlite", nil, func(t *testing.T, url string) func() {
			db := openSQL(t, "sqlite", strings.TrimPrefix(url, "sqlite://")+"?_pragma=busy_timeout(5000)")
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
				t.Fatalf("take the write lock: %v", err)
			}
			return func() {
				if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
					t.Errorf("release the write lock: %v", err)
				}
				conn.Close()
			}
		}},
		{"postgres", testenv.FreshPostgresURL, func(t *testing.T, url string) func() {
			db := openSQL(t, "pgx", url)
			tx, err := db.BeginTx(context.Background(), &sql.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
				t.Fatalf("lock users: %v", err)
			}
			return func() {
				if err := tx.Rollback(); err != nil {
					t.Errorf("unlock users: %v", err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var url string
			n := startNode(t, func(cfg *config.Config) {
				if tc.url != nil {
					cfg.Database.URL = config.Secret(tc.url(t))
					cfg.SecretKey = config.Secret(strings.Repeat("cd", 32))
				}
				url = cfg.Database.URL.Value()
			})
			release := tc.lock(t, url)
			locked := time.Now()
			sent := 0
			for time.Since(locked) < hold {
				a := n.send("while the database is locked", sent%2 == 1)
				if a.status != 200 {
					release()
					t.Fatalf("request %d with the database locked: %d %s", sent, a.status, a.body)
				}
				if a.took > time.Second {
					t.Errorf("request %d with the database locked took %v: the hot path waits on the database", sent, a.took)
				}
				sent++
				time.Sleep(100 * time.Millisecond) // a steady trickle, not a load test
			}
			release()
			if sent < 3 {
				t.Fatalf("only %d requests in %v", sent, hold)
			}
			for _, r := range n.settle(sent) {
				if r.Status != 200 || r.CostMicros <= 0 {
					t.Errorf("request logged with status %d cost %d", r.Status, r.CostMicros)
				}
			}
			n.audit()
			n.checkLeaks()
		})
	}
}

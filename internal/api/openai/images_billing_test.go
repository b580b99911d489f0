package openai_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/mock"
)

// TestImageBilling: images are charged as delivered, per image at the
// size's price (or by tokens when the model is priced so), times the
// group ratio, and a short batch pays only for what arrived.
func TestImageBilling(t *testing.T) {
	g := imageGateway(t, func(cfg *config.Config) {
		cfg.Pricing = map[string]config.Price{
			"gpt-image-1": {PerImage: map[string]float64{"1024x1024": 0.04, "1024x1024/high": 0.17, "default": 0.06}},
			"dall-e-3":    {PerImage: map[string]float64{"default": 0.08}},
			"dall-e-2":    {Input: 5, Output: 40, PerImage: map[string]float64{"default": 0.02}},
			"tok-image":   {Input: 5, Output: 40, PerImage: map[string]float64{"default": 0.5}},
		}
		img := &cfg.Channels[len(cfg.Channels)-1]
		img.ModelMap = map[string]string{"tok-image": "gpt-image-1"}
		img.Models = append(img.Models, "tok-image")
		cfg.Users = append(cfg.Users, config.User{Email: "payer@example.com", Credit: 10})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "payer", User: "payer@example.com", Key: "sk-test-payer-0123456789"})
	})
	ctx := context.Background()
	ledger := billing.NewLedger(g.app.DB(), time.Now)
	uid, err := ledger.UserID(ctx, "payer@example.com")
	if err != nil {
		t.Fatal(err)
	}
	balance := func() billing.Micros {
		t.Helper()
		if err := g.app.Meter().Drain(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := ledger.Balance(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name      string
		body      string
		delivered int
		cost      billing.Micros
	}{
		{"four at the size price", `{"model":"gpt-image-1","prompt":"a","n":4,"size":"1024x1024"}`, 4, 160_000},
		{"size and quality price", `{"model":"gpt-image-1","prompt":"a","n":1,"size":"1024x1024","quality":"high"}`, 1, 170_000},
		{"default price", `{"model":"gpt-image-1","prompt":"a","n":2,"size":"1536x1024"}`, 2, 120_000},
		{"short batch pays what arrived", `{"model":"gpt-image-1","prompt":"a [[mock images_delivered=2]]","n":5,"size":"1024x1024"}`, 2, 80_000},
		{"fanned out", `{"model":"dall-e-3","prompt":"a","n":3}`, 3, 240_000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := balance()
			resp, a := g.imagePost(t, "/v1/images/generations", "sk-test-payer-0123456789", "application/json", strings.NewReader(c.body), nil)
			if resp.StatusCode != http.StatusOK || len(a.Data) != c.delivered {
				t.Fatalf("status %d, %d images: %+v", resp.StatusCode, len(a.Data), a.Error)
			}
			if got := before - balance(); got != c.cost {
				t.Errorf("charged %d micro-USD, want %d", got, c.cost)
			}
		})
	}
	// Token-priced: the upstream's usage is charged, not the per-image price.
	before := balance()
	resp, a := g.imagePost(t, "/v1/images/generations", "sk-test-payer-0123456789", "application/json",
		strings.NewReader(`{"model":"dall-e-2","prompt":"abcdefgh","n":1,"size":"1024x1024","quality":"low"}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token-priced: %d %+v", resp.StatusCode, a.Error)
	}
	charged := before - balance()
	// The mock reports no usage for dall-e models, so the image price applies.
	if charged != 20_000 {
		t.Errorf("dall-e-2 without usage: charged %d, want the per-image 20000", charged)
	}
	// With usage reported (the mock's gpt-image usage: 2 prompt tokens for
	// 8 characters, 272 output tokens for one low 1024x1024 image), tokens
	// are charged: 2×5 + 272×40 micro-USD, not the 0.5 USD image price.
	before = balance()
	resp, a = g.imagePost(t, "/v1/images/generations", "sk-test-payer-0123456789", "application/json",
		strings.NewReader(`{"model":"tok-image","prompt":"abcdefgh","n":1,"size":"1024x1024","quality":"low"}`), nil)
	if resp.StatusCode != http.StatusOK || a.Usage == nil || a.Usage.OutputTokens != 272 {
		t.Fatalf("token-priced: %d %+v %+v", resp.StatusCode, a.Error, a.Usage)
	}
	if charged := before - balance(); charged != 10_890 {
		t.Errorf("token-priced image: charged %d, want 10890", charged)
	}
	if errs, err := ledger.Audit(ctx); err != nil || len(errs) != 0 {
		t.Errorf("ledger audit: %v %v", errs, err)
	}
}

// TestImageCancelledTaskBilling: a task cancelled through DELETE
// /v1/images/tasks/{id} before the upstream answered costs nothing,
// whether the cancellation reaches the run before the answer (the
// heartbeat stops the upstream call) or only as the answer arrives (the
// run asks before charging); its usage row says 499 and no image of it
// stays stored. A synchronous request cancelled so (409 task_cancelled)
// costs nothing either.
func TestImageCancelledTaskBilling(t *testing.T) {
	tests := []struct {
		name      string
		heartbeat time.Duration
		async     bool
	}{
		{"async, cancelled before the answer arrives", time.Hour, true},
		{"async, heartbeat stops the upstream call", 50 * time.Millisecond, true},
		{"sync, heartbeat stops the upstream call", 50 * time.Millisecond, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mock.New(mock.Options{})
			up := httptest.NewServer(m)
			t.Cleanup(up.Close)
			cfg := imageNodeConfig(t, up.URL)
			cfg.Pricing = map[string]config.Price{"gpt-image-1": {PerImage: map[string]float64{"default": 0.04}}}
			cfg.Users = append(cfg.Users, config.User{Email: "payer@example.com", Credit: 10})
			cfg.Keys = append(cfg.Keys, config.Key{Name: "payer", User: "payer@example.com", Key: payerKey})
			g, _ := runNode(t, cfg, app.WithImageRunner(func(o *images.RunnerOptions) {
				o.HeartbeatInterval = tc.heartbeat
				o.PollInterval = 20 * time.Millisecond
			}))
			ctx := context.Background()
			ledger := billing.NewLedger(g.app.DB(), time.Now)
			uid, err := ledger.UserID(ctx, "payer@example.com")
			if err != nil {
				t.Fatal(err)
			}
			balance := func() billing.Micros {
				t.Helper()
				if err := g.app.Meter().Drain(ctx); err != nil {
					t.Fatal(err)
				}
				b, err := ledger.Balance(ctx, uid)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			before := balance()
			body := `{"model":"gpt-image-1","prompt":"slow [[mock latency=1500ms]]","n":2,"async":` + strconv.FormatBool(tc.async) + `}`
			type answer struct {
				status int
				code   string
			}
			done := make(chan answer, 1)
			go func() {
				resp, a := g.imagePost(t, "/v1/images/generations", payerKey, "application/json", strings.NewReader(body), nil)
				r := answer{status: resp.StatusCode}
				if a.Error != nil {
					r.code = a.Error.Code
				}
				done <- r
			}()
			tasks := images.NewTasks(g.app.DB(), time.Now)
			var task images.Task
			for deadline := time.Now().Add(5 * time.Second); task.ID == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				ts, err := tasks.List(ctx, uid, 10, "")
				// Running, and the upstream has the request (counted as it
				// arrives; it answers 1.5 s later).
				if err == nil && len(ts) == 1 && ts[0].Status == images.StatusRunning && m.Counters().ByCredential["img-1"] == 1 {
					task = ts[0]
				}
			}
			if task.ID == "" {
				t.Fatal("the task never ran")
			}
			req, _ := http.NewRequest(http.MethodDelete, g.base+"/v1/images/tasks/"+task.ID, nil)
			req.Header.Set("Authorization", "Bearer "+payerKey)
			dresp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			dresp.Body.Close()
			if dresp.StatusCode != http.StatusOK {
				t.Fatalf("cancel: %d", dresp.StatusCode)
			}
			a := <-done
			if want := (answer{http.StatusAccepted, ""}); !tc.async && (a.status != http.StatusConflict || a.code != "task_cancelled") ||
				tc.async && a != want {
				t.Errorf("the request was answered %+v", a)
			}
			// The run ends when the upstream answers (or is cut off), and
			// leaves its usage row.
			var status int
			var cost int64
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				_ = balance() // drains the usage rows too
				err := g.app.DB().Read().QueryRowContext(ctx, g.app.DB().Dialect().Rebind(
					"SELECT status, cost_micros FROM usage_logs WHERE request_id = ?"), task.RequestID).Scan(&status, &cost)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no usage row for request %s: %v", task.RequestID, err)
				}
			}
			if status != 499 || cost != 0 {
				t.Errorf("usage row: status %d, cost %d; want 499 and 0", status, cost)
			}
			if charged := before - balance(); charged != 0 {
				t.Errorf("a task cancelled before its images arrived was charged %d micro-USD", charged)
			}
			time.Sleep(100 * time.Millisecond) // the run's last writes
			cur, err := tasks.Get(ctx, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.Status != images.StatusCancelled || cur.Delivered != 0 || cur.CostMicros != 0 || cur.Stored {
				t.Errorf("task: %s, %d delivered, %d micro-USD, stored %v", cur.Status, cur.Delivered, cur.CostMicros, cur.Stored)
			}
			for _, f := range treeFiles(t, filepath.Join(cfg.Server.DataDir, "images")) {
				if strings.Contains(f, task.ID) {
					t.Errorf("%s of the cancelled task is stored", f)
				}
			}
			if errs, err := ledger.Audit(ctx); err != nil || len(errs) != 0 {
				t.Errorf("ledger audit: %v %v", errs, err)
			}
		})
	}
}

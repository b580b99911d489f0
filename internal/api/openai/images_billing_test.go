package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
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
	balance := apptest.Balance(t, g.app, "payer@example.com")
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
	if errs, err := billing.NewLedger(g.app.DB(), time.Now).Audit(context.Background()); err != nil || len(errs) != 0 {
		t.Errorf("ledger audit: %v %v", errs, err)
	}
}

// billedImageNode is a node whose gpt-image-1 and dall-e-3 are priced
// per image, with the payer's key, and whose runner heartbeats every
// heartbeat.
type billedImageNode struct {
	g       *gateway
	m       *mock.Server
	up      string
	cfg     *config.Config
	ledger  *billing.Ledger
	uid     int64
	balance func() billing.Micros // the payer's, once every charge is written
}

func newBilledImageNode(t *testing.T, heartbeat time.Duration) *billedImageNode {
	t.Helper()
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := imageNodeConfig(t, up.URL)
	cfg.Channels[0].Models = append(cfg.Channels[0].Models, "dall-e-3")
	cfg.Pricing = map[string]config.Price{
		"gpt-image-1": {PerImage: map[string]float64{"default": 0.04}},
		"dall-e-3":    {PerImage: map[string]float64{"default": 0.08}},
	}
	cfg.Users = append(cfg.Users, config.User{Email: "payer@example.com", Credit: 10})
	cfg.Keys = append(cfg.Keys, config.Key{Name: "payer", User: "payer@example.com", Key: payerKey})
	g, _ := runNode(t, cfg, app.WithImageRunner(func(o *images.RunnerOptions) {
		o.HeartbeatInterval = heartbeat
		o.PollInterval = 20 * time.Millisecond
	}))
	ledger := billing.NewLedger(g.app.DB(), time.Now)
	uid, err := ledger.UserID(context.Background(), "payer@example.com")
	if err != nil {
		t.Fatal(err)
	}
	n := &billedImageNode{g: g, m: m, up: up.URL, cfg: cfg, ledger: ledger, uid: uid}
	n.balance = apptest.Balance(t, g.app, "payer@example.com")
	return n
}

// usageRows are request id's usage rows as "status:cost", by status.
func (n *billedImageNode) usageRows(t *testing.T, id string) []string {
	t.Helper()
	_ = n.balance() // writes the usage rows too
	db := n.g.app.DB()
	rows, err := db.Read().QueryContext(context.Background(), db.Dialect().Rebind(
		"SELECT status, cost_micros FROM usage_logs WHERE request_id = ? ORDER BY status"), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var status int
		var cost int64
		if err := rows.Scan(&status, &cost); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d:%d", status, cost))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// cancelTask cancels task id through the API.
func (n *billedImageNode) cancelTask(t *testing.T, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, n.g.base+"/v1/images/tasks/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+payerKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d", resp.StatusCode)
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
			n := newBilledImageNode(t, tc.heartbeat)
			g, m, ledger, uid, balance, cfg := n.g, n.m, n.ledger, n.uid, n.balance, n.cfg
			ctx := context.Background()
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
			n.cancelTask(t, task.ID)
			a := <-done
			if want := (answer{http.StatusAccepted, ""}); !tc.async && (a.status != http.StatusConflict || a.code != "task_cancelled") ||
				tc.async && a != want {
				t.Errorf("the request was answered %+v", a)
			}
			// The run ends when the upstream answers (or is cut off), and
			// leaves its usage row.
			var rows []string
			for deadline := time.Now().Add(10 * time.Second); len(rows) == 0; time.Sleep(20 * time.Millisecond) {
				if rows = n.usageRows(t, task.RequestID); len(rows) == 0 && time.Now().After(deadline) {
					t.Fatalf("no usage row for request %s", task.RequestID)
				}
			}
			if strings.Join(rows, " ") != "499:0" {
				t.Errorf("usage rows (status:cost) %v, want [499:0]", rows)
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

// TestImageCancelledTaskKeepsWhatWasCharged: a fanned-out async task
// (dall-e-3 makes one image a call) cancelled after one call's image was
// delivered and charged, while the other call is held upstream, costs
// that one image: the held call is not charged (499), and the cancelled
// task shows the image its owner paid for.
func TestImageCancelledTaskKeepsWhatWasCharged(t *testing.T) {
	n := newBilledImageNode(t, time.Hour)
	ctx := context.Background()
	// The first call to arrive is held 20 s; the other answers at once. The
	// runner learns of the cancel only when the held call returns (its
	// heartbeat is an hour here), so the hold must outlast the fast call's
	// usage row and the cancel even on a loaded CI machine (2 s did not:
	// the row took up to 8 s to appear under load, the task had finished,
	// and the cancel met 409).
	req, _ := http.NewRequest(http.MethodPut, n.up+"/_mock/faults",
		strings.NewReader(`{"credential":"img-1","fault":{"latency":"20s","times":1}}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("set the mock's fault: %v %v", resp, err)
	}
	before := n.balance()
	resp, a := n.g.imagePost(t, "/v1/images/generations", payerKey, "application/json",
		strings.NewReader(`{"model":"dall-e-3","prompt":"two","n":2,"async":true}`), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", resp.StatusCode, a.Error)
	}
	id := resp.Header.Get("X-Switchyard-Task-Id")
	tasks := images.NewTasks(n.g.app.DB(), time.Now)
	cur, err := tasks.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// The fast call is done, and charged, once its usage row is written.
	for deadline := time.Now().Add(15 * time.Second); len(n.usageRows(t, cur.RequestID)) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the fast call never ended")
		}
	}
	n.cancelTask(t, id)
	cur = images.Task{}
	for deadline := time.Now().Add(60 * time.Second); !cur.Stored; time.Sleep(20 * time.Millisecond) {
		if cur, err = tasks.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled task never kept its charged image: %+v", cur)
		}
	}
	if cur.Status != images.StatusCancelled || cur.Delivered != 1 || cur.CostMicros != 80_000 || len(cur.Outputs) != 1 {
		t.Errorf("task: %s, %d delivered, %d micro-USD, %d outputs", cur.Status, cur.Delivered, cur.CostMicros, len(cur.Outputs))
	}
	if charged := before - n.balance(); charged != 80_000 {
		t.Errorf("charged %d micro-USD, want the one delivered image's 80000", charged)
	}
	got := n.usageRows(t, cur.RequestID)
	if strings.Join(got, " ") != "200:80000 499:0" {
		t.Errorf("usage rows (status:cost) %v, want [200:80000 499:0]", got)
	}
	r, b := get(t, n.g.base+"/v1/images/tasks/"+id, payerKey)
	var tj taskJSON
	if err := json.Unmarshal(b, &tj); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("GET task: %d %s", r.StatusCode, b)
	}
	if tj.Status != "cancelled" || len(tj.Data) != 1 {
		t.Fatalf("task view: %s with %d images, want cancelled with the paid one", tj.Status, len(tj.Data))
	}
	if r, img := get(t, tj.Data[0].URL, ""); r.StatusCode != http.StatusOK || len(img) == 0 {
		t.Errorf("the paid image: %d, %d bytes", r.StatusCode, len(img))
	}
	if errs, err := n.ledger.Audit(ctx); err != nil || len(errs) != 0 {
		t.Errorf("ledger audit: %v %v", errs, err)
	}
}

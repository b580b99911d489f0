package app_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
)

type studioEvent struct {
	ID   int
	Name string
	Data map[string]any
}

// studioEvents reads a job's event stream to its end (or until stop says
// so) and returns the status and the events.
func studioEvents(t *testing.T, base, cookie, id, lastID string, stop func(studioEvent) bool) (int, []studioEvent) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/api/v1/me/studio/jobs/"+id+"/events", nil)
	req.Header.Set("Cookie", "sy_session="+cookie)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return res.StatusCode, nil
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	var out []studioEvent
	var ev studioEvent
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			ev.ID, _ = strconv.Atoi(line[4:])
		case strings.HasPrefix(line, "event: "):
			ev.Name = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &ev.Data); err != nil {
				t.Fatalf("event data %q: %v", line, err)
			}
		case line == "" && ev.Name != "":
			out = append(out, ev)
			if stop != nil && stop(ev) {
				return 200, out
			}
			ev = studioEvent{}
		}
	}
	return 200, out
}

func eventNames(evs []studioEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Name)
	}
	return strings.Join(s, ",")
}

// The image studio: a signed-in user queues image tasks as one of their
// keys and follows them over server-sent events — in order, resumable
// with Last-Event-ID, cancellable, and a failure carries the upstream's
// error.
func TestStudioJobsStreamTheirProgress(t *testing.T) {
	cfg, _ := liveConfig(t)
	cfg.Channels[0].Models = append(cfg.Channels[0].Models, "gpt-image-1")
	cfg.Pricing["gpt-image-1"] = config.Price{PerImage: map[string]float64{"1024x1024": 0.04, "default": 0.08}}
	cfg.Users[0].Credit = 100
	a := apptest.Start(t, cfg)
	base := nodeBase(a)
	if _, err := a.Accounts().SetPassword(t.Context(), liveEmail, filePassword); err != nil {
		t.Fatal(err)
	}
	res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": liveEmail, "password": filePassword})
	user := sessionCookie(res)
	_, keys := call(t, base, "GET", "/api/v1/me/keys", user, nil)
	keyID := int64(keys["items"].([]any)[0].(map[string]any)["id"].(float64))
	kid := "?key_id=" + strconv.FormatInt(keyID, 10)

	// The price before sending.
	res, pr := call(t, base, "GET", "/api/v1/me/studio/price"+kid+"&model=gpt-image-1&size=1024x1024&n=2", user, nil)
	if res.StatusCode != 200 || pr["per_image_micros"] != float64(40_000) || pr["total_micros"] != float64(80_000) {
		t.Fatalf("price: %d %v", res.StatusCode, pr)
	}
	if res, _ := call(t, base, "POST", "/api/v1/me/studio/generations", user, map[string]any{"model": "gpt-image-1", "prompt": "x"}); res.StatusCode != 422 {
		t.Fatalf("no key_id: %d", res.StatusCode)
	}

	// A generation of two images: events in order, then resumed.
	res, job := call(t, base, "POST", "/api/v1/me/studio/generations"+kid, user,
		map[string]any{"model": "gpt-image-1", "prompt": "a lighthouse", "n": 2, "size": "1024x1024"})
	if res.StatusCode != 202 || job["status"] != "queued" {
		t.Fatalf("submit: %d %v", res.StatusCode, job)
	}
	id := job["id"].(string)
	_, evs := studioEvents(t, base, user, id, "", nil)
	names := eventNames(evs)
	if !strings.HasPrefix(names, "queued,running,") || !strings.HasSuffix(names, "image,image,done") {
		t.Fatalf("events: %s", names)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("ids not increasing: %v", evs)
		}
	}
	img := evs[len(evs)-3]
	if img.ID != 200 || !strings.Contains(img.Data["url"].(string), "/p/img/"+id+"/0") {
		t.Fatalf("first image event: %+v", img)
	}
	done := evs[len(evs)-1]
	if done.ID != 1000 || done.Data["status"] != "succeeded" || done.Data["delivered"] != float64(2) {
		t.Fatalf("done: %+v", done)
	}
	_, again := studioEvents(t, base, user, id, "200", nil)
	if eventNames(again) != "image,done" || again[0].ID != 201 {
		t.Fatalf("resumed after the first image: %v", again)
	}
	if st, _ := studioEvents(t, base, user, id, "1000", nil); st != 204 {
		t.Fatalf("resumed after the end: %d", st)
	}
	if res, v := call(t, base, "GET", "/api/v1/me/studio/jobs/"+id, user, nil); res.StatusCode != 200 || v["status"] != "succeeded" {
		t.Fatalf("get: %d %v", res.StatusCode, v)
	}
	if res, _ := call(t, base, "GET", "/api/v1/me/studio/jobs/nope/events", user, nil); res.StatusCode != 404 {
		t.Fatalf("unknown job: %d", res.StatusCode)
	}

	// A slow job is cancelled while the stream watches it.
	_, job = call(t, base, "POST", "/api/v1/me/studio/generations"+kid, user,
		map[string]any{"model": "gpt-image-1", "prompt": "[[mock latency=8s]] slow", "size": "1024x1024"})
	slow := job["id"].(string)
	got := make(chan []studioEvent, 1)
	go func() {
		_, e := studioEvents(t, base, user, slow, "", nil)
		got <- e
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, v := call(t, base, "GET", "/api/v1/me/studio/jobs/"+slow, user, nil)
		if v["status"] == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never running: %v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, v := call(t, base, "DELETE", "/api/v1/me/studio/jobs/"+slow, user, nil); res.StatusCode != 200 || v["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v", res.StatusCode, v)
	}
	select {
	case e := <-got:
		if n := eventNames(e); !strings.HasPrefix(n, "queued,running,") || !strings.HasSuffix(n, ",cancelled") || strings.Contains(n, "image") {
			t.Fatalf("cancelled job's events: %s", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end after the cancel")
	}

	// A failed job carries the upstream's error.
	_, job = call(t, base, "POST", "/api/v1/me/studio/generations"+kid, user,
		map[string]any{"model": "gpt-image-1", "prompt": "[[mock status=400 message=the%20prompt%20was%20refused]] no"})
	_, evs = studioEvents(t, base, user, job["id"].(string), "", nil)
	last := evs[len(evs)-1]
	if last.Name != "failed" {
		t.Fatalf("failed job's events: %s", eventNames(evs))
	}
	if e, _ := last.Data["error"].(map[string]any); e == nil || !strings.Contains(e["message"].(string), "the prompt was refused") {
		t.Fatalf("failed event: %v", last.Data)
	}
}

// A job that asks for partial_images streams from the upstream: its
// previews reach the event stream as they come (in order, resumable),
// are never stored, and the job still ends with its stored image, charged
// once.
func TestStudioStreamsPartialPreviews(t *testing.T) {
	cfg, _ := liveConfig(t)
	cfg.Channels[0].Models = append(cfg.Channels[0].Models, "gpt-image-1")
	cfg.Pricing["gpt-image-1"] = config.Price{PerImage: map[string]float64{"default": 0.04}}
	cfg.Users[0].Credit = 100
	a := apptest.Start(t, cfg)
	base := nodeBase(a)
	if _, err := a.Accounts().SetPassword(t.Context(), liveEmail, filePassword); err != nil {
		t.Fatal(err)
	}
	res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": liveEmail, "password": filePassword})
	user := sessionCookie(res)
	_, keys := call(t, base, "GET", "/api/v1/me/keys", user, nil)
	kid := "?key_id=" + strconv.FormatInt(int64(keys["items"].([]any)[0].(map[string]any)["id"].(float64)), 10)

	// The mock waits a second between the stream's events: two previews,
	// then the image.
	res, job := call(t, base, "POST", "/api/v1/me/studio/generations"+kid, user, map[string]any{"model": "gpt-image-1",
		"prompt": "[[mock chunk_delay=1s]] a fox", "size": "1024x1024", "partial_images": 2})
	if res.StatusCode != 202 {
		t.Fatalf("submit: %d %v", res.StatusCode, job)
	}
	id := job["id"].(string)
	// Read up to the first preview, then leave as a reload would.
	_, first := studioEvents(t, base, user, id, "", func(e studioEvent) bool { return e.Name == "partial" })
	p0 := first[len(first)-1]
	if p0.Name != "partial" || p0.ID != 120 || p0.Data["index"] != float64(0) || p0.Data["partial_image_index"] != float64(0) {
		t.Fatalf("events up to the first preview: %v", first)
	}
	raw, err := base64.StdEncoding.DecodeString(p0.Data["b64_json"].(string))
	if err != nil || p0.Data["content_type"] != "image/png" || !bytes.HasPrefix(raw, []byte("\x89PNG")) {
		t.Fatalf("preview is not a PNG: %v %v", p0.Data["content_type"], err)
	}
	// Resumed after it: the second preview, then the stored image.
	_, rest := studioEvents(t, base, user, id, "120", nil)
	if n := eventNames(rest); n != "partial,image,done" {
		t.Fatalf("resumed events: %s (%v)", n, rest)
	}
	if rest[0].ID != 121 || rest[0].Data["partial_image_index"] != float64(1) || rest[1].ID != 200 {
		t.Fatalf("resumed events: %v", rest)
	}
	done := rest[2].Data
	if done["status"] != "succeeded" || done["delivered"] != float64(1) || done["cost_micros"] != float64(40_000) {
		t.Fatalf("done: %v", done)
	}
	if data := done["data"].([]any); len(data) != 1 {
		t.Fatalf("stored images: %v", data)
	}
	// Finished: a new stream shows the stored image, no preview.
	if _, again := studioEvents(t, base, user, id, "", nil); strings.Contains(eventNames(again), "partial") {
		t.Fatalf("a finished job's stream still has previews: %s", eventNames(again))
	}
}

// Presets and snippets are kept on the server, per user: another session
// (another browser) sees them, another user does not.
func TestStudioPresetsAndSnippetsAreTheUsers(t *testing.T) {
	cfg, _ := liveConfig(t)
	cfg.Users = append(cfg.Users, config.User{Email: "other@example.com"})
	a := apptest.Start(t, cfg)
	base := nodeBase(a)
	for _, email := range []string{liveEmail, "other@example.com"} {
		if _, err := a.Accounts().SetPassword(t.Context(), email, filePassword); err != nil {
			t.Fatal(err)
		}
	}
	login := func(email string) string {
		res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": filePassword})
		return sessionCookie(res)
	}
	user, again, other := login(liveEmail), login(liveEmail), login("other@example.com")

	if res, v := call(t, base, "PUT", "/api/v1/me/studio/presets/"+url.PathEscape("方形 HD"), user,
		map[string]any{"params": map[string]any{"size": "1024x1024", "quality": "high"}}); res.StatusCode != 200 || v["name"] != "方形 HD" {
		t.Fatalf("save preset: %d %v", res.StatusCode, v)
	}
	if res, v := call(t, base, "PUT", "/api/v1/me/studio/presets/x", user, map[string]any{"params": []int{1}}); res.StatusCode != 422 ||
		v["error"].(map[string]any)["field"] != "params" {
		t.Fatalf("params not an object: %d %v", res.StatusCode, v)
	}
	if res, v := call(t, base, "POST", "/api/v1/me/studio/snippets", user, map[string]any{"text": "电影感，柔焦"}); res.StatusCode != 200 || v["id"] == nil {
		t.Fatalf("save snippet: %d %v", res.StatusCode, v)
	}
	_, ps := call(t, base, "GET", "/api/v1/me/studio/presets", again, nil)
	items := ps["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["params"].(map[string]any)["quality"] != "high" {
		t.Fatalf("presets from another session: %v", ps)
	}
	_, ss := call(t, base, "GET", "/api/v1/me/studio/snippets", again, nil)
	sn := ss["items"].([]any)
	if len(sn) != 1 || sn[0].(map[string]any)["text"] != "电影感，柔焦" {
		t.Fatalf("snippets from another session: %v", ss)
	}
	snID := strconv.FormatInt(int64(sn[0].(map[string]any)["id"].(float64)), 10)
	if _, v := call(t, base, "GET", "/api/v1/me/studio/presets", other, nil); len(v["items"].([]any)) != 0 {
		t.Fatalf("another user sees the presets: %v", v)
	}
	if res, _ := call(t, base, "DELETE", "/api/v1/me/studio/snippets/"+snID, other, nil); res.StatusCode != 404 {
		t.Fatalf("another user's delete: %d", res.StatusCode)
	}
	if res, _ := call(t, base, "DELETE", "/api/v1/me/studio/snippets/"+snID, user, nil); res.StatusCode != 204 {
		t.Fatalf("delete snippet: %d", res.StatusCode)
	}
	if res, _ := call(t, base, "DELETE", "/api/v1/me/studio/presets/"+url.PathEscape("方形 hd"), user, nil); res.StatusCode != 204 {
		t.Fatalf("delete preset: %d", res.StatusCode)
	}
	if _, v := call(t, base, "GET", "/api/v1/me/studio/presets", user, nil); len(v["items"].([]any)) != 0 {
		t.Fatalf("after delete: %v", v)
	}
}

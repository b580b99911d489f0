package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	openaiapi "github.com/switchyard/switchyard/internal/api/openai"
	"github.com/switchyard/switchyard/internal/gallery"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/netguard"
)

// WithImageRunner adjusts the image task runner's options (tests shorten
// its intervals).
func WithImageRunner(f func(*images.RunnerOptions)) Option {
	return func(a *App) { a.runnerOpts = append(a.runnerOpts, f) }
}

// enableImages builds image storage, the task table and runner, and turns
// on the image endpoints of h.
func (a *App) enableImages(ctx context.Context, h *openaiapi.Handler) error {
	cfg := a.cfg.Images
	st, err := images.NewStore(cfg.Storage, a.cfg.Server.DataDir)
	if err != nil {
		return fmt.Errorf("images.storage: %w", err)
	}
	a.imageStore = st
	spool := filepath.Join(a.cfg.Server.DataDir, "tmp")
	if err := prepareSpool(spool); err != nil {
		return err
	}
	node, err := nodeID(filepath.Join(a.cfg.Server.DataDir, "node-id"))
	if err != nil {
		return err
	}
	tasks := images.NewTasks(a.db, a.now)
	limits := images.DefaultLimits
	limits.MaxBytes, limits.MaxPixels, limits.MaxDecodeBytes = cfg.MaxInputBytes, cfg.MaxInputPixels, cfg.MaxDecodeBytes
	// The gallery records every stored image with its owner and keeps it
	// from the sweeper; thumbnails are made in the background.
	if a.gallery, err = gallery.New(ctx, a.db, st, a.now, a.log); err != nil {
		return err
	}
	a.thumbs = gallery.NewThumbnailer(a.gallery, limits, 0)
	tasks.SetRecorder(a.gallery)
	ro := images.RunnerOptions{
		Node: node, Workers: cfg.Workers, Exec: h.ImageTaskExec(a.keys.ByID), Store: st, Logger: a.log.With("component", "images"),
		Retention: cfg.Retention, WebhookAttempts: cfg.WebhookAttempts, Now: a.now, Kept: a.gallery.Kept,
	}
	webhookClient := netguard.NewClient(&netguard.Guard{AllowPrivate: cfg.WebhookAllowPrivate}, cfg.WebhookTimeout)
	ro.Notifier = h.ImageWebhooks(&images.WebhookSender{Client: webhookClient}, a.keys.ByID)
	for _, f := range a.runnerOpts {
		f(&ro)
	}
	a.runner = images.NewRunner(tasks, ro)
	a.previews = images.NewPreviews(0, 0, a.now)
	h.EnableImages(openaiapi.ImageOptions{
		Store: st, Signer: images.NewSigner(a.keyring), Tasks: tasks, Kick: a.runner.Kick, Track: a.runner.Track,
		PublicURL: a.publicURL, URLTTL: cfg.URLTTL, Limits: limits, MaxInputs: cfg.MaxInputs,
		DefaultFormat:   cfg.ResponseFormat,
		DefaultFormatOf: func() string { return a.settings.Current().ImageResponseFormat },
		Fetch:           netguard.NewClient(&netguard.Guard{}, time.Minute),
		FetchTrusted:    netguard.NewClient(&netguard.Guard{AllowPrivate: true}, time.Minute),
		FetchMax:        cfg.FetchMaxBytes, SpoolDir: spool, MaxImages: a.pool.MaxImages, TaskTimeout: cfg.TaskTimeout, Node: a.runner.Node(), Now: a.now,
		Previews: a.previews,
	})
	return nil
}

// publicURL is server.public_url, or the bound address when the
// configured listen port was 0 (tests, and a node that asked the kernel
// for a port), since no client can reach port 0.
func (a *App) publicURL() string {
	pu := a.cfg.Server.PublicURL
	if u, err := url.Parse(pu); err == nil && u.Port() == "0" {
		if addr := a.Addr(); addr != "" {
			if _, port, err := net.SplitHostPort(addr); err == nil {
				u.Host = net.JoinHostPort(u.Hostname(), port)
				return u.String()
			}
		}
	}
	return strings.TrimRight(pu, "/")
}

// prepareSpool creates the upload spool directory and empties it of what
// a killed node left behind.
func prepareSpool(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create upload spool %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read upload spool %s: %w", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "upload-") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// nodeID reads this node's stable id, creating it on first start: a
// restarted node then recognises the image tasks it was running.
func nodeID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" && len(id) <= 64 {
			return id, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read node id %s: %w", path, err)
	}
	host, _ := os.Hostname()
	if len(host) > 40 {
		host = host[:40]
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	id := host + "-" + hex.EncodeToString(r[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write node id %s: %w", path, err)
	}
	return id, nil
}

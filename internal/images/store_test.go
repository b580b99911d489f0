package images

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func newFileStore(t *testing.T) *FileStore {
	t.Helper()
	s, err := NewFileStore(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readObject(t *testing.T, s Store, key string) ([]byte, ObjectInfo) {
	t.Helper()
	rc, info, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, info
}

// listFiles returns every file and directory under dir, relative.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFileStoreRoundTrip(t *testing.T) {
	s := newFileStore(t)
	ctx := context.Background()
	cases := []struct {
		key, contentType string
		data             []byte
		size             int64
	}{
		{"task1/0", "image/png", []byte("png bytes"), 9},
		{"task1/1", "image/jpeg", []byte("jpeg"), -1},
		{"a.b_c-d/e/f.png", "", []byte{}, 0},
		{"flat", "image/webp", bytes.Repeat([]byte{0xff}, 100_000), 100_000},
	}
	for _, c := range cases {
		if err := s.Put(ctx, c.key, bytes.NewReader(c.data), c.size, c.contentType); err != nil {
			t.Fatalf("Put(%q): %v", c.key, err)
		}
	}
	for _, c := range cases {
		got, info := readObject(t, s, c.key)
		if !bytes.Equal(got, c.data) {
			t.Errorf("%s: read %d bytes, want %d", c.key, len(got), len(c.data))
		}
		wantType := c.contentType
		if wantType == "" {
			wantType = "application/octet-stream"
		}
		if info.Size != int64(len(c.data)) || info.ContentType != wantType || info.ModTime.IsZero() {
			t.Errorf("%s: info = %+v, want size %d, type %q", c.key, info, len(c.data), wantType)
		}
	}

	// Replacing keeps one object and updates its type.
	if err := s.Put(ctx, "task1/0", strings.NewReader("new"), 3, "image/gif"); err != nil {
		t.Fatal(err)
	}
	if got, info := readObject(t, s, "task1/0"); string(got) != "new" || info.ContentType != "image/gif" {
		t.Errorf("after replace: %q, %q", got, info.ContentType)
	}

	if runtime.GOOS != "windows" {
		for _, rel := range listFiles(t, s.Dir()) {
			fi, err := os.Stat(filepath.Join(s.Dir(), rel))
			if err != nil {
				t.Fatal(err)
			}
			want := os.FileMode(0o600)
			if fi.IsDir() {
				want = 0o700
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %04o, want %04o", rel, fi.Mode().Perm(), want)
			}
		}
	}

	for _, c := range cases {
		if err := s.Delete(ctx, c.key); err != nil {
			t.Fatalf("Delete(%q): %v", c.key, err)
		}
		if _, _, err := s.Open(ctx, c.key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open after Delete(%q) = %v, want ErrNotFound", c.key, err)
		}
		if err := s.Delete(ctx, c.key); err != nil {
			t.Errorf("second Delete(%q) = %v, want nil", c.key, err)
		}
	}
	for _, rel := range listFiles(t, s.Dir()) {
		if fi, _ := os.Stat(filepath.Join(s.Dir(), rel)); !fi.IsDir() {
			t.Errorf("file %s left after deleting every object", rel)
		}
	}
}

func TestFileStoreRejectsKeys(t *testing.T) {
	s := newFileStore(t)
	ctx := context.Background()
	// A file beside the store that a traversal would reach.
	outside := filepath.Join(filepath.Dir(s.Dir()), "secret.key")
	if err := os.WriteFile(outside, []byte("do not touch"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		"", "..", "../secret.key", "a/../../secret.key", "./a", "a/./b", "/etc/passwd", "a//b", "a/",
		"/a", `..\secret.key`, `a\b`, "a\x00b", ".type", "a/.a.type", ".tmp-1", "a b", "a:b", "ä",
		"a%2f..", "~/a", strings.Repeat("a", MaxKeyLen+1),
	}
	for _, key := range bad {
		if err := ValidKey(key); !errors.Is(err, ErrBadKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrBadKey", key, err)
		}
		if err := s.Put(ctx, key, strings.NewReader("x"), 1, "image/png"); !errors.Is(err, ErrBadKey) {
			t.Errorf("Put(%q) = %v, want ErrBadKey", key, err)
		}
		if _, _, err := s.Open(ctx, key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Open(%q) = %v, want ErrBadKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Delete(%q) = %v, want ErrBadKey", key, err)
		}
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "do not touch" {
		t.Errorf("file outside the store changed: %q, %v", b, err)
	}
	if files := listFiles(t, s.Dir()); len(files) != 0 {
		t.Errorf("rejected keys left %v", files)
	}

	// A symlink planted inside the store cannot lead outside it.
	if runtime.GOOS != "windows" {
		if err := os.Symlink(filepath.Dir(s.Dir()), filepath.Join(s.Dir(), "escape")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Open(ctx, "escape/secret.key"); err == nil {
			t.Error("Open followed a symlink out of the store")
		}
		if err := s.Put(ctx, "escape/secret.key", strings.NewReader("x"), 1, ""); err == nil {
			t.Error("Put followed a symlink out of the store")
		}
		if b, _ := os.ReadFile(outside); string(b) != "do not touch" {
			t.Errorf("file outside the store changed through a symlink: %q", b)
		}
	}
}

func TestFileStoreSizeCapAndAtomicity(t *testing.T) {
	s := newFileStore(t)
	s.MaxSize = 1000
	ctx := context.Background()
	if err := s.Put(ctx, "t/0", strings.NewReader("old content"), -1, "image/png"); err != nil {
		t.Fatal(err)
	}
	before := listFiles(t, s.Dir())

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	failures := []struct {
		name string
		ctx  context.Context
		r    io.Reader
		size int64
		want error
	}{
		{"over the cap, size unknown", ctx, bytes.NewReader(make([]byte, 1001)), -1, ErrTooLarge},
		{"over the cap, size announced", ctx, bytes.NewReader(make([]byte, 1001)), 1001, ErrTooLarge},
		{"more than announced", ctx, bytes.NewReader(make([]byte, 20)), 10, nil},
		{"less than announced", ctx, bytes.NewReader(make([]byte, 5)), 10, nil},
		{"reader fails midway", ctx, io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("boom"))), -1, nil},
		{"context cancelled", cancelled, strings.NewReader("new"), -1, context.Canceled},
	}
	for _, c := range failures {
		t.Run(c.name, func(t *testing.T) {
			err := s.Put(c.ctx, "t/0", c.r, c.size, "image/jpeg")
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Put = %v, want an error (%v)", err, c.want)
			}
			got, _ := readObject(t, s, "t/0")
			if string(got) != "old content" {
				t.Errorf("a failed Put changed the object to %q", got)
			}
			if after := listFiles(t, s.Dir()); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("files after a failed Put: %v, before: %v (temporary file left?)", after, before)
			}
		})
	}
	// Exactly at the cap is fine.
	if err := s.Put(ctx, "t/1", bytes.NewReader(make([]byte, 1000)), 1000, ""); err != nil {
		t.Errorf("Put at the cap: %v", err)
	}
}

func TestNewStore(t *testing.T) {
	dataDir := t.TempDir()
	abs := filepath.Join(t.TempDir(), "abs")
	t.Chdir(t.TempDir())
	cases := []struct {
		url     string
		wantDir string
		wantErr string
	}{
		{"", filepath.Join(dataDir, "images"), ""},
		{"file://" + filepath.ToSlash(abs), abs, ""},
		{"file://./rel/images", "rel/images", ""},
		{"file://", "", "needs a directory"},
		{"ftp://x", "", "unsupported scheme"},
		{"./images", "", "missing scheme"},
	}
	for _, c := range cases {
		st, err := NewStore(c.url, dataDir)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("NewStore(%q) = %v, want an error containing %q without the query", c.url, err, c.wantErr)
			}
			if st != nil {
				t.Errorf("NewStore(%q) returned a store with its error", c.url)
			}
			continue
		}
		if err != nil {
			t.Fatalf("NewStore(%q): %v", c.url, err)
		}
		fs := st.(*FileStore)
		if fs.Dir() != c.wantDir {
			t.Errorf("NewStore(%q) dir = %q, want %q", c.url, fs.Dir(), c.wantDir)
		}
		if fi, err := os.Stat(c.wantDir); err != nil || !fi.IsDir() {
			t.Errorf("NewStore(%q) did not create %s: %v", c.url, c.wantDir, err)
		}
		fs.Close()
	}
}

func TestKey(t *testing.T) {
	k, err := Key("task-1", 3)
	if err != nil || k != "task-1/3" || ValidKey(k) != nil {
		t.Errorf("Key = %q, %v", k, err)
	}
	if _, err := Key("../x", 0); err == nil {
		t.Error("Key accepted a traversal task id")
	}
}

// Check fails once the directory is gone or another has taken its place.
func TestFileStoreCheck(t *testing.T) {
	s := newFileStore(t)
	ctx := t.Context()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("fresh store: %v", err)
	}
	moved := s.Dir() + "-moved"
	if err := os.Rename(s.Dir(), moved); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err == nil {
		t.Fatal("directory moved away: Check passed")
	}
	if err := os.Mkdir(s.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("another directory in its place: %v, want an error saying it was replaced", err)
	}
	if err := os.Remove(s.Dir()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, s.Dir()); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("directory back: %v", err)
	}
}

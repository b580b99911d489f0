package images

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Store keeps image bytes under string keys. Keys are slash-separated
// segments of [A-Za-z0-9._-], none starting with '.' (see ValidKey).
type Store interface {
	// Put stores r under key, replacing any earlier object, so that
	// readers see the old object or the whole new one, never part of
	// one. size is the exact length when known, or -1.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Open returns the object's content; the caller closes it. A missing
	// object gives an error wrapping ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Delete removes the object; deleting a missing one is not an error,
	// so a retried sweep succeeds.
	Delete(ctx context.Context, key string) error
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size        int64
	ContentType string
	ModTime     time.Time
}

const (
	// DefaultMaxObjectSize caps one stored object: above the 50 MB
	// OpenAI accepts for an image, with room for a large PNG result.
	DefaultMaxObjectSize = 64 << 20
	// MaxKeyLen caps a key's length.
	MaxKeyLen = 512

	defaultContentType = "application/octet-stream"
	maxContentTypeLen  = 255
)

var (
	// ErrNotFound is wrapped by Open for a key that holds no object.
	ErrNotFound = errors.New("image not found")
	// ErrTooLarge is wrapped when an object or image exceeds a size or
	// pixel limit.
	ErrTooLarge = errors.New("image too large")
	// ErrBadKey is wrapped when a storage key is not acceptable.
	ErrBadKey = errors.New("invalid storage key")
)

// NewStore opens the storage named by images.storage:
//
//	file://./data/images   relative to the working directory, as sqlite:// paths are
//	file:///var/lib/img    absolute
//	""                     <dataDir>/images, the default
//	s3://bucket/prefix?endpoint=https://host:port&region=us-east-1&path_style=true
//
// For s3:// see NewS3Store; the credentials come from AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and the optional AWS_SESSION_TOKEN, and their
// absence is an error naming those variables.
func NewStore(rawURL string, dataDir string) (Store, error) {
	if rawURL == "" {
		return openFileStore(filepath.Join(dataDir, "images"))
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	switch {
	case !ok:
		return nil, fmt.Errorf("open image storage %q: missing scheme (want file:// or s3://)", redactStorage(rawURL))
	case scheme == "file":
		if rest == "" {
			return nil, fmt.Errorf("open image storage %q: file:// needs a directory, e.g. file://./data/images", rawURL)
		}
		return openFileStore(filepath.Clean(filepath.FromSlash(rest)))
	case scheme == "s3":
		return openS3Store(rawURL)
	default:
		return nil, fmt.Errorf("open image storage %q: unsupported scheme %q (want file:// or s3://)", redactStorage(rawURL), scheme)
	}
}

// openS3Store returns a nil interface, not a typed nil, on error. Errors
// show the URL without its query or user info.
func openS3Store(rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open image storage %q: not a valid URL", redactStorage(rawURL))
	}
	shown := redactStorage(u.Redacted())
	creds, err := S3CredentialsFromEnv()
	if err != nil {
		return nil, fmt.Errorf("open image storage %q: %w", shown, err)
	}
	s, err := NewS3Store(u, creds, nil)
	if err != nil {
		return nil, fmt.Errorf("open image storage %q: %w", shown, err)
	}
	return s, nil
}

// openFileStore returns a nil interface, not a typed nil, on error.
func openFileStore(dir string) (Store, error) {
	s, err := NewFileStore(dir)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// redactStorage drops the query, where S3 credentials may one day be given.
func redactStorage(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

// FileStore is a Store in a local directory. Every access goes through an
// os.Root, so even a symlink planted inside the directory cannot lead a
// key outside it; key validation is the first line, the Root the second.
// Files are 0600 and directories 0700: images are the users' content.
//
// An object's content type is kept beside it in ".<name>.type"; names
// starting with '.' are never valid keys, so the two cannot collide.
type FileStore struct {
	root *os.Root
	dir  string
	// MaxSize caps one object, in bytes (DefaultMaxObjectSize when not
	// positive). Set it before first use.
	MaxSize int64
}

var _ Store = (*FileStore)(nil)

// NewFileStore opens (creating if needed) the directory dir.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open image storage: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open image storage: %w", err)
	}
	return &FileStore{root: root, dir: dir, MaxSize: DefaultMaxObjectSize}, nil
}

// Close releases the directory handle.
func (s *FileStore) Close() error { return s.root.Close() }

// Dir returns the directory the store was opened on.
func (s *FileStore) Dir() string { return s.dir }

// Put implements Store. The content is written to a temporary file in the
// target directory, synced and renamed into place, so a crash or an error
// leaves either the old object or the new one, and the temporary file is
// removed on every error path.
func (s *FileStore) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (err error) {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("store image: %w", err)
	}
	if len(contentType) > maxContentTypeLen || strings.ContainsAny(contentType, "\r\n\x00") {
		return fmt.Errorf("store image %s: content type is not a single short line", key)
	}
	maxSize := s.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxObjectSize
	}
	if size > maxSize {
		return fmt.Errorf("store image %s: %d bytes: %w (limit %d)", key, size, ErrTooLarge, maxSize)
	}
	dir, name := path.Split(key)
	if dir != "" {
		if err := s.root.MkdirAll(strings.TrimSuffix(dir, "/"), 0o700); err != nil {
			return fmt.Errorf("store image %s: %w", key, err)
		}
	}
	// The object is written and synced before its type is replaced, and
	// renamed into place after, so a Put that fails while copying leaves
	// the old object with its old type.
	tmp, err := s.writeTemp(ctx, dir, r, size, maxSize)
	if err != nil {
		return fmt.Errorf("store image %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = s.root.Remove(tmp)
		}
	}()
	if contentType != "" {
		err = s.writeFile(ctx, dir, "."+name+".type", strings.NewReader(contentType), -1, maxContentTypeLen)
	} else if err = s.root.Remove(typeKey(key)); errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("store image %s: content type: %w", key, err)
	}
	if err = s.root.Rename(tmp, key); err != nil {
		return fmt.Errorf("store image %s: %w", key, err)
	}
	s.syncDir(dir)
	return nil
}

// writeFile replaces dir+name with the content of r, atomically.
func (s *FileStore) writeFile(ctx context.Context, dir, name string, r io.Reader, size, max int64) error {
	tmp, err := s.writeTemp(ctx, dir, r, size, max)
	if err != nil {
		return err
	}
	if err := s.root.Rename(tmp, dir+name); err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	return nil
}

// writeTemp copies r to a new synced temporary file in dir and returns its
// name, checking the length against size (when ≥ 0) and max while copying.
// On error no file is left.
func (s *FileStore) writeTemp(ctx context.Context, dir string, r io.Reader, size, max int64) (string, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := dir + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(f, io.LimitReader(ctxReader{ctx, r}, max+1))
	switch {
	case err != nil:
		err = fmt.Errorf("write: %w", err)
	case n > max:
		err = fmt.Errorf("more than %d bytes: %w", max, ErrTooLarge)
	case size >= 0 && n != size:
		err = fmt.Errorf("got %d bytes, want %d", n, size)
	default:
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("sync: %w", err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		_ = s.root.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// syncDir makes the rename durable. Best effort: not every platform can
// fsync a directory, and the file itself is already synced.
func (s *FileStore) syncDir(dir string) {
	if dir == "" {
		dir = "."
	}
	if d, err := s.root.Open(strings.TrimSuffix(dir, "/")); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Open implements Store.
func (s *FileStore) Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := ValidKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open image: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open image %s: %w", key, err)
	}
	f, err := s.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ObjectInfo{}, fmt.Errorf("open image %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open image %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("open image %s: %w", key, err)
	}
	info := ObjectInfo{Size: fi.Size(), ContentType: defaultContentType, ModTime: fi.ModTime()}
	if b, err := s.root.ReadFile(typeKey(key)); err == nil && len(b) > 0 && len(b) <= maxContentTypeLen {
		info.ContentType = string(b)
	}
	return f, info, nil
}

// Check tells /readyz whether the directory the store was opened on is
// still there and still the same one: removed, or replaced by another
// (a volume unmounted under it), new images would go where no other node
// or restart finds them.
func (s *FileStore) Check(context.Context) error {
	held, err := s.root.Stat(".")
	if err != nil {
		return fmt.Errorf("image storage %s: %w", s.dir, err)
	}
	now, err := os.Stat(s.dir)
	if err != nil {
		return fmt.Errorf("image storage %s: %w", s.dir, err)
	}
	if !os.SameFile(held, now) {
		return fmt.Errorf("image storage %s: the directory was replaced since start (unmounted?)", s.dir)
	}
	return nil
}

// Delete implements Store.
func (s *FileStore) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("delete image: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete image %s: %w", key, err)
	}
	if err := s.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete image %s: %w", key, err)
	}
	if err := s.root.Remove(typeKey(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete image %s: content type: %w", key, err)
	}
	return nil
}

func typeKey(key string) string {
	dir, name := path.Split(key)
	return dir + "." + name + ".type"
}

// ValidKey reports whether key is an acceptable storage key: at most
// MaxKeyLen bytes of non-empty segments separated by '/', each made of
// [A-Za-z0-9._-] and not starting with '.'. That rules out "..", ".",
// absolute paths, backslashes, NUL and every other byte a filesystem or an
// S3 key might read specially, and keeps the store's own dot-files apart.
func ValidKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: must be 1 to %d bytes", ErrBadKey, MaxKeyLen)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" {
			return fmt.Errorf("%w %q: empty segment (leading, trailing or doubled '/')", ErrBadKey, key)
		}
		if seg[0] == '.' {
			return fmt.Errorf("%w %q: a segment starts with '.'", ErrBadKey, key)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
				return fmt.Errorf("%w %q: byte %q is not allowed", ErrBadKey, key, c)
			}
		}
	}
	return nil
}

// Key returns the storage key of image index of task. The task id is
// checked with ValidTask, which makes the key valid.
func Key(task string, index int) (string, error) {
	if err := checkTaskIndex(task, index); err != nil {
		return "", err
	}
	return task + "/" + strconv.Itoa(index), nil
}

// ctxReader stops a copy once ctx is done, so a cancelled request does not
// keep writing to disk.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

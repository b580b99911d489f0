// Package golden compares test output with files under testdata; run the
// tests with -update to rewrite them after an intended change.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/provider"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// Check compares got with the file at path, or writes it with -update.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s: %v (run with -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden (run with -update after checking the diff)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// JSON marshals v indented, with a trailing newline, for a readable golden.
func JSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// Run calls fn for every input file in dir whose name ends in ext (and is
// not itself a golden file) and checks the result against
// "<name>.golden<goldenExt>".
func Run(t *testing.T, dir, ext, goldenExt string, fn func(t *testing.T, in []byte) []byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ext) || strings.Contains(name, ".golden") {
			continue
		}
		n++
		base := strings.TrimSuffix(name, ext)
		t.Run(base, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			Check(t, filepath.Join(dir, base+".golden"+goldenExt), fn(t, in))
		})
	}
	if n == 0 {
		t.Fatalf("no %s fixtures in %s", ext, dir)
	}
}

// Inputs returns the contents of every fixture in dir ending in ext, for
// seeding fuzz targets.
func Inputs(t testing.TB, dir, ext string) [][]byte {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ext) && !strings.Contains(e.Name(), ".golden") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// Decode unmarshals a fixture into a new T, failing the test on error.
func Decode[T any](t testing.TB, in []byte) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal(in, v); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	return v
}

// FuzzTranslate fuzzes a request translator, seeded with the fixtures in
// dir: any input that decodes must either translate into something that
// marshals or fail with an error that is the client's to fix.
func FuzzTranslate[In, Out any](f *testing.F, dir string, translate func(*In) (Out, error)) {
	for _, in := range Inputs(f, dir, ".json") {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req := new(In)
		if json.Unmarshal(in, req) != nil {
			return
		}
		out, err := translate(req)
		if err != nil {
			if !provider.IsClientError(err) {
				t.Fatalf("non-client error: %v", err)
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
	})
}

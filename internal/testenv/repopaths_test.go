package testenv

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A clone of the project has no sibling folders: nothing in it may read a
// path outside the repository at build, test or run time. This walks every
// Go, shell, JavaScript/TypeScript and Makefile source and fails on a
// relative path that climbs above the repository root from where the file
// runs, or on a name of the development machines' reference folder.
//
// A line that must hold such a string for another reason (a path traversal
// a hostile-input test sends) says so with the marker "outside-repo-ok".
func TestNoPathOutsideRepository(t *testing.T) {
	root := repoRoot(t)
	// Built from parts, so that this file does not match itself.
	forbidden := []string{".." + "/shared", "shared" + "/specs/", "shared" + "/DESIGN.md", "shared" + "/STYLE.md"}
	climb := regexp.MustCompile(`(?:\.\./)+|(?:\.\.\\)+`)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "out", "dist":
				if rel != "." {
					return filepath.SkipDir
				}
			}
			return nil
		}
		base, ok := sourceBase(path, rel)
		if !ok {
			return nil
		}
		checked++
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if strings.Contains(line, "outside-repo-ok") {
				continue
			}
			for _, s := range forbidden {
				if strings.Contains(line, s) {
					t.Errorf("%s:%d names %q, a folder outside the repository: %s", rel, n, s, strings.TrimSpace(line))
				}
			}
			for _, m := range climb.FindAllString(line, -1) {
				if ups := strings.Count(m, ".."); ups > base {
					t.Errorf("%s:%d climbs %d folders up from a file that runs %d below the root: %s",
						rel, n, ups, base, strings.TrimSpace(line))
				}
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d source files under %s; the walk is broken", checked, root)
	}
}

// sourceBase tells whether the file is a source this test reads and how many
// folders below the root its relative paths start: a Go test or a Node
// script runs in its own folder; a shell script, a Makefile or .ci's scripts
// run from the root (they cd there first).
func sourceBase(path, rel string) (int, bool) {
	depth := strings.Count(filepath.ToSlash(filepath.Dir(rel)), "/") + 1
	if filepath.Dir(rel) == "." {
		depth = 0
	}
	name := filepath.Base(path)
	switch filepath.Ext(name) {
	case ".go", ".js", ".mjs", ".cjs", ".ts", ".svelte":
		return depth, true
	case ".sh", ".bash", ".mk":
		return 0, true
	}
	if name == "Makefile" || name == "Dockerfile" {
		return 0, true
	}
	if strings.HasPrefix(filepath.ToSlash(rel), ".ci/") {
		return 0, true
	}
	return 0, false
}

// repoRoot is the folder holding go.mod, above the test's working folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working folder")
		}
		dir = parent
	}
}

package console

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"reflect"
	"slices"
	"sync"
	"testing/fstest"

	"gopkg.in/yaml.v3"
)

// The document's fragments: core.yaml carries info, security schemes and
// the shared Error schema; every other file one slice's paths and schemas.
//
//go:embed openapi/*.yaml
var fragments embed.FS

// Document returns the assembled OpenAPI document as JSON.
var Document = sync.OnceValues(func() ([]byte, error) { return assemble(fragments) })

// DocumentWith assembles the document with extra fragments (YAML) merged
// after the embedded ones, for tests that mount routes of their own.
func DocumentWith(extra ...[]byte) ([]byte, error) {
	fsys := fstest.MapFS{}
	names, err := fs.Glob(fragments, "openapi/*.yaml")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		b, err := fs.ReadFile(fragments, n)
		if err != nil {
			return nil, err
		}
		fsys[n] = &fstest.MapFile{Data: b}
	}
	for i, b := range extra {
		fsys[fmt.Sprintf("openapi/zz-extra-%03d.yaml", i)] = &fstest.MapFile{Data: b}
	}
	return assemble(fsys)
}

func (a *API) serveDocument(w http.ResponseWriter, r *http.Request) {
	a.docOnce.Do(func() { a.doc, a.docErr = Document() })
	if a.docErr != nil {
		a.writeError(w, r, fmt.Errorf("assemble the OpenAPI document: %w", a.docErr))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(a.doc)
}

// methods an OpenAPI path item may hold.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// assemble merges the fragments: core.yaml first, then the others in name
// order. A path operation or a component defined twice with different
// content is an error, so two slices cannot silently overwrite each other.
func assemble(fsys fs.FS) ([]byte, error) {
	names, err := fs.Glob(fsys, "openapi/*.yaml")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(names, func(x, y string) int {
		switch {
		case path.Base(x) == "core.yaml":
			return -1
		case path.Base(y) == "core.yaml":
			return 1
		}
		return cmpString(x, y)
	})
	var doc map[string]any
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var frag map[string]any
		if err := yaml.Unmarshal(data, &frag); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if doc == nil {
			doc = frag
			if doc["paths"] == nil {
				doc["paths"] = map[string]any{}
			}
			continue
		}
		if err := mergeFragment(doc, frag); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if doc == nil {
		return nil, fmt.Errorf("no OpenAPI fragments")
	}
	addDefaultErrors(doc)
	return json.Marshal(doc)
}

func cmpString(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func mergeFragment(doc, frag map[string]any) error {
	for k := range frag {
		switch k {
		case "paths", "components", "openapi", "info":
		default:
			return fmt.Errorf("fragments may hold only paths and components, not %q", k)
		}
	}
	paths, _ := doc["paths"].(map[string]any)
	fpaths, _ := frag["paths"].(map[string]any)
	for p, item := range fpaths {
		fitem, ok := item.(map[string]any)
		if !ok {
			return fmt.Errorf("paths.%s is not an object", p)
		}
		cur, _ := paths[p].(map[string]any)
		if cur == nil {
			paths[p] = fitem
			continue
		}
		for m, op := range fitem {
			if old, dup := cur[m]; dup && !reflect.DeepEqual(old, op) {
				return fmt.Errorf("paths.%s.%s is defined twice", p, m)
			}
			cur[m] = op
		}
	}
	fcomp, _ := frag["components"].(map[string]any)
	if len(fcomp) == 0 {
		return nil
	}
	comp, _ := doc["components"].(map[string]any)
	if comp == nil {
		comp = map[string]any{}
		doc["components"] = comp
	}
	for section, entries := range fcomp {
		fentries, ok := entries.(map[string]any)
		if !ok {
			return fmt.Errorf("components.%s is not an object", section)
		}
		cur, _ := comp[section].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
			comp[section] = cur
		}
		for name, v := range fentries {
			if old, dup := cur[name]; dup && !reflect.DeepEqual(old, v) {
				return fmt.Errorf("components.%s.%s is defined twice, differently", section, name)
			}
			cur[name] = v
		}
	}
	return nil
}

// addDefaultErrors gives every operation without a default response the
// shared Error response, so error answers are described and validated.
func addDefaultErrors(doc map[string]any) {
	paths, _ := doc["paths"].(map[string]any)
	for _, item := range paths {
		pi, _ := item.(map[string]any)
		for _, m := range methods {
			op, _ := pi[m].(map[string]any)
			if op == nil {
				continue
			}
			resp, _ := op["responses"].(map[string]any)
			if resp == nil {
				resp = map[string]any{}
				op["responses"] = resp
			}
			if _, ok := resp["default"]; !ok {
				resp["default"] = map[string]any{"$ref": "#/components/responses/Error"}
			}
		}
	}
}

// Operations lists the document's operations as "METHOD /path".
func Operations(doc []byte) ([]string, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var ops []string
	for p, item := range d.Paths {
		for m := range item {
			if slices.Contains(methods, m) {
				ops = append(ops, upper(m)+" "+p)
			}
		}
	}
	slices.Sort(ops)
	return ops, nil
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

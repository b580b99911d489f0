// Package config turns a YAML file, the environment and command-line flags
// into one validated Config.
//
// Precedence, lowest first: built-in defaults (Default), the file (with
// ${VAR} and ${VAR:-default} expanded in every value), environment overrides
// SWITCHYARD_<SECTION>_<FIELD> (EnvOverrides), then LoadOptions.Set (flags
// such as --listen). Settings derived from others — public_url from listen,
// the SQLite file and image directory from data_dir — are filled only after
// all layers, so SWITCHYARD_SERVER_DATA_DIR=/data also moves the database.
//
// Design choices:
//   - The YAML is decoded by walking yaml.v3 nodes with reflection over the
//     yaml tags (decode.go), not with Node.Decode, so each error names the
//     exact path (channels[1].credentials[0].key), unknown fields get a
//     "did you mean", and every problem is reported at once as Errors.
//   - Secrets are a distinct type (Secret) that redacts itself in fmt, slog,
//     JSON and YAML; code that needs the value calls Value().
//   - Validation messages say how to fix the problem and never echo a secret,
//     a database or Redis URL, or the user info and query of any URL.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadOptions says where configuration comes from.
type LoadOptions struct {
	// Path of the YAML file; "" means defaults, environment and Set only.
	// A path that is given but missing is an error.
	Path string
	// LookupEnv resolves ${VAR} and SWITCHYARD_* overrides; nil means
	// os.LookupEnv. Tests pass a map lookup.
	LookupEnv func(string) (string, bool)
	// Set assigns settings by path ("server.listen" → "0.0.0.0:9000"),
	// applied last. Lists are addressed as channels[0].weight; map keys
	// containing dots as pricing["gpt-3.5-turbo"].input.
	Set map[string]string
}

// Load builds the configuration from defaults, the file, the environment and
// opts.Set, then validates it. Problems with settings are returned together as
// Errors; an unreadable or syntactically invalid file is a plain error.
func Load(opts LoadOptions) (*Config, error) {
	var data []byte
	if opts.Path != "" {
		var err error
		data, err = os.ReadFile(opts.Path)
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
	}
	cfg, err := load(data, opts)
	if err != nil && opts.Path != "" {
		var fe Errors
		if !errors.As(err, &fe) {
			return nil, fmt.Errorf("config file %s: %w", opts.Path, err)
		}
	}
	return cfg, err
}

func load(data []byte, opts LoadOptions) (*Config, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	cfg := base()
	d := &decoder{lookup: lookup, lines: map[string]int{}}
	root, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	if root != nil {
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: the file must be a mapping of sections (server:, database:, channels:, …), got %s", root.Line, describeNode(root))
		}
		d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	}
	origins := map[string]string{}
	errs := d.errs
	errs = append(errs, applyEnv(cfg, lookup, origins)...)
	errs = append(errs, applySet(cfg, opts.Set, origins)...)
	cfg.finish()
	failed := make(map[string]bool, len(errs))
	for _, e := range errs {
		failed[e.Path] = true
	}
	for _, ve := range cfg.validate() {
		if coveredBy(ve.Path, failed) {
			continue // the same setting already failed to decode
		}
		if origin, ok := origins[ve.Path]; ok {
			ve.Message += " (set by " + origin + ")"
		} else {
			ve.Line = lineOf(ve.Path, d.lines)
		}
		errs = append(errs, ve)
	}
	if len(errs) > 0 {
		errs.sortBySource()
		if len(errs) > maxReported {
			more := len(errs) - maxReported
			errs = append(errs[:maxReported:maxReported], FieldError{Message: fmt.Sprintf("… and %d more problems", more)})
		}
		return nil, errs
	}
	return cfg, nil
}

// maxReported caps the list: past a few hundred lines nobody reads on, and an
// alias-expanded mistake can otherwise repeat a hundred thousand times.
const maxReported = 200

// parseYAML returns the document's root node, or nil for an empty document.
// A file that is invalid only because of ${…} in flow style is accepted (see
// protectVars); otherwise the error is the one for the file as written.
func parseYAML(data []byte) (*yaml.Node, error) {
	root, err := parseDocument(data)
	if err == nil {
		return root, nil
	}
	if protected, vars, ok := protectVars(data); ok {
		if root, perr := parseDocument(protected); perr == nil {
			if root != nil {
				restoreVars(root, vars)
			}
			return root, nil
		}
	}
	return nil, err
}

func parseDocument(data []byte) (root *yaml.Node, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	// yaml.v3 has panicked on malformed input in the past; a config loader
	// must report bad input, not crash the process.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	var extra yaml.Node
	err = dec.Decode(&extra)
	if err == nil && isEmptyDocument(&extra) {
		err = dec.Decode(&extra) // a trailing "---" with nothing after it
	}
	if !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("the file must hold exactly one YAML document (found a second one, or invalid YAML after the first)")
	}
	if isEmptyDocument(&doc) {
		return nil, nil
	}
	if doc.Kind == yaml.DocumentNode {
		return doc.Content[0], nil
	}
	return &doc, nil
}

// isEmptyDocument is true for "---" alone or "~": yaml.v3 represents them as a
// document holding nothing or a single null.
func isEmptyDocument(doc *yaml.Node) bool {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return doc.Kind == yaml.DocumentNode
	}
	n := doc.Content[0]
	return len(doc.Content) == 1 && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// coveredBy reports whether path is, or lies under, a path that already
// failed, so one mistake is not reported twice.
func coveredBy(path string, failed map[string]bool) bool {
	if failed[""] {
		return true
	}
	for path != "" {
		if failed[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return false
		}
		path = path[:i]
	}
	return false
}

// lineOf finds the file line of path or of its nearest ancestor in the file.
func lineOf(path string, lines map[string]int) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

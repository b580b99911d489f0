package config

import (
	"sort"
	"strings"
)

// FieldError is one problem with one setting. Path is the setting's location
// in the YAML document (channels[1].base_url, pricing.gpt-4o-mini.input);
// Message never contains a secret value.
type FieldError struct {
	Path    string
	Message string
	// Line is the 1-based line in the config file the path came from, 0 when
	// the setting was not in the file (a default, an environment variable or
	// a flag). It only orders errors.
	Line int
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Errors is every problem found in a configuration, in source order. Load and
// Validate report them all at once so one edit-and-retry fixes them all.
type Errors []FieldError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sortBySource orders errors by file line; errors with no line keep their
// relative order after those that have one.
func (es Errors) sortBySource() {
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
}

// orNil avoids returning a typed nil inside an error interface.
func (es Errors) orNil() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

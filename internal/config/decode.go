package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// The decoder walks yaml.v3 nodes itself instead of calling Node.Decode so
// that every error carries the exact path of the setting
// (channels[0].credentials[2].key), ${VAR} is expanded before a scalar is
// typed (so `port: ${PORT}` works in an int field), unknown keys can be
// reported with a suggestion, and all errors are collected instead of the
// first. It is driven by reflection over yaml tags, so a field added to
// types.go needs no decoding code.

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// maxAliasVisits bounds the nodes decoded through aliases. Without aliases the
// work is linear in the file; with them a tiny file can expand exponentially
// ("billion laughs"). Sharing a template across even a thousand channels
// stays far below this.
const maxAliasVisits = 100_000

// defaulter is implemented by list and map element types whose zero value is
// not their default (a channel's weight is 1). The default is applied before
// the element is decoded, so an explicit `weight: 0` stays 0 and is rejected
// by Validate instead of being silently replaced.
type defaulter interface{ setDefaults() }

type decoder struct {
	lookup func(string) (string, bool)
	errs   Errors
	lines  map[string]int // path → line, to order later validation errors

	aliasDepth  int  // > 0 while decoding through an alias
	aliasVisits int  // nodes decoded through aliases so far
	exhausted   bool // maxAliasVisits was reached and reported
	merges      int  // current nesting of << merges; bounded against cyclic anchors
}

// spend accounts for decoding one node and reports whether to go on.
func (d *decoder) spend(line int, path string) bool {
	if d.exhausted {
		return false
	}
	if d.aliasDepth == 0 {
		return true
	}
	d.aliasVisits++
	if d.aliasVisits > maxAliasVisits {
		d.exhausted = true
		d.fail(line, path, "too many alias expansions (more than %d values reached through *aliases)", maxAliasVisits)
		return false
	}
	return true
}

const maxMergeDepth = 32

func (d *decoder) fail(line int, path, format string, args ...any) {
	d.errs = append(d.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...), Line: line})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.spend(n.Line, path) {
		return
	}
	if _, ok := d.lines[path]; !ok && d.aliasDepth == 0 {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(n.Line, path, "alias to an unknown anchor")
			return
		}
		d.aliasDepth++
		defer func() { d.aliasDepth-- }()
		d.decode(n.Alias, v, path)
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		// An empty value means "not set": optional pointers, lists and maps
		// become nil, scalars keep their default.
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			v.SetZero()
		}
		return
	}

	t := v.Type()
	switch {
	case t == durationType || t == timeType:
		d.scalar(n, v, path)
	case t.Kind() == reflect.Pointer:
		if n.Kind == yaml.ScalarNode {
			// `quota: ${QUOTA:-}` expanding to nothing means "unset", i.e. nil.
			if s, err := expand(n.Value, d.lookup); err == nil && s == "" {
				v.SetZero()
				return
			}
		}
		// Decode into a fresh value and keep it only if it was valid, so a
		// bad `quota: x` leaves the key uncapped-but-reported, not capped at 0.
		p := reflect.New(t.Elem())
		before := len(d.errs)
		d.decode(n, p.Elem(), path)
		if len(d.errs) == before {
			v.Set(p)
		}
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "expected %s, got %s", describeType(t), describeNode(n))
			return
		}
		if t.Kind() == reflect.Map {
			if t.Key().Kind() != reflect.String {
				d.fail(n.Line, path, "unsupported map key type %s", t.Key())
				return
			}
			v.Set(reflect.MakeMap(t))
		}
		d.mapping(n, v, path)
	case t.Kind() == reflect.Slice:
		d.sequence(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

// mapping decodes the pairs of n into a struct or a (non-nil) map. Merge keys
// (<<: *anchor) are applied first so the mapping's own keys override them.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if !d.spend(n.Line, path) {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if isMergeKey(n.Content[i]) {
			d.merge(n.Content[i+1], v, path)
		}
	}
	var fields *structFields
	if v.Kind() == reflect.Struct {
		fields = fieldsOf(v.Type())
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k.Line, path, "a key must be a plain string, got %s", describeNode(k))
			continue
		}
		key := k.Value
		var fieldPath string
		if fields != nil {
			fieldPath = joinPath(path, key)
		} else {
			fieldPath = mapKeyPath(path, key)
		}
		if line, dup := seen[key]; dup {
			d.fail(k.Line, fieldPath, "defined twice (first on line %d); remove one", line)
			continue
		}
		seen[key] = k.Line
		if fields != nil {
			idx, ok := fields.index[key]
			if !ok && path == "" && strings.HasPrefix(key, "x-") {
				// As in compose files: top-level x-* keys hold anchors to reuse.
				continue
			}
			if !ok {
				d.fail(k.Line, fieldPath, "unknown field%s", suggest(key, fields.names))
				continue
			}
			d.decode(val, v.Field(idx), fieldPath)
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		applyDefaults(elem)
		before := len(d.errs)
		d.decode(val, elem, fieldPath)
		if len(d.errs) == before {
			v.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
		}
	}
}

// merge applies `<<: *a` or `<<: [*a, *b]`. With several sources the earlier
// one wins, as in the YAML merge-key spec, so they are applied last to first.
func (d *decoder) merge(src *yaml.Node, v reflect.Value, path string) {
	if d.merges >= maxMergeDepth {
		d.fail(src.Line, path, "<< merges nested too deeply")
		return
	}
	d.merges++
	defer func() { d.merges-- }()
	src = d.resolve(src)
	defer func(depth int) { d.aliasDepth = depth }(d.aliasDepth)
	sources := []*yaml.Node{src}
	if src.Kind == yaml.SequenceNode {
		sources = src.Content
	}
	depth := d.aliasDepth
	for i := len(sources) - 1; i >= 0; i-- {
		d.aliasDepth = depth
		s := d.resolve(sources[i])
		if s.Kind != yaml.MappingNode {
			d.fail(s.Line, path, "<< must merge a mapping or a list of mappings, got %s", describeNode(s))
			continue
		}
		d.mapping(s, v, path)
	}
}

// resolve follows aliases, counting what is decoded after them as alias work;
// the caller restores aliasDepth.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		d.aliasDepth++
		n = n.Alias
	}
	return n
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, path, "expected %s, got %s", describeType(v.Type()), describeNode(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		e := s.Index(i)
		applyDefaults(e)
		d.decode(c, e, path+"["+strconv.Itoa(i)+"]")
	}
	v.Set(s)
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "expected %s, got %s", describeType(v.Type()), describeNode(n))
		return
	}
	s, err := expand(n.Value, d.lookup)
	if err != nil {
		d.fail(n.Line, path, "%v", err)
		return
	}
	if err := setScalar(v, s); err != nil {
		d.fail(n.Line, path, "%v", err)
	}
}

// setScalar parses s into v according to v's type. An empty s leaves a
// non-string value unchanged, so `rpm: ${RPM:-}` means "use the default".
// Error messages quote s only for types that cannot hold a Secret.
func setScalar(v reflect.Value, s string) error {
	t := v.Type()
	if s == "" && t.Kind() != reflect.String {
		return nil
	}
	switch t {
	case durationType:
		dur, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration; use Go syntax such as 500ms, 30s, 10m or 1h30m", s)
		}
		v.SetInt(int64(dur))
		return nil
	case timeType:
		tm, err := parseTime(s)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(tm))
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off":
			v.SetBool(false)
		default:
			return fmt.Errorf("%q is not true or false", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, t.Bits())
		if err != nil {
			return intError(s, err)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 10, t.Bits())
		if err != nil {
			return intError(s, err)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), t.Bits())
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not a finite number", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("expected %s, got a single value", describeType(t))
	}
	return nil
}

func intError(s string, err error) error {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return fmt.Errorf("%q is out of range", s)
	}
	return fmt.Errorf("%q is not a whole number", s)
}

// parseTime accepts RFC 3339 and, for expiry dates, a bare date meaning
// midnight UTC.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time; use RFC 3339 (2027-01-01T00:00:00Z) or a date (2027-01-01)", s)
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && (k.ShortTag() == "!!merge" || (k.Value == "<<" && k.Style == 0))
}

func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case t == timeType:
		return "a time"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Struct, reflect.Map:
		return "a mapping (key: value)"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func applyDefaults(v reflect.Value) {
	if v.CanAddr() {
		if d, ok := v.Addr().Interface().(defaulter); ok {
			d.setDefaults()
		}
	}
}

// structFields maps yaml names to field indexes for one struct type.
type structFields struct {
	index map[string]int
	names []string // sorted, for suggestions
}

var fieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f.index[name] = i
		f.names = append(f.names, name)
	}
	sort.Strings(f.names)
	fieldCache.Store(t, f)
	return f
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// mapKeyPath renders a map key. Model names often contain dots
// (gpt-3.5-turbo), which would make a dotted path ambiguous, so such keys are
// written as pricing["gpt-3.5-turbo"]; parsePath accepts both forms.
func mapKeyPath(path, key string) string {
	if key == "" || strings.ContainsAny(key, ".[]\" \t\n") {
		return path + "[" + strconv.Quote(key) + "]"
	}
	return joinPath(path, key)
}

// suggest returns ` (did you mean "x"?)` for the closest known name, or "".
func suggest(name string, known []string) string {
	best, bestDist := "", -1
	lower := strings.ToLower(name)
	for _, k := range known {
		d := editDistance(lower, k)
		if bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" || bestDist > max(2, len(name)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance over bytes; names are ASCII.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
